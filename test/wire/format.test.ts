/**
 * engine/wire/format.ts: the one-line summaries of the fixtures (expected text written by hand from the
 * scapy field values), malformed input printing where the parse stops, and checksum flags.
 */
import { describe, expect, it } from 'vitest';
import { formatFrame, formatIp, tcpFlagsText } from '../../engine/wire/format.js';
import { load } from './fixtures.js';

const line = (file: string, i: number) => formatFrame(load(file)[i]!.bytes);

describe('format: IPv6 fixtures', () => {
  const cases: [string, number, string][] = [
    [
      'eth-ipv6-udp-tcp.pcap',
      2,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv6, 2001:2:0:40::a.40102 > 2001:2::64.80: TCP [S] seq 4294967280 win 64240 opts 12 len 0',
    ],
    [
      'ipv6-ext.pcap',
      0,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv6, 2001:2:0:40::a.40110 > 2001:2::64.53: UDP len 8 [ext 8]',
    ],
    [
      'ipv6-ext.pcap',
      4,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv6, 2001:2:0:40::a.40114 > 2001:2::64.9000: UDP len 1400 [ext 8] (frag)',
    ],
    [
      'ipv6-ext.pcap',
      5,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv6, 2001:2:0:40::a > 2001:2::64: UDP [ext 8] (frag, not first)',
    ],
    [
      'ipv6-ext.pcap',
      6,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv6, 2001:2:0:40::a > 2001:2::64: ICMPv6 echo request id 11325 seq 2 len 16 [ext 56]',
    ],
    [
      'ipv6-ext-bad.pcap',
      3,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv6, 2001:2:0:40::a > 2001:2::64: [bad ipv6 chain: hop-by-hop-not-first]',
    ],
    [
      'icmpv6-errors.pcap',
      1,
      '02:00:00:00:03:64 > 02:00:00:00:00:02, IPv6, fe80::1fe > 2001:2::3: ICMPv6 packet too big mtu 1280 for 2001:2::3.61100 > 2001:2::64.9000: UDP',
    ],
    [
      'ndp.pcap',
      1,
      '02:00:00:00:00:02 > 02:00:00:00:03:64, IPv6, 2001:2::3 > 2001:2::64: ICMPv6 neighbor advertisement tgt 2001:2::3 [SO]',
    ],
    [
      'ndp.pcap',
      2,
      '02:00:00:00:00:02 > 33:33:00:00:00:01, IPv6, 2001:2::3 > ff02::1: ICMPv6 neighbor advertisement tgt 2001:2::3 [O]',
    ],
    [
      'ndp.pcap',
      6,
      '02:00:00:00:03:64 > 33:33:ff:00:00:03, IPv6, 2001:2::64 > ff02::1:ff00:3: ICMPv6 type 135 [bad ndp: bad-hop-limit]',
    ],
    [
      'geneve-ipv6.pcap',
      0,
      '02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4, 198.18.0.1.51300 > 198.18.0.3.6081: Geneve vni 0: 2001:2:0:40::a.40130 > 2001:2::64.53: UDP len 20',
    ],
  ];
  for (const [file, i, want] of cases) it(`${file}#${i}`, () => expect(line(file, i)).toBe(want));
  it('formatIp picks IPv6 by the version nibble; a broken checksum is flagged', () => {
    const f = load('icmpv6-echo.pcap')[0]!;
    expect(formatIp(f.bytes.subarray(14))).toBe(
      '2001:2:0:40::a > 2001:2::64: ICMPv6 echo request id 7211 seq 1 len 56',
    );
    const b = f.bytes.slice(14);
    b[b.length - 1] ^= 1;
    expect(formatIp(b)).toContain('[bad icmpv6 cksum]');
    expect(formatIp(b.subarray(0, 30))).toBe('[truncated ipv6: 30 bytes]');
  });
});

describe('format: fixtures', () => {
  const cases: [string, number, string][] = [
    ['arp-request.pcap', 0, '02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 198.18.0.3 tell 198.18.0.1'],
    ['arp-request.pcap', 1, '02:00:00:00:00:02 > 02:00:00:00:00:01, ARP, Reply 198.18.0.3 is-at 02:00:00:00:00:02'],
    [
      'garp.pcap',
      0,
      '02:00:00:00:00:02 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 198.18.0.3 (ff:ff:ff:ff:ff:ff) tell 198.18.0.3',
    ],
    [
      'eth-ipv4-tcp.pcap',
      0,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10.40000 > 198.18.0.100.80: TCP [S] seq 4294967280 win 64240 opts 20 len 0',
    ],
    [
      'eth-ipv4-tcp.pcap',
      1,
      '02:00:00:00:03:64 > 02:00:00:00:02:0a, IPv4, 198.18.0.100.80 > 198.18.64.10.40000: TCP [S.] seq 2319133725 ack 4294967281 win 65160 opts 20 len 0',
    ],
    [
      'eth-ipv4-tcp.pcap',
      5,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10.40000 > 198.18.0.100.80: TCP [RU] seq 11 win 0 urg 3 len 3',
    ],
    [
      'eth-ipv4-udp.pcap',
      0,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10.40000 > 198.18.0.100.53: UDP len 32',
    ],
    [
      'vlan-tagged.pcap',
      1,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, qinq 10 p 5, vlan 20, IPv4, 198.18.64.10.40021 > 198.18.0.100.53: UDP len 8',
    ],
    [
      'icmp-echo.pcap',
      0,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10 > 198.18.0.100: ICMP echo request id 7211 seq 1 len 56',
    ],
    [
      'icmp-frag-needed.pcap',
      0,
      '02:00:00:00:03:64 > 02:00:00:00:00:02, IPv4, 198.18.0.254 > 198.18.0.3: ICMP unreachable need-frag mtu 1400 for 198.18.0.3.61000 > 198.18.0.100.4789: UDP',
    ],
    [
      'icmp-errors.pcap',
      3,
      '02:00:00:00:03:64 > 02:00:00:00:00:02, IPv4, 198.18.0.254 > 198.18.0.3: ICMP unreachable host for 198.18.0.3 > 198.18.0.100: ICMP type 8 id 61004 seq 7',
    ],
    [
      'geneve-udp.pcap',
      0,
      '02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4, 198.18.0.1.51234 > 198.18.0.3.6081: Geneve vni 0: 198.18.64.10.40030 > 198.18.0.100.53: UDP len 20',
    ],
    [
      'geneve-options.pcap',
      0,
      '02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4, 198.18.0.1.50000 > 198.18.0.3.6081: Geneve vni 0 opts 20 [C]: 198.18.64.10.40030 > 198.18.0.100.53: UDP len 20',
    ],
    [
      'ip-fragment.pcap',
      0,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10.40040 > 198.18.0.100.9000: UDP len 3000 (frag 16962:1480@0+)',
    ],
    [
      'ip-fragment.pcap',
      2,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10 > 198.18.0.100: UDP (frag 16962:48@2960)',
    ],
    [
      'ipv4-options-tcp.pcap',
      0,
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10.40010 > 198.18.0.100.443: TCP [S] seq 1 win 1024 len 0 [ip opts 4]',
    ],
  ];
  for (const [file, i, want] of cases) it(`${file}#${i}`, () => expect(line(file, i)).toBe(want));

  it('formatIp on the IPv4 packet alone, and on a DataView with an offset', () => {
    const f = load('eth-ipv4-udp.pcap')[0]!;
    expect(formatIp(f.bytes.subarray(14))).toBe('198.18.64.10.40000 > 198.18.0.100.53: UDP len 32');
    expect(formatIp(f.view, 14, f.len - 14)).toBe('198.18.64.10.40000 > 198.18.0.100.53: UDP len 32');
  });
});

describe('format: malformed input', () => {
  const udp = load('eth-ipv4-udp.pcap')[0]!;
  const edit = (fn: (b: Uint8Array) => void, cut = udp.len) => {
    const b = udp.bytes.slice(0, cut);
    fn(b);
    return formatFrame(b);
  };
  it('truncated frames say so', () => {
    expect(formatFrame(new Uint8Array(5))).toBe('[truncated ethernet: 5 bytes]');
    expect(edit(() => {}, 20)).toBe('02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, [truncated ipv4: 6 bytes]');
    expect(edit(() => {}, 40)).toBe(
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10 > 198.18.0.100: UDP [truncated] [truncated: total length 60, have 26]',
    );
    expect(edit(() => {}, 50)).toBe(
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10.40000 > 198.18.0.100.53: UDP length 40 [truncated] [truncated: total length 60, have 36]',
    );
  });
  it('bad headers and checksums are flagged', () => {
    expect(edit((b) => (b[14] = 0x43))).toBe(
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10 > 198.18.0.100: [bad ipv4: bad-header-len]',
    );
    expect(edit((b) => (b[22] = 1))).toBe(
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10.40000 > 198.18.0.100.53: UDP len 32 [bad ip cksum]',
    );
    expect(edit((b) => (b[60] ^= 1))).toBe(
      '02:00:00:00:02:0a > 02:00:00:00:01:fe, IPv4, 198.18.64.10.40000 > 198.18.0.100.53: UDP len 32 [bad udp cksum]',
    );
    expect(edit((b) => (b[39] = 3))).toContain('UDP [bad udp: bad-total-len, length 3]');
    const tcp = load('eth-ipv4-tcp.pcap')[2]!.bytes.slice();
    tcp[46] = 0x40;
    expect(formatFrame(tcp)).toContain('TCP [bad tcp: bad-header-len]');
    const arp = load('arp-request.pcap')[0]!.bytes.slice();
    arp[18] = 8;
    expect(formatFrame(arp)).toContain('ARP, [bad arp: bad-field] htype 1 ptype 0x0800 hlen 8 plen 4 op 1');
    const gen = load('geneve-udp.pcap')[0]!.bytes.slice();
    gen[42] = 0x80;
    expect(formatFrame(gen)).toContain('Geneve [bad geneve: bad-version]');
  });
  it('tcpdump flag letters', () => {
    expect(tcpFlagsText(0)).toBe('[none]');
    expect(tcpFlagsText(0x12)).toBe('[S.]');
    expect(tcpFlagsText(0xff)).toBe('[FSRP.UEW]');
  });
});
