/**
 * File primitives of the state directory. Everything the store reads or writes goes through here, so the rules hold
 * for every file (docs/security.md):
 *
 * - **Trust**: a directory or file is used only when it is owned by this process's user and not writable by group
 *   or others (`--insecure-state-dir` turns the owner and mode checks off, never the symlink rules). Directories
 *   are created 0700, files 0600. The chain of parents of a state directory must not let another user replace it
 *   (each parent owned by root or by us, and not writable by others unless sticky, as /tmp is).
 * - **No symbolic link is followed** at the last component of a path we read or write: reads open with
 *   O_NOFOLLOW|O_NONBLOCK (a FIFO planted as objects.json cannot block a reader) and check the opened file with
 *   fstat; writes go to a fresh temporary file created with O_CREAT|O_EXCL|O_NOFOLLOW in the same directory, then
 *   rename(2) over the target (rename replaces a link, never writes through it).
 * - **Never a partial file under a final name**: atomic replacement is temp + fsync + rename + fsync of the
 *   directory; exclusive creation (the lock, cluster.key) is temp + link(2), which fails with EEXIST when the name
 *   exists and only ever exposes complete content. A write that fails (ENOSPC, EIO) removes its temp file.
 * - **Temp files carry their writer**: `.<name>.<host>.<pid>-<start>.<n>.tmp`, where start is the process start
 *   time from /proc/PID/stat (so a reused pid is not mistaken for the writer); `removeDeadTemps` deletes those whose
 *   writer on this host is gone (a SIGKILLed apply leaves its temp file only until the next writer).
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * A failure the user can act on (locked, corrupt, insecure or unwritable state directory). Always one line: control
 * characters that came from a file (a name, JSON.parse's quote of the text) are escaped.
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    message: string,
    /** The errno code behind it, when there is one (ENOSPC, EACCES, ...). */
    readonly code?: string,
  ) {
    super(oneLine(message));
  }
}

/** `s` with line breaks and other control characters escaped (`\n`, `\u0000`). */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) =>
    c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Options of every store call that touches files. */
export interface FileOptions {
  /** Skip the owner and mode checks (`--insecure-state-dir`). Symbolic links are refused regardless. */
  readonly insecure?: boolean;
}

/** Largest store file read (objects.json of a very large cluster stays far below it). */
export const MAX_STORE_FILE_BYTES = 64 * 1024 * 1024;

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = constants;

function errno(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? '';
}

/** A system error's message without the path Node appends ("EACCES: permission denied"). */
function message(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split('\n')[0]!
    .replace(/, \w+ '[^']*'( -> '[^']*')?$/, '');
}

// --- process identity ------------------------------------------------------------------------------------------

/** Who wrote a lock or temp file: enough to tell, on this host, whether that process still runs. */
export interface ProcessId {
  readonly pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22); null where /proc is not available. */
  readonly start: string | null;
  readonly host: string;
  /** /proc/sys/kernel/random/boot_id: a pid and start time from before a reboot mean nothing. */
  readonly boot: string | null;
}

/** Field 22 (starttime) and field 3 (state) of /proc/PID/stat; null when there is no such process. */
function procStat(pid: number): { start: string; state: string } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces or ")": split after the last ")".
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const start = fields[19];
  return start && /^\d+$/.test(start) ? { start, state: fields[0] ?? '' } : null;
}

let bootIdCache: string | null | undefined;
function bootId(): string | null {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim() || null;
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache;
}

let selfCache: ProcessId | null = null;
/** This process. */
export function selfId(): ProcessId {
  if (selfCache?.pid !== process.pid)
    selfCache = { pid: process.pid, start: procStat(process.pid)?.start ?? null, host: hostname(), boot: bootId() };
  return selfCache;
}

/**
 * Whether the process `id` still runs: 'dead' only when that is certain (same host and boot, and no process with
 * that pid, or one with another start time, or a zombie); 'unknown' for another host.
 */
export function processLiveness(id: { pid: number; start?: string | null; host?: string; boot?: string | null }) {
  if (id.host && id.host !== hostname()) return 'unknown' as const;
  const boot = bootId();
  if (id.boot && boot && id.boot !== boot) return 'dead' as const;
  if (!Number.isSafeInteger(id.pid) || id.pid <= 0) return 'dead' as const;
  try {
    process.kill(id.pid, 0);
  } catch (e) {
    if (errno(e) !== 'EPERM') return 'dead' as const;
  }
  // The pid exists. It is the same process when its start time matches (/proc hidden by hidepid: assume so).
  const st = procStat(id.pid);
  if (st && ((id.start && st.start !== id.start) || st.state === 'Z')) return 'dead' as const;
  return 'alive' as const;
}

const HOST_TAG_LEN = 8;
function hostTag(host: string): string {
  return createHash('sha256').update(host).digest('hex').slice(0, HOST_TAG_LEN);
}

let tmpCounter = 0;
/** `.<base>.<host>.<pid>-<start>.<n>.tmp` beside `path`. */
function tempPath(path: string): string {
  const me = selfId();
  return join(dirname(path), `.${basename(path)}.${hostTag(me.host)}.${me.pid}-${me.start ?? 0}.${tmpCounter++}.tmp`);
}
const TEMP_RE = /^\..+\.([0-9a-f]{8})\.(\d+)-(\d+)\.\d+\.tmp$/;

/** Delete the temp files in `dir` whose writer (on this host) is gone. Returns how many were removed. */
export function removeDeadTemps(dir: string): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  const me = selfId();
  const tag = hostTag(me.host);
  let removed = 0;
  for (const n of names) {
    const m = TEMP_RE.exec(n);
    if (!m || m[1] !== tag) continue;
    const start = m[3] === '0' ? null : m[3]!;
    if (processLiveness({ pid: Number(m[2]), start }) !== 'dead') continue;
    try {
      unlinkSync(join(dir, n));
      removed++;
    } catch {
      /* raced with another cleaner */
    }
  }
  return removed;
}

// --- trust -----------------------------------------------------------------------------------------------------

const euid = (): number | null => (typeof process.geteuid === 'function' ? process.geteuid() : null);
const octal = (mode: number) => '0' + (mode & 0o7777).toString(8);

/** Why a file or directory we are about to use cannot be trusted, or null. */
export function trustProblem(st: Stats, path: string, opts: FileOptions = {}): string | null {
  const uid = euid();
  if (opts.insecure || uid === null) return null;
  const fix = 'or pass --insecure-state-dir';
  if (st.uid !== uid)
    return `${path} is owned by uid ${st.uid}, not by this user (uid ${uid}): another user controls it; chown -R ${uid} ${path}, ${fix}`;
  if (st.mode & 0o022) {
    const who = st.mode & 0o002 ? 'every user' : 'its group';
    return `${path} is writable by ${who} (mode ${octal(st.mode)}), who could change the cluster: chmod go-w ${path}, ${fix}`;
  }
  return null;
}

/**
 * Check that `dir` is a directory this user owns that nobody else can write, and that no parent lets another user
 * replace it (every parent owned by root or by us, not writable by group or others unless it is sticky).
 * With `create`, a missing directory is created 0700 (missing parents too).
 */
export function checkStateDir(dir: string, opts: FileOptions & { create?: boolean } = {}): void {
  const abs = resolve(dir);
  if (opts.create) {
    try {
      mkdirSync(abs, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new StoreError(`cannot create the state directory ${abs}: ${message(e)}`, errno(e));
    }
  }
  let st: Stats;
  try {
    st = statSync(abs);
  } catch (e) {
    throw new StoreError(`cannot use the state directory ${abs}: ${message(e)}`, errno(e));
  }
  if (!st.isDirectory()) throw new StoreError(`the state directory ${abs} is not a directory`);
  const p = trustProblem(st, abs, opts);
  if (p) throw new StoreError(`refusing the state directory: ${p}`);
  if (opts.insecure || euid() === null) return;
  // Parents, as given (a symbolic link on the way must be ours or root's) and as resolved.
  const real = realpathSync(abs);
  for (const chain of abs === real ? [abs] : [abs, real]) {
    for (let q = dirname(chain); ; q = dirname(q)) {
      const pst = lstatSync(q);
      const owner = pst.uid === 0 || pst.uid === euid();
      const othersWrite = pst.isDirectory() && (pst.mode & 0o022) !== 0 && (pst.mode & 0o1000) === 0;
      if (!owner || othersWrite)
        throw new StoreError(
          `refusing the state directory ${abs}: its parent ${q} is ${owner ? `writable by others (mode ${octal(pst.mode)})` : `owned by uid ${pst.uid}`}, so another user could replace it; use a directory under one only root or you can write (e.g. export EGRESS_STATE_DIR=$(mktemp -d)), or pass --insecure-state-dir`,
        );
      if (q === dirname(q)) break;
    }
  }
}

/** Create `dir` (0700) when missing and check it like checkStateDir's last component. */
export function ensurePrivateDir(dir: string, opts: FileOptions = {}): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw new StoreError(`cannot create ${dir}: ${message(e)}`, errno(e));
  }
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) throw new StoreError(`${dir} is a symbolic link: refused (the store follows no links)`);
  if (!st.isDirectory()) throw new StoreError(`${dir} is not a directory`);
  const p = trustProblem(st, dir, opts);
  if (p) throw new StoreError(`refusing ${p}`);
}

// --- reads -----------------------------------------------------------------------------------------------------

/**
 * Read a store file: no symbolic link, a regular file, trusted (trustProblem), at most `maxBytes`. Null when it
 * does not exist. Throws StoreError otherwise.
 */
export function readStoreFile(path: string, opts: FileOptions & { maxBytes?: number } = {}): Buffer | null {
  return readStoreFileStat(path, opts)?.data ?? null;
}

/** readStoreFile, with the opened file's stat. `tail`: a larger file gives its last `maxBytes` instead of an error. */
export function readStoreFileStat(
  path: string,
  opts: FileOptions & { maxBytes?: number; tail?: boolean } = {},
): { data: Buffer; st: Stats } | null {
  const max = opts.maxBytes ?? MAX_STORE_FILE_BYTES;
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP')
      throw new StoreError(`${path} is a symbolic link: refused (the store follows no links)`, code);
    throw new StoreError(`cannot read ${path}: ${message(e)}`, code);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new StoreError(`${path} is not a regular file`);
    const p = trustProblem(st, path, opts);
    if (p) throw new StoreError(`refusing ${p}`);
    let pos = 0;
    if (st.size > max) {
      if (!opts.tail) throw new StoreError(`${path} is ${st.size} bytes, more than the ${max}-byte limit`);
      pos = st.size - max;
    }
    const buf = Buffer.allocUnsafe(Math.min(max + 1, st.size - pos + 4096));
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, pos + n);
      if (r === 0) break;
      n += r;
    }
    if (n > max && !opts.tail) throw new StoreError(`${path} is more than the ${max}-byte limit`);
    return { data: buf.subarray(0, n), st };
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw new StoreError(`cannot read ${path}: ${message(e)}`, errno(e));
  } finally {
    closeSync(fd);
  }
}

/** Identity of a file for change detection (inode, size, mtime, ctime); null when it does not exist. */
export function fileSignature(path: string): string | null {
  try {
    const st = lstatSync(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return null;
  }
}

// --- writes ----------------------------------------------------------------------------------------------------

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** A new temp file beside `path` holding `data`; the caller renames or links it, or removes it. */
function writeTemp(path: string, data: Uint8Array, mode: number, sync: boolean): string {
  const tmp = tempPath(path);
  let fd: number;
  try {
    fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  } catch (e) {
    throw new StoreError(`cannot write ${path}: ${message(e)}`, errno(e));
  }
  try {
    writeAll(fd, data);
    if (sync) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkQuiet(tmp);
    throw new StoreError(`cannot write ${path}: ${message(e)}`, errno(e));
  }
  closeSync(fd);
  return tmp;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

const bytes = (data: string | Uint8Array) => (typeof data === 'string' ? Buffer.from(data) : data);

/**
 * Replace `path` with `data` atomically: readers see the old or the new content, never a mix, and a link at
 * `path` is replaced, not followed. `sync: false` skips the fsyncs (files rewritten every second).
 */
export function atomicWrite(
  path: string,
  data: string | Uint8Array,
  opts: { sync?: boolean; mode?: number } = {},
): void {
  const sync = opts.sync ?? true;
  const tmp = writeTemp(path, bytes(data), opts.mode ?? 0o600, sync);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkQuiet(tmp);
    throw new StoreError(`cannot write ${path}: ${message(e)}`, errno(e));
  }
  if (sync) syncDir(dirname(path));
}

/**
 * Create `path` holding `data` only if no such name exists (a link there counts as existing); the name never
 * shows partial content. False when it exists.
 */
export function createExclusive(
  path: string,
  data: string | Uint8Array,
  opts: { mode?: number; sync?: boolean } = {},
): boolean {
  const tmp = writeTemp(path, bytes(data), opts.mode ?? 0o600, opts.sync ?? true);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    throw new StoreError(`cannot create ${path}: ${message(e)}`, errno(e));
  } finally {
    unlinkQuiet(tmp);
  }
}

/** Open `path` for appending (created 0600; no link followed; checked like a read); returns the fd. */
export function openAppendFd(path: string, opts: FileOptions = {}): number {
  let fd: number;
  try {
    fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (e) {
    const code = errno(e);
    if (code === 'ELOOP')
      throw new StoreError(`${path} is a symbolic link: refused (the store follows no links)`, code);
    throw new StoreError(`cannot write ${path}: ${message(e)}`, code);
  }
  const st = fstatSync(fd);
  const p = st.isFile() ? trustProblem(st, path, opts) : `${path} is not a regular file`;
  if (p) {
    closeSync(fd);
    throw new StoreError(`refusing ${p}`);
  }
  return fd;
}

/** Append `data` in one write (see openAppendFd). */
export function appendStoreFile(path: string, data: string, opts: FileOptions = {}): void {
  const fd = openAppendFd(path, opts);
  try {
    writeAll(fd, Buffer.from(data));
  } catch (e) {
    throw new StoreError(`cannot write ${path}: ${message(e)}`, errno(e));
  } finally {
    closeSync(fd);
  }
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
