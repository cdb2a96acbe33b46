/**
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
 * Specification: docs/semantics.md §5 (Geneve as Antrea emits it), §4.b; RFC 8926. Cases:
 * test/stages/cases/geneve-encap.cases.ts.
 * Exits: `out` (to uplink-out, `b.l3` = the outer IPv4 header), `drop`, `underlay6` (the IPv6 underlay:
 * tunnel6-encap, `b.meta` = the peer's transport key).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { geneve, geneveAuth, ipv4 } from '../wire/index.js';
import type { DatapathTables } from './config.js';
import { flowHash } from './flow-hash.js';
import type { NodeState } from './state.js';
import { Int32Map } from './tables.js';

const NAMES = ['encapsulated', 'drop-too-big', 'drop-no-headroom'] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'drop', 'underlay6'] as const;
const X = exitIndex(EXITS);
const ZERO_MAC = new Uint8Array(6);

/**
 * The Geneve templates of one encap stage, one per outer destination (built on first use; cold path), rebuilt when
 * the tables change; the last destination's is kept at hand (a burst mostly goes to one destination).
 * `innerEthertype` is that of the inner Ethernet header (IPv4 here, IPv6 in geneve-encap6).
 */
export class TunnelTemplates {
  private byDst = new Int32Map();
  private templates: geneve.GeneveTemplate[] = [];
  private builtFor: DatapathTables | null = null;
  private lastDst = 0;
  private lastTpl: geneve.GeneveTemplate | null = null;

  constructor(
    private readonly st: NodeState,
    private readonly innerEthertype?: number,
  ) {}

  get(t: DatapathTables, dst: number): geneve.GeneveTemplate {
    if (this.builtFor !== t) {
      this.byDst = new Int32Map();
      this.templates = [];
      this.builtFor = t;
      this.lastTpl = null;
    }
    if (this.lastTpl !== null && dst === this.lastDst) return this.lastTpl;
    let k = this.byDst.get(dst, -1);
    if (k < 0) {
      k = this.templates.length;
      this.templates.push(
        geneve.buildTemplate({
          srcMac: t.mac,
          dstMac: ZERO_MAC,
          srcIp: t.nodeIp,
          dstIp: dst,
          vni: 0,
          ttl: 64,
          df: true,
          innerSrcMac: t.mac,
          ...(this.innerEthertype !== undefined ? { innerEthertype: this.innerEthertype } : {}),
          ...(this.st.tunnelAuth ? { options: geneveAuth.optionBytes(this.st.tunnelAuth.keyId), critical: true } : {}),
        }),
      );
      this.byDst.set(dst, k);
    }
    this.lastDst = dst;
    this.lastTpl = this.templates[k]!;
    return this.lastTpl;
  }
}

export class GeneveEncap implements Stage {
  readonly name = 'geneve-encap';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly templates: TunnelTemplates;

  constructor(private readonly st: NodeState) {
    this.templates = new TunnelTemplates(st);
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
      const len = ipv4.totalLen(v, o);
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
      const start = geneve.encap(v, o, len, tpl, geneve.flowSrcPort(flowHash(v, o)));
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
