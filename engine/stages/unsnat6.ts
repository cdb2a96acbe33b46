/**
 * unsnat6: IPv6 frames from the uplink (uplink-ingress hands on an IPv6 frame for this node's MAC when the node
 * has an IPv6 side). The packet must pass `ipv6.check` and the extension-header walk with limits, be whole
 * (fragments are dropped, not reassembled: `drop-fragment`, docs/ipv6.md §2.j), carry a TCP, UDP or ICMPv6
 * header that passes its check, and be addressed to an IPv6 address this node owns (its IPv6 address, a hosted
 * IPv6 egress IP) or to a local pod's IPv6 address (`inbound`: a connection the pod accepts, to inbound6 with
 * the walk in `b.meta` and the pod's port in `b.oport`). NDP for those addresses is not answered here (counted
 * drops). A packet for an owned address must then be the reply direction of an IPv6 connection of the table
 * (ct6.ts) coming from that connection's peer (full addresses compared); its destination becomes the pod's
 * address and port again (un-SNAT66), its Hop Limit is decremented, and it goes to the pod's port without its
 * Ethernet header — or, for a pod of another node (its IPv6 Egress is hosted here, docs/ipv6.md §2.d), through
 * the tunnel to that node (`to-remote`, `b.meta` = its transport IP).
 * Specification: docs/ipv6.md §2.b, §2.c; docs/semantics.md §4.a; RFC 8200 §4. Cases:
 * test/stages/cases/unsnat6.cases.ts.
 * Exits: `to-pod` (`b.oport` = the pod's port), `to-remote` (to geneve-encap6), `inbound` (to inbound6), `drop`.
 */
import { UPDATE_INVALID, UPDATE_RECREATE } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv6, verdict } from '../wire/index.js';
import { DST_REMOTE_CIDR } from './config.js';
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
] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'to-remote', 'inbound', 'drop'] as const;
const X = exitIndex(EXITS);
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
    if (t6 !== null) lk.fill(ct, v, b.l3, sel, n, b.capacity, b.off, b.len);
    for (let k = 0; k < n; k++) {
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
      const a = ct6.addr;
      const ak = conn << 3;
      const pod = t6.podByIp.get(a[ak]!, a[ak + 1]!, a[ak + 2]!, a[ak + 3]!, -1);
      // Not a local pod: a pod of another node whose IPv6 Egress is hosted here (back through the tunnel).
      const cl = pod < 0 ? t6.dstClass.lookup(a[ak]!, a[ak + 1]!, a[ak + 2]!, a[ak + 3]!, -1) : -1;
      if (pod < 0 && (cl < 0 || cl >>> 24 !== DST_REMOTE_CIDR)) {
        b.next[i] = X.drop;
        c[C['drop-no-such-pod']]!++;
        continue;
      }
      rewriteDst6(v, o, l4, proto, a, ak, ct.rewritePort(conn, 1));
      ipv6.decHopLimit(v, o);
      b.off[i] = o;
      b.len[i] = plen;
      if (pod < 0) {
        b.meta[i] = t6.cidrNodeIp[cl & 0xffffff]!;
        b.next[i] = X['to-remote'];
        c[C['un-snat-remote']]!++;
        continue;
      }
      b.oport[i] = t6.podPort[pod]!;
      b.next[i] = X['to-pod'];
      c[C['un-snat']]!++;
    }
    return n;
  }
}
