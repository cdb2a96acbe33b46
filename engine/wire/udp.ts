/**
 * UDP header, RFC 768.
 *
 *     0      7 8     15 16    23 24    31
 *    +--------+--------+--------+--------+
 *    |     Source      |   Destination   |
 *    |      Port       |      Port       |
 *    +--------+--------+--------+--------+
 *    |                 |                 |
 *    |     Length      |    Checksum     |
 *    +--------+--------+--------+--------+
 *    |
 *    |          data octets ...
 *    +---------------- ...
 *
 * Length counts header and data. The checksum covers the pseudo-header (source and destination address,
 * zero, protocol 17, UDP length), the header and the data. RFC 768: "If the computed checksum is zero, it is
 * transmitted as all ones ... An all zero transmitted checksum value means that the transmitter generated
 * no checksum". Hence every setter here: a field of 0 stays 0 (no checksum to maintain), and a result of 0
 * is written as 0xffff (the other representation of one's complement zero, so the value stays correct).
 *
 * Over IPv6 (the `…6` functions) the pseudo-header is RFC 8200 §8.1's (checksum.ts) and the checksum is not
 * optional: "IPv6 receivers must discard UDP packets containing a zero checksum" (RFC 8200 §8.1), so
 * `checksumOk6` refuses 0. The setters keep the zero rule all the same (a 0 never becomes valid by a rewrite).
 */
import * as cs from './checksum.js';
import * as V from './verdict.js';

// Local bindings of imported hot-path values (why: docs/platform.md, the hot path in JavaScript).
const { BAD_TOTAL_LEN, OK, TRUNCATED } = V;
const { pseudoHeaderSum, pseudoHeaderSum6, sum, finish, update16, update32, update128, udpNonZero } = cs;

export const HEADER_LEN = 8;
export const PROTO = 17;

const F_SRC_PORT = 0;
const F_DST_PORT = 2;
const F_LENGTH = 4;
const F_CHECKSUM = 6;

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
/** Both ports as one word, `src << 16 | dst`, as int32 (one read for a 5-tuple key). */
export function ports(v: DataView, o: number): number {
  return v.getInt32(o + F_SRC_PORT);
}
/** Length: header plus data, in bytes. */
export function length(v: DataView, o: number): number {
  return v.getUint16(o + F_LENGTH);
}
/** Checksum field (0: none was generated). */
export function checksumField(v: DataView, o: number): number {
  return v.getUint16(o + F_CHECKSUM);
}

export function setSrcPort(v: DataView, o: number, p: number): void {
  v.setUint16(o + F_SRC_PORT, p);
}
export function setDstPort(v: DataView, o: number, p: number): void {
  v.setUint16(o + F_DST_PORT, p);
}
export function setLength(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_LENGTH, x);
}
export function setChecksumField(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_CHECKSUM, x);
}

/**
 * Validate a UDP header in `len` bytes at `o` (`len` = the bytes the IP datagram carries after its header).
 * TRUNCATED when fewer than 8 bytes or the Length field announces more than `len`; BAD_TOTAL_LEN when
 * Length < 8. A Length below `len` is allowed (the bytes after it are not UDP data). The checksum is
 * verified separately (`checksumOk`), since it needs the IP header.
 */
export function check(v: DataView, o: number, len: number): number {
  if (len < C_HEADER_LEN) return TRUNCATED;
  const l = v.getUint16(o + F_LENGTH);
  if (l < C_HEADER_LEN) return BAD_TOTAL_LEN;
  if (l > len) return TRUNCATED;
  return OK;
}

/** The checksum a UDP datagram at `udpOff` under the IPv4 header at `ipOff` should carry (0 mapped to 0xffff). */
export function computeChecksum(v: DataView, ipOff: number, udpOff: number): number {
  const l = v.getUint16(udpOff + F_LENGTH);
  const ph = pseudoHeaderSum(v.getInt32(ipOff + 12), v.getInt32(ipOff + 16), C_PROTO, l);
  const old = v.getUint16(udpOff + F_CHECKSUM);
  // Sum with the field as found, then take it out again: no need to zero it first.
  return udpNonZero(finish(sum(v, udpOff, l, ph) - old));
}

/** Compute and store the checksum (pseudo-header from the IPv4 header at `ipOff`; length from the UDP header). */
export function fillChecksum(v: DataView, ipOff: number, udpOff: number): void {
  v.setUint16(udpOff + F_CHECKSUM, computeChecksum(v, ipOff, udpOff));
}

/** True when the checksum verifies or is absent (field 0). The caller has run `check`. */
export function checksumOk(v: DataView, ipOff: number, udpOff: number): boolean {
  if (v.getUint16(udpOff + F_CHECKSUM) === 0) return true;
  const l = v.getUint16(udpOff + F_LENGTH);
  const ph = pseudoHeaderSum(v.getInt32(ipOff + 12), v.getInt32(ipOff + 16), C_PROTO, l);
  return finish(sum(v, udpOff, l, ph)) === 0;
}

/**
 * Set the source port and update the checksum (RFC 1624 eqn. 3), keeping the zero-checksum rule:
 * an absent checksum (0) stays 0, a result of 0 becomes 0xffff.
 */
export function setSrcPortCsum(v: DataView, o: number, p: number): void {
  const c = v.getUint16(o + F_CHECKSUM);
  const old = v.getUint16(o + F_SRC_PORT);
  v.setUint16(o + F_SRC_PORT, p);
  if (c !== 0) v.setUint16(o + F_CHECKSUM, udpNonZero(update16(c, old, p)));
}

/** Set the destination port and update the checksum; zero-checksum rule as `setSrcPortCsum`. */
export function setDstPortCsum(v: DataView, o: number, p: number): void {
  const c = v.getUint16(o + F_CHECKSUM);
  const old = v.getUint16(o + F_DST_PORT);
  v.setUint16(o + F_DST_PORT, p);
  if (c !== 0) v.setUint16(o + F_CHECKSUM, udpNonZero(update16(c, old, p)));
}

/**
 * Update the checksum of the UDP header at `udpOff` for a pseudo-header address that changed from `oldAddr`
 * to `newAddr` (the caller rewrites the IPv4 header itself, e.g. `ipv4.setSrcCsum`). Zero-checksum rule as
 * `setSrcPortCsum`.
 */
export function updateChecksumForAddr(v: DataView, udpOff: number, oldAddr: number, newAddr: number): void {
  const c = v.getUint16(udpOff + F_CHECKSUM);
  if (c !== 0) v.setUint16(udpOff + F_CHECKSUM, udpNonZero(update32(c, oldAddr, newAddr)));
}

/**
 * SNAT in one call: source address of the IPv4 header at `ipOff` and source port of the UDP header at
 * `udpOff`, with the IPv4 header checksum and the UDP checksum updated incrementally (zero rule kept).
 */
export function snat(v: DataView, ipOff: number, udpOff: number, addr: number, port: number): void {
  const oldAddr = v.getInt32(ipOff + 12);
  v.setInt32(ipOff + 12, addr);
  v.setUint16(ipOff + 10, update32(v.getUint16(ipOff + 10), oldAddr, addr));
  const oldPort = v.getUint16(udpOff + F_SRC_PORT);
  v.setUint16(udpOff + F_SRC_PORT, port);
  const c = v.getUint16(udpOff + F_CHECKSUM);
  if (c !== 0) v.setUint16(udpOff + F_CHECKSUM, udpNonZero(update16(update32(c, oldAddr, addr), oldPort, port)));
}

/** Destination-side counterpart of `snat` (un-NAT of a reply): destination address and port. */
export function dnat(v: DataView, ipOff: number, udpOff: number, addr: number, port: number): void {
  const oldAddr = v.getInt32(ipOff + 16);
  v.setInt32(ipOff + 16, addr);
  v.setUint16(ipOff + 10, update32(v.getUint16(ipOff + 10), oldAddr, addr));
  const oldPort = v.getUint16(udpOff + F_DST_PORT);
  v.setUint16(udpOff + F_DST_PORT, port);
  const c = v.getUint16(udpOff + F_CHECKSUM);
  if (c !== 0) v.setUint16(udpOff + F_CHECKSUM, udpNonZero(update16(update32(c, oldAddr, addr), oldPort, port)));
}

// --- UDP over IPv6 (RFC 8200 §8.1) ---

/** The checksum a UDP datagram at `udpOff` under the IPv6 header at `ipOff` should carry (0 mapped to 0xffff). */
export function computeChecksum6(v: DataView, ipOff: number, udpOff: number): number {
  const l = v.getUint16(udpOff + F_LENGTH);
  const ph = pseudoHeaderSum6(v, ipOff + 8, C_PROTO, l);
  return udpNonZero(finish(sum(v, udpOff, l, ph) - v.getUint16(udpOff + F_CHECKSUM)));
}

/** Compute and store the checksum (pseudo-header from the IPv6 header at `ipOff`; length from the UDP header). */
export function fillChecksum6(v: DataView, ipOff: number, udpOff: number): void {
  v.setUint16(udpOff + F_CHECKSUM, computeChecksum6(v, ipOff, udpOff));
}

/** True when the checksum verifies; false for an absent one (0), which IPv6 forbids. The caller ran `check`. */
export function checksumOk6(v: DataView, ipOff: number, udpOff: number): boolean {
  if (v.getUint16(udpOff + F_CHECKSUM) === 0) return false;
  const l = v.getUint16(udpOff + F_LENGTH);
  return finish(sum(v, udpOff, l, pseudoHeaderSum6(v, ipOff + 8, C_PROTO, l))) === 0;
}

/**
 * SNAT66 in one call (written out here and in the `dnat6`s of udp.ts and tcp.ts: through one shared helper the
 * wire bench measured SNAT66 at 3.2× the IPv4 SNAT's time in the same run, written out at 0.6–1.1×): the
 * source address of the IPv6 header at `ipOff` becomes `a0`..`a3` (int32 words) and
 * the source port of the UDP header at `udpOff` becomes `port`, with the UDP checksum updated incrementally
 * (RFC 1624; IPv6 has no header checksum). Zero rule as `setSrcPortCsum`.
 */
export function snat6(
  v: DataView,
  ipOff: number,
  udpOff: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  port: number,
): void {
  const c = v.getUint16(udpOff + F_CHECKSUM);
  const oldPort = v.getUint16(udpOff + F_SRC_PORT);
  if (c !== 0) {
    const nc = update16(update128(c, v, ipOff + 8, a0, a1, a2, a3), oldPort, port);
    v.setUint16(udpOff + F_CHECKSUM, udpNonZero(nc));
  }
  v.setInt32(ipOff + 8, a0);
  v.setInt32(ipOff + 12, a1);
  v.setInt32(ipOff + 16, a2);
  v.setInt32(ipOff + 20, a3);
  v.setUint16(udpOff + F_SRC_PORT, port);
}

/** Destination-side counterpart of `snat6` (un-SNAT of a reply): destination address and port. */
export function dnat6(
  v: DataView,
  ipOff: number,
  udpOff: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  port: number,
): void {
  const c = v.getUint16(udpOff + F_CHECKSUM);
  const oldPort = v.getUint16(udpOff + F_DST_PORT);
  if (c !== 0) {
    const nc = update16(update128(c, v, ipOff + 24, a0, a1, a2, a3), oldPort, port);
    v.setUint16(udpOff + F_CHECKSUM, udpNonZero(nc));
  }
  v.setInt32(ipOff + 24, a0);
  v.setInt32(ipOff + 28, a1);
  v.setInt32(ipOff + 32, a2);
  v.setInt32(ipOff + 36, a3);
  v.setUint16(udpOff + F_DST_PORT, port);
}

/** Value form of a UDP header (cold path). */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Bytes of data after the header. */
  payloadLen: number;
}

/** Parse a header that passed `check`. */
export function parse(v: DataView, o: number): UdpRepr {
  return { srcPort: srcPort(v, o), dstPort: dstPort(v, o), payloadLen: length(v, o) - C_HEADER_LEN };
}

/**
 * Write the header of `r` at `o` with checksum 0; returns HEADER_LEN. Write the data, then call
 * `fillChecksum` (or leave 0 for "no checksum", as Geneve's outer UDP does).
 */
export function emit(r: UdpRepr, v: DataView, o: number): number {
  v.setUint16(o + F_SRC_PORT, r.srcPort);
  v.setUint16(o + F_DST_PORT, r.dstPort);
  v.setUint16(o + F_LENGTH, C_HEADER_LEN + r.payloadLen);
  v.setUint16(o + F_CHECKSUM, 0);
  return C_HEADER_LEN;
}
