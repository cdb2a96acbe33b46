/**
 * pod-ingress: packets a local pod sent (an L3 packet from its TUN port). Spoofguard and sanity checks, like
 * Antrea's SpoofGuard table plus what the kernel would refuse:
 * - an IPv4 header that passes `ipv4.check` with a good checksum, a TCP/UDP/ICMP header that passes its check;
 *   a fragment goes to `defrag` instead (`b.flow` = FRAG_FROM_POD), which checks what a fragment carries;
 * - the source address is the pod's own IP (the port tells which pod sent it; a pod with only an IPv6 address
 *   has none: `drop-spoofed`);
 * - not larger than the pod MTU (uplink MTU − 50): with DF set the pod gets ICMP "fragmentation needed" with
 *   the pod MTU (RFC 1191) from the pod gateway address; without DF the packet is dropped (no fragmentation);
 * - TTL above 1 (the node routes it): otherwise ICMP "time exceeded" back to the pod, within the node's error
 *   rate limit (error-limit.ts; beyond it `icmp-rate-limited`, no error);
 * - no source-route option (LSRR/SSRR) and a well-formed option list (Linux `accept_source_route` = 0).
 * Specification: docs/semantics.md §4.0, §4.i, §5 (pod MTU = uplink MTU − 50); RFC 1191, RFC 1812. Cases:
 * test/stages/cases/pod-ingress.cases.ts.
 * Exits: `ok` (to classify, `b.l3 = b.off`, `b.meta` = the pod's index), `fragment` (to defrag, the same
 * fields), `reply` (an ICMP error to the sending pod), `drop`, `ipv6` (an IPv6 packet, on a node with an IPv6
 * side: to pod-ingress6).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { icmp, ipv4, verdict } from '../wire/index.js';
import { verdictReasons } from './drop-reasons.js';
import { allocError } from './icmp-nat.js';
import { checkL4, FRAG_FROM_POD, L4_REASONS } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = [
  'drop-truncated',
  'drop-not-ipv4',
  'drop-bad-header-len',
  'drop-bad-total-len',
  'drop-bad-checksum',
  'drop-unknown-port',
  'drop-spoofed',
  'fragment',
  'drop-l4-truncated',
  'drop-l4-bad',
  'drop-unsupported-proto',
  'drop-too-big',
  'drop-ttl-exceeded',
  'icmp-frag-needed',
  'icmp-time-exceeded',
  'drop-no-buffer',
  'drop-source-route',
  'drop-bad-options',
  'icmp-rate-limited',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['ok', 'fragment', 'reply', 'drop', 'ipv6'] as const;
const X = exitIndex(EXITS);
const IP_DROP = verdictReasons(
  C,
  {
    [verdict.TRUNCATED]: 'drop-truncated',
    [verdict.BAD_VERSION]: 'drop-not-ipv4',
    [verdict.BAD_HEADER_LEN]: 'drop-bad-header-len',
    [verdict.BAD_TOTAL_LEN]: 'drop-bad-total-len',
  },
  'drop-bad-checksum',
);
const L4_DROP = verdictReasons(C, L4_REASONS.reasons, L4_REASONS.otherwise);

export class PodIngress implements Stage {
  readonly name = 'pod-ingress';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const c = this.counters.v;
    const count = n;
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.off[i]!;
      const len = b.len[i]!;
      b.l3[i] = o;
      b.flow[i] = -1;
      const r = ipv4.check(v, o, len, true);
      if (r !== verdict.OK) {
        // Version 6 on a node with an IPv6 side: to pod-ingress6 (decided off the IPv4 path, which pays nothing).
        if (r === verdict.BAD_VERSION && t.v6 !== null && v.getUint8(o) >>> 4 === 6) {
          b.next[i] = X.ipv6;
          continue;
        }
        b.next[i] = X.drop;
        c[IP_DROP[r]!]!++;
        continue;
      }
      // IHL 5 (no options, nearly every packet) is decided here without a call.
      const opts = (v.getUint8(o) & 0x0f) === 5 ? ipv4.OPTS_OK : ipv4.optionsCheck(v, o);
      if (opts !== ipv4.OPTS_OK) {
        b.next[i] = X.drop;
        c[opts === ipv4.OPTS_SOURCE_ROUTE ? C['drop-source-route'] : C['drop-bad-options']]!++;
        continue;
      }
      const port = b.port[i]!;
      const pod = port < t.podOfPort.length ? t.podOfPort[port]! : -1;
      if (pod < 0) {
        // The port of a pod with only an IPv6 address: no IPv4 source is its own.
        const t6 = t.v6;
        const only6 = t6 !== null && port < t6.podOfPort.length && t6.podOfPort[port]! >= 0;
        b.next[i] = X.drop;
        c[only6 ? C['drop-spoofed'] : C['drop-unknown-port']]!++;
        continue;
      }
      if (ipv4.src(v, o) !== t.podIp[pod]) {
        b.next[i] = X.drop;
        c[C['drop-spoofed']]!++;
        continue;
      }
      const tl = ipv4.totalLen(v, o);
      b.len[i] = tl; // drop trailing bytes beyond Total Length
      if (tl > t.podMtu) {
        if (ipv4.dontFrag(v, o))
          n = this.icmpError(b, sel, n, i, icmp.TYPE_DEST_UNREACH, icmp.CODE_FRAG_NEEDED, t.podMtu);
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      const frag = ipv4.isFragment(v, o);
      const l4r = frag ? 0 : checkL4(v, o);
      if (l4r !== 0) {
        b.next[i] = X.drop;
        c[L4_DROP[l4r]!]!++;
        continue;
      }
      if (ipv4.ttl(v, o) <= 1) {
        n = this.icmpError(b, sel, n, i, icmp.TYPE_TIME_EXCEEDED, icmp.CODE_TTL_EXCEEDED, 0);
        b.next[i] = X.drop;
        c[C['drop-ttl-exceeded']]!++;
        continue;
      }
      b.meta[i] = pod; // classify reads the sender's pod index here
      if (frag) {
        b.flow[i] = FRAG_FROM_POD;
        b.next[i] = X.fragment;
        c[C.fragment]!++;
        continue;
      }
      b.next[i] = X.ok;
    }
    return n;
  }

  /** Build an ICMP error about packet i in a new slot, addressed to the pod, and select it for `reply`. */
  private icmpError(b: Burst, sel: Int32Array, n: number, i: number, type: number, code: number, mtu: number): number {
    const v = this.st.v;
    const o = b.off[i]!;
    if (!icmp.errorAllowed(v, o)) return n;
    if (type === icmp.TYPE_TIME_EXCEEDED && !this.st.errorLimit.take(this.st.now)) {
      this.counters.v[C['icmp-rate-limited']]!++;
      return n;
    }
    const j = allocError(b, i, X.reply);
    if (j < 0) {
      this.counters.v[C['drop-no-buffer']]!++;
      return n;
    }
    const rest = type === icmp.TYPE_DEST_UNREACH ? icmp.restFragNeeded(mtu) : 0;
    b.len[j] = icmp.emitErrorPacket(v, b.off[j]!, this.st.tables.podGatewayIp, { type, code, rest }, v, o, b.len[i]!);
    b.oport[j] = b.port[i]!;
    this.counters.v[type === icmp.TYPE_DEST_UNREACH ? C['icmp-frag-needed'] : C['icmp-time-exceeded']]!++;
    sel[n] = j;
    return n + 1;
  }
}
