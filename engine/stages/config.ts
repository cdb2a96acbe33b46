/**
 * What the datapath of one node needs to know, and the typed tables compiled from it.
 *
 * `NodeDatapathConfig` is plain data (the agent derives it from the policy layer's compiled view and the
 * cluster's ownership). `DatapathTables` is what stages read per packet: int32 keys, typed arrays, built once
 * per change and swapped as one reference, so a round never sees half of an update.
 */
import { nameIndex } from '../graph/index.js';
import { maskInt32 } from '../policy/index.js';
import type { MeterConfig } from './meter.js';
import { Int32Map, PrefixTable } from './tables.js';
import { DatapathTables6, type NodeDatapathConfig6 } from './config6.js';

/**
 * What a pod's traffic to an external destination gets (`DatapathTables.podEgress`): `none`, no Egress, SNAT to
 * the node IP; `local`, its Egress IP is hosted on this node, SNAT to it here; `remote`, hosted elsewhere, Geneve
 * to the Egress IP.
 */
export const EGRESS_KINDS = ['none', 'local', 'remote'] as const;
const EGRESS = nameIndex(EGRESS_KINDS);
export const EGRESS_NONE = EGRESS.none;
export const EGRESS_LOCAL = EGRESS.local;
export const EGRESS_REMOTE = EGRESS.remote;

export interface Prefix {
  addr: number;
  len: number;
}

export interface PodConfig {
  /** `namespace/name`. */
  key: string;
  ip: number;
  /** Member index of the pod's port in the `pods` port group. */
  port: number;
  egress: typeof EGRESS_NONE | typeof EGRESS_LOCAL | typeof EGRESS_REMOTE;
  /** The effective Egress IP (0 when `egress` is EGRESS_NONE). */
  egressIp: number;
}

export interface PeerNode {
  name: string;
  ip: number;
  /** The node's pod CIDR, or null when it has none. */
  podCidr: Prefix | null;
}

export interface NodeDatapathConfig {
  nodeName: string;
  /** Transport IP of this node on the segment. */
  nodeIp: number;
  /** MAC of the uplink. */
  mac: Uint8Array;
  /** MTU of the uplink (IP packet size); pods get `uplinkMtu - 50` (− 74 with tunnel authentication). */
  uplinkMtu: number;
  /** The segment's subnet: destinations inside are resolved with ARP directly. */
  transport: Prefix;
  /** Default gateway on the segment for other destinations (0: none, such packets are counted drops). */
  gateway: number;
  /** Geneve UDP port (6081). */
  tunnelPort: number;
  /** This node's pod CIDR. */
  podCidr: Prefix | null;
  /** Local pods (hostNetwork pods excluded). */
  pods: readonly PodConfig[];
  /** Every node of the cluster, this one included. */
  nodes: readonly PeerNode[];
  /** Destinations never Egress-SNATed besides pod CIDRs and node IPs: service CIDR, exceptCIDRs. */
  bypass: readonly Prefix[];
  /** Egress IPs this node hosts now (answers ARP for them, SNATs to them, accepts Geneve for them). */
  egressIps: readonly number[];
  /** Per hosted Egress IP, a gateway other than the segment default (an ExternalIPPool's subnetInfo). */
  egressGateways?: ReadonlyMap<number, number>;
  /**
   * Per hosted Egress IP of a pool with `subnetInfo.vlan` ≠ 0: its subnet (gateway and prefix length) and VLAN.
   * Its frames leave 802.1Q-tagged, ARP for it and its next hops is on that VLAN, and destinations off its subnet
   * go through its gateway (docs/semantics.md §3.1).
   */
  egressVlans?: ReadonlyMap<number, EgressVlan>;
  /**
   * Egress IPs hosted on other nodes whose pool has a VLAN subnet, → the owner's node IP: Geneve to them goes
   * untagged to the owner's pinned MAC on the segment, not through a router (docs/semantics.md §3.1).
   */
  remoteEgressVia?: ReadonlyMap<number, number>;
  /** Per hosted Egress IP with `spec.bandwidth`: its rate meter (meter.ts; snat polices what leaves with it). */
  egressMeters?: ReadonlyMap<number, MeterConfig>;
  /** The IPv6 side of a dual-stack node (config6.ts); absent or null: IPv6 packets are counted drops. */
  v6?: NodeDatapathConfig6 | null;
}

/** The VLAN subnet of a hosted Egress IP (`NodeDatapathConfig.egressVlans`). */
export interface EgressVlan {
  /** VLAN id, 1..4094. */
  vlan: number;
  gateway: number;
  prefixLength: number;
}

/** Owned address kinds (`DatapathTables.owned` values; 0 is "not owned"). */
export const OWN_KINDS = ['none', 'node', 'egress'] as const;
const OWN = nameIndex(OWN_KINDS);
export const OWN_NODE = OWN.node;
export const OWN_EGRESS = OWN.egress;

/**
 * Destination classes of `DatapathTables.dstClass` (value = class << 24 | index), one longest-prefix lookup for
 * what classify needs: an address this node owns, a local pod, another node's pod CIDR, this node's pod CIDR
 * (no such pod), a bypass destination (other nodes' IPs, service CIDR, exceptCIDRs). A bypass prefix inside a
 * pod CIDR is left out: pod CIDRs are routed before Egress is considered (docs/semantics.md §4.0).
 */
export const DST_CLASSES = ['external', 'owned', 'local-pod', 'remote-cidr', 'own-cidr', 'bypass'] as const;
const DST = nameIndex(DST_CLASSES);
export const DST_OWNED = DST.owned;
export const DST_LOCAL_POD = DST['local-pod'];
export const DST_REMOTE_CIDR = DST['remote-cidr'];
export const DST_OWN_CIDR = DST['own-cidr'];
export const DST_BYPASS = DST.bypass;

export class DatapathTables {
  readonly generation: number;
  readonly nodeIp: number;
  readonly mac: Uint8Array;
  readonly uplinkMtu: number;
  readonly podMtu: number;
  readonly transportAddr: number;
  readonly transportMask: number;
  readonly gateway: number;
  readonly tunnelPort: number;
  /** Pod IP → local pod index. */
  readonly podByIp: Int32Map;
  /** Per local pod index: pod IP, port member, egress kind, egress IP. */
  readonly podIp: Int32Array;
  readonly podPort: Int32Array;
  readonly podEgress: Uint8Array;
  readonly podEgressIp: Int32Array;
  /** Port member → pod index (spoofguard reads it per packet). */
  readonly podOfPort: Int32Array;
  readonly podKeys: readonly string[];
  /** Pod CIDR → node index; node index → transport IP; whether it is this node. */
  readonly podCidrs: PrefixTable;
  readonly nodeIpOf: Int32Array;
  readonly nodeNames: readonly string[];
  readonly localNode: number;
  /** Transport IP → node index (Geneve peers). */
  readonly nodeByIp: Int32Map;
  /** Addresses this node owns now: node IP (OWN_NODE) and hosted Egress IPs (OWN_EGRESS). */
  readonly owned: Int32Map;
  /** The node IP is also a hosted Egress IP (a static Egress naming it, docs/semantics.md §4.b): Geneve to it is SNATed. */
  readonly nodeIpIsEgress: boolean;
  /** Egress IP → its gateway when it differs from the segment's. */
  readonly egressGateway: Int32Map;
  /** Hosted Egress IP on a VLAN → its index in `egressVid`, `egressVlanGw`, `egressNet`, `egressNetMask`. */
  readonly egressVlanSlot: Int32Map;
  /** Per VLAN Egress IP: VLAN id, gateway, subnet address and mask (compiled from `egressVlans`). */
  readonly egressVid: Uint16Array;
  readonly egressVlanGw: Int32Array;
  readonly egressNet: Int32Array;
  readonly egressNetMask: Int32Array;
  /** VLAN id → one Egress IP hosted on it (the sender address of ARP requests there); empty: no VLAN hosted. */
  readonly vlanSrc: Int32Map;
  /** Remote VLAN Egress IP → the node IP of its owner (Geneve next hop). */
  readonly remoteEgressVia: Int32Map;
  /** Egress IPs hosted elsewhere that local pods tunnel to (value 1): ARP for them is believed only from members. */
  readonly remoteEgress: Int32Map;
  /** Destination address → class << 24 | index (see DST_*); -1 for anything else (external). */
  readonly dstClass: PrefixTable;
  /** The pod gateway address (first address of this node's pod CIDR; the node IP without one): ICMP errors to pods come from it. */
  readonly podGatewayIp: number;
  /** The IPv6 tables (config6.ts), null on a node without an IPv6 side. */
  readonly v6: DatapathTables6 | null;

  /** `tunnelOverhead`: 50, or 74 with tunnel authentication (docs/tunnel-auth.md). */
  constructor(c: NodeDatapathConfig, generation: number, tunnelOverhead = 50) {
    this.generation = generation;
    this.nodeIp = c.nodeIp | 0;
    if (c.mac.length !== 6) throw new RangeError('datapath: MAC must be 6 bytes');
    this.mac = Uint8Array.from(c.mac);
    this.uplinkMtu = c.uplinkMtu;
    // The IPv6 underlay's outer header is 20 bytes longer (docs/ipv6.md §2.l; Antrea's ipv6ExtraOverhead).
    this.podMtu = c.uplinkMtu - tunnelOverhead - (c.v6?.underlay ? 20 : 0);
    this.transportMask = maskInt32(c.transport.len);
    this.transportAddr = c.transport.addr & this.transportMask;
    this.gateway = c.gateway | 0;
    this.tunnelPort = c.tunnelPort;

    const n = c.pods.length;
    this.podByIp = new Int32Map(n);
    this.podIp = new Int32Array(n);
    this.podPort = new Int32Array(n);
    this.podEgress = new Uint8Array(n);
    this.podEgressIp = new Int32Array(n);
    const maxPort = c.pods.reduce((m, p) => Math.max(m, p.port), -1);
    this.podOfPort = new Int32Array(maxPort + 1).fill(-1);
    c.pods.forEach((p, i) => {
      if (this.podByIp.has(p.ip | 0)) throw new Error(`datapath: two local pods with IP ${p.ip}`);
      this.podByIp.set(p.ip | 0, i);
      this.podIp[i] = p.ip | 0;
      this.podPort[i] = p.port;
      this.podEgress[i] = p.egress;
      this.podEgressIp[i] = p.egressIp | 0;
      this.podOfPort[p.port] = i;
    });
    this.podKeys = c.pods.map((p) => p.key);
    this.remoteEgress = new Int32Map();
    for (const p of c.pods)
      if (p.egress === EGRESS_REMOTE && p.egressIp !== 0) this.remoteEgress.set(p.egressIp | 0, 1);

    this.nodeNames = c.nodes.map((x) => x.name);
    this.nodeIpOf = Int32Array.from(c.nodes.map((x) => x.ip | 0));
    this.localNode = c.nodes.findIndex((x) => x.name === c.nodeName);
    if (this.localNode < 0) throw new Error(`datapath: node ${c.nodeName} is not in the node list`);
    this.nodeByIp = new Int32Map(c.nodes.length);
    c.nodes.forEach((x, i) => this.nodeByIp.set(x.ip | 0, i));
    this.podCidrs = new PrefixTable(
      c.nodes.flatMap((x, i) => (x.podCidr ? [[x.podCidr.addr, x.podCidr.len, i] as const] : [])),
    );
    this.owned = new Int32Map(4 + c.egressIps.length);
    for (const ip of c.egressIps) this.owned.set(ip | 0, OWN_EGRESS);
    this.owned.set(this.nodeIp, OWN_NODE);
    this.nodeIpIsEgress = c.egressIps.some((ip) => (ip | 0) === this.nodeIp);
    this.podGatewayIp = c.podCidr ? ((c.podCidr.addr & maskInt32(c.podCidr.len)) + 1) | 0 : this.nodeIp;
    this.egressGateway = new Int32Map();
    for (const [ip, gw] of c.egressGateways ?? []) this.egressGateway.set(ip | 0, gw | 0);
    const vlans = [...(c.egressVlans ?? [])].filter(
      ([ip, x]) => x.vlan > 0 && this.owned.get(ip | 0, 0) === OWN_EGRESS,
    );
    this.egressVlanSlot = new Int32Map(vlans.length);
    this.egressVid = new Uint16Array(vlans.length);
    this.egressVlanGw = new Int32Array(vlans.length);
    this.egressNet = new Int32Array(vlans.length);
    this.egressNetMask = new Int32Array(vlans.length);
    this.vlanSrc = new Int32Map(vlans.length);
    vlans.forEach(([ip, x], k) => {
      if (x.vlan > 4094) throw new RangeError(`datapath: VLAN ${x.vlan} out of range 1..4094`);
      const m = maskInt32(x.prefixLength);
      this.egressVlanSlot.set(ip | 0, k);
      this.egressVid[k] = x.vlan;
      this.egressVlanGw[k] = x.gateway | 0;
      this.egressNet[k] = x.gateway & m;
      this.egressNetMask[k] = m;
      if (this.vlanSrc.get(x.vlan, 0) === 0) this.vlanSrc.set(x.vlan, ip | 0);
    });
    this.remoteEgressVia = new Int32Map();
    for (const [ip, via] of c.remoteEgressVia ?? []) this.remoteEgressVia.set(ip | 0, via | 0);
    // Later entries replace earlier ones of the same prefix: bypass < pod CIDRs < local pods < owned.
    const cls: Array<readonly [number, number, number]> = [];
    const cidrs = c.nodes.flatMap((x) => (x.podCidr ? [x.podCidr] : []));
    const insideCidr = (p: Prefix) => cidrs.some((q) => q.len <= p.len && ((p.addr ^ q.addr) & maskInt32(q.len)) === 0);
    const bypass: Prefix[] = [...c.nodes.map((x) => ({ addr: x.ip, len: 32 })), ...c.bypass];
    for (const p of bypass) if (!insideCidr(p)) cls.push([p.addr, p.len, DST_BYPASS << 24]);
    c.nodes.forEach((x, i) => {
      if (x.podCidr)
        cls.push([x.podCidr.addr, x.podCidr.len, ((i === this.localNode ? DST_OWN_CIDR : DST_REMOTE_CIDR) << 24) | i]);
    });
    c.pods.forEach((p, i) => cls.push([p.ip, 32, (DST_LOCAL_POD << 24) | i]));
    for (const [ip, kind] of this.owned.entries()) cls.push([ip, 32, (DST_OWNED << 24) | kind]);
    this.dstClass = new PrefixTable(cls);
    this.v6 = c.v6 ? new DatapathTables6(c.v6, this.nodeIp, this.podOfPort.length) : null;
  }

  /** VLAN id of an address this node owns: the VLAN of a hosted Egress IP on one, else 0 (cold path). */
  vlanOf(ip: number): number {
    const k = this.egressVlanSlot.size > 0 ? this.egressVlanSlot.get(ip | 0, -1) : -1;
    return k < 0 ? 0 : this.egressVid[k]!;
  }

  /** True when `ip` is on the segment (resolved with ARP directly). */
  onSegment(ip: number): boolean {
    return (ip & this.transportMask) === this.transportAddr;
  }
}
