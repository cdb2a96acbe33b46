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
 * A packet from a hosted Egress IP of a VLAN pool (subnetInfo.vlan, docs/semantics.md §3.1) leaves 802.1Q-tagged
 * with that VLAN: its next hop is the destination when it is on the pool's subnet, else the pool's gateway, and
 * is resolved with ARP on that VLAN (tagged requests from the Egress IP). Geneve to a VLAN Egress IP hosted by
 * another node goes, untagged, to that node's IP (its pinned MAC): the tunnel stays on the segment.
 * Specification: docs/architecture.md §1 (the segment: ARP, gateway), docs/semantics.md §3, §3.1. Cases:
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
    neigh.dueProbes(this.st.now, (e) => {
      const ip = neigh.ip[e]!;
      const t = this.st.tables;
      if (t.nodeByIp.get(ip, -1) >= 0) return;
      const vid = neigh.vlan[e]!;
      // On a VLAN: from an Egress IP hosted there; none left (the IP moved away): the entry times out unasked.
      const spa = vid === 0 ? t.nodeIp : t.vlanSrc.get(vid, 0);
      if (spa !== 0) k = this.arpRequest(b, sel, k, e, ip, spa, vid);
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
      let vid = 0;
      const vk = t.egressVlanSlot.size > 0 ? t.egressVlanSlot.get(ipv4.src(v, o), -1) : -1;
      if (vk >= 0) {
        // From an Egress IP on a VLAN: on its subnet directly, else through its pool's gateway.
        vid = t.egressVid[vk]!;
        if ((dst & t.egressNetMask[vk]!) !== t.egressNet[vk]!) nh = t.egressVlanGw[vk]!;
      } else if (!t.onSegment(dst)) {
        const via = t.remoteEgressVia.size > 0 ? t.remoteEgressVia.get(dst, 0) : 0;
        const gw = t.egressGateway.size > 0 ? t.egressGateway.get(ipv4.src(v, o), 0) : 0;
        nh = via !== 0 && this.isTunnel(v, o) ? via : gw !== 0 ? gw : t.gateway;
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
        e = neigh.create(nh, now, vid);
        if (e < 0) {
          b.next[i] = X.drop;
          c[C['drop-neigh-full']]!++;
          this.abort(b.flow[i]!);
          continue;
        }
      } else if (e !== lastE && neigh.unconfirmed[e] === 1) neigh.confirm(e);
      lastNh = nh;
      lastE = e;
      if (neigh.probeDue(e, now) && t.nodeByIp.get(nh, -1) < 0)
        n = this.arpRequest(b, sel, n, e, nh, ipv4.src(v, o), vid);
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
      if (vid === 0) {
        const eo = o - ethernet.HEADER_LEN;
        ethernet.writeHeader(v, eo, neigh.macHi[e]!, neigh.macLo[e]!, macHi, macLo, ethernet.ETHERTYPE_IPV4);
        b.off[i] = eo;
        b.len[i] = ethernet.HEADER_LEN + ipv4.totalLen(v, o);
      } else {
        const eo = o - ethernet.TAGGED_HEADER_LEN;
        ethernet.writeTaggedHeader(v, eo, neigh.macHi[e]!, neigh.macLo[e]!, macHi, macLo, vid, ethernet.ETHERTYPE_IPV4);
        b.off[i] = eo;
        b.len[i] = ethernet.TAGGED_HEADER_LEN + ipv4.totalLen(v, o);
      }
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

  /** Geneve from this node (the outer header of geneve-encap): the only packet sent to a remote Egress IP's owner. */
  private isTunnel(v: DataView, o: number): boolean {
    const t = this.st.tables;
    if (ipv4.src(v, o) !== t.nodeIp || ipv4.proto(v, o) !== ipv4.PROTO_UDP) return false;
    return udp.dstPort(v, o + ipv4.headerLen(v, o)) === t.tunnelPort;
  }

  private abort(flow: number): void {
    if (flow >= 0) this.ct.abort(flow >> 1);
  }

  /**
   * Append a broadcast ARP request for `target` (sender address: the packet's source when this node owns it),
   * 802.1Q-tagged when `vid` is not 0.
   */
  private arpRequest(b: Burst, sel: Int32Array, n: number, e: number, target: number, src: number, vid = 0): number {
    const t = this.st.tables;
    const hl = vid === 0 ? ethernet.HEADER_LEN : ethernet.TAGGED_HEADER_LEN;
    const j = b.alloc(hl + arp.PACKET_LEN);
    if (j < 0) {
      // No room in this round: the request stays due (the next packet or round sends it).
      this.neigh.unprobe(e);
      this.counters.v[C['drop-no-buffer']]!++;
      return n;
    }
    const v = this.st.v;
    const o = b.off[j]!;
    const spa = t.owned.get(src, 0) !== 0 ? src : t.nodeIp;
    const macHi = ethernet.macHi16(t.mac);
    const macLo = ethernet.macLo32(t.mac);
    if (vid === 0) ethernet.writeHeader(v, o, 0xffff, -1, macHi, macLo, ethernet.ETHERTYPE_ARP);
    else ethernet.writeTaggedHeader(v, o, 0xffff, -1, macHi, macLo, vid, ethernet.ETHERTYPE_ARP);
    arp.emitRequest(v, o + hl, t.mac, spa, target);
    b.flow[j] = -1;
    b.l3[j] = -1; // not an IPv4 packet: process() passes it through
    b.next[j] = X.out;
    this.counters.v[C['arp-request']]!++;
    sel[n] = j;
    return n + 1;
  }
}
