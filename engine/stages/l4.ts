/**
 * L4 helpers shared by stages: validation of the transport header of an IPv4 packet that passed `ipv4.check`,
 * and the conntrack ports word (TCP/UDP: the first 32 bits of the header; ICMP echo: the identifier twice).
 */
import {
  SEG_ACK,
  SEG_DATA,
  SEG_OPT_SACK_PERM,
  SEG_OPT_WSCALE,
  SEG_OPTS,
  SEG_SEQ,
  SEG_SET,
  SEG_WIN,
  type ConnTable,
} from '../../conntrack/index.js';
import type { Burst } from '../packet/index.js';
import { icmp, ipv4, tcp, udp, verdict } from '../wire/index.js';

/**
 * Check the L4 header of the IPv4 packet at `l3` (whole datagram, not a fragment): TCP data offset and length,
 * UDP length, ICMP length and quoted header of errors. Returns the transport check's verdict (`verdict.OK`,
 * TRUNCATED, BAD_*), or UNSUPPORTED for a protocol other than TCP, UDP and ICMP (whose checks never return it).
 */
export function checkL4(v: DataView, l3: number): number {
  const hl = ipv4.headerLen(v, l3);
  const len = ipv4.totalLen(v, l3) - hl;
  const l4 = l3 + hl;
  const p = ipv4.proto(v, l3);
  if (p === ipv4.PROTO_TCP) return tcp.check(v, l4, len);
  if (p === ipv4.PROTO_UDP) return udp.check(v, l4, len);
  if (p === ipv4.PROTO_ICMP) return icmp.check(v, l4, len);
  return verdict.UNSUPPORTED;
}

/**
 * Where a fragment came from, in `b.flow` from the stage that sends it to `defrag` (defrag.ts): a local pod
 * (pod-ingress), a pod on another node through the tunnel (geneve-decap), the segment (uplink-ingress).
 */
export const FRAG_FROM_POD = 0;
export const FRAG_FROM_TUNNEL = 1;
export const FRAG_FROM_UPLINK = 2;

/**
 * A fragment other than the first (non-zero offset): it carries no L4 header. After `defrag`, its `b.flow` holds
 * its datagram's ports word (the first fragment's `portsWord`) until the stage that looks its connection up.
 */
export function laterFragment(v: DataView, l3: number): boolean {
  return (v.getUint16(l3 + 6) & ipv4.FRAG_OFFSET_MASK) !== 0;
}

/** The drop reasons of a failed `checkL4`, shared by the stages that run it (see drop-reasons.ts). */
export const L4_REASONS = {
  reasons: { [verdict.TRUNCATED]: 'drop-l4-truncated', [verdict.UNSUPPORTED]: 'drop-unsupported-proto' },
  otherwise: 'drop-l4-bad',
} as const;

/**
 * Conntrack ports word of a packet whose L4 header passed `checkL4`: TCP/UDP `sport << 16 | dport`; ICMP echo
 * request/reply: the identifier in both halves. Returns 0 for ICMP errors (handled as related) and other types.
 */
export function portsWord(v: DataView, l3: number, proto: number): number {
  const l4 = l3 + ((v.getUint8(l3) & 0x0f) << 2);
  if (proto !== ipv4.PROTO_ICMP) return v.getInt32(l4);
  const t = v.getUint8(l4);
  if (t !== icmp.TYPE_ECHO_REQUEST && t !== icmp.TYPE_ECHO_REPLY) return 0;
  const id = v.getUint16(l4 + 4);
  return (id << 16) | id;
}

/** What conntrack's `create`/`update` take as `flags`: TCP flags, or the ICMP type; 0 for UDP. */
export function ctFlags(v: DataView, l3: number, proto: number): number {
  const l4 = l3 + ((v.getUint8(l3) & 0x0f) << 2);
  if (proto === ipv4.PROTO_TCP) return v.getUint8(l4 + 13);
  if (proto === ipv4.PROTO_ICMP) return v.getUint8(l4);
  return 0;
}

/**
 * Describe the TCP segment of the packet at `l3` (passed `checkL4`) in a connection table's `seg` before its
 * `create`/`update`: sequence, acknowledgment, window, payload length and, for a SYN, the window-scale and
 * SACK-permitted options (RFC 7323 §2, RFC 2018). Int32Array cells: nothing is boxed or allocated. `tail`: payload
 * bytes the packet stands for beyond its own (a GSO probe's, `Slab.tcpTail`): the segment tracked is the whole
 * super-packet, as the receiver acknowledges it. The first fragment of a datagram counts as the largest payload
 * the datagram can carry.
 */
export function tcpSegment(v: DataView, l3: number, seg: Int32Array, tail = 0): void {
  const hl = (v.getUint8(l3) & 0x0f) << 2;
  const l4 = l3 + hl;
  const doff = (v.getUint8(l4 + 12) >>> 4) << 2;
  seg[SEG_SEQ] = v.getInt32(l4 + 4);
  seg[SEG_ACK] = v.getInt32(l4 + 8);
  seg[SEG_WIN] = v.getUint16(l4 + 14);
  // A first fragment: the datagram's length is not known yet; the largest it can be errs on the liberal side.
  seg[SEG_DATA] = ((v.getUint16(l3 + 6) & ipv4.FLAG_MF) !== 0 ? 0xffff : v.getUint16(l3 + 2)) - hl - doff + tail;
  seg[SEG_OPTS] = v.getUint8(l4 + 13) & tcp.SYN && doff > 20 ? synOptions(v, l4 + 20, l4 + doff) : 0;
  seg[SEG_SET] = 1;
}

/** Window scale (kind 3) and SACK permitted (kind 4) of a SYN's option list; stops at a malformed option. */
export function synOptions(v: DataView, i: number, end: number): number {
  let r = 0;
  while (i < end) {
    const kind = v.getUint8(i);
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) break;
    const len = v.getUint8(i + 1);
    if (len < 2 || i + len > end) break;
    if (kind === 3 && len === 3) r |= SEG_OPT_WSCALE | v.getUint8(i + 2);
    else if (kind === 4 && len === 2) r |= SEG_OPT_SACK_PERM;
    i += len;
  }
  return r;
}

/** Rewrite the source address and port (ICMP echo: identifier) with incremental checksums. */
export function rewriteSrc(v: DataView, l3: number, proto: number, addr: number, port: number): void {
  const l4 = l3 + ((v.getUint8(l3) & 0x0f) << 2);
  if (proto === ipv4.PROTO_TCP) tcp.snat(v, l3, l4, addr, port);
  else if (proto === ipv4.PROTO_UDP) udp.snat(v, l3, l4, addr, port);
  else {
    ipv4.setSrcCsum(v, l3, addr);
    icmp.setEchoIdCsum(v, l4, port);
  }
}

/** Rewrite the destination address and port (ICMP echo: identifier) with incremental checksums. */
export function rewriteDst(v: DataView, l3: number, proto: number, addr: number, port: number): void {
  const l4 = l3 + ((v.getUint8(l3) & 0x0f) << 2);
  if (proto === ipv4.PROTO_TCP) tcp.dnat(v, l3, l4, addr, port);
  else if (proto === ipv4.PROTO_UDP) udp.dnat(v, l3, l4, addr, port);
  else {
    ipv4.setDstCsum(v, l3, addr);
    icmp.setEchoIdCsum(v, l4, port);
  }
}

/**
 * The connection-table lookups of a burst, made once per burst (`ConnTable.lookupBurst`, whose passes overlap
 * the cache misses of different packets) for a stage that looks every packet up. `fill` reads each selected
 * packet's tuple (src, dst, ports word — a later fragment's from `b.flow` —, proto of the header at `b.l3`); `ref(ct, k, tuple)` is then the lookup
 * of the k-th selected packet, as `ct.find(tuple)` would answer it now: the burst's answer while it still holds
 * (a hit whose connection is live; a miss while no entry was inserted since `fill`, `ct.inserts`), else a fresh
 * `find` (a create or a removal earlier in the burst), so the stage behaves packet by packet exactly as with
 * one `find` each. While the live connections fit in cache (`ct.burstPays` false) there are no misses to
 * overlap, and `fill` does nothing: `ref` is `find` (the pipeline bench: 0.91–1.0× at 1 k flows with the burst
 * pass, 1.04–1.24× at 100 k). The key arrays grow once to the largest burst.
 */
export class BurstLookup {
  private src = new Int32Array(0);
  private dst = new Int32Array(0);
  private ports = new Int32Array(0);
  private proto = new Uint8Array(0);
  private out = new Int32Array(0);
  private inserts = -1;
  /** The last `fill` looked the burst up (else `ref` is `find`). */
  private filled = false;

  fill(ct: ConnTable, v: DataView, b: Burst, sel: Int32Array, n: number): void {
    this.filled = ct.burstPays;
    if (!this.filled) return;
    if (this.src.length < n) this.grow(b.capacity > n ? b.capacity : n);
    const src = this.src;
    const dst = this.dst;
    const ports = this.ports;
    const proto = this.proto;
    for (let k = 0; k < n; k++) {
      const o = b.l3[sel[k]!]!;
      const p = ipv4.proto(v, o);
      src[k] = ipv4.src(v, o);
      dst[k] = ipv4.dst(v, o);
      ports[k] = laterFragment(v, o) ? b.flow[sel[k]!]! : portsWord(v, o, p);
      proto[k] = p;
    }
    ct.lookupBurst(src, dst, ports, proto, n, this.out);
    this.inserts = ct.inserts;
  }

  /** `conn << 1 | dir` or -1 for the k-th packet of the last `fill`, whose tuple this is. */
  ref(ct: ConnTable, k: number, src: number, dst: number, ports: number, proto: number): number {
    if (this.filled) {
      const r = this.out[k]!;
      if (r >= 0 ? ct.isLive(r >> 1) : ct.inserts === this.inserts) return r;
    }
    return ct.find(src, dst, ports, proto);
  }

  private grow(n: number): void {
    this.src = new Int32Array(n);
    this.dst = new Int32Array(n);
    this.ports = new Int32Array(n);
    this.proto = new Uint8Array(n);
    this.out = new Int32Array(n);
  }
}
