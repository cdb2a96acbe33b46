/**
 * ip-local: IPv4 packets from the segment for this node (its transport IP or a hosted Egress IP) or for a
 * local pod. Dispatches by what they are: Geneve (UDP to the tunnel port from a node's transport IP) to `decap`;
 * control datagrams (heartbeats: UDP to the control port of the node IP) to `control`; packets for a local pod's
 * own address (a connection the pod accepts) to `inbound`; everything else to `unsnat` (replies of NATed connections,
 * related ICMP errors, ICMP echo to the node). The L4 header is validated first.
 * Specification: docs/semantics.md §4.b, §4.c, §2.4. Cases: test/stages/cases/ip-local.cases.ts.
 * Exits: `decap`, `control`, `inbound`, `unsnat`, `drop`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv4 } from '../wire/index.js';
import { OWN_NODE } from './config.js';
import { verdictReasons } from './drop-reasons.js';
import { checkL4, L4_REASONS } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = ['drop-l4-truncated', 'drop-l4-bad', 'drop-unsupported-proto'] as const;
const C = counterIndex(NAMES);
const EXITS = ['decap', 'control', 'inbound', 'unsnat', 'drop'] as const;
const X = exitIndex(EXITS);
const L4_DROP = verdictReasons(C, L4_REASONS.reasons, L4_REASONS.otherwise);

export class IpLocal implements Stage {
  readonly name = 'ip-local';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const c = this.counters.v;
    const tunnelPort = t.tunnelPort;
    const controlPort = st.controlPort;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const r = checkL4(v, o);
      if (r !== 0) {
        b.next[i] = X.drop;
        c[L4_DROP[r]!]!++;
        continue;
      }
      const dst = ipv4.dst(v, o);
      const own = t.owned.get(dst, 0);
      if (own === 0) {
        b.next[i] = X.inbound;
        continue;
      }
      if (ipv4.proto(v, o) === ipv4.PROTO_UDP) {
        const dport = v.getUint16(o + ipv4.headerLen(v, o) + 2);
        // Geneve comes from another node's transport IP; from anyone else, UDP to the tunnel port is the reply of
        // a connection SNATed to that port (as in Linux, where conntrack un-NATs before the socket lookup).
        if (dport === tunnelPort && t.nodeByIp.get(ipv4.src(v, o), -1) >= 0) {
          b.next[i] = X.decap;
          continue;
        }
        if (dport === controlPort && own === OWN_NODE && controlPort !== 0) {
          b.next[i] = X.control;
          continue;
        }
      }
      b.next[i] = X.unsnat;
    }
    return n;
  }
}
