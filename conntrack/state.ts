/**
 * The connection table's state: every typed array and scalar the table's files work on, in one object of fixed
 * shape (`CtState`, the base of `ConnTable`), built once from the options. The files beside it are free
 * functions over this object (slots.ts, tcp.ts, nat.ts), so each call site sees one shape and V8 keeps its
 * property loads monomorphic and inlines the small functions, as the methods of one class were before.
 * Also here: the removal core every file needs (`kill`, `unlink`, `release`), since taking a connection out
 * touches the slots, the by-source index and the per-host counts at once.
 *
 * Memory layout (one table serves one address family; IPv4 here):
 *
 *   slots   Int32Array[2 × S]   per slot: [hash, value]; value = conn << 1 | dir, -1 = empty (slots.ts)
 *   records ArrayBuffer, 64 bytes (one cache line) per connection, seen as Int32/Uint32/Float64 (record.ts)
 *   born    Float64Array        creation time (ms), read only by the UDP 2 s stream rule and dumps
 *   link, prev  Int32Array      by-source chains (NAT `nf_nat_bysource`); `link` also threads free lists
 *   bsSlots Int32Array          by-source index: (orig src, sport, proto) → newest bound connection + 1 (nat.ts)
 *   tw      Int32Array          TCP window state, `TW_STRIDE` words per record (tcp-window.ts)
 *
 * Fields are public so the free functions can read them; nothing outside conntrack/ uses them (the public API
 * is ConnTable's methods, conntrack/index.ts).
 */
import { Prng } from './hash.js';
import { HostCounts } from './host-count.js';
import { bsUnlink } from './nat.js';
import { DEFAULT_TIMEOUTS, type Timeouts } from './proto.js';
import * as record from './record.js';
import { CT_COUNTER_NAMES } from './record.js';
import { hashDir, removeEntry } from './slots.js';
import { SEG_WORDS, TW_STRIDE } from './tcp-window.js';

// Module-local copies of record.ts constants: V8 folds these, an imported binding is a load per use (record.ts).
const F_ALLOC = record.F_ALLOC;
const F_BYSRC = record.F_BYSRC;
const F_DYING = record.F_DYING;
const F_REPLY_IN = record.F_REPLY_IN;
const M_PROTO = record.M_PROTO;
const R_META = record.R_META;
const R_ODST = record.R_ODST;
const R_OSRC = record.R_OSRC;
const STRIDE = record.STRIDE;
const TUPLE = record.TUPLE;

export interface ConnTableOptions {
  /** Connections the table holds before it evicts or refuses (Linux `nf_conntrack_max`). Default 65536. */
  maxConnections?: number;
  /** Maximum slot occupancy at `maxConnections` (two entries each); the slot count is the next power of two. Default 0.75. */
  maxLoad?: number;
  /**
   * Fixed seed: hash key, port offsets and random-fully choices all derive from it, so a replay is
   * byte-identical run to run. Omit in production: the key and the port offsets then come from the CSPRNG.
   */
  seed?: number;
  /** Timeouts in seconds; missing ones keep Linux's defaults (`DEFAULT_TIMEOUTS`). */
  timeouts?: Partial<Timeouts>;
  /**
   * SNAT port (and ICMP id) range `[min, max]`, like `snat to IP:min-max`. Omitted: Linux's behaviour without a
   * range — keep the source port when free, else pick from its class: 1–511, 600–1023 or 1024–65535 (ICMP ids 0–65535).
   */
  portRange?: readonly [number, number];
  /**
   * SNAT port partition of a shared-nothing worker set (VPP's port-per-thread rule): `[count, index]` makes this
   * table bind only ports (and ICMP ids) `p` with `p % count === index`, so the worker that owns a reply is known
   * from its destination port alone (`portOwner`). Default `[1, 0]`: every port. Tuples without ports (other
   * protocols) are not partitioned.
   */
  portShards?: readonly [number, number];
  /** Slots scanned for an early-drop victim around the new key's home slot. Default 32 (≈ Linux's 8 buckets). */
  earlyDropWindow?: number;
  /** Largest burst `lookupBurst` handles in one pass (longer ones are chunked). Default 256. */
  burst?: number;
  /**
   * Live connections from which `burstPays` (a stage's burst lookup beats one `find` per packet). Default 16384
   * (≈ 2 MB of slot and record lines); 0 makes stages use the burst lookup whenever the table allows passes.
   */
  burstMinLive?: number;
  /**
   * Spare records for connections killed during a burst, released at the next `expire()`. Default 1024. When they
   * run out before `expire()` runs, `create` refuses (counted as refused-full).
   */
  reserve?: number;
  /**
   * Accept TCP segments outside the tracked window (Linux `nf_conntrack_tcp_be_liberal`): they pass without
   * updating it (counted as tcp-window-liberal). Flag and RST rules still apply. Default false.
   */
  tcpLiberal?: boolean;
  /**
   * Pick up TCP connections from a packet other than a SYN (Linux `nf_conntrack_tcp_loose`, default true). Such
   * connections are window-checked liberally, as in Linux. False: only a SYN opens a TCP connection.
   */
  tcpLoose?: boolean;
  /**
   * At most this many live connections per host address (the original source, or the original destination with
   * `perHostSide: 1`); `create` answers CT_LIMIT beyond it (counted as refused-per-host). 0 (default): no limit.
   */
  perHostLimit?: number;
  /** Which address `perHostLimit` counts: 0 the original source (default), 1 the original destination. */
  perHostSide?: 0 | 1;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class CtState {
  /** Capacity in connections (live ones; killed ones awaiting release use the reserve). */
  readonly maxConnections: number;
  /** Number of hash slots (a power of two). */
  readonly slotCount: number;
  /** Records allocated: `maxConnections + reserve`. Connection indices are below this. */
  readonly recordCount: number;
  /** Counter values, indexed like `CT_COUNTER_NAMES`. */
  readonly counters: Float64Array;
  /** True when built with a fixed seed (deterministic). */
  readonly deterministic: boolean;
  /** SNAT range when one was configured (`portRange`), else -1. */
  readonly portMin: number;
  readonly portMax: number;
  /** The per-host limit, 0 for none. */
  readonly perHostLimit: number;
  /**
   * The TCP segment of the next `create`/`update` (tcp-window.ts `SEG_*`): sequence, acknowledgment, window,
   * payload length, SYN options, and `SEG_SET` = 1. The datapath fills it per TCP packet; `update` clears
   * `SEG_SET` after use. A TCP packet passed without it is tracked by flags only (tests of the state table).
   */
  readonly seg = new Int32Array(SEG_WORDS);

  readonly slots: Int32Array;
  readonly mask: number;
  readonly rec: Int32Array;
  readonly recF: Float64Array;
  readonly recU: Uint32Array;
  readonly born: Float64Array;
  readonly link: Int32Array;
  readonly prev: Int32Array;
  readonly bsSlots: Int32Array;
  readonly bsMask: number;
  /** Hashes of one chunk of `lookupBurst`. */
  readonly scratch: Int32Array;
  /** Exhaustion per (egress IP, destination, destination port | proto << 16): 4 words per slot, count in word 3. */
  readonly exhausted: Int32Array;
  readonly k0: number;
  readonly k1: number;
  readonly prng: Prng;
  /** Timeout per TCP state (ms), indexed by state. */
  readonly tcpT: Float64Array;
  readonly tUdp: number;
  readonly tUdpStream: number;
  readonly tIcmp: number;
  readonly tGeneric: number;
  readonly tUnack: number;
  readonly tClose: number;
  readonly dropWindow: number;
  readonly rangeSpecified: boolean;
  /** SNAT port partition (`portShards`): ports `p % shardCount === shardIndex` are this table's. */
  readonly shardCount: number;
  readonly shardIndex: number;
  /** TCP window state, `TW_STRIDE` words per record (tcp-window.ts). */
  readonly tw: Int32Array;
  readonly liberal: boolean;
  readonly loose: boolean;
  /** Per-host limit: live connections per address (host-count.ts); null when there is no limit. */
  readonly hosts: HostCounts | null;
  /** Word of the record holding the counted address (R_OSRC or R_ODST). */
  readonly hostWord: number;
  /** Slots and records exceed ~2 MB: the burst lookup's separate passes pay off (cache misses overlap). */
  readonly burstPasses: boolean;
  /** `burstMinLive`. */
  readonly burstMinLive: number;
  /** The current time in ms (`setTime`), one cell so reading it never allocates. */
  readonly clock = new Float64Array(1);
  /** Live connections (confirmed or not, not dying). */
  live = 0;
  /** Entries in the slot array. */
  entries = 0;
  /**
   * Entries ever inserted into the slot array: a lookup that missed still misses while this is unchanged (a hit
   * holds while its connection is live: tuples are unique and a live connection's entries never move to another).
   */
  inserts = 0;
  /** Head of the free record list (threaded through `link`), -1 when empty. */
  freeHead = 0;
  /** Head of the list of killed records awaiting release at the next expire(). */
  pendingHead = -1;
  /** The reaper's next record. */
  cursor = 0;

  constructor(opts: ConnTableOptions = {}) {
    const max = Math.floor(opts.maxConnections ?? 65536);
    if (!(max >= 1 && max <= 1 << 26)) throw new RangeError(`conntrack: maxConnections must be 1..${1 << 26}`);
    const maxLoad = opts.maxLoad ?? 0.75;
    if (!(maxLoad > 0 && maxLoad <= 0.9)) throw new RangeError('conntrack: maxLoad must be in (0, 0.9]');
    const reserve = Math.floor(opts.reserve ?? 1024);
    if (!(reserve >= 0)) throw new RangeError('conntrack: reserve must be >= 0');
    this.maxConnections = max;
    this.recordCount = max + reserve;
    const slotCount = nextPow2(Math.ceil((2 * this.recordCount) / maxLoad));
    this.slotCount = slotCount;
    this.mask = slotCount - 1;
    this.slots = new Int32Array(2 * slotCount).fill(-1);
    const records = new ArrayBuffer(4 * STRIDE * this.recordCount);
    this.rec = new Int32Array(records);
    this.recF = new Float64Array(records);
    this.recU = new Uint32Array(records);
    this.born = new Float64Array(this.recordCount);
    this.link = new Int32Array(this.recordCount);
    this.prev = new Int32Array(this.recordCount);
    // One entry per distinct bound source at most, so the same occupancy ceiling as the main table.
    const bsCount = nextPow2(Math.ceil(this.recordCount / maxLoad));
    this.bsSlots = new Int32Array(bsCount);
    this.bsMask = bsCount - 1;
    this.scratch = new Int32Array(Math.max(1, Math.floor(opts.burst ?? 256)));
    this.exhausted = new Int32Array(4 * 1024);
    this.counters = new Float64Array(CT_COUNTER_NAMES.length);
    this.dropWindow = Math.max(1, Math.floor(opts.earlyDropWindow ?? 32));
    this.burstPasses = this.slots.byteLength + this.rec.byteLength > 2 << 20;
    this.burstMinLive = Math.max(0, Math.floor(opts.burstMinLive ?? 16384));
    this.tw = new Int32Array(TW_STRIDE * this.recordCount);
    this.liberal = opts.tcpLiberal === true;
    this.loose = opts.tcpLoose !== false;
    const lim = Math.floor(opts.perHostLimit ?? 0);
    if (!(lim >= 0 && lim <= max)) throw new RangeError(`conntrack: perHostLimit must be 0..${max}`);
    this.perHostLimit = lim;
    this.hostWord = opts.perHostSide === 1 ? R_ODST : R_OSRC;

    if (opts.seed !== undefined) {
      this.deterministic = true;
      const keys = new Prng(opts.seed ^ 0x5eed5eed);
      this.k0 = keys.i32();
      this.k1 = keys.i32();
      this.prng = new Prng(opts.seed);
    } else {
      this.deterministic = false;
      const k = new Int32Array(2);
      globalThis.crypto.getRandomValues(k);
      this.k0 = k[0]!;
      this.k1 = k[1]!;
      this.prng = new Prng(null);
    }
    this.hosts = lim > 0 ? new HostCounts(this.k0, this.k1, nextPow2(Math.ceil(this.recordCount / maxLoad))) : null;

    const t: Timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    for (const [name, v] of Object.entries(t)) {
      if (!(typeof v === 'number' && v >= 0 && Number.isFinite(v)))
        throw new RangeError(`conntrack: timeout ${name} must be >= 0 seconds`);
    }
    const ms = 1000;
    this.tcpT = Float64Array.from([
      t.tcpSynSent, // NONE (never kept: the first packet moves the state)
      t.tcpSynSent,
      t.tcpSynRecv,
      t.tcpEstablished,
      t.tcpFinWait,
      t.tcpCloseWait,
      t.tcpLastAck,
      t.tcpTimeWait,
      t.tcpClose,
      t.tcpSynSent, // SYN_SENT2 uses the SYN_SENT timeout (Linux TCP_CONNTRACK_SYN_SENT2 = 2 min)
    ]).map((s) => s * ms);
    this.tUdp = t.udp * ms;
    this.tUdpStream = t.udpStream * ms;
    this.tIcmp = t.icmp * ms;
    this.tGeneric = t.generic * ms;
    this.tUnack = t.tcpUnack * ms;
    this.tClose = t.tcpClose * ms;

    if (opts.portRange) {
      const [lo, hi] = opts.portRange;
      if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi <= 65535 && lo <= hi)) {
        throw new RangeError('conntrack: portRange must be [min, max] with 0 <= min <= max <= 65535');
      }
      this.rangeSpecified = true;
      this.portMin = lo;
      this.portMax = hi;
    } else {
      this.rangeSpecified = false;
      this.portMin = -1;
      this.portMax = -1;
    }
    const [sc, si] = opts.portShards ?? [1, 0];
    if (!(Number.isInteger(sc) && Number.isInteger(si) && sc >= 1 && sc <= 256 && si >= 0 && si < sc))
      throw new RangeError('conntrack: portShards must be [count, index] with 1 <= count <= 256, 0 <= index < count');
    this.shardCount = sc;
    this.shardIndex = si;
    this.resetRecords();
  }

  /** Thread every record onto the free list and forget the live ones' bookkeeping. */
  resetRecords(): void {
    const n = this.recordCount;
    for (let i = 0; i < n; i++) this.link[i] = i + 1 < n ? i + 1 : -1;
    this.freeHead = n > 0 ? 0 : -1;
    this.pendingHead = -1;
    this.cursor = 0;
    this.live = 0;
    this.entries = 0;
  }

  /**
   * Probe the slot array (slots.ts) for a tuple whose hash is known: `conn << 1 | dir` or -1. A method rather
   * than a free function of slots.ts because it is the hot path of `find`: a method of this one class inlines
   * with a map check, while a call through an imported binding adds a load and a hole check per lookup, which
   * cost `find` 0.8x of the single-file build on a 1 M table (interleaved A/B, conntrack/README.md).
   */
  probe(h: number, src: number, dst: number, ports: number, proto: number): number {
    const slots = this.slots;
    const rec = this.rec;
    const mask = this.mask;
    let i = h & mask;
    for (;;) {
      const v = slots[(i << 1) | 1]!;
      if (v < 0) return -1;
      if (slots[i << 1] === h) {
        const c = v >> 1;
        const r = c * STRIDE + (v & 1) * TUPLE;
        if (
          rec[r] === src &&
          rec[r + 1] === dst &&
          rec[r + 2] === ports &&
          (rec[c * STRIDE + R_META]! & M_PROTO) === proto
        ) {
          return v;
        }
      }
      i = (i + 1) & mask;
    }
  }

  /** Take a connection out of the slot array and the by-source index; release its record at the next expire(). */
  kill(c: number): void {
    const m = this.unlink(c);
    if (m === 0) return;
    this.rec[c * STRIDE + R_META] = m | F_DYING;
    this.link[c] = this.pendingHead;
    this.pendingHead = c;
  }

  /** Remove the entries of a live record; returns its meta word without the index flags (0 if not live). */
  unlink(c: number): number {
    const m = this.rec[c * STRIDE + R_META]!;
    if ((m & (F_ALLOC | F_DYING)) !== F_ALLOC) return 0;
    removeEntry(this, hashDir(this, c, 0), c << 1);
    if (m & F_REPLY_IN) removeEntry(this, hashDir(this, c, 1), (c << 1) | 1);
    if (m & F_BYSRC) bsUnlink(this, c);
    if (this.hosts !== null) this.hosts.add(this.rec[c * STRIDE + this.hostWord]!, -1);
    this.live--;
    return m & ~(F_REPLY_IN | F_BYSRC);
  }

  /** Put a record back on the free list. */
  release(c: number): void {
    this.rec[c * STRIDE + R_META] = 0;
    this.link[c] = this.freeHead;
    this.freeHead = c;
  }
}
