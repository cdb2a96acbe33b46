/**
 * The shared heartbeat key (docs/semantics.md §1.4: "an agent without a key never joins the cluster and claims no IP").
 *
 * A key is at least 16 bytes (32 random bytes recommended: `egress apply` creates `<state-dir>/cluster.key` so).
 * It is read from a file (`--key-file`, default `<state-dir>/cluster.key`) that must be a regular file owned by
 * the agent's user and readable by nobody else (mode 0600 or stricter): never from the command line, where `ps`
 * shows it. `EGRESS_KEY` (hex) exists for tests only. Weak keys are refused (`keyProblem`, docs/security.md).
 *
 * Its key id is the first 4 bytes of HMAC-SHA256(key, "egress-engine heartbeat key id v1") — a fingerprint that
 * reveals nothing about the key and lets a receiver tell "sent with another key" (rotation lag, wrong Secret)
 * from "forged". The key id is carried in every heartbeat; a receiver holding several keys (rotation) picks by id.
 */
import { createHmac } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** Shortest key accepted, in bytes. */
export const MIN_KEY_LEN = 16;
/** Longest key accepted, in bytes (a larger file is almost certainly not a key). */
export const MAX_KEY_LEN = 1024;

const KEY_ID_LABEL = 'egress-engine heartbeat key id v1';

/** A heartbeat key with its id. */
export interface HeartbeatKey {
  /** Key id (uint32), as carried in the heartbeat. */
  readonly id: number;
  /** The secret bytes. */
  readonly key: Uint8Array;
}

/** The key id of raw key bytes (uint32). */
export function keyIdOf(key: Uint8Array): number {
  const d = createHmac('sha256', key).update(KEY_ID_LABEL).digest();
  return d.readUInt32BE(0);
}

/** Printable ASCII and the whitespace of a text file: such a key is a passphrase, not random bytes. */
const isTextByte = (b: number) => (b >= 0x20 && b <= 0x7e) || b === 0x09 || b === 0x0a || b === 0x0d;

/**
 * Why raw bytes are not a usable key, or null when they are. The rules (an estimate of entropy that random bytes
 * always pass; measured over 10^6 random keys, the fewest distinct values seen were 10 of 16 and 23 of 32):
 * - 16 to 1024 bytes;
 * - not printable text only (a passphrase like "passwordpassword" has a few bits per byte);
 * - at least half of min(length, 32) distinct byte values (a repeated pattern has few).
 */
export function keyProblem(key: Uint8Array): string | null {
  if (key.length < MIN_KEY_LEN) {
    return `heartbeat key is ${key.length} bytes; at least ${MIN_KEY_LEN} are required (32 random bytes recommended)`;
  }
  if (key.length > MAX_KEY_LEN) return `heartbeat key is ${key.length} bytes; at most ${MAX_KEY_LEN} are accepted`;
  if (key.every((b) => b === key[0])) return 'heartbeat key is one byte value repeated; use random bytes';
  if (key.every(isTextByte))
    return 'heartbeat key is printable text, which looks like a passphrase (few bits per byte); use random bytes (head -c 32 /dev/urandom) or their hex (openssl rand -hex 32)';
  const distinct = new Set(key).size;
  const need = Math.ceil(Math.min(key.length, 32) / 2);
  if (distinct < need)
    return `heartbeat key has only ${distinct} distinct byte values (at least ${need} required: a repeated pattern is not random); use random bytes`;
  return null;
}

/** A HeartbeatKey from raw bytes (copied). Throws RangeError on a key `keyProblem` rejects: validate user input first. */
export function makeKey(key: Uint8Array): HeartbeatKey {
  const p = keyProblem(key);
  if (p) throw new RangeError(p);
  const copy = new Uint8Array(key);
  return { id: keyIdOf(copy), key: copy };
}

export type LoadKeyResult =
  | {
      readonly ok: true;
      readonly key: HeartbeatKey;
      /** where it came from, safe to log (no key bytes) */ readonly source: string;
    }
  | { readonly ok: false; /** one line, never contains key material */ readonly error: string };

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

/** Largest key file read (a key in hex with line breaks fits easily). */
const MAX_KEY_FILE = 4096;

/** Bytes from a key file's content: hex text (whitespace ignored, at least 32 digits) is decoded, else raw. */
function keyBytes(raw: Uint8Array): Uint8Array {
  const text = Buffer.from(raw).toString('latin1').replace(/\s+/g, '');
  return HEX.test(text) && text.length >= MIN_KEY_LEN * 2
    ? new Uint8Array(Buffer.from(text, 'hex'))
    : new Uint8Array(raw);
}

function verdict(bytes: Uint8Array, source: string): LoadKeyResult {
  const p = keyProblem(bytes);
  if (p) return { ok: false, error: `${p} (${source})` };
  return { ok: true, key: makeKey(bytes), source };
}

/**
 * Load the heartbeat key from the file `path`: raw bytes, or hex text. The file must be a regular file (a link to
 * one is followed: Kubernetes mounts Secrets so) owned by this process's user and not readable or writable by
 * group or others. Never throws: returns a one-line error that does not echo key material.
 */
export function loadKeyFile(path: string): LoadKeyResult {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    return { ok: false, error: `heartbeat key file ${path}: ${code === 'ENOENT' ? 'no such file' : code}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, error: `heartbeat key file ${path} is not a regular file` };
    const uid = typeof process.geteuid === 'function' ? process.geteuid() : null;
    if (uid !== null && st.uid !== uid)
      return {
        ok: false,
        error: `heartbeat key file ${path} is owned by uid ${st.uid}, not by the agent's user (uid ${uid}): chown ${uid} ${path}`,
      };
    if (uid !== null && (st.mode & 0o077) !== 0)
      return {
        ok: false,
        error: `heartbeat key file ${path} has mode 0${(st.mode & 0o777).toString(8)}: only its owner may read it (chmod 600 ${path})`,
      };
    if (st.size > MAX_KEY_FILE)
      return {
        ok: false,
        error: `heartbeat key file ${path} is ${st.size} bytes: not a key (at most ${MAX_KEY_FILE})`,
      };
    const buf = Buffer.alloc(MAX_KEY_FILE + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_KEY_FILE) return { ok: false, error: `heartbeat key file ${path} is more than ${MAX_KEY_FILE} bytes` };
    return verdict(keyBytes(buf.subarray(0, n)), `file ${path}`);
  } catch (e) {
    return { ok: false, error: `heartbeat key file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  } finally {
    closeSync(fd);
  }
}

/** The key from hex text (`EGRESS_KEY`, for tests only); `source` names where it came from in messages. */
export function keyFromHex(text: string, source: string): LoadKeyResult {
  const h = text.replace(/\s+/g, '');
  if (!HEX.test(h)) return { ok: false, error: `heartbeat key in ${source} is not an even number of hex digits` };
  return verdict(new Uint8Array(Buffer.from(h, 'hex')), source);
}
