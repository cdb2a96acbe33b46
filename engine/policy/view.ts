/**
 * The compiled policy view one Node's datapath reads (docs/architecture.md §3 "Policy view for the datapath").
 *
 * Built once per control-plane change from (state, Node name, that Node's membership view, the schedule) and never
 * mutated: a change builds a new view, and the datapath swaps one reference — "swapped atomically". Plain objects
 * and arrays are frozen; typed arrays and Maps cannot be, and must not be written to by readers.
 *
 * IPv4 addresses are int32 (`x | 0`), prefixes `{addr, len, mask}` with int32 `addr` (masked) and `mask`, so a hot
 * path can test `(ip & mask) === addr` without allocating. `bypassTable` / `podCidrTable` (PrefixTable) answer
 * "which prefix contains this address" with one Map probe per distinct prefix length; the typed-array forms
 * (`bypassAddr`/`bypassMask`, `podCidrAddr`/`podCidrMask`/`podCidrNodeIp`) hold the same data for plain loops.
 *
 * Contents (docs/semantics.md §4):
 * - `node`: this Node (transport IP, pod CIDR, MTUs, tunnel port, SNAT port mode, segment, gateway, service CIDR);
 * - `localPods`: Pods on this Node (hostNetwork Pods and Pods without an IPv4 address excluded) with their effective
 *   egress IP (0 = leave with the Node IP), the Egress's name, whether the IP is hosted here (local SNAT) or on
 *   `egressNode` (Geneve to the egress IP), the alternatives and, for selected Pods without a usable Egress, why;
 * - `podCidrs`: every Node's pod CIDR → Node and its transport IP (pod-to-pod routing);
 * - `nodeIps`: every Node's transport IP, sorted;
 * - `bypass`: destinations never Egress-SNATed (§4.d): every pod CIDR, every Node IP, the service CIDR, exceptCIDRs;
 * - `localEgressIps`: egress IPs this Node hosts now (answer ARP, SNAT, accept Geneve for them), with the Egresses
 *   using each and the pool's subnetInfo; `egressIpOwner`: every placed egress IP → Node (informational);
 * - `v6`: the IPv6 side of a dual-stack Node (docs/ipv6.md): this Node's IPv6 address and pod CIDR, local Pods'
 *   IPv6 addresses with their IPv6 Egress (an Egress whose egressIP is IPv6, chosen per family as Antrea does),
 *   every Node's IPv6 pod CIDR, the IPv6 bypass prefixes and the IPv6 egress IPs hosted here. Addresses are
 *   canonical text (RFC 5952): the datapath compiles them into 128-bit table keys (engine/stages/config6.ts);
 * - `generation` (+1 per change) and `hash` (SHA-256 of the content, stable across processes).
 */
import { createHash } from 'node:crypto';
import { resolveConfig } from './config.js';
import { placements, podEgress } from './effective.js';
import type { Placement } from './effective.js';
import { formatIP, formatIPv4, ipv4ToInt32, maskInt32, parseCIDR, parseIP, parsePrefix4 } from './ip.js';
import type { Prefix4 } from './ip.js';
import {
  cmp,
  egressesOldestFirst,
  nodeIPv6,
  nodePodCIDR,
  nodePodCIDRv6,
  nodeTransportIPv6,
  nodeTransportKey,
  podIPv4,
  podIPv6,
} from './model.js';
import type { ClusterState } from './model.js';
import { METER_MAX_KBIT, quantityKbit } from './quantity.js';
import { schedule } from './scheduler.js';
import type { Schedule } from './scheduler.js';

export interface SubnetInfo4 {
  readonly gateway: number;
  readonly prefixLength: number;
  readonly vlan: number;
}

export interface ViewNode {
  readonly name: string;
  /** The Node's transport key (`nodeTransportKey`): its IPv4 transport address, or the key of an IPv6 one. */
  readonly transportIp: number;
  /** The Node's IPv6 transport address (docs/ipv6.md §2.l), null when its transport address is IPv4. */
  readonly transportIp6: string | null;
  readonly podCidr: Prefix4 | null;
  /** Transport (uplink) MTU. */
  readonly mtu: number;
  /** Pod interface MTU (transport MTU − 50 unless configured). */
  readonly podMtu: number;
  readonly tunnelPort: number;
  readonly snatFullyRandomPorts: boolean;
  readonly transportCidr: Prefix4 | null;
  readonly defaultGateway: number | null;
  readonly serviceCidr: Prefix4 | null;
}

export interface LocalPod {
  /** `namespace/name`. */
  readonly key: string;
  readonly ip: number;
  /** Effective egress IP, 0 when the Pod leaves with the Node IP. */
  readonly egressIp: number;
  readonly egressName: string | null;
  /** The egress IP is hosted on this Node (SNAT here) rather than on `egressNode` (tunnel to the egress IP). */
  readonly egressLocal: boolean;
  readonly egressNode: string | null;
  /** Other Egresses selecting the Pod (oldest first). */
  readonly alternatives: readonly string[];
  /** Why a selected Pod has no egress IP (Node SNAT fallback), else null. */
  readonly fallback: string | null;
}

export interface PodCidrRoute extends Prefix4 {
  readonly node: string;
  readonly nodeIp: number;
  readonly local: boolean;
}

/** Rate limit of an egress IP (docs/semantics.md §4.g): kbit/s, as Antrea's meter (`Quantity.Value() / 1000`). */
export interface Bandwidth4 {
  readonly rateKbps: number;
  readonly burstKbps: number;
}

export interface LocalEgressIp {
  readonly ip: number;
  readonly text: string;
  /** Egresses using this IP, sorted. */
  readonly egressNames: readonly string[];
  /** A static IP (the Node has it) rather than one the agent took over from a pool. */
  readonly static: boolean;
  readonly subnet: SubnetInfo4 | null;
  /**
   * Rate limit, when the EgressTrafficShaping gate is on and an Egress using the IP sets `spec.bandwidth`; with
   * several, the oldest Egress's (Antrea: "selected randomly").
   */
  readonly bandwidth: Bandwidth4 | null;
}

/** A local Pod's IPv6 side: its address and its IPv6 Egress (texts are canonical IPv6). */
export interface LocalPod6 {
  readonly key: string;
  readonly ip: string;
  /** The effective IPv6 egress IP, null when the Pod's IPv6 traffic leaves with the Node's IPv6 address. */
  readonly egressIp: string | null;
  readonly egressName: string | null;
  readonly egressLocal: boolean;
  readonly egressNode: string | null;
  readonly fallback: string | null;
}

export interface PodCidrRoute6 {
  /** Canonical IPv6 CIDR text. */
  readonly cidr: string;
  readonly node: string;
  /** The Node's (IPv4) transport IP: IPv6 pod traffic rides Geneve over the IPv4 underlay. */
  readonly nodeIp: number;
  readonly local: boolean;
}

/** The IPv6 side of the view (empty lists and nulls on an IPv4-only cluster). */
export interface View6 {
  /** This Node's IPv6 address (status.addresses), null when it has none. */
  readonly nodeIp: string | null;
  readonly podCidr: string | null;
  readonly localPods: readonly LocalPod6[];
  readonly podCidrs: readonly PodCidrRoute6[];
  /** Every Node's IPv6 address, sorted. */
  readonly nodeIps: readonly string[];
  /** IPv6 destinations never Egress-SNATed besides pod CIDRs and Node addresses: serviceCIDRv6, IPv6 exceptCIDRs. */
  readonly bypass: readonly string[];
  /**
   * Pods of other Nodes whose IPv6 Egress is hosted here, with that egress IP: what this Node SNATs when their
   * IPv6 packets arrive through the tunnel (the IPv4 underlay cannot carry the IPv6 egress IP as outer
   * destination, so the inner source says which Egress applies, as Antrea's egress node matches the source Pod).
   */
  readonly remotePods: readonly { readonly ip: string; readonly egressIp: string }[];
  /** IPv6 egress IPs hosted here, with the Egresses using each (sorted). */
  readonly localEgressIps: readonly { readonly ip: string; readonly egressNames: readonly string[] }[];
  /** Every placed IPv6 egress IP → Node. */
  readonly egressIpOwner: ReadonlyMap<string, string>;
  /** Every Node whose transport address is IPv6, with its key (the IPv6 underlay, docs/ipv6.md §2.l), by name. */
  readonly transport: readonly { readonly node: string; readonly key: number; readonly ip: string }[];
  /** The agent configuration's `transportCIDRv6` (canonical), null when not set. */
  readonly segment: string | null;
  /** The agent configuration's `defaultGatewayv6` (canonical), null when not set. */
  readonly gateway: string | null;
}

export interface ViewExternalHost {
  readonly name: string;
  readonly ip: number;
  readonly len: number;
  readonly command: readonly string[] | null;
}

export interface PolicyView {
  readonly generation: number;
  readonly hash: string;
  /** Store generation the view was compiled from. */
  readonly stateGeneration: number;
  readonly egressEnabled: boolean;
  /** This Node, or null when it has no Node object. */
  readonly node: ViewNode | null;
  readonly localPods: readonly LocalPod[];
  readonly localPodByIp: ReadonlyMap<number, LocalPod>;
  readonly podCidrs: readonly PodCidrRoute[];
  readonly podCidrAddr: Int32Array;
  readonly podCidrMask: Int32Array;
  readonly podCidrNodeIp: Int32Array;
  /** Longest-prefix lookup into `podCidrs`. */
  readonly podCidrTable: PrefixTable;
  readonly nodeIps: Int32Array;
  readonly nodeByIp: ReadonlyMap<number, string>;
  readonly bypass: readonly Prefix4[];
  readonly bypassAddr: Int32Array;
  readonly bypassMask: Int32Array;
  /** Longest-prefix lookup into `bypass`. */
  readonly bypassTable: PrefixTable;
  readonly localEgressIps: readonly LocalEgressIp[];
  readonly localEgressIpSet: ReadonlySet<number>;
  readonly egressIpOwner: ReadonlyMap<number, string>;
  readonly egressIpSubnet: ReadonlyMap<number, SubnetInfo4>;
  readonly externalHosts: readonly ViewExternalHost[];
  /** The IPv6 side of a dual-stack Node. */
  readonly v6: View6;
  /** Human-readable remarks (ignored IPv6 egress IPs, gate off...). */
  readonly notes: readonly string[];
}

export interface ViewInput {
  readonly state: ClusterState;
  readonly node: string;
  /** Alive Node names as this Node sees them (the Node itself is always counted alive). */
  readonly membership: ReadonlySet<string>;
  /** The schedule for this membership (computed when absent). */
  readonly schedule?: Schedule;
  /** Placements for this membership (computed when absent). */
  readonly placements?: ReadonlyMap<string, Placement>;
}

/**
 * Longest-prefix lookup over IPv4 prefixes, built once per view: one Map probe per distinct prefix length (a
 * cluster has few: the pod CIDR length, /32 for Node IPs, the service CIDR...), so the cost does not grow with the
 * number of Nodes.
 */
export class PrefixTable {
  /** Distinct masks, longest prefix first. */
  readonly masks: Int32Array;
  private readonly maps: readonly ReadonlyMap<number, number>[];

  constructor(prefixes: readonly Prefix4[]) {
    const byLen = new Map<number, Map<number, number>>();
    prefixes.forEach((p, i) => {
      let m = byLen.get(p.len);
      if (!m) byLen.set(p.len, (m = new Map()));
      if (!m.has(p.addr)) m.set(p.addr, i);
    });
    const lens = [...byLen.keys()].sort((a, b) => b - a);
    this.masks = Int32Array.from(lens.map(maskInt32));
    this.maps = lens.map((l) => byLen.get(l)!);
    Object.freeze(this);
  }

  /** Index (in the list given to the constructor) of the longest prefix containing `ip`, or -1. */
  lookup(ip: number): number {
    const masks = this.masks;
    for (let i = 0; i < masks.length; i++) {
      const v = this.maps[i]!.get(ip & masks[i]!);
      if (v !== undefined) return v;
    }
    return -1;
  }
}

/** Index of the first prefix containing `ip`, or -1 (a plain loop over int32 arrays; allocates nothing). */
export function matchPrefix(addrs: Int32Array, masks: Int32Array, ip: number): number {
  for (let i = 0; i < addrs.length; i++) if ((ip & masks[i]!) === addrs[i]) return i;
  return -1;
}

/** True when `ip` is a destination that is never Egress-SNATed. */
export function isBypass(view: PolicyView, ip: number): boolean {
  return view.bypassTable.lookup(ip) !== -1;
}

/** The Pod CIDR route containing `ip` (a Pod of any Node), or null. */
export function podCidrOf(view: PolicyView, ip: number): PodCidrRoute | null {
  const i = view.podCidrTable.lookup(ip);
  return i === -1 ? null : view.podCidrs[i]!;
}

/**
 * Compile the view of `input.node`. When `prev` has the same content, `prev` itself is returned (no swap needed);
 * otherwise a new frozen view with generation `prev.generation + 1`.
 */
export function compileView(input: ViewInput, prev?: PolicyView | null): PolicyView {
  const { state, node: nodeName } = input;
  const membership = new Set(input.membership);
  membership.add(nodeName);
  const cfg = resolveConfig(state.config);
  const sched = input.schedule ?? schedule(state, membership);
  const places = input.placements ?? placements(state, sched, membership);
  const notes: string[] = [];
  if (!cfg.egressEnabled && state.egresses.size > 0)
    notes.push(`feature gate Egress is disabled: ${state.egresses.size} Egress object(s) ignored`);

  const self = state.nodes.get(nodeName);
  let node: ViewNode | null = null;
  if (self) {
    node = {
      name: nodeName,
      transportIp: nodeTransportKey(self)!,
      transportIp6: canonical6(nodeTransportIPv6(self) ?? ''),
      podCidr: prefixOrNull(nodePodCIDR(self)),
      mtu: cfg.mtu,
      // The IPv6 underlay's outer header is 20 bytes longer (Antrea's ipv6ExtraOverhead).
      podMtu: nodeTransportIPv6(self) === null ? cfg.podMtu : Math.min(cfg.podMtu, cfg.mtu - 70),
      tunnelPort: cfg.tunnelPort,
      snatFullyRandomPorts: cfg.snatFullyRandomPorts,
      transportCidr: prefixOrNull(cfg.transportCIDR),
      defaultGateway: cfg.defaultGateway ? ipv4ToInt32(cfg.defaultGateway) : null,
      serviceCidr: prefixOrNull(cfg.serviceCIDR),
    };
  } else notes.push(`Node ${nodeName} has no Node object`);

  // Egress IP placements (IPv4 here; IPv6 in the v6 side below).
  const owner = new Map<number, string>();
  const owner6 = new Map<string, string>();
  const local6 = new Map<string, string[]>();
  const subnetOf = new Map<number, SubnetInfo4>();
  const local = new Map<
    number,
    { text: string; names: string[]; static: boolean; subnet: SubnetInfo4 | null; bandwidth: Bandwidth4 | null }
  >();
  for (const e of egressesOldestFirst(state)) {
    const p = places.get(e.metadata.name);
    if (!p || !p.ok) continue;
    const ip = ipv4ToInt32(p.ip);
    if (ip === null) {
      const ip6 = canonical6(p.ip);
      if (ip6 === null) continue;
      owner6.set(ip6, p.node);
      if (p.node === nodeName) {
        let l = local6.get(ip6);
        if (!l) local6.set(ip6, (l = []));
        l.push(e.metadata.name);
      }
      continue;
    }
    owner.set(ip, p.node);
    const pool = p.ha && e.spec.externalIPPool ? state.pools.get(e.spec.externalIPPool) : undefined;
    const si = pool?.spec.subnetInfo;
    const subnet = si && cfg.separateSubnet ? subnetInfo4(si.gateway, si.prefixLength, si.vlan ?? 0) : null;
    if (subnet) subnetOf.set(ip, subnet);
    if (p.node !== nodeName) continue;
    let l = local.get(ip);
    if (!l) local.set(ip, (l = { text: p.ip, names: [], static: !p.ha, subnet, bandwidth: null }));
    l.names.push(e.metadata.name);
    if (cfg.trafficShaping && l.bandwidth === null && e.spec.bandwidth) l.bandwidth = bandwidth4(e.spec.bandwidth);
  }
  const localEgressIps = [...local.entries()]
    .sort((a, b) => (a[0] >>> 0) - (b[0] >>> 0))
    .map(([ip, l]) =>
      Object.freeze({
        ip,
        text: l.text,
        egressNames: Object.freeze([...l.names].sort(cmp)),
        static: l.static,
        subnet: l.subnet,
        bandwidth: l.bandwidth,
      }),
    );

  // Pods on this Node.
  const oldest = egressesOldestFirst(state);
  const localPods: LocalPod[] = [];
  for (const pod of [...state.pods.values()].sort((a, b) => cmp(podKey(a), podKey(b)))) {
    if (pod.spec.nodeName !== nodeName || pod.spec.hostNetwork) continue;
    const ipText = podIPv4(pod);
    if (!ipText) continue;
    const pe = podEgress(state, pod, places, oldest);
    const egressIp = pe.placement ? ipv4ToInt32(pe.placement.ip)! : 0;
    localPods.push(
      Object.freeze({
        key: podKey(pod),
        ip: ipv4ToInt32(ipText)!,
        egressIp,
        egressName: pe.egress ? pe.egress.metadata.name : null,
        egressLocal: pe.placement !== null && pe.placement.node === nodeName,
        egressNode: pe.placement ? pe.placement.node : null,
        alternatives: Object.freeze([...pe.alternatives]),
        fallback: pe.fallback,
      }),
    );
  }

  // The IPv6 side of local Pods: the Pod's IPv6 address and its IPv6 Egress (chosen among IPv6 egress IPs).
  const localPods6: LocalPod6[] = [];
  for (const pod of [...state.pods.values()].sort((a, b) => cmp(podKey(a), podKey(b)))) {
    if (pod.spec.nodeName !== nodeName || pod.spec.hostNetwork) continue;
    const ip6 = canonical6(podIPv6(pod) ?? '');
    if (ip6 === null) continue;
    const pe = podEgress(state, pod, places, oldest, 6);
    localPods6.push(
      Object.freeze({
        key: podKey(pod),
        ip: ip6,
        egressIp: pe.placement ? canonical6(pe.placement.ip) : null,
        egressName: pe.egress ? pe.egress.metadata.name : null,
        egressLocal: pe.placement !== null && pe.placement.node === nodeName,
        egressNode: pe.placement ? pe.placement.node : null,
        fallback: pe.fallback,
      }),
    );
  }

  const remotePods6: { ip: string; egressIp: string }[] = [];
  if (local6.size > 0)
    for (const pod of [...state.pods.values()].sort((a, b) => cmp(podKey(a), podKey(b)))) {
      if (!pod.spec.nodeName || pod.spec.nodeName === nodeName || pod.spec.hostNetwork) continue;
      const ip6 = canonical6(podIPv6(pod) ?? '');
      if (ip6 === null) continue;
      const pe = podEgress(state, pod, places, oldest, 6);
      const e6 = pe.placement && pe.placement.node === nodeName ? canonical6(pe.placement.ip) : null;
      if (e6 !== null && local6.has(e6)) remotePods6.push(Object.freeze({ ip: ip6, egressIp: e6 }));
    }

  // Pod CIDRs and Node IPs of every Node.
  const podCidrs: PodCidrRoute[] = [];
  const nodeByIp = new Map<number, string>();
  for (const n of [...state.nodes.values()].sort((a, b) => cmp(a.metadata.name, b.metadata.name))) {
    const ip = nodeTransportKey(n)!;
    nodeByIp.set(ip, n.metadata.name);
    const pc = prefixOrNull(nodePodCIDR(n));
    if (pc)
      podCidrs.push(Object.freeze({ ...pc, node: n.metadata.name, nodeIp: ip, local: n.metadata.name === nodeName }));
  }
  const nodeIps = Int32Array.from([...nodeByIp.keys()].sort((a, b) => a - b));
  const podCidrs6: PodCidrRoute6[] = [];
  const nodeIps6: string[] = [];
  const transport6: { node: string; key: number; ip: string }[] = [];
  for (const n of [...state.nodes.values()].sort((a, b) => cmp(a.metadata.name, b.metadata.name))) {
    const c6 = canonicalCidr6(nodePodCIDRv6(n));
    if (c6)
      podCidrs6.push(
        Object.freeze({
          cidr: c6,
          node: n.metadata.name,
          nodeIp: nodeTransportKey(n)!,
          local: n.metadata.name === nodeName,
        }),
      );
    const a6 = canonical6(nodeIPv6(n) ?? '');
    if (a6) nodeIps6.push(a6);
    const t6 = canonical6(nodeTransportIPv6(n) ?? '');
    if (t6) transport6.push(Object.freeze({ node: n.metadata.name, key: nodeTransportKey(n)!, ip: t6 }));
  }
  nodeIps6.sort(cmp);
  const bypass6 = [
    ...new Set(
      [cfg.serviceCIDRv6, ...cfg.exceptCIDRs].map((c) => canonicalCidr6(c)).filter((c): c is string => c !== null),
    ),
  ].sort(cmp);
  const v6: View6 = Object.freeze({
    nodeIp: self ? canonical6(nodeIPv6(self) ?? '') : null,
    podCidr: self ? canonicalCidr6(nodePodCIDRv6(self)) : null,
    segment: canonicalCidr6(cfg.transportCIDRv6),
    gateway: cfg.defaultGatewayv6 ? canonical6(cfg.defaultGatewayv6) : null,
    localPods: Object.freeze(localPods6),
    podCidrs: Object.freeze(podCidrs6),
    nodeIps: Object.freeze(nodeIps6),
    bypass: Object.freeze(bypass6),
    remotePods: Object.freeze(remotePods6),
    localEgressIps: Object.freeze(
      [...local6.entries()]
        .sort((a, b) => cmp(a[0], b[0]))
        .map(([ip, names]) => Object.freeze({ ip, egressNames: Object.freeze([...names].sort(cmp)) })),
    ),
    egressIpOwner: owner6,
    transport: Object.freeze(transport6),
  });

  // Bypass prefixes (§4.d).
  const bypassMap = new Map<string, Prefix4>();
  const addBypass = (p: Prefix4 | null) => {
    if (p) bypassMap.set(`${p.addr}/${p.len}`, Object.freeze(p));
  };
  for (const r of podCidrs) addBypass({ addr: r.addr, len: r.len, mask: r.mask });
  for (const ip of nodeIps) addBypass({ addr: ip, len: 32, mask: maskInt32(32) });
  addBypass(prefixOrNull(cfg.serviceCIDR));
  for (const c of cfg.exceptCIDRs) addBypass(prefixOrNull(c));
  const bypass = [...bypassMap.values()].sort((a, b) => (a.addr >>> 0) - (b.addr >>> 0) || a.len - b.len);

  const externalHosts = [...state.externalHosts.values()]
    .sort((a, b) => cmp(a.metadata.name, b.metadata.name))
    .map((h) => {
      const [ipText, len] = h.spec.address.split('/') as [string, string];
      return Object.freeze({
        name: h.metadata.name,
        ip: ipv4ToInt32(ipText)!,
        len: Number(len),
        command: h.spec.command ? Object.freeze([...h.spec.command]) : null,
      });
    });

  const content = {
    stateGeneration: state.generation,
    egressEnabled: cfg.egressEnabled,
    node,
    localPods,
    podCidrs,
    nodeIps: [...nodeIps],
    bypass,
    localEgressIps,
    egressIpOwner: [...owner.entries()].sort((a, b) => a[0] - b[0]),
    egressIpSubnet: [...subnetOf.entries()].sort((a, b) => a[0] - b[0]),
    externalHosts,
    v6: { ...v6, egressIpOwner: [...owner6.entries()].sort((a, b) => cmp(a[0], b[0])) },
    notes,
  };
  const { stateGeneration: _sg, ...hashed } = content;
  const hash = createHash('sha256').update(JSON.stringify(hashed)).digest('hex');
  if (prev && prev.hash === hash) return prev;

  const view: PolicyView = {
    generation: (prev?.generation ?? 0) + 1,
    hash,
    stateGeneration: state.generation,
    egressEnabled: cfg.egressEnabled,
    node: node ? Object.freeze({ ...node }) : null,
    localPods: Object.freeze(localPods),
    localPodByIp: new Map(localPods.map((p) => [p.ip, p])),
    podCidrs: Object.freeze(podCidrs),
    podCidrAddr: Int32Array.from(podCidrs.map((p) => p.addr)),
    podCidrMask: Int32Array.from(podCidrs.map((p) => p.mask)),
    podCidrNodeIp: Int32Array.from(podCidrs.map((p) => p.nodeIp)),
    podCidrTable: new PrefixTable(podCidrs),
    nodeIps,
    nodeByIp,
    bypass: Object.freeze(bypass),
    bypassAddr: Int32Array.from(bypass.map((p) => p.addr)),
    bypassMask: Int32Array.from(bypass.map((p) => p.mask)),
    bypassTable: new PrefixTable(bypass),
    localEgressIps: Object.freeze(localEgressIps),
    localEgressIpSet: new Set(localEgressIps.map((l) => l.ip)),
    egressIpOwner: owner,
    egressIpSubnet: subnetOf,
    externalHosts: Object.freeze(externalHosts),
    v6,
    notes: Object.freeze(notes),
  };
  return Object.freeze(view);
}

function kbps(q: string): number {
  const k = quantityKbit(q);
  return Number(k > METER_MAX_KBIT ? METER_MAX_KBIT : k);
}

function bandwidth4(b: { rate: string; burst: string }): Bandwidth4 {
  return Object.freeze({ rateKbps: kbps(b.rate), burstKbps: kbps(b.burst) });
}

function prefixOrNull(text: string | null): Prefix4 | null {
  return text ? parsePrefix4(text) : null;
}

function subnetInfo4(gateway: string, prefixLength: number, vlan: number): SubnetInfo4 | null {
  const gw = ipv4ToInt32(gateway);
  return gw === null ? null : Object.freeze({ gateway: gw, prefixLength, vlan });
}

/** Canonical (RFC 5952) text of an IPv6 address, null for anything else. */
function canonical6(text: string): string | null {
  const ip = parseIP(text);
  return ip && ip.family === 6 ? formatIP(ip) : null;
}

/** Canonical text of an IPv6 CIDR (address masked), null for anything else. */
function canonicalCidr6(text: string | null): string | null {
  const c = text ? parseCIDR(text) : null;
  return c && c.family === 6 ? `${formatIP({ family: 6, value: c.addr })}/${c.len}` : null;
}

function podKey(p: { metadata: { namespace: string; name: string } }): string {
  return `${p.metadata.namespace}/${p.metadata.name}`;
}

/** A readable rendering of a view (for `egress get view`, logs and test failure messages). */
export function describeView(v: PolicyView): string {
  const lines: string[] = [];
  const p = (x: Prefix4 | null) => (x ? `${formatIPv4(x.addr)}/${x.len}` : '-');
  lines.push(`view generation ${v.generation} (state ${v.stateGeneration}) hash ${v.hash.slice(0, 12)}`);
  if (v.node)
    lines.push(
      `node ${v.node.name} ${formatIPv4(v.node.transportIp)} podCIDR ${p(v.node.podCidr)} mtu ${v.node.mtu}/${v.node.podMtu} ` +
        `tunnelPort ${v.node.tunnelPort} segment ${p(v.node.transportCidr)} gateway ${
          v.node.defaultGateway === null ? '-' : formatIPv4(v.node.defaultGateway)
        } services ${p(v.node.serviceCidr)}`,
    );
  for (const lp of v.localPods)
    lines.push(
      `pod ${lp.key} ${formatIPv4(lp.ip)} -> ${
        lp.egressIp === 0
          ? `node IP${lp.fallback ? ` (${lp.fallback})` : ''}`
          : `${formatIPv4(lp.egressIp)} via ${lp.egressName} on ${lp.egressNode}${lp.egressLocal ? ' (local)' : ''}`
      }`,
    );
  for (const l of v.localEgressIps)
    lines.push(`hosts ${l.text} for ${l.egressNames.join(',')}${l.static ? ' (static)' : ''}`);
  lines.push(`bypass ${v.bypass.map((b) => p(b)).join(' ')}`);
  for (const n of v.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}
