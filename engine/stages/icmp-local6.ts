/**
 * icmp-local6: the node answers ICMPv6 echo requests to the IPv6 addresses it owns (its IPv6 address, hosted
 * IPv6 egress IPs), from the segment (unsnat6: a request that is no connection's reply) or from its pods
 * (pod-ingress6), as icmp-local does for IPv4. The request becomes the reply in place: addresses swapped (the
 * pseudo-header sum, and so the checksum, is unchanged by a swap), Hop Limit 64, type 129, the checksum updated
 * incrementally; the data is echoed whole (RFC 4443 §4.2). Anything else is a counted drop: the engine has no
 * host stack.
 * Specification: docs/ipv6.md §2.k; RFC 4443 §4. Cases: test/stages/cases/icmp-local6.cases.ts.
 * Exits: `to-uplink` (to uplink-out6), `to-pod` (`b.oport` = the pod's port), `drop`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { checksum, icmpv6, ipv6 } from '../wire/index.js';
import type { NodeState } from './state.js';

const NAMES = ['echo-reply', 'drop-not-echo'] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-uplink', 'to-pod', 'drop'] as const;
const X = exitIndex(EXITS);

export class IcmpLocal6 implements Stage {
  readonly name = 'icmp-local6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const t6 = this.st.tables.v6;
    const v = this.st.v;
    const c = this.counters.v;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      // Only pod-ingress6 and unsnat6 send here, after the walk: the upper layer follows the headers they checked.
      const w = t6 === null ? -1 : ipv6.walk(v, o, ipv6.HEADER_LEN + ipv6.payloadLen(v, o));
      const l4 = w < 0 ? -1 : ipv6.walkL4Offset(o, w);
      if (
        w < 0 ||
        ipv6.walkProto(w) !== ipv6.NH_ICMPV6 ||
        icmpv6.type(v, l4) !== icmpv6.TYPE_ECHO_REQUEST ||
        icmpv6.code(v, l4) !== 0
      ) {
        b.next[i] = X.drop;
        c[C['drop-not-echo']]!++;
        continue;
      }
      for (let q = 8; q < 24; q += 4) {
        const s = v.getInt32(o + q);
        v.setInt32(o + q, v.getInt32(o + q + 16));
        v.setInt32(o + q + 16, s);
      }
      ipv6.setHopLimit(v, o, 64);
      const old = v.getUint16(l4);
      v.setUint16(l4, icmpv6.TYPE_ECHO_REPLY << 8);
      icmpv6.setChecksumField(v, l4, checksum.update16(icmpv6.checksumField(v, l4), old, icmpv6.TYPE_ECHO_REPLY << 8));
      b.flow[i] = -1;
      c[C['echo-reply']]!++;
      const d = o + 24;
      const pod = t6!.podByIp.get(v.getInt32(d), v.getInt32(d + 4), v.getInt32(d + 8), v.getInt32(d + 12), -1);
      if (pod >= 0) {
        b.off[i] = o;
        b.len[i] = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
        b.oport[i] = t6!.podPort[pod]!;
        b.next[i] = X['to-pod'];
      } else b.next[i] = X['to-uplink'];
    }
    return n;
  }
}
