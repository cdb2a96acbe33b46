/** uplink-ingress rows (engine/stages/uplink-ingress.ts; docs/semantics.md §3, §4.b): frames from the segment. */
import { UplinkIngress } from '../../../engine/stages/index.js';
import { dual, underlay6 } from './base6.js';
import { CONTROL_PORT, eth, HOST_MAC, PEER_MAC, VLAN_EGRESS, vlanConfig, type CaseTable } from './harness.js';

const NS_TO_NODE6 = `IPv6(src='2001:2::100', dst='ff02::1:ff00:11', hlim=255)/ICMPv6ND_NS(tgt='2001:2::11')/ICMPv6NDOptSrcLLAddr(lladdr='${HOST_MAC}')`;

const TO_NODE = "IP(src='198.18.0.100', dst='198.18.0.11')/UDP(sport=1, dport=2)/b'x'";
const TO_VLAN = `IP(src='198.18.0.100', dst='${VLAN_EGRESS}')/UDP(sport=53, dport=40000)/b'r'`;
const GENEVE_TO_VLAN = `IP(src='198.18.0.12', dst='${VLAN_EGRESS}')/UDP(sport=50000, dport=6081)/b'g'`;

export const cases: CaseTable = {
  stage: (st) => new UplinkIngress(st),
  l3: -1,
  rows: [
    {
      name: 'IPv4 to the node IP, a hosted Egress IP and a local pod: ip, Ethernet padding trimmed',
      input: [
        `bytes(${eth(TO_NODE)}) + b'\\x00'*10`,
        eth("IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=53, dport=40000)"),
        eth("IP(src='198.18.0.100', dst='10.244.1.5')/TCP(sport=5000, dport=80, flags='S')"),
      ],
      counters: {},
      expect: {
        ip: [
          eth(TO_NODE),
          eth("IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=53, dport=40000)"),
          eth("IP(src='198.18.0.100', dst='10.244.1.5')/TCP(sport=5000, dport=80, flags='S')"),
        ],
      },
    },
    {
      name: 'a broadcast ARP request: arp',
      input: [eth("ARP(op=1, psrc='198.18.0.100', pdst='198.18.0.11')", HOST_MAC, 'ff:ff:ff:ff:ff:ff')],
      counters: {},
    },
    { name: 'ten bytes: drop-truncated', input: [new Uint8Array(10)], counters: { 'drop-truncated': 1 } },
    {
      name: 'to another unicast MAC: drop-other-mac',
      input: [eth(TO_NODE, HOST_MAC, '02:00:00:00:00:99')],
      counters: { 'drop-other-mac': 1 },
    },
    {
      name: 'to a multicast MAC: drop-multicast',
      input: [eth(TO_NODE, HOST_MAC, '01:00:5e:00:00:fb')],
      counters: { 'drop-multicast': 1 },
    },
    {
      name: '802.1Q and QinQ tagged: drop-vlan',
      input: [
        eth(`Dot1Q(vlan=5)/${TO_NODE}`),
        `Ether(dst='02:00:00:00:00:0b', src='${HOST_MAC}', type=0x88a8)/Dot1Q(vlan=5)/${TO_NODE}`,
      ],
      counters: { 'drop-vlan': 2 },
    },
    {
      name: 'VLAN 10 hosted: tagged IPv4 to its Egress IP and tagged ARP pass (l3 after the tag), untagged Geneve too',
      config: vlanConfig(),
      input: [
        `bytes(${eth(`Dot1Q(vlan=10)/${TO_VLAN}`)}) + b'\\x00'*8`,
        eth(`Dot1Q(vlan=10)/ARP(op=1, psrc='198.18.10.1', pdst='${VLAN_EGRESS}')`, HOST_MAC, 'ff:ff:ff:ff:ff:ff'),
        eth(GENEVE_TO_VLAN),
      ],
      counters: {},
      expect: {
        ip: [eth(`Dot1Q(vlan=10)/${TO_VLAN}`), eth(GENEVE_TO_VLAN)],
        arp: [
          eth(`Dot1Q(vlan=10)/ARP(op=1, psrc='198.18.10.1', pdst='${VLAN_EGRESS}')`, HOST_MAC, 'ff:ff:ff:ff:ff:ff'),
        ],
      },
    },
    {
      name: 'VLAN 10 hosted: its Egress IP untagged (not Geneve), the node IP on VLAN 10: drop-vlan-mismatch; VLAN 20: drop-vlan',
      config: vlanConfig(),
      input: [eth(TO_VLAN), eth(`Dot1Q(vlan=10)/${TO_NODE}`), eth(`Dot1Q(vlan=20)/${TO_VLAN}`)],
      counters: { 'drop-vlan-mismatch': 2, 'drop-vlan': 1 },
    },
    {
      name: 'IPv6: drop-ipv6',
      input: [eth("IPv6(src='fe80::1', dst='fe80::2')/UDP(sport=1, dport=2)")],
      counters: { 'drop-ipv6': 1 },
    },
    {
      name: 'dual-stack: NDP to the solicited-node MAC, to the node MAC or broadcast goes to ndp; other IPv6 to unsnat6',
      config: dual(),
      input: [
        eth(NS_TO_NODE6, HOST_MAC, '33:33:ff:00:00:11'),
        eth(NS_TO_NODE6),
        eth(NS_TO_NODE6, HOST_MAC, 'ff:ff:ff:ff:ff:ff'),
        eth("IPv6(src='2001:2::100', dst='2001:2::11')/UDP(sport=1, dport=2)"),
      ],
      counters: {},
      expect: {
        ndp: [
          eth(NS_TO_NODE6, HOST_MAC, '33:33:ff:00:00:11'),
          eth(NS_TO_NODE6),
          eth(NS_TO_NODE6, HOST_MAC, 'ff:ff:ff:ff:ff:ff'),
        ],
        ipv6: [eth("IPv6(src='2001:2::100', dst='2001:2::11')/UDP(sport=1, dport=2)")],
      },
    },
    {
      name: 'dual-stack: anything but NDP to an IPv6 multicast MAC (MLD, UDP): drop-multicast',
      config: dual(),
      input: [
        eth("IPv6(src='fe80::1', dst='ff02::1', hlim=1)/ICMPv6EchoRequest()", HOST_MAC, '33:33:00:00:00:01'),
        eth("IPv6(src='2001:2::100', dst='ff02::1:ff00:11')/UDP(sport=1, dport=2)", HOST_MAC, '33:33:ff:00:00:11'),
      ],
      counters: { 'drop-multicast': 2 },
    },
    {
      name: 'IPv4-only: NDP to a solicited-node MAC: drop-multicast',
      input: [eth(NS_TO_NODE6, HOST_MAC, '33:33:ff:00:00:11')],
      counters: { 'drop-multicast': 1 },
    },
    {
      name: 'LLDP: drop-ethertype',
      input: [`Ether(dst='02:00:00:00:00:0b', src='${HOST_MAC}', type=0x88cc)/(b'\\x00'*46)`],
      counters: { 'drop-ethertype': 1 },
    },
    {
      name: 'an IPv4 header cut short: drop-ip-truncated',
      input: [`bytes(${eth(TO_NODE)})[:24]`],
      counters: { 'drop-ip-truncated': 1 },
    },
    {
      name: 'IHL 4 and version 6: drop-ip-bad-header',
      input: [
        eth("IP(ihl=4, src='198.18.0.100', dst='198.18.0.11')/UDP(sport=1, dport=2)"),
        eth("IP(version=6, src='198.18.0.100', dst='198.18.0.11')/UDP(sport=1, dport=2)"),
      ],
      counters: { 'drop-ip-bad-header': 2 },
    },
    {
      name: 'a wrong header checksum: drop-ip-bad-checksum',
      input: [eth("IP(chksum=0x1234, src='198.18.0.100', dst='198.18.0.11')/UDP(sport=1, dport=2)")],
      counters: { 'drop-ip-bad-checksum': 1 },
    },
    {
      name: 'a fragment for the node: to defrag, FRAG_FROM_UPLINK in flow',
      input: [eth("IP(flags='MF', src='198.18.0.100', dst='198.18.0.11')/UDP(sport=1, dport=2)")],
      counters: { fragment: 1 },
    },
    {
      name: 'a fragment for an address the node does not own: drop-not-ours, as a whole packet',
      input: [eth("IP(flags='MF', src='198.18.0.100', dst='198.18.0.77')/UDP(sport=1, dport=2)")],
      counters: { 'drop-not-ours': 1 },
    },
    {
      name: 'to an address the node does not own: drop-not-ours',
      input: [eth("IP(src='198.18.0.100', dst='198.18.0.77')/UDP(sport=1, dport=2)")],
      counters: { 'drop-not-ours': 1 },
    },
    {
      name: 'Geneve to an Egress IP the node does not host (stale ARP after failover): drop-tunnel-not-owned',
      input: [
        eth(
          "IP(src='198.18.0.12', dst='198.18.0.254')/UDP(sport=5555, dport=6081)/b'\\x00\\x00\\x65\\x58\\x00\\x00\\x00\\x00'",
        ),
      ],
      counters: { 'drop-tunnel-not-owned': 1 },
    },
    {
      name: 'IPv4 in a broadcast frame to an address the node does not own: drop-broadcast-ip',
      input: [
        eth("IP(src='198.18.0.100', dst='198.18.0.99')/UDP(sport=1, dport=2)/b'x'", HOST_MAC, 'ff:ff:ff:ff:ff:ff'),
      ],
      counters: { 'drop-broadcast-ip': 1 },
    },
    {
      name: "IPv6 underlay: UDP to the tunnel and the control port from a member's transport address: underlay6",
      config: underlay6(),
      state: { controlPort: CONTROL_PORT },
      input: [
        eth("IPv6(src='2001:2::12', dst='2001:2::11')/UDP(sport=5555, dport=6081)/b'g'", PEER_MAC),
        eth(
          `IPv6(src='2001:2::12', dst='2001:2::11')/UDP(sport=${CONTROL_PORT}, dport=${CONTROL_PORT})/b'hb'`,
          PEER_MAC,
        ),
      ],
      counters: {},
      expect: {
        underlay6: [
          eth("IPv6(src='2001:2::12', dst='2001:2::11')/UDP(sport=5555, dport=6081)/b'g'", PEER_MAC),
          eth(
            `IPv6(src='2001:2::12', dst='2001:2::11')/UDP(sport=${CONTROL_PORT}, dport=${CONTROL_PORT})/b'hb'`,
            PEER_MAC,
          ),
        ],
      },
    },
    {
      name: 'IPv6 underlay: to the tunnel port from no member, to another port from a member, to an egress IP: ipv6',
      config: underlay6(),
      state: { controlPort: CONTROL_PORT },
      input: [
        eth("IPv6(src='2001:2::77', dst='2001:2::11')/UDP(sport=5555, dport=6081)/b'g'"),
        eth("IPv6(src='2001:2::12', dst='2001:2::11')/UDP(sport=5555, dport=53)/b'g'", PEER_MAC),
        eth("IPv6(src='2001:2::12', dst='2001:2::253')/UDP(sport=5555, dport=6081)/b'g'", PEER_MAC),
      ],
      counters: {},
    },
    {
      name: 'a strict source route option (SSRR) to the node: drop-source-route',
      input: [
        eth(
          "IP(src='198.18.0.100', dst='198.18.0.11', options=[IPOption_SSRR(routers=['198.18.0.1'])])/UDP(sport=1, dport=2)/b'x'",
        ),
      ],
      counters: { 'drop-source-route': 1 },
    },
    {
      name: 'a record-route option whose length (9) runs past the 24-byte header: drop-ip-bad-options',
      input: [
        eth(
          "IP(src='198.18.0.100', dst='198.18.0.11', options=[IPOption_RR(length=9, pointer=4, routers=[])])/UDP(sport=1, dport=2)/b'x'",
        ),
      ],
      counters: { 'drop-ip-bad-options': 1 },
    },
  ],
};
