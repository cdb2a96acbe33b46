/**
 * geneve-encap6: geneve-encap for a pod's IPv6 packet over the IPv4 underlay (docs/ipv6.md §2.d): the same
 * outer headers and templates, but an inner Ethernet header of type IPv6 (0x86dd), the size limit on the IPv6
 * packet, and the outer UDP source port from a hash of the IPv6 flow. What geneve-encap says follows.
 *
 * geneve-encap: wrap an IPv4 packet in outer Ethernet/IPv4/UDP/Geneve plus an inner Ethernet header, from a
 * precomputed template per outer destination (VPP's Geneve `rewrite`), docs/semantics.md §5: outer destination =
 * `b.meta[i]` (the Egress IP for a pod's Egress traffic, a node IP for pod-to-pod traffic and for replies to a
 * remote pod), outer source = this node's transport IP, VNI 0, no options, DF, TTL 64, UDP checksum 0, UDP
 * source port from a hash of the inner flow (Linux `udp_flow_src_port`), inner Ethernet src = the node MAC,
 * dst = Antrea's global virtual MAC, inner packet unchanged. The outer Ethernet destination is written by
 * uplink-out after neighbour resolution.
 * With tunnel authentication (docs/tunnel-auth.md) the template also carries the authentication option (24 bytes,
 * C bit set): per packet the next sequence number and the SipHash-2-4 tag are written into it, and the size limit
 * is the uplink MTU − 74.
 * On a node whose underlay is IPv6 (docs/ipv6.md §2.l) every packet goes on unchanged to tunnel6-encap.
 * Specification: docs/ipv6.md §2.d; docs/semantics.md §5 (Geneve as Antrea emits it), §4.b; RFC 8926. Cases:
 * test/stages/cases/geneve-encap6.cases.ts.
 * Exits: `out` (to uplink-out, `b.l3` = the outer IPv4 header), `drop`, `underlay6` (the IPv6 underlay:
 * tunnel6-encap, `b.meta` = the peer's transport key).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, geneve, geneveAuth, ipv6 } from '../wire/index.js';
import type { NodeState } from './state.js';
import { TunnelTemplates } from './geneve-encap.js';

const NAMES = ['encapsulated', 'drop-too-big', 'drop-no-headroom'] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'drop', 'underlay6'] as const;
const X = exitIndex(EXITS);

export class GeneveEncap6 implements Stage {
  readonly name = 'geneve-encap6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly templates: TunnelTemplates;

  constructor(private readonly st: NodeState) {
    this.templates = new TunnelTemplates(st, ethernet.ETHERTYPE_IPV6);
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const slab = st.slab;
    const c = this.counters.v;
    const auth = st.tunnelAuth;
    if (t.v6 !== null && t.v6.underlay) {
      for (let k = 0; k < n; k++) b.next[sel[k]!] = X.underlay6;
      return n;
    }
    const limit = t.uplinkMtu - st.tunnelOverhead;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const len = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
      if (len > limit) {
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      const tpl = this.templates.get(t, b.meta[i]!);
      if (o - tpl.len < slab.base(b.slot[i]!)) {
        b.next[i] = X.drop;
        c[C['drop-no-headroom']]!++;
        continue;
      }
      const start = geneve.encap(v, o, len, tpl, geneve.flowSrcPort(flowHash6(v, o)));
      if (auth !== null) {
        // outer IPv4 at start + 14, Geneve at + 42, the option right after its 8-byte base header
        geneveAuth.seal(auth.key, v, start + 14, start + 42, len + tpl.len - 42, start + 50, auth.seqHi, auth.seqLo);
        auth.next();
      }
      b.off[i] = start;
      b.len[i] = len + tpl.len;
      b.l3[i] = start + 14;
      b.next[i] = X.out;
      c[C.encapsulated]!++;
    }
    return n;
  }
}

/**
 * A stable hash of an IPv6 packet's flow for the outer source port: the two addresses, the Next Header and the
 * first word after the fixed header (the ports when there is no extension header), as `flowHash` for IPv4.
 */
export function flowHash6(v: DataView, o: number): number {
  let h = v.getInt32(o + 8) ^ Math.imul(v.getInt32(o + 12), 0x85ebca6b) ^ Math.imul(v.getInt32(o + 20), 0x27d4eb2f);
  h ^= Math.imul(v.getInt32(o + 24) ^ v.getInt32(o + 36), 0xc2b2ae35) ^ v.getUint8(o + 6);
  h ^= Math.imul(v.getInt32(o + 40), 0x165667b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}
