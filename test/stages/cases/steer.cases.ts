/**
 * steer rows (engine/stages/steer.ts; docs/agent.md "Workers"): worker 0 of 2 keeps replies whose SNAT port is
 * even and hands the others to worker 1 (exit `handoff`, member 1); ICMP echo replies by identifier, ICMP errors by
 * the quoted source port, portless packets to worker 0. IPv6 (node-a's IPv6 side, base6.ts): replies to the IPv6
 * egress IP or the node's IPv6 address by destination port, ICMPv6 echo identifier or the port an ICMPv6 error
 * quotes, past extension headers; a pod's own address, fragments, other protocols and addresses not ours stay.
 */
import { Steer } from '../../../engine/stages/index.js';
import { dual } from './base6.js';
import { eth, type CaseTable } from './harness.js';

const EIP = '198.18.0.253';
const W0 = { conntrack: { seed: 7, portShards: [2, 0] as const } };
const W1 = { conntrack: { seed: 7, portShards: [2, 1] as const } };

const UDP_EVEN = eth(`IP(src='198.18.0.100', dst='${EIP}')/UDP(sport=53, dport=40000)/b'x'`);
const UDP_ODD = eth(`IP(src='198.18.0.100', dst='${EIP}')/UDP(sport=53, dport=40001)/b'x'`);
const TCP_ODD = eth(`IP(src='198.18.0.100', dst='${EIP}')/TCP(sport=443, dport=33333, flags='SA')`);
const ECHO_ODD = eth(`IP(src='198.18.0.100', dst='${EIP}')/ICMP(type=0, id=7, seq=1)`);
const ECHO_EVEN = eth(`IP(src='198.18.0.100', dst='${EIP}')/ICMP(type=0, id=8, seq=1)`);
// Port unreachable quoting this node's SNATed datagram from port 40001.
const ERR_ODD = eth(
  `IP(src='198.18.0.100', dst='${EIP}')/ICMP(type=3, code=3)/IP(src='${EIP}', dst='198.18.0.100')/UDP(sport=40001, dport=53)`,
);
// An error quoting too little to hold a port: worker 0's.
const ERR_SHORT = eth(`IP(src='198.18.0.100', dst='${EIP}')/ICMP(type=3, code=3)/b'\\x45\\x00'`);
const GRE = eth(`IP(src='198.18.0.100', dst='${EIP}', proto=47)/b'\\x00\\x00\\x08\\x00'`);
const LATER_FRAG = eth(`IP(src='198.18.0.100', dst='${EIP}', proto=17, frag=100)/b'\\x00\\x00\\x00\\x00'`);

const E6 = '2001:2::253';
const EXT6 = '2001:2::100';
const to6 = (l4: string, dst = E6, ext = '') => eth(`IPv6(src='${EXT6}', dst='${dst}')/${ext}${l4}`);
const UDP6_EVEN = to6(`UDP(sport=53, dport=40000)/b'x'`);
const UDP6_ODD = to6(`UDP(sport=53, dport=40001)/b'x'`);
const TCP6_ODD = to6(`TCP(sport=443, dport=33333, flags='SA')`);
const NODE6_ODD = to6(`UDP(sport=53, dport=40003)/b'x'`, '2001:2::11');
const DST_OPTS_ODD = to6(`UDP(sport=53, dport=40005)/b'x'`, E6, 'IPv6ExtHdrDestOpt()/');
const ECHO6_ODD = to6(`ICMPv6EchoReply(id=7, seq=1)`);
const ECHO6_EVEN = to6(`ICMPv6EchoReply(id=8, seq=1)`);
// Packet Too Big and Port Unreachable quoting this node's SNAT66 datagram from port 40001, and an echo request
// with identifier 9.
const PTB6_ODD = to6(`ICMPv6PacketTooBig(mtu=1280)/IPv6(src='${E6}', dst='${EXT6}')/UDP(sport=40001, dport=53)`);
const UNREACH6_EVEN = to6(`ICMPv6DestUnreach(code=4)/IPv6(src='${E6}', dst='${EXT6}')/UDP(sport=40002, dport=53)`);
const ERR6_ECHO_ODD = to6(`ICMPv6TimeExceeded()/IPv6(src='${E6}', dst='${EXT6}')/ICMPv6EchoRequest(id=9, seq=1)`);
// What stays: a pod's own address (inbound6), a fragment, another protocol, an address not ours, a short quote.
const TO_POD6 = to6(`TCP(sport=443, dport=33333, flags='S')`, '2001:2:0:a1::5');
const FRAG6 = to6(`UDP(sport=53, dport=40001)/b'x'`, E6, 'IPv6ExtHdrFragment(m=1, id=5)/');
const OTHER6 = eth(`IPv6(src='${EXT6}', dst='${E6}', nh=47)/b'\\x00\\x00\\x08\\x00'`);
const NOT_OURS6 = to6(`UDP(sport=53, dport=40001)/b'x'`, '2001:2::99');
const SHORT6 = to6(`ICMPv6DestUnreach(code=4)/b'\\x60\\x00'`);
const TRUNCATED6 = `Ether(dst='02:00:00:00:00:0b', src='02:00:00:00:00:64', type=0x86dd)/b'\\x45\\x00\\x00'`;

export const cases: CaseTable = {
  stage: (st) => new Steer(st),
  l3: 14,
  rows: [
    {
      name: 'worker 0 of 2: even SNAT ports own, odd ones handed to worker 1',
      state: W0,
      input: [UDP_EVEN, UDP_ODD, TCP_ODD],
      counters: { own: 1, 'handed-off': 2 },
      expect: { own: [UDP_EVEN], handoff: [UDP_ODD, TCP_ODD] },
    },
    {
      name: 'worker 1 of 2: the mirror image',
      state: W1,
      input: [UDP_EVEN, UDP_ODD, TCP_ODD],
      counters: { own: 2, 'handed-off': 1 },
      expect: { own: [UDP_ODD, TCP_ODD], handoff: [UDP_EVEN] },
    },
    {
      name: 'ICMP echo replies by identifier, errors by the quoted source port',
      state: W0,
      input: [ECHO_ODD, ECHO_EVEN, ERR_ODD],
      counters: { own: 1, 'handed-off': 2 },
      expect: { own: [ECHO_EVEN], handoff: [ECHO_ODD, ERR_ODD] },
    },
    {
      name: 'portless packets (other protocols, later fragments, short quotes) are worker 0s',
      state: W1,
      input: [GRE, LATER_FRAG, ERR_SHORT],
      counters: { portless: 3, 'handed-off': 3 },
      expect: { handoff: [GRE, LATER_FRAG, ERR_SHORT] },
    },
    {
      name: 'IPv6, worker 0 of 2: replies to the egress IP and the node address by port, past a header',
      state: W0,
      config: dual(),
      input: [UDP6_EVEN, UDP6_ODD, TCP6_ODD, NODE6_ODD, DST_OPTS_ODD],
      counters: { own6: 1, 'handed-off6': 4 },
      expect: { own6: [UDP6_EVEN], handoff: [UDP6_ODD, TCP6_ODD, NODE6_ODD, DST_OPTS_ODD] },
    },
    {
      name: 'IPv6, worker 1 of 2: the mirror image',
      state: W1,
      config: dual(),
      input: [UDP6_EVEN, UDP6_ODD, TCP6_ODD],
      counters: { own6: 2, 'handed-off6': 1 },
      expect: { own6: [UDP6_ODD, TCP6_ODD], handoff: [UDP6_EVEN] },
    },
    {
      name: 'ICMPv6 echo replies by identifier, errors by the quoted source port or echo identifier',
      state: W0,
      config: dual(),
      input: [ECHO6_ODD, ECHO6_EVEN, PTB6_ODD, UNREACH6_EVEN, ERR6_ECHO_ODD],
      counters: { own6: 2, 'handed-off6': 3 },
      expect: { own6: [ECHO6_EVEN, UNREACH6_EVEN], handoff: [ECHO6_ODD, PTB6_ODD, ERR6_ECHO_ODD] },
    },
    {
      name: 'IPv6 that stays: a pod address, a fragment, another protocol, not ours, a short quote, a cut header',
      state: W0,
      config: dual(),
      input: [TO_POD6, FRAG6, OTHER6, NOT_OURS6, SHORT6, TRUNCATED6],
      counters: { stay6: 6 },
      expect: { own6: [TO_POD6, FRAG6, OTHER6, NOT_OURS6, SHORT6, TRUNCATED6] },
    },
    {
      name: 'IPv6 on a node without an IPv6 side stays (unsnat6 counts it)',
      state: W1,
      input: [UDP6_EVEN],
      counters: { stay6: 1 },
      expect: { own6: [UDP6_EVEN] },
    },
  ],
};
