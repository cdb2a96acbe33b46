/**
 * Rules between the objects of the state a change would produce: the references and address plans this engine
 * needs to build a datapath (a Pod's Node and Namespace exist, addresses are unique and on the segment...). Antrea
 * has no such webhook; where a rule follows the API server or Antrea, its comment names the source.
 *
 * `crossCheck` builds the lookup tables once (`CrossIndex`), then runs each kind's rules, in the order below, on
 * every object of that kind (stored objects first, so a duplicate is reported on the new document). Each rule is a
 * function of (index, object, its context) that refuses one thing; errors about objects outside the applied set
 * are reported without a source, warnings only for objects of the set.
 */
import { poolAllocator } from '../allocator.js';
import { resolveConfig } from '../config.js';
import type { ResolvedConfig } from '../config.js';
import { formatIP, parseCIDR, parseIP, parseInterfaceAddress, prefixContains, prefixesOverlap } from '../ip.js';
import type { IP, Prefix } from '../ip.js';
import {
  ANNOTATION_STATIC_EGRESS_IPS,
  keyOf,
  namespaceLabels,
  nodePodCIDR,
  nodeStaticIPs,
  nodeTransportIP,
  podIPv4,
} from '../model.js';
import type { AnyObject, ClusterState, Egress, ExternalHost, ExternalIPPool, Node, Pod } from '../model.js';
import { joinPath } from '../problems.js';
import type { Ctx } from '../problems.js';
import { normalizedRanges } from './webhooks.js';

/** Maps an object key to the context its problems go to (its document when it is in the applied set). */
export type CtxFor = (o: AnyObject) => Ctx;

/** One address of a Node's static-egress-ips annotation, with the Node that declared it just before (if any). */
interface StaticDecl {
  readonly text: string;
  readonly key: string;
  readonly prev: Node | undefined;
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
  /** Pod CIDRs in Node order. */
  readonly podCidrs: readonly { node: Node; prefix: Prefix; text: string }[];
  /** Each Node's static-egress-ips declarations, in annotation order. */
  readonly staticDecls: ReadonlyMap<Node, readonly StaticDecl[]>;
  /** Static egress IP → the last Node declaring it. */
  readonly staticOwner: ReadonlyMap<string, Node>;
  /** Pod IPv4 → the first Pod with it (hostNetwork Pods excluded). */
  readonly podByIP: ReadonlyMap<string, Pod>;
  /** ExternalHost address → the first host with it. */
  readonly hostByIP: ReadonlyMap<string, ExternalHost>;
}

function buildIndex(state: ClusterState, inSet: (o: AnyObject) => boolean): CrossIndex {
  const cfg = resolveConfig(state.config);
  const nodes = [...state.nodes.values()].sort(setFirst(inSet));
  const nodeByIP = new Map<string, Node>();
  const podCidrs: { node: Node; prefix: Prefix; text: string }[] = [];
  const staticDecls = new Map<Node, StaticDecl[]>();
  const staticOwner = new Map<string, Node>();
  for (const n of nodes) {
    const key = formatIP(parseIP(nodeTransportIP(n)!)!);
    if (!nodeByIP.has(key)) nodeByIP.set(key, n);
    const pc = nodePodCIDR(n);
    if (pc) podCidrs.push({ node: n, prefix: parseCIDR(pc)!, text: pc });
    const decls: StaticDecl[] = [];
    for (const s of nodeStaticIPs(n)) {
      const sip = parseIP(s);
      if (!sip) continue;
      const k = formatIP(sip);
      decls.push({ text: s, key: k, prev: staticOwner.get(k) });
      staticOwner.set(k, n);
    }
    staticDecls.set(n, decls);
  }
  const podByIP = new Map<string, Pod>();
  for (const p of [...state.pods.values()].sort(setFirst(inSet))) {
    const ip = podAddress(p);
    if (ip && !podByIP.has(formatIP(ip))) podByIP.set(formatIP(ip), p);
  }
  const hostByIP = new Map<string, ExternalHost>();
  for (const h of [...state.externalHosts.values()].sort(setFirst(inSet))) {
    const k = formatIP(parseInterfaceAddress(h.spec.address)!.ip);
    if (!hostByIP.has(k)) hostByIP.set(k, h);
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
    podCidrs,
    staticDecls,
    staticOwner,
    podByIP,
    hostByIP,
  };
}

/** The IPv4 address a Pod's datapath uses (null for hostNetwork Pods and Pods without one). */
function podAddress(p: Pod): IP | null {
  if (p.spec.hostNetwork) return null;
  const t = podIPv4(p);
  return t ? parseIP(t)! : null;
}

type Rule<T> = (x: CrossIndex, o: T, ctx: Ctx) => void;

const STATIC_PATH = joinPath('metadata.annotations', ANNOTATION_STATIC_EGRESS_IPS);

// --- Nodes -------------------------------------------------------------------------------------------------------

/** Refuses a transport IP another Node has: peers tell Nodes apart by it (our own: heartbeats, Geneve, ARP). */
const nodeTransportIPUnique: Rule<Node> = (x, n, ctx) => {
  const tip = nodeTransportIP(n)!;
  const other = x.nodeByIP.get(formatIP(parseIP(tip)!));
  if (other && other !== n)
    ctx.error('status.addresses', `InternalIP ${tip} is also the transport IP of Node ${other.metadata.name}`);
};

/** Refuses a transport IP outside the segment: the uplink is one L2 subnet (our own: AgentConfig.transportCIDR). */
const nodeTransportIPOnSegment: Rule<Node> = (x, n, ctx) => {
  const tip = nodeTransportIP(n)!;
  if (x.seg && !prefixContains(x.seg, parseIP(tip)!))
    ctx.error('status.addresses', `InternalIP ${tip} is not inside transportCIDR ${x.cfg.transportCIDR}`);
};

/** Refuses the segment's gateway as a transport IP: two ARP owners of the router's address (our own). */
const nodeTransportIPNotGateway: Rule<Node> = (x, n, ctx) => {
  const tip = nodeTransportIP(n)!;
  const ip = parseIP(tip)!;
  if (x.gw && ip.value === x.gw.value && x.gw.family === 4)
    ctx.error('status.addresses', `InternalIP ${tip} is the segment's defaultGateway`);
};

/**
 * Refuses a Pod CIDR overlapping another Node's, the segment or the service CIDR: classify routes pod traffic by
 * Pod CIDR (our own; Kubernetes' node IPAM allocates disjoint CIDRs, `pkg/controller/nodeipam`).
 */
const nodePodCIDRDisjoint: Rule<Node> = (x, n, ctx) => {
  const pc = nodePodCIDR(n);
  if (!pc) return;
  const p = parseCIDR(pc)!;
  for (const o of x.podCidrs) {
    if (o.node === n) break;
    if (prefixesOverlap(o.prefix, p))
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

// --- Pods --------------------------------------------------------------------------------------------------------

/** A Pod with what its rules need. */
interface PodFacts {
  readonly pod: Pod;
  readonly node: Node | undefined;
  /** Its IPv4 (null for hostNetwork Pods and Pods without one: the address rules skip those). */
  readonly ip: IP | null;
  readonly ipText: string;
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
  const other = x.podByIP.get(formatIP(f.ip));
  if (other && other !== f.pod)
    ctx.error(
      'status.podIP',
      `IP ${f.ipText} is also the IP of Pod ${other.metadata.namespace}/${other.metadata.name}`,
    );
};

/** Warns about a Pod on no Node: no Egress applies to it (Antrea: only scheduled Pods have an OVS port). */
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
  const node = x.nodeByIP.get(formatIP(f.ip));
  if (node) ctx.error('status.podIP', `IP ${f.ipText} is the transport IP of Node ${node.metadata.name}`);
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

/** Refuses a host address that a Node or an egress IP uses (our own: two ARP owners on the segment). */
const hostAddressNotNodeOrEgress: Rule<ExternalHost> = (x, h, ctx) => {
  const k = hostKey(h);
  const node = x.nodeByIP.get(k);
  if (node) ctx.error('spec.address', `${k} is the transport IP of Node ${node.metadata.name}`);
  if (x.staticOwner.has(k))
    ctx.error('spec.address', `${k} is a static Egress IP of Node ${x.staticOwner.get(k)!.metadata.name}`);
  const ip = parseIP(k)!;
  for (const pool of x.state.pools.values()) {
    if (poolAllocator(pool).has(ip)) ctx.error('spec.address', `${k} is inside ExternalIPPool ${pool.metadata.name}`);
  }
};

function hostKey(h: ExternalHost): string {
  return formatIP(parseInterfaceAddress(h.spec.address)!.ip);
}

// --- ExternalIPPools (warnings, for pools of the set) ------------------------------------------------------------

/** Warns about a pool holding a Node's IP or the gateway, or off the segment without subnetInfo (our own). */
const poolAddresses: Rule<ExternalIPPool> = (x, pool, ctx) => {
  const alloc = poolAllocator(pool);
  for (const [k, n] of x.nodeByIP) {
    if (alloc.has(parseIP(k)!))
      ctx.warn(
        'spec.ipRanges',
        `the pool contains ${k}, the transport IP of Node ${n.metadata.name}: it may be handed out`,
      );
  }
  if (x.gw && alloc.has(x.gw))
    ctx.warn('spec.ipRanges', `the pool contains the segment's defaultGateway ${x.cfg.defaultGateway}`);
  if (x.seg && !pool.spec.subnetInfo) {
    for (const r of normalizedRanges(pool)) {
      if (r.start.family === 4 && !(prefixContains(x.seg, r.start) && prefixContains(x.seg, r.end)))
        ctx.warn(
          joinPath('spec.ipRanges', r.index),
          `${r.origin} is outside transportCIDR ${x.cfg.transportCIDR} and the pool has no subnetInfo: its IPs are not reachable on the segment`,
        );
    }
  }
};

// --- Egresses (warnings, for Egresses of the set) ----------------------------------------------------------------

/** Warns about an Egress that selects nothing, a static IP on no Node, an IPv6 IP (our own). */
const egressAddress: Rule<Egress> = (x, e, ctx) => {
  if (!e.spec.appliedTo.podSelector && !e.spec.appliedTo.namespaceSelector)
    ctx.warn('spec.appliedTo', 'empty appliedTo selects no Pod');
  const ipText = e.spec.egressIP;
  if (!ipText) return;
  const ip = parseIP(ipText)!;
  const k = formatIP(ip);
  const node = x.nodeByIP.get(k);
  if (e.spec.externalIPPool) {
    if (node) ctx.warn('spec.egressIP', `${ipText} is the transport IP of Node ${node.metadata.name}`);
  } else if (!node && !x.staticOwner.has(k)) {
    ctx.warn(
      'spec.egressIP',
      `static egressIP ${ipText} is on no Node (neither a Node's InternalIP nor in a Node's ${ANNOTATION_STATIC_EGRESS_IPS} annotation): its Pods fall back to their Node's IP`,
    );
  }
  if (ip.family === 6)
    ctx.warn(
      'spec.egressIP',
      'IPv6 Egress IPs are allocated and scheduled, but the datapath is IPv4: its Pods use their Node IP',
    );
};

/** Warns about bandwidth without the EgressTrafficShaping gate (Antrea ignores it then, `pkg/agent/egress`). */
const egressBandwidthGate: Rule<Egress> = (x, e, ctx) => {
  if (e.spec.bandwidth && !x.cfg.trafficShaping)
    ctx.warn('spec.bandwidth', 'ignored: feature gate EgressTrafficShaping is disabled');
};

// --- the check ---------------------------------------------------------------------------------------------------

const NODE_RULES: readonly Rule<Node>[] = [
  nodeTransportIPUnique,
  nodeTransportIPOnSegment,
  nodeTransportIPNotGateway,
  nodePodCIDRDisjoint,
  nodeStaticIPsDeclaredOnce,
];
/** Node rules that need every Node's declarations first. */
const NODE_RULES_AFTER: readonly Rule<Node>[] = [nodeStaticIPsNotOtherNodes];
const POD_RULES: readonly Rule<PodFacts>[] = [
  podNamespaceExists,
  podNodeExists,
  podIPUnique,
  podScheduled,
  podIPInNodePodCIDR,
  podIPNotNode,
];
const HOST_RULES: readonly Rule<ExternalHost>[] = [hostOnSegment, hostAddressUnique, hostAddressNotNodeOrEgress];
const POOL_RULES: readonly Rule<ExternalIPPool>[] = [poolAddresses];
const EGRESS_RULES: readonly Rule<Egress>[] = [egressAddress];
const EGRESS_RULES_AFTER: readonly Rule<Egress>[] = [egressBandwidthGate];

function run<T>(x: CrossIndex, rules: readonly Rule<T>[], o: T, ctx: Ctx): void {
  for (const r of rules) r(x, o, ctx);
}

/**
 * Rules between objects of the resulting state. Errors about objects outside the applied set are reported without a
 * source. `inSet(o)` says whether an object comes from the applied set (warnings are only reported for those).
 */
export function crossCheck(state: ClusterState, ctxFor: CtxFor, inSet: (o: AnyObject) => boolean): void {
  const x = buildIndex(state, inSet);
  for (const n of x.nodes) run(x, NODE_RULES, n, ctxFor(n));
  for (const n of x.nodes) run(x, NODE_RULES_AFTER, n, ctxFor(n));
  for (const p of [...state.pods.values()].sort(setFirst(inSet))) {
    const node = p.spec.nodeName ? state.nodes.get(p.spec.nodeName) : undefined;
    const ip = podAddress(p);
    run(x, POD_RULES, { pod: p, node, ip, ipText: ip ? podIPv4(p)! : '' }, ctxFor(p));
  }
  for (const h of [...state.externalHosts.values()].sort(setFirst(inSet))) run(x, HOST_RULES, h, ctxFor(h));
  for (const pool of state.pools.values()) if (inSet(pool)) run(x, POOL_RULES, pool, ctxFor(pool));
  for (const e of state.egresses.values()) if (inSet(e)) run(x, EGRESS_RULES, e, ctxFor(e));
  for (const e of state.egresses.values()) if (inSet(e)) run(x, EGRESS_RULES_AFTER, e, ctxFor(e));
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

function setFirst(inSet: (o: AnyObject) => boolean) {
  return (a: AnyObject, b: AnyObject) => {
    const d = (inSet(a) ? 1 : 0) - (inSet(b) ? 1 : 0);
    if (d !== 0) return d; // stored objects first, so duplicates are reported on the new document
    return keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0;
  };
}
