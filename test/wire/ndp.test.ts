/**
 * engine/wire/ndp.ts against the scapy fixtures of ndp.pcap (NS for address resolution and for Duplicate Address
 * Detection, solicited and unsolicited NA, RS, RA with source LLA, MTU and prefix options) and its bad messages
 * (expected verdicts from RFC 4861 §6.1 and §7.1 in the table below); the builders' frames (unsolicited NA with
 * Override to ff02::1 on takeover, the solicited NA answering an NS, the NS of address resolution) compared byte
 * for byte with scapy's; the option walker's limits.
 */
import { describe, expect, it } from 'vitest';
import * as icmpv6 from '../../engine/wire/icmpv6.js';
import * as ipv6 from '../../engine/wire/ipv6.js';
import * as ndp from '../../engine/wire/ndp.js';
import * as ethernet from '../../engine/wire/ethernet.js';
import * as V from '../../engine/wire/verdict.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { a5, addr6, findLayer, hex, layer, load, mac, num, str, type Frame } from './fixtures.js';

const frames = load('ndp.pcap');
const MSG = ['ICMPv6ND_NS', 'ICMPv6ND_NA', 'ICMPv6ND_RS', 'ICMPv6ND_RA'];

function at(f: Frame): { ip: number; o: number; len: number } {
  const ip = 14;
  const r = ipv6.walk(f.view, ip, 40 + ipv6.payloadLen(f.view, ip));
  const o = ipv6.walkL4Offset(ip, r);
  return { ip, o, len: ip + 40 + ipv6.payloadLen(f.view, ip) - o };
}

describe('ndp: parse against scapy', () => {
  for (const f of frames.slice(0, 6)) {
    it(`${f.file}#${f.index} ${f.layers[2]!.layer}`, () => {
      const v = f.view;
      const { ip, o, len } = at(f);
      const m = f.layers.find((l) => MSG.includes(l.layer))!;
      expect(o).toBe(m.offset);
      expect(ipv6.check(v, ip, f.len - ip)).toBe(V.OK);
      expect(icmpv6.check(v, o, len)).toBe(V.OK);
      expect(ndp.check(v, ip, o, len)).toBe(V.OK);
      expect(icmpv6.checksumOk(v, ip, o, len)).toBe(true);
      expect(icmpv6.computeChecksum(v, ip, o, len)).toBe(num(m, 'cksum'));
      expect(ndp.isNdp(icmpv6.type(v, o))).toBe(true);
      if (m.layer === 'ICMPv6ND_NS' || m.layer === 'ICMPv6ND_NA') {
        expect(ipv6.addrToString(v, ndp.targetOffset(o))).toBe(str(m, 'tgt'));
      }
      if (m.layer === 'ICMPv6ND_NA') {
        const flags = ndp.naFlags(v, o);
        expect((flags & ndp.FLAG_ROUTER) !== 0).toBe(num(m, 'R') === 1);
        expect((flags & ndp.FLAG_SOLICITED) !== 0).toBe(num(m, 'S') === 1);
        expect((flags & ndp.FLAG_OVERRIDE) !== 0).toBe(num(m, 'O') === 1);
      }
      if (m.layer === 'ICMPv6ND_RA') {
        expect(ndp.raHopLimit(v, o)).toBe(num(m, 'chlim'));
        expect((ndp.raFlags(v, o) & ndp.RA_FLAG_MANAGED) !== 0).toBe(num(m, 'M') === 1);
        expect((ndp.raFlags(v, o) & ndp.RA_FLAG_OTHER) !== 0).toBe(num(m, 'O') === 1);
        expect(ndp.raRouterLifetime(v, o)).toBe(num(m, 'routerlifetime'));
        expect(ndp.raReachableTime(v, o)).toBe(num(m, 'reachabletime'));
        expect(ndp.raRetransTimer(v, o)).toBe(num(m, 'retranstimer'));
        const mtuOpt = layer(f, 'ICMPv6NDOptMTU');
        expect(ndp.findOption(v, o + ndp.RA_LEN, o + len, ndp.OPT_MTU)).toBe(mtuOpt.offset);
        expect(v.getUint32(mtuOpt.offset + 4)).toBe(num(mtuOpt, 'mtu'));
        const pi = layer(f, 'ICMPv6NDOptPrefixInfo');
        expect(ndp.findOption(v, o + ndp.RA_LEN, o + len, ndp.OPT_PREFIX_INFO)).toBe(pi.offset);
        expect(ndp.optLen(v, pi.offset)).toBe(num(pi, 'len') * 8);
        expect(v.getUint8(pi.offset + 2)).toBe(num(pi, 'prefixlen'));
        expect(ipv6.addrToString(v, pi.offset + 16)).toBe(str(pi, 'prefix'));
      }
      // Link-layer address options where scapy put them.
      for (const [name, type] of [
        ['ICMPv6NDOptSrcLLAddr', ndp.OPT_SOURCE_LLA],
        ['ICMPv6NDOptDstLLAddr', ndp.OPT_TARGET_LLA],
      ] as const) {
        const l = findLayer(f, name);
        const p = ndp.llaOption(v, o, len, type);
        expect(p).toBe(l ? l.offset : -1);
        if (l) {
          const want = mac(str(l, 'lladdr'));
          expect([ndp.llaHi16(v, p), ndp.llaLo32(v, p)]).toEqual([ethernet.macHi16(want), ethernet.macLo32(want)]);
        }
      }
      // Repr round trip behind a copy of the IPv6 header (for the checksum).
      const rep = ndp.parse(v, o, len);
      expect(ndp.reprLen(rep)).toBe(len);
      const { bytes, view } = a5(40 + len + 1);
      bytes.set(f.bytes.subarray(ip, ip + 40));
      expect(ndp.emit(rep, view, 0, 40)).toBe(len);
      expect(hex(bytes.subarray(40, 40 + len))).toBe(hex(f.bytes.subarray(o, o + len)));
      expect(bytes[40 + len]).toBe(0xa5);
    });
  }
});

describe('ndp: bad messages are verdicts (RFC 4861 §4.6, §6.1, §7.1)', () => {
  const want: [number, number, string][] = [
    [6, V.BAD_HOP_LIMIT, 'an NS with Hop Limit 64: from off-link'],
    [7, V.BAD_FIELD, 'an NA to all-nodes with the Solicited flag'],
    [8, V.BAD_FIELD, 'an NS with an option of length 0'],
    [9, V.BAD_FIELD, 'an RA from a global (not link-local) source: an RA a pod made up'],
  ];
  for (const [i, verdict, why] of want) {
    it(`#${i} ${why}: ${V.verdictName(verdict)}`, () => {
      const f = frames[i]!;
      const { ip, o, len } = at(f);
      expect(icmpv6.checksumOk(f.view, ip, o, len)).toBe(true); // well-formed ICMPv6 ...
      expect(ndp.check(f.view, ip, o, len)).toBe(verdict); // ... but not acceptable NDP
    });
  }
  it('ndp.pcap has 6 good and 4 bad messages', () => expect(frames.length).toBe(10));

  it('every good message with Hop Limit 254 is refused; code ≠ 0 too; short ones are truncated', () => {
    for (const f of frames.slice(0, 6)) {
      const { ip, o, len } = at(f);
      const b = f.bytes.slice();
      const v = new DataView(b.buffer);
      b[ip + 7] = 254;
      expect(ndp.check(v, ip, o, len)).toBe(V.BAD_HOP_LIMIT);
      b[ip + 7] = 255;
      b[o + 1] = 1;
      expect(ndp.check(v, ip, o, len)).toBe(V.BAD_FIELD);
      b[o + 1] = 0;
      expect(ndp.check(v, ip, o, ndp.fixedLen(b[o]!) - 1)).toBe(V.TRUNCATED);
      expect(ndp.check(v, ip, o, len)).toBe(V.OK);
    }
  });
  it('an NS from :: to a unicast address, or with a source LLA option, is refused (DAD rules, §7.1.1)', () => {
    const dad = frames[3]!;
    const { ip, o, len } = at(dad);
    const b = dad.bytes.slice();
    b.set(addr6('2001:2::3'), ip + 24);
    expect(ndp.check(new DataView(b.buffer), ip, o, len)).toBe(V.BAD_FIELD);
    const withSlla = frames[0]!.bytes.slice(); // an NS with a source LLA option, then its source made ::
    withSlla.fill(0, ip + 8, ip + 24);
    expect(ndp.check(new DataView(withSlla.buffer), ip, at(frames[0]!).o, at(frames[0]!).len)).toBe(V.BAD_FIELD);
  });
  it('a multicast target is refused; non-NDP types are unsupported', () => {
    const f = frames[1]!;
    const { ip, o, len } = at(f);
    const b = f.bytes.slice();
    b[o + 8] = 0xff;
    expect(ndp.check(new DataView(b.buffer), ip, o, len)).toBe(V.BAD_FIELD);
    b[o] = icmpv6.TYPE_ECHO_REQUEST;
    expect(ndp.check(new DataView(b.buffer), ip, o, len)).toBe(V.UNSUPPORTED);
  });
  it('option walker: exact fill, length 0, past the end, at most MAX_OPTIONS', () => {
    const b = new Uint8Array(8 * 40);
    const v = new DataView(b.buffer);
    for (let i = 0; i < 40; i++) b[i * 8 + 1] = 1; // 40 options of 8 bytes
    expect(ndp.checkOptions(v, 0, 8 * ndp.MAX_OPTIONS)).toBe(V.OK);
    expect(ndp.checkOptions(v, 0, 8 * (ndp.MAX_OPTIONS + 1))).toBe(V.CHAIN_TOO_LONG);
    expect(ndp.checkOptions(v, 0, 12)).toBe(V.BAD_FIELD); // the second option runs past the end
    expect(ndp.checkOptions(v, 0, 9)).toBe(V.BAD_FIELD); // a lone byte: no length
    b[8 + 1] = 0;
    expect(ndp.checkOptions(v, 0, 16)).toBe(V.BAD_FIELD); // length 0 (§4.6)
    expect(ndp.checkOptions(v, 0, 0)).toBe(V.OK);
  });
});

describe('ndp: builders', () => {
  const NODE2 = mac('02:00:00:00:00:02');
  const EXT = mac('02:00:00:00:03:64');
  const EGRESS6 = addr6('2001:2::3');

  it('unsolicited NA on takeover = the fixture scapy built (Override only, to ff02::1, Hop Limit 255)', () => {
    const { bytes, view } = a5(ndp.FRAME_LEN + 1);
    expect(ndp.emitUnsolicitedAdvertFrame(view, 0, NODE2, EGRESS6)).toBe(86);
    expect(hex(bytes.subarray(0, 86))).toBe(hex(frames[2]!.bytes));
    expect(bytes[86]).toBe(0xa5);
  });
  it('the NA answering the NS of ndp.pcap#0 = the solicited NA fixture (S and O, to the asker)', () => {
    const ns = frames[0]!;
    const { ip, o, len } = at(ns);
    expect(ndp.check(ns.view, ip, o, len)).toBe(V.OK);
    const { bytes, view } = a5(ndp.FRAME_LEN + 1);
    expect(ndp.emitSolicitedAdvertFrame(view, 0, NODE2, ns.view, 0, ip, o, len)).toBe(86);
    expect(hex(bytes.subarray(0, 86))).toBe(hex(frames[1]!.bytes));
    expect(bytes[86]).toBe(0xa5);
  });
  it('the NS of address resolution = ndp.pcap#0 (solicited-node destination, source LLA option)', () => {
    const { bytes, view } = a5(ndp.FRAME_LEN);
    ndp.emitSolicitFrame(view, 0, EXT, addr6('2001:2::64'), EGRESS6);
    expect(hex(bytes)).toBe(hex(frames[0]!.bytes));
    expect(hex(ndp.solicitedNode(EGRESS6))).toBe(hex(addr6('ff02::1:ff00:3')));
  });
  it.skipIf(!hasScapy())('answers to a DAD NS and to an NS without a source LLA option equal scapy', () => {
    const [dadAnswer, noSllaNs, noSllaAnswer] = scapyBytes([
      // RFC 4861 §7.2.4: to a DAD NS (source ::), the answer goes to all-nodes without the Solicited flag.
      `Ether(src='02:00:00:00:00:02', dst='33:33:00:00:00:01')/IPv6(src='2001:2::3', dst='ff02::1', hlim=255)/ICMPv6ND_NA(R=0, S=0, O=1, tgt='2001:2::3')/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:00:02')`,
      `Ether(src='02:00:00:00:03:65', dst='02:00:00:00:00:02')/IPv6(src='fe80::3:65', dst='2001:2::3', hlim=255)/ICMPv6ND_NS(tgt='2001:2::3')`,
      // Without the option the answer goes to the frame's source MAC.
      `Ether(src='02:00:00:00:00:02', dst='02:00:00:00:03:65')/IPv6(src='2001:2::3', dst='fe80::3:65', hlim=255)/ICMPv6ND_NA(R=0, S=1, O=1, tgt='2001:2::3')/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:00:02')`,
    ]);
    const dad = frames[3]!;
    const d = at(dad);
    const { bytes, view } = a5(86);
    ndp.emitSolicitedAdvertFrame(view, 0, NODE2, dad.view, 0, d.ip, d.o, d.len);
    expect(hex(bytes)).toBe(hex(dadAnswer!));
    const nv = new DataView(noSllaNs!.buffer);
    const n = { ip: 14, o: 54, len: noSllaNs!.length - 54 };
    expect(ndp.check(nv, n.ip, n.o, n.len)).toBe(V.OK);
    bytes.fill(0xa5);
    ndp.emitSolicitedAdvertFrame(view, 0, NODE2, nv, 0, n.ip, n.o, n.len);
    expect(hex(bytes)).toBe(hex(noSllaAnswer!));
  });
  it('what the builders write passes ndp.check and the checksum', () => {
    const { view } = a5(86);
    for (const write of [
      () => ndp.emitUnsolicitedAdvertFrame(view, 0, NODE2, EGRESS6),
      () => ndp.emitSolicitFrame(view, 0, NODE2, addr6('fe80::2'), addr6('2001:2::64')),
    ]) {
      write();
      expect(ipv6.check(view, 14, 72)).toBe(V.OK);
      expect(ndp.check(view, 14, 54, 32)).toBe(V.OK);
      expect(icmpv6.checksumOk(view, 14, 54, 32)).toBe(true);
    }
  });
});
