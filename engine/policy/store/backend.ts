/**
 * The store interface: what apply, delete, get and the agents need from the cluster's store, whatever it runs on
 * (docs/store.md). Two implementations: the state directory (`dir:PATH`, dir-backend.ts, the default) and etcd v3
 * (`etcd://host:port[,host:port…]`, etcd.ts). Policy logic (applyDocs, deleteObjects, the controller) only sees a
 * ClusterState; it does not know which store it runs on.
 */
import type { ClusterState } from '../model.js';
import type { EgressEvent, NodeStatusFile } from '../status.js';
import type { StoreHealth } from './health.js';

/** The state and the revision it was read at (dir: the generation; etcd: the key's mod revision). */
export interface Snapshot {
  readonly state: ClusterState;
  readonly revision: number;
}

/** What `update`'s function returns: the new state, whether to write it, and anything to hand back. */
export interface UpdateResult<T> {
  readonly state: ClusterState;
  readonly write: boolean;
  readonly result: T;
}

export interface WatchOptions {
  readonly health?: StoreHealth;
  readonly onError?: (e: Error) => void;
  /** The store could (true) or could not (false) be reached; called on every change of that. */
  readonly onConnection?: (connected: boolean) => void;
}

export interface StoreWatch {
  close(): void;
}

export interface Store {
  /** `dir:/var/lib/egress-engine`, `etcd://127.0.0.1:2379,…`: for messages. */
  readonly url: string;
  /**
   * True when a Node's status lives only while its agent does (etcd: a key under the agent's lease), so a status
   * present means a live, connected agent; false when a status outlives its agent (the state directory's files).
   */
  readonly statusesLeased: boolean;
  /** The applied state (empty when nothing was applied yet); StoreError (one line) when it is unusable. */
  load(): Promise<Snapshot>;
  /**
   * Read, change and write the state atomically: no concurrent update is lost or half-applied (dir: under the
   * lock; etcd: a transaction comparing the revision read, retried on conflict a bounded number of times).
   * `fn` may be called again on a retry, with the newer state.
   */
  update<T>(fn: (state: ClusterState) => UpdateResult<T>): Promise<T>;
  /** Every Node's usable status (a bad one is reported to `health` and replaced by its last good content). */
  readNodeStatuses(health?: StoreHealth): Promise<NodeStatusFile[]>;
  /** Write one Node's status (only that Node's agent calls this). */
  writeNodeStatus(file: NodeStatusFile): Promise<void>;
  appendEvents(events: readonly EgressEvent[]): Promise<void>;
  readEvents(health?: StoreHealth): Promise<EgressEvent[]>;
  /** Call `onChange` with each new state (and once at start when there is one); a bad one keeps the last good. */
  watch(onChange: (state: ClusterState) => void, opts?: WatchOptions): StoreWatch;
  /** Create the agents' shared cluster key unless it exists; true when this call created it. */
  ensureClusterKey(): Promise<boolean>;
  close(): void;
}
