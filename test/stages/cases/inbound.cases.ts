/** inbound rows (engine/stages/inbound.ts; docs/semantics.md §4.d): frames from the segment to a local pod IP. */
import { Inbound } from '../../../engine/stages/index.js';
import { connection, eth, type CaseTable } from './harness.js';

const syn = (sport: number, ttl = 64) =>
  eth(`IP(src='198.18.0.100', dst='10.244.1.5', ttl=${ttl})/TCP(sport=${sport}, dport=80, flags='S', seq=1)`);

/** An ICMP error from outside about the pod's SYN-ACK of the connection 198.18.0.100:5000 → 10.244.1.5:80. */
const ERR_ABOUT_REPLY =
  "IP(src='198.18.0.100', dst='10.244.1.5')/ICMP(type=3, code=1)/IP(src='10.244.1.5', dst='198.18.0.100')/TCP(sport=80, dport=5000, flags='SA', seq=9, ack=2)";

/** Fragment k of a 72-byte UDP datagram from outside to the pod 10.244.1.6 (24 bytes a fragment). */
const FRAG = (k: number, ttl = 64) =>
  `fragment(IP(src='198.18.0.100', dst='10.244.1.6', ttl=${ttl})/UDP(sport=5000, dport=53)/(b'i'*64), fragsize=24)[${k}]`;

export const cases: CaseTable = {
  stage: (st) => new Inbound(st),
  l3: 14,
  rows: [
    {
      name: 'fragments to a pod: the first opens the connection, a later one goes with it (ports word in flow)',
      input: [eth(FRAG(0)), { pkt: eth(FRAG(1)), flow: (5000 << 16) | 53 }],
      counters: { new: 1, fragment: 1 },
      expect: { 'to-pod': [FRAG(0, 63), FRAG(1, 63)] },
    },
    {
      name: 'a later fragment to a pod with no connection: drop-frag-untracked',
      input: [{ pkt: eth(FRAG(1)), flow: (5000 << 16) | 53 }],
      counters: { 'drop-frag-untracked': 1 },
    },
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
    {
      name: 'a segment above the pod MTU without DF: tracked, then cut to the pod MTU (refragmented)',
      input: [
        eth("IP(src='198.18.0.100', dst='10.244.1.5')/TCP(sport=5000, dport=80, flags='S', seq=1)/Raw(b'x' * 1411)"),
      ],
      counters: { new: 1, refragmented: 1 },
      expect: {
        'to-pod': [
          "fragment(IP(src='198.18.0.100', dst='10.244.1.5', ttl=63)/TCP(sport=5000, dport=80, flags='S', seq=1)/Raw(b'x' * 1411), fragsize=1424)[0]",
          "fragment(IP(src='198.18.0.100', dst='10.244.1.5', ttl=63)/TCP(sport=5000, dport=80, flags='S', seq=1)/Raw(b'x' * 1411), fragsize=1424)[1]",
        ],
      },
    },
    {
      name: 'a segment above the pod MTU without DF and no slot for its second piece: drop-too-big, drop-no-buffer',
      slots: 1,
      input: [
        eth("IP(src='198.18.0.100', dst='10.244.1.5')/TCP(sport=5000, dport=80, flags='S', seq=1)/Raw(b'x' * 1411)"),
      ],
      counters: { 'drop-too-big': 1, 'drop-no-buffer': 1 },
    },
    {
      name: 'a DF segment above the pod MTU: drop-too-big and a frag-needed from the node to error',
      input: [
        eth(
          "IP(src='198.18.0.100', dst='10.244.1.5', flags='DF')/TCP(sport=5000, dport=80, flags='S', seq=1)/Raw(b'x' * 1411)",
        ),
      ],
      counters: { 'drop-too-big': 1, 'icmp-frag-needed': 1 },
      expect: {
        error: [
          `IP(src='198.18.0.11', dst='198.18.0.100', tos=0xc0, id=0)/ICMP(type=3, code=4, nexthopmtu=1450)/Raw(bytes(IP(src='198.18.0.100', dst='10.244.1.5', flags='DF')/TCP(sport=5000, dport=80, flags='S', seq=1)/Raw(b'x' * 1411))[:28])`,
        ],
      },
    },
    {
      name: 'a DF segment above the pod MTU with no free slot for the error: drop-too-big, drop-no-buffer',
      slots: 1,
      input: [
        eth(
          "IP(src='198.18.0.100', dst='10.244.1.5', flags='DF')/TCP(sport=5000, dport=80, flags='S', seq=1)/Raw(b'x' * 1411)",
        ),
      ],
      counters: { 'drop-too-big': 1, 'drop-no-buffer': 1 },
    },
    {
      name: 'a second connection to a pod at its per-pod limit: drop-ct-limit',
      state: { conntrack: { seed: 7, perHostLimit: 1 } },
      input: [syn(5000), syn(5001)],
      counters: { new: 1, 'drop-ct-limit': 1 },
    },
    {
      name: "a packet opening the reverse of a pod's SNAT connection: drop-snat-flow",
      setup: (st) => void connection(st.ct, 'udp', '10.244.1.5', 40000, '198.18.0.100', 53, '198.18.0.253'),
      input: [eth("IP(src='198.18.0.100', dst='10.244.1.5')/UDP(sport=53, dport=40000)/b'a'")],
      counters: { 'drop-snat-flow': 1 },
    },
    {
      name: "an ICMP error about the pod's SYN-ACK: related, delivered as L3 with TTL decremented",
      setup: (st) => void connection(st.ctIn, 'tcp', '198.18.0.100', 5000, '10.244.1.5', 80),
      input: [eth(ERR_ABOUT_REPLY)],
      counters: { related: 1 },
      expect: { 'to-pod': [ERR_ABOUT_REPLY.replace("dst='10.244.1.5')/ICMP", "dst='10.244.1.5', ttl=63)/ICMP")] },
    },
    {
      name: 'an ICMP error quoting GRE: drop-related-untracked',
      input: [
        eth(
          "IP(src='198.18.0.100', dst='10.244.1.5')/ICMP(type=3, code=2)/IP(src='10.244.1.5', dst='198.18.0.100', proto=47)/b'\\x00\\x00\\x08\\x00\\x00\\x00\\x00\\x00'",
        ),
      ],
      counters: { 'drop-related-untracked': 1 },
    },
    {
      name: 'an ICMP error quoting a source other than its own destination: drop-related-mismatch',
      setup: (st) => void connection(st.ctIn, 'tcp', '198.18.0.100', 5000, '10.244.1.5', 80),
      input: [
        eth(
          ERR_ABOUT_REPLY.replace(
            "IP(src='10.244.1.5', dst='198.18.0.100')",
            "IP(src='10.244.1.6', dst='198.18.0.100')",
          ),
        ),
      ],
      counters: { 'drop-related-mismatch': 1 },
    },
    {
      name: 'an ICMP error about a packet of no accepted connection: drop-related-no-conntrack',
      input: [eth(ERR_ABOUT_REPLY)],
      counters: { 'drop-related-no-conntrack': 1 },
    },
    {
      // A stage-level check: the quote is the connection's first SYN, so the error would travel to its client.
      name: "an ICMP error quoting the connection's original direction: drop-related-reply-direction",
      setup: (st) => void connection(st.ctIn, 'tcp', '198.18.0.100', 5000, '10.244.1.5', 80),
      input: [
        eth(
          "IP(src='198.18.0.50', dst='198.18.0.100')/ICMP(type=3, code=1)/IP(src='198.18.0.100', dst='10.244.1.5')/TCP(sport=5000, dport=80, flags='S', seq=1)",
        ),
      ],
      counters: { 'drop-related-reply-direction': 1 },
    },
  ],
};
