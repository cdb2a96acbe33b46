/**
 * The IPv6 neighbour table of the uplink (RFC 4861 §7.3, the Neighbor Cache): the machinery of neighbor.ts
 * (`NeighborCore`: INCOMPLETE/REACHABLE, the bounded queue of parked packets, stale re-probe, `maxProbes`, pinned
 * entries, the cap on unsolicited entries, the VLAN field) keyed by the 128-bit address, four int32 words in
 * network order as `ipv6.srcWord`/`dstWord` read them (`Ip6Map`, tables6.ts). uplink-out6 resolves next hops
 * through it with Neighbor Solicitations, the ndp stage learns from what the segment says (`learnFromNdp`).
 * Pinned entries are the static neighbours of the configuration (`NodeDatapathConfig6.neighbors`): NDP never
 * changes them. Rules: docs/segment-security.md#ndp-and-the-ipv6-neighbour-table.
 */
import { L_CREATED, L_REPLACED, NeighborCore, type NeighborDumpEntry, type NeighborOptions } from './neighbor.js';
import { Ip6Map, wordsToString } from './tables6.js';

export class NeighborTable6 extends NeighborCore {
  /** Entry → address, four words each. */
  readonly addr: Int32Array;
  private readonly byAddr: Ip6Map;

  constructor(o: NeighborOptions = {}) {
    super(o);
    const n = this.state.length;
    this.addr = new Int32Array(n * 4);
    this.byAddr = new Ip6Map(n);
  }

  protected unmap(e: number): void {
    const a = this.addr;
    const k = e << 2;
    this.byAddr.delete(a[k]!, a[k + 1]!, a[k + 2]!, a[k + 3]!);
  }

  /** Entry index for the address, or -1. */
  find(a0: number, a1: number, a2: number, a3: number): number {
    return this.byAddr.get(a0, a1, a2, a3, -1);
  }

  /** True when entry `e` holds the address (a cached entry index still valid). */
  holds(e: number, a0: number, a1: number, a2: number, a3: number): boolean {
    const a = this.addr;
    const k = e << 2;
    return a[k] === a0 && a[k + 1] === a1 && a[k + 2] === a2 && a[k + 3] === a3;
  }

  /** Create an INCOMPLETE entry for the address (evicting an idle entry when full); -1 when none can be evicted. */
  create(a0: number, a1: number, a2: number, a3: number, now: number, vlan = 0): number {
    const e = this.alloc(now, vlan);
    if (e < 0) return -1;
    const k = e << 2;
    this.addr[k] = a0;
    this.addr[k + 1] = a1;
    this.addr[k + 2] = a2;
    this.addr[k + 3] = a3;
    this.byAddr.set(a0, a1, a2, a3, e);
    return e;
  }

  /**
   * Learn the address is at MAC (hi16, lo32) from NDP: creates the entry when `create` is set (an NS for an
   * address this node owns, from a source with a link-layer address option), else only updates an existing one
   * (an NA). The rules of `NeighborTable.learnFromArp`: pinned entries never change, created ones are unconfirmed
   * and capped, an entry on another VLAN is not changed. Returns one of the L_* codes.
   */
  learnFromNdp(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    hi16: number,
    lo32: number,
    now: number,
    create: boolean,
    vlan = 0,
  ): number {
    let e = this.find(a0, a1, a2, a3);
    const r = this.admit(e, create, vlan);
    if (r === L_CREATED || r === L_REPLACED) e = this.create(a0, a1, a2, a3, now, vlan);
    return this.learnAdmitted(e, r, hi16, lo32, now);
  }

  /** Learn the address at `p` of `v` is at MAC (hi16, lo32) (tests, benchmarks); the entry or -1. */
  learn(v: DataView, p: number, hi16: number, lo32: number, now: number, create: boolean): number {
    const a0 = v.getInt32(p);
    const a1 = v.getInt32(p + 4);
    const a2 = v.getInt32(p + 8);
    const a3 = v.getInt32(p + 12);
    let e = this.find(a0, a1, a2, a3);
    if (e < 0 && create) e = this.create(a0, a1, a2, a3, now);
    return this.learnAt(e, hi16, lo32, now);
  }

  /** Pin the address to MAC (hi16, lo32): a static neighbour. The entry, or -1 when every entry is pinned or busy. */
  pin(a0: number, a1: number, a2: number, a3: number, hi16: number, lo32: number, now: number): number {
    let e = this.find(a0, a1, a2, a3);
    if (e < 0) e = this.create(a0, a1, a2, a3, now);
    return this.pinAt(e, hi16, lo32, now);
  }

  /** Undo `pin`: the entry stays as an ordinary one, re-probed when stale. */
  unpin(a0: number, a1: number, a2: number, a3: number): void {
    this.unpinAt(this.find(a0, a1, a2, a3));
  }

  /**
   * Forget what NDP said about the address (a member's IPv6 transport address: only its heartbeats may say where
   * it is). An entry with packets waiting stays INCOMPLETE for them; a pinned one is left alone.
   */
  forget(a0: number, a1: number, a2: number, a3: number): void {
    this.forgetAt(this.find(a0, a1, a2, a3));
  }

  /** Pinned entries' indices (cold path: reconfiguration). */
  pinnedEntries(): number[] {
    const out: number[] = [];
    for (let e = 0; e < this.pinned.length; e++) if (this.pinned[e] === 1) out.push(e);
    return out;
  }

  /** Entries for display (cold path), the address as RFC 5952 text. */
  dump(now: number): Array<Omit<NeighborDumpEntry, 'e'> & { ip: string }> {
    return this.dumpEntries(now)
      .map(({ e, ...x }) => ({ ip: wordsToString(this.addr, e), ...x }))
      .sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  }
}
