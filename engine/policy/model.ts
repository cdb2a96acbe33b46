/**
 * The objects of the control plane, shaped like their Kubernetes JSON (so `egress get -o yaml` prints what kubectl
 * would), and the cluster state that holds them.
 *
 * Kinds (see manifest.ts for how documents become these objects and validate.ts for the rules):
 * - `crd.antrea.io/v1beta1` Egress and ExternalIPPool, every field of Antrea's CRDs;
 * - `v1` Node, Namespace, Pod: the subset that Egress needs;
 * - `egress-engine/v1alpha1` AgentConfig (the fields of antrea-agent.conf, plus the segment) and ExternalHost;
 * - `v1` ConfigMap holding `antrea-agent.conf` (Antrea's own way to configure agents) as an alternative AgentConfig.
 *
 * Objects are plain data (JSON round-trip safe). Labels and annotations are always present (possibly empty).
 */
import { crc32 } from './crc32.js';
import { ipv4ToInt32, parseIPv6 } from './ip.js';

export const ANTREA_API = 'crd.antrea.io/v1beta1';
export const ANTREA_API_V1ALPHA2 = 'crd.antrea.io/v1alpha2';
export const ENGINE_API = 'egress-engine/v1alpha1';

/** Node annotation: per-Node capacity, overriding `egress.maxEgressIPsPerNode` (Antrea). */
export const ANNOTATION_MAX_EGRESS_IPS = 'node.antrea.io/max-egress-ips';
/**
 * Node annotation (ours): comma-separated static Egress IPs configured on this Node. A static Egress (egressIP
 * without externalIPPool) is hosted by the Node that declares its IP here, or whose transport IP it is — the two
 * ways Antrea's docs and e2e tests put a static IP on a Node.
 */
export const ANNOTATION_STATIC_EGRESS_IPS = 'egress-engine.io/static-egress-ips';
/** Label the API server puts on every Namespace. */
export const LABEL_NAMESPACE_NAME = 'kubernetes.io/metadata.name';
/** Labels the kubelet puts on every Node (we add them when absent). */
export const LABEL_HOSTNAME = 'kubernetes.io/hostname';
export const LABEL_OS = 'kubernetes.io/os';

/**
 * Whether a Node takes part in Egress at all (Antrea's memberlist `shouldJoinCluster`: `kubernetes.io/os=linux`).
 * Others (Windows Nodes) are in no ring and host no egress IP, static ones included (docs/semantics.md §2.2).
 */
export function joinsCluster(node: { readonly metadata: { readonly labels: Labels } }): boolean {
  return node.metadata.labels[LABEL_OS] === 'linux';
}

export type Labels = Readonly<Record<string, string>>;

export interface ObjectMeta {
  name: string;
  /** Pods only. */
  namespace?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Set by the store: stable for the object's life, new when it is deleted and created again. */
  uid: string;
  /** RFC 3339, set when the object is first applied; drives "oldest Egress first". */
  creationTimestamp: string;
  /** Incremented on every spec (or, for v1 kinds, content) change. */
  generation: number;
  /** Store generation of the object's last change. */
  resourceVersion: string;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

// --- crd.antrea.io/v1beta1 -------------------------------------------------------------------------------------

export interface AppliedTo {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
}

export interface Bandwidth {
  rate: string;
  burst: string;
}

export interface EgressSpec {
  appliedTo: AppliedTo;
  egressIP?: string;
  /** Dual-stack placeholder; the webhook rejects it ("spec.egressIPs is not supported yet"). Never stored. */
  egressIPs?: string[];
  externalIPPool?: string;
  /** Rejected by the webhook ("spec.externalIPPools is not supported yet"). Never stored. */
  externalIPPools?: string[];
  bandwidth?: Bandwidth;
}

export type ConditionType = 'IPAssigned' | 'IPAllocated';

export interface EgressCondition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface EgressStatus {
  egressNode: string;
  egressIP: string;
  conditions?: EgressCondition[];
}

export interface Egress {
  apiVersion: typeof ANTREA_API;
  kind: 'Egress';
  metadata: ObjectMeta;
  spec: EgressSpec;
  /** Stored: what the controller wrote (the IPAllocated condition). Displayed: merged with the agents' status. */
  status: EgressStatus;
}

export interface IPRange {
  cidr?: string;
  start?: string;
  end?: string;
}

export interface SubnetInfo {
  gateway: string;
  prefixLength: number;
  vlan?: number;
}

export interface ExternalIPPoolSpec {
  ipRanges: IPRange[];
  subnetInfo?: SubnetInfo;
  nodeSelector: LabelSelector;
}

export interface ExternalIPPool {
  apiVersion: typeof ANTREA_API;
  kind: 'ExternalIPPool';
  metadata: ObjectMeta;
  spec: ExternalIPPoolSpec;
  status: { usage: { total: number; used: number } };
}

// --- v1 ----------------------------------------------------------------------------------------------------------

export interface NodeAddress {
  type: string;
  address: string;
}

export interface Node {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: ObjectMeta;
  spec: { podCIDR?: string; podCIDRs?: string[] };
  status: { addresses: NodeAddress[] };
}

export interface Namespace {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: ObjectMeta;
}

export interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta & { namespace: string };
  spec: { nodeName?: string; hostNetwork?: boolean };
  status: { podIP?: string; podIPs?: { ip: string }[]; phase?: PodPhase };
}

export const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
export type PodPhase = (typeof POD_PHASES)[number];

/**
 * A Pod whose containers have all stopped for good (`status.phase` Succeeded or Failed, Antrea's
 * `k8s.IsPodTerminated`): no Egress selects it (docs/semantics.md §1.1).
 */
export function isPodTerminated(pod: Pod): boolean {
  return pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed';
}

/** A `v1` ConfigMap carrying `antrea-agent.conf` (and optionally `antrea-controller.conf`), as Antrea's docs show. */
export interface ConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: ObjectMeta & { namespace: string };
  data: Record<string, string>;
}

// --- egress-engine/v1alpha1 ------------------------------------------------------------------------------------

/** The options of antrea-agent.conf that Egress uses, plus the segment (see config.ts for defaults). */
export interface AgentConfigFields {
  featureGates?: Record<string, boolean>;
  egress?: { exceptCIDRs?: string[]; maxEgressIPsPerNode?: number; snatFullyRandomPorts?: boolean };
  snatFullyRandomPorts?: boolean;
  trafficEncapMode?: 'encap';
  tunnelType?: 'geneve';
  tunnelPort?: number;
  clusterPort?: number;
  serviceCIDR?: string;
  serviceCIDRv6?: string;
  /** Antrea's Pod MTU (0 = transport MTU − 50 for Geneve). */
  defaultMTU?: number;
  /** Ours: MTU of the node's uplink on the segment (Antrea discovers it). */
  transportInterfaceMTU?: number;
  /** Ours: the one subnet of the L2 segment (docs/architecture.md §1). */
  transportCIDR?: string;
  /** Ours: next hop for destinations outside transportCIDR (none = counted drop). */
  defaultGateway?: string;
  /** Ours: the segment's on-link IPv6 prefix (default: the /64 of the Node's IPv6 address, docs/ipv6.md §2.c). */
  transportCIDRv6?: string;
  /** Ours: the IPv6 router for destinations outside transportCIDRv6 (none = counted drop). */
  defaultGatewayv6?: string;
}

export interface AgentConfig extends AgentConfigFields {
  apiVersion: typeof ENGINE_API;
  kind: 'AgentConfig';
  metadata: ObjectMeta;
}

export interface ExternalHost {
  apiVersion: typeof ENGINE_API;
  kind: 'ExternalHost';
  metadata: ObjectMeta;
  /** `ipv6Address`: the host's IPv6 address with its prefix, on a dual-stack segment (docs/ipv6.md §4). */
  spec: { address: string; ipv6Address?: string; command?: string[] };
}

export type AnyObject = Egress | ExternalIPPool | Node | Namespace | Pod | ConfigMap | AgentConfig | ExternalHost;
export type Kind = AnyObject['kind'];

/** Kinds in the order objects are listed, created and printed. */
export const KINDS: readonly Kind[] = [
  'AgentConfig',
  'ConfigMap',
  'Namespace',
  'Node',
  'ExternalIPPool',
  'Egress',
  'Pod',
  'ExternalHost',
];

/** kubectl-style resource name for messages: `egress.crd.antrea.io/x`, `pod/x`. */
export const RESOURCE: Record<Kind, string> = {
  Egress: 'egress.crd.antrea.io',
  ExternalIPPool: 'externalippool.crd.antrea.io',
  Node: 'node',
  Namespace: 'namespace',
  Pod: 'pod',
  ConfigMap: 'configmap',
  AgentConfig: 'agentconfig.egress-engine',
  ExternalHost: 'externalhost.egress-engine',
};

/** Store key of an object: `Kind/name`, or `Pod/namespace/name`. */
export function objectKey(kind: Kind, name: string, namespace?: string): string {
  return kind === 'Pod' || kind === 'ConfigMap' ? `${kind}/${namespace ?? 'default'}/${name}` : `${kind}/${name}`;
}

export function keyOf(o: AnyObject): string {
  return objectKey(o.kind, o.metadata.name, o.metadata.namespace);
}

/** `ns/name` for Pods, `name` otherwise. */
export function displayName(o: AnyObject): string {
  return o.kind === 'Pod' || o.kind === 'ConfigMap' ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

// --- controller state and cluster state --------------------------------------------------------------------------

/** One IP the controller tracks as allocated (Antrea's `ipAllocationMap`). */
export interface Allocation {
  egress: string;
  pool: string;
  /** Canonical text. */
  ip: string;
  /** True when the controller picked the IP (then it may keep it while a re-applied manifest omits egressIP). */
  auto: boolean;
}

export interface ControllerState {
  /** Allocations, sorted by Egress name. */
  readonly allocations: readonly Allocation[];
  /**
   * Per pool, its ranges in allocator order ("cidr" text or "start-end"): spec order at creation, ranges added later
   * appended (the webhook forbids removing or changing one).
   */
  readonly poolRanges: Readonly<Record<string, readonly string[]>>;
}

/**
 * Everything applied, plus the controller's bookkeeping. `controller === null` means the bookkeeping is lost (as
 * after an antrea-controller restart): the next reconcile re-registers every Egress's `(spec.egressIP, pool)` before
 * it hands out anything new.
 */
export interface ClusterState {
  /** Store generation: incremented on every applied change. */
  readonly generation: number;
  readonly egresses: ReadonlyMap<string, Egress>;
  readonly pools: ReadonlyMap<string, ExternalIPPool>;
  readonly nodes: ReadonlyMap<string, Node>;
  readonly namespaces: ReadonlyMap<string, Namespace>;
  /** Keyed `namespace/name`. */
  readonly pods: ReadonlyMap<string, Pod>;
  readonly externalHosts: ReadonlyMap<string, ExternalHost>;
  /** The agent configuration document, if any (AgentConfig or the antrea-config ConfigMap). */
  readonly config: AgentConfig | ConfigMap | null;
  readonly controller: ControllerState | null;
}

export const EMPTY_CONTROLLER: ControllerState = { allocations: [], poolRanges: {} };

export function emptyState(): ClusterState {
  return {
    generation: 0,
    egresses: new Map(),
    pools: new Map(),
    nodes: new Map(),
    namespaces: new Map(),
    pods: new Map(),
    externalHosts: new Map(),
    config: null,
    controller: EMPTY_CONTROLLER,
  };
}

/** Namespaces that exist without being declared (the API server creates them). */
export const BUILTIN_NAMESPACES: readonly string[] = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** Labels of a Namespace by name: declared, or built in; null when it does not exist. */
export function namespaceLabels(state: ClusterState, name: string): Labels | null {
  const ns = state.namespaces.get(name);
  if (ns) return ns.metadata.labels;
  if (BUILTIN_NAMESPACES.includes(name)) return { [LABEL_NAMESPACE_NAME]: name };
  return null;
}

/** Every object of the state, in KINDS order then by key. */
export function allObjects(state: ClusterState): AnyObject[] {
  const out: AnyObject[] = [];
  if (state.config) out.push(state.config);
  const maps: ReadonlyMap<string, AnyObject>[] = [
    state.namespaces,
    state.nodes,
    state.pools,
    state.egresses,
    state.pods,
    state.externalHosts,
  ];
  for (const m of maps) out.push(...[...m.values()].sort((a, b) => cmp(keyOf(a), keyOf(b))));
  return out;
}

/** Egresses oldest first: creationTimestamp ascending, then name (Antrea's `EgressesByCreationTimestamp`). */
const oldestFirstCache = new WeakMap<ClusterState, readonly Egress[]>();

/** The Egresses oldest first (sorted once per state object: ClusterState is immutable); a fresh array. */
export function egressesOldestFirst(state: ClusterState): Egress[] {
  let sorted = oldestFirstCache.get(state);
  if (!sorted) {
    sorted = [...state.egresses.values()].sort(compareEgressAge);
    oldestFirstCache.set(state, sorted);
  }
  return sorted.slice();
}

export function compareEgressAge(a: Egress, b: Egress): number {
  const ta = Date.parse(a.metadata.creationTimestamp);
  const tb = Date.parse(b.metadata.creationTimestamp);
  if (ta !== tb) return ta - tb;
  return cmp(a.metadata.name, b.metadata.name);
}

/** A Kubernetes timestamp (`metav1.Time`): RFC 3339 with second precision, UTC. */
export function rfc3339(t: Date): string {
  return t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Byte-order string comparison (Go's `<` on strings), not locale order. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An Egress is schedulable (HA) when both its IP and its pool are set (`isEgressSchedulable`). */
export function isSchedulable(e: Egress): boolean {
  return !!e.spec.egressIP && !!e.spec.externalIPPool;
}

/** A Node's transport IP: its first IPv4 InternalIP, else its first IPv4 ExternalIP (`k8s.GetNodeAddrs`). */
export function nodeTransportIP(n: Node): string | null {
  for (const type of ['InternalIP', 'ExternalIP']) {
    for (const a of n.status.addresses) {
      if (a.type === type && !a.address.includes(':')) return a.address;
    }
  }
  return null;
}

/**
 * A Node's IPv6 transport address (docs/ipv6.md §2.l): when it has no IPv4 InternalIP or ExternalIP, its first
 * IPv6 InternalIP, else its first IPv6 ExternalIP (Antrea's IPv6-only clusters); null for a Node with an IPv4 one.
 */
export function nodeTransportIPv6(n: Node): string | null {
  return nodeTransportIP(n) === null ? nodeIPv6(n) : null;
}

/**
 * The 32-bit key a Node is known by in membership, peer pins, tunnel windows and the datapath's node tables: its
 * IPv4 transport address, or for an IPv6 transport address a key in 240.0.0.0/4 (reserved, never an address on
 * the wire) from the CRC-32 of its 16 bytes (docs/ipv6.md §2.l; validation refuses two Nodes with one key).
 */
export function nodeTransportKey(n: Node): number | null {
  const t4 = nodeTransportIP(n);
  if (t4 !== null) return ipv4ToInt32(t4);
  const t6 = nodeIPv6(n);
  return t6 === null ? null : transportKey6(t6);
}

/** The key of an IPv6 transport address (`nodeTransportKey`), null when `text` is not one. */
export function transportKey6(text: string): number | null {
  const v = parseIPv6(text);
  if (v === null) return null;
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = Number((v >> BigInt(8 * (15 - i))) & 0xffn);
  const k = 0xf0000000 | (crc32(b) & 0x0fffffff) | 0;
  return k === -1 ? -2 : k; // 255.255.255.255 is the broadcast address
}

/** A Node's IPv4 pod CIDR (`spec.podCIDRs` first IPv4 entry, else `spec.podCIDR`). */
export function nodePodCIDR(n: Node): string | null {
  for (const c of n.spec.podCIDRs ?? []) if (!c.includes(':')) return c;
  if (n.spec.podCIDR && !n.spec.podCIDR.includes(':')) return n.spec.podCIDR;
  return null;
}

/** A Node's IPv6 pod CIDR (`spec.podCIDRs` first IPv6 entry, else an IPv6 `spec.podCIDR`), for dual-stack Nodes. */
export function nodePodCIDRv6(n: Node): string | null {
  for (const c of n.spec.podCIDRs ?? []) if (c.includes(':')) return c;
  if (n.spec.podCIDR && n.spec.podCIDR.includes(':')) return n.spec.podCIDR;
  return null;
}

/** A Node's IPv6 address (first IPv6 InternalIP, else ExternalIP): what its Pods' IPv6 traffic masquerades to. */
export function nodeIPv6(n: Node): string | null {
  for (const type of ['InternalIP', 'ExternalIP']) {
    for (const a of n.status.addresses) {
      if (a.type === type && a.address.includes(':')) return a.address;
    }
  }
  return null;
}

/** Static Egress IPs a Node declares in its annotation (trimmed, empty entries dropped). */
export function nodeStaticIPs(n: Node): string[] {
  const raw = n.metadata.annotations[ANNOTATION_STATIC_EGRESS_IPS];
  if (!raw) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A Pod's IPv4 address, if it has one. */
export function podIPv4(p: Pod): string | null {
  for (const x of p.status.podIPs ?? []) if (!x.ip.includes(':')) return x.ip;
  if (p.status.podIP && !p.status.podIP.includes(':')) return p.status.podIP;
  return null;
}

/** A Pod's IPv6 address (`status.podIPs` of a dual-stack or IPv6 Pod), if it has one. */
export function podIPv6(p: Pod): string | null {
  for (const x of p.status.podIPs ?? []) if (x.ip.includes(':')) return x.ip;
  if (p.status.podIP && p.status.podIP.includes(':')) return p.status.podIP;
  return null;
}
