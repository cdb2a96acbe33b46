/**
 * tunnel6-encap rows (engine/stages/tunnel6-encap.ts; docs/ipv6.md §2.l): packets geneve-encap and geneve-encap6
 * handed on unchanged on node-a of base6.ts's `underlay6` (transport 2001:2::11), `meta` = the peer's transport
 * key (node-b 2001:2::12 under 198.18.0.12, node-c 2001:2::13 under 198.18.0.13). Outer Ethernet/IPv6/UDP
 * 6081/Geneve; the Ethernet destination is left zero for uplink-out6; scapy computes the UDP checksum the stage
 * must have written. Uplink MTU 1500: an inner packet of at most 1430 bytes (1406 with tunnel authentication).
 */
import { flowHash6, Tunnel6Encap, type TunnelAuthConfig } from '../../../engine/stages/index.js';
import { geneve, ipv6 } from '../../../engine/wire/index.js';
import { underlay6 } from './base6.js';
import { ip, NODE_MAC, type CaseTable, type Row } from './harness.js';

const U = underlay6();
const row = (r: Row): Row => ({ config: U, ...r });
const INNER = "IPv6(src='2001:2:0:a1::7', dst='2001:2::100')/UDP(sport=40000, dport=53)/b'q'";
const INNER4 = "IP(src='10.244.1.7', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/b'q'";
/** The UDP source port for INNER: the flow hash over its addresses, next header and ports (hand-written). */
const SPORT = (() => {
  const v = new DataView(new ArrayBuffer(44));
  v.setUint8(6, 17);
  ipv6.parseAddr('2001:2:0:a1::7')!.forEach((x, k) => v.setUint8(8 + k, x));
  ipv6.parseAddr('2001:2::100')!.forEach((x, k) => v.setUint8(24 + k, x));
  v.setUint16(40, 40000);
  v.setUint16(42, 53);
  return geneve.flowSrcPort(flowHash6(v, 0));
})();
const AUTH: TunnelAuthConfig = { key: new Uint8Array(16).fill(7), keyId: 42, epochMs: 1 };
const big = (payload: number) =>
  `IPv6(src='2001:2:0:a1::7', dst='2001:2::100')/UDP(sport=1, dport=2)/(b'z'*${payload})`;

export const cases: CaseTable = {
  stage: (st) => new Tunnel6Encap(st),
  l3: 0,
  rows: [
    row({
      name: 'an IPv6 pod packet to node-b: outer IPv6 2001:2::11 → ::12, Hop Limit 64, the UDP checksum computed',
      input: [{ pkt: INNER, meta: ip('198.18.0.12') }],
      counters: { encapsulated: 1 },
      expect: {
        out: [
          `Ether(dst='00:00:00:00:00:00', src='${NODE_MAC}')/IPv6(src='2001:2::11', dst='2001:2::12', hlim=64)/` +
            `UDP(sport=${SPORT}, dport=6081)/GENEVE(vni=0, proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${NODE_MAC}')/${INNER}`,
        ],
      },
    }),
    row({
      name: 'an IPv4 reply to node-c: inner Ethernet of type IPv4, its IPv4 connection reference cleared',
      input: [{ pkt: INNER4, meta: ip('198.18.0.13'), flow: 9 }],
      counters: { encapsulated: 1 },
    }),
    row({
      name: "a key that is no member's, and node-a's own: drop-no-peer",
      input: [
        { pkt: INNER, meta: ip('198.18.0.77') },
        { pkt: INNER, meta: ip('198.18.0.11') },
      ],
      counters: { 'drop-no-peer': 2 },
    }),
    row({
      name: 'an inner packet of 1430 bytes leaves, one of 1431 (the uplink MTU − 70) is drop-too-big',
      input: [
        { pkt: big(1382), meta: ip('198.18.0.12') },
        { pkt: big(1383), meta: ip('198.18.0.12') },
      ],
      counters: { encapsulated: 1, 'drop-too-big': 1 },
    }),
    row({
      name: 'tunnel authentication on: 1406 bytes leave sealed, 1407 are drop-too-big',
      state: { tunnelAuth: AUTH },
      input: [
        { pkt: big(1358), meta: ip('198.18.0.12') },
        { pkt: big(1359), meta: ip('198.18.0.12') },
      ],
      counters: { encapsulated: 1, 'drop-too-big': 1 },
    }),
    row({
      name: 'not enough headroom for the outer headers: drop-no-headroom',
      input: [{ pkt: INNER, meta: ip('198.18.0.12'), headroom: 10 }],
      counters: { 'drop-no-headroom': 1 },
    }),
  ],
};
