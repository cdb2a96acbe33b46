/**
 * engine/wire/ipv6.ts against the scapy fixtures (RFC 8200 header, each extension header, a five-header chain,
 * fragments), the walker's verdicts for the bad chains of ipv6-ext-bad.pcap (expected verdicts written from
 * RFC 8200 in the table below, not from the code), its limits, Repr round trips into 0xa5-filled buffers,
 * UDP/TCP over IPv6 checksums (RFC 8200 §8.1) against scapy's, SNAT66 rewrites compared byte for byte with the
 * packet scapy builds with the new source, and the address text forms (RFC 4291 §2.2, RFC 5952).
 */
import { describe, expect, it } from 'vitest';
import * as cs from '../../engine/wire/checksum.js';
import * as ipv6 from '../../engine/wire/ipv6.js';
import * as tcp from '../../engine/wire/tcp.js';
import * as udp from '../../engine/wire/udp.js';
import * as V from '../../engine/wire/verdict.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { a5, addr6, findLayer, hex, layer, load, num, refChecksum, str, type Frame } from './fixtures.js';

const plain = load('eth-ipv6-udp-tcp.pcap');
const ext = load('ipv6-ext.pcap');
const bad = load('ipv6-ext-bad.pcap');

const EXT_NAMES = ['IPv6ExtHdrHopByHop', 'IPv6ExtHdrDestOpt', 'IPv6ExtHdrRouting', 'IPv6ExtHdrFragment'];
const UPPER = ['UDP', 'TCP', 'ICMPv6EchoRequest'];

function whole(f: Frame): { o: number; len: number } {
  const o = layer(f, 'IPv6').offset;
  return { o, len: ipv6.HEADER_LEN + ipv6.payloadLen(f.view, o) };
}

describe('ipv6: parse and walk against scapy', () => {
  for (const f of [...plain, ...ext]) {
    it(`${f.file}#${f.index}`, () => {
      const v = f.view;
      const h = layer(f, 'IPv6');
      const o = h.offset;
      expect(ipv6.check(v, o, f.len - o)).toBe(V.OK);
      expect(ipv6.version(v, o)).toBe(num(h, 'version'));
      expect(ipv6.trafficClass(v, o)).toBe(num(h, 'tc'));
      expect(ipv6.flowLabel(v, o)).toBe(num(h, 'fl'));
      expect(ipv6.payloadLen(v, o)).toBe(num(h, 'plen'));
      expect(ipv6.nextHeader(v, o)).toBe(num(h, 'nh'));
      expect(ipv6.hopLimit(v, o)).toBe(num(h, 'hlim'));
      expect(ipv6.addrToString(v, ipv6.srcOffset(o))).toBe(str(h, 'src'));
      expect(ipv6.addrToString(v, ipv6.dstOffset(o))).toBe(str(h, 'dst'));
      expect(ipv6.srcWord(v, o, 0)).toBe(new DataView(addr6(str(h, 'src')).buffer).getInt32(0));
      expect(ipv6.dstWord(v, o, 3)).toBe(new DataView(addr6(str(h, 'dst')).buffer).getInt32(12));

      const r = ipv6.walk(v, o, whole(f).len);
      expect(r).toBeGreaterThanOrEqual(0);
      const frag = findLayer(f, 'IPv6ExtHdrFragment');
      const isFrag = frag !== undefined && (num(frag, 'm') !== 0 || num(frag, 'offset') !== 0);
      expect(ipv6.walkIsFragment(r)).toBe(isFrag);
      expect(ipv6.walkIsNotFirst(r)).toBe(frag !== undefined && num(frag, 'offset') !== 0);
      const exts = f.layers.filter((l) => EXT_NAMES.includes(l.layer));
      const last = exts[exts.length - 1];
      if (frag && num(frag, 'offset') !== 0) {
        // A later fragment: the walk stops after the Fragment header, at the fragment's data.
        expect(ipv6.walkL4Offset(o, r)).toBe(frag.offset + 8);
        expect(ipv6.walkProto(r)).toBe(num(frag, 'nh'));
      } else {
        const up = f.layers.find((l) => UPPER.includes(l.layer))!;
        expect(ipv6.walkL4Offset(o, r)).toBe(up.offset);
        expect(ipv6.walkProto(r)).toBe(last ? num(last, 'nh') : num(h, 'nh'));
      }
      // Each extension header's length as scapy laid them out.
      for (let i = 0; i + 1 < exts.length; i++) {
        const e = exts[i]!;
        const n = e.layer === 'IPv6ExtHdrFragment' ? 8 : (num(e, 'len') + 1) * 8;
        expect(exts[i + 1]!.offset - e.offset).toBe(n);
      }

      // Repr round trip: the fixed header and the extension headers, byte for byte.
      const rep = ipv6.parse(v, o, r);
      const hl = ipv6.reprHeaderLen(rep);
      expect(hl).toBe(ipv6.walkL4Offset(o, r) - o);
      const { bytes, view } = a5(hl + 2);
      expect(ipv6.emit(rep, view, 1)).toBe(hl);
      expect(hex(bytes.subarray(1, 1 + hl))).toBe(hex(f.bytes.subarray(o, o + hl)));
      expect([bytes[0], bytes[hl + 1]]).toEqual([0xa5, 0xa5]);
      expect(rep.payloadLen).toBe(whole(f).len - hl);
    });
  }

  it('the five-header chain (RFC 8200 §4.1 order) walks to ICMPv6 at 96 bytes from the header', () => {
    const f = ext[6]!;
    const r = ipv6.walk(f.view, 14, whole(f).len);
    expect([ipv6.walkProto(r), ipv6.walkL4Offset(14, r) - 14]).toEqual([ipv6.NH_ICMPV6, 96]);
    expect(ipv6.parse(f.view, 14, r).ext.map((e) => e.type)).toEqual([0, 60, 43, 44, 60]);
  });
});

describe('ipv6: bad chains are verdicts (RFC 8200 §4)', () => {
  const want: [number, number, string][] = [
    [0, V.CHAIN_TOO_LONG, 'nine extension headers, limit 8'],
    [1, V.CHAIN_TOO_LONG, 'one 264-byte Destination Options header, limit 256 bytes'],
    [2, V.BAD_FIELD, 'a PadN option announcing 10 bytes in a 6-byte option area'],
    [3, V.HOP_BY_HOP_NOT_FIRST, 'Hop-by-Hop after Destination Options (§4.3: only right after the IPv6 header)'],
    [4, V.UNKNOWN_NEXT_HEADER, 'Next Header 253 after Destination Options'],
    [5, V.UNSUPPORTED, 'Routing header with Segments Left 1: a source route'],
    [6, V.TRUNCATED, 'Hdr Ext Len 2 (24 bytes) in a 16-byte payload'],
  ];
  for (const [i, verdict, why] of want) {
    it(`#${i} ${why}: ${V.verdictName(verdict)}`, () => {
      const f = bad[i]!;
      expect(ipv6.check(f.view, 14, f.len - 14)).toBe(V.OK); // the fixed header is fine ...
      expect(ipv6.walk(f.view, 14, whole(f).len)).toBe(-verdict); // ... the chain is not
    });
  }
  it('every bad fixture is in the table', () => expect(bad.length).toBe(want.length));

  it('limits are parameters: the five-header chain needs 5 headers and 56 bytes', () => {
    const f = ext[6]!;
    const len = whole(f).len;
    expect(ipv6.walk(f.view, 14, len, 5, 56)).toBeGreaterThan(0);
    expect(ipv6.walk(f.view, 14, len, 4, 56)).toBe(-V.CHAIN_TOO_LONG);
    expect(ipv6.walk(f.view, 14, len, 5, 55)).toBe(-V.CHAIN_TOO_LONG);
    // The nine-header chain passes with a limit of 9.
    expect(ipv6.walk(bad[0]!.view, 14, whole(bad[0]!).len, 9)).toBeGreaterThan(0);
  });

  it('hand-made headers: version, truncation, payload length', () => {
    const b = new Uint8Array(48);
    const v = new DataView(b.buffer);
    ipv6.setVersionTcFl(v, 0, 0, 0);
    ipv6.setPayloadLen(v, 0, 8);
    ipv6.setNextHeader(v, 0, ipv6.NH_NONE);
    expect(ipv6.check(v, 0, 48)).toBe(V.OK);
    expect(ipv6.check(v, 0, 47)).toBe(V.TRUNCATED); // Payload Length reaches past the bytes
    expect(ipv6.check(v, 0, 39)).toBe(V.TRUNCATED);
    b[0] = 0x45;
    expect(ipv6.check(v, 0, 48)).toBe(V.BAD_VERSION);
    b[0] = 0x60;
    // No Next Header: the walk ends right after the fixed header.
    expect(ipv6.walkL4Offset(0, ipv6.walk(v, 0, 48))).toBe(40);
    // A Hop-by-Hop header cut after its first byte.
    ipv6.setNextHeader(v, 0, ipv6.NH_HOP_BY_HOP);
    expect(ipv6.walk(v, 0, 41)).toBe(-V.TRUNCATED);
    // Pad1 options only (b[42..47] = 0): fine.
    b[40] = ipv6.NH_NONE;
    expect(ipv6.walk(v, 0, 48)).toBe((48 << 10) | ipv6.NH_NONE);
  });
});

describe('ipv6: UDP and TCP checksums over IPv6 (RFC 8200 §8.1)', () => {
  const withL4 = [...plain, ...ext.filter((f) => findLayer(f, 'UDP') ?? findLayer(f, 'TCP'))];
  for (const f of withL4) {
    it(`${f.file}#${f.index}`, () => {
      const v = f.view;
      const o = 14;
      const r = ipv6.walk(v, o, whole(f).len);
      if (ipv6.walkIsFragment(r)) return; // the checksum covers the reassembled datagram
      const l4 = ipv6.walkL4Offset(o, r);
      const u = findLayer(f, 'UDP');
      if (u) {
        expect(udp.check(v, l4, whole(f).len - (l4 - o))).toBe(V.OK);
        expect(udp.computeChecksum6(v, o, l4)).toBe(num(u, 'chksum'));
        expect(udp.checksumOk6(v, o, l4)).toBe(true);
      } else {
        const t = layer(f, 'TCP');
        expect(tcp.segmentLength6(v, o, l4)).toBe(whole(f).len - (l4 - o));
        expect(tcp.computeChecksum6(v, o, l4)).toBe(num(t, 'chksum'));
        expect(tcp.checksumOk6(v, o, l4)).toBe(true);
      }
      // The pseudo-header sum against a byte-by-byte reference over a hand-laid pseudo-header.
      const l4len = whole(f).len - (l4 - o);
      const ph = new Uint8Array(40 + l4len);
      ph.set(f.bytes.subarray(o + 8, o + 40), 0);
      new DataView(ph.buffer).setUint32(32, l4len);
      ph[39] = ipv6.walkProto(r);
      ph.set(f.bytes.subarray(l4, l4 + l4len), 40);
      expect(refChecksum(ph)).toBe(0);
      expect(cs.finish(cs.pseudoHeaderSum6(v, o + 8, ipv6.walkProto(r), l4len))).toBe(refChecksum(ph, 0, 40));
    });
  }
  it('a zero UDP checksum is refused over IPv6 (it is "no checksum" over IPv4 only)', () => {
    const f = plain[0]!;
    const b = f.bytes.slice();
    const v = new DataView(b.buffer);
    udp.setChecksumField(v, 62, 0);
    expect(udp.checksumOk6(v, 14, 54)).toBe(false);
    udp.fillChecksum6(v, 14, 54);
    expect(udp.checksumOk6(v, 14, 54)).toBe(true);
  });
});

const EGRESS6 = '2001:2::3';

describe.skipIf(!hasScapy())('ipv6: SNAT66 and un-SNAT rewrites equal the packets scapy builds', () => {
  const eg = ipv6.addrWords(addr6(EGRESS6));
  const pod2 = ipv6.addrWords(addr6('2001:2:0:40::14'));
  const [udpSnat, tcpSnat, udpDnat, tcpDnat] = hasScapy()
    ? scapyBytes([
        `Ether(src='02:00:00:00:02:0a', dst='02:00:00:00:01:fe')/IPv6(src='${EGRESS6}', dst='2001:2::64', hlim=64)/UDP(sport=61000, dport=53)/Raw(bytes(((i * 7) & 0xff) for i in range(32)))`,
        `Ether(src='02:00:00:00:02:0a', dst='02:00:00:00:01:fe')/IPv6(src='${EGRESS6}', dst='2001:2::64', hlim=64)/TCP(sport=61001, dport=80, seq=0xfffffff0, flags='S', window=64240, options=[('MSS', 1440), ('SAckOK', b''), ('NOP', None), ('WScale', 7)])`,
        `Ether(src='02:00:00:00:02:0a', dst='02:00:00:00:01:fe')/IPv6(src='2001:2:0:40::a', dst='2001:2:0:40::14', hlim=64)/UDP(sport=40100, dport=40999)/Raw(bytes(((i * 7) & 0xff) for i in range(32)))`,
        `Ether(src='02:00:00:00:03:64', dst='02:00:00:00:02:0a')/IPv6(src='2001:2::64', dst='2001:2:0:40::14', hlim=57)/TCP(sport=80, dport=40999, seq=1, ack=0xfffffff1, flags='PA', window=509)/Raw(b'HTTP/1.1 200 OK\\r\\n\\r\\n')`,
      ])
    : [];
  const rewrite = (f: Frame, fn: (v: DataView) => void) => {
    const b = f.bytes.slice();
    fn(new DataView(b.buffer));
    return b;
  };
  it('udp.snat6', () => {
    expect(hex(rewrite(plain[0]!, (v) => udp.snat6(v, 14, 54, ...eg, 61000)))).toBe(hex(udpSnat!));
  });
  it('tcp.snat6', () => {
    expect(hex(rewrite(plain[2]!, (v) => tcp.snat6(v, 14, 54, ...eg, 61001)))).toBe(hex(tcpSnat!));
  });
  it('udp.dnat6', () => {
    expect(hex(rewrite(plain[0]!, (v) => udp.dnat6(v, 14, 54, ...pod2, 40999)))).toBe(hex(udpDnat!));
  });
  it('tcp.dnat6', () => {
    expect(hex(rewrite(plain[3]!, (v) => tcp.dnat6(v, 14, 54, ...pod2, 40999)))).toBe(hex(tcpDnat!));
  });
});

describe('ipv6: address text (RFC 4291 §2.2, RFC 5952)', () => {
  const cases: [string, string][] = [
    ['2001:2:0:0:0:0:0:3', '2001:2::3'],
    ['2001:0002:0000:0040:0000:0000:0000:000A', '2001:2:0:40::a'],
    ['2001:2:0:0:1:0:0:1', '2001:2::1:0:0:1'], // equal runs: the first is shortened (RFC 5952 §4.2.3)
    ['2001:2:0:0:1:0:0:0', '2001:2:0:0:1::'], // the longest run wins
    ['2001:2:0:1:2:3:4:5', '2001:2:0:1:2:3:4:5'], // a single 0 group is not shortened (§4.2.2)
    ['fe80::1fe', 'fe80::1fe'],
    ['::', '::'],
    ['::ffff:198.18.0.1', '::ffff:c612:1'],
    ['ff02::1:ff00:3', 'ff02::1:ff00:3'],
  ];
  for (const [text, canon] of cases) {
    it(`${text} → ${canon}`, () => {
      const a = ipv6.parseAddr(text);
      expect(a).not.toBeNull();
      expect(ipv6.addrBytesToString(a!)).toBe(canon);
      expect(ipv6.addrBytesToString(ipv6.parseAddr(canon)!)).toBe(canon);
    });
  }
  for (const badText of [
    '',
    ':',
    '2001:2::3::1',
    '2001:2:::3',
    '2001:2:0:0:0:0:0:0:3',
    '2001:2:0:0:0:0:3',
    '12345::',
    'fe80::1%eth0',
    '2001:2::/48',
    ':2001:2::3',
    '2001:2::3:',
    '::ffff:198.18.0.256',
    '::ffff:198.018.0.1',
    '198.18.0.1',
    'g::1',
  ]) {
    it(`refuses ${JSON.stringify(badText)}`, () => expect(ipv6.parseAddr(badText)).toBeNull());
  }
  it('address classes', () => {
    const d = (s: string) => new DataView(addr6(s).buffer);
    expect(ipv6.isLinkLocal(d('fe80::1fe'), 0)).toBe(true);
    expect(ipv6.isLinkLocal(d('febf::1'), 0)).toBe(true);
    expect(ipv6.isLinkLocal(d('fec0::1'), 0)).toBe(false);
    expect(ipv6.isMulticast(d('ff02::1'), 0)).toBe(true);
    expect(ipv6.isUnspecified(d('::'), 0)).toBe(true);
    expect(ipv6.isUnspecified(d('2001:2::3'), 0)).toBe(false);
    expect(ipv6.isSolicitedNode(d('ff02::1:ff00:3'), 0)).toBe(true);
    expect(ipv6.isSolicitedNode(d('ff02::1'), 0)).toBe(false);
  });
});
