/**
 * One agent's control-plane step: from the store's state and this Node's membership view to what the Node hosts,
 * the status it writes, the events it emits and the compiled view its datapath reads. A pure function of its
 * inputs; the agent process (engine/agent) calls it on every store or membership change, and the cluster
 * simulation (cluster-sim.ts) calls it for every Node of a cluster in one process.
 *
 * `announce` lists the egress IPs to advertise with one gratuitous ARP now (docs/semantics.md §3): those newly hosted
 * since the previous step, those the merged status still attributes to another Node (failover, split-brain heal;
 * PR #5127), and every hosted IP on the first step (agent start, `InitIPs`).
 */
import { placements } from './effective.js';
import type { Placement } from './effective.js';
import { parseIP } from './ip.js';
import { isSchedulable } from './model.js';
import type { ClusterState, EgressStatus } from './model.js';
import { schedule } from './scheduler.js';
import type { Schedule } from './scheduler.js';
import { nodeStatusFile, transitionEvents } from './status.js';
import type { EgressEvent, NodeStatusFile } from './status.js';
import { compileView } from './view.js';
import type { PolicyView } from './view.js';

/** What an agent remembers between steps. */
export interface NodeMemory {
  /** HA Egresses whose IP this agent assigned to itself: Egress name → IP. */
  readonly assigned: ReadonlyMap<string, string>;
  /** Egress IPs hosted after the last step (HA and static). */
  readonly hosted: readonly string[];
  /** The status file it last wrote. */
  readonly status: NodeStatusFile | null;
  readonly view: PolicyView | null;
}

export interface NodeSyncInput {
  readonly state: ClusterState;
  readonly node: string;
  /** Alive Node names as this Node sees them; the Node itself is added. */
  readonly membership: ReadonlySet<string>;
  readonly now: Date;
  /** Previous step's memory; null/absent on agent start. */
  readonly memory?: NodeMemory | null;
  /** The merged status the agent can read (store); lets it rewrite entries another Node overwrote. */
  readonly current?: ReadonlyMap<string, EgressStatus> | null;
}

export interface NodeSyncResult {
  readonly memory: NodeMemory;
  readonly schedule: Schedule;
  readonly placements: ReadonlyMap<string, Placement>;
  /** Egress IPs (text) this Node hosts now, sorted. */
  readonly hosted: readonly string[];
  /** Egress IPs to announce now (gratuitous ARP). */
  readonly announce: readonly string[];
  /** Egress IPs this Node stopped hosting. */
  readonly released: readonly string[];
  readonly status: NodeStatusFile;
  /** True when the status file must be written. */
  readonly statusChanged: boolean;
  readonly events: readonly EgressEvent[];
  readonly view: PolicyView;
}

export function syncNode(input: NodeSyncInput): NodeSyncResult {
  const { state, node, now } = input;
  const membership = new Set(input.membership);
  membership.add(node);
  const prev = input.memory ?? null;
  const sched = schedule(state, membership);
  const places = placements(state, sched, membership);

  const assigned = new Map<string, string>();
  const hostedSet = new Set<string>();
  for (const e of state.egresses.values()) {
    const p = places.get(e.metadata.name);
    if (!p || !p.ok || p.node !== node) continue;
    hostedSet.add(p.ip);
    if (isSchedulable(e)) assigned.set(e.metadata.name, p.ip);
  }
  const hosted = [...hostedSet].sort(compareIPText);
  const time = now.toISOString();
  const events = transitionEvents(node, prev?.assigned ?? new Map(), assigned, time, (e) => state.egresses.has(e));

  const announce = new Set<string>();
  const prevHosted = new Set(prev?.hosted ?? []);
  for (const ip of hosted) if (!prev || !prevHosted.has(ip)) announce.add(ip);
  if (input.current) {
    for (const [name, ip] of assigned) {
      const st = input.current.get(name);
      if (st && st.egressNode !== node) announce.add(ip);
    }
  }
  const released = (prev?.hosted ?? []).filter((ip) => !hostedSet.has(ip));

  const { file, changed } = nodeStatusFile(
    state,
    node,
    membership,
    sched,
    now,
    hosted,
    prev?.status ?? null,
    input.current ?? null,
  );
  const view = compileView({ state, node, membership, schedule: sched, placements: places }, prev?.view ?? null);
  return {
    memory: { assigned, hosted, status: file, view },
    schedule: sched,
    placements: places,
    hosted,
    announce: [...announce].sort(compareIPText),
    released,
    status: file,
    statusChanged: changed,
    events,
    view,
  };
}

function compareIPText(a: string, b: string): number {
  const x = parseIP(a);
  const y = parseIP(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}
