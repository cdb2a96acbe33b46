/**
 * unsnat rows (engine/stages/unsnat.ts; docs/semantics.md §4.c): frames from the segment to an owned address,
 * with the connection the request created in `setup`.
 */
import { Unsnat } from '../../../engine/stages/index.js';
import { connection, eth, type CaseTable, type Row } from './harness.js';

const REPLY = "UDP(sport=53, dport=40000)/b'answer'";
/** web-1's DNS query 10.244.1.5:40000 → 198.18.0.100:53, SNATed to the Egress IP 198.18.0.253. */
const query = (src = '10.244.1.5') => ({
  setup: (st: Parameters<NonNullable<Row['setup']>>[0]) =>
    void connection(st.ct, 'udp', src, 40000, '198.18.0.100', 53, '198.18.0.253'),
});

/** Fragment k of a 72-byte DNS answer to the Egress IP (24 bytes a fragment), and as it reaches web-1. */
const FRAG = (k: number) =>
  `fragment(IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=53, dport=40000)/(b'r'*64), fragsize=24)[${k}]`;
const FRAG_IN = (k: number) =>
  `fragment(IP(src='198.18.0.100', dst='10.244.1.5', ttl=63)/UDP(sport=53, dport=40000)/(b'r'*64), fragsize=24)[${k}]`;

export const cases: CaseTable = {
  stage: (st) => new Unsnat(st),
  l3: 14,
  rows: [
    {
      name: 'the first fragment of a reply: translated back, its L4 checksum updated for the whole datagram',
      ...query(),
      input: [eth(FRAG(0))],
      counters: { reply: 1 },
      expect: { 'to-pod': [FRAG_IN(0)] },
    },
    {
      name: 'a later fragment of a reply (ports word in flow): only its IP destination translated',
      ...query(),
      input: [{ pkt: eth(FRAG(1)), flow: (53 << 16) | 40000 }],
      counters: { fragment: 1 },
      expect: { 'to-pod': [FRAG_IN(1)] },
    },
    {
      name: 'a later fragment with no connection: drop-no-conntrack',
      input: [{ pkt: eth(FRAG(1)), flow: (53 << 16) | 40000 }],
      counters: { 'drop-no-conntrack': 1 },
    },
    {
      name: 'the first fragment of an echo request to the Egress IP: drop-no-conntrack, never the responder',
      input: [eth("IP(src='198.18.0.100', dst='198.18.0.253', flags='MF')/ICMP(type=8, id=3)/(b'e'*16)")],
      counters: { 'drop-no-conntrack': 1 },
    },
    {
      name: 'a reply to a local pod: destination translated back, TTL decremented, to-pod as an L3 packet',
      ...query(),
      input: [eth(`IP(src='198.18.0.100', dst='198.18.0.253')/${REPLY}`)],
      counters: { reply: 1 },
      expect: { 'to-pod': [`IP(src='198.18.0.100', dst='10.244.1.5', ttl=63)/${REPLY}`] },
    },
    {
      name: 'a reply to a pod of node-b: to-remote with node-b as outer destination',
      ...query('10.244.2.9'),
      input: [eth(`IP(src='198.18.0.100', dst='198.18.0.253')/${REPLY}`)],
      counters: { reply: 1 },
    },
    {
      name: 'an ICMP error quoting the SNATed query: related, outer destination and quoted source translated',
      ...query(),
      input: [
        eth(
          "IP(src='198.18.0.100', dst='198.18.0.253')/ICMP(type=3, code=3)/IP(src='198.18.0.253', dst='198.18.0.100')/UDP(sport=40000, dport=53)",
        ),
      ],
      counters: { related: 1 },
      expect: {
        'to-pod': [
          "IP(src='198.18.0.100', dst='10.244.1.5', ttl=63)/ICMP(type=3, code=3)/IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=40000, dport=53)",
        ],
      },
    },
    {
      name: 'an echo request to the node with no connection: local',
      input: [eth("IP(src='198.18.0.100', dst='198.18.0.11')/ICMP(type=8, id=5, seq=1)")],
      counters: { 'to-local': 1 },
    },
    {
      name: 'UDP to an Egress IP port no connection uses: drop-no-conntrack',
      input: [eth(`IP(src='198.18.0.100', dst='198.18.0.253')/${REPLY}`)],
      counters: { 'drop-no-conntrack': 1 },
    },
    {
      name: 'an ICMP error quoting a packet of no connection: drop-related-no-conntrack',
      input: [
        eth(
          "IP(src='198.18.0.100', dst='198.18.0.253')/ICMP(type=3, code=3)/IP(src='198.18.0.253', dst='198.18.0.100')/UDP(sport=40000, dport=53)",
        ),
      ],
      counters: { 'drop-related-no-conntrack': 1 },
    },
    {
      name: 'a packet of the original direction: drop-orig-direction',
      ...query(),
      input: [eth("IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=40000, dport=53)")],
      counters: { 'drop-orig-direction': 1 },
    },
    {
      name: 'an echo request in the reply direction of a ping: drop-ct-invalid',
      setup: (st) => void connection(st.ct, 'icmp', '10.244.1.5', 7, '198.18.0.100', 0, '198.18.0.253'),
      input: [eth("IP(src='198.18.0.100', dst='198.18.0.253')/ICMP(type=8, id=7, seq=1)")],
      counters: { 'drop-ct-invalid': 1 },
    },
    {
      name: 'a reply and an ICMP error with TTL 1: drop-ttl-exceeded',
      ...query(),
      input: [
        eth(`IP(src='198.18.0.100', dst='198.18.0.253', ttl=1)/${REPLY}`),
        eth(
          "IP(src='198.18.0.100', dst='198.18.0.253', ttl=1)/ICMP(type=3, code=3)/IP(src='198.18.0.253', dst='198.18.0.100')/UDP(sport=40000, dport=53)",
        ),
      ],
      counters: { 'drop-ttl-exceeded': 2 },
    },
    {
      name: 'an ICMP error quoting GRE: drop-related-untracked',
      input: [
        eth(
          "IP(src='198.18.0.100', dst='198.18.0.253')/ICMP(type=3, code=2)/IP(src='198.18.0.253', dst='198.18.0.100', proto=47)/b'\\x00\\x00\\x08\\x00\\x00\\x00\\x00\\x00'",
        ),
      ],
      counters: { 'drop-related-untracked': 1 },
    },
    {
      name: 'a reply to an address that is no pod: drop-no-route',
      ...query('198.18.0.50'),
      input: [eth(`IP(src='198.18.0.100', dst='198.18.0.253')/${REPLY}`)],
      counters: { reply: 1, 'drop-no-route': 1 },
    },
    {
      name: 'a reply above the pod MTU without DF: translated, then cut to the pod MTU (refragmented)',
      ...query(),
      input: [eth(`IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=53, dport=40000)/Raw(b'x' * 1423)`)],
      counters: { reply: 1, refragmented: 1 },
      expect: {
        'to-pod': [
          `fragment(IP(src='198.18.0.100', dst='10.244.1.5', ttl=63)/UDP(sport=53, dport=40000)/Raw(b'x' * 1423), fragsize=1424)[0]`,
          `fragment(IP(src='198.18.0.100', dst='10.244.1.5', ttl=63)/UDP(sport=53, dport=40000)/Raw(b'x' * 1423), fragsize=1424)[1]`,
        ],
      },
    },
    {
      name: 'a fragment above the pod MTU for a pod of node-b: its two pieces go to-remote, offsets continued',
      ...query('10.244.2.9'),
      input: [
        {
          pkt: eth(
            `fragment(IP(src='198.18.0.100', dst='198.18.0.253', id=5)/UDP(sport=53, dport=40000)/Raw(b'y' * 2992), fragsize=1480)[1]`,
          ),
          flow: (53 << 16) | 40000,
        },
      ],
      counters: { fragment: 1, refragmented: 1 },
    },
    {
      name: 'a reply above the pod MTU without DF and no slot for its second piece: drop-too-big, drop-no-buffer',
      ...query(),
      slots: 1,
      input: [eth(`IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=53, dport=40000)/Raw(b'x' * 1423)`)],
      counters: { 'drop-too-big': 1, 'drop-no-buffer': 1 },
    },
    {
      name: 'a DF reply above the pod MTU: drop-too-big and a frag-needed from the Egress IP to error',
      ...query(),
      input: [
        eth(`IP(src='198.18.0.100', dst='198.18.0.253', flags='DF')/UDP(sport=53, dport=40000)/Raw(b'x' * 1423)`),
      ],
      counters: { 'drop-too-big': 1, 'icmp-frag-needed': 1 },
      expect: {
        error: [
          `IP(src='198.18.0.253', dst='198.18.0.100', tos=0xc0, id=0)/ICMP(type=3, code=4, nexthopmtu=1450)/Raw(bytes(IP(src='198.18.0.100', dst='198.18.0.253', flags='DF')/UDP(sport=53, dport=40000)/Raw(b'x' * 1423))[:28])`,
        ],
      },
    },
    {
      name: 'a DF reply above the pod MTU with no free slot for the error: drop-too-big, drop-no-buffer',
      ...query(),
      slots: 1,
      input: [
        eth(`IP(src='198.18.0.100', dst='198.18.0.253', flags='DF')/UDP(sport=53, dport=40000)/Raw(b'x' * 1423)`),
      ],
      counters: { 'drop-too-big': 1, 'drop-no-buffer': 1 },
    },
    {
      name: 'an ICMP error quoting a source other than its own destination: drop-related-mismatch',
      ...query(),
      input: [
        eth(
          "IP(src='198.18.0.100', dst='198.18.0.253')/ICMP(type=3, code=3)/IP(src='198.18.0.254', dst='198.18.0.100')/UDP(sport=40000, dport=53)",
        ),
      ],
      counters: { 'drop-related-mismatch': 1 },
    },
    {
      // The stage's own check: ip-local hands it errors to owned addresses, which a SNATed connection's reply
      // tuple holds; an error whose reversed quote is the connection's original tuple travels towards the pod's
      // peer, so it is no error from outside about a SNATed packet.
      name: "an ICMP error quoting a packet of the connection's reply direction: drop-related-orig-direction",
      ...query(),
      input: [
        eth(
          "IP(src='198.18.0.50', dst='198.18.0.100')/ICMP(type=3, code=3)/IP(src='198.18.0.100', dst='10.244.1.5')/UDP(sport=53, dport=40000)",
        ),
      ],
      counters: { 'drop-related-orig-direction': 1 },
    },
  ],
};
