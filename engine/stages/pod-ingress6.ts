/**
 * pod-ingress6: IPv6 packets a local pod sent (pod-ingress hands on a packet whose version nibble is 6 when the
 * node has an IPv6 side), checked, spoofguarded and classified in one pass, since every IPv6 decision needs the
 * extension-header walk:
 * - an IPv6 header that passes `ipv6.check`, its extension headers walked with limits (`ipv6.walk`: at most 8
 *   headers, 256 bytes, Hop-by-Hop first, no source route), whole (no fragments: no reassembly), a TCP, UDP or
 *   ICMPv6 header that passes its check; trailing bytes beyond the Payload Length cut;
 * - spoofguard: the source is the pod's IPv6 address (the port tells which pod sent it); a link-local source is
 *   allowed only for the NDP and MLD messages a pod's kernel sends on its link, which are counted and consumed
 *   (`ignored`: the TUN has no neighbours to resolve); a Router Advertisement or Redirect from a pod is dropped;
 * - not larger than the pod MTU (the pod port's and the tunnel's limit; IPv6 is never fragmented on the way:
 *   the pod gets ICMPv6 Packet Too Big with the pod MTU, RFC 8200 §5, RFC 4443 §3.2) and Hop Limit above 1 (else
 *   Time Exceeded, §3.3, within the node's error rate limit, error-limit.ts: beyond it `icmp-rate-limited`),
 *   both from the pod gateway address (`tables.v6.podGatewayIp`), on exit `reply`;
 * - classification as classify does for IPv4 (docs/semantics.md §4.0, §4.d): to a local pod → `local-pod`, to
 *   another node's IPv6 pod CIDR → `remote-pod` (Geneve to that node), to this node's pod CIDR but no such pod,
 *   multicast, link-local, loopback or unspecified → drop; an echo request to an address this node owns →
 *   `local` (icmp-local6), anything else to it → drop; the reply direction of a connection the pod accepted
 *   (inbound6), or an ICMPv6 error about a packet of one (`related-no-nat`) → `no-nat`, out un-NATed with the
 *   Hop Limit decremented (never a packet opening a connection, one
 *   of a flow the pod opened through SNAT66, or a TCP segment before the pod answered the SYN: those count
 *   `reply-refused` and go on, accepted.ts); to a bypass destination (node addresses, serviceCIDRv6,
 *   exceptCIDRs) or with no IPv6 Egress → `snat`
 *   to the node's IPv6 address (a drop when it has none); an IPv6 Egress hosted here → `snat` to its egress IP;
 *   hosted elsewhere → `tunnel` (Geneve to the egress IP).
 * `b.meta[i]` carries the index of the NAT address in `tables.v6.ownedIp` (snat), or the outer destination
 * (remote-pod, tunnel); `b.oport[i]` the pod port (local-pod).
 * Specification: docs/ipv6.md §2.a, §2.b, §2.h, §2.j, §2.k; docs/semantics.md §4.0, §4.d; RFC 8200 §4, RFC 4861
 * §6.1.2. Cases: test/stages/cases/pod-ingress6.cases.ts.
 * Exits: `local-pod`, `remote-pod`, `snat`, `tunnel`, `no-nat` (to uplink-out6), `ignored` (NDP/MLD of the pod's
 * link, to sink), `drop`, `reply` (an ICMPv6 error to the sending pod, `b.oport` = its port), `local` (to
 * icmp-local6).
 */
import { UPDATE_ACCEPT, UPDATE_INVALID } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { icmpv6, ipv6, verdict } from '../wire/index.js';
import { DST_LOCAL_POD, DST_OWN_CIDR, DST_OWNED, DST_REMOTE_CIDR, EGRESS_LOCAL, EGRESS_NONE } from './config.js';
import { acceptedReply } from './accepted.js';
import { checkL4v6, ctFlags6, ctProto6, foldAt, portsWord6, tcpSegment6 } from './ct6.js';
import { verdictReasons } from './drop-reasons.js';
import { appendError6, ERR_NO_BUFFER, relatedRef6 } from './icmp-nat.js';
import { L4_REASONS } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = [
  'to-local-pod',
  'to-remote-pod',
  'bypass',
  'node-snat',
  'egress-local',
  'egress-remote',
  'ndp-ignored',
  'mld-ignored',
  'drop-no-ipv6',
  'drop-truncated',
  'drop-unknown-port',
  'drop-ext-truncated',
  'drop-bad-ext-header',
  'drop-chain-too-long',
  'drop-hop-by-hop-not-first',
  'drop-unknown-next-header',
  'drop-source-route',
  'drop-fragment',
  'drop-l4-truncated',
  'drop-l4-bad',
  'drop-unsupported-proto',
  'drop-spoofed',
  'drop-router-message',
  'drop-too-big',
  'drop-hop-limit',
  'drop-bad-destination',
  'drop-to-node',
  'drop-no-such-pod',
  'drop-no-node-ipv6',
  'reply-no-nat',
  'reply-refused',
  'drop-ct-invalid',
  'icmp-packet-too-big',
  'icmp-time-exceeded',
  'drop-no-buffer',
  'to-local',
  'icmp-rate-limited',
  'related-no-nat',
] as const;
/** `reply`: no accepted connection has the packet's key in its reply direction. */
const NO_CONNECTION = -2;
const C = counterIndex(NAMES);
const EXITS = ['local-pod', 'remote-pod', 'snat', 'tunnel', 'no-nat', 'ignored', 'drop', 'reply', 'local'] as const;
const X = exitIndex(EXITS);
const WALK_DROP = verdictReasons(
  C,
  {
    [verdict.TRUNCATED]: 'drop-ext-truncated',
    [verdict.CHAIN_TOO_LONG]: 'drop-chain-too-long',
    [verdict.HOP_BY_HOP_NOT_FIRST]: 'drop-hop-by-hop-not-first',
    [verdict.UNKNOWN_NEXT_HEADER]: 'drop-unknown-next-header',
    [verdict.UNSUPPORTED]: 'drop-source-route',
  },
  'drop-bad-ext-header',
);
const L4_DROP = verdictReasons(C, L4_REASONS.reasons, L4_REASONS.otherwise);

/** ICMPv6 types a pod's kernel sends on its link: MLD (130-132, 143) → 1, RS/NS/NA (133, 135, 136) → 2, RA/Redirect → 3. */
const LINK_TYPE = new Uint8Array(256);
for (const t of [130, 131, 132, 143]) LINK_TYPE[t] = 1;
for (const t of [icmpv6.TYPE_ROUTER_SOLICIT, icmpv6.TYPE_NEIGHBOR_SOLICIT, icmpv6.TYPE_NEIGHBOR_ADVERT])
  LINK_TYPE[t] = 2;
for (const t of [icmpv6.TYPE_ROUTER_ADVERT, icmpv6.TYPE_REDIRECT]) LINK_TYPE[t] = 3;

/** The Time Exceeded this stage sends (RFC 4443 §3.3, code 0). */
const HOP_LIMIT_EXCEEDED: icmpv6.ErrorSpec = { type: icmpv6.TYPE_TIME_EXCEEDED, code: icmpv6.CODE_HOP_LIMIT_EXCEEDED };

export class PodIngress6 implements Stage {
  readonly name = 'pod-ingress6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  /** The Packet Too Big this stage sends (its `rest`, the pod MTU, set per error): no allocation per error. */
  private readonly tooBigSpec: icmpv6.ErrorSpec = { type: icmpv6.TYPE_PACKET_TOO_BIG, code: 0, rest: 0 };

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const t6 = t.v6;
    const v = st.v;
    const c = this.counters.v;
    const acc = st.ctIn6.ct;
    const count = n;
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.off[i]!;
      b.l3[i] = o;
      b.flow[i] = -1;
      if (t6 === null) {
        b.next[i] = X.drop;
        c[C['drop-no-ipv6']]!++;
        continue;
      }
      if (ipv6.check(v, o, b.len[i]!) !== verdict.OK) {
        b.next[i] = X.drop;
        c[C['drop-truncated']]!++;
        continue;
      }
      const plen = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
      b.len[i] = plen; // drop trailing bytes beyond the Payload Length
      const port = b.port[i]!;
      const pod = port < t6.podOfPort.length ? t6.podOfPort[port]! : -1;
      if (pod < 0) {
        b.next[i] = X.drop;
        c[C['drop-unknown-port']]!++;
        continue;
      }
      const w = ipv6.walk(v, o, plen);
      if (w < 0) {
        b.next[i] = X.drop;
        c[WALK_DROP[-w]!]!++;
        continue;
      }
      if (ipv6.walkIsFragment(w)) {
        b.next[i] = X.drop;
        c[C['drop-fragment']]!++;
        continue;
      }
      const proto = ipv6.walkProto(w);
      const l4 = ipv6.walkL4Offset(o, w);
      const l4r = checkL4v6(v, l4, proto, o + plen - l4);
      if (l4r !== verdict.OK) {
        b.next[i] = X.drop;
        c[L4_DROP[l4r]!]!++;
        continue;
      }
      const p4 = pod << 2;
      const own =
        v.getInt32(o + 8) === t6.podIp[p4] &&
        v.getInt32(o + 12) === t6.podIp[p4 + 1] &&
        v.getInt32(o + 16) === t6.podIp[p4 + 2] &&
        v.getInt32(o + 20) === t6.podIp[p4 + 3];
      const link = proto === ipv6.NH_ICMPV6 ? LINK_TYPE[v.getUint8(l4)]! : 0;
      if (link !== 0) {
        // The pod's kernel talking to its link: never forwarded.
        if (link === 3) {
          b.next[i] = X.drop;
          c[C['drop-router-message']]!++;
        } else if (own || ipv6.isLinkLocal(v, o + 8) || ipv6.isUnspecified(v, o + 8)) {
          b.next[i] = X.ignored;
          c[link === 1 ? C['mld-ignored'] : C['ndp-ignored']]!++;
        } else {
          b.next[i] = X.drop;
          c[C['drop-spoofed']]!++;
        }
        continue;
      }
      if (!own) {
        b.next[i] = X.drop;
        c[C['drop-spoofed']]!++;
        continue;
      }
      if (plen > t.podMtu) {
        const spec = this.tooBigSpec;
        spec.rest = t.podMtu;
        n = this.icmpError(b, sel, n, i, plen, l4, proto, spec, C['icmp-packet-too-big']);
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      if (ipv6.hopLimit(v, o) <= 1) {
        n = this.icmpError(b, sel, n, i, plen, l4, proto, HOP_LIMIT_EXCEEDED, C['icmp-time-exceeded']);
        b.next[i] = X.drop;
        c[C['drop-hop-limit']]!++;
        continue;
      }
      const d0 = v.getInt32(o + 24);
      const d1 = v.getInt32(o + 28);
      const d2 = v.getInt32(o + 32);
      const d3 = v.getInt32(o + 36);
      // ff00::/8 multicast, fe80::/10 link-local, ::/128 and ::1/128.
      if (d0 >>> 24 === 0xff || d0 >>> 22 === 0x3fa || (d0 === 0 && d1 === 0 && d2 === 0 && (d3 === 0 || d3 === 1))) {
        b.next[i] = X.drop;
        c[C['drop-bad-destination']]!++;
        continue;
      }
      const d = t6.dstClass.lookup(d0, d1, d2, d3, -1);
      if (d >= 0) {
        const cls = d >>> 24;
        const idx = d & 0xffffff;
        if (cls === DST_LOCAL_POD) {
          b.oport[i] = t6.podPort[idx]!;
          b.next[i] = X['local-pod'];
          c[C['to-local-pod']]!++;
          continue;
        }
        if (cls === DST_REMOTE_CIDR) {
          b.meta[i] = t6.cidrNodeIp[idx]!;
          b.next[i] = X['remote-pod'];
          c[C['to-remote-pod']]!++;
          continue;
        }
        if (cls === DST_OWN_CIDR) {
          b.next[i] = X.drop;
          c[C['drop-no-such-pod']]!++;
          continue;
        }
        if (cls === DST_OWNED) {
          if (proto === ipv6.NH_ICMPV6 && v.getUint8(l4) === icmpv6.TYPE_ECHO_REQUEST) {
            b.next[i] = X.local;
            c[C['to-local']]!++;
          } else {
            b.next[i] = X.drop;
            c[C['drop-to-node']]!++;
          }
          continue;
        }
      }
      if (acc.size > 0 && proto === ipv6.NH_ICMPV6 && v.getUint8(l4) < 128 && this.relatedAccepted(v, o, l4, plen)) {
        // An error about a packet of a connection the pod accepted: out un-NATed, as that connection's replies.
        ipv6.decHopLimit(v, o);
        b.next[i] = X['no-nat'];
        c[C['related-no-nat']]!++;
        continue;
      }
      if (acc.size > 0 && (proto !== ipv6.NH_ICMPV6 || v.getUint8(l4) >= 128)) {
        // The reply direction of a connection the pod accepted (inbound6): out un-NATed, Antrea's `-rpl` rule.
        const r = this.reply(v, o, l4, proto, plen);
        if (r === UPDATE_ACCEPT) {
          ipv6.decHopLimit(v, o);
          b.next[i] = X['no-nat'];
          c[C['reply-no-nat']]!++;
          continue;
        }
        if (r === UPDATE_INVALID) {
          b.next[i] = X.drop;
          c[C['drop-ct-invalid']]!++;
          continue;
        }
        if (r !== NO_CONNECTION) c[C['reply-refused']]!++;
      }
      const kind = t6.podEgress[pod]!;
      if (d >= 0 || kind === EGRESS_NONE) {
        // Bypass destinations and pods without an IPv6 Egress leave with the node's IPv6 address.
        if (t6.nodeOwned < 0) {
          b.next[i] = X.drop;
          c[C['drop-no-node-ipv6']]!++;
          continue;
        }
        b.meta[i] = t6.nodeOwned;
        b.next[i] = X.snat;
        c[d >= 0 ? C.bypass : C['node-snat']]!++;
      } else if (kind === EGRESS_LOCAL) {
        b.meta[i] = t6.podNat[pod]!;
        b.next[i] = X.snat;
        c[C['egress-local']]!++;
      } else {
        b.meta[i] = t6.podEgressOuter[pod]!;
        b.next[i] = X.tunnel;
        c[C['egress-remote']]!++;
      }
    }
    return n;
  }

  /**
   * A pod's packet (the upper layer at `l4`) in the reply direction of a connection it accepted: acceptedReply's
   * verdict (UPDATE_ACCEPT: the pod answering; UPDATE_INVALID; else its own flow), or NO_CONNECTION. A hit whose
   * full addresses are not the packet's turned round (a stand-in clash) is not the connection's.
   */
  private reply(v: DataView, o: number, l4: number, proto: number, plen: number): number {
    const st = this.st;
    const in6 = st.ctIn6;
    const ct = in6.ct;
    const cproto = ctProto6(proto);
    const ports = portsWord6(v, l4, proto);
    const sf = foldAt(v, o + 8);
    const df = foldAt(v, o + 24);
    const ref = ct.find(sf, df, ports, cproto);
    if (ref < 0 || (ref & 1) === 0) return NO_CONNECTION;
    if (!in6.isReversed(ref >> 1, v, o)) return -1;
    // A flow the pod opened through SNAT66 stays there whatever arrived at its own address.
    const snatFlow = st.ct6.ct.size > 0 && st.ct6.ct.find(sf, df, ports, cproto) >= 0;
    if (proto === ipv6.NH_TCP) tcpSegment6(v, o, l4, ct.seg);
    return acceptedReply(ct, ref >> 1, cproto, ctFlags6(v, l4, proto), plen, snatFlow);
  }

  /**
   * Whether the pod's ICMPv6 error at `l3`/`l4` quotes a packet it received on a connection it accepted: the
   * reversed quote is that connection's reply direction, with the record's full addresses.
   */
  private relatedAccepted(v: DataView, o: number, l4: number, plen: number): boolean {
    const in6 = this.st.ctIn6;
    const ref = relatedRef6(in6, v, o, l4, o + plen);
    if (ref < 0 || (ref & 1) === 0) return false;
    const q = icmpv6.quotedOffset(l4);
    return in6.isAddr(ref >> 1, 0, v, q + 8) && in6.isAddr(ref >> 1, 4, v, q + 24);
  }

  /** An ICMPv6 error about packet i to the pod that sent it, selected for `reply`; counts `counter` when sent. */
  private icmpError(
    b: Burst,
    sel: Int32Array,
    n: number,
    i: number,
    len: number,
    l4: number,
    proto: number,
    spec: icmpv6.ErrorSpec,
    counter: number,
  ): number {
    const t6 = this.st.tables.v6!;
    if (spec.type !== icmpv6.TYPE_PACKET_TOO_BIG) {
      // Rate limited (error-limit.ts): a token only for an error that may be sent at all (RFC 4443 §2.4 e).
      if (!icmpv6.errorAllowed(this.st.v, b.l3[i]!, l4, proto, spec.type, spec.code)) return n;
      if (!this.st.errorLimit.take(this.st.now)) {
        this.counters.v[C['icmp-rate-limited']]!++;
        return n;
      }
    }
    const j = appendError6(b, this.st.v, i, len, l4, proto, t6.podGatewayIp, spec, X.reply);
    if (j === ERR_NO_BUFFER) this.counters.v[C['drop-no-buffer']]!++;
    if (j < 0) return n;
    b.oport[j] = b.port[i]!;
    this.counters.v[counter]!++;
    sel[n] = j;
    return n + 1;
  }
}
