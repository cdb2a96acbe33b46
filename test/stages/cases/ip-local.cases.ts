/** ip-local rows (engine/stages/ip-local.ts; docs/semantics.md §4.b, §4.c): IPv4 frames uplink-ingress accepted. */
import { IpLocal } from '../../../engine/stages/index.js';
import { CONTROL_PORT, eth, PEER_MAC, type CaseTable } from './harness.js';

export const cases: CaseTable = {
  stage: (st) => new IpLocal(st),
  l3: 14,
  rows: [
    {
      name: 'Geneve from a node, heartbeats, a connection to a pod, a reply to an Egress IP: decap, control, inbound, unsnat',
      state: { controlPort: CONTROL_PORT },
      input: [
        eth(
          "IP(src='198.18.0.12', dst='198.18.0.253')/UDP(sport=5555, dport=6081)/b'\\x00\\x00\\x65\\x58\\x00\\x00\\x00\\x00'",
          PEER_MAC,
        ),
        eth(
          `IP(src='198.18.0.12', dst='198.18.0.11')/UDP(sport=${CONTROL_PORT}, dport=${CONTROL_PORT})/b'hb'`,
          PEER_MAC,
        ),
        eth("IP(src='198.18.0.100', dst='10.244.1.5')/TCP(sport=5000, dport=80, flags='S')"),
        eth("IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=53, dport=40000)"),
        // UDP to the tunnel port from a host is the reply of a connection SNATed to that port.
        eth("IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=53, dport=6081)"),
      ],
      counters: {},
    },
    {
      name: 'a UDP header cut short: drop-l4-truncated',
      input: [eth("IP(src='198.18.0.100', dst='198.18.0.11', proto=17)/b'\\x00\\x35'")],
      counters: { 'drop-l4-truncated': 1 },
    },
    {
      name: 'a TCP data offset of 2 words: drop-l4-bad',
      input: [eth("IP(src='198.18.0.100', dst='198.18.0.11')/TCP(sport=1, dport=2, dataofs=2)")],
      counters: { 'drop-l4-bad': 1 },
    },
    {
      name: 'GRE to the node: drop-unsupported-proto',
      input: [eth("IP(src='198.18.0.100', dst='198.18.0.11', proto=47)/b'\\x00\\x00\\x08\\x00'")],
      counters: { 'drop-unsupported-proto': 1 },
    },
  ],
};
