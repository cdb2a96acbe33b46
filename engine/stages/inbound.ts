/**
 * inbound: a packet from the segment addressed to a local pod's own IP (a connection the pod accepts, e.g. a
 * server pod reached through routable pod addresses). Tracked without NAT, so the pod's answers are
 * reply-direction packets that classify sends out un-NATed (Antrea's `-rpl` rule, issue #3362) instead of
 * through the pod's Egress. Confirmed at once: delivery to a pod port does not fail later in the pipeline.
 * ICMP errors about the pod's replies are delivered as related (docs/semantics.md §4.h); a packet above the pod
 * MTU is dropped, with fragmentation needed from the node IP to its sender, when DF is set, and cut to the pod
 * MTU without (refrag.ts, `refragmented`; an ICMP error that large is dropped). A later fragment
 * (defrag, its datagram's ports word in `b.flow`) goes to the pod when its datagram's connection exists, without
 * updating it, else `drop-frag-untracked` (docs/semantics.md §4.i).
 * Only a SYN opens a TCP connection here (no loose pickup), and a packet whose inverse is a flow the pod opened
 * through SNAT is dropped: that flow's answers come to the egress IP, so one sent to the pod IP is forged, and
 * it must not open a connection that classify would take for the pod accepting one (docs/conntrack-security.md).
 * Specification: docs/semantics.md §4.0, §4.d (replies of connections pods accepted), §4.h, §4.i. Cases:
 * test/stages/cases/inbound.cases.ts.
 * Exits: `to-pod`, `drop`, `error` (to uplink-out).
 */
import type { ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv4 } from '../wire/index.js';
import { ACCEPT_INVALID, acceptCreate, acceptUpdate, CREATE_DROPS } from './accepted.js';
import {
  appendFragNeeded,
  ERR_NO_BUFFER,
  relatedRef,
  relatedDrops,
  isIcmpError,
  RELATED_COUNTERS,
} from './icmp-nat.js';
import { ctFlags, laterFragment, portsWord, tcpSegment } from './l4.js';
import { piecesAt, refragment, roomFor } from './refrag.js';
import type { NodeState } from './state.js';

const NAMES = [
  'new',
  'established',
  'drop-ct-full',
  'drop-ct-invalid',
  'drop-ttl-exceeded',
  ...RELATED_COUNTERS,
  'drop-ct-limit',
  'drop-snat-flow',
  'fragment',
  'refragmented',
  'drop-frag-untracked',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'drop', 'error'] as const;
const X = exitIndex(EXITS);
const REL_DROP = relatedDrops(C);
const CREATE_DROP = CREATE_DROPS.map((d) => C[d]);

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
    const count = n;
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      if (ipv4.ttl(v, o) <= 1) {
        b.next[i] = X.drop;
        c[C['drop-ttl-exceeded']]!++;
        continue;
      }
      const len = ipv4.totalLen(v, o);
      const big = len > t.podMtu;
      if (big && (ipv4.dontFrag(v, o) || isIcmpError(v, o) || !roomFor(b, piecesAt(v, o, t.podMtu)))) {
        // The pod's port takes podMtu bytes: fragmentation needed from the node (DF); without DF the packet is cut
        // below (an ICMP error, or no room for the pieces: a counted drop).
        if (!ipv4.dontFrag(v, o) && !isIcmpError(v, o)) c[C['drop-no-buffer']]!++;
        if (ipv4.dontFrag(v, o)) {
          const j = appendFragNeeded(b, v, i, t.nodeIp, t.podMtu, X.error);
          if (j === ERR_NO_BUFFER) c[C['drop-no-buffer']]!++;
          if (j >= 0) {
            c[C['icmp-frag-needed']]!++;
            sel[n++] = j;
          }
        }
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      const src = ipv4.src(v, o);
      const dst = ipv4.dst(v, o);
      const proto = ipv4.proto(v, o);
      if (laterFragment(v, o)) {
        const ref = ct.find(src, dst, b.flow[i]!, proto);
        b.flow[i] = -1;
        if (ref < 0) {
          b.next[i] = X.drop;
          c[C['drop-frag-untracked']]!++;
          continue;
        }
        c[C.fragment]!++;
        ipv4.decTtlCsum(v, o);
        b.off[i] = o;
        b.len[i] = len;
        b.oport[i] = t.podPort[t.podByIp.get(dst, -1)]!;
        b.next[i] = X['to-pod'];
        if (big) n = this.cut(b, sel, n, i);
        continue;
      }
      if (isIcmpError(v, o)) {
        b.next[i] = this.related(b, i);
        continue;
      }
      const ports = portsWord(v, o, proto);
      const flags = ctFlags(v, o, proto);
      if (proto === ipv4.PROTO_TCP) tcpSegment(v, o, ct.seg, st.slab.tcpTail[b.slot[i]!]!);
      let conn = acceptUpdate(ct, ct.find(src, dst, ports, proto), flags, len);
      if (conn === ACCEPT_INVALID) {
        b.next[i] = X.drop;
        c[C['drop-ct-invalid']]!++;
        continue;
      }
      if (conn >= 0) c[C.established]!++;
      else {
        if (st.ct.find(dst, src, (ports << 16) | (ports >>> 16), proto) >= 0) {
          b.next[i] = X.drop;
          c[C['drop-snat-flow']]!++;
          continue;
        }
        if (proto === ipv4.PROTO_TCP) tcpSegment(v, o, ct.seg, st.slab.tcpTail[b.slot[i]!]!); // consumed by the update above
        conn = acceptCreate(ct, src, dst, ports, proto, flags, len);
        if (conn < 0) {
          b.next[i] = X.drop;
          c[CREATE_DROP[-1 - conn]!]!++;
          continue;
        }
        c[C.new]!++;
      }
      ipv4.decTtlCsum(v, o);
      b.off[i] = o; // pod ports carry L3 packets
      b.len[i] = len;
      b.oport[i] = t.podPort[t.podByIp.get(dst, -1)]!;
      b.next[i] = X['to-pod'];
      if (big) n = this.cut(b, sel, n, i);
    }
    return n;
  }

  /** Cut packet i, bound for its pod, to the pod MTU (room checked before it was tracked). */
  private cut(b: Burst, sel: Int32Array, n: number, i: number): number {
    this.counters.v[C.refragmented]!++;
    return refragment(b, sel, n, i, this.st.tables.podMtu);
  }

  /**
   * An ICMP error from outside about a reply of a connection the pod accepted (docs/semantics.md §4.h): the
   * reversed quote must be the connection, the error travelling its original direction; delivered un-NATed.
   */
  private related(b: Burst, i: number): number {
    const v = this.st.v;
    const c = this.counters.v;
    const o = b.l3[i]!;
    const ref = relatedRef(this.ct, v, o, o + ipv4.headerLen(v, o));
    if (ref < 0) {
      c[REL_DROP[-ref]!]!++;
      return X.drop;
    }
    if ((ref & 1) === 1) {
      c[C['drop-related-reply-direction']]!++;
      return X.drop;
    }
    const t = this.st.tables;
    ipv4.decTtlCsum(v, o);
    b.off[i] = o;
    b.len[i] = ipv4.totalLen(v, o);
    b.oport[i] = t.podPort[t.podByIp.get(ipv4.dst(v, o), -1)]!;
    b.flow[i] = -1;
    c[C.related]!++;
    return X['to-pod'];
  }
}
