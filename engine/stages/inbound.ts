/**
 * inbound: a packet from the segment addressed to a local pod's own IP (a connection the pod accepts, e.g. a
 * server pod reached through routable pod addresses). Tracked without NAT, so the pod's answers are
 * reply-direction packets that classify sends out un-NATed (Antrea's `-rpl` rule, issue #3362) instead of
 * through the pod's Egress. Confirmed at once: delivery to a pod port does not fail later in the pipeline.
 * Only a SYN opens a TCP connection here (no loose pickup), and a packet whose inverse is a flow the pod opened
 * through SNAT is dropped: that flow's answers come to the egress IP, so one sent to the pod IP is forged, and
 * it must not open a connection that classify would take for the pod accepting one (docs/conntrack-security.md).
 * Exits: `to-pod`, `drop`.
 */
import { CT_FULL, CT_LIMIT, UPDATE_INVALID, UPDATE_RECREATE, type ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv4 } from '../wire/index.js';
import { ctFlags, portsWord, tcpSegment } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = [
  'new',
  'established',
  'drop-ct-full',
  'drop-ct-invalid',
  'drop-ttl-exceeded',
  'drop-ct-limit',
  'drop-snat-flow',
] as const;
const C = counterIndex(NAMES);
const X_TO_POD = 0;
const X_DROP = 1;

export class Inbound implements Stage {
  readonly name = 'inbound';
  readonly exits = ['to-pod', 'drop'] as const;
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
        b.next[i] = X_DROP;
        c[C['drop-ttl-exceeded']]!++;
        continue;
      }
      const src = ipv4.src(v, o);
      const dst = ipv4.dst(v, o);
      const proto = ipv4.proto(v, o);
      const ports = portsWord(v, o, proto);
      const flags = ctFlags(v, o, proto);
      const len = ipv4.totalLen(v, o);
      if (proto === ipv4.PROTO_TCP) tcpSegment(v, o, ct.seg);
      let ref = ct.find(src, dst, ports, proto);
      if (ref >= 0) {
        const u = ct.update(ref >> 1, ref & 1, flags, len);
        if (u === UPDATE_INVALID) {
          b.next[i] = X_DROP;
          c[C['drop-ct-invalid']]!++;
          continue;
        }
        if (u === UPDATE_RECREATE) {
          ct.remove(ref >> 1);
          ref = -1;
        } else c[C.established]!++;
      }
      if (ref < 0) {
        if (st.ct.find(dst, src, (ports << 16) | (ports >>> 16), proto) >= 0) {
          b.next[i] = X_DROP;
          c[C['drop-snat-flow']]!++;
          continue;
        }
        if (proto === ipv4.PROTO_TCP) tcpSegment(v, o, ct.seg); // consumed by the update above
        const conn = ct.create(src, dst, ports >>> 16, ports & 0xffff, proto, flags, len);
        if (conn < 0 || !ct.confirm(conn)) {
          b.next[i] = X_DROP;
          c[conn === CT_FULL ? C['drop-ct-full'] : conn === CT_LIMIT ? C['drop-ct-limit'] : C['drop-ct-invalid']]!++;
          continue;
        }
        c[C.new]!++;
      }
      ipv4.decTtlCsum(v, o);
      b.off[i] = o; // pod ports carry L3 packets
      b.len[i] = len;
      b.oport[i] = t.podPort[t.podByIp.get(dst, -1)]!;
      b.next[i] = X_TO_POD;
    }
    return n;
  }
}
