/**
 * Internet checksum.
 *
 * RFC 1071 "Computing the Internet Checksum": the checksum is the 16-bit one's complement of the one's
 * complement sum of the data taken as 16-bit big-endian words (an odd final byte is padded with zero).
 * Because one's complement addition is commutative and associative, we add 32-bit words into a float64
 * accumulator (exact below 2^53, i.e. for any packet we handle) and fold the carries at the end.
 *
 * RFC 1624 "Computation of the Internet Checksum via Incremental Update", eqn. 3:
 *
 *     HC' = ~(~HC + ~m + m')
 *
 * where HC is the old checksum field, m the old value of a 16-bit word and m' its new value. A 32-bit field
 * is two 16-bit words. This form is the one RFC 1624 recommends because it never produces the -0 result
 * of eqn. 2 for an all-zero-but-checksum header.
 *
 * Pseudo-header (RFC 768, RFC 793): source address, destination address, zero, protocol, L4 length.
 *
 * IPv6 pseudo-header (RFC 8200 §8.1), used by TCP, UDP and ICMPv6 over IPv6 (RFC 4443 §2.3):
 *
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    +                         Source Address                        +
 *    |                          (128 bits)                           |
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    +                      Destination Address                      +
 *    |            (the final one when a Routing header is present)   |
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                   Upper-Layer Packet Length                   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                      zero                     |  Next Header  |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The two addresses sit next to each other in the IPv6 header (bytes 8..39), so their sum is one `sum` over 32
 * bytes. Next Header is the upper layer's protocol (6, 17, 58), not the IPv6 header's field when extension
 * headers come between.
 *
 * UDP zero-checksum rule (RFC 768): "If the computed checksum is zero, it is transmitted as all ones ...
 * An all zero transmitted checksum value means that the transmitter generated no checksum". So a UDP
 * checksum field of 0 must be left at 0 by incremental updates, and a computed 0 is written as 0xffff.
 */

/** One's complement sum (unfolded) of `len` bytes at `o`, added to `initial`. */
export function sum(v: DataView, o: number, len: number, initial = 0): number {
  // Each 32-bit word is added as its two 16-bit halves, so the accumulator stays an integer below 2^31 for
  // any IP packet (16384 words × 2 × 0xffff < 2^31) and `fold` never needs float division.
  let acc = initial;
  let i = o;
  const end4 = o + (len & ~3);
  while (i < end4) {
    const w = v.getUint32(i);
    acc += (w >>> 16) + (w & 0xffff);
    i += 4;
  }
  if (len & 2) {
    acc += v.getUint16(i);
    i += 2;
  }
  if (len & 1) acc += v.getUint8(i) << 8;
  return acc;
}

/** Fold an unfolded sum to 16 bits (end-around carry). */
export function fold(s: number): number {
  // Sums of `sum` stay below 2^32; a caller's larger float64 sum (≥ 2^32) is reduced first. One reduction can
  // leave 2^32 or a little more (0x1_ffff_ffff gives 0xffff_ffff + 1), which `>>>` would wrap to 0: a loop.
  while (s > 0xffffffff) s = (s % 0x100000000) + Math.floor(s / 0x100000000);
  s = (s >>> 16) + (s & 0xffff);
  s = (s >>> 16) + (s & 0xffff);
  return s;
}

/** The checksum field value for an unfolded sum: the one's complement of the folded sum. */
export function finish(s: number): number {
  return ~fold(s) & 0xffff;
}

/** RFC 1071 checksum of a byte range (the value to store in a checksum field that was zero while summing). */
export function checksum(v: DataView, o: number, len: number, initial = 0): number {
  return finish(sum(v, o, len, initial));
}

/** Unfolded sum of the IPv4 pseudo-header. Addresses are int32 or uint32; `l4len` is the L4 length. */
export function pseudoHeaderSum(src: number, dst: number, proto: number, l4len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4len;
}

/**
 * Unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1): the 32 bytes of source and destination address at
 * `addrOff` (an IPv6 header's offset + 8), the upper-layer length `l4len` as 32 bits and the protocol `proto`.
 */
export function pseudoHeaderSum6(v: DataView, addrOff: number, proto: number, l4len: number): number {
  return sum(v, addrOff, 32, proto + (l4len >>> 16) + (l4len & 0xffff));
}

/** RFC 1624 eqn. 3 for one 16-bit word: the new checksum field after `old` became `nu`. */
export function update16(csum: number, old: number, nu: number): number {
  let s = (~csum & 0xffff) + (~old & 0xffff) + (nu & 0xffff);
  s = (s >>> 16) + (s & 0xffff);
  s = (s >>> 16) + (s & 0xffff);
  return ~s & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (two 16-bit words), e.g. an IPv4 address. */
export function update32(csum: number, old: number, nu: number): number {
  let s = (~csum & 0xffff) + (~(old >>> 16) & 0xffff) + (~old & 0xffff) + ((nu >>> 16) & 0xffff) + (nu & 0xffff);
  s = (s >>> 16) + (s & 0xffff);
  s = (s >>> 16) + (s & 0xffff);
  return ~s & 0xffff;
}

/**
 * RFC 1624 eqn. 3 for a 128-bit field given as four int32 words (an IPv6 address): old words at `p` in `v`,
 * new words `a0`..`a3`. Does not write the address.
 */
export function update128(
  csum: number,
  v: DataView,
  p: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
): number {
  // One accumulator for the 8 old and 8 new 16-bit words (17 terms below 2^16: the sum stays below 2^21, so two
  // folds finish it), instead of four update32 calls that fold four times.
  const o0 = v.getInt32(p);
  const o1 = v.getInt32(p + 4);
  const o2 = v.getInt32(p + 8);
  const o3 = v.getInt32(p + 12);
  let s = (~csum & 0xffff) + (~(o0 >>> 16) & 0xffff) + (~o0 & 0xffff) + ((a0 >>> 16) & 0xffff) + (a0 & 0xffff);
  s += (~(o1 >>> 16) & 0xffff) + (~o1 & 0xffff) + ((a1 >>> 16) & 0xffff) + (a1 & 0xffff);
  s += (~(o2 >>> 16) & 0xffff) + (~o2 & 0xffff) + ((a2 >>> 16) & 0xffff) + (a2 & 0xffff);
  s += (~(o3 >>> 16) & 0xffff) + (~o3 & 0xffff) + ((a3 >>> 16) & 0xffff) + (a3 & 0xffff);
  s = (s >>> 16) + (s & 0xffff);
  s = (s >>> 16) + (s & 0xffff);
  return ~s & 0xffff;
}

/** The UDP rule: a computed checksum of 0 is transmitted as 0xffff (RFC 768). */
export function udpNonZero(c: number): number {
  return c === 0 ? 0xffff : c;
}
