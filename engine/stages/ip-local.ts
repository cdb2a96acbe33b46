/**
 * ip-local: IPv4 packets from the segment for this node (its transport IP or a hosted Egress IP) or for a
 * local pod. Dispatches by what they are: Geneve (UDP to the tunnel port from a node's transport IP) to `decap`; control datagrams
 * (heartbeats: UDP to the control port of the node IP) to `control`; packets for a local pod's own address
 * (a connection the pod accepts) to `inbound`; everything else to `unsnat` (replies of NATed connections,
 * related ICMP errors, ICMP echo to the node). The L4 header is validated first.
 * Exits: `decap`, `control`, `inbound`, `unsnat`, `drop`.
 */
import { counterIndex, Counters, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv4 } from '../wire/index.js';
import { OWN_NODE } from './config.js';
import { checkL4, L4_TRUNCATED, L4_UNSUPPORTED } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = ['drop-l4-truncated', 'drop-l4-bad', 'drop-unsupported-proto'] as const;
const C = counterIndex(NAMES);
const X_DECAP = 0;
const X_CONTROL = 1;
const X_INBOUND = 2;
const X_UNSNAT = 3;
const X_DROP = 4;

export class IpLocal implements Stage {
  readonly name = 'ip-local';
  readonly exits = ['decap', 'control', 'inbound', 'unsnat', 'drop'] as const;
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
        b.next[i] = X_DROP;
        c[
          r === L4_TRUNCATED
            ? C['drop-l4-truncated']
            : r === L4_UNSUPPORTED
              ? C['drop-unsupported-proto']
              : C['drop-l4-bad']
        ]!++;
        continue;
      }
      const dst = ipv4.dst(v, o);
      const own = t.owned.get(dst, 0);
      if (own === 0) {
        b.next[i] = X_INBOUND;
        continue;
      }
      if (ipv4.proto(v, o) === ipv4.PROTO_UDP) {
        const dport = v.getUint16(o + ipv4.headerLen(v, o) + 2);
        // Geneve comes from another node's transport IP; from anyone else, UDP to the tunnel port is the reply of
        // a connection SNATed to that port (as in Linux, where conntrack un-NATs before the socket lookup).
        if (dport === tunnelPort && t.nodeByIp.get(ipv4.src(v, o), -1) >= 0) {
          b.next[i] = X_DECAP;
          continue;
        }
        if (dport === controlPort && own === OWN_NODE && controlPort !== 0) {
          b.next[i] = X_CONTROL;
          continue;
        }
      }
      b.next[i] = X_UNSNAT;
    }
    return n;
  }
}
