/**
 * tunnel6-decap rows (engine/stages/tunnel6-decap.ts; docs/ipv6.md §2.l; RFC 8926, RFC 8200 §8.1): frames
 * uplink-ingress handed on as the IPv6 underlay (`b.l3` = the outer IPv6 header) on node-a of base6.ts's
 * `underlay6` (transport 2001:2::11; node-b 2001:2::12 under key 198.18.0.12, pinned to PEER_MAC unless a row says
 * otherwise). scapy computes every outer UDP checksum a row does not set.
 */
import { Tunnel6Decap, type TunnelAuthConfig } from '../../../engine/stages/index.js';
import { SEQ_OK } from '../../../engine/stages/tunnel-auth.js';
import { underlay6 } from './base6.js';
import { CONTROL_PORT, ip, NODE_MAC, OTHER_MAC, PEER_MAC, pin, type CaseTable, type Row } from './harness.js';

const U = underlay6();
/** Geneve over IPv6 from `src` (outer address, MAC), GENEVE(`g`) around an inner Ethernet frame of `inner`. */
const tun = (g: string, inner: string, o: { src?: string; m?: string; ip6?: string; udp?: string } = {}) =>
  `Ether(dst='${NODE_MAC}', src='${o.m ?? PEER_MAC}')/IPv6(src='${o.src ?? '2001:2::12'}', dst='2001:2::11'${o.ip6 ?? ''})/` +
  `UDP(sport=5555, dport=6081${o.udp ?? ''})/GENEVE(${g})/Ether(dst='aa:bb:cc:dd:ee:ff', src='${o.m ?? PEER_MAC}')/${inner}`;
const TEB = 'vni=0, proto=0x6558';
const POD = "IP(src='10.244.2.9', dst='10.244.1.5')/UDP(sport=1234, dport=9)/b'x'";
const INNER6 = "IPv6(src='2001:2:0:a2::9', dst='2001:2::100')/UDP(sport=1234, dport=9)/b'x'";
const HB = (chk = '') =>
  `Ether(dst='${NODE_MAC}', src='${PEER_MAC}')/IPv6(src='2001:2::12', dst='2001:2::11', tc=0xc0)/` +
  `UDP(sport=${CONTROL_PORT}, dport=${CONTROL_PORT}${chk})/b'heartbeat'`;
const row = (r: Row): Row => ({ config: U, ...r });
const pinned = (r: Omit<Row, 'setup'>): Row => row({ ...r, setup: (st) => pin(st, '198.18.0.12', PEER_MAC) });
/** Tunnel authentication of node-a (docs/tunnel-auth.md): a fixed subkey, key id 42. */
const AUTH: TunnelAuthConfig = { key: new Uint8Array(16).fill(7), keyId: 42, epochMs: 1 };
const accept = (st: Parameters<NonNullable<Row['setup']>>[0], peer: string, seq: number) => {
  if (st.tunnelAuth!.check(ip(peer), 0, seq) !== SEQ_OK) throw new Error('setup: check refused');
  st.tunnelAuth!.accept(ip(peer), 0, seq);
};
/** GENEVE fields with the authentication option, its tag all zero (no key gives it). */
const authed = (keyId: number, seq: number) =>
  `critical=1, ${TEB}, options=[GeneveOptions(classid=0xfff0, type=0x81, length=5, data=(${keyId}).to_bytes(4, 'big') + (${seq}).to_bytes(8, 'big') + bytes(8))]`;

export const cases: CaseTable = {
  stage: (st) => new Tunnel6Decap(st),
  l3: 14,
  rows: [
    pinned({
      name: 'IPv4 pod-to-pod from node-b over IPv6: to-pod, outer headers stripped',
      input: [tun(TEB, POD)],
      counters: { 'to-pod': 1 },
      expect: { 'to-pod': [POD] },
    }),
    pinned({
      name: 'an inner IPv6 packet: to geneve-decap6 (ipv6), the peer index in meta',
      input: [tun(TEB, INNER6)],
      counters: { 'to-ipv6': 1 },
      expect: { ipv6: [INNER6] },
    }),
    row({
      name: "a heartbeat from node-b's transport address: control, its key in meta (no pin needed)",
      state: { controlPort: CONTROL_PORT },
      input: [HB()],
      counters: { control: 1 },
    }),
    pinned({
      name: "from an address that is no member's transport address, and from node-a's own: drop-unknown-peer",
      input: [tun(TEB, POD, { src: '2001:2::77' }), tun(TEB, POD, { src: '2001:2::11' })],
      counters: { 'drop-unknown-peer': 2 },
    }),
    pinned({
      name: 'a Payload Length past the frame, TCP instead of UDP, a UDP Length past the payload: drop-bad-outer',
      input: [
        tun(TEB, POD, { ip6: ', plen=400' }),
        `Ether(dst='${NODE_MAC}', src='${PEER_MAC}')/IPv6(src='2001:2::12', dst='2001:2::11')/TCP(sport=5555, dport=6081)`,
        tun(TEB, POD, { udp: ', len=300' }),
      ],
      counters: { 'drop-bad-outer': 3 },
    }),
    pinned({
      name: 'a zero UDP checksum (no RFC 6935 mode), Geneve and a heartbeat: drop-zero-checksum',
      state: { controlPort: CONTROL_PORT },
      input: [tun(TEB, POD, { udp: ', chksum=0' }), HB(', chksum=0')],
      counters: { 'drop-zero-checksum': 2 },
    }),
    pinned({
      name: 'a UDP checksum that does not verify, Geneve and a heartbeat: drop-bad-checksum',
      state: { controlPort: CONTROL_PORT },
      input: [tun(TEB, POD, { udp: ', chksum=0x1234' }), HB(', chksum=0x1234')],
      counters: { 'drop-bad-checksum': 2 },
    }),
    row({
      name: 'Geneve from a member no heartbeat pinned: drop-unpinned-peer',
      input: [tun(TEB, POD)],
      counters: { 'drop-unpinned-peer': 1 },
    }),
    pinned({
      name: "node-b's transport address from another MAC: drop-peer-mac",
      input: [tun(TEB, POD, { m: OTHER_MAC })],
      counters: { 'drop-peer-mac': 1 },
    }),
    pinned({
      name: 'Geneve version 1: drop-version',
      input: [tun(`version=1, ${TEB}`, POD)],
      counters: { 'drop-version': 1 },
    }),
    pinned({
      name: 'the O bit (a control packet): drop-oam',
      input: [tun(`oam=1, ${TEB}`, POD)],
      counters: { 'drop-oam': 1 },
    }),
    pinned({
      name: 'the C bit, and a critical option without it: drop-critical-option',
      input: [
        tun(`critical=1, ${TEB}`, POD),
        tun(`${TEB}, options=[GeneveOptions(classid=0x0102, type=0x80, data=b'\\x00'*4)]`, POD),
      ],
      counters: { 'drop-critical-option': 2 },
    }),
    pinned({
      name: 'a protocol other than Transparent Ethernet Bridging: drop-unsupported',
      input: [tun('vni=0, proto=0x86dd', INNER6)],
      counters: { 'drop-unsupported': 1 },
    }),
    pinned({
      name: 'VNI 5: drop-vni',
      input: [tun('vni=5, proto=0x6558', POD)],
      counters: { 'drop-vni': 1 },
    }),
    pinned({
      name: 'tunnel authentication on, a frame without the option: drop-auth-missing',
      state: { tunnelAuth: AUTH },
      input: [tun(TEB, POD)],
      counters: { 'drop-auth-missing': 1 },
    }),
    pinned({
      name: 'tunnel authentication on, the option with another key id: drop-auth-key',
      state: { tunnelAuth: AUTH },
      input: [tun(authed(43, 2 ** 40), POD)],
      counters: { 'drop-auth-key': 1 },
    }),
    row({
      name: 'tunnel authentication on, a sequence number node-b already used: drop-auth-replay (before the tag)',
      state: { tunnelAuth: AUTH },
      setup: (st) => {
        pin(st, '198.18.0.12', PEER_MAC);
        accept(st, '198.18.0.12', 100);
      },
      input: [tun(authed(42, 100), POD)],
      counters: { 'drop-auth-replay': 1 },
    }),
    pinned({
      name: 'tunnel authentication on, a new sequence number with a made-up tag: drop-auth-bad',
      state: { tunnelAuth: AUTH },
      input: [tun(authed(42, 2 ** 40), POD)],
      counters: { 'drop-auth-bad': 1 },
    }),
    row({
      name: 'tunnel authentication on, one window and node-c holds it: node-b gets drop-auth-no-window',
      state: { tunnelAuth: { ...AUTH, peers: 1 } },
      setup: (st) => {
        pin(st, '198.18.0.12', PEER_MAC);
        accept(st, '198.18.0.13', 5);
      },
      input: [tun(authed(42, 2 ** 40), POD)],
      counters: { 'drop-auth-no-window': 1 },
    }),
    pinned({
      name: 'an inner ARP frame: drop-inner-not-ip',
      input: [tun(TEB, "ARP(op=1, psrc='10.244.2.9', pdst='10.244.1.5')")],
      counters: { 'drop-inner-not-ip': 1 },
    }),
    pinned({
      name: 'an inner IPv4 header checksum that does not verify, an inner UDP cut short: drop-inner-bad',
      input: [
        tun(TEB, "IP(src='10.244.2.9', dst='10.244.1.5', chksum=0x1234)/UDP(sport=1, dport=2)"),
        tun(TEB, "IP(src='10.244.2.9', dst='10.244.1.5', proto=17)/b'\\x00\\x01'"),
      ],
      counters: { 'drop-inner-bad': 2 },
    }),
    pinned({
      name: 'node-b claiming a node-c pod, an outside source to no local pod: drop-inner-src',
      input: [
        tun(TEB, "IP(src='10.244.3.9', dst='10.244.1.5')/UDP(sport=1, dport=2)"),
        tun(TEB, "IP(src='198.19.1.1', dst='198.18.0.100')/UDP(sport=1, dport=2)"),
      ],
      counters: { 'drop-inner-src': 2 },
    }),
    pinned({
      name: 'IPv4 from a node-b pod to the outside (an IPv4 Egress over an IPv6 underlay): drop-not-egress',
      input: [tun(TEB, "IP(src='10.244.2.9', dst='198.18.0.100')/UDP(sport=1234, dport=9)/b'x'")],
      counters: { 'drop-not-egress': 1 },
    }),
  ],
};
