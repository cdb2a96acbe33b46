/**
 * The shared heartbeat key (docs/semantics.md §1.4: "an agent without a key never joins the cluster and claims no IP").
 *
 * A key is at least 16 bytes (32 random bytes recommended, e.g. `head -c 32 /dev/urandom > key`). Its key id is
 * the first 4 bytes of HMAC-SHA256(key, "egress-engine heartbeat key id v1") — a fingerprint that reveals nothing
 * about the key and lets a receiver tell "sent with another key" (rotation lag, wrong Secret) from "forged".
 * The key id is carried in every heartbeat; a receiver holding several keys (rotation) picks by id.
 */
import { createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

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

/** Why raw bytes are not a usable key, or null when they are. */
export function keyProblem(key: Uint8Array): string | null {
  if (key.length < MIN_KEY_LEN) {
    return `heartbeat key is ${key.length} bytes; at least ${MIN_KEY_LEN} are required (32 random bytes recommended)`;
  }
  if (key.length > MAX_KEY_LEN) return `heartbeat key is ${key.length} bytes; at most ${MAX_KEY_LEN} are accepted`;
  if (key.every((b) => b === key[0])) return 'heartbeat key is one byte value repeated; use random bytes';
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

function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/**
 * Load the heartbeat key from `spec`: `hex:<hex digits>`; or a path to a file holding either raw bytes or hex text
 * (whitespace ignored); or, when no such file exists, bare hex digits. Never throws: returns a one-line error that
 * does not echo the key.
 */
export function loadKey(spec: string): LoadKeyResult {
  let bytes: Uint8Array;
  let source: string;
  if (spec.startsWith('hex:')) {
    const h = spec.slice(4).replace(/\s+/g, '');
    if (!HEX.test(h)) return { ok: false, error: 'heartbeat key after "hex:" is not an even number of hex digits' };
    bytes = fromHex(h);
    source = 'hex';
  } else {
    let isFile: boolean;
    try {
      isFile = statSync(spec).isFile();
    } catch {
      isFile = false;
    }
    if (isFile) {
      let raw: Buffer;
      try {
        raw = readFileSync(spec);
      } catch (e) {
        return { ok: false, error: `heartbeat key file ${spec}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
      }
      const text = raw.toString('latin1').replace(/\s+/g, '');
      bytes = HEX.test(text) && text.length >= MIN_KEY_LEN * 2 ? fromHex(text) : new Uint8Array(raw);
      source = `file ${spec}`;
      const p = keyProblem(bytes);
      if (p) return { ok: false, error: `${p} (file ${spec})` };
    } else if (HEX.test(spec.replace(/\s+/g, ''))) {
      bytes = fromHex(spec.replace(/\s+/g, ''));
      source = 'hex';
    } else {
      // Echo the spec only when it looks like a path: a mistyped hex key must not end up in a log.
      const shown = /[/.]/.test(spec) ? ` ${JSON.stringify(spec)}` : '';
      return { ok: false, error: `heartbeat key${shown} is neither a readable file nor an even number of hex digits` };
    }
  }
  const p = keyProblem(bytes);
  if (p) return { ok: false, error: p };
  return { ok: true, key: makeKey(bytes), source };
}
