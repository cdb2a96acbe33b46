/**
 * ARP for IPv4 over Ethernet, RFC 826 ("An Ethernet Address Resolution Protocol"). Only hardware type 1
 * (Ethernet, 6-byte addresses) with protocol type 0x0800 (IPv4, 4-byte addresses) is handled: 28 bytes.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |      Hardware Type (ar$hrd)   |     Protocol Type (ar$pro)    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | HLen (ar$hln) | PLen (ar$pln) |       Operation (ar$op)       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |              Sender Hardware Address (ar$sha)                 |
 *    +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                               | Sender Protocol Addr (ar$spa) |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |         (ar$spa cont.)        |                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *    |              Target Hardware Address (ar$tha)                 |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |              Target Protocol Address (ar$tpa)                 |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Operation: 1 request, 2 reply. A gratuitous ARP in Antrea's form (docs/semantics.md §3 "Announcement",
 * `pkg/agent/util/arping`) is a *request* with SHA = interface MAC, SPA = TPA = the announced IP and
 * THA = ff:ff:ff:ff:ff:ff, sent to the Ethernet broadcast address.
 *
 * MACs on the hot path are `hi16`/`lo32` integer pairs (see ethernet.ts); addresses are int32.
 */
import * as ethernet from './ethernet.js';
import * as V from './verdict.js';

// Local bindings of imported hot-path values (why: docs/platform.md, the hot path in JavaScript).
const { BAD_FIELD, OK, TRUNCATED, UNSUPPORTED } = V;

/** Length of an Ethernet/IPv4 ARP packet. */
export const PACKET_LEN = 28;
/** Length of an Ethernet frame carrying one (before any padding to 60 bytes). */
export const FRAME_LEN = ethernet.HEADER_LEN + PACKET_LEN;

export const HTYPE_ETHERNET = 1;
export const PTYPE_IPV4 = 0x0800;
export const OP_REQUEST = 1;
export const OP_REPLY = 2;

const F_HTYPE = 0;
const F_PTYPE = 2;
const F_HLEN = 4;
const F_PLEN = 5;
const F_OP = 6;
const F_SHA = 8;
const F_SPA = 14;
const F_THA = 18;
const F_TPA = 24;

// Module-local copies of exported constants (why: docs/platform.md, the hot path in JavaScript).
const C_PACKET_LEN = PACKET_LEN;
const C_HTYPE_ETHERNET = HTYPE_ETHERNET;
const C_PTYPE_IPV4 = PTYPE_IPV4;
const C_OP_REQUEST = OP_REQUEST;
const C_OP_REPLY = OP_REPLY;

/** Hardware type (ar$hrd); 1 for Ethernet. */
export function htype(v: DataView, o: number): number {
  return v.getUint16(o + F_HTYPE);
}
/** Protocol type (ar$pro); 0x0800 for IPv4. */
export function ptype(v: DataView, o: number): number {
  return v.getUint16(o + F_PTYPE);
}
/** Hardware address length (ar$hln). */
export function hlen(v: DataView, o: number): number {
  return v.getUint8(o + F_HLEN);
}
/** Protocol address length (ar$pln). */
export function plen(v: DataView, o: number): number {
  return v.getUint8(o + F_PLEN);
}
/** Operation (ar$op): 1 request, 2 reply. */
export function op(v: DataView, o: number): number {
  return v.getUint16(o + F_OP);
}
/** Sender hardware address (ar$sha), first two bytes. */
export function shaHi16(v: DataView, o: number): number {
  return v.getUint16(o + F_SHA);
}
/** Sender hardware address (ar$sha), last four bytes as int32. */
export function shaLo32(v: DataView, o: number): number {
  return v.getInt32(o + F_SHA + 2);
}
/** Sender protocol address (ar$spa) as int32. */
export function spa(v: DataView, o: number): number {
  return v.getInt32(o + F_SPA);
}
/** Target hardware address (ar$tha), first two bytes. */
export function thaHi16(v: DataView, o: number): number {
  return v.getUint16(o + F_THA);
}
/** Target hardware address (ar$tha), last four bytes as int32. */
export function thaLo32(v: DataView, o: number): number {
  return v.getInt32(o + F_THA + 2);
}
/** Target protocol address (ar$tpa) as int32. */
export function tpa(v: DataView, o: number): number {
  return v.getInt32(o + F_TPA);
}
/** Absolute offset of the sender hardware address (for `ethernet.copyMac`). */
export function shaOffset(o: number): number {
  return o + F_SHA;
}
/** Absolute offset of the target hardware address. */
export function thaOffset(o: number): number {
  return o + F_THA;
}
/** True for a gratuitous ARP (SPA = TPA, request or reply): an announcement, not a query. */
export function isGratuitous(v: DataView, o: number): boolean {
  return v.getInt32(o + F_SPA) === v.getInt32(o + F_TPA);
}

export function setOp(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_OP, x);
}
export function setSha(v: DataView, o: number, hi16: number, lo32: number): void {
  v.setUint16(o + F_SHA, hi16);
  v.setInt32(o + F_SHA + 2, lo32);
}
export function setSpa(v: DataView, o: number, a: number): void {
  v.setInt32(o + F_SPA, a);
}
export function setTha(v: DataView, o: number, hi16: number, lo32: number): void {
  v.setUint16(o + F_THA, hi16);
  v.setInt32(o + F_THA + 2, lo32);
}
export function setTpa(v: DataView, o: number, a: number): void {
  v.setInt32(o + F_TPA, a);
}

/**
 * Validate an ARP packet in `len` bytes at `o`: TRUNCATED below the fixed 8 bytes or the 28 bytes of
 * Ethernet/IPv4 ARP; BAD_FIELD when htype/ptype/hlen/plen are not 1/0x0800/6/4; UNSUPPORTED for an
 * operation other than request or reply (RARP, InARP ...). Trailing bytes (Ethernet padding) are allowed.
 */
export function check(v: DataView, o: number, len: number): number {
  if (len < 8) return TRUNCATED;
  if (v.getUint16(o + F_HTYPE) !== C_HTYPE_ETHERNET || v.getUint16(o + F_PTYPE) !== C_PTYPE_IPV4) return BAD_FIELD;
  if (v.getUint8(o + F_HLEN) !== 6 || v.getUint8(o + F_PLEN) !== 4) return BAD_FIELD;
  if (len < C_PACKET_LEN) return TRUNCATED;
  const x = v.getUint16(o + F_OP);
  if (x !== C_OP_REQUEST && x !== C_OP_REPLY) return UNSUPPORTED;
  return OK;
}

/** Write the fixed part (htype 1, ptype 0x0800, hlen 6, plen 4) and the operation. */
function writeFixed(v: DataView, o: number, operation: number): void {
  v.setUint32(o, 0x00010800); // htype 1, ptype 0x0800
  v.setUint16(o + F_HLEN, 0x0604); // hlen 6, plen 4
  v.setUint16(o + F_OP, operation);
}

/** Value form of an Ethernet/IPv4 ARP packet (cold path). Addresses are int32. */
export interface ArpRepr {
  op: number;
  sha: Uint8Array;
  spa: number;
  tha: Uint8Array;
  tpa: number;
}

/** Parse a packet that passed `check`. */
export function parse(v: DataView, o: number): ArpRepr {
  return {
    op: op(v, o),
    sha: ethernet.readMac(v, o + F_SHA),
    spa: spa(v, o),
    tha: ethernet.readMac(v, o + F_THA),
    tpa: tpa(v, o),
  };
}

/** Write `r` at `o`; returns PACKET_LEN. */
export function emit(r: ArpRepr, v: DataView, o: number): number {
  writeFixed(v, o, r.op);
  ethernet.writeMac(v, o + F_SHA, r.sha);
  v.setInt32(o + F_SPA, r.spa);
  ethernet.writeMac(v, o + F_THA, r.tha);
  v.setInt32(o + F_TPA, r.tpa);
  return C_PACKET_LEN;
}

/**
 * Antrea's gratuitous ARP (docs/semantics.md §3): op = 1 (request), SHA = `mac`, SPA = `ip`,
 * THA = ff:ff:ff:ff:ff:ff, TPA = `ip`. Writes the 28-byte ARP packet at `o`; returns PACKET_LEN.
 */
export function emitGratuitous(v: DataView, o: number, mac: Uint8Array, ip: number): number {
  return emit({ op: C_OP_REQUEST, sha: mac, spa: ip, tha: ethernet.BROADCAST, tpa: ip }, v, o);
}

/**
 * The whole gratuitous-ARP frame at `o`: Ethernet dst ff:ff:ff:ff:ff:ff, src `mac`, EtherType 0x0806,
 * then `emitGratuitous`. Returns FRAME_LEN (42, not padded: the sender's NIC or TAP pads if it must).
 */
export function emitGratuitousFrame(v: DataView, o: number, mac: Uint8Array, ip: number): number {
  ethernet.writeMac(v, o, ethernet.BROADCAST);
  ethernet.writeMac(v, o + 6, mac);
  v.setUint16(o + 12, ethernet.ETHERTYPE_ARP);
  return ethernet.HEADER_LEN + emitGratuitous(v, o + ethernet.HEADER_LEN, mac, ip);
}

/** A request "who-has `tpa` tell `spa`" (THA zero, RFC 826); returns PACKET_LEN. */
export function emitRequest(v: DataView, o: number, sha: Uint8Array, spaAddr: number, tpaAddr: number): number {
  return emit({ op: C_OP_REQUEST, sha, spa: spaAddr, tha: new Uint8Array(6), tpa: tpaAddr }, v, o);
}

/**
 * The whole request frame at `o`: Ethernet dst ff:ff:ff:ff:ff:ff, src `sha`, EtherType 0x0806, then
 * `emitRequest`. Returns FRAME_LEN.
 */
export function emitRequestFrame(v: DataView, o: number, sha: Uint8Array, spaAddr: number, tpaAddr: number): number {
  ethernet.writeMac(v, o, ethernet.BROADCAST);
  ethernet.writeMac(v, o + 6, sha);
  v.setUint16(o + 12, ethernet.ETHERTYPE_ARP);
  return ethernet.HEADER_LEN + emitRequest(v, o + ethernet.HEADER_LEN, sha, spaAddr, tpaAddr);
}

/**
 * A reply "`spa` is-at `sha`" to the requester (`tha`, `tpa`), RFC 826: the responder swaps sender and
 * target and puts its own hardware address as sender. Returns PACKET_LEN.
 */
export function emitReply(
  v: DataView,
  o: number,
  sha: Uint8Array,
  spaAddr: number,
  tha: Uint8Array,
  tpaAddr: number,
): number {
  return emit({ op: C_OP_REPLY, sha, spa: spaAddr, tha, tpa: tpaAddr }, v, o);
}

/**
 * Turn the request at `o` (which passed `check`) into the reply for it, in place: op = 2,
 * THA/TPA = the requester's SHA/SPA, SHA = our MAC (`hi16`/`lo32`), SPA = the address asked for (the old
 * TPA). The Ethernet header is the caller's (`ethernet.swapMacs` then set the source).
 */
export function replyInPlace(v: DataView, o: number, macHi16: number, macLo32: number): void {
  const asked = v.getInt32(o + F_TPA);
  v.setInt32(o + F_TPA, v.getInt32(o + F_SPA));
  v.setInt32(o + F_SPA, asked);
  ethernet.copyMac(v, o + F_SHA, o + F_THA);
  v.setUint16(o + F_SHA, macHi16);
  v.setInt32(o + F_SHA + 2, macLo32);
  v.setUint16(o + F_OP, C_OP_REPLY);
}
