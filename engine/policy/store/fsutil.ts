/**
 * File primitives of the state directory: atomic replacement (temp file + fsync + rename + fsync of the directory)
 * and an exclusive lock file with stale-lock recovery.
 *
 * Lock protocol: `open(lock, O_CREAT|O_EXCL)` and write "pid\nhostname\ntime". A waiter that finds the lock retries
 * with a growing delay (5 → 100 ms) until `timeoutMs`. A lock is stale when its pid is not a live process on this
 * host (`kill(pid, 0)` fails with ESRCH) or when it is empty and older than 5 s (a writer died between create and
 * write); a stale lock is renamed aside (rename is atomic, so only one waiter wins) and removed. Reused pids can make
 * a stale lock look alive: the waiter then times out with a message naming the file to remove.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** A failure the user can act on (locked or corrupt state directory). */
export class StoreError extends Error {
  override readonly name = 'StoreError';
}

let tmpCounter = 0;

/** Replace `path` with `data` atomically: readers see the old or the new content, never a mix. */
export function atomicWrite(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.${tmpCounter++}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  syncDir(dir);
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* some filesystems do not allow fsync on directories */
  }
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface LockInfo {
  pid: number;
  host: string;
  empty: boolean;
  ageMs: number;
}

function readLock(path: string): LockInfo | null {
  try {
    const text = readFileSync(path, 'utf8');
    const st = statSync(path);
    const [pid, host] = text.split('\n');
    return { pid: Number(pid), host: host ?? '', empty: text.length === 0, ageMs: Date.now() - st.mtimeMs };
  } catch {
    return null;
  }
}

function isStale(info: LockInfo): boolean {
  if (info.empty) return info.ageMs > 5000;
  if (info.host && info.host !== hostname()) return false;
  return !pidAlive(info.pid);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface LockOptions {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number;
}

/** Run `fn` holding the lock file `path`. */
export async function withLockFile<T>(path: string, fn: () => T | Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeout = opts.timeoutMs ?? 10_000;
  const start = Date.now();
  const token = `${process.pid}\n${hostname()}\n${new Date().toISOString()}\n${Math.random().toString(36).slice(2)}\n`;
  let delay = 5;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, token);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const info = readLock(path);
    if (info && isStale(info)) {
      const aside = `${path}.stale.${process.pid}.${Date.now()}`;
      try {
        renameSync(path, aside);
        unlinkSync(aside);
      } catch {
        /* another waiter broke it first */
      }
      continue;
    }
    if (Date.now() - start > timeout) {
      throw new StoreError(
        `the state directory is locked by process ${info?.pid ?? '?'} (${path}); if that process is gone, remove the file`,
      );
    }
    await sleep(delay);
    delay = Math.min(100, delay * 2);
  }
  try {
    return await fn();
  } finally {
    try {
      if (readFileSync(path, 'utf8') === token) unlinkSync(path);
    } catch {
      /* removed by someone who judged it stale */
    }
  }
}
