/** The state directory behind the Store interface (backend.ts): the functions of store.ts, unchanged. */
import type { ClusterState } from '../model.js';
import type { EgressEvent, NodeStatusFile } from '../status.js';
import type { Snapshot, Store, StoreWatch, UpdateResult, WatchOptions } from './backend.js';
import type { FileOptions } from './fsutil.js';
import type { StoreHealth } from './health.js';
import type { LockOptions } from './lock.js';
import {
  appendEvents,
  ensureClusterKey,
  loadState,
  readEvents,
  readNodeStatuses,
  updateState,
  watchStore,
  writeNodeStatus,
} from './store.js';

export class DirStore implements Store {
  readonly url: string;
  readonly statusesLeased = false;
  constructor(
    readonly dir: string,
    private readonly opts: FileOptions & LockOptions & { intervalMs?: number } = {},
  ) {
    this.url = `dir:${dir}`;
  }
  load(): Promise<Snapshot> {
    const state = loadState(this.dir, this.opts);
    return Promise.resolve({ state, revision: state.generation });
  }
  update<T>(fn: (state: ClusterState) => UpdateResult<T>): Promise<T> {
    return updateState(this.dir, fn, undefined, this.opts);
  }
  readNodeStatuses(health?: StoreHealth): Promise<NodeStatusFile[]> {
    return Promise.resolve(readNodeStatuses(this.dir, { ...this.opts, ...(health ? { health } : {}) }));
  }
  writeNodeStatus(file: NodeStatusFile): Promise<void> {
    writeNodeStatus(this.dir, file, this.opts);
    return Promise.resolve();
  }
  appendEvents(events: readonly EgressEvent[]): Promise<void> {
    appendEvents(this.dir, events, this.opts);
    return Promise.resolve();
  }
  readEvents(health?: StoreHealth): Promise<EgressEvent[]> {
    return Promise.resolve(readEvents(this.dir, { ...this.opts, ...(health ? { health } : {}) }));
  }
  watch(onChange: (state: ClusterState) => void, opts: WatchOptions = {}): StoreWatch {
    opts.onConnection?.(true);
    return watchStore(this.dir, onChange, { ...this.opts, ...opts });
  }
  ensureClusterKey(): Promise<boolean> {
    return Promise.resolve(ensureClusterKey(this.dir, this.opts));
  }
  close(): void {}
}
