/**
 * snat: source NAT through the connection table, like iptables `SNAT --to <ip>` / MASQUERADE (docs/semantics.md
 * §4.a): the NAT address is in `b.meta[i]` (the node IP for node masquerade, an Egress IP hosted here for
 * Egress). An established connection keeps its binding (the kernel does not re-NAT a tracked connection when
 * the rules change) unless its address is no longer owned by this node, in which case the connection is
 * removed and the packet starts a new one. A new connection is created unconfirmed and bound to a port
 * (kept when free, see conntrack/); uplink-out confirms it when the packet actually leaves. The node routes
 * the packet, so its TTL is decremented (RFC 1812), with the incremental checksum update. An ICMP error is
 * translated as related to the connection its quote belongs to (docs/semantics.md §4.h), never SNATed alone.
 * A packet larger than the uplink MTU (tunnelled by a peer with a larger MTU) is dropped when it has DF, and
 * its pod gets fragmentation needed through the tunnel (`error`); without DF it is translated and cut to the
 * uplink MTU (refrag.ts, `refragmented`). A later fragment (defrag, its datagram's ports word in `b.flow`) is
 * translated as its datagram: only its IP header, never updating the connection; one whose datagram has no
 * connection (its first fragment was dropped) is `drop-frag-untracked` (docs/semantics.md §4.i). A packet leaving with an egress IP whose Egress sets
 * `spec.bandwidth` takes its bits from that IP's meter first (meter.ts); short of tokens it is dropped
 * (`drop-rate-limited`) before conntrack sees it, so a policed packet changes no connection state.
 * Specification: docs/semantics.md §4.a, §4.g, §4.h, §4.i; conntrack/README.md. Cases: test/stages/cases/snat.cases.ts.
 * Exits: `out` (to uplink-out), `drop`, `error` (to geneve-encap).
 */
import { CT_FULL, CT_LIMIT, SNAT_OK, UPDATE_INVALID, UPDATE_RECREATE, type ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { icmp, ipv4 } from '../wire/index.js';
import {
  appendFragNeeded,
  ERR_NO_BUFFER,
  relatedRef,
  relatedDrops,
  snatRelated,
  isIcmpError,
  RELATED_COUNTERS,
} from './icmp-nat.js';
import { BurstLookup, ctFlags, laterFragment, portsWord, rewriteSrc, tcpSegment } from './l4.js';
import { piecesAt, refragment, roomFor } from './refrag.js';
import type { NodeState } from './state.js';

const NAMES = [
  'new',
  'established',
  'rebound',
  'drop-ct-full',
  'drop-ct-invalid',
  'drop-snat-exhausted',
  'drop-reply-direction',
  'drop-ttl-exceeded',
  ...RELATED_COUNTERS,
  'drop-ct-limit',
  'drop-rate-limited',
  'fragment',
  'refragmented',
  'drop-frag-untracked',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'drop', 'error'] as const;
const X = exitIndex(EXITS);
const REL_DROP = relatedDrops(C);

export class Snat implements Stage {
  readonly name = 'snat';
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
    const v = st.v;
    const ct = this.ct;
    const c = this.counters.v;
    const owned = st.tables.owned;
    const mtu = st.tables.uplinkMtu;
    const meters = st.meters;
    const metered = meters.size !== 0;
    const now = st.now;
    const count = n;
    const lk = this.lookups;
    lk.fill(ct, v, b, sel, count);
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      if (ipv4.ttl(v, o) <= 1) {
        b.next[i] = X.drop;
        c[C['drop-ttl-exceeded']]!++;
        continue;
      }
      const big = ipv4.totalLen(v, o) > mtu;
      if (big && (ipv4.dontFrag(v, o) || !roomFor(b, piecesAt(v, o, mtu)))) {
        // Only a tunnelled packet can be larger (pod-ingress holds local pods to the pod MTU): a peer with a
        // larger MTU. With DF the pod gets fragmentation needed with the uplink MTU, through the tunnel; without,
        // it is cut below, if the burst has room for the pieces.
        if (ipv4.dontFrag(v, o)) n = this.fragNeeded(b, sel, n, i, mtu);
        else c[C['drop-no-buffer']]!++;
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      if (metered && !meters.take(b.meta[i]!, ipv4.totalLen(v, o), now)) {
        b.next[i] = X.drop;
        c[C['drop-rate-limited']]!++;
        continue;
      }
      const src = ipv4.src(v, o);
      const dst = ipv4.dst(v, o);
      const proto = ipv4.proto(v, o);
      if (laterFragment(v, o)) {
        b.next[i] = this.later(b, i, lk.ref(ct, k, src, dst, b.flow[i]!, proto));
        if (big && b.next[i] === X.out) n = this.cut(b, sel, n, i, mtu);
        continue;
      }
      if (isIcmpError(v, o)) {
        b.next[i] = this.related(b, i);
        if (big && b.next[i] === X.out) n = this.cut(b, sel, n, i, mtu);
        continue;
      }
      const ports = portsWord(v, o, proto);
      const len = ipv4.totalLen(v, o);
      const flags = ctFlags(v, o, proto);
      const tcp = proto === ipv4.PROTO_TCP;
      const ref = lk.ref(ct, k, src, dst, ports, proto);
      let conn = -1;
      if (ref >= 0) {
        if ((ref & 1) === 1) {
          b.next[i] = X.drop;
          c[C['drop-reply-direction']]!++;
          continue;
        }
        conn = ref >> 1;
        if (ct.isNatBound(conn) && ct.natIp(conn) !== b.meta[i] && owned.get(ct.natIp(conn), 0) === 0) {
          // Bound to an address this node no longer has: replies would not come back here.
          ct.remove(conn);
          conn = -1;
          c[C.rebound]!++;
        } else {
          if (tcp) tcpSegment(v, o, ct.seg, st.slab.tcpTail[b.slot[i]!]!);
          const u = ct.update(conn, 0, flags, len);
          if (u === UPDATE_INVALID) {
            b.next[i] = X.drop;
            c[C['drop-ct-invalid']]!++;
            continue;
          }
          if (u === UPDATE_RECREATE) {
            ct.remove(conn);
            conn = -1;
          } else c[C.established]!++;
        }
      }
      if (conn < 0) {
        if (tcp) tcpSegment(v, o, ct.seg, st.slab.tcpTail[b.slot[i]!]!);
        conn = ct.create(src, dst, ports >>> 16, ports & 0xffff, proto, flags, len);
        if (conn < 0) {
          b.next[i] = X.drop;
          c[conn === CT_FULL ? C['drop-ct-full'] : conn === CT_LIMIT ? C['drop-ct-limit'] : C['drop-ct-invalid']]!++;
          continue;
        }
        if (ct.snat(conn, b.meta[i]!, st.snatMode) !== SNAT_OK) {
          ct.abort(conn);
          b.next[i] = X.drop;
          c[C['drop-snat-exhausted']]!++;
          continue;
        }
        c[C.new]!++;
      }
      b.flow[i] = conn << 1;
      if (ct.isSnat(conn)) rewriteSrc(v, o, proto, ct.rewriteAddr(conn, 0), ct.rewritePort(conn, 0));
      ipv4.decTtlCsum(v, o);
      b.next[i] = X.out;
      if (big) n = this.cut(b, sel, n, i, mtu);
    }
    return n;
  }

  /**
   * A later fragment: its datagram's connection `ref` (found with the first fragment's ports word); the IP header
   * is all it has to translate, and it changes no connection state.
   */
  private later(b: Burst, i: number, ref: number): number {
    const v = this.st.v;
    const ct = this.ct;
    const o = b.l3[i]!;
    b.flow[i] = -1;
    if (ref < 0 || (ref & 1) === 1) {
      this.counters.v[ref < 0 ? C['drop-frag-untracked'] : C['drop-reply-direction']]!++;
      return X.drop;
    }
    if (ct.isSnat(ref >> 1)) ipv4.setSrcCsum(v, o, ct.rewriteAddr(ref >> 1, 0));
    ipv4.decTtlCsum(v, o);
    this.counters.v[C.fragment]!++;
    return X.out;
  }

  /** Cut translated packet i to the uplink MTU (room checked before it was translated). */
  private cut(b: Burst, sel: Int32Array, n: number, i: number, mtu: number): number {
    this.counters.v[C.refragmented]!++;
    return refragment(b, sel, n, i, mtu);
  }

  /**
   * An ICMP error a pod sends about a packet it received on a SNATed connection (a port unreachable for a
   * reply, docs/semantics.md §4.h): found through the reversed quoted tuple, it must be the connection's
   * original direction; the outer source and the quoted destination get the NAT address and port. No new
   * connection is made for an error, and one that matches none is dropped: it would leak the pod's address.
   */
  private related(b: Burst, i: number): number {
    const v = this.st.v;
    const ct = this.ct;
    const c = this.counters.v;
    const o = b.l3[i]!;
    const l4 = o + ipv4.headerLen(v, o);
    const ref = relatedRef(ct, v, o, l4);
    if (ref < 0) {
      c[REL_DROP[-ref]!]!++;
      return X.drop;
    }
    if ((ref & 1) === 1) {
      c[C['drop-related-reply-direction']]!++;
      return X.drop;
    }
    const conn = ref >> 1;
    if (ct.isSnat(conn)) {
      const qproto = ipv4.proto(v, icmp.quotedOffset(l4));
      snatRelated(v, o, l4, ipv4.totalLen(v, o) - (l4 - o), ct.rewriteAddr(conn, 0), ct.rewritePort(conn, 0), qproto);
    }
    ipv4.decTtlCsum(v, o);
    b.flow[i] = -1; // nothing to confirm, and a lost error must not abort the connection
    c[C.related]!++;
    return X.out;
  }

  /**
   * Fragmentation needed about packet i to its sender, a pod on another node (`error`: Geneve to that node),
   * from this node's pod gateway address, as Linux's `icmp_send` answers from the gateway interface.
   */
  private fragNeeded(b: Burst, sel: Int32Array, n: number, i: number, mtu: number): number {
    const t = this.st.tables;
    const v = this.st.v;
    const node = t.podCidrs.lookup(ipv4.src(v, b.l3[i]!), -1);
    if (node < 0 || node === t.localNode) return n;
    const j = appendFragNeeded(b, v, i, t.podGatewayIp, mtu, X.error);
    if (j === ERR_NO_BUFFER) this.counters.v[C['drop-no-buffer']]!++;
    if (j < 0) return n;
    b.meta[j] = t.nodeIpOf[node]!;
    this.counters.v[C['icmp-frag-needed']]!++;
    sel[n] = j;
    return n + 1;
  }
}
