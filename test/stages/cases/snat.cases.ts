/**
 * snat rows (engine/stages/snat.ts; docs/semantics.md §4.a): L3 packets, `meta` = the NAT address classify or
 * geneve-decap chose.
 */
import { Snat } from '../../../engine/stages/index.js';
import { baseConfig, connection, ip, type CaseTable, type Row } from './harness.js';

const EGRESS = ip('198.18.0.253');
const udp = (sport: number, ttl = 64) => ({
  pkt: `IP(src='10.244.1.5', dst='198.18.0.100', ttl=${ttl})/UDP(sport=${sport}, dport=53)/b'q'`,
  meta: EGRESS,
});

/** 1501 bytes with DF from a pod of node-b (its packets reach snat through the tunnel). */
const BIG_REMOTE = `IP(src='10.244.2.9', dst='198.18.0.100', flags='DF')/UDP(sport=40000, dport=53)/Raw(b'x' * 1473)`;
/** web-1's DNS query 10.244.1.5:40000 → 198.18.0.100:53, SNATed to 198.18.0.253. */
const dnsQuery = {
  setup: (st: Parameters<NonNullable<Row['setup']>>[0]) =>
    void connection(st.ct, 'udp', '10.244.1.5', 40000, '198.18.0.100', 53, '198.18.0.253'),
};
/** The port unreachable web-1 sends about the (un-NATed) reply to that query. */
const PORT_UNREACH =
  "IP(src='10.244.1.5', dst='198.18.0.100')/ICMP(type=3, code=3)/IP(src='198.18.0.100', dst='10.244.1.5')/UDP(sport=53, dport=40000)";

/** A meter of 1 000 kbit/s (1 000 bits per ms) with a 12 kbit bucket on the egress IP; `rate` in kbit/s. */
const meter = (rateKbps: number) => ({ egressMeters: new Map([[EGRESS, { rateKbps, burstKbps: 12 }]]) });
/** `n` packets of one UDP connection: 29 bytes of IP, 43 on the wire, 344 bits each. */
const burstOf = (n: number) => Array.from({ length: n }, () => udp(40000));

/** Fragment k of web-1's 72-byte DNS datagram (24 bytes a fragment), and as it leaves SNATed to the Egress IP. */
const FRAG = (k: number) =>
  `fragment(IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=40000, dport=53)/(b'q'*64), fragsize=24)[${k}]`;
const FRAG_OUT = (k: number) =>
  `fragment(IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/(b'q'*64), fragsize=24)[${k}]`;

export const cases: CaseTable = {
  stage: (st) => new Snat(st),
  l3: 0,
  rows: [
    {
      name: 'the first fragment of a datagram: a new connection, its L4 checksum updated for the whole datagram',
      input: [{ pkt: FRAG(0), meta: EGRESS }],
      counters: { new: 1 },
      expect: { out: [FRAG_OUT(0)] },
    },
    {
      name: 'a later fragment (ports word in flow): only its IP source rewritten, the connection left alone',
      ...dnsQuery,
      input: [{ pkt: FRAG(1), meta: EGRESS, flow: (40000 << 16) | 53 }],
      counters: { fragment: 1 },
      expect: { out: [FRAG_OUT(1)] },
    },
    {
      name: 'a later fragment whose datagram has no connection (its first was dropped): drop-frag-untracked',
      input: [{ pkt: FRAG(1), meta: EGRESS, flow: (40000 << 16) | 53 }],
      counters: { 'drop-frag-untracked': 1 },
    },
    {
      name: 'a new connection keeps its source port, TTL decremented, checksums updated',
      input: [udp(40000)],
      counters: { new: 1 },
      expect: { out: [`IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/b'q'`] },
    },
    {
      name: 'the second packet of the connection: established',
      input: [udp(40000), udp(40000)],
      counters: { new: 1, established: 1 },
    },
    {
      // The burst's lookup missed for both packets; the second must see the connection the first created.
      name: 'the second packet of the connection, burst lookup on: established',
      state: { conntrack: { seed: 7, burstMinLive: 0 } },
      input: [udp(40000), udp(40000)],
      counters: { new: 1, established: 1 },
    },
    {
      name: 'bound to an address no longer owned: rebound to the new one',
      setup: (st) => void connection(st.ct, 'udp', '10.244.1.5', 40000, '198.18.0.100', 53, '198.18.0.254'),
      input: [udp(40000)],
      counters: { rebound: 1, new: 1 },
      expect: { out: [`IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/b'q'`] },
    },
    {
      // The burst's lookup found the old connection for both packets; the second must see the new one.
      name: 'rebound, then the next packet of the same burst: established on the new binding',
      state: { conntrack: { seed: 7, burstMinLive: 0 } },
      setup: (st) => void connection(st.ct, 'udp', '10.244.1.5', 40000, '198.18.0.100', 53, '198.18.0.254'),
      input: [udp(40000), udp(40000)],
      counters: { rebound: 1, new: 1, established: 1 },
      expect: {
        out: [
          `IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/b'q'`,
          `IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/b'q'`,
        ],
      },
    },
    {
      name: 'a full table: drop-ct-full',
      state: { conntrack: { seed: 7, maxConnections: 1 } },
      input: [udp(40000), udp(40001)],
      counters: { new: 1, 'drop-ct-full': 1 },
    },
    {
      name: 'an echo reply cannot open a connection: drop-ct-invalid',
      input: [{ pkt: `IP(src='10.244.1.5', dst='198.18.0.100')/ICMP(type=0, id=9)`, meta: EGRESS }],
      counters: { 'drop-ct-invalid': 1 },
    },
    {
      name: 'one SNAT port for two connections to one destination: drop-snat-exhausted',
      state: { conntrack: { seed: 7, portRange: [5000, 5000] } },
      input: [udp(40000), udp(40001)],
      counters: { new: 1, 'drop-snat-exhausted': 1 },
    },
    {
      name: 'a packet of a connection reply tuple: drop-reply-direction',
      setup: (st) => void connection(st.ct, 'udp', '10.244.1.5', 40000, '198.18.0.100', 53, '198.18.0.253'),
      input: [{ pkt: `IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=53, dport=40000)`, meta: EGRESS }],
      counters: { 'drop-reply-direction': 1 },
    },
    { name: 'TTL 1: drop-ttl-exceeded', input: [udp(40000, 1)], counters: { 'drop-ttl-exceeded': 1 } },
    {
      name: 'a packet above the uplink MTU without DF: SNATed, then cut into two fragments (refragmented)',
      input: [
        { ...udp(40000), pkt: `IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=40000, dport=53)/Raw(b'x' * 1473)` },
      ],
      counters: { new: 1, refragmented: 1 },
      expect: {
        out: [
          `fragment(IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/Raw(b'x' * 1473), fragsize=1480)[0]`,
          `fragment(IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/Raw(b'x' * 1473), fragsize=1480)[1]`,
        ],
      },
    },
    {
      name: 'a packet above the uplink MTU without DF and no slot for its second piece: drop-too-big, drop-no-buffer',
      slots: 1,
      input: [
        { ...udp(40000), pkt: `IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=40000, dport=53)/Raw(b'x' * 1473)` },
      ],
      counters: { 'drop-too-big': 1, 'drop-no-buffer': 1 },
    },
    {
      name: 'a DF packet of a node-b pod above the uplink MTU: drop-too-big and a frag-needed to error',
      input: [{ ...udp(40000), pkt: BIG_REMOTE }],
      counters: { 'drop-too-big': 1, 'icmp-frag-needed': 1 },
      expect: {
        error: [
          `IP(src='10.244.1.1', dst='10.244.2.9', tos=0xc0, id=0)/ICMP(type=3, code=4, nexthopmtu=1500)/Raw(bytes(${BIG_REMOTE})[:28])`,
        ],
      },
    },
    {
      name: 'the same with no free slot for the error: drop-too-big, drop-no-buffer',
      slots: 1,
      input: [{ ...udp(40000), pkt: BIG_REMOTE }],
      counters: { 'drop-too-big': 1, 'drop-no-buffer': 1 },
    },
    {
      name: 'a second connection of a pod at its per-pod limit: drop-ct-limit',
      state: { conntrack: { seed: 7, perHostLimit: 1 } },
      input: [udp(40000), udp(40001)],
      counters: { new: 1, 'drop-ct-limit': 1 },
    },
    {
      // 12 000 bits: 34 packets of 344 bits (304 left), the 35th dropped; +1 ms = 1 304 bits: 3 of 4 pass
      // (272 left); at 1002 the rate is raised to 3 000 kbit/s, the bucket keeps what the old rate filled
      // (1 272); +1 ms at the new rate = 4 272 bits: 12 of 13 pass.
      name: "an egress IP's meter polices bursts beyond its bucket: drop-rate-limited; a live rate change keeps the tokens",
      config: meter(1000),
      steps: [
        { at: 1000, input: burstOf(35) },
        { at: 1001, input: burstOf(4) },
        { at: 1002, setup: (st) => void st.configure({ ...baseConfig(), ...meter(3000) }) },
        { at: 1003, input: burstOf(13) },
      ],
      counters: { new: 1, established: 48, 'drop-rate-limited': 3 },
    },
    {
      name: 'a port unreachable the pod sends about a reply: related, source and quote SNATed',
      ...dnsQuery,
      input: [{ pkt: PORT_UNREACH, meta: EGRESS }],
      counters: { related: 1 },
      expect: {
        out: [
          "IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/ICMP(type=3, code=3)/IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=53, dport=40000)",
        ],
      },
    },
    {
      name: 'an ICMP error quoting GRE: drop-related-untracked',
      input: [
        {
          pkt: "IP(src='10.244.1.5', dst='198.18.0.100')/ICMP(type=3, code=2)/IP(src='198.18.0.100', dst='10.244.1.5', proto=47)/b'\\x00\\x00\\x08\\x00\\x00\\x00\\x00\\x00'",
          meta: EGRESS,
        },
      ],
      counters: { 'drop-related-untracked': 1 },
    },
    {
      name: 'an ICMP error quoting a source other than its own destination: drop-related-mismatch',
      ...dnsQuery,
      input: [{ pkt: PORT_UNREACH.replace("dst='198.18.0.100')/ICMP", "dst='198.18.0.101')/ICMP"), meta: EGRESS }],
      counters: { 'drop-related-mismatch': 1 },
    },
    {
      name: 'an ICMP error about a packet of no connection: drop-related-no-conntrack',
      input: [{ pkt: PORT_UNREACH, meta: EGRESS }],
      counters: { 'drop-related-no-conntrack': 1 },
    },
    {
      // A stage-level check: the quote is the pod's own query, so the error would travel towards the pod.
      name: "an ICMP error quoting the connection's original direction: drop-related-reply-direction",
      setup: (st) => void connection(st.ct, 'udp', '10.244.1.5', 40000, '198.18.0.100', 53),
      input: [
        {
          pkt: "IP(src='10.244.1.6', dst='10.244.1.5')/ICMP(type=3, code=3)/IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=40000, dport=53)",
          meta: EGRESS,
        },
      ],
      counters: { 'drop-related-reply-direction': 1 },
    },
  ],
};
