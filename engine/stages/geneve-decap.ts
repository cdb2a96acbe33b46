/**
 * geneve-decap: Geneve from the segment (docs/semantics.md §4.b, §5 and its receive rules). Accepted only
 * from a member whose outer source IP and source MAC equal the pair pinned from its authenticated heartbeats
 * (peer-pins.ts), with version 0 (RFC 8926 §3.4), the O bit clear (control packets are never data, §3.4), no
 * critical option (we understand none, so §3.5 says drop), VNI 0, protocol Transparent Ethernet Bridging,
 * carrying an Ethernet frame with an IPv4 packet that passes its checks (a fragment: its IP header only). The inner source must be in the
 * sending node's pod CIDR, or — only towards a local pod — outside every pod CIDR (the egress-return path of
 * docs/semantics.md §4.c: an egress node sends un-NATed replies from the outside address). The outer headers and
 * the inner Ethernet header are stripped (the offset moves forward; nothing is copied). Then:
 * - inner destination is a local pod (pod-to-pod from another node, or a reply the egress node sent back)
 *   → `to-pod`;
 * - outer destination is an Egress IP this node hosts → `snat` with that Egress IP (the Egress node has no
 *   list of allowed source pods: anything tunneled to its Egress IP is SNATed, like Antrea); this includes the
 *   node IP itself when a static Egress names it (Antrea's `testEgressClientIP`); a fragment goes to `defrag`
 *   first (`fragment`, `b.flow` = FRAG_FROM_TUNNEL, docs/semantics.md §4.i);
 * - otherwise (tunneled to the node IP for an address that is no local pod) → drop.
 * With tunnel authentication (docs/tunnel-auth.md) the packet must carry the authentication option: without it
 * `drop-auth-missing`; another key id `drop-auth-key`; a sequence number seen or older than the window
 * `drop-auth-replay`; a wrong tag `drop-auth-bad`; no window left for a new peer `drop-auth-no-window`. Only then
 * is the sequence number recorded. Any other critical option is still `drop-critical-option`; without tunnel
 * authentication the option itself is one (a node whose peers authenticate drops what they send: counted).
 * Specification: docs/semantics.md §5 (receiving), §4.b, §4.c, §4.i; RFC 8926. Cases:
 * test/stages/cases/geneve-decap.cases.ts.
 * Exits: `to-pod`, `snat`, `fragment`, `drop`, `ipv6` (an IPv6 inner packet on a node with an IPv6 side: to
 * geneve-decap6, `b.l3` = `b.off` = the inner IPv6 header, `b.meta` = the sending node's index).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, geneve, ipv4, verdict } from '../wire/index.js';
import { OWN_EGRESS, OWN_NODE } from './config.js';
import { verdictReasons } from './drop-reasons.js';
import { checkL4, FRAG_FROM_TUNNEL } from './l4.js';
import { checkGeneve, geneveCheckCounters } from './geneve-checks.js';
import type { NodeState } from './state.js';

const NAMES = [
  'to-pod',
  'to-snat',
  'to-defrag',
  'drop-unknown-peer',
  'drop-unpinned-peer',
  'drop-peer-mac',
  'drop-bad-geneve',
  'drop-version',
  'drop-oam',
  'drop-critical-option',
  'drop-inner-src',
  'drop-unsupported',
  'drop-vni',
  'drop-inner-not-ipv4',
  'drop-inner-bad',
  'drop-inner-l4',
  'drop-not-egress',
  'drop-auth-missing',
  'drop-auth-key',
  'drop-auth-replay',
  'drop-auth-bad',
  'drop-auth-no-window',
  'drop-inner-source-route',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'snat', 'fragment', 'drop', 'ipv6'] as const;
const X = exitIndex(EXITS);
const GENEVE_CHECK = geneveCheckCounters(C);
const GENEVE_DROP = verdictReasons(
  C,
  { [verdict.UNSUPPORTED]: 'drop-unsupported', [verdict.BAD_VERSION]: 'drop-version' },
  'drop-bad-geneve',
);

export class GeneveDecap implements Stage {
  readonly name = 'geneve-decap';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const c = this.counters.v;
    const auth = st.tunnelAuth;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const ol3 = b.l3[i]!;
      const peer = t.nodeByIp.get(ipv4.src(v, ol3), -1);
      if (peer < 0 || peer === t.localNode) {
        b.next[i] = X.drop;
        c[C['drop-unknown-peer']]!++;
        continue;
      }
      const f = b.off[i]!;
      const pinned = st.pins.match(ipv4.src(v, ol3), ethernet.srcHi16(v, f), ethernet.srcLo32(v, f));
      if (pinned <= 0) {
        b.next[i] = X.drop;
        c[pinned < 0 ? C['drop-unpinned-peer'] : C['drop-peer-mac']]!++;
        continue;
      }
      const g = geneve.outerCheckAny(v, f, b.len[i]!);
      if (g < 0) {
        b.next[i] = X.drop;
        c[GENEVE_DROP[-g]!]!++;
        continue;
      }
      const r = checkGeneve(v, g, ol3, auth, ipv4.src(v, ol3), false);
      if (r !== 0) {
        b.next[i] = X.drop;
        c[GENEVE_CHECK[r]!]!++;
        continue;
      }
      const inner = geneve.innerOffset(v, g);
      const innerLen = geneve.innerLen(v, g);
      if (
        innerLen < ethernet.HEADER_LEN + ipv4.HEADER_LEN ||
        ethernet.ethertype(v, inner) !== ethernet.ETHERTYPE_IPV4
      ) {
        if (
          t.v6 !== null &&
          innerLen >= ethernet.HEADER_LEN &&
          ethernet.ethertype(v, inner) === ethernet.ETHERTYPE_IPV6
        ) {
          // An IPv6 inner packet on a node with an IPv6 side: geneve-decap6 checks it (`b.meta` = the peer).
          b.l3[i] = inner + ethernet.HEADER_LEN;
          b.len[i] = innerLen - ethernet.HEADER_LEN;
          b.off[i] = b.l3[i]!;
          b.meta[i] = peer;
          b.next[i] = X.ipv6;
          continue;
        }
        b.next[i] = X.drop;
        c[C['drop-inner-not-ipv4']]!++;
        continue;
      }
      const l3 = inner + ethernet.HEADER_LEN;
      if (ipv4.check(v, l3, innerLen - ethernet.HEADER_LEN, true) !== verdict.OK) {
        b.next[i] = X.drop;
        c[C['drop-inner-bad']]!++;
        continue;
      }
      // IHL 5 (no options, nearly every packet) is decided here without a call.
      const opts = (v.getUint8(l3) & 0x0f) === 5 ? ipv4.OPTS_OK : ipv4.optionsCheck(v, l3);
      if (opts !== ipv4.OPTS_OK) {
        b.next[i] = X.drop;
        c[opts === ipv4.OPTS_SOURCE_ROUTE ? C['drop-inner-source-route'] : C['drop-inner-bad']]!++;
        continue;
      }
      const frag = ipv4.isFragment(v, l3);
      if (!frag && checkL4(v, l3) !== 0) {
        b.next[i] = X.drop;
        c[C['drop-inner-l4']]!++;
        continue;
      }
      const outerDst = ipv4.dst(v, ol3);
      const srcNode = t.podCidrs.lookup(ipv4.src(v, l3), -1);
      const pod = t.podByIp.get(ipv4.dst(v, l3), -1);
      // Inner source: the sender's own pods, or (to a local pod only) an outside address (§4.c return path).
      if (srcNode >= 0 ? srcNode !== peer : pod < 0) {
        b.next[i] = X.drop;
        c[C['drop-inner-src']]!++;
        continue;
      }
      b.off[i] = l3;
      b.l3[i] = l3;
      b.len[i] = ipv4.totalLen(v, l3);
      if (pod >= 0) {
        b.oport[i] = t.podPort[pod]!;
        b.next[i] = X['to-pod'];
        c[C['to-pod']]!++;
        continue;
      }
      const own = t.owned.get(outerDst, 0);
      if (own === OWN_EGRESS || (own === OWN_NODE && t.nodeIpIsEgress)) {
        b.meta[i] = outerDst;
        if (frag) {
          b.flow[i] = FRAG_FROM_TUNNEL;
          b.next[i] = X.fragment;
          c[C['to-defrag']]!++;
          continue;
        }
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
