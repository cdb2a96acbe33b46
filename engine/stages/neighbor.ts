/**
 * The neighbour table of the uplink (RFC 826 ARP cache) with a small bounded queue of packets waiting for
 * resolution, like Linux's `unres_qlen`.
 *
 * Entries: IPv4 address → MAC (two ints), state, last update. A miss creates an INCOMPLETE entry and the
 * caller sends an ARP request; packets wait in a shared pool of parked packets (per-entry and global caps).
 * A reply (or any ARP from the address) makes the entry REACHABLE and moves its queue to the ready list,
 * which the uplink-out stage releases in its next round. An entry older than `staleMs` is still used but
 * re-probed (at most one request per `probeIntervalMs`), so a missed gratuitous ARP heals by itself.
 * After `maxProbes` unanswered requests an INCOMPLETE entry's packets are dropped (counted by the caller).
 *
 * Segment rules (docs/segment-security.md#arp-and-the-neighbour-table):
 * - A **pinned** entry (a member's node IP, `pin` from its authenticated heartbeats) is always REACHABLE, never
 *   re-probed, never evicted, and never changed by ARP (`learnFromArp`, `learn`): only `pin` or `unpin` changes it.
 * - Entries created from unsolicited ARP (`learnFromArp(..., create)`: a request for us from an unknown sender)
 *   are **unconfirmed** and capped at `unsolicited` (default a quarter of the table): past the cap, or when the
 *   table is full, the oldest unconfirmed idle entry is replaced; an unsolicited request never evicts an entry
 *   this node's own traffic made or a pinned one, so a storm of senders cannot push out the gateway, hosts or
 *   members. An entry is confirmed once the node sends through it (`confirm`).
 * - Every entry is on one VLAN (`vlan`, 0: untagged; docs/semantics.md §3.1), set when it is created: ARP on
 *   another VLAN never changes it (`L_OTHER_VLAN`). An address is on one VLAN only (validation refuses a VLAN
 *   subnet overlapping the segment or another pool's VLAN subnet), so the key stays the address.
 */
import type { Burst } from '../packet/index.js';
import { Int32Map } from './tables.js';

export const N_FREE = 0;
export const N_INCOMPLETE = 1;
export const N_REACHABLE = 2;

export interface NeighborOptions {
  /** Most entries (default 1024). */
  entries?: number;
  /** Most parked packets in all (default 256). */
  parked?: number;
  /** Most parked packets per entry (default 32). */
  perEntry?: number;
  /** Age after which a reachable entry is re-probed (default 30 000 ms). */
  staleMs?: number;
  /** Interval between ARP requests for one address (default 1000 ms). */
  probeIntervalMs?: number;
  /** Unanswered requests before an incomplete entry gives up (default 3). */
  maxProbes?: number;
  /** Most entries created from unsolicited ARP and not used since (default entries / 4, at least 1). */
  unsolicited?: number;
  /**
   * Answers (ARP replies, solicited NAs) for addresses without an entry to remember for one probe interval
   * (`HeardAnswers`, default 0: none). A worker of a set (docs/agent.md "Workers") keeps 16: another worker's
   * request may be answered on this worker's queue before this one knows the address is being resolved.
   */
  heard?: number;
}

/**
 * The last answers heard for addresses without an entry (a ring of `size`; the address as four words, an IPv4
 * address in the first): not learned (an answer only updates an entry that exists), only kept so that when
 * another worker of the set says it is resolving the address (cli/agent/worker-neighbors.ts `want`) the answer
 * that came before the message is not lost. Written on the drop path of the arp and ndp stages only.
 */
export class HeardAnswers {
  private readonly w: Int32Array;
  private readonly mac: Int32Array;
  private readonly vid: Uint16Array;
  private readonly at: Float64Array;
  private next = 0;

  constructor(
    readonly size: number,
    readonly keepMs: number,
  ) {
    this.w = new Int32Array(size * 4);
    this.mac = new Int32Array(size * 2);
    this.vid = new Uint16Array(size);
    this.at = new Float64Array(size).fill(-Infinity);
  }

  /** An answer: the address is at MAC (hi16, lo32) on VLAN `vlan`, heard at `now`. */
  note(a0: number, a1: number, a2: number, a3: number, hi16: number, lo32: number, vlan: number, now: number): void {
    const k = this.next;
    this.next = k + 1 === this.size ? 0 : k + 1;
    this.w[k * 4] = a0;
    this.w[k * 4 + 1] = a1;
    this.w[k * 4 + 2] = a2;
    this.w[k * 4 + 3] = a3;
    this.mac[k * 2] = hi16;
    this.mac[k * 2 + 1] = lo32;
    this.vid[k] = vlan;
    this.at[k] = now;
  }

  /** The newest answer for the address on `vlan` heard within `keepMs` of `now`: [hi16, lo32], or null (cold). */
  find(a: readonly number[], vlan: number, now: number): [number, number] | null {
    let best = -1;
    for (let k = 0; k < this.size; k++) {
      if (now - this.at[k]! > this.keepMs || this.vid[k] !== vlan) continue;
      let same = true;
      for (let i = 0; i < 4; i++) if (this.w[k * 4 + i] !== (a[i] ?? 0)) same = false;
      if (same && (best < 0 || this.at[k]! > this.at[best]!)) best = k;
    }
    return best < 0 ? null : [this.mac[best * 2]!, this.mac[best * 2 + 1]!];
  }
}

/** What `learnFromArp` did (the arp stage counts each). */
export const L_NONE = -1; // nothing (no entry and none to create, or the address is 0)
export const L_UPDATED = 0;
export const L_CREATED = 1;
export const L_REPLACED = 2; // created in place of the oldest unconfirmed entry (the cap or the table is full)
export const L_REFUSED = 3; // not created: the cap or the table is full and no unconfirmed entry is idle
export const L_PINNED = 4; // the entry is pinned: ARP never changes it
export const L_OTHER_VLAN = 5; // the entry is on another VLAN than the ARP frame: not changed

/**
 * The table without its keys: entries by index (state, MAC, probes, pins, the unsolicited cap, VLAN) and the
 * parked packets. `NeighborTable` (IPv4, below) and `NeighborTable6` (neighbor6.ts) add the address → entry
 * map; a subclass calls `alloc` to make an entry, `admit` and `markUnconfirmed` to learn from the segment.
 */
export abstract class NeighborCore {
  readonly macHi: Int32Array;
  readonly macLo: Int32Array;
  readonly state: Uint8Array;
  readonly updated: Float64Array;
  readonly lastProbe: Float64Array;
  readonly probes: Uint8Array;
  /** 1: pinned from a member's heartbeats (see the header). */
  readonly pinned: Uint8Array;
  /** 1: created from unsolicited ARP and not used by this node since. */
  readonly unconfirmed: Uint8Array;
  /** VLAN id of the entry (0: untagged). */
  readonly vlan: Uint16Array;
  /** Entries with `unconfirmed` set, and their cap. */
  unconfirmedCount = 0;
  readonly maxUnconfirmed: number;
  /** Answers for addresses without an entry (NeighborOptions.heard; null: not kept). */
  readonly heard: HeardAnswers | null;
  // Unconfirmed entries in creation order (entry, stamp); a slot is stale when the entry's stamp moved on.
  private readonly uSeq: Int32Array;
  private readonly uRingE: Int32Array;
  private readonly uRingS: Int32Array;
  private uHead = 0;
  private uLen = 0;
  private readonly qHead: Int32Array;
  private readonly qTail: Int32Array;
  private readonly qLen: Int32Array;
  /** Entries that became reachable with packets queued. */
  private readonly ready: Int32Array;
  private readyN = 0;
  private readonly freeEntries: Int32Array;
  private freeEntriesN: number;

  // Parked packets: the burst fields a packet needs to resume its way.
  private readonly pSlot: Int32Array;
  private readonly pOff: Int32Array;
  private readonly pLen: Int32Array;
  private readonly pL3: Int32Array;
  private readonly pFlow: Int32Array;
  private readonly pMeta: Int32Array;
  private readonly pPort: Uint16Array;
  private readonly pTsSec: Float64Array;
  private readonly pTsNsec: Uint32Array;
  private readonly pNext: Int32Array;
  private pFree = -1;
  parkedCount = 0;

  readonly staleMs: number;
  readonly probeIntervalMs: number;
  readonly maxProbes: number;
  readonly perEntry: number;

  constructor(o: NeighborOptions = {}) {
    const n = o.entries ?? 1024;
    const p = o.parked ?? 256;
    this.staleMs = o.staleMs ?? 30_000;
    this.probeIntervalMs = o.probeIntervalMs ?? 1000;
    this.heard = (o.heard ?? 0) > 0 ? new HeardAnswers(o.heard!, this.probeIntervalMs) : null;
    this.maxProbes = o.maxProbes ?? 3;
    this.perEntry = o.perEntry ?? 32;
    this.macHi = new Int32Array(n);
    this.macLo = new Int32Array(n);
    this.state = new Uint8Array(n);
    this.updated = new Float64Array(n);
    this.lastProbe = new Float64Array(n);
    this.probes = new Uint8Array(n);
    this.pinned = new Uint8Array(n);
    this.unconfirmed = new Uint8Array(n);
    this.vlan = new Uint16Array(n);
    this.maxUnconfirmed = Math.max(1, Math.min(n, o.unsolicited ?? n >> 2));
    this.uSeq = new Int32Array(n);
    this.uRingE = new Int32Array(2 * n);
    this.uRingS = new Int32Array(2 * n);
    this.qHead = new Int32Array(n).fill(-1);
    this.qTail = new Int32Array(n).fill(-1);
    this.qLen = new Int32Array(n);
    this.ready = new Int32Array(n);
    this.freeEntries = new Int32Array(n);
    for (let i = 0; i < n; i++) this.freeEntries[i] = n - 1 - i;
    this.freeEntriesN = n;
    this.pSlot = new Int32Array(p);
    this.pOff = new Int32Array(p);
    this.pLen = new Int32Array(p);
    this.pL3 = new Int32Array(p);
    this.pFlow = new Int32Array(p);
    this.pMeta = new Int32Array(p);
    this.pPort = new Uint16Array(p);
    this.pTsSec = new Float64Array(p);
    this.pTsNsec = new Uint32Array(p);
    this.pNext = new Int32Array(p);
    for (let i = p - 1; i >= 0; i--) {
      this.pNext[i] = this.pFree;
      this.pFree = i;
    }
  }

  /** Remove the address of entry `e` from the subclass's map. */
  protected abstract unmap(e: number): void;

  /**
   * A new INCOMPLETE entry on VLAN `vlan` (evicting an idle entry when full; the subclass then maps its address),
   * or -1 when nothing can be evicted.
   */
  protected alloc(now: number, vlan: number): number {
    let e: number;
    if (this.freeEntriesN > 0) e = this.freeEntries[--this.freeEntriesN]!;
    else {
      e = this.evictable();
      if (e < 0) return -1;
      this.unmap(e);
    }
    this.vlan[e] = vlan;
    this.pinned[e] = 0;
    this.clearUnconfirmed(e);
    this.state[e] = N_INCOMPLETE;
    this.updated[e] = now;
    this.lastProbe[e] = -Infinity;
    this.probes[e] = 0;
    return e;
  }

  private evictable(): number {
    let best = -1;
    for (let e = 0; e < this.state.length; e++) {
      if (this.qLen[e]! > 0 || this.pinned[e] === 1) continue;
      if (best < 0 || this.updated[e]! < this.updated[best]!) best = e;
    }
    return best;
  }

  /**
   * What learning from the segment may do with entry `e` (-1: the address has none) of a frame on VLAN `vlan`:
   * L_PINNED or L_OTHER_VLAN (not changed), L_UPDATED (`e` exists), L_NONE (none and `create` is not set),
   * L_REFUSED (the cap or the table is full and no unconfirmed entry is idle), else L_CREATED or L_REPLACED
   * (room made: the caller creates the entry and calls `markUnconfirmed`). See the header.
   */
  protected admit(e: number, create: boolean, vlan: number): number {
    if (e >= 0) {
      if (this.pinned[e] === 1) return L_PINNED;
      if (this.vlan[e] !== vlan) return L_OTHER_VLAN;
      return L_UPDATED;
    }
    if (!create) return L_NONE;
    if (this.unconfirmedCount >= this.maxUnconfirmed || this.freeEntriesN === 0) {
      const x = this.oldestUnconfirmedIdle();
      if (x < 0) return L_REFUSED;
      this.remove(x);
      return L_REPLACED;
    }
    return L_CREATED;
  }

  /** Entry `e` was created from unsolicited traffic: unconfirmed, counted against the cap. */
  protected markUnconfirmed(e: number): void {
    this.unconfirmed[e] = 1;
    this.unconfirmedCount++;
    const seq = ++this.uSeq[e]!;
    this.pushUnconfirmed(e, seq);
  }

  /** Learning from the segment after `admit` (see `learnFromArp`): `e` the entry or -1 to create, `r` its verdict. */
  protected learnAdmitted(e: number, r: number, hi16: number, lo32: number, now: number): number {
    if (r !== L_UPDATED && r !== L_CREATED && r !== L_REPLACED) return r;
    if (e < 0) return L_REFUSED;
    if (r !== L_UPDATED) this.markUnconfirmed(e);
    this.resolve(e, hi16, lo32, now);
    return r;
  }

  /** `learn` on entry `e` (-1: none, created by the caller when it could): -1 when pinned or missing. */
  protected learnAt(e: number, hi16: number, lo32: number, now: number): number {
    if (e < 0 || this.pinned[e] === 1) return -1;
    this.resolve(e, hi16, lo32, now);
    return e;
  }

  /** `pin` on entry `e` (-1: none could be made). */
  protected pinAt(e: number, hi16: number, lo32: number, now: number): number {
    if (e < 0) return -1;
    this.clearUnconfirmed(e);
    this.pinned[e] = 1;
    this.resolve(e, hi16, lo32, now);
    return e;
  }

  /** `unpin` on entry `e` (-1: none). */
  protected unpinAt(e: number): void {
    if (e >= 0) this.pinned[e] = 0;
  }

  /** `forget` on entry `e` (-1: none). */
  protected forgetAt(e: number): void {
    if (e < 0 || this.pinned[e] === 1) return;
    if (this.qLen[e]! > 0) this.state[e] = N_INCOMPLETE;
    else this.remove(e);
  }

  /** The node sends through entry `e`: it is no longer an unconfirmed (unsolicited) entry. */
  confirm(e: number): void {
    this.clearUnconfirmed(e);
  }

  private resolve(e: number, hi16: number, lo32: number, now: number): void {
    this.macHi[e] = hi16;
    this.macLo[e] = lo32;
    this.state[e] = N_REACHABLE;
    this.updated[e] = now;
    this.probes[e] = 0;
    if (this.qLen[e]! > 0) this.ready[this.readyN++] = e;
  }

  private clearUnconfirmed(e: number): void {
    if (this.unconfirmed[e] === 1) {
      this.unconfirmed[e] = 0;
      this.unconfirmedCount--;
    }
  }

  private pushUnconfirmed(e: number, seq: number): void {
    const cap = this.uRingE.length;
    if (this.uLen === cap) {
      // Full of slots, most of them stale (at most `maxUnconfirmed` ≤ half are live): keep the live ones.
      let w = 0;
      for (let k = 0; k < this.uLen; k++) {
        const j = (this.uHead + k) % cap;
        const x = this.uRingE[j]!;
        if (this.unconfirmed[x] === 1 && this.uSeq[x] === this.uRingS[j]) {
          this.uRingE[w] = x;
          this.uRingS[w] = this.uRingS[j]!;
          w++;
        }
      }
      this.uHead = 0;
      this.uLen = w;
    }
    const j = (this.uHead + this.uLen) % cap;
    this.uRingE[j] = e;
    this.uRingS[j] = seq;
    this.uLen++;
  }

  /** The oldest unconfirmed entry with no packets waiting (dropping stale ring slots on the way), or -1. */
  private oldestUnconfirmedIdle(): number {
    const cap = this.uRingE.length;
    for (let k = 0; k < this.uLen; k++) {
      const j = (this.uHead + k) % cap;
      const x = this.uRingE[j]!;
      const live = this.unconfirmed[x] === 1 && this.uSeq[x] === this.uRingS[j];
      if (k === 0 && !live) {
        this.uHead = (this.uHead + 1) % cap;
        this.uLen--;
        k--;
        continue;
      }
      if (live && this.qLen[x] === 0) return x;
    }
    return -1;
  }

  /** True when an ARP request for entry `e` is due now; records it as sent. */
  probeDue(e: number, now: number): boolean {
    const st = this.state[e];
    if (this.pinned[e] === 1) return false;
    if (st === N_REACHABLE && now - this.updated[e]! < this.staleMs) return false;
    if (now - this.lastProbe[e]! < this.probeIntervalMs) return false;
    this.lastProbe[e] = now;
    if (this.probes[e]! < 255) this.probes[e]!++;
    return true;
  }

  /** Undo the last `probeDue` of entry `e` (its request could not be sent): it is due again. */
  unprobe(e: number): void {
    this.lastProbe[e] = -Infinity;
    if (this.probes[e]! > 0) this.probes[e]!--;
  }

  /** Entries waiting for resolution with packets queued whose next request is due now (marked as sent). */
  dueProbes(now: number, out: (e: number) => void): void {
    if (this.parkedCount === 0) return;
    for (let e = 0; e < this.state.length; e++)
      if (this.state[e] === N_INCOMPLETE && this.qLen[e]! > 0 && this.probeDue(e, now)) out(e);
  }

  /** Park packet i of `b` on entry `e`; false when the entry's or the global queue is full. */
  park(e: number, b: Burst, i: number): boolean {
    if (this.pFree < 0 || this.qLen[e]! >= this.perEntry) return false;
    const p = this.pFree;
    this.pFree = this.pNext[p]!;
    this.pSlot[p] = b.slot[i]!;
    this.pOff[p] = b.off[i]!;
    this.pLen[p] = b.len[i]!;
    this.pL3[p] = b.l3[i]!;
    this.pFlow[p] = b.flow[i]!;
    this.pMeta[p] = b.meta[i]!;
    this.pPort[p] = b.port[i]!;
    this.pTsSec[p] = b.tsSec[i]!;
    this.pTsNsec[p] = b.tsNsec[i]!;
    this.pNext[p] = -1;
    if (this.qTail[e]! >= 0) this.pNext[this.qTail[e]!] = p;
    else this.qHead[e] = p;
    this.qTail[e] = p;
    this.qLen[e]!++;
    this.parkedCount++;
    return true;
  }

  /** The `b.l3` of the first packet parked on entry `e` (its bytes stay in its slot), or -1. */
  headL3(e: number): number {
    const p = this.qHead[e]!;
    return p < 0 ? -1 : this.pL3[p]!;
  }

  /** Packets queued on entry e. */
  queued(e: number): number {
    return this.qLen[e]!;
  }

  /** True when some resolved entry has packets to release. */
  get hasReady(): boolean {
    return this.readyN > 0;
  }

  /**
   * Move parked packets of resolved entries back into `b` (appending their indices to `sel` from `n`) while
   * `b` has room; returns the new selection length.
   */
  releaseReady(b: Burst, sel: Int32Array, n: number): number {
    while (this.readyN > 0 && b.count < b.capacity) {
      const e = this.ready[this.readyN - 1]!;
      while (this.qLen[e]! > 0 && b.count < b.capacity) {
        const p = this.unpark(e);
        const j = b.count++;
        b.slot[j] = this.pSlot[p]!;
        b.off[j] = this.pOff[p]!;
        b.len[j] = this.pLen[p]!;
        b.l3[j] = this.pL3[p]!;
        b.flow[j] = this.pFlow[p]!;
        b.meta[j] = this.pMeta[p]!;
        b.port[j] = this.pPort[p]!;
        b.oport[j] = 0;
        b.next[j] = 0;
        b.tsSec[j] = this.pTsSec[p]!;
        b.tsNsec[j] = this.pTsNsec[p]!;
        sel[n++] = j;
      }
      if (this.qLen[e] === 0) this.readyN--;
    }
    return n;
  }

  private unpark(e: number): number {
    const p = this.qHead[e]!;
    this.qHead[e] = this.pNext[p]!;
    if (this.qHead[e]! < 0) this.qTail[e] = -1;
    this.qLen[e]!--;
    this.parkedCount--;
    this.pNext[p] = this.pFree;
    this.pFree = p;
    return p;
  }

  /**
   * Entries that stayed INCOMPLETE after `maxProbes` requests and one more interval: their parked packets are
   * handed to `drop(slot, flow)` and the entry is removed. Returns the number of packets dropped.
   */
  expire(now: number, drop: (slot: number, flow: number) => void): number {
    if (this.parkedCount === 0) return 0;
    let dropped = 0;
    for (let e = 0; e < this.state.length; e++) {
      if (this.state[e] !== N_INCOMPLETE || this.qLen[e] === 0) continue;
      if (this.probes[e]! < this.maxProbes || now - this.lastProbe[e]! < this.probeIntervalMs) continue;
      while (this.qLen[e]! > 0) {
        const p = this.unpark(e);
        drop(this.pSlot[p]!, this.pFlow[p]!);
        dropped++;
      }
      this.remove(e);
    }
    return dropped;
  }

  /** Remove entry e (its queue must be empty). */
  remove(e: number): void {
    this.unmap(e);
    this.pinned[e] = 0;
    this.clearUnconfirmed(e);
    this.state[e] = N_FREE;
    this.freeEntries[this.freeEntriesN++] = e;
  }

  /** Free every parked packet through `drop` (shutdown). */
  flush(drop: (slot: number, flow: number) => void): void {
    for (let e = 0; e < this.state.length; e++)
      while (this.qLen[e]! > 0) {
        const p = this.unpark(e);
        drop(this.pSlot[p]!, this.pFlow[p]!);
      }
    this.readyN = 0;
  }

  /** Entries for display (cold path), without their addresses: `e` is the entry's index. */
  protected dumpEntries(now: number): NeighborDumpEntry[] {
    const out: NeighborDumpEntry[] = [];
    for (let e = 0; e < this.state.length; e++) {
      const st = this.state[e];
      if (st === N_FREE) continue;
      const age = now - this.updated[e]!;
      out.push({
        e,
        macHi: this.macHi[e]!,
        macLo: this.macLo[e]!,
        state:
          st === N_INCOMPLETE
            ? 'incomplete'
            : this.pinned[e] === 1
              ? 'pinned'
              : age >= this.staleMs
                ? 'stale'
                : 'reachable',
        ageMs: age,
        queued: this.qLen[e]!,
      });
    }
    return out;
  }
}

/** One entry of `dumpEntries`. */
export interface NeighborDumpEntry {
  e: number;
  macHi: number;
  macLo: number;
  state: 'incomplete' | 'reachable' | 'stale' | 'pinned';
  ageMs: number;
  queued: number;
}

/** The IPv4 neighbour table (ARP): the core keyed by int32 address. */
export class NeighborTable extends NeighborCore {
  readonly byIp = new Int32Map(64);
  readonly ip: Int32Array;

  constructor(o: NeighborOptions = {}) {
    super(o);
    this.ip = new Int32Array(this.state.length);
  }

  protected unmap(e: number): void {
    this.byIp.delete(this.ip[e]!);
  }

  /** Entry index for `ip`, or -1. */
  find(ip: number): number {
    return this.byIp.get(ip, -1);
  }

  /**
   * Create an INCOMPLETE entry for `ip` on VLAN `vlan` (evicting an idle entry when full); -1 when nothing can be
   * evicted.
   */
  create(ip: number, now: number, vlan = 0): number {
    const e = this.alloc(now, vlan);
    if (e < 0) return -1;
    this.ip[e] = ip;
    this.byIp.set(ip, e);
    return e;
  }

  /**
   * Learn `ip` is at MAC (hi16, lo32) from ARP. Creates the entry when `create` is set (a request for us), else
   * only updates an existing one (RFC 826 "merge" rule). A pinned entry is never changed (L_PINNED); a created
   * entry is unconfirmed and counts against the cap (see the header). `vlan`: the frame's VLAN (0: untagged); an
   * entry on another VLAN is not changed (L_OTHER_VLAN). Returns one of the L_* codes.
   */
  learnFromArp(ip: number, hi16: number, lo32: number, now: number, create: boolean, vlan = 0): number {
    let e = this.byIp.get(ip, -1);
    const r = this.admit(e, create, vlan);
    if (r === L_CREATED || r === L_REPLACED) e = this.create(ip, now, vlan);
    return this.learnAdmitted(e, r, hi16, lo32, now);
  }

  /**
   * Learn `ip` is at MAC (hi16, lo32), creating the entry when `create` is set; for tests, benchmarks and the
   * control plane (ARP from the segment goes through `learnFromArp`); `vlan` of a created entry. Returns the entry
   * or -1.
   */
  learn(ip: number, hi16: number, lo32: number, now: number, create: boolean, vlan = 0): number {
    let e = this.byIp.get(ip, -1);
    if (e < 0 && create) e = this.create(ip, now, vlan);
    return this.learnAt(e, hi16, lo32, now);
  }

  /**
   * Pin `ip` to MAC (hi16, lo32): a member's binding from its authenticated heartbeats. Creates the entry when
   * missing (evicting an idle unpinned one when full) and releases packets waiting on it. Returns the entry, or
   * -1 when every entry is pinned or busy.
   */
  pin(ip: number, hi16: number, lo32: number, now: number): number {
    let e = this.byIp.get(ip, -1);
    if (e < 0) e = this.create(ip, now);
    return this.pinAt(e, hi16, lo32, now);
  }

  /** Undo `pin` (the node left the cluster): the entry stays as an ordinary one, re-probed when stale. */
  unpin(ip: number): void {
    this.unpinAt(this.byIp.get(ip, -1));
  }

  /**
   * Forget what ARP said about `ip` (it became a member's address: only its heartbeats may say where it is).
   * An entry with packets waiting stays INCOMPLETE for them; a pinned one is left alone.
   */
  forget(ip: number): void {
    this.forgetAt(this.byIp.get(ip, -1));
  }

  /** Entries for display (cold path). */
  dump(now: number): Array<Omit<NeighborDumpEntry, 'e'> & { ip: number }> {
    return this.dumpEntries(now)
      .map(({ e, ...x }) => ({ ip: this.ip[e]!, ...x }))
      .sort((a, b) => (a.ip >>> 0) - (b.ip >>> 0));
  }
}
