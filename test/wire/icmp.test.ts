/**
 * engine/wire/icmp.ts against the scapy fixtures (echo, fragmentation needed with its quoted header, port
 * unreachable quoting a whole datagram, time exceeded, parameter problem, an error about an echo), the error
 * builder, the quoted-datagram NAT helpers and hand-made verdicts (RFC 792, 1191, 1812).
 */
import { describe, expect, it } from 'vitest';
import * as icmp from '../../engine/wire/icmp.js';
import * as ipv4 from '../../engine/wire/ipv4.js';
import { BAD_CHECKSUM, BAD_HEADER_LEN, BAD_TOTAL_LEN, BAD_VERSION, OK, TRUNCATED } from '../../engine/wire/verdict.js';
import { a5, addr, findLayer, hex, layer, load, num, refChecksum, str } from './fixtures.js';

const echo = load('icmp-echo.pcap');
const fragNeeded = load('icmp-frag-needed.pcap')[0]!;
const errors = load('icmp-errors.pcap');

function icmpLen(f: { view: DataView }, ipOff: number): number {
  return ipv4.totalLen(f.view, ipOff) - ipv4.headerLen(f.view, ipOff);
}

describe('icmp: parse against scapy', () => {
  for (const f of [...echo, fragNeeded, ...errors]) {
    it(`${f.file}#${f.index}`, () => {
      const v = f.view;
      const ip = layer(f, 'IP');
      const c = layer(f, 'ICMP');
      const o = c.offset;
      const len = icmpLen(f, ip.offset);
      expect(icmp.check(v, o, len, true)).toBe(OK);
      expect(icmp.type(v, o)).toBe(num(c, 'type'));
      expect(icmp.code(v, o)).toBe(num(c, 'code'));
      expect(icmp.checksumField(v, o)).toBe(num(c, 'chksum'));
      expect(icmp.checksumOk(v, o, len)).toBe(true);
      expect(icmp.computeChecksum(v, o, len)).toBe(num(c, 'chksum'));
      const t = num(c, 'type');
      if (t === 0 || t === 8) {
        expect(icmp.isError(t)).toBe(false);
        expect(icmp.hasId(t)).toBe(true);
        expect(icmp.echoId(v, o)).toBe(num(c, 'id'));
        expect(icmp.echoSeq(v, o)).toBe(num(c, 'seq'));
      } else {
        expect(icmp.isError(t)).toBe(true);
        if (t === 3) expect(icmp.nextHopMtu(v, o)).toBe(num(c, 'nexthopmtu'));
        if (t === 12) expect(icmp.pointer(v, o)).toBe(num(c, 'ptr'));
        const q = layer(f, 'IPerror');
        expect(icmp.quotedOffset(o)).toBe(q.offset);
        expect(icmp.checkQuoted(v, q.offset, len - 8)).toBe(OK);
        expect(ipv4.src(v, q.offset)).toBe(addr(str(q, 'src')));
        expect(ipv4.dst(v, q.offset)).toBe(addr(str(q, 'dst')));
        expect(ipv4.totalLen(v, q.offset)).toBe(num(q, 'len'));
        expect(ipv4.proto(v, q.offset)).toBe(num(q, 'proto'));
        expect(ipv4.headerChecksum(v, q.offset)).toBe(num(q, 'chksum'));
        expect(ipv4.checksumOk(v, q.offset)).toBe(true);
        const l4 = q.offset + ipv4.headerLen(v, q.offset);
        const u = findLayer(f, 'UDPerror') ?? findLayer(f, 'TCPerror');
        if (u) {
          expect(u.offset).toBe(l4);
          expect(v.getUint16(l4)).toBe(num(u, 'sport'));
          expect(v.getUint16(l4 + 2)).toBe(num(u, 'dport'));
        }
        const e = findLayer(f, 'ICMPerror');
        if (e) {
          expect(icmp.echoId(v, l4)).toBe(num(e, 'id'));
          expect(icmp.echoSeq(v, l4)).toBe(num(e, 'seq'));
        }
      }
      const r = icmp.parse(v, o, len);
      expect([r.type, r.code, r.data.length]).toEqual([t, num(c, 'code'), len - 8]);
      const { bytes, view } = a5(len + 2);
      expect(icmp.emit(r, view, 1)).toBe(len);
      expect(hex(bytes.subarray(1, 1 + len))).toBe(hex(f.bytes.subarray(o, o + len)));
      expect([bytes[0], bytes[len + 1]]).toEqual([0xa5, 0xa5]);
    });
  }
  it('fragmentation needed: MTU 1400, quoted Total Length 1500 > the 28 bytes quoted', () => {
    const v = fragNeeded.view;
    expect(icmp.nextHopMtu(v, 34)).toBe(1400);
    expect(icmp.code(v, 34)).toBe(icmp.CODE_FRAG_NEEDED);
    expect(ipv4.totalLen(v, 42)).toBe(1500);
    expect(ipv4.check(v, 42, 28)).toBe(TRUNCATED); // the plain check refuses the quote ...
    expect(icmp.checkQuoted(v, 42, 28)).toBe(OK); // ... the relaxed one accepts it
  });
});

describe('icmp: construct', () => {
  it('echoRepr + emit reproduce the echo request', () => {
    const f = echo[0]!;
    const data = f.bytes.slice(42);
    const { bytes, view } = a5(8 + data.length);
    icmp.emit(icmp.echoRepr(icmp.TYPE_ECHO_REQUEST, 0x1c2b, 1, data), view, 0);
    expect(hex(bytes)).toBe(hex(f.bytes.subarray(34)));
  });
  it('emitError quotes header + 8 bytes (RFC 792): the frag-needed message', () => {
    const quoted = fragNeeded.bytes.slice(42, 70); // the original's first 28 bytes (scapy built it from a 1500-byte datagram)
    const { bytes, view } = a5(40);
    const n = icmp.emitError(
      view,
      0,
      { type: icmp.TYPE_DEST_UNREACH, code: icmp.CODE_FRAG_NEEDED, rest: icmp.restFragNeeded(1400) },
      new DataView(quoted.buffer),
      0,
      quoted.length,
    );
    expect(n).toBe(36);
    expect(hex(bytes.subarray(0, n))).toBe(hex(fragNeeded.bytes.subarray(34)));
    expect(bytes[n]).toBe(0xa5);
  });
  it('emitError with a longer original quotes only header + 8 bytes by default, up to 548 (RFC 1812) on request', () => {
    const orig = errors[0]!.bytes.slice(42); // a whole 40-byte UDP datagram (20 + 8 + 12)
    const ov = new DataView(orig.buffer);
    const { bytes, view } = a5(80);
    expect(icmp.emitError(view, 0, { type: 3, code: 3 }, ov, 0, orig.length)).toBe(8 + 28);
    bytes.fill(0xa5);
    const n = icmp.emitError(view, 0, { type: 3, code: 3 }, ov, 0, orig.length, icmp.QUOTE_MAX_RFC1812);
    expect(n).toBe(8 + 40);
    expect(hex(bytes.subarray(0, n))).toBe(hex(errors[0]!.bytes.subarray(34)));
  });
  it('emitError: parameter problem pointer, time exceeded', () => {
    const pp = errors[2]!;
    const orig = pp.bytes.slice(42);
    const { bytes, view } = a5(64);
    const n = icmp.emitError(
      view,
      0,
      { type: 12, code: 0, rest: icmp.restPointer(20) },
      new DataView(orig.buffer),
      0,
      orig.length,
    );
    expect(hex(bytes.subarray(0, n))).toBe(hex(pp.bytes.subarray(34)));
    const te = errors[1]!;
    const o2 = te.bytes.slice(42);
    bytes.fill(0xa5);
    const n2 = icmp.emitError(view, 0, { type: 11, code: 0 }, new DataView(o2.buffer), 0, o2.length);
    expect(hex(bytes.subarray(0, n2))).toBe(hex(te.bytes.subarray(34)));
  });
  it('emitErrorPacket writes a valid IPv4 + ICMP datagram back to the source', () => {
    const orig = load('eth-ipv4-udp.pcap')[0]!.bytes.slice(14);
    const { view } = a5(120);
    const n = icmp.emitErrorPacket(
      view,
      0,
      addr('198.18.0.254'),
      { type: 3, code: 4, rest: 1400 },
      new DataView(orig.buffer),
      0,
      orig.length,
    );
    expect(n).toBe(20 + 8 + 28);
    expect(ipv4.check(view, 0, n, true)).toBe(OK);
    expect(ipv4.dst(view, 0)).toBe(addr('198.18.64.10'));
    expect([ipv4.tos(view, 0), ipv4.ttl(view, 0), ipv4.proto(view, 0)]).toEqual([0xc0, 64, 1]);
    expect(icmp.check(view, 20, n - 20, true)).toBe(OK);
    expect(icmp.nextHopMtu(view, 20)).toBe(1400);
  });
  it('emitError copes with overlapping source and destination in one buffer', () => {
    const b = new Uint8Array(200);
    const orig = errors[0]!.bytes.slice(42);
    b.set(orig, 10);
    const v = new DataView(b.buffer);
    const n = icmp.emitError(v, 4, { type: 3, code: 3 }, v, 10, orig.length, icmp.QUOTE_MAX_RFC1812);
    expect(hex(b.subarray(12, 12 + orig.length))).toBe(hex(orig));
    expect(icmp.checksumOk(v, 4, n)).toBe(true);
  });
});

describe('icmp: NAT of the quoted datagram keeps every checksum valid', () => {
  function pseudoOk(b: Uint8Array, q: number, l4: number, proto: number, len: number): boolean {
    const ph = new Uint8Array(12 + len);
    ph.set(b.subarray(q + 12, q + 20));
    ph[9] = proto;
    new DataView(ph.buffer).setUint16(10, len);
    ph.set(b.subarray(l4, l4 + len), 12);
    return refChecksum(ph) === 0;
  }
  it('port unreachable quoting a whole UDP datagram: src addr + src port un-NAT', () => {
    const f = errors[0]!;
    const b = f.bytes.slice();
    const v = new DataView(b.buffer);
    const len = icmpLen(f, 14);
    icmp.setQuotedSrcCsum(v, 34, len, addr('198.18.64.10'));
    icmp.setQuotedSrcPortCsum(v, 34, len, 40000);
    expect(ipv4.addrToString(ipv4.src(v, 42))).toBe('198.18.64.10');
    expect(v.getUint16(62)).toBe(40000);
    expect(refChecksum(b, 42, 62)).toBe(0); // quoted IPv4 header
    expect(pseudoOk(b, 42, 62, 17, 20)).toBe(true); // quoted UDP, whole datagram quoted
    expect(refChecksum(b, 34, 34 + len)).toBe(0); // ICMP
    expect(icmp.check(v, 34, len, true)).toBe(OK);
  });
  it('time exceeded quoting 8 bytes of TCP: the TCP checksum is not in the quote, ports and ICMP are updated', () => {
    const f = errors[1]!;
    const b = f.bytes.slice();
    const v = new DataView(b.buffer);
    const len = icmpLen(f, 14);
    icmp.setQuotedSrcCsum(v, 34, len, addr('198.18.64.10'));
    icmp.setQuotedSrcPortCsum(v, 34, len, 40001);
    icmp.setQuotedDstPortCsum(v, 34, len, 444);
    icmp.setQuotedDstCsum(v, 34, len, addr('198.18.0.101'));
    expect([v.getUint16(62), v.getUint16(64)]).toEqual([40001, 444]);
    expect(refChecksum(b, 42, 62)).toBe(0);
    expect(icmp.check(v, 34, len, true)).toBe(OK);
  });
  it('host unreachable about an echo: quoted echo id and ICMP checksums', () => {
    const f = errors[3]!;
    const b = f.bytes.slice();
    const v = new DataView(b.buffer);
    const len = icmpLen(f, 14);
    const beforeQuotedSum = refChecksum(b, 62, 70); // the quoted echo is cut: its own checksum covers more
    icmp.setQuotedEchoIdCsum(v, 34, len, 0x1c2b);
    icmp.setQuotedSrcCsum(v, 34, len, addr('198.18.64.10'));
    expect(icmp.echoId(v, 62)).toBe(0x1c2b);
    expect(refChecksum(b, 62, 70)).toBe(beforeQuotedSum); // echo checksum moved with its id: partial sum unchanged
    expect(refChecksum(b, 42, 62)).toBe(0);
    expect(icmp.check(v, 34, len, true)).toBe(OK);
  });
});

describe('icmp: verdicts', () => {
  it('truncated header', () => {
    const v = echo[0]!.view;
    for (let len = 0; len < 8; len++) expect(icmp.check(v, 34, len)).toBe(TRUNCATED);
    expect(icmp.check(v, 34, 8)).toBe(OK); // echo needs only its header
  });
  it('error quoting too little: header, header + 8 bytes', () => {
    const v = fragNeeded.view;
    for (let len = 8; len < 36; len++) expect(icmp.check(v, 34, len)).toBe(TRUNCATED);
    expect(icmp.check(v, 34, 36)).toBe(OK);
  });
  it('an original shorter than header + 8 needs only its Total Length quoted', () => {
    const b = new Uint8Array(8 + 24);
    const v = new DataView(b.buffer);
    b[0] = 3;
    v.setUint8(8, 0x45);
    v.setUint16(10, 24); // original: 20 + 4 bytes
    expect(icmp.check(v, 0, 32)).toBe(OK);
    expect(icmp.check(v, 0, 31)).toBe(TRUNCATED);
  });
  it('quoted header: bad version, bad IHL, total length below header', () => {
    const mk = (edit: (v: DataView) => void) => {
      const b = fragNeeded.bytes.slice();
      const v = new DataView(b.buffer);
      edit(v);
      return icmp.check(v, 34, 36);
    };
    expect(mk((v) => v.setUint8(42, 0x65))).toBe(BAD_VERSION);
    expect(mk((v) => v.setUint8(42, 0x43))).toBe(BAD_HEADER_LEN);
    expect(mk((v) => v.setUint16(44, 10))).toBe(BAD_TOTAL_LEN);
    expect(mk((v) => v.setUint8(42, 0x47))).toBe(TRUNCATED); // 28-byte header needs 36 + 8 bytes quoted
    expect(mk((v) => v.setUint8(40, 0))).toBe(OK); // the outer ICMP checksum is checked only on request
    const b = fragNeeded.bytes.slice();
    b[40] ^= 1;
    expect(icmp.check(new DataView(b.buffer), 34, 36, true)).toBe(BAD_CHECKSUM);
  });
});

describe('icmp: errorAllowed (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7)', () => {
  function hdr(src: string, dst: string, proto = 17, frag = 0, icmpType = 8): DataView {
    const b = new Uint8Array(28);
    const v = new DataView(b.buffer);
    ipv4.emit(
      {
        tos: 0,
        id: 1,
        flagsFrag: frag,
        ttl: 64,
        proto,
        src: addr(src),
        dst: addr(dst),
        options: new Uint8Array(0),
        payloadLen: 8,
      },
      v,
      0,
    );
    b[20] = icmpType;
    return v;
  }
  it('allows an ordinary datagram and ICMP queries', () => {
    expect(icmp.errorAllowed(hdr('198.18.64.10', '198.18.0.100'), 0)).toBe(true);
    expect(icmp.errorAllowed(hdr('198.18.64.10', '198.18.0.100', 1, 0, 8), 0)).toBe(true);
    expect(icmp.errorAllowed(hdr('198.18.64.10', '198.18.0.100', 17, ipv4.FLAG_MF), 0)).toBe(true); // first fragment
  });
  it('refuses errors about errors, non-first fragments, broadcast/multicast, and odd sources', () => {
    expect(icmp.errorAllowed(hdr('198.18.64.10', '198.18.0.100', 1, 0, 3), 0)).toBe(false);
    expect(icmp.errorAllowed(hdr('198.18.64.10', '198.18.0.100', 1, 0, 200), 0)).toBe(false);
    expect(icmp.errorAllowed(hdr('198.18.64.10', '198.18.0.100', 17, 185), 0)).toBe(false);
    expect(icmp.errorAllowed(hdr('198.18.64.10', '255.255.255.255'), 0)).toBe(false);
    expect(icmp.errorAllowed(hdr('198.18.64.10', '224.0.0.1'), 0)).toBe(false);
    for (const s of ['0.0.0.0', '127.0.0.1', '224.0.0.5', '240.0.0.1', '255.255.255.255'])
      expect(icmp.errorAllowed(hdr(s, '198.18.0.100'), 0)).toBe(false);
  });
});
