/**
 * unsnat6 rows (engine/stages/unsnat6.ts; docs/ipv6.md §2.c): IPv6 frames from the segment to node-a (base6.ts),
 * with the connection the pod's request created in `setup`.
 */
import { Unsnat6 } from '../../../engine/stages/index.js';
import { connection6, dual } from './base6.js';
import { eth, type CaseTable, type Row } from './harness.js';

const WEB1 = '2001:2:0:a1::5';
const EXT = '2001:2::100';
const EGRESS = '2001:2::253';
const REPLY = "UDP(sport=53, dport=40000)/b'answer'";
const ROUTER = '2001:2::1';
const QUERY = "UDP(sport=40000, dport=53)/b'q'";
const ACK = "TCP(sport=41000, dport=443, flags='A', seq=1, ack=5001)";
const BIG_REPLY = "UDP(sport=53, dport=40000)/(b'z'*1420)";
/** An ICMPv6 error the router sends to the egress IP (`body`: the message and its quote). */
const fromRouter = (body: string, extra = '') => eth(`IPv6(src='${ROUTER}', dst='${EGRESS}'${extra})/${body}`);
const toEgress = (l4: string, extra = '') => eth(`IPv6(src='${EXT}', dst='${EGRESS}'${extra})/${l4}`);
const d = dual();
/** web-1's DNS query [2001:2:0:a1::5]:40000 → [2001:2::100]:53, SNATed to the egress IP 2001:2::253. */
const query = (src = WEB1, recorded?: string) => ({
  setup: (st: Parameters<NonNullable<Row['setup']>>[0]) =>
    void connection6(st, 'udp', src, 40000, EXT, 53, EGRESS, recorded),
});
const row = (r: Row): Row => ({ config: d, ...query(), ...r });

export const cases: CaseTable = {
  stage: (st) => new Unsnat6(st),
  l3: 14,
  rows: [
    row({
      name: 'a reply to a local pod: destination translated back, Hop Limit decremented, to-pod as an L3 packet',
      input: [toEgress(REPLY)],
      counters: { 'un-snat': 1 },
      expect: { 'to-pod': [`IPv6(src='${EXT}', dst='${WEB1}', hlim=63)/${REPLY}`] },
    }),
    row({
      name: 'a reply for a node-b pod whose IPv6 Egress is here: un-SNATed, to-remote with node-b as outer destination',
      ...query('2001:2:0:a2::9'),
      input: [toEgress(REPLY)],
      counters: { 'un-snat-remote': 1 },
      expect: { 'to-remote': [`IPv6(src='${EXT}', dst='2001:2:0:a2::9', hlim=63)/${REPLY}`] },
    }),
    row({
      name: 'replies with the burst lookup on: un-SNATed, a malformed one in the same burst dropped',
      state: { conntrack: { seed: 7, burstMinLive: 0 } },
      input: [toEgress(REPLY), toEgress(REPLY, ', plen=300'), toEgress(REPLY)],
      counters: { 'un-snat': 2, 'drop-truncated': 1 },
    }),
    row({
      name: 'an ICMPv6 echo reply to a ping: identifier and destination back, checksum updated',
      setup: (st) => void connection6(st, 'icmp', WEB1, 7, EXT, 0, EGRESS),
      input: [toEgress("ICMPv6EchoReply(id=7, seq=1, data=b'ping')")],
      counters: { 'un-snat': 1 },
      expect: { 'to-pod': [`IPv6(src='${EXT}', dst='${WEB1}', hlim=63)/ICMPv6EchoReply(id=7, seq=1, data=b'ping')`] },
    }),
    row({
      name: 'a TCP SYN/ACK behind a destination options header',
      setup: (st) => void connection6(st, 'tcp', WEB1, 41000, EXT, 443, EGRESS),
      input: [toEgress("IPv6ExtHdrDestOpt()/TCP(sport=443, dport=41000, flags='SA', seq=5000, ack=1)")],
      counters: { 'un-snat': 1 },
    }),
    row({
      name: 'a destination unreachable from the router about a query: related, outer destination and quote back to the pod',
      input: [fromRouter(`ICMPv6DestUnreach(code=0)/IPv6(src='${EGRESS}', dst='${EXT}', hlim=63)/${QUERY}`)],
      counters: { related: 1 },
      expect: {
        'to-pod': [
          `IPv6(src='${ROUTER}', dst='${WEB1}', hlim=63)/ICMPv6DestUnreach(code=0)/IPv6(src='${WEB1}', dst='${EXT}', hlim=63)/${QUERY}`,
        ],
      },
    }),
    row({
      name: 'a packet too big about a TCP segment behind a destination options header: related, MTU kept',
      setup: (st) => void connection6(st, 'tcp', WEB1, 41000, EXT, 443, EGRESS),
      input: [
        fromRouter(`ICMPv6PacketTooBig(mtu=1280)/IPv6(src='${EGRESS}', dst='${EXT}')/IPv6ExtHdrDestOpt()/${ACK}`),
      ],
      counters: { related: 1 },
      expect: {
        'to-pod': [
          `IPv6(src='${ROUTER}', dst='${WEB1}', hlim=63)/ICMPv6PacketTooBig(mtu=1280)/IPv6(src='${WEB1}', dst='${EXT}')/IPv6ExtHdrDestOpt()/${ACK}`,
        ],
      },
    }),
    row({
      name: 'a time exceeded about a ping: related, the quoted identifier and echo checksum back',
      setup: (st) => void connection6(st, 'icmp', WEB1, 7, EXT, 0, EGRESS),
      input: [
        fromRouter(`ICMPv6TimeExceeded()/IPv6(src='${EGRESS}', dst='${EXT}', hlim=1)/ICMPv6EchoRequest(id=7, seq=1)`),
      ],
      counters: { related: 1 },
      expect: {
        'to-pod': [
          `IPv6(src='${ROUTER}', dst='${WEB1}', hlim=63)/ICMPv6TimeExceeded()/IPv6(src='${WEB1}', dst='${EXT}', hlim=1)/ICMPv6EchoRequest(id=7, seq=1)`,
        ],
      },
    }),
    row({
      name: 'an error about a query of a node-b pod whose IPv6 Egress is here: related, to-remote',
      ...query('2001:2:0:a2::9'),
      input: [fromRouter(`ICMPv6DestUnreach(code=3)/IPv6(src='${EGRESS}', dst='${EXT}')/${QUERY}`)],
      counters: { related: 1 },
      expect: {
        'to-remote': [
          `IPv6(src='${ROUTER}', dst='2001:2:0:a2::9', hlim=63)/ICMPv6DestUnreach(code=3)/IPv6(src='2001:2:0:a2::9', dst='${EXT}')/${QUERY}`,
        ],
      },
    }),
    row({
      name: 'a quote with no tuple (a later fragment, a router solicitation): drop-related-untracked',
      input: [
        fromRouter(
          `ICMPv6TimeExceeded(code=1)/IPv6(src='${EGRESS}', dst='${EXT}')/IPv6ExtHdrFragment(offset=10, nh=17)/(b'x'*8)`,
        ),
        fromRouter(`ICMPv6DestUnreach()/IPv6(src='${EGRESS}', dst='${EXT}')/ICMPv6ND_RS()`),
      ],
      counters: { 'drop-related-untracked': 2 },
    }),
    row({
      name: 'an error whose quote has another source than the outer destination: drop-related-mismatch',
      input: [fromRouter(`ICMPv6DestUnreach()/IPv6(src='2001:2::11', dst='${EXT}')/${QUERY}`)],
      counters: { 'drop-related-mismatch': 1 },
    }),
    row({
      name: 'an error about no connection: drop-related-no-conntrack',
      input: [fromRouter(`ICMPv6DestUnreach()/IPv6(src='${EGRESS}', dst='${EXT}')/UDP(sport=40001, dport=53)`)],
      counters: { 'drop-related-no-conntrack': 1 },
    }),
    row({
      name: 'an error whose reversed quote is the original direction of a connection: drop-related-orig-direction',
      // A connection of web-1 to the egress IP itself: its original tuple reversed is a quote from that address.
      setup: (st) => void connection6(st, 'udp', WEB1, 40000, EGRESS, 53),
      input: [fromRouter(`ICMPv6DestUnreach()/IPv6(src='${EGRESS}', dst='${WEB1}')/UDP(sport=53, dport=40000)`)],
      counters: { 'drop-related-orig-direction': 1 },
    }),
    row({
      name: 'an error about a connection whose kept peer is another address: drop-key-clash',
      ...query(WEB1, '2001:2::101'),
      input: [fromRouter(`ICMPv6DestUnreach()/IPv6(src='${EGRESS}', dst='${EXT}')/${QUERY}`)],
      counters: { 'drop-key-clash': 1 },
    }),
    row({
      name: 'an error with Hop Limit 1, and one larger than the pod MTU: drop-hop-limit, drop-too-big (no error sent)',
      input: [
        fromRouter(`ICMPv6DestUnreach()/IPv6(src='${EGRESS}', dst='${EXT}')/${QUERY}`, ', hlim=1'),
        fromRouter(`ICMPv6DestUnreach()/IPv6(src='${EGRESS}', dst='${EXT}')/UDP(sport=40000, dport=53)/(b'z'*1400)`),
      ],
      counters: { 'drop-hop-limit': 1, 'drop-too-big': 1 },
    }),
    row({
      name: 'a reply larger than the pod MTU: drop-too-big, Packet Too Big (MTU 1450) from the egress IP to its sender',
      input: [toEgress(BIG_REPLY)],
      counters: { 'drop-too-big': 1, 'icmp-packet-too-big': 1 },
      expect: {
        error: [
          `IPv6(src='${EGRESS}', dst='${EXT}')/ICMPv6PacketTooBig(mtu=1450)/bytes(IPv6(src='${EXT}', dst='${EGRESS}')/${BIG_REPLY})[:1232]`,
        ],
      },
    }),
    row({
      name: 'a reply larger than the pod MTU with no free slot for the error: drop-no-buffer',
      slots: 1,
      input: [toEgress(BIG_REPLY)],
      counters: { 'drop-too-big': 1, 'drop-no-buffer': 1 },
    }),
    row({
      name: 'an echo request to the egress IP or the node that is no reply: to-local (the responder)',
      input: [
        toEgress('ICMPv6EchoRequest(id=9, seq=1)'),
        eth(`IPv6(src='${EXT}', dst='2001:2::11')/ICMPv6EchoRequest(id=9)`),
      ],
      counters: { 'to-local': 2 },
      expect: {
        local: [
          toEgress('ICMPv6EchoRequest(id=9, seq=1)'),
          eth(`IPv6(src='${EXT}', dst='2001:2::11')/ICMPv6EchoRequest(id=9)`),
        ],
      },
    }),
    {
      name: 'a node without an IPv6 side: drop-no-ipv6',
      input: [toEgress(REPLY)],
      counters: { 'drop-no-ipv6': 1 },
    },
    row({
      name: 'a Payload Length past the frame: drop-truncated',
      input: [toEgress(REPLY, ', plen=300')],
      counters: { 'drop-truncated': 1 },
    }),
    row({
      name: 'a destination options header reaching past the payload: drop-ext-truncated',
      input: [eth(`IPv6(src='${EXT}', dst='${EGRESS}', nh=60, plen=4)/b'\\x11\\x01\\x00\\x00'`)],
      counters: { 'drop-ext-truncated': 1 },
    }),
    row({
      name: 'an option running past its header: drop-bad-ext-header',
      input: [toEgress(`b'\\x11\\x00\\x01\\x08\\x00\\x00\\x00\\x00'/${REPLY}`, ', nh=60')],
      counters: { 'drop-bad-ext-header': 1 },
    }),
    row({
      name: 'nine extension headers: drop-chain-too-long',
      input: [toEgress(`${Array(9).fill('IPv6ExtHdrDestOpt()').join('/')}/${REPLY}`)],
      counters: { 'drop-chain-too-long': 1 },
    }),
    row({
      name: 'a hop-by-hop header after a routing header: drop-hop-by-hop-not-first',
      input: [toEgress(`IPv6ExtHdrRouting()/IPv6ExtHdrHopByHop()/${REPLY}`)],
      counters: { 'drop-hop-by-hop-not-first': 1 },
    }),
    row({
      name: 'AH (Next Header 51): drop-unknown-next-header',
      input: [toEgress("(b'a'*24)", ', nh=51')],
      counters: { 'drop-unknown-next-header': 1 },
    }),
    row({
      name: 'a routing header with segments left: drop-source-route',
      input: [toEgress(`IPv6ExtHdrRouting(addresses=['2001:2::9'], segleft=1)/${REPLY}`)],
      counters: { 'drop-source-route': 1 },
    }),
    row({
      name: 'a later fragment: drop-fragment',
      input: [toEgress("IPv6ExtHdrFragment(offset=100, id=9, nh=17)/(b'x'*16)")],
      counters: { 'drop-fragment': 1 },
    }),
    row({
      name: 'a UDP header cut short: drop-l4-truncated',
      input: [toEgress("b'\\x00\\x35'", ', nh=17')],
      counters: { 'drop-l4-truncated': 1 },
    }),
    row({
      name: 'a UDP Length below 8: drop-l4-bad',
      input: [toEgress("UDP(sport=53, dport=40000, len=5)/b'answer'")],
      counters: { 'drop-l4-bad': 1 },
    }),
    row({
      name: 'No Next Header (59): drop-unsupported-proto',
      input: [eth(`IPv6(src='${EXT}', dst='${EGRESS}', nh=59)`)],
      counters: { 'drop-unsupported-proto': 1 },
    }),
    row({
      name: 'to an address node-a does not own (its pod CIDR but no pod included): drop-not-ours',
      input: [
        eth(`IPv6(src='${EXT}', dst='2001:2::99')/${REPLY}`),
        eth(`IPv6(src='${EXT}', dst='2001:2:0:a1::99')/${REPLY}`),
      ],
      counters: { 'drop-not-ours': 2 },
    }),
    row({
      name: 'to a local pod address: to-pod-address, inbound with the walk in meta and the pod port in oport',
      input: [
        eth(`IPv6(src='${EXT}', dst='${WEB1}')/TCP(sport=5000, dport=80, flags='S')`),
        eth(`IPv6(src='${EXT}', dst='2001:2:0:a1::6')/IPv6ExtHdrDestOpt()/UDP(sport=5000, dport=53)`),
      ],
      counters: { 'to-pod-address': 2 },
    }),
    row({
      name: "an ICMPv6 error to a local pod's address: to-pod-address (inbound6 finds its connection), not related here",
      input: [
        eth(
          `IPv6(src='2001:2::1', dst='${WEB1}')/ICMPv6DestUnreach(code=1)/IPv6(src='${WEB1}', dst='${EXT}')/TCP(sport=80, dport=5000, flags='SA')`,
        ),
      ],
      counters: { 'to-pod-address': 1 },
    }),
    row({
      name: 'an atomic fragment (offset 0, M clear) to a pod address is no fragment: to-pod-address',
      input: [eth(`IPv6(src='${EXT}', dst='${WEB1}')/IPv6ExtHdrFragment(m=0, id=3)/${REPLY}`)],
      counters: { 'to-pod-address': 1 },
    }),
    row({
      name: 'fragments, first and later, to the egress IP and to a pod address (no reassembly): drop-fragment',
      input: [
        toEgress(`IPv6ExtHdrFragment(m=1, id=9)/${REPLY}`),
        eth(`IPv6(src='${EXT}', dst='${WEB1}')/IPv6ExtHdrFragment(m=1, id=10)/${REPLY}`),
        eth(`IPv6(src='${EXT}', dst='${WEB1}')/IPv6ExtHdrFragment(offset=2, id=10, nh=17)/(b'x'*8)`),
      ],
      counters: { 'drop-fragment': 3 },
    }),
    row({
      name: 'a neighbour solicitation for a pod address: drop-ndp',
      input: [
        eth(
          `IPv6(src='${EXT}', dst='${WEB1}', hlim=255)/ICMPv6ND_NS(tgt='${WEB1}')/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:64')`,
        ),
      ],
      counters: { 'drop-ndp': 1 },
    }),
    row({
      name: 'a neighbour solicitation for the egress IP (NDP on the uplink not built): drop-ndp',
      input: [toEgress(`ICMPv6ND_NS(tgt='${EGRESS}')/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:64')`, ', hlim=255')],
      counters: { 'drop-ndp': 1 },
    }),
    row({
      name: 'no connection, or the original direction of one: drop-no-connection',
      input: [
        toEgress("UDP(sport=53, dport=40001)/b'answer'"),
        eth(`IPv6(src='${WEB1}', dst='${EGRESS}')/UDP(sport=40000, dport=53)`),
      ],
      counters: { 'drop-no-connection': 2 },
    }),
    row({
      name: 'a reply from another peer sharing the stand-in: drop-key-clash',
      ...query(WEB1, '2001:2::101'),
      input: [toEgress(REPLY)],
      counters: { 'drop-key-clash': 1 },
    }),
    row({
      name: 'an echo request in the reply direction of a ping: drop-ct-invalid',
      setup: (st) => void connection6(st, 'icmp', WEB1, 7, EXT, 0, EGRESS),
      input: [toEgress('ICMPv6EchoRequest(id=7, seq=1)')],
      counters: { 'drop-ct-invalid': 1 },
    }),
    row({
      name: 'Hop Limit 1: drop-hop-limit',
      input: [toEgress(REPLY, ', hlim=1')],
      counters: { 'drop-hop-limit': 1 },
    }),
    row({
      name: 'a reply for a pod no longer here: drop-no-such-pod',
      ...query('2001:2:0:a1::99'),
      input: [toEgress(REPLY)],
      counters: { 'drop-no-such-pod': 1 },
    }),
    row({
      name: 'a reply for an address of no pod CIDR: drop-no-such-pod',
      ...query('2001:2:ff::9'),
      input: [toEgress(REPLY)],
      counters: { 'drop-no-such-pod': 1 },
    }),
  ],
};
