/**
 * classify rows (engine/stages/classify.ts; docs/semantics.md §4.0, §4.d): L3 packets pod-ingress passed, `meta` =
 * the sender's pod index (0 = 10.244.1.5 with its Egress here, 1 = .6 with none, 2 = .7 with its Egress elsewhere).
 */
import { Classify } from '../../../engine/stages/index.js';
import { connection, type CaseTable } from './harness.js';

const from = (pod: number, dst: string, l4 = "UDP(sport=40000, dport=53)/b'q'") => ({
  pkt: `IP(src='10.244.1.${5 + pod}', dst='${dst}')/${l4}`,
  meta: pod,
});

export const cases: CaseTable = {
  stage: (st) => new Classify(st),
  l3: 0,
  rows: [
    {
      name: 'a later fragment (ports word in flow): classified by address, the word kept in flow for snat',
      input: [
        {
          pkt: "fragment(IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=40000, dport=53)/(b'q'*64), fragsize=24)[1]",
          meta: 0,
          flow: (40000 << 16) | 53,
        },
      ],
      counters: { 'egress-local': 1 },
    },
    {
      name: 'a later fragment of the reply of a connection the pod accepted: no-nat, its flow cleared',
      setup: (st) => void connection(st.ctIn, 'udp', '198.18.0.100', 5000, '10.244.1.5', 53),
      input: [
        {
          pkt: "fragment(IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=53, dport=5000)/(b'q'*64), fragsize=24)[1]",
          meta: 0,
          flow: (53 << 16) | 5000,
        },
      ],
      counters: { 'reply-no-nat': 1 },
    },
    {
      name: 'to the node IP and to a hosted Egress IP: local (the ICMP responder)',
      input: [from(0, '198.18.0.11'), from(0, '198.18.0.253')],
      counters: { 'to-local': 2 },
    },
    {
      name: 'to a local pod: local-pod with its port member, never NATed',
      input: [from(0, '10.244.1.6')],
      counters: { 'to-local-pod': 1 },
    },
    {
      name: 'to another node pod CIDR: remote-pod with that node IP as outer destination',
      input: [from(0, '10.244.2.9')],
      counters: { 'to-remote-pod': 1 },
    },
    {
      name: 'to this node pod CIDR with no such pod: drop-no-such-pod',
      input: [from(0, '10.244.1.99')],
      counters: { 'drop-no-such-pod': 1 },
    },
    {
      name: 'to multicast, limited broadcast and 0/8: drop-bad-destination',
      input: [from(0, '224.0.0.251'), from(0, '255.255.255.255'), from(0, '0.1.2.3')],
      counters: { 'drop-bad-destination': 3 },
    },
    {
      name: 'to the service CIDR and another node IP: bypass, SNAT to the node IP',
      input: [from(0, '10.96.0.10'), from(0, '198.18.0.12')],
      counters: { bypass: 2 },
    },
    {
      name: 'a pod no Egress selects: node-snat',
      input: [from(1, '198.18.0.100')],
      counters: { 'node-snat': 1 },
    },
    {
      name: 'a pod whose Egress IP is hosted here: snat to the Egress IP',
      input: [from(0, '198.18.0.100')],
      counters: { 'egress-local': 1 },
    },
    {
      name: 'a pod whose Egress IP is elsewhere: tunnel to the Egress IP',
      input: [from(2, '198.18.0.100')],
      counters: { 'egress-remote': 1 },
    },
    {
      name: 'the reply of a connection the pod accepted: no-nat (Antrea -rpl)',
      setup: (st) => void connection(st.ctIn, 'tcp', '198.18.0.100', 5000, '10.244.1.5', 80),
      input: [from(0, '198.18.0.100', "TCP(sport=80, dport=5000, flags='SA')")],
      counters: { 'reply-no-nat': 1 },
    },
    {
      name: "an echo request in the reply direction of an accepted ping is the pod's own: reply-refused, its Egress",
      setup: (st) => void connection(st.ctIn, 'icmp', '198.18.0.100', 77, '10.244.1.5', 0),
      input: [from(0, '198.18.0.100', 'ICMP(type=8, id=77, seq=2)')],
      counters: { 'reply-refused': 1, 'egress-local': 1 },
    },
    {
      name: 'a pod answering a SYN with SYN+FIN+ACK, a flag set Linux refuses: drop-ct-invalid',
      setup: (st) => void connection(st.ctIn, 'tcp', '198.18.0.100', 5000, '10.244.1.5', 80),
      input: [from(0, '198.18.0.100', "TCP(sport=80, dport=5000, flags='FSA', seq=100, ack=2)")],
      counters: { 'drop-ct-invalid': 1 },
    },
  ],
};
