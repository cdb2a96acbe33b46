/**
 * Neighbor Discovery for IPv6, RFC 4861 (message formats §4, option formats §4.6, validation §6.1 and §7.1,
 * sending advertisements §7.2.4 and §7.2.6). The messages are ICMPv6 (icmpv6.ts) types 133..137; offsets
 * below are from the start of the ICMPv6 message.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Type      |     Code      |          Checksum             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           Reserved                            |   Router Solicitation (133), Neighbor
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Solicitation (135)
 *    |R|S|O|                     Reserved                            |   Neighbor Advertisement (136)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    +                       Target Address                          +   NS, NA (and Redirect, then its
 *    |                     (128 bits, not multicast)                 |   Destination Address)
 *    +                                                               +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   Options ...
 *    +-+-+-+-+-+-+-+-+-+-+-+-
 *
 *    Router Advertisement (134):
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    | Cur Hop Limit |M|O|  Reserved |       Router Lifetime         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                         Reachable Time                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                          Retrans Timer                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   Options ...
 *
 *    Options (§4.6): Length in units of 8 bytes, type and length included; 0 is invalid.
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Type      |    Length     |    Link-Layer Address ...     |   Source (1) / Target (2)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Link-Layer Address: 8 bytes
 *
 * Every NDP message must arrive with Hop Limit 255 (§6.1, §7.1): a router would have decremented it, so a
 * message with less came from off-link. The unsolicited Neighbor Advertisement with the Override flag to
 * all-nodes (ff02::1, §7.2.6) is IPv6's gratuitous ARP, what a node sends when it takes an egress IP over;
 * a solicited one (§7.2.4) answers a Neighbor Solicitation for an address the node owns.
 */
import * as ethernet from './ethernet.js';
import * as icmpv6 from './icmpv6.js';
import * as ipv6 from './ipv6.js';
import * as V from './verdict.js';

// Local bindings of imported hot-path values (why: docs/platform.md, the hot path in JavaScript).
const { BAD_FIELD, BAD_HOP_LIMIT, CHAIN_TOO_LONG, OK, TRUNCATED, UNSUPPORTED } = V;

export const TYPE_ROUTER_SOLICIT = icmpv6.TYPE_ROUTER_SOLICIT;
export const TYPE_ROUTER_ADVERT = icmpv6.TYPE_ROUTER_ADVERT;
export const TYPE_NEIGHBOR_SOLICIT = icmpv6.TYPE_NEIGHBOR_SOLICIT;
export const TYPE_NEIGHBOR_ADVERT = icmpv6.TYPE_NEIGHBOR_ADVERT;
export const TYPE_REDIRECT = icmpv6.TYPE_REDIRECT;

/** The Hop Limit every NDP message is sent and must be received with. */
export const HOP_LIMIT = 255;

/** Neighbor Advertisement flags, as the byte after the checksum (§4.4). */
export const FLAG_ROUTER = 0x80;
export const FLAG_SOLICITED = 0x40;
export const FLAG_OVERRIDE = 0x20;
/** Router Advertisement flags (§4.2): managed address configuration, other configuration. */
export const RA_FLAG_MANAGED = 0x80;
export const RA_FLAG_OTHER = 0x40;

/** Option types (§4.6). */
export const OPT_SOURCE_LLA = 1;
export const OPT_TARGET_LLA = 2;
export const OPT_PREFIX_INFO = 3;
export const OPT_REDIRECTED_HEADER = 4;
export const OPT_MTU = 5;
/** Length of a link-layer address option for Ethernet (type, length 1, 6-byte MAC). */
export const LLA_OPT_LEN = 8;
/** Most options `checkOptions` walks (a bound on work; any real message has a handful). */
export const MAX_OPTIONS = 32;

/** Length of NS and NA without options (8 + 16-byte target). */
export const NS_LEN = 24;
export const NA_LEN = 24;
/** Length of RS (8) and RA (16) without options, and of a Redirect (8 + target + destination). */
export const RS_LEN = 8;
export const RA_LEN = 16;
export const REDIRECT_LEN = 40;
/** An Ethernet frame with an NS or NA carrying one link-layer address option: 14 + 40 + 24 + 8. */
export const FRAME_LEN = ethernet.HEADER_LEN + ipv6.HEADER_LEN + NA_LEN + LLA_OPT_LEN;

/** ff02::1, the all-nodes multicast address (RFC 4291 §2.7.1). Do not modify. */
export const ALL_NODES: Uint8Array = new Uint8Array([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/** ff02::2, the all-routers multicast address. Do not modify. */
export const ALL_ROUTERS: Uint8Array = new Uint8Array([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);

const F_CODE = 1;
const F_FLAGS = 4;
const F_RA_HOP_LIMIT = 4;
const F_RA_FLAGS = 5;
const F_RA_LIFETIME = 6;
const F_RA_REACHABLE = 8;
const F_RA_RETRANS = 12;
const F_TARGET = 8;
const F_REDIRECT_DST = 24;

// Module-local copies of exported constants (why: docs/platform.md, the hot path in JavaScript).
const C_MAX_OPTIONS = MAX_OPTIONS;

/** True for the NDP types (133..137). */
export function isNdp(type: number): boolean {
  return type >= 133 && type <= 137;
}

/** Length of the fixed part (options follow it) of an NDP message of `type`, or -1 for a non-NDP type. */
export function fixedLen(type: number): number {
  switch (type) {
    case TYPE_ROUTER_SOLICIT:
      return RS_LEN;
    case TYPE_ROUTER_ADVERT:
      return RA_LEN;
    case TYPE_NEIGHBOR_SOLICIT:
      return NS_LEN;
    case TYPE_NEIGHBOR_ADVERT:
      return NA_LEN;
    case TYPE_REDIRECT:
      return REDIRECT_LEN;
    default:
      return -1;
  }
}

/** NA flags byte (FLAG_ROUTER | FLAG_SOLICITED | FLAG_OVERRIDE). */
export function naFlags(v: DataView, o: number): number {
  return v.getUint8(o + F_FLAGS) & 0xe0;
}
/** Absolute offset of the Target Address (NS, NA, Redirect). */
export function targetOffset(o: number): number {
  return o + F_TARGET;
}
/** Absolute offset of a Redirect's Destination Address. */
export function redirectDstOffset(o: number): number {
  return o + F_REDIRECT_DST;
}
/** RA Cur Hop Limit. */
export function raHopLimit(v: DataView, o: number): number {
  return v.getUint8(o + F_RA_HOP_LIMIT);
}
/** RA flags byte (RA_FLAG_MANAGED | RA_FLAG_OTHER, upper bits). */
export function raFlags(v: DataView, o: number): number {
  return v.getUint8(o + F_RA_FLAGS);
}
/** RA Router Lifetime, seconds (0: not a default router). */
export function raRouterLifetime(v: DataView, o: number): number {
  return v.getUint16(o + F_RA_LIFETIME);
}
/** RA Reachable Time, milliseconds. */
export function raReachableTime(v: DataView, o: number): number {
  return v.getUint32(o + F_RA_REACHABLE);
}
/** RA Retrans Timer, milliseconds. */
export function raRetransTimer(v: DataView, o: number): number {
  return v.getUint32(o + F_RA_RETRANS);
}
/** Type of the option at absolute offset `p`. */
export function optType(v: DataView, p: number): number {
  return v.getUint8(p);
}
/** Length in bytes of the option at `p` (8 × its Length field). */
export function optLen(v: DataView, p: number): number {
  return v.getUint8(p + 1) << 3;
}
/** Link-layer address of an Ethernet source/target LLA option at `p`: first two bytes. */
export function llaHi16(v: DataView, p: number): number {
  return v.getUint16(p + 2);
}
/** Link-layer address of an Ethernet LLA option at `p`: last four bytes as int32. */
export function llaLo32(v: DataView, p: number): number {
  return v.getInt32(p + 4);
}

/**
 * Walk the options from `p` to `end` (§4.6): OK when they fill the range exactly; BAD_FIELD for a Length of 0
 * ("Nodes MUST silently discard an ND packet that contains an option with length zero", §4.6) or an option
 * running past `end`; CHAIN_TOO_LONG beyond MAX_OPTIONS options.
 */
export function checkOptions(v: DataView, p: number, end: number): number {
  let n = 0;
  while (p < end) {
    if (++n > C_MAX_OPTIONS) return CHAIN_TOO_LONG;
    if (p + 2 > end) return BAD_FIELD;
    const l = v.getUint8(p + 1) << 3;
    if (l === 0 || p + l > end) return BAD_FIELD;
    p += l;
  }
  return OK;
}

/** Offset of the first option of `type` between `p` and `end` (which passed `checkOptions`), or -1. */
export function findOption(v: DataView, p: number, end: number, type: number): number {
  while (p < end) {
    if (v.getUint8(p) === type) return p;
    p += v.getUint8(p + 1) << 3;
  }
  return -1;
}

/**
 * The Ethernet address of the LLA option of `type` (OPT_SOURCE_LLA / OPT_TARGET_LLA) in the message of `len`
 * bytes at `o` that passed `check`: the option's offset, or -1 when there is none or it is not 8 bytes.
 */
export function llaOption(v: DataView, o: number, len: number, type: number): number {
  const fl = fixedLen(v.getUint8(o));
  if (fl < 0) return -1;
  const p = findOption(v, o + fl, o + len, type);
  return p >= 0 && v.getUint8(p + 1) === 1 ? p : -1;
}

/**
 * Validate the NDP message of `len` bytes at `o` under the IPv6 header at `ipOff` (which passed `ipv6.check`;
 * `len` is the ICMPv6 length from `ipv6.walk`), RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2, §8.1:
 * - BAD_HOP_LIMIT: IPv6 Hop Limit not 255;
 * - TRUNCATED: shorter than the type's fixed part;
 * - BAD_FIELD: ICMP Code not 0; an option of length 0 or past the end; a multicast Target Address; an NS from
 *   the unspecified address (Duplicate Address Detection) that is not sent to a solicited-node address or
 *   carries a source LLA option; an RS from the unspecified address with a source LLA option; an NA to a
 *   multicast address with the Solicited flag; an RA or Redirect whose source is not link-local;
 * - CHAIN_TOO_LONG: more than MAX_OPTIONS options;
 * - UNSUPPORTED: not an NDP type.
 * The ICMPv6 checksum is the caller's to verify (`icmpv6.checksumOk`).
 */
export function check(v: DataView, ipOff: number, o: number, len: number): number {
  if (len < 8) return TRUNCATED;
  const t = v.getUint8(o);
  const fl = fixedLen(t);
  if (fl < 0) return UNSUPPORTED;
  if (v.getUint8(ipOff + 7) !== HOP_LIMIT) return BAD_HOP_LIMIT;
  if (v.getUint8(o + F_CODE) !== 0) return BAD_FIELD;
  if (len < fl) return TRUNCATED;
  const r = checkOptions(v, o + fl, o + len);
  if (r !== OK) return r;
  const src = ipOff + 8;
  const dst = ipOff + 24;
  if (t === TYPE_NEIGHBOR_SOLICIT || t === TYPE_NEIGHBOR_ADVERT) {
    if (ipv6.isMulticast(v, o + F_TARGET)) return BAD_FIELD;
  }
  if (t === TYPE_NEIGHBOR_SOLICIT && ipv6.isUnspecified(v, src)) {
    if (!ipv6.isSolicitedNode(v, dst)) return BAD_FIELD;
    if (findOption(v, o + fl, o + len, OPT_SOURCE_LLA) >= 0) return BAD_FIELD;
  }
  if (t === TYPE_ROUTER_SOLICIT && ipv6.isUnspecified(v, src)) {
    if (findOption(v, o + fl, o + len, OPT_SOURCE_LLA) >= 0) return BAD_FIELD;
  }
  if (t === TYPE_NEIGHBOR_ADVERT && ipv6.isMulticast(v, dst) && (v.getUint8(o + F_FLAGS) & FLAG_SOLICITED) !== 0) {
    return BAD_FIELD;
  }
  if ((t === TYPE_ROUTER_ADVERT || t === TYPE_REDIRECT) && !ipv6.isLinkLocal(v, src)) return BAD_FIELD;
  return OK;
}

// --- Addresses ---

/** The solicited-node multicast address of `target` (ff02::1:ff + its last 24 bits, RFC 4291 §2.7.1). */
export function solicitedNode(target: Uint8Array): Uint8Array {
  const a = new Uint8Array([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0]);
  a.set(target.subarray(13, 16), 13);
  return a;
}

/** Write the Ethernet multicast MAC of the IPv6 multicast address at `p` (33:33 + its last 32 bits, RFC 2464 §7). */
export function writeMulticastMac(v: DataView, o: number, p: number): void {
  v.setUint16(o, 0x3333);
  v.setInt32(o + 2, v.getInt32(p + 12));
}

// --- Value form ---

/** One option in value form; `data` is everything after Type and Length (8n − 2 bytes). */
export interface NdpOption {
  type: number;
  data: Uint8Array;
}

/** Value form of an NDP message (cold path). */
export interface NdpRepr {
  type: number;
  /**
   * The 32-bit word after the checksum, as int32: NA flags in the top byte (FLAG_* << 24); RA Cur Hop Limit,
   * flags and Router Lifetime; 0 for RS, NS and Redirect.
   */
  word: number;
  /** RA Reachable Time and Retrans Timer (0 for other types). */
  reachableTime: number;
  retransTimer: number;
  /** NS, NA, Redirect: Target Address; null otherwise. */
  target: Uint8Array | null;
  /** Redirect: Destination Address; null otherwise. */
  destination: Uint8Array | null;
  options: NdpOption[];
}

/** Parse a message of `len` bytes that passed `check`. */
export function parse(v: DataView, o: number, len: number): NdpRepr {
  const t = v.getUint8(o);
  const fl = fixedLen(t);
  const bytes = (p: number, n: number) => new Uint8Array(v.buffer, v.byteOffset + p, n).slice();
  const options: NdpOption[] = [];
  for (let p = o + fl; p < o + len; p += optLen(v, p))
    options.push({ type: optType(v, p), data: bytes(p + 2, optLen(v, p) - 2) });
  const ra = t === TYPE_ROUTER_ADVERT;
  return {
    type: t,
    word: v.getInt32(o + 4),
    reachableTime: ra ? raReachableTime(v, o) : 0,
    retransTimer: ra ? raRetransTimer(v, o) : 0,
    target: fl >= 24 ? bytes(o + F_TARGET, 16) : null,
    destination: t === TYPE_REDIRECT ? bytes(o + F_REDIRECT_DST, 16) : null,
    options,
  };
}

/** Message length `r` emits. */
export function reprLen(r: NdpRepr): number {
  let n = fixedLen(r.type);
  for (const opt of r.options) n += 2 + opt.data.length;
  return n;
}

/**
 * Write `r` at `o` with its ICMPv6 checksum over the pseudo-header of the IPv6 header at `ipOff` (addresses
 * written already); returns the message length. Throws RangeError on a non-NDP type or a bad option.
 */
export function emit(r: NdpRepr, v: DataView, ipOff: number, o: number): number {
  const fl = fixedLen(r.type);
  if (fl < 0) throw new RangeError(`ndp: type ${r.type} is not an NDP message`);
  const len = reprLen(r);
  new Uint8Array(v.buffer, v.byteOffset + o, fl).fill(0);
  v.setUint8(o, r.type);
  v.setInt32(o + 4, r.word);
  if (r.type === TYPE_ROUTER_ADVERT) {
    v.setUint32(o + F_RA_REACHABLE, r.reachableTime);
    v.setUint32(o + F_RA_RETRANS, r.retransTimer);
  }
  if (fl >= 24) ipv6.writeAddr(v, o + F_TARGET, r.target ?? new Uint8Array(16));
  if (r.type === TYPE_REDIRECT) ipv6.writeAddr(v, o + F_REDIRECT_DST, r.destination ?? new Uint8Array(16));
  let p = o + fl;
  for (const opt of r.options) {
    const n = 2 + opt.data.length;
    if (n % 8 !== 0 || n > 2040) throw new RangeError('ndp: an option is a multiple of 8 bytes up to 2040');
    v.setUint8(p, opt.type);
    v.setUint8(p + 1, n >>> 3);
    new Uint8Array(v.buffer, v.byteOffset + p + 2, opt.data.length).set(opt.data);
    p += n;
  }
  icmpv6.fillChecksum(v, ipOff, o, len);
  return len;
}

// --- Builders (the frames an agent sends) ---

/**
 * Ethernet + IPv6 header of an NDP frame at `o`: MACs as given (`dstMac` null: the multicast MAC of `dst`),
 * EtherType 0x86dd, Hop Limit 255, Next Header 58, Payload Length `icmpLen`. Returns the ICMPv6 offset.
 */
function writeHeaders(
  v: DataView,
  o: number,
  dstMac: Uint8Array | null,
  srcMac: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  icmpLen: number,
): number {
  const ip = o + ethernet.HEADER_LEN;
  ipv6.setVersionTcFl(v, ip, 0, 0);
  ipv6.setPayloadLen(v, ip, icmpLen);
  ipv6.setNextHeader(v, ip, icmpv6.PROTO);
  ipv6.setHopLimit(v, ip, HOP_LIMIT);
  ipv6.writeAddr(v, ip + 8, src);
  ipv6.writeAddr(v, ip + 24, dst);
  if (dstMac) ethernet.writeMac(v, o, dstMac);
  else writeMulticastMac(v, o, ip + 24);
  ethernet.writeMac(v, o + 6, srcMac);
  v.setUint16(o + 12, ethernet.ETHERTYPE_IPV6);
  return ip + ipv6.HEADER_LEN;
}

/** NS/NA body at `m`: type, flags byte, target, one Ethernet LLA option of `optType` with `mac`; checksum. */
function writeNeighborMsg(
  v: DataView,
  ip: number,
  m: number,
  type: number,
  flags: number,
  target: DataView,
  targetOff: number,
  optType: number,
  mac: Uint8Array,
): void {
  v.setUint32(m, type << 24); // type, code 0, checksum 0
  v.setUint32(m + 4, flags << 24);
  for (let i = 0; i < 16; i += 4) v.setInt32(m + F_TARGET + i, target.getInt32(targetOff + i));
  v.setUint8(m + NA_LEN, optType);
  v.setUint8(m + NA_LEN + 1, 1);
  ethernet.writeMac(v, m + NA_LEN + 2, mac);
  icmpv6.fillChecksum(v, ip, m, NA_LEN + LLA_OPT_LEN);
}

function view16(a: Uint8Array): DataView {
  return new DataView(a.buffer, a.byteOffset, 16);
}

/**
 * The unsolicited Neighbor Advertisement a node sends when it takes `target` over (§7.2.6), IPv6's gratuitous
 * ARP: Ethernet 33:33:00:00:00:01 from `mac`, IPv6 from `src` (default `target`: an address the interface now
 * has, as Linux `ndisc_send_na` uses the owned address) to all-nodes ff02::1, Hop Limit 255, NA with only the
 * Override flag (not solicited, not a router) and a target LLA option with `mac`. Writes FRAME_LEN (86) bytes.
 */
export function emitUnsolicitedAdvertFrame(
  v: DataView,
  o: number,
  mac: Uint8Array,
  target: Uint8Array,
  src: Uint8Array = target,
): number {
  const m = writeHeaders(v, o, null, mac, src, ALL_NODES, NA_LEN + LLA_OPT_LEN);
  writeNeighborMsg(
    v,
    m - ipv6.HEADER_LEN,
    m,
    TYPE_NEIGHBOR_ADVERT,
    FLAG_OVERRIDE,
    view16(target),
    0,
    OPT_TARGET_LLA,
    mac,
  );
  return FRAME_LEN;
}

/**
 * The Neighbor Solicitation for `target` (address resolution, §7.2.2): Ethernet to the multicast MAC of the
 * solicited-node address, IPv6 from `src` to ff02::1:ffXX:XXXX, Hop Limit 255, a source LLA option with
 * `mac`. Writes FRAME_LEN (86) bytes.
 */
export function emitSolicitFrame(v: DataView, o: number, mac: Uint8Array, src: Uint8Array, target: Uint8Array): number {
  const m = writeHeaders(v, o, null, mac, src, solicitedNode(target), NS_LEN + LLA_OPT_LEN);
  writeNeighborMsg(v, m - ipv6.HEADER_LEN, m, TYPE_NEIGHBOR_SOLICIT, 0, view16(target), 0, OPT_SOURCE_LLA, mac);
  return FRAME_LEN;
}

/**
 * Answer the Neighbor Solicitation frame at `nsEth` of `ns` (Ethernet at `nsEth`, IPv6 at `nsIp`, the NS of
 * `nsLen` bytes at `nsIcmp`, which passed `check`) for a target the caller owns, §7.2.4: from the target
 * address and `mac`, with the Override flag and a target LLA option. To the NS's source with the Solicited
 * flag (Ethernet: its source LLA option, else the frame's source MAC); for a Duplicate Address Detection NS
 * (source ::) to all-nodes ff02::1 without it. Writes FRAME_LEN (86) bytes at `o` of `v` (not overlapping
 * the NS); returns FRAME_LEN.
 */
export function emitSolicitedAdvertFrame(
  v: DataView,
  o: number,
  mac: Uint8Array,
  ns: DataView,
  nsEth: number,
  nsIp: number,
  nsIcmp: number,
  nsLen: number,
): number {
  const dad = ipv6.isUnspecified(ns, nsIp + 8);
  const ip = o + ethernet.HEADER_LEN;
  const m = ip + ipv6.HEADER_LEN;
  // Headers first with all-nodes, then the addresses from the NS (no Uint8Array needed for them).
  writeHeaders(v, o, null, mac, ALL_NODES, ALL_NODES, NA_LEN + LLA_OPT_LEN);
  for (let i = 0; i < 16; i += 4) {
    v.setInt32(ip + 8 + i, ns.getInt32(nsIcmp + F_TARGET + i));
    if (!dad) v.setInt32(ip + 24 + i, ns.getInt32(nsIp + 8 + i));
  }
  if (!dad) {
    const sl = llaOption(ns, nsIcmp, nsLen, OPT_SOURCE_LLA);
    const from = sl >= 0 ? sl + 2 : nsEth + 6;
    v.setUint16(o, ns.getUint16(from));
    v.setInt32(o + 2, ns.getInt32(from + 2));
  }
  const flags = dad ? FLAG_OVERRIDE : FLAG_OVERRIDE | FLAG_SOLICITED;
  writeNeighborMsg(v, ip, m, TYPE_NEIGHBOR_ADVERT, flags, ns, nsIcmp + F_TARGET, OPT_TARGET_LLA, mac);
  return FRAME_LEN;
}
