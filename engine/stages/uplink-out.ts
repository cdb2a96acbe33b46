/**
 * uplink-out: the last stage before the uplink. Picks the next hop of the IPv4 packet at `b.l3[i]` (the
 * destination itself on the segment; otherwise the gateway of the source's Egress IP pool (subnetInfo) or the
 * segment's default gateway; none: a counted drop), resolves its MAC in the neighbour table, writes the
 * Ethernet header in front of the IPv4 header and confirms the packet's new connection (`b.flow[i]`), so a
 * connection exists only once its first packet left (Linux `__nf_conntrack_confirm`).
 * On a miss the packet waits in the neighbour queue (exit `held`: the stage owns the slot) and an ARP request
 * goes out; on resolution the queue is released in the next round (`release`). Unanswered resolution and a
 * full queue are counted drops, and the waiting connections are aborted.
 * A member's node IP is never resolved with ARP (docs/segment-security.md#arp-and-the-neighbour-table): its
 * entry is pinned from the member's heartbeats. Until the first one arrives, this node's heartbeats to it go to
 * the Ethernet broadcast address (`first-contact`: they are authenticated and bound to their destination IP, and
 * the member's answer pins it), and other packets wait for the pin (no request is sent; they time out as an
 * unanswered resolution would).
 * Specification: docs/architecture.md §1 (the segment: ARP, gateway), docs/semantics.md §3. Cases:
 * test/stages/cases/uplink-out.cases.ts.
 * Exits: `out` (to the uplink port), `held`, `drop`.
 */
import type { ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { arp, ethernet, ipv4, udp } from '../wire/index.js';
import { N_FREE, N_REACHABLE, type NeighborTable } from './neighbor.js';
import type { NodeState } from './state.js';

const NAMES = [
  'sent',
  'first-contact',
  'arp-request',
  'parked',
  'released',
  'drop-no-route',
  'drop-neigh-full',
  'drop-queue-full',
  'drop-arp-timeout',
  'drop-ct-clash',
  'drop-no-buffer',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'held', 'drop'] as const;
const X = exitIndex(EXITS);

export class UplinkOut implements Stage {
  readonly name = 'uplink-out';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly neigh: NeighborTable;
  private readonly ct: ConnTable;
  private readonly dropParked: (slot: number, flow: number) => void;

  constructor(private readonly st: NodeState) {
    this.neigh = st.neigh;
    this.ct = st.ct;
    this.dropParked = (slot, flow) => {
      if (flow >= 0) this.ct.abort(flow >> 1);
      this.st.slab.free(slot);
      this.counters.v[C['drop-arp-timeout']]!++;
    };
  }

  release(b: Burst, sel: Int32Array, n: number): number {
    const neigh = this.neigh;
    if (neigh.parkedCount === 0) return n;
    neigh.expire(this.st.now, this.dropParked);
    // Repeat requests for addresses packets wait on, even when no new packet comes to trigger them.
    let k = n;
    neigh.dueProbes(this.st.now, (e, ip) => {
      if (this.st.tables.nodeByIp.get(ip, -1) < 0) k = this.arpRequest(b, sel, k, e, ip, this.st.tables.nodeIp);
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
    const v = st.v;
    const c = this.counters.v;
    const neigh = this.neigh;
    const ct = this.ct;
    const now = st.now;
    const macHi = ethernet.macHi16(t.mac);
    const macLo = ethernet.macLo32(t.mac);
    const count = n;
    let lastNh = 0;
    let lastE = -1;
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      if (o < 0) continue; // an ARP request `release` added: already bound for the port
      const dst = ipv4.dst(v, o);
      let nh = dst;
      if (!t.onSegment(dst)) {
        const gw = t.egressGateway.size > 0 ? t.egressGateway.get(ipv4.src(v, o), 0) : 0;
        nh = gw !== 0 ? gw : t.gateway;
        if (nh === 0) {
          b.next[i] = X.drop;
          c[C['drop-no-route']]!++;
          this.abort(b.flow[i]!);
          continue;
        }
      }
      // A burst mostly goes to one next hop: reuse the last entry while it still holds that address.
      let e =
        nh === lastNh && lastE >= 0 && neigh.ip[lastE] === nh && neigh.state[lastE] !== N_FREE ? lastE : neigh.find(nh);
      if (e < 0) {
        e = neigh.create(nh, now);
        if (e < 0) {
          b.next[i] = X.drop;
          c[C['drop-neigh-full']]!++;
          this.abort(b.flow[i]!);
          continue;
        }
      } else if (e !== lastE && neigh.unconfirmed[e] === 1) neigh.confirm(e);
      lastNh = nh;
      lastE = e;
      if (neigh.probeDue(e, now) && t.nodeByIp.get(nh, -1) < 0) n = this.arpRequest(b, sel, n, e, nh, ipv4.src(v, o));
      if (neigh.state[e] !== N_REACHABLE) {
        if (this.isFirstContact(v, o, nh)) {
          const eo = o - ethernet.HEADER_LEN;
          ethernet.writeHeader(v, eo, 0xffff, -1, macHi, macLo, ethernet.ETHERTYPE_IPV4);
          b.off[i] = eo;
          b.len[i] = ethernet.HEADER_LEN + ipv4.totalLen(v, o);
          b.next[i] = X.out;
          c[C['first-contact']]!++;
          continue;
        }
        if (neigh.park(e, b, i)) {
          b.next[i] = X.held;
          c[C.parked]!++;
        } else {
          b.next[i] = X.drop;
          c[C['drop-queue-full']]!++;
          this.abort(b.flow[i]!);
        }
        continue;
      }
      const f = b.flow[i]!;
      if (f >= 0 && !ct.confirm(f >> 1)) {
        b.next[i] = X.drop;
        c[C['drop-ct-clash']]!++;
        continue;
      }
      const eo = o - ethernet.HEADER_LEN;
      ethernet.writeHeader(v, eo, neigh.macHi[e]!, neigh.macLo[e]!, macHi, macLo, ethernet.ETHERTYPE_IPV4);
      b.off[i] = eo;
      b.len[i] = ethernet.HEADER_LEN + ipv4.totalLen(v, o);
      b.next[i] = X.out;
      c[C.sent]!++;
    }
    return n;
  }

  /** A heartbeat from this node to a member whose MAC is not pinned yet (slow path: unresolved entries only). */
  private isFirstContact(v: DataView, o: number, nh: number): boolean {
    const t = this.st.tables;
    const port = this.st.controlPort;
    if (port === 0 || nh !== ipv4.dst(v, o) || t.nodeByIp.get(nh, -1) < 0) return false;
    if (ipv4.src(v, o) !== t.nodeIp || ipv4.proto(v, o) !== ipv4.PROTO_UDP) return false;
    return udp.dstPort(v, o + ipv4.headerLen(v, o)) === port;
  }

  private abort(flow: number): void {
    if (flow >= 0) this.ct.abort(flow >> 1);
  }

  /** Append a broadcast ARP request for `target` (sender address: the packet's source when this node owns it). */
  private arpRequest(b: Burst, sel: Int32Array, n: number, e: number, target: number, src: number): number {
    const t = this.st.tables;
    const j = b.alloc(arp.FRAME_LEN);
    if (j < 0) {
      // No room in this round: the request stays due (the next packet or round sends it).
      this.neigh.unprobe(e);
      this.counters.v[C['drop-no-buffer']]!++;
      return n;
    }
    const v = this.st.v;
    const o = b.off[j]!;
    const spa = t.owned.get(src, 0) !== 0 ? src : t.nodeIp;
    ethernet.writeMac(v, o, ethernet.BROADCAST);
    ethernet.writeMac(v, o + 6, t.mac);
    ethernet.setEthertype(v, o, ethernet.ETHERTYPE_ARP);
    arp.emitRequest(v, o + ethernet.HEADER_LEN, t.mac, spa, target);
    b.flow[j] = -1;
    b.l3[j] = -1; // not an IPv4 packet: process() passes it through
    b.next[j] = X.out;
    this.counters.v[C['arp-request']]!++;
    sel[n] = j;
    return n + 1;
  }
}
