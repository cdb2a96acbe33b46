/** inbound rows (engine/stages/inbound.ts; docs/semantics.md §4.d): frames from the segment to a local pod IP. */
import { Inbound } from '../../../engine/stages/index.js';
import { eth, type CaseTable } from './harness.js';

const syn = (sport: number, ttl = 64) =>
  eth(`IP(src='198.18.0.100', dst='10.244.1.5', ttl=${ttl})/TCP(sport=${sport}, dport=80, flags='S', seq=1)`);

export const cases: CaseTable = {
  stage: (st) => new Inbound(st),
  l3: 14,
  rows: [
    {
      name: 'a SYN to a local pod: new, tracked without NAT, TTL decremented, delivered as L3',
      input: [syn(5000)],
      counters: { new: 1 },
      expect: {
        'to-pod': ["IP(src='198.18.0.100', dst='10.244.1.5', ttl=63)/TCP(sport=5000, dport=80, flags='S', seq=1)"],
      },
    },
    {
      name: 'the retransmitted SYN: established',
      input: [syn(5000), syn(5000)],
      counters: { new: 1, established: 1 },
    },
    {
      name: 'an ACK before the pod answered the SYN: drop-ct-invalid (as Linux in SYN_SENT)',
      input: [syn(5000), eth("IP(src='198.18.0.100', dst='10.244.1.5')/TCP(sport=5000, dport=80, flags='A', seq=2)")],
      counters: { new: 1, 'drop-ct-invalid': 1 },
    },
    {
      name: 'a full table of accepted connections: drop-ct-full',
      state: { inboundConnections: 1 },
      input: [syn(5000), syn(5001)],
      counters: { new: 1, 'drop-ct-full': 1 },
    },
    {
      name: 'an echo reply cannot open a connection: drop-ct-invalid',
      input: [eth("IP(src='198.18.0.100', dst='10.244.1.5')/ICMP(type=0, id=3)")],
      counters: { 'drop-ct-invalid': 1 },
    },
    { name: 'TTL 1: drop-ttl-exceeded', input: [syn(5000, 1)], counters: { 'drop-ttl-exceeded': 1 } },
  ],
};
