/**
 * engine/wire/geneve.ts against the scapy fixtures (RFC 8926 header, option TLVs), byte-exact construct tests
 * (Repr emit, template encapsulation of the fixtures' inner frames), decapsulation, the Linux
 * udp_flow_src_port formula against a BigInt reference, and hand-made verdicts. geneve-ipv6.pcap: IPv6 inner
 * packets over the IPv4 underlay, decapsulated, walked and checksummed, and encapsulated from the templates
 * (inner Ethernet frame, or the L3 packet with an inner-Ethernet template of EtherType 0x86dd).
 */
import { describe, expect, it } from 'vitest';
import * as ethernet from '../../engine/wire/ethernet.js';
import * as geneve from '../../engine/wire/geneve.js';
import * as ipv4 from '../../engine/wire/ipv4.js';
import * as ipv6 from '../../engine/wire/ipv6.js';
import * as tcp from '../../engine/wire/tcp.js';
import * as udp from '../../engine/wire/udp.js';
import { BAD_CHECKSUM, BAD_FIELD, BAD_VERSION, OK, TRUNCATED, UNSUPPORTED } from '../../engine/wire/verdict.js';
import { a5, addr, hex, hexBytes, layer, load, mac, num, randomBytes, rng, type Frame } from './fixtures.js';

const plain = load('geneve-udp.pcap');
const withOpts = load('geneve-options.pcap');
const inner6 = load('geneve-ipv6.pcap');

describe('geneve: parse against scapy', () => {
  for (const f of [...plain, ...withOpts]) {
    it(`${f.file}#${f.index}`, () => {
      const v = f.view;
      const g = layer(f, 'GENEVE');
      const u = layer(f, 'UDP');
      const o = g.offset;
      const len = num(u, 'len') - 8;
      expect(num(u, 'dport')).toBe(geneve.PORT);
      expect(geneve.check(v, o, len)).toBe(OK);
      expect(geneve.version(v, o)).toBe(num(g, 'version'));
      expect(geneve.optLen(v, o)).toBe(num(g, 'optionlen'));
      expect(geneve.headerLen(v, o)).toBe(8 + 4 * num(g, 'optionlen'));
      expect(geneve.oam(v, o)).toBe(num(g, 'oam') === 1);
      expect(geneve.critical(v, o)).toBe(num(g, 'critical') === 1);
      expect(geneve.protocol(v, o)).toBe(num(g, 'proto'));
      expect(geneve.vni(v, o)).toBe(num(g, 'vni'));
      expect(geneve.innerOffset(v, o)).toBe(layer(f, 'Ether', 1).offset);
      expect(geneve.innerLen(v, o)).toBe(f.len - layer(f, 'Ether', 1).offset);
      const opts = g.fields['options'] as { classid: number; type: number; length: number; data_hex: string }[];
      const walked: { classid: number; type: number; length: number; data_hex: string }[] = [];
      for (let p = geneve.firstOption(v, o); p >= 0; p = geneve.nextOption(v, o, p)) {
        walked.push({
          classid: geneve.optClass(v, p),
          type: geneve.optType(v, p) | (geneve.optCritical(v, p) ? 0x80 : 0),
          length: geneve.optDataLen(v, p) / 4,
          data_hex: hex(f.bytes.subarray(p + 4, p + geneve.optTotalLen(v, p))),
        });
      }
      expect(walked).toEqual(opts);
      expect(geneve.hasCriticalOption(v, o)).toBe(opts.some((x) => (x.type & 0x80) !== 0));
      const r = geneve.parse(v, o);
      expect(r.options.map((x) => x.cls)).toEqual(opts.map((x) => x.classid));
      // construct: emit(parse) is byte-exact, options included
      const hl = geneve.headerLen(v, o);
      const { bytes, view } = a5(hl + 2);
      expect(geneve.emit(r, view, 1)).toBe(hl);
      expect(hex(bytes.subarray(1, 1 + hl))).toBe(hex(f.bytes.subarray(o, o + hl)));
      expect([bytes[0], bytes[hl + 1]]).toEqual([0xa5, 0xa5]);
    });
  }
});

describe('geneve: decapsulation', () => {
  it('outerCheck / decap find the inner frame of the fixtures without options', () => {
    for (const f of plain) {
      expect(geneve.outerCheck(f.view, 0, f.len, true)).toBe(42);
      expect(geneve.decap(f.view, 0, f.len, true)).toBe(50);
      expect(geneve.innerLen(f.view, 42)).toBe(f.len - 50);
    }
  });
  it('refuses a critical option (RFC 8926 §3.5: unknown critical option → drop) but walks non-critical ones', () => {
    expect(geneve.decap(withOpts[0]!.view, 0, withOpts[0]!.len)).toBe(-UNSUPPORTED);
    expect(geneve.decap(withOpts[1]!.view, 0, withOpts[1]!.len)).toBe(66);
  });
  it('reports the verdict of the outer layer that fails', () => {
    const f = plain[0]!;
    const edit = (fn: (v: DataView, b: Uint8Array) => void, len = f.len, verify = true) => {
      const b = f.bytes.slice();
      const v = new DataView(b.buffer);
      fn(v, b);
      return geneve.decap(v, 0, len, verify);
    };
    expect(edit(() => {}, 10)).toBe(-TRUNCATED);
    expect(edit((v) => v.setUint16(12, 0x0806))).toBe(-UNSUPPORTED);
    expect(edit((v) => v.setUint8(23, 6))).toBe(-BAD_CHECKSUM); // proto changed: IP checksum fails first
    expect(edit((v) => v.setUint8(23, 6), f.len, false)).toBe(-UNSUPPORTED);
    expect(edit((v) => v.setUint16(36, 4789), f.len, false)).toBe(-UNSUPPORTED);
    expect(edit((v) => v.setUint8(42, 0x40))).toBe(-BAD_VERSION);
    expect(edit((v) => v.setUint16(44, 0x0800))).toBe(-UNSUPPORTED);
    expect(edit((v) => v.setUint16(20, ipv4.FLAG_MF), f.len, false)).toBe(-UNSUPPORTED); // outer fragment
    expect(edit((v) => v.setUint16(40, 0x1234))).toBe(-BAD_CHECKSUM); // non-zero UDP checksum that is wrong
    expect(edit((v) => v.setUint16(40, 0x1234), f.len, false)).toBe(50);
    expect(edit(() => {}, 60)).toBe(-TRUNCATED);
  });
  it('decap works under an 802.1Q tag', () => {
    const f = plain[0]!;
    const b = new Uint8Array(f.len + 4);
    b.set(f.bytes.subarray(0, 12));
    new DataView(b.buffer).setUint32(12, 0x81000064);
    b.set(f.bytes.subarray(12), 16);
    expect(geneve.decap(new DataView(b.buffer), 0, b.length, true)).toBe(54);
  });
});

describe('geneve: IPv6 inner packets over the IPv4 underlay', () => {
  for (const f of inner6) {
    it(`${f.file}#${f.index}: decap, then the inner IPv6 header, its walk and its L4 checksum`, () => {
      const v = f.view;
      const e = geneve.decap(v, 0, f.len, true);
      expect(e).toBe(layer(f, 'Ether', 1).offset);
      const l3 = ethernet.l3Offset(v, e, f.len - e);
      expect(ethernet.l3Ethertype(v, l3)).toBe(ethernet.ETHERTYPE_IPV6);
      const h = layer(f, 'IPv6');
      expect(l3).toBe(h.offset);
      expect(ipv6.check(v, l3, f.len - l3)).toBe(OK);
      const r = ipv6.walk(v, l3, 40 + ipv6.payloadLen(v, l3));
      const l4 = ipv6.walkL4Offset(l3, r);
      if (ipv6.walkProto(r) === ipv6.NH_UDP) {
        expect(l4).toBe(layer(f, 'UDP', 1).offset);
        expect(udp.computeChecksum6(v, l3, l4)).toBe(num(layer(f, 'UDP', 1), 'chksum'));
        expect(udp.checksumOk6(v, l3, l4)).toBe(true);
      } else {
        expect(l4).toBe(layer(f, 'TCP').offset);
        expect(tcp.checksumOk6(v, l3, l4)).toBe(true);
      }
    });
  }
});

describe('geneve: template encapsulation', () => {
  const spec = {
    srcMac: mac('02:00:00:00:00:01'),
    dstMac: mac('02:00:00:00:00:02'),
    srcIp: addr('198.18.0.1'),
    dstIp: addr('198.18.0.3'),
    vni: 0,
  };
  function check(f: Frame, sport: number) {
    const inner = f.bytes.subarray(50);
    const tpl = geneve.buildTemplate(spec);
    expect(tpl.len).toBe(geneve.OVERHEAD);
    const { bytes, view } = a5(256);
    const off = 128;
    bytes.set(inner, off);
    const n = geneve.encap(view, off, inner.length, tpl, sport);
    expect(n).toBe(off - 50);
    expect(hex(bytes.subarray(n, off + inner.length))).toBe(hex(f.bytes));
    expect(bytes[n - 1]).toBe(0xa5);
  }
  it('reproduces geneve-udp.pcap #0 (inner UDP) byte for byte', () => check(plain[0]!, 51234));
  it('reproduces geneve-udp.pcap #1 (inner TCP) byte for byte', () => check(plain[1]!, 40961));
  it('an inner-Ethernet template encapsulates the L3 packet (TUN pod port) to the same frame', () => {
    const f = plain[0]!;
    const tpl = geneve.buildTemplate({ ...spec, innerSrcMac: mac('02:00:00:00:01:fe') });
    expect(tpl.len).toBe(64);
    expect(ethernet.macToString(tpl.bytes, 50)).toBe('aa:bb:cc:dd:ee:ff');
    const l3 = f.bytes.subarray(64);
    const { bytes, view } = a5(256);
    bytes.set(l3, 128);
    const n = geneve.encap(view, 128, l3.length, tpl, 51234);
    expect(n).toBe(64);
    expect(hex(bytes.subarray(n, 128 + l3.length))).toBe(hex(f.bytes));
  });
  it('reproduces geneve-ipv6.pcap (inner IPv6 UDP and TCP) byte for byte', () => {
    check(inner6[0]!, 51300);
    check(inner6[1]!, 51301);
  });
  it('an inner-Ethernet template with EtherType 0x86dd encapsulates an IPv6 L3 packet to the same frame', () => {
    const tpl = geneve.buildTemplate({
      ...spec,
      innerSrcMac: mac('02:00:00:00:01:fe'),
      innerEthertype: ethernet.ETHERTYPE_IPV6,
    });
    for (const [f, sport] of [
      [inner6[0]!, 51300],
      [inner6[1]!, 51301],
    ] as const) {
      const l3 = f.bytes.subarray(64);
      const { bytes, view } = a5(256);
      bytes.set(l3, 128);
      const n = geneve.encap(view, 128, l3.length, tpl, sport);
      expect(hex(bytes.subarray(n, 128 + l3.length))).toBe(hex(f.bytes));
    }
  });
  it('template: Total Length 0 and checksum over that header; DF, TTL 64, UDP 6081 checksum 0, Geneve VNI', () => {
    const tpl = geneve.buildTemplate({ ...spec, vni: 0xabcdef, ttl: 32, df: false, tos: 0x10 });
    const v = new DataView(tpl.bytes.buffer);
    expect(ipv4.totalLen(v, 14)).toBe(0);
    expect(ipv4.checksumOk(v, 14)).toBe(true);
    expect(tpl.ipChecksum).toBe(ipv4.headerChecksum(v, 14));
    expect([ipv4.ttl(v, 14), ipv4.dontFrag(v, 14), ipv4.tos(v, 14)]).toEqual([32, false, 0x10]);
    expect([udp.dstPort(v, 34), udp.checksumField(v, 34)]).toEqual([6081, 0]);
    expect([geneve.vni(v, 42), geneve.protocol(v, 42), geneve.optLen(v, 42)]).toEqual([0xabcdef, 0x6558, 0]);
    const d = geneve.buildTemplate(spec);
    const dv = new DataView(d.bytes.buffer);
    expect([ipv4.ttl(dv, 14), ipv4.dontFrag(dv, 14), ipv4.id(dv, 14)]).toEqual([64, true, 0]);
  });
  it('every inner length 14..1986 gives a valid outer IPv4 checksum and consistent lengths', () => {
    const tpl = geneve.buildTemplate(spec);
    const { view } = a5(2200);
    for (let len = 14; len <= 1986; len++) {
      const n = geneve.encap(view, 128, len, tpl, 1 + (len % 65535));
      expect(n).toBe(78);
      expect(ipv4.check(view, n + 14, len + 36, true)).toBe(OK);
      expect(ipv4.totalLen(view, n + 14)).toBe(len + 36);
      expect(udp.length(view, n + 34)).toBe(len + 16);
      expect(udp.srcPort(view, n + 34)).toBe(1 + (len % 65535));
    }
  });
});

describe('geneve: flowSrcPort = Linux udp_flow_src_port(net, skb, 1, 65535, true)', () => {
  function reference(hash: number): number {
    let h = BigInt(hash >>> 0);
    h ^= (h << 16n) & 0xffffffffn;
    return Number(((h * 65534n) >> 32n) + 1n);
  }
  it('matches a BigInt reference on edge cases and 100k seeded hashes', () => {
    for (const h of [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0xdeadbeef, 0x0000ffff, 0xffff0000])
      expect(geneve.flowSrcPort(h | 0)).toBe(reference(h));
    const r = rng(6081);
    for (let i = 0; i < 100_000; i++) {
      const h = (r() * 2 ** 32) | 0;
      expect(geneve.flowSrcPort(h)).toBe(reference(h));
    }
  });
  it('stays within 1..65535', () => {
    expect(geneve.flowSrcPort(0)).toBe(1);
    // h ^ (h << 16) = 0xffffffff gives the largest port.
    expect(geneve.flowSrcPort(0xffff0000 ^ 0xffff)).toBe(reference(0xffff0000 ^ 0xffff));
    expect(reference(0xffff0000 ^ 0xffff)).toBeLessThanOrEqual(65535);
  });
});

describe('geneve: verdicts', () => {
  const base = withOpts[0]!.bytes.slice(42); // Geneve header with 20 option bytes + inner frame
  const L = base.length;
  const edit = (fn: (v: DataView) => void, len = L) => {
    const b = base.slice();
    const v = new DataView(b.buffer);
    fn(v);
    return geneve.check(v, 0, len);
  };
  it('truncated header and options', () => {
    for (let len = 0; len < 28; len++) expect(edit(() => {}, len)).toBe(TRUNCATED);
    expect(edit(() => {}, 28)).toBe(OK);
  });
  it('bad version', () => {
    for (const ver of [1, 2, 3]) expect(edit((v) => v.setUint8(0, (ver << 6) | 5))).toBe(BAD_VERSION);
  });
  it('options that overrun or underfill Opt Len are BAD_FIELD', () => {
    expect(edit((v) => v.setUint8(0, 4))).toBe(BAD_FIELD); // 16 bytes: the second option overruns
    expect(edit((v) => v.setUint8(0, 6))).toBe(BAD_FIELD); // 24 bytes: a 4-byte gap read as an option ...
    expect(edit((v) => v.setUint8(11, 3))).toBe(BAD_FIELD); // first option claims 12 data bytes
    expect(edit((v) => v.setUint8(11, 0))).toBe(BAD_FIELD); // first option shrinks: the walk lands mid-option
  });
  it('a zero-length option header alone fills one word', () => {
    const b = new Uint8Array(12);
    b[0] = 1;
    b.set(hexBytes('01010000'), 8);
    expect(geneve.check(new DataView(b.buffer), 0, 12)).toBe(OK);
  });
  it('random option areas: check never throws and accepts exactly the exact fills', () => {
    const r = rng(8926);
    for (let i = 0; i < 5000; i++) {
      const words = (r() * 64) | 0;
      const b = randomBytes(r, 8 + words * 4);
      b[0] = words;
      const v = new DataView(b.buffer);
      // Independent walk: sum 1 + length over the TLVs.
      let p = 0;
      while (p < words) p += 1 + (b[8 + p * 4 + 3]! & 0x1f);
      expect(geneve.check(v, 0, b.length)).toBe(p === words ? OK : BAD_FIELD);
    }
  });
  it('emit refuses options that cannot be encoded', () => {
    const { view } = a5(400);
    const big = { cls: 1, type: 1, critical: false, data: new Uint8Array(124) };
    expect(() =>
      geneve.emit(
        { oam: false, critical: false, protocol: 0x6558, vni: 0, options: [{ ...big, data: new Uint8Array(3) }] },
        view,
        0,
      ),
    ).toThrow(RangeError);
    expect(() =>
      geneve.emit({ oam: false, critical: false, protocol: 0x6558, vni: 0, options: [big, big] }, view, 0),
    ).toThrow(RangeError);
  });
});
