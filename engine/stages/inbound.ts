/**
 * inbound: a packet from the segment addressed to a local pod's own IP (a connection the pod accepts, e.g. a
 * server pod reached through routable pod addresses). Tracked without NAT, so the pod's answers are
 * reply-direction packets that classify sends out un-NATed (Antrea's `-rpl` rule, issue #3362) instead of
 * through the pod's Egress. Confirmed at once: delivery to a pod port does not fail later in the pipeline.
 * Specification: docs/semantics.md §4.0 and §4.d (replies of connections pods accepted). Cases:
 * test/stages/cases/inbound.cases.ts.
 * Exits: `to-pod`, `drop`.
 */
import { CT_FULL, UPDATE_INVALID, UPDATE_RECREATE, type ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv4 } from '../wire/index.js';
import { ctFlags, portsWord } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = ['new', 'established', 'drop-ct-full', 'drop-ct-invalid', 'drop-ttl-exceeded'] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'drop'] as const;
const X = exitIndex(EXITS);

export class Inbound implements Stage {
  readonly name = 'inbound';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly ct: ConnTable;

  constructor(private readonly st: NodeState) {
    this.ct = st.ctIn;
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const ct = this.ct;
    const c = this.counters.v;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      if (ipv4.ttl(v, o) <= 1) {
        b.next[i] = X.drop;
        c[C['drop-ttl-exceeded']]!++;
        continue;
      }
      const src = ipv4.src(v, o);
      const dst = ipv4.dst(v, o);
      const proto = ipv4.proto(v, o);
      const ports = portsWord(v, o, proto);
      const flags = ctFlags(v, o, proto);
      const len = ipv4.totalLen(v, o);
      let ref = ct.find(src, dst, ports, proto);
      if (ref >= 0) {
        const u = ct.update(ref >> 1, ref & 1, flags, len);
        if (u === UPDATE_INVALID) {
          b.next[i] = X.drop;
          c[C['drop-ct-invalid']]!++;
          continue;
        }
        if (u === UPDATE_RECREATE) {
          ct.remove(ref >> 1);
          ref = -1;
        } else c[C.established]!++;
      }
      if (ref < 0) {
        const conn = ct.create(src, dst, ports >>> 16, ports & 0xffff, proto, flags, len);
        if (conn < 0 || !ct.confirm(conn)) {
          b.next[i] = X.drop;
          c[conn === CT_FULL ? C['drop-ct-full'] : C['drop-ct-invalid']]!++;
          continue;
        }
        c[C.new]!++;
      }
      ipv4.decTtlCsum(v, o);
      b.off[i] = o; // pod ports carry L3 packets
      b.len[i] = len;
      b.oport[i] = t.podPort[t.podByIp.get(dst, -1)]!;
      b.next[i] = X['to-pod'];
    }
    return n;
  }
}
