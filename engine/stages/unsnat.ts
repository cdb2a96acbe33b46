/**
 * unsnat: packets from the segment to an address this node owns that are not Geneve or control traffic:
 * replies of SNATed connections, found by their reply tuple and translated back to the pod's address and
 * port (docs/semantics.md §4.c); ICMP errors quoting a SNATed packet (related: the outer destination and the quoted
 * source are translated, with every checksum updated); ICMP echo requests to the node's own addresses go to
 * the local responder. The translated packet goes to the pod: `to-pod` when it is local, `to-remote` (Geneve
 * with the pod's node transport IP as outer destination, `b.meta`) when it lives on another node.
 * The TTL is decremented (the node forwards the packet). A reply larger than the pod MTU (uplink MTU − 50, the
 * pod port's and the tunnel's limit) with DF is dropped and its sender gets fragmentation needed (`error`,
 * docs/semantics.md §4.h); without DF it is translated and cut to the pod MTU (refrag.ts, `refragmented`).
 * A later fragment (defrag, its datagram's ports word in `b.flow`) is found and translated as its datagram
 * (its IP header only, docs/semantics.md §4.i); a fragment never reaches the echo responder. Errors whose quote
 * matches no reply direction are counted drops by reason.
 * Specification: docs/semantics.md §4.c, §4.h, §4.i; conntrack/README.md. Cases: test/stages/cases/unsnat.cases.ts.
 * Exits: `to-pod`, `to-remote`, `local`, `drop`, `error` (to uplink-out).
 */
import { UPDATE_INVALID, type ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { icmp, ipv4 } from '../wire/index.js';
import type { DatapathTables } from './config.js';
import { appendFragNeeded, ERR_NO_BUFFER, relatedRef, relatedDrops, unsnatRelated } from './icmp-nat.js';
import { BurstLookup, ctFlags, laterFragment, portsWord, rewriteDst, tcpSegment } from './l4.js';
import { piecesAt, refragment, roomFor } from './refrag.js';
import type { NodeState } from './state.js';

const NAMES = [
  'reply',
  'related',
  'to-local',
  'drop-no-conntrack',
  'drop-orig-direction',
  'drop-ct-invalid',
  'drop-ttl-exceeded',
  'drop-no-route',
  'drop-too-big',
  'icmp-frag-needed',
  'drop-no-buffer',
  'drop-related-untracked',
  'drop-related-mismatch',
  'drop-related-no-conntrack',
  'drop-related-orig-direction',
  'fragment',
  'refragmented',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'to-remote', 'local', 'drop', 'error'] as const;
const X = exitIndex(EXITS);
const REL_DROP = relatedDrops(C);

export class Unsnat implements Stage {
  readonly name = 'unsnat';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly ct: ConnTable;
  /** This burst's connection lookups, made once per burst. */
  private readonly lookups = new BurstLookup();

  constructor(private readonly st: NodeState) {
    this.ct = st.ct;
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const ct = this.ct;
    const c = this.counters.v;
    const count = n;
    const lk = this.lookups;
    lk.fill(ct, v, b, sel, count);
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const proto = ipv4.proto(v, o);
      const l4 = o + ipv4.headerLen(v, o);
      const later = laterFragment(v, o);
      if (!later && proto === ipv4.PROTO_ICMP && icmp.isError(icmp.type(v, l4))) {
        b.next[i] = this.related(b, i, t);
        continue;
      }
      const ref = lk.ref(ct, k, ipv4.src(v, o), ipv4.dst(v, o), later ? b.flow[i]! : portsWord(v, o, proto), proto);
      if (ref < 0) {
        if (proto === ipv4.PROTO_ICMP && icmp.type(v, l4) === icmp.TYPE_ECHO_REQUEST && !ipv4.isFragment(v, o)) {
          b.next[i] = X.local;
          c[C['to-local']]!++;
        } else {
          b.next[i] = X.drop;
          c[C['drop-no-conntrack']]!++;
        }
        continue;
      }
      if ((ref & 1) === 0) {
        b.next[i] = X.drop;
        c[C['drop-orig-direction']]!++;
        continue;
      }
      const conn = ref >> 1;
      if (!later) {
        if (proto === ipv4.PROTO_TCP) tcpSegment(v, o, ct.seg, st.slab.tcpTail[b.slot[i]!]!);
        if (ct.update(conn, 1, ctFlags(v, o, proto), ipv4.totalLen(v, o)) === UPDATE_INVALID) {
          b.next[i] = X.drop;
          c[C['drop-ct-invalid']]!++;
          continue;
        }
      }
      if (ipv4.ttl(v, o) <= 1) {
        b.next[i] = X.drop;
        c[C['drop-ttl-exceeded']]!++;
        continue;
      }
      const big = ipv4.totalLen(v, o) > t.podMtu;
      if (big && (ipv4.dontFrag(v, o) || !roomFor(b, piecesAt(v, o, t.podMtu)))) {
        // The way to the pod (its port, or the tunnel to its node) takes podMtu bytes: Linux answers DF with
        // fragmentation needed (RFC 1191) about the packet as it arrived, so the quote carries no pod address;
        // without DF the packet is cut below, if the burst has room for the pieces.
        if (ipv4.dontFrag(v, o)) n = this.fragNeeded(b, sel, n, i, t.podMtu);
        else c[C['drop-no-buffer']]!++;
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      if (ct.isSnat(conn)) {
        if (later) ipv4.setDstCsum(v, o, ct.rewriteAddr(conn, 1));
        else rewriteDst(v, o, proto, ct.rewriteAddr(conn, 1), ct.rewritePort(conn, 1));
      }
      ipv4.decTtlCsum(v, o);
      b.flow[i] = ref;
      c[later ? C.fragment : C.reply]!++;
      b.next[i] = this.route(b, i, t, ipv4.dst(v, o));
      if (big && b.next[i] !== X.drop) {
        c[C.refragmented]!++;
        b.flow[i] = -1;
        n = refragment(b, sel, n, i, t.podMtu);
      }
    }
    return n;
  }

  /**
   * An ICMP error about a packet of a SNATed connection (docs/semantics.md §4.c): found through the reversed
   * quoted tuple (`relatedRef`), it must be the connection's reply direction; the outer destination and the
   * quoted source are translated back to the pod with every checksum updated (`unsnatRelated`).
   */
  private related(b: Burst, i: number, t: DatapathTables): number {
    const v = this.st.v;
    const ct = this.ct;
    const c = this.counters.v;
    const o = b.l3[i]!;
    const l4 = o + ipv4.headerLen(v, o);
    // ip-local ran icmp.check, which validated the quoted header (checkQuoted).
    const ref = relatedRef(ct, v, o, l4);
    if (ref < 0) {
      c[REL_DROP[-ref]!]!++;
      return X.drop;
    }
    if ((ref & 1) === 0) {
      c[C['drop-related-orig-direction']]!++;
      return X.drop;
    }
    if (ipv4.ttl(v, o) <= 1) {
      c[C['drop-ttl-exceeded']]!++;
      return X.drop;
    }
    const len = ipv4.totalLen(v, o);
    if (len > t.podMtu) {
      // Never quoted to anyone: errors are not answered with errors (RFC 1122 §3.2.2).
      c[C['drop-too-big']]!++;
      return X.drop;
    }
    const conn = ref >> 1;
    if (ct.isSnat(conn)) {
      const qproto = ipv4.proto(v, icmp.quotedOffset(l4));
      unsnatRelated(v, o, l4, len - (l4 - o), ct.rewriteAddr(conn, 1), ct.rewritePort(conn, 1), qproto);
    }
    ipv4.decTtlCsum(v, o);
    b.flow[i] = -1;
    c[C.related]!++;
    return this.route(b, i, t, ipv4.dst(v, o));
  }

  /** Fragmentation needed about packet i from the address it was sent to, for `error` (uplink-out). */
  private fragNeeded(b: Burst, sel: Int32Array, n: number, i: number, mtu: number): number {
    const v = this.st.v;
    const j = appendFragNeeded(b, v, i, ipv4.dst(v, b.l3[i]!), mtu, X.error);
    if (j === ERR_NO_BUFFER) this.counters.v[C['drop-no-buffer']]!++;
    if (j < 0) return n;
    this.counters.v[C['icmp-frag-needed']]!++;
    sel[n] = j;
    return n + 1;
  }

  private route(b: Burst, i: number, t: DatapathTables, dst: number): number {
    const pod = t.podByIp.get(dst, -1);
    if (pod >= 0) {
      // Pod ports carry L3 packets: drop the Ethernet header.
      const o = b.l3[i]!;
      b.off[i] = o;
      b.len[i] = ipv4.totalLen(this.st.v, o);
      b.oport[i] = t.podPort[pod]!;
      return X['to-pod'];
    }
    const node = t.podCidrs.lookup(dst, -1);
    if (node >= 0 && node !== t.localNode) {
      b.meta[i] = t.nodeIpOf[node]!;
      return X['to-remote'];
    }
    this.counters.v[C['drop-no-route']]!++;
    return X.drop;
  }
}
