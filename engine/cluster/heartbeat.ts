/**
 * Heartbeat datagram payload (ours; carried in UDP to port 10351 on the uplink — the UDP/IPv4 headers are the
 * datapath's). All integers are big-endian.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  0 |   'E' 0x45    |   'G' 0x47    |   'H' 0x48    |   'B' 0x42    |  Magic
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  4 |  Version = 1  |     Flags     |  Name Length  |   Revivals    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  8 |                            Key ID                             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 12 |                     Incarnation (64 bits)                     |
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 20 |                       Counter (64 bits)                       |
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 28 |              Echo: receiver's incarnation (64 bits)           |
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 36 |                 Destination (receiver) transport IP           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 40 |     Sender interval (ms)      |      View size (members)      |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 44 |                          View digest                          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 48 |             Sender node name (Name Length bytes, UTF-8) ...   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 48+n                 HMAC-SHA256 over bytes [0, 48+n) (32 bytes) ...
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * - Flags: bit 0x01 SEES_YOU (the sender holds the receiver alive, confirmed), 0x02 LEAVING (graceful shutdown:
 *   the receiver marks the sender dead at once, like memberlist's Leave). Other bits are sent as zero and ignored.
 * - Revivals: how many times (mod 256) the sender has brought the receiver back from dead to alive in its view.
 *   A change tells the receiver that the sender declared it dead in between — and may have taken over its egress
 *   IPs and announced them — so the receiver re-announces what it owns (split-brain healing, docs/semantics.md §2.5).
 * - Key ID: fingerprint of the key the MAC was made with (key.ts); lets a receiver hold several keys (rotation).
 * - Incarnation: chosen at agent start (wall-clock ms, strictly above any previous one: `newIncarnation`), so it
 *   survives a freeze (SIGSTOP/SIGCONT keeps it) and grows across restarts. Never 0.
 * - Counter: per (incarnation, receiver), starts at 1, +1 per datagram to that receiver. Replay protection: a
 *   receiver accepts only (incarnation > last) or (same incarnation and counter > last).
 * - Echo: the receiver's incarnation as last heard by the sender (0 = not heard yet). A receiver counts a heartbeat
 *   as proof of life only when it echoes the receiver's *current* incarnation, so datagrams recorded before the
 *   receiver (re)started can never be replayed into it, even though it forgot its replay counters.
 * - Destination: the receiver's transport IP (int32 in memory), binding a datagram to one receiver.
 * - Interval / view: the sender's heartbeat interval, and the size and CRC-32 of the sorted list of members it holds
 *   alive (split-brain diagnostics: peers whose views agree report the same digest).
 * - 64-bit fields hold integers up to 2^53 − 1 (JavaScript safe integers); a larger value is `bad-field`.
 *
 * `decodeHeartbeat` never throws: every input gets a verdict. Structure is checked first (lengths, magic, version),
 * then the key id, then the MAC (constant-time compare), and only then field values, so an unauthenticated datagram
 * never reaches the membership logic.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { HeartbeatKey } from './key.js';

/** Antrea's memberlist clusterPort, reused for our heartbeats. */
export const HEARTBEAT_PORT = 10351;

export const MAGIC = 0x45474842; // 'EGHB'
export const VERSION = 1;
/** Fixed part before the name. */
export const HEADER_LEN = 48;
export const MAC_LEN = 32;
/** Longest node name (a Kubernetes DNS subdomain is ≤ 253 characters). */
export const MAX_NAME_LEN = 253;
export const MIN_LEN = HEADER_LEN + 1 + MAC_LEN;
export const MAX_LEN = HEADER_LEN + MAX_NAME_LEN + MAC_LEN;

export const FLAG_SEES_YOU = 0x01;
export const FLAG_LEAVING = 0x02;

const F_MAGIC = 0;
const F_VERSION = 4;
const F_FLAGS = 5;
const F_NAME_LEN = 6;
const F_REVIVALS = 7;
const F_KEY_ID = 8;
const F_INCARNATION = 12;
const F_COUNTER = 20;
const F_ECHO = 28;
const F_DST = 36;
const F_INTERVAL = 40;
const F_VIEW_SIZE = 42;
const F_VIEW_DIGEST = 44;
const F_NAME = 48;

// Verdicts. 0..7 come from decoding; 8..14 from Membership.receive (they need the receiver's state).
export const OK = 0;
/** Shorter than the fixed header or than the name length announces. */
export const TRUNCATED = 1;
/** Longer than the name length announces (trailing bytes), or beyond MAX_LEN. */
export const OVERSIZE = 2;
export const BAD_MAGIC = 3;
export const BAD_VERSION = 4;
/** A field is invalid: name length 0 (structural), or, once authenticated, a 64-bit value > 2^53−1, incarnation or counter 0, a name that is not UTF-8. */
export const BAD_FIELD = 5;
/** Key id of no key we hold: the sender has another key (rotation lag, misconfiguration). */
export const UNKNOWN_KEY = 6;
/** MAC does not verify: forged or corrupted. */
export const BAD_MAC = 7;
/** Authentic, but the sender's name is not a peer we know. */
export const UNKNOWN_NODE = 8;
/** Authentic and carries our own name: a reflected datagram or two agents configured with one name. */
export const FROM_SELF = 9;
/** The claimed sender name does not match the transport IP the datagram came from. */
export const WRONG_SOURCE = 10;
/** Addressed to another receiver (destination IP field is not ours). */
export const WRONG_DESTINATION = 11;
/** Incarnation older than the one already seen from that peer. */
export const STALE_INCARNATION = 12;
/** Same incarnation, counter not above the last one seen: a replay (or a reordered datagram). */
export const REPLAYED = 13;
/** Authentic and fresh, but does not echo our current incarnation yet: recorded (the peer learns our incarnation from our reply), not proof of life. Normal for one interval after either side starts. */
export const UNCONFIRMED = 14;

export const VERDICT_NAMES = [
  'ok',
  'truncated',
  'oversize',
  'bad-magic',
  'bad-version',
  'bad-field',
  'unknown-key',
  'bad-mac',
  'unknown-node',
  'from-self',
  'wrong-source',
  'wrong-destination',
  'stale-incarnation',
  'replayed',
  'unconfirmed',
] as const;

export type HeartbeatVerdict = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14;
export type DecodeVerdict = 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Name of a verdict code. */
export function verdictName(v: number): string {
  return VERDICT_NAMES[v] ?? `verdict-${v}`;
}

/** The fields of a heartbeat (cold-path value type). */
export interface Heartbeat {
  flags: number;
  /** 0..255 */
  revivals: number;
  incarnation: number;
  counter: number;
  echo: number;
  /** Receiver transport IP, int32. */
  dstIp: number;
  intervalMs: number;
  viewSize: number;
  /** uint32 */
  viewDigest: number;
  name: string;
}

export type DecodeResult =
  | { readonly verdict: typeof OK; readonly hb: Heartbeat; /** key that verified */ readonly keyId: number }
  | { readonly verdict: DecodeVerdict };

const MAX_SAFE_HI = 0x1fffff; // high 32 bits of Number.MAX_SAFE_INTEGER
const TWO32 = 0x1_0000_0000;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Write a 64-bit big-endian field from a safe integer (also the sync message's, conn-sync.ts). */
export function put64(v: DataView, o: number, x: number): void {
  v.setUint32(o, Math.floor(x / TWO32));
  v.setUint32(o + 4, x >>> 0);
}

/** A 64-bit field as a number, or -1 when it is above 2^53 − 1. */
export function get64(v: DataView, o: number): number {
  const hi = v.getUint32(o);
  if (hi > MAX_SAFE_HI) return -1;
  return hi * TWO32 + v.getUint32(o + 4);
}

function isU64(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}

/** Why a heartbeat cannot be encoded, or null. */
export function heartbeatProblem(hb: Heartbeat): string | null {
  const nameLen = encoder.encode(hb.name).length;
  if (nameLen < 1 || nameLen > MAX_NAME_LEN) return `node name must be 1..${MAX_NAME_LEN} UTF-8 bytes`;
  if (!isU64(hb.incarnation) || hb.incarnation === 0) return 'incarnation must be a safe integer ≥ 1';
  if (!isU64(hb.counter) || hb.counter === 0) return 'counter must be a safe integer ≥ 1';
  if (!isU64(hb.echo)) return 'echo must be a safe integer ≥ 0';
  if (!Number.isInteger(hb.intervalMs) || hb.intervalMs < 0 || hb.intervalMs > 0xffff) return 'interval out of range';
  if (!Number.isInteger(hb.viewSize) || hb.viewSize < 0 || hb.viewSize > 0xffff) return 'view size out of range';
  if (!Number.isInteger(hb.flags) || hb.flags < 0 || hb.flags > 0xff) return 'flags out of range';
  if (!Number.isInteger(hb.revivals) || hb.revivals < 0 || hb.revivals > 0xff) return 'revivals out of range';
  return null;
}

/**
 * Encode a heartbeat and append its HMAC-SHA256 under `key`. Throws RangeError on values out of range
 * (`heartbeatProblem`) — the caller builds them, so that is a programming error, not bad input.
 */
export function encodeHeartbeat(hb: Heartbeat, key: HeartbeatKey): Uint8Array {
  const p = heartbeatProblem(hb);
  if (p) throw new RangeError(`heartbeat: ${p}`);
  const name = encoder.encode(hb.name);
  const len = HEADER_LEN + name.length + MAC_LEN;
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  v.setUint32(F_MAGIC, MAGIC);
  v.setUint8(F_VERSION, VERSION);
  v.setUint8(F_FLAGS, hb.flags);
  v.setUint8(F_NAME_LEN, name.length);
  v.setUint8(F_REVIVALS, hb.revivals);
  v.setUint32(F_KEY_ID, key.id >>> 0);
  put64(v, F_INCARNATION, hb.incarnation);
  put64(v, F_COUNTER, hb.counter);
  put64(v, F_ECHO, hb.echo);
  v.setInt32(F_DST, hb.dstIp | 0);
  v.setUint16(F_INTERVAL, hb.intervalMs);
  v.setUint16(F_VIEW_SIZE, hb.viewSize);
  v.setUint32(F_VIEW_DIGEST, hb.viewDigest >>> 0);
  out.set(name, F_NAME);
  const macOff = HEADER_LEN + name.length;
  const mac = createHmac('sha256', key.key).update(out.subarray(0, macOff)).digest();
  out.set(mac, macOff);
  return out;
}

/**
 * Structural check only (lengths, magic, version, name length): OK or the first failing verdict.
 * Cheap; needs no key.
 */
export function check(buf: Uint8Array): typeof OK | DecodeVerdict {
  const len = buf.length;
  if (len > MAX_LEN) return OVERSIZE;
  if (len < 4) return TRUNCATED;
  if (((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0 !== MAGIC) return BAD_MAGIC;
  if (len < F_VERSION + 1) return TRUNCATED;
  if (buf[F_VERSION] !== VERSION) return BAD_VERSION;
  if (len < HEADER_LEN) return TRUNCATED;
  const nameLen = buf[F_NAME_LEN]!;
  if (nameLen === 0) return BAD_FIELD;
  const total = HEADER_LEN + nameLen + MAC_LEN;
  if (len < total) return TRUNCATED;
  if (len > total) return OVERSIZE;
  return OK;
}

/** Key id field of a datagram that passed `check`. */
export function keyId(buf: Uint8Array): number {
  return ((buf[F_KEY_ID]! << 24) | (buf[F_KEY_ID + 1]! << 16) | (buf[F_KEY_ID + 2]! << 8) | buf[F_KEY_ID + 3]!) >>> 0;
}

/**
 * Decode and authenticate a heartbeat payload against the keys we hold. Never throws; returns the heartbeat only
 * when the verdict is OK.
 */
export function decodeHeartbeat(buf: Uint8Array, keys: readonly HeartbeatKey[]): DecodeResult {
  try {
    const c = check(buf);
    if (c !== OK) return { verdict: c };
    const id = keyId(buf);
    let key: HeartbeatKey | null = null;
    for (const k of keys) {
      if (k.id >>> 0 === id) {
        key = k;
        break;
      }
    }
    if (!key) return { verdict: UNKNOWN_KEY };
    const nameLen = buf[F_NAME_LEN]!;
    const macOff = HEADER_LEN + nameLen;
    const mac = createHmac('sha256', key.key).update(buf.subarray(0, macOff)).digest();
    if (!timingSafeEqual(mac, buf.subarray(macOff, macOff + MAC_LEN))) return { verdict: BAD_MAC };
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const incarnation = get64(v, F_INCARNATION);
    const counter = get64(v, F_COUNTER);
    const echo = get64(v, F_ECHO);
    if (incarnation <= 0 || counter <= 0 || echo < 0) return { verdict: BAD_FIELD };
    let name: string;
    try {
      name = decoder.decode(buf.subarray(F_NAME, F_NAME + nameLen));
    } catch {
      return { verdict: BAD_FIELD };
    }
    const hb: Heartbeat = {
      flags: buf[F_FLAGS]!,
      revivals: buf[F_REVIVALS]!,
      incarnation,
      counter,
      echo,
      dstIp: v.getInt32(F_DST),
      intervalMs: v.getUint16(F_INTERVAL),
      viewSize: v.getUint16(F_VIEW_SIZE),
      viewDigest: v.getUint32(F_VIEW_DIGEST),
      name,
    };
    return { verdict: OK, hb, keyId: id };
  } catch {
    // Unreachable by construction (every read is bounds-checked above); kept so the contract holds regardless.
    return { verdict: TRUNCATED };
  }
}

/**
 * An incarnation for an agent starting now: the wall-clock time in ms, but strictly above `previous` (the last
 * incarnation this node used, if the agent persisted it), so a clock stepped backwards cannot make peers reject
 * the restarted agent as `stale-incarnation`.
 */
export function newIncarnation(wallClockMs: number, previous = 0): number {
  const t = Math.floor(wallClockMs);
  return Math.max(t, Math.floor(previous) + 1, 1);
}
