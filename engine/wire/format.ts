/**
 * One-line, tcpdump-style summaries of frames and IPv4/IPv6 packets for logs and test failures (cold path).
 *
 *     aa:bb:cc:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 198.18.0.3 tell 198.18.0.1
 *     02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4, 198.18.1.10.40000 > 198.18.0.100.80: TCP [S] seq 1 win 64240 len 0
 *     198.18.0.1.51234 > 198.18.0.3.6081: Geneve vni 0: 10.0.1.5.1234 > 198.18.0.100.53: UDP len 20
 *     198.18.0.100 > 198.18.1.10: ICMP unreachable need-frag mtu 1400 for 198.18.1.10.40000 > 198.18.0.100.80: UDP
 *     02:00:00:00:00:02 > 33:33:00:00:00:01, IPv6, 2001:2::3 > ff02::1: ICMPv6 neighbor advertisement tgt 2001:2::3 [O]
 *     2001:2:0:40::a.40110 > 2001:2::64.53: UDP len 8 [ext 8]
 *
 * Never throws: malformed input prints `[truncated]` or `[bad <what>: <verdict>]` where the parse stops, and a
 * checksum that does not verify is flagged `[bad ip cksum]`, `[bad udp cksum]` ... `len` is the L4 payload
 * length (as tcpdump's "length").
 */
import * as arp from './arp.js';
import * as ethernet from './ethernet.js';
import * as geneve from './geneve.js';
import * as icmp from './icmp.js';
import * as icmpv6 from './icmpv6.js';
import * as ipv4 from './ipv4.js';
import * as ipv6 from './ipv6.js';
import * as ndp from './ndp.js';
import * as tcp from './tcp.js';
import * as udp from './udp.js';
import { OK, TRUNCATED, verdictName } from './verdict.js';
import { checksum } from './checksum.js';

type Bytes = Uint8Array | DataView;

/** Innermost Geneve nesting printed (a Geneve frame inside Geneve is printed once more, then elided). */
const MAX_DEPTH = 3;

function view(b: Bytes): DataView {
  return b instanceof DataView ? b : new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function clampLen(v: DataView, off: number, len: number): number {
  const avail = v.byteLength - off;
  if (off < 0 || avail <= 0) return 0;
  return len < 0 || len > avail ? avail : len;
}

/** Summary of an Ethernet frame of `len` bytes at `off` (default: to the end of `b`). */
export function formatFrame(b: Bytes, off = 0, len = -1): string {
  try {
    const v = view(b);
    return frame(v, off, clampLen(v, off, len), 0, true);
  } catch (e) {
    return `[formatter error: ${String(e)}]`;
  }
}

/** Summary of an IPv4 or IPv6 packet (by its version nibble) of `len` bytes at `off` (default: to the end of `b`). */
export function formatIp(b: Bytes, off = 0, len = -1): string {
  try {
    const v = view(b);
    const n = clampLen(v, off, len);
    if (n > 0 && v.getUint8(off) >>> 4 === 6) return ip6(v, off, n, 0);
    return ip(v, off, n, 0);
  } catch (e) {
    return `[formatter error: ${String(e)}]`;
  }
}

function hex(n: number, digits: number): string {
  return '0x' + n.toString(16).padStart(digits, '0');
}

function frame(v: DataView, o: number, len: number, depth: number, macs: boolean): string {
  if (len < ethernet.HEADER_LEN) return `[truncated ethernet: ${len} bytes]`;
  let s = macs ? `${ethernet.macToString(v, o + 6)} > ${ethernet.macToString(v, o)}, ` : '';
  const l3 = ethernet.l3Offset(v, o, len);
  if (l3 < 0) return s + `[bad ethernet: ${verdictName(-l3)}]`;
  for (let p = o + 12; p < l3 - 2; p += 4) {
    const tci = v.getUint16(p + 2);
    s += `${v.getUint16(p) === ethernet.ETHERTYPE_QINQ ? 'qinq' : 'vlan'} ${tci & ethernet.VID_MASK}`;
    s += (tci >>> 13 !== 0 ? ` p ${tci >>> 13}` : '') + ', ';
  }
  const t = v.getUint16(l3 - 2);
  const rest = o + len - l3;
  // Inside Geneve the frame is printed without MACs, and IPv4 without its label (the tunnel says enough).
  if (t === ethernet.ETHERTYPE_IPV4) return s + (macs ? 'IPv4, ' : '') + ip(v, l3, rest, depth);
  if (t === ethernet.ETHERTYPE_ARP) return s + 'ARP, ' + arpText(v, l3, rest);
  if (t === ethernet.ETHERTYPE_IPV6) return s + (macs ? 'IPv6, ' : '') + ip6(v, l3, rest, depth);
  return s + `ethertype ${hex(t, 4)}, length ${rest}`;
}

function arpText(v: DataView, o: number, len: number): string {
  const r = arp.check(v, o, len);
  if (r !== OK) {
    if (len >= 8)
      return `[bad arp: ${verdictName(r)}] htype ${arp.htype(v, o)} ptype ${hex(arp.ptype(v, o), 4)} hlen ${arp.hlen(v, o)} plen ${arp.plen(v, o)} op ${arp.op(v, o)}`;
    return `[bad arp: ${verdictName(r)}]`;
  }
  const spa = ipv4.addrToString(arp.spa(v, o));
  const tpa = ipv4.addrToString(arp.tpa(v, o));
  if (arp.op(v, o) === arp.OP_REQUEST) {
    const thaZero = arp.thaHi16(v, o) === 0 && arp.thaLo32(v, o) === 0;
    const tha = thaZero ? '' : ` (${ethernet.macToString(v, arp.thaOffset(o))})`;
    return `Request who-has ${tpa}${tha} tell ${spa}`;
  }
  return `Reply ${spa} is-at ${ethernet.macToString(v, arp.shaOffset(o))}`;
}

function ip(v: DataView, o: number, len: number, depth: number): string {
  if (len < ipv4.HEADER_LEN) return `[truncated ipv4: ${len} bytes]`;
  const r = ipv4.check(v, o, len);
  if (r !== OK && r !== TRUNCATED) {
    return `${ipv4.addrToString(ipv4.src(v, o))} > ${ipv4.addrToString(ipv4.dst(v, o))}: [bad ipv4: ${verdictName(r)}]`;
  }
  const hl = ipv4.headerLen(v, o);
  if (hl > len) return `[truncated ipv4: header ${hl} bytes, have ${len}]`;
  const tl = ipv4.totalLen(v, o);
  const end = tl <= len ? o + tl : o + len; // bytes of the datagram we have
  const src = ipv4.addrToString(ipv4.src(v, o));
  const dst = ipv4.addrToString(ipv4.dst(v, o));
  let tail = '';
  const ff = ipv4.flagsFrag(v, o);
  const frag = ff & ipv4.FRAG_OFFSET_MASK;
  if (ff & (ipv4.FLAG_MF | ipv4.FRAG_OFFSET_MASK)) {
    tail += ` (frag ${ipv4.id(v, o)}:${tl - hl}@${frag * 8}${ff & ipv4.FLAG_MF ? '+' : ''})`;
  }
  if (hl > ipv4.HEADER_LEN) tail += ` [ip opts ${hl - ipv4.HEADER_LEN}]`;
  if (checksum(v, o, hl) !== 0) tail += ' [bad ip cksum]';
  if (tl > len) tail += ` [truncated: total length ${tl}, have ${len}]`;
  const l4 = o + hl;
  const l4len = end - l4;
  const proto = ipv4.proto(v, o);
  const complete = tl <= len;
  if (frag !== 0) return `${src} > ${dst}: ${protoName(proto)}${tail}`;
  const fragmented = (ff & ipv4.FLAG_MF) !== 0;
  if (proto === ipv4.PROTO_UDP && fragmented && l4len >= udp.HEADER_LEN) {
    // First fragment: the ports are here, the Length covers the reassembled datagram.
    const ports = `${src}.${udp.srcPort(v, l4)} > ${dst}.${udp.dstPort(v, l4)}`;
    return `${ports}: UDP len ${udp.length(v, l4) - udp.HEADER_LEN}${tail}`;
  }
  if (proto === ipv4.PROTO_UDP) return udpText(v, o, l4, l4len, src, dst, complete, depth, false) + tail;
  if (proto === ipv4.PROTO_TCP) return tcpText(v, o, l4, l4len, src, dst, complete && !fragmented, false) + tail;
  if (proto === ipv4.PROTO_ICMP) return `${src} > ${dst}: ` + icmpText(v, l4, l4len, complete && !fragmented) + tail;
  return `${src} > ${dst}: ${protoName(proto)} len ${l4len}${tail}`;
}

function protoName(p: number): string {
  return p === 6 ? 'TCP' : p === 17 ? 'UDP' : p === 1 ? 'ICMP' : p === 58 ? 'ICMPv6' : `ip-proto-${p}`;
}

function ip6(v: DataView, o: number, len: number, depth: number): string {
  if (len < ipv6.HEADER_LEN) return `[truncated ipv6: ${len} bytes]`;
  const src = ipv6.addrToString(v, ipv6.srcOffset(o));
  const dst = ipv6.addrToString(v, ipv6.dstOffset(o));
  const r = ipv6.check(v, o, len);
  if (r !== OK && r !== TRUNCATED) return `${src} > ${dst}: [bad ipv6: ${verdictName(r)}]`;
  const complete = r === OK;
  const pl = ipv6.payloadLen(v, o);
  const have = complete ? ipv6.HEADER_LEN + pl : len;
  let tail = complete ? '' : ` [truncated: payload length ${pl}, have ${len - ipv6.HEADER_LEN}]`;
  const w = ipv6.walk(v, o, have);
  if (w < 0) return `${src} > ${dst}: [bad ipv6 chain: ${verdictName(-w)}]${tail}`;
  const l4 = ipv6.walkL4Offset(o, w);
  const p = ipv6.walkProto(w);
  if (l4 > o + ipv6.HEADER_LEN) tail = ` [ext ${l4 - o - ipv6.HEADER_LEN}]` + tail;
  const frag = ipv6.walkIsFragment(w);
  if (frag) tail += ipv6.walkIsNotFirst(w) ? ' (frag, not first)' : ' (frag)';
  if (ipv6.walkIsNotFirst(w)) return `${src} > ${dst}: ${protoName(p)}${tail}`;
  const l4len = o + have - l4;
  const whole = complete && !frag;
  if (p === ipv6.NH_UDP && frag && l4len >= udp.HEADER_LEN) {
    // First fragment: the ports are here, the Length covers the reassembled datagram.
    const ports = `${src}.${udp.srcPort(v, l4)} > ${dst}.${udp.dstPort(v, l4)}`;
    return `${ports}: UDP len ${udp.length(v, l4) - udp.HEADER_LEN}${tail}`;
  }
  if (p === ipv6.NH_UDP) return udpText(v, o, l4, l4len, src, dst, complete, depth, true) + tail;
  if (p === ipv6.NH_TCP) return tcpText(v, o, l4, l4len, src, dst, whole, true) + tail;
  if (p === ipv6.NH_ICMPV6) return `${src} > ${dst}: ` + icmp6Text(v, o, l4, l4len, whole) + tail;
  return `${src} > ${dst}: no next header len ${l4len}${tail}`;
}

const UNREACH6: Record<number, string> = {
  0: 'no-route',
  1: 'admin-prohibited',
  2: 'beyond-scope',
  3: 'address',
  4: 'port',
  5: 'source-policy',
  6: 'reject-route',
};

function icmp6Text(v: DataView, ipOff: number, o: number, len: number, complete: boolean): string {
  if (len < icmpv6.HEADER_LEN) return 'ICMPv6 [truncated]';
  const t = icmpv6.type(v, o);
  const c = icmpv6.code(v, o);
  const bad = complete && !icmpv6.checksumOk(v, ipOff, o, len) ? ' [bad icmpv6 cksum]' : '';
  if (t === icmpv6.TYPE_ECHO_REQUEST || t === icmpv6.TYPE_ECHO_REPLY) {
    const what = t === icmpv6.TYPE_ECHO_REQUEST ? 'request' : 'reply';
    return `ICMPv6 echo ${what} id ${icmpv6.echoId(v, o)} seq ${icmpv6.echoSeq(v, o)} len ${len - 8}${bad}`;
  }
  if (ndp.isNdp(t)) {
    const r = ndp.check(v, ipOff, o, len);
    if (r !== OK) return `ICMPv6 type ${t} [bad ndp: ${verdictName(r)}]${bad}`;
    const tgt = () => ipv6.addrToString(v, ndp.targetOffset(o));
    if (t === ndp.TYPE_NEIGHBOR_SOLICIT) return `ICMPv6 neighbor solicitation who-has ${tgt()}${bad}`;
    if (t === ndp.TYPE_NEIGHBOR_ADVERT) {
      const f = ndp.naFlags(v, o);
      const fl =
        (f & ndp.FLAG_ROUTER ? 'R' : '') + (f & ndp.FLAG_SOLICITED ? 'S' : '') + (f & ndp.FLAG_OVERRIDE ? 'O' : '');
      return `ICMPv6 neighbor advertisement tgt ${tgt()} [${fl || 'none'}]${bad}`;
    }
    if (t === ndp.TYPE_ROUTER_SOLICIT) return `ICMPv6 router solicitation${bad}`;
    if (t === ndp.TYPE_ROUTER_ADVERT) return `ICMPv6 router advertisement lifetime ${ndp.raRouterLifetime(v, o)}${bad}`;
    return `ICMPv6 redirect tgt ${tgt()}${bad}`;
  }
  if (!icmpv6.isError(t)) return `ICMPv6 type ${t} code ${c} len ${len - 8}${bad}`;
  let s: string;
  if (t === icmpv6.TYPE_DEST_UNREACH) s = `ICMPv6 unreachable ${UNREACH6[c] ?? 'code ' + c}`;
  else if (t === icmpv6.TYPE_PACKET_TOO_BIG) s = `ICMPv6 packet too big mtu ${icmpv6.mtu(v, o)}`;
  else if (t === icmpv6.TYPE_TIME_EXCEEDED)
    s = `ICMPv6 time exceeded ${c === 0 ? 'in-transit' : c === 1 ? 'reassembly' : 'code ' + c}`;
  else if (t === icmpv6.TYPE_PARAM_PROBLEM) s = `ICMPv6 parameter problem code ${c} pointer ${icmpv6.pointer(v, o)}`;
  else s = `ICMPv6 type ${t} code ${c}`;
  const q = icmpv6.quotedOffset(o);
  const qlen = len - icmpv6.HEADER_LEN;
  const r = icmpv6.checkQuoted(v, q, qlen);
  if (r !== OK) return `${s} [bad quoted ipv6: ${verdictName(r)}]${bad}`;
  return `${s} for ${quoted6(v, q, qlen)}${bad}`;
}

/** The packet quoted in an ICMPv6 error: addresses, protocol and ports when the quote reaches them. */
function quoted6(v: DataView, q: number, len: number): string {
  const src = ipv6.addrToString(v, ipv6.srcOffset(q));
  const dst = ipv6.addrToString(v, ipv6.dstOffset(q));
  const w = ipv6.walk(v, q, len);
  if (w < 0) return `${src} > ${dst}: [${verdictName(-w)}]`;
  const p = ipv6.walkProto(w);
  const l4 = ipv6.walkL4Offset(q, w);
  if (!ipv6.walkIsNotFirst(w) && (p === ipv6.NH_UDP || p === ipv6.NH_TCP) && q + len - l4 >= 4) {
    return `${src}.${v.getUint16(l4)} > ${dst}.${v.getUint16(l4 + 2)}: ${protoName(p)}`;
  }
  return `${src} > ${dst}: ${protoName(p)}`;
}

function udpText(
  v: DataView,
  ipOff: number,
  o: number,
  len: number,
  src: string,
  dst: string,
  complete: boolean,
  depth: number,
  v6: boolean,
): string {
  if (len < udp.HEADER_LEN) return `${src} > ${dst}: UDP [truncated]`;
  const sp = udp.srcPort(v, o);
  const dp = udp.dstPort(v, o);
  const head = `${src}.${sp} > ${dst}.${dp}: `;
  const r = udp.check(v, o, len);
  if (r !== OK) {
    if (r === TRUNCATED && !complete) return head + `UDP length ${udp.length(v, o)} [truncated]`;
    return head + `UDP [bad udp: ${verdictName(r)}, length ${udp.length(v, o)}]`;
  }
  const ulen = udp.length(v, o);
  const ok = v6 ? udp.checksumOk6(v, ipOff, o) : udp.checksumOk(v, ipOff, o);
  const bad = complete && !ok ? ' [bad udp cksum]' : '';
  if (dp === geneve.PORT) return head + geneveText(v, o + udp.HEADER_LEN, ulen - udp.HEADER_LEN, depth) + bad;
  return head + `UDP len ${ulen - udp.HEADER_LEN}` + bad;
}

function geneveText(v: DataView, g: number, len: number, depth: number): string {
  const r = geneve.check(v, g, len);
  if (r !== OK) return `Geneve [bad geneve: ${verdictName(r)}]`;
  let s = `Geneve vni ${geneve.vni(v, g)}`;
  const opts = geneve.optLen(v, g);
  if (opts) s += ` opts ${opts * 4}`;
  if (geneve.oam(v, g)) s += ' [O]';
  if (geneve.critical(v, g)) s += ' [C]';
  const inner = geneve.innerOffset(v, g);
  const innerLen = g + len - inner;
  const pt = geneve.protocol(v, g);
  if (depth + 1 >= MAX_DEPTH) return s + ': ...';
  if (pt === geneve.PROTO_TEB) return s + ': ' + frame(v, inner, innerLen, depth + 1, false);
  if (pt === ethernet.ETHERTYPE_IPV4) return s + ': ' + ip(v, inner, innerLen, depth + 1);
  if (pt === ethernet.ETHERTYPE_IPV6) return s + ': ' + ip6(v, inner, innerLen, depth + 1);
  return s + ` proto ${hex(pt, 4)} len ${innerLen}`;
}

const TCP_FLAGS: readonly [number, string][] = [
  [tcp.FIN, 'F'],
  [tcp.SYN, 'S'],
  [tcp.RST, 'R'],
  [tcp.PSH, 'P'],
  [tcp.ACK, '.'],
  [tcp.URG, 'U'],
  [tcp.ECE, 'E'],
  [tcp.CWR, 'W'],
];

/** tcpdump's flag letters: F S R P . U E W, in that order (`[S.]` for SYN-ACK), `[none]` for none. */
export function tcpFlagsText(f: number): string {
  let s = '';
  for (const [bit, c] of TCP_FLAGS) if (f & bit) s += c;
  return `[${s || 'none'}]`;
}

function tcpText(
  v: DataView,
  ipOff: number,
  o: number,
  len: number,
  src: string,
  dst: string,
  complete: boolean,
  v6: boolean,
): string {
  if (len < 4) return `${src} > ${dst}: TCP [truncated]`;
  const head = `${src}.${tcp.srcPort(v, o)} > ${dst}.${tcp.dstPort(v, o)}: TCP`;
  const r = tcp.check(v, o, len);
  if (r !== OK) return head + ` [${r === TRUNCATED ? 'truncated' : 'bad tcp: ' + verdictName(r)}]`;
  const f = tcp.flags(v, o);
  let s = `${head} ${tcpFlagsText(f)} seq ${tcp.seq(v, o) >>> 0}`;
  if (f & tcp.ACK) s += ` ack ${tcp.ack(v, o) >>> 0}`;
  s += ` win ${tcp.window(v, o)}`;
  if (f & tcp.URG) s += ` urg ${tcp.urgent(v, o)}`;
  const hl = tcp.headerLen(v, o);
  if (hl > tcp.HEADER_LEN) s += ` opts ${hl - tcp.HEADER_LEN}`;
  s += ` len ${len - hl}`;
  if (complete && !(v6 ? tcp.checksumOk6(v, ipOff, o) : tcp.checksumOk(v, ipOff, o))) s += ' [bad tcp cksum]';
  return s;
}

const UNREACH: Record<number, string> = {
  0: 'net',
  1: 'host',
  2: 'protocol',
  3: 'port',
  4: 'need-frag',
  5: 'source-route-failed',
  9: 'net-prohibited',
  10: 'host-prohibited',
  13: 'admin-prohibited',
};

function icmpText(v: DataView, o: number, len: number, complete: boolean): string {
  if (len < icmp.HEADER_LEN) return 'ICMP [truncated]';
  const t = icmp.type(v, o);
  const c = icmp.code(v, o);
  const bad = complete && !icmp.checksumOk(v, o, len) ? ' [bad icmp cksum]' : '';
  if (t === icmp.TYPE_ECHO_REQUEST || t === icmp.TYPE_ECHO_REPLY) {
    const what = t === icmp.TYPE_ECHO_REQUEST ? 'request' : 'reply';
    return `ICMP echo ${what} id ${icmp.echoId(v, o)} seq ${icmp.echoSeq(v, o)} len ${len - icmp.HEADER_LEN}${bad}`;
  }
  if (!icmp.isError(t)) return `ICMP type ${t} code ${c} len ${len - icmp.HEADER_LEN}${bad}`;
  let s: string;
  if (t === icmp.TYPE_DEST_UNREACH) {
    s = `ICMP unreachable ${UNREACH[c] ?? 'code ' + c}`;
    if (c === icmp.CODE_FRAG_NEEDED) s += ` mtu ${icmp.nextHopMtu(v, o)}`;
  } else if (t === icmp.TYPE_TIME_EXCEEDED) {
    s = `ICMP time exceeded ${c === 0 ? 'in-transit' : c === 1 ? 'reassembly' : 'code ' + c}`;
  } else if (t === icmp.TYPE_PARAM_PROBLEM) {
    s = `ICMP parameter problem code ${c} pointer ${icmp.pointer(v, o)}`;
  } else if (t === icmp.TYPE_REDIRECT) {
    s = `ICMP redirect code ${c} to ${ipv4.addrToString(icmp.gateway(v, o))}`;
  } else {
    s = `ICMP type ${t} code ${c}`;
  }
  const q = icmp.quotedOffset(o);
  const qlen = len - icmp.HEADER_LEN;
  const r = icmp.checkQuoted(v, q, qlen);
  if (r !== OK) return `${s} [bad quoted ipv4: ${verdictName(r)}]${bad}`;
  return `${s} for ${quoted(v, q, qlen)}${bad}`;
}

/** The datagram quoted in an ICMP error: addresses, protocol and ports (it is cut short by design). */
function quoted(v: DataView, q: number, len: number): string {
  const src = ipv4.addrToString(ipv4.src(v, q));
  const dst = ipv4.addrToString(ipv4.dst(v, q));
  const hl = ipv4.headerLen(v, q);
  const p = ipv4.proto(v, q);
  const l4 = q + hl;
  const have = len - hl;
  if (ipv4.fragOffset(v, q) !== 0) return `${src} > ${dst}: ${protoName(p)} (non-first fragment)`;
  if ((p === ipv4.PROTO_UDP || p === ipv4.PROTO_TCP) && have >= 4) {
    return `${src}.${v.getUint16(l4)} > ${dst}.${v.getUint16(l4 + 2)}: ${protoName(p)}`;
  }
  if (p === ipv4.PROTO_ICMP && have >= 8) {
    return `${src} > ${dst}: ICMP type ${v.getUint8(l4)} id ${icmp.echoId(v, l4)} seq ${icmp.echoSeq(v, l4)}`;
  }
  return `${src} > ${dst}: ${protoName(p)}`;
}
