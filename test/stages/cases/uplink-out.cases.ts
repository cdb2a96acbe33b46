/**
 * uplink-out rows (engine/stages/uplink-out.ts; docs/architecture.md §1, the segment): L3 packets on their way
 * to the uplink; `held` (the neighbour queue keeps the packet) is wired to `consumed`.
 */
import { UplinkOut } from '../../../engine/stages/index.js';
import { connection, HOST_MAC, ip, neighbour, NODE_MAC, type CaseTable } from './harness.js';

const PKT = "IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=40000, dport=53)/b'q'";
const ARP_REQ = `Ether(dst='ff:ff:ff:ff:ff:ff', src='${NODE_MAC}')/ARP(op=1, hwsrc='${NODE_MAC}', psrc='198.18.0.253', hwdst='00:00:00:00:00:00', pdst='198.18.0.100')`;

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
