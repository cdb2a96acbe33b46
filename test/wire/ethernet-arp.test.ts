/**
 * engine/wire/ethernet.ts and arp.ts against the scapy fixtures of captures/wire/ (parse), byte-exact emits into
 * 0xa5-filled buffers (construct), and hand-made verdict cases.
 */
import { describe, expect, it } from 'vitest';
import * as arp from '../../engine/wire/arp.js';
import * as ethernet from '../../engine/wire/ethernet.js';
import { BAD_FIELD, OK, TRUNCATED, UNSUPPORTED } from '../../engine/wire/verdict.js';
import { a5, addr, allFrames, findLayer, hex, layer, load, mac, num, str } from './fixtures.js';

describe('ethernet: parse against scapy', () => {
  for (const f of allFrames()) {
    it(`${f.file}#${f.index}`, () => {
      const v = f.view;
      const e = layer(f, 'Ether');
      expect(ethernet.check(v, 0, f.len)).toBe(OK);
      expect(ethernet.macToString(v, 0)).toBe(str(e, 'dst'));
      expect(ethernet.macToString(v, 6)).toBe(str(e, 'src'));
      expect(ethernet.ethertype(v, 0)).toBe(num(e, 'type'));
      const d = mac(str(e, 'dst'));
      expect(ethernet.dstHi16(v, 0)).toBe(ethernet.macHi16(d));
      expect(ethernet.dstLo32(v, 0)).toBe(ethernet.macLo32(d));
      expect(ethernet.srcLo32(v, 0)).toBe(ethernet.macLo32(mac(str(e, 'src'))));
      expect(ethernet.isBroadcast(v, 0)).toBe(str(e, 'dst') === 'ff:ff:ff:ff:ff:ff');
      // L3 offset and inner EtherType: after the last tag scapy dissected.
      const tags = f.layers.filter((l) => l.layer === 'Dot1Q' || l.layer === 'Dot1AD');
      const last = tags.length ? tags[tags.length - 1]! : e;
      const l3 = ethernet.l3Offset(v, 0, f.len);
      expect(l3).toBe(f.layers[f.layers.indexOf(last) + 1]!.offset);
      expect(ethernet.l3Ethertype(v, l3)).toBe(num(last, 'type'));
      expect(ethernet.tagCount(v, 0, f.len)).toBe(tags.length);
      expect(ethernet.vlanId(v, 0)).toBe(tags.length ? num(tags[0]!, 'vlan') : -1);
      expect(ethernet.innerVlanId(v, 0, f.len)).toBe(tags.length ? num(last, 'vlan') : -1);
      const r = ethernet.parse(v, 0, f.len)!;
      expect(r.tags.map((t) => t.tci & 0xfff)).toEqual(tags.map((t) => num(t, 'vlan')));
      expect(r.tags.map((t) => t.tci >>> 13)).toEqual(tags.map((t) => num(t, 'prio')));
      expect(r.ethertype).toBe(num(last, 'type'));
    });
  }
});

describe('ethernet: construct', () => {
  for (const f of allFrames().filter((x) => x.file === 'vlan-tagged.pcap' || x.index === 0)) {
    it(`emit(parse) of ${f.file}#${f.index} writes the same header bytes`, () => {
      const r = ethernet.parse(f.view, 0, f.len)!;
      const { bytes, view } = a5(64);
      const n = ethernet.emit(r, view, 0);
      expect(n).toBe(ethernet.reprHeaderLen(r));
      expect(hex(bytes.subarray(0, n))).toBe(hex(f.bytes.subarray(0, n)));
      expect(bytes[n]).toBe(0xa5);
    });
  }
  it('writeHeader / setDst / setSrc / copyMac / swapMacs', () => {
    const f = load('arp-request.pcap')[1]!; // 02:..:02 > 02:..:01
    const { bytes, view } = a5(14);
    const d = mac('02:00:00:00:00:01');
    const s = mac('02:00:00:00:00:02');
    ethernet.writeHeader(
      view,
      0,
      ethernet.macHi16(d),
      ethernet.macLo32(d),
      ethernet.macHi16(s),
      ethernet.macLo32(s),
      0x0806,
    );
    expect(hex(bytes)).toBe(hex(f.bytes.subarray(0, 14)));
    ethernet.swapMacs(view, 0);
    expect(ethernet.macToString(view, 0)).toBe('02:00:00:00:00:02');
    expect(ethernet.macToString(view, 6)).toBe('02:00:00:00:00:01');
    ethernet.copyMac(view, 0, 6);
    expect(ethernet.macToString(view, 6)).toBe('02:00:00:00:00:02');
    ethernet.setDst(view, 0, 0xffff, -1);
    expect(ethernet.isBroadcast(view, 0)).toBe(true);
    expect(ethernet.isMulticast(view, 0)).toBe(true);
    ethernet.setSrc(view, 0, 0x0100, 0x5e000001);
    expect(ethernet.macToString(view, 6)).toBe('01:00:5e:00:00:01');
    expect(ethernet.macToString(ethernet.macFromInts(0xaabb, 0xccddeeff | 0))).toBe('aa:bb:cc:dd:ee:ff');
  });
});

describe('ethernet: MAC text', () => {
  it('parses and prints', () => {
    expect(ethernet.macToString(ethernet.parseMac('AA:bb:0c:00:ff:01')!)).toBe('aa:bb:0c:00:ff:01');
    expect(ethernet.macToString(ethernet.parseMac('aa-bb-cc-dd-ee-ff')!)).toBe('aa:bb:cc:dd:ee:ff');
    expect(ethernet.macToString(ethernet.BROADCAST)).toBe('ff:ff:ff:ff:ff:ff');
    for (const bad of [
      '',
      'aa:bb:cc:dd:ee',
      'aa:bb:cc:dd:ee:ff:00',
      'aa:bb-cc:dd:ee:ff',
      'gg:bb:cc:dd:ee:ff',
      'a:b:c:d:e:f',
      ' aa:bb:cc:dd:ee:ff',
    ])
      expect(ethernet.parseMac(bad)).toBeNull();
  });
});

describe('ethernet: verdicts', () => {
  const tagged = load('vlan-tagged.pcap');
  it('truncated untagged header', () => {
    const v = new DataView(new ArrayBuffer(13));
    expect(ethernet.check(v, 0, 13)).toBe(TRUNCATED);
    expect(ethernet.l3Offset(v, 0, 13)).toBe(-TRUNCATED);
  });
  it('frame ending inside a tag or before the inner EtherType', () => {
    const f = tagged[1]!; // QinQ: l3 at 22
    for (let len = 0; len < 22; len++) expect(ethernet.l3Offset(f.view, 0, len)).toBe(-TRUNCATED);
    expect(ethernet.l3Offset(f.view, 0, 22)).toBe(22);
  });
  it('more than two stacked tags is UNSUPPORTED', () => {
    const b = new Uint8Array(30);
    const v = new DataView(b.buffer);
    v.setUint16(12, 0x88a8);
    v.setUint16(16, 0x8100);
    v.setUint16(20, 0x8100);
    v.setUint16(24, 0x0800);
    expect(ethernet.l3Offset(v, 0, 30)).toBe(-UNSUPPORTED);
    v.setUint16(20, 0x0800);
    expect(ethernet.l3Offset(v, 0, 30)).toBe(22);
  });
});

describe('arp: parse against scapy', () => {
  const frames = allFrames().filter((f) => findLayer(f, 'ARP'));
  it('has ARP fixtures', () => expect(frames.length).toBe(4));
  for (const f of frames) {
    it(`${f.file}#${f.index}`, () => {
      const a = layer(f, 'ARP');
      const o = a.offset;
      const v = f.view;
      expect(arp.check(v, o, f.len - o)).toBe(OK);
      expect(arp.htype(v, o)).toBe(num(a, 'hwtype'));
      expect(arp.ptype(v, o)).toBe(num(a, 'ptype'));
      expect(arp.hlen(v, o)).toBe(num(a, 'hwlen'));
      expect(arp.plen(v, o)).toBe(num(a, 'plen'));
      expect(arp.op(v, o)).toBe(num(a, 'op'));
      expect(arp.spa(v, o)).toBe(addr(str(a, 'psrc')));
      expect(arp.tpa(v, o)).toBe(addr(str(a, 'pdst')));
      const sha = mac(str(a, 'hwsrc'));
      const tha = mac(str(a, 'hwdst'));
      expect([arp.shaHi16(v, o), arp.shaLo32(v, o)]).toEqual([ethernet.macHi16(sha), ethernet.macLo32(sha)]);
      expect([arp.thaHi16(v, o), arp.thaLo32(v, o)]).toEqual([ethernet.macHi16(tha), ethernet.macLo32(tha)]);
      const r = arp.parse(v, o);
      expect(ethernet.macToString(r.sha)).toBe(str(a, 'hwsrc'));
      expect(ethernet.macToString(r.tha)).toBe(str(a, 'hwdst'));
      // construct: emit(parse) is byte-exact
      const { bytes, view } = a5(arp.PACKET_LEN + 2);
      expect(arp.emit(r, view, 1)).toBe(arp.PACKET_LEN);
      expect(hex(bytes.subarray(1, 29))).toBe(hex(f.bytes.subarray(o, o + 28)));
      expect([bytes[0], bytes[29]]).toEqual([0xa5, 0xa5]);
    });
  }
});

describe('arp: construct', () => {
  it("emitGratuitousFrame writes Antrea's GARP exactly (garp.pcap)", () => {
    const f = load('garp.pcap')[0]!;
    const { bytes, view } = a5(64);
    const n = arp.emitGratuitousFrame(view, 0, mac('02:00:00:00:00:02'), addr('198.18.0.3'));
    expect(n).toBe(arp.FRAME_LEN);
    expect(hex(bytes.subarray(0, n))).toBe(hex(f.bytes));
    expect(bytes[n]).toBe(0xa5);
    expect(arp.isGratuitous(view, 14)).toBe(true);
    // The fields docs/semantics.md §3 names, read back from scapy's values:
    const a = layer(f, 'ARP');
    expect([num(a, 'op'), str(a, 'hwdst'), str(a, 'psrc'), str(a, 'pdst')]).toEqual([
      1,
      'ff:ff:ff:ff:ff:ff',
      '198.18.0.3',
      '198.18.0.3',
    ]);
  });
  it('emitRequest and emitReply write the arp-request.pcap packets', () => {
    const [req, rep] = load('arp-request.pcap');
    const { bytes, view } = a5(28);
    arp.emitRequest(view, 0, mac('02:00:00:00:00:01'), addr('198.18.0.1'), addr('198.18.0.3'));
    expect(hex(bytes)).toBe(hex(req!.bytes.subarray(14)));
    bytes.fill(0xa5);
    arp.emitReply(view, 0, mac('02:00:00:00:00:02'), addr('198.18.0.3'), mac('02:00:00:00:00:01'), addr('198.18.0.1'));
    expect(hex(bytes)).toBe(hex(rep!.bytes.subarray(14)));
  });
  it('emitRequestFrame writes the whole request frame of arp-request.pcap', () => {
    const [req] = load('arp-request.pcap');
    const { bytes, view } = a5(43);
    expect(arp.emitRequestFrame(view, 0, mac('02:00:00:00:00:01'), addr('198.18.0.1'), addr('198.18.0.3'))).toBe(42);
    expect(hex(bytes.subarray(0, 42))).toBe(hex(req!.bytes));
    expect(bytes[42]).toBe(0xa5);
    const me = mac('02:00:00:00:00:01');
    expect(ethernet.dstEquals(req!.view, 0, 0xffff, -1)).toBe(true);
    expect(ethernet.dstEquals(req!.view, 0, ethernet.macHi16(me), ethernet.macLo32(me))).toBe(false);
  });
  it('replyInPlace + swapMacs/setSrc turns the request frame into the reply frame', () => {
    const [req, rep] = load('arp-request.pcap');
    const b = req!.bytes.slice();
    const v = new DataView(b.buffer);
    const me = mac('02:00:00:00:00:02');
    arp.replyInPlace(v, 14, ethernet.macHi16(me), ethernet.macLo32(me));
    ethernet.copyMac(v, 6, 0); // dst = requester
    ethernet.setSrc(v, 0, ethernet.macHi16(me), ethernet.macLo32(me));
    expect(hex(b)).toBe(hex(rep!.bytes));
  });
});

describe('arp: verdicts', () => {
  const good = load('arp-request.pcap')[0]!.bytes.subarray(14);
  function with_(edit: (v: DataView) => void, len = 28): number {
    const b = good.slice();
    const v = new DataView(b.buffer);
    edit(v);
    return arp.check(v, 0, len);
  }
  it('truncated', () => {
    for (let len = 0; len < 28; len++) expect(with_(() => {}, len)).toBe(TRUNCATED);
    expect(with_(() => {}, 28)).toBe(OK);
  });
  it('BAD_FIELD for other hardware/protocol types and sizes', () => {
    expect(with_((v) => v.setUint16(0, 6))).toBe(BAD_FIELD); // IEEE 802 htype
    expect(with_((v) => v.setUint16(2, 0x86dd))).toBe(BAD_FIELD);
    expect(with_((v) => v.setUint8(4, 8))).toBe(BAD_FIELD);
    expect(with_((v) => v.setUint8(5, 16))).toBe(BAD_FIELD);
    expect(with_((v) => v.setUint8(5, 16), 10)).toBe(BAD_FIELD); // sizes judged before length
  });
  it('UNSUPPORTED for RARP and other operations', () => {
    expect(with_((v) => v.setUint16(6, 3))).toBe(UNSUPPORTED);
    expect(with_((v) => v.setUint16(6, 0))).toBe(UNSUPPORTED);
    expect(with_((v) => v.setUint16(6, 2))).toBe(OK);
  });
});
