/**
 * geneve-encap rows (engine/stages/geneve-encap.ts; docs/semantics.md §5): L3 packets, `meta` = the outer
 * destination (the Egress IP for requests, the pod's node for replies and pod-to-pod).
 */
import { GeneveEncap } from '../../../engine/stages/index.js';
import { underlay6 } from './base6.js';
import { ip, type CaseTable } from './harness.js';

const INNER = "IP(src='10.244.1.7', dst='198.18.0.100', id=3)/TCP(sport=41000, dport=80, flags='S')";
const EGRESS_THERE = ip('198.18.0.254');

export const cases: CaseTable = {
  stage: (st) => new GeneveEncap(st),
  l3: 0,
  rows: [
    {
      name: 'on an IPv6 underlay: handed on unchanged to tunnel6-encap (underlay6), the key in meta',
      config: underlay6(),
      input: [
        { pkt: "IP(src='10.244.1.7', dst='198.18.0.100')/UDP(sport=40000, dport=53)/b'q'", meta: ip('198.18.0.13') },
      ],
      counters: {},
      expect: { underlay6: ["IP(src='10.244.1.7', dst='198.18.0.100')/UDP(sport=40000, dport=53)/b'q'"] },
    },
    {
      name: 'a packet to a remote Egress IP is encapsulated (VNI 0, DF, TTL 64, UDP checksum 0, inner MAC aa:bb:cc:dd:ee:ff)',
      input: [{ pkt: INNER, meta: EGRESS_THERE }],
      counters: { encapsulated: 1 },
    },
    {
      name: 'longer than the uplink MTU minus 50: drop-too-big',
      input: [
        { pkt: "IP(src='10.244.1.7', dst='198.18.0.100')/UDP(sport=1, dport=2)/(b'z'*1430)", meta: EGRESS_THERE },
      ],
      counters: { 'drop-too-big': 1 },
    },
    {
      name: 'a packet with less headroom than the 50-byte template: drop-no-headroom',
      input: [{ pkt: INNER, meta: EGRESS_THERE, headroom: 16 }],
      counters: { 'drop-no-headroom': 1 },
    },
  ],
};
