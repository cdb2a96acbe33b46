/**
 * L4 helpers shared by stages: validation of the transport header of an IPv4 packet that passed `ipv4.check`,
 * and the conntrack ports word (TCP/UDP: the first 32 bits of the header; ICMP echo: the identifier twice).
 */
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
