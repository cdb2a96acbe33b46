/**
 * Robustness of every `check()` (and of decap and the formatter): every truncation of every fixture, and
 * seeded random and mutated bytes, IPv4 and IPv6 (the extension-header walker, ICMPv6, NDP and its builders). A check never throws and returns the verdict the truncation calls for; after
 * OK, the accessors and `parse` of that protocol read only inside the bytes checked. Each input lives in a buffer
 * of exactly its length, so a read past the end throws RangeError and fails the test.
 */
import { describe, expect, it } from 'vitest';
import * as arp from '../../engine/wire/arp.js';
import * as ethernet from '../../engine/wire/ethernet.js';
import { formatFrame, formatIp } from '../../engine/wire/format.js';
import * as geneve from '../../engine/wire/geneve.js';
import * as icmp from '../../engine/wire/icmp.js';
import * as icmpv6 from '../../engine/wire/icmpv6.js';
import * as ipv4 from '../../engine/wire/ipv4.js';
import * as ipv6 from '../../engine/wire/ipv6.js';
import * as ndp from '../../engine/wire/ndp.js';
import * as tcp from '../../engine/wire/tcp.js';
import * as udp from '../../engine/wire/udp.js';
import { OK, TRUNCATED, VERDICT_NAMES } from '../../engine/wire/verdict.js';
import { allFrames, randomBytes, rng, type Frame } from './fixtures.js';

function tight(b: Uint8Array): DataView {
  const c = new Uint8Array(b.length);
  c.set(b);
  return new DataView(c.buffer);
}

/** How often the IPv6 paths ran (so a fuzzer that never reaches them fails instead of passing vacuously). */
const seen = { ipv6: 0, walked: 0, icmpv6: 0, ndp: 0 };

/** Call every accessor (and parse) of a protocol whose check returned OK for `len` bytes at `o`. */
const exercise = {
  ipv4(v: DataView, o: number): void {
    ipv4.parse(v, o);
    ipv4.checksumOk(v, o);
    void [ipv4.version(v, o), ipv4.tos(v, o), ipv4.id(v, o), ipv4.flagsFrag(v, o), ipv4.ttl(v, o), ipv4.proto(v, o)];
    void [ipv4.headerChecksum(v, o), ipv4.src(v, o), ipv4.dst(v, o), ipv4.isFragment(v, o)];
  },
  udp(v: DataView, o: number): void {
    udp.parse(v, o);
    void [udp.srcPort(v, o), udp.dstPort(v, o), udp.ports(v, o), udp.length(v, o), udp.checksumField(v, o)];
  },
  tcp(v: DataView, o: number, len: number): void {
    tcp.parse(v, o, len);
    void [tcp.seq(v, o), tcp.ack(v, o), tcp.flags(v, o), tcp.window(v, o), tcp.urgent(v, o), tcp.checksumField(v, o)];
  },
  arp(v: DataView, o: number): void {
    arp.parse(v, o);
    void [arp.shaHi16(v, o), arp.shaLo32(v, o), arp.thaHi16(v, o), arp.thaLo32(v, o), arp.spa(v, o), arp.tpa(v, o)];
  },
  icmp(v: DataView, o: number, len: number): void {
    icmp.parse(v, o, len);
    icmp.checksumOk(v, o, len);
    void [
      icmp.type(v, o),
      icmp.code(v, o),
      icmp.echoId(v, o),
      icmp.echoSeq(v, o),
      icmp.nextHopMtu(v, o),
      icmp.rest(v, o),
    ];
    if (icmp.isError(icmp.type(v, o))) {
      const q = icmp.quotedOffset(o);
      void [ipv4.src(v, q), ipv4.dst(v, q), ipv4.proto(v, q), ipv4.totalLen(v, q), ipv4.headerChecksum(v, q)];
      const l4 = q + ipv4.headerLen(v, q);
      const need = Math.min(ipv4.totalLen(v, q), ipv4.headerLen(v, q) + 8) - ipv4.headerLen(v, q);
      if (need >= 8) void [v.getUint32(l4), v.getUint32(l4 + 4)]; // the quoted ports / echo id are readable
      // The quoted-datagram NAT helpers stay inside the bytes too.
      const copy = new Uint8Array(v.byteLength);
      copy.set(new Uint8Array(v.buffer));
      const w = new DataView(copy.buffer);
      icmp.setQuotedSrcCsum(w, o, len, 0x01020304);
      icmp.setQuotedDstCsum(w, o, len, 0x01020305);
      icmp.setQuotedSrcPortCsum(w, o, len, 1);
      icmp.setQuotedDstPortCsum(w, o, len, 2);
      icmp.setQuotedEchoIdCsum(w, o, len, 3);
    }
  },
  /** An IPv6 packet that passed `ipv6.check` at `o`: the walk, and every upper layer it reaches. */
  ipv6(v: DataView, o: number): void {
    void [
      ipv6.trafficClass(v, o),
      ipv6.flowLabel(v, o),
      ipv6.hopLimit(v, o),
      ipv6.srcWord(v, o, 3),
      ipv6.dstWord(v, o, 3),
    ];
    ipv6.addrToString(v, ipv6.srcOffset(o));
    const len = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
    const r = ipv6.walk(v, o, len);
    seen.ipv6++;
    expect(r >= 0 || VERDICT_NAMES[-r] !== undefined).toBe(true);
    if (r < 0) return;
    seen.walked++;
    const l4 = ipv6.walkL4Offset(o, r);
    expect(l4).toBeLessThanOrEqual(o + len);
    ipv6.parse(v, o, r);
    if (ipv6.walkIsNotFirst(r)) return;
    const n = o + len - l4;
    const p = ipv6.walkProto(r);
    if (p === ipv6.NH_UDP && udp.check(v, l4, n) === OK) {
      exercise.udp(v, l4);
      udp.checksumOk6(v, o, l4);
      udp.computeChecksum6(v, o, l4);
    }
    if (p === ipv6.NH_TCP && tcp.check(v, l4, n) === OK) {
      exercise.tcp(v, l4, n);
      tcp.checksumOk6(v, o, l4);
    }
    if (p === ipv6.NH_ICMPV6 && icmpv6.check(v, l4, n) === OK) exercise.icmpv6(v, o, l4, n);
  },
  icmpv6(v: DataView, ip: number, o: number, len: number): void {
    seen.icmpv6++;
    icmpv6.parse(v, o, len);
    icmpv6.checksumOk(v, ip, o, len);
    void [icmpv6.type(v, o), icmpv6.code(v, o), icmpv6.echoId(v, o), icmpv6.mtu(v, o), icmpv6.pointer(v, o)];
    const t = icmpv6.type(v, o);
    if (icmpv6.isError(t)) {
      const q = icmpv6.quotedOffset(o);
      const r = ipv6.walk(v, q, len - 8); // the quote's chain, bounded by the quote
      if (r >= 0) expect(ipv6.walkL4Offset(q, r)).toBeLessThanOrEqual(o + len);
    }
    const w = ipv6.walk(v, ip, ipv6.HEADER_LEN + ipv6.payloadLen(v, ip));
    icmpv6.errorAllowed(v, ip, o, w >= 0 ? ipv6.walkProto(w) : -1, 1, 4);
    if (ndp.isNdp(t) && ndp.check(v, ip, o, len) === OK) {
      seen.ndp++;
      ndp.parse(v, o, len);
      ndp.llaOption(v, o, len, ndp.OPT_SOURCE_LLA);
      ndp.llaOption(v, o, len, ndp.OPT_TARGET_LLA);
      if (t === ndp.TYPE_NEIGHBOR_SOLICIT) {
        const out = new DataView(new ArrayBuffer(ndp.FRAME_LEN));
        const mac = new Uint8Array([2, 0, 0, 0, 0, 2]);
        expect(ndp.emitSolicitedAdvertFrame(out, 0, mac, v, Math.max(0, ip - 14), ip, o, len)).toBe(ndp.FRAME_LEN);
        expect(icmpv6.checksumOk(out, 14, 54, 32)).toBe(true);
      }
    }
  },
  geneve(v: DataView, o: number): void {
    geneve.parse(v, o);
    geneve.hasCriticalOption(v, o);
    void [geneve.vni(v, o), geneve.protocol(v, o), geneve.oam(v, o), geneve.critical(v, o), geneve.innerOffset(v, o)];
  },
};

/** Run every check at every plausible offset of `v`; returns nothing, throws only on a defect. */
function everything(v: DataView, len: number): void {
  ethernet.check(v, 0, len);
  const l3 = ethernet.l3Offset(v, 0, len);
  if (l3 >= 0) {
    ethernet.parse(v, 0, len);
    ethernet.vlanId(v, 0);
    ethernet.innerVlanId(v, 0, len);
  }
  for (const o of [0, 14, 18, 64, l3]) {
    if (o < 0 || o > len) continue;
    const n = len - o;
    if (ipv4.check(v, o, n, true) === OK) {
      exercise.ipv4(v, o);
      const hl = ipv4.headerLen(v, o);
      const pl = ipv4.totalLen(v, o) - hl;
      const l4 = o + hl;
      if (udp.check(v, l4, pl) === OK) {
        exercise.udp(v, l4);
        udp.checksumOk(v, o, l4);
        const g = l4 + 8;
        if (geneve.check(v, g, udp.length(v, l4) - 8) === OK) exercise.geneve(v, g);
      }
      if (tcp.check(v, l4, pl) === OK) {
        exercise.tcp(v, l4, pl);
        tcp.checksumOk(v, o, l4);
      }
      if (icmp.check(v, l4, pl, true) === OK) exercise.icmp(v, l4, pl);
    }
    if (ipv6.check(v, o, n) === OK) exercise.ipv6(v, o);
    if (arp.check(v, o, n) === OK) exercise.arp(v, o);
    if (icmp.check(v, o, n) === OK) exercise.icmp(v, o, n);
    if (udp.check(v, o, n) === OK) exercise.udp(v, o);
    if (tcp.check(v, o, n) === OK) exercise.tcp(v, o, n);
    if (geneve.check(v, o, n) === OK) exercise.geneve(v, o);
  }
  const d = geneve.decap(v, 0, len, true);
  expect(Number.isInteger(d) && d <= len && (d >= 0 || VERDICT_NAMES[-d] !== undefined)).toBe(true);
  if (d >= 0) expect(d + geneve.innerLen(v, geneve.outerCheck(v, 0, len))).toBeLessThanOrEqual(len);
  const s1 = formatFrame(v, 0, len);
  const s2 = formatIp(v, 0, len);
  expect(s1).not.toContain('formatter error');
  expect(s2).not.toContain('formatter error');
}

/** The verdict a protocol's check should give for the first `avail` bytes of its layer in frame `f`. */
function expectedVerdicts(f: Frame, trunc: number): [string, () => number, number][] {
  const out: [string, () => number, number][] = [];
  const full = f.view;
  let ipOff = -1;
  let ipAvail = 0;
  let ip6 = false; // the enclosing IP header is IPv6
  let frag6 = false; // ... and carries a Fragment header with M or an offset
  for (const l of f.layers) {
    const o = l.offset;
    const avail = trunc - o;
    if (avail < 0) break;
    const v = tight(f.bytes.subarray(0, trunc));
    // Bytes the layer is allowed to use: bounded by the enclosing IPv4 datagram when there is one.
    const inIp = ipOff >= 0 ? Math.min(avail, ipOff + ipAvail - o) : avail;
    switch (l.layer) {
      case 'Ether':
        if (o === 0) out.push(['ethernet', () => ethernet.check(v, 0, trunc), trunc >= 14 ? OK : TRUNCATED]);
        break;
      case 'IP': {
        const tl = ipv4.totalLen(full, o);
        out.push([`ipv4@${o}`, () => ipv4.check(v, o, avail, true), avail >= tl ? OK : TRUNCATED]);
        ipOff = o;
        ipAvail = tl;
        ip6 = false;
        break;
      }
      case 'IPv6': {
        const tl = ipv6.HEADER_LEN + ipv6.payloadLen(full, o);
        out.push([`ipv6@${o}`, () => ipv6.check(v, o, avail), avail >= tl ? OK : TRUNCATED]);
        ipOff = o;
        ipAvail = tl;
        ip6 = true;
        frag6 = false;
        break;
      }
      case 'IPv6ExtHdrFragment':
        frag6 = (full.getUint16(o + 2) & 0xfff9) !== 0;
        break;
      case 'ICMPv6EchoRequest':
      case 'ICMPv6EchoReply':
      case 'ICMPv6DestUnreach':
      case 'ICMPv6PacketTooBig':
      case 'ICMPv6TimeExceeded':
      case 'ICMPv6ParamProblem':
      case 'ICMPv6ND_NS':
      case 'ICMPv6ND_NA':
      case 'ICMPv6ND_RS':
      case 'ICMPv6ND_RA': {
        const need = icmpv6.isError(icmpv6.type(full, o)) ? 8 + 40 : 8;
        out.push([`icmpv6@${o}`, () => icmpv6.check(v, o, inIp), inIp >= need ? OK : TRUNCATED]);
        if (ndp.isNdp(icmpv6.type(full, o)) && f.index < 6) {
          // The good NDP messages of ndp.pcap: OK whole, TRUNCATED short of the fixed part.
          const fl = ndp.fixedLen(icmpv6.type(full, o));
          const whole = inIp === ipAvail - (o - ipOff);
          if (whole || inIp < fl) out.push([`ndp@${o}`, () => ndp.check(v, ipOff, o, inIp), whole ? OK : TRUNCATED]);
        }
        break;
      }
      case 'UDP': {
        if (ip6 ? frag6 : ipv4.isFragment(full, ipOff)) break;
        const ul = udp.length(full, o);
        out.push([`udp@${o}`, () => udp.check(v, o, inIp), inIp >= ul ? OK : TRUNCATED]);
        break;
      }
      case 'TCP': {
        const hl = tcp.headerLen(full, o);
        out.push([`tcp@${o}`, () => tcp.check(v, o, inIp), inIp >= hl ? OK : TRUNCATED]);
        break;
      }
      case 'ARP':
        out.push([`arp@${o}`, () => arp.check(v, o, avail), avail >= 28 ? OK : TRUNCATED]);
        break;
      case 'ICMP': {
        const t = icmp.type(full, o);
        let need = 8;
        if (icmp.isError(t)) {
          const q = o + 8;
          const hl = ipv4.headerLen(full, q);
          need = 8 + hl + Math.min(8, ipv4.totalLen(full, q) - hl);
        }
        out.push([
          `icmp@${o}`,
          () => icmp.check(v, o, inIp, true),
          inIp >= ipAvail - (o - ipOff) ? OK : inIp >= need ? -1 : TRUNCATED,
        ]);
        break;
      }
      case 'GENEVE': {
        const hl = geneve.headerLen(full, o);
        out.push([`geneve@${o}`, () => geneve.check(v, o, inIp), inIp >= hl ? OK : TRUNCATED]);
        break;
      }
    }
  }
  return out;
}

describe('every truncation of every fixture', () => {
  for (const f of allFrames()) {
    it(`${f.file}#${f.index} (${f.len + 1} lengths)`, () => {
      for (let trunc = 0; trunc <= f.len; trunc++) {
        const v = tight(f.bytes.subarray(0, trunc));
        everything(v, trunc);
        for (const [what, run, want] of expectedVerdicts(f, trunc)) {
          const got = run();
          // -1: a truncated ICMP message whose checksum no longer verifies but whose structure does (BAD_CHECKSUM).
          if (want === -1) expect(got, `${what} at ${trunc}`).not.toBe(TRUNCATED);
          else expect(`${what} at ${trunc}: ${VERDICT_NAMES[got]}`).toBe(`${what} at ${trunc}: ${VERDICT_NAMES[want]}`);
        }
        // Decapsulation of a truncated Geneve frame is TRUNCATED; of a whole one, the inner frame.
        if (f.file === 'geneve-udp.pcap')
          expect(geneve.decap(v, 0, trunc, true)).toBe(trunc === f.len ? 50 : -TRUNCATED);
      }
    });
  }
});

describe('random and mutated bytes', () => {
  it('20 000 seeded random buffers of 0..200 bytes', () => {
    const r = rng(0xbad);
    for (let i = 0; i < 20_000; i++) {
      const b = randomBytes(r, (r() * 201) | 0);
      // Make the interesting paths likelier: an IPv4 version nibble, an ARP fixed part, an Ethernet type; IPv6
      // with a Payload Length that fits and an extension header or ICMPv6 as Next Header.
      if (b.length > 14 && r() < 0.5) {
        b[12] = 0x08;
        b[13] = r() < 0.7 ? 0x00 : 0x06;
        if (b[13] === 0 && r() < 0.7) b[14] = 0x45;
      } else if (b.length > 54 && r() < 0.6) {
        b[12] = 0x86;
        b[13] = 0xdd;
        b[14] = 0x60;
        const pl = b.length - 54;
        b[18] = pl >>> 8;
        b[19] = pl & 0xff;
        b[20] = [0, 43, 44, 60, 58, 58, 17, 6][(r() * 8) | 0]!;
        if (b[20] === 58) b[21] = 255;
      }
      everything(tight(b), b.length);
    }
  });
  it('fixtures with 1..4 random bytes changed, 20 000 times', () => {
    const r = rng(0x5eed);
    const frames = allFrames();
    for (let i = 0; i < 20_000; i++) {
      const f = frames[(r() * frames.length) | 0]!;
      const b = f.bytes.slice();
      const n = 1 + ((r() * 4) | 0);
      for (let k = 0; k < n; k++) b[(r() * b.length) | 0] = (r() * 256) | 0;
      const cut = r() < 0.3 ? (r() * b.length) | 0 : b.length;
      everything(tight(b.subarray(0, cut)), cut);
    }
  });
  it('the IPv6 paths were reached: checked, walked, ICMPv6 and NDP exercised', () => {
    expect(seen.ipv6).toBeGreaterThan(1000);
    expect(seen.walked).toBeGreaterThan(500);
    expect(seen.icmpv6).toBeGreaterThan(100);
    expect(seen.ndp).toBeGreaterThan(50);
  });
  it('the formatter never throws on random input, views and offsets out of range included', () => {
    const r = rng(42);
    for (let i = 0; i < 5000; i++) {
      const b = randomBytes(r, (r() * 100) | 0);
      const off = ((r() * 120) | 0) - 10;
      const len = ((r() * 140) | 0) - 10;
      expect(() => formatFrame(b, off, len)).not.toThrow();
      expect(() => formatIp(b, off, len)).not.toThrow();
      expect(formatFrame(b, off, len)).not.toContain('formatter error');
      expect(formatIp(b, off, len)).not.toContain('formatter error');
    }
  });
});
