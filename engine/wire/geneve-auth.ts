/**
 * The tunnel authentication option of egress-engine's Geneve (RFC 8926 §3.5 TLV; docs/tunnel-auth.md): one
 * critical option in the Experimental Use option class range (RFC 8926 §7: 0xFFF0–0xFFFF), carried first.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  0 |   Option Class = 0xFFF0       |C|  Type = 1   |R|R|R| Len = 5 |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  4 |                            Key ID                             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  8 |                   Sequence Number (64 bits)                   |
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 16 |                  SipHash-2-4 tag (64 bits)                    |
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * - C (the high bit of Type) is set, and so is the Geneve header's C bit: a receiver that does not check the
 *   option (tunnel authentication off, or another implementation) must drop the packet (RFC 8926 §3.5), so a
 *   mismatch between nodes is a counted drop on both sides, never unauthenticated delivery.
 * - Key ID: the cluster key's id (engine/cluster/key.ts), so "sent with another key" is told from "forged".
 * - Sequence Number: big-endian, strictly increasing per sender across its restarts (the sender starts at its
 *   heartbeat incarnation × 2^20, wall-clock milliseconds); the receiver keeps an anti-replay window per peer.
 * - Tag: SipHash-2-4 (siphash.ts) with the tunnel subkey, written as its 8 little-endian bytes (the reference
 *   implementation's output), over the outer IPv4 source and destination addresses (8 bytes) followed by the
 *   whole Geneve header (options included, with this tag field zero) and the inner frame to the end of the UDP
 *   datagram. Not covered, as ESP/AH do not cover them: the outer Ethernet header, the outer IPv4 fields routers
 *   change (TOS, TTL, checksum, Identification) and the UDP header (the source port is flow entropy; the length
 *   is implied by what the tag covers). Over an IPv6 underlay (`seal6`, `verify6`) the 8 address bytes are each
 *   address's four 32-bit words XORed together (source first, read as the IPv4 ones are): the tag keeps its
 *   one-block prefix, and a packet moved to another address is refused unless that address XORs alike.
 *
 * The option adds 24 bytes: the tunnel overhead becomes 74 bytes and the pod MTU the uplink MTU − 74.
 */
import * as ethernet from './ethernet.js';
import { siphash24, tag, type SipKey } from './siphash.js';

/** Experimental Use option class (RFC 8926 §7) chosen for this option. */
export const OPT_CLASS = 0xfff0;
/** Option type (without the critical bit). */
export const OPT_TYPE = 1;
/** Option data length in 4-byte words (key id 1, sequence 2, tag 2). */
export const OPT_WORDS = 5;
/** Bytes of the whole option (4-byte header + 20 bytes of data). */
export const OPT_LEN = 24;
/** Tunnel overhead with the option: Ethernet 14 + IPv4 20 + UDP 8 + Geneve 8 + option 24. */
export const OVERHEAD = 74;
/** Offsets inside the option. */
export const F_KEY_ID = 4;
export const F_SEQ = 8;
export const F_TAG = 16;

// The option's first word: class, type with the critical bit, length (module-local for the hot path).
const OPT_WORD0 = (OPT_CLASS << 16) | ((0x80 | OPT_TYPE) << 8) | OPT_WORDS | 0;
const ETH_HEADER_LEN = ethernet.HEADER_LEN;

/** The option's bytes with the tag and sequence zero (for templates; cold path). */
export function optionBytes(keyId: number): Uint8Array {
  const b = new Uint8Array(OPT_LEN);
  const v = new DataView(b.buffer);
  v.setInt32(0, OPT_WORD0);
  v.setUint32(F_KEY_ID, keyId >>> 0);
  return b;
}

/** True when the option at `p` (inside a checked header) is this option: class, type, critical bit and length. */
export function isAuthOption(v: DataView, p: number): boolean {
  return v.getInt32(p) === OPT_WORD0;
}

/**
 * Offset of the authentication option in the Geneve header at `g` (which passed `geneve.check`), or -1. Also -2
 * when any *other* option is critical (RFC 8926 §3.5: we understand none of them).
 */
export function findOption(v: DataView, g: number): number {
  const end = g + 8 + ((v.getUint8(g) & 0x3f) << 2);
  let found = -1;
  for (let p = g + 8; p < end; p += 4 + ((v.getUint8(p + 3) & 0x1f) << 2)) {
    if (v.getInt32(p) === OPT_WORD0) {
      if (found < 0) found = p;
    } else if ((v.getUint8(p + 2) & 0x80) !== 0) return -2;
  }
  return found;
}

// Accessors return int32 (reinterpret with `>>> 0`): a uint32 above 2^31 − 1 passed through a call that is not
// inlined is boxed as a heap number, 16 bytes per packet.
/** Key ID of the option at `p` (int32). */
export function keyId(v: DataView, p: number): number {
  return v.getInt32(p + F_KEY_ID);
}
/** Sequence number of the option at `p`: high and low 32 bits (int32 each). */
export function seqHi(v: DataView, p: number): number {
  return v.getInt32(p + F_SEQ);
}
export function seqLo(v: DataView, p: number): number {
  return v.getInt32(p + F_SEQ + 4);
}

/**
 * Compute the tag of the packet whose outer IPv4 header is at `ip`, Geneve header at `g` and UDP payload
 * (Geneve header + inner frame) of `glen` bytes, with the tag field of the option at `p` zero, and leave it in
 * `siphash.tag`. The field must be zero when this is called.
 */
function compute(k: SipKey, v: DataView, ip: number, g: number, glen: number): void {
  siphash24(k, v.getInt32(ip + 12, true), v.getInt32(ip + 16, true), v, g, glen);
}

/**
 * Write sequence number (`hi`, `lo`) and the tag into the option at `p` of an encapsulated packet (outer IPv4 at
 * `ip`, Geneve at `g`, `glen` bytes of UDP payload) whose tag field is zero (as the template writes it).
 */
export function seal(
  k: SipKey,
  v: DataView,
  ip: number,
  g: number,
  glen: number,
  p: number,
  hi: number,
  lo: number,
): void {
  v.setInt32(p + F_SEQ, hi | 0);
  v.setInt32(p + F_SEQ + 4, lo | 0);
  compute(k, v, ip, g, glen);
  v.setInt32(p + F_TAG, tag.lo, true);
  v.setInt32(p + F_TAG + 4, tag.hi, true);
}

/**
 * True when the option at `p` carries the right tag for the packet (arguments as `seal`). Compares in constant
 * time (both words XORed, then one test). The tag field is left zero: the option is stripped after this.
 */
export function verify(k: SipKey, v: DataView, ip: number, g: number, glen: number, p: number): boolean {
  const lo = v.getInt32(p + F_TAG, true);
  const hi = v.getInt32(p + F_TAG + 4, true);
  v.setInt32(p + F_TAG, 0);
  v.setInt32(p + F_TAG + 4, 0);
  compute(k, v, ip, g, glen);
  return ((lo ^ tag.lo) | (hi ^ tag.hi)) === 0;
}

/** Offset of the option in a frame encapsulated from an authenticated template: right after the base header. */
export function optionOffsetInFrame(frameOff: number): number {
  return frameOff + ETH_HEADER_LEN + 20 + 8 + 8;
}

/** The 8-byte prefix of an IPv6 outer header at `ip`: each address's four words XORed (little-endian reads). */
function compute6(k: SipKey, v: DataView, ip: number, g: number, glen: number): void {
  const s =
    v.getInt32(ip + 8, true) ^ v.getInt32(ip + 12, true) ^ v.getInt32(ip + 16, true) ^ v.getInt32(ip + 20, true);
  const d =
    v.getInt32(ip + 24, true) ^ v.getInt32(ip + 28, true) ^ v.getInt32(ip + 32, true) ^ v.getInt32(ip + 36, true);
  siphash24(k, s, d, v, g, glen);
}

/** `seal` for an encapsulated packet whose outer header at `ip` is IPv6. */
export function seal6(
  k: SipKey,
  v: DataView,
  ip: number,
  g: number,
  glen: number,
  p: number,
  hi: number,
  lo: number,
): void {
  v.setInt32(p + F_SEQ, hi | 0);
  v.setInt32(p + F_SEQ + 4, lo | 0);
  compute6(k, v, ip, g, glen);
  v.setInt32(p + F_TAG, tag.lo, true);
  v.setInt32(p + F_TAG + 4, tag.hi, true);
}

/** `verify` for a packet whose outer header at `ip` is IPv6 (the tag field is left zero). */
export function verify6(k: SipKey, v: DataView, ip: number, g: number, glen: number, p: number): boolean {
  const lo = v.getInt32(p + F_TAG, true);
  const hi = v.getInt32(p + F_TAG + 4, true);
  v.setInt32(p + F_TAG, 0);
  v.setInt32(p + F_TAG + 4, 0);
  compute6(k, v, ip, g, glen);
  return ((lo ^ tag.lo) | (hi ^ tag.hi)) === 0;
}
