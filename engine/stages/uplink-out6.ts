/**
 * uplink-out6: IPv6 packets leaving on the uplink. The next hop is the destination itself when it is on the
 * segment (`NodeDatapathConfig6.segment`) or a static neighbour, else the segment's IPv6 router (none: a counted
 * drop). Its MAC comes from the IPv6 neighbour table (neighbor6.ts), resolved with NDP as uplink-out resolves
 * IPv4 with ARP: a miss creates an INCOMPLETE entry, parks the packet (exit `held`: the stage owns the slot) and
 * sends a Neighbor Solicitation to the target's solicited-node address (RFC 4861 §7.2.2: from the packet's
 * source when this node owns it, else from the node's IPv6 address; a repeated one from the first waiting packet's); the ndp stage's Neighbor Advertisement
 * makes the entry REACHABLE and the queue is released in the next round (`release`). Unanswered resolution
 * (after `maxProbes` solicitations) and a full queue are counted drops; a stale entry is still used and
 * re-probed. Static neighbours are pinned entries: never solicited, never changed by NDP. The packet's new
 * connection (`b.flow[i]`) is confirmed when it leaves, as uplink-out does for IPv4, and aborted when it is
 * dropped; the Ethernet header (type 0x86dd) goes in front.
 * The IPv6 underlay (docs/ipv6.md §2.l) leaves here too: Geneve from tunnel6-encap and heartbeats from local-out.
 * As uplink-out does for a member's node IP, a member's IPv6 transport address is never solicited: its entry is
 * pinned from the member's heartbeats (docs/segment-security.md#peer-pins). Until the first one arrives this
 * node's heartbeats to it go to the Ethernet broadcast address (`first-contact`) and other packets wait for the
 * pin (no NS; they time out as `drop-ndp-timeout`). A member off the segment is reached through the router,
 * resolved with NDP as any next hop.
 * Specification: docs/ipv6.md §2.c, §2.l; docs/segment-security.md#ndp-and-the-ipv6-neighbour-table. Cases:
 * test/stages/cases/uplink-out6.cases.ts.
 * Exits: `out` (to the uplink port), `held`, `drop`.
 */
import type { ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, ipv6, ndp, udp } from '../wire/index.js';
import { N_FREE, N_REACHABLE } from './neighbor.js';
import type { NeighborTable6 } from './neighbor6.js';
import type { NodeState } from './state.js';

const NAMES = [
  'sent',
  'first-contact',
  'ndp-solicit',
  'parked',
  'released',
  'drop-no-ipv6',
  'drop-no-route',
  'drop-neigh-full',
  'drop-queue-full',
  'drop-ndp-timeout',
  'drop-ct-clash',
  'drop-no-buffer',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'held', 'drop'] as const;
const X = exitIndex(EXITS);

export class UplinkOut6 implements Stage {
  readonly name = 'uplink-out6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly neigh: NeighborTable6;
  private readonly ct: ConnTable;
  private readonly dropParked: (slot: number, flow: number) => void;
  /** Scratch addresses of a solicitation (source, target). */
  private readonly src = new Uint8Array(16);
  private readonly target = new Uint8Array(16);
  private readonly srcV = new DataView(this.src.buffer);
  private readonly targetV = new DataView(this.target.buffer);

  constructor(private readonly st: NodeState) {
    this.neigh = st.neigh6;
    this.ct = st.ct6.ct;
    this.dropParked = (slot, flow) => {
      if (flow >= 0) this.ct.abort(flow >> 1);
      this.st.slab.free(slot);
      this.counters.v[C['drop-ndp-timeout']]!++;
    };
  }

  release(b: Burst, sel: Int32Array, n: number): number {
    const neigh = this.neigh;
    if (neigh.parkedCount === 0) return n;
    neigh.expire(this.st.now, this.dropParked);
    // Repeat solicitations for addresses packets wait on, even when no new packet comes to trigger them.
    let k = n;
    neigh.dueProbes(this.st.now, (e) => {
      const a = neigh.addr;
      const q = e << 2;
      if (this.isMember(a[q]!, a[q + 1]!, a[q + 2]!, a[q + 3]!)) return;
      k = this.solicit(b, sel, k, e, a[q]!, a[q + 1]!, a[q + 2]!, a[q + 3]!, neigh.headL3(e));
    });
    n = k;
    if (!neigh.hasReady) return n;
    const m = neigh.releaseReady(b, sel, n);
    this.counters.v[C.released] += m - n;
    return m;
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const t6 = t.v6;
    const v = st.v;
    const c = this.counters.v;
    const ct = this.ct;
    const neigh = this.neigh;
    const now = st.now;
    const macHi = ethernet.macHi16(t.mac);
    const macLo = ethernet.macLo32(t.mac);
    const count = n;
    let lastE = -1;
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      if (o < 0) continue; // a solicitation this stage added: already bound for the port
      const f = b.flow[i]!;
      if (t6 === null) {
        if (f >= 0) ct.abort(f >> 1);
        b.next[i] = X.drop;
        c[C['drop-no-ipv6']]!++;
        continue;
      }
      let a0 = v.getInt32(o + 24);
      let a1 = v.getInt32(o + 28);
      let a2 = v.getInt32(o + 32);
      let a3 = v.getInt32(o + 36);
      if (!t6.onSegment(a0, a1, a2, a3) && t6.neigh.get(a0, a1, a2, a3, -1) < 0) {
        if (!t6.hasGateway) {
          if (f >= 0) ct.abort(f >> 1);
          b.next[i] = X.drop;
          c[C['drop-no-route']]!++;
          continue;
        }
        const g = t6.gateway;
        a0 = g[0]!;
        a1 = g[1]!;
        a2 = g[2]!;
        a3 = g[3]!;
      }
      // A burst mostly goes to one next hop: reuse the last entry while it still holds that address.
      let e =
        lastE >= 0 && neigh.state[lastE] !== N_FREE && neigh.holds(lastE, a0, a1, a2, a3)
          ? lastE
          : neigh.find(a0, a1, a2, a3);
      if (e < 0) {
        e = neigh.create(a0, a1, a2, a3, now);
        if (e < 0) {
          if (f >= 0) ct.abort(f >> 1);
          b.next[i] = X.drop;
          c[C['drop-neigh-full']]!++;
          continue;
        }
      } else if (e !== lastE && neigh.unconfirmed[e] === 1) neigh.confirm(e);
      lastE = e;
      if (neigh.probeDue(e, now) && !this.isMember(a0, a1, a2, a3)) n = this.solicit(b, sel, n, e, a0, a1, a2, a3, o);
      if (neigh.state[e] !== N_REACHABLE) {
        if (this.isFirstContact(v, o, a0, a1, a2, a3)) {
          const eo = o - ethernet.HEADER_LEN;
          ethernet.writeHeader(v, eo, 0xffff, -1, macHi, macLo, ipv6.ETHERTYPE);
          b.off[i] = eo;
          b.len[i] = ethernet.HEADER_LEN + ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
          b.next[i] = X.out;
          c[C['first-contact']]!++;
          continue;
        }
        if (neigh.park(e, b, i)) {
          b.next[i] = X.held;
          c[C.parked]!++;
        } else {
          if (f >= 0) ct.abort(f >> 1);
          b.next[i] = X.drop;
          c[C['drop-queue-full']]!++;
        }
        continue;
      }
      if (f >= 0 && !ct.confirm(f >> 1)) {
        b.next[i] = X.drop;
        c[C['drop-ct-clash']]!++;
        continue;
      }
      const eo = o - ethernet.HEADER_LEN;
      ethernet.writeHeader(v, eo, neigh.macHi[e]!, neigh.macLo[e]!, macHi, macLo, ipv6.ETHERTYPE);
      b.off[i] = eo;
      b.len[i] = ethernet.HEADER_LEN + ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
      b.next[i] = X.out;
      c[C.sent]!++;
    }
    return n;
  }

  /** A member's IPv6 transport address (an IPv6 underlay): never solicited, pinned from its heartbeats. */
  private isMember(a0: number, a1: number, a2: number, a3: number): boolean {
    const t6 = this.st.tables.v6;
    return t6 !== null && t6.underlay && t6.transportKeyOf.get(a0, a1, a2, a3, 0) !== 0;
  }

  /**
   * A heartbeat from this node's transport address straight to a member whose MAC is not pinned yet (slow path:
   * unresolved entries only): UDP to the control port, the next hop its destination.
   */
  private isFirstContact(v: DataView, o: number, a0: number, a1: number, a2: number, a3: number): boolean {
    const st = this.st;
    const t6 = st.tables.v6!;
    const port = st.controlPort;
    if (port === 0 || !this.isMember(a0, a1, a2, a3) || v.getUint8(o + 6) !== ipv6.NH_UDP) return false;
    if (v.getInt32(o + 24) !== a0 || v.getInt32(o + 28) !== a1) return false;
    if (v.getInt32(o + 32) !== a2 || v.getInt32(o + 36) !== a3) return false;
    const w = t6.transportIp;
    for (let q = 0; q < 4; q++) if (v.getInt32(o + 8 + q * 4) !== w[q]) return false;
    return ipv6.payloadLen(v, o) >= udp.HEADER_LEN && udp.dstPort(v, o + ipv6.HEADER_LEN) === port;
  }

  /**
   * Append a Neighbor Solicitation for the target (words a0..a3) of entry `e`: from the source of the IPv6
   * packet at `o` (the one prompting it, or the first one waiting, as Linux `ndisc_solicit`) when this node owns it, else from the node's IPv6 address (or, without one, its first hosted
   * egress IP). Nothing to send from (no IPv6 address owned): the entry times out unasked.
   */
  private solicit(
    b: Burst,
    sel: Int32Array,
    n: number,
    e: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    o: number,
  ): number {
    const st = this.st;
    const t = st.tables;
    const t6 = t.v6;
    if (t6 === null) return n;
    const v = st.v;
    const sv = this.srcV;
    if (o >= 0 && t6.owned.get(v.getInt32(o + 8), v.getInt32(o + 12), v.getInt32(o + 16), v.getInt32(o + 20), 0) !== 0)
      for (let w = 0; w < 16; w += 4) sv.setInt32(w, v.getInt32(o + 8 + w));
    else {
      const own = t6.ownedIp;
      if (own.length === 0) return n;
      const q = t6.nodeOwned >= 0 ? t6.nodeOwned << 2 : 0;
      for (let w = 0; w < 4; w++) sv.setInt32(w << 2, own[q + w]!);
    }
    const j = b.alloc(ndp.FRAME_LEN);
    if (j < 0) {
      // No room in this round: the solicitation stays due (the next packet or round sends it).
      this.neigh.unprobe(e);
      this.counters.v[C['drop-no-buffer']]!++;
      return n;
    }
    const tv = this.targetV;
    tv.setInt32(0, a0);
    tv.setInt32(4, a1);
    tv.setInt32(8, a2);
    tv.setInt32(12, a3);
    ndp.emitSolicitFrame(v, b.off[j]!, t.mac, this.src, this.target);
    b.flow[j] = -1;
    b.l3[j] = -1; // not a packet to route: process() passes it through
    b.next[j] = X.out;
    this.counters.v[C['ndp-solicit']]!++;
    sel[n] = j;
    return n + 1;
  }
}
