/**
 * tshark as an independent decoder of the IPv6 packets engine/wire writes (the IPv4 ones are tshark.test.ts's):
 * SNAT66 and un-SNAT rewrites of scapy-made UDP, TCP and ICMPv6 echo packets through the incremental setters,
 * UDP emitted behind extension headers with `fillChecksum6`, an ICMPv6 Packet Too Big we build, the NDP frames
 * (unsolicited NA on takeover, the NA answering an NS, an NS), and Geneve over IPv4 carrying an IPv6 packet from
 * the inner-Ethernet template. tshark must find every UDP, TCP and ICMPv6 checksum good (with the IPv6
 * pseudo-header), and a negative control with a broken ICMPv6 checksum Bad.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCaptureFile } from '../../engine/io/index.js';
import * as ethernet from '../../engine/wire/ethernet.js';
import * as geneve from '../../engine/wire/geneve.js';
import * as icmpv6 from '../../engine/wire/icmpv6.js';
import * as ipv6 from '../../engine/wire/ipv6.js';
import * as ndp from '../../engine/wire/ndp.js';
import * as tcp from '../../engine/wire/tcp.js';
import * as udp from '../../engine/wire/udp.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import {
  CHECKSUM_PREFS,
  STATUS_BAD,
  STATUS_GOOD,
  checksumVerdictLines,
  findAll,
  hasTshark,
  tsharkPackets,
  type TsharkLayers,
} from '../support/tshark.js';
import { addr, addr6, mac } from './fixtures.js';

const ready = hasTshark() && hasScapy();
if (!ready) console.log('tshark-ipv6.test: SKIPPED — needs tshark and /usr/bin/python3 with scapy');

const NODE2_MAC = '02:00:00:00:00:02';
const GW_MAC = '02:00:00:00:01:fe';
const EXT_MAC = '02:00:00:00:03:64';
const POD = '2001:2:0:40::a';
const EXT = '2001:2::64';
const EGRESS = '2001:2::3';

describe.skipIf(!ready)('tshark decodes the IPv6 packets engine/wire writes', () => {
  let dir = '';
  let frames: TsharkLayers[] = [];
  const built: { what: string; bytes: Uint8Array }[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egr-wire6-'));
    const file = join(dir, 'wire-tshark-ipv6.pcap');
    const e = `Ether(src='${GW_MAC}', dst='${NODE2_MAC}')`;
    const [snUdp, snTcp, snEcho, big, ns, l3Udp] = scapyBytes([
      `${e}/IPv6(src='${POD}', dst='${EXT}', hlim=63)/UDP(sport=40200, dport=53)/Raw(b'dns?'*5+b'x')`,
      `${e}/IPv6(src='${POD}', dst='${EXT}', hlim=63)/TCP(sport=40201, dport=443, seq=0xfffffff0, ack=7, flags='PA', window=502)/Raw(b'hello, egress')`,
      `${e}/IPv6(src='${POD}', dst='${EXT}', hlim=63)/ICMPv6EchoRequest(id=0x1c2b, seq=9, data=bytes(range(56)))`,
      `${e}/IPv6(src='${EGRESS}', dst='${EXT}', hlim=63)/UDP(sport=61100, dport=9000)/Raw(bytes(1452))`,
      `Ether(src='${EXT_MAC}', dst='33:33:ff:00:00:03')/IPv6(src='${EXT}', dst='ff02::1:ff00:3', hlim=255)/ICMPv6ND_NS(tgt='${EGRESS}')/ICMPv6NDOptSrcLLAddr(lladdr='${EXT_MAC}')`,
      `IPv6(src='${POD}', dst='${EXT}', hlim=63)/UDP(sport=40202, dport=123)/Raw(b'ntp?'*12)`,
    ]);
    const eg = ipv6.addrWords(addr6(EGRESS));
    const rewrite = (what: string, b: Uint8Array, fn: (v: DataView) => void) => {
      const c = b.slice();
      fn(new DataView(c.buffer));
      built.push({ what, bytes: c });
    };

    // SNAT66 / un-SNAT with the incremental setters.
    rewrite('snat6 udp', snUdp!, (v) => udp.snat6(v, 14, 54, ...eg, 61000));
    rewrite('snat6 tcp', snTcp!, (v) => tcp.snat6(v, 14, 54, ...eg, 61001));
    rewrite('un-snat6 (dnat6) udp reply', snUdp!, (v) =>
      udp.dnat6(v, 14, 54, ...ipv6.addrWords(addr6('2001:2:0:40::14')), 40999),
    );
    rewrite('un-snat6 (dnat6) tcp reply', snTcp!, (v) =>
      tcp.dnat6(v, 14, 54, ...ipv6.addrWords(addr6('2001:2:0:40::14')), 40999),
    );
    rewrite('snat6 icmpv6 echo', snEcho!, (v) => {
      icmpv6.updateChecksumForAddr(v, 54, 14 + 8, ...eg);
      ipv6.setSrcWords(v, 14, ...eg);
      icmpv6.setEchoIdCsum(v, 54, 61002);
      ipv6.decHopLimit(v, 14);
    });

    // UDP behind a Hop-by-Hop and a Destination Options header, emitted from value forms.
    {
      const b = new Uint8Array(14 + 40 + 16 + 8 + 20);
      const v = new DataView(b.buffer);
      ethernet.writeHeader(v, 0, 0x0200, 0x00000002, 0x0200, 0x000001fe, ethernet.ETHERTYPE_IPV6);
      const pad4 = new Uint8Array([1, 4, 0, 0, 0, 0]); // PadN, 4 bytes
      const hl = ipv6.emit(
        {
          trafficClass: 0,
          flowLabel: 0x54321,
          hopLimit: 64,
          nextHeader: ipv6.NH_UDP,
          src: addr6(EGRESS),
          dst: addr6(EXT),
          ext: [
            { type: ipv6.NH_HOP_BY_HOP, data: pad4 },
            { type: ipv6.NH_DEST_OPTS, data: pad4 },
          ],
          payloadLen: 28,
        },
        v,
        14,
      );
      const l4 = 14 + hl;
      udp.emit({ srcPort: 61003, dstPort: 7, payloadLen: 20 }, v, l4);
      b.set(new TextEncoder().encode('behind two ext hdrs!'), l4 + 8);
      udp.fillChecksum6(v, 14, l4);
      built.push({ what: 'udp behind extension headers', bytes: b });
    }

    // Packet Too Big (MTU 1400) about the 1500-byte packet, quoting 1232 bytes.
    {
      const b = new Uint8Array(14 + 1280);
      const v = new DataView(b.buffer);
      ethernet.writeHeader(v, 0, 0x0200, 0x00000002, 0x0200, 0x00000364, ethernet.ETHERTYPE_IPV6);
      const n = icmpv6.emitErrorPacket(
        v,
        14,
        addr6('fe80::1fe'),
        { type: icmpv6.TYPE_PACKET_TOO_BIG, code: 0, rest: 1400 },
        new DataView(big!.buffer),
        14,
        big!.length - 14,
      );
      expect(n).toBe(1280);
      built.push({ what: 'icmpv6 packet too big', bytes: b });
    }

    // NDP.
    {
      const b = new Uint8Array(ndp.FRAME_LEN);
      const v = new DataView(b.buffer);
      ndp.emitUnsolicitedAdvertFrame(v, 0, mac(NODE2_MAC), addr6(EGRESS));
      built.push({ what: 'unsolicited na', bytes: b.slice() });
      ndp.emitSolicitedAdvertFrame(v, 0, mac(NODE2_MAC), new DataView(ns!.buffer), 0, 14, 54, 32);
      built.push({ what: 'solicited na', bytes: b.slice() });
      ndp.emitSolicitFrame(v, 0, mac(NODE2_MAC), addr6('fe80::2'), addr6(EXT));
      built.push({ what: 'ns', bytes: b.slice() });
    }

    // Geneve over IPv4 carrying the L3 IPv6 packet (inner-Ethernet template, EtherType 0x86dd).
    {
      const tpl = geneve.buildTemplate({
        srcMac: mac('02:00:00:00:00:01'),
        dstMac: mac(NODE2_MAC),
        srcIp: addr('198.18.0.1'),
        dstIp: addr('198.18.0.3'),
        vni: 0,
        innerSrcMac: mac(GW_MAC),
        innerEthertype: ethernet.ETHERTYPE_IPV6,
      });
      const slab = new Uint8Array(512);
      slab.set(l3Udp!, 128);
      const n = geneve.encap(new DataView(slab.buffer), 128, l3Udp!.length, tpl, 40000);
      built.push({ what: 'geneve(l3 ipv6/udp)', bytes: slab.slice(n, 128 + l3Udp!.length) });
    }

    // Negative control: the SNATed echo with one checksum bit flipped.
    const broken = built.find((x) => x.what === 'snat6 icmpv6 echo')!.bytes.slice();
    broken[56] ^= 0x01;
    built.push({ what: 'control: broken icmpv6 checksum', bytes: broken });

    writeCaptureFile(file, { linkType: 1, records: built.map((x, i) => ({ data: x.bytes, tsSec: 1767225600 + i })) });
    frames = tsharkPackets(file, CHECKSUM_PREFS);
    console.log(`tshark-ipv6.test: ${built.length} frames written to ${file}`);
    console.log('tshark verdicts (tshark -V -o ip/udp/tcp.check_checksum:TRUE):');
    for (const l of checksumVerdictLines(file, CHECKSUM_PREFS)) console.log(`  ${l}`);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const frame = (what: string) => {
    const i = built.findIndex((b) => b.what === what);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(frames.length).toBe(built.length);
    return frames[i]!;
  };

  for (const [what, proto, field, value] of [
    ['snat6 udp', 'udp', 'udp.srcport', '61000'],
    ['snat6 tcp', 'tcp', 'tcp.srcport', '61001'],
    ['un-snat6 (dnat6) udp reply', 'udp', 'udp.dstport', '40999'],
    ['un-snat6 (dnat6) tcp reply', 'tcp', 'tcp.dstport', '40999'],
  ] as const) {
    it(`${what}: ${field} ${value}, ${proto.toUpperCase()} checksum good over the IPv6 pseudo-header`, () => {
      const f = frame(what);
      expect(findAll(f, field)).toEqual([value]);
      if (what.startsWith('snat6')) expect(findAll(f, 'ipv6.src')).toEqual([EGRESS]);
      else expect(findAll(f, 'ipv6.dst')).toEqual(['2001:2:0:40::14']);
      expect(findAll(f, `${proto}.checksum.status`)).toEqual([STATUS_GOOD]);
    });
  }

  it('snat6 icmpv6 echo: source, id and hop limit rewritten, ICMPv6 checksum good', () => {
    const f = frame('snat6 icmpv6 echo');
    expect(findAll(f, 'ipv6.src')).toEqual([EGRESS]);
    expect(findAll(f, 'icmpv6.echo.identifier')).toEqual(['0xee4a']); // 61002
    expect(findAll(f, 'ipv6.hlim')).toEqual(['62']);
    expect(findAll(f, 'icmpv6.checksum.status')).toEqual([STATUS_GOOD]);
  });

  it('UDP behind Hop-by-Hop and Destination Options: both headers decoded, UDP checksum good', () => {
    const f = frame('udp behind extension headers');
    expect(findAll(f, 'frame.protocols')[0]).toBe('eth:ethertype:ipv6:ipv6.hopopts:ipv6.dstopts:udp:echo'); // port 7
    expect(findAll(f, 'ipv6.flow')).toEqual(['0x054321']);
    expect(findAll(f, 'udp.checksum.status')).toEqual([STATUS_GOOD]);
  });

  it('Packet Too Big: MTU 1400, 1280 bytes in all, checksum good, the quoted UDP header decoded', () => {
    const f = frame('icmpv6 packet too big');
    expect(findAll(f, 'icmpv6.type')).toEqual(['2']);
    expect(findAll(f, 'icmpv6.mtu')).toEqual(['1400']);
    expect(findAll(f, 'ipv6.plen')[0]).toBe('1240');
    expect(findAll(f, 'icmpv6.checksum.status')).toEqual([STATUS_GOOD]);
    expect(findAll(f, 'ipv6.src')).toEqual(['fe80::1fe', EGRESS]);
    expect(findAll(f, 'udp.srcport')).toEqual(['61100']);
  });

  it('unsolicited NA: to ff02::1 and 33:33:00:00:00:01, hop limit 255, Override only, target LLA = node MAC', () => {
    const f = frame('unsolicited na');
    expect(findAll(f, 'eth.dst')[0]).toBe('33:33:00:00:00:01');
    expect(findAll(f, 'ipv6.dst')).toEqual(['ff02::1']);
    expect(findAll(f, 'ipv6.hlim')).toEqual(['255']);
    expect(findAll(f, 'icmpv6.nd.na.flag.r')).toEqual(['0']);
    expect(findAll(f, 'icmpv6.nd.na.flag.s')).toEqual(['0']);
    expect(findAll(f, 'icmpv6.nd.na.flag.o')).toEqual(['1']);
    expect(findAll(f, 'icmpv6.nd.na.target_address')).toEqual([EGRESS]);
    expect(findAll(f, 'icmpv6.opt.linkaddr')).toEqual([NODE2_MAC]);
    expect(findAll(f, 'icmpv6.checksum.status')).toEqual([STATUS_GOOD]);
  });

  it('solicited NA: to the asker (IPv6 and MAC from its NS), Solicited and Override set, checksum good', () => {
    const f = frame('solicited na');
    expect(findAll(f, 'eth.dst')[0]).toBe(EXT_MAC);
    expect(findAll(f, 'ipv6.src')).toEqual([EGRESS]);
    expect(findAll(f, 'ipv6.dst')).toEqual([EXT]);
    expect(findAll(f, 'icmpv6.nd.na.flag.s')).toEqual(['1']);
    expect(findAll(f, 'icmpv6.nd.na.flag.o')).toEqual(['1']);
    expect(findAll(f, 'icmpv6.checksum.status')).toEqual([STATUS_GOOD]);
  });

  it('NS: to the solicited-node address and its multicast MAC, source LLA option, checksum good', () => {
    const f = frame('ns');
    expect(findAll(f, 'eth.dst')[0]).toBe('33:33:ff:00:00:64');
    expect(findAll(f, 'ipv6.dst')).toEqual(['ff02::1:ff00:64']);
    expect(findAll(f, 'icmpv6.nd.ns.target_address')).toEqual([EXT]);
    expect(findAll(f, 'icmpv6.opt.linkaddr')).toEqual([NODE2_MAC]);
    expect(findAll(f, 'icmpv6.checksum.status')).toEqual([STATUS_GOOD]);
  });

  it('Geneve over IPv4 with an inner IPv6 packet: VNI 0, 0x6558, inner EtherType 0x86dd, checksums good', () => {
    const f = frame('geneve(l3 ipv6/udp)');
    expect(findAll(f, 'frame.protocols')[0]).toMatch(/^eth:ethertype:ip:udp:geneve:eth:ethertype:ipv6:udp/);
    expect(findAll(f, 'geneve.vni')).toEqual(['0x000000']);
    expect(findAll(f, 'eth.type')[1]).toBe('0x86dd');
    expect(findAll(f, 'ip.checksum.status')).toEqual([STATUS_GOOD]);
    expect(findAll(f, 'udp.checksum.status')[1]).toBe(STATUS_GOOD); // the inner one; the outer is 0
  });

  it('negative control: tshark really checks ICMPv6 checksums', () => {
    expect(findAll(frame('control: broken icmpv6 checksum'), 'icmpv6.checksum.status')).toEqual([STATUS_BAD]);
  });
});
