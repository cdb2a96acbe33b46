/**
 * The state directory's lock file (`apply.lock`): one writer of objects.json at a time.
 *
 * Taking it: write our identity (pid, process start time from /proc/PID/stat, host, boot id, a random token) to a
 * temp file and link(2) it to the lock name. link fails with EEXIST while the lock exists, and the name only ever
 * shows complete content — so there is never an empty lock, whatever fails (ENOSPC: the temp file is removed and
 * the error is reported). Any other error (EACCES, EROFS, ENOSPC) is reported at once: waiting would not help.
 *
 * Waiting: retry with a growing delay (5 → 100 ms); the timeout is checked on every round, whatever happened.
 *
 * A lock is stale when its owner is certainly gone: same host and boot, and no process with that pid, or one with
 * another start time (the pid was reused), or a zombie. A lock without an owner (empty or garbage, e.g. from an
 * older version) is stale after 5 s. A lock of another host is never stale (we cannot tell): the timeout message
 * names the file.
 *
 * Breaking a stale lock — exactly one waiter does it, even when waiters die on the way: the waiters that judged the
 * lock with identity X stale race to create `apply.lock.break-X.0` (exclusive, like the lock). The winner checks
 * that the lock is still X, removes it, then removes its break file; losers wait. X is the hash of the lock's
 * content and inode, so it never comes back, and a late waiter that wins `break-X.0` after X was replaced finds
 * another lock and does nothing. Only the holder of a break file touches lock X (its owner is dead), so the check
 * and the removal cannot interleave with anything. If the holder of `break-X.k` dies, the next waiter that finds
 * it dead takes `break-X.k+1` (up to 8 levels).
 */
import { randomBytes, createHash } from 'node:crypto';
import { readdirSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { StoreError, createExclusive, processLiveness, readStoreFileStat, selfId } from './fsutil.js';
import type { ProcessId } from './fsutil.js';

export interface LockOptions {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number;
}

/** Age after which a lock without a readable owner is stale. */
const OWNERLESS_STALE_MS = 5000;
const MAX_BREAK_LEVELS = 8;

interface LockView {
  readonly raw: string;
  /** Hash of content and inode: names this very lock file. */
  readonly id: string;
  readonly owner: (Partial<ProcessId> & { pid: number; time?: string }) | null;
  readonly mtimeMs: number;
}

function readLock(path: string): LockView | null {
  const r = readStoreFileStat(path, { insecure: true, maxBytes: 4096 });
  if (!r) return null;
  const raw = r.data.toString('utf8');
  const id = createHash('sha256').update(`${raw}\0${r.st.ino}`).digest('hex').slice(0, 16);
  return { raw, id, owner: parseOwner(raw), mtimeMs: r.st.mtimeMs };
}

function parseOwner(raw: string): LockView['owner'] {
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    if (v && typeof v === 'object' && Number.isSafeInteger(v['pid'])) {
      const str = (x: unknown) => (typeof x === 'string' ? x : null);
      return {
        pid: v['pid'] as number,
        start: str(v['start']),
        host: str(v['host']) ?? '',
        boot: str(v['boot']),
        ...(typeof v['time'] === 'string' ? { time: v['time'] } : {}),
      };
    }
  } catch {
    /* the older format: "pid\nhost\ntime\n..." */
  }
  const [pid, host, time] = raw.split('\n');
  if (pid && /^\d+$/.test(pid))
    return { pid: Number(pid), start: null, host: host ?? '', boot: null, time: time ?? '' };
  return null;
}

function isStale(v: LockView): boolean {
  if (!v.owner) return Date.now() - v.mtimeMs > OWNERLESS_STALE_MS;
  return processLiveness(v.owner) === 'dead';
}

function unlinkOrFail(path: string, why: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'ENOENT') return;
    throw new StoreError(`${why}, but it cannot be removed (${code || String(e)}): remove ${path} by hand`, code);
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* gone */
  }
}

/** Try to break the stale lock `v`; true when this call removed it. */
function breakStale(path: string, v: LockView, content: string): boolean {
  const breakFile = (k: number) => `${path}.break-${v.id}.${k}`;
  for (let k = 0; k < MAX_BREAK_LEVELS; k++) {
    if (!createExclusive(breakFile(k), content, { sync: false })) {
      const b = readLock(breakFile(k));
      if (b === null || !isStale(b)) return false; // done or being done by a live waiter
      continue; // its holder died: the next level
    }
    try {
      const cur = readLock(path);
      if (cur?.id !== v.id) return false; // replaced meanwhile: not ours to break
      unlinkOrFail(path, `the lock ${path} is stale (${describe(v)} is gone)`);
      return true;
    } finally {
      for (let j = k; j >= 0; j--) unlinkQuiet(breakFile(j));
    }
  }
  throw new StoreError(
    `cannot break the stale lock ${path}: ${MAX_BREAK_LEVELS} waiters died breaking it; remove ${path} and ${path}.break-* by hand`,
  );
}

/** Break files of locks that are gone (their breakers died); only called while holding the lock. */
function removeOldBreakFiles(path: string): void {
  const prefix = `${basename(path)}.break-`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(prefix)) unlinkQuiet(join(dirname(path), n));
}

function describe(v: LockView): string {
  const o = v.owner;
  if (!o) return 'its owner';
  return `process ${o.pid}${o.host && o.host !== hostname() ? ` on ${o.host}` : ''}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Run `fn` holding the lock file `path`. */
export async function withLockFile<T>(path: string, fn: () => T | Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeout = opts.timeoutMs ?? 10_000;
  const start = Date.now();
  const content =
    JSON.stringify({ ...selfId(), time: new Date().toISOString(), token: randomBytes(8).toString('hex') }) + '\n';
  let delay = 5;
  let last: LockView | null = null;
  for (let round = 0; ; round++) {
    if (round > 0 && Date.now() - start > timeout) {
      const held = last ? ` by ${describe(last)}` : '';
      throw new StoreError(
        `the state directory is locked${held} (${path}); if that process is gone, remove the file`,
        'ELOCKED',
      );
    }
    if (createExclusive(path, content, { sync: false })) break;
    last = readLock(path);
    if (last && isStale(last) && breakStale(path, last, content)) continue;
    await sleep(delay);
    delay = Math.min(100, delay * 2);
  }
  try {
    removeOldBreakFiles(path);
    return await fn();
  } finally {
    try {
      if (readLock(path)?.raw === content) unlinkSync(path);
    } catch {
      /* removed by someone who judged it stale */
    }
  }
}
