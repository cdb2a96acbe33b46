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
 * Ethernet header. An ICMPv6 error from outside about a reply of a connection the pod accepted is delivered as
 * related (the reversed quote must be that connection's original direction with its full addresses), un-NATed;
 * one about anything else is a counted refusal (`drop-related-*`). A packet above the pod MTU is dropped and its
 * sender gets Packet Too Big with the pod MTU from the node's IPv6 address (else the pod gateway), exit `error`
 * (an error that large is dropped: no error about an error). Hop Limit ≤ 1 is a counted drop, as inbound drops
 * TTL 1 (`drop-hop-limit`).
 * Specification: docs/ipv6.md §2.h, §2.k; docs/semantics.md §4.0, §4.d, §4.h. Cases:
 * test/stages/cases/inbound6.cases.ts.
 * Exits: `to-pod`, `drop`, `error` (to uplink-out6).
 */
import { SEG_SET } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { icmpv6, ipv6 } from '../wire/index.js';
import { ACCEPT_INVALID, acceptCreate, acceptUpdate, CREATE_DROPS } from './accepted.js';
import { ctFlags6, ctProto6, foldAt, portsWord6, tcpSegment6 } from './ct6.js';
import { appendError6, ERR_NO_BUFFER, relatedDrops, relatedRef6, RELATED_NAT_COUNTERS } from './icmp-nat.js';
import type { NodeState } from './state.js';

const NAMES = [
  'new',
  'established',
  'drop-hop-limit',
  'drop-too-big',
  'icmp-packet-too-big',
  'drop-no-buffer',
  ...RELATED_NAT_COUNTERS,
  'drop-key-clash',
  'drop-snat-flow',
  ...CREATE_DROPS,
] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'drop', 'error'] as const;
const X = exitIndex(EXITS);
const REL_DROP = relatedDrops(C);
const CREATE_DROP = CREATE_DROPS.map((d) => C[d]);

export class Inbound6 implements Stage {
  readonly name = 'inbound6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  /** Scratch of `tooBig` (no allocation per error): the reporting address and the error's fields. */
  private readonly errFrom = new Uint8Array(16);
  private readonly errFromV = new DataView(this.errFrom.buffer);
  private readonly tooBigSpec: icmpv6.ErrorSpec = { type: icmpv6.TYPE_PACKET_TOO_BIG, code: 0, rest: 0 };

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const c = this.counters.v;
    const in6 = st.ctIn6;
    const ct = in6.ct;
    const count = n;
    for (let k = 0; k < count; k++) {
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
      const proto = ipv6.walkProto(w);
      const l4 = ipv6.walkL4Offset(o, w);
      if (plen > t.podMtu) {
        // IPv6 is not fragmented on the way (RFC 8200 §5): Packet Too Big with the pod MTU to the sender.
        n = this.tooBig(b, sel, n, i, plen, l4, proto);
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      if (proto === ipv6.NH_ICMPV6 && v.getUint8(l4) < 128) {
        b.next[i] = this.related(b, i, l4, plen);
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

  /**
   * An ICMPv6 error from outside about a reply of a connection the pod accepted (docs/ipv6.md §2.k): the reversed
   * quote must be the connection's original direction with the record's full addresses; delivered un-NATed.
   */
  private related(b: Burst, i: number, l4: number, plen: number): number {
    const v = this.st.v;
    const in6 = this.st.ctIn6;
    const c = this.counters.v;
    const o = b.l3[i]!;
    const ref = relatedRef6(in6, v, o, l4, o + plen);
    if (ref < 0) {
      c[REL_DROP[-ref]!]!++;
      return X.drop;
    }
    if ((ref & 1) === 1) {
      c[C['drop-related-reply-direction']]!++;
      return X.drop;
    }
    const q = icmpv6.quotedOffset(l4);
    if (!in6.isAddr(ref >> 1, 0, v, q + 24) || !in6.isAddr(ref >> 1, 4, v, q + 8)) {
      c[C['drop-key-clash']]!++;
      return X.drop;
    }
    ipv6.decHopLimit(v, o);
    b.off[i] = o; // pod ports carry L3 packets; b.oport is the pod's (unsnat6)
    b.len[i] = plen;
    c[C.related]!++;
    return X['to-pod'];
  }

  /** Packet Too Big (the pod MTU) about packet i from the node's IPv6 address (else the pod gateway), for `error`. */
  private tooBig(b: Burst, sel: Int32Array, n: number, i: number, plen: number, l4: number, proto: number): number {
    const st = this.st;
    const t6 = st.tables.v6!;
    const from = this.errFrom;
    if (t6.nodeOwned >= 0) {
      for (let w = 0; w < 4; w++) this.errFromV.setInt32(w << 2, t6.ownedIp[(t6.nodeOwned << 2) + w]!);
    } else from.set(t6.podGatewayIp);
    const spec = this.tooBigSpec;
    spec.rest = st.tables.podMtu;
    const j = appendError6(b, st.v, i, plen, l4, proto, from, spec, X.error);
    if (j === ERR_NO_BUFFER) this.counters.v[C['drop-no-buffer']]!++;
    if (j < 0) return n;
    this.counters.v[C['icmp-packet-too-big']]!++;
    sel[n] = j;
    return n + 1;
  }
}
