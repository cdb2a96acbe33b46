/**
 * tunnel6-decap: the IPv6 underlay's receive side (docs/ipv6.md §2.l). uplink-ingress hands on IPv6 UDP to the
 * tunnel or control port of this node's IPv6 transport address from another member's transport address. The outer
 * checks are IPv4 decap's (geneve-decap) over IPv6: `ipv6.check`, UDP directly after the fixed header, `udp.check`,
 * a UDP checksum that is present and verifies (`drop-zero-checksum`, `drop-bad-checksum`: RFC 8200 §8.1, no RFC
 * 6935 zero-checksum mode is negotiated). The source must be a member's transport address (`drop-unknown-peer`).
 * - UDP to the control port (heartbeats) → `control` with `b.meta` = the peer's transport key (control-in hands
 *   it to membership, which authenticates it).
 * - Geneve: accepted only with the source MAC pinned for that member from its authenticated heartbeats
 *   (`drop-unpinned-peer`, `drop-peer-mac`), version 0, O clear, no unknown critical option, protocol
 *   Transparent Ethernet Bridging, VNI 0, and with tunnel authentication the option checked as geneve-decap does
 *   (the tag covering the IPv6 addresses, geneveAuth.verify6). Then the outer headers and the inner Ethernet
 *   header are stripped:
 *   - an IPv6 inner packet → `ipv6` (geneve-decap6, which checks it and applies the inner-source and Egress
 *     rules; `b.meta` = the peer's node index, as geneve-decap gives it);
 *   - an IPv4 inner packet must pass `ipv4.check` (header checksum verified), carry no source route and pass its
 *     L4 check, come from the sender's pod CIDR or — towards a local pod only — from outside every pod CIDR
 *     (docs/semantics.md §4.c), and be for a local pod → `to-pod`; anything else is `drop-not-egress` (an IPv4
 *     Egress hosted here for a pod of another node is not carried over an IPv6 underlay yet, docs/ipv6.md §3).
 * Specification: docs/ipv6.md §2.l; docs/semantics.md §5 (receiving), §4.c; docs/tunnel-auth.md; RFC 8926,
 * RFC 8200 §8.1. Cases: test/stages/cases/tunnel6-decap.cases.ts.
 * Exits: `to-pod`, `ipv6`, `control`, `drop`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, geneve, ipv4, ipv6, udp, verdict } from '../wire/index.js';
import { verdictReasons } from './drop-reasons.js';
import { checkL4 } from './l4.js';
import { checkGeneve, geneveCheckCounters } from './geneve-checks.js';
import type { NodeState } from './state.js';

const NAMES = [
  'to-pod',
  'to-ipv6',
  'control',
  'drop-unknown-peer',
  'drop-bad-outer',
  'drop-zero-checksum',
  'drop-bad-checksum',
  'drop-unpinned-peer',
  'drop-peer-mac',
  'drop-version',
  'drop-unsupported',
  'drop-oam',
  'drop-critical-option',
  'drop-vni',
  'drop-auth-missing',
  'drop-auth-key',
  'drop-auth-replay',
  'drop-auth-bad',
  'drop-auth-no-window',
  'drop-inner-not-ip',
  'drop-inner-bad',
  'drop-inner-src',
  'drop-not-egress',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['to-pod', 'ipv6', 'control', 'drop'] as const;
const X = exitIndex(EXITS);
const GENEVE_CHECK = geneveCheckCounters(C);
const OUTER_DROP = verdictReasons(
  C,
  {
    [verdict.UNSUPPORTED]: 'drop-unsupported',
    [verdict.BAD_VERSION]: 'drop-version',
    [verdict.BAD_CHECKSUM]: 'drop-bad-checksum',
  },
  'drop-bad-outer',
);

export class Tunnel6Decap implements Stage {
  readonly name = 'tunnel6-decap';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const t6 = t.v6;
    const v = st.v;
    const c = this.counters.v;
    const auth = st.tunnelAuth;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const ol3 = b.l3[i]!;
      const f = b.off[i]!;
      const len = b.len[i]!;
      b.flow[i] = -1;
      const key =
        t6 === null || !t6.underlay || f + len - ol3 < ipv6.HEADER_LEN
          ? 0
          : t6.transportKeyOf.get(
              v.getInt32(ol3 + 8),
              v.getInt32(ol3 + 12),
              v.getInt32(ol3 + 16),
              v.getInt32(ol3 + 20),
              0,
            );
      const peer = key === 0 ? -1 : t.nodeByIp.get(key, -1);
      if (peer < 0 || peer === t.localNode) {
        b.next[i] = X.drop;
        c[C['drop-unknown-peer']]!++;
        continue;
      }
      const u = ol3 + ipv6.HEADER_LEN;
      if (
        ipv6.check(v, ol3, f + len - ol3) !== verdict.OK ||
        v.getUint8(ol3 + 6) !== ipv6.NH_UDP ||
        udp.check(v, u, ipv6.payloadLen(v, ol3)) !== verdict.OK
      ) {
        b.next[i] = X.drop;
        c[C['drop-bad-outer']]!++;
        continue;
      }
      if (udp.checksumField(v, u) === 0) {
        b.next[i] = X.drop;
        c[C['drop-zero-checksum']]!++;
        continue;
      }
      if (!udp.checksumOk6(v, ol3, u)) {
        b.next[i] = X.drop;
        c[C['drop-bad-checksum']]!++;
        continue;
      }
      if (udp.dstPort(v, u) !== t.tunnelPort) {
        b.meta[i] = key;
        b.next[i] = X.control;
        c[C.control]!++;
        continue;
      }
      const pinned = st.pins.match(key, ethernet.srcHi16(v, f), ethernet.srcLo32(v, f));
      if (pinned <= 0) {
        b.next[i] = X.drop;
        c[pinned < 0 ? C['drop-unpinned-peer'] : C['drop-peer-mac']]!++;
        continue;
      }
      // The outer IPv6 and UDP headers and the checksum passed above: only the Geneve header is left to check.
      const g = u + udp.HEADER_LEN;
      const gr = geneve.check(v, g, udp.length(v, u) - udp.HEADER_LEN);
      if (gr !== verdict.OK) {
        b.next[i] = X.drop;
        c[OUTER_DROP[gr]!]!++;
        continue;
      }
      const r = checkGeneve(v, g, ol3, auth, key, true);
      if (r !== 0) {
        b.next[i] = X.drop;
        c[GENEVE_CHECK[r]!]!++;
        continue;
      }
      const inner = geneve.innerOffset(v, g);
      const innerLen = geneve.innerLen(v, g);
      const type = innerLen >= ethernet.HEADER_LEN ? ethernet.ethertype(v, inner) : 0;
      const l3 = inner + ethernet.HEADER_LEN;
      if (type === ethernet.ETHERTYPE_IPV6) {
        b.l3[i] = l3;
        b.off[i] = l3;
        b.len[i] = innerLen - ethernet.HEADER_LEN;
        b.meta[i] = peer;
        b.next[i] = X.ipv6;
        c[C['to-ipv6']]!++;
        continue;
      }
      if (type !== ethernet.ETHERTYPE_IPV4) {
        b.next[i] = X.drop;
        c[C['drop-inner-not-ip']]!++;
        continue;
      }
      if (
        ipv4.check(v, l3, innerLen - ethernet.HEADER_LEN, true) !== verdict.OK ||
        ((v.getUint8(l3) & 0x0f) !== 5 && ipv4.optionsCheck(v, l3) !== ipv4.OPTS_OK) ||
        (!ipv4.isFragment(v, l3) && checkL4(v, l3) !== 0)
      ) {
        b.next[i] = X.drop;
        c[C['drop-inner-bad']]!++;
        continue;
      }
      const srcNode = t.podCidrs.lookup(ipv4.src(v, l3), -1);
      const pod = t.podByIp.get(ipv4.dst(v, l3), -1);
      if (srcNode >= 0 ? srcNode !== peer : pod < 0) {
        b.next[i] = X.drop;
        c[C['drop-inner-src']]!++;
        continue;
      }
      if (pod < 0) {
        b.next[i] = X.drop;
        c[C['drop-not-egress']]!++;
        continue;
      }
      b.off[i] = l3;
      b.l3[i] = l3;
      b.len[i] = ipv4.totalLen(v, l3);
      b.oport[i] = t.podPort[pod]!;
      b.next[i] = X['to-pod'];
      c[C['to-pod']]!++;
    }
    return n;
  }
}
