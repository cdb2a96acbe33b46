/**
 * geneve-decap6: the IPv6 packet inside a Geneve packet geneve-decap accepted (its outer checks, peer pin and
 * tunnel authentication passed; `b.meta` = the sending node's index), on a node with an IPv6 side
 * (docs/ipv6.md §2.d). The inner packet must pass `ipv6.check` and the extension-header walk with limits, be
 * whole, and carry a TCP, UDP or ICMPv6 header that passes its check. Its source must be in the sending node's
 * IPv6 pod CIDR or — only towards a local pod — outside every pod CIDR (the return path: an egress node sends
 * un-NATed replies from the outside address), as geneve-decap rules for IPv4. Then:
 * - to a local pod → `to-pod`;
 * - from a pod whose IPv6 Egress is hosted here → `snat` to that egress IP (`b.meta` = its entry in
 *   `tables.v6.ownedIp`): the IPv4 underlay cannot carry an IPv6 egress IP as outer destination, so the inner
 *   source says which Egress applies (Antrea's egress node matches the source pod the same way);
 * - otherwise → drop.
 * Specification: docs/ipv6.md §2.d; docs/semantics.md §5 (receiving), §4.c; RFC 8926, RFC 8200 §4. Cases:
 * test/stages/cases/geneve-decap6.cases.ts.
 * Exits: `to-pod`, `snat`, `drop`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv6, verdict } from '../wire/index.js';
import { DST_LOCAL_POD, DST_OWN_CIDR, DST_REMOTE_CIDR } from './config.js';
import { checkL4v6 } from './ct6.js';
import { verdictReasons } from './drop-reasons.js';
import type { NodeState } from './state.js';

const NAMES = [
  'to-pod',
  'to-snat',
  'drop-no-ipv6',
  'drop-inner-bad',
  'drop-inner-ext',
  'drop-inner-chain-too-long',
  'drop-inner-source-route',
  'drop-inner-fragment',
  'drop-inner-l4',
  'drop-inner-src',
  'drop-not-egress',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'snat', 'drop'] as const;
const X = exitIndex(EXITS);
const WALK_DROP = verdictReasons(
  C,
  { [verdict.CHAIN_TOO_LONG]: 'drop-inner-chain-too-long', [verdict.UNSUPPORTED]: 'drop-inner-source-route' },
  'drop-inner-ext',
);

export class GeneveDecap6 implements Stage {
  readonly name = 'geneve-decap6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t6 = st.tables.v6;
    const v = st.v;
    const c = this.counters.v;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      b.flow[i] = -1;
      if (t6 === null) {
        b.next[i] = X.drop;
        c[C['drop-no-ipv6']]!++;
        continue;
      }
      if (ipv6.check(v, o, b.len[i]!) !== verdict.OK) {
        b.next[i] = X.drop;
        c[C['drop-inner-bad']]!++;
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
        c[C['drop-inner-fragment']]!++;
        continue;
      }
      const proto = ipv6.walkProto(w);
      const l4 = ipv6.walkL4Offset(o, w);
      if (checkL4v6(v, l4, proto, o + plen - l4) !== verdict.OK) {
        b.next[i] = X.drop;
        c[C['drop-inner-l4']]!++;
        continue;
      }
      const s0 = v.getInt32(o + 8);
      const s1 = v.getInt32(o + 12);
      const s2 = v.getInt32(o + 16);
      const s3 = v.getInt32(o + 20);
      const sc = t6.dstClass.lookup(s0, s1, s2, s3, -1);
      const scls = sc >>> 24;
      const inCidr = sc >= 0 && (scls === DST_REMOTE_CIDR || scls === DST_OWN_CIDR || scls === DST_LOCAL_POD);
      const pod = t6.podByIp.get(v.getInt32(o + 24), v.getInt32(o + 28), v.getInt32(o + 32), v.getInt32(o + 36), -1);
      // Inner source: the sender's own pods, or (to a local pod only) an outside address (the return path).
      if (
        inCidr ? scls !== DST_REMOTE_CIDR || t6.cidrNodeIp[sc & 0xffffff] !== st.tables.nodeIpOf[b.meta[i]!] : pod < 0
      ) {
        b.next[i] = X.drop;
        c[C['drop-inner-src']]!++;
        continue;
      }
      b.off[i] = o;
      b.len[i] = plen;
      if (pod >= 0) {
        b.oport[i] = t6.podPort[pod]!;
        b.next[i] = X['to-pod'];
        c[C['to-pod']]!++;
        continue;
      }
      const nat = t6.remoteNat.get(s0, s1, s2, s3, -1);
      if (nat >= 0) {
        b.meta[i] = nat;
        b.next[i] = X.snat;
        c[C['to-snat']]!++;
        continue;
      }
      b.next[i] = X.drop;
      c[C['drop-not-egress']]!++;
    }
    return n;
  }
}
