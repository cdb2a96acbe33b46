/**
 * Geneve over an IPv6 underlay (engine/wire/geneve.ts `buildTemplate6`, `encap6`, `outerCheck6`; docs/ipv6.md
 * §2.l): the frames `encap6` writes into a 0xa5-filled slab compared byte for byte with what scapy builds (its
 * UDP checksum over the IPv6 pseudo-header computed by scapy, not by us), for IPv6 and IPv4 inner packets and an
 * odd inner length; `outerCheck6` verdicts for the good frame and one broken field each; the authentication
 * option sealed over the IPv6 addresses (`seal6`/`verify6`); and tshark checking every outer UDP checksum, with a
 * broken one as a negative control.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCaptureFile } from '../../engine/io/index.js';
import * as ethernet from '../../engine/wire/ethernet.js';
import * as geneve from '../../engine/wire/geneve.js';
import * as geneveAuth from '../../engine/wire/geneve-auth.js';
import * as udp from '../../engine/wire/udp.js';
import * as V from '../../engine/wire/verdict.js';
import { sipKey } from '../../engine/wire/siphash.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { CHECKSUM_PREFS, STATUS_BAD, STATUS_GOOD, findAll, hasTshark, tsharkPackets } from '../support/tshark.js';
import { addr6, mac } from './fixtures.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const A_MAC = '02:0e:00:00:00:0a';
const B_MAC = '02:0e:00:00:00:0b';
const A = '2001:2:0:ff::a';
const B = '2001:2:0:ff::b';
const OUTER = `Ether(dst='${B_MAC}', src='${A_MAC}')/IPv6(src='${A}', dst='${B}', hlim=64)`;
const inner = (sport: number) =>
  `UDP(sport=${sport}, dport=6081)/GENEVE(proto=0x6558, vni=0)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${A_MAC}')`;
const INNER6 = "IPv6(src='2001:2:0:a1::5', dst='2001:2::64', hlim=63)/UDP(sport=40000, dport=53)/Raw(b'query')";
const INNER4 = "IP(src='10.10.1.5', dst='10.10.0.7', ttl=63, flags='DF', id=0)/TCP(sport=41000, dport=80, flags='S')";
const INNER_ODD = "IPv6(src='2001:2:0:a1::5', dst='2001:2:0:a0::9')/UDP(sport=7, dport=7)/Raw(b'odd')";

function template(innerEthertype: number, options?: Uint8Array) {
  return geneve.buildTemplate6({
    srcMac: mac(A_MAC),
    dstMac: mac(B_MAC),
    srcIp: addr6(A),
    dstIp: addr6(B),
    vni: 0,
    innerSrcMac: mac(A_MAC),
    innerEthertype,
    ...(options ? { options, critical: true } : {}),
  });
}

/** `encap6` of the L3 packet `pkt` into a 0xa5-filled slab; the frame written. */
function encap(pkt: Uint8Array, tpl: geneve.GeneveTemplate6, sport: number): Uint8Array {
  const slab = new Uint8Array(512).fill(0xa5);
  slab.set(pkt, 200);
  const n = geneve.encap6(new DataView(slab.buffer), 200, pkt.length, tpl, sport);
  expect(n).toBe(200 - tpl.len);
  return slab.slice(n, 200 + pkt.length);
}

describe.skipIf(!hasScapy())('Geneve over IPv6: encap6 against scapy, byte for byte', () => {
  const [in6, in4, odd, want6, want4, wantOdd] = scapyBytes([
    INNER6,
    INNER4,
    INNER_ODD,
    `${OUTER}/${inner(51000)}/${INNER6}`,
    `${OUTER}/${inner(52000)}/${INNER4}`,
    `${OUTER}/${inner(65535)}/${INNER_ODD}`,
  ]);
  const t6 = template(ethernet.ETHERTYPE_IPV6);
  const t4 = template(ethernet.ETHERTYPE_IPV4);

  it('a template of 84 bytes (70 + the inner Ethernet header)', () => {
    expect(geneve.OVERHEAD6).toBe(70);
    expect(t6.len).toBe(84);
  });

  it('an IPv6 inner packet: every byte, the UDP checksum included, as scapy builds it', () => {
    expect(hex(encap(in6!, t6, 51000))).toBe(hex(want6!));
  });

  it('an IPv4 inner packet', () => {
    expect(hex(encap(in4!, t4, 52000))).toBe(hex(want4!));
  });

  it('an odd inner length and source port 65535', () => {
    expect(hex(encap(odd!, t6, 65535))).toBe(hex(wantOdd!));
  });

  it('outerCheck6: the Geneve offset of a good frame, a verdict for each broken field', () => {
    const f = want6!;
    const chk = (b: Uint8Array) => geneve.outerCheck6(new DataView(b.buffer), 0, b.length);
    expect(chk(f)).toBe(14 + 40 + 8);
    const mut = (fn: (v: DataView) => void) => {
      const c = f.slice();
      fn(new DataView(c.buffer));
      return c;
    };
    expect(chk(mut((v) => v.setUint16(60, 0)))).toBe(-V.BAD_CHECKSUM); // zero UDP checksum refused over IPv6
    expect(chk(mut((v) => v.setUint8(100, v.getUint8(100) ^ 1)))).toBe(-V.BAD_CHECKSUM);
    expect(chk(mut((v) => v.setUint16(56, 6082)))).toBe(-V.UNSUPPORTED);
    expect(chk(mut((v) => v.setUint8(20, 60)))).toBe(-V.UNSUPPORTED); // an extension header first
    expect(chk(mut((v) => v.setUint16(12, 0x0800)))).toBe(-V.UNSUPPORTED);
    expect(chk(f.subarray(0, 60))).toBe(-V.TRUNCATED);
  });

  it('the authentication option sealed over the IPv6 addresses: verify6 accepts it, another address not', () => {
    const key = sipKey(new Uint8Array(16).map((_, i) => i + 1));
    const ta = template(ethernet.ETHERTYPE_IPV6, geneveAuth.optionBytes(42));
    const slab = new Uint8Array(512).fill(0xa5);
    slab.set(in6!, 200);
    const v = new DataView(slab.buffer);
    const s = geneve.encap6(v, 200, in6!.length, ta, 51000);
    const g = s + geneve.OUTER6_GENEVE;
    const glen = in6!.length + ta.len - geneve.OUTER6_GENEVE;
    geneveAuth.seal6(key, v, s + 14, g, glen, g + 8, 1, 2);
    udp.fillChecksum6(v, s + 14, s + 54);
    expect(geneve.outerCheck6(v, s, ta.len + in6!.length)).toBe(g);
    const copy = slab.slice();
    expect(geneveAuth.verify6(key, v, s + 14, g, glen, g + 8)).toBe(true);
    const cv = new DataView(copy.buffer);
    cv.setUint8(s + 14 + 39, 0x0c); // destination ::b → ::c
    expect(geneveAuth.verify6(key, cv, s + 14, g, glen, g + 8)).toBe(false);
  });
});

const ready = hasScapy() && hasTshark();
describe.skipIf(!ready)('Geneve over IPv6: tshark verifies the outer UDP checksum', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egr-geneve6-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('good on every frame encap6 wrote, bad on the negative control', () => {
    const [in6, in4, odd] = scapyBytes([INNER6, INNER4, INNER_ODD]);
    const frames = [
      encap(in6!, template(ethernet.ETHERTYPE_IPV6), 51000),
      encap(in4!, template(ethernet.ETHERTYPE_IPV4), 52000),
      encap(odd!, template(ethernet.ETHERTYPE_IPV6), 65535),
    ];
    const broken = frames[0]!.slice();
    broken[61] ^= 0x01;
    frames.push(broken);
    const file = join(dir, 'geneve6.pcap');
    writeCaptureFile(file, { linkType: 1, records: frames.map((data, i) => ({ data, tsSec: 1767225600 + i })) });
    const got = tsharkPackets(file, CHECKSUM_PREFS);
    expect(got.length).toBe(4);
    // The outer UDP header is the first one tshark lists; the inner IPv6 UDP's checksum is good too.
    const outer = got.map((f) => findAll(f, 'udp.checksum.status')[0]);
    expect(outer).toEqual([STATUS_GOOD, STATUS_GOOD, STATUS_GOOD, STATUS_BAD]);
    expect(findAll(got[0]!, 'geneve.vni')).toEqual(['0x000000']);
    expect(findAll(got[1]!, 'tcp.checksum.status')).toEqual([STATUS_GOOD]);
  });
});
