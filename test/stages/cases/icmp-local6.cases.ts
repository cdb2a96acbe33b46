/**
 * icmp-local6 rows (engine/stages/icmp-local6.ts; docs/ipv6.md §2.k): echo requests to an IPv6 address node-a
 * owns (base6.ts), from the segment (Ethernet frames, as unsnat6 hands them on) or from a pod (L3 packets).
 */
import { IcmpLocal6 } from '../../../engine/stages/index.js';
import { dual } from './base6.js';
import { eth, type CaseTable, type Row } from './harness.js';

const EXT = '2001:2::100';
const d = dual();
const row = (r: Row): Row => ({ config: d, ...r });

export const cases: CaseTable = {
  stage: (st) => new IcmpLocal6(st),
  l3: 14,
  rows: [
    row({
      name: 'an echo request from the segment to the egress IP: the reply in place, Hop Limit 64, to-uplink',
      input: [eth(`IPv6(src='${EXT}', dst='2001:2::253', hlim=61)/ICMPv6EchoRequest(id=5, seq=9, data=b'ping')`)],
      counters: { 'echo-reply': 1 },
      expect: {
        'to-uplink': [eth(`IPv6(src='2001:2::253', dst='${EXT}', hlim=64)/ICMPv6EchoReply(id=5, seq=9, data=b'ping')`)],
      },
    }),
    row({
      name: 'an echo request behind a destination options header from a local pod to the node: to-pod',
      input: [
        {
          pkt: `IPv6(src='2001:2:0:a1::5', dst='2001:2::11')/IPv6ExtHdrDestOpt()/ICMPv6EchoRequest(id=6, seq=1, data=b'ping')`,
          l3: 0,
        },
      ],
      counters: { 'echo-reply': 1 },
      expect: {
        'to-pod': [
          `IPv6(src='2001:2::11', dst='2001:2:0:a1::5', hlim=64)/IPv6ExtHdrDestOpt()/ICMPv6EchoReply(id=6, seq=1, data=b'ping')`,
        ],
      },
    }),
    row({
      name: 'UDP, an echo request with code 1 and an echo reply to the node: drop-not-echo (no host stack)',
      input: [
        eth(`IPv6(src='${EXT}', dst='2001:2::11')/UDP(sport=1, dport=7)`),
        eth(`IPv6(src='${EXT}', dst='2001:2::11')/ICMPv6EchoRequest(code=1, id=5)`),
        eth(`IPv6(src='${EXT}', dst='2001:2::11')/ICMPv6EchoReply(id=5)`),
      ],
      counters: { 'drop-not-echo': 3 },
    }),
    {
      name: 'a node without an IPv6 side: drop-not-echo',
      input: [eth(`IPv6(src='${EXT}', dst='2001:2::11')/ICMPv6EchoRequest(id=5)`)],
      counters: { 'drop-not-echo': 1 },
    },
  ],
};
