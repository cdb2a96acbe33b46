/**
 * icmp-local: the node answers ICMP echo requests to the addresses it owns (its transport IP, hosted Egress
 * IPs), from the segment or from its pods, like a host would. The request is turned into the reply in place:
 * addresses swapped (the IPv4 checksum is unchanged by a swap), TTL 64, type 0, checksums updated
 * incrementally. Anything else addressed to the node is a counted drop: the engine has no host stack.
 * Specification: docs/semantics.md §4.0 (to an address this node owns); RFC 792. Cases:
 * test/stages/cases/icmp-local.cases.ts.
 * Exits: `to-uplink` (to uplink-out), `to-pod`, `drop`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { checksum, icmp, ipv4 } from '../wire/index.js';
import type { NodeState } from './state.js';

const NAMES = ['echo-reply', 'drop-not-echo'] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-uplink', 'to-pod', 'drop'] as const;
const X = exitIndex(EXITS);

export class IcmpLocal implements Stage {
  readonly name = 'icmp-local';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const t = this.st.tables;
    const v = this.st.v;
    const c = this.counters.v;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const l4 = o + ipv4.headerLen(v, o);
      if (
        ipv4.proto(v, o) !== ipv4.PROTO_ICMP ||
        icmp.type(v, l4) !== icmp.TYPE_ECHO_REQUEST ||
        icmp.code(v, l4) !== 0
      ) {
        b.next[i] = X.drop;
        c[C['drop-not-echo']]!++;
        continue;
      }
      const src = ipv4.src(v, o);
      v.setInt32(o + 12, ipv4.dst(v, o));
      v.setInt32(o + 16, src);
      const oldTtlProto = v.getUint16(o + 8);
      const nuTtlProto = (64 << 8) | ipv4.PROTO_ICMP;
      v.setUint16(o + 8, nuTtlProto);
      ipv4.setHeaderChecksum(v, o, checksum.update16(ipv4.headerChecksum(v, o), oldTtlProto, nuTtlProto));
      const oldType = v.getUint16(l4);
      v.setUint16(l4, icmp.TYPE_ECHO_REPLY << 8);
      icmp.setChecksumField(v, l4, checksum.update16(icmp.checksumField(v, l4), oldType, icmp.TYPE_ECHO_REPLY << 8));
      b.flow[i] = -1;
      c[C['echo-reply']]!++;
      const pod = t.podByIp.get(src, -1);
      if (pod >= 0) {
        b.oport[i] = t.podPort[pod]!;
        b.next[i] = X['to-pod'];
      } else b.next[i] = X['to-uplink'];
    }
    return n;
  }
}
