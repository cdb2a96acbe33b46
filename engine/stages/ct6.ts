/**
 * The IPv6 connection table and the transport helpers of the IPv6 stages (docs/ipv6.md, "Connection
 * tracking").
 *
 * IPv6 connections live in a table of their own: the same `ConnTable` (conntrack/, its TCP tracking, SNAT port
 * choice, timeouts and limits, untouched) keyed by a 32-bit stand-in of each IPv6 address (`fold6`,
 * config6.ts), with the full addresses of every record's original direction kept beside it in one typed
 * array (8 words per record). Every hit is checked against those words, so two addresses sharing a stand-in
 * are a counted drop, never one flow's translation applied to another. The IPv4 table and its stages are not
 * touched: IPv4 pays nothing for IPv6.
 *
 * ICMPv6 echo is tracked as ICMP echo: protocol 1 for the table, type 8 (request) or 0 (reply) as its flags,
 * the identifier in both port halves, as conntrack/ expects of ICMP.
 */
import {
  ConnTable,
  SEG_ACK,
  SEG_DATA,
  SEG_OPTS,
  SEG_SEQ,
  SEG_SET,
  SEG_WIN,
  type ConnTableOptions,
} from '../../conntrack/index.js';
import { icmp, icmpv6, ipv6, tcp, udp, verdict } from '../wire/index.js';
import { synOptions } from './l4.js';

/** What the IPv6 stages give the table as protocol. */
export const CT6_TCP = 6;
export const CT6_UDP = 17;
export const CT6_ICMP = 1;

export class Ct6 {
  readonly ct: ConnTable;
  /** Per record: the original source's 4 words, then the original destination's 4 words. */
  readonly addr: Int32Array;

  constructor(opts: ConnTableOptions) {
    this.ct = new ConnTable(opts);
    this.addr = new Int32Array(this.ct.recordCount * 8);
  }

  /** Keep the full addresses of connection `c` from the IPv6 header at `o` (its first packet). */
  remember(c: number, v: DataView, o: number): void {
    const a = this.addr;
    const k = c << 3;
    a[k] = v.getInt32(o + 8);
    a[k + 1] = v.getInt32(o + 12);
    a[k + 2] = v.getInt32(o + 16);
    a[k + 3] = v.getInt32(o + 20);
    a[k + 4] = v.getInt32(o + 24);
    a[k + 5] = v.getInt32(o + 28);
    a[k + 6] = v.getInt32(o + 32);
    a[k + 7] = v.getInt32(o + 36);
  }

  /** The packet at `o` has connection `c`'s original source and destination. */
  isOriginal(c: number, v: DataView, o: number): boolean {
    const a = this.addr;
    const k = c << 3;
    return (
      a[k] === v.getInt32(o + 8) &&
      a[k + 1] === v.getInt32(o + 12) &&
      a[k + 2] === v.getInt32(o + 16) &&
      a[k + 3] === v.getInt32(o + 20) &&
      a[k + 4] === v.getInt32(o + 24) &&
      a[k + 5] === v.getInt32(o + 28) &&
      a[k + 6] === v.getInt32(o + 32) &&
      a[k + 7] === v.getInt32(o + 36)
    );
  }

  /**
   * The packet at `o` is connection `c`'s original turned round, untranslated: from its original destination to
   * its original source (a reply of a connection tracked without NAT, or a packet opening that reverse flow).
   */
  isReversed(c: number, v: DataView, o: number): boolean {
    const a = this.addr;
    const k = c << 3;
    return (
      a[k + 4] === v.getInt32(o + 8) &&
      a[k + 5] === v.getInt32(o + 12) &&
      a[k + 6] === v.getInt32(o + 16) &&
      a[k + 7] === v.getInt32(o + 20) &&
      a[k] === v.getInt32(o + 24) &&
      a[k + 1] === v.getInt32(o + 28) &&
      a[k + 2] === v.getInt32(o + 32) &&
      a[k + 3] === v.getInt32(o + 36)
    );
  }

  /**
   * The 16 bytes at `at` are connection `c`'s original source (`which` 0) or original destination (4): how a
   * quoted packet of an ICMPv6 error is compared with its record.
   */
  isAddr(c: number, which: number, v: DataView, at: number): boolean {
    const a = this.addr;
    const k = (c << 3) + which;
    return (
      a[k] === v.getInt32(at) &&
      a[k + 1] === v.getInt32(at + 4) &&
      a[k + 2] === v.getInt32(at + 8) &&
      a[k + 3] === v.getInt32(at + 12)
    );
  }

  /** The packet at `o` comes from connection `c`'s original destination (a reply's source). */
  isFromPeer(c: number, v: DataView, o: number): boolean {
    return this.isAddr(c, 4, v, o + 8);
  }
}

/** Stand-in of the source (`at` = o + 8) or destination (o + 24) address of an IPv6 header. */
export function foldAt(v: DataView, at: number): number {
  let h = Math.imul(v.getInt32(at) ^ (v.getInt32(at) >>> 16), 0x7feb352d);
  const a1 = v.getInt32(at + 4);
  h = Math.imul(h ^ a1 ^ (a1 >>> 15), 0x846ca68b);
  const a2 = v.getInt32(at + 8);
  h = Math.imul(h ^ a2 ^ (a2 >>> 16), 0x7feb352d);
  const a3 = v.getInt32(at + 12);
  h = Math.imul(h ^ a3 ^ (a3 >>> 15), 0x846ca68b);
  return h ^ (h >>> 16);
}

/**
 * Check the upper-layer header at `l4` (from `ipv6.walk`) in the `len` bytes to the payload's end: TCP, UDP
 * or ICMPv6 (the quoted packet of an ICMPv6 error included). A verdict (0 = OK), as `checkL4` of l4.ts.
 */
export function checkL4v6(v: DataView, l4: number, proto: number, len: number): number {
  if (proto === ipv6.NH_TCP) return tcp.check(v, l4, len);
  if (proto === ipv6.NH_UDP) return udp.check(v, l4, len);
  if (proto === ipv6.NH_ICMPV6) return icmpv6.check(v, l4, len);
  return verdict.UNSUPPORTED;
}

/** The table's protocol for a checked upper layer: TCP, UDP, or ICMP for ICMPv6. */
export function ctProto6(proto: number): number {
  return proto === ipv6.NH_ICMPV6 ? CT6_ICMP : proto;
}

/** Ports word (l4.ts `portsWord`): TCP/UDP `sport << 16 | dport`; ICMPv6 echo: the identifier twice; else 0. */
export function portsWord6(v: DataView, l4: number, proto: number): number {
  if (proto !== ipv6.NH_ICMPV6) return v.getInt32(l4);
  const t = v.getUint8(l4);
  if (t !== icmpv6.TYPE_ECHO_REQUEST && t !== icmpv6.TYPE_ECHO_REPLY) return 0;
  const id = v.getUint16(l4 + 4);
  return (id << 16) | id;
}

/** Conntrack flags: TCP flags; ICMPv6 echo as ICMP's types (8 request, 0 reply); 0 for UDP. */
export function ctFlags6(v: DataView, l4: number, proto: number): number {
  if (proto === ipv6.NH_TCP) return v.getUint8(l4 + 13);
  if (proto === ipv6.NH_ICMPV6) {
    const t = v.getUint8(l4);
    return t === icmpv6.TYPE_ECHO_REQUEST ? 8 : t === icmpv6.TYPE_ECHO_REPLY ? 0 : 255;
  }
  return 0;
}

/** `tcpSegment` of l4.ts for an IPv6 packet at `o` whose TCP header is at `l4`. */
export function tcpSegment6(v: DataView, o: number, l4: number, seg: Int32Array): void {
  const doff = (v.getUint8(l4 + 12) >>> 4) << 2;
  seg[SEG_SEQ] = v.getInt32(l4 + 4);
  seg[SEG_ACK] = v.getInt32(l4 + 8);
  seg[SEG_WIN] = v.getUint16(l4 + 14);
  seg[SEG_DATA] = o + ipv6.HEADER_LEN + ipv6.payloadLen(v, o) - l4 - doff;
  seg[SEG_OPTS] = v.getUint8(l4 + 13) & tcp.SYN && doff > 20 ? synOptions(v, l4 + 20, l4 + doff) : 0;
  seg[SEG_SET] = 1;
}

/** Rewrite the source address (4 words at `w`/`k`) and port of the packet (SNAT66), checksums updated. */
export function rewriteSrc6(
  v: DataView,
  o: number,
  l4: number,
  proto: number,
  w: Int32Array,
  k: number,
  port: number,
): void {
  if (proto === ipv6.NH_TCP) tcp.snat6(v, o, l4, w[k]!, w[k + 1]!, w[k + 2]!, w[k + 3]!, port);
  else if (proto === ipv6.NH_UDP) udp.snat6(v, o, l4, w[k]!, w[k + 1]!, w[k + 2]!, w[k + 3]!, port);
  else {
    icmpv6.updateChecksumForAddr(v, l4, o + 8, w[k]!, w[k + 1]!, w[k + 2]!, w[k + 3]!);
    ipv6.setSrcWords(v, o, w[k]!, w[k + 1]!, w[k + 2]!, w[k + 3]!);
    icmp.setEchoIdCsum(v, l4, port);
  }
}

/** Rewrite the destination address (4 words at `w`/`k`) and port (un-SNAT66), checksums updated. */
export function rewriteDst6(
  v: DataView,
  o: number,
  l4: number,
  proto: number,
  w: Int32Array,
  k: number,
  port: number,
): void {
  if (proto === ipv6.NH_TCP) tcp.dnat6(v, o, l4, w[k]!, w[k + 1]!, w[k + 2]!, w[k + 3]!, port);
  else if (proto === ipv6.NH_UDP) udp.dnat6(v, o, l4, w[k]!, w[k + 1]!, w[k + 2]!, w[k + 3]!, port);
  else {
    icmpv6.updateChecksumForAddr(v, l4, o + 24, w[k]!, w[k + 1]!, w[k + 2]!, w[k + 3]!);
    ipv6.setDstWords(v, o, w[k]!, w[k + 1]!, w[k + 2]!, w[k + 3]!);
    icmp.setEchoIdCsum(v, l4, port);
  }
}

/**
 * `BurstLookup` (l4.ts) for the IPv6 table: the burst's lookups in one `lookupBurst` pass (cache misses of
 * different packets overlap once the table outgrows the cache), with the stand-ins of each packet's addresses.
 * Only for packets an earlier stage checked and walked (snat6's): `fill` walks each header again.
 */
export class BurstLookup6 {
  private src = new Int32Array(0);
  private dst = new Int32Array(0);
  private ports = new Int32Array(0);
  private proto = new Uint8Array(0);
  private out = new Int32Array(0);
  private inserts = -1;
  private filled = false;

  /**
   * `off`, `len`, when given, are the burst's (`b.off`, `b.len`): each header is checked first and a packet
   * that fails gets an empty key (unsnat6's packets, which are checked after the lookup).
   */
  fill(
    ct: ConnTable,
    v: DataView,
    l3: Int32Array,
    sel: Int32Array,
    n: number,
    capacity: number,
    off: Int32Array | null = null,
    len: Int32Array | null = null,
  ): void {
    this.filled = ct.burstPays;
    if (!this.filled) return;
    if (this.src.length < n) {
      const m = capacity > n ? capacity : n;
      this.src = new Int32Array(m);
      this.dst = new Int32Array(m);
      this.ports = new Int32Array(m);
      this.proto = new Uint8Array(m);
      this.out = new Int32Array(m);
    }
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = l3[i]!;
      const ok = off === null || ipv6.check(v, o, off[i]! + len![i]! - o) === verdict.OK;
      const w = ok ? ipv6.walk(v, o, ipv6.HEADER_LEN + ipv6.payloadLen(v, o)) : -1;
      if (!ok) {
        this.src[k] = 0;
        this.dst[k] = 0;
        this.ports[k] = 0;
        this.proto[k] = 0;
        continue;
      }
      const p = w < 0 ? 0 : ipv6.walkProto(w);
      this.src[k] = foldAt(v, o + 8);
      this.dst[k] = foldAt(v, o + 24);
      this.ports[k] = w < 0 ? 0 : portsWord6(v, ipv6.walkL4Offset(o, w), p);
      this.proto[k] = ctProto6(p);
    }
    ct.lookupBurst(this.src, this.dst, this.ports, this.proto, n, this.out);
    this.inserts = ct.inserts;
  }

  /** `conn << 1 | dir` or -1 for the k-th packet of the last `fill`, whose key this is. */
  ref(ct: ConnTable, k: number, src: number, dst: number, ports: number, proto: number): number {
    if (this.filled) {
      const r = this.out[k]!;
      if (r >= 0 ? ct.isLive(r >> 1) : ct.inserts === this.inserts) return r;
    }
    return ct.find(src, dst, ports, proto);
  }
}
