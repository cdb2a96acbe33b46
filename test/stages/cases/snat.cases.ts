/**
 * snat rows (engine/stages/snat.ts; docs/semantics.md §4.a): L3 packets, `meta` = the NAT address classify or
 * geneve-decap chose.
 */
import { Snat } from '../../../engine/stages/index.js';
import { connection, ip, type CaseTable } from './harness.js';

const EGRESS = ip('198.18.0.253');
const udp = (sport: number, ttl = 64) => ({
  pkt: `IP(src='10.244.1.5', dst='198.18.0.100', ttl=${ttl})/UDP(sport=${sport}, dport=53)/b'q'`,
  meta: EGRESS,
});

export const cases: CaseTable = {
  stage: (st) => new Snat(st),
  l3: 0,
  rows: [
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
      name: 'bound to an address no longer owned: rebound to the new one',
      setup: (st) => void connection(st.ct, 'udp', '10.244.1.5', 40000, '198.18.0.100', 53, '198.18.0.254'),
      input: [udp(40000)],
      counters: { rebound: 1, new: 1 },
      expect: { out: [`IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/b'q'`] },
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
  ],
};
