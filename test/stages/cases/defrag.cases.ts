/**
 * defrag rows (engine/stages/defrag.ts; docs/semantics.md §4.i, docs/fragments.md): fragments as pod-ingress
 * (`flow` 0), geneve-decap (`flow` 1) or uplink-ingress (`flow` 2, Ethernet frames) send them. The fragments are
 * cut by scapy's `fragment()` from one datagram (web-1's 72-byte UDP datagram, 24 bytes a fragment), so every
 * expected packet is scapy's too.
 */
import { Defrag } from '../../../engine/stages/index.js';
import { eth, type CaseTable, type Input } from './harness.js';

const POD = 0;
const TUNNEL = 1;
const UPLINK = 2;

/** web-1 → 198.18.0.100 UDP 40000 → 53 with 64 bytes of data, IP ID `id`. */
const dgram = (id = 7, dst = '198.18.0.100', src = '10.244.1.5') =>
  `IP(src='${src}', dst='${dst}', id=${id})/UDP(sport=40000, dport=53)/(b'q'*64)`;
/** Fragment k (0..2) of that datagram. */
const frag = (k: number, id = 7, dst?: string, src?: string) => `fragment(${dgram(id, dst, src)}, fragsize=24)[${k}]`;
const fromPod = (k: number, id = 7): Input => ({ pkt: frag(k, id), flow: POD });
/** A reply datagram from outside to `dst`, fragmented the same way, as an Ethernet frame from the uplink. */
const fromOutside = (k: number, dst: string): Input => ({
  pkt: eth(
    `fragment(IP(src='198.18.0.100', dst='${dst}', id=9)/UDP(sport=53, dport=40000)/(b'r'*64), fragsize=24)[${k}]`,
  ),
  l3: 14,
  flow: UPLINK,
});
/** 8-byte fragments of a UDP datagram with 560 bytes of data (71 fragments). */
const small = (k: number): Input => ({
  pkt: `fragment(IP(src='10.244.1.5', dst='198.18.0.100', id=11)/UDP(sport=40000, dport=53)/(b's'*560), fragsize=8)[${k}]`,
  flow: POD,
});
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);

export const cases: CaseTable = {
  stage: (st) => new Defrag(st),
  l3: 0,
  consumed: ['held'],
  rows: [
    {
      name: 'in order from a pod: every fragment to classify, later ones with the datagram ports word in flow',
      input: [fromPod(0), fromPod(1), fromPod(2)],
      counters: { fragments: 3, datagrams: 1, completed: 1 },
      expect: { pod: [frag(0), frag(1), frag(2)] },
    },
    {
      name: 'out of order: later fragments wait for the first and leave right after it, in arrival order',
      input: [fromPod(2), fromPod(1), fromPod(0)],
      counters: { fragments: 3, datagrams: 1, completed: 1, held: 2, released: 2 },
      expect: { pod: [frag(0), frag(2), frag(1)] },
    },
    {
      name: 'a later fragment in a round after its first: the entry still holds the ports',
      steps: [{ input: [fromPod(0)] }, { input: [fromPod(2)] }, { input: [fromPod(1)] }],
      counters: { fragments: 3, datagrams: 1, completed: 1 },
      expect: { pod: [frag(0), frag(2), frag(1)] },
    },
    {
      name: 'tunnelled by a pod of node-b to the egress IP: to snat',
      input: [
        { pkt: frag(0, 7, '198.18.0.100', '10.244.2.9'), flow: TUNNEL },
        { pkt: frag(1, 7, '198.18.0.100', '10.244.2.9'), flow: TUNNEL },
      ],
      counters: { fragments: 2, datagrams: 1 },
      expect: { tunnel: [frag(0, 7, '198.18.0.100', '10.244.2.9'), frag(1, 7, '198.18.0.100', '10.244.2.9')] },
    },
    {
      name: 'from the segment: to an egress IP to unsnat, to a pod to inbound',
      input: [fromOutside(1, '198.18.0.253'), fromOutside(0, '198.18.0.253'), fromOutside(0, '10.244.1.6')],
      counters: { fragments: 3, datagrams: 2, held: 1, released: 1 },
    },
    {
      name: 'an exact copy of a fragment: drop-duplicate, the datagram still completes',
      input: [fromPod(0), fromPod(0), fromPod(1), fromPod(2)],
      counters: { fragments: 4, datagrams: 1, completed: 1, 'drop-duplicate': 1 },
    },
    {
      name: 'teardrop: a fragment overlapping one seen, drop-overlap, and so is every later fragment of it',
      input: [
        fromPod(0),
        {
          pkt: "IP(src='10.244.1.5', dst='198.18.0.100', id=7, proto=17, flags='MF', frag=2)/(b't'*24)",
          flow: POD,
        },
        fromPod(1),
        fromPod(2),
      ],
      counters: { fragments: 4, datagrams: 1, 'drop-overlap': 3 },
      expect: { pod: [frag(0)] },
    },
    {
      name: 'an overlap drops the fragments waiting for the first too',
      input: [
        fromPod(2),
        {
          pkt: "IP(src='10.244.1.5', dst='198.18.0.100', id=7, proto=17, flags='MF', frag=5)/(b't'*16)",
          flow: POD,
        },
      ],
      counters: { fragments: 2, datagrams: 1, held: 1, 'drop-overlap': 2 },
    },
    {
      name: 'a last fragment ending before bytes seen: drop-overlap',
      input: [
        fromPod(2),
        { pkt: "IP(src='10.244.1.5', dst='198.18.0.100', id=7, proto=17, frag=3)/(b't'*8)", flow: POD },
      ],
      counters: { fragments: 2, datagrams: 1, held: 1, 'drop-overlap': 2 },
    },
    {
      name: 'RFC 3128: a TCP fragment at offset 1 (8 bytes) rewrites the flags, drop-overlap',
      input: [{ pkt: "IP(src='10.244.1.5', dst='198.18.0.100', proto=6, frag=1)/(b'\\x02'*16)", flow: POD }],
      counters: { fragments: 1, 'drop-overlap': 1 },
    },
    {
      name: 'RFC 1858 tiny fragment: a first TCP fragment of 8 bytes, without the flags, drop-tiny',
      input: [
        {
          pkt: "IP(src='10.244.1.5', dst='198.18.0.100', proto=6, flags='MF')/bytes(TCP(sport=40000, dport=80))[:8]",
          flow: POD,
        },
      ],
      counters: { fragments: 1, 'drop-tiny': 1 },
    },
    {
      name: 'a first TCP fragment shorter than its data offset (options cut off): drop-tiny',
      input: [
        {
          pkt: "IP(src='10.244.1.5', dst='198.18.0.100', proto=6, flags='MF')/bytes(TCP(sport=40000, dport=80, options=[('MSS', 1460), ('NOP', None), ('NOP', None), ('SAckOK', b'')]))[:24]",
          flow: POD,
        },
      ],
      counters: { fragments: 1, 'drop-tiny': 1 },
    },
    {
      name: 'a fragment with MF whose data is not a multiple of 8: drop-bad-length',
      input: [{ pkt: "IP(src='10.244.1.5', dst='198.18.0.100', proto=17, flags='MF', frag=3)/(b'u'*20)", flow: POD }],
      counters: { fragments: 1, 'drop-bad-length': 1 },
    },
    {
      name: 'ping of death: a fragment ending past 65535 bytes, drop-too-long',
      input: [{ pkt: "IP(src='10.244.1.5', dst='198.18.0.100', proto=1, frag=8189)/(b'v'*32)", flow: POD }],
      counters: { fragments: 1, 'drop-too-long': 1 },
    },
    {
      name: 'a fragmented ICMP error: drop-icmp-error',
      input: [
        {
          pkt: "IP(src='10.244.1.5', dst='198.18.0.100', flags='MF')/ICMP(type=3, code=3)/(b'w'*24)",
          flow: POD,
        },
      ],
      counters: { fragments: 1, 'drop-icmp-error': 1 },
    },
    {
      name: 'a GRE fragment: drop-unsupported-proto',
      input: [{ pkt: "IP(src='10.244.1.5', dst='198.18.0.100', proto=47, flags='MF')/(b'x'*24)", flow: POD }],
      counters: { fragments: 1, 'drop-unsupported-proto': 1 },
    },
    {
      name: 'a fragment from a pod to the node IP: drop-to-local',
      input: [{ pkt: frag(0, 7, '198.18.0.11'), flow: POD }],
      counters: { fragments: 1, 'drop-to-local': 1 },
    },
    {
      name: 'a 65th fragment of one datagram: drop-too-many, and the rest of it is dropped as overlapping',
      steps: [{ input: range(0, 40).map(small) }, { input: range(40, 66).map(small) }],
      counters: { fragments: 66, datagrams: 1, 'drop-too-many': 1, 'drop-overlap': 1 },
    },
    {
      name: 'no room left for a fragment waiting for its first: drop-queue-full',
      state: { fragments: { waiting: 2 } },
      input: [fromPod(2), fromPod(1), fromPod(1, 8)],
      counters: { fragments: 3, datagrams: 2, held: 2, 'drop-queue-full': 1 },
    },
    {
      name: 'a first fragment that never comes: the waiting fragment is drop-timeout',
      state: { fragments: { timeoutMs: 100 } },
      steps: [{ at: 1000, input: [fromPod(1)] }, { at: 1099 }, { at: 1100 }],
      counters: { fragments: 1, datagrams: 1, held: 1, expired: 1, 'drop-timeout': 1 },
    },
    {
      name: 'after the timeout a late fragment starts a new entry and waits again',
      state: { fragments: { timeoutMs: 100 } },
      steps: [
        { at: 1000, input: [fromPod(0)] },
        { at: 1200, input: [fromPod(1)] },
      ],
      counters: { fragments: 2, datagrams: 2, expired: 1, held: 1 },
      expect: { pod: [frag(0)] },
    },
    {
      name: 'a full table: a new datagram evicts the oldest, whose waiting fragments are drop-evicted',
      state: { fragments: { datagrams: 1 } },
      input: [fromPod(1, 7), fromPod(2, 7), fromPod(0, 8)],
      counters: { fragments: 3, datagrams: 2, held: 2, evicted: 1, 'drop-evicted': 2 },
      expect: { pod: [frag(0, 8)] },
    },
    {
      name: 'a flood of datagrams that never complete does not keep a whole one out',
      state: { fragments: { datagrams: 4 } },
      input: [...range(100, 110).map((id) => fromPod(1, id)), fromPod(0, 7), fromPod(1, 7), fromPod(2, 7)],
      counters: { fragments: 13, datagrams: 11, held: 10, evicted: 7, 'drop-evicted': 7, completed: 1 },
      expect: { pod: [frag(0), frag(1), frag(2)] },
    },
  ],
};
