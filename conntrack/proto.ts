/**
 * Per-protocol constants of the connection tracker: protocol numbers, TCP states and their transition table,
 * and the default timeouts. Everything here follows Linux nf_conntrack (net/netfilter/nf_conntrack_proto_tcp.c,
 * nf_conntrack_proto_udp.c, nf_conntrack_proto_icmp.c, nf_conntrack_proto_generic.c).
 */

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/** ICMP types the tracker uses (RFC 792). Only echo request may open a connection here. */
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;

/** Direction of a packet relative to its connection (Linux `IP_CT_DIR_ORIGINAL` / `IP_CT_DIR_REPLY`). */
export const DIR_ORIG = 0;
export const DIR_REPLY = 1;

/** TCP header flag bits as they sit in byte 13 of the header (RFC 793 §3.1). */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/** TCP conntrack states, numbered as Linux's `enum tcp_conntrack`. */
export const TCP_NONE = 0;
export const TCP_SYN_SENT = 1;
export const TCP_SYN_RECV = 2;
export const TCP_ESTABLISHED = 3;
export const TCP_FIN_WAIT = 4;
export const TCP_CLOSE_WAIT = 5;
export const TCP_LAST_ACK = 6;
export const TCP_TIME_WAIT = 7;
export const TCP_CLOSE = 8;
export const TCP_SYN_SENT2 = 9;
/** Table outcomes that are not states: invalid packet, ignored packet. */
export const TCP_INVALID = 10;
export const TCP_IGNORE = 11;

export const TCP_STATE_NAMES = [
  'NONE',
  'SYN_SENT',
  'SYN_RECV',
  'ESTABLISHED',
  'FIN_WAIT',
  'CLOSE_WAIT',
  'LAST_ACK',
  'TIME_WAIT',
  'CLOSE',
  'SYN_SENT2',
] as const;

/** Flag classes that index the transition table (Linux `enum tcp_bit_set`). */
export const TCP_SYN_SET = 0;
export const TCP_SYNACK_SET = 1;
export const TCP_FIN_SET = 2;
export const TCP_ACK_SET = 3;
export const TCP_RST_SET = 4;
export const TCP_NONE_SET = 5;

/** Flag class of a segment: RST wins, then SYN (with or without ACK), FIN, ACK (Linux `get_conntrack_index`). */
export function tcpFlagClass(flags: number): number {
  if (flags & TCP_RST) return TCP_RST_SET;
  if (flags & TCP_SYN) return flags & TCP_ACK ? TCP_SYNACK_SET : TCP_SYN_SET;
  if (flags & TCP_FIN) return TCP_FIN_SET;
  if (flags & TCP_ACK) return TCP_ACK_SET;
  return TCP_NONE_SET;
}

const sSS = TCP_SYN_SENT;
const sSR = TCP_SYN_RECV;
const sES = TCP_ESTABLISHED;
const sFW = TCP_FIN_WAIT;
const sCW = TCP_CLOSE_WAIT;
const sLA = TCP_LAST_ACK;
const sTW = TCP_TIME_WAIT;
const sCL = TCP_CLOSE;
const sS2 = TCP_SYN_SENT2;
const sIV = TCP_INVALID;
const sIG = TCP_IGNORE;

/**
 * `tcp_conntracks[dir][flag class][old state]` of Linux ≥ 5.x, indexed `dir * 60 + class * 10 + state`.
 * Columns are the old state (sNO = NONE first): sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2.
 */
// prettier-ignore
export const TCP_TRANSITIONS = Uint8Array.from([
  // ORIGINAL
  /* syn    */ sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2,
  /* synack */ sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR,
  /* fin    */ sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV,
  /* ack    */ sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV,
  /* rst    */ sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
  // REPLY
  /* syn    */ sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2,
  /* synack */ sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR,
  /* fin    */ sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV,
  /* ack    */ sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG,
  /* rst    */ sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
  /* none   */ sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV,
]);

/** Timeouts in seconds (names follow the `net.netfilter.nf_conntrack_*_timeout*` sysctls). */
export interface Timeouts {
  tcpSynSent: number;
  tcpSynRecv: number;
  tcpEstablished: number;
  tcpFinWait: number;
  tcpCloseWait: number;
  tcpLastAck: number;
  tcpTimeWait: number;
  tcpClose: number;
  /** `nf_conntrack_tcp_timeout_unacknowledged`: caps ESTABLISHED for connections picked up mid-stream. */
  tcpUnack: number;
  /** `nf_conntrack_udp_timeout`: no reply seen yet, or still in the first 2 s. */
  udp: number;
  /** `nf_conntrack_udp_timeout_stream`: traffic both ways and older than 2 s (ASSURED). */
  udpStream: number;
  /** `nf_conntrack_icmp_timeout`. */
  icmp: number;
  /** `nf_conntrack_generic_timeout`: any other IP protocol. */
  generic: number;
}

/** Linux defaults (6.x). */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  tcpSynSent: 120,
  tcpSynRecv: 60,
  tcpEstablished: 432000,
  tcpFinWait: 120,
  tcpCloseWait: 60,
  tcpLastAck: 30,
  tcpTimeWait: 120,
  tcpClose: 10,
  tcpUnack: 300,
  udp: 30,
  udpStream: 120,
  icmp: 30,
  generic: 600,
});

/** UDP becomes a stream (120 s, ASSURED) only for packets after this long (Linux `stream_ts`, 2 s). */
export const UDP_STREAM_AFTER_MS = 2000;

/** Protocol name for dumps (`conntrack -L` prints `%-8s %u`, name then number). */
export function protoName(proto: number): string {
  switch (proto) {
    case PROTO_TCP:
      return 'tcp';
    case PROTO_UDP:
      return 'udp';
    case PROTO_ICMP:
      return 'icmp';
    default:
      return 'unknown';
  }
}
