/**
 * steer rows (engine/stages/steer.ts; docs/agent.md "Workers"): worker 0 of 2 keeps replies whose SNAT port is
 * even and hands the others to worker 1 (exit `handoff`, member 1); ICMP echo replies by identifier, ICMP errors by
 * the quoted source port, portless packets to worker 0.
 */
import { Steer } from '../../../engine/stages/index.js';
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
  ],
};
