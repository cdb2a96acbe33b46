/**
 * engine/wire hot paths over a ring of 256 packets in one slab (2 KiB slots, 128 bytes headroom), so caches
 * behave as in the engine rather than re-touching one packet:
 *
 * - parse-check/udp, parse-check/tcp: Ethernet (tag skip) + IPv4 + UDP/TCP checks, then the 5-tuple read into a
 *   sink; `-bytes` is the same over a Uint8Array with byte-assembled fields (the baseline).
 * - snat/udp, snat/tcp: source address + source port with incremental IPv4 and L4 checksum updates
 *   (udp.snat / tcp.snat); `-bytes` rewrites byte by byte with the same arithmetic (baseline).
 * - encap/geneve: the template encapsulation of engine/wire/geneve.ts (precomputed big-endian words), outer UDP
 *   source port from a flow hash through flowSrcPort; compared with a copyWithin of the template from the
 *   same slab, TypedArray.set from the template bytes, and a byte-at-a-time write (baseline).
 * - decap/geneve: geneve.decap (outer Ethernet, IPv4, UDP 6081, Geneve checks) of encapsulated frames.
 * - IPv6 next to IPv4 in the same run (ratios against the IPv4 case, same L4 payload): parse-check/udp6 and tcp6
 *   (Ethernet + ipv6.check + ipv6.walk + UDP/TCP check, then the 128-bit addresses and ports into a sink),
 *   parse-check/udp6-ext (the same behind a Hop-by-Hop and a Destination Options header), checksum/udp6 against
 *   checksum/udp4 (verify the UDP checksum with the pseudo-header of each family), snat/udp6 and snat/tcp6
 *   (udp.snat6 / tcp.snat6: 128-bit source and port with the incremental L4 checksum update).
 */
import { Slab } from '../../engine/packet/slab.js';
import * as csum from '../../engine/wire/checksum.js';
import * as ethernet from '../../engine/wire/ethernet.js';
import * as geneve from '../../engine/wire/geneve.js';
import * as ipv4 from '../../engine/wire/ipv4.js';
import * as ipv6 from '../../engine/wire/ipv6.js';
import * as tcp from '../../engine/wire/tcp.js';
import * as udp from '../../engine/wire/udp.js';
import type { BenchCase, Suite } from '../harness.js';

const RING = 256;
const FRAME = 64; // 14 + 20 + 8 + 22 (UDP); TCP: 14 + 20 + 20 + 10

const slab = new Slab({ slots: RING * 6 });
const v = slab.dv;
const u8 = slab.u8;
const udpOff = new Int32Array(RING);
const tcpOff = new Int32Array(RING);
const encOff = new Int32Array(RING); // inner frames for encap (headroom before them)
const decOff = new Int32Array(RING); // encapsulated frames for decap
const decLen = new Int32Array(RING);
const lens = new Int32Array(RING);
const udp6Off = new Int32Array(RING);
const tcp6Off = new Int32Array(RING);
const ext6Off = new Int32Array(RING);
const lens6 = new Int32Array(RING);
const lens6ext = new Int32Array(RING);
let sink = 0;

const POD_BASE = 0xc6124000 | 0; // 198.18.64.0
const EXT = 0xc6120064 | 0; // 198.18.0.100
const EGRESS = 0xc6120003 | 0; // 198.18.0.3

function writeFrame(o: number, i: number, proto: number): void {
  ethernet.writeHeader(v, o, 0xaabb, 0xccddeeff | 0, 0x0200, 0x000001fe, ethernet.ETHERTYPE_IPV4);
  const l4len = FRAME - 34;
  ipv4.emit(
    {
      tos: 0,
      id: i,
      flagsFrag: ipv4.FLAG_DF,
      ttl: 63,
      proto,
      src: POD_BASE + (i & 255),
      dst: EXT + (i & 3),
      options: new Uint8Array(0),
      payloadLen: l4len,
    },
    v,
    o + 14,
  );
  for (let k = 0; k < l4len; k++) u8[o + 34 + k] = (i * 31 + k) & 0xff;
  if (proto === ipv4.PROTO_UDP) {
    udp.emit({ srcPort: 40000 + i, dstPort: 53, payloadLen: l4len - 8 }, v, o + 34);
    udp.fillChecksum(v, o + 14, o + 34);
  } else {
    tcp.emit(
      {
        srcPort: 40000 + i,
        dstPort: 443,
        seq: i * 7919,
        ack: 1,
        flags: tcp.ACK | tcp.PSH,
        window: 502,
        urgent: 0,
        options: new Uint8Array(0),
        payloadLen: l4len - 20,
      },
      v,
      o + 34,
    );
    tcp.fillChecksum(v, o + 14, o + 34);
  }
}

const L4LEN = FRAME - 34; // the same L4 bytes in the IPv6 frames as in the IPv4 ones
const PAD4 = new Uint8Array([1, 4, 0, 0, 0, 0]); // PadN of 4: an 8-byte options header
const POD6 = new Uint8Array([0x20, 0x01, 0, 2, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0]); // 2001:2:0:40::
const EXT6 = new Uint8Array([0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64]); // 2001:2::64
const EGRESS6 = [0x20010002 | 0, 0, 0, 3] as const; // 2001:2::3 as int32 words

/** An IPv6 frame: Ethernet, IPv6 (with `ext` extension headers), then the same L4 header and bytes as IPv4's. */
function writeFrame6(o: number, i: number, proto: number, ext: boolean): number {
  ethernet.writeHeader(v, o, 0xaabb, 0xccddeeff | 0, 0x0200, 0x000001fe, ethernet.ETHERTYPE_IPV6);
  const src = POD6.slice();
  src[15] = i & 255;
  const exts = ext
    ? [
        { type: ipv6.NH_HOP_BY_HOP, data: PAD4 },
        { type: ipv6.NH_DEST_OPTS, data: PAD4 },
      ]
    : [];
  const hl = ipv6.emit(
    { trafficClass: 0, flowLabel: i, hopLimit: 63, nextHeader: proto, src, dst: EXT6, ext: exts, payloadLen: L4LEN },
    v,
    o + 14,
  );
  const l4 = o + 14 + hl;
  for (let k = 0; k < L4LEN; k++) u8[l4 + k] = (i * 31 + k) & 0xff;
  if (proto === ipv4.PROTO_UDP) {
    udp.emit({ srcPort: 40000 + i, dstPort: 53, payloadLen: L4LEN - 8 }, v, l4);
    udp.fillChecksum6(v, o + 14, l4);
  } else {
    tcp.emit(
      {
        srcPort: 40000 + i,
        dstPort: 443,
        seq: i * 7919,
        ack: 1,
        flags: tcp.ACK | tcp.PSH,
        window: 502,
        urgent: 0,
        options: new Uint8Array(0),
        payloadLen: L4LEN - 20,
      },
      v,
      l4,
    );
    tcp.fillChecksum6(v, o + 14, l4);
  }
  return 14 + hl + L4LEN;
}

const tpl = geneve.buildTemplate({
  srcMac: new Uint8Array([2, 0, 0, 0, 0, 1]),
  dstMac: new Uint8Array([2, 0, 0, 0, 0, 2]),
  srcIp: 0xc6120001 | 0,
  dstIp: EGRESS,
  vni: 0,
});
// A copy of the template bytes in the slab itself (for the copyWithin variant): slot 0's first bytes.
const TPL_IN_SLAB = slab.base(0);

for (let i = 0; i < RING; i++) {
  udpOff[i] = slab.start(i);
  tcpOff[i] = slab.start(RING + i);
  lens[i] = FRAME;
  writeFrame(udpOff[i]!, i, ipv4.PROTO_UDP);
  writeFrame(tcpOff[i]!, i, ipv4.PROTO_TCP);
  encOff[i] = udpOff[i]!;
  const d = slab.start(2 * RING + i);
  u8.copyWithin(d, udpOff[i]!, udpOff[i]! + FRAME);
  decOff[i] = geneve.encap(v, d, FRAME, tpl, 1 + i);
  decLen[i] = FRAME + geneve.OVERHEAD;
}
u8.set(tpl.bytes, TPL_IN_SLAB);
for (let i = 0; i < RING; i++) {
  udp6Off[i] = slab.start(3 * RING + i);
  tcp6Off[i] = slab.start(4 * RING + i);
  ext6Off[i] = slab.start(5 * RING + i);
  lens6[i] = writeFrame6(udp6Off[i]!, i, ipv4.PROTO_UDP, false);
  writeFrame6(tcp6Off[i]!, i, ipv4.PROTO_TCP, false);
  lens6ext[i] = writeFrame6(ext6Off[i]!, i, ipv4.PROTO_UDP, true);
}

/** Flow hash of the inner IPv4 5-tuple (a murmur3-style mix; the stage's real hash lives with conntrack). */
function flowHash(o: number): number {
  let h = Math.imul(v.getInt32(o + 26) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ v.getInt32(o + 30) ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ v.getInt32(o + 34) ^ (h >>> 16), 0x85ebca6b);
  return h ^ (h >>> 13) ^ v.getUint8(o + 23);
}

// --- parse + check ---

function parseCheckUdp(): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const off = udpOff[i]!;
    const len = lens[i]!;
    const l3 = ethernet.l3Offset(v, off, len);
    if (l3 < 0 || v.getUint16(l3 - 2) !== ethernet.ETHERTYPE_IPV4) continue;
    if (ipv4.check(v, l3, off + len - l3) !== 0 || ipv4.proto(v, l3) !== ipv4.PROTO_UDP || ipv4.isFragment(v, l3))
      continue;
    const hl = ipv4.headerLen(v, l3);
    const l4 = l3 + hl;
    if (udp.check(v, l4, ipv4.totalLen(v, l3) - hl) !== 0) continue;
    s = (s + (ipv4.src(v, l3) ^ ipv4.dst(v, l3) ^ udp.ports(v, l4) ^ ipv4.PROTO_UDP)) | 0;
  }
  sink ^= s;
}

function parseCheckTcp(): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const off = tcpOff[i]!;
    const len = lens[i]!;
    const l3 = ethernet.l3Offset(v, off, len);
    if (l3 < 0 || v.getUint16(l3 - 2) !== ethernet.ETHERTYPE_IPV4) continue;
    if (ipv4.check(v, l3, off + len - l3) !== 0 || ipv4.proto(v, l3) !== ipv4.PROTO_TCP || ipv4.isFragment(v, l3))
      continue;
    const hl = ipv4.headerLen(v, l3);
    const l4 = l3 + hl;
    if (tcp.check(v, l4, ipv4.totalLen(v, l3) - hl) !== 0) continue;
    s = (s + (ipv4.src(v, l3) ^ ipv4.dst(v, l3) ^ tcp.ports(v, l4) ^ ipv4.PROTO_TCP)) | 0;
  }
  sink ^= s;
}

/** IPv6: Ethernet, check, walk, the upper layer's check, then a 5-tuple digest (four address words each). */
function parseCheck6(offs: Int32Array, ls: Int32Array, proto: number): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const off = offs[i]!;
    const len = ls[i]!;
    const l3 = ethernet.l3Offset(v, off, len);
    if (l3 < 0 || v.getUint16(l3 - 2) !== ethernet.ETHERTYPE_IPV6) continue;
    if (ipv6.check(v, l3, off + len - l3) !== 0) continue;
    const end = 40 + ipv6.payloadLen(v, l3);
    const w = ipv6.walk(v, l3, end);
    if (w < 0 || ipv6.walkProto(w) !== proto || ipv6.walkIsFragment(w)) continue;
    const l4 = ipv6.walkL4Offset(l3, w);
    const n = l3 + end - l4;
    const ports =
      proto === ipv4.PROTO_UDP
        ? udp.check(v, l4, n) === 0
          ? udp.ports(v, l4)
          : 0
        : tcp.check(v, l4, n) === 0
          ? tcp.ports(v, l4)
          : 0;
    const a = ipv6.srcWord(v, l3, 0) ^ ipv6.srcWord(v, l3, 1) ^ ipv6.srcWord(v, l3, 2) ^ ipv6.srcWord(v, l3, 3);
    const b = ipv6.dstWord(v, l3, 0) ^ ipv6.dstWord(v, l3, 1) ^ ipv6.dstWord(v, l3, 2) ^ ipv6.dstWord(v, l3, 3);
    s = (s + (a ^ b ^ ports ^ proto)) | 0;
  }
  sink ^= s;
}

// --- checksum verification, per family ---

function checksumUdp4(): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const o = udpOff[i]!;
    if (udp.checksumOk(v, o + 14, o + 34)) s++;
  }
  sink ^= s;
}
function checksumUdp6(): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const o = udp6Off[i]!;
    if (udp.checksumOk6(v, o + 14, o + 54)) s++;
  }
  sink ^= s;
}

/** The same checks with byte reads (the "no DataView" baseline). */
function parseCheckBytes(offs: Int32Array, proto: number): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const off = offs[i]!;
    const len = lens[i]!;
    if (len < 14) continue;
    let p = off + 12;
    let t = (u8[p]! << 8) | u8[p + 1]!;
    if (t === 0x8100 || t === 0x88a8) {
      p += 4;
      t = (u8[p]! << 8) | u8[p + 1]!;
    }
    const l3 = p + 2;
    if (t !== 0x0800) continue;
    const avail = off + len - l3;
    if (avail < 20) continue;
    const b0 = u8[l3]!;
    const hl = (b0 & 15) << 2;
    if (b0 >>> 4 !== 4 || hl < 20 || hl > avail) continue;
    const tl = (u8[l3 + 2]! << 8) | u8[l3 + 3]!;
    if (tl < hl || tl > avail || u8[l3 + 9] !== proto || (((u8[l3 + 6]! << 8) | u8[l3 + 7]!) & 0x3fff) !== 0) continue;
    const l4 = l3 + hl;
    const l4len = tl - hl;
    if (proto === 17) {
      const ul = (u8[l4 + 4]! << 8) | u8[l4 + 5]!;
      if (l4len < 8 || ul < 8 || ul > l4len) continue;
    } else if (l4len < 20 || u8[l4 + 12]! >>> 4 < 5 || (u8[l4 + 12]! >>> 4) << 2 > l4len) continue;
    const src = (u8[l3 + 12]! << 24) | (u8[l3 + 13]! << 16) | (u8[l3 + 14]! << 8) | u8[l3 + 15]!;
    const dst = (u8[l3 + 16]! << 24) | (u8[l3 + 17]! << 16) | (u8[l3 + 18]! << 8) | u8[l3 + 19]!;
    const ports = (u8[l4]! << 24) | (u8[l4 + 1]! << 16) | (u8[l4 + 2]! << 8) | u8[l4 + 3]!;
    s = (s + (src ^ dst ^ ports ^ proto)) | 0;
  }
  sink ^= s;
}

// --- SNAT rewrite ---

let round = 0;
function snatUdp(): void {
  const r = round++ & 7;
  for (let i = 0; i < RING; i++) {
    const o = udpOff[i]!;
    udp.snat(v, o + 14, o + 34, EGRESS + r, 61000 + i + r);
  }
}
function snatTcp(): void {
  const r = round++ & 7;
  for (let i = 0; i < RING; i++) {
    const o = tcpOff[i]!;
    tcp.snat(v, o + 14, o + 34, EGRESS + r, 61000 + i + r);
  }
}
function snatUdp6(): void {
  const r = round++ & 7;
  for (let i = 0; i < RING; i++) {
    const o = udp6Off[i]!;
    udp.snat6(v, o + 14, o + 54, EGRESS6[0], EGRESS6[1], EGRESS6[2], EGRESS6[3] + r, 61000 + i + r);
  }
}
function snatTcp6(): void {
  const r = round++ & 7;
  for (let i = 0; i < RING; i++) {
    const o = tcp6Off[i]!;
    tcp.snat6(v, o + 14, o + 54, EGRESS6[0], EGRESS6[1], EGRESS6[2], EGRESS6[3] + r, 61000 + i + r);
  }
}

/** Byte-at-a-time SNAT with the same RFC 1624 arithmetic (baseline for snat/udp). */
function snatUdpBytes(): void {
  const r = round++ & 7;
  for (let i = 0; i < RING; i++) {
    const ip = udpOff[i]! + 14;
    const l4 = ip + 20;
    const a = EGRESS + r;
    const port = 61000 + i + r;
    const oldHi = (u8[ip + 12]! << 8) | u8[ip + 13]!;
    const oldLo = (u8[ip + 14]! << 8) | u8[ip + 15]!;
    const nh = (a >>> 16) & 0xffff;
    const nl = a & 0xffff;
    u8[ip + 12] = nh >>> 8;
    u8[ip + 13] = nh & 0xff;
    u8[ip + 14] = nl >>> 8;
    u8[ip + 15] = nl & 0xff;
    let s = (~((u8[ip + 10]! << 8) | u8[ip + 11]!) & 0xffff) + (~oldHi & 0xffff) + (~oldLo & 0xffff) + nh + nl;
    s = (s >>> 16) + (s & 0xffff);
    s = (s >>> 16) + (s & 0xffff);
    const ipc = ~s & 0xffff;
    u8[ip + 10] = ipc >>> 8;
    u8[ip + 11] = ipc & 0xff;
    const oldPort = (u8[l4]! << 8) | u8[l4 + 1]!;
    u8[l4] = port >>> 8;
    u8[l4 + 1] = port & 0xff;
    const c = (u8[l4 + 6]! << 8) | u8[l4 + 7]!;
    if (c !== 0) {
      let t = (~c & 0xffff) + (~oldHi & 0xffff) + (~oldLo & 0xffff) + nh + nl + (~oldPort & 0xffff) + port;
      t = (t >>> 16) + (t & 0xffff);
      t = (t >>> 16) + (t & 0xffff);
      let nc = ~t & 0xffff;
      if (nc === 0) nc = 0xffff;
      u8[l4 + 6] = nc >>> 8;
      u8[l4 + 7] = nc & 0xff;
    }
  }
}

// --- Geneve encap / decap ---

function encapWords(): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const o = encOff[i]!;
    s += geneve.encap(v, o, lens[i]!, tpl, geneve.flowSrcPort(flowHash(o)));
  }
  sink ^= s;
}

/** Patch what encap patches, after the 50 template bytes were copied in some other way. */
function patch(n: number, len: number, srcPort: number): void {
  const tl = geneve.OVERHEAD - 14 + len;
  let s = tpl.ipSumNot + tl;
  s = (s & 0xffff) + (s >>> 16);
  v.setUint16(n + 16, tl);
  v.setUint16(n + 24, ~s & 0xffff);
  v.setUint16(n + 34, srcPort);
  v.setUint16(n + 38, tl - 20);
}
function encapCopyWithin(): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const o = encOff[i]!;
    const n = o - geneve.OVERHEAD;
    u8.copyWithin(n, TPL_IN_SLAB, TPL_IN_SLAB + geneve.OVERHEAD);
    patch(n, lens[i]!, geneve.flowSrcPort(flowHash(o)));
    s += n;
  }
  sink ^= s;
}
const tplBytes = tpl.bytes;
function encapSet(): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const o = encOff[i]!;
    const n = o - geneve.OVERHEAD;
    u8.set(tplBytes, n);
    patch(n, lens[i]!, geneve.flowSrcPort(flowHash(o)));
    s += n;
  }
  sink ^= s;
}
function encapBytes(): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const o = encOff[i]!;
    const n = o - geneve.OVERHEAD;
    for (let k = 0; k < geneve.OVERHEAD; k++) u8[n + k] = tplBytes[k]!;
    const len = lens[i]!;
    const tl = geneve.OVERHEAD - 14 + len;
    let c = tpl.ipSumNot + tl;
    c = (c & 0xffff) + (c >>> 16);
    c = ~c & 0xffff;
    const sp = geneve.flowSrcPort(flowHash(o));
    u8[n + 16] = tl >>> 8;
    u8[n + 17] = tl & 0xff;
    u8[n + 24] = c >>> 8;
    u8[n + 25] = c & 0xff;
    u8[n + 34] = sp >>> 8;
    u8[n + 35] = sp & 0xff;
    u8[n + 38] = (tl - 20) >>> 8;
    u8[n + 39] = (tl - 20) & 0xff;
    s += n;
  }
  sink ^= s;
}

function decap(): void {
  let s = 0;
  for (let i = 0; i < RING; i++) {
    const inner = geneve.decap(v, decOff[i]!, decLen[i]!);
    s = (s + inner) | 0;
  }
  sink ^= s;
}

/** Fail loudly if a variant does not produce the same bytes as encap (a benchmark of a wrong thing is worthless). */
function verifyEncapVariants(): void {
  const o = encOff[0]!;
  const n = o - geneve.OVERHEAD;
  const ref = () => u8.slice(n, o + FRAME).join();
  geneve.encap(v, o, FRAME, tpl, geneve.flowSrcPort(flowHash(o)));
  const want = ref();
  for (const f of [encapCopyWithin, encapSet, encapBytes]) {
    u8.fill(0, n, o);
    f();
    if (ref() !== want) throw new Error(`bench wire: ${f.name} writes different bytes from geneve.encap`);
  }
  if (!ipv4.checksumOk(v, n + 14) || csum.checksum(v, n + 14, 20) !== 0)
    throw new Error('bench wire: bad outer checksum');
}
verifyEncapVariants();

/** Fail loudly if the IPv6 cases would measure rejected packets or wrong checksums. */
function verifyIpv6(): void {
  for (const [offs, ls, hl] of [
    [udp6Off, lens6, 54],
    [ext6Off, lens6ext, 70],
  ] as const) {
    const o = offs[0]!;
    const w = ipv6.walk(v, o + 14, ls[0]! - 14);
    if (w < 0 || ipv6.walkL4Offset(o + 14, w) !== o + hl || !udp.checksumOk6(v, o + 14, o + hl))
      throw new Error('bench wire: bad IPv6 frame');
  }
  snatUdp6();
  snatTcp6();
  if (
    !udp.checksumOk6(v, udp6Off[0]! + 14, udp6Off[0]! + 54) ||
    !tcp.checksumOk6(v, tcp6Off[0]! + 14, tcp6Off[0]! + 54)
  )
    throw new Error('bench wire: snat6 broke a checksum');
}
verifyIpv6();

const cases: BenchCase[] = [
  { name: 'parse-check/udp-bytes', ops: RING, fn: () => parseCheckBytes(udpOff, ipv4.PROTO_UDP) },
  { name: 'parse-check/udp', ops: RING, fn: parseCheckUdp, baseline: 'wire/parse-check/udp-bytes' },
  { name: 'parse-check/tcp-bytes', ops: RING, fn: () => parseCheckBytes(tcpOff, ipv4.PROTO_TCP) },
  { name: 'parse-check/tcp', ops: RING, fn: parseCheckTcp, baseline: 'wire/parse-check/tcp-bytes' },
  { name: 'snat/udp-bytes', ops: RING, fn: snatUdpBytes },
  { name: 'snat/udp', ops: RING, fn: snatUdp, baseline: 'wire/snat/udp-bytes' },
  { name: 'snat/tcp', ops: RING, fn: snatTcp, baseline: 'wire/snat/udp-bytes' },
  { name: 'encap/geneve-bytes', ops: RING, fn: encapBytes },
  { name: 'encap/geneve-set', ops: RING, fn: encapSet, baseline: 'wire/encap/geneve-bytes' },
  { name: 'encap/geneve-copywithin', ops: RING, fn: encapCopyWithin, baseline: 'wire/encap/geneve-bytes' },
  { name: 'encap/geneve', ops: RING, fn: encapWords, baseline: 'wire/encap/geneve-bytes' },
  { name: 'decap/geneve', ops: RING, fn: decap },
  {
    name: 'parse-check/udp6',
    ops: RING,
    fn: () => parseCheck6(udp6Off, lens6, ipv4.PROTO_UDP),
    baseline: 'wire/parse-check/udp',
  },
  {
    name: 'parse-check/tcp6',
    ops: RING,
    fn: () => parseCheck6(tcp6Off, lens6, ipv4.PROTO_TCP),
    baseline: 'wire/parse-check/tcp',
  },
  {
    name: 'parse-check/udp6-ext',
    ops: RING,
    fn: () => parseCheck6(ext6Off, lens6ext, ipv4.PROTO_UDP),
    baseline: 'wire/parse-check/udp6',
  },
  { name: 'checksum/udp4', ops: RING, fn: checksumUdp4 },
  { name: 'checksum/udp6', ops: RING, fn: checksumUdp6, baseline: 'wire/checksum/udp4' },
  { name: 'snat/udp6', ops: RING, fn: snatUdp6, baseline: 'wire/snat/udp' },
  { name: 'snat/tcp6', ops: RING, fn: snatTcp6, baseline: 'wire/snat/tcp' },
];

const suite: Suite = { name: 'wire', cases };
export default suite;
export const _sink = () => sink;
