/**
 * geneve-decap rows (engine/stages/geneve-decap.ts; docs/semantics.md §4.b, §5; docs/security.md; RFC 8926):
 * frames ip-local sent to `decap`. node-b (198.18.0.12) is pinned to PEER_MAC unless a row says otherwise.
 */
import { GeneveDecap } from '../../../engine/stages/index.js';
import type { TunnelAuthConfig } from '../../../engine/stages/index.js';
import { SEQ_OK } from '../../../engine/stages/tunnel-auth.js';
import { dual } from './base6.js';
import { ip, OTHER_MAC, PEER_MAC, pin, type CaseTable, type Row } from './harness.js';

const NODE_MAC = '02:00:00:00:00:0b';
/** Geneve from `src` (outer IP, MAC) to `dst`, with GENEVE(`g`) around an inner Ethernet frame of `inner`. */
const tun = (dst: string, g: string, inner: string, src = '198.18.0.12', m = PEER_MAC) =>
  `Ether(dst='${NODE_MAC}', src='${m}')/IP(src='${src}', dst='${dst}', flags='DF')/UDP(sport=5555, dport=6081, chksum=0)/GENEVE(${g})/Ether(dst='aa:bb:cc:dd:ee:ff', src='${m}')/${inner}`;
const POD = "IP(src='10.244.2.9', dst='10.244.1.5')/UDP(sport=1234, dport=9)/b'x'";
const OUT = "IP(src='10.244.2.9', dst='198.18.0.100')/UDP(sport=1234, dport=9)/b'x'";
const TEB = 'vni=0, proto=0x6558';
const INNER6 = "IPv6(src='2001:2:0:a2::9', dst='2001:2::100')/UDP(sport=1234, dport=9)/b'x'";
const pinned = (r: Omit<Row, 'setup'>): Row => ({ ...r, setup: (st) => pin(st, '198.18.0.12', PEER_MAC) });
/** Tunnel authentication of node-a (docs/tunnel-auth.md): a fixed subkey, key id 42. */
const AUTH: TunnelAuthConfig = { key: new Uint8Array(16).fill(7), keyId: 42, epochMs: 1 };
/** Record sequence number `seq` from `peer` as an authenticated packet would (check, then accept). */
const accept = (st: Parameters<NonNullable<Row['setup']>>[0], peer: string, seq: number) => {
  if (st.tunnelAuth!.check(ip(peer), 0, seq) !== SEQ_OK) throw new Error('setup: check refused');
  st.tunnelAuth!.accept(ip(peer), 0, seq);
};
/**
 * GENEVE fields with the authentication option (docs/tunnel-auth.md: class 0xfff0, type 0x81, key id, 64-bit
 * sequence number, 8-byte tag), here with an all-zero tag no key gives.
 */
const authed = (keyId: number, seq: number) =>
  `critical=1, ${TEB}, options=[GeneveOptions(classid=0xfff0, type=0x81, length=5, data=(${keyId}).to_bytes(4, 'big') + (${seq}).to_bytes(8, 'big') + bytes(8))]`;

export const cases: CaseTable = {
  stage: (st) => new GeneveDecap(st),
  l3: 14,
  rows: [
    pinned({
      name: 'pod-to-pod from node-b: to-pod, outer headers stripped',
      input: [tun('198.18.0.11', TEB, POD)],
      counters: { 'to-pod': 1 },
      expect: { 'to-pod': [POD] },
    }),
    pinned({
      name: 'tunnelled to a hosted Egress IP: snat with that Egress IP',
      input: [tun('198.18.0.253', TEB, OUT)],
      counters: { 'to-snat': 1 },
      expect: { snat: [OUT] },
    }),
    pinned({
      name: 'the egress-return path: an outside source towards a local pod',
      input: [tun('198.18.0.11', TEB, "IP(src='198.18.0.100', dst='10.244.1.5')/UDP(sport=9, dport=1234)")],
      counters: { 'to-pod': 1 },
    }),
    pinned({
      name: 'from an address that is no node: drop-unknown-peer',
      input: [tun('198.18.0.11', TEB, POD, '198.18.0.77')],
      counters: { 'drop-unknown-peer': 1 },
    }),
    pinned({
      name: 'from a node no heartbeat pinned: drop-unpinned-peer',
      input: [tun('198.18.0.11', TEB, "IP(src='10.244.3.9', dst='10.244.1.5')/UDP(sport=1, dport=2)", '198.18.0.13')],
      counters: { 'drop-unpinned-peer': 1 },
    }),
    pinned({
      name: 'a pinned node IP from another MAC: drop-peer-mac',
      input: [tun('198.18.0.11', TEB, POD, '198.18.0.12', OTHER_MAC)],
      counters: { 'drop-peer-mac': 1 },
    }),
    pinned({
      name: 'a Geneve header cut short: drop-bad-geneve',
      input: [
        `Ether(dst='${NODE_MAC}', src='${PEER_MAC}')/IP(src='198.18.0.12', dst='198.18.0.11')/UDP(sport=5555, dport=6081, chksum=0)/b'\\x00\\x00'`,
      ],
      counters: { 'drop-bad-geneve': 1 },
    }),
    pinned({
      name: 'version 1: drop-version',
      input: [tun('198.18.0.11', `version=1, ${TEB}`, POD)],
      counters: { 'drop-version': 1 },
    }),
    pinned({
      name: 'the O bit (a control packet): drop-oam',
      input: [tun('198.18.0.11', `oam=1, ${TEB}`, POD)],
      counters: { 'drop-oam': 1 },
    }),
    pinned({
      name: 'the C bit, and a critical option without it: drop-critical-option',
      input: [
        tun('198.18.0.11', `critical=1, ${TEB}`, POD),
        tun('198.18.0.11', `${TEB}, options=[GeneveOptions(classid=0x0102, type=0x80, data=b'\\x00'*4)]`, POD),
      ],
      counters: { 'drop-critical-option': 2 },
    }),
    pinned({
      name: 'a protocol other than Transparent Ethernet Bridging: drop-unsupported',
      input: [tun('198.18.0.11', 'vni=0, proto=0x0800', POD)],
      counters: { 'drop-unsupported': 1 },
    }),
    pinned({
      name: 'VNI 5: drop-vni',
      input: [tun('198.18.0.11', 'vni=5, proto=0x6558', POD)],
      counters: { 'drop-vni': 1 },
    }),
    pinned({
      name: 'an inner IPv6 packet on a dual-stack node: to geneve-decap6 (ipv6), the peer index in meta',
      config: dual(),
      input: [tun('198.18.0.11', TEB, INNER6)],
      counters: {},
      expect: { ipv6: [INNER6] },
    }),
    pinned({
      name: 'an inner IPv6 packet on a node without an IPv6 side: drop-inner-not-ipv4',
      input: [tun('198.18.0.11', TEB, INNER6)],
      counters: { 'drop-inner-not-ipv4': 1 },
    }),
    pinned({
      name: 'an inner ARP frame: drop-inner-not-ipv4',
      input: [tun('198.18.0.11', TEB, "ARP(op=1, psrc='10.244.2.9', pdst='10.244.1.5')")],
      counters: { 'drop-inner-not-ipv4': 1 },
    }),
    pinned({
      name: 'an inner header checksum that does not verify: drop-inner-bad',
      input: [tun('198.18.0.11', TEB, "IP(src='10.244.2.9', dst='10.244.1.5', chksum=0x1234)/UDP(sport=1, dport=2)")],
      counters: { 'drop-inner-bad': 1 },
    }),
    pinned({
      name: 'an inner fragment to a local pod: to-pod as it is (the pod reassembles)',
      input: [tun('198.18.0.11', TEB, "IP(src='10.244.2.9', dst='10.244.1.5', flags='MF')/UDP(sport=1, dport=2)")],
      counters: { 'to-pod': 1 },
    }),
    pinned({
      name: 'an inner fragment to the Egress IP: to defrag, FRAG_FROM_TUNNEL in flow',
      input: [
        tun(
          '198.18.0.253',
          TEB,
          "fragment(IP(src='10.244.2.9', dst='198.18.0.100')/UDP(sport=1, dport=2)/(b'f'*40), fragsize=24)[1]",
        ),
      ],
      counters: { 'to-defrag': 1 },
    }),
    pinned({
      name: 'an inner UDP header cut short: drop-inner-l4',
      input: [tun('198.18.0.11', TEB, "IP(src='10.244.2.9', dst='10.244.1.5', proto=17)/b'\\x00\\x01'")],
      counters: { 'drop-inner-l4': 1 },
    }),
    pinned({
      name: 'node-b claiming node-c pod, and an outside source to an Egress IP: drop-inner-src',
      input: [
        tun('198.18.0.11', TEB, "IP(src='10.244.3.9', dst='10.244.1.5')/UDP(sport=1, dport=2)"),
        tun('198.18.0.253', TEB, "IP(src='198.19.1.1', dst='198.18.0.100')/UDP(sport=1, dport=2)"),
      ],
      counters: { 'drop-inner-src': 2 },
    }),
    pinned({
      name: 'tunnelled to the node IP when a static Egress names the node IP: snat with the node IP',
      config: { egressIps: [ip('198.18.0.253'), ip('198.18.0.11')] },
      input: [tun('198.18.0.11', TEB, OUT)],
      counters: { 'to-snat': 1 },
      expect: { snat: [OUT] },
    }),
    pinned({
      name: 'tunnelled to the node IP for an address that is no local pod: drop-not-egress',
      input: [tun('198.18.0.11', TEB, OUT)],
      counters: { 'drop-not-egress': 1 },
    }),
    pinned({
      name: 'an inner loose source route option (LSRR): drop-inner-source-route',
      input: [
        tun(
          '198.18.0.11',
          TEB,
          "IP(src='10.244.2.9', dst='10.244.1.5', options=[IPOption_LSRR(routers=['198.18.0.1'])])/UDP(sport=1, dport=2)",
        ),
      ],
      counters: { 'drop-inner-source-route': 1 },
    }),
    pinned({
      name: 'tunnel authentication on, a frame without the option: drop-auth-missing',
      state: { tunnelAuth: AUTH },
      input: [tun('198.18.0.11', TEB, POD)],
      counters: { 'drop-auth-missing': 1 },
    }),
    pinned({
      name: 'tunnel authentication on, the option with another key id: drop-auth-key',
      state: { tunnelAuth: AUTH },
      input: [tun('198.18.0.11', authed(43, 2 ** 40), POD)],
      counters: { 'drop-auth-key': 1 },
    }),
    {
      name: 'tunnel authentication on, a sequence number node-b already used: drop-auth-replay (before the tag)',
      state: { tunnelAuth: AUTH },
      setup: (st) => {
        pin(st, '198.18.0.12', PEER_MAC);
        accept(st, '198.18.0.12', 100);
      },
      input: [tun('198.18.0.11', authed(42, 100), POD)],
      counters: { 'drop-auth-replay': 1 },
    },
    pinned({
      name: 'tunnel authentication on, a new sequence number with a made-up tag: drop-auth-bad',
      state: { tunnelAuth: AUTH },
      input: [tun('198.18.0.11', authed(42, 2 ** 40), POD)],
      counters: { 'drop-auth-bad': 1 },
    }),
    {
      name: 'tunnel authentication on, one window and node-c holds it: node-b gets drop-auth-no-window',
      state: { tunnelAuth: { ...AUTH, peers: 1 } },
      setup: (st) => {
        pin(st, '198.18.0.12', PEER_MAC);
        accept(st, '198.18.0.13', 5);
      },
      input: [tun('198.18.0.11', authed(42, 2 ** 40), POD)],
      counters: { 'drop-auth-no-window': 1 },
    },
  ],
};
