/**
 * uplink-ingress: frames from the L2 segment. Accepts frames addressed to the node MAC or broadcast; ARP goes
 * to `arp`; IPv4 must pass `ipv4.check` with a good header checksum and be for an address this node owns now
 * (node IP, hosted Egress IPs) or for a local pod; it goes to `ip` with `b.l3` set and the Ethernet padding
 * trimmed, a fragment to `defrag` (`b.flow` = FRAG_FROM_UPLINK, docs/semantics.md §4.i). Source-routed (LSRR/SSRR) and malformed option lists are dropped, as Linux
 * does with `accept_source_route` = 0. Everything else is a counted drop; a Geneve packet for an address this node
 * does not own (a peer's stale ARP entry after failover, docs/semantics.md §4.b) has its own counter, and so has
 * IPv4 in a broadcast frame for an address this node does not own (`drop-broadcast-ip`: a peer's first-contact
 * heartbeat to another member, uplink-out.ts; a copy meant for someone else, like `drop-other-mac`).
 * A frame with one 802.1Q tag of a VLAN a hosted Egress IP is on (docs/semantics.md §3.1) is taken like an untagged
 * one (`b.l3` after the tag); IPv4 in it must be for an Egress IP on that VLAN, and IPv4 to such an Egress IP
 * must come tagged with its VLAN — or untagged Geneve, which remote nodes send it on the segment —
 * else `drop-vlan-mismatch`. Any other tagged frame is `drop-vlan`.
 * On a node with an IPv6 side, IPv6 frames go to unsnat6 (`ipv6`), and those whose Next Header is ICMPv6 with an
 * NDP type (133..137) to the ndp stage (`ndp`), which alone may also come to an IPv6 multicast MAC (33:33:...,
 * the solicited-node groups, RFC 2464 §7); any other frame to a multicast MAC is `drop-multicast`.
 * On an IPv6 underlay (docs/ipv6.md §2.l), IPv6 UDP from a member's transport address to this node's, to the tunnel
 * or control port, goes to tunnel6-decap (`underlay6`); other IPv6 frames go to unsnat6 as on any dual-stack node.
 * Specification: docs/architecture.md §1 (the uplink port), docs/semantics.md §3, §3.1, §4.b, §4.i. Cases:
 * test/stages/cases/uplink-ingress.cases.ts.
 * Exits: `arp`, `ip`, `fragment`, `drop`, `ipv6` (to unsnat6), `ndp`, `underlay6` (to tunnel6-decap, `b.l3` = the
 * IPv6 header).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, geneve, ipv4, ipv6, verdict } from '../wire/index.js';
import { verdictReasons } from './drop-reasons.js';
import { FRAG_FROM_UPLINK } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = [
  'drop-truncated',
  'drop-other-mac',
  'drop-multicast',
  'drop-vlan',
  'drop-vlan-mismatch',
  'drop-ipv6',
  'drop-ethertype',
  'drop-ip-truncated',
  'drop-ip-bad-header',
  'drop-ip-bad-checksum',
  'fragment',
  'drop-not-ours',
  'drop-tunnel-not-owned',
  'drop-broadcast-ip',
  'drop-source-route',
  'drop-ip-bad-options',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['arp', 'ip', 'fragment', 'drop', 'ipv6', 'ndp', 'underlay6'] as const;
const X = exitIndex(EXITS);
const IP_DROP = verdictReasons(
  C,
  { [verdict.TRUNCATED]: 'drop-ip-truncated', [verdict.BAD_CHECKSUM]: 'drop-ip-bad-checksum' },
  'drop-ip-bad-header',
);

export class UplinkIngress implements Stage {
  readonly name = 'uplink-ingress';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const c = this.counters.v;
    const macHi = ethernet.macHi16(t.mac);
    const macLo = ethernet.macLo32(t.mac);
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.off[i]!;
      const len = b.len[i]!;
      b.flow[i] = -1;
      if (len < ethernet.HEADER_LEN) {
        b.next[i] = X.drop;
        c[C['drop-truncated']]!++;
        continue;
      }
      let group = false; // to an IPv6 multicast MAC: NDP only (below)
      if (!(ethernet.dstHi16(v, o) === macHi && ethernet.dstLo32(v, o) === macLo)) {
        if (!ethernet.isBroadcast(v, o)) {
          group = ethernet.dstHi16(v, o) === 0x3333 && t.v6 !== null;
          if (!group) {
            b.next[i] = X.drop;
            c[ethernet.isMulticast(v, o) ? C['drop-multicast'] : C['drop-other-mac']]!++;
            continue;
          }
        }
      }
      let type = ethernet.ethertype(v, o);
      let hl = ethernet.HEADER_LEN;
      let vid = 0;
      if (type === ethernet.ETHERTYPE_VLAN && t.vlanSrc.size > 0 && len >= ethernet.TAGGED_HEADER_LEN) {
        const tagged = v.getUint16(o + 14) & ethernet.VID_MASK;
        if (tagged !== 0 && t.vlanSrc.get(tagged, 0) !== 0) {
          vid = tagged;
          type = v.getUint16(o + 16);
          hl = ethernet.TAGGED_HEADER_LEN;
        }
      }
      const l3 = o + hl;
      if (type === ethernet.ETHERTYPE_IPV6 && t.v6 !== null && len >= hl + 41 && v.getUint8(l3 + 6) === 58) {
        const icmp = v.getUint8(l3 + 40);
        if (icmp >= 133 && icmp <= 137) {
          b.l3[i] = l3;
          b.next[i] = X.ndp;
          continue;
        }
      }
      if (group) {
        b.next[i] = X.drop;
        c[C['drop-multicast']]!++;
        continue;
      }
      if (type === ethernet.ETHERTYPE_ARP) {
        b.l3[i] = l3;
        b.next[i] = X.arp;
        continue;
      }
      if (type === ethernet.ETHERTYPE_IPV6 && t.v6 !== null) {
        // A node with an IPv6 side: to unsnat6, which checks the packet; the IPv6 underlay's to tunnel6-decap.
        b.l3[i] = l3;
        b.next[i] = t.v6.underlay && this.isUnderlay6(v, l3, o + len - l3) ? X.underlay6 : X.ipv6;
        continue;
      }
      if (type !== ethernet.ETHERTYPE_IPV4) {
        b.next[i] = X.drop;
        c[
          type === ethernet.ETHERTYPE_VLAN || type === ethernet.ETHERTYPE_QINQ
            ? C['drop-vlan']
            : type === ethernet.ETHERTYPE_IPV6
              ? C['drop-ipv6']
              : C['drop-ethertype']
        ]!++;
        continue;
      }
      const r = ipv4.check(v, l3, len - hl, true);
      if (r !== verdict.OK) {
        b.next[i] = X.drop;
        c[IP_DROP[r]!]!++;
        continue;
      }
      // IHL 5 (no options, nearly every packet) is decided here without a call.
      const opts = (v.getUint8(l3) & 0x0f) === 5 ? ipv4.OPTS_OK : ipv4.optionsCheck(v, l3);
      if (opts !== ipv4.OPTS_OK) {
        b.next[i] = X.drop;
        c[opts === ipv4.OPTS_SOURCE_ROUTE ? C['drop-source-route'] : C['drop-ip-bad-options']]!++;
        continue;
      }
      const dst = ipv4.dst(v, l3);
      if (t.owned.get(dst, 0) === 0 && t.podByIp.get(dst, -1) < 0) {
        b.next[i] = X.drop;
        c[
          this.isGeneve(v, l3)
            ? C['drop-tunnel-not-owned']
            : ethernet.isBroadcast(v, o)
              ? C['drop-broadcast-ip']
              : C['drop-not-ours']
        ]!++;
        continue;
      }
      if (t.vlanSrc.size > 0) {
        const vk = t.egressVlanSlot.get(dst, -1);
        const want = vk < 0 ? 0 : t.egressVid[vk]!;
        if (want !== vid && !(vid === 0 && this.isGeneve(v, l3))) {
          b.next[i] = X.drop;
          c[C['drop-vlan-mismatch']]!++;
          continue;
        }
      }
      b.l3[i] = l3;
      b.len[i] = hl + ipv4.totalLen(v, l3);
      if (ipv4.isFragment(v, l3)) {
        b.flow[i] = FRAG_FROM_UPLINK;
        b.next[i] = X.fragment;
        c[C.fragment]!++;
        continue;
      }
      b.next[i] = X.ip;
    }
    return n;
  }

  /**
   * IPv6 UDP (no extension header) to the tunnel or control port of this node's IPv6 transport address from
   * another member's: the IPv6 underlay (from anyone else it may be the reply of a connection SNATed to that port).
   */
  private isUnderlay6(v: DataView, l3: number, len: number): boolean {
    const st = this.st;
    const t6 = st.tables.v6!;
    if (len < ipv6.HEADER_LEN + 8 || v.getUint8(l3 + 6) !== ipv6.NH_UDP) return false;
    const w = t6.transportIp;
    if (v.getInt32(l3 + 24) !== w[0] || v.getInt32(l3 + 28) !== w[1]) return false;
    if (v.getInt32(l3 + 32) !== w[2] || v.getInt32(l3 + 36) !== w[3]) return false;
    const dport = v.getUint16(l3 + ipv6.HEADER_LEN + 2);
    if (dport !== st.tables.tunnelPort && (dport !== st.controlPort || st.controlPort === 0)) return false;
    return (
      t6.transportKeyOf.get(v.getInt32(l3 + 8), v.getInt32(l3 + 12), v.getInt32(l3 + 16), v.getInt32(l3 + 20), 0) !== 0
    );
  }

  /** UDP to the Geneve port (cold: drops, and IPv4 to an Egress IP on a VLAN arriving untagged). */
  private isGeneve(v: DataView, l3: number): boolean {
    const hl = ipv4.headerLen(v, l3);
    return (
      ipv4.proto(v, l3) === ipv4.PROTO_UDP && ipv4.totalLen(v, l3) >= hl + 8 && v.getUint16(l3 + hl + 2) === geneve.PORT
    );
  }
}
