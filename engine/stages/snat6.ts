/**
 * snat6: SNAT66 of a pod's IPv6 packet through the IPv6 connection table (ct6.ts), as snat does for IPv4
 * (docs/semantics.md §4.a): the NAT address is entry `b.meta[i]` of `tables.v6.ownedIp` (the node's IPv6
 * address, or an IPv6 egress IP hosted here). An established connection keeps its binding unless its address is
 * no longer owned here (then it is removed and the packet starts a new one); a new connection is created
 * unconfirmed and bound to a port, and uplink-out6 confirms it when the packet leaves. A hit whose full
 * addresses are not the packet's (two addresses sharing a stand-in, ct6.ts) is a counted drop. The Hop Limit is
 * decremented. An ICMPv6 error from a pod (a port unreachable for a reply ...) is translated as related to the
 * connection its quote belongs to, as snat does for ICMP (docs/semantics.md §4.h, docs/ipv6.md §2.k): outer
 * source and quoted destination address and port become the NAT binding's; no connection is made for an error,
 * and one that matches none is dropped (it would leak the pod's address).
 * A packet larger than the uplink MTU (tunnelled here by a peer whose MTU is larger) is dropped: IPv6 is never
 * fragmented on the way (RFC 8200 §5), so a pod of another node gets ICMPv6 Packet Too Big with the uplink MTU,
 * from this node's pod gateway address, through the tunnel to its node (`error`), as snat sends IPv4's
 * fragmentation needed; a local pod never sends one that large (pod-ingress6 holds it to the pod MTU).
 * Specification: docs/ipv6.md §2.b, §2.c, §2.k; docs/semantics.md §4.a; conntrack/README.md. Cases:
 * test/stages/cases/snat6.cases.ts.
 * Exits: `out` (to uplink-out6), `drop`, `error` (to geneve-encap6, `b.meta` = the sending pod's node).
 */
import { CT_FULL, CT_LIMIT, SNAT_OK, UPDATE_INVALID, UPDATE_RECREATE } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { icmpv6, ipv6 } from '../wire/index.js';
import { BurstLookup6, ctFlags6, ctProto6, foldAt, portsWord6, rewriteSrc6, tcpSegment6, type Ct6 } from './ct6.js';
import { DST_REMOTE_CIDR } from './config.js';
import {
  appendError6,
  ERR_NO_BUFFER,
  natRelated6,
  relatedDrops,
  relatedRef6,
  RELATED_NAT_COUNTERS,
} from './icmp-nat.js';
import type { NodeState } from './state.js';

const NAMES = [
  'new',
  'established',
  'rebound',
  'drop-no-ipv6',
  'drop-hop-limit',
  ...RELATED_NAT_COUNTERS,
  'drop-key-clash',
  'drop-reply-direction',
  'drop-ct-full',
  'drop-ct-limit',
  'drop-ct-invalid',
  'drop-snat-exhausted',
  'drop-too-big',
  'icmp-packet-too-big',
  'drop-no-buffer',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'drop', 'error'] as const;
const X = exitIndex(EXITS);
const REL_DROP = relatedDrops(C);

export class Snat6 implements Stage {
  readonly name = 'snat6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly ct6: Ct6;
  /** This burst's connection lookups, made once per burst. */
  private readonly lookups = new BurstLookup6();
  /** The Packet Too Big this stage sends (its `rest`, the uplink MTU, set per error): no allocation per error. */
  private readonly tooBigSpec: icmpv6.ErrorSpec = { type: icmpv6.TYPE_PACKET_TOO_BIG, code: 0, rest: 0 };

  constructor(private readonly st: NodeState) {
    this.ct6 = st.ct6;
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t6 = st.tables.v6;
    const v = st.v;
    const c = this.counters.v;
    const ct6 = this.ct6;
    const ct = ct6.ct;
    const lk = this.lookups;
    const count = n;
    if (t6 !== null) lk.fill(ct, v, b.l3, sel, count, b.capacity);
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      if (t6 === null) {
        b.next[i] = X.drop;
        c[C['drop-no-ipv6']]!++;
        continue;
      }
      if (ipv6.hopLimit(v, o) <= 1) {
        b.next[i] = X.drop;
        c[C['drop-hop-limit']]!++;
        continue;
      }
      const len = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
      const w = ipv6.walk(v, o, len); // passed pod-ingress6 or geneve-decap6
      const proto = ipv6.walkProto(w);
      const l4 = ipv6.walkL4Offset(o, w);
      if (len > st.tables.uplinkMtu) {
        n = this.tooBig(b, sel, n, i, len, l4, proto);
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      if (proto === ipv6.NH_ICMPV6 && v.getUint8(l4) < 128) {
        b.next[i] = this.related(b, i, l4);
        continue;
      }
      const nat = b.meta[i]!;
      const natFold = t6.ownedFold[nat]!;
      const src = foldAt(v, o + 8);
      const dst = foldAt(v, o + 24);
      const ports = portsWord6(v, l4, proto);
      const cproto = ctProto6(proto);
      const flags = ctFlags6(v, l4, proto);
      const isTcp = proto === ipv6.NH_TCP;
      let conn = -1;
      const ref = lk.ref(ct, k, src, dst, ports, cproto);
      if (ref >= 0) {
        if ((ref & 1) === 1) {
          b.next[i] = X.drop;
          c[C['drop-reply-direction']]!++;
          continue;
        }
        if (!ct6.isOriginal(ref >> 1, v, o)) {
          b.next[i] = X.drop;
          c[C['drop-key-clash']]!++;
          continue;
        }
        conn = ref >> 1;
        if (ct.isNatBound(conn) && ct.natIp(conn) !== natFold && t6.ownedByFold.get(ct.natIp(conn), -1) < 0) {
          // Bound to an address this node no longer has: replies would not come back here.
          ct.remove(conn);
          conn = -1;
          c[C.rebound]!++;
        } else {
          if (isTcp) tcpSegment6(v, o, l4, ct.seg);
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
        if (isTcp) tcpSegment6(v, o, l4, ct.seg);
        conn = ct.create(src, dst, ports >>> 16, ports & 0xffff, cproto, flags, len);
        if (conn < 0) {
          b.next[i] = X.drop;
          c[conn === CT_FULL ? C['drop-ct-full'] : conn === CT_LIMIT ? C['drop-ct-limit'] : C['drop-ct-invalid']]!++;
          continue;
        }
        if (ct.snat(conn, natFold, st.snatMode) !== SNAT_OK) {
          ct.abort(conn);
          b.next[i] = X.drop;
          c[C['drop-snat-exhausted']]!++;
          continue;
        }
        ct6.remember(conn, v, o);
        c[C.new]!++;
      }
      // The bound address: the stand-in in the table, the full address among those this node owns.
      const bound = t6.ownedByFold.get(ct.natIp(conn), -1);
      if (bound < 0 || !ct.isSnat(conn)) {
        // Never leave with the pod's own address (a stand-in clash of the pod's and the NAT address).
        if (ct.isConfirmed(conn)) ct.remove(conn);
        else ct.abort(conn);
        b.next[i] = X.drop;
        c[C['drop-key-clash']]!++;
        continue;
      }
      b.flow[i] = conn << 1;
      rewriteSrc6(v, o, l4, proto, t6.ownedIp, bound << 2, ct.rewritePort(conn, 0));
      ipv6.decHopLimit(v, o);
      b.next[i] = X.out;
    }
    return n;
  }

  /**
   * An ICMPv6 error a pod sends about a packet it received on a SNAT66 connection: the reversed quote must be
   * the connection's original direction, with the record's full addresses (the quote's destination is the pod,
   * its source the peer); the outer source and the quoted destination get the NAT address and port.
   */
  private related(b: Burst, i: number, l4: number): number {
    const v = this.st.v;
    const t6 = this.st.tables.v6!;
    const ct6 = this.ct6;
    const ct = ct6.ct;
    const c = this.counters.v;
    const o = b.l3[i]!;
    const end = o + ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
    const ref = relatedRef6(ct6, v, o, l4, end);
    if (ref < 0) {
      c[REL_DROP[-ref]!]!++;
      return X.drop;
    }
    if ((ref & 1) === 1) {
      c[C['drop-related-reply-direction']]!++;
      return X.drop;
    }
    const conn = ref >> 1;
    const q = l4 + 8;
    const bound = t6.ownedByFold.get(ct.natIp(conn), -1);
    if (!ct6.isAddr(conn, 0, v, q + 24) || !ct6.isAddr(conn, 4, v, q + 8) || bound < 0 || !ct.isSnat(conn)) {
      c[C['drop-key-clash']]!++;
      return X.drop;
    }
    natRelated6(v, o, l4, end, t6.ownedIp, bound << 2, ct.rewritePort(conn, 0), false);
    ipv6.decHopLimit(v, o);
    b.flow[i] = -1; // nothing to confirm, and a lost error must not abort the connection
    c[C.related]!++;
    return X.out;
  }

  /**
   * Packet Too Big (the uplink MTU) about packet i to its sender when that is a pod of another node, selected
   * for `error` with `b.meta` = that node's address (geneve-encap6 carries it back); none for any other sender.
   */
  private tooBig(b: Burst, sel: Int32Array, n: number, i: number, len: number, l4: number, proto: number): number {
    const st = this.st;
    const t6 = st.tables.v6!;
    const v = st.v;
    const o = b.l3[i]!;
    const d = t6.dstClass.lookup(v.getInt32(o + 8), v.getInt32(o + 12), v.getInt32(o + 16), v.getInt32(o + 20), -1);
    if (d < 0 || d >>> 24 !== DST_REMOTE_CIDR) return n;
    const spec = this.tooBigSpec;
    spec.rest = st.tables.uplinkMtu;
    const j = appendError6(b, v, i, len, l4, proto, t6.podGatewayIp, spec, X.error);
    if (j === ERR_NO_BUFFER) this.counters.v[C['drop-no-buffer']]!++;
    if (j < 0) return n;
    b.meta[j] = t6.cidrNodeIp[d & 0xffffff]!;
    this.counters.v[C['icmp-packet-too-big']]!++;
    sel[n] = j;
    return n + 1;
  }
}
