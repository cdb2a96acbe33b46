/**
 * engine/wire/icmpv6.ts against the scapy fixtures (echo request/reply, destination unreachable quoting a whole
 * datagram, Packet Too Big quoting 1232 bytes, time exceeded, parameter problem), the checksum with the IPv6
 * pseudo-header (RFC 4443 §2.3), the error builder compared with scapy's bytes, and the rules of RFC 4443 §2.4 (e)
 * on when an error may be sent; the NAT of a quoted packet against full checksums.
 */
import { describe, expect, it } from 'vitest';
import * as icmpv6 from '../../engine/wire/icmpv6.js';
import * as ipv6 from '../../engine/wire/ipv6.js';
import * as tcp from '../../engine/wire/tcp.js';
import * as udp from '../../engine/wire/udp.js';
import * as V from '../../engine/wire/verdict.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { a5, addr6, findLayer, hex, layer, load, num, str, type Frame } from './fixtures.js';

const echo = load('icmpv6-echo.pcap');
const errors = load('icmpv6-errors.pcap');

const ICMP_LAYERS = [
  'ICMPv6EchoRequest',
  'ICMPv6EchoReply',
  'ICMPv6DestUnreach',
  'ICMPv6PacketTooBig',
  'ICMPv6TimeExceeded',
  'ICMPv6ParamProblem',
];

function msg(f: Frame): { ip: number; o: number; len: number } {
  const ip = layer(f, 'IPv6').offset;
  const r = ipv6.walk(f.view, ip, ipv6.HEADER_LEN + ipv6.payloadLen(f.view, ip));
  const o = ipv6.walkL4Offset(ip, r);
  return { ip, o, len: ip + ipv6.HEADER_LEN + ipv6.payloadLen(f.view, ip) - o };
}

describe('icmpv6: parse against scapy', () => {
  for (const f of [...echo, ...errors]) {
    it(`${f.file}#${f.index}`, () => {
      const v = f.view;
      const c = f.layers.find((l) => ICMP_LAYERS.includes(l.layer))!;
      const { ip, o, len } = msg(f);
      expect(o).toBe(c.offset);
      expect(icmpv6.check(v, o, len)).toBe(V.OK);
      expect(icmpv6.type(v, o)).toBe(num(c, 'type'));
      expect(icmpv6.code(v, o)).toBe(num(c, 'code'));
      expect(icmpv6.checksumField(v, o)).toBe(num(c, 'cksum'));
      expect(icmpv6.checksumOk(v, ip, o, len)).toBe(true);
      expect(icmpv6.computeChecksum(v, ip, o, len)).toBe(num(c, 'cksum'));
      const t = num(c, 'type');
      if (t >= 128) {
        expect(icmpv6.isError(t)).toBe(false);
        expect(icmpv6.echoId(v, o)).toBe(num(c, 'id'));
        expect(icmpv6.echoSeq(v, o)).toBe(num(c, 'seq'));
      } else {
        expect(icmpv6.isError(t)).toBe(true);
        if (t === icmpv6.TYPE_PACKET_TOO_BIG) expect(icmpv6.mtu(v, o)).toBe(num(c, 'mtu'));
        if (t === icmpv6.TYPE_PARAM_PROBLEM) expect(icmpv6.pointer(v, o)).toBe(num(c, 'ptr'));
        const q = layer(f, 'IPerror6');
        expect(icmpv6.quotedOffset(o)).toBe(q.offset);
        expect(icmpv6.checkQuoted(v, q.offset, len - 8)).toBe(V.OK);
        expect(ipv6.addrToString(v, q.offset + 8)).toBe(str(q, 'src'));
        expect(ipv6.payloadLen(v, q.offset)).toBe(num(q, 'plen'));
        // The quoted packet's chain walks within the quote; its ports are where scapy found them.
        const u = findLayer(f, 'UDPerror') ?? findLayer(f, 'TCPerror');
        const qr = ipv6.walk(v, q.offset, len - 8);
        if (u) {
          expect(ipv6.walkL4Offset(q.offset, qr)).toBe(u.offset);
          expect(v.getUint16(u.offset)).toBe(num(u, 'sport'));
        } else expect(qr).toBe(-V.UNKNOWN_NEXT_HEADER); // the parameter problem's quote: Next Header 253
      }
      // Repr round trip into a 0xa5 buffer behind a copy of the IPv6 header (the checksum needs it).
      const rep = icmpv6.parse(v, o, len);
      const { bytes, view } = a5(40 + len + 1);
      bytes.set(f.bytes.subarray(ip, ip + 40), 0);
      expect(icmpv6.emit(rep, view, 0, 40)).toBe(len);
      expect(hex(bytes.subarray(40, 40 + len))).toBe(hex(f.bytes.subarray(o, o + len)));
      expect(bytes[40 + len]).toBe(0xa5);
    });
  }

  it('Packet Too Big quotes 1232 bytes: the error is exactly the 1280-byte minimum MTU', () => {
    const f = errors[1]!;
    expect(f.len - 14).toBe(ipv6.MIN_MTU);
    expect(icmpv6.QUOTE_MAX).toBe(1232);
    expect(ipv6.payloadLen(f.view, 62)).toBe(1460); // the original was 1500 bytes
  });

  it('verdicts: short messages and quotes', () => {
    const f = errors[0]!;
    const { o, len } = msg(f);
    expect(icmpv6.check(f.view, o, 7)).toBe(V.TRUNCATED);
    expect(icmpv6.check(f.view, o, 8 + 39)).toBe(V.TRUNCATED); // 39 bytes of quote: no IPv6 header
    const b = f.bytes.slice();
    b[o + 8] = 0x45;
    expect(icmpv6.check(new DataView(b.buffer), o, len)).toBe(V.BAD_VERSION);
    expect(icmpv6.check(echo[2]!.view, msg(echo[2]!).o, 8)).toBe(V.OK); // an echo needs no more than 8
  });

  it('a wrong checksum (or another pseudo-header) does not verify', () => {
    const f = echo[0]!;
    const { ip, o, len } = msg(f);
    const b = f.bytes.slice();
    const v = new DataView(b.buffer);
    b[ip + 39] ^= 1; // the destination address is in the pseudo-header
    expect(icmpv6.checksumOk(v, ip, o, len)).toBe(false);
    b[ip + 39] ^= 1;
    icmpv6.setEchoIdCsum(v, o, 0xbeef);
    expect(icmpv6.checksumOk(v, ip, o, len)).toBe(true);
    const eg = ipv6.addrWords(addr6('2001:2::3'));
    icmpv6.updateChecksumForAddr(v, o, ip + 8, ...eg);
    ipv6.setSrcWords(v, ip, ...eg);
    expect(icmpv6.checksumOk(v, ip, o, len)).toBe(true);
  });
});

describe('icmpv6: building errors', () => {
  const from = addr6('fe80::1fe');
  const original = (f: Frame) => f.bytes.slice(62); // the quoted packet of a fixture, as the invoking packet
  const build = (f: Frame, spec: icmpv6.ErrorSpec, extraOrig = 0) => {
    const orig = original(f);
    const big = new Uint8Array(orig.length + extraOrig);
    big.set(orig);
    const { bytes, view } = a5(1400);
    const n = icmpv6.emitErrorPacket(view, 0, from, spec, new DataView(big.buffer), 0, big.length);
    return { n, bytes };
  };
  it('port unreachable, time exceeded, parameter problem: byte-identical to scapy (IPv6 header and message)', () => {
    const specs: icmpv6.ErrorSpec[] = [
      { type: icmpv6.TYPE_DEST_UNREACH, code: icmpv6.CODE_PORT_UNREACH },
      { type: icmpv6.TYPE_TIME_EXCEEDED, code: icmpv6.CODE_HOP_LIMIT_EXCEEDED },
      { type: icmpv6.TYPE_PARAM_PROBLEM, code: icmpv6.CODE_UNKNOWN_NEXT_HEADER, rest: 6 },
    ];
    for (const [i, spec] of [
      [0, specs[0]!],
      [2, specs[1]!],
      [3, specs[2]!],
    ] as const) {
      const f = errors[i]!;
      const { n, bytes } = build(f, spec);
      expect(n).toBe(f.len - 14);
      expect(hex(bytes.subarray(0, n)), `${f.file}#${i}`).toBe(hex(f.bytes.subarray(14)));
      expect(bytes[n]).toBe(0xa5);
    }
  });
  it('Packet Too Big about a 1500-byte packet quotes 1232 bytes (RFC 4443 §2.4 c), as scapy', () => {
    const f = errors[1]!;
    // Rebuild the 1500-byte original: the fixture's quote plus the bytes scapy's payload pattern gives.
    const quote = original(f);
    const orig = new Uint8Array(1500);
    orig.set(quote);
    const { bytes, view } = a5(1400);
    const n = icmpv6.emitErrorPacket(
      view,
      0,
      from,
      { type: icmpv6.TYPE_PACKET_TOO_BIG, code: 0, rest: 1280 },
      new DataView(orig.buffer),
      0,
      orig.length,
    );
    expect(n).toBe(1280);
    expect(hex(bytes.subarray(0, n))).toBe(hex(f.bytes.subarray(14)));
  });
  it('a smaller maxQuote, and never more than the packet', () => {
    const f = errors[0]!;
    const orig = original(f);
    const { view } = a5(200);
    const ov = new DataView(orig.buffer);
    expect(icmpv6.emitErrorPacket(view, 0, from, { type: 1, code: 4 }, ov, 0, orig.length, 48)).toBe(40 + 8 + 48);
    expect(icmpv6.emitErrorPacket(view, 0, from, { type: 1, code: 4 }, ov, 0, orig.length)).toBe(40 + 8 + 60);
    expect(icmpv6.checksumOk(view, 0, 40, 68)).toBe(true);
  });

  it('errorAllowed follows RFC 4443 §2.4 (e)', () => {
    const udpPkt = load('eth-ipv6-udp-tcp.pcap')[0]!;
    const ok = (f: Frame, t: number, c: number, patch?: (b: Uint8Array) => void) => {
      const b = f.bytes.slice();
      patch?.(b);
      const v = new DataView(b.buffer);
      const r = ipv6.walk(v, 14, 40 + ipv6.payloadLen(v, 14));
      return icmpv6.errorAllowed(v, 14, r < 0 ? -1 : ipv6.walkL4Offset(14, r), r < 0 ? -1 : ipv6.walkProto(r), t, c);
    };
    expect(ok(udpPkt, 1, 4)).toBe(true);
    expect(ok(echo[0]!, 3, 0)).toBe(true); // about an echo request: yes
    expect(ok(errors[0]!, 1, 4)).toBe(false); // about an error: never (e.1)
    const toMulticast = (b: Uint8Array) => b.set(addr6('ff02::1'), 14 + 24);
    expect(ok(udpPkt, 1, 4, toMulticast)).toBe(false); // to multicast (e.3) ...
    expect(ok(udpPkt, 2, 0, toMulticast)).toBe(true); // ... except Packet Too Big
    expect(ok(udpPkt, 4, 2, toMulticast)).toBe(true); // ... and an unrecognised option
    expect(ok(udpPkt, 1, 4, (b) => b.fill(0, 14 + 8, 14 + 24))).toBe(false); // from :: (e.5)
    expect(ok(udpPkt, 1, 4, (b) => b.set(addr6('ff02::1'), 14 + 8))).toBe(false); // from multicast
    const ns = load('ndp.pcap')[0]!; // an NS to a solicited-node address: multicast, so no (e.3)
    expect(ok(ns, 1, 4)).toBe(false);
    const na = load('ndp.pcap')[1]!; // a unicast NA is informational: an error about it is allowed
    expect(ok(na, 1, 4)).toBe(true);
  });
});

describe.skipIf(!hasScapy())('icmpv6: NAT of the quoted packet against full checksums', () => {
  // Errors quoting: a whole UDP datagram, one with checksum 0, a whole TCP segment behind a Destination Options
  // header, TCP cut to 8 bytes (its checksum not quoted), a whole echo request. Built by scapy, checksums good.
  const Q = [
    "IPv6(src='2001:2::253', dst='2001:2::100')/UDP(sport=40000, dport=53)/b'query'",
    "IPv6(src='2001:2::253', dst='2001:2::100')/UDP(sport=40000, dport=53, chksum=0)/b'query'",
    "IPv6(src='2001:2::253', dst='2001:2::100')/IPv6ExtHdrDestOpt()/TCP(sport=41000, dport=443, flags='S')/b'x'",
    "bytes(IPv6(src='2001:2::253', dst='2001:2::100')/TCP(sport=41000, dport=443, flags='S'))[:48]",
    "IPv6(src='2001:2::253', dst='2001:2::100')/ICMPv6EchoRequest(id=7, seq=1, data=b'ping')",
  ];
  const pkts = hasScapy()
    ? scapyBytes(Q.map((q) => `IPv6(src='2001:2::1', dst='2001:2::253')/ICMPv6DestUnreach(code=1)/${q}`))
    : [];
  let x = 88172645;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x | 0;
  };
  Q.forEach((q, n) => {
    it(q, () => {
      for (let k = 0; k < 200; k++) {
        const b = pkts[n]!.slice();
        const v = new DataView(b.buffer);
        const end = 40 + ipv6.payloadLen(v, 0);
        const qo = 48;
        const r = ipv6.walk(v, qo, end - qo);
        const ql4 = ipv6.walkL4Offset(qo, r);
        const qp = ipv6.walkProto(r);
        const a = [rnd(), rnd(), rnd(), rnd()] as const;
        const port = rnd() & 0xffff;
        icmpv6.updateChecksumForAddr(v, 40, 24, ...a);
        ipv6.setDstWords(v, 0, ...a);
        icmpv6.setQuotedAddrCsum(v, 40, end, qo + 8, ql4, qp, ...a);
        icmpv6.setQuotedWordCsum(v, 40, end, qp === ipv6.NH_ICMPV6 ? 4 : 0, ql4, qp, port);
        expect(icmpv6.checksumOk(v, 0, 40, end - 40), 'error checksum').toBe(true);
        expect(ipv6.addrEqual(v, qo + 8, v, 24)).toBe(true);
        expect(v.getUint16(ql4 + (qp === ipv6.NH_ICMPV6 ? 4 : 0))).toBe(port);
        if (n === 0) expect(udp.checksumOk6(v, qo, ql4), 'quoted UDP').toBe(true);
        if (n === 1) expect(v.getUint16(ql4 + 6)).toBe(0);
        if (n === 2) expect(tcp.checksumOk6(v, qo, ql4), 'quoted TCP').toBe(true);
        if (n === 4) expect(icmpv6.checksumOk(v, qo, ql4, end - ql4), 'quoted echo').toBe(true);
      }
    });
  });
});
