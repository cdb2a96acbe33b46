/**
 * ICMPv6, RFC 4443 (messages §2.1, checksum §2.3, error rules §2.4, errors §3, echo §4). Neighbor Discovery's
 * messages (types 133..137) are ICMPv6 too; their bodies are in ndp.ts.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Type      |     Code      |          Checksum             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           Identifier          |        Sequence Number        |   echo request (128) / reply (129)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Data ...
 *    +-+-+-+-+-
 *
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Type      |     Code      |          Checksum             |   errors: destination unreachable (1),
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   packet too big (2: MTU), time
 *    |                 Unused / MTU (2) / Pointer (4)                |   exceeded (3), parameter problem
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   (4: Pointer)
 *    |                    As much of invoking packet                 |
 *    +               as possible without the ICMPv6 packet           +
 *    |               exceeding the minimum IPv6 MTU                  |
 *
 * Types 0..127 are errors, 128..255 informational (§2.1). Unlike ICMP for IPv4, the checksum covers the IPv6
 * pseudo-header (§2.3; RFC 8200 §8.1, checksum.ts), so computing it needs the IPv6 header's offset. IPv6
 * routers never fragment: a packet larger than the next link's MTU is answered with Packet Too Big (§3.2),
 * the only error sent even about multicast (§2.4 e.3).
 */
import * as cs from './checksum.js';
import { code, rest, type } from './icmp.js';
import * as ipv6 from './ipv6.js';
import * as V from './verdict.js';

// The first 8 bytes have the layout of ICMP for IPv4 (RFC 4443 §2.1, RFC 792): the same accessors serve both.
export {
  checksumField,
  code,
  echoId,
  echoSeq,
  /** Absolute offset of the quoted packet (here an IPv6 header) inside an error message. */
  quotedOffset,
  rest,
  setChecksumField,
  setCode,
  setEchoIdCsum,
  setRest,
  setType,
  type,
} from './icmp.js';

// Local bindings of imported hot-path values (why: docs/platform.md, the hot path in JavaScript).
const { BAD_VERSION, OK, TRUNCATED } = V;
const { finish, pseudoHeaderSum6, sum, udpNonZero, update16, update128 } = cs;

export const HEADER_LEN = 8;
/** Next Header value of ICMPv6. */
export const PROTO = 58;

export const TYPE_DEST_UNREACH = 1;
export const TYPE_PACKET_TOO_BIG = 2;
export const TYPE_TIME_EXCEEDED = 3;
export const TYPE_PARAM_PROBLEM = 4;
export const TYPE_ECHO_REQUEST = 128;
export const TYPE_ECHO_REPLY = 129;
export const TYPE_ROUTER_SOLICIT = 133;
export const TYPE_ROUTER_ADVERT = 134;
export const TYPE_NEIGHBOR_SOLICIT = 135;
export const TYPE_NEIGHBOR_ADVERT = 136;
export const TYPE_REDIRECT = 137;

/** Destination unreachable codes (§3.1). */
export const CODE_NO_ROUTE = 0;
export const CODE_ADMIN_PROHIBITED = 1;
export const CODE_BEYOND_SCOPE = 2;
export const CODE_ADDR_UNREACH = 3;
export const CODE_PORT_UNREACH = 4;
/** Time exceeded codes (§3.3). */
export const CODE_HOP_LIMIT_EXCEEDED = 0;
export const CODE_REASSEMBLY_EXCEEDED = 1;
/** Parameter problem codes (§3.4). */
export const CODE_BAD_HEADER_FIELD = 0;
export const CODE_UNKNOWN_NEXT_HEADER = 1;
export const CODE_UNKNOWN_OPTION = 2;

/** Most bytes of the invoking packet an error quotes: 1280 − 40 (IPv6) − 8 (ICMPv6), §2.4 c. */
export const QUOTE_MAX = ipv6.MIN_MTU - ipv6.HEADER_LEN - HEADER_LEN;

const F_TYPE = 0;
const F_CODE = 1;
const F_CHECKSUM = 2;
const F_REST = 4;

// Module-local copies of exported constants (why: docs/platform.md, the hot path in JavaScript).
const C_HEADER_LEN = HEADER_LEN;
const C_PROTO = PROTO;
const IPV6_HEADER_LEN = ipv6.HEADER_LEN;

/** True for the error types (0..127, §2.1), which quote the invoking packet. */
export function isError(type: number): boolean {
  return type < 128;
}

/** MTU of a Packet Too Big (type 2), 32 bits. */
export function mtu(v: DataView, o: number): number {
  return v.getUint32(o + F_REST);
}
/** Pointer of a Parameter Problem (type 4): the offending octet of the quoted packet, 32 bits. */
export function pointer(v: DataView, o: number): number {
  return v.getUint32(o + F_REST);
}

/**
 * The checksum the `len`-byte message at `o` should carry, with the pseudo-header of the IPv6 header at
 * `ipOff` (source and destination as they are now, upper-layer length `len`, Next Header 58).
 */
export function computeChecksum(v: DataView, ipOff: number, o: number, len: number): number {
  const ph = pseudoHeaderSum6(v, ipOff + 8, C_PROTO, len);
  return finish(sum(v, o, len, ph) - v.getUint16(o + F_CHECKSUM));
}

/** Compute and store the checksum of the `len`-byte message at `o` under the IPv6 header at `ipOff`. */
export function fillChecksum(v: DataView, ipOff: number, o: number, len: number): void {
  v.setUint16(o + F_CHECKSUM, computeChecksum(v, ipOff, o, len));
}

/** True when the checksum of the `len`-byte message at `o` under the IPv6 header at `ipOff` verifies. */
export function checksumOk(v: DataView, ipOff: number, o: number, len: number): boolean {
  return finish(sum(v, o, len, pseudoHeaderSum6(v, ipOff + 8, C_PROTO, len))) === 0;
}

/**
 * Update the checksum of the message at `o` for a pseudo-header address at `p` (in the IPv6 header) that
 * becomes `a0`..`a3`. Call before writing the address (it reads the old one there).
 */
export function updateChecksumForAddr(
  v: DataView,
  o: number,
  p: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
): void {
  v.setUint16(o + F_CHECKSUM, update128(v.getUint16(o + F_CHECKSUM), v, p, a0, a1, a2, a3));
}

/**
 * Validate the quoted packet of an error: `avail` bytes at `q` must hold an IPv6 header (version 6). Its
 * Payload Length describes the original and may exceed what was quoted. To reach the quoted ports, run
 * `ipv6.walk(v, q, avail)` and check the upper-layer header's bytes are inside the quote.
 */
export function checkQuoted(v: DataView, q: number, avail: number): number {
  if (avail < IPV6_HEADER_LEN) return TRUNCATED;
  if (v.getUint8(q) >>> 4 !== 6) return BAD_VERSION;
  return OK;
}

/**
 * Validate an ICMPv6 message of `len` bytes at `o` (`len` = the upper-layer length `ipv6.walk` gave):
 * TRUNCATED below 8 bytes; for an error, the quoted packet must pass `checkQuoted`. The checksum is verified
 * separately (`checksumOk`), since it needs the IPv6 header.
 */
export function check(v: DataView, o: number, len: number): number {
  if (len < C_HEADER_LEN) return TRUNCATED;
  if (v.getUint8(o + F_TYPE) < 128) return checkQuoted(v, o + C_HEADER_LEN, len - C_HEADER_LEN);
  return OK;
}

// --- Translating the quoted packet of an error (NAT, cold path) ---
//
// The quoted packet is an IPv6 header, maybe extension headers (the caller walked them: `ql4`, `qproto`), then
// the upper layer, cut wherever the quote ends (`end`). A NAT of the quote changes one quoted address and one
// quoted port (or echo Identifier). The quoted upper-layer checksum covers the quoted pseudo-header (RFC 8200
// §8.1; ICMPv6 too, unlike ICMP for IPv4), so it is updated when it lies inside the quote (UDP: the first 8
// bytes; TCP: at least 18, as Linux's tcp_manip_pkt; ICMPv6 echo: 4), a quoted UDP checksum of 0 staying 0;
// every changed byte is folded into the error's own checksum (RFC 1624), which is never recomputed, so an error
// that arrived with a bad checksum still has one.

/** Offset of the quoted upper-layer checksum, or -1 when the quote ends before it. */
function quotedCsumOff(ql4: number, qproto: number, end: number): number {
  if (qproto === ipv6.NH_UDP) return ql4 + 8 <= end ? ql4 + 6 : -1;
  if (qproto === ipv6.NH_TCP) return ql4 + 18 <= end ? ql4 + 16 : -1;
  if (qproto === C_PROTO) return ql4 + 4 <= end ? ql4 + 2 : -1;
  return -1;
}

/** Fold the change of the quoted checksum at `co` (from `c` to `nc`) into the error's checksum `ic`. */
function foldQuotedCsum(v: DataView, co: number, qproto: number, c: number, nc: number, ic: number): number {
  if (qproto === ipv6.NH_UDP) nc = udpNonZero(nc);
  v.setUint16(co, nc);
  return update16(ic, c, nc);
}

/**
 * In the error message at `o` (ending at `end`; the quoted packet's upper layer at `ql4`, Next Header
 * `qproto`), set the quoted source (`at` = the quote's offset + 8) or destination (+ 24) address to `a0`..`a3`,
 * with the quoted upper-layer checksum and the error's checksum updated.
 */
export function setQuotedAddrCsum(
  v: DataView,
  o: number,
  end: number,
  at: number,
  ql4: number,
  qproto: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
): void {
  let ic = update128(v.getUint16(o + F_CHECKSUM), v, at, a0, a1, a2, a3);
  const co = quotedCsumOff(ql4, qproto, end);
  if (co >= 0) {
    const c = v.getUint16(co);
    if (!(qproto === ipv6.NH_UDP && c === 0))
      ic = foldQuotedCsum(v, co, qproto, c, update128(c, v, at, a0, a1, a2, a3), ic);
  }
  v.setInt32(at, a0);
  v.setInt32(at + 4, a1);
  v.setInt32(at + 8, a2);
  v.setInt32(at + 12, a3);
  v.setUint16(o + F_CHECKSUM, ic);
}

/**
 * Set the 16-bit field `field` bytes into the quoted upper layer (0: source port, 2: destination port, 4: echo
 * Identifier) to `x`, a no-op when the quote ends before it, with the checksums updated as `setQuotedAddrCsum`.
 */
export function setQuotedWordCsum(
  v: DataView,
  o: number,
  end: number,
  field: number,
  ql4: number,
  qproto: number,
  x: number,
): void {
  const p = ql4 + field;
  if (p + 2 > end) return;
  const old = v.getUint16(p);
  let ic = update16(v.getUint16(o + F_CHECKSUM), old, x);
  v.setUint16(p, x);
  const co = quotedCsumOff(ql4, qproto, end);
  if (co >= 0) {
    const c = v.getUint16(co);
    if (!(qproto === ipv6.NH_UDP && c === 0)) ic = foldQuotedCsum(v, co, qproto, c, update16(c, old, x), ic);
  }
  v.setUint16(o + F_CHECKSUM, ic);
}

// --- Building errors (cold path) ---

/**
 * RFC 4443 §2.4 (e): may an error of `errType`/`errCode` be sent about the IPv6 packet at `ipOff` (which passed
 * `ipv6.check`; `l4` and `proto` from its `walk`, or -1 and -1 when the walk failed)? Not about an ICMPv6 error
 * or a Redirect (e.1, e.2), a packet sent to a multicast address, except Packet Too Big and Parameter Problem
 * code 2 (e.3), nor one whose source is not a single node: unspecified or multicast (e.5). A link-layer
 * multicast or broadcast destination (e.4) is the caller's to check; rate limiting (f) too.
 */
export function errorAllowed(
  v: DataView,
  ipOff: number,
  l4: number,
  proto: number,
  errType: number,
  errCode: number,
): boolean {
  const s = ipOff + 8;
  if (ipv6.isUnspecified(v, s) || ipv6.isMulticast(v, s)) return false;
  if (ipv6.isMulticast(v, ipOff + 24)) {
    if (!(errType === TYPE_PACKET_TOO_BIG || (errType === TYPE_PARAM_PROBLEM && errCode === CODE_UNKNOWN_OPTION)))
      return false;
  }
  if (proto === C_PROTO && l4 >= 0) {
    if (l4 + 1 > ipOff + IPV6_HEADER_LEN + ipv6.payloadLen(v, ipOff)) return false;
    const t = v.getUint8(l4);
    if (t < 128 || t === TYPE_REDIRECT) return false;
  }
  return true;
}

/** Fields of an error to build; `rest` is the 32-bit MTU (type 2) or Pointer (type 4), 0 when unused. */
export interface ErrorSpec {
  type: number;
  code: number;
  rest?: number;
}

/**
 * Write a whole ICMPv6 error packet at `o`: an IPv6 header from `from` (16 bytes: the reporting address) to
 * the invoking packet's source, Hop Limit `hopLimit`, then the error quoting as much of the invoking packet
 * (`srcLen` bytes at `srcOff` of `src`, never more than 40 + its Payload Length) as fits in `maxQuote` bytes
 * (QUOTE_MAX: the error stays within the 1280-byte minimum MTU, §2.4 c). The invoking packet must not overlap
 * `[o, o + 48 + quote)`. Fills the checksum; returns the packet length.
 */
export function emitErrorPacket(
  v: DataView,
  o: number,
  from: Uint8Array,
  spec: ErrorSpec,
  src: DataView,
  srcOff: number,
  srcLen: number,
  maxQuote = QUOTE_MAX,
  hopLimit = 64,
): number {
  let q = maxQuote;
  const whole = IPV6_HEADER_LEN + src.getUint16(srcOff + 4);
  if (q > whole) q = whole;
  if (q > srcLen) q = srcLen;
  const m = o + IPV6_HEADER_LEN;
  new Uint8Array(v.buffer, v.byteOffset + m + C_HEADER_LEN, q).set(
    new Uint8Array(src.buffer, src.byteOffset + srcOff, q),
  );
  ipv6.setVersionTcFl(v, o, 0, 0);
  ipv6.setPayloadLen(v, o, C_HEADER_LEN + q);
  v.setUint8(o + 6, C_PROTO);
  ipv6.setHopLimit(v, o, hopLimit);
  ipv6.writeAddr(v, o + 8, from);
  new Uint8Array(v.buffer, v.byteOffset + o + 24, 16).set(new Uint8Array(src.buffer, src.byteOffset + srcOff + 8, 16));
  v.setUint8(m + F_TYPE, spec.type);
  v.setUint8(m + F_CODE, spec.code);
  v.setUint16(m + F_CHECKSUM, 0);
  v.setInt32(m + F_REST, spec.rest ?? 0);
  fillChecksum(v, o, m, C_HEADER_LEN + q);
  return IPV6_HEADER_LEN + C_HEADER_LEN + q;
}

/** Value form of an ICMPv6 message (cold path). */
export interface Icmpv6Repr {
  type: number;
  code: number;
  /** The 4 bytes after the checksum as int32 (id << 16 | seq for echo, the MTU, the Pointer ...). */
  rest: number;
  /** Everything after the 8-byte header. */
  data: Uint8Array;
}

/** An echo request or reply in value form. */
export function echoRepr(t: number, id: number, seqNo: number, data: Uint8Array): Icmpv6Repr {
  return { type: t, code: 0, rest: ((id & 0xffff) << 16) | (seqNo & 0xffff), data };
}

/** Parse a message of `len` bytes that passed `check`. */
export function parse(v: DataView, o: number, len: number): Icmpv6Repr {
  return {
    type: type(v, o),
    code: code(v, o),
    rest: rest(v, o),
    data: new Uint8Array(v.buffer, v.byteOffset + o + C_HEADER_LEN, len - C_HEADER_LEN).slice(),
  };
}

/**
 * Write `r` at `o`, with its checksum over the pseudo-header of the IPv6 header at `ipOff` (whose addresses
 * must be written already); returns the message length.
 */
export function emit(r: Icmpv6Repr, v: DataView, ipOff: number, o: number): number {
  v.setUint8(o + F_TYPE, r.type);
  v.setUint8(o + F_CODE, r.code);
  v.setUint16(o + F_CHECKSUM, 0);
  v.setInt32(o + F_REST, r.rest);
  new Uint8Array(v.buffer, v.byteOffset + o + C_HEADER_LEN, r.data.length).set(r.data);
  const len = C_HEADER_LEN + r.data.length;
  fillChecksum(v, ipOff, o, len);
  return len;
}
