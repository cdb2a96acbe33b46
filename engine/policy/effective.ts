/**
 * Where each Egress's IP lives (as one agent sees it) and which Egress applies to each Pod.
 *
 * Placement of an Egress from a viewer's membership:
 * - HA (egressIP and externalIPPool): the scheduler's node, or its error.
 * - Pool but no IP yet (allocation failed, or the pool was deleted): no placement (Antrea's "EgressIP is empty").
 * - Static (egressIP only): the Node that has the IP — the Node whose transport IP it is, or that lists it in its
 *   `egress-engine.io/static-egress-ips` annotation. Differences from Antrea (issue #6228): when no Node has the IP,
 *   or that Node is not alive in the viewer's membership, there is no placement, so the Egress's Pods fall back to
 *   their Node's IP instead of being tunneled to an unreachable IP, and the status says why.
 *
 * Several Egresses selecting one Pod (Antrea: the first one its agent happens to process, "selected randomly",
 * issue #6591): here the effective Egress is the oldest one (creationTimestamp, then name) among those that select
 * the Pod and have an IPv4 placement; the others are its alternatives. Every agent and the CLI get the same answer.
 * A Pod that is selected but whose Egresses all lack a placement falls back to its Node's IP.
 * Pods without a Node (`spec.nodeName` empty), hostNetwork Pods and terminated Pods (`status.phase` Succeeded or
 * Failed, Antrea's `IsPodTerminated`) are never selected (the controller skips them).
 */
import { formatIP, parseIP } from './ip.js';
import {
  egressesOldestFirst,
  isPodTerminated,
  joinsCluster,
  isSchedulable,
  namespaceLabels,
  nodeStaticIPs,
  nodeTransportIP,
} from './model.js';
import type { ClusterState, Egress, Node, Pod } from './model.js';
import { resolveConfig } from './config.js';
import type { Schedule } from './scheduler.js';
import { appliedToMatches } from './selector.js';

export type Placement =
  | { readonly ok: true; readonly ip: string; readonly node: string; readonly ha: boolean }
  | { readonly ok: false; readonly reason: string; readonly scheduleError: string | null };

/** The Node that has a static IP (transport IP or annotation), or null. */
export function staticOwner(state: ClusterState, ipText: string): Node | null {
  const ip = parseIP(ipText);
  if (!ip) return null;
  const k = formatIP(ip);
  for (const n of state.nodes.values()) {
    const t = nodeTransportIP(n);
    if (t !== null && t === k) return n;
  }
  for (const n of state.nodes.values()) {
    if (
      nodeStaticIPs(n).some((s) => {
        const p = parseIP(s);
        return p !== null && formatIP(p) === k;
      })
    )
      return n;
  }
  return null;
}

/** Placement of every Egress (empty with the Egress feature gate off). */
export function placements(
  state: ClusterState,
  sched: Schedule,
  membership: ReadonlySet<string>,
): Map<string, Placement> {
  const out = new Map<string, Placement>();
  if (!resolveConfig(state.config).egressEnabled) return out;
  for (const e of state.egresses.values()) out.set(e.metadata.name, placementOf(state, e, sched, membership));
  return out;
}

export function placementOf(
  state: ClusterState,
  e: Egress,
  sched: Schedule,
  membership: ReadonlySet<string>,
): Placement {
  if (isSchedulable(e)) {
    const r = sched.get(e.metadata.name);
    if (!r) return { ok: false, reason: 'not scheduled yet', scheduleError: null };
    if (!r.ok) return { ok: false, reason: r.error, scheduleError: r.error };
    return { ok: true, ip: r.ip, node: r.node, ha: true };
  }
  if (e.spec.externalIPPool) return { ok: false, reason: 'no EgressIP allocated', scheduleError: null };
  const ip = e.spec.egressIP!;
  const owner = staticOwner(state, ip);
  if (!owner) return { ok: false, reason: `static egressIP ${ip} is on no Node`, scheduleError: null };
  if (!joinsCluster(owner))
    return {
      ok: false,
      reason: `Node ${owner.metadata.name} holding static egressIP ${ip} is not a Linux Node`,
      scheduleError: null,
    };
  if (!membership.has(owner.metadata.name))
    return {
      ok: false,
      reason: `Node ${owner.metadata.name} holding static egressIP ${ip} is not alive`,
      scheduleError: null,
    };
  return { ok: true, ip, node: owner.metadata.name, ha: false };
}

export interface PodEgress {
  /** The effective Egress, or null (Node IP). */
  readonly egress: Egress | null;
  readonly placement: (Placement & { ok: true }) | null;
  /** Every Egress selecting the Pod, oldest first. */
  readonly selecting: readonly Egress[];
  /** Selecting Egresses other than the effective one. */
  readonly alternatives: readonly string[];
  /** Why a selected Pod falls back to its Node's IP (null when it has an Egress or none selects it). */
  readonly fallback: string | null;
}

/**
 * Selection index per state object (ClusterState is immutable: a change is a new object): which Egresses select a
 * Pod depends only on the state, the Pod's namespace and its labels, never on membership, so it is computed once
 * per (namespace, labels) and state. Repeated `syncNode` calls on one state (every membership change, handover and
 * timer) then touch no selector at all, and Pods sharing labels (a Deployment's replicas) share one evaluation.
 */
const selectionIndex = new WeakMap<
  ClusterState,
  { oldest: readonly Egress[]; byLabels: Map<string, readonly Egress[]> }
>();
const SELECTION_INDEX_MAX = 100_000;

function labelKey(namespace: string, labels: Readonly<Record<string, string>> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return JSON.stringify([namespace, entries]);
}

/** Egresses selecting a Pod, oldest first (none for unscheduled, hostNetwork or terminated Pods, or with the gate off). */
export function selectingEgresses(state: ClusterState, pod: Pod, oldestFirst?: readonly Egress[]): Egress[] {
  if (!pod.spec.nodeName || pod.spec.hostNetwork || isPodTerminated(pod)) return [];
  if (!resolveConfig(state.config).egressEnabled) return [];
  const nsLabels = namespaceLabels(state, pod.metadata.namespace);
  if (!nsLabels) return [];
  let idx = selectionIndex.get(state);
  // `oldestFirst`, when given, is egressesOldestFirst of this same state (the caller's copy): the same order.
  if (!idx) {
    idx = { oldest: oldestFirst ?? egressesOldestFirst(state), byLabels: new Map() };
    selectionIndex.set(state, idx);
  }
  const key = labelKey(pod.metadata.namespace, pod.metadata.labels);
  let hit = idx.byLabels.get(key);
  if (!hit) {
    hit = idx.oldest.filter((e) => appliedToMatches(e.spec.appliedTo, pod.metadata.labels, nsLabels));
    if (idx.byLabels.size < SELECTION_INDEX_MAX) idx.byLabels.set(key, hit);
  }
  return hit.slice();
}

/** Egresses selecting a Pod, computed directly (no index): the reference the index is tested against. */
export function selectingEgressesDirect(state: ClusterState, pod: Pod): Egress[] {
  if (!pod.spec.nodeName || pod.spec.hostNetwork || isPodTerminated(pod)) return [];
  if (!resolveConfig(state.config).egressEnabled) return [];
  const nsLabels = namespaceLabels(state, pod.metadata.namespace);
  if (!nsLabels) return [];
  return egressesOldestFirst(state).filter((e) => appliedToMatches(e.spec.appliedTo, pod.metadata.labels, nsLabels));
}

/** The effective Egress of a Pod given the placements of one viewer. */
export function podEgress(
  state: ClusterState,
  pod: Pod,
  places: ReadonlyMap<string, Placement>,
  oldestFirst?: readonly Egress[],
  family: 4 | 6 = 4,
): PodEgress {
  const selecting = selectingEgresses(state, pod, oldestFirst);
  let chosen: Egress | null = null;
  let placement: (Placement & { ok: true }) | null = null;
  for (const e of selecting) {
    const p = places.get(e.metadata.name);
    if (p && p.ok && parseIP(p.ip)?.family === family) {
      chosen = e;
      placement = p;
      break;
    }
  }
  const alternatives = selecting.filter((e) => e !== chosen).map((e) => e.metadata.name);
  let fallback: string | null = null;
  if (!chosen && selecting.length > 0) {
    const first = selecting[0]!;
    const p = places.get(first.metadata.name);
    fallback =
      p && !p.ok
        ? `Egress ${first.metadata.name}: ${p.reason}`
        : `Egress ${first.metadata.name}: IPv${10 - family} egressIP does not apply to IPv${family} traffic`;
  }
  return { egress: chosen, placement, selecting, alternatives, fallback };
}
