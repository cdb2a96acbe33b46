/**
 * ICMP errors through the NAT (docs/semantics.md §4.c, §4.h; Linux nf_conntrack_icmpv4_error and
 * nf_nat_icmp_reply_translation, RFC 5508 §4.2): the connection an error belongs to is found through the
 * datagram it quotes, read in reverse (the quote is a packet that went the other way), and the quote is
 * translated with the connection's binding like the outer header. Cold path: errors are rare, but nothing here
 * allocates either.
 *
 * `relatedRef` validates what `ip-local`/`pod-ingress` (`icmp.check`, which ran `checkQuoted`) could not:
 * - the quote must be trackable: the first fragment of TCP or UDP (its ports are quoted), or an ICMP echo
 *   request or reply (its Identifier); anything else has no tuple a connection could match;
 * - the error must be addressed to the quoted packet's source (Linux ≥ 5.1 refuses a mismatch the same way),
 *   so nobody can make the node rewrite an error toward a third party;
 * - the reversed quoted tuple must be a tracked connection.
 * It returns the connection reference (`conn << 1 | direction`, as `ConnTable.lookup`) or a negative reason.
 */
import type { ConnTable } from '../../conntrack/index.js';
import type { Burst } from '../packet/index.js';
import { icmp, icmpv6, ipv4, ipv6 } from '../wire/index.js';
import { ctProto6, foldAt, type Ct6 } from './ct6.js';

/** The quote has no tuple (another protocol, a non-first fragment, an ICMP type other than echo). */
export const REL_UNTRACKED = -1;
/** The error is not addressed to the quoted packet's source. */
export const REL_MISMATCH = -2;
/** No connection has the quoted tuple. */
export const REL_NO_CONNTRACK = -3;

/**
 * The counters of a stage that translates ICMP errors about its connections and answers packets too big for the
 * next hop (inbound, snat: spread into their counter lists; unsnat keeps its own order).
 */
export const RELATED_COUNTERS = [
  'related',
  'drop-related-untracked',
  'drop-related-mismatch',
  'drop-related-no-conntrack',
  'drop-related-reply-direction',
  'drop-too-big',
  'icmp-frag-needed',
  'drop-no-buffer',
] as const;
/** The translation counters of RELATED_COUNTERS alone (snat6, which has no MTU to answer for). */
export const RELATED_NAT_COUNTERS = [
  'related',
  'drop-related-untracked',
  'drop-related-mismatch',
  'drop-related-no-conntrack',
  'drop-related-reply-direction',
] as const satisfies ReadonlyArray<(typeof RELATED_COUNTERS)[number]>;

/** The counter each stage that translates errors keeps for a refusal of `relatedRef`, by REL_* code. */
const RELATED_DROP_NAMES = {
  [-REL_UNTRACKED]: 'drop-related-untracked',
  [-REL_MISMATCH]: 'drop-related-mismatch',
  [-REL_NO_CONNTRACK]: 'drop-related-no-conntrack',
} as const;
type RelatedDrop = (typeof RELATED_DROP_NAMES)[keyof typeof RELATED_DROP_NAMES];

/** Refusal code → counter index (`c[REASON[-ref]!]!++`), built once per stage from its counter indices. */
export function relatedDrops(C: { readonly [K in RelatedDrop]: number }): Uint8Array {
  const t = new Uint8Array(-REL_NO_CONNTRACK + 1);
  for (const [code, name] of Object.entries(RELATED_DROP_NAMES)) t[Number(code)] = C[name];
  return t;
}

/**
 * The connection the ICMP error at `l3` (IPv4 header; ICMP message at `l4`, a validated error) quotes a packet
 * of, or a REL_* reason. The quoted packet's source must be the outer destination.
 */
export function relatedRef(ct: ConnTable, v: DataView, l3: number, l4: number): number {
  const q = icmp.quotedOffset(l4);
  if (ipv4.fragOffset(v, q) !== 0) return REL_UNTRACKED;
  const qproto = ipv4.proto(v, q);
  const ql4 = q + ipv4.headerLen(v, q);
  let sport: number;
  let dport: number;
  if (qproto === ipv4.PROTO_TCP || qproto === ipv4.PROTO_UDP) {
    sport = v.getUint16(ql4);
    dport = v.getUint16(ql4 + 2);
  } else if (qproto === ipv4.PROTO_ICMP) {
    const t = icmp.type(v, ql4);
    if (t !== icmp.TYPE_ECHO_REQUEST && t !== icmp.TYPE_ECHO_REPLY) return REL_UNTRACKED;
    sport = dport = icmp.echoId(v, ql4);
  } else return REL_UNTRACKED;
  const qsrc = ipv4.src(v, q);
  if (qsrc !== ipv4.dst(v, l3)) return REL_MISMATCH;
  const ref = ct.lookupRelated(qsrc, ipv4.dst(v, q), sport, dport, qproto);
  return ref >= 0 ? ref : REL_NO_CONNTRACK;
}

/**
 * Un-NAT an error from outside about a SNATed packet (the connection's reply direction): the outer destination
 * and the quoted source address and port (echo: Identifier) become the pod's, with the outer IPv4, quoted IPv4,
 * quoted L4 (when quoted) and ICMP checksums updated incrementally (RFC 1624).
 */
export function unsnatRelated(
  v: DataView,
  l3: number,
  l4: number,
  icmpLen: number,
  addr: number,
  port: number,
  qproto: number,
): void {
  ipv4.setDstCsum(v, l3, addr);
  icmp.setQuotedSrcCsum(v, l4, icmpLen, addr);
  if (qproto === ipv4.PROTO_ICMP) icmp.setQuotedEchoIdCsum(v, l4, icmpLen, port);
  else icmp.setQuotedSrcPortCsum(v, l4, icmpLen, port);
}

/**
 * SNAT an error a pod sends about a packet it received on a SNATed connection (the connection's original
 * direction): the outer source and the quoted destination address and port (echo: Identifier) become the NAT
 * address and port, with every checksum updated as in `unsnatRelated`.
 */
export function snatRelated(
  v: DataView,
  l3: number,
  l4: number,
  icmpLen: number,
  addr: number,
  port: number,
  qproto: number,
): void {
  ipv4.setSrcCsum(v, l3, addr);
  icmp.setQuotedDstCsum(v, l4, icmpLen, addr);
  if (qproto === ipv4.PROTO_ICMP) icmp.setQuotedEchoIdCsum(v, l4, icmpLen, port);
  else icmp.setQuotedDstPortCsum(v, l4, icmpLen, port);
}

/** True when the IPv4 packet at `l3` is an ICMP error message (its L4 header validated). */
export function isIcmpError(v: DataView, l3: number): boolean {
  return ipv4.proto(v, l3) === ipv4.PROTO_ICMP && icmp.isError(v.getUint8(l3 + ((v.getUint8(l3) & 0x0f) << 2)));
}

/** `appendFragNeeded` found that no error may be sent about the packet (RFC 1122 §3.2.2). */
export const ERR_NOT_ALLOWED = -1;
/** `appendFragNeeded` found no free slot. */
export const ERR_NO_BUFFER = -2;

/** The fragmentation-needed error of `appendFragNeeded`, its `rest` (the MTU) set per error: no allocation. */
const FRAG_NEEDED: icmp.ErrorSpec = { type: icmp.TYPE_DEST_UNREACH, code: icmp.CODE_FRAG_NEEDED, rest: 0 };

/**
 * Append to burst `b` an ICMP fragmentation-needed error (type 3 code 4, next-hop MTU `mtu`, RFC 1191) about
 * packet i (IPv4 at `b.l3[i]`), from `from` back to its sender, with exit `exit`. Like Linux's `icmp_send`:
 * TOS 0xc0, TTL 64, the IPv4 header and 8 data bytes quoted as the packet is now. Returns the new packet's
 * index (the caller selects it) or ERR_NOT_ALLOWED / ERR_NO_BUFFER. Cold path.
 */
export function appendFragNeeded(b: Burst, v: DataView, i: number, from: number, mtu: number, exit: number): number {
  const o = b.l3[i]!;
  if (!icmp.errorAllowed(v, o)) return ERR_NOT_ALLOWED;
  const j = allocError(b, i, exit);
  if (j < 0) return ERR_NO_BUFFER;
  FRAG_NEEDED.rest = icmp.restFragNeeded(mtu);
  b.len[j] = icmp.emitErrorPacket(v, b.off[j]!, from, FRAG_NEEDED, v, o, ipv4.totalLen(v, o));
  return j;
}

/**
 * A free slot of burst `b` for an error about packet i, with exit `exit`, no connection, i's timestamp and
 * `l3` at its start (the caller writes the packet and its length), or -1 when none is free.
 */
export function allocError(b: Burst, i: number, exit: number): number {
  const j = b.alloc(0);
  if (j < 0) return -1;
  b.l3[j] = b.off[j]!;
  b.flow[j] = -1;
  b.tsSec[j] = b.tsSec[i]!;
  b.tsNsec[j] = b.tsNsec[i]!;
  b.next[j] = exit;
  return j;
}

// --- IPv6 (docs/ipv6.md §2.k) ---

/** The quoted packet's upper-layer offset and Next Header, as the last `relatedRef6` that found one saw them. */
export const QUOTE6 = new Int32Array(2);

/**
 * `relatedRef` for the IPv6 table: the connection the ICMPv6 error at `l3` (message at `l4`, validated by
 * `icmpv6.check`, the payload ending at `end`) quotes a packet of, or a REL_* reason. The quote's extension
 * headers are walked with the usual limits; it must be the first (or only) fragment of TCP or UDP with its
 * ports quoted, or an ICMPv6 echo request or reply with its Identifier; its source must be the outer
 * destination (all 128 bits). The quoted upper layer is left in QUOTE6. The caller compares the record's full
 * addresses with the quote (ct6.ts: two addresses may share a stand-in).
 */
export function relatedRef6(ct6: Ct6, v: DataView, l3: number, l4: number, end: number): number {
  const q = icmpv6.quotedOffset(l4);
  const w = ipv6.walk(v, q, end - q);
  if (w < 0 || ipv6.walkIsNotFirst(w)) return REL_UNTRACKED;
  const qproto = ipv6.walkProto(w);
  const ql4 = ipv6.walkL4Offset(q, w);
  let ports: number;
  if (qproto === ipv6.NH_TCP || qproto === ipv6.NH_UDP) {
    if (ql4 + 4 > end) return REL_UNTRACKED;
    ports = v.getInt32(ql4);
  } else if (qproto === ipv6.NH_ICMPV6) {
    if (ql4 + 6 > end) return REL_UNTRACKED;
    const t = icmpv6.type(v, ql4);
    if (t !== icmpv6.TYPE_ECHO_REQUEST && t !== icmpv6.TYPE_ECHO_REPLY) return REL_UNTRACKED;
    const id = v.getUint16(ql4 + 4);
    ports = (id << 16) | id;
  } else return REL_UNTRACKED;
  if (!ipv6.addrEqual(v, q + 8, v, l3 + 24)) return REL_MISMATCH;
  const ref = ct6.ct.lookupRelated(foldAt(v, q + 8), foldAt(v, q + 24), ports >>> 16, ports & 0xffff, ctProto6(qproto));
  if (ref < 0) return REL_NO_CONNTRACK;
  QUOTE6[0] = ql4;
  QUOTE6[1] = qproto;
  return ref;
}

/**
 * `unsnatRelated` / `snatRelated` for an ICMPv6 error (`l3`, `l4`, `end` as `relatedRef6`; the quote's upper
 * layer in QUOTE6): toward the pod (`toPod`), the outer destination and the quoted source address and port
 * become the address at `w`/`k` and `port`; from the pod, the outer source and the quoted destination. The
 * error's checksum follows the outer address through the pseudo-header and every quoted byte changed.
 */
export function natRelated6(
  v: DataView,
  l3: number,
  l4: number,
  end: number,
  w: Int32Array,
  k: number,
  port: number,
  toPod: boolean,
): void {
  const a0 = w[k]!;
  const a1 = w[k + 1]!;
  const a2 = w[k + 2]!;
  const a3 = w[k + 3]!;
  const outer = l3 + (toPod ? 24 : 8);
  icmpv6.updateChecksumForAddr(v, l4, outer, a0, a1, a2, a3);
  v.setInt32(outer, a0);
  v.setInt32(outer + 4, a1);
  v.setInt32(outer + 8, a2);
  v.setInt32(outer + 12, a3);
  const ql4 = QUOTE6[0]!;
  const qproto = QUOTE6[1]!;
  const q = icmpv6.quotedOffset(l4);
  icmpv6.setQuotedAddrCsum(v, l4, end, q + (toPod ? 8 : 24), ql4, qproto, a0, a1, a2, a3);
  const field = qproto === ipv6.NH_ICMPV6 ? 4 : toPod ? 0 : 2;
  icmpv6.setQuotedWordCsum(v, l4, end, field, ql4, qproto, port);
}

/**
 * Append to burst `b` an ICMPv6 error (`type`, `code`, `rest`: the MTU of a Packet Too Big) about packet i
 * (IPv6 at `b.l3[i]`, `len` bytes; upper layer at `l4` with Next Header `proto` from its walk), from the 16-byte
 * address `from` back to its source, Hop Limit 64, quoting as much as fits in 1280 bytes (RFC 4443 §2.4 c), with
 * exit `exit`. Returns the new packet's index (the caller selects it) or ERR_NOT_ALLOWED (§2.4 e) /
 * ERR_NO_BUFFER. Cold path.
 */
export function appendError6(
  b: Burst,
  v: DataView,
  i: number,
  len: number,
  l4: number,
  proto: number,
  from: Uint8Array,
  spec: icmpv6.ErrorSpec,
  exit: number,
): number {
  const o = b.l3[i]!;
  if (!icmpv6.errorAllowed(v, o, l4, proto, spec.type, spec.code)) return ERR_NOT_ALLOWED;
  const j = allocError(b, i, exit);
  if (j < 0) return ERR_NO_BUFFER;
  b.len[j] = icmpv6.emitErrorPacket(v, b.off[j]!, from, spec, v, o, len);
  return j;
}
