/**
 * pod-ingress6 rows (engine/stages/pod-ingress6.ts; docs/ipv6.md §2.a): IPv6 packets from pod port `port` of a
 * dual-stack node-a (base6.ts).
 */
import { PodIngress6 } from '../../../engine/stages/index.js';
import { accepted6, base6, connection6, dual } from './base6.js';
import { ip, type CaseTable, type Row } from './harness.js';

const UDP = "UDP(sport=40000, dport=53)/b'query'";
const WEB1 = '2001:2:0:a1::5';
const from = (dst: string, extra = '') => `IPv6(src='${WEB1}', dst='${dst}'${extra})`;
const EXT = '2001:2::100';
const SYNACK = "TCP(sport=80, dport=5000, flags='SA', seq=100, ack=2)";
const BIG = "UDP(sport=1, dport=2)/(b'z'*1420)";
/** ICMPv6 errors to web-1 come from node-a's IPv6 pod gateway, the first address of 2001:2:0:a1::/64. */
const GW_TO_POD = `IPv6(src='2001:2:0:a1::1', dst='${WEB1}')`;
const d = dual();
const row = (r: Row): Row => ({ config: d, ...r });
/** web-1's port unreachable about a segment EXT:5000 → web-1:80 it received. */
const POD_ERROR = `ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${WEB1}')/TCP(sport=5000, dport=80, flags='A')`;
const HLIM1 = `${from(EXT, ', hlim=1')}/${UDP}`;
const HLIM1_ERROR = `${GW_TO_POD}/ICMPv6TimeExceeded(code=0)/${HLIM1}`;

export const cases: CaseTable = {
  stage: (st) => new PodIngress6(st),
  l3: 0,
  rows: [
    row({
      name: 'to an external host with the Egress hosted here: snat with the egress IP (entry 0)',
      input: [{ pkt: `${from(EXT)}/${UDP}`, port: 0 }],
      counters: { 'egress-local': 1 },
      expect: { snat: [`${from(EXT)}/${UDP}`] },
    }),
    row({
      name: 'a pod without an IPv6 Egress: snat with the node address (entry 1)',
      input: [{ pkt: `IPv6(src='2001:2:0:a1::6', dst='${EXT}')/${UDP}`, port: 1 }],
      counters: { 'node-snat': 1 },
    }),
    row({
      name: 'an Egress hosted on node-c: tunnel with node-c transport IP as outer destination',
      input: [{ pkt: `IPv6(src='2001:2:0:a1::7', dst='${EXT}')/${UDP}`, port: 2 }],
      counters: { 'egress-remote': 1 },
    }),
    row({
      name: 'to the service CIDR: bypass, snat with the node address',
      input: [{ pkt: `${from('2001:2:0:96::10')}/${UDP}`, port: 0 }],
      counters: { bypass: 1 },
    }),
    row({
      name: 'to another node IPv6 address: bypass',
      input: [{ pkt: `${from('2001:2::12')}/${UDP}`, port: 0 }],
      counters: { bypass: 1 },
    }),
    row({
      name: 'to a local pod: local-pod with its port',
      input: [{ pkt: `${from('2001:2:0:a1::6')}/${UDP}`, port: 0 }],
      counters: { 'to-local-pod': 1 },
      expect: { 'local-pod': [`${from('2001:2:0:a1::6')}/${UDP}`] },
    }),
    row({
      name: 'to a pod of node-b: remote-pod with node-b as outer destination',
      input: [{ pkt: `${from('2001:2:0:a2::8')}/${UDP}`, port: 0 }],
      counters: { 'to-remote-pod': 1 },
    }),
    row({
      name: 'UDP behind a destination options header: classified as without it',
      input: [{ pkt: `${from(EXT)}/IPv6ExtHdrDestOpt()/${UDP}`, port: 0 }],
      counters: { 'egress-local': 1 },
    }),
    row({
      name: 'trailing bytes beyond the Payload Length are cut',
      input: [{ pkt: `bytes(${from(EXT)}/${UDP}) + b'\\x00'*6`, port: 0 }],
      counters: { 'egress-local': 1 },
      expect: { snat: [`${from(EXT)}/${UDP}`] },
    }),
    row({
      name: 'a neighbour solicitation from the pod link-local address: ndp-ignored',
      input: [
        `IPv6(src='fe80::5', dst='ff02::1:ff00:1', hlim=255)/ICMPv6ND_NS(tgt='fe80::1')`,
        `IPv6(src='::', dst='ff02::2', hlim=255)/ICMPv6ND_RS()`,
      ],
      counters: { 'ndp-ignored': 2 },
    }),
    row({
      name: 'an MLDv2 report from the pod link-local address: mld-ignored',
      input: [`IPv6(src='fe80::5', dst='ff02::16', hlim=1)/ICMPv6MLReport2()`],
      counters: { 'mld-ignored': 1 },
    }),
    {
      name: 'a node without an IPv6 side: drop-no-ipv6',
      input: [`${from(EXT)}/${UDP}`],
      counters: { 'drop-no-ipv6': 1 },
    },
    row({
      name: 'three bytes: drop-truncated',
      input: [new Uint8Array([0x60, 0, 0])],
      counters: { 'drop-truncated': 1 },
    }),
    row({
      name: 'a Payload Length past the bytes: drop-truncated',
      input: [`${from(EXT, ', plen=200')}/${UDP}`],
      counters: { 'drop-truncated': 1 },
    }),
    row({
      name: 'a port member no IPv6 pod has: drop-unknown-port',
      input: [{ pkt: `${from(EXT)}/${UDP}`, port: 9 }],
      counters: { 'drop-unknown-port': 1 },
    }),
    row({
      name: 'a destination options header reaching past the payload: drop-ext-truncated',
      input: [`${from(EXT, ', nh=60, plen=4')}/b'\\x11\\x01\\x00\\x00'`],
      counters: { 'drop-ext-truncated': 1 },
    }),
    row({
      name: 'an option running past its header: drop-bad-ext-header',
      input: [`${from(EXT, ', nh=60')}/b'\\x11\\x00\\x01\\x08\\x00\\x00\\x00\\x00'/${UDP}`],
      counters: { 'drop-bad-ext-header': 1 },
    }),
    row({
      name: 'nine extension headers: drop-chain-too-long',
      input: [`${from(EXT)}/${Array(9).fill('IPv6ExtHdrDestOpt()').join('/')}/${UDP}`],
      counters: { 'drop-chain-too-long': 1 },
    }),
    row({
      name: 'a hop-by-hop header after a destination options header: drop-hop-by-hop-not-first',
      input: [`${from(EXT)}/IPv6ExtHdrDestOpt()/IPv6ExtHdrHopByHop()/${UDP}`],
      counters: { 'drop-hop-by-hop-not-first': 1 },
    }),
    row({
      name: 'ESP (Next Header 50): drop-unknown-next-header',
      input: [`${from(EXT, ', nh=50')}/(b'e'*24)`],
      counters: { 'drop-unknown-next-header': 1 },
    }),
    row({
      name: 'a routing header with segments left: drop-source-route',
      input: [`${from(EXT)}/IPv6ExtHdrRouting(addresses=['2001:2::9'], segleft=1)/${UDP}`],
      counters: { 'drop-source-route': 1 },
    }),
    row({
      name: 'a first fragment: drop-fragment',
      input: [`${from(EXT)}/IPv6ExtHdrFragment(m=1, id=7)/${UDP}`],
      counters: { 'drop-fragment': 1 },
    }),
    row({
      name: 'an atomic fragment (offset 0, M clear) is no fragment: classified, egress-local',
      input: [`${from(EXT)}/IPv6ExtHdrFragment(m=0, id=8)/${UDP}`],
      counters: { 'egress-local': 1 },
    }),
    row({
      name: 'a later fragment (no upper-layer header in it): drop-fragment',
      input: [`${from(EXT)}/IPv6ExtHdrFragment(offset=4, id=7, nh=17)/(b'y'*16)`],
      counters: { 'drop-fragment': 1 },
    }),
    row({
      name: 'the SYN-ACK of a connection the pod accepted: no-nat, un-NATed from the pod address, Hop Limit decremented',
      setup: (st) => void accepted6(st, 'tcp', EXT, 5000, WEB1, 80),
      input: [`${from(EXT)}/${SYNACK}`],
      counters: { 'reply-no-nat': 1 },
      expect: { 'no-nat': [`${from(EXT, ', hlim=63')}/${SYNACK}`] },
    }),
    row({
      name: 'an ICMPv6 error the pod sends about a packet of a connection it accepted: related-no-nat, out un-NATed',
      setup: (st) => void accepted6(st, 'tcp', EXT, 5000, WEB1, 80),
      input: [`${from(EXT)}/${POD_ERROR}`],
      counters: { 'related-no-nat': 1 },
      expect: { 'no-nat': [`${from(EXT, ', hlim=63')}/${POD_ERROR}`] },
    }),
    row({
      name: 'the same error with no accepted connection: its Egress (snat6 translates or drops it)',
      input: [`${from(EXT)}/${POD_ERROR}`],
      counters: { 'egress-local': 1 },
    }),
    row({
      name: 'the same error quoting a connection recorded with another full peer: not related, its Egress',
      setup: (st) => void accepted6(st, 'tcp', EXT, 5000, WEB1, 80, '2001:2::99'),
      input: [`${from(EXT)}/${POD_ERROR}`],
      counters: { 'egress-local': 1 },
    }),
    row({
      name: 'the echo reply of an accepted ping and an answer behind a destination options header: no-nat',
      setup: (st) => {
        accepted6(st, 'icmp', EXT, 9, WEB1, 0);
        accepted6(st, 'udp', EXT, 5353, WEB1, 53);
      },
      input: [
        `${from(EXT)}/ICMPv6EchoReply(id=9, seq=1, data=b'pong')`,
        `${from(EXT)}/IPv6ExtHdrDestOpt()/UDP(sport=53, dport=5353)/b'a'`,
      ],
      counters: { 'reply-no-nat': 2 },
    }),
    row({
      name: "an echo request in the reply direction of an accepted ping is the pod's own: reply-refused, its Egress",
      setup: (st) => void accepted6(st, 'icmp', EXT, 9, WEB1, 0),
      input: [`${from(EXT)}/ICMPv6EchoRequest(id=9, seq=2)`],
      counters: { 'reply-refused': 1, 'egress-local': 1 },
    }),
    row({
      name: 'an ACK before the pod answered the SYN (its challenge ACK to a forged one): reply-refused, its Egress',
      setup: (st) => void accepted6(st, 'tcp', EXT, 5000, WEB1, 80),
      input: [`${from(EXT)}/TCP(sport=80, dport=5000, flags='A', seq=9, ack=2)`],
      counters: { 'reply-refused': 1, 'egress-local': 1 },
    }),
    row({
      name: 'a flow the pod opened through SNAT66 on the same tuple stays there: reply-refused, its Egress',
      setup: (st) => {
        accepted6(st, 'udp', EXT, 53, WEB1, 40000);
        connection6(st, 'udp', WEB1, 40000, EXT, 53, '2001:2::253');
      },
      input: [`${from(EXT)}/${UDP}`],
      counters: { 'reply-refused': 1, 'egress-local': 1 },
    }),
    row({
      name: 'an accepted connection recorded with other full addresses of the same stand-ins: reply-refused',
      setup: (st) => void accepted6(st, 'tcp', EXT, 5000, WEB1, 80, '2001:2:0:a1::99'),
      input: [`${from(EXT)}/${SYNACK}`],
      counters: { 'reply-refused': 1, 'egress-local': 1 },
    }),
    row({
      name: 'a pod answering a SYN with SYN+FIN+ACK, a flag set Linux refuses: drop-ct-invalid',
      setup: (st) => void accepted6(st, 'tcp', EXT, 5000, WEB1, 80),
      input: [`${from(EXT)}/TCP(sport=80, dport=5000, flags='FSA', seq=100, ack=2)`],
      counters: { 'drop-ct-invalid': 1 },
    }),
    row({
      name: 'a UDP header cut short: drop-l4-truncated',
      input: [`${from(EXT, ', nh=17')}/b'\\x9c\\x40'`],
      counters: { 'drop-l4-truncated': 1 },
    }),
    row({
      name: 'a UDP Length below 8: drop-l4-bad',
      input: [`${from(EXT)}/UDP(sport=40000, dport=53, len=4)/b'query'`],
      counters: { 'drop-l4-bad': 1 },
    }),
    row({
      name: 'No Next Header (59): drop-unsupported-proto',
      input: [`${from(EXT, ', nh=59')}`],
      counters: { 'drop-unsupported-proto': 1 },
    }),
    row({
      name: 'another source than the pod IPv6 address, or a link-local one outside NDP: drop-spoofed',
      input: [
        { pkt: `IPv6(src='2001:2:0:a1::99', dst='${EXT}')/${UDP}`, port: 0 },
        { pkt: `IPv6(src='fe80::5', dst='${EXT}')/${UDP}`, port: 0 },
        { pkt: `IPv6(src='2001:2:0:a1::99', dst='ff02::1:ff00:1', hlim=255)/ICMPv6ND_NS(tgt='2001:2::11')`, port: 0 },
      ],
      counters: { 'drop-spoofed': 3 },
    }),
    row({
      name: 'a router advertisement or a redirect from a pod: drop-router-message',
      input: [
        `IPv6(src='fe80::5', dst='ff02::1', hlim=255)/ICMPv6ND_RA()`,
        `IPv6(src='fe80::5', dst='fe80::9', hlim=255)/ICMPv6ND_Redirect(tgt='fe80::1', dst='2001:2::100')`,
      ],
      counters: { 'drop-router-message': 2 },
    }),
    row({
      name: 'larger than the pod MTU: drop-too-big, Packet Too Big (MTU 1450) from the pod gateway, 1232 bytes quoted',
      input: [`${from(EXT)}/${BIG}`],
      counters: { 'drop-too-big': 1, 'icmp-packet-too-big': 1 },
      expect: { reply: [`${GW_TO_POD}/ICMPv6PacketTooBig(mtu=1450)/bytes(${from(EXT)}/${BIG})[:1232]`] },
    }),
    row({
      name: 'Hop Limit 1: drop-hop-limit and Time Exceeded to the pod, the packet quoted whole',
      input: [`${from(EXT, ', hlim=1')}/${UDP}`],
      counters: { 'drop-hop-limit': 1, 'icmp-time-exceeded': 1 },
      expect: { reply: [`${GW_TO_POD}/ICMPv6TimeExceeded(code=0)/${from(EXT, ', hlim=1')}/${UDP}`] },
    }),
    row({
      // A bucket of 2 filling at 1000/s: 2 errors at 1000 ms, none for the third, 1 token again at 1001 ms.
      name: 'Hop Limit 1 beyond the error rate limit: the packet dropped, icmp-rate-limited instead of Time Exceeded',
      state: { icmpErrors: { burst: 2 } },
      steps: [
        { at: 1000, input: [HLIM1, HLIM1, HLIM1] },
        { at: 1001, input: [HLIM1] },
      ],
      counters: { 'drop-hop-limit': 4, 'icmp-time-exceeded': 3, 'icmp-rate-limited': 1 },
      expect: { reply: [HLIM1_ERROR, HLIM1_ERROR, HLIM1_ERROR] },
    }),
    row({
      name: 'Packet Too Big is not rate limited (path MTU discovery): 3 with a bucket of 0',
      state: { icmpErrors: { burst: 0 } },
      input: [`${from(EXT)}/${BIG}`, `${from(EXT)}/${BIG}`, `${from(EXT)}/${BIG}`],
      counters: { 'drop-too-big': 3, 'icmp-packet-too-big': 3 },
    }),
    row({
      name: 'no token taken for an error that may not be sent: Hop Limit 1 on an ICMPv6 error, then one on UDP',
      state: { icmpErrors: { burst: 1 } },
      input: [`${from(EXT, ', hlim=1')}/ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${WEB1}')/${UDP}`, HLIM1],
      counters: { 'drop-hop-limit': 2, 'icmp-time-exceeded': 1 },
      expect: { reply: [HLIM1_ERROR] },
    }),
    row({
      name: 'Hop Limit 1 on an ICMPv6 error: drop-hop-limit, no error about an error (RFC 4443 §2.4 e.1)',
      input: [`${from(EXT, ', hlim=1')}/ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${WEB1}')/${UDP}`],
      counters: { 'drop-hop-limit': 1 },
    }),
    row({
      name: 'Hop Limit 1 with no free slot for the error: drop-no-buffer',
      slots: 1,
      input: [`${from(EXT, ', hlim=1')}/${UDP}`],
      counters: { 'drop-hop-limit': 1, 'drop-no-buffer': 1 },
    }),
    {
      name: 'no IPv6 pod CIDR of its own: the error comes from the node IPv6 address',
      config: dual({ podCidrs: base6().podCidrs.slice(1) }),
      input: [`${from(EXT)}/${BIG}`],
      counters: { 'drop-too-big': 1, 'icmp-packet-too-big': 1 },
      expect: {
        reply: [`IPv6(src='2001:2::11', dst='${WEB1}')/ICMPv6PacketTooBig(mtu=1450)/bytes(${from(EXT)}/${BIG})[:1232]`],
      },
    },
    {
      name: 'neither a pod CIDR nor an IPv6 address: the error comes from fe80::1',
      config: dual({ podCidrs: base6().podCidrs.slice(1), nodeIp: null }),
      input: [`${from(EXT, ', hlim=1')}/${UDP}`],
      counters: { 'drop-hop-limit': 1, 'icmp-time-exceeded': 1 },
      expect: {
        reply: [`IPv6(src='fe80::1', dst='${WEB1}')/ICMPv6TimeExceeded(code=0)/${from(EXT, ', hlim=1')}/${UDP}`],
      },
    },
    row({
      name: 'multicast, link-local, loopback or unspecified destinations: drop-bad-destination',
      input: [
        `${from('ff0e::1')}/${UDP}`,
        `${from('fe80::1')}/${UDP}`,
        `${from('::1')}/${UDP}`,
        `${from('::')}/${UDP}`,
      ],
      counters: { 'drop-bad-destination': 4 },
    }),
    row({
      name: 'other than an echo request to the node or a hosted egress IP: drop-to-node',
      input: [`${from('2001:2::11')}/${UDP}`, `${from('2001:2::253')}/ICMPv6EchoReply(id=3)`],
      counters: { 'drop-to-node': 2 },
    }),
    row({
      name: 'an echo request to the node: to-local (the responder), unchanged',
      input: [`${from('2001:2::11')}/ICMPv6EchoRequest(id=3, seq=1)`],
      counters: { 'to-local': 1 },
      expect: { local: [`${from('2001:2::11')}/ICMPv6EchoRequest(id=3, seq=1)`] },
    }),
    row({
      name: 'to this node pod CIDR but no such pod: drop-no-such-pod',
      input: [`${from('2001:2:0:a1::99')}/${UDP}`],
      counters: { 'drop-no-such-pod': 1 },
    }),
    {
      name: 'a node without an IPv6 address, a pod without an Egress: drop-no-node-ipv6',
      config: dual({ nodeIp: null }),
      input: [{ pkt: `IPv6(src='2001:2:0:a1::6', dst='${EXT}')/${UDP}`, port: 1 }],
      counters: { 'drop-no-node-ipv6': 1 },
    },
  ],
};
void ip;
