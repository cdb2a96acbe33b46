/**
 * geneve-encap6 rows (engine/stages/geneve-encap6.ts; docs/ipv6.md §2.d): IPv6 pod packets of node-a
 * (base6.ts), `meta` = the outer (IPv4) destination pod-ingress6 chose.
 */
import { GeneveEncap6 } from '../../../engine/stages/index.js';
import { dual, underlay6 } from './base6.js';
import { ip, NODE_MAC, type CaseTable, type Row } from './harness.js';

const INNER = "IPv6(src='2001:2:0:a1::7', dst='2001:2::100')/UDP(sport=40000, dport=53)/b'q'";
const d = dual();
const row = (r: Row): Row => ({ config: d, ...r });

export const cases: CaseTable = {
  stage: (st) => new GeneveEncap6(st),
  l3: 0,
  rows: [
    {
      name: 'on an IPv6 underlay: handed on unchanged to tunnel6-encap (underlay6), the key in meta',
      config: underlay6(),
      input: [{ pkt: INNER, meta: ip('198.18.0.13') }],
      counters: {},
      expect: { underlay6: [INNER] },
    },
    row({
      name: 'outer IPv4 to node-c, inner Ethernet of type IPv6, the packet unchanged',
      input: [{ pkt: INNER, meta: ip('198.18.0.13') }],
      counters: { encapsulated: 1 },
    }),
    row({
      name: 'larger than the uplink MTU minus 50: drop-too-big',
      input: [
        {
          pkt: "IPv6(src='2001:2:0:a1::7', dst='2001:2::100')/UDP(sport=1, dport=2)/(b'z'*1410)",
          meta: ip('198.18.0.13'),
        },
      ],
      counters: { 'drop-too-big': 1 },
    }),
    row({
      name: 'not enough headroom for the outer headers: drop-no-headroom',
      input: [{ pkt: INNER, meta: ip('198.18.0.13'), headroom: 10 }],
      counters: { 'drop-no-headroom': 1 },
    }),
  ],
};
void NODE_MAC;
