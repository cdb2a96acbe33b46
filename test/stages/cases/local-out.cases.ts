/** local-out rows (engine/stages/local-out.ts): IPv4 packets the node itself sends (heartbeats). */
import { LocalOut } from '../../../engine/stages/index.js';
import type { CaseTable } from './harness.js';

export const cases: CaseTable = {
  stage: (st) => new LocalOut(st),
  l3: -1,
  rows: [
    {
      name: 'a heartbeat datagram: sent, l3 set, no connection',
      input: ["IP(src='198.18.0.11', dst='198.18.0.12')/UDP(sport=10351, dport=10351)/b'hb'"],
      counters: { sent: 1 },
    },
    {
      name: 'a header that fails ipv4.check: drop-malformed',
      input: [new Uint8Array([0x45, 0, 0, 10])],
      counters: { 'drop-malformed': 1 },
    },
  ],
};
