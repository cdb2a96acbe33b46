/**
 * A whole cluster's control plane in one process: every alive Node runs `syncNode` on the same state with its own
 * membership view; their status files are merged as the store merges them. Used by the tests, by the CLI's
 * prediction (`egress get` before any agent reported) and by replay, where all Nodes live in one process.
 *
 * Within a step every Node reads the merged status as it was before the step (agents act concurrently); events of
 * one step are ordered unassignments first, then assignments (the IP leaves a Node before another takes it), each
 * group by Node name. `settle` repeats steps until no Node has anything left to write.
 */
import type { ClusterState, EgressStatus } from './model.js';
import { syncNode } from './node-sync.js';
import type { NodeMemory, NodeSyncResult } from './node-sync.js';
import { schedule } from './scheduler.js';
import { mergeStatus, nodeStatusFile } from './status.js';
import type { EgressEvent, NodeStatusFile } from './status.js';
import type { PolicyView } from './view.js';

export interface StepOptions {
  /** Nodes whose agents run (default: every Node of the state). A Node not listed is dead or frozen. */
  readonly alive?: Iterable<string>;
  /** A Node's own membership view (default: the alive set). */
  readonly viewOf?: (node: string) => ReadonlySet<string>;
}

export interface StepResult {
  readonly events: readonly EgressEvent[];
  readonly results: ReadonlyMap<string, NodeSyncResult>;
  /** True when some Node wrote its status file. */
  readonly wrote: boolean;
}

export class ClusterSim {
  private readonly memories = new Map<string, NodeMemory>();
  private readonly statusFiles = new Map<string, NodeStatusFile>();
  /** Every event so far, in order. */
  readonly events: EgressEvent[] = [];

  constructor(public state: ClusterState) {}

  /** Replace the applied state (after an apply/delete). */
  setState(state: ClusterState): void {
    this.state = state;
    for (const n of [...this.memories.keys()]) if (!state.nodes.has(n)) this.memories.delete(n);
    for (const n of [...this.statusFiles.keys()]) if (!state.nodes.has(n)) this.statusFiles.delete(n);
  }

  /** One step of every alive Node. */
  step(now: Date, opts: StepOptions = {}): StepResult {
    const alive = new Set(opts.alive ?? this.state.nodes.keys());
    const current = this.status();
    const results = new Map<string, NodeSyncResult>();
    for (const node of [...this.state.nodes.keys()].sort()) {
      if (!alive.has(node)) continue;
      const membership = opts.viewOf ? opts.viewOf(node) : alive;
      const r = syncNode({
        state: this.state,
        node,
        membership,
        now,
        memory: this.memories.get(node) ?? null,
        current,
      });
      results.set(node, r);
    }
    let wrote = false;
    const unassigned: EgressEvent[] = [];
    const assigned: EgressEvent[] = [];
    for (const [node, r] of results) {
      this.memories.set(node, r.memory);
      if (r.statusChanged || !this.statusFiles.has(node)) {
        this.statusFiles.set(node, r.status);
        wrote = true;
      }
      for (const e of r.events) (e.reason === 'IPUnassigned' ? unassigned : assigned).push(e);
    }
    const events = [...unassigned, ...assigned];
    this.events.push(...events);
    return { events, results, wrote };
  }

  /** Step until nothing is written (at most `max` steps); returns the events of all steps. */
  settle(now: Date, opts: StepOptions = {}, max = 5): EgressEvent[] {
    const out: EgressEvent[] = [];
    for (let i = 0; i < max; i++) {
      const r = this.step(now, opts);
      out.push(...r.events);
      if (!r.wrote) break;
    }
    return out;
  }

  /** Merged status of every Egress. */
  status(): Map<string, EgressStatus> {
    return mergeStatus(this.state, this.statusFiles.values());
  }

  /** The last compiled view of a Node. */
  view(node: string): PolicyView | null {
    return this.memories.get(node)?.view ?? null;
  }

  memory(node: string): NodeMemory | null {
    return this.memories.get(node) ?? null;
  }

  files(): ReadonlyMap<string, NodeStatusFile> {
    return this.statusFiles;
  }
}

/**
 * The status an Egress would have with every Node alive and every agent converged (what `egress get` shows before
 * any agent has reported).
 */
export function predictStatus(state: ClusterState, now: Date): Map<string, EgressStatus> {
  // Every agent sees the same membership: one schedule serves all, and no view needs compiling.
  const all = new Set(state.nodes.keys());
  const sched = schedule(state, all);
  const files = [...all].sort().map((n) => nodeStatusFile(state, n, all, sched, now, [], null, null).file);
  return mergeStatus(state, files);
}
