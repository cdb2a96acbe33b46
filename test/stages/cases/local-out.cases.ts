/**
 * local-out rows (engine/stages/local-out.ts): packets the node itself sends (heartbeats), IPv4 or, over an IPv6
 * underlay (docs/ipv6.md §2.l), IPv6.
 */
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
      name: 'a heartbeat over the IPv6 underlay: sent-ipv6, to uplink-out6 (ipv6)',
      input: ["IPv6(src='2001:2::11', dst='2001:2::12', tc=0xc0)/UDP(sport=10351, dport=10351)/b'hb'"],
      counters: { 'sent-ipv6': 1 },
      expect: { ipv6: ["IPv6(src='2001:2::11', dst='2001:2::12', tc=0xc0)/UDP(sport=10351, dport=10351)/b'hb'"] },
    },
    {
      name: 'an IPv6 header whose Payload Length runs past the datagram: drop-malformed',
      input: ["IPv6(src='2001:2::11', dst='2001:2::12', plen=200)/UDP(sport=10351, dport=10351)/b'hb'"],
      counters: { 'drop-malformed': 1 },
    },
    {
      name: 'a header that fails ipv4.check: drop-malformed',
      input: [new Uint8Array([0x45, 0, 0, 10])],
      counters: { 'drop-malformed': 1 },
    },
  ],
};
