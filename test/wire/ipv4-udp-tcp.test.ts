/**
 * engine/wire/ipv4.ts, udp.ts and tcp.ts against the scapy fixtures (parse), byte-exact construct tests into
 * 0xa5-filled buffers, and hand-made verdict cases with RFC 791 / 768 / 9293 open.
 */
import { describe, expect, it } from 'vitest';
import * as ipv4 from '../../engine/wire/ipv4.js';
import * as tcp from '../../engine/wire/tcp.js';
import * as udp from '../../engine/wire/udp.js';
import { BAD_HEADER_LEN, BAD_TOTAL_LEN, BAD_VERSION, BAD_CHECKSUM, OK, TRUNCATED } from '../../engine/wire/verdict.js';
import {
  a5,
  addr,
  allFrames,
  findLayer,
  hex,
  hexBytes,
  layer,
  load,
  num,
  str,
  type Frame,
  type Layer,
} from './fixtures.js';

/** Every top-level IPv4 header of the fixtures (not the ones quoted in ICMP errors), inner Geneve ones included. */
function ipHeaders(): { f: Frame; l: Layer; nth: number }[] {
  const out: { f: Frame; l: Layer; nth: number }[] = [];
  for (const f of allFrames()) {
    for (let nth = 0; ; nth++) {
      const l = findLayer(f, 'IP', nth);
      if (!l) break;
      out.push({ f, l, nth });
    }
  }
  return out;
}

describe('ipv4: parse against scapy', () => {
  for (const { f, l, nth } of ipHeaders()) {
    it(`${f.file}#${f.index} IP #${nth}`, () => {
      const v = f.view;
      const o = l.offset;
      expect(ipv4.check(v, o, f.len - o, true)).toBe(OK);
      expect(ipv4.version(v, o)).toBe(num(l, 'version'));
      expect(ipv4.ihl(v, o)).toBe(num(l, 'ihl'));
      expect(ipv4.headerLen(v, o)).toBe(num(l, 'ihl') * 4);
      expect(ipv4.tos(v, o)).toBe(num(l, 'tos'));
      expect(ipv4.totalLen(v, o)).toBe(num(l, 'len'));
      expect(ipv4.id(v, o)).toBe(num(l, 'id'));
      expect(ipv4.flagsFrag(v, o)).toBe((num(l, 'flags') << 13) | num(l, 'frag'));
      expect(ipv4.dontFrag(v, o)).toBe((num(l, 'flags') & 2) !== 0);
      expect(ipv4.moreFrags(v, o)).toBe((num(l, 'flags') & 1) !== 0);
      expect(ipv4.fragOffset(v, o)).toBe(num(l, 'frag'));
      expect(ipv4.isFragment(v, o)).toBe((num(l, 'flags') & 1) !== 0 || num(l, 'frag') !== 0);
      expect(ipv4.ttl(v, o)).toBe(num(l, 'ttl'));
      expect(ipv4.proto(v, o)).toBe(num(l, 'proto'));
      expect(ipv4.headerChecksum(v, o)).toBe(num(l, 'chksum'));
      expect(ipv4.checksumOk(v, o)).toBe(true);
      expect(ipv4.src(v, o)).toBe(addr(str(l, 'src')));
      expect(ipv4.dst(v, o)).toBe(addr(str(l, 'dst')));
      expect(ipv4.addrToString(ipv4.src(v, o))).toBe(str(l, 'src'));
      const r = ipv4.parse(v, o);
      expect(hex(r.options)).toBe(str(l, 'options_hex'));
      expect(r.payloadLen).toBe(num(l, 'len') - num(l, 'ihl') * 4);
      // construct: emit(parse) is byte-exact, checksum included
      const { bytes, view } = a5(80);
      const hl = ipv4.emit(r, view, 2);
      expect(hl).toBe(ipv4.reprHeaderLen(r));
      expect(hex(bytes.subarray(2, 2 + hl))).toBe(hex(f.bytes.subarray(o, o + hl)));
      expect([bytes[1], bytes[2 + hl]]).toEqual([0xa5, 0xa5]);
    });
  }
});

describe('ipv4: verdicts and setters', () => {
  const base = load('eth-ipv4-udp.pcap')[0]!.bytes.slice(14); // 20-byte header + 40 bytes
  function edit(fn: (v: DataView) => void, len = base.length, verify = false): number {
    const b = base.slice();
    const v = new DataView(b.buffer);
    fn(v);
    return ipv4.check(v, 0, len, verify);
  }
  it('truncated below 20 bytes, and when Total Length exceeds the bytes', () => {
    for (let len = 0; len < 20; len++) expect(edit(() => {}, len)).toBe(TRUNCATED);
    for (let len = 20; len < base.length; len++) expect(edit(() => {}, len)).toBe(TRUNCATED);
    expect(edit(() => {})).toBe(OK);
  });
  it('bad version, bad IHL, total length below header, header beyond bytes', () => {
    expect(edit((v) => v.setUint8(0, 0x65))).toBe(BAD_VERSION);
    expect(edit((v) => v.setUint8(0, 0x44))).toBe(BAD_HEADER_LEN);
    expect(edit((v) => v.setUint8(0, 0x40))).toBe(BAD_HEADER_LEN);
    expect(edit((v) => v.setUint16(2, 19))).toBe(BAD_TOTAL_LEN);
    expect(edit((v) => v.setUint8(0, 0x4f), 40)).toBe(TRUNCATED); // IHL 15 = 60 bytes > 40
    expect(edit((v) => v.setUint8(0, 0x46), base.length)).toBe(OK); // IHL 6 within total length
    expect(edit((v) => v.setUint16(2, 20))).toBe(OK); // bytes after Total Length (padding) allowed
  });
  it('checksum verified on request', () => {
    expect(edit((v) => v.setUint8(8, 1), base.length, true)).toBe(BAD_CHECKSUM);
    expect(edit((v) => v.setUint8(8, 1), base.length, false)).toBe(OK);
  });
  it('setSrcCsum / setDstCsum / decTtlCsum keep the header checksum valid', () => {
    const b = base.slice();
    const v = new DataView(b.buffer);
    ipv4.setSrcCsum(v, 0, addr('198.18.0.3'));
    ipv4.setDstCsum(v, 0, addr('255.255.255.255'));
    ipv4.decTtlCsum(v, 0);
    expect(ipv4.ttl(v, 0)).toBe(63);
    expect(ipv4.checksumOk(v, 0)).toBe(true);
    expect(ipv4.addrToString(ipv4.dst(v, 0))).toBe('255.255.255.255');
  });
  it('parseAddr / addrToString', () => {
    expect(ipv4.parseAddr('198.18.0.1')).toBe(0xc6120001 | 0);
    expect(ipv4.parseAddr('255.255.255.255')).toBe(-1);
    for (const bad of ['198.18.0', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', 'a.b.c.d', ''])
      expect(ipv4.parseAddr(bad)).toBeNull();
  });
});

describe('udp: parse against scapy', () => {
  // Over IPv4 only: UDP over IPv6 (and inside Geneve) is test/wire/ipv6.test.ts's and geneve.test.ts's.
  const frames = allFrames().filter((f) => findLayer(f, 'UDP') && !findLayer(f, 'IPv6'));
  for (const f of frames) {
    it(`${f.file}#${f.index}`, () => {
      const v = f.view;
      // The innermost UDP header (inner packet of Geneve), with its IPv4 header just before.
      const n = f.layers.filter((l) => l.layer === 'UDP').length;
      for (let k = 0; k < n; k++) {
        const u = layer(f, 'UDP', k);
        const ip = layer(f, 'IP', k);
        const o = u.offset;
        const avail = ipv4.totalLen(v, ip.offset) - ipv4.headerLen(v, ip.offset);
        // A first fragment carries the UDP header but not the Length it announces.
        expect(udp.check(v, o, avail)).toBe(ipv4.isFragment(v, ip.offset) ? TRUNCATED : OK);
        expect(udp.srcPort(v, o)).toBe(num(u, 'sport'));
        expect(udp.dstPort(v, o)).toBe(num(u, 'dport'));
        expect(udp.ports(v, o)).toBe((num(u, 'sport') << 16) | num(u, 'dport') | 0);
        expect(udp.length(v, o)).toBe(num(u, 'len'));
        expect(udp.checksumField(v, o)).toBe(num(u, 'chksum'));
        if (ipv4.isFragment(v, ip.offset)) continue; // checksum spans fragments
        expect(udp.checksumOk(v, ip.offset, o)).toBe(true);
        // scapy's checksum (0xffff when the computed value is 0) is what computeChecksum gives, unless the
        // sender generated none (0).
        if (num(u, 'chksum') !== 0) expect(udp.computeChecksum(v, ip.offset, o)).toBe(num(u, 'chksum'));
        expect(udp.parse(v, o)).toEqual({
          srcPort: num(u, 'sport'),
          dstPort: num(u, 'dport'),
          payloadLen: num(u, 'len') - 8,
        });
      }
    });
  }
  it('the fixture with a computed checksum of 0 carries 0xffff and verifies', () => {
    const f = load('eth-ipv4-udp.pcap')[2]!;
    expect(num(layer(f, 'UDP'), 'chksum')).toBe(0xffff);
    expect(udp.checksumOk(f.view, 14, 34)).toBe(true);
    expect(udp.computeChecksum(f.view, 14, 34)).toBe(0xffff);
  });
});

describe('udp: construct', () => {
  for (const f of load('eth-ipv4-udp.pcap').filter((x) => num(layer(x, 'UDP'), 'chksum') !== 0)) {
    it(`emit + payload + fillChecksum reproduces ${f.file}#${f.index}`, () => {
      const ip = layer(f, 'IP');
      const u = layer(f, 'UDP');
      const ipLen = num(ip, 'len');
      const { bytes, view } = a5(ipLen + 4);
      const io = 2;
      ipv4.emit(ipv4.parse(f.view, ip.offset), view, io);
      const uo = io + 20;
      expect(
        udp.emit({ srcPort: num(u, 'sport'), dstPort: num(u, 'dport'), payloadLen: num(u, 'len') - 8 }, view, uo),
      ).toBe(8);
      bytes.set(f.bytes.subarray(u.offset + 8, u.offset + num(u, 'len')), uo + 8);
      udp.fillChecksum(view, io, uo);
      expect(hex(bytes.subarray(io, io + ipLen))).toBe(hex(f.bytes.subarray(ip.offset, ip.offset + ipLen)));
      expect([bytes[io - 1], bytes[io + ipLen]]).toEqual([0xa5, 0xa5]);
    });
  }
});

describe('udp: verdicts and zero-checksum setters', () => {
  const f = load('eth-ipv4-udp.pcap')[0]!;
  const u = f.bytes.slice(34); // 8 + 32
  const v = new DataView(u.buffer);
  it('truncated / bad length', () => {
    for (let len = 0; len < 8; len++) expect(udp.check(v, 0, len)).toBe(TRUNCATED);
    for (let len = 8; len < 40; len++) expect(udp.check(v, 0, len)).toBe(TRUNCATED);
    expect(udp.check(v, 0, 40)).toBe(OK);
    expect(udp.check(v, 0, 41)).toBe(OK); // Length below the bytes the IP datagram carries: allowed
    const b = u.slice();
    const w = new DataView(b.buffer);
    for (const l of [0, 1, 7]) {
      w.setUint16(4, l);
      expect(udp.check(w, 0, 40)).toBe(BAD_TOTAL_LEN);
    }
    w.setUint16(4, 8);
    expect(udp.check(w, 0, 8)).toBe(OK);
  });
  it('setters on a packet with checksum 0 leave it 0', () => {
    const g = load('eth-ipv4-udp.pcap')[1]!;
    const b = g.bytes.slice();
    const w = new DataView(b.buffer);
    udp.setSrcPortCsum(w, 34, 1);
    udp.setDstPortCsum(w, 34, 2);
    udp.updateChecksumForAddr(w, 34, ipv4.src(w, 14), 12345);
    expect(udp.checksumField(w, 34)).toBe(0);
    expect(udp.checksumOk(w, 14, 34)).toBe(true);
  });
});

describe('tcp: parse against scapy', () => {
  const frames = allFrames().filter((f) => findLayer(f, 'TCP') && !findLayer(f, 'IPv6'));
  it('has TCP fixtures with seq numbers above 2^31', () => {
    expect(frames.length).toBeGreaterThanOrEqual(9);
    expect(frames.some((f) => num(layer(f, 'TCP'), 'seq') > 2 ** 31)).toBe(true);
  });
  for (const f of frames) {
    it(`${f.file}#${f.index}`, () => {
      const v = f.view;
      const t = layer(f, 'TCP');
      const ipl = f.layers[f.layers.indexOf(t) - 1]!;
      expect(ipl.layer).toBe('IP');
      const io = ipl.offset;
      const o = t.offset;
      const seg = tcp.segmentLength(v, io);
      expect(seg).toBe(num(ipl, 'len') - num(ipl, 'ihl') * 4);
      expect(tcp.check(v, o, seg)).toBe(OK);
      expect(tcp.srcPort(v, o)).toBe(num(t, 'sport'));
      expect(tcp.dstPort(v, o)).toBe(num(t, 'dport'));
      expect(tcp.seq(v, o) >>> 0).toBe(num(t, 'seq'));
      expect(tcp.ack(v, o) >>> 0).toBe(num(t, 'ack'));
      expect(tcp.seq(v, o)).toBe(num(t, 'seq') | 0); // int32 form
      expect(tcp.dataOffset(v, o)).toBe(num(t, 'dataofs'));
      expect(tcp.headerLen(v, o)).toBe(num(t, 'dataofs') * 4);
      expect(tcp.flags(v, o)).toBe(num(t, 'flags'));
      expect(tcp.window(v, o)).toBe(num(t, 'window'));
      expect(tcp.checksumField(v, o)).toBe(num(t, 'chksum'));
      expect(tcp.urgent(v, o)).toBe(num(t, 'urgptr'));
      expect(tcp.checksumOk(v, io, o)).toBe(true);
      expect(tcp.computeChecksum(v, io, o)).toBe(num(t, 'chksum'));
      const r = tcp.parse(v, o, seg);
      expect(hex(r.options)).toBe(str(t, 'options_hex'));
      expect(r.payloadLen).toBe(seg - num(t, 'dataofs') * 4);
      // construct: IPv4 emit + TCP emit + payload + fillChecksum reproduces the datagram
      const ipLen = num(ipl, 'len');
      const { bytes, view } = a5(ipLen + 2);
      const hl = ipv4.emit(ipv4.parse(v, io), view, 1);
      expect(tcp.emit(r, view, 1 + hl)).toBe(tcp.reprHeaderLen(r));
      const th = tcp.reprHeaderLen(r);
      bytes.set(f.bytes.subarray(o + th, io + ipLen), 1 + hl + th);
      tcp.fillChecksum(view, 1, 1 + hl);
      expect(hex(bytes.subarray(1, 1 + ipLen))).toBe(hex(f.bytes.subarray(io, io + ipLen)));
      expect([bytes[0], bytes[1 + ipLen]]).toEqual([0xa5, 0xa5]);
    });
  }
  it('flag constants match RFC 9293 bit positions (scapy flags of SYN-ACK, FIN-ACK, RST-URG)', () => {
    const [, synack, , , finack, rsturg] = load('eth-ipv4-tcp.pcap');
    expect(num(layer(synack!, 'TCP'), 'flags')).toBe(tcp.SYN | tcp.ACK);
    expect(num(layer(finack!, 'TCP'), 'flags')).toBe(tcp.FIN | tcp.ACK);
    expect(num(layer(rsturg!, 'TCP'), 'flags')).toBe(tcp.RST | tcp.URG);
    expect([tcp.PSH, tcp.ECE, tcp.CWR]).toEqual([8, 64, 128]);
  });
});

describe('tcp: verdicts and setters', () => {
  const f = load('eth-ipv4-tcp.pcap')[0]!; // SYN with 20 bytes of options
  const seg = f.bytes.slice(34);
  it('truncated, data offset < 5, data offset beyond the segment', () => {
    const v = new DataView(seg.buffer);
    for (let len = 0; len < 40; len++) expect(tcp.check(v, 0, len)).toBe(TRUNCATED);
    expect(tcp.check(v, 0, 40)).toBe(OK);
    const b = seg.slice();
    const w = new DataView(b.buffer);
    for (const d of [0, 1, 4]) {
      w.setUint8(12, d << 4);
      expect(tcp.check(w, 0, 40)).toBe(BAD_HEADER_LEN);
    }
    w.setUint8(12, 15 << 4);
    expect(tcp.check(w, 0, 40)).toBe(TRUNCATED);
    w.setUint8(12, 5 << 4);
    expect(tcp.check(w, 0, 20)).toBe(OK);
  });
  it('snat/dnat keep IPv4 and TCP checksums valid', () => {
    const b = f.bytes.slice();
    const v = new DataView(b.buffer);
    tcp.snat(v, 14, 34, addr('198.18.0.3'), 61000);
    expect(ipv4.checksumOk(v, 14)).toBe(true);
    expect(tcp.checksumOk(v, 14, 34)).toBe(true);
    tcp.dnat(v, 14, 34, addr('198.18.0.200'), 8080);
    expect(ipv4.checksumOk(v, 14)).toBe(true);
    expect(tcp.checksumOk(v, 14, 34)).toBe(true);
    expect([tcp.srcPort(v, 34), tcp.dstPort(v, 34)]).toEqual([61000, 8080]);
  });
  it('options must be a multiple of 4', () => {
    const r = tcp.parse(new DataView(seg.buffer), 0, 40);
    expect(() => tcp.emit({ ...r, options: hexBytes('0101') }, new DataView(new ArrayBuffer(64)), 0)).toThrow(
      RangeError,
    );
  });
});
