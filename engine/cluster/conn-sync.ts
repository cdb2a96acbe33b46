/**
 * Connection-state sync message (ours; docs/conntrack-sync.md): the owner of an egress IP sends the state of the
 * connections SNATed to it to the IP's standby, so the standby can take them over. Carried in UDP from the
 * sender's transport IP to the receiver's, port 10351 (the heartbeat port: the magic tells them apart), one
 * message per burst of changes, never more than MAX_LEN bytes. All integers are big-endian.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  0 |   'E' 0x45    |   'G' 0x47    |   'C' 0x43    |   'S' 0x53    |  Magic
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  4 |  Version = 1  |     Flags     |    Records    |   Removals    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  8 |                            Key ID                             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 12 |                 Destination (receiver) transport IP           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 16 |                 Sender incarnation (64 bits)                  |
 *    +                                                               +
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 24 |                       Counter (64 bits)                       |
 *    +                                                               +
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 32 |              Echo: receiver's incarnation (64 bits)           |
 *    +                                                               +
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 40 |                    Sender transport IP                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 44 |                      Reserved (zero)                          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 48 |  Records: 32 bytes each, 80 for TCP (below) ...               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Removals: 16 bytes each (below) ...                          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  HMAC-SHA256 over every byte before it (32 bytes) ...         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Record (one connection, as conntrack/replicate.ts exports it):
 *
 *  0 |                    Original source IP                         |
 *  4 |                    Original destination IP                    |
 *  8 |   Original source port        |   Original destination port   |   (ICMP echo: the identifier twice)
 * 12 |                    NAT binding IP (the egress IP)             |
 * 16 |   NAT binding port / ICMP id  |     Proto     |   TCP state   |
 * 20 |   State flags (conntrack)     |      Reserved (zero)          |
 * 24 |                 Remaining timeout (ms)                        |
 * 28 |                 Age (ms since creation)                       |
 * 32 |  TCP only: the tracked window, 12 words (conntrack/tcp-window.ts `TW_STRIDE`): per direction td_end,
 *    |  td_maxend, td_maxwin, td_maxack, scale and option flags; then last_end, last_win (48 bytes)
 *
 * Removal (one connection gone): original source IP, original destination IP, ports word, proto, 3 zero bytes.
 *
 * - Flags: 0x01 FULL (part of a full transfer to a new standby); other bits are sent as zero and ignored.
 * - Key ID, incarnation, counter, echo, destination: as in heartbeats (heartbeat.ts), with a counter of their own
 *   per (incarnation, receiver). Replay protection: the receiver accepts only (incarnation > last) or (same
 *   incarnation and counter > last) from a sender, and only messages that echo its *current* incarnation, so
 *   nothing recorded before it (re)started can be replayed into it.
 * - The magic is inside the MAC, so a heartbeat's MAC never verifies a sync message and vice versa.
 *
 * `check` is structural (lengths, magic, version, counts); `SyncReceiver.receive` authenticates (key id, MAC in
 * constant time) and only then reads fields and applies the sender rules. Every input gets a counted verdict;
 * nothing throws.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as hb from './heartbeat.js';
import { get64, put64 } from './heartbeat.js';
import type { HeartbeatKey } from './key.js';

export const SYNC_MAGIC = 0x45474353; // 'EGCS'
export const SYNC_VERSION = 1;
export const SYNC_HEADER_LEN = 48;
export const SYNC_MAC_LEN = 32;
/** A record without the TCP window. */
export const RECORD_LEN = 32;
/** TCP window words carried per record. */
export const WINDOW_WORDS = 12;
export const TCP_RECORD_LEN = RECORD_LEN + 4 * WINDOW_WORDS;
export const REMOVAL_LEN = 16;
/**
 * Longest message: fits one unfragmented IPv4/UDP datagram on a 1500-byte uplink with room to spare (a Geneve
 * uplink of 1450 still carries it: sync goes between transport IPs, never through a tunnel).
 */
export const SYNC_MAX_LEN = 1400;
export const SYNC_FLAG_FULL = 0x01;
const PROTO_TCP = 6;

const F_VERSION = 4;
const F_FLAGS = 5;
const F_NREC = 6;
const F_NREM = 7;
const F_KEY_ID = 8;
const F_DST = 12;
const F_INCARNATION = 16;
const F_COUNTER = 24;
const F_ECHO = 32;
const F_SRC = 40;

// Verdicts: the heartbeat's codes (heartbeat.ts), except that 8 is a sender that is not a live member (the
// heartbeat's unknown-node): 1..7 from structure and authentication, 8..14 from the receiver's state.
export const SYNC_OK = hb.OK;
export const SYNC_TRUNCATED = hb.TRUNCATED;
/** Longer than the counts announce, or beyond SYNC_MAX_LEN. */
export const SYNC_OVERSIZE = hb.OVERSIZE;
export const SYNC_BAD_MAGIC = hb.BAD_MAGIC;
export const SYNC_BAD_VERSION = hb.BAD_VERSION;
/** Reserved bytes not zero, a proto/state out of range, or 64-bit fields out of range (after the MAC). */
export const SYNC_BAD_FIELD = hb.BAD_FIELD;
export const SYNC_UNKNOWN_KEY = hb.UNKNOWN_KEY;
export const SYNC_BAD_MAC = hb.BAD_MAC;
/** Authentic, but the sender IP is not a live member of our view. */
export const SYNC_NON_MEMBER = hb.UNKNOWN_NODE;
export const SYNC_FROM_SELF = hb.FROM_SELF;
/** The sender IP field differs from the datagram's source address. */
export const SYNC_WRONG_SOURCE = hb.WRONG_SOURCE;
export const SYNC_WRONG_DESTINATION = hb.WRONG_DESTINATION;
export const SYNC_STALE_INCARNATION = hb.STALE_INCARNATION;
export const SYNC_REPLAYED = hb.REPLAYED;
/** Does not echo our current incarnation: recorded before we started, or the sender has not heard us yet. */
export const SYNC_UNCONFIRMED = hb.UNCONFIRMED;

export const SYNC_VERDICT_NAMES = hb.VERDICT_NAMES.map((n) => (n === 'unknown-node' ? 'non-member' : n)) as readonly (
  Exclude<(typeof hb.VERDICT_NAMES)[number], 'unknown-node'> | 'non-member'
)[];
export type SyncVerdictName = (typeof SYNC_VERDICT_NAMES)[number];

/** One connection's replicated state (cold-path value type; conntrack/replicate.ts fills and installs it). */
export interface SyncRecord {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
  natIp: number;
  natPort: number;
  /** TCP state (conntrack proto.ts `TCP_*`), 0 for other protocols. */
  state: number;
  /** Conntrack state flags (16 bits, opaque here). */
  flags: number;
  timeoutMs: number;
  ageMs: number;
  /** TCP only: WINDOW_WORDS words; null otherwise. */
  window: Int32Array | null;
}

export interface SyncRemoval {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
}

export interface SyncHeader {
  flags: number;
  keyId: number;
  dstIp: number;
  incarnation: number;
  counter: number;
  echo: number;
  srcIp: number;
}

export interface SyncMessage extends SyncHeader {
  records: SyncRecord[];
  removals: SyncRemoval[];
}

/** Bytes one record takes on the wire. */
export function recordLen(proto: number): number {
  return proto === PROTO_TCP ? TCP_RECORD_LEN : RECORD_LEN;
}

/** Structural check (no key needed): OK or the first failing verdict. */
export function checkSync(buf: Uint8Array): number {
  const len = buf.length;
  if (len > SYNC_MAX_LEN) return SYNC_OVERSIZE;
  if (len < 4) return SYNC_TRUNCATED;
  if (((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0 !== SYNC_MAGIC) return SYNC_BAD_MAGIC;
  if (len <= F_VERSION) return SYNC_TRUNCATED;
  if (buf[F_VERSION] !== SYNC_VERSION) return SYNC_BAD_VERSION;
  if (len < SYNC_HEADER_LEN) return SYNC_TRUNCATED;
  let o = SYNC_HEADER_LEN;
  for (let i = 0; i < buf[F_NREC]!; i++) {
    if (o + RECORD_LEN > len) return SYNC_TRUNCATED;
    o += recordLen(buf[o + 18]!);
  }
  o += REMOVAL_LEN * buf[F_NREM]!;
  if (o + SYNC_MAC_LEN > len) return SYNC_TRUNCATED;
  if (o + SYNC_MAC_LEN < len) return SYNC_OVERSIZE;
  return SYNC_OK;
}

/** Bytes a message with these records and removals takes. */
export function syncLength(recordBytes: number, removals: number): number {
  return SYNC_HEADER_LEN + recordBytes + REMOVAL_LEN * removals + SYNC_MAC_LEN;
}

/**
 * Encode one message and append its HMAC-SHA256 under `key`. Throws RangeError when it would exceed SYNC_MAX_LEN
 * or 255 records/removals (the sender splits bursts with `syncLength`: a programming error, not bad input).
 */
export function encodeSync(
  h: Omit<SyncHeader, 'keyId'>,
  records: readonly SyncRecord[],
  removals: readonly SyncRemoval[],
  key: HeartbeatKey,
): Uint8Array {
  let recBytes = 0;
  for (const r of records) recBytes += recordLen(r.proto);
  const len = syncLength(recBytes, removals.length);
  if (len > SYNC_MAX_LEN || records.length > 255 || removals.length > 255)
    throw new RangeError(`sync message of ${len} bytes, ${records.length} records, ${removals.length} removals`);
  if (!(h.incarnation >= 1 && h.counter >= 1 && h.echo >= 0)) throw new RangeError('sync: incarnation/counter');
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  putHeader(v, h, records.length, removals.length, key);
  let o = SYNC_HEADER_LEN;
  for (const r of records)
    o = putRecord(
      v,
      o,
      r.src,
      r.dst,
      r.sport,
      r.dport,
      r.natIp,
      r.natPort,
      r.proto,
      r.state,
      r.flags,
      r.timeoutMs,
      r.ageMs,
      r.window,
    );
  for (const r of removals) o = putRemoval(v, o, r.src, r.dst, (r.sport << 16) | (r.dport & 0xffff), r.proto);
  out.set(createHmac('sha256', key.key).update(out.subarray(0, o)).digest(), o);
  return out;
}

/**
 * Write one record at `o` of `v` (the layout above); returns the offset after it. `window`: TCP's WINDOW_WORDS
 * words (zeros when null); ignored for other protocols.
 */
export function putRecord(
  v: DataView,
  o: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  natIp: number,
  natPort: number,
  proto: number,
  state: number,
  flags: number,
  timeoutMs: number,
  ageMs: number,
  window: Int32Array | null,
): number {
  v.setInt32(o, src | 0);
  v.setInt32(o + 4, dst | 0);
  v.setUint16(o + 8, sport & 0xffff);
  v.setUint16(o + 10, dport & 0xffff);
  v.setInt32(o + 12, natIp | 0);
  v.setUint16(o + 16, natPort & 0xffff);
  v.setUint8(o + 18, proto & 0xff);
  v.setUint8(o + 19, state & 0xff);
  v.setUint16(o + 20, flags & 0xffff);
  v.setUint16(o + 22, 0);
  v.setUint32(o + 24, Math.min(0xffffffff, Math.max(0, Math.round(timeoutMs))));
  v.setUint32(o + 28, Math.min(0xffffffff, Math.max(0, Math.round(ageMs))));
  o += RECORD_LEN;
  if ((proto & 0xff) === PROTO_TCP) {
    for (let k = 0; k < WINDOW_WORDS; k++) v.setInt32(o + 4 * k, window ? window[k]! | 0 : 0);
    o += 4 * WINDOW_WORDS;
  }
  return o;
}

/** Write one removal at `o` (`ports` = sport << 16 | dport); returns the offset after it. */
export function putRemoval(v: DataView, o: number, src: number, dst: number, ports: number, proto: number): number {
  v.setInt32(o, src | 0);
  v.setInt32(o + 4, dst | 0);
  v.setInt32(o + 8, ports | 0);
  v.setUint8(o + 12, proto & 0xff);
  v.setUint8(o + 13, 0);
  v.setUint16(o + 14, 0);
  return o + REMOVAL_LEN;
}

/**
 * One message from records and removals already written (`putRecord`, `putRemoval`) into `recs` (its first
 * `recBytes` bytes, `nRec` records) and `rems` (`nRem` removals): the only allocation is the message itself.
 */
export function sealSync(
  h: Omit<SyncHeader, 'keyId'>,
  recs: Uint8Array,
  recBytes: number,
  nRec: number,
  rems: Uint8Array,
  nRem: number,
  key: HeartbeatKey,
): Uint8Array {
  const len = syncLength(recBytes, nRem);
  if (len > SYNC_MAX_LEN || nRec > 255 || nRem > 255)
    throw new RangeError(`sync message of ${len} bytes, ${nRec} records, ${nRem} removals`);
  if (!(h.incarnation >= 1 && h.counter >= 1 && h.echo >= 0)) throw new RangeError('sync: incarnation/counter');
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  putHeader(v, h, nRec, nRem, key);
  out.set(recs.subarray(0, recBytes), SYNC_HEADER_LEN);
  const o = SYNC_HEADER_LEN + recBytes;
  out.set(rems.subarray(0, REMOVAL_LEN * nRem), o);
  const end = o + REMOVAL_LEN * nRem;
  out.set(createHmac('sha256', key.key).update(out.subarray(0, end)).digest(), end);
  return out;
}

function putHeader(v: DataView, h: Omit<SyncHeader, 'keyId'>, nRec: number, nRem: number, key: HeartbeatKey): void {
  v.setUint32(0, SYNC_MAGIC);
  v.setUint8(F_VERSION, SYNC_VERSION);
  v.setUint8(F_FLAGS, h.flags & 0xff);
  v.setUint8(F_NREC, nRec);
  v.setUint8(F_NREM, nRem);
  v.setUint32(F_KEY_ID, key.id >>> 0);
  v.setInt32(F_DST, h.dstIp | 0);
  put64(v, F_INCARNATION, h.incarnation);
  put64(v, F_COUNTER, h.counter);
  put64(v, F_ECHO, h.echo);
  v.setInt32(F_SRC, h.srcIp | 0);
}

/** Whether the body of a message that passed `checkSync` and its MAC has every field in range (allocates nothing). */
function validBody(buf: Uint8Array): boolean {
  if (buf[44] !== 0 || buf[45] !== 0 || buf[46] !== 0 || buf[47] !== 0) return false;
  let o = SYNC_HEADER_LEN;
  for (let i = 0; i < buf[F_NREC]!; i++) {
    const proto = buf[o + 18]!;
    const state = buf[o + 19]!;
    if (buf[o + 22] !== 0 || buf[o + 23] !== 0 || (proto === PROTO_TCP ? state < 1 || state > 9 : state !== 0))
      return false;
    o += recordLen(proto);
  }
  for (let i = 0; i < buf[F_NREM]!; i++) {
    if (buf[o + 13] !== 0 || buf[o + 14] !== 0 || buf[o + 15] !== 0) return false;
    o += REMOVAL_LEN;
  }
  return true;
}

/** The header of a message that passed `checkSync` and its MAC; null when a 64-bit field is out of range. */
function readHeader(buf: Uint8Array, keyId: number): SyncHeader | null {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const incarnation = get64(v, F_INCARNATION);
  const counter = get64(v, F_COUNTER);
  const echo = get64(v, F_ECHO);
  if (incarnation <= 0 || counter <= 0 || echo < 0) return null;
  return {
    flags: buf[F_FLAGS]!,
    keyId,
    dstIp: v.getInt32(F_DST),
    incarnation,
    counter,
    echo,
    srcIp: v.getInt32(F_SRC),
  };
}

/** Read the body of a message that passed `checkSync`, its MAC and `validBody` into objects (tests, tools). */
function readBody(buf: Uint8Array, h: SyncHeader): SyncMessage {
  const records: SyncRecord[] = [];
  const removals: SyncRemoval[] = [];
  readItems(buf, {
    record(src, dst, ports, proto, natIp, natPort, state, flags, timeoutMs, ageMs, v, winOff) {
      let window: Int32Array | null = null;
      if (winOff >= 0) {
        window = new Int32Array(WINDOW_WORDS);
        for (let k = 0; k < WINDOW_WORDS; k++) window[k] = v.getInt32(winOff + 4 * k);
      }
      records.push({
        src,
        dst,
        sport: ports >>> 16,
        dport: ports & 0xffff,
        proto,
        natIp,
        natPort,
        state,
        flags,
        timeoutMs,
        ageMs,
        window,
      });
    },
    removal(src, dst, ports, proto) {
      removals.push({ src, dst, sport: ports >>> 16, dport: ports & 0xffff, proto });
    },
  });
  return { ...h, records, removals };
}

/**
 * What `readItems` hands each record and removal to: numbers, and for a TCP record the message's view and the
 * offset of its 12 window words (-1 for other protocols). `ports` is `sport << 16 | dport` (conntrack's word).
 */
export interface SyncItemSink {
  record(
    src: number,
    dst: number,
    ports: number,
    proto: number,
    natIp: number,
    natPort: number,
    state: number,
    flags: number,
    timeoutMs: number,
    ageMs: number,
    v: DataView,
    winOff: number,
  ): void;
  removal(src: number, dst: number, ports: number, proto: number): void;
}

/**
 * Walk the records then removals of a message a `SyncReceiver` accepted (`accept` returned SYNC_OK), with no
 * object per item: the standby's cache stores them straight from the message.
 */
export function readItems(buf: Uint8Array, sink: SyncItemSink): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = SYNC_HEADER_LEN;
  for (let i = 0; i < buf[F_NREC]!; i++) {
    const proto = buf[o + 18]!;
    sink.record(
      v.getInt32(o),
      v.getInt32(o + 4),
      v.getInt32(o + 8),
      proto,
      v.getInt32(o + 12),
      v.getUint16(o + 16),
      buf[o + 19]!,
      v.getUint16(o + 20),
      v.getUint32(o + 24),
      v.getUint32(o + 28),
      v,
      proto === PROTO_TCP ? o + RECORD_LEN : -1,
    );
    o += recordLen(proto);
  }
  for (let i = 0; i < buf[F_NREM]!; i++) {
    sink.removal(v.getInt32(o), v.getInt32(o + 4), v.getInt32(o + 8), buf[o + 12]!);
    o += REMOVAL_LEN;
  }
}

function keyIdOf(buf: Uint8Array): number {
  return ((buf[F_KEY_ID]! << 24) | (buf[F_KEY_ID + 1]! << 16) | (buf[F_KEY_ID + 2]! << 8) | buf[F_KEY_ID + 3]!) >>> 0;
}

/** Structure, key, MAC and field ranges: the header, or the verdict of the first check that fails. */
function authenticate(
  buf: Uint8Array,
  keys: readonly HeartbeatKey[],
): { verdict: 0; header: SyncHeader } | { verdict: number } {
  const c = checkSync(buf);
  if (c !== SYNC_OK) return { verdict: c };
  const id = keyIdOf(buf);
  const key = keys.find((k) => k.id >>> 0 === id);
  if (!key) return { verdict: SYNC_UNKNOWN_KEY };
  const macOff = buf.length - SYNC_MAC_LEN;
  const mac = createHmac('sha256', key.key).update(buf.subarray(0, macOff)).digest();
  if (!timingSafeEqual(mac, buf.subarray(macOff))) return { verdict: SYNC_BAD_MAC };
  const header = validBody(buf) ? readHeader(buf, id) : null;
  return header ? { verdict: SYNC_OK, header } : { verdict: SYNC_BAD_FIELD };
}

/** Structure, key and MAC: the message, or the verdict of the first check that fails. */
export function decodeSync(
  buf: Uint8Array,
  keys: readonly HeartbeatKey[],
): { verdict: 0; msg: SyncMessage } | { verdict: number } {
  const a = authenticate(buf, keys);
  return 'header' in a ? { verdict: SYNC_OK, msg: readBody(buf, a.header) } : a;
}

/** True when the payload is a sync message rather than a heartbeat (its first four bytes). */
export function isSyncPayload(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x45 && buf[1] === 0x47 && buf[2] === 0x43 && buf[3] === 0x53;
}

export interface SyncReceiverConfig {
  selfIp: number;
  /** Our incarnation: messages must echo it. */
  incarnation: number;
  keys: readonly HeartbeatKey[];
}

/**
 * The receiving side's rules: authentication, then sender (a live member, the address it claims), destination,
 * freshness. Counts every verdict (`counts`, indexed like SYNC_VERDICT_NAMES).
 */
export class SyncReceiver {
  readonly counts = new Float64Array(SYNC_VERDICT_NAMES.length);
  private keys: readonly HeartbeatKey[];
  private members: ReadonlyMap<number, string> = new Map();
  private readonly last = new Map<number, { inc: number; counter: number }>();

  constructor(private readonly cfg: SyncReceiverConfig) {
    this.keys = cfg.keys;
  }

  /** Live members by transport IP (excluding ourselves). */
  setMembers(members: ReadonlyMap<number, string>): void {
    this.members = members;
  }

  setKeys(keys: readonly HeartbeatKey[]): void {
    this.keys = keys;
  }

  /** Judge one datagram payload from `srcIp`; the message only when the verdict is OK. */
  receive(srcIp: number, buf: Uint8Array): { verdict: number; msg?: SyncMessage; sender?: string } {
    const verdict = this.accept(srcIp, buf);
    if (verdict !== SYNC_OK) return { verdict };
    return { verdict, msg: readBody(buf, readHeader(buf, keyIdOf(buf))!), sender: this.members.get(srcIp | 0)! };
  }

  /**
   * Judge one datagram payload from `srcIp` without decoding its items (read them with `readItems` when the
   * verdict is SYNC_OK). Counted like `receive`.
   */
  accept(srcIp: number, buf: Uint8Array): number {
    const a = authenticate(buf, this.keys);
    const verdict = 'header' in a ? this.judge(srcIp | 0, a.header) : a.verdict;
    this.counts[verdict]!++;
    return verdict;
  }

  private judge(srcIp: number, m: SyncHeader): number {
    if (m.srcIp === this.cfg.selfIp) return SYNC_FROM_SELF;
    if (m.srcIp !== srcIp) return SYNC_WRONG_SOURCE;
    if (m.dstIp !== this.cfg.selfIp) return SYNC_WRONG_DESTINATION;
    if (!this.members.has(srcIp)) return SYNC_NON_MEMBER;
    const l = this.last.get(srcIp);
    if (l && m.incarnation < l.inc) return SYNC_STALE_INCARNATION;
    if (l && m.incarnation === l.inc && m.counter <= l.counter) return SYNC_REPLAYED;
    if (m.echo !== this.cfg.incarnation) return SYNC_UNCONFIRMED;
    this.last.set(srcIp, { inc: m.incarnation, counter: m.counter });
    return SYNC_OK;
  }

  /** Counts by verdict name. */
  snapshot(): Record<SyncVerdictName, number> {
    const out = {} as Record<SyncVerdictName, number>;
    SYNC_VERDICT_NAMES.forEach((n, i) => (out[n] = this.counts[i]!));
    return out;
  }
}

/**
 * The sending side: splits a burst for one receiver into messages of at most SYNC_MAX_LEN bytes, each with the
 * next counter for that receiver.
 */
export class SyncSender {
  private readonly counters = new Map<number, number>();
  private key: HeartbeatKey;

  constructor(
    private readonly selfIp: number,
    private readonly incarnation: number,
    key: HeartbeatKey,
  ) {
    this.key = key;
  }

  setKey(key: HeartbeatKey): void {
    this.key = key;
  }

  /**
   * One message to `dstIp` from items already written into `recs`/`rems` (sealSync), with the next counter for
   * that receiver.
   */
  seal(
    dstIp: number,
    echo: number,
    recs: Uint8Array,
    recBytes: number,
    nRec: number,
    rems: Uint8Array,
    nRem: number,
    flags = 0,
  ): Uint8Array {
    const counter = (this.counters.get(dstIp) ?? 0) + 1;
    this.counters.set(dstIp, counter);
    return sealSync(
      { flags, dstIp, incarnation: this.incarnation, counter, echo, srcIp: this.selfIp },
      recs,
      recBytes,
      nRec,
      rems,
      nRem,
      this.key,
    );
  }

  /** Messages carrying `records` then `removals` to `dstIp`, echoing `echo` (the receiver's incarnation). */
  build(
    dstIp: number,
    echo: number,
    records: readonly SyncRecord[],
    removals: readonly SyncRemoval[],
    flags = 0,
  ): Uint8Array[] {
    const out: Uint8Array[] = [];
    let ri = 0;
    let di = 0;
    while (ri < records.length || di < removals.length || (out.length === 0 && flags !== 0)) {
      let bytes = 0;
      const rs: SyncRecord[] = [];
      const ds: SyncRemoval[] = [];
      while (ri < records.length && rs.length < 255) {
        const l = recordLen(records[ri]!.proto);
        if (syncLength(bytes + l, 0) > SYNC_MAX_LEN) break;
        bytes += l;
        rs.push(records[ri++]!);
      }
      while (di < removals.length && ds.length < 255 && syncLength(bytes, ds.length + 1) <= SYNC_MAX_LEN)
        ds.push(removals[di++]!);
      const counter = (this.counters.get(dstIp) ?? 0) + 1;
      this.counters.set(dstIp, counter);
      out.push(
        encodeSync(
          { flags, dstIp, incarnation: this.incarnation, counter, echo, srcIp: this.selfIp },
          rs,
          ds,
          this.key,
        ),
      );
      if (rs.length === 0 && ds.length === 0) break;
    }
    return out;
  }
}
