/** arp rows (engine/stages/arp.ts; docs/semantics.md §3; RFC 826): ARP packets at offset 14 of their frame. */
import { Arp } from '../../../engine/stages/index.js';
import {
  eth,
  GW_MAC,
  HOST_MAC,
  neighbour,
  NODE_MAC,
  OTHER_MAC,
  VLAN_EGRESS,
  VLAN_GW,
  vlanConfig,
  type CaseTable,
} from './harness.js';

const BCAST = 'ff:ff:ff:ff:ff:ff';
const ask = (pdst: string, psrc = '198.18.0.100', hw = HOST_MAC) =>
  eth(`ARP(op=1, hwsrc='${hw}', psrc='${psrc}', pdst='${pdst}')`, hw, BCAST);

/** A request on VLAN 10 (the ARP packet at offset 18). */
const askTagged = (pdst: string, psrc = VLAN_GW, hw = GW_MAC) => ({
  pkt: `Ether(dst='${BCAST}', src='${hw}')/Dot1Q(vlan=10)/ARP(op=1, hwsrc='${hw}', psrc='${psrc}', pdst='${pdst}')`,
  l3: 18,
});

export const cases: CaseTable = {
  stage: (st) => new Arp(st),
  l3: 14,
  rows: [
    {
      name: 'a request for the node IP and for a hosted Egress IP: replied, the asker learned (created once, then updated)',
      input: [ask('198.18.0.11'), ask('198.18.0.253')],
      counters: { replied: 2, learned: 1, updated: 1 },
      expect: {
        reply: [
          eth(
            `ARP(op=2, hwsrc='${NODE_MAC}', psrc='198.18.0.11', hwdst='${HOST_MAC}', pdst='198.18.0.100')`,
            NODE_MAC,
            HOST_MAC,
          ),
          eth(
            `ARP(op=2, hwsrc='${NODE_MAC}', psrc='198.18.0.253', hwdst='${HOST_MAC}', pdst='198.18.0.100')`,
            NODE_MAC,
            HOST_MAC,
          ),
        ],
      },
    },
    {
      name: 'a request for an address the node does not own: ignored, nothing learned',
      input: [ask('198.18.0.254')],
      counters: { ignored: 1 },
    },
    {
      name: 'a gratuitous ARP from a known neighbour with a new MAC: updated',
      setup: (st) => neighbour(st, '198.18.0.100', HOST_MAC),
      input: [ask('198.18.0.100', '198.18.0.100', OTHER_MAC)],
      counters: { updated: 1, ignored: 1 },
    },
    {
      name: 'an ARP claiming a hosted Egress IP from another MAC: conflict-egress-ip',
      input: [ask('198.18.0.253', '198.18.0.253', OTHER_MAC)],
      counters: { 'conflict-egress-ip': 1 },
    },
    {
      name: 'a request for a hosted Egress IP while egress answers are held: held',
      setup: (st) => (st.holdEgress = true),
      input: [ask('198.18.0.253')],
      counters: { held: 1 },
    },
    {
      name: 'a request on VLAN 10 for the Egress IP on VLAN 10: replied on VLAN 10, the asker learned there',
      config: vlanConfig(),
      input: [askTagged(VLAN_EGRESS)],
      counters: { replied: 1, learned: 1 },
      expect: {
        reply: [
          `Ether(dst='${GW_MAC}', src='${NODE_MAC}')/Dot1Q(vlan=10)/ARP(op=2, hwsrc='${NODE_MAC}', psrc='${VLAN_EGRESS}', hwdst='${GW_MAC}', pdst='${VLAN_GW}')`,
        ],
      },
    },
    {
      name: 'the VLAN 10 Egress IP asked untagged, the node IP asked on VLAN 10: other-vlan, not answered',
      config: vlanConfig(),
      input: [ask(VLAN_EGRESS), askTagged('198.18.0.11')],
      counters: { 'other-vlan': 2, ignored: 2 },
    },
    {
      name: 'an untagged ARP from an address whose entry is on VLAN 10: other-vlan, the entry unchanged',
      config: vlanConfig(),
      setup: (st) => neighbour(st, VLAN_GW, GW_MAC, 10),
      input: [ask('198.18.0.11', VLAN_GW, OTHER_MAC)],
      counters: { 'other-vlan': 1, replied: 1 },
    },
    {
      name: 'six bytes of ARP: drop-truncated',
      input: [`bytes(${ask('198.18.0.11')})[:20]`],
      counters: { 'drop-truncated': 1 },
    },
    {
      name: 'an IPv6 protocol type and an unknown opcode: drop-bad',
      input: [
        eth(`ARP(op=1, ptype=0x86dd, hwsrc='${HOST_MAC}', psrc='198.18.0.100', pdst='198.18.0.11')`, HOST_MAC, BCAST),
        eth(`ARP(op=3, hwsrc='${HOST_MAC}', psrc='198.18.0.100', pdst='198.18.0.11')`, HOST_MAC, BCAST),
      ],
      counters: { 'drop-bad': 2 },
    },
  ],
};
