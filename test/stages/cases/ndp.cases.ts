/**
 * ndp rows (engine/stages/ndp.ts; docs/segment-security.md#ndp-and-the-ipv6-neighbour-table): NDP frames from
 * the uplink to node-a (base6.ts: node IPv6 2001:2::11, egress IP 2001:2::253, static neighbours 2001:2::1 and
 * ::100). Every frame and every expected answer is built by scapy; one row per counter.
 */
import { Ndp, type NodeState } from '../../../engine/stages/index.js';
import { ethernet } from '../../../engine/wire/index.js';
import { words6 } from '../../../engine/stages/tables6.js';
import { dual, neighbour6, ROUTER_MAC, underlay6 } from './base6.js';
import { HOST_MAC, NODE_MAC, OTHER_MAC, PEER_MAC, pin, type CaseTable, type Row } from './harness.js';

const SNM = (last: string) => `ff02::1:ff${last}`;
/** An NS from `src` (link-layer `smac`) for `tgt`, to `dst` (default: its solicited-node group). */
const NS = (
  tgt: string,
  src: string,
  smac: string,
  o: { dst?: string; lla?: boolean; hlim?: number; x?: string } = {},
) =>
  `Ether(dst='33:33:ff:00:00:11', src='${smac}')/IPv6(src='${src}', dst='${o.dst ?? SNM('00:11')}', hlim=${o.hlim ?? 255})/ICMPv6ND_NS(tgt='${tgt}'${o.x ?? ''})` +
  (o.lla === false ? '' : `/ICMPv6NDOptSrcLLAddr(lladdr='${smac}')`);
/** The solicited NA node-a answers with: from the target, to the asker, Solicited and Override. */
const NA_REPLY = (tgt: string, dst: string, dmac: string) =>
  `Ether(dst='${dmac}', src='${NODE_MAC}')/IPv6(src='${tgt}', dst='${dst}', hlim=255)/ICMPv6ND_NA(tgt='${tgt}', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${NODE_MAC}')`;
/** An NA from `smac` for `tgt` with flags S, O (and its target link-layer option unless `lla` is false). */
const NA = (tgt: string, smac: string, s: number, ov: number, o: { lla?: boolean; dst?: string } = {}) =>
  `Ether(dst='${NODE_MAC}', src='${smac}')/IPv6(src='${tgt}', dst='${o.dst ?? '2001:2::11'}', hlim=255)/ICMPv6ND_NA(tgt='${tgt}', R=0, S=${s}, O=${ov})` +
  (o.lla === false ? '' : `/ICMPv6NDOptDstLLAddr(lladdr='${smac}')`);

const d = dual();
const row = (r: Row): Row => ({ config: d, ...r });
/** A setup that fails unless the IPv6 neighbour entry of `addr` is in `state` at `macText` ('' for none). */
function expectEntry(addr: string, state: string, macText: string) {
  return (st: NodeState) => {
    const e = st.neigh6.dump(st.now).find((x) => x.ip === addr);
    const got = e ? `${e.state} ${ethernet.macToString(ethernet.macFromInts(e.macHi, e.macLo))}` : 'none';
    const want = state === '' ? 'none' : `${state} ${macText}`;
    if (got !== want) throw new Error(`${addr}: ${got}, want ${want}`);
  };
}
/** An INCOMPLETE entry for `addr` (node-a solicited it). */
const incomplete = (addr: string) => (st: NodeState) => {
  const w = words6(addr)!;
  st.neigh6.create(w[0], w[1], w[2], w[3], st.now);
};

export const cases: CaseTable = {
  stage: (st) => new Ndp(st),
  l3: 14,
  rows: [
    row({
      name: 'an NS for the node IPv6 address: answered to the asker, whose entry is created (unconfirmed)',
      steps: [
        { input: [NS('2001:2::11', '2001:2::101', OTHER_MAC)] },
        { setup: expectEntry('2001:2::101', 'reachable', OTHER_MAC) },
      ],
      counters: { replied: 1, learned: 1 },
      expect: { reply: [NA_REPLY('2001:2::11', '2001:2::101', OTHER_MAC)] },
    }),
    row({
      name: 'an NS for a hosted egress IP: answered from that address',
      input: [NS('2001:2::253', '2001:2::101', OTHER_MAC)],
      counters: { replied: 1, learned: 1 },
      expect: { reply: [NA_REPLY('2001:2::253', '2001:2::101', OTHER_MAC)] },
    }),
    row({
      name: 'an NS from a known neighbour: its entry updated',
      setup: (st) => neighbour6(st, '2001:2::101', PEER_MAC),
      steps: [
        { input: [NS('2001:2::11', '2001:2::101', OTHER_MAC)] },
        { setup: expectEntry('2001:2::101', 'reachable', OTHER_MAC) },
      ],
      counters: { replied: 1, updated: 1 },
      expect: { reply: [NA_REPLY('2001:2::11', '2001:2::101', OTHER_MAC)] },
    }),
    row({
      name: 'an NS from a static neighbour with another MAC: answered, the pinned entry unchanged',
      steps: [
        { input: [NS('2001:2::11', '2001:2::100', OTHER_MAC)] },
        { setup: expectEntry('2001:2::100', 'pinned', HOST_MAC) },
      ],
      counters: { replied: 1, pinned: 1 },
      expect: { reply: [NA_REPLY('2001:2::11', '2001:2::100', OTHER_MAC)] },
    }),
    row({
      name: 'a unicast NS without a source link-layer option: answered to the frame source, nothing learned',
      steps: [
        { input: [NS('2001:2::11', '2001:2::101', OTHER_MAC, { dst: '2001:2::11', lla: false })] },
        { setup: expectEntry('2001:2::101', '', '') },
      ],
      counters: { replied: 1 },
      expect: { reply: [NA_REPLY('2001:2::11', '2001:2::101', OTHER_MAC)] },
    }),
    row({
      name: 'an NS from a link-local address (a router re-probing): answered, not learned',
      input: [NS('2001:2::11', 'fe80::1', ROUTER_MAC)],
      counters: { replied: 1 },
      expect: { reply: [NA_REPLY('2001:2::11', 'fe80::1', ROUTER_MAC)] },
    }),
    row({
      name: 'a DAD probe (source ::) for the node address: defended with an NA to all-nodes, dad-conflict',
      input: [NS('2001:2::11', '::', OTHER_MAC, { lla: false })],
      counters: { replied: 1, 'dad-conflict': 1 },
      expect: {
        reply: [
          `Ether(dst='33:33:00:00:00:01', src='${NODE_MAC}')/IPv6(src='2001:2::11', dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt='2001:2::11', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${NODE_MAC}')`,
        ],
      },
    }),
    row({
      name: 'an NS for a hosted egress IP while the agent holds its egress IPs: held, not answered',
      setup: (st) => {
        st.holdEgress = true;
      },
      input: [NS('2001:2::253', '2001:2::101', OTHER_MAC)],
      counters: { held: 1, learned: 1 },
    }),
    row({
      name: 'an NS for an address this node does not own: drop-not-owned, nothing learned',
      steps: [{ input: [NS('2001:2::254', '2001:2::101', OTHER_MAC)] }, { setup: expectEntry('2001:2::101', '', '') }],
      counters: { 'drop-not-owned': 1 },
    }),
    row({
      name: 'an NS from the node IPv6 address with another MAC: conflict-node-ip, not answered',
      input: [NS('2001:2::253', '2001:2::11', OTHER_MAC)],
      counters: { 'conflict-node-ip': 1 },
    }),
    row({
      name: 'an NS from the hosted egress IP with another MAC: conflict-egress-ip',
      input: [NS('2001:2::11', '2001:2::253', OTHER_MAC)],
      counters: { 'conflict-egress-ip': 1 },
    }),
    row({
      name: 'this node’s own NS coming back: own',
      input: [NS('2001:2::11', '2001:2::253', NODE_MAC)],
      counters: { own: 1 },
    }),
    row({
      name: 'a solicited NA for an INCOMPLETE entry: resolved',
      setup: incomplete('2001:2::101'),
      steps: [
        { input: [NA('2001:2::101', OTHER_MAC, 1, 1)] },
        { setup: expectEntry('2001:2::101', 'reachable', OTHER_MAC) },
      ],
      counters: { resolved: 1 },
    }),
    row({
      name: 'a solicited NA without Override for an INCOMPLETE entry: resolved (§7.2.5)',
      setup: incomplete('2001:2::101'),
      input: [NA('2001:2::101', OTHER_MAC, 1, 0)],
      counters: { resolved: 1 },
    }),
    row({
      name: 'an NA without a target link-layer option for an INCOMPLETE entry: drop-no-lla',
      setup: incomplete('2001:2::101'),
      input: [NA('2001:2::101', OTHER_MAC, 1, 1, { lla: false })],
      counters: { 'drop-no-lla': 1 },
    }),
    row({
      name: 'an unsolicited NA with Override (a takeover) for a known entry: its MAC changes',
      setup: (st) => neighbour6(st, '2001:2::101', PEER_MAC),
      steps: [
        { input: [NA('2001:2::101', OTHER_MAC, 0, 1, { dst: 'ff02::1' })] },
        { setup: expectEntry('2001:2::101', 'reachable', OTHER_MAC) },
      ],
      counters: { updated: 1 },
    }),
    row({
      name: 'an unsolicited NA without Override: no-override, the entry unchanged',
      setup: (st) => neighbour6(st, '2001:2::101', PEER_MAC),
      steps: [
        { input: [NA('2001:2::101', OTHER_MAC, 0, 0, { dst: 'ff02::1' })] },
        { setup: expectEntry('2001:2::101', 'reachable', PEER_MAC) },
      ],
      counters: { 'no-override': 1 },
    }),
    row({
      name: 'an unsolicited NA for an address without an entry: drop-na-unknown, none created',
      steps: [
        { input: [NA('2001:2::101', OTHER_MAC, 0, 1, { dst: 'ff02::1' })] },
        { setup: expectEntry('2001:2::101', '', '') },
      ],
      counters: { 'drop-na-unknown': 1 },
    }),
    row({
      name: 'an NA for a static neighbour: pinned, unchanged',
      steps: [
        { input: [NA('2001:2::1', OTHER_MAC, 0, 1, { dst: 'ff02::1' })] },
        { setup: expectEntry('2001:2::1', 'pinned', ROUTER_MAC) },
      ],
      counters: { pinned: 1 },
    }),
    row({
      name: 'an NA claiming the node IPv6 address from another MAC: conflict-node-ip',
      input: [NA('2001:2::11', OTHER_MAC, 0, 1, { dst: 'ff02::1' })],
      counters: { 'conflict-node-ip': 1 },
    }),
    row({
      name: 'past the cap of unsolicited entries: the oldest replaced (learn-replaced)',
      state: { neighbor6: { unsolicited: 1 } },
      steps: [
        { input: [NS('2001:2::11', '2001:2::101', OTHER_MAC), NS('2001:2::11', '2001:2::102', PEER_MAC)] },
        { setup: expectEntry('2001:2::101', '', '') },
      ],
      counters: { replied: 2, learned: 2, 'learn-replaced': 1 },
    }),
    row({
      name: 'the table full of static entries: learn-refused, still answered',
      state: { neighbor6: { entries: 2 } },
      input: [NS('2001:2::11', '2001:2::101', OTHER_MAC)],
      counters: { replied: 1, 'learn-refused': 1 },
    }),
    row({
      name: 'a Router Advertisement from the segment: drop-router-message',
      input: [
        `Ether(dst='33:33:00:00:00:01', src='${ROUTER_MAC}')/IPv6(src='fe80::1', dst='ff02::1', hlim=255)/ICMPv6ND_RA()/ICMPv6NDOptSrcLLAddr(lladdr='${ROUTER_MAC}')`,
      ],
      counters: { 'drop-router-message': 1 },
    }),
    row({
      name: 'a Redirect from the segment: drop-router-message',
      input: [
        `Ether(dst='${NODE_MAC}', src='${ROUTER_MAC}')/IPv6(src='fe80::1', dst='2001:2::11', hlim=255)/ICMPv6ND_Redirect(tgt='fe80::66', dst='2001:2:ff::1')`,
      ],
      counters: { 'drop-router-message': 1 },
    }),
    row({
      name: 'an NS with Hop Limit 64 (from off-link): drop-hop-limit',
      input: [NS('2001:2::11', '2001:2::101', OTHER_MAC, { hlim: 64 })],
      counters: { 'drop-hop-limit': 1 },
    }),
    row({
      name: 'an NS with a wrong ICMPv6 checksum: drop-bad-checksum',
      input: [NS('2001:2::11', '2001:2::101', OTHER_MAC, { x: ', cksum=0x1234' })],
      counters: { 'drop-bad-checksum': 1 },
    }),
    row({
      name: 'an NS with code 1: drop-bad',
      input: [NS('2001:2::11', '2001:2::101', OTHER_MAC, { x: ', code=1' })],
      counters: { 'drop-bad': 1 },
    }),
    row({
      name: 'an NS cut short of its IPv6 payload length: drop-truncated',
      input: [`(${NS('2001:2::11', '2001:2::101', OTHER_MAC)}).build()[:70]`],
      counters: { 'drop-truncated': 1 },
    }),
    row({
      name: 'an NS tagged with VLAN 10 (no IPv6 address of this node is on a VLAN): other-vlan',
      input: [
        {
          pkt: `Ether(dst='33:33:ff:00:00:11', src='${OTHER_MAC}')/Dot1Q(vlan=10)/IPv6(src='2001:2::101', dst='${SNM('00:11')}', hlim=255)/ICMPv6ND_NS(tgt='2001:2::11')/ICMPv6NDOptSrcLLAddr(lladdr='${OTHER_MAC}')`,
          l3: 18,
        },
      ],
      counters: { 'other-vlan': 1 },
    }),
    {
      name: 'a node without an IPv6 side: drop-no-ipv6',
      input: [NS('2001:2::11', '2001:2::101', OTHER_MAC)],
      counters: { 'drop-no-ipv6': 1 },
    },
    {
      name: "IPv6 underlay: an NA for a member's transport address before its first heartbeat: member-unpinned, the waiting entry unresolved",
      config: underlay6(),
      steps: [
        { setup: incomplete('2001:2::12'), input: [NA('2001:2::12', OTHER_MAC, 1, 1)] },
        { setup: expectEntry('2001:2::12', 'incomplete', '00:00:00:00:00:00') },
      ],
      counters: { 'member-unpinned': 1 },
    },
    {
      name: "IPv6 underlay: NAs for a pinned member's transport address, from another MAC and from its own: spoof-member-ip, member",
      config: underlay6(),
      setup: (st) => pin(st, '198.18.0.12', PEER_MAC),
      steps: [
        {
          setup: incomplete('2001:2::12'),
          input: [NA('2001:2::12', OTHER_MAC, 0, 1), NA('2001:2::12', PEER_MAC, 1, 1)],
        },
        { setup: expectEntry('2001:2::12', 'incomplete', '00:00:00:00:00:00') },
      ],
      counters: { 'spoof-member-ip': 1, member: 1 },
    },
    {
      name: "IPv6 underlay: an NS from a member's transport address for the node address: answered, nothing learned (member)",
      config: underlay6(),
      setup: (st) => pin(st, '198.18.0.12', PEER_MAC),
      steps: [{ input: [NS('2001:2::11', '2001:2::12', PEER_MAC)] }, { setup: expectEntry('2001:2::12', '', '') }],
      counters: { replied: 1, member: 1 },
      expect: { reply: [NA_REPLY('2001:2::11', '2001:2::12', PEER_MAC)] },
    },
    row({
      name: 'no slot for the answer: drop-no-buffer',
      slots: 1,
      input: [NS('2001:2::11', '2001:2::101', OTHER_MAC)],
      counters: { learned: 1, 'drop-no-buffer': 1 },
    }),
  ],
};
