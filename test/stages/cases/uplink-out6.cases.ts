/**
 * uplink-out6 rows (engine/stages/uplink-out6.ts; docs/ipv6.md §2.c): IPv6 packets leaving node-a (base6.ts)
 * on the uplink; next hops resolved through the IPv6 neighbour table, static neighbours pinned, unknown ones
 * with a Neighbor Solicitation to their solicited-node address (built here by scapy); `held` is `consumed`.
 */
import { fold6, UplinkOut6 } from '../../../engine/stages/index.js';
import { words6 } from '../../../engine/stages/tables6.js';
import { connection6, dual, neighbour6, ROUTER_MAC, underlay6 } from './base6.js';
import { CONTROL_PORT, HOST_MAC, ip, NODE_MAC, OTHER_MAC, PEER_MAC, type CaseTable, type Row } from './harness.js';
import { mac } from '../../support/node-config.js';
import { ethernet } from '../../../engine/wire/index.js';

const PKT = (dst: string, src = '2001:2::253') =>
  `IPv6(src='${src}', dst='${dst}', hlim=63)/UDP(sport=40000, dport=53)/b'q'`;
/** The Neighbor Solicitation for `tgt` (solicited-node group ff02::1:ffXX:XXXX, its 33:33:ff MAC) from `src`. */
export const NS = (tgt: string, src: string, group: string, gmac: string) =>
  `Ether(dst='${gmac}', src='${NODE_MAC}')/IPv6(src='${src}', dst='${group}', hlim=255)/ICMPv6ND_NS(tgt='${tgt}')/ICMPv6NDOptSrcLLAddr(lladdr='${NODE_MAC}')`;
const NS_101 = NS('2001:2::101', '2001:2::253', 'ff02::1:ff00:101', '33:33:ff:00:01:01');
const NS_101_NODE = NS('2001:2::101', '2001:2::11', 'ff02::1:ff00:101', '33:33:ff:00:01:01');
const OUT = (dst: string, mac: string, src?: string) => `Ether(dst='${mac}', src='${NODE_MAC}')/${PKT(dst, src)}`;
const d = dual();
const seg = dual({ segment: '2001:2::/64' });
const row = (r: Row): Row => ({ config: d, ...r });
const srow = (r: Row): Row => ({ config: seg, ...r });

/** IPv6 underlay (base6.ts `underlay6`): a heartbeat and Geneve from node-a's transport address to node-b's. */
const U = underlay6();
const HB6 = `IPv6(src='2001:2::11', dst='2001:2::12', tc=0xc0)/UDP(sport=${CONTROL_PORT}, dport=${CONTROL_PORT})/b'hb'`;
const GEN6 = "IPv6(src='2001:2::11', dst='2001:2::12')/UDP(sport=50000, dport=6081)/b'geneve'";
const GEN6_OFF = "IPv6(src='2001:2::11', dst='2001:2:9::13')/UDP(sport=50000, dport=6081)/b'geneve'";
/** node-c's transport address off the segment (behind the router). */
const U_OFF = underlay6({
  underlay: {
    self: '2001:2::11',
    nodes: [
      { key: ip('198.18.0.11'), ip: '2001:2::11' },
      { key: ip('198.18.0.12'), ip: '2001:2::12' },
      { key: ip('198.18.0.13'), ip: '2001:2:9::13' },
    ],
  },
});
const pinB = (st: Parameters<NonNullable<Row['setup']>>[0]) => {
  const m = mac(PEER_MAC);
  st.pinPeer(ip('198.18.0.12'), ethernet.macHi16(m), ethernet.macLo32(m));
};

export const cases: CaseTable = {
  stage: (st) => new UplinkOut6(st),
  l3: 0,
  consumed: ['held'],
  rows: [
    row({
      name: 'to a static neighbour of the segment: its pinned MAC, EtherType IPv6',
      input: [PKT('2001:2::100')],
      counters: { sent: 1 },
      expect: { out: [OUT('2001:2::100', HOST_MAC)] },
    }),
    row({
      name: 'to an address off the segment: the router MAC',
      input: [PKT('2001:2:ff::1')],
      counters: { sent: 1 },
      expect: { out: [OUT('2001:2:ff::1', ROUTER_MAC)] },
    }),
    {
      name: 'a node without an IPv6 side: drop-no-ipv6',
      input: [PKT('2001:2::100')],
      counters: { 'drop-no-ipv6': 1 },
    },
    {
      name: 'off the segment without a router: drop-no-route',
      config: dual({ gateway: null, segment: '2001:2::/64' }),
      input: [PKT('2001:2:ff::1')],
      counters: { 'drop-no-route': 1 },
    },
    srow({
      name: 'an unknown neighbour on the segment: parked, one NS from the egress IP; the NA releases it',
      steps: [{ input: [PKT('2001:2::101')] }, { setup: (st) => neighbour6(st, '2001:2::101', OTHER_MAC) }],
      counters: { 'ndp-solicit': 1, parked: 1, released: 1, sent: 1 },
      expect: { out: [NS_101, OUT('2001:2::101', OTHER_MAC)] },
    }),
    srow({
      name: 'a packet from an address this node does not own: the NS is from the node IPv6 address',
      input: [PKT('2001:2::101', '2001:2:0:a1::6')],
      counters: { 'ndp-solicit': 1, parked: 1 },
      expect: { out: [NS_101_NODE] },
    }),
    srow({
      name: 'the router unresolved (no static entry): an NS for the router from the egress IP',
      config: dual({ segment: '2001:2::/64', neighbors: [] }),
      input: [PKT('2001:2:ff::1')],
      counters: { 'ndp-solicit': 1, parked: 1 },
      expect: { out: [NS('2001:2::1', '2001:2::253', 'ff02::1:ff00:1', '33:33:ff:00:00:01')] },
    }),
    srow({
      name: 'unanswered: NS repeated every second, maxProbes (3) then drop-ndp-timeout, the connection aborted',
      setup: (st) => {
        connection6(st, 'udp', '2001:2:0:a1::5', 40000, '2001:2::101', 53, '2001:2::253');
      },
      steps: [{ at: 1000, input: [{ pkt: PKT('2001:2::101'), flow: 0 }] }, { at: 2001 }, { at: 3002 }, { at: 4003 }],
      counters: { 'ndp-solicit': 3, parked: 1, 'drop-ndp-timeout': 1 },
      expect: { out: [NS_101, NS_101, NS_101] },
    }),
    srow({
      name: 'a stale entry: the packet is sent and the neighbour re-probed with an NS',
      setup: (st) => neighbour6(st, '2001:2::101', OTHER_MAC),
      steps: [{ at: 40_000, input: [PKT('2001:2::101')] }],
      counters: { 'ndp-solicit': 1, sent: 1 },
      expect: { out: [OUT('2001:2::101', OTHER_MAC), NS_101] },
    }),
    srow({
      name: 'more packets than the entry may park: drop-queue-full',
      state: { neighbor6: { perEntry: 1 } },
      input: [PKT('2001:2::101'), PKT('2001:2::101')],
      counters: { 'ndp-solicit': 1, parked: 1, 'drop-queue-full': 1 },
    }),
    srow({
      name: 'every entry pinned (the static neighbours): drop-neigh-full',
      state: { neighbor6: { entries: 2 } },
      input: [PKT('2001:2::101')],
      counters: { 'drop-neigh-full': 1 },
    }),
    srow({
      name: 'no slot for the NS: drop-no-buffer, the packet still parked (the NS stays due)',
      slots: 1,
      input: [PKT('2001:2::101')],
      counters: { parked: 1, 'drop-no-buffer': 1 },
    }),
    {
      name: 'IPv6 underlay: a heartbeat to a member not pinned yet: first-contact, to the Ethernet broadcast address, no NS',
      config: U,
      state: { controlPort: CONTROL_PORT },
      input: [HB6],
      counters: { 'first-contact': 1 },
      expect: { out: [`Ether(dst='ff:ff:ff:ff:ff:ff', src='${NODE_MAC}')/${HB6}`] },
    },
    {
      name: "IPv6 underlay: Geneve to a member not pinned yet waits (never solicited); its heartbeat's pin releases it",
      config: U,
      state: { controlPort: CONTROL_PORT },
      steps: [{ input: [GEN6] }, { at: 2001 }, { setup: pinB }],
      counters: { parked: 1, released: 1, sent: 1 },
      expect: { out: [`Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/${GEN6}`] },
    },
    {
      name: 'IPv6 underlay: a member that never answers: no NS, drop-ndp-timeout after maxProbes intervals',
      config: U,
      steps: [{ at: 1000, input: [GEN6] }, { at: 2001 }, { at: 3002 }, { at: 4003 }],
      counters: { parked: 1, 'drop-ndp-timeout': 1 },
    },
    {
      name: "IPv6 underlay: to a pinned member, its pinned MAC; to a member off the segment, the router's",
      config: U_OFF,
      setup: pinB,
      input: [GEN6, GEN6_OFF],
      counters: { sent: 2 },
      expect: {
        out: [
          `Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/${GEN6}`,
          `Ether(dst='${ROUTER_MAC}', src='${NODE_MAC}')/${GEN6_OFF}`,
        ],
      },
    },
    row({
      name: 'a new connection whose reply tuple another connection holds: drop-ct-clash',
      setup: (st) => {
        connection6(st, 'udp', '2001:2:0:a1::5', 40000, '2001:2::100', 53, '2001:2::253');
        // Unconfirmed [2001:2::253]:40000 → [2001:2::100]:53: its reply tuple is the SNATed query's.
        const c = st.ct6.ct.create(
          fold6(...words6('2001:2::253')!),
          fold6(...words6('2001:2::100')!),
          40000,
          53,
          17,
          0,
          48,
        );
        if (c !== 1) throw new Error(`setup: create returned ${c}`);
      },
      input: [{ pkt: PKT('2001:2::100'), flow: 1 << 1 }],
      counters: { 'drop-ct-clash': 1 },
    }),
  ],
};
