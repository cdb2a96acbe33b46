/**
 * Egress status and events, as Antrea's agents and controller write them (docs/semantics.md §1.3).
 *
 * In Kubernetes the status is one object that several writers update. Here each Node writes only its own file
 * (`status/<node>.json`, one writer per file) with the entries Antrea's agent on that Node would have written, and
 * the status of an Egress is the merge:
 *
 * - agent side (`updateEgressStatus`), per Node N and Egress E:
 *   - E's IP is local to N (HA: scheduled to N; static: N has the IP) → `{egressNode: N, egressIP: ip}`, plus
 *     `IPAssigned=True "Assigned"` when E is schedulable;
 *   - E has no usable IP → only the Node that the `""` ring picks for key `spec.egressIP` (possibly "") writes
 *     `{egressNode: "", egressIP: ""}`, plus `IPAssigned=False "AssignmentError"` when scheduling failed
 *     ("Failed to assign the IP to EgressNode: no Node available");
 *   - otherwise N writes nothing for E.
 *   A Node rewrites an entry (new `updatedAt`) when its content changes or when the merged status differs from it,
 *   as Antrea compares with the object it reads.
 * - controller side: the `IPAllocated` condition, stored with the Egress (controller.ts).
 * - merge: the entry with the latest `updatedAt` wins (ties: a Node claim first, then Node name) — the last writer
 *   of Antrea's single object. Entries of Nodes that no longer exist, or for an older Egress with the same name
 *   (uid), are ignored. Conditions: the entry's `IPAssigned`, then the controller's `IPAllocated`, which gives
 *   Antrea's `[IPAssigned, IPAllocated]` order.
 *
 * Difference from Antrea (issue #6228): a static Egress whose IP is on no (alive) Node gets, from the `""` writer,
 * `IPAssigned=False "AssignmentError"` with the reason, instead of no status at all.
 *
 * Events (reason `IPAssigned` / `IPUnassigned`) come from each Node's own transitions: "Assigned Egress <name> with
 * IP <ip> on Node <node>" when an HA Egress's IP becomes hosted here, "Unassigned Egress <name> with IP <ip> from
 * Node <node>" when it stops (also when the IP changes; not when the Egress was deleted). Antrea emits the Assigned event only for the first Egress
 * that brings an IP to a Node; we emit one per Egress. Static IPs are never assigned by an agent: no events.
 */
import { resolveConfig } from './config.js';
import { placementOf } from './effective.js';
import type { Placement } from './effective.js';
import { ENGINE_API, egressesOldestFirst, isSchedulable, rfc3339 } from './model.js';
import type { ClusterState, Egress, EgressCondition, EgressStatus } from './model.js';
import type { HashRing } from './hashring.js';
import { allNodesRing } from './scheduler.js';
import type { Schedule } from './scheduler.js';
import { sameCondition } from './controller.js';

export const MSG_ASSIGNED = 'EgressIP is successfully assigned to EgressNode';
export const MSG_ASSIGNMENT_ERROR = 'Failed to assign the IP to EgressNode';

/** One entry a Node writes for one Egress. */
export interface NodeStatusEntry {
  /** uid of the Egress the entry is about. */
  readonly uid: string;
  readonly egressNode: string;
  readonly egressIP: string;
  /** IPAssigned only (or nothing). */
  readonly conditions: readonly EgressCondition[];
  readonly updatedAt: string;
}

/** The content of `status/<node>.json`. */
export interface NodeStatusFile {
  readonly apiVersion: typeof ENGINE_API;
  readonly kind: 'NodeStatus';
  readonly node: string;
  /** Store generation the Node last synced. */
  readonly observedGeneration: number;
  readonly updatedAt: string;
  readonly egresses: Readonly<Record<string, NodeStatusEntry>>;
  /** Egress IPs this Node hosts (informational). */
  readonly hosted: readonly string[];
}

export interface EgressEvent {
  readonly time: string;
  readonly type: 'Normal' | 'Warning';
  readonly reason: 'IPAssigned' | 'IPUnassigned';
  readonly egress: string;
  readonly node: string;
  readonly ip: string;
  readonly message: string;
}

export function assignedCondition(now: string): EgressCondition {
  return { type: 'IPAssigned', status: 'True', lastTransitionTime: now, reason: 'Assigned', message: MSG_ASSIGNED };
}

export function assignmentErrorCondition(err: string, now: string): EgressCondition {
  return {
    type: 'IPAssigned',
    status: 'False',
    lastTransitionTime: now,
    reason: 'AssignmentError',
    message: `${MSG_ASSIGNMENT_ERROR}: ${err}`,
  };
}

export function assignedEvent(egress: string, ip: string, node: string, time: string): EgressEvent {
  return {
    time,
    type: 'Normal',
    reason: 'IPAssigned',
    egress,
    node,
    ip,
    message: `Assigned Egress ${egress} with IP ${ip} on Node ${node}`,
  };
}

export function unassignedEvent(egress: string, ip: string, node: string, time: string): EgressEvent {
  return {
    time,
    type: 'Normal',
    reason: 'IPUnassigned',
    egress,
    node,
    ip,
    message: `Unassigned Egress ${egress} with IP ${ip} from Node ${node}`,
  };
}

type Desired = { egressNode: string; egressIP: string; conditions: EgressCondition[] };

/**
 * The entry Node `node` wants for Egress `e`, or null when it writes nothing for it. `statusWriters` is the `""`
 * ring of the Node's membership view.
 */
export function desiredEntry(
  e: Egress,
  node: string,
  placement: Placement,
  statusWriters: HashRing,
  now: string,
): Desired | null {
  const schedulable = isSchedulable(e);
  if (placement.ok && placement.node === node) {
    return {
      egressNode: node,
      egressIP: placement.ip,
      conditions: schedulable ? [assignedCondition(now)] : [],
    };
  }
  if (placement.ok) return null; // the IP is on another Node: write nothing
  const writer = statusWriters.get(e.spec.egressIP ?? '');
  if (writer !== node) return null;
  let err: string | null = placement.scheduleError;
  if (err === null && !schedulable && !e.spec.externalIPPool && e.spec.egressIP) err = placement.reason;
  return { egressNode: '', egressIP: '', conditions: err !== null ? [assignmentErrorCondition(err, now)] : [] };
}

function sameDesired(a: { egressNode: string; egressIP: string; conditions: readonly EgressCondition[] }, b: Desired) {
  return (
    a.egressNode === b.egressNode &&
    a.egressIP === b.egressIP &&
    a.conditions.length === b.conditions.length &&
    a.conditions.every((c, i) => sameCondition(c, b.conditions[i]!))
  );
}

/**
 * The status file of one Node after a sync. `prev` is its previous file (timestamps are kept for unchanged
 * entries); `current` the merged status it can read (an entry that differs from it is rewritten).
 */
export function nodeStatusFile(
  state: ClusterState,
  node: string,
  membership: ReadonlySet<string>,
  sched: Schedule,
  now: Date,
  hosted: readonly string[],
  prev: NodeStatusFile | null,
  current: ReadonlyMap<string, EgressStatus> | null,
): { file: NodeStatusFile; changed: boolean } {
  const nowText = now.toISOString(); // ms precision: the merge orders writes by it
  const condTime = rfc3339(now);
  const egresses: Record<string, NodeStatusEntry> = {};
  let changed = prev === null;
  if (resolveConfig(state.config).egressEnabled) {
    const writers = allNodesRing(state, membership);
    for (const e of egressesOldestFirst(state)) {
      const name = e.metadata.name;
      const d = desiredEntry(e, node, placementOf(state, e, sched, membership), writers, condTime);
      if (!d) continue;
      const old = prev?.egresses[name];
      const sameAsOld = old !== undefined && old.uid === e.metadata.uid && sameDesired(old, d);
      const cur = current?.get(name);
      const differsFromCurrent =
        cur !== undefined &&
        !sameDesired(
          {
            egressNode: cur.egressNode,
            egressIP: cur.egressIP,
            conditions: (cur.conditions ?? []).filter((c) => c.type === 'IPAssigned'),
          },
          d,
        );
      if (sameAsOld && !differsFromCurrent) {
        egresses[name] = old;
        continue;
      }
      const conditions = d.conditions.map((c) => {
        const was = old?.conditions.find((o) => o.type === c.type);
        return was && sameCondition(was, c) ? was : c;
      });
      egresses[name] = {
        uid: e.metadata.uid,
        egressNode: d.egressNode,
        egressIP: d.egressIP,
        conditions,
        updatedAt: nowText,
      };
      changed = true;
    }
  }
  if (prev && Object.keys(prev.egresses).some((k) => !(k in egresses))) changed = true;
  const hostedSorted = [...hosted].sort();
  if (prev && (prev.hosted.length !== hostedSorted.length || prev.hosted.some((x, i) => x !== hostedSorted[i])))
    changed = true;
  if (prev && prev.observedGeneration !== state.generation) changed = true;
  const file: NodeStatusFile = {
    apiVersion: ENGINE_API,
    kind: 'NodeStatus',
    node,
    observedGeneration: state.generation,
    updatedAt: changed || !prev ? nowText : prev.updatedAt,
    egresses,
    hosted: hostedSorted,
  };
  return { file, changed };
}

/**
 * The status of every Egress: the stored (controller) status merged with the Nodes' entries. With the Egress
 * feature gate off the agents' entries are ignored.
 */
export function mergeStatus(state: ClusterState, files: Iterable<NodeStatusFile>): Map<string, EgressStatus> {
  const enabled = resolveConfig(state.config).egressEnabled;
  const byEgress = new Map<string, { node: string; entry: NodeStatusEntry }[]>();
  if (enabled) {
    for (const f of files) {
      if (!state.nodes.has(f.node)) continue;
      for (const [name, entry] of Object.entries(f.egresses)) {
        let l = byEgress.get(name);
        if (!l) byEgress.set(name, (l = []));
        l.push({ node: f.node, entry });
      }
    }
  }
  const out = new Map<string, EgressStatus>();
  for (const e of state.egresses.values()) {
    const candidates = (byEgress.get(e.metadata.name) ?? []).filter((c) => c.entry.uid === e.metadata.uid);
    candidates.sort((a, b) => {
      const t = Date.parse(b.entry.updatedAt) - Date.parse(a.entry.updatedAt);
      if (t !== 0) return t;
      const claim = (b.entry.egressNode !== '' ? 1 : 0) - (a.entry.egressNode !== '' ? 1 : 0);
      if (claim !== 0) return claim;
      return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
    });
    const win = candidates[0]?.entry;
    const controllerConds = (e.status.conditions ?? []).filter((c) => c.type !== 'IPAssigned');
    const conditions = [...(win?.conditions ?? []), ...controllerConds];
    const st: EgressStatus = { egressNode: win?.egressNode ?? '', egressIP: win?.egressIP ?? '' };
    if (conditions.length > 0) st.conditions = conditions;
    out.set(e.metadata.name, st);
  }
  return out;
}

/** Events of one Node's transition from `prev` to `next` assigned IPs (Egress → IP): unassignments first. */
/**
 * Events of one Node's transition from `prev` to `next` (Egress name → hosted IP). No Unassigned event for an
 * Egress that no longer exists (`exists` false): Antrea's `uninstallEgress` records one only when the Egress object
 * is still there, so deleting an Egress records nothing.
 */
export function transitionEvents(
  node: string,
  prev: ReadonlyMap<string, string>,
  next: ReadonlyMap<string, string>,
  time: string,
  exists: (egress: string) => boolean = () => true,
): EgressEvent[] {
  const out: EgressEvent[] = [];
  for (const [egress, ip] of [...prev].sort(byKey)) {
    if (next.get(egress) !== ip && exists(egress)) out.push(unassignedEvent(egress, ip, node, time));
  }
  for (const [egress, ip] of [...next].sort(byKey)) {
    if (prev.get(egress) !== ip) out.push(assignedEvent(egress, ip, node, time));
  }
  return out;
}

function byKey(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
