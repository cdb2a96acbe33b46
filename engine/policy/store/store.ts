/**
 * The embedded store: a state directory that `egress apply` / `egress delete` write and agents watch.
 *
 * Layout (directories 0700, files 0600, all owned by the user running the commands and agents; docs/security.md):
 *
 *     <dir>/objects.json        StoreSnapshot: generation, every applied object (with the controller's status:
 *                               IPAllocated conditions, pool usage), the controller's allocations. Written whole,
 *                               atomically (temp + rename), only under the lock.
 *     <dir>/apply.lock          held while a command reads, changes and writes objects.json (lock.ts)
 *     <dir>/cluster.key         the agents' shared heartbeat key (32 random bytes), created by the first apply
 *     <dir>/status/<node>.json  NodeStatus written by that Node's agent only (one writer per file), atomically
 *     <dir>/events.jsonl        Egress events, one JSON object per line, appended by agents
 *     <dir>/run/<node>.json     what a running agent reports every second (`egress get counters`)
 *
 * Readers never need the lock: every file they read is replaced atomically (events are appended in one write per
 * line). Every file read is validated (check.ts): a command fails with one line (StoreError) on a bad objects.json
 * and skips a bad status file or events line with a warning; an agent keeps its last good state, and reports and
 * counts each problem once (StoreHealth). Agents watch objects.json with `watchStore`.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, rmSync, watch } from 'node:fs';
import { join } from 'node:path';
import { emptyState } from '../model.js';
import type { ClusterState } from '../model.js';
import { fromSnapshot, toSnapshot } from '../state.js';
import type { EgressEvent, NodeStatusFile } from '../status.js';
import { SnapshotCache, checkEvent, checkNodeStatus } from './check.js';
import {
  StoreError,
  appendStoreFile,
  atomicWrite,
  checkStateDir,
  createExclusive,
  ensurePrivateDir,
  fileSignature,
  readStoreFile,
  readStoreFileStat,
  removeDeadTemps,
} from './fsutil.js';
import type { FileOptions } from './fsutil.js';
import type { StoreHealth } from './health.js';
import { withLockFile } from './lock.js';
import type { LockOptions } from './lock.js';

export {
  StoreError,
  atomicWrite,
  checkStateDir,
  ensurePrivateDir,
  openAppendFd,
  readStoreFile,
  removeDeadTemps,
} from './fsutil.js';
export type { FileOptions } from './fsutil.js';
export { withLockFile } from './lock.js';
export type { LockOptions } from './lock.js';
export { StoreHealth, STORE_FILE_KINDS } from './health.js';
export type { StoreFileKind, StoreHealthSnapshot, StoreProblem } from './health.js';
export { SnapshotCache, checkEvent, checkNodeStatus } from './check.js';

export const OBJECTS_FILE = 'objects.json';
export const LOCK_FILE = 'apply.lock';
export const STATUS_DIR = 'status';
export const EVENTS_FILE = 'events.jsonl';
export const KEY_FILE = 'cluster.key';
export const RUN_DIR = 'run';

/** Options of the reading calls: file trust (FileOptions) and, for agents, where problems are counted. */
export interface StoreOptions extends FileOptions {
  readonly health?: StoreHealth;
}

const NODE_FILE_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.json$/;

/** Create the directory (0700) and status/ if needed, and check that no other user can write them. */
export function ensureStore(dir: string, opts: FileOptions = {}): void {
  checkStateDir(dir, { ...opts, create: true });
  ensurePrivateDir(join(dir, STATUS_DIR), opts);
}

const RECOVER = 'move it aside and apply the manifests again';

/** JSON.parse's reason, shortened (its message quotes the text, which may be long). */
function jsonReason(e: unknown): string {
  const m = String((e as Error)?.message ?? e);
  return m.length > 160 ? `${m.slice(0, 160)}…` : m;
}

/**
 * The applied state (empty when nothing was applied yet). Throws StoreError for a corrupt or invalid objects.json.
 * `cache` (a long-running reader's) skips decoding the objects that did not change since its last good read.
 */
export function loadState(dir: string, opts: FileOptions & { cache?: SnapshotCache } = {}): ClusterState {
  const path = join(dir, OBJECTS_FILE);
  const data = readStoreFile(path, opts);
  if (data === null) return emptyState();
  return decodeSnapshot(data, path, RECOVER, opts.cache);
}

/**
 * A stored snapshot's bytes as a ClusterState, validated (every backend reads objects through this). `where` names
 * the file or key in the StoreError; `recover` says what to do about it.
 */
export function decodeSnapshot(data: Buffer, where: string, recover: string, cache?: SnapshotCache): ClusterState {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new StoreError(`${where} is not valid JSON (${jsonReason(e)}): ${recover}`);
  }
  const r = fromSnapshot(value, cache);
  if ('error' in r) throw new StoreError(`${where} is not a valid store snapshot: ${r.error}; ${recover}`);
  return r.state;
}

/** A status's bytes as a NodeStatusFile, validated; `name` is `<node>.json`. */
export function decodeNodeStatus(data: Buffer, where: string, name: string): NodeStatusFile {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new StoreError(`${where} is not valid JSON (${jsonReason(e)})`);
  }
  const r = checkNodeStatus(v, name);
  if ('error' in r) throw new StoreError(`${where} is not a valid Node status: ${r.error}`);
  return r.value;
}

/** Write the state (callers hold the lock). */
export function saveState(dir: string, state: ClusterState, now: Date, opts: FileOptions = {}): void {
  ensureStore(dir, opts);
  atomicWrite(join(dir, OBJECTS_FILE), JSON.stringify(toSnapshot(state, now), null, 1) + '\n');
}

/**
 * Read, change and write the state under the lock, so concurrent applies are serialized. `fn` returns the new state
 * and whether to write it, plus anything to hand back. Temp files of writers that died are removed first.
 */
export async function updateState<T>(
  dir: string,
  fn: (state: ClusterState) => { state: ClusterState; write: boolean; result: T },
  now: () => Date = () => new Date(),
  opts: LockOptions & FileOptions = {},
): Promise<T> {
  ensureStore(dir, opts);
  return withLockFile(
    join(dir, LOCK_FILE),
    () => {
      removeDeadTemps(dir);
      const r = fn(loadState(dir, opts));
      if (r.write) saveState(dir, r.state, now(), opts);
      return r.result;
    },
    opts,
  );
}

/** One status file, checked; a problem is thrown as StoreError. */
function readStatusFile(path: string, name: string, opts: FileOptions): NodeStatusFile | null {
  const data = readStoreFile(path, opts);
  if (data === null) return null;
  return decodeNodeStatus(data, path, name);
}

/**
 * Every Node's usable status file. A file that cannot be used (unreadable, not JSON, not a valid NodeStatus) is
 * reported to `opts.health` and replaced by its last good content, if any; without `health` it is skipped.
 * With `health`, files that did not change since the last call are not read again.
 */
export function readNodeStatuses(dir: string, opts: StoreOptions = {}): NodeStatusFile[] {
  const sdir = join(dir, STATUS_DIR);
  let names: string[];
  try {
    names = readdirSync(sdir).sort();
  } catch {
    return [];
  }
  const h = opts.health;
  const out: NodeStatusFile[] = [];
  for (const name of names) {
    if (!NODE_FILE_RE.test(name)) continue;
    const path = join(sdir, name);
    const sig = h ? fileSignature(path) : null;
    const cached = h && sig !== null ? h.statusCache.get(name) : undefined;
    let file: NodeStatusFile | null;
    if (cached && cached.sig === sig) file = cached.file;
    else {
      try {
        file = readStatusFile(path, name, opts);
        h?.resolved(path);
        if (file) h?.lastGoodStatus.set(name, file);
      } catch (e) {
        if (!(e instanceof StoreError)) throw e;
        h?.problem('status', path, e.message);
        file = null;
      }
      if (h && sig !== null) h.statusCache.set(name, { sig, file });
    }
    const use = file ?? h?.lastGoodStatus.get(name) ?? null;
    if (use) out.push(use);
  }
  return out;
}

/** Write one Node's status file (only that Node's agent calls this). */
export function writeNodeStatus(dir: string, file: NodeStatusFile, opts: FileOptions = {}): void {
  if (!NODE_FILE_RE.test(`${file.node}.json`))
    throw new StoreError(`invalid Node name for a status file: ${file.node}`);
  ensureStore(dir, opts);
  atomicWrite(join(dir, STATUS_DIR, `${file.node}.json`), JSON.stringify(file, null, 1) + '\n');
}

/** Append events (one line each, one write). */
export function appendEvents(dir: string, events: readonly EgressEvent[], opts: FileOptions = {}): void {
  if (events.length === 0) return;
  ensureStore(dir, opts);
  appendStoreFile(join(dir, EVENTS_FILE), events.map((e) => JSON.stringify(e) + '\n').join(''), opts);
}

/** Largest part of events.jsonl read (its end: the newest events). */
const EVENTS_TAIL_BYTES = 16 * 1024 * 1024;

/**
 * The events recorded so far (the newest 16 MiB of the file). Lines that are not valid events are skipped and
 * reported to `opts.health` as one problem (how many, and the first).
 */
export function readEvents(dir: string, opts: StoreOptions = {}): EgressEvent[] {
  const path = join(dir, EVENTS_FILE);
  const r = readStoreFileStat(path, { ...opts, maxBytes: EVENTS_TAIL_BYTES, tail: true });
  if (!r) return [];
  const lines = r.data.toString('utf8').split('\n');
  if (r.st.size > EVENTS_TAIL_BYTES) lines.shift(); // a partial first line
  const out: EgressEvent[] = [];
  let bad = 0;
  let first = '';
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      v = undefined;
    }
    const c = checkEvent(v);
    if ('value' in c) out.push(c.value);
    else if (i < lines.length - 1 || line.endsWith('}')) {
      // (an unterminated last line is an append in progress, not a problem)
      if (bad++ === 0) first = `line ${i + 1}: ${v === undefined ? 'not JSON' : c.error}`;
    }
  });
  if (bad > 0) opts.health?.problem('events', path, `${bad} invalid line${bad > 1 ? 's' : ''} skipped (${first})`);
  else opts.health?.resolved(path);
  return out;
}

import type { StoreWatch } from './backend.js';
export type { Snapshot, Store, StoreWatch, UpdateResult, WatchOptions } from './backend.js';
export { DirStore } from './dir-backend.js';
export { EtcdStore, DEFAULT_ETCD_PREFIX, UPDATE_ATTEMPTS, STATUS_TTL_S, MAX_EVENTS } from './etcd.js';
export type { EtcdStoreOptions } from './etcd.js';
export { EtcdError } from './etcd-client.js';

/**
 * Call `onChange` with the state whenever objects.json gets a new generation (and once at start when it exists).
 * Uses fs.watch on the directory plus polling every `intervalMs` (default 250) as a fallback, so it works on
 * filesystems without inotify; the file is read again only when its inode, size or times changed. A file that
 * cannot be used leaves the last good state in place: `onError` and `health` hear about each problem once.
 * Temp files of dead writers in the directory, status/ and run/ are removed at start.
 */
export function watchStore(
  dir: string,
  onChange: (state: ClusterState) => void,
  opts: StoreOptions & { intervalMs?: number; onError?: (e: Error) => void } = {},
): StoreWatch {
  ensureStore(dir, opts);
  for (const d of [dir, join(dir, STATUS_DIR), join(dir, RUN_DIR)]) removeDeadTemps(d);
  let last = -1;
  let lastSig: string | null = null;
  let lastError: string | null = null;
  let closed = false;
  const path = join(dir, OBJECTS_FILE);
  const cache = new SnapshotCache();
  const check = () => {
    if (closed) return;
    const sig = fileSignature(path);
    if (sig === null || sig === lastSig) return;
    lastSig = sig;
    let st: ClusterState;
    try {
      st = loadState(dir, { ...opts, cache });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      if (err.message !== lastError) {
        lastError = err.message;
        opts.health?.problem('objects', path, err.message);
        opts.onError?.(err);
      }
      return;
    }
    lastError = null;
    opts.health?.resolved(path);
    if (st.generation !== last) {
      last = st.generation;
      onChange(st);
    }
  };
  const watcher = watchDir(dir, (name) => {
    if (name === OBJECTS_FILE) check();
  });
  const timer = setInterval(check, opts.intervalMs ?? 250);
  timer.unref();
  queueMicrotask(check);
  return {
    close() {
      closed = true;
      watcher?.close();
      clearInterval(timer);
    },
  };
}

function watchDir(dir: string, onName: (name: string | null) => void): { close(): void } | null {
  try {
    const w = watch(dir, { persistent: false }, (_ev, name) => onName(name));
    w.on('error', () => {
      /* polling continues */
    });
    return w;
  } catch {
    return null;
  }
}

// --- the cluster key -------------------------------------------------------------------------------------------

/** Bytes of a key the store creates. */
export const KEY_BYTES = 32;

/**
 * Create `<dir>/cluster.key` (32 random bytes, 0600) unless it exists; true when this call created it. A link or
 * anything else at that name counts as existing (the agent then checks it).
 */
export function ensureClusterKey(dir: string, opts: FileOptions = {}): boolean {
  ensureStore(dir, opts);
  return createExclusive(join(dir, KEY_FILE), randomBytes(KEY_BYTES));
}

/** Replace `<dir>/cluster.key` with a new random key (the test bed: a fresh key per cluster). */
export function renewClusterKey(dir: string, opts: FileOptions = {}): void {
  ensureStore(dir, opts);
  atomicWrite(join(dir, KEY_FILE), randomBytes(KEY_BYTES));
}

// --- run files -------------------------------------------------------------------------------------------------

/** Create run/ (0700). */
export function ensureRunDir(dir: string, opts: FileOptions = {}): void {
  ensureStore(dir, opts);
  ensurePrivateDir(join(dir, RUN_DIR), opts);
}

/** Replace `run/<node>.json` (no fsync: it is rewritten every second). */
export function writeRunFile(dir: string, node: string, text: string): void {
  if (!NODE_FILE_RE.test(`${node}.json`)) throw new StoreError(`invalid Node name for a run file: ${node}`);
  atomicWrite(join(dir, RUN_DIR, `${node}.json`), text, { sync: false });
}

/** `run/<node>.conns`: the connections a stopping agent leaves for its restart (docs/conntrack-sync.md). */
export function connSnapshotPath(dir: string, node: string): string {
  if (!NODE_FILE_RE.test(`${node}.json`)) throw new StoreError(`invalid Node name for a snapshot: ${node}`);
  return join(dir, RUN_DIR, `${node}.conns`);
}

/** Replace `run/<node>.conns` (0600, synced: written once, when the agent stops). */
export function writeConnSnapshot(dir: string, node: string, text: string): void {
  atomicWrite(connSnapshotPath(dir, node), text, { mode: 0o600 });
}

/**
 * `run/<node>.conns` as text, null when there is none, `{ oversize }` when it is larger than `maxBytes`;
 * StoreError when it cannot be read (a link, not ours, not a file).
 */
export function readConnSnapshot(
  dir: string,
  node: string,
  maxBytes: number,
  opts: FileOptions = {},
): string | { oversize: number } | null {
  const path = connSnapshotPath(dir, node);
  let size: number;
  try {
    size = lstatSync(path).size;
  } catch {
    return null;
  }
  if (size > maxBytes) return { oversize: size };
  return readStoreFile(path, { ...opts, maxBytes })?.toString('utf8') ?? null;
}

/** Remove `run/<node>.conns` (once loaded, or refused). */
export function removeConnSnapshot(dir: string, node: string): void {
  rmSync(connSnapshotPath(dir, node), { force: true });
}

/** The parsed JSON of `run/<node>.json`, null when there is none; StoreError when it is not JSON. */
export function readRunFile(dir: string, node: string, opts: FileOptions = {}): unknown {
  if (!NODE_FILE_RE.test(`${node}.json`)) return null;
  const path = join(dir, RUN_DIR, `${node}.json`);
  const data = readStoreFile(path, opts);
  if (data === null) return null;
  try {
    return JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new StoreError(`${path} is not valid JSON (${jsonReason(e)})`);
  }
}
