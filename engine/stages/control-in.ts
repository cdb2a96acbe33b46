/**
 * control-in: control datagrams for the node (membership heartbeats on the control port) are handed to the
 * agent's handler and then freed. The handler runs synchronously and must copy what it keeps.
 * A datagram over the IPv6 underlay (from tunnel6-decap, docs/ipv6.md §2.l) is handed on with the sender's
 * transport key (`b.meta`) as its source, the key membership knows that member by.
 * Specification: docs/semantics.md §2.4 (membership heartbeats). Cases: test/stages/cases/control-in.cases.ts.
 * Exits: `done` (freed by the pipeline).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, ipv4, ipv6, udp } from '../wire/index.js';
import type { NodeState } from './state.js';

const NAMES = ['delivered', 'no-handler'] as const;
const C = counterIndex(NAMES);
const EXITS = ['done'] as const;
const X = exitIndex(EXITS);

export class ControlIn implements Stage {
  readonly name = 'control-in';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const v = st.v;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      b.next[i] = X.done;
      const h = st.onControl;
      if (!h) {
        this.counters.v[C['no-handler']]!++;
        continue;
      }
      const o = b.l3[i]!;
      const six = v.getUint8(o) >>> 4 === 6;
      const u = six ? o + ipv6.HEADER_LEN : o + ipv4.headerLen(v, o);
      const f = b.off[i]!;
      const eth = o - f >= ethernet.HEADER_LEN;
      h(
        six ? b.meta[i]! : ipv4.src(v, o),
        udp.srcPort(v, u),
        st.u8,
        u + udp.HEADER_LEN,
        udp.length(v, u) - udp.HEADER_LEN,
        eth ? ethernet.srcHi16(v, f) : 0,
        eth ? ethernet.srcLo32(v, f) : 0,
      );
      this.counters.v[C.delivered]!++;
    }
    return n;
  }
}
