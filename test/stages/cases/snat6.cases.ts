/**
 * snat6 rows (engine/stages/snat6.ts; docs/ipv6.md §2.c): IPv6 packets of node-a's pods (base6.ts), `meta` = the
 * entry of the NAT address pod-ingress6 chose (0: the egress IP 2001:2::253, 1: the node address 2001:2::11).
 */
import { Snat6, type NodeState } from '../../../engine/stages/index.js';
import { connection6, dual } from './base6.js';
import type { CaseTable, Row } from './harness.js';

const WEB1 = '2001:2:0:a1::5';
const EXT = '2001:2::100';
const EGRESS = '2001:2::253';
const ANSWER = "UDP(sport=53, dport=40000)/b'answer'";
const SYNACK = "TCP(sport=443, dport=41000, flags='SA', seq=5000, ack=1)";
/** An ICMPv6 error web-1 sends to the outside host (`body`: the ICMPv6 message and its quote). */
const err = (body: string) => ({ pkt: `IPv6(src='${WEB1}', dst='${EXT}')/${body}`, meta: 0 });
/** web-1's DNS query [2001:2:0:a1::5]:40000 → [2001:2::100]:53, SNATed to the egress IP. */
const dns = () => ({ setup: (st: NodeState) => void connection6(st, 'udp', WEB1, 40000, EXT, 53, EGRESS) });
const udp = (sport: number, hlim = 64, meta = 0) => ({
  pkt: `IPv6(src='${WEB1}', dst='${EXT}', hlim=${hlim})/UDP(sport=${sport}, dport=53)/b'q'`,
  meta,
});
/** A node-b pod's UDP packet of 1501 bytes (40 + 8 + 1453), one above the uplink MTU. */
const BIG_REMOTE = `IPv6(src='2001:2:0:a2::9', dst='${EXT}')/UDP(sport=40000, dport=53)/Raw(b'x' * 1453)`;
const d = dual();
const row = (r: Row): Row => ({ config: d, ...r });

export const cases: CaseTable = {
  stage: (st) => new Snat6(st),
  l3: 0,
  rows: [
    row({
      name: 'a new UDP connection: source the egress IP, port kept, Hop Limit decremented, checksum updated',
      input: [udp(40000)],
      counters: { new: 1 },
      expect: { out: [`IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'q'`] },
    }),
    row({
      name: 'a TCP SYN behind a destination options header: SNATed',
      input: [
        {
          pkt: `IPv6(src='${WEB1}', dst='${EXT}')/IPv6ExtHdrDestOpt()/TCP(sport=41000, dport=443, flags='S', seq=1000)`,
          meta: 0,
        },
      ],
      counters: { new: 1 },
      expect: {
        out: [
          `IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/IPv6ExtHdrDestOpt()/TCP(sport=41000, dport=443, flags='S', seq=1000)`,
        ],
      },
    }),
    row({
      name: 'an ICMPv6 echo request: source rewritten, identifier kept, checksum over the new pseudo-header',
      input: [{ pkt: `IPv6(src='${WEB1}', dst='${EXT}')/ICMPv6EchoRequest(id=7, seq=1, data=b'ping')`, meta: 0 }],
      counters: { new: 1 },
      expect: { out: [`IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/ICMPv6EchoRequest(id=7, seq=1, data=b'ping')`] },
    }),
    row({
      name: 'to the node address (meta 1)',
      input: [udp(40000, 64, 1)],
      counters: { new: 1 },
      expect: { out: [`IPv6(src='2001:2::11', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'q'`] },
    }),
    row({
      // A node-b pod's packet, decapsulated here, 1 byte above this node's uplink MTU of 1500.
      name: 'a node-b pod above the uplink MTU: drop-too-big, Packet Too Big (MTU 1500) from the pod gateway to error',
      input: [{ pkt: BIG_REMOTE, meta: 0 }],
      counters: { 'drop-too-big': 1, 'icmp-packet-too-big': 1 },
      expect: {
        error: [
          `IPv6(src='2001:2:0:a1::1', dst='2001:2:0:a2::9')/ICMPv6PacketTooBig(mtu=1500)/bytes(${BIG_REMOTE})[:1232]`,
        ],
      },
    }),
    row({
      name: 'exactly the uplink MTU: SNATed',
      input: [{ pkt: `IPv6(src='2001:2:0:a2::9', dst='${EXT}')/UDP(sport=40000, dport=53)/Raw(b'x' * 1452)`, meta: 0 }],
      counters: { new: 1 },
      expect: {
        out: [`IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/Raw(b'x' * 1452)`],
      },
    }),
    row({
      name: 'a local pod above the uplink MTU (past pod-ingress6 only by a misconfiguration): drop-too-big, no error',
      input: [{ pkt: `IPv6(src='${WEB1}', dst='${EXT}')/UDP(sport=40000, dport=53)/Raw(b'x' * 1453)`, meta: 0 }],
      counters: { 'drop-too-big': 1 },
    }),
    row({
      name: 'an ICMPv6 error of a node-b pod above the uplink MTU: drop-too-big, no error about an error',
      input: [
        {
          pkt: `IPv6(src='2001:2:0:a2::9', dst='${EXT}')/ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='2001:2:0:a2::9')/UDP(sport=53, dport=40000)/Raw(b'x' * 1405)`,
          meta: 0,
        },
      ],
      counters: { 'drop-too-big': 1 },
    }),
    row({
      name: 'a node-b pod above the uplink MTU with no free slot for the error: drop-too-big, drop-no-buffer',
      slots: 1,
      input: [{ pkt: BIG_REMOTE, meta: 0 }],
      counters: { 'drop-too-big': 1, 'drop-no-buffer': 1 },
    }),
    row({
      name: 'the second packet of the connection: established',
      input: [udp(40000), udp(40000)],
      counters: { new: 1, established: 1 },
    }),
    row({
      // The burst's lookup missed for both packets; the second must see the connection the first created.
      name: 'the second packet of the connection, burst lookup on: established',
      state: { conntrack: { seed: 7, burstMinLive: 0 } },
      input: [udp(40000), udp(40000)],
      counters: { new: 1, established: 1 },
    }),
    row({
      name: 'rebound, then the next packet of the same burst, burst lookup on: established on the new binding',
      state: { conntrack: { seed: 7, burstMinLive: 0 } },
      setup: (st) => void connection6(st, 'udp', WEB1, 40000, EXT, 53, '2001:2::254'),
      input: [udp(40000), udp(40000)],
      counters: { rebound: 1, new: 1, established: 1 },
      expect: {
        out: [
          `IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'q'`,
          `IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'q'`,
        ],
      },
    }),
    row({
      name: 'bound to an IPv6 address no longer owned: rebound to the new one',
      setup: (st) => void connection6(st, 'udp', WEB1, 40000, EXT, 53, '2001:2::254'),
      input: [udp(40000)],
      counters: { rebound: 1, new: 1 },
      expect: { out: [`IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'q'`] },
    }),
    {
      name: 'a node without an IPv6 side: drop-no-ipv6',
      input: [udp(40000)],
      counters: { 'drop-no-ipv6': 1 },
    },
    row({ name: 'Hop Limit 1: drop-hop-limit', input: [udp(40000, 1)], counters: { 'drop-hop-limit': 1 } }),
    row({
      name: 'a port unreachable from a pod about a reply: related, outer source and quoted destination the NAT binding',
      ...dns(),
      input: [err(`ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${WEB1}', hlim=63)/${ANSWER}`)],
      counters: { related: 1 },
      expect: {
        out: [
          `IPv6(src='${EGRESS}', dst='${EXT}', hlim=63)/ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${EGRESS}', hlim=63)/${ANSWER}`,
        ],
      },
    }),
    row({
      name: 'a parameter problem about a TCP segment quoted to 8 bytes (its checksum not quoted): related',
      setup: (st) => void connection6(st, 'tcp', WEB1, 41000, EXT, 443, EGRESS),
      input: [err(`ICMPv6ParamProblem(code=0, ptr=6)/bytes(IPv6(src='${EXT}', dst='${WEB1}')/${SYNACK})[:48]`)],
      counters: { related: 1 },
      expect: {
        out: [
          `IPv6(src='${EGRESS}', dst='${EXT}', hlim=63)/ICMPv6ParamProblem(code=0, ptr=6)/bytes(IPv6(src='${EXT}', dst='${EGRESS}')/${SYNACK})[:48]`,
        ],
      },
    }),
    row({
      name: 'a quote with no tuple (a later fragment, a neighbour solicitation): drop-related-untracked',
      ...dns(),
      input: [
        err(`ICMPv6TimeExceeded()/IPv6(src='${EXT}', dst='${WEB1}')/IPv6ExtHdrFragment(offset=10, nh=17)/(b'x'*8)`),
        err(`ICMPv6DestUnreach()/IPv6(src='${EXT}', dst='${WEB1}')/ICMPv6ND_NS(tgt='${WEB1}')`),
      ],
      counters: { 'drop-related-untracked': 2 },
    }),
    row({
      name: 'an error to another address than the quoted source: drop-related-mismatch',
      ...dns(),
      input: [err(`ICMPv6DestUnreach(code=4)/IPv6(src='2001:2::101', dst='${WEB1}')/${ANSWER}`)],
      counters: { 'drop-related-mismatch': 1 },
    }),
    row({
      name: 'an error about no connection: drop-related-no-conntrack (never sent with the pod address)',
      input: [err(`ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${WEB1}')/${ANSWER}`)],
      counters: { 'drop-related-no-conntrack': 1 },
    }),
    row({
      name: 'an error whose quote is the original direction of the connection: drop-related-reply-direction',
      ...dns(),
      input: [
        {
          pkt: `IPv6(src='${WEB1}', dst='${EGRESS}')/ICMPv6DestUnreach(code=4)/IPv6(src='${EGRESS}', dst='${EXT}')/UDP(sport=40000, dport=53)`,
          meta: 0,
        },
      ],
      counters: { 'drop-related-reply-direction': 1 },
    }),
    row({
      name: 'an error about a connection whose kept peer is another address (a stand-in clash): drop-key-clash',
      setup: (st) => void connection6(st, 'udp', WEB1, 40000, EXT, 53, EGRESS, '2001:2::101'),
      input: [err(`ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${WEB1}')/${ANSWER}`)],
      counters: { 'drop-key-clash': 1 },
    }),
    row({
      name: 'a hit whose kept addresses are another destination (a stand-in clash): drop-key-clash',
      setup: (st) => void connection6(st, 'udp', WEB1, 40000, EXT, 53, '2001:2::253', '2001:2::101'),
      input: [udp(40000)],
      counters: { 'drop-key-clash': 1 },
    }),
    row({
      name: 'the reply direction of a tracked connection: drop-reply-direction',
      setup: (st) => void connection6(st, 'udp', EXT, 53, WEB1, 40000),
      input: [udp(40000)],
      counters: { 'drop-reply-direction': 1 },
    }),
    row({
      name: 'a full table: drop-ct-full',
      state: { conntrack: { seed: 7 }, ipv6Connections: 1 },
      input: [udp(40000), udp(40001)],
      counters: { new: 1, 'drop-ct-full': 1 },
    }),
    row({
      name: 'a second connection of a pod at its per-pod limit: drop-ct-limit',
      state: { conntrack: { seed: 7, perHostLimit: 1 } },
      input: [udp(40000), udp(40001)],
      counters: { new: 1, 'drop-ct-limit': 1 },
    }),
    row({
      name: 'an echo reply cannot open a connection: drop-ct-invalid',
      input: [{ pkt: `IPv6(src='${WEB1}', dst='${EXT}')/ICMPv6EchoReply(id=9)`, meta: 0 }],
      counters: { 'drop-ct-invalid': 1 },
    }),
    row({
      name: 'one SNAT port for two connections to one destination: drop-snat-exhausted',
      state: { conntrack: { seed: 7, portRange: [5000, 5000] } },
      input: [udp(40000), udp(40001)],
      counters: { new: 1, 'drop-snat-exhausted': 1 },
    }),
  ],
};
