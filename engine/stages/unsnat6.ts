/**
 * unsnat6: IPv6 frames from the uplink (uplink-ingress hands on an IPv6 frame for this node's MAC when the node
 * has an IPv6 side). The packet must pass `ipv6.check` and the extension-header walk with limits, be whole
 * (fragments are dropped, not reassembled: `drop-fragment`, docs/ipv6.md §2.j), carry a TCP, UDP or ICMPv6
 * header that passes its check, and be addressed to an IPv6 address this node owns (its IPv6 address, a hosted
 * IPv6 egress IP) or to a local pod's IPv6 address (`inbound`: a connection the pod accepts, to inbound6 with
 * the walk in `b.meta` and the pod's port in `b.oport`, ICMPv6 errors included). NDP for those addresses is not answered here (counted
 * drops). A packet for an owned address must then be the reply direction of an IPv6 connection of the table
 * (ct6.ts) coming from that connection's peer (full addresses compared); its destination becomes the pod's
 * address and port again (un-SNAT66), its Hop Limit is decremented, and it goes to the pod's port without its
 * Ethernet header — or, for a pod of another node (its IPv6 Egress is hosted here, docs/ipv6.md §2.d), through
 * the tunnel to that node (`to-remote`, `b.meta` = its transport IP). A reply larger than the pod MTU (the pod
 * port's and the tunnel's limit) is dropped and its sender gets ICMPv6 Packet Too Big with the pod MTU from the
 * address the reply was sent to, quoting it as it arrived (IPv6 is never fragmented on the way, RFC 8200 §5;
 * `error`). An ICMPv6 error about a packet of a SNAT66 connection is related: the outer destination and the
 * quoted source address and port are translated back to the pod's, then it goes on as a reply (docs/ipv6.md
 * §2.k, docs/semantics.md §4.h). An echo request to an owned address that is no connection's reply goes to the
 * node's responder (`local`, icmp-local6).
 * Specification: docs/ipv6.md §2.b, §2.c, §2.j, §2.k; docs/semantics.md §4.a, §4.h; RFC 8200 §4. Cases:
 * test/stages/cases/unsnat6.cases.ts.
 * Exits: `to-pod` (`b.oport` = the pod's port), `to-remote` (to geneve-encap6), `inbound` (to inbound6), `drop`,
 * `error` (to uplink-out6), `local` (to icmp-local6).
 */
import { UPDATE_INVALID, UPDATE_RECREATE } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { icmpv6, ipv6, verdict } from '../wire/index.js';
import { DST_REMOTE_CIDR } from './config.js';
import type { DatapathTables6 } from './config6.js';
import {
  BurstLookup6,
  checkL4v6,
  ctFlags6,
  ctProto6,
  foldAt,
  portsWord6,
  rewriteDst6,
  tcpSegment6,
  type Ct6,
} from './ct6.js';
import { verdictReasons } from './drop-reasons.js';
import { appendError6, ERR_NO_BUFFER, natRelated6, relatedDrops, relatedRef6 } from './icmp-nat.js';
import { L4_REASONS } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = [
  'un-snat',
  'un-snat-remote',
  'to-pod-address',
  'drop-no-ipv6',
  'drop-truncated',
  'drop-ext-truncated',
  'drop-bad-ext-header',
  'drop-chain-too-long',
  'drop-hop-by-hop-not-first',
  'drop-unknown-next-header',
  'drop-source-route',
  'drop-fragment',
  'drop-l4-truncated',
  'drop-l4-bad',
  'drop-unsupported-proto',
  'drop-not-ours',
  'drop-ndp',
  'drop-no-connection',
  'drop-key-clash',
  'drop-ct-invalid',
  'drop-hop-limit',
  'drop-no-such-pod',
  'related',
  'to-local',
  'drop-related-untracked',
  'drop-related-mismatch',
  'drop-related-no-conntrack',
  'drop-related-orig-direction',
  'drop-too-big',
  'icmp-packet-too-big',
  'drop-no-buffer',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'to-remote', 'inbound', 'drop', 'error', 'local'] as const;
const X = exitIndex(EXITS);
const REL_DROP = relatedDrops(C);
const WALK_DROP = verdictReasons(
  C,
  {
    [verdict.TRUNCATED]: 'drop-ext-truncated',
    [verdict.CHAIN_TOO_LONG]: 'drop-chain-too-long',
    [verdict.HOP_BY_HOP_NOT_FIRST]: 'drop-hop-by-hop-not-first',
    [verdict.UNKNOWN_NEXT_HEADER]: 'drop-unknown-next-header',
    [verdict.UNSUPPORTED]: 'drop-source-route',
  },
  'drop-bad-ext-header',
);
const L4_DROP = verdictReasons(C, L4_REASONS.reasons, L4_REASONS.otherwise);

export class Unsnat6 implements Stage {
  readonly name = 'unsnat6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  /** Scratch of `tooBig` (no allocation per error): the reporting address and the error's fields. */
  private readonly errFrom = new Uint8Array(16);
  private readonly errFromV = new DataView(this.errFrom.buffer);
  private readonly tooBigSpec: icmpv6.ErrorSpec = { type: icmpv6.TYPE_PACKET_TOO_BIG, code: 0, rest: 0 };
  private readonly ct6: Ct6;
  /** This burst's connection lookups, made once per burst. */
  private readonly lookups = new BurstLookup6();

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
    const podMtu = st.tables.podMtu;
    const count = n;
    if (t6 !== null) lk.fill(ct, v, b.l3, sel, count, b.capacity, b.off, b.len);
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      b.flow[i] = -1;
      if (t6 === null) {
        b.next[i] = X.drop;
        c[C['drop-no-ipv6']]!++;
        continue;
      }
      if (ipv6.check(v, o, b.off[i]! + b.len[i]! - o) !== verdict.OK) {
        b.next[i] = X.drop;
        c[C['drop-truncated']]!++;
        continue;
      }
      const plen = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
      const w = ipv6.walk(v, o, plen);
      if (w < 0) {
        b.next[i] = X.drop;
        c[WALK_DROP[-w]!]!++;
        continue;
      }
      if (ipv6.walkIsFragment(w)) {
        b.next[i] = X.drop;
        c[C['drop-fragment']]!++;
        continue;
      }
      const proto = ipv6.walkProto(w);
      const l4 = ipv6.walkL4Offset(o, w);
      const l4r = checkL4v6(v, l4, proto, o + plen - l4);
      if (l4r !== verdict.OK) {
        b.next[i] = X.drop;
        c[L4_DROP[l4r]!]!++;
        continue;
      }
      const d0 = v.getInt32(o + 24);
      const d1 = v.getInt32(o + 28);
      const d2 = v.getInt32(o + 32);
      const d3 = v.getInt32(o + 36);
      const ours = t6.owned.get(d0, d1, d2, d3, 0) !== 0;
      const toPod = ours ? -1 : t6.podByIp.get(d0, d1, d2, d3, -1);
      if (!ours && toPod < 0) {
        b.next[i] = X.drop;
        c[C['drop-not-ours']]!++;
        continue;
      }
      if (proto === ipv6.NH_ICMPV6) {
        const type = v.getUint8(l4);
        if (type >= 133 && type <= 137) {
          b.next[i] = X.drop;
          c[C['drop-ndp']]!++;
          continue;
        }
        if (type < 128 && ours) {
          b.next[i] = this.related(b, i, l4, plen, t6);
          continue;
        }
      }
      if (toPod >= 0) {
        // A local pod's own address: a connection the pod accepts (inbound6), with the walk and its port.
        b.meta[i] = w;
        b.oport[i] = t6.podPort[toPod]!;
        b.next[i] = X.inbound;
        c[C['to-pod-address']]!++;
        continue;
      }
      const ports = portsWord6(v, l4, proto);
      const cproto = ctProto6(proto);
      const ref = lk.ref(ct, k, foldAt(v, o + 8), foldAt(v, o + 24), ports, cproto);
      if (ref < 0 || (ref & 1) === 0) {
        if (ref < 0 && proto === ipv6.NH_ICMPV6 && v.getUint8(l4) === icmpv6.TYPE_ECHO_REQUEST) {
          b.next[i] = X.local;
          c[C['to-local']]!++;
          continue;
        }
        b.next[i] = X.drop;
        c[C['drop-no-connection']]!++;
        continue;
      }
      const conn = ref >> 1;
      if (!ct6.isFromPeer(conn, v, o)) {
        b.next[i] = X.drop;
        c[C['drop-key-clash']]!++;
        continue;
      }
      if (proto === ipv6.NH_TCP) tcpSegment6(v, o, l4, ct.seg);
      const u = ct.update(conn, 1, ctFlags6(v, l4, proto), plen);
      if (u === UPDATE_INVALID) {
        b.next[i] = X.drop;
        c[C['drop-ct-invalid']]!++;
        continue;
      }
      if (u === UPDATE_RECREATE) {
        // The connection timed out or was closed: a reply to nothing.
        b.next[i] = X.drop;
        c[C['drop-no-connection']]!++;
        continue;
      }
      if (ipv6.hopLimit(v, o) <= 1) {
        b.next[i] = X.drop;
        c[C['drop-hop-limit']]!++;
        continue;
      }
      if (plen > podMtu) {
        // The way to the pod (its port, or the tunnel to its node) takes podMtu bytes, and IPv6 is not
        // fragmented on the way: Packet Too Big to the sender, quoting the reply as it arrived (no pod address).
        n = this.tooBig(b, sel, n, i, plen, l4, proto, podMtu);
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      const a = ct6.addr;
      const ak = conn << 3;
      const to = this.route(b, i, t6, a, ak);
      if (to === X.drop) continue;
      rewriteDst6(v, o, l4, proto, a, ak, ct.rewritePort(conn, 1));
      ipv6.decHopLimit(v, o);
      b.off[i] = o;
      b.len[i] = plen;
      b.next[i] = to;
      c[to === X['to-pod'] ? C['un-snat'] : C['un-snat-remote']]!++;
    }
    return n;
  }

  /**
   * Where the pod at `a`/`ak` (a connection's original source) is: `to-pod` with its port in `b.oport`, or, for
   * a pod of another node whose IPv6 Egress is hosted here, `to-remote` with that node's transport IP in
   * `b.meta`; else `drop-no-such-pod`.
   */
  private route(b: Burst, i: number, t6: DatapathTables6, a: Int32Array, ak: number): number {
    const pod = t6.podByIp.get(a[ak]!, a[ak + 1]!, a[ak + 2]!, a[ak + 3]!, -1);
    if (pod >= 0) {
      b.oport[i] = t6.podPort[pod]!;
      return X['to-pod'];
    }
    const cl = t6.dstClass.lookup(a[ak]!, a[ak + 1]!, a[ak + 2]!, a[ak + 3]!, -1);
    if (cl < 0 || cl >>> 24 !== DST_REMOTE_CIDR) {
      b.next[i] = X.drop;
      this.counters.v[C['drop-no-such-pod']]!++;
      return X.drop;
    }
    b.meta[i] = t6.cidrNodeIp[cl & 0xffffff]!;
    return X['to-remote'];
  }

  /**
   * An ICMPv6 error from outside about a packet of a SNAT66 connection (docs/ipv6.md §2.k): the reversed quote
   * must be the connection's reply direction, the record's peer the quote's destination; the outer destination
   * and the quoted source address and port become the pod's, then it goes on as a reply would (Hop Limit − 1,
   * no larger than the pod MTU: an error is never answered with an error, RFC 4443 §2.4 e.1).
   */
  private related(b: Burst, i: number, l4: number, plen: number, t6: DatapathTables6): number {
    const v = this.st.v;
    const ct6 = this.ct6;
    const ct = ct6.ct;
    const c = this.counters.v;
    const o = b.l3[i]!;
    const end = o + plen;
    const ref = relatedRef6(ct6, v, o, l4, end);
    if (ref < 0) {
      c[REL_DROP[-ref]!]!++;
      return X.drop;
    }
    if ((ref & 1) === 0) {
      c[C['drop-related-orig-direction']]!++;
      return X.drop;
    }
    const conn = ref >> 1;
    if (!ct6.isAddr(conn, 4, v, l4 + 8 + 24)) {
      c[C['drop-key-clash']]!++;
      return X.drop;
    }
    if (ipv6.hopLimit(v, o) <= 1) {
      c[C['drop-hop-limit']]!++;
      return X.drop;
    }
    if (plen > this.st.tables.podMtu) {
      c[C['drop-too-big']]!++;
      return X.drop;
    }
    const a = ct6.addr;
    const ak = conn << 3;
    const to = this.route(b, i, t6, a, ak);
    if (to === X.drop) return X.drop;
    natRelated6(v, o, l4, end, a, ak, ct.rewritePort(conn, 1), true);
    ipv6.decHopLimit(v, o);
    b.off[i] = o;
    b.len[i] = plen;
    c[C.related]!++;
    return to;
  }

  /** Packet Too Big (MTU `mtu`) about packet i from the address it was sent to, for `error` (uplink-out6). */
  private tooBig(
    b: Burst,
    sel: Int32Array,
    n: number,
    i: number,
    plen: number,
    l4: number,
    proto: number,
    mtu: number,
  ): number {
    const v = this.st.v;
    const o = b.l3[i]!;
    // From the address the reply was sent to, copied (the error is written into another slot).
    const fv = this.errFromV;
    for (let w = 0; w < 16; w += 4) fv.setInt32(w, v.getInt32(o + 24 + w));
    const spec = this.tooBigSpec;
    spec.rest = mtu;
    const j = appendError6(b, v, i, plen, l4, proto, this.errFrom, spec, X.error);
    if (j === ERR_NO_BUFFER) this.counters.v[C['drop-no-buffer']]!++;
    if (j < 0) return n;
    this.counters.v[C['icmp-packet-too-big']]!++;
    sel[n] = j;
    return n + 1;
  }
}
