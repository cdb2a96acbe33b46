/**
 * inbound6 rows (engine/stages/inbound6.ts; docs/ipv6.md §2.h): IPv6 frames from the segment to a local pod's own
 * address on the dual-stack node-a (base6.ts), as unsnat6 hands them on: the walk in `b.meta` (upper layer at
 * offset 40, or 48 behind one 8-byte extension header, then the Next Header), the pod's port in `b.oport`.
 */
import { Inbound6 } from '../../../engine/stages/index.js';
import { accepted6, connection6, dual } from './base6.js';
import { eth, type CaseTable, type Input, type Row } from './harness.js';

const WEB1 = '2001:2:0:a1::5';
const OTHER = '2001:2:0:a1::6';
const EXT = '2001:2::100';
const TCP = 6;
const UDP = 17;
const ICMPV6 = 58;
/** unsnat6's walk result for an upper layer at `l4` bytes from the IPv6 header. */
const walk = (proto: number, l4 = 40) => (l4 << 10) | proto;

const ip6 = (dst = WEB1, extra = '') => `IPv6(src='${EXT}', dst='${dst}'${extra})`;
/** A frame to the pod at port `port` with the walk of its upper layer. */
const to = (
  l4: string,
  proto: number,
  o: { dst?: string; extra?: string; port?: number; at?: number } = {},
): Input => ({
  pkt: eth(`${ip6(o.dst, o.extra)}/${l4}`),
  meta: walk(proto, o.at),
  oport: o.port ?? 0,
});
const SYN = (sport = 5000) => `TCP(sport=${sport}, dport=80, flags='S', seq=1)`;
/** A UDP datagram of 1411 bytes with its IPv6 header, above the pod MTU of 1450. */
const BIG = "UDP(sport=5353, dport=53)/(b'x'*1403)";
/** The pod's SYN-ACK on the connection EXT:5000 → web-1:80 it accepted (what a router's error quotes). */
const ABOUT_ANSWER = `ICMPv6DestUnreach(code=1)/IPv6(src='${WEB1}', dst='${EXT}')/TCP(sport=80, dport=5000, flags='SA')`;
/** The router 2001:2::1's ICMPv6 error to web-1, as unsnat6 hands it on. */
const routerError = (body: string): Input => ({
  pkt: eth(`IPv6(src='2001:2::1', dst='${WEB1}')/${body}`),
  meta: walk(ICMPV6),
  oport: 0,
});
/** The connection EXT:5000 → web-1:80 the pod accepted. */
const acceptedWeb = (st: Parameters<NonNullable<Row['setup']>>[0]) => void accepted6(st, 'tcp', EXT, 5000, WEB1, 80);
const d = dual();
const row = (r: Row): Row => ({ config: d, ...r });

export const cases: CaseTable = {
  stage: (st) => new Inbound6(st),
  l3: 14,
  rows: [
    row({
      name: 'a SYN to a local pod address: new, tracked without NAT, Hop Limit decremented, to-pod as L3',
      input: [to(SYN(), TCP)],
      counters: { new: 1 },
      expect: { 'to-pod': [`${ip6(WEB1, ', hlim=63')}/${SYN()}`] },
    }),
    row({
      name: 'the retransmitted SYN: established',
      input: [to(SYN(), TCP), to(SYN(), TCP)],
      counters: { new: 1, established: 1 },
    }),
    row({
      name: 'an ACK before the pod answered the SYN: drop-ct-invalid (as Linux in SYN_SENT)',
      input: [to(SYN(), TCP), to("TCP(sport=5000, dport=80, flags='A', seq=2)", TCP)],
      counters: { new: 1, 'drop-ct-invalid': 1 },
    }),
    row({
      name: 'an ACK opens nothing (no loose pickup): drop-ct-invalid',
      input: [to("TCP(sport=5000, dport=80, flags='A', seq=2, ack=9)", TCP)],
      counters: { 'drop-ct-invalid': 1 },
    }),
    row({
      name: 'UDP behind a destination options header to the pod at port 1: new, to-pod',
      input: [to("IPv6ExtHdrDestOpt()/UDP(sport=5353, dport=53)/b'q'", UDP, { dst: OTHER, port: 1, at: 48 })],
      counters: { new: 1 },
      expect: { 'to-pod': [`${ip6(OTHER, ', hlim=63')}/IPv6ExtHdrDestOpt()/UDP(sport=5353, dport=53)/b'q'`] },
    }),
    row({
      name: 'an ICMPv6 echo request opens a connection; an echo reply opens none: drop-ct-invalid',
      input: [
        to("ICMPv6EchoRequest(id=9, seq=1, data=b'ping')", ICMPV6),
        to("ICMPv6EchoReply(id=10, seq=1, data=b'pong')", ICMPV6),
      ],
      counters: { new: 1, 'drop-ct-invalid': 1 },
    }),
    row({
      name: 'a full table of accepted IPv6 connections: drop-ct-full',
      state: { inboundConnections: 1 },
      input: [to(SYN(5000), TCP), to(SYN(5001), TCP)],
      counters: { new: 1, 'drop-ct-full': 1 },
    }),
    row({
      name: 'a second connection to a pod at its per-pod limit: drop-ct-limit',
      state: { conntrack: { seed: 7, perHostLimit: 1 } },
      input: [to(SYN(5000), TCP), to(SYN(5001), TCP)],
      counters: { new: 1, 'drop-ct-limit': 1 },
    }),
    row({
      name: "a packet opening the reverse of the pod's SNAT66 connection (forged): drop-snat-flow",
      setup: (st) => void connection6(st, 'udp', WEB1, 40000, EXT, 53, '2001:2::253'),
      input: [to("UDP(sport=53, dport=40000)/b'forged'", UDP)],
      counters: { 'drop-snat-flow': 1 },
    }),
    row({
      name: 'an accepted connection recorded with another full destination of the same stand-ins: drop-key-clash',
      setup: (st) => void accepted6(st, 'tcp', EXT, 5000, WEB1, 80, '2001:2::99'),
      input: [to("TCP(sport=5000, dport=80, flags='A', seq=2, ack=9)", TCP)],
      counters: { 'drop-key-clash': 1 },
    }),
    row({
      name: 'Hop Limit 1: drop-hop-limit',
      input: [to(SYN(), TCP, { extra: ', hlim=1' })],
      counters: { 'drop-hop-limit': 1 },
    }),
    row({
      name: 'a packet above the pod MTU (1450): drop-too-big, Packet Too Big (MTU 1450) from the node address to error',
      input: [to(BIG, UDP)],
      counters: { 'drop-too-big': 1, 'icmp-packet-too-big': 1 },
      expect: {
        error: [`IPv6(src='2001:2::11', dst='${EXT}')/ICMPv6PacketTooBig(mtu=1450)/bytes(${ip6()}/${BIG})[:1232]`],
      },
    }),
    row({
      name: 'the same on a node without an IPv6 address: the error comes from the pod gateway',
      config: dual({ nodeIp: null }),
      input: [to(BIG, UDP)],
      counters: { 'drop-too-big': 1, 'icmp-packet-too-big': 1 },
      expect: {
        error: [`IPv6(src='2001:2:0:a1::1', dst='${EXT}')/ICMPv6PacketTooBig(mtu=1450)/bytes(${ip6()}/${BIG})[:1232]`],
      },
    }),
    row({
      name: 'the same with no free slot for the error: drop-too-big, drop-no-buffer',
      slots: 1,
      input: [to(BIG, UDP)],
      counters: { 'drop-too-big': 1, 'drop-no-buffer': 1 },
    }),
    row({
      name: 'an ICMPv6 error above the pod MTU: drop-too-big, no error about an error',
      setup: acceptedWeb,
      input: [
        routerError(
          `ICMPv6DestUnreach(code=1)/IPv6(src='${WEB1}', dst='${EXT}')/UDP(sport=80, dport=5000)/(b'x'*1355)`,
        ),
      ],
      counters: { 'drop-too-big': 1 },
    }),
    row({
      name: "a router's error about the pod's answer on an accepted connection: related, Hop Limit decremented, to-pod un-NATed",
      setup: acceptedWeb,
      input: [routerError(ABOUT_ANSWER)],
      counters: { related: 1 },
      expect: { 'to-pod': [`IPv6(src='2001:2::1', dst='${WEB1}', hlim=63)/${ABOUT_ANSWER}`] },
    }),
    row({
      name: 'an ICMPv6 error about a packet of no accepted connection: drop-related-no-conntrack',
      input: [routerError(ABOUT_ANSWER)],
      counters: { 'drop-related-no-conntrack': 1 },
    }),
    row({
      name: 'an ICMPv6 error quoting a packet not from the pod it is sent to: drop-related-mismatch',
      setup: acceptedWeb,
      input: [
        routerError(
          `ICMPv6DestUnreach(code=1)/IPv6(src='${OTHER}', dst='${EXT}')/TCP(sport=80, dport=5000, flags='SA')`,
        ),
      ],
      counters: { 'drop-related-mismatch': 1 },
    }),
    row({
      name: 'an ICMPv6 error quoting an ICMPv6 error (no ports): drop-related-untracked',
      setup: acceptedWeb,
      input: [routerError(`ICMPv6DestUnreach(code=1)/IPv6(src='${WEB1}', dst='${EXT}')/ICMPv6DestUnreach(code=4)`)],
      counters: { 'drop-related-untracked': 1 },
    }),
    row({
      // A stage-level check: the quote is the connection's first SYN, so the error would travel to its client.
      name: "an ICMPv6 error quoting the connection's original direction: drop-related-reply-direction",
      setup: acceptedWeb,
      input: [
        {
          pkt: eth(`IPv6(src='2001:2::1', dst='${EXT}')/ICMPv6DestUnreach(code=1)/${ip6()}/${SYN()}`),
          meta: walk(ICMPV6),
          oport: 0,
        },
      ],
      counters: { 'drop-related-reply-direction': 1 },
    }),
    row({
      name: 'an ICMPv6 error about an accepted connection recorded with another full peer of the same stand-ins: drop-key-clash',
      setup: (st) => void accepted6(st, 'tcp', EXT, 5000, WEB1, 80, '2001:2::99'),
      input: [routerError(ABOUT_ANSWER)],
      counters: { 'drop-key-clash': 1 },
    }),
  ],
};
