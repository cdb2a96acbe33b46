/**
 * Connections pods accept from the segment (routable pod addresses), tracked without NAT in a table of their own:
 * the steps inbound (IPv4) and inbound6 take for a packet to a pod, and those classify and pod-ingress6 take to
 * tell the pod's answer (a reply-direction packet sent out un-NATed, Antrea's `-rpl` rule) from the pod's own
 * flows (docs/semantics.md §4.0, §4.d; docs/conntrack-security.md). The table's keys are the family's (IPv4
 * addresses, or the IPv6 stand-ins of ct6.ts, whose full addresses the caller compares): these functions see
 * only the table, the TCP flags or ICMP type (ICMPv6 echo as ICMP's, ct6.ts) and the caller's lookups.
 */
import {
  CT_FULL,
  CT_LIMIT,
  SEG_SET,
  TCP_SYN_SENT,
  TCP_SYN_SENT2,
  UPDATE_ACCEPT,
  UPDATE_IGNORE,
  UPDATE_INVALID,
  UPDATE_RECREATE,
  type ConnTable,
} from '../../conntrack/index.js';

const PROTO_TCP = 6;
const PROTO_ICMP = 1;

/** `acceptUpdate`: the packet opens no tracked connection (none, or the old one was closed and removed). */
export const ACCEPT_MISS = -1;
/** `acceptUpdate`: the connection refuses the packet (a TCP segment out of its state or window). */
export const ACCEPT_INVALID = -2;

/** Counter names of a failed `acceptCreate`, the same in inbound and inbound6. */
export const CREATE_DROPS = ['drop-ct-full', 'drop-ct-limit', 'drop-ct-invalid'] as const;

/**
 * A packet to a pod whose key found `ref` (`conn << 1 | dir` from `ct.find`, checked by the caller, or -1):
 * the connection updated (its index returned), ACCEPT_INVALID, or ACCEPT_MISS when a new connection must be
 * created (`acceptCreate`, after the caller's checks). `ct.seg` holds the TCP segment (caller's `tcpSegment`).
 */
export function acceptUpdate(ct: ConnTable, ref: number, flags: number, len: number): number {
  if (ref < 0) return ACCEPT_MISS;
  const u = ct.update(ref >> 1, ref & 1, flags, len);
  if (u === UPDATE_INVALID) return ACCEPT_INVALID;
  if (u === UPDATE_RECREATE) {
    ct.remove(ref >> 1);
    return ACCEPT_MISS;
  }
  return ref >> 1;
}

/**
 * Open and confirm the connection of a packet to a pod (confirmed at once: delivery to a pod port does not fail
 * later in the pipeline). Only a SYN opens TCP (the table is not loose), only an echo request ICMP. Returns the
 * connection or an index into CREATE_DROPS, negated minus one (`-1 - k`). `ct.seg` must hold the TCP segment.
 */
export function acceptCreate(
  ct: ConnTable,
  src: number,
  dst: number,
  ports: number,
  proto: number,
  flags: number,
  len: number,
): number {
  const conn = ct.create(src, dst, ports >>> 16, ports & 0xffff, proto, flags, len);
  if (conn >= 0 && ct.confirm(conn)) return conn;
  return conn === CT_FULL ? -1 : conn === CT_LIMIT ? -2 : -3;
}

/**
 * Is a pod's packet, in the reply direction of accepted connection `conn`, the pod answering it? UPDATE_ACCEPT
 * (yes: out un-NATed), UPDATE_INVALID (drop), anything else: not a reply, the packet takes the pod's normal path.
 * Never a packet that opens a connection (TCP SYN without ACK, ICMP echo request), one of a flow the pod opened
 * through SNAT (`snatFlow`: the caller looked its key up in the SNAT table), nor a TCP segment before the pod
 * answered the SYN (SYN/ACK or RST: its challenge ACK to a forged SYN is its own flow's). `ct.seg` holds the
 * TCP segment; it is cleared when the packet is not given to the table.
 */
export function acceptedReply(
  ct: ConnTable,
  conn: number,
  proto: number,
  flags: number,
  len: number,
  snatFlow: boolean,
): number {
  const tcp = proto === PROTO_TCP;
  if (
    (tcp ? (flags & 0x12) === 0x02 : proto === PROTO_ICMP && flags === 8) ||
    snatFlow ||
    (tcp && unanswered(ct, conn) && (flags & 0x12) !== 0x12 && (flags & 0x04) === 0)
  ) {
    ct.seg[SEG_SET] = 0;
    return -1;
  }
  const u = ct.update(conn, 1, flags, len);
  // Ignored by the TCP rules: a retransmitted SYN/ACK of an answered connection still is the pod's; anything
  // before the pod answered the SYN is not.
  if (u === UPDATE_IGNORE && tcp) return unanswered(ct, conn) ? -1 : UPDATE_ACCEPT;
  return u;
}

function unanswered(ct: ConnTable, conn: number): boolean {
  const s = ct.state(conn);
  return s === TCP_SYN_SENT || s === TCP_SYN_SENT2;
}
