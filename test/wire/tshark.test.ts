/**
 * tshark as an independent decoder of what engine/wire writes: (a) Geneve encapsulation from a template of
 * scapy-made inner frames (Ethernet + IPv4 + UDP/TCP, and L3 packets with the inner-Ethernet template),
 * (b) SNAT-rewritten scapy-made UDP, TCP and ICMP echo packets (source address and port / echo id through the
 * incremental checksum setters), (c) a gratuitous ARP and an ICMP error we build. tshark must report the Geneve
 * fields Antrea uses (VNI 0, protocol 0x6558, no options) and every IPv4/UDP/TCP/ICMP checksum good, except
 * the outer Geneve UDP checksum, which is 0 and therefore "not present".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCaptureFile } from '../../engine/io/index.js';
import * as arp from '../../engine/wire/arp.js';
import * as ethernet from '../../engine/wire/ethernet.js';
import { formatFrame } from '../../engine/wire/format.js';
import * as geneve from '../../engine/wire/geneve.js';
import * as icmp from '../../engine/wire/icmp.js';
import * as ipv4 from '../../engine/wire/ipv4.js';
import * as tcp from '../../engine/wire/tcp.js';
import * as udp from '../../engine/wire/udp.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import {
  CHECKSUM_PREFS,
  STATUS_BAD,
  STATUS_GOOD,
  STATUS_NOT_PRESENT,
  checksumVerdictLines,
  findAll,
  hasTshark,
  tsharkPackets,
  type TsharkLayers,
} from '../support/tshark.js';
import { addr, mac } from './fixtures.js';

const ready = hasTshark() && hasScapy();
if (!ready) console.log('tshark.test: SKIPPED — needs tshark and /usr/bin/python3 with scapy');

const NODE1_MAC = '02:00:00:00:00:01';
const NODE2_MAC = '02:00:00:00:00:02';
const GW_MAC = '02:00:00:00:01:fe';
const POD = '198.18.64.10';
const EXT = '198.18.0.100';
const EGRESS = '198.18.0.3';

/** A tiny flow hash for the outer source port (FNV-1a over the inner 5-tuple words); any stable hash will do. */
function flowHash(v: DataView, ip: number): number {
  let h = 0x811c9dc5 | 0;
  const hl = ipv4.headerLen(v, ip);
  for (const w of [ipv4.src(v, ip), ipv4.dst(v, ip), v.getInt32(ip + hl), ipv4.proto(v, ip)])
    h = Math.imul(h ^ w, 0x01000193);
  return h;
}

describe.skipIf(!ready)('tshark decodes what engine/wire writes', () => {
  let dir = '';
  let file = '';
  let frames: TsharkLayers[] = [];
  const built: { what: string; bytes: Uint8Array }[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egr-wire-'));
    file = join(dir, 'wire-tshark.pcap');
    const [innerUdp, innerTcp, l3Udp, snUdp, snTcp, snIcmp, snUdp0] = scapyBytes([
      `Ether(src='${GW_MAC}', dst='aa:bb:cc:dd:ee:ff')/IP(src='${POD}', dst='${EXT}', id=1, flags='DF', ttl=63)/UDP(sport=40030, dport=53)/Raw(b'q'*20)`,
      `Ether(src='${GW_MAC}', dst='aa:bb:cc:dd:ee:ff')/IP(src='${POD}', dst='${EXT}', id=2, flags='DF', ttl=63)/TCP(sport=40031, dport=80, seq=1000, flags='S', window=64240, options=[('MSS', 1410)])`,
      `IP(src='${POD}', dst='${EXT}', id=3, flags='DF', ttl=63)/UDP(sport=40032, dport=123)/Raw(b'ntp?'*12)`,
      `Ether(src='${GW_MAC}', dst='${NODE2_MAC}')/IP(src='${POD}', dst='${EXT}', id=4, flags='DF', ttl=63)/UDP(sport=40033, dport=53)/Raw(b'dns?'*5+b'x')`,
      `Ether(src='${GW_MAC}', dst='${NODE2_MAC}')/IP(src='${POD}', dst='${EXT}', id=5, flags='DF', ttl=63)/TCP(sport=40034, dport=443, seq=0xfffffff0, ack=7, flags='PA', window=502)/Raw(b'hello, egress')`,
      `Ether(src='${GW_MAC}', dst='${NODE2_MAC}')/IP(src='${POD}', dst='${EXT}', id=6, flags='DF', ttl=63)/ICMP(type=8, id=0x1c2b, seq=9)/Raw(bytes(range(56)))`,
      `Ether(src='${GW_MAC}', dst='${NODE2_MAC}')/IP(src='${POD}', dst='${EXT}', id=7, ttl=63)/UDP(sport=40035, dport=9, chksum=0)/Raw(b'no checksum')`,
    ]);

    // (a) Geneve from the template, outer source port from a flow hash (Linux udp_flow_src_port).
    const tpl = geneve.buildTemplate({
      srcMac: mac(NODE1_MAC),
      dstMac: mac(NODE2_MAC),
      srcIp: addr('198.18.0.1'),
      dstIp: addr(EGRESS),
      vni: 0,
    });
    const tplL3 = geneve.buildTemplate({
      srcMac: mac(NODE1_MAC),
      dstMac: mac(NODE2_MAC),
      srcIp: addr('198.18.0.1'),
      dstIp: addr(EGRESS),
      vni: 0,
      innerSrcMac: mac(GW_MAC),
    });
    const slab = new Uint8Array(4096);
    const sv = new DataView(slab.buffer);
    const encap = (what: string, inner: Uint8Array, t: geneve.GeneveTemplate, ipAt: number) => {
      slab.fill(0);
      slab.set(inner, 256);
      const n = geneve.encap(sv, 256, inner.length, t, geneve.flowSrcPort(flowHash(sv, 256 + ipAt)));
      built.push({ what, bytes: slab.slice(n, 256 + inner.length) });
    };
    encap('geneve(eth/ipv4/udp)', innerUdp!, tpl, 14);
    encap('geneve(eth/ipv4/tcp)', innerTcp!, tpl, 14);
    encap('geneve(l3 ipv4/udp, inner-eth template)', l3Udp!, tplL3, 0);

    // (b) SNAT rewrites with the incremental setters.
    const egress = addr(EGRESS);
    const snat = (what: string, b: Uint8Array, fn: (v: DataView) => void) => {
      const c = b.slice();
      fn(new DataView(c.buffer));
      built.push({ what, bytes: c });
    };
    snat('snat udp', snUdp!, (v) => udp.snat(v, 14, 34, egress, 61000));
    snat('snat tcp', snTcp!, (v) => tcp.snat(v, 14, 34, egress, 61001));
    snat('snat icmp echo', snIcmp!, (v) => {
      ipv4.setSrcCsum(v, 14, egress);
      icmp.setEchoIdCsum(v, 34, 61002);
    });
    snat('snat udp, setters one by one', snUdp!, (v) => {
      const old = ipv4.src(v, 14);
      ipv4.setSrcCsum(v, 14, egress);
      udp.updateChecksumForAddr(v, 34, old, egress);
      udp.setSrcPortCsum(v, 34, 61003);
      ipv4.decTtlCsum(v, 14);
    });
    snat('snat tcp, setters one by one', snTcp!, (v) => {
      const old = ipv4.src(v, 14);
      ipv4.setSrcCsum(v, 14, egress);
      tcp.updateChecksumForAddr(v, 34, old, egress);
      tcp.setSrcPortCsum(v, 34, 61004);
    });
    snat('un-snat (dnat) udp reply', snUdp!, (v) => udp.dnat(v, 14, 34, addr('198.18.64.20'), 40999));
    snat('snat udp without checksum', snUdp0!, (v) => udp.snat(v, 14, 34, egress, 61005));

    // (c) A GARP and an ICMP fragmentation-needed error about the SNATed UDP packet.
    const g = new Uint8Array(42);
    arp.emitGratuitousFrame(new DataView(g.buffer), 0, mac(NODE2_MAC), egress);
    built.push({ what: 'garp', bytes: g });
    const orig = built.find((x) => x.what === 'snat udp')!.bytes;
    const e = new Uint8Array(14 + 20 + 8 + 28);
    const ev = new DataView(e.buffer);
    ethernet.writeHeader(ev, 0, 0x0200, 0x00000002, 0x0200, 0x00000364, ethernet.ETHERTYPE_IPV4);
    icmp.emitErrorPacket(
      ev,
      14,
      addr('198.18.0.254'),
      { type: 3, code: 4, rest: icmp.restFragNeeded(1400) },
      new DataView(orig.buffer),
      14,
      orig.length - 14,
    );
    built.push({ what: 'icmp frag-needed', bytes: e });

    // Negative control: a copy of the first SNAT packet with a broken TCP checksum must be reported Bad.
    const broken = built.find((x) => x.what === 'snat tcp')!.bytes.slice();
    broken[50] ^= 0xff;
    built.push({ what: 'control: broken tcp checksum', bytes: broken });

    writeCaptureFile(file, { linkType: 1, records: built.map((b, i) => ({ data: b.bytes, tsSec: 1767225600 + i })) });
    frames = tsharkPackets(file, CHECKSUM_PREFS);
    console.log(`tshark.test: ${built.length} frames written to ${file}`);
    built.forEach((b, i) => console.log(`  #${i + 1} ${b.what}: ${formatFrame(b.bytes)}`));
    console.log('tshark verdicts (tshark -V -o ip/udp/tcp.check_checksum:TRUE):');
    for (const l of checksumVerdictLines(file)) console.log(`  ${l}`);
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

  for (const what of ['geneve(eth/ipv4/udp)', 'geneve(eth/ipv4/tcp)', 'geneve(l3 ipv4/udp, inner-eth template)']) {
    it(`${what}: VNI 0, protocol 0x6558, no options; outer UDP checksum not present, every other checksum good`, () => {
      const f = frame(what);
      expect(findAll(f, 'frame.protocols')[0]).toMatch(/^eth:ethertype:ip:udp:geneve:eth:ethertype:ip:(udp|tcp)/);
      expect(findAll(f, 'geneve.vni')).toEqual(['0x000000']);
      expect(findAll(f, 'geneve.proto_type')).toEqual(['0x6558']);
      expect(findAll(f, 'geneve.option.length')).toEqual(['0']);
      expect(findAll(f, 'geneve.version')).toEqual(['0']);
      expect(findAll(f, 'udp.dstport')[0]).toBe('6081');
      expect(Number(findAll(f, 'udp.srcport')[0])).toBeGreaterThanOrEqual(1);
      expect(findAll(f, 'ip.flags.df')[0]).toBe('1');
      expect(findAll(f, 'ip.ttl')[0]).toBe('64');
      expect(findAll(f, 'eth.dst')[1]).toBe('aa:bb:cc:dd:ee:ff');
      expect(findAll(f, 'ip.checksum.status')).toEqual([STATUS_GOOD, STATUS_GOOD]);
      const u = findAll(f, 'udp.checksum.status');
      expect(u[0]).toBe(STATUS_NOT_PRESENT); // outer: checksum 0 ("zero-value ignored")
      expect(u.slice(1)).toEqual(u.length > 1 ? [STATUS_GOOD] : []);
      expect(findAll(f, 'tcp.checksum.status')).toEqual(what.includes('tcp') ? [STATUS_GOOD] : []);
    });
  }

  for (const [what, proto, port] of [
    ['snat udp', 'udp', '61000'],
    ['snat tcp', 'tcp', '61001'],
    ['snat udp, setters one by one', 'udp', '61003'],
    ['snat tcp, setters one by one', 'tcp', '61004'],
  ] as const) {
    it(`${what}: source ${EGRESS}.${port}, IPv4 and ${proto.toUpperCase()} checksums good`, () => {
      const f = frame(what);
      expect(findAll(f, 'ip.src')).toEqual([EGRESS]);
      expect(findAll(f, `${proto}.srcport`)).toEqual([port]);
      expect(findAll(f, 'ip.checksum.status')).toEqual([STATUS_GOOD]);
      expect(findAll(f, `${proto}.checksum.status`)).toEqual([STATUS_GOOD]);
    });
  }

  it('snat icmp echo: source and echo id rewritten, IPv4 and ICMP checksums good', () => {
    const f = frame('snat icmp echo');
    expect(findAll(f, 'ip.src')).toEqual([EGRESS]);
    expect(findAll(f, 'icmp.ident')).toEqual(['61002']);
    expect(findAll(f, 'ip.checksum.status')).toEqual([STATUS_GOOD]);
    expect(findAll(f, 'icmp.checksum.status')).toEqual([STATUS_GOOD]);
  });

  it('un-SNAT of a reply: destination rewritten, checksums good', () => {
    const f = frame('un-snat (dnat) udp reply');
    expect(findAll(f, 'ip.dst')).toEqual(['198.18.64.20']);
    expect(findAll(f, 'udp.dstport')).toEqual(['40999']);
    expect(findAll(f, 'ip.checksum.status')).toEqual([STATUS_GOOD]);
    expect(findAll(f, 'udp.checksum.status')).toEqual([STATUS_GOOD]);
  });

  it('SNAT of a UDP packet without checksum keeps it absent (RFC 768)', () => {
    const f = frame('snat udp without checksum');
    expect(findAll(f, 'udp.checksum')).toEqual(['0x0000']);
    expect(findAll(f, 'udp.checksum.status')).toEqual([STATUS_NOT_PRESENT]);
    expect(findAll(f, 'ip.checksum.status')).toEqual([STATUS_GOOD]);
  });

  it('gratuitous ARP is recognised as such', () => {
    const f = frame('garp');
    expect(findAll(f, 'arp.isgratuitous')).toEqual(['1']);
    expect(findAll(f, 'arp.opcode')).toEqual(['1']);
    expect(findAll(f, 'arp.dst.hw_mac')).toEqual(['ff:ff:ff:ff:ff:ff']);
  });

  it('ICMP fragmentation needed: MTU 1400, checksums good, quoted header decoded', () => {
    const f = frame('icmp frag-needed');
    expect(findAll(f, 'icmp.type')).toEqual(['3']);
    expect(findAll(f, 'icmp.code')).toEqual(['4']);
    expect(findAll(f, 'icmp.mtu')).toEqual(['1400']);
    expect(findAll(f, 'icmp.checksum.status')).toEqual([STATUS_GOOD]);
    expect(findAll(f, 'ip.checksum.status')).toEqual([STATUS_GOOD, STATUS_GOOD]); // ours and the quoted one
    expect(findAll(f, 'ip.src')[1]).toBe(EGRESS);
  });

  it('negative control: tshark really checks (a broken TCP checksum is Bad)', () => {
    const f = frame('control: broken tcp checksum');
    expect(findAll(f, 'tcp.checksum.status')).toEqual([STATUS_BAD]);
  });
});
