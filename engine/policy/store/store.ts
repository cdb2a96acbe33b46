/**
 * The embedded store: a state directory that `egress apply` / `egress delete` write and agents watch.
 *
 * Layout:
 *
 *     <dir>/objects.json        StoreSnapshot: generation, every applied object (with the controller's status:
 *                               IPAllocated conditions, pool usage), the controller's allocations. Written whole,
 *                               atomically (temp + rename), only under the lock.
 *     <dir>/apply.lock          held while a command reads, changes and writes objects.json (fsutil.ts)
 *     <dir>/status/<node>.json  NodeStatus written by that Node's agent only (one writer per file), atomically
 *     <dir>/events.jsonl        Egress events, one JSON object per line, appended by agents
 *
 * Readers never need the lock: every file they read is replaced atomically (events are appended in one write per
 * line). Agents watch objects.json with `watchStore`.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { emptyState } from '../model.js';
import type { ClusterState } from '../model.js';
import { fromSnapshot, toSnapshot } from '../state.js';
import type { EgressEvent, NodeStatusFile } from '../status.js';
import { StoreError, atomicWrite, withLockFile } from './fsutil.js';
import type { LockOptions } from './fsutil.js';

export { StoreError, atomicWrite, withLockFile } from './fsutil.js';

export const OBJECTS_FILE = 'objects.json';
export const LOCK_FILE = 'apply.lock';
export const STATUS_DIR = 'status';
export const EVENTS_FILE = 'events.jsonl';

const NODE_FILE_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.json$/;

/** Create the directory (and status/) if needed. */
export function ensureStore(dir: string): void {
  mkdirSync(join(dir, STATUS_DIR), { recursive: true });
}

/** The applied state (empty when nothing was applied yet). Throws StoreError for a corrupt objects.json. */
export function loadState(dir: string): ClusterState {
  const path = join(dir, OBJECTS_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new StoreError(`${path} is not valid JSON (${(e as Error).message})`);
  }
  const r = fromSnapshot(value);
  if ('error' in r) throw new StoreError(`${path}: ${r.error}`);
  return r.state;
}

/** Write the state (callers hold the lock). */
export function saveState(dir: string, state: ClusterState, now: Date): void {
  ensureStore(dir);
  atomicWrite(join(dir, OBJECTS_FILE), JSON.stringify(toSnapshot(state, now), null, 1) + '\n');
}

/**
 * Read, change and write the state under the lock, so concurrent applies are serialized. `fn` returns the new state
 * and whether to write it, plus anything to hand back.
 */
export async function updateState<T>(
  dir: string,
  fn: (state: ClusterState) => { state: ClusterState; write: boolean; result: T },
  now: () => Date = () => new Date(),
  opts: LockOptions = {},
): Promise<T> {
  ensureStore(dir);
  return withLockFile(
    join(dir, LOCK_FILE),
    () => {
      const r = fn(loadState(dir));
      if (r.write) saveState(dir, r.state, now());
      return r.result;
    },
    opts,
  );
}

/** Every Node's status file (unreadable or foreign files are skipped). */
export function readNodeStatuses(dir: string): NodeStatusFile[] {
  const sdir = join(dir, STATUS_DIR);
  if (!existsSync(sdir)) return [];
  const out: NodeStatusFile[] = [];
  for (const name of readdirSync(sdir).sort()) {
    if (!NODE_FILE_RE.test(name)) continue;
    try {
      const v = JSON.parse(readFileSync(join(sdir, name), 'utf8')) as NodeStatusFile;
      if (v && v.kind === 'NodeStatus' && `${v.node}.json` === name && typeof v.egresses === 'object') out.push(v);
    } catch {
      /* being replaced or foreign: skip */
    }
  }
  return out;
}

/** Write one Node's status file (only that Node's agent calls this). */
export function writeNodeStatus(dir: string, file: NodeStatusFile): void {
  if (!NODE_FILE_RE.test(`${file.node}.json`))
    throw new StoreError(`invalid Node name for a status file: ${file.node}`);
  ensureStore(dir);
  atomicWrite(join(dir, STATUS_DIR, `${file.node}.json`), JSON.stringify(file, null, 1) + '\n');
}

/** Append events (one line each). */
export function appendEvents(dir: string, events: readonly EgressEvent[]): void {
  if (events.length === 0) return;
  ensureStore(dir);
  appendFileSync(join(dir, EVENTS_FILE), events.map((e) => JSON.stringify(e) + '\n').join(''));
}

/** Every event recorded so far (malformed lines skipped). */
export function readEvents(dir: string): EgressEvent[] {
  let text: string;
  try {
    text = readFileSync(join(dir, EVENTS_FILE), 'utf8');
  } catch {
    return [];
  }
  const out: EgressEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as EgressEvent);
    } catch {
      /* partial line */
    }
  }
  return out;
}

export interface StoreWatch {
  close(): void;
}

/**
 * Call `onChange` with the state whenever objects.json gets a new generation (and once at start when it exists).
 * Uses fs.watch on the directory plus polling every `intervalMs` (default 250) as a fallback, so it works on
 * filesystems without inotify. Errors reading a half-written or corrupt file are retried on the next tick;
 * `onError` hears about corrupt files.
 */
export function watchStore(
  dir: string,
  onChange: (state: ClusterState) => void,
  opts: { intervalMs?: number; onError?: (e: Error) => void } = {},
): StoreWatch {
  ensureStore(dir);
  let last = -1;
  let closed = false;
  const path = join(dir, OBJECTS_FILE);
  const check = () => {
    if (closed || !existsSync(path)) return;
    try {
      const st = loadState(dir);
      if (st.generation !== last) {
        last = st.generation;
        onChange(st);
      }
    } catch (e) {
      opts.onError?.(e as Error);
    }
  };
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dir, { persistent: false }, (_ev, name) => {
      if (name === OBJECTS_FILE) check();
    });
    watcher.on('error', () => {
      /* polling continues */
    });
  } catch {
    watcher = null;
  }
  const interval = opts.intervalMs ?? 250;
  const timer = setInterval(check, interval);
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
