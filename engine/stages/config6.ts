/**
 * The IPv6 side of a node's datapath configuration (docs/ipv6.md): plain data with addresses as text
 * (`NodeDatapathConfig6`, the agent derives it from the policy view's `v6`), and the tables the IPv6 stages read
 * per packet (`DatapathTables6`), compiled once per change with 128-bit keys (tables6.ts). The classes and kinds
 * are those of the IPv4 tables (config.ts), so the IPv6 stages branch the same way.
 */
import { DST_BYPASS, DST_LOCAL_POD, DST_OWN_CIDR, DST_OWNED, DST_REMOTE_CIDR, OWN_EGRESS, OWN_NODE } from './config.js';
import { EGRESS_LOCAL, EGRESS_REMOTE, type EGRESS_NONE } from './config.js';
import { Int32Map } from './tables.js';
import { Ip6Map, maskWord6, parsePrefix6, Prefix6Table, words6 } from './tables6.js';

export interface PodConfig6 {
  /** `namespace/name` (the same pod as a `PodConfig` of the IPv4 side). */
  key: string;
  /** The pod's IPv6 address (text). */
  ip: string;
  /** Member index of the pod's port in the `pods` port group (the pod's one TUN carries both families). */
  port: number;
  egress: typeof EGRESS_NONE | typeof EGRESS_LOCAL | typeof EGRESS_REMOTE;
  /** The effective IPv6 egress IP, null with EGRESS_NONE. */
  egressIp: string | null;
  /**
   * With EGRESS_REMOTE: the (IPv4) transport IP of the node hosting the egress IP, the outer destination of the
   * Geneve packet (an IPv6 egress IP cannot be the outer destination over the IPv4 underlay); else 0.
   */
  egressNodeIp: number;
}

export interface PodCidr6 {
  cidr: string;
  /** The node's (IPv4) transport IP: the Geneve peer for that CIDR. */
  nodeIp: number;
}

/** A neighbour on the segment known without NDP: a pinned entry of the IPv6 neighbour table (neighbor6.ts). */
export interface StaticNeighbor6 {
  ip: string;
  mac: Uint8Array;
}

export interface NodeDatapathConfig6 {
  /** This node's IPv6 address (what IPv6 traffic without an Egress masquerades to), null for none. */
  nodeIp: string | null;
  /** Local pods with an IPv6 address. */
  pods: readonly PodConfig6[];
  /** Every node's IPv6 pod CIDR, this node's included (its nodeIp is this node's transport IP). */
  podCidrs: readonly PodCidr6[];
  /** Every node's IPv6 address (bypass destinations). */
  nodeIps: readonly string[];
  /** serviceCIDRv6, IPv6 exceptCIDRs. */
  bypass: readonly string[];
  /** IPv6 egress IPs hosted here now. */
  egressIps: readonly string[];
  /** Pods of other nodes whose IPv6 Egress is hosted here (tunnelled to this node: SNATed to `egressIp`). */
  remotePods: readonly { ip: string; egressIp: string }[];
  /** The segment's IPv6 router for destinations off the segment that are no static neighbour, null for none. */
  gateway: string | null;
  /** Neighbours known without NDP (pinned: NDP never changes them). */
  neighbors: readonly StaticNeighbor6[];
  /**
   * The segment's on-link IPv6 prefix (`addr/len`): destinations in it are resolved with NDP directly, others go
   * to `gateway`. Absent or null: only static neighbours are on-link.
   */
  segment?: string | null;
  /**
   * The IPv6 underlay (docs/ipv6.md §2.l) of a cluster whose nodes have only IPv6 transport addresses: this node's
   * transport address and every node's (this one included), each with its 32-bit transport key (`PeerNode.ip`,
   * what membership, peer pins and the tunnel windows know a node by). Absent or null: the underlay is IPv4.
   */
  underlay?: Underlay6Config | null;
}

/** Transport addresses of an IPv6 underlay (`NodeDatapathConfig6.underlay`). */
export interface Underlay6Config {
  self: string;
  nodes: readonly { key: number; ip: string }[];
}

/**
 * The 32-bit stand-in of an IPv6 address in the IPv6 connection table (ct6.ts): the words mixed so that
 * addresses differing in any bit rarely share it. The table keeps the full addresses beside each record and
 * every hit is checked against them, so two addresses sharing a stand-in are a counted drop, never a mix-up.
 */
export function fold6(a0: number, a1: number, a2: number, a3: number): number {
  let h = Math.imul(a0 ^ (a0 >>> 16), 0x7feb352d);
  h = Math.imul(h ^ a1 ^ (a1 >>> 15), 0x846ca68b);
  h = Math.imul(h ^ a2 ^ (a2 >>> 16), 0x7feb352d);
  h = Math.imul(h ^ a3 ^ (a3 >>> 15), 0x846ca68b);
  return h ^ (h >>> 16);
}

function must6(text: string, what: string): [number, number, number, number] {
  const w = words6(text);
  if (!w) throw new Error(`datapath: ${what} ${text} is not an IPv6 address`);
  return w;
}

export class DatapathTables6 {
  /** This node's IPv6 address as words; `hasNodeIp` false when it has none (all zero). */
  readonly nodeIp: Int32Array;
  readonly hasNodeIp: boolean;
  /** Per IPv6 pod index: address (4 words each), port member, egress kind, egress IP (4 words each). */
  readonly podIp: Int32Array;
  readonly podPort: Int32Array;
  readonly podEgress: Uint8Array;
  readonly podEgressIp: Int32Array;
  readonly podKeys: readonly string[];
  /** Port member → IPv6 pod index (-1: the pod has no IPv6 address). */
  readonly podOfPort: Int32Array;
  readonly podByIp: Ip6Map;
  /** Per pod CIDR index: the node's transport IP. */
  readonly cidrNodeIp: Int32Array;
  /** Destination → class << 24 | index (DST_* of config.ts), -1 for external. */
  readonly dstClass: Prefix6Table;
  /** Owned addresses (OWN_NODE, OWN_EGRESS). */
  readonly owned: Ip6Map;
  /** Hosted egress IPs and the node address by their stand-in (`fold6`) → index into `ownedIp`. */
  readonly ownedByFold: Int32Map;
  readonly ownedIp: Int32Array;
  /** `fold6` of each `ownedIp` entry. */
  readonly ownedFold: Int32Array;
  /** Index of the node's IPv6 address in `ownedIp`, -1 without one. */
  readonly nodeOwned: number;
  /** Per IPv6 pod: with EGRESS_LOCAL, the index of its egress IP in `ownedIp` (else -1). */
  readonly podNat: Int32Array;
  /** Per IPv6 pod: with EGRESS_REMOTE, the Geneve outer destination (`egressNodeIp`). */
  readonly podEgressOuter: Int32Array;
  /** A remote pod whose IPv6 Egress is hosted here → the index of its egress IP in `ownedIp`. */
  readonly remoteNat: Ip6Map;
  /** Static neighbours: address → index into `neighMacHi`/`neighMacLo`. */
  readonly neigh: Ip6Map;
  readonly neighMacHi: Int32Array;
  readonly neighMacLo: Int32Array;
  /** Static neighbours' addresses, four words each. */
  readonly neighIp: Int32Array;
  readonly gateway: Int32Array;
  readonly hasGateway: boolean;
  /** The underlay is IPv6 (docs/ipv6.md §2.l): Geneve and heartbeats go over IPv6 between transport addresses. */
  readonly underlay: boolean;
  /** This node's IPv6 transport address (4 words; zero without an IPv6 underlay). */
  readonly transportIp: Int32Array;
  /** A node's IPv6 transport address → its transport key; its key → its index in `transportAddr` (4 words each). */
  readonly transportKeyOf: Ip6Map;
  readonly transportIndex: Int32Map;
  readonly transportAddr: Int32Array;
  /** The on-link prefix (masked words and the mask), `hasSegment` false without one. */
  readonly segment: Int32Array;
  readonly segmentMask: Int32Array;
  readonly hasSegment: boolean;
  /**
   * Where the ICMPv6 errors the node sends its local pods come from (docs/ipv6.md §2.k): the first address of
   * this node's IPv6 pod CIDR (the pod gateway, as `podGatewayIp` for IPv4 and Antrea's antrea-gw0), else the
   * node's IPv6 address, else fe80::1 (a TUN is a link of its own: a link-local source reaches the pod).
   */
  readonly podGatewayIp: Uint8Array;

  /** `ports`: port-group size (largest member + 1) of the IPv4 side, so `podOfPort` covers every member. */
  constructor(c: NodeDatapathConfig6, localNodeIp: number, ports: number) {
    const n6 = c.nodeIp ? must6(c.nodeIp, 'node IPv6 address') : null;
    this.nodeIp = Int32Array.from(n6 ?? [0, 0, 0, 0]);
    this.hasNodeIp = n6 !== null;
    const n = c.pods.length;
    this.podIp = new Int32Array(n * 4);
    this.podPort = new Int32Array(n);
    this.podEgress = new Uint8Array(n);
    this.podEgressIp = new Int32Array(n * 4);
    this.podKeys = c.pods.map((p) => p.key);
    const maxPort = c.pods.reduce((m, p) => Math.max(m, p.port), ports - 1);
    this.podOfPort = new Int32Array(maxPort + 1).fill(-1);
    this.podByIp = new Ip6Map(n);
    c.pods.forEach((p, i) => {
      const w = must6(p.ip, `pod ${p.key} address`);
      if (this.podByIp.get(...w) >= 0) throw new Error(`datapath: two local pods with IPv6 address ${p.ip}`);
      this.podByIp.set(...w, i);
      this.podIp.set(w, i * 4);
      this.podPort[i] = p.port;
      this.podEgress[i] = p.egress;
      if (p.egressIp !== null) this.podEgressIp.set(must6(p.egressIp, `pod ${p.key} egress IP`), i * 4);
      this.podOfPort[p.port] = i;
    });

    const owned: Array<[number, number, number, number]> = [];
    this.owned = new Ip6Map(c.egressIps.length + 1);
    for (const e of c.egressIps) {
      const w = must6(e, 'egress IP');
      this.owned.set(...w, OWN_EGRESS);
      owned.push(w);
    }
    if (n6) {
      this.owned.set(...n6, OWN_NODE);
      owned.push(n6);
    }
    this.ownedIp = new Int32Array(owned.length * 4);
    this.ownedFold = new Int32Array(owned.length);
    this.nodeOwned = n6 ? owned.length - 1 : -1;
    this.ownedByFold = new Int32Map(owned.length);
    owned.forEach((w, i) => {
      this.ownedIp.set(w, i * 4);
      const f = fold6(...w);
      this.ownedFold[i] = f;
      const j = this.ownedByFold.get(f, -1);
      if (j >= 0 && !w.every((x, k) => this.ownedIp[j * 4 + k] === x))
        throw new Error('datapath: two owned IPv6 addresses share a connection-table stand-in');
      this.ownedByFold.set(f, i);
    });

    this.podNat = new Int32Array(n).fill(-1);
    this.podEgressOuter = new Int32Array(n);
    c.pods.forEach((p, i) => {
      if (p.egress === EGRESS_LOCAL && p.egressIp !== null) {
        const w = must6(p.egressIp, `pod ${p.key} egress IP`);
        const j = owned.findIndex((x) => x.every((y, q) => y === w[q]));
        if (j < 0) throw new Error(`datapath: pod ${p.key}'s egress IP ${p.egressIp} is not hosted here`);
        this.podNat[i] = j;
      }
      if (p.egress === EGRESS_REMOTE) this.podEgressOuter[i] = p.egressNodeIp | 0;
    });

    this.remoteNat = new Ip6Map(c.remotePods.length);
    for (const r of c.remotePods) {
      const w = must6(r.egressIp, `remote pod ${r.ip} egress IP`);
      const j = owned.findIndex((x) => x.every((y, q) => y === w[q]));
      if (j >= 0) this.remoteNat.set(...must6(r.ip, 'remote pod'), j);
    }

    // Later entries replace earlier ones of the same prefix: bypass < pod CIDRs < local pods < owned.
    const cls: Array<readonly [readonly number[], number, number]> = [];
    const cidrs = c.podCidrs.map((p) => {
      const q = parsePrefix6(p.cidr);
      if (!q) throw new Error(`datapath: ${p.cidr} is not an IPv6 CIDR`);
      return q;
    });
    for (const b of [...c.nodeIps.map((x) => `${x}/128`), ...c.bypass]) {
      const q = parsePrefix6(b);
      if (!q) throw new Error(`datapath: ${b} is not an IPv6 CIDR`);
      const inside = cidrs.some(
        (p) => p.len <= q.len && q.w.every((x, k) => ((x ^ p.w[k]!) & maskWord6(p.len, k)) === 0),
      );
      if (!inside) cls.push([q.w, q.len, DST_BYPASS << 24]);
    }
    this.cidrNodeIp = Int32Array.from(c.podCidrs.map((p) => p.nodeIp | 0));
    cidrs.forEach((q, i) =>
      cls.push([
        q.w,
        q.len,
        (((c.podCidrs[i]!.nodeIp | 0) === (localNodeIp | 0) ? DST_OWN_CIDR : DST_REMOTE_CIDR) << 24) | i,
      ]),
    );
    c.pods.forEach((_, i) => cls.push([[...this.podIp.subarray(i * 4, i * 4 + 4)], 128, (DST_LOCAL_POD << 24) | i]));
    for (const w of c.egressIps.map((e) => must6(e, 'egress IP'))) cls.push([w, 128, (DST_OWNED << 24) | OWN_EGRESS]);
    if (n6) cls.push([n6, 128, (DST_OWNED << 24) | OWN_NODE]);
    this.dstClass = new Prefix6Table(cls);

    this.neigh = new Ip6Map(c.neighbors.length);
    this.neighMacHi = new Int32Array(c.neighbors.length);
    this.neighMacLo = new Int32Array(c.neighbors.length);
    this.neighIp = new Int32Array(c.neighbors.length * 4);
    c.neighbors.forEach((x, i) => {
      if (x.mac.length !== 6) throw new RangeError('datapath: MAC must be 6 bytes');
      const w = must6(x.ip, 'neighbour');
      this.neigh.set(...w, i);
      this.neighIp.set(w, i * 4);
      this.neighMacHi[i] = (x.mac[0]! << 8) | x.mac[1]!;
      this.neighMacLo[i] = (x.mac[2]! << 24) | (x.mac[3]! << 16) | (x.mac[4]! << 8) | x.mac[5]!;
    });
    const g = c.gateway ? must6(c.gateway, 'gateway') : null;
    this.gateway = Int32Array.from(g ?? [0, 0, 0, 0]);
    this.hasGateway = g !== null;
    const u = c.underlay ?? null;
    this.underlay = u !== null;
    this.transportIp = Int32Array.from(u ? must6(u.self, 'transport address') : [0, 0, 0, 0]);
    const un = u?.nodes ?? [];
    this.transportKeyOf = new Ip6Map(un.length);
    this.transportIndex = new Int32Map(un.length);
    this.transportAddr = new Int32Array(un.length * 4);
    un.forEach((x, i) => {
      const w = must6(x.ip, 'transport address');
      if (this.transportKeyOf.get(...w, 0) !== 0 || this.transportIndex.has(x.key | 0) || (x.key | 0) === 0)
        throw new Error(`datapath: two nodes with IPv6 transport address ${x.ip} or key ${x.key}`);
      this.transportKeyOf.set(...w, x.key | 0);
      this.transportIndex.set(x.key | 0, i);
      this.transportAddr.set(w, i * 4);
    });
    const seg = c.segment ? parsePrefix6(c.segment) : null;
    if (c.segment && !seg) throw new Error(`datapath: segment ${c.segment} is not an IPv6 CIDR`);
    this.segment = Int32Array.from(seg?.w ?? [0, 0, 0, 0]);
    this.segmentMask = Int32Array.from([0, 1, 2, 3].map((w) => (seg ? maskWord6(seg.len, w) : 0)));
    this.hasSegment = seg !== null;
    const own = cidrs.find((_, i) => (c.podCidrs[i]!.nodeIp | 0) === (localNodeIp | 0));
    const gw = own ? [own.w[0]!, own.w[1]!, own.w[2]!, (own.w[3]! + 1) | 0] : (n6 ?? [0xfe800000 | 0, 0, 0, 1]);
    this.podGatewayIp = new Uint8Array(16);
    const gv = new DataView(this.podGatewayIp.buffer);
    gw.forEach((x, k) => gv.setInt32(k * 4, x));
  }

  /** True when the address is in the on-link prefix. */
  onSegment(a0: number, a1: number, a2: number, a3: number): boolean {
    const s = this.segment;
    const m = this.segmentMask;
    return (
      this.hasSegment &&
      (a0 & m[0]!) === s[0] &&
      (a1 & m[1]!) === s[1] &&
      (a2 & m[2]!) === s[2] &&
      (a3 & m[3]!) === s[3]
    );
  }
}
