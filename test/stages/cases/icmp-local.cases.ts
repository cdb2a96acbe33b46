/** icmp-local rows (engine/stages/icmp-local.ts; docs/semantics.md §4.0): echo requests to an owned address. */
import { IcmpLocal } from '../../../engine/stages/index.js';
import { eth, type CaseTable } from './harness.js';

export const cases: CaseTable = {
  stage: (st) => new IcmpLocal(st),
  l3: 14,
  rows: [
    {
      name: 'an echo request from the segment: the reply in place, TTL 64, to-uplink',
      input: [eth("IP(src='198.18.0.100', dst='198.18.0.11', ttl=61)/ICMP(type=8, id=5, seq=9)/b'ping'")],
      counters: { 'echo-reply': 1 },
    },
    {
      name: 'an echo request from a local pod (an L3 packet): to-pod',
      input: [{ pkt: "IP(src='10.244.1.5', dst='198.18.0.253')/ICMP(type=8, id=6, seq=1)/b'ping'", l3: 0 }],
      counters: { 'echo-reply': 1 },
      expect: { 'to-pod': ["IP(src='198.18.0.253', dst='10.244.1.5', ttl=64)/ICMP(type=0, id=6, seq=1)/b'ping'"] },
    },
    {
      name: 'UDP and an ICMP timestamp request to the node: drop-not-echo (no host stack)',
      input: [
        eth("IP(src='198.18.0.100', dst='198.18.0.11')/UDP(sport=1, dport=7)"),
        eth("IP(src='198.18.0.100', dst='198.18.0.11')/ICMP(type=13, ts_ori=1, ts_rx=0, ts_tx=0)"),
      ],
      counters: { 'drop-not-echo': 2 },
    },
  ],
};
