/**
 * TCP header, RFC 9293 §3.1 (obsoletes RFC 793).
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |          Source Port          |       Destination Port        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                        Sequence Number                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Acknowledgment Number                      |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Data |       |C|E|U|A|P|R|S|F|                               |
 *    | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *    |       |       |R|E|G|K|H|T|N|N|                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           Checksum            |         Urgent Pointer        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           [Options]                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               :
 *    :                             Data                              :
 *    :                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The checksum covers the pseudo-header (source, destination, zero, protocol 6, TCP length = IPv4 total
 * length − IPv4 header length), the header and the data. Unlike UDP, 0 is an ordinary checksum value.
 * Sequence and acknowledgment numbers are returned as int32 (like addresses, so they never box); compare
 * them with `(a - b) | 0` and print them with `>>> 0`.
 *
 * Over IPv6 (the `…6` functions) the pseudo-header is RFC 8200 §8.1's (checksum.ts) and the TCP length is what
 * follows the TCP header's offset up to the end of the IPv6 payload (extension headers excluded).
 */
import * as cs from './checksum.js';
import * as V from './verdict.js';

// Local bindings of imported hot-path values (why: docs/platform.md, the hot path in JavaScript).
const { BAD_HEADER_LEN, OK, TRUNCATED } = V;
const { pseudoHeaderSum, pseudoHeaderSum6, sum, finish, update16, update32, update128 } = cs;

/** Header length without options (data offset 5). */
export const HEADER_LEN = 20;
export const PROTO = 6;

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;
export const ECE = 0x40;
export const CWR = 0x80;

const F_SRC_PORT = 0;
const F_DST_PORT = 2;
const F_SEQ = 4;
const F_ACK = 8;
const F_DATA_OFF = 12;
const F_FLAGS = 13;
const F_WINDOW = 14;
const F_CHECKSUM = 16;
const F_URGENT = 18;

// Module-local copies of exported constants (why: docs/platform.md, the hot path in JavaScript).
const C_HEADER_LEN = HEADER_LEN;
const C_PROTO = PROTO;

/** Source Port. */
export function srcPort(v: DataView, o: number): number {
  return v.getUint16(o + F_SRC_PORT);
}
/** Destination Port. */
export function dstPort(v: DataView, o: number): number {
  return v.getUint16(o + F_DST_PORT);
}
/** Both ports as one word, `src << 16 | dst`, as int32. */
export function ports(v: DataView, o: number): number {
  return v.getInt32(o + F_SRC_PORT);
}
/** Sequence Number, as int32. */
export function seq(v: DataView, o: number): number {
  return v.getInt32(o + F_SEQ);
}
/** Acknowledgment Number, as int32. */
export function ack(v: DataView, o: number): number {
  return v.getInt32(o + F_ACK);
}
/** Data Offset field, in 32-bit words. */
export function dataOffset(v: DataView, o: number): number {
  return v.getUint8(o + F_DATA_OFF) >>> 4;
}
/** Header length in bytes (Data Offset × 4), options included. */
export function headerLen(v: DataView, o: number): number {
  return (v.getUint8(o + F_DATA_OFF) >>> 4) << 2;
}
/** Control bits (CWR ECE URG ACK PSH RST SYN FIN), the low 8 bits of the flags word. */
export function flags(v: DataView, o: number): number {
  return v.getUint8(o + F_FLAGS);
}
/** Window. */
export function window(v: DataView, o: number): number {
  return v.getUint16(o + F_WINDOW);
}
/** Checksum field. */
export function checksumField(v: DataView, o: number): number {
  return v.getUint16(o + F_CHECKSUM);
}
/** Urgent Pointer. */
export function urgent(v: DataView, o: number): number {
  return v.getUint16(o + F_URGENT);
}

export function setSrcPort(v: DataView, o: number, p: number): void {
  v.setUint16(o + F_SRC_PORT, p);
}
export function setDstPort(v: DataView, o: number, p: number): void {
  v.setUint16(o + F_DST_PORT, p);
}
export function setSeq(v: DataView, o: number, x: number): void {
  v.setInt32(o + F_SEQ, x);
}
export function setAck(v: DataView, o: number, x: number): void {
  v.setInt32(o + F_ACK, x);
}
/** Set Data Offset (words) and clear the reserved bits. */
export function setDataOffset(v: DataView, o: number, words: number): void {
  v.setUint8(o + F_DATA_OFF, (words & 0xf) << 4);
}
export function setFlags(v: DataView, o: number, x: number): void {
  v.setUint8(o + F_FLAGS, x);
}
export function setWindow(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_WINDOW, x);
}
export function setChecksumField(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_CHECKSUM, x);
}
export function setUrgent(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_URGENT, x);
}

/**
 * Validate a TCP header in `len` bytes at `o` (`len` = the bytes of the segment, i.e. IPv4 total length
 * minus header length): TRUNCATED below 20 bytes or when the data offset reaches past `len`;
 * BAD_HEADER_LEN when the data offset is below 5.
 */
export function check(v: DataView, o: number, len: number): number {
  if (len < C_HEADER_LEN) return TRUNCATED;
  const hl = (v.getUint8(o + F_DATA_OFF) >>> 4) << 2;
  if (hl < C_HEADER_LEN) return BAD_HEADER_LEN;
  if (hl > len) return TRUNCATED;
  return OK;
}

/** TCP length of the segment under the IPv4 header at `ipOff` (total length − header length). */
function segmentLen(v: DataView, ipOff: number): number {
  return v.getUint16(ipOff + 2) - ((v.getUint8(ipOff) & 0x0f) << 2);
}

/** The checksum the segment at `tcpOff` under the IPv4 header at `ipOff` should carry. */
export function computeChecksum(v: DataView, ipOff: number, tcpOff: number): number {
  const l = segmentLen(v, ipOff);
  const ph = pseudoHeaderSum(v.getInt32(ipOff + 12), v.getInt32(ipOff + 16), C_PROTO, l);
  return finish(sum(v, tcpOff, l, ph) - v.getUint16(tcpOff + F_CHECKSUM));
}

/** Compute and store the checksum; the segment length comes from the IPv4 header at `ipOff`. */
export function fillChecksum(v: DataView, ipOff: number, tcpOff: number): void {
  v.setUint16(tcpOff + F_CHECKSUM, computeChecksum(v, ipOff, tcpOff));
}

/** True when the checksum verifies. The caller has run `ipv4.check` and `check`. */
export function checksumOk(v: DataView, ipOff: number, tcpOff: number): boolean {
  const l = segmentLen(v, ipOff);
  const ph = pseudoHeaderSum(v.getInt32(ipOff + 12), v.getInt32(ipOff + 16), C_PROTO, l);
  return finish(sum(v, tcpOff, l, ph)) === 0;
}

/** Set the source port and update the checksum (RFC 1624 eqn. 3). */
export function setSrcPortCsum(v: DataView, o: number, p: number): void {
  const old = v.getUint16(o + F_SRC_PORT);
  v.setUint16(o + F_SRC_PORT, p);
  v.setUint16(o + F_CHECKSUM, update16(v.getUint16(o + F_CHECKSUM), old, p));
}

/** Set the destination port and update the checksum (RFC 1624 eqn. 3). */
export function setDstPortCsum(v: DataView, o: number, p: number): void {
  const old = v.getUint16(o + F_DST_PORT);
  v.setUint16(o + F_DST_PORT, p);
  v.setUint16(o + F_CHECKSUM, update16(v.getUint16(o + F_CHECKSUM), old, p));
}

/**
 * Update the checksum of the segment at `tcpOff` for a pseudo-header address that changed from `oldAddr`
 * to `newAddr` (the caller rewrites the IPv4 header).
 */
export function updateChecksumForAddr(v: DataView, tcpOff: number, oldAddr: number, newAddr: number): void {
  v.setUint16(tcpOff + F_CHECKSUM, update32(v.getUint16(tcpOff + F_CHECKSUM), oldAddr, newAddr));
}

/**
 * SNAT in one call: source address of the IPv4 header at `ipOff` and source port of the segment at
 * `tcpOff`, with the IPv4 header checksum and the TCP checksum updated incrementally.
 */
export function snat(v: DataView, ipOff: number, tcpOff: number, addr: number, port: number): void {
  const oldAddr = v.getInt32(ipOff + 12);
  v.setInt32(ipOff + 12, addr);
  v.setUint16(ipOff + 10, update32(v.getUint16(ipOff + 10), oldAddr, addr));
  const oldPort = v.getUint16(tcpOff + F_SRC_PORT);
  v.setUint16(tcpOff + F_SRC_PORT, port);
  const c = v.getUint16(tcpOff + F_CHECKSUM);
  v.setUint16(tcpOff + F_CHECKSUM, update16(update32(c, oldAddr, addr), oldPort, port));
}

/** Destination-side counterpart of `snat` (un-NAT of a reply): destination address and port. */
export function dnat(v: DataView, ipOff: number, tcpOff: number, addr: number, port: number): void {
  const oldAddr = v.getInt32(ipOff + 16);
  v.setInt32(ipOff + 16, addr);
  v.setUint16(ipOff + 10, update32(v.getUint16(ipOff + 10), oldAddr, addr));
  const oldPort = v.getUint16(tcpOff + F_DST_PORT);
  v.setUint16(tcpOff + F_DST_PORT, port);
  const c = v.getUint16(tcpOff + F_CHECKSUM);
  v.setUint16(tcpOff + F_CHECKSUM, update16(update32(c, oldAddr, addr), oldPort, port));
}

// --- TCP over IPv6 (RFC 8200 §8.1) ---

/** TCP length of the segment at `tcpOff` under the IPv6 header at `ipOff`: to the end of the IPv6 payload. */
export function segmentLength6(v: DataView, ipOff: number, tcpOff: number): number {
  return ipOff + 40 + v.getUint16(ipOff + 4) - tcpOff;
}

/** The checksum the segment at `tcpOff` under the IPv6 header at `ipOff` should carry. */
export function computeChecksum6(v: DataView, ipOff: number, tcpOff: number): number {
  const l = segmentLength6(v, ipOff, tcpOff);
  const ph = pseudoHeaderSum6(v, ipOff + 8, C_PROTO, l);
  return finish(sum(v, tcpOff, l, ph) - v.getUint16(tcpOff + F_CHECKSUM));
}

/** Compute and store the checksum; the segment length comes from the IPv6 header at `ipOff`. */
export function fillChecksum6(v: DataView, ipOff: number, tcpOff: number): void {
  v.setUint16(tcpOff + F_CHECKSUM, computeChecksum6(v, ipOff, tcpOff));
}

/** True when the checksum verifies. The caller has run `ipv6.check`, `ipv6.walk` and `check`. */
export function checksumOk6(v: DataView, ipOff: number, tcpOff: number): boolean {
  const l = segmentLength6(v, ipOff, tcpOff);
  return finish(sum(v, tcpOff, l, pseudoHeaderSum6(v, ipOff + 8, C_PROTO, l))) === 0;
}

/**
 * SNAT66 in one call (written out here and in the `dnat6`s of udp.ts and tcp.ts: through one shared helper the
 * wire bench measured SNAT66 at 3.2× the IPv4 SNAT's time in the same run, written out at 0.6–1.1×): the
 * source address of the IPv6 header at `ipOff` becomes `a0`..`a3` (int32 words) and
 * the source port of the segment at `tcpOff` becomes `port`, with the TCP checksum updated incrementally.
 */
export function snat6(
  v: DataView,
  ipOff: number,
  tcpOff: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  port: number,
): void {
  const c = update128(v.getUint16(tcpOff + F_CHECKSUM), v, ipOff + 8, a0, a1, a2, a3);
  v.setUint16(tcpOff + F_CHECKSUM, update16(c, v.getUint16(tcpOff + F_SRC_PORT), port));
  v.setInt32(ipOff + 8, a0);
  v.setInt32(ipOff + 12, a1);
  v.setInt32(ipOff + 16, a2);
  v.setInt32(ipOff + 20, a3);
  v.setUint16(tcpOff + F_SRC_PORT, port);
}

/** Destination-side counterpart of `snat6` (un-SNAT of a reply): destination address and port. */
export function dnat6(
  v: DataView,
  ipOff: number,
  tcpOff: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  port: number,
): void {
  const c = update128(v.getUint16(tcpOff + F_CHECKSUM), v, ipOff + 24, a0, a1, a2, a3);
  v.setUint16(tcpOff + F_CHECKSUM, update16(c, v.getUint16(tcpOff + F_DST_PORT), port));
  v.setInt32(ipOff + 24, a0);
  v.setInt32(ipOff + 28, a1);
  v.setInt32(ipOff + 32, a2);
  v.setInt32(ipOff + 36, a3);
  v.setUint16(tcpOff + F_DST_PORT, port);
}

/** Value form of a TCP header (cold path). `seq`/`ack` are int32 like the accessors. */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Control bits (FIN | SYN | ...). */
  flags: number;
  window: number;
  urgent: number;
  /** Option bytes, padded by the caller to a multiple of 4 (at most 40). */
  options: Uint8Array;
  /** Bytes of data after the header. */
  payloadLen: number;
}

/** Parse a header that passed `check`; `segLen` is the segment length (header + data) `check` was given. */
export function parse(v: DataView, o: number, segLen: number): TcpRepr {
  const hl = headerLen(v, o);
  return {
    srcPort: srcPort(v, o),
    dstPort: dstPort(v, o),
    seq: seq(v, o),
    ack: ack(v, o),
    flags: flags(v, o),
    window: window(v, o),
    urgent: urgent(v, o),
    options: new Uint8Array(v.buffer, v.byteOffset + o + C_HEADER_LEN, hl - C_HEADER_LEN).slice(),
    payloadLen: segLen - hl,
  };
}

/** TCP segment length (header + data) under the IPv4 header at `ipOff`: total length − header length. */
export function segmentLength(v: DataView, ipOff: number): number {
  return segmentLen(v, ipOff);
}

/** Header length `r` emits. */
export function reprHeaderLen(r: TcpRepr): number {
  return C_HEADER_LEN + r.options.length;
}

/** Write the header of `r` at `o` with checksum 0; returns the header length. Then `fillChecksum`. */
export function emit(r: TcpRepr, v: DataView, o: number): number {
  if (r.options.length % 4 !== 0 || r.options.length > 40)
    throw new RangeError('tcp: options length must be a multiple of 4 up to 40');
  const hl = C_HEADER_LEN + r.options.length;
  v.setUint16(o + F_SRC_PORT, r.srcPort);
  v.setUint16(o + F_DST_PORT, r.dstPort);
  v.setInt32(o + F_SEQ, r.seq | 0);
  v.setInt32(o + F_ACK, r.ack | 0);
  v.setUint8(o + F_DATA_OFF, (hl >>> 2) << 4);
  v.setUint8(o + F_FLAGS, r.flags);
  v.setUint16(o + F_WINDOW, r.window);
  v.setUint16(o + F_CHECKSUM, 0);
  v.setUint16(o + F_URGENT, r.urgent);
  for (let i = 0; i < r.options.length; i++) v.setUint8(o + C_HEADER_LEN + i, r.options[i]!);
  return hl;
}
