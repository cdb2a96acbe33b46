/**
 * One-line, tcpdump-style summaries of frames and IPv4 packets for logs and test failures (cold path).
 *
 *     aa:bb:cc:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 198.18.0.3 tell 198.18.0.1
 *     02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4, 198.18.1.10.40000 > 198.18.0.100.80: TCP [S] seq 1 win 64240 len 0
 *     198.18.0.1.51234 > 198.18.0.3.6081: Geneve vni 0: 10.0.1.5.1234 > 198.18.0.100.53: UDP len 20
 *     198.18.0.100 > 198.18.1.10: ICMP unreachable need-frag mtu 1400 for 198.18.1.10.40000 > 198.18.0.100.80: UDP
 *
 * Never throws: malformed input prints `[truncated]` or `[bad <what>: <verdict>]` where the parse stops, and a
 * checksum that does not verify is flagged `[bad ip cksum]`, `[bad udp cksum]` ... `len` is the L4 payload
 * length (as tcpdump's "length").
 */
import * as arp from './arp.js';
import * as ethernet from './ethernet.js';
import * as geneve from './geneve.js';
import * as icmp from './icmp.js';
import * as ipv4 from './ipv4.js';
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

/** Summary of an IPv4 packet of `len` bytes at `off` (default: to the end of `b`). */
export function formatIp(b: Bytes, off = 0, len = -1): string {
  try {
    const v = view(b);
    return ip(v, off, clampLen(v, off, len), 0);
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
  if (t === ethernet.ETHERTYPE_IPV6) return s + `IPv6, length ${rest}`;
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
  if (proto === ipv4.PROTO_UDP) return udpText(v, o, l4, l4len, src, dst, complete, depth) + tail;
  if (proto === ipv4.PROTO_TCP) return tcpText(v, o, l4, l4len, src, dst, complete && !fragmented) + tail;
  if (proto === ipv4.PROTO_ICMP) return `${src} > ${dst}: ` + icmpText(v, l4, l4len, complete && !fragmented) + tail;
  return `${src} > ${dst}: ${protoName(proto)} len ${l4len}${tail}`;
}

function protoName(p: number): string {
  return p === 6 ? 'TCP' : p === 17 ? 'UDP' : p === 1 ? 'ICMP' : `ip-proto-${p}`;
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
  const bad = complete && !udp.checksumOk(v, ipOff, o) ? ' [bad udp cksum]' : '';
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
  if (complete && !tcp.checksumOk(v, ipOff, o)) s += ' [bad tcp cksum]';
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
