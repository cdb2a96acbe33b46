/**
 * IPv6 header, RFC 8200 §3, and its extension headers, RFC 8200 §4.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Version| Traffic Class |           Flow Label                  |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |         Payload Length        |  Next Header  |   Hop Limit   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    +                                                               +
 *    |                                                               |
 *    +                         Source Address                        +
 *    |                                                               |
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    +                                                               +
 *    |                                                               |
 *    +                      Destination Address                      +
 *    |                                                               |
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Payload Length counts everything after these 40 bytes, extension headers included. There is no header
 * checksum: TCP, UDP and ICMPv6 cover the addresses through the pseudo-header (checksum.ts, RFC 8200 §8.1).
 *
 * Extension headers (§4.3 Hop-by-Hop Options, §4.4 Routing, §4.5 Fragment, §4.6 Destination Options) chain
 * through their first byte, Next Header; all but Fragment give their length in the second byte, in 8-byte
 * units not counting the first 8:
 *
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Next Header  |  Hdr Ext Len  |  options (TLVs), or Routing   |   Hop-by-Hop (0), Routing (43),
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  Type + Segments Left + data  +   Destination Options (60)
 *    .                                                               .
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|   Fragment (44), always 8 bytes
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                         Identification                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * `walk` follows the chain to the upper-layer header with limits (MAX_EXT_HEADERS headers, MAX_EXT_BYTES
 * bytes: RFC 8504 §5.3 lets a node bound both) and returns the protocol, the offset and the fragment state
 * packed in one small integer, so the hot path allocates nothing.
 *
 * On the hot path an address stays in the packet and is read as four int32 words (`srcWord(v, o, i)`); an
 * address from a table is four int32s too (`setSrcWords`). `Uint8Array(16)` forms and the text conversions
 * `addrToString`/`parseAddr` are for cold paths.
 */
import * as V from './verdict.js';

// Local bindings of imported hot-path values (why: docs/platform.md, the hot path in JavaScript).
const { BAD_FIELD, BAD_VERSION, CHAIN_TOO_LONG, HOP_BY_HOP_NOT_FIRST, OK, TRUNCATED, UNKNOWN_NEXT_HEADER } = V;
const { UNSUPPORTED } = V;

export const HEADER_LEN = 40;
export const ETHERTYPE = 0x86dd;
/** Length of an IPv6 address. */
export const ADDR_LEN = 16;

/** Next Header values (IANA "Assigned Internet Protocol Numbers"). */
export const NH_HOP_BY_HOP = 0;
export const NH_TCP = 6;
export const NH_UDP = 17;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_ICMPV6 = 58;
export const NH_NONE = 59;
export const NH_DEST_OPTS = 60;

/** Most extension headers `walk` follows by default (RFC 8200 §4.1's order has at most 5 of the 4 kinds). */
export const MAX_EXT_HEADERS = 8;
/** Most bytes of extension headers `walk` accepts by default (the whole chain fits a first fragment, RFC 7112). */
export const MAX_EXT_BYTES = 256;
/** The minimum link MTU of IPv6 (RFC 8200 §5): every link carries 1280 bytes without fragmenting. */
export const MIN_MTU = 1280;

/** Option types inside Hop-by-Hop and Destination Options headers (RFC 8200 §4.2). */
export const OPT_PAD1 = 0;
export const OPT_PADN = 1;

/** `walk` result bit: the packet is a fragment (Fragment header with M set or a non-zero offset). */
export const WALK_FRAGMENT = 0x100;
/** `walk` result bit: a fragment with a non-zero offset; the upper-layer header is not in it. */
export const WALK_NOT_FIRST = 0x200;

const F_VER_TC_FL = 0;
const F_PAYLOAD_LEN = 4;
const F_NEXT_HEADER = 6;
const F_HOP_LIMIT = 7;
const F_SRC = 8;
const F_DST = 24;

/** What `walk` does with each Next Header value: one typed-array load instead of a chain of compares. */
const K_UNKNOWN = 0;
const K_UPPER = 1;
const K_HOP_BY_HOP = 2;
const K_ROUTING = 3;
const K_FRAGMENT = 4;
const K_DEST_OPTS = 5;
const NH_KIND = new Uint8Array(256);
NH_KIND[NH_TCP] = K_UPPER;
NH_KIND[NH_UDP] = K_UPPER;
NH_KIND[NH_ICMPV6] = K_UPPER;
NH_KIND[NH_NONE] = K_UPPER;
NH_KIND[NH_HOP_BY_HOP] = K_HOP_BY_HOP;
NH_KIND[NH_ROUTING] = K_ROUTING;
NH_KIND[NH_FRAGMENT] = K_FRAGMENT;
NH_KIND[NH_DEST_OPTS] = K_DEST_OPTS;

// Module-local copies of exported constants (why: docs/platform.md, the hot path in JavaScript).
const C_HEADER_LEN = HEADER_LEN;
const C_MAX_EXT_HEADERS = MAX_EXT_HEADERS;
const C_MAX_EXT_BYTES = MAX_EXT_BYTES;
const C_WALK_FRAGMENT = WALK_FRAGMENT;
const C_WALK_NOT_FIRST = WALK_NOT_FIRST;

/** Version field (6 for IPv6). */
export function version(v: DataView, o: number): number {
  return v.getUint8(o + F_VER_TC_FL) >>> 4;
}
/** Traffic Class (DSCP and ECN). */
export function trafficClass(v: DataView, o: number): number {
  return (v.getUint16(o + F_VER_TC_FL) >>> 4) & 0xff;
}
/** Flow Label, 20 bits. */
export function flowLabel(v: DataView, o: number): number {
  return v.getInt32(o + F_VER_TC_FL) & 0xfffff;
}
/** Payload Length: bytes after the 40-byte header, extension headers included. */
export function payloadLen(v: DataView, o: number): number {
  return v.getUint16(o + F_PAYLOAD_LEN);
}
/** Next Header of the fixed header (an extension header or the upper layer). */
export function nextHeader(v: DataView, o: number): number {
  return v.getUint8(o + F_NEXT_HEADER);
}
/** Hop Limit. */
export function hopLimit(v: DataView, o: number): number {
  return v.getUint8(o + F_HOP_LIMIT);
}
/** Word `i` (0..3) of the source address as int32. */
export function srcWord(v: DataView, o: number, i: number): number {
  return v.getInt32(o + F_SRC + (i << 2));
}
/** Word `i` (0..3) of the destination address as int32. */
export function dstWord(v: DataView, o: number, i: number): number {
  return v.getInt32(o + F_DST + (i << 2));
}
/** Absolute offset of the source address (the destination follows it: the pseudo-header's 32 bytes). */
export function srcOffset(o: number): number {
  return o + F_SRC;
}
/** Absolute offset of the destination address. */
export function dstOffset(o: number): number {
  return o + F_DST;
}

/** Write version 6, traffic class and flow label. */
export function setVersionTcFl(v: DataView, o: number, tc: number, fl: number): void {
  v.setInt32(o + F_VER_TC_FL, (6 << 28) | ((tc & 0xff) << 20) | (fl & 0xfffff));
}
export function setPayloadLen(v: DataView, o: number, x: number): void {
  v.setUint16(o + F_PAYLOAD_LEN, x);
}
export function setNextHeader(v: DataView, o: number, x: number): void {
  v.setUint8(o + F_NEXT_HEADER, x);
}
export function setHopLimit(v: DataView, o: number, x: number): void {
  v.setUint8(o + F_HOP_LIMIT, x);
}
/** Write the source address from four int32 words (no checksum here: the caller updates the upper layer's). */
export function setSrcWords(v: DataView, o: number, a0: number, a1: number, a2: number, a3: number): void {
  v.setInt32(o + F_SRC, a0);
  v.setInt32(o + F_SRC + 4, a1);
  v.setInt32(o + F_SRC + 8, a2);
  v.setInt32(o + F_SRC + 12, a3);
}
/** Write the destination address from four int32 words. */
export function setDstWords(v: DataView, o: number, a0: number, a1: number, a2: number, a3: number): void {
  v.setInt32(o + F_DST, a0);
  v.setInt32(o + F_DST + 4, a1);
  v.setInt32(o + F_DST + 8, a2);
  v.setInt32(o + F_DST + 12, a3);
}
/**
 * Decrement the Hop Limit (no header checksum to update, RFC 8200 §3). The caller checks `hopLimit > 1` first;
 * at 1 the packet is answered with ICMPv6 Time Exceeded (icmpv6.ts).
 */
export function decHopLimit(v: DataView, o: number): void {
  v.setUint8(o + F_HOP_LIMIT, v.getUint8(o + F_HOP_LIMIT) - 1);
}

/** True when the 16 bytes at `p` of `v` equal the 16 bytes at `q` of `w`. */
export function addrEqual(v: DataView, p: number, w: DataView, q: number): boolean {
  return (
    v.getInt32(p) === w.getInt32(q) &&
    v.getInt32(p + 4) === w.getInt32(q + 4) &&
    v.getInt32(p + 8) === w.getInt32(q + 8) &&
    v.getInt32(p + 12) === w.getInt32(q + 12)
  );
}
/** True for :: (the unspecified address, RFC 4291 §2.5.2). */
export function isUnspecified(v: DataView, p: number): boolean {
  return (v.getInt32(p) | v.getInt32(p + 4) | v.getInt32(p + 8) | v.getInt32(p + 12)) === 0;
}
/** True for a multicast address, ff00::/8 (RFC 4291 §2.7). */
export function isMulticast(v: DataView, p: number): boolean {
  return v.getUint8(p) === 0xff;
}
/** True for a link-local unicast address, fe80::/10 (RFC 4291 §2.5.6). */
export function isLinkLocal(v: DataView, p: number): boolean {
  return (v.getUint16(p) & 0xffc0) === 0xfe80;
}
/** True for the solicited-node multicast address ff02::1:ffXX:XXXX of any target (RFC 4291 §2.7.1). */
export function isSolicitedNode(v: DataView, p: number): boolean {
  return (
    v.getInt32(p) === (0xff020000 | 0) &&
    v.getInt32(p + 4) === 0 &&
    v.getInt32(p + 8) === 1 &&
    v.getUint8(p + 12) === 0xff
  );
}

/**
 * Validate an IPv6 header in `len` bytes at `o`: TRUNCATED below 40 bytes or when Payload Length reaches past
 * `len`; BAD_VERSION when the version is not 6. Trailing bytes after the payload (Ethernet padding) are
 * allowed. A Payload Length of 0 is an empty payload: jumbograms (RFC 2675) do not fit any link this engine
 * serves. After OK every accessor reads inside the header and `40 + payloadLen(v, o) <= len`; run `walk` next.
 */
export function check(v: DataView, o: number, len: number): number {
  if (len < C_HEADER_LEN) return TRUNCATED;
  if (v.getUint8(o + F_VER_TC_FL) >>> 4 !== 6) return BAD_VERSION;
  if (C_HEADER_LEN + v.getUint16(o + F_PAYLOAD_LEN) > len) return TRUNCATED;
  return OK;
}

/**
 * Follow the extension-header chain of the IPv6 packet at `o` within its first `len` bytes (for a packet that
 * passed `check`, `len` = 40 + Payload Length; for the quote of an ICMPv6 error, the bytes quoted).
 *
 * Returns a verdict as a negative number (`-TRUNCATED` ...) or, when the upper-layer header is reached,
 * `(l4 - o) << 10 | flags | proto`: read it with `walkProto`, `walkL4Offset` and `walkIsFragment`. The
 * upper layers are TCP, UDP, ICMPv6 and No Next Header (59). Verdicts:
 * - TRUNCATED: an extension header reaches past `len`;
 * - BAD_FIELD: an option of a Hop-by-Hop or Destination Options header runs past its header (malformed);
 * - HOP_BY_HOP_NOT_FIRST: a Hop-by-Hop header after another extension header (RFC 8200 §4.3);
 * - CHAIN_TOO_LONG: more than `maxHeaders` extension headers, or more than `maxBytes` bytes of them;
 * - UNSUPPORTED: a Routing header with Segments Left > 0: a source route (RFC 8200 §4.4), which this engine
 *   does not follow, as IPv4's LSRR/SSRR (`ipv4.optionsCheck`);
 * - UNKNOWN_NEXT_HEADER: any other Next Header (AH, ESP, Mobility, SCTP, IPv4-in-IPv6 ...): RFC 8200 §4 has a
 *   node that does not recognise a Next Header discard the packet.
 *
 * A Fragment header with offset 0 and M clear (an atomic fragment, RFC 6946) is not a fragment. For a fragment
 * with a non-zero offset the walk stops at its Fragment header: the result's protocol is the fragment's Next
 * Header and its L4 offset points at the fragment data, which is not a header (WALK_NOT_FIRST is set).
 */
export function walk(
  v: DataView,
  o: number,
  len: number,
  maxHeaders = C_MAX_EXT_HEADERS,
  maxBytes = C_MAX_EXT_BYTES,
): number {
  const end = o + len;
  let nh = v.getUint8(o + F_NEXT_HEADER);
  let p = o + C_HEADER_LEN;
  let count = 0;
  let flags = 0;
  for (;;) {
    const k = NH_KIND[nh]!;
    if (k === K_UPPER) return ((p - o) << 10) | flags | nh;
    if (k === K_UNKNOWN) return -UNKNOWN_NEXT_HEADER;
    if (k === K_HOP_BY_HOP && count !== 0) return -HOP_BY_HOP_NOT_FIRST;
    if (++count > maxHeaders) return -CHAIN_TOO_LONG;
    if (p + 2 > end) return -TRUNCATED;
    const hl = k === K_FRAGMENT ? 8 : (v.getUint8(p + 1) + 1) << 3;
    if (p + hl - o - C_HEADER_LEN > maxBytes) return -CHAIN_TOO_LONG;
    if (p + hl > end) return -TRUNCATED;
    if (k === K_FRAGMENT) {
      const w = v.getUint16(p + 2);
      if ((w & 0xfff9) !== 0) flags |= C_WALK_FRAGMENT; // offset (13 bits) or M; the 2 reserved bits ignored
      if ((w & 0xfff8) !== 0) {
        return ((p + 8 - o) << 10) | flags | C_WALK_NOT_FIRST | v.getUint8(p);
      }
    } else if (k === K_ROUTING) {
      if (v.getUint8(p + 3) !== 0) return -UNSUPPORTED;
    } else {
      // Options TLVs (RFC 8200 §4.2): Pad1 is one byte, every other option type, length, data. The options
      // are the destination's (or, for Hop-by-Hop, routers' that look, §4.3), not ours: only their framing is
      // checked. Written inline: a helper call per header cost ~10 ns per header on this machine.
      const e = p + hl;
      let q = p + 2;
      while (q < e) {
        if (v.getUint8(q) === OPT_PAD1) {
          q++;
          continue;
        }
        if (q + 2 > e) return -BAD_FIELD;
        q += 2 + v.getUint8(q + 1);
      }
      if (q !== e) return -BAD_FIELD;
    }
    nh = v.getUint8(p);
    p += hl;
  }
}

/** Upper-layer protocol of a non-negative `walk` result. */
export function walkProto(r: number): number {
  return r & 0xff;
}
/** Absolute offset of the upper-layer header of a non-negative `walk` result for the packet at `o`. */
export function walkL4Offset(o: number, r: number): number {
  return o + (r >>> 10);
}
/** True when a non-negative `walk` result is a fragment (only the first one, offset 0, holds the L4 header). */
export function walkIsFragment(r: number): boolean {
  return (r & C_WALK_FRAGMENT) !== 0;
}
/** True when a non-negative `walk` result is a fragment with a non-zero offset (no L4 header in it). */
export function walkIsNotFirst(r: number): boolean {
  return (r & C_WALK_NOT_FIRST) !== 0;
}

/** One extension header in value form; `data` is everything after Next Header and Hdr Ext Len. */
export interface ExtHeaderRepr {
  /** NH_HOP_BY_HOP, NH_ROUTING, NH_FRAGMENT or NH_DEST_OPTS. */
  type: number;
  /** 6 bytes for a Fragment header (offset word + identification), 8n + 6 bytes for the others. */
  data: Uint8Array;
}

/** Value form of an IPv6 header and its extension headers, for cold paths (tests, ICMPv6 errors, logs). */
export interface Ipv6Repr {
  trafficClass: number;
  flowLabel: number;
  hopLimit: number;
  /** The upper-layer protocol (the Next Header of the last extension header, or of the fixed header). */
  nextHeader: number;
  src: Uint8Array;
  dst: Uint8Array;
  ext: ExtHeaderRepr[];
  /** Length of the upper-layer data after the extension headers. */
  payloadLen: number;
}

/** Parse a packet that passed `check` and whose `walk` result `r` is non-negative. */
export function parse(v: DataView, o: number, r: number): Ipv6Repr {
  const ext: ExtHeaderRepr[] = [];
  const l4 = walkL4Offset(o, r);
  let nh = nextHeader(v, o);
  let p = o + C_HEADER_LEN;
  while (p < l4) {
    const hl = nh === NH_FRAGMENT ? 8 : (v.getUint8(p + 1) + 1) << 3;
    ext.push({ type: nh, data: new Uint8Array(v.buffer, v.byteOffset + p + 2, hl - 2).slice() });
    nh = v.getUint8(p);
    p += hl;
  }
  return {
    trafficClass: trafficClass(v, o),
    flowLabel: flowLabel(v, o),
    hopLimit: hopLimit(v, o),
    nextHeader: nh,
    src: new Uint8Array(v.buffer, v.byteOffset + o + F_SRC, 16).slice(),
    dst: new Uint8Array(v.buffer, v.byteOffset + o + F_DST, 16).slice(),
    ext,
    payloadLen: C_HEADER_LEN + payloadLen(v, o) - (l4 - o),
  };
}

/** Header length `r` emits: 40 plus its extension headers. */
export function reprHeaderLen(r: Ipv6Repr): number {
  let n = C_HEADER_LEN;
  for (const e of r.ext) n += 2 + e.data.length;
  return n;
}

/** Write the header and extension headers of `r` at `o`; returns their length. Throws on a bad extension. */
export function emit(r: Ipv6Repr, v: DataView, o: number): number {
  const hl = reprHeaderLen(r);
  setVersionTcFl(v, o, r.trafficClass, r.flowLabel);
  setPayloadLen(v, o, hl - C_HEADER_LEN + r.payloadLen);
  setHopLimit(v, o, r.hopLimit);
  writeAddr(v, o + F_SRC, r.src);
  writeAddr(v, o + F_DST, r.dst);
  let at = o + F_NEXT_HEADER; // where the current Next Header goes
  let p = o + C_HEADER_LEN;
  for (const e of r.ext) {
    const n = 2 + e.data.length;
    if (e.type === NH_FRAGMENT ? n !== 8 : n % 8 !== 0 || n > 2048)
      throw new RangeError('ipv6: extension header length must be 8 (fragment) or a multiple of 8 up to 2048');
    v.setUint8(at, e.type);
    v.setUint8(p + 1, e.type === NH_FRAGMENT ? 0 : (n >>> 3) - 1);
    new Uint8Array(v.buffer, v.byteOffset + p + 2, e.data.length).set(e.data);
    at = p;
    p += n;
  }
  v.setUint8(at, r.nextHeader);
  return hl;
}

/** Write a 16-byte address. */
export function writeAddr(v: DataView, p: number, a: Uint8Array): void {
  if (a.length !== 16) throw new RangeError('ipv6: an address is 16 bytes');
  new Uint8Array(v.buffer, v.byteOffset + p, 16).set(a);
}

/** The four int32 words of a 16-byte address (cold path: tables keep these). */
export function addrWords(a: Uint8Array): [number, number, number, number] {
  const d = new DataView(a.buffer, a.byteOffset, 16);
  return [d.getInt32(0), d.getInt32(4), d.getInt32(8), d.getInt32(12)];
}

/**
 * RFC 5952 text of the 16 bytes at `p` (lower case, no leading zeros, the first longest run of two or more zero
 * groups as `::`). That is the WHATWG URL host serializer's rule, so the URL parser does it (cold path: logs,
 * tests).
 */
export function addrToString(v: DataView, p: number): string {
  let s = v.getUint16(p).toString(16);
  for (let i = 1; i < 8; i++) s += ':' + v.getUint16(p + 2 * i).toString(16);
  return new URL(`http://[${s}]/`).hostname.slice(1, -1);
}

/** `addrToString` of a 16-byte array. */
export function addrBytesToString(a: Uint8Array): string {
  return addrToString(new DataView(a.buffer, a.byteOffset, a.length), 0);
}

/**
 * Parse IPv6 text (RFC 4291 §2.2: hex groups, at most one `::`, an optional dotted-quad tail) to 16 bytes;
 * null for anything else (zone indices and prefix lengths included).
 */
export function parseAddr(s: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(s)) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const x = parts[i]!;
      if (i === parts.length - 1 && x.includes('.')) {
        const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(x);
        if (!m) return null;
        const b = m.slice(1).map(Number);
        if (b.some((n, k) => n > 255 || (m[k + 1]!.length > 1 && m[k + 1]![0] === '0'))) return null;
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(x)) return null;
        out.push(parseInt(x, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const n = head.length + tail.length;
  if (halves.length === 2 ? n > 7 : n !== 8) return null;
  const all = [...head, ...new Array<number>(8 - n).fill(0), ...tail];
  const a = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    a[2 * i] = all[i]! >>> 8;
    a[2 * i + 1] = all[i]! & 0xff;
  }
  return a;
}
