/**
 * NDP and the IPv6 neighbour table against a hostile segment (docs/segment-security.md#ndp-and-the-ipv6-neighbour-table),
 * the counterpart of arp-security.test.ts: unsolicited advertisements never create entries, never change a
 * static (pinned) one, and change a learned one only with the Override flag; claims on owned addresses are counted
 * and change nothing; Neighbor Solicitations are answered only for owned addresses (no reflection); entries created
 * from solicitations are capped and never evict what this node's own traffic made; Router Advertisements,
 * Redirects and off-link NDP (Hop Limit < 255) change nothing. Frames are built with scapy, independently of
 * engine/wire; each rule has a control case (the right frame works).
 */
import { describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { Slab } from '../../engine/index.js';
import type { NodeDatapathConfig, NodeDatapathConfig6 } from '../../engine/stages/index.js';
import { baseConfig, NODE_MAC, OTHER_MAC } from '../support/node-config.js';
import { ListPort } from '../support/list-port.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { base6, ROUTER_MAC } from './cases/base6.js';

const ATTACKER_MAC = OTHER_MAC;
const HOST2 = '2001:2::101';
const HOST2_MAC = '02:00:00:00:00:65';
const WEB1 = '2001:2:0:a1::5';
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const S = (...exprs: string[]) => scapyBytes(exprs);

function build(over: Partial<NodeDatapathConfig6> = {}, entries = 64) {
  const cfg: NodeDatapathConfig = { ...baseConfig(), v6: { ...base6(), segment: '2001:2::/64', ...over } };
  const slab = new Slab({ slots: 512 });
  const dp = new NodeDatapath(slab, cfg, { conntrack: { seed: 7 }, neighbor6: { entries } });
  const uplink = new ListPort('uplink');
  dp.attachUplink(uplink);
  dp.attachControl(new ListPort('control'));
  const pods = [new ListPort('web-1'), new ListPort('other'), new ListPort('web-2')];
  for (const p of pods) dp.pods.add(p);
  let now = 1000;
  return {
    slab,
    dp,
    fromPod: (...pkts: Uint8Array[]) => {
      pods[0]!.queue.push(...pkts);
      dp.pollPod(0, now++);
    },
    fromUplink: (...frames: Uint8Array[]) => {
      uplink.queue.push(...frames);
      dp.pollUplink(now++);
      dp.tick(now++);
    },
    up: () => uplink.sent.splice(0).map(hex),
    entry: (addr: string) => dp.state.neigh6.dump(now).find((e) => e.ip === addr),
    ndp: () => dp.pipeline.snapshot()['ndp']!.counters,
  };
}

const pkt = (dst: string, sport = 40000) => `IPv6(src='${WEB1}', dst='${dst}')/UDP(sport=${sport}, dport=53)/b'q'`;
const sent = (dst: string, dmac: string, sport = 40000) =>
  `Ether(dst='${dmac}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${dst}', hlim=63)/UDP(sport=${sport}, dport=53)/b'q'`;
const na = (tgt: string, smac: string, s: number, o: number, lla = smac, dst = 'ff02::1', hlim = 255) =>
  `Ether(dst='${NODE_MAC}', src='${smac}')/IPv6(src='${tgt}', dst='${dst}', hlim=${hlim})/ICMPv6ND_NA(tgt='${tgt}', R=0, S=${s}, O=${o})/ICMPv6NDOptDstLLAddr(lladdr='${lla}')`;
const ns = (tgt: string, src: string, smac: string) =>
  `Ether(dst='33:33:ff:00:00:11', src='${smac}')/IPv6(src='${src}', dst='ff02::1:ff00:11', hlim=255)/ICMPv6ND_NS(tgt='${tgt}')/ICMPv6NDOptSrcLLAddr(lladdr='${smac}')`;
const macOf = (e: { macHi: number; macLo: number } | undefined) =>
  e
    ? [(e.macHi >>> 8) & 255, e.macHi & 255, ...[24, 16, 8, 0].map((s) => (e.macLo >>> s) & 255)]
        .map((b) => b.toString(16).padStart(2, '0'))
        .join(':')
    : 'none';

/** node-a resolves HOST2 through NDP for a pod's packet: returns the node with HOST2 reachable at HOST2_MAC. */
function resolved() {
  const n = build();
  const [p, answer] = S(pkt(HOST2), na(HOST2, HOST2_MAC, 1, 1, HOST2_MAC, '2001:2::253'));
  n.fromPod(p!);
  n.up();
  n.fromUplink(answer!);
  n.up();
  return n;
}

describe.skipIf(!hasScapy())('NDP against a hostile segment (scapy-built frames)', () => {
  it('an unsolicited NA never creates an entry; a static neighbour never changes; a learned one only with Override', () => {
    const n = resolved();
    const [forge, forgeRouter, forgeNoO, toHost2, takeover, toHost2b] = S(
      na('2001:2::102', ATTACKER_MAC, 0, 1),
      na('2001:2::1', ATTACKER_MAC, 1, 1, ATTACKER_MAC, '2001:2::11'),
      na(HOST2, ATTACKER_MAC, 0, 0),
      pkt(HOST2, 40001),
      na(HOST2, ATTACKER_MAC, 0, 1),
      pkt(HOST2, 40002),
    );
    n.fromUplink(forge!, forgeRouter!, forgeNoO!);
    expect(n.entry('2001:2::102')).toBeUndefined();
    expect(macOf(n.entry('2001:2::1'))).toBe(ROUTER_MAC);
    expect(macOf(n.entry(HOST2))).toBe(HOST2_MAC);
    expect(n.ndp()).toMatchObject({ 'drop-na-unknown': 1, pinned: 1, 'no-override': 1 });
    n.fromPod(toHost2!);
    expect(n.up()).toEqual([hex(S(sent(HOST2, HOST2_MAC, 40001))[0]!)]);
    // Control: the unsolicited NA with Override (a takeover announcement) moves a learned entry.
    n.fromUplink(takeover!);
    n.fromPod(toHost2b!);
    expect(n.up()).toEqual([hex(S(sent(HOST2, ATTACKER_MAC, 40002))[0]!)]);
  });

  it('claims on owned addresses are counted and change nothing; the owner still answers', () => {
    const n = build();
    const [claimNode, claimEgress, ask, answer] = S(
      na('2001:2::11', ATTACKER_MAC, 0, 1),
      ns('2001:2::11', '2001:2::253', ATTACKER_MAC),
      ns('2001:2::11', HOST2, HOST2_MAC),
      `Ether(dst='${HOST2_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::11', dst='${HOST2}', hlim=255)/ICMPv6ND_NA(tgt='2001:2::11', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${NODE_MAC}')`,
    );
    n.fromUplink(claimNode!, claimEgress!);
    expect(n.up()).toEqual([]);
    expect(n.ndp()).toMatchObject({ 'conflict-node-ip': 1, 'conflict-egress-ip': 1 });
    expect(n.entry('2001:2::11')).toBeUndefined();
    expect(n.entry('2001:2::253')).toBeUndefined();
    n.fromUplink(ask!);
    expect(n.up()).toEqual([hex(answer!)]);
  });

  it('an NS for someone else is neither answered nor learned from (no reflection, no cache poisoning)', () => {
    const n = build();
    const [other] = S(ns('2001:2::102', '2001:2::103', ATTACKER_MAC));
    n.fromUplink(other!);
    expect(n.up()).toEqual([]);
    expect(n.entry('2001:2::103')).toBeUndefined();
    expect(n.ndp()).toMatchObject({ 'drop-not-owned': 1 });
  });

  it('a storm of 1 000 senders asking for us: at most a quarter of the table; the router this node uses is kept', () => {
    const n = build({ neighbors: [] }, 64);
    const [p, routerNa] = S(pkt('2001:2:ff::1'), na('2001:2::1', ROUTER_MAC, 1, 1, ROUTER_MAC, '2001:2::253'));
    n.fromPod(p!);
    n.fromUplink(routerNa!);
    n.up();
    const storm = S(
      ...Array.from({ length: 1000 }, (_, i) =>
        ns(
          '2001:2::11',
          `2001:2::${(0x1000 + i).toString(16)}`,
          `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        ),
      ),
    );
    for (let i = 0; i < storm.length; i += 50) n.fromUplink(...storm.slice(i, i + 50));
    n.up();
    const c = n.ndp();
    expect(c['replied']).toBe(1000);
    expect(c['learn-replaced']).toBe(1000 - 16);
    expect(n.dp.state.neigh6.unconfirmedCount).toBe(16);
    expect(macOf(n.entry('2001:2::1'))).toBe(ROUTER_MAC);
    const [p2] = S(pkt('2001:2:ff::1', 40001));
    n.fromPod(p2!);
    expect(n.up()).toEqual([hex(S(sent('2001:2:ff::1', ROUTER_MAC, 40001))[0]!)]);
  });

  it('Router Advertisements, Redirects and off-link NDP change nothing', () => {
    const n = resolved();
    const [ra, redirect, offLink, p] = S(
      `Ether(dst='33:33:00:00:00:01', src='${ATTACKER_MAC}')/IPv6(src='fe80::66', dst='ff02::1', hlim=255)/ICMPv6ND_RA(routerlifetime=9000)/ICMPv6NDOptSrcLLAddr(lladdr='${ATTACKER_MAC}')/ICMPv6NDOptPrefixInfo(prefix='2001:2::', prefixlen=64)`,
      `Ether(dst='${NODE_MAC}', src='${ATTACKER_MAC}')/IPv6(src='fe80::1', dst='2001:2::253', hlim=255)/ICMPv6ND_Redirect(tgt='fe80::66', dst='${HOST2}')/ICMPv6NDOptDstLLAddr(lladdr='${ATTACKER_MAC}')`,
      na(HOST2, ATTACKER_MAC, 0, 1, ATTACKER_MAC, 'ff02::1', 64),
      pkt(HOST2, 40001),
    );
    n.fromUplink(ra!, redirect!, offLink!);
    expect(n.ndp()).toMatchObject({ 'drop-router-message': 2, 'drop-hop-limit': 1 });
    n.fromPod(p!);
    expect(n.up()).toEqual([hex(S(sent(HOST2, HOST2_MAC, 40001))[0]!)]);
  });
});
