/**
 * Ethernet II frame (IEEE 802.3 clause 3, DIX framing), without preamble and FCS, and IEEE 802.1Q VLAN tags.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Destination MAC (48 bits)                  |
 *    +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                               |                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *    |                      Source MAC (48 bits)                     |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     EtherType (or TPID)       |  payload ...
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * An 802.1Q tag (TPID 0x8100) or 802.1ad service tag (TPID 0x88a8) sits where the EtherType was and pushes it
 * back by four bytes:
 *
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |        TPID (0x8100)          | PCP |D|         VID           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     EtherType (inner)         |  payload ...
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The L3 header always starts right after the inner EtherType, so `v.getUint16(l3 - 2)` is the inner
 * EtherType once `l3Offset` returned a non-negative offset (`l3Ethertype`).
 *
 * On the hot path a MAC address is two integers: the first two bytes (`hi16`, 0..0xffff) and the last four
 * (`lo32`, an int32). `Uint8Array(6)` forms are for configuration and cold paths.
 */
import * as V from './verdict.js';

// Local bindings of imported hot-path values (why: docs/platform.md, the hot path in JavaScript).
const { OK, TRUNCATED, UNSUPPORTED } = V;

/** Length of an untagged Ethernet II header (dst, src, EtherType). */
export const HEADER_LEN = 14;
/** Length of a header with one 802.1Q tag (dst, src, TPID, TCI, EtherType). */
export const TAGGED_HEADER_LEN = 18;
/** Length of one 802.1Q / 802.1ad tag. */
export const TAG_LEN = 4;
/** Most VLAN tags `l3Offset` skips (an 802.1ad service tag over an 802.1Q customer tag). */
export const MAX_TAGS = 2;
/** Minimum frame length without FCS (IEEE 802.3 minimum of 64 bytes less the 4-byte FCS). */
export const MIN_FRAME_LEN = 60;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
/** 802.1Q customer VLAN tag (C-tag) TPID. */
export const ETHERTYPE_VLAN = 0x8100;
/** 802.1ad service VLAN tag (S-tag, "QinQ") TPID. */
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;
/** Transparent Ethernet Bridging: an Ethernet frame inside Geneve/GRE. */
export const ETHERTYPE_TEB = 0x6558;

/** VLAN ID mask in the TCI. */
export const VID_MASK = 0x0fff;

const F_DST = 0;
const F_SRC = 6;
const F_ETHERTYPE = 12;

/** ff:ff:ff:ff:ff:ff. Do not modify. */
export const BROADCAST: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

// Module-local copies of exported constants (why: docs/platform.md, the hot path in JavaScript).
const C_HEADER_LEN = HEADER_LEN;
const C_TAG_LEN = TAG_LEN;
const C_MAX_TAGS = MAX_TAGS;
const C_ETHERTYPE_VLAN = ETHERTYPE_VLAN;
const C_ETHERTYPE_QINQ = ETHERTYPE_QINQ;
const C_VID_MASK = VID_MASK;

/** Destination MAC, first two bytes (0..0xffff). */
export function dstHi16(v: DataView, o: number): number {
  return v.getUint16(o + F_DST);
}
/** Destination MAC, last four bytes as int32. */
export function dstLo32(v: DataView, o: number): number {
  return v.getInt32(o + F_DST + 2);
}
/** Source MAC, first two bytes (0..0xffff). */
export function srcHi16(v: DataView, o: number): number {
  return v.getUint16(o + F_SRC);
}
/** Source MAC, last four bytes as int32. */
export function srcLo32(v: DataView, o: number): number {
  return v.getInt32(o + F_SRC + 2);
}
/** EtherType field of the untagged header (the TPID when the frame is tagged). */
export function ethertype(v: DataView, o: number): number {
  return v.getUint16(o + F_ETHERTYPE);
}
/** True when the destination is ff:ff:ff:ff:ff:ff. */
export function isBroadcast(v: DataView, o: number): boolean {
  return v.getUint16(o + F_DST) === 0xffff && v.getInt32(o + F_DST + 2) === -1;
}
/** True when the destination MAC equals `hi16`/`lo32` (a frame for this port's own address). */
export function dstEquals(v: DataView, o: number, hi16: number, lo32: number): boolean {
  return v.getUint16(o + F_DST) === hi16 && v.getInt32(o + F_DST + 2) === lo32;
}
/** True when the destination is a group address (I/G bit set: multicast or broadcast). */
export function isMulticast(v: DataView, o: number): boolean {
  return (v.getUint8(o + F_DST) & 1) !== 0;
}

/** Set the destination MAC from its two-int form. */
export function setDst(v: DataView, o: number, hi16: number, lo32: number): void {
  v.setUint16(o + F_DST, hi16);
  v.setInt32(o + F_DST + 2, lo32);
}
/** Set the source MAC from its two-int form. */
export function setSrc(v: DataView, o: number, hi16: number, lo32: number): void {
  v.setUint16(o + F_SRC, hi16);
  v.setInt32(o + F_SRC + 2, lo32);
}
/** Set the EtherType field of the untagged header. */
export function setEthertype(v: DataView, o: number, t: number): void {
  v.setUint16(o + F_ETHERTYPE, t);
}
/** Write the untagged header in one go. */
export function writeHeader(
  v: DataView,
  o: number,
  dstHi: number,
  dstLo: number,
  srcHi: number,
  srcLo: number,
  type: number,
): void {
  v.setUint16(o, dstHi);
  v.setInt32(o + 2, dstLo);
  v.setUint16(o + 6, srcHi);
  v.setInt32(o + 8, srcLo);
  v.setUint16(o + 12, type);
}
/**
 * Write a header with one 802.1Q tag (TPID 0x8100, PCP 0, DEI 0, VID `vid`) in one go: 18 bytes at `o`, the
 * L3 header follows at `o + 18`.
 */
export function writeTaggedHeader(
  v: DataView,
  o: number,
  dstHi: number,
  dstLo: number,
  srcHi: number,
  srcLo: number,
  vid: number,
  type: number,
): void {
  v.setUint16(o, dstHi);
  v.setInt32(o + 2, dstLo);
  v.setUint16(o + 6, srcHi);
  v.setInt32(o + 8, srcLo);
  v.setUint16(o + 12, C_ETHERTYPE_VLAN);
  v.setUint16(o + 14, vid & C_VID_MASK);
  v.setUint16(o + 16, type);
}
/** Swap source and destination MACs in place (a responder turning a frame around). */
export function swapMacs(v: DataView, o: number): void {
  const dh = v.getUint16(o);
  const dl = v.getInt32(o + 2);
  v.setUint16(o, v.getUint16(o + 6));
  v.setInt32(o + 2, v.getInt32(o + 8));
  v.setUint16(o + 6, dh);
  v.setInt32(o + 8, dl);
}
/** Copy the six bytes of a MAC from absolute offset `from` to `to` (the ranges must not overlap). */
export function copyMac(v: DataView, from: number, to: number): void {
  const hi = v.getUint16(from);
  const lo = v.getInt32(from + 2);
  v.setUint16(to, hi);
  v.setInt32(to + 2, lo);
}

/** Write a MAC given as bytes at `o` (cold path). */
export function writeMac(v: DataView, o: number, mac: Uint8Array): void {
  for (let i = 0; i < 6; i++) v.setUint8(o + i, mac[i]!);
}
/** Read six bytes at `o` as a new `Uint8Array` (cold path). */
export function readMac(v: DataView, o: number): Uint8Array {
  const m = new Uint8Array(6);
  for (let i = 0; i < 6; i++) m[i] = v.getUint8(o + i);
  return m;
}
/** First two bytes of a MAC as 0..0xffff. */
export function macHi16(mac: Uint8Array): number {
  return (mac[0]! << 8) | mac[1]!;
}
/** Last four bytes of a MAC as int32. */
export function macLo32(mac: Uint8Array): number {
  return (mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!;
}
/** The six bytes of a MAC from its two-int form. */
export function macFromInts(hi16: number, lo32: number): Uint8Array {
  return new Uint8Array([
    (hi16 >>> 8) & 0xff,
    hi16 & 0xff,
    lo32 >>> 24,
    (lo32 >>> 16) & 0xff,
    (lo32 >>> 8) & 0xff,
    lo32 & 0xff,
  ]);
}

const HEX = '0123456789abcdef';
/** `aa:bb:cc:dd:ee:ff` text of a MAC given as bytes, or of six bytes at `o` of a view. */
export function macToString(mac: Uint8Array | DataView, o = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const b = mac instanceof DataView ? mac.getUint8(o + i) : mac[o + i]!;
    if (i > 0) s += ':';
    s += HEX[b >>> 4]! + HEX[b & 15]!;
  }
  return s;
}
/** Parse `aa:bb:cc:dd:ee:ff` (or `-` separators, any case) into six bytes; null when malformed. */
export function parseMac(s: string): Uint8Array | null {
  const m = /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i.exec(s);
  if (!m) return null;
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(m[i === 0 ? 1 : i + 2]!, 16);
  return out;
}

/**
 * Validate the untagged header: OK when `len >= 14`. VLAN tags are validated by `l3Offset`.
 */
export function check(_v: DataView, _o: number, len: number): number {
  return len < C_HEADER_LEN ? TRUNCATED : OK;
}

/**
 * Absolute offset of the L3 header after skipping up to `MAX_TAGS` 802.1Q/802.1ad tags, or a negative
 * verdict: `-TRUNCATED` when the frame ends inside the header or a tag, `-UNSUPPORTED` when more than
 * `MAX_TAGS` tags are stacked. The inner EtherType is then `l3Ethertype(v, l3)`.
 */
export function l3Offset(v: DataView, o: number, len: number): number {
  if (len < C_HEADER_LEN) return -TRUNCATED;
  const t = v.getUint16(o + F_ETHERTYPE);
  // Untagged frames, the common case, stay in this small function so that it inlines into the caller.
  if (t !== C_ETHERTYPE_VLAN && t !== C_ETHERTYPE_QINQ) return o + C_HEADER_LEN;
  return skipTags(v, o, len);
}

/** The tagged case of `l3Offset`. */
function skipTags(v: DataView, o: number, len: number): number {
  let p = o + F_ETHERTYPE;
  const end = o + len;
  for (let tags = 0; ; tags++) {
    const t = v.getUint16(p);
    if (t !== C_ETHERTYPE_VLAN && t !== C_ETHERTYPE_QINQ) return p + 2;
    if (tags === C_MAX_TAGS) return -UNSUPPORTED;
    p += C_TAG_LEN;
    if (p + 2 > end) return -TRUNCATED;
  }
}

/** The inner EtherType of a frame whose L3 header is at `l3` (as returned by `l3Offset`). */
export function l3Ethertype(v: DataView, l3: number): number {
  return v.getUint16(l3 - 2);
}

/** Number of VLAN tags before the inner EtherType (0..MAX_TAGS), or a negative verdict as `l3Offset`. */
export function tagCount(v: DataView, o: number, len: number): number {
  const l3 = l3Offset(v, o, len);
  return l3 < 0 ? l3 : (l3 - o - C_HEADER_LEN) >> 2;
}

/**
 * VLAN ID (12 bits) of the outermost tag, or -1 for an untagged frame. The caller has checked that the
 * tag is inside the frame (`l3Offset` returned an offset).
 */
export function vlanId(v: DataView, o: number): number {
  const t = v.getUint16(o + F_ETHERTYPE);
  if (t !== C_ETHERTYPE_VLAN && t !== C_ETHERTYPE_QINQ) return -1;
  return v.getUint16(o + F_ETHERTYPE + 2) & C_VID_MASK;
}
/** VLAN ID of the tag nearest the payload (the customer tag under QinQ), or -1 when untagged. */
export function innerVlanId(v: DataView, o: number, len: number): number {
  const l3 = l3Offset(v, o, len);
  if (l3 < 0 || l3 - o === C_HEADER_LEN) return -1;
  return v.getUint16(l3 - 4) & C_VID_MASK;
}

/** One VLAN tag in value form. */
export interface VlanTag {
  /** 0x8100 (802.1Q) or 0x88a8 (802.1ad). */
  tpid: number;
  /** Tag Control Information: PCP (3 bits), DEI (1 bit), VID (12 bits). */
  tci: number;
}

/** Value form of an Ethernet header, for cold paths. */
export interface EthernetRepr {
  dst: Uint8Array;
  src: Uint8Array;
  /** VLAN tags, outermost first (empty when untagged). */
  tags: VlanTag[];
  /** The inner EtherType (after the tags). */
  ethertype: number;
}

/** Header length of `r` (14 + 4 per tag). */
export function reprHeaderLen(r: EthernetRepr): number {
  return C_HEADER_LEN + C_TAG_LEN * r.tags.length;
}

/** Parse a frame header; null when `l3Offset` rejects it. */
export function parse(v: DataView, o: number, len: number): EthernetRepr | null {
  const l3 = l3Offset(v, o, len);
  if (l3 < 0) return null;
  const tags: VlanTag[] = [];
  for (let p = o + F_ETHERTYPE; p < l3 - 2; p += C_TAG_LEN)
    tags.push({ tpid: v.getUint16(p), tci: v.getUint16(p + 2) });
  return { dst: readMac(v, o + F_DST), src: readMac(v, o + F_SRC), tags, ethertype: v.getUint16(l3 - 2) };
}

/** Write the header of `r` at `o`; returns the header length (the L3 offset relative to `o`). */
export function emit(r: EthernetRepr, v: DataView, o: number): number {
  writeMac(v, o + F_DST, r.dst);
  writeMac(v, o + F_SRC, r.src);
  let p = o + F_ETHERTYPE;
  for (const t of r.tags) {
    v.setUint16(p, t.tpid);
    v.setUint16(p + 2, t.tci);
    p += C_TAG_LEN;
  }
  v.setUint16(p, r.ethertype);
  return p + 2 - o;
}
