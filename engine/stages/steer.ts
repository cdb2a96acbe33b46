/**
 * steer: in a set of datapath workers (`egress agent --workers N`), sends each packet headed for unsnat to the
 * worker whose SNAT port partition holds its connection (conntrack `portOwner`: the reply's destination port,
 * the ICMP echo identifier, or the source port quoted in an ICMP error), so both directions of a connection meet
 * in the worker that created it. The device's flow steering delivers most replies to that worker already (`own`);
 * the others leave through `handoff` to the `workers` port group, member = the owning worker (its handoff ring).
 * IPv4 packets without a port (other protocols, later fragments, a quote too short to hold one) are worker 0's.
 * IPv6 frames (from uplink-ingress, headed for unsnat6) are steered the same way when addressed to an IPv6
 * address this node owns (a hosted IPv6 egress IP, the node's IPv6 address): the destination port, the ICMPv6
 * echo identifier, or the source port or echo identifier the packet an ICMPv6 error quotes, past extension
 * headers (`replyPort6`); the others stay (`own6`: a pod's own address, for inbound6 as IPv4's inbound, and what
 * unsnat6 drops: fragments, other protocols, addresses not ours, a node without an IPv6 side).
 * Only the datapath of a worker set has this stage: with one worker ip-local leads to unsnat directly and
 * uplink-ingress to unsnat6.
 * Specification: docs/agent.md (Workers), docs/architecture.md §3. Cases: test/stages/cases/steer.cases.ts.
 * Exits: `own`, `handoff`, `own6` (to unsnat6).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, icmp, icmpv6, ipv4, ipv6 } from '../wire/index.js';
import type { NodeState } from './state.js';

const NAMES = ['own', 'handed-off', 'portless', 'own6', 'handed-off6', 'stay6'] as const;
const C = counterIndex(NAMES);
const EXITS = ['own', 'handoff', 'own6'] as const;
const X = exitIndex(EXITS);

export class Steer implements Stage {
  readonly name = 'steer';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly count: number;
  private readonly self: number;

  constructor(private readonly st: NodeState) {
    this.count = st.ct.shardCount;
    this.self = st.ct.shardIndex;
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const v = this.st.v;
    const c = this.counters.v;
    const count = this.count;
    const self = this.self;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const end = b.off[i]! + b.len[i]!;
      if (v.getUint16(o - 2) === ethernet.ETHERTYPE_IPV6) {
        // From uplink-ingress.ipv6 (the EtherType before the IP header, tagged or not; a truncated header too).
        const t6 = this.st.tables.v6;
        const port =
          t6 !== null &&
          o + ipv6.HEADER_LEN <= end &&
          t6.owned.get(v.getInt32(o + 24), v.getInt32(o + 28), v.getInt32(o + 32), v.getInt32(o + 36), 0) !== 0
            ? replyPort6(v, o, end)
            : -1;
        const owner = port < 0 ? self : port % count;
        if (port < 0) {
          b.next[i] = X.own6;
          c[C.stay6]++;
        } else if (owner === self) {
          b.next[i] = X.own6;
          c[C.own6]++;
        } else {
          b.next[i] = X.handoff;
          b.oport[i] = owner;
          c[C['handed-off6']]++;
        }
        continue;
      }
      const port = replyPort(v, o, end);
      let owner = 0;
      if (port < 0) c[C.portless]++;
      else owner = port % count;
      if (owner === self) {
        b.next[i] = X.own;
        c[C.own]++;
      } else {
        b.next[i] = X.handoff;
        b.oport[i] = owner;
        c[C['handed-off']]++;
      }
    }
    return n;
  }
}

/**
 * The SNAT port a packet from the segment to a hosted address answers (its L4 header passed ip-local's check):
 * the TCP/UDP destination port, the ICMP echo identifier, or the source port of the packet an ICMP error quotes
 * (this node's SNATed packet); -1 when there is none (other protocols, later fragments, a short quote).
 */
export function replyPort(v: DataView, o: number, end: number): number {
  if ((v.getUint16(o + 6) & 0x1fff) !== 0) return -1; // a later fragment: no L4 header
  const proto = ipv4.proto(v, o);
  const l4 = o + ipv4.headerLen(v, o);
  if (proto === ipv4.PROTO_TCP || proto === ipv4.PROTO_UDP) return v.getUint16(l4 + 2);
  if (proto !== ipv4.PROTO_ICMP) return -1;
  const t = icmp.type(v, l4);
  if (t === icmp.TYPE_ECHO_REPLY || t === icmp.TYPE_ECHO_REQUEST) return v.getUint16(l4 + 4);
  if (!icmp.isError(t)) return -1;
  const q = l4 + 8;
  if (q + 20 > end || v.getUint8(q) >> 4 !== 4) return -1;
  const ql4 = q + ((v.getUint8(q) & 0x0f) << 2);
  const qp = v.getUint8(q + 9);
  if (ql4 + 4 > end) return -1;
  if (qp === ipv4.PROTO_TCP || qp === ipv4.PROTO_UDP) return v.getUint16(ql4);
  if (qp === ipv4.PROTO_ICMP && ql4 + 6 <= end) return v.getUint16(ql4 + 4);
  return -1;
}

/**
 * The SNAT66 port an IPv6 packet from the segment answers (`o`: its IPv6 header, `end`: the packet's end): the
 * TCP/UDP destination port, the ICMPv6 echo identifier, or the source port (echo identifier) of the packet an
 * ICMPv6 error quotes, past extension headers; -1 when there is none (a fragment, other protocols, a truncated
 * header or quote). unsnat6 checks the packet after this: every read here stays below `end`.
 */
export function replyPort6(v: DataView, o: number, end: number): number {
  if (o + ipv6.HEADER_LEN > end) return -1;
  const len = Math.min(ipv6.HEADER_LEN + ipv6.payloadLen(v, o), end - o);
  const w = ipv6.walk(v, o, len);
  if (w < 0 || ipv6.walkIsFragment(w)) return -1;
  const proto = ipv6.walkProto(w);
  const l4 = ipv6.walkL4Offset(o, w);
  const stop = o + len;
  if (proto === ipv6.NH_TCP || proto === ipv6.NH_UDP) return l4 + 4 <= stop ? v.getUint16(l4 + 2) : -1;
  if (proto !== ipv6.NH_ICMPV6 || l4 + 8 > stop) return -1;
  const t = v.getUint8(l4);
  if (t === icmpv6.TYPE_ECHO_REPLY || t === icmpv6.TYPE_ECHO_REQUEST) return v.getUint16(l4 + 4);
  if (t >= 128) return -1;
  const q = icmpv6.quotedOffset(l4);
  if (q + ipv6.HEADER_LEN > stop) return -1;
  const qw = ipv6.walk(v, q, stop - q);
  if (qw < 0 || ipv6.walkIsNotFirst(qw)) return -1;
  const qp = ipv6.walkProto(qw);
  const ql4 = ipv6.walkL4Offset(q, qw);
  if (qp === ipv6.NH_TCP || qp === ipv6.NH_UDP) return ql4 + 4 <= stop ? v.getUint16(ql4) : -1;
  if (qp !== ipv6.NH_ICMPV6 || ql4 + 6 > stop) return -1;
  const qt = v.getUint8(ql4);
  return qt === icmpv6.TYPE_ECHO_REQUEST || qt === icmpv6.TYPE_ECHO_REPLY ? v.getUint16(ql4 + 4) : -1;
}
