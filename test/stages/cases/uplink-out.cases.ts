/**
 * uplink-out rows (engine/stages/uplink-out.ts; docs/architecture.md §1, the segment): L3 packets on their way
 * to the uplink; `held` (the neighbour queue keeps the packet) is wired to `consumed`.
 */
import { UplinkOut } from '../../../engine/stages/index.js';
import {
  connection,
  GW_MAC,
  HOST_MAC,
  ip,
  neighbour,
  NODE_MAC,
  PEER_MAC,
  VLAN_EGRESS,
  VLAN_GW,
  vlanConfig,
  type CaseTable,
} from './harness.js';

const PKT = "IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/b'q'";
const ARP_REQ = `Ether(dst='ff:ff:ff:ff:ff:ff', src='${NODE_MAC}')/ARP(op=1, hwsrc='${NODE_MAC}', psrc='198.18.0.253', hwdst='00:00:00:00:00:00', pdst='198.18.0.100')`;

const VPKT = `IP(src='${VLAN_EGRESS}', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/b'q'`;
const VARP = (pdst: string) =>
  `Ether(dst='ff:ff:ff:ff:ff:ff', src='${NODE_MAC}')/Dot1Q(vlan=10)/ARP(op=1, hwsrc='${NODE_MAC}', psrc='${VLAN_EGRESS}', hwdst='00:00:00:00:00:00', pdst='${pdst}')`;

export const cases: CaseTable = {
  stage: (st) => new UplinkOut(st),
  l3: 0,
  consumed: ['held'],
  rows: [
    {
      name: 'to a resolved neighbour on the segment: sent with its Ethernet header',
      setup: (st) => neighbour(st, '198.18.0.100', HOST_MAC),
      input: [PKT],
      counters: { sent: 1 },
      expect: { out: [`Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/${PKT}`] },
    },
    {
      name: 'an unresolved neighbour: parked, one ARP request from the Egress IP; the reply releases it',
      steps: [{ input: [PKT] }, { setup: (st) => neighbour(st, '198.18.0.100', HOST_MAC) }],
      counters: { 'arp-request': 1, parked: 1, released: 1, sent: 1 },
      expect: { out: [ARP_REQ, `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/${PKT}`] },
    },
    {
      name: 'from an Egress IP on VLAN 10 to a host off its subnet: through the pool gateway, 802.1Q-tagged',
      config: vlanConfig(),
      setup: (st) => neighbour(st, VLAN_GW, GW_MAC, 10),
      input: [VPKT],
      counters: { sent: 1 },
      expect: { out: [`Ether(dst='${GW_MAC}', src='${NODE_MAC}')/Dot1Q(vlan=10)/${VPKT}`] },
    },
    {
      name: 'VLAN 10, the pool gateway unresolved: a tagged ARP request from the Egress IP; the reply releases it tagged',
      config: vlanConfig(),
      steps: [{ input: [VPKT] }, { setup: (st) => neighbour(st, VLAN_GW, GW_MAC, 10) }],
      counters: { 'arp-request': 1, parked: 1, released: 1, sent: 1 },
      expect: { out: [VARP(VLAN_GW), `Ether(dst='${GW_MAC}', src='${NODE_MAC}')/Dot1Q(vlan=10)/${VPKT}`] },
    },
    {
      name: "VLAN 10, a destination on the pool's subnet: resolved directly on the VLAN (tagged request)",
      config: vlanConfig(),
      input: [`IP(src='${VLAN_EGRESS}', dst='198.18.10.50')/UDP(sport=40000, dport=53)`],
      counters: { 'arp-request': 1, parked: 1 },
      expect: { out: [VARP('198.18.10.50')] },
    },
    {
      name: 'VLAN 10, a repeated request while a packet waits: tagged, from the Egress IP',
      config: vlanConfig(),
      steps: [{ at: 1000, input: [VPKT] }, { at: 2001 }],
      counters: { 'arp-request': 2, parked: 1 },
      expect: { out: [VARP(VLAN_GW), VARP(VLAN_GW)] },
    },
    {
      name: "Geneve to a VLAN Egress IP hosted by node-b: untagged to node-b's pinned MAC, not the default gateway",
      config: { gateway: ip('198.18.0.1'), remoteEgressVia: new Map([[ip('198.18.10.3'), ip('198.18.0.12')]]) },
      setup: (st) => st.neigh.pin(ip('198.18.0.12'), 0x0200, 0x0c, st.now),
      input: ["IP(src='198.18.0.11', dst='198.18.10.3')/UDP(sport=50000, dport=6081)/b'g'"],
      counters: { sent: 1 },
      expect: {
        out: [
          `Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.10.3')/UDP(sport=50000, dport=6081)/b'g'`,
        ],
      },
    },
    {
      name: 'off the segment with no gateway: drop-no-route',
      input: ["IP(src='198.18.0.11', dst='10.96.0.10')/UDP(sport=1, dport=53)"],
      counters: { 'drop-no-route': 1 },
    },
    {
      name: 'a one-entry neighbour table whose entry has packets waiting: drop-neigh-full',
      state: { neighbor: { entries: 1 } },
      input: [PKT, "IP(src='198.18.0.253', dst='198.18.0.101')/UDP(sport=40000, dport=53)"],
      counters: { 'arp-request': 1, parked: 1, 'drop-neigh-full': 1 },
    },
    {
      name: 'a second packet for an entry that may queue one: drop-queue-full',
      state: { neighbor: { perEntry: 1 } },
      input: [PKT, PKT],
      counters: { 'arp-request': 1, parked: 1, 'drop-queue-full': 1 },
    },
    {
      name: 'three unanswered requests: the waiting packet is dropped, drop-arp-timeout',
      steps: [{ at: 1000, input: [PKT] }, { at: 2001 }, { at: 3002 }, { at: 4003 }],
      counters: { 'arp-request': 3, parked: 1, 'drop-arp-timeout': 1 },
    },
    {
      name: 'a new connection whose reply tuple another connection holds: drop-ct-clash',
      setup: (st) => {
        connection(st.ct, 'udp', '10.244.1.5', 40000, '198.18.0.100', 53, '198.18.0.253');
        neighbour(st, '198.18.0.100', HOST_MAC);
        // Unconfirmed 198.18.0.253:40000 → 198.18.0.100:53: its reply tuple is the SNATed query's.
        const c = st.ct.create(ip('198.18.0.253'), ip('198.18.0.100'), 40000, 53, 17, 0, 48);
        if (c !== 1) throw new Error(`setup: create returned ${c}`);
      },
      input: [{ pkt: "IP(src='198.18.0.253', dst='198.18.0.100')/UDP(sport=40000, dport=53)", flow: 1 << 1 }],
      counters: { 'drop-ct-clash': 1 },
    },
    {
      name: 'no free slot for the ARP request: drop-no-buffer, the packet still waits',
      slots: 1,
      input: [PKT],
      counters: { parked: 1, 'drop-no-buffer': 1 },
    },
  ],
};
