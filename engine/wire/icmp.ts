/**
 * ICMP for IPv4, RFC 792, with the fragmentation-needed MTU field of RFC 1191 and the error rules of
 * RFC 1122 §3.2.2 and RFC 1812 §4.3.2.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Type      |     Code      |          Checksum             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           Identifier          |        Sequence Number        |   echo (8) / echo reply (0)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Data ...
 *    +-+-+-+-+-
 *
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Type      |     Code      |          Checksum             |   error messages: destination
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   unreachable (3), time exceeded
 *    |  Pointer (12) |    unused     |  Next-Hop MTU (3/4, RFC 1191) |   (11), parameter problem (12),
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   redirect (5: gateway address)
 *    |      Internet Header + 64 bits of Original Data Datagram      |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The checksum is over the whole ICMP message (no pseudo-header). The echo Identifier plays the role of a
 * port for NAT. The quoted datagram of an error is cut short by design: its own Total Length describes the
 * original, not the bytes quoted, so `checkQuoted` relaxes that check (RFC 1812 §4.3.2.3 lets a router
 * quote up to 576 bytes in all; RFC 792 asks for the header and the first 8 data bytes).
 */
import * as cs from './checksum.js';
import * as ipv4 from './ipv4.js';
import * as V from './verdict.js';

// Local bindings of imported hot-path values (why: docs/platform.md, the hot path in JavaScript).
const { BAD_CHECKSUM, BAD_HEADER_LEN, BAD_TOTAL_LEN, BAD_VERSION, OK, TRUNCATED } = V;
const { checksum, update16, update32, udpNonZero } = cs;

/** Length of the ICMP header (type, code, checksum, rest of header). */
export const HEADER_LEN = 8;
export const PROTO = 1;

export const TYPE_ECHO_REPLY = 0;
export const TYPE_DEST_UNREACH = 3;
export const TYPE_SOURCE_QUENCH = 4;
export const TYPE_REDIRECT = 5;
export const TYPE_ECHO_REQUEST = 8;
export const TYPE_TIME_EXCEEDED = 11;
export const TYPE_PARAM_PROBLEM = 12;
export const TYPE_TIMESTAMP = 13;
export const TYPE_TIMESTAMP_REPLY = 14;

/** Destination unreachable codes (RFC 792; 13 from RFC 1812). */
export const CODE_NET_UNREACH = 0;
export const CODE_HOST_UNREACH = 1;
export const CODE_PROTO_UNREACH = 2;
export const CODE_PORT_UNREACH = 3;
/** Fragmentation needed and DF set; the Next-Hop MTU field carries the MTU (RFC 1191). */
export const CODE_FRAG_NEEDED = 4;
export const CODE_ADMIN_PROHIBITED = 13;
/** Time exceeded codes. */
export const CODE_TTL_EXCEEDED = 0;
export const CODE_REASSEMBLY_EXCEEDED = 1;

/** Bytes of the original datagram quoted per RFC 792 beyond its header. */
export const QUOTE_DATA_RFC792 = 8;
/** RFC 1812 §4.3.2.3: quote as much as fits in a 576-byte ICMP datagram (576 − 20 IPv4 − 8 ICMP). */
export const QUOTE_MAX_RFC1812 = 548;

const F_TYPE = 0;
const F_CODE = 1;
const F_CHECKSUM = 2;
const F_REST = 4;
const F_ID = 4;
const F_SEQ = 6;
const F_POINTER = 4;
const F_MTU = 6;

// Module-local copies of exported constants (why: docs/platform.md, the hot path in JavaScript).
const C_HEADER_LEN = HEADER_LEN;
const C_QUOTE_DATA_RFC792 = QUOTE_DATA_RFC792;

/** True for the error types that quote a datagram (3, 4, 5, 11, 12). */
export function isError(type: number): boolean {
  return type === 3 || type === 11 || type === 12 || type === 5 || type === 4;
}
/** True for the query types that carry an Identifier NAT maps like a port (echo, timestamp). */
export function hasId(type: number): boolean {
  return type === 8 || type === 0 || type === 13 || type === 14;
}

/** Type. */
export function type(v: DataView, o: number): number {
  return v.getUint8(o + F_TYPE);
}
/** Code. */
export function code(v: DataView, o: number): number {
  return v.getUint8(o + F_CODE);
}
/** Checksum field. */
export function checksumField(v: DataView, o: number): number {
  return v.getUint16(o + F_CHECKSUM);
}
/** The 4 bytes after the checksum ("rest of header") as int32. */
export function rest(v: DataView, o: number): number {
  return v.getInt32(o + F_REST);
}
/** Echo Identifier (types 0, 8; also 13, 14). */
export function echoId(v: DataView, o: number): number {
  return v.getUint16(o + F_ID);
}
/** Echo Sequence Number. */
export function echoSeq(v: DataView, o: number): number {
  return v.getUint16(o + F_SEQ);
}
/** Next-Hop MTU of a fragmentation-needed message (type 3 code 4, RFC 1191; 0 from pre-1191 routers). */
export function nextHopMtu(v: DataView, o: number): number {
  return v.getUint16(o + F_MTU);
}
/** Pointer of a parameter problem (type 12): the offending octet of the quoted header. */
export function pointer(v: DataView, o: number): number {
  return v.getUint8(o + F_POINTER);
}
/** Gateway Internet Address of a redirect (type 5), int32. */
export function gateway(v: DataView, o: number): number {
  return v.getInt32(o + F_REST);
}
/** Absolute offset of the quoted IPv4 header inside an error message. */
export function quotedOffset(o: number): number {
  return o + C_HEADER_LEN;
}

export function setType(v: DataView, o: number, x: number): void {
  v.setUint8(o + F_TYPE, x);
}
export function setCode(v: DataView, o: number, x: number): void {
  v.setUint8(o + F_CODE, x);
}
export function setChecksumField(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_CHECKSUM, x);
}
export function setRest(v: DataView, o: number, x: number): void {
  v.setInt32(o + F_REST, x);
}
export function setEchoId(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_ID, x);
}
export function setEchoSeq(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_SEQ, x);
}
export function setNextHopMtu(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_MTU, x);
}

/** The checksum the `len`-byte message at `o` should carry. */
export function computeChecksum(v: DataView, o: number, len: number): number {
  // The sum includes the field's current value once (the low half of the first 32-bit word); starting from
  // minus that value is the same as summing with the field zeroed.
  return checksum(v, o, len, -v.getUint16(o + F_CHECKSUM));
}

/** Compute and store the checksum of the `len`-byte message at `o`. */
export function fillChecksum(v: DataView, o: number, len: number): void {
  v.setUint16(o + F_CHECKSUM, computeChecksum(v, o, len));
}

/** True when the checksum of the `len`-byte message at `o` verifies. */
export function checksumOk(v: DataView, o: number, len: number): boolean {
  return checksum(v, o, len) === 0;
}

/** Set the echo Identifier and update the checksum (RFC 1624 eqn. 3); what SNAT does instead of a port. */
export function setEchoIdCsum(v: DataView, o: number, x: number): void {
  const old = v.getUint16(o + F_ID);
  v.setUint16(o + F_ID, x);
  v.setUint16(o + F_CHECKSUM, update16(v.getUint16(o + F_CHECKSUM), old, x));
}

/**
 * Validate the quoted datagram of an error: `avail` bytes at `q`. The IPv4 header must pass the
 * header-level checks (version 4, IHL ≥ 5, header inside the quote, Total Length ≥ header length), but the
 * Total Length may exceed what was quoted. At least the header and `min(8, Total Length − header)` data
 * bytes must be there (RFC 792: "Internet Header + 64 bits of Original Data Datagram"), so the quoted ports
 * or echo Identifier can be read.
 */
export function checkQuoted(v: DataView, q: number, avail: number): number {
  if (avail < ipv4.HEADER_LEN) return TRUNCATED;
  const b0 = v.getUint8(q);
  if (b0 >>> 4 !== 4) return BAD_VERSION;
  const hl = (b0 & 0x0f) << 2;
  if (hl < ipv4.HEADER_LEN) return BAD_HEADER_LEN;
  if (hl > avail) return TRUNCATED;
  const tl = v.getUint16(q + 2);
  if (tl < hl) return BAD_TOTAL_LEN;
  const need = tl < hl + C_QUOTE_DATA_RFC792 ? tl : hl + C_QUOTE_DATA_RFC792;
  if (avail < need) return TRUNCATED;
  return OK;
}

/**
 * Validate an ICMP message of `len` bytes at `o` (`len` = IPv4 payload length): TRUNCATED below 8 bytes;
 * for error types the quoted datagram must pass `checkQuoted`. The checksum is verified only with
 * `verifyChecksum`.
 */
export function check(v: DataView, o: number, len: number, verifyChecksum = false): number {
  if (len < C_HEADER_LEN) return TRUNCATED;
  if (isError(v.getUint8(o + F_TYPE))) {
    const r = checkQuoted(v, o + C_HEADER_LEN, len - C_HEADER_LEN);
    if (r !== OK) return r;
  }
  if (verifyChecksum && checksum(v, o, len) !== 0) return BAD_CHECKSUM;
  return OK;
}

// --- NAT of the datagram quoted in an error (RFC 5508 §4.2; Linux nf_nat_icmp_reply_translation) ---
//
// Every rewritten 16-bit word of the quote is also covered by the ICMP checksum, and all of them sit at even
// offsets from the start of the ICMP message (the quote starts at +8 and IPv4 headers are multiples of 4),
// so each change is folded into the ICMP checksum with update16/update32. The quoted L4 checksum is updated
// only when it lies inside the quoted bytes (UDP: yes, in the first 8; TCP: only with ≥ 18 quoted bytes,
// as Linux's tcp_manip_pkt), and a quoted UDP checksum of 0 stays 0.

/** Offset of the quoted L4 checksum field and its protocol, or -1 when it is not in the quote. */
function quotedL4CsumOff(v: DataView, o: number, len: number): number {
  const q = o + C_HEADER_LEN;
  if ((v.getUint16(q + 6) & ipv4.FRAG_OFFSET_MASK) !== 0) return -1; // non-first fragment: no L4 header
  const l4 = q + ((v.getUint8(q) & 0x0f) << 2);
  const avail = o + len - l4;
  const p = v.getUint8(q + 9);
  if (p === ipv4.PROTO_UDP) return avail >= 8 ? l4 + 6 : -1;
  if (p === ipv4.PROTO_TCP) return avail >= 18 ? l4 + 16 : -1;
  if (p === ipv4.PROTO_ICMP) return avail >= 4 ? l4 + 2 : -1;
  return -1;
}

function quotedAddr(v: DataView, o: number, len: number, field: number, addr: number): void {
  const q = o + C_HEADER_LEN;
  const old = v.getInt32(q + field);
  const oldIpc = v.getUint16(q + 10);
  const newIpc = update32(oldIpc, old, addr);
  v.setInt32(q + field, addr);
  v.setUint16(q + 10, newIpc);
  let ic = update16(update32(v.getUint16(o + F_CHECKSUM), old, addr), oldIpc, newIpc);
  const p = v.getUint8(q + 9);
  const co = p === ipv4.PROTO_ICMP ? -1 : quotedL4CsumOff(v, o, len); // ICMP has no pseudo-header
  if (co >= 0) {
    const c = v.getUint16(co);
    if (!(p === ipv4.PROTO_UDP && c === 0)) {
      let nc = update32(c, old, addr);
      if (p === ipv4.PROTO_UDP) nc = udpNonZero(nc);
      v.setUint16(co, nc);
      ic = update16(ic, c, nc);
    }
  }
  v.setUint16(o + F_CHECKSUM, ic);
}

function quotedWord(v: DataView, o: number, len: number, l4field: number, x: number): void {
  const q = o + C_HEADER_LEN;
  const l4 = q + ((v.getUint8(q) & 0x0f) << 2);
  if (l4 + l4field + 2 > o + len || (v.getUint16(q + 6) & ipv4.FRAG_OFFSET_MASK) !== 0) return;
  const old = v.getUint16(l4 + l4field);
  v.setUint16(l4 + l4field, x);
  let ic = update16(v.getUint16(o + F_CHECKSUM), old, x);
  const co = quotedL4CsumOff(v, o, len);
  if (co >= 0) {
    const p = v.getUint8(q + 9);
    const c = v.getUint16(co);
    if (!(p === ipv4.PROTO_UDP && c === 0)) {
      let nc = update16(c, old, x);
      if (p === ipv4.PROTO_UDP) nc = udpNonZero(nc);
      v.setUint16(co, nc);
      ic = update16(ic, c, nc);
    }
  }
  v.setUint16(o + F_CHECKSUM, ic);
}

/**
 * In the error message of `len` bytes at `o` (which passed `check`), set the quoted datagram's source
 * address, updating the quoted IPv4 header checksum, the quoted L4 checksum when quoted, and the ICMP checksum.
 */
export function setQuotedSrcCsum(v: DataView, o: number, len: number, addr: number): void {
  quotedAddr(v, o, len, 12, addr);
}
/** As `setQuotedSrcCsum`, for the quoted destination address. */
export function setQuotedDstCsum(v: DataView, o: number, len: number, addr: number): void {
  quotedAddr(v, o, len, 16, addr);
}
/** Set the quoted UDP/TCP source port (no-op when not quoted), with the checksum updates. */
export function setQuotedSrcPortCsum(v: DataView, o: number, len: number, port: number): void {
  quotedWord(v, o, len, 0, port);
}
/** Set the quoted UDP/TCP destination port (no-op when not quoted), with the checksum updates. */
export function setQuotedDstPortCsum(v: DataView, o: number, len: number, port: number): void {
  quotedWord(v, o, len, 2, port);
}
/** Set the quoted ICMP echo Identifier (no-op when not quoted), with the checksum updates. */
export function setQuotedEchoIdCsum(v: DataView, o: number, len: number, id: number): void {
  quotedWord(v, o, len, F_ID, id);
}

// --- Building errors (cold path) ---

/**
 * RFC 1122 §3.2.2 / RFC 1812 §4.3.2.7: may an ICMP error be sent about the datagram at `ipOff` (which passed
 * `ipv4.check`)? Not for an ICMP error message, a non-initial fragment, a datagram to a broadcast or
 * multicast address, nor one whose source is not a single host (0.0.0.0, 127/8, multicast, 240/4 and
 * 255.255.255.255). A link-layer broadcast is the caller's to check.
 */
export function errorAllowed(v: DataView, ipOff: number): boolean {
  if ((v.getUint16(ipOff + 6) & ipv4.FRAG_OFFSET_MASK) !== 0) return false;
  const s = v.getInt32(ipOff + 12);
  const d = v.getInt32(ipOff + 16);
  const s8 = s >>> 24;
  if (s === 0 || s8 === 127 || s8 >= 224) return false;
  if (d === -1 || d >>> 28 === 0xe) return false;
  if (v.getUint8(ipOff + 9) === PROTO) {
    const l4 = ipOff + ((v.getUint8(ipOff) & 0x0f) << 2);
    if (v.getUint16(ipOff + 2) < l4 - ipOff + 1) return false;
    const t = v.getUint8(l4);
    // Only ICMP queries (echo, timestamp, ...) may be answered with an error; errors and unknown types not.
    if (!(t === 0 || t === 8 || t === 13 || t === 14 || t === 15 || t === 16 || t === 17 || t === 18)) return false;
  }
  return true;
}

/** Fields of an error to build; `rest` is the 4-byte rest of header (MTU, pointer ...), 0 when unused. */
export interface ErrorSpec {
  type: number;
  code: number;
  rest?: number;
}

/** Rest-of-header word for a fragmentation-needed error (RFC 1191: unused 16 bits, Next-Hop MTU). */
export function restFragNeeded(mtu: number): number {
  return mtu & 0xffff;
}
/** Rest-of-header word for a parameter problem (pointer in the first byte). */
export function restPointer(ptr: number): number {
  return (ptr & 0xff) << 24;
}

/**
 * Write an ICMP error at `o` quoting the IPv4 datagram of `srcLen` bytes at `srcOff` of `src` (which may be
 * `v`; overlapping ranges are handled). Quotes the IPv4 header plus the first 8 data bytes (RFC 792), or,
 * with `maxQuote` > 0, up to `maxQuote` bytes of the datagram (RFC 1812 §4.3.2.3: QUOTE_MAX_RFC1812). Never
 * more than the datagram's Total Length or `srcLen`. Fills the checksum; returns the ICMP message length.
 */
export function emitError(
  v: DataView,
  o: number,
  spec: ErrorSpec,
  src: DataView,
  srcOff: number,
  srcLen: number,
  maxQuote = 0,
): number {
  const hl = (src.getUint8(srcOff) & 0x0f) << 2;
  const tl = src.getUint16(srcOff + 2);
  let q = maxQuote > 0 ? maxQuote : hl + C_QUOTE_DATA_RFC792;
  if (q > tl) q = tl;
  if (q > srcLen) q = srcLen;
  const from = new Uint8Array(src.buffer, src.byteOffset + srcOff, q);
  new Uint8Array(v.buffer, v.byteOffset + o + C_HEADER_LEN, q).set(from); // set() copes with overlap
  v.setUint8(o + F_TYPE, spec.type);
  v.setUint8(o + F_CODE, spec.code);
  v.setUint16(o + F_CHECKSUM, 0);
  v.setInt32(o + F_REST, spec.rest ?? 0);
  v.setUint16(o + F_CHECKSUM, checksum(v, o, C_HEADER_LEN + q));
  return C_HEADER_LEN + q;
}

/**
 * Write a whole ICMP error datagram at `o`: an IPv4 header from `from` (the reporting address) to the
 * offending datagram's source, TTL `ttl`, TOS 0xc0 (internetwork control, as Linux sends errors), then
 * `emitError`. The offending datagram must not overlap `[o, o + 28 + quote)`. Returns the total length.
 */
export function emitErrorPacket(
  v: DataView,
  o: number,
  from: number,
  spec: ErrorSpec,
  src: DataView,
  srcOff: number,
  srcLen: number,
  maxQuote = 0,
  ttl = 64,
): number {
  const dst = src.getInt32(srcOff + 12);
  const icmpLen = emitError(v, o + ipv4.HEADER_LEN, spec, src, srcOff, srcLen, maxQuote);
  ipv4.emit(
    {
      tos: 0xc0,
      id: 0,
      flagsFrag: 0,
      ttl,
      proto: PROTO,
      src: from,
      dst,
      options: new Uint8Array(0),
      payloadLen: icmpLen,
    },
    v,
    o,
  );
  return ipv4.HEADER_LEN + icmpLen;
}

/** Value form of an ICMP message (cold path). */
export interface IcmpRepr {
  type: number;
  code: number;
  /** Rest of header (id << 16 | seq for echo, the MTU word, the pointer word, the gateway ...), int32. */
  rest: number;
  /** Everything after the 8-byte header (echo data, or the quoted datagram of an error). */
  data: Uint8Array;
}

/** An echo request or reply in value form. */
export function echoRepr(type: number, id: number, seqNo: number, data: Uint8Array): IcmpRepr {
  return { type, code: 0, rest: ((id & 0xffff) << 16) | (seqNo & 0xffff), data };
}

/** Parse a message of `len` bytes that passed `check`. */
export function parse(v: DataView, o: number, len: number): IcmpRepr {
  return {
    type: type(v, o),
    code: code(v, o),
    rest: rest(v, o),
    data: new Uint8Array(v.buffer, v.byteOffset + o + C_HEADER_LEN, len - C_HEADER_LEN).slice(),
  };
}

/** Write `r` at `o` with its checksum; returns the message length. */
export function emit(r: IcmpRepr, v: DataView, o: number): number {
  v.setUint8(o + F_TYPE, r.type);
  v.setUint8(o + F_CODE, r.code);
  v.setUint16(o + F_CHECKSUM, 0);
  v.setInt32(o + F_REST, r.rest);
  new Uint8Array(v.buffer, v.byteOffset + o + C_HEADER_LEN, r.data.length).set(r.data);
  const len = C_HEADER_LEN + r.data.length;
  v.setUint16(o + F_CHECKSUM, checksum(v, o, len));
  return len;
}
