/**
 * The standby's cache of replicated connections (docs/conntrack-sync.md "Takeover"): what the owners of egress IPs
 * sent it, kept until it takes an IP over (then installed in its connection table) or the entry's timeout runs
 * out. A fixed-size table of typed arrays, allocated once: `capacity` entries (the table's maxConnections by
 * default) and an open-addressed hash of `[hash, entry]` pairs over the original tuple, sized and probed like the
 * connection table's slot array (conntrack/slots.ts: a power of two ≥ 2 × capacity, linear probing, backward-shift
 * deletion, the full keyed hash kept so a probe compares it before the tuple). A record or removal received costs
 * a probe and a few stores; nothing is allocated per connection event, and memory is bounded by the capacity
 * (about 140 bytes an entry) whatever the number of events.
 *
 * The slot functions of conntrack/slots.ts are not reused as such: they index the connection table's records (two
 * tuples per connection, its record layout); this cache has one tuple per entry and its own fields.
 */
import {
  hsip4,
  importReplica,
  Prng,
  PROTO_TCP,
  REPLICA_WINDOW_WORDS,
  type ConnTable,
  type ReplicaRecord,
} from '../../conntrack/index.js';

const W = REPLICA_WINDOW_WORDS;
// Per entry: key words (src, dst, ports, proto; proto -1 = free), binding and state, times.
const K_SRC = 0;
const K_DST = 1;
const K_PORTS = 2;
const K_PROTO = 3;
const KS = 4;
// nat: natIp, natPort | state << 16, flags
const NS = 3;
// times: expiresAt, receivedAt, ageMs (at reception)
const TS = 3;

export class ReplicaCache {
  readonly capacity: number;
  /** Entries held. */
  size = 0;
  private readonly mask: number;
  private readonly slots: Int32Array;
  private readonly key: Int32Array;
  private readonly nat: Int32Array;
  private readonly times: Float64Array;
  private readonly win: Int32Array;
  private readonly freeList: Int32Array;
  private nFree: number;
  private readonly k0: number;
  private readonly k1: number;
  /** The record handed to `importReplica` on takeover, reused. */
  private readonly scratch: ReplicaRecord;
  private readonly scratchWin = new Int32Array(W);

  constructor(capacity: number, seed: number | null = null) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError('replica cache: capacity >= 1');
    this.capacity = capacity;
    let n = 2;
    while (n < 2 * capacity) n *= 2;
    this.mask = n - 1;
    this.slots = new Int32Array(2 * n).fill(-1);
    this.key = new Int32Array(KS * capacity);
    for (let e = 0; e < capacity; e++) this.key[KS * e + K_PROTO] = -1;
    this.nat = new Int32Array(NS * capacity);
    this.times = new Float64Array(TS * capacity);
    this.win = new Int32Array(W * capacity);
    this.freeList = new Int32Array(capacity);
    for (let e = 0; e < capacity; e++) this.freeList[e] = capacity - 1 - e;
    this.nFree = capacity;
    const prng = new Prng(seed);
    this.k0 = prng.i32();
    this.k1 = prng.i32();
    this.scratch = {
      src: 0,
      dst: 0,
      sport: 0,
      dport: 0,
      proto: 0,
      natIp: 0,
      natPort: 0,
      state: 0,
      flags: 0,
      timeoutMs: 0,
      ageMs: 0,
      window: null,
    };
  }

  /** Bytes of typed arrays the cache holds (fixed at construction). */
  get bytes(): number {
    return (
      this.slots.byteLength +
      this.key.byteLength +
      this.nat.byteLength +
      this.times.byteLength +
      this.win.byteLength +
      this.freeList.byteLength
    );
  }

  private find(h: number, src: number, dst: number, ports: number, proto: number): number {
    const slots = this.slots;
    const key = this.key;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = slots[(i << 1) | 1]!;
      if (e < 0) return -1;
      if (slots[i << 1] === h) {
        const k = KS * e;
        if (
          key[k + K_SRC] === src &&
          key[k + K_DST] === dst &&
          key[k + K_PORTS] === ports &&
          key[k + K_PROTO] === proto
        )
          return e;
      }
    }
  }

  /**
   * Store or replace one connection. `v`/`winOff`: where its TCP window words are (-1: none). False when the
   * cache is full and the connection was not in it.
   */
  put(
    src: number,
    dst: number,
    ports: number,
    proto: number,
    natIp: number,
    natPort: number,
    state: number,
    flags: number,
    expiresAt: number,
    receivedAt: number,
    ageMs: number,
    v: DataView | null,
    winOff: number,
  ): boolean {
    src |= 0;
    dst |= 0;
    ports |= 0;
    const h = hsip4(this.k0, this.k1, src, dst, ports, proto);
    let e = this.find(h, src, dst, ports, proto);
    if (e < 0) {
      if (this.nFree === 0) return false;
      e = this.freeList[--this.nFree]!;
      const k = KS * e;
      this.key[k + K_SRC] = src;
      this.key[k + K_DST] = dst;
      this.key[k + K_PORTS] = ports;
      this.key[k + K_PROTO] = proto;
      const slots = this.slots;
      const mask = this.mask;
      let i = h & mask;
      while (slots[(i << 1) | 1]! >= 0) i = (i + 1) & mask;
      slots[i << 1] = h;
      slots[(i << 1) | 1] = e;
      this.size++;
    }
    const n = NS * e;
    this.nat[n] = natIp | 0;
    this.nat[n + 1] = (natPort & 0xffff) | ((state & 0xff) << 16);
    this.nat[n + 2] = flags & 0xffff;
    const t = TS * e;
    this.times[t] = expiresAt;
    this.times[t + 1] = receivedAt;
    this.times[t + 2] = ageMs;
    const w = W * e;
    if (v !== null && winOff >= 0) for (let k = 0; k < W; k++) this.win[w + k] = v.getInt32(winOff + 4 * k);
    else this.win.fill(0, w, w + W);
    return true;
  }

  /** Forget one connection (a removal); false when it was not there. */
  remove(src: number, dst: number, ports: number, proto: number): boolean {
    src |= 0;
    dst |= 0;
    ports |= 0;
    const e = this.find(hsip4(this.k0, this.k1, src, dst, ports, proto), src, dst, ports, proto);
    if (e < 0) return false;
    this.drop(e);
    return true;
  }

  /** Remove entry `e`: its slot by backward shift (no tombstones), the entry back on the free list. */
  private drop(e: number): void {
    const slots = this.slots;
    const mask = this.mask;
    const k = KS * e;
    const h = hsip4(this.k0, this.k1, this.key[k]!, this.key[k + 1]!, this.key[k + 2]!, this.key[k + 3]!);
    let i = h & mask;
    while (slots[(i << 1) | 1] !== e) i = (i + 1) & mask;
    // Backward shift: move later entries of the run into the hole when their home slot allows it.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const v = slots[(j << 1) | 1]!;
      if (v < 0) break;
      const home = slots[j << 1]! & mask;
      // j's entry may move to i when i lies cyclically in [home, j).
      if (((j - home) & mask) >= ((j - i) & mask)) {
        slots[i << 1] = slots[j << 1]!;
        slots[(i << 1) | 1] = v;
        i = j;
      }
    }
    slots[i << 1] = -1;
    slots[(i << 1) | 1] = -1;
    this.key[k + K_PROTO] = -1;
    this.freeList[this.nFree++] = e;
    this.size--;
  }

  /** Forget every entry whose timeout ran out by `now`; returns how many. O(capacity). */
  purge(now: number): number {
    let n = 0;
    for (let e = 0; e < this.capacity; e++)
      if (this.key[KS * e + K_PROTO]! >= 0 && this.times[TS * e]! <= now) {
        this.drop(e);
        n++;
      }
    return n;
  }

  /** Entries bound to `natIp`. */
  countFor(natIp: number): number {
    let n = 0;
    for (let e = 0; e < this.capacity; e++)
      if (this.key[KS * e + K_PROTO]! >= 0 && this.nat[NS * e] === (natIp | 0)) n++;
    return n;
  }

  /**
   * Install every entry bound to an address of `natIps` in `t` (at the table's time `now`), each with its
   * timeout aged by the time since it was received, and forget it; `onResult` gets each `importReplica` result,
   * or -1 for an entry whose timeout ran out.
   */
  takeover(t: ConnTable, natIps: ReadonlySet<number>, now: number, onResult: (result: number) => void): void {
    const r = this.scratch;
    for (let e = 0; e < this.capacity; e++) {
      const k = KS * e;
      const proto = this.key[k + K_PROTO]!;
      if (proto < 0 || !natIps.has(this.nat[NS * e]!)) continue;
      const left = this.times[TS * e]! - now;
      if (left <= 0) {
        this.drop(e);
        onResult(-1);
        continue;
      }
      const ports = this.key[k + K_PORTS]!;
      r.src = this.key[k + K_SRC]!;
      r.dst = this.key[k + K_DST]!;
      r.sport = ports >>> 16;
      r.dport = ports & 0xffff;
      r.proto = proto;
      r.natIp = this.nat[NS * e]!;
      const np = this.nat[NS * e + 1]!;
      r.natPort = np & 0xffff;
      r.state = (np >>> 16) & 0xff;
      r.flags = this.nat[NS * e + 2]!;
      r.timeoutMs = left;
      r.ageMs = this.times[TS * e + 2]! + (now - this.times[TS * e + 1]!);
      if (proto === PROTO_TCP) {
        for (let w = 0; w < W; w++) this.scratchWin[w] = this.win[W * e + w]!;
        r.window = this.scratchWin;
      } else r.window = null;
      this.drop(e);
      onResult(importReplica(t, r));
    }
  }
}
