/**
 * IPv4 header, RFC 791 §3.1.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Version|  IHL  |Type of Service|          Total Length         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |         Identification        |Flags|      Fragment Offset    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Time to Live |    Protocol   |         Header Checksum       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                       Source Address                          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Destination Address                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Options                    |    Padding    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Flags: bit 0 reserved (must be zero), bit 1 DF (Don't Fragment), bit 2 MF (More Fragments).
 *
 * Addresses are handled as int32 (`x | 0`): a uint32 above 2^31 that passes through an array or a call
 * that is not inlined is boxed as a heap number, which allocates per packet. Use `addrToString` and
 * `parseAddr` to convert on cold paths.
 */
import * as cs from './checksum.js';
import * as V from './verdict.js';

// Local bindings of imported hot-path values (why: docs/platform.md, the hot path in JavaScript).
const { BAD_CHECKSUM, BAD_HEADER_LEN, BAD_TOTAL_LEN, BAD_VERSION, OK, TRUNCATED } = V;
const { checksum, update16, update32 } = cs;

/** Minimum header length (IHL = 5). */
export const HEADER_LEN = 20;
export const ETHERTYPE = 0x0800;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export const FLAG_DF = 0x4000;
export const FLAG_MF = 0x2000;
export const FRAG_OFFSET_MASK = 0x1fff;

const F_VER_IHL = 0;
const F_TOS = 1;
const F_TOTAL_LEN = 2;
const F_ID = 4;
const F_FLAGS_FRAG = 6;
const F_TTL = 8;
const F_PROTO = 9;
const F_CHECKSUM = 10;
const F_SRC = 12;
const F_DST = 16;

// Module-local copies of exported constants (why: docs/platform.md, the hot path in JavaScript).
const C_HEADER_LEN = HEADER_LEN;
const C_FLAG_DF = FLAG_DF;
const C_FLAG_MF = FLAG_MF;
const C_FRAG_OFFSET_MASK = FRAG_OFFSET_MASK;

/** Version field (4 for IPv4). */
export function version(v: DataView, o: number): number {
  return v.getUint8(o + F_VER_IHL) >>> 4;
}
/** IHL field, in 32-bit words. */
export function ihl(v: DataView, o: number): number {
  return v.getUint8(o + F_VER_IHL) & 0x0f;
}
/** Header length in bytes (IHL × 4), options included. */
export function headerLen(v: DataView, o: number): number {
  return (v.getUint8(o + F_VER_IHL) & 0x0f) << 2;
}
/** Type of Service / DSCP+ECN byte. */
export function tos(v: DataView, o: number): number {
  return v.getUint8(o + F_TOS);
}
/** Total Length: header plus data, in bytes. */
export function totalLen(v: DataView, o: number): number {
  return v.getUint16(o + F_TOTAL_LEN);
}
/** Identification. */
export function id(v: DataView, o: number): number {
  return v.getUint16(o + F_ID);
}
/** Flags and fragment offset as one 16-bit word. */
export function flagsFrag(v: DataView, o: number): number {
  return v.getUint16(o + F_FLAGS_FRAG);
}
/** DF flag set. */
export function dontFrag(v: DataView, o: number): boolean {
  return (v.getUint16(o + F_FLAGS_FRAG) & C_FLAG_DF) !== 0;
}
/** MF flag set. */
export function moreFrags(v: DataView, o: number): boolean {
  return (v.getUint16(o + F_FLAGS_FRAG) & C_FLAG_MF) !== 0;
}
/** Fragment offset in 8-byte units. */
export function fragOffset(v: DataView, o: number): number {
  return v.getUint16(o + F_FLAGS_FRAG) & C_FRAG_OFFSET_MASK;
}
/** True for any fragment (MF set or a non-zero offset): only the first fragment carries the L4 header. */
export function isFragment(v: DataView, o: number): boolean {
  return (v.getUint16(o + F_FLAGS_FRAG) & (C_FLAG_MF | C_FRAG_OFFSET_MASK)) !== 0;
}
/** Time to Live. */
export function ttl(v: DataView, o: number): number {
  return v.getUint8(o + F_TTL);
}
/** Protocol (1 ICMP, 6 TCP, 17 UDP). */
export function proto(v: DataView, o: number): number {
  return v.getUint8(o + F_PROTO);
}
/** Header Checksum. */
export function headerChecksum(v: DataView, o: number): number {
  return v.getUint16(o + F_CHECKSUM);
}
/** Source Address as int32. */
export function src(v: DataView, o: number): number {
  return v.getInt32(o + F_SRC);
}
/** Destination Address as int32. */
export function dst(v: DataView, o: number): number {
  return v.getInt32(o + F_DST);
}

export function setVersionIhl(v: DataView, o: number, ver: number, words: number): void {
  v.setUint8(o + F_VER_IHL, ((ver & 0xf) << 4) | (words & 0xf));
}
export function setTos(v: DataView, o: number, x: number): void {
  v.setUint8(o + F_TOS, x);
}
export function setTotalLen(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_TOTAL_LEN, x);
}
export function setId(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_ID, x);
}
export function setFlagsFrag(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_FLAGS_FRAG, x);
}
export function setTtl(v: DataView, o: number, x: number): void {
  v.setUint8(o + F_TTL, x);
}
export function setProto(v: DataView, o: number, x: number): void {
  v.setUint8(o + F_PROTO, x);
}
export function setHeaderChecksum(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_CHECKSUM, x);
}
export function setSrc(v: DataView, o: number, a: number): void {
  v.setInt32(o + F_SRC, a);
}
export function setDst(v: DataView, o: number, a: number): void {
  v.setInt32(o + F_DST, a);
}

/** Compute and store the header checksum over the whole header, options included. */
export function fillChecksum(v: DataView, o: number): void {
  v.setUint16(o + F_CHECKSUM, 0);
  v.setUint16(o + F_CHECKSUM, checksum(v, o, headerLen(v, o)));
}

/** True when the header checksum verifies (the sum over the header, checksum included, is 0xffff). */
export function checksumOk(v: DataView, o: number): boolean {
  return checksum(v, o, headerLen(v, o)) === 0;
}

/** Set the source address and update the header checksum incrementally (RFC 1624). */
export function setSrcCsum(v: DataView, o: number, a: number): void {
  const old = v.getInt32(o + F_SRC);
  v.setInt32(o + F_SRC, a);
  v.setUint16(o + F_CHECKSUM, update32(v.getUint16(o + F_CHECKSUM), old, a));
}

/** Set the destination address and update the header checksum incrementally (RFC 1624). */
export function setDstCsum(v: DataView, o: number, a: number): void {
  const old = v.getInt32(o + F_DST);
  v.setInt32(o + F_DST, a);
  v.setUint16(o + F_CHECKSUM, update32(v.getUint16(o + F_CHECKSUM), old, a));
}

/**
 * Decrement TTL with the incremental update of the TTL/protocol word (Click DecIPTTL; RFC 1624).
 * The caller checks `ttl > 1` first.
 */
export function decTtlCsum(v: DataView, o: number): void {
  const old = v.getUint16(o + F_TTL);
  const nu = old - 0x0100;
  v.setUint16(o + F_TTL, nu);
  v.setUint16(o + F_CHECKSUM, update16(v.getUint16(o + F_CHECKSUM), old, nu));
}

/**
 * Validate an IPv4 header in `len` bytes at `o`. After OK, every accessor above reads inside the header
 * and `totalLen(v, o) <= len`; trailing bytes after totalLen (Ethernet padding) are allowed.
 * The header checksum is verified only when `verifyChecksum` is set.
 */
export function check(v: DataView, o: number, len: number, verifyChecksum = false): number {
  if (len < C_HEADER_LEN) return TRUNCATED;
  // One 32-bit read for version, IHL and Total Length (each DataView read costs a bounds check).
  const w = v.getInt32(o + F_VER_IHL);
  if (w >>> 28 !== 4) return BAD_VERSION;
  const hl = (w >>> 22) & 0x3c; // IHL × 4
  if (hl < C_HEADER_LEN) return BAD_HEADER_LEN;
  if (hl > len) return TRUNCATED;
  const tl = w & 0xffff;
  if (tl < hl) return BAD_TOTAL_LEN;
  if (tl > len) return TRUNCATED;
  if (verifyChecksum && checksum(v, o, hl) !== 0) return BAD_CHECKSUM;
  return OK;
}

/** Option kinds that make routers follow the sender's list (RFC 791 §3.1): loose and strict source route. */
export const OPT_LSRR = 0x83;
export const OPT_SSRR = 0x89;
/** `optionsCheck` results. */
export const OPTS_OK = 0;
export const OPTS_SOURCE_ROUTE = 1;
export const OPTS_BAD = 2;

/**
 * Walk the options of a header that passed `check`: OPTS_SOURCE_ROUTE when it carries LSRR or SSRR (Linux drops
 * them unless `accept_source_route`, off by default), OPTS_BAD when an option's length runs past the header or
 * is below 2 (Linux `ip_options_compile` refuses it), else OPTS_OK. A header without options costs one compare.
 */
export function optionsCheck(v: DataView, o: number): number {
  const hl = headerLen(v, o);
  if (hl === C_HEADER_LEN) return OPTS_OK;
  const end = o + hl;
  let i = o + C_HEADER_LEN;
  while (i < end) {
    const kind = v.getUint8(i);
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) return OPTS_BAD;
    const len = v.getUint8(i + 1);
    if (len < 2 || i + len > end) return OPTS_BAD;
    if (kind === OPT_LSRR || kind === OPT_SSRR) return OPTS_SOURCE_ROUTE;
    i += len;
  }
  return OPTS_OK;
}

/** Value form of an IPv4 header, for cold paths (tests, ICMP errors, logs). Addresses are int32. */
export interface Ipv4Repr {
  tos: number;
  id: number;
  /** Flags and fragment offset word (e.g. FLAG_DF). */
  flagsFrag: number;
  ttl: number;
  proto: number;
  src: number;
  dst: number;
  /** Options bytes (length a multiple of 4, at most 40). */
  options: Uint8Array;
  /** Length of the payload following the header. */
  payloadLen: number;
}

/** Parse a header that passed `check`. */
export function parse(v: DataView, o: number): Ipv4Repr {
  const hl = headerLen(v, o);
  return {
    tos: tos(v, o),
    id: id(v, o),
    flagsFrag: flagsFrag(v, o),
    ttl: ttl(v, o),
    proto: proto(v, o),
    src: src(v, o),
    dst: dst(v, o),
    options: new Uint8Array(v.buffer, v.byteOffset + o + C_HEADER_LEN, hl - C_HEADER_LEN).slice(),
    payloadLen: totalLen(v, o) - hl,
  };
}

/** Header length `r` emits. */
export function reprHeaderLen(r: Ipv4Repr): number {
  return C_HEADER_LEN + r.options.length;
}

/** Write the header of `r` at `o` (checksum filled); returns the header length. */
export function emit(r: Ipv4Repr, v: DataView, o: number): number {
  if (r.options.length % 4 !== 0 || r.options.length > 40)
    throw new RangeError('ipv4: options length must be a multiple of 4 up to 40');
  const hl = C_HEADER_LEN + r.options.length;
  setVersionIhl(v, o, 4, hl >>> 2);
  setTos(v, o, r.tos);
  setTotalLen(v, o, hl + r.payloadLen);
  setId(v, o, r.id);
  setFlagsFrag(v, o, r.flagsFrag);
  setTtl(v, o, r.ttl);
  setProto(v, o, r.proto);
  setSrc(v, o, r.src);
  setDst(v, o, r.dst);
  for (let i = 0; i < r.options.length; i++) v.setUint8(o + C_HEADER_LEN + i, r.options[i]!);
  fillChecksum(v, o);
  return hl;
}

/** Dotted-quad text of an int32/uint32 address. */
export function addrToString(a: number): string {
  return `${(a >>> 24) & 0xff}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** Parse dotted-quad text to an int32 address; returns null for anything that is not exactly a.b.c.d. */
export function parseAddr(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let a = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part[0] === '0') return null;
    const n = Number(part);
    if (n > 255) return null;
    a = (a << 8) | n;
  }
  return a | 0;
}
