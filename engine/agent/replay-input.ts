/**
 * What replay reads from a capture record before the cluster sees it: the link layer (which link types,
 * where the IP header starts, whether the capturing host sent the packet itself) and the address mapping
 * (`--map-addr`, `--map-pod`, as tcprewrite's `--pnat`).
 *
 * Link types (https://www.tcpdump.org/linktypes.html):
 *
 *     1   ETHERNET   dst(6) src(6) [802.1Q/802.1ad tag(4)]... EtherType(2)
 *     0   NULL       AF family(4, host byte order of the capturing machine): 2 = IPv4, 24/28/30 = IPv6
 *     108 LOOP       AF family(4, network byte order)
 *     101 RAW        IPv4 or IPv6 by the version nibble; 228 IPV4; 229 IPV6
 *     113 LINUX_SLL  packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2)                    16 bytes
 *     276 LINUX_SLL2 protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8)  20 bytes
 *
 * The SLL packet type tells where the capturing host saw the packet: 0 to us, 1 broadcast, 2 multicast,
 * 3 to another host, 4 sent by us (`PACKET_OUTGOING`, include/uapi/linux/if_packet.h). `tcpdump -i any` on a
 * node sees a pod's packet coming in on its interface and, SNATed, going out on the uplink; replay makes the
 * cluster's output itself, so outgoing copies are skipped (counted), and what came in is replayed.
 *
 * Cold code except `decode`, `Mapping.apply` and `Mapping.apply6`, which read bytes in place and allocate nothing.
 */
import { checksum, ipv4, ipv6, tcp, udp } from '../wire/index.js';
import { maskInt32 } from '../policy/index.js';

export const LT_NULL = 0;
export const LT_ETHERNET = 1;
export const LT_RAW = 101;
export const LT_LOOP = 108;
export const LT_SLL = 113;
export const LT_IPV4 = 228;
export const LT_IPV6 = 229;
export const LT_SLL2 = 276;

/** Link types replay reads, with their names (for messages). */
export const SUPPORTED_LINK_TYPES: ReadonlyMap<number, string> = new Map([
  [LT_ETHERNET, 'ETHERNET'],
  [LT_NULL, 'NULL'],
  [LT_LOOP, 'LOOP'],
  [LT_RAW, 'RAW'],
  [LT_IPV4, 'IPV4'],
  [LT_IPV6, 'IPV6'],
  [LT_SLL, 'LINUX_SLL'],
  [LT_SLL2, 'LINUX_SLL2'],
]);

/** Names of some link types replay does not read (for a clear refusal). */
const OTHER_LINK_TYPES: ReadonlyMap<number, string> = new Map([
  [6, 'IEEE802_5'],
  [9, 'PPP'],
  [50, 'PPP_HDLC'],
  [104, 'C_HDLC'],
  [105, 'IEEE802_11'],
  [127, 'IEEE802_11_RADIOTAP'],
  [147, 'USER0'],
  [192, 'PPI'],
  [220, 'USB_LINUX_MMAPPED'],
  [249, 'NETLINK'],
  [252, 'WIRESHARK_UPPER_PDU'],
  [253, 'NETLINK'],
]);

export function linkTypeName(lt: number): string {
  return SUPPORTED_LINK_TYPES.get(lt) ?? OTHER_LINK_TYPES.get(lt) ?? 'unknown';
}

/** What a record is, as `decode` tells (its `kind`). */
export const K_IPV4 = 0;
/** An Ethernet frame that is not IPv4 (ARP, IPv6, other EtherTypes, tags beyond two), or any frame to a node. */
export const K_FRAME = 1;
/** IPv6 on a link without Ethernet. */
export const K_IPV6 = 2;
/** Another protocol on a cooked or loopback link. */
export const K_NOT_IP = 3;
/** ARP on a cooked link (the simulation resolves addresses itself). */
export const K_COOKED_ARP = 4;
/** The link header is cut short. */
export const K_TRUNCATED = 5;
/** Sent by the capturing host (SLL packet type 4). */
export const K_OUTGOING = 6;

/** Result of `decode`, in fields of one reused object (no allocation per record). */
export class Decoded {
  kind = K_IPV4;
  /** Offset of the IP header from the record's first byte (K_IPV4, K_IPV6). */
  l3 = 0;
}

/**
 * Decode the link layer of `u8[off .. off+len)` of link type `lt` (one of SUPPORTED_LINK_TYPES) into `d`.
 * Ethernet: IPv4 after up to two VLAN tags is K_IPV4 (the tags are the capture's, the segment has none), anything
 * else a K_FRAME to be put on the segment as it is.
 */
export function decode(u8: Uint8Array, off: number, len: number, lt: number, d: Decoded): void {
  let et: number;
  let l3: number;
  switch (lt) {
    case LT_ETHERNET: {
      if (len < 14) {
        d.kind = K_FRAME; // the segment counts runts
        return;
      }
      l3 = 14;
      et = (u8[off + 12]! << 8) | u8[off + 13]!;
      for (let tags = 0; (et === 0x8100 || et === 0x88a8) && tags < 2; tags++) {
        if (len < l3 + 4) break;
        et = (u8[off + l3 + 2]! << 8) | u8[off + l3 + 3]!;
        l3 += 4;
      }
      d.kind = et === 0x0800 && len >= l3 + 20 ? K_IPV4 : K_FRAME;
      d.l3 = l3;
      return;
    }
    case LT_RAW:
    case LT_IPV4:
    case LT_IPV6: {
      const ver = len > 0 ? u8[off]! >> 4 : 0;
      d.l3 = 0;
      d.kind = ver === 4 && lt !== LT_IPV6 ? K_IPV4 : ver === 6 && lt !== LT_IPV4 ? K_IPV6 : K_TRUNCATED;
      return;
    }
    case LT_NULL:
    case LT_LOOP: {
      if (len < 4) {
        d.kind = K_TRUNCATED;
        return;
      }
      // NULL is in the capturing host's byte order: read both ways (AF values are small).
      const be = ((u8[off]! << 24) | (u8[off + 1]! << 16) | (u8[off + 2]! << 8) | u8[off + 3]!) >>> 0;
      const le = ((u8[off + 3]! << 24) | (u8[off + 2]! << 16) | (u8[off + 1]! << 8) | u8[off]!) >>> 0;
      const af = lt === LT_LOOP ? be : be < 256 ? be : le;
      d.l3 = 4;
      d.kind = af === 2 ? K_IPV4 : af === 24 || af === 28 || af === 30 ? K_IPV6 : K_NOT_IP;
      if (d.kind === K_IPV4 && len < 24) d.kind = K_TRUNCATED;
      return;
    }
    case LT_SLL:
    case LT_SLL2: {
      const hl = lt === LT_SLL ? 16 : 20;
      if (len < hl) {
        d.kind = K_TRUNCATED;
        return;
      }
      const ptype = lt === LT_SLL ? (u8[off]! << 8) | u8[off + 1]! : u8[off + 10]!;
      et = lt === LT_SLL ? (u8[off + 14]! << 8) | u8[off + 15]! : (u8[off]! << 8) | u8[off + 1]!;
      d.l3 = hl;
      if (ptype === 4) d.kind = K_OUTGOING;
      else if (et === 0x0800) d.kind = len >= hl + 20 ? K_IPV4 : K_TRUNCATED;
      else if (et === 0x86dd) d.kind = K_IPV6;
      else if (et === 0x0806) d.kind = K_COOKED_ARP;
      else d.kind = K_NOT_IP;
      return;
    }
    default:
      d.kind = K_NOT_IP;
  }
}

// ---- address mapping ------------------------------------------------------------------------------------

export class MappingError extends Error {
  override readonly name = 'MappingError';
}

export interface MapRule {
  /** What the flag said, for messages. */
  text: string;
  /** IPv4 rules: the prefixes (0 for an IPv6 rule). */
  from: number;
  to: number;
  len: number;
  /** IPv6 rules: the prefixes as four int32 words each (`len` up to 128); absent for IPv4. */
  from6?: readonly number[];
  to6?: readonly number[];
}

/** The four int32 words of an IPv6 prefix mask of `len` bits. */
export function mask6(len: number): [number, number, number, number] {
  const w = (i: number): number => (len >= 32 * (i + 1) ? -1 : len <= 32 * i ? 0 : maskInt32(len - 32 * i));
  return [w(0), w(1), w(2), w(3)];
}

type Cidr = { v6: false; addr: number; len: number } | { v6: true; words: number[]; len: number };

function parseCidr(s: string, what: string): Cidr {
  const t = s.trim();
  const m = /^([0-9A-Fa-f:.]+)(?:\/(\d{1,3}))?$/.exec(t);
  const text = m ? m[1]! : '';
  const v4 = m && !text.includes(':') ? ipv4.parseAddr(text) : null;
  const a6 = m && text.includes(':') ? ipv6.parseAddr(text) : null;
  const len = m && m[2] !== undefined ? Number(m[2]) : a6 ? 128 : 32;
  if (!m || (v4 === null && a6 === null) || len > (a6 ? 128 : 32))
    throw new MappingError(`${what}: "${s}" is not an IPv4 or IPv6 address or CIDR`);
  if (a6) {
    const words = ipv6.addrWords(a6);
    const mk = mask6(len);
    if (words.some((x, i) => (x & ~mk[i]!) !== 0)) {
      const net = new Uint8Array(16);
      const dv = new DataView(net.buffer);
      words.forEach((x, i) => dv.setInt32(i * 4, x & mk[i]!));
      throw new MappingError(`${what}: ${s} has host bits set (the network is ${ipv6.addrBytesToString(net)}/${len})`);
    }
    return { v6: true, words, len };
  }
  const addr = v4!;
  if ((addr & ~maskInt32(len)) !== 0)
    throw new MappingError(
      `${what}: ${s} has host bits set (the network is ${ipv4.addrToString(addr & maskInt32(len))}/${len})`,
    );
  return { v6: false, addr, len };
}

/** Parse one `--map-addr FROM_CIDR=TO_CIDR` (prefix-preserving: both prefixes of one length). */
export function parseMapAddr(text: string): MapRule {
  const what = `--map-addr ${text}`;
  const eq = text.indexOf('=');
  if (eq < 0)
    throw new MappingError(
      `${what}: expected FROM_CIDR=TO_CIDR (e.g. 10.244.0.0/16=198.19.0.0/16, fd00:10:244:1::/64=2001:2:0:101::/64)`,
    );
  const from = parseCidr(text.slice(0, eq), what);
  const to = parseCidr(text.slice(eq + 1), what);
  if (from.len !== to.len && from.v6 === to.v6)
    throw new MappingError(
      `${what}: the prefixes differ in length (/${from.len} and /${to.len}); the host part is kept, so they must match`,
    );
  if (from.v6 && to.v6)
    return { text: `--map-addr ${text}`, from: 0, to: 0, len: from.len, from6: from.words, to6: to.words };
  if (!from.v6 && !to.v6) return { text: `--map-addr ${text}`, from: from.addr, to: to.addr, len: from.len };
  throw new MappingError(
    `${what}: ${from.v6 ? 'IPv6' : 'IPv4'} onto ${to.v6 ? 'IPv6' : 'IPv4'}; both sides must be of one family`,
  );
}

/**
 * A set of prefix mappings, applied to both addresses of every IPv4 and IPv6 packet (so both directions of a flow
 * map alike), with the IPv4 header checksum and the TCP/UDP (and, over IPv6, ICMPv6: its pseudo-header has the
 * addresses) checksum updated incrementally (RFC 1624). The rules of one family must not overlap on either side:
 * one address maps one way, and the mapping can be undone (`unmap`).
 */
export class Mapping {
  readonly rules: readonly MapRule[];
  private readonly from: Int32Array;
  private readonly to: Int32Array;
  private readonly masks: Int32Array;
  /** IPv6 rules, four words per rule: prefixes and masks. */
  private readonly from6: Int32Array;
  private readonly to6: Int32Array;
  private readonly masks6: Int32Array;
  /** Packets with at least one address rewritten. */
  mapped = 0;

  constructor(rules: readonly MapRule[]) {
    for (let i = 0; i < rules.length; i++)
      for (let j = 0; j < i; j++) {
        const a = rules[i]!;
        const b = rules[j]!;
        if ((a.from6 === undefined) !== (b.from6 === undefined)) continue;
        if (a.from6 && b.from6) {
          const m = mask6(Math.min(a.len, b.len));
          const same = (x: readonly number[], y: readonly number[]): boolean =>
            m.every((k, w) => (x[w]! & k) === (y[w]! & k));
          if (same(a.from6, b.from6)) throw new MappingError(`${a.text} overlaps ${b.text} (source prefixes)`);
          if (same(a.to6!, b.to6!)) throw new MappingError(`${a.text} overlaps ${b.text} (target prefixes)`);
          continue;
        }
        const m = maskInt32(Math.min(a.len, b.len));
        if ((a.from & m) === (b.from & m)) throw new MappingError(`${a.text} overlaps ${b.text} (source prefixes)`);
        if ((a.to & m) === (b.to & m)) throw new MappingError(`${a.text} overlaps ${b.text} (target prefixes)`);
      }
    // Longest prefix first (rules cannot overlap, so the order only makes the common /32s quick).
    this.rules = [...rules].sort((a, b) => b.len - a.len);
    const r4 = this.rules.filter((r) => r.from6 === undefined);
    const r6 = this.rules.filter((r) => r.from6 !== undefined);
    this.from = Int32Array.from(r4.map((r) => r.from));
    this.to = Int32Array.from(r4.map((r) => r.to));
    this.masks = Int32Array.from(r4.map((r) => maskInt32(r.len)));
    this.from6 = Int32Array.from(r6.flatMap((r) => r.from6!));
    this.to6 = Int32Array.from(r6.flatMap((r) => r.to6!));
    this.masks6 = Int32Array.from(r6.flatMap((r) => mask6(r.len)));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The mapped address of `a` (itself when no rule covers it). */
  map(a: number): number {
    const f = this.from;
    const m = this.masks;
    for (let i = 0; i < f.length; i++) if ((a & m[i]!) === f[i]) return this.to[i]! | (a & ~m[i]!);
    return a;
  }

  /** The inverse of `map` (an address of the cluster → the capture's). */
  unmap(a: number): number {
    const t = this.to;
    const m = this.masks;
    for (let i = 0; i < t.length; i++) if ((a & m[i]!) === t[i]) return this.from[i]! | (a & ~m[i]!);
    return a;
  }

  /** The IPv6 rule (its index times 4) whose `pre` prefixes cover the address at `p`, or -1. */
  private find6(pre: Int32Array, v: DataView, p: number): number {
    const m = this.masks6;
    for (let k = 0; k < pre.length; k += 4)
      if (
        (v.getInt32(p) & m[k]!) === pre[k] &&
        (v.getInt32(p + 4) & m[k + 1]!) === pre[k + 1] &&
        (v.getInt32(p + 8) & m[k + 2]!) === pre[k + 2] &&
        (v.getInt32(p + 12) & m[k + 3]!) === pre[k + 3]
      )
        return k;
    return -1;
  }

  /** `map` for IPv6 text (cold: tests, messages). */
  map6(a: string): string {
    return this.text6(a, this.from6, this.to6);
  }

  /** `unmap` for IPv6 text (cold). */
  unmap6(a: string): string {
    return this.text6(a, this.to6, this.from6);
  }

  private text6(a: string, pre: Int32Array, post: Int32Array): string {
    const b = ipv6.parseAddr(a);
    if (!b) return a;
    const v = new DataView(b.buffer);
    const k = this.find6(pre, v, 0);
    if (k < 0) return ipv6.addrBytesToString(b);
    const m = this.masks6;
    for (let i = 0; i < 4; i++) v.setInt32(i * 4, post[k + i]! | (v.getInt32(i * 4) & ~m[k + i]!));
    return ipv6.addrBytesToString(b);
  }

  /**
   * Map both addresses of the IPv4 packet at `o` (header validated by the caller, `len` bytes present),
   * fixing the checksums. ICMP has no pseudo-header; quoted headers inside ICMP errors are left as they are.
   */
  apply(v: DataView, o: number, len: number): void {
    if (this.from.length === 0) return;
    const src = ipv4.src(v, o);
    const dst = ipv4.dst(v, o);
    const ns = this.map(src);
    const nd = this.map(dst);
    if (ns === src && nd === dst) return;
    this.mapped++;
    ipv4.setSrcCsum(v, o, ns);
    ipv4.setDstCsum(v, o, nd);
    if (ipv4.fragOffset(v, o) !== 0) return; // only the first fragment carries the L4 header
    const l4 = o + ipv4.headerLen(v, o);
    const proto = ipv4.proto(v, o);
    if (proto === ipv4.PROTO_TCP && l4 + tcp.HEADER_LEN <= o + len) {
      tcp.updateChecksumForAddr(v, l4, src, ns);
      tcp.updateChecksumForAddr(v, l4, dst, nd);
    } else if (proto === ipv4.PROTO_UDP && l4 + udp.HEADER_LEN <= o + len && udp.checksumField(v, l4) !== 0) {
      udp.updateChecksumForAddr(v, l4, src, ns);
      udp.updateChecksumForAddr(v, l4, dst, nd);
    }
  }

  /**
   * Map both addresses of the IPv6 packet at `o` (`ipv6.check` passed on `len` bytes), fixing the upper layer's
   * checksum when its header is in the packet (the first fragment, an extension-header chain `walk` accepts):
   * TCP, UDP (a zero checksum stays zero) and ICMPv6, all three over the pseudo-header. Quoted packets inside
   * ICMPv6 errors are left as they are, as for IPv4.
   */
  apply6(v: DataView, o: number, len: number): void {
    const f = this.from6;
    if (f.length === 0) return;
    const ks = this.find6(f, v, o + 8);
    const kd = this.find6(f, v, o + 24);
    if (ks < 0 && kd < 0) return;
    this.mapped++;
    const end = o + Math.min(len, ipv6.HEADER_LEN + ipv6.payloadLen(v, o));
    const r = ipv6.walk(v, o, end - o);
    let c = -1; // offset of the checksum field to fix
    let isUdp = false;
    if (r >= 0 && !ipv6.walkIsNotFirst(r)) {
      const proto = ipv6.walkProto(r);
      const l4 = ipv6.walkL4Offset(o, r);
      if (proto === ipv6.NH_TCP && l4 + tcp.HEADER_LEN <= end) c = l4 + 16;
      else if (proto === ipv6.NH_UDP && l4 + udp.HEADER_LEN <= end && udp.checksumField(v, l4) !== 0) {
        c = l4 + 6;
        isUdp = true;
      } else if (proto === ipv6.NH_ICMPV6 && l4 + 4 <= end) c = l4 + 2;
    }
    if (ks >= 0) this.rewrite6(v, o + 8, ks, c, isUdp);
    if (kd >= 0) this.rewrite6(v, o + 24, kd, c, isUdp);
  }

  /** The address at `p` through IPv6 rule `k`, the checksum field at `c` (≥ 0) updated for it. */
  private rewrite6(v: DataView, p: number, k: number, c: number, isUdp: boolean): void {
    const t = this.to6;
    const m = this.masks6;
    const a0 = t[k]! | (v.getInt32(p) & ~m[k]!);
    const a1 = t[k + 1]! | (v.getInt32(p + 4) & ~m[k + 1]!);
    const a2 = t[k + 2]! | (v.getInt32(p + 8) & ~m[k + 2]!);
    const a3 = t[k + 3]! | (v.getInt32(p + 12) & ~m[k + 3]!);
    if (c >= 0) {
      const nc = checksum.update128(v.getUint16(c), v, p, a0, a1, a2, a3);
      v.setUint16(c, isUdp ? checksum.udpNonZero(nc) : nc);
    }
    v.setInt32(p, a0);
    v.setInt32(p + 4, a1);
    v.setInt32(p + 8, a2);
    v.setInt32(p + 12, a3);
  }
}
