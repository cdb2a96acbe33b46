/**
 * tunnel6-encap: Geneve over the IPv6 underlay (docs/ipv6.md §2.l), for nodes whose transport addresses are IPv6.
 * geneve-encap and geneve-encap6 hand a packet here, unchanged, when the node's underlay is IPv6; `b.meta` is the
 * outer destination as they know it, a node's 32-bit transport key. The packet (IPv4 or IPv6, by its version)
 * gets outer Ethernet/IPv6/UDP 6081/Geneve from a template per peer and inner family (geneve.buildTemplate6): the
 * outer source is this node's IPv6 transport address, the destination that peer's, Hop Limit 64, traffic class
 * and flow label 0, VNI 0, the inner Ethernet header as over IPv4, the UDP source port from the inner flow's hash
 * as geneve-encap's, and the UDP checksum computed (RFC 8200 §8.1; docs/ipv6.md §2.l says why no zero checksum).
 * With tunnel authentication the option is sealed over the IPv6 addresses (geneveAuth.seal6) and the checksum
 * computed after it. The size limit is the uplink MTU − 70 (− 94 with authentication). A destination that is no
 * member with an IPv6 transport address (an IPv4 Egress IP hosted elsewhere: not carried over an IPv6 underlay
 * yet) is `drop-no-peer`.
 * It goes on to uplink-out6, which resolves the next hop in the IPv6 neighbour table (a member's address is
 * pinned from its heartbeats, never solicited). An IPv4 packet's connection reference (`b.flow`, a reply of a
 * confirmed connection of the IPv4 table) is cleared: uplink-out6 confirms in the IPv6 one.
 * Specification: docs/ipv6.md §2.l; docs/semantics.md §5 (Geneve as Antrea emits it); RFC 8926, RFC 8200 §8.1.
 * Cases: test/stages/cases/tunnel6-encap.cases.ts.
 * Exits: `out` (to uplink-out6, `b.l3` = the outer IPv6 header, `b.meta` = the peer's key), `drop`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, geneve, geneveAuth, ipv4, ipv6, udp } from '../wire/index.js';
import type { DatapathTables } from './config.js';
import { flowHash } from './flow-hash.js';
import { flowHash6 } from './geneve-encap6.js';
import type { NodeState } from './state.js';
import { Int32Map } from './tables.js';

const NAMES = ['encapsulated', 'drop-no-peer', 'drop-too-big', 'drop-no-headroom'] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'drop'] as const;
const X = exitIndex(EXITS);
const ZERO_MAC = new Uint8Array(6);
/** The outer IPv6 header is 20 bytes longer than the IPv4 one. */
const EXTRA6 = geneve.OVERHEAD6 - geneve.OVERHEAD;

/** Templates over IPv6, one per (peer key, inner family), rebuilt when the tables change (cold path). */
class Templates6 {
  private by4 = new Int32Map();
  private by6 = new Int32Map();
  private list: geneve.GeneveTemplate6[] = [];
  private builtFor: DatapathTables | null = null;
  /** The last template returned and its peer and family: a burst mostly goes to one peer (as TunnelTemplates). */
  private lastKey = 0;
  private last6 = false;
  private lastTpl: geneve.GeneveTemplate6 | null = null;

  constructor(private readonly st: NodeState) {}

  /** The template to peer `key` for an inner packet of IPv6 (`inner6`) or IPv4, or null when `key` is no peer. */
  get(t: DatapathTables, key: number, inner6: boolean): geneve.GeneveTemplate6 | null {
    if (this.builtFor !== t) {
      this.by4 = new Int32Map();
      this.by6 = new Int32Map();
      this.list = [];
      this.builtFor = t;
      this.lastTpl = null;
    }
    if (this.lastTpl !== null && key === this.lastKey && inner6 === this.last6) return this.lastTpl;
    const map = inner6 ? this.by6 : this.by4;
    let k = map.get(key, -1);
    if (k >= 0) return this.remember(key, inner6, this.list[k]!);
    const t6 = t.v6;
    const e = t6 === null ? -1 : t6.transportIndex.get(key, -1);
    if (t6 === null || e < 0 || key === t.nodeIp) return null;
    const bytes = (w: Int32Array, at: number) => {
      const out = new Uint8Array(16);
      const dv = new DataView(out.buffer);
      for (let q = 0; q < 4; q++) dv.setInt32(q * 4, w[at + q]!);
      return out;
    };
    k = this.list.length;
    this.list.push(
      geneve.buildTemplate6({
        srcMac: t.mac,
        dstMac: ZERO_MAC,
        srcIp: bytes(t6.transportIp, 0),
        dstIp: bytes(t6.transportAddr, e * 4),
        vni: 0,
        hopLimit: 64,
        innerSrcMac: t.mac,
        innerEthertype: inner6 ? ethernet.ETHERTYPE_IPV6 : ethernet.ETHERTYPE_IPV4,
        ...(this.st.tunnelAuth ? { options: geneveAuth.optionBytes(this.st.tunnelAuth.keyId), critical: true } : {}),
      }),
    );
    map.set(key, k);
    return this.remember(key, inner6, this.list[k]!);
  }

  private remember(key: number, inner6: boolean, tpl: geneve.GeneveTemplate6): geneve.GeneveTemplate6 {
    this.lastKey = key;
    this.last6 = inner6;
    this.lastTpl = tpl;
    return tpl;
  }
}

export class Tunnel6Encap implements Stage {
  readonly name = 'tunnel6-encap';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly templates: Templates6;

  constructor(private readonly st: NodeState) {
    this.templates = new Templates6(st);
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const slab = st.slab;
    const c = this.counters.v;
    const auth = st.tunnelAuth;
    const limit = t.uplinkMtu - st.tunnelOverhead - EXTRA6;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const inner6 = v.getUint8(o) >>> 4 === 6;
      const len = inner6 ? ipv6.HEADER_LEN + ipv6.payloadLen(v, o) : ipv4.totalLen(v, o);
      const key = b.meta[i]!;
      const tpl = this.templates.get(t, key, inner6);
      if (tpl === null) {
        b.next[i] = X.drop;
        c[C['drop-no-peer']]!++;
        continue;
      }
      if (len > limit) {
        b.next[i] = X.drop;
        c[C['drop-too-big']]!++;
        continue;
      }
      if (o - tpl.len < slab.base(b.slot[i]!)) {
        b.next[i] = X.drop;
        c[C['drop-no-headroom']]!++;
        continue;
      }
      const port = geneve.flowSrcPort(inner6 ? flowHash6(v, o) : flowHash(v, o));
      const start = geneve.encap6(v, o, len, tpl, port);
      if (auth !== null) {
        const g = start + geneve.OUTER6_GENEVE;
        geneveAuth.seal6(
          auth.key,
          v,
          start + geneve.OUTER6_IP,
          g,
          len + tpl.len - geneve.OUTER6_GENEVE,
          g + 8,
          auth.seqHi,
          auth.seqLo,
        );
        auth.next();
        udp.fillChecksum6(v, start + geneve.OUTER6_IP, start + geneve.OUTER6_UDP);
      }
      b.off[i] = start;
      b.len[i] = len + tpl.len;
      b.l3[i] = start + geneve.OUTER6_IP;
      if (!inner6) b.flow[i] = -1;
      b.next[i] = X.out;
      c[C.encapsulated]!++;
    }
    return n;
  }
}
