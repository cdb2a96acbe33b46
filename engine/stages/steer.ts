/**
 * steer: in a set of datapath workers (`egress agent --workers N`), sends each packet headed for unsnat to the
 * worker whose SNAT port partition holds its connection (conntrack `portOwner`: the reply's destination port,
 * the ICMP echo identifier, or the source port quoted in an ICMP error), so both directions of a connection meet
 * in the worker that created it. The device's flow steering delivers most replies to that worker already (`own`);
 * the others leave through `handoff` to the `workers` port group, member = the owning worker (its handoff ring).
 * Packets without a port (other protocols, later fragments, a quote too short to hold one) are worker 0's.
 * Only the datapath of a worker set has this stage: with one worker ip-local leads to unsnat directly.
 * Specification: docs/agent.md (Workers), docs/architecture.md §3. Cases: test/stages/cases/steer.cases.ts.
 * Exits: `own`, `handoff`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { icmp, ipv4 } from '../wire/index.js';
import type { NodeState } from './state.js';

const NAMES = ['own', 'handed-off', 'portless'] as const;
const C = counterIndex(NAMES);
const EXITS = ['own', 'handoff'] as const;
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
      const port = replyPort(v, b.l3[i]!, b.off[i]! + b.len[i]!);
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
