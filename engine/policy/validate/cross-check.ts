/**
 * Rules between the objects of the state a change would produce: the references and address plan this engine
 * needs to build a datapath (a Pod's Node and Namespace exist, every address has one owner on the segment...).
 * Antrea has no such webhook; where a rule follows the API server or Antrea, its comment names the source.
 * docs/validation.md lists the rules, why, and what is deliberately allowed.
 *
 * `crossCheck` builds the lookup tables once (`CrossIndex`: maps by address, interval indexes of the ranges), then
 * runs each kind's rules, in the order below, on every object of that kind (stored objects first, so a duplicate is
 * reported on the new document). Each rule is a function of (index, object, its context) that refuses one thing,
 * in O(log n) per object: a set of 10 000 Pods and 20 000 Egresses validates in linear time. Errors about objects
 * outside the applied set are reported without a source; warnings only for objects of the set.
 *
 * The address plan: an address of the segment has one owner — a Node (its transport IP and its static egress IPs),
 * an ExternalHost, the gateway, or the Node an egress IP is scheduled to. Pools hand out their ranges at any time
 * (after this check, in the controller), so a range must hold none of the others' addresses. Pod IPs live in the
 * Nodes' Pod CIDRs, never on the segment and never as an egress IP.
 */
import { poolReserved, rangeAllocator } from '../allocator.js';
import { resolveConfig } from '../config.js';
import type { ResolvedConfig } from '../config.js';
import { crc32String } from '../crc32.js';
import {
  compareIP,
  formatIP,
  parseCIDR,
  parseIP,
  parseInterfaceAddress,
  prefixBounds,
  prefixContains,
  prefixesOverlap,
} from '../ip.js';
import type { Family, IP, Prefix } from '../ip.js';
import {
  ANNOTATION_STATIC_EGRESS_IPS,
  displayName,
  keyOf,
  namespaceLabels,
  nodeIPv6,
  nodePodCIDR,
  nodeStaticIPs,
  nodeTransportIP,
  nodeTransportIPv6,
  nodeTransportKey,
  podIPv4,
} from '../model.js';
import type { AnyObject, ClusterState, Egress, ExternalHost, ExternalIPPool, Node, Pod } from '../model.js';
import { joinPath } from '../problems.js';
import type { Ctx } from '../problems.js';
import { IntervalIndex } from './intervals.js';
import { normalizedRanges } from './webhooks.js';

/** Maps an object key to the context its problems go to (its document when it is in the applied set). */
export type CtxFor = (o: AnyObject) => Ctx;

/** One address of a Node's static-egress-ips annotation, with the Node that declared it just before (if any). */
interface StaticDecl {
  readonly text: string;
  readonly ip: IP;
  readonly key: string;
  readonly prev: Node | undefined;
}

/** One range of a pool; `ordinal` is the pool's place in the state (a message lists pools in that order). */
interface PoolRange {
  readonly pool: ExternalIPPool;
  readonly ordinal: number;
  readonly origin: string;
  readonly index: number;
  readonly family: Family;
  /** The range as the webhook reads it (network and broadcast addresses included). */
  readonly start: bigint;
  readonly end: bigint;
  /** The allocator's window (what `has` accepts: what the pool may hand out, and its reserved addresses). */
  readonly window: readonly [bigint, bigint] | null;
}

/** An address with its owner, in a list sorted by address. */
interface Owned<T> {
  readonly ip: IP;
  readonly owner: T;
}

/** What the rules look up, built once from the state. Maps keyed by canonical IP text; "first" = first in order. */
interface CrossIndex {
  readonly state: ClusterState;
  readonly inSet: (o: AnyObject) => boolean;
  readonly cfg: ResolvedConfig;
  readonly seg: Prefix | null;
  readonly svc: Prefix | null;
  readonly gw: IP | null;
  /** Nodes, stored ones first, then by key. */
  readonly nodes: readonly Node[];
  /** Transport IP → the first Node with it. */
  readonly nodeByIP: ReadonlyMap<string, Node>;
  /** The first Node whose transport address is IPv4; the transport key of IPv6 ones → the first Node with it. */
  readonly firstTransport4: Node | null;
  readonly nodeByKey6: ReadonlyMap<number, Node>;
  /** The same, sorted by address (for "which Nodes are inside this range"). */
  readonly nodeIPs: readonly Owned<Node>[];
  /** Pod CIDRs in Node order (a Node's rank is its place there), and by address. */
  readonly podCidrs: readonly { node: Node; prefix: Prefix; text: string }[];
  readonly podCidrRank: ReadonlyMap<Node, number>;
  readonly podCidrIndex: IntervalIndex<{ node: Node; text: string }>;
  /** Each Node's static-egress-ips declarations, in annotation order; all of them sorted by address. */
  readonly staticDecls: ReadonlyMap<Node, readonly StaticDecl[]>;
  readonly staticIPs: readonly Owned<{ node: Node; text: string }>[];
  /** Static egress IP → the last Node declaring it. */
  readonly staticOwner: ReadonlyMap<string, Node>;
  /** Pods, stored ones first, then by key. */
  readonly pods: readonly Pod[];
  /** Pod IPv4 → the first Pod with it (hostNetwork Pods excluded). */
  readonly podByIP: ReadonlyMap<string, Pod>;
  /** CRC-32 of `namespace/name` → the first Pod with it (Pods with an IPv4: the ones that get a namespace). */
  readonly podByCRC: ReadonlyMap<number, Pod>;
  /** ExternalHosts, stored ones first, then by key; address → the first host with it. */
  readonly hosts: readonly ExternalHost[];
  readonly hostByIP: ReadonlyMap<string, ExternalHost>;
  /** Each pool's ranges in spec order; all of them by address, and their windows by address. */
  readonly rangesOf: ReadonlyMap<ExternalIPPool, readonly PoolRange[]>;
  readonly poolRanges: IntervalIndex<PoolRange>;
  readonly poolWindows: IntervalIndex<PoolRange>;
  /** `subnetInfo.gateway` → the pools naming it. */
  readonly poolGateways: ReadonlyMap<string, readonly ExternalIPPool[]>;
}

function buildIndex(state: ClusterState, inSet: (o: AnyObject) => boolean): CrossIndex {
  const cfg = resolveConfig(state.config);
  const nodes = sortSetFirst([...state.nodes.values()], inSet);
  const nodeByIP = new Map<string, Node>();
  const podCidrs: { node: Node; prefix: Prefix; text: string }[] = [];
  const podCidrRank = new Map<Node, number>();
  const podCidrIndex = new IntervalIndex<{ node: Node; text: string }>();
  const staticDecls = new Map<Node, StaticDecl[]>();
  const staticOwner = new Map<string, Node>();
  let firstTransport4: Node | null = null;
  const nodeByKey6 = new Map<number, Node>();
  for (const n of nodes) {
    const key = formatIP(parseIP(transportText(n))!);
    if (!nodeByIP.has(key)) nodeByIP.set(key, n);
    if (nodeTransportIP(n) !== null) firstTransport4 ??= n;
    else if (!nodeByKey6.has(nodeTransportKey(n)!)) nodeByKey6.set(nodeTransportKey(n)!, n);
    const pc = nodePodCIDR(n);
    if (pc) {
      const prefix = parseCIDR(pc)!;
      podCidrRank.set(n, podCidrs.length);
      podCidrs.push({ node: n, prefix, text: pc });
      const [a, b] = prefixBounds(prefix);
      podCidrIndex.add(prefix.family, a, b, { node: n, text: pc });
    }
    const decls: StaticDecl[] = [];
    for (const s of nodeStaticIPs(n)) {
      const sip = parseIP(s);
      if (!sip) continue;
      const k = formatIP(sip);
      decls.push({ text: s, ip: sip, key: k, prev: staticOwner.get(k) });
      staticOwner.set(k, n);
    }
    staticDecls.set(n, decls);
  }
  const nodeIPs = [...nodeByIP].map(([k, owner]) => ({ ip: parseIP(k)!, owner })).sort(byAddress);
  const staticIPs = [...staticDecls].flatMap(([node, ds]) =>
    ds.map((d) => ({ ip: d.ip, owner: { node, text: d.text } })),
  );
  staticIPs.sort(byAddress);

  const pods = sortSetFirst([...state.pods.values()], inSet);
  const podByIP = new Map<string, Pod>();
  const podByCRC = new Map<number, Pod>();
  for (const p of pods) {
    const ip = podAddress(p);
    if (!ip) continue;
    const k = formatIP(ip);
    if (!podByIP.has(k)) podByIP.set(k, p);
    const c = crc32String(displayName(p));
    if (!podByCRC.has(c)) podByCRC.set(c, p);
  }

  const hosts = sortSetFirst([...state.externalHosts.values()], inSet);
  const hostByIP = new Map<string, ExternalHost>();
  for (const h of hosts) if (!hostByIP.has(hostKey(h))) hostByIP.set(hostKey(h), h);
  for (const h of hosts) {
    const k6 = hostKey6(h);
    if (k6 !== null && !hostByIP.has(k6)) hostByIP.set(k6, h);
  }

  const rangesOf = new Map<ExternalIPPool, PoolRange[]>();
  const poolRanges = new IntervalIndex<PoolRange>();
  const poolWindows = new IntervalIndex<PoolRange>();
  const poolGateways = new Map<string, ExternalIPPool[]>();
  let ordinal = 0;
  for (const pool of state.pools.values()) {
    const reserved = poolReserved(pool);
    const list: PoolRange[] = [];
    for (const r of normalizedRanges(pool)) {
      const w = rangeAllocator(pool.spec.ipRanges[r.index]!, reserved);
      const window = w && w.max > 0 ? ([w.base, w.base + BigInt(w.max - 1)] as const) : null;
      const pr: PoolRange = {
        pool,
        ordinal,
        origin: r.origin,
        index: r.index,
        family: r.start.family,
        start: r.start.value,
        end: r.end.value,
        window,
      };
      list.push(pr);
      poolRanges.add(pr.family, pr.start, pr.end, pr);
      if (window) poolWindows.add(pr.family, window[0], window[1], pr);
    }
    rangesOf.set(pool, list);
    for (const gw of reserved) {
      const k = formatIP(gw);
      poolGateways.set(k, [...(poolGateways.get(k) ?? []), pool]);
    }
    ordinal++;
  }
  return {
    state,
    inSet,
    cfg,
    seg: cfg.transportCIDR ? parseCIDR(cfg.transportCIDR) : null,
    svc: cfg.serviceCIDR ? parseCIDR(cfg.serviceCIDR) : null,
    gw: cfg.defaultGateway ? parseIP(cfg.defaultGateway) : null,
    nodes,
    nodeByIP,
    firstTransport4,
    nodeByKey6,
    nodeIPs,
    podCidrs,
    podCidrRank,
    podCidrIndex,
    staticDecls,
    staticIPs,
    staticOwner,
    pods,
    podByIP,
    podByCRC,
    hosts,
    hostByIP,
    rangesOf,
    poolRanges,
    poolWindows,
    poolGateways,
  };
}

/** The IPv4 address a Pod's datapath uses (null for hostNetwork Pods and Pods without one). */
function podAddress(p: Pod): IP | null {
  if (p.spec.hostNetwork) return null;
  const t = podIPv4(p);
  return t ? parseIP(t)! : null;
}

/** The canonical text of a host's IPv6 address (`spec.ipv6Address`), or null. */
function hostKey6(h: ExternalHost): string | null {
  return h.spec.ipv6Address === undefined ? null : formatIP(parseInterfaceAddress(h.spec.ipv6Address)!.ip);
}

function hostKey(h: ExternalHost): string {
  return formatIP(parseInterfaceAddress(h.spec.address)!.ip);
}

/** The pools whose allocator window holds `ip`, once each, in state order. */
function poolsHolding(x: CrossIndex, ip: IP): ExternalIPPool[] {
  const hits = x.poolWindows.containing(ip);
  if (hits.length === 1) return [hits[0]!.pool];
  return [...new Map(hits.sort((a, b) => a.ordinal - b.ordinal).map((h) => [h.pool, h.pool])).values()];
}

const byAddress = (a: { ip: IP }, b: { ip: IP }) => compareIP(a.ip, b.ip);

/** The entries of a list sorted by address whose address lies in [start, end] of one family. */
function within<T>(a: readonly Owned<T>[], family: Family, start: bigint, end: bigint): Owned<T>[] {
  let lo = 0;
  let hi = a.length;
  const first: IP = { family, value: start };
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareIP(a[mid]!.ip, first) < 0) lo = mid + 1;
    else hi = mid;
  }
  const out: Owned<T>[] = [];
  for (let i = lo; i < a.length && a[i]!.ip.family === family && a[i]!.ip.value <= end; i++) out.push(a[i]!);
  return out;
}

/** Where a rule reports: the object's context, made on the first problem (most objects have none). */
type Report = Pick<Ctx, 'error' | 'warn'>;

type Rule<T> = (x: CrossIndex, o: T, ctx: Report) => void;

const STATIC_PATH = joinPath('metadata.annotations', ANNOTATION_STATIC_EGRESS_IPS);

// --- Nodes -------------------------------------------------------------------------------------------------------

/** A Node's transport address as text: its IPv4 one, else its IPv6 one (docs/ipv6.md §2.l). */
function transportText(n: Node): string {
  return nodeTransportIP(n) ?? nodeTransportIPv6(n)!;
}

/** Refuses a transport IP another Node has: peers tell Nodes apart by it (our own: heartbeats, Geneve, ARP). */
const nodeTransportIPUnique: Rule<Node> = (x, n, ctx) => {
  const tip = transportText(n);
  const other = x.nodeByIP.get(formatIP(parseIP(tip)!));
  if (other && other !== n)
    ctx.error('status.addresses', `InternalIP ${tip} is also the transport IP of Node ${other.metadata.name}`);
};

/** Refuses a transport IP outside the segment: the uplink is one L2 subnet (our own: AgentConfig.transportCIDR). */
const nodeTransportIPOnSegment: Rule<Node> = (x, n, ctx) => {
  const tip = nodeTransportIP(n);
  if (tip === null) return; // an IPv6 transport address: transportCIDR is the IPv4 segment's
  if (x.seg && !prefixContains(x.seg, parseIP(tip)!))
    ctx.error('status.addresses', `InternalIP ${tip} is not inside transportCIDR ${x.cfg.transportCIDR}`);
};

/** Refuses the segment's gateway as a transport IP: two ARP owners of the router's address (our own). */
const nodeTransportIPNotGateway: Rule<Node> = (x, n, ctx) => {
  const tip = transportText(n);
  const ip = parseIP(tip)!;
  if (x.gw && ip.value === x.gw.value && x.gw.family === 4)
    ctx.error('status.addresses', `InternalIP ${tip} is the segment's defaultGateway`);
};

/**
 * An IPv6 transport address (docs/ipv6.md §2.l): refused when another Node's transport address is IPv4 (a mixed
 * cluster: Geneve and heartbeats run over one family between every pair of Nodes, and a v4-only and a v6-only
 * Node share none), when another IPv6 one has the same 32-bit transport key (`nodeTransportKey`: what membership
 * knows a Node by), and with an IPv4 Pod CIDR (IPv4 Pods would have no IPv4 Node address to masquerade to).
 */
const nodeTransportIPv6Rules: Rule<Node> = (x, n, ctx) => {
  const t6 = nodeTransportIPv6(n);
  if (t6 === null) return;
  const v4 = x.firstTransport4;
  if (v4)
    ctx.error(
      'status.addresses',
      `the transport address ${t6} is IPv6 (no IPv4 InternalIP) but Node ${v4.metadata.name}'s is IPv4: ` +
        'all Nodes need a transport address of one family (Geneve and heartbeats run over one family between ' +
        'every pair); give this Node an IPv4 InternalIP, or every Node IPv6 ones only',
    );
  const other = x.nodeByKey6.get(nodeTransportKey(n)!);
  if (other && other !== n)
    ctx.error(
      'status.addresses',
      `the transport address ${t6} has the same 32-bit transport key as Node ${other.metadata.name}'s: change one`,
    );
  if (nodePodCIDR(n) !== null)
    ctx.error(
      'spec.podCIDRs',
      `an IPv4 Pod CIDR on a Node with only an IPv6 transport address: its Pods would have no IPv4 Node address`,
    );
};

/**
 * Refuses a Pod CIDR overlapping another Node's, the segment or the service CIDR: classify routes pod traffic by
 * Pod CIDR (our own; Kubernetes' node IPAM, `pkg/controller/nodeipam`, allocates disjoint CIDRs).
 */
const nodePodCIDRDisjoint: Rule<Node> = (x, n, ctx) => {
  const pc = nodePodCIDR(n);
  if (!pc) return;
  const p = parseCIDR(pc)!;
  const [a, b] = prefixBounds(p);
  const rank = (o: { node: Node }) => x.podCidrRank.get(o.node)!;
  const mine = x.podCidrRank.get(n)!;
  for (const o of x.podCidrIndex.overlapping(p.family, a, b).sort((u, v) => rank(u) - rank(v))) {
    if (rank(o) >= mine) continue; // reported on the later Node only
    ctx.error('spec.podCIDR', `Pod CIDR ${pc} overlaps the Pod CIDR ${o.text} of Node ${o.node.metadata.name}`);
  }
  if (x.seg && prefixesOverlap(x.seg, p))
    ctx.error('spec.podCIDR', `Pod CIDR ${pc} overlaps transportCIDR ${x.cfg.transportCIDR}`);
  if (x.svc && prefixesOverlap(x.svc, p))
    ctx.error('spec.podCIDR', `Pod CIDR ${pc} overlaps serviceCIDR ${x.cfg.serviceCIDR}`);
};

/** Refuses a static egress IP another Node declares too: it would have two owners (our own annotation). */
const nodeStaticIPsDeclaredOnce: Rule<Node> = (x, n, ctx) => {
  for (const d of x.staticDecls.get(n)!) {
    if (d.prev && d.prev !== n)
      ctx.error(STATIC_PATH, `static Egress IP ${d.text} is also declared by Node ${d.prev.metadata.name}`);
  }
};

/** Refuses a static egress IP that is another Node's transport IP: that Node owns it (our own annotation). */
const nodeStaticIPsNotOtherNodes: Rule<Node> = (x, n, ctx) => {
  for (const d of x.staticDecls.get(n)!) {
    const owner = x.nodeByIP.get(d.key);
    if (owner && owner !== n)
      ctx.error(STATIC_PATH, `static Egress IP ${d.text} is the transport IP of Node ${owner.metadata.name}`);
  }
};

/** Refuses a static egress IP that is a gateway (the segment's or a pool's): its GARP would hijack the router. */
const nodeStaticIPsNotGateway: Rule<Node> = (x, n, ctx) => {
  for (const d of x.staticDecls.get(n)!) {
    const gwMsg = gatewayOf(x, d.ip, d.key);
    if (gwMsg) ctx.error(STATIC_PATH, `static Egress IP ${d.text} is ${gwMsg}`);
  }
};

/** "the segment's defaultGateway" / "the subnetInfo.gateway of ExternalIPPool p", or null. */
function gatewayOf(x: CrossIndex, ip: IP, key: string): string | null {
  if (x.gw && ip.family === x.gw.family && ip.value === x.gw.value) return "the segment's defaultGateway";
  const pools = x.poolGateways.get(key);
  return pools ? `the subnetInfo.gateway of ExternalIPPool ${pools.map((p) => p.metadata.name).join(', ')}` : null;
}

// --- Pods --------------------------------------------------------------------------------------------------------

/** A Pod with what its rules need. */
interface PodFacts {
  readonly pod: Pod;
  readonly node: Node | undefined;
  /** Its IPv4 (null for hostNetwork Pods and Pods without one: the address rules skip those), as text, as key. */
  readonly ip: IP | null;
  readonly ipText: string;
  readonly key: string;
}

/** Refuses a Pod in a Namespace that does not exist (the API server's NamespaceLifecycle admission). */
const podNamespaceExists: Rule<PodFacts> = (x, f, ctx) => {
  if (!namespaceLabels(x.state, f.pod.metadata.namespace))
    ctx.error('metadata.namespace', `namespaces "${f.pod.metadata.namespace}" not found`);
};

/** Refuses a Pod bound to a Node that does not exist (our own: the Pod's datapath is on that Node). */
const podNodeExists: Rule<PodFacts> = (_x, f, ctx) => {
  if (f.pod.spec.nodeName && !f.node) ctx.error('spec.nodeName', `Node "${f.pod.spec.nodeName}" not found`);
};

/** Refuses a Pod IP another Pod has (our own: the datapath finds a Pod by its IP). */
const podIPUnique: Rule<PodFacts> = (x, f, ctx) => {
  if (!f.ip) return;
  const other = x.podByIP.get(f.key);
  if (other && other !== f.pod)
    ctx.error(
      'status.podIP',
      `IP ${f.ipText} is also the IP of Pod ${other.metadata.namespace}/${other.metadata.name}`,
    );
};

/** Warns about a Pod on no Node: no Node's datapath has it, so no Egress applies (our own). */
const podScheduled: Rule<PodFacts> = (x, f, ctx) => {
  if (f.ip && !f.pod.spec.nodeName && x.inSet(f.pod))
    ctx.warn('spec.nodeName', 'the Pod is not scheduled to a Node: no Egress applies to it');
};

/** Refuses a Pod IP outside its Node's Pod CIDR (our own: other Nodes route it by that CIDR). */
const podIPInNodePodCIDR: Rule<PodFacts> = (_x, f, ctx) => {
  if (!f.ip || !f.node) return;
  const pc = nodePodCIDR(f.node);
  if (pc && !prefixContains(parseCIDR(pc)!, f.ip))
    ctx.error('status.podIP', `IP ${f.ipText} is not inside the Pod CIDR ${pc} of Node ${f.node.metadata.name}`);
};

/** Refuses a Pod IP that is a Node's transport IP (our own: one address, two meanings on the Node). */
const podIPNotNode: Rule<PodFacts> = (x, f, ctx) => {
  if (!f.ip) return;
  const node = x.nodeByIP.get(f.key);
  if (node) ctx.error('status.podIP', `IP ${f.ipText} is the transport IP of Node ${node.metadata.name}`);
};

/**
 * Refuses a Pod IP on the segment (possible on a Node without Pod CIDR): hosts would ARP for it and nobody answers,
 * and a host with that address would be shadowed by the Pod (our own: Pod IPs are routed through their Node).
 */
const podIPOffSegment: Rule<PodFacts> = (x, f, ctx) => {
  if (!f.ip || !x.seg || !prefixContains(x.seg, f.ip)) return;
  if (x.nodeByIP.has(f.key)) return; // podIPNotNode said it
  ctx.error(
    'status.podIP',
    `IP ${f.ipText} is inside transportCIDR ${x.cfg.transportCIDR}: Pod IPs are not on the segment`,
  );
};

/** Refuses a Pod IP (of a Node without Pod CIDR) inside another Node's Pod CIDR: that Node gets its traffic (our own). */
const podIPNotOtherPodCIDR: Rule<PodFacts> = (x, f, ctx) => {
  // An unscheduled Pod has no datapath yet; one outside its own Node's Pod CIDR is reported by podIPInNodePodCIDR.
  if (!f.ip || !f.node || nodePodCIDR(f.node)) return;
  for (const o of x.podCidrIndex.containing(f.ip)) {
    if (o.node !== f.node)
      ctx.error('status.podIP', `IP ${f.ipText} is inside the Pod CIDR ${o.text} of Node ${o.node.metadata.name}`);
  }
};

/**
 * Refuses a Pod IP a pool may hand out or a Node declares static: the egress IP's owner would take the Pod's
 * traffic (our own).
 */
const podIPNotEgressIP: Rule<PodFacts> = (x, f, ctx) => {
  if (!f.ip) return;
  for (const pool of poolsHolding(x, f.ip))
    ctx.error('status.podIP', `IP ${f.ipText} is inside ExternalIPPool ${pool.metadata.name}`);
  const owner = x.staticOwner.get(f.key);
  if (owner) ctx.error('status.podIP', `IP ${f.ipText} is a static Egress IP of Node ${owner.metadata.name}`);
};

/**
 * Refuses two Pods whose `namespace/name` have the same CRC-32: the agents name a Pod's network namespace and
 * TUN device after it (tun/devices.ts `podNetnsName`, 15-character names), so the second Pod could not be built.
 */
const podNetnsNameUnique: Rule<PodFacts> = (x, f, ctx) => {
  if (!f.ip) return;
  const c = crc32String(displayName(f.pod));
  const other = x.podByCRC.get(c);
  if (other && other !== f.pod) {
    const hex = c.toString(16).padStart(8, '0');
    ctx.error(
      'metadata.name',
      `Pod ${displayName(f.pod)} would get the network namespace egr-${hex} of Pod ${displayName(other)} (the same CRC-32 of namespace/name): rename one of them`,
    );
  }
};

// --- ExternalHosts -----------------------------------------------------------------------------------------------

/** Refuses a host off the segment or without one; warns about a prefix other than the segment's (our own kind). */
const hostOnSegment: Rule<ExternalHost> = (x, h, ctx) => {
  const a = parseInterfaceAddress(h.spec.address)!;
  const k = formatIP(a.ip);
  if (!x.seg)
    ctx.error('spec.address', 'an ExternalHost needs an AgentConfig with transportCIDR (the segment it is on)');
  else if (!prefixContains(x.seg, a.ip))
    ctx.error('spec.address', `${k} is not inside transportCIDR ${x.cfg.transportCIDR}`);
  else if (a.prefix.len !== x.seg.len || a.prefix.addr !== x.seg.addr)
    ctx.warn('spec.address', `prefix /${a.prefix.len} differs from transportCIDR ${x.cfg.transportCIDR}`);
};

/** Refuses a host address another host has (our own: two ARP owners on the segment). */
const hostAddressUnique: Rule<ExternalHost> = (x, h, ctx) => {
  const k = hostKey(h);
  const other = x.hostByIP.get(k);
  if (other && other !== h)
    ctx.error('spec.address', `${k} is also the address of ExternalHost ${other.metadata.name}`);
};

/** Refuses a host address that a Node or an egress IP uses or a pool may hand out (our own: two ARP owners). */
const hostAddressNotNodeOrEgress: Rule<ExternalHost> = (x, h, ctx) => {
  const k = hostKey(h);
  const node = x.nodeByIP.get(k);
  if (node) ctx.error('spec.address', `${k} is the transport IP of Node ${node.metadata.name}`);
  if (x.staticOwner.has(k))
    ctx.error('spec.address', `${k} is a static Egress IP of Node ${x.staticOwner.get(k)!.metadata.name}`);
  for (const pool of poolsHolding(x, parseIP(k)!))
    ctx.error('spec.address', `${k} is inside ExternalIPPool ${pool.metadata.name}`);
};

/**
 * Refuses an IPv6 host address another host, a Node (its IPv6 address) or an IPv6 pool has (our own: two NDP
 * owners on the segment).
 */
const hostIpv6Address: Rule<ExternalHost> = (x, h, ctx) => {
  const k = hostKey6(h);
  if (k === null) return;
  const other = x.hostByIP.get(k);
  if (other && other !== h)
    ctx.error('spec.ipv6Address', `${k} is also the address of ExternalHost ${other.metadata.name}`);
  for (const n of x.nodes) {
    const a = nodeIPv6(n);
    const ip = a === null ? null : parseIP(a);
    if (ip && formatIP(ip) === k) ctx.error('spec.ipv6Address', `${k} is the IPv6 address of Node ${n.metadata.name}`);
  }
  for (const pool of poolsHolding(x, parseIP(k)!))
    ctx.error('spec.ipv6Address', `${k} is inside ExternalIPPool ${pool.metadata.name}`);
};

// --- ExternalIPPools ---------------------------------------------------------------------------------------------

/**
 * Refuses a range overlapping another pool's: one IP, two allocators. The webhook refuses it on CREATE/UPDATE
 * (Antrea's `pkg/controller/externalippool/validate.go`); this catches a stored set that bypassed it.
 */
const poolRangesDisjoint: Rule<ExternalIPPool> = (x, pool, ctx) => {
  for (const r of x.rangesOf.get(pool)!) {
    for (const o of x.poolRanges.overlapping(r.family, r.start, r.end)) {
      if (o.ordinal >= r.ordinal) continue; // reported on the later pool only (overlaps inside a pool: the webhook)
      ctx.error(
        joinPath('spec.ipRanges', r.index),
        `${r.origin} overlaps with ${o.origin} of ExternalIPPool ${o.pool.metadata.name}`,
      );
    }
  }
};

/**
 * Refuses a range holding a Node's transport IP, a static egress IP, a gateway or overlapping a Pod CIDR: the pool
 * may hand that address to an Egress scheduled on another Node, and two Nodes (or a Node and the router) would
 * answer ARP for it (our own; Antrea does not check).
 */
const poolRangesHoldNoOwnedAddress: Rule<ExternalIPPool> = (x, pool, ctx) => {
  for (const r of x.rangesOf.get(pool)!) {
    const path = joinPath('spec.ipRanges', r.index);
    if (r.window) {
      const [lo, hi] = r.window;
      for (const { ip, owner } of within(x.nodeIPs, r.family, lo, hi))
        ctx.error(
          path,
          `${r.origin} contains ${formatIP(ip)}, the transport IP of Node ${owner.metadata.name}: the pool may hand it out`,
        );
      for (const { owner } of within(x.staticIPs, r.family, lo, hi))
        ctx.error(path, `${r.origin} contains ${owner.text}, a static Egress IP of Node ${owner.node.metadata.name}`);
      if (x.gw && x.gw.family === r.family && x.gw.value >= lo && x.gw.value <= hi)
        ctx.error(
          path,
          `${r.origin} contains the segment's defaultGateway ${x.cfg.defaultGateway}: the pool may hand it out`,
        );
    }
    for (const o of x.podCidrIndex.overlapping(r.family, r.start, r.end))
      ctx.error(path, `${r.origin} overlaps the Pod CIDR ${o.text} of Node ${o.node.metadata.name}`);
  }
};

/** Warns about a range off the segment without subnetInfo: its IPs are unreachable there (our own). */
const poolOnSegment: Rule<ExternalIPPool> = (x, pool, ctx) => {
  if (!x.inSet(pool) || !x.seg || pool.spec.subnetInfo) return;
  for (const r of x.rangesOf.get(pool)!) {
    const first: IP = { family: r.family, value: r.start };
    const last: IP = { family: r.family, value: r.end };
    if (r.family === 4 && !(prefixContains(x.seg, first) && prefixContains(x.seg, last)))
      ctx.warn(
        joinPath('spec.ipRanges', r.index),
        `${r.origin} is outside transportCIDR ${x.cfg.transportCIDR} and the pool has no subnetInfo: its IPs are not reachable on the segment`,
      );
  }
};

/** The subnet of a pool on a VLAN (`subnetInfo.vlan` ≠ 0), or null. */
function vlanSubnet(pool: ExternalIPPool): { prefix: Prefix; text: string; vlan: number } | null {
  const si = pool.spec.subnetInfo;
  if (!si || !si.vlan) return null;
  const prefix = parseCIDR(`${si.gateway}/${si.prefixLength}`);
  return prefix ? { prefix, text: `${si.gateway}/${si.prefixLength}`, vlan: si.vlan } : null;
}

/**
 * Refuses a VLAN subnet overlapping the segment or another pool's subnet on another VLAN (our own, Antrea has no
 * such check): an address would be on two links, and its frames' tag would depend on which pool said it.
 */
const poolVlanSubnet: Rule<ExternalIPPool> = (x, pool, ctx) => {
  const mine = x.inSet(pool) ? vlanSubnet(pool) : null;
  if (!mine) return;
  if (x.seg && prefixesOverlap(mine.prefix, x.seg))
    ctx.error(
      'spec.subnetInfo',
      `subnet ${mine.text} of VLAN ${mine.vlan} overlaps transportCIDR ${x.cfg.transportCIDR}: a VLAN subnet must be another subnet than the segment's`,
    );
  for (const other of x.rangesOf.keys()) {
    const theirs = other === pool ? null : vlanSubnet(other);
    if (theirs && theirs.vlan !== mine.vlan && prefixesOverlap(mine.prefix, theirs.prefix))
      ctx.error(
        'spec.subnetInfo',
        `subnet ${mine.text} of VLAN ${mine.vlan} overlaps subnet ${theirs.text} of VLAN ${theirs.vlan} of ExternalIPPool ${other.metadata.name}`,
      );
  }
};

// --- Egresses ----------------------------------------------------------------------------------------------------

/** An Egress with its IP parsed (null when it has none yet), as text, as key. */
interface EgressFacts {
  readonly egress: Egress;
  readonly ip: IP | null;
  readonly ipText: string;
  readonly key: string;
  /** From the applied set (warnings are only for those). */
  readonly inSet: boolean;
}

/** Warns about an Egress that selects nothing, a static IP on no Node, an IPv6 IP (our own). */
const egressAddressNotes: Rule<EgressFacts> = (x, { egress: e, ip, ipText, key, inSet }, ctx) => {
  if (!inSet) return;
  if (!e.spec.appliedTo.podSelector && !e.spec.appliedTo.namespaceSelector)
    ctx.warn('spec.appliedTo', 'empty appliedTo selects no Pod');
  if (!ip) return;
  if (!e.spec.externalIPPool && !x.nodeByIP.has(key) && !x.staticOwner.has(key)) {
    ctx.warn(
      'spec.egressIP',
      `static egressIP ${ipText} is on no Node (neither a Node's InternalIP nor in a Node's ${ANNOTATION_STATIC_EGRESS_IPS} annotation): its Pods fall back to their Node's IP`,
    );
  }
  if (ip.family === 6)
    ctx.warn(
      'spec.egressIP',
      'an IPv6 egressIP applies to the IPv6 traffic of dual-stack Pods (status.podIPs), but the uplink has no IPv6 neighbour discovery yet: their IPv6 packets to the segment are counted drops (docs/ipv6.md)',
    );
};

/**
 * Refuses a pool's egressIP (pinned or allocated) that is a Node's transport IP: the IP moves to the Node the pool
 * schedules it on, and two Nodes would answer ARP for it (our own). A static egressIP that is a Node's own
 * transport IP stays allowed (Antrea's `test/e2e/egress_test.go` `testEgressClientIP` uses one; that Node is its only
 * owner).
 */
const egressPoolIPNotNode: Rule<EgressFacts> = (x, { egress: e, ip, ipText, key }, ctx) => {
  if (!ip || !e.spec.externalIPPool) return;
  const node = x.nodeByIP.get(key);
  if (node) ctx.error('spec.egressIP', `${ipText} is the transport IP of Node ${node.metadata.name}`);
};

/**
 * Refuses a static egressIP inside a pool: the pool may allocate it to another Egress, whose Node would answer
 * ARP for it too, forever (our own; Antrea leaves a static IP's placement to the user).
 */
const egressStaticIPOutsidePools: Rule<EgressFacts> = (x, { egress: e, ip, ipText }, ctx) => {
  if (!ip || e.spec.externalIPPool) return;
  for (const pool of poolsHolding(x, ip))
    ctx.error(
      'spec.egressIP',
      `IP ${ipText} is inside ExternalIPPool ${pool.metadata.name}, which may allocate it to another Egress: a static egressIP must be outside every pool (or name the pool in externalIPPool)`,
    );
};

/** Refuses an egressIP that is a gateway (the segment's or a pool's): its GARP would hijack the router (our own). */
const egressIPNotGateway: Rule<EgressFacts> = (x, { ip, ipText, key }, ctx) => {
  if (!ip) return;
  const g = gatewayOf(x, ip, key);
  if (g) ctx.error('spec.egressIP', `IP ${ipText} is ${g}`);
};

/** Refuses an egressIP that is an ExternalHost's address: two ARP owners on the segment (our own). */
const egressIPNotHost: Rule<EgressFacts> = (x, { ip, ipText, key }, ctx) => {
  if (!ip) return;
  const h = x.hostByIP.get(key);
  if (h) ctx.error('spec.egressIP', `IP ${ipText} is the address of ExternalHost ${h.metadata.name}`);
};

/** Refuses an egressIP that is a Pod's IP or inside a Pod CIDR: pod routing would take its traffic (our own). */
const egressIPNotPod: Rule<EgressFacts> = (x, { ip, ipText, key }, ctx) => {
  if (!ip) return;
  const p = x.podByIP.get(key);
  if (p) return ctx.error('spec.egressIP', `IP ${ipText} is the IP of Pod ${displayName(p)}`);
  for (const o of x.podCidrIndex.containing(ip))
    ctx.error('spec.egressIP', `IP ${ipText} is inside the Pod CIDR ${o.text} of Node ${o.node.metadata.name}`);
};

/** Warns about bandwidth without the EgressTrafficShaping feature gate, which Antrea requires for it. */
const egressBandwidthGate: Rule<EgressFacts> = (x, { egress: e, inSet }, ctx) => {
  if (inSet && e.spec.bandwidth && !x.cfg.trafficShaping)
    ctx.warn('spec.bandwidth', 'ignored: feature gate EgressTrafficShaping is disabled');
};

// --- the check ---------------------------------------------------------------------------------------------------

const NODE_RULES: readonly Rule<Node>[] = [
  nodeTransportIPUnique,
  nodeTransportIPOnSegment,
  nodeTransportIPNotGateway,
  nodeTransportIPv6Rules,
  nodePodCIDRDisjoint,
  nodeStaticIPsDeclaredOnce,
];
/** Node rules run after every Node's first ones (their messages come after). */
const NODE_RULES_AFTER: readonly Rule<Node>[] = [nodeStaticIPsNotOtherNodes, nodeStaticIPsNotGateway];
const POD_RULES: readonly Rule<PodFacts>[] = [
  podNamespaceExists,
  podNodeExists,
  podIPUnique,
  podScheduled,
  podIPInNodePodCIDR,
  podIPNotNode,
  podIPOffSegment,
  podIPNotOtherPodCIDR,
  podIPNotEgressIP,
  podNetnsNameUnique,
];
const HOST_RULES: readonly Rule<ExternalHost>[] = [
  hostOnSegment,
  hostAddressUnique,
  hostAddressNotNodeOrEgress,
  hostIpv6Address,
];
const POOL_RULES: readonly Rule<ExternalIPPool>[] = [
  poolRangesDisjoint,
  poolRangesHoldNoOwnedAddress,
  poolOnSegment,
  poolVlanSubnet,
];
const EGRESS_RULES: readonly Rule<EgressFacts>[] = [
  egressAddressNotes,
  egressPoolIPNotNode,
  egressStaticIPOutsidePools,
  egressIPNotGateway,
  egressIPNotHost,
  egressIPNotPod,
];
/** Egress rules whose messages come after every Egress's first ones. */
const EGRESS_RULES_AFTER: readonly Rule<EgressFacts>[] = [egressBandwidthGate];

function run<T>(x: CrossIndex, rules: readonly Rule<T>[], o: T, ctxFor: CtxFor, of: AnyObject): void {
  let ctx: Ctx | undefined;
  const report: Report = {
    error: (path, message) => (ctx ??= ctxFor(of)).error(path, message),
    warn: (path, message) => (ctx ??= ctxFor(of)).warn(path, message),
  };
  for (const r of rules) r(x, o, report);
}

/**
 * Rules between objects of the resulting state. Errors about objects outside the applied set are reported without a
 * source. `inSet(o)` says whether an object comes from the applied set (warnings are only reported for those).
 */
export function crossCheck(state: ClusterState, ctxFor: CtxFor, inSet: (o: AnyObject) => boolean): void {
  const x = buildIndex(state, inSet);
  for (const n of x.nodes) run(x, NODE_RULES, n, ctxFor, n);
  for (const n of x.nodes) run(x, NODE_RULES_AFTER, n, ctxFor, n);
  for (const p of x.pods) {
    const node = p.spec.nodeName ? state.nodes.get(p.spec.nodeName) : undefined;
    const ip = podAddress(p);
    const f: PodFacts = { pod: p, node, ip, ipText: ip ? podIPv4(p)! : '', key: ip ? formatIP(ip) : '' };
    run(x, POD_RULES, f, ctxFor, p);
  }
  for (const h of x.hosts) run(x, HOST_RULES, h, ctxFor, h);
  for (const pool of state.pools.values()) run(x, POOL_RULES, pool, ctxFor, pool);
  const egresses = [...state.egresses.values()].map((e): EgressFacts => {
    const ip = e.spec.egressIP ? parseIP(e.spec.egressIP)! : null;
    return { egress: e, ip, ipText: e.spec.egressIP ?? '', key: ip ? formatIP(ip) : '', inSet: inSet(e) };
  });
  for (const f of egresses) run(x, EGRESS_RULES, f, ctxFor, f.egress);
  for (const f of egresses) run(x, EGRESS_RULES_AFTER, f, ctxFor, f.egress);
  egressGateOff(x, ctxFor);
}

/** Warns once when the Egress feature gate is off and Egresses exist: they are ignored (Antrea's agent skips them). */
function egressGateOff(x: CrossIndex, ctxFor: CtxFor): void {
  const { state, inSet } = x;
  if (x.cfg.egressEnabled || state.egresses.size === 0) return;
  const any = [...state.egresses.values()].find(inSet) ?? (state.config && inSet(state.config) ? state.config : null);
  if (any)
    ctxFor(any).warn(
      '',
      `feature gate Egress is disabled: ${state.egresses.size} Egress object(s) are ignored and Pods leave with their Node's IP`,
    );
}

/** Stored objects first (so duplicates are reported on the new document), then by key; keys computed once. */
function sortSetFirst<T extends AnyObject>(l: readonly T[], inSet: (o: AnyObject) => boolean): T[] {
  return l
    .map((o) => ({ o, s: inSet(o) ? 1 : 0, k: keyOf(o) }))
    .sort((a, b) => a.s - b.s || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((e) => e.o);
}
