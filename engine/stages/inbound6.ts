/**
 * inbound6: an IPv6 packet from the segment addressed to a local pod's own IPv6 address (a connection the pod
 * accepts over IPv6, routable pod addresses), inbound's IPv6 counterpart. unsnat6 has checked it (header, the
 * extension-header walk, whole, the upper layer, no NDP) and hands on the walk in `b.meta` and the pod's port in
 * `b.oport`. Tracked without NAT in the IPv6 table of accepted connections (`NodeState.ctIn6`, a `Ct6`: the
 * stand-ins of ct6.ts with the full addresses compared on every hit, `drop-key-clash` otherwise), confirmed at
 * once, so the pod's answers are reply-direction packets that pod-ingress6 sends out un-NATed (Antrea's `-rpl`
 * rule) instead of through the pod's IPv6 Egress. As for IPv4 (accepted.ts, docs/conntrack-security.md): only a
 * SYN opens TCP (no loose pickup), only an echo request ICMPv6, and a packet whose inverse is a flow the pod
 * opened through SNAT66 is dropped (`drop-snat-flow`: that flow's answers come to the egress IP, so one sent to
 * the pod's address is forged). The Hop Limit is decremented and the packet goes to the pod's port without its
 * Ethernet header. Not built yet (counted drops): ICMPv6 errors to the pod (`drop-icmp-error`), Packet Too Big
 * for a packet above the pod MTU (`drop-too-big`) and Time Exceeded (`drop-hop-limit`).
 * Specification: docs/ipv6.md §2.h; docs/semantics.md §4.0, §4.d. Cases: test/stages/cases/inbound6.cases.ts.
 * Exits: `to-pod`, `drop`.
 */
import { SEG_SET } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv6 } from '../wire/index.js';
import { ACCEPT_INVALID, acceptCreate, acceptUpdate, CREATE_DROPS } from './accepted.js';
import { ctFlags6, ctProto6, foldAt, portsWord6, tcpSegment6 } from './ct6.js';
import type { NodeState } from './state.js';

const NAMES = [
  'new',
  'established',
  'drop-hop-limit',
  'drop-too-big',
  'drop-icmp-error',
  'drop-key-clash',
  'drop-snat-flow',
  ...CREATE_DROPS,
] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'drop'] as const;
const X = exitIndex(EXITS);
const CREATE_DROP = CREATE_DROPS.map((d) => C[d]);

export class Inbound6 implements Stage {
  readonly name = 'inbound6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const c = this.counters.v;
    const in6 = st.ctIn6;
    const ct = in6.ct;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const w = b.meta[i]!;
      b.flow[i] = -1;
      if (ipv6.hopLimit(v, o) <= 1) {
        b.next[i] = X.drop;
        c[C['drop-hop-limit']]!++;
        continue;
      }
      const plen = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
      if (plen > t.podMtu) {
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      const proto = ipv6.walkProto(w);
      const l4 = ipv6.walkL4Offset(o, w);
      if (proto === ipv6.NH_ICMPV6 && v.getUint8(l4) < 128) {
        b.next[i] = X.drop;
        c[C['drop-icmp-error']]!++;
        continue;
      }
      const cproto = ctProto6(proto);
      const ports = portsWord6(v, l4, proto);
      const flags = ctFlags6(v, l4, proto);
      const sf = foldAt(v, o + 8);
      const df = foldAt(v, o + 24);
      const ref = ct.find(sf, df, ports, cproto);
      if (ref >= 0 && !((ref & 1) === 0 ? in6.isOriginal(ref >> 1, v, o) : in6.isReversed(ref >> 1, v, o))) {
        b.next[i] = X.drop;
        c[C['drop-key-clash']]!++;
        continue;
      }
      if (proto === ipv6.NH_TCP) tcpSegment6(v, o, l4, ct.seg);
      let conn = acceptUpdate(ct, ref, flags, plen);
      if (conn === ACCEPT_INVALID) {
        b.next[i] = X.drop;
        c[C['drop-ct-invalid']]!++;
        continue;
      }
      if (conn >= 0) c[C.established]!++;
      else {
        const s = st.ct6.ct.find(df, sf, (ports << 16) | (ports >>> 16), cproto);
        if (s >= 0 && st.ct6.isReversed(s >> 1, v, o)) {
          ct.seg[SEG_SET] = 0;
          b.next[i] = X.drop;
          c[C['drop-snat-flow']]!++;
          continue;
        }
        if (proto === ipv6.NH_TCP) tcpSegment6(v, o, l4, ct.seg); // consumed by an update above
        conn = acceptCreate(ct, sf, df, ports, cproto, flags, plen);
        if (conn < 0) {
          b.next[i] = X.drop;
          c[CREATE_DROP[-1 - conn]!]!++;
          continue;
        }
        in6.remember(conn, v, o);
        c[C.new]!++;
      }
      ipv6.decHopLimit(v, o);
      b.off[i] = o; // pod ports carry L3 packets
      b.len[i] = plen;
      b.next[i] = X['to-pod'];
    }
    return n;
  }
}
