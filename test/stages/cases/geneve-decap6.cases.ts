/**
 * geneve-decap6 rows (engine/stages/geneve-decap6.ts; docs/ipv6.md §2.d): inner IPv6 packets geneve-decap
 * accepted, `meta` = the sending node's index (1: node-b 198.18.0.12), on dual-stack node-a (base6.ts), where
 * node-b's pod 2001:2:0:a2::9 has its IPv6 Egress (2001:2::253).
 */
import { GeneveDecap6 } from '../../../engine/stages/index.js';
import { dual } from './base6.js';
import type { CaseTable, Row } from './harness.js';

const UDP = "UDP(sport=1234, dport=9)/b'x'";
const from = (src: string, dst: string, l4 = UDP, extra = '') => ({
  pkt: `IPv6(src='${src}', dst='${dst}'${extra})/${l4}`,
  meta: 1,
});
const d = dual();
const row = (r: Row): Row => ({ config: d, ...r });

export const cases: CaseTable = {
  stage: (st) => new GeneveDecap6(st),
  l3: 0,
  rows: [
    row({
      name: 'from a node-b pod whose IPv6 Egress is hosted here: snat with that egress IP (entry 0)',
      input: [from('2001:2:0:a2::9', '2001:2::100')],
      counters: { 'to-snat': 1 },
      expect: { snat: [`IPv6(src='2001:2:0:a2::9', dst='2001:2::100')/${UDP}`] },
    }),
    row({
      name: 'pod-to-pod from node-b, and a reply from outside returned by the egress node: to-pod',
      input: [from('2001:2:0:a2::9', '2001:2:0:a1::5'), from('2001:2::100', '2001:2:0:a1::6')],
      counters: { 'to-pod': 2 },
    }),
    {
      name: 'a node without an IPv6 side: drop-no-ipv6',
      input: [from('2001:2:0:a2::9', '2001:2::100')],
      counters: { 'drop-no-ipv6': 1 },
    },
    row({
      name: 'a Payload Length past the packet: drop-inner-bad',
      input: [from('2001:2:0:a2::9', '2001:2::100', UDP, ', plen=99')],
      counters: { 'drop-inner-bad': 1 },
    }),
    row({
      name: 'a hop-by-hop header after a destination options header: drop-inner-ext',
      input: [from('2001:2:0:a2::9', '2001:2::100', `IPv6ExtHdrDestOpt()/IPv6ExtHdrHopByHop()/${UDP}`)],
      counters: { 'drop-inner-ext': 1 },
    }),
    row({
      name: 'nine extension headers: drop-inner-chain-too-long',
      input: [from('2001:2:0:a2::9', '2001:2::100', `${Array(9).fill('IPv6ExtHdrDestOpt()').join('/')}/${UDP}`)],
      counters: { 'drop-inner-chain-too-long': 1 },
    }),
    row({
      name: 'a routing header with segments left: drop-inner-source-route',
      input: [from('2001:2:0:a2::9', '2001:2::100', `IPv6ExtHdrRouting(addresses=['2001:2::9'], segleft=1)/${UDP}`)],
      counters: { 'drop-inner-source-route': 1 },
    }),
    row({
      name: 'a first fragment: drop-inner-fragment',
      input: [from('2001:2:0:a2::9', '2001:2::100', `IPv6ExtHdrFragment(m=1)/${UDP}`)],
      counters: { 'drop-inner-fragment': 1 },
    }),
    row({
      name: 'a later fragment, to the outside and to a local pod (no reassembly): drop-inner-fragment',
      input: [
        from('2001:2:0:a2::9', '2001:2::100', "IPv6ExtHdrFragment(offset=3, id=5, nh=17)/(b'z'*16)"),
        from('2001:2:0:a2::9', '2001:2:0:a1::5', "IPv6ExtHdrFragment(offset=3, id=6, nh=17)/(b'z'*16)"),
      ],
      counters: { 'drop-inner-fragment': 2 },
    }),
    row({
      name: 'an atomic fragment (offset 0, M clear) is no fragment: to-pod',
      input: [from('2001:2:0:a2::9', '2001:2:0:a1::5', `IPv6ExtHdrFragment(m=0, id=7)/${UDP}`)],
      counters: { 'to-pod': 1 },
    }),
    row({
      name: 'a UDP Length below 8: drop-inner-l4',
      input: [from('2001:2:0:a2::9', '2001:2::100', "UDP(sport=1, dport=2, len=3)/b'x'")],
      counters: { 'drop-inner-l4': 1 },
    }),
    row({
      name: "node-c's or node-a's own pod address from node-b, an outside source to no local pod: drop-inner-src",
      input: [
        from('2001:2:0:a3::9', '2001:2::100'),
        from('2001:2:0:a1::5', '2001:2:0:a1::6'),
        from('2001:2::100', '2001:2::101'),
      ],
      counters: { 'drop-inner-src': 3 },
    }),
    row({
      name: 'a node-b pod whose IPv6 Egress is not hosted here: drop-not-egress',
      input: [from('2001:2:0:a2::8', '2001:2::100')],
      counters: { 'drop-not-egress': 1 },
    }),
  ],
};
