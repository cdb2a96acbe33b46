/**
 * Neighbours across the datapath workers of one node (cli/agent/worker-neighbors.ts, docs/agent.md "Workers"):
 * worker 0 resolves a neighbour, the answer (an ARP reply, a Neighbor Advertisement) reaches worker 1's uplink
 * queue, as the kernel's flow hash without ports delivers it. With the shares wired as the main thread relays
 * them, worker 1 has an INCOMPLETE entry for the answer to update (the address worker 0 is resolving), or kept
 * the answer that came first (HeardAnswers, one probe interval), passes on what it learned, and worker 0 releases
 * its parked packet, byte for byte as scapy builds it. Without them, or with an answer older than a probe
 * interval, nothing is learned and the packet stays parked.
 */
import { describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { Slab } from '../../engine/packet/index.js';
import type { NodeDatapathConfig } from '../../engine/stages/index.js';
import { NeighborShare } from '../../cli/agent/worker-neighbors.js';
import { base6 } from '../stages/cases/base6.js';
import { baseConfig, HOST_MAC, NODE_MAC, OTHER_MAC } from '../support/node-config.js';
import { ListPort } from '../support/list-port.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const WEB1_6 = '2001:2:0:a1::5';
const HOST2 = '2001:2::101';
const EIP = '198.18.0.253';
const HOST = '198.18.0.100';

function cfg(): NodeDatapathConfig {
  return { ...baseConfig(), v6: { ...base6(), segment: '2001:2::/64' } };
}

function worker(index: number) {
  const dp = new NodeDatapath(new Slab({ slots: 512 }), cfg(), {
    conntrack: { seed: 3 + index, portShards: [2, index] },
  });
  const uplink = new ListPort(`uplink#${index}`);
  dp.attachUplink(uplink);
  dp.attachControl(new ListPort('control'));
  const pods = [new ListPort('web-1'), new ListPort('other'), new ListPort('web-2')];
  for (const p of pods) dp.pods.add(p);
  const share = { 4: new NeighborShare(dp.state.neigh, 4), 6: new NeighborShare(dp.state.neigh6, 6) };
  return { dp, uplink, pod: pods[0]!, share };
}

/** Two workers; `wired`: their shares relay to each other (what the main thread does). */
function pair(wired: boolean) {
  const w = [worker(0), worker(1)] as const;
  if (wired)
    for (const [i, x] of w.entries())
      for (const f of [4, 6] as const) {
        const other = w[1 - i]!.share[f];
        x.share[f].onSolicit = (addr, vlan) => other.want(addr, vlan, clock);
        x.share[f].onLearned = (row) => other.apply(row, clock);
      }
  let clock = 0;
  const scan = (now: number) => {
    clock = now;
    for (const x of w) for (const f of [4, 6] as const) x.share[f].scan(now);
  };
  return { w, scan };
}

describe.skipIf(!hasScapy())('neighbours shared between datapath workers', () => {
  const [req6, ns, na, out6, req4, arpReq, arpReply, out4] = scapyBytes([
    `IPv6(src='${WEB1_6}', dst='${HOST2}')/UDP(sport=40000, dport=53)/b'query'`,
    `Ether(dst='33:33:ff:00:01:01', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='ff02::1:ff00:101', hlim=255)/ICMPv6ND_NS(tgt='${HOST2}')/ICMPv6NDOptSrcLLAddr(lladdr='${NODE_MAC}')`,
    `Ether(dst='${NODE_MAC}', src='${OTHER_MAC}')/IPv6(src='${HOST2}', dst='2001:2::253', hlim=255)/ICMPv6ND_NA(tgt='${HOST2}', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${OTHER_MAC}')`,
    `Ether(dst='${OTHER_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${HOST2}', hlim=63)/UDP(sport=40000, dport=53)/b'query'`,
    `IP(src='10.244.1.5', dst='${HOST}', id=9)/UDP(sport=30000, dport=53)/b'q'`,
    `Ether(dst='ff:ff:ff:ff:ff:ff', src='${NODE_MAC}')/ARP(op=1, hwsrc='${NODE_MAC}', psrc='${EIP}', hwdst='00:00:00:00:00:00', pdst='${HOST}')`,
    `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/ARP(op=2, hwsrc='${HOST_MAC}', psrc='${HOST}', hwdst='${NODE_MAC}', pdst='${EIP}')`,
    `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IP(src='${EIP}', dst='${HOST}', id=9, ttl=63)/UDP(sport=30000, dport=53)/b'q'`,
  ]);

  /**
   * `asked`: the answer comes after worker 0's scan told worker 1 of the address; `answered`: before it (worker 1
   * keeps it, HeardAnswers), `stale`: 1.5 s before it (more than a probe interval: not used); `alone`: the shares
   * not wired.
   */
  for (const mode of ['asked', 'answered', 'stale', 'alone'] as const)
    it(`IPv6 (NDP) and IPv4 (ARP) answers on the other worker's queue, ${mode}: ${mode === 'asked' || mode === 'answered' ? 'the parked packets are released' : 'nothing is released'}`, () => {
      const { w, scan } = pair(mode !== 'alone');
      const [w0, w1] = w;
      const t0 = mode === 'stale' ? 2500 : 1001;
      w0.pod.queue.push(req6!, req4!);
      w0.dp.pollPod(0, t0 - 1);
      expect(w0.uplink.sent.splice(0).map(hex).sort()).toEqual([hex(ns!), hex(arpReq!)].sort());
      const answer = (now: number) => {
        w1.uplink.queue.push(na!, arpReply!);
        w1.dp.pollUplink(now);
        expect(w1.uplink.sent).toEqual([]);
      };
      if (mode === 'asked') {
        scan(t0); // worker 0 tells of the addresses it resolves
        answer(t0 + 1);
      } else {
        answer(mode === 'stale' ? t0 - 1500 : t0);
        scan(t0 + 1);
      }
      scan(t0 + 2); // worker 1 tells of what it learned
      w0.dp.tick(t0 + 3);
      const s0 = w0.dp.pipeline.snapshot();
      const s1 = w1.dp.pipeline.snapshot();
      if (mode === 'asked' || mode === 'answered') {
        expect(w0.uplink.sent.map(hex).sort()).toEqual([hex(out6!), hex(out4!)].sort());
        expect(s1['ndp']!.counters[mode === 'asked' ? 'resolved' : 'drop-na-unknown']).toBe(1);
        expect(s0['uplink-out6']!.counters['released']).toBe(1);
        expect(s0['uplink-out']!.counters['released']).toBe(1);
      } else {
        expect(w0.uplink.sent.map(hex)).not.toContain(hex(out6!));
        expect(w0.uplink.sent.map(hex)).not.toContain(hex(out4!));
        expect(s1['ndp']!.counters['drop-na-unknown']).toBe(1);
        expect(s0['uplink-out6']!.counters['released'] ?? 0).toBe(0);
        expect(s0['uplink-out']!.counters['released'] ?? 0).toBe(0);
      }
      // Worker 1 sent no request of its own for either address (its entries have nothing parked).
      expect(s1['uplink-out6']!.counters['ndp-solicit'] ?? 0).toBe(0);
      expect(s1['uplink-out']!.counters['arp-request'] ?? 0).toBe(0);
    });

  it('one datapath (no worker set) keeps no unmatched answers', () => {
    const dp = new NodeDatapath(new Slab({ slots: 64 }), cfg(), {});
    expect(dp.state.neigh.heard).toBeNull();
    expect(dp.state.neigh6.heard).toBeNull();
  });

  it('a worker that starts late takes the resolved neighbours of both families (rows)', () => {
    const { w, scan } = pair(true);
    w[0].pod.queue.push(req6!, req4!);
    w[0].dp.pollPod(0, 1000);
    scan(1001);
    w[1].uplink.queue.push(na!, arpReply!);
    w[1].dp.pollUplink(1002);
    const late = worker(1);
    for (const f of [4, 6] as const) for (const r of w[1].share[f].rows()) late.share[f].apply(r, 1003);
    expect(late.dp.state.neigh.dump(1003).map((e) => [e.state, e.macLo])).toEqual([['reachable', 0x64]]);
    expect(
      late.dp.state.neigh6
        .dump(1003)
        .filter((e) => e.state !== 'pinned')
        .map((e) => [e.ip, e.state]),
    ).toEqual([[HOST2, 'reachable']]);
  });
});
