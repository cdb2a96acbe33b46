/**
 * geneve-decap rows (engine/stages/geneve-decap.ts; docs/semantics.md §4.b, §5; docs/security.md; RFC 8926):
 * frames ip-local sent to `decap`. node-b (198.18.0.12) is pinned to PEER_MAC unless a row says otherwise.
 */
import { GeneveDecap } from '../../../engine/stages/index.js';
import { OTHER_MAC, PEER_MAC, pin, type CaseTable, type Row } from './harness.js';

const NODE_MAC = '02:00:00:00:00:0b';
/** Geneve from `src` (outer IP, MAC) to `dst`, with GENEVE(`g`) around an inner Ethernet frame of `inner`. */
const tun = (dst: string, g: string, inner: string, src = '198.18.0.12', m = PEER_MAC) =>
  `Ether(dst='${NODE_MAC}', src='${m}')/IP(src='${src}', dst='${dst}', flags='DF')/UDP(sport=5555, dport=6081, chksum=0)/GENEVE(${g})/Ether(dst='aa:bb:cc:dd:ee:ff', src='${m}')/${inner}`;
const POD = "IP(src='10.244.2.9', dst='10.244.1.5')/UDP(sport=1234, dport=9)/b'x'";
const OUT = "IP(src='10.244.2.9', dst='198.18.0.100')/UDP(sport=1234, dport=9)/b'x'";
const TEB = 'vni=0, proto=0x6558';
const pinned = (r: Omit<Row, 'setup'>): Row => ({ ...r, setup: (st) => pin(st, '198.18.0.12', PEER_MAC) });

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
      name: 'an inner fragment: drop-inner-fragment',
      input: [tun('198.18.0.11', TEB, "IP(src='10.244.2.9', dst='10.244.1.5', flags='MF')/UDP(sport=1, dport=2)")],
      counters: { 'drop-inner-fragment': 1 },
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
      name: 'tunnelled to the node IP for an address that is no local pod: drop-not-egress',
      input: [tun('198.18.0.11', TEB, OUT)],
      counters: { 'drop-not-egress': 1 },
    }),
  ],
};
