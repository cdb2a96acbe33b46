/**
 * A dual-stack cluster in memory (docs/ipv6.md §2): the control plane compiles each Node's view from manifests
 * (test/policy/dual-stack.ts), the agent's `viewToConfig` turns it into a datapath configuration, and two node
 * datapaths exchange frames through the test. web-1 on node1 is selected by an IPv6 Egress hosted on node0: its
 * IPv6 packet crosses Geneve over the IPv4 underlay, is SNAT66ed on node0, and the reply comes back the same way.
 * Packets are built by scapy and compared byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { NodeControl } from '../../engine/agent/control.js';
import { macFor, NodeAgent, viewToConfig } from '../../engine/agent/node-agent.js';
import { Slab } from '../../engine/index.js';
import * as policy from '../../engine/policy/index.js';
import { ethernet } from '../../engine/wire/index.js';
import { HOST_MAC } from '../support/node-config.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { ListPort } from '../support/list-port.js';
import { at, mustApply } from '../policy/helpers.js';
import { dualCluster, dualPod } from '../policy/dual-stack.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const EXT = '2001:2::64';

function nodes(s = dualCluster()) {
  const sim = new policy.ClusterSim(s);
  sim.settle(at(1));
  const built = ['node0', 'node1'].map((name) => {
    const view = sim.view(name)!;
    const m = macFor('node', view.node!.transportIp);
    const cfg = viewToConfig(view, m, () => 0);
    const dp = new NodeDatapath(new Slab({ slots: 256 }), cfg, { conntrack: { seed: 7 } });
    const uplink = new ListPort(`${name}-uplink`);
    dp.attachUplink(uplink);
    dp.attachControl(new ListPort('control'));
    const pod = new ListPort(`${name}-web`);
    dp.pods.add(pod);
    return { name, view, mac: m, dp, uplink, pod };
  });
  // Each peer's MAC, as its authenticated heartbeats would pin it.
  for (const a of built)
    for (const b of built)
      if (a !== b) a.dp.pinPeer(b.view.node!.transportIp, ethernet.macHi16(b.mac), ethernet.macLo32(b.mac));
  return built;
}

describe.skipIf(!hasScapy())('dual-stack cluster in memory (scapy-built packets)', () => {
  it('tunnels a node1 pod to the IPv6 Egress on node0, SNAT66 there, and the reply back to the pod', () => {
    const [n0, n1] = nodes();
    const [req, ns, na, out, reply, delivered] = scapyBytes([
      `IPv6(src='2001:2:0:101::5', dst='${EXT}')/UDP(sport=40000, dport=53)/b'query'`,
      `Ether(dst='33:33:ff:00:00:64', src='02:0e:c6:12:00:0a')/IPv6(src='2001:2:0:e::1', dst='ff02::1:ff00:64', hlim=255)/ICMPv6ND_NS(tgt='${EXT}')/ICMPv6NDOptSrcLLAddr(lladdr='02:0e:c6:12:00:0a')`,
      `Ether(dst='02:0e:c6:12:00:0a', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2:0:e::1', hlim=255)/ICMPv6ND_NA(tgt='${EXT}', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${HOST_MAC}')`,
      `Ether(dst='${HOST_MAC}', src='02:0e:c6:12:00:0a')/IPv6(src='2001:2:0:e::1', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'query'`,
      `Ether(dst='02:0e:c6:12:00:0a', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2:0:e::1')/UDP(sport=53, dport=40000)/b'answer'`,
      `IPv6(src='${EXT}', dst='2001:2:0:101::5', hlim=63)/UDP(sport=53, dport=40000)/b'answer'`,
    ]);
    let now = 1000;
    n1!.pod.queue.push(req!);
    n1!.dp.pollPod(0, now++);
    const tunnelled = n1!.uplink.sent.splice(0);
    expect(tunnelled.length).toBe(1);
    n0!.uplink.queue.push(...tunnelled);
    n0!.dp.pollUplink(now++);
    // The external host is on the segment (the /64 of node0's IPv6 address): resolved with NDP.
    expect(n0!.uplink.sent.splice(0).map(hex)).toEqual([hex(ns!)]);
    n0!.uplink.queue.push(na!);
    n0!.dp.pollUplink(now++);
    n0!.dp.tick(now++);
    expect(n0!.uplink.sent.splice(0).map(hex)).toEqual([hex(out!)]);
    n0!.uplink.queue.push(reply!);
    n0!.dp.pollUplink(now++);
    const back = n0!.uplink.sent.splice(0);
    expect(back.length).toBe(1);
    n1!.uplink.queue.push(...back);
    n1!.dp.pollUplink(now);
    expect(n1!.pod.sent.map(hex)).toEqual([hex(delivered!)]);
    const s0 = n0!.dp.pipeline.snapshot();
    const s1 = n1!.dp.pipeline.snapshot();
    expect(s1['pod-ingress6']!.counters['egress-remote']).toBe(1);
    expect(s0['geneve-decap6']!.counters['to-snat']).toBe(1);
    expect(s0['snat6']!.counters['new']).toBe(1);
    expect(s0['unsnat6']!.counters['un-snat-remote']).toBe(1);
    expect(s1['geneve-decap6']!.counters['to-pod']).toBe(1);
  });

  it('SNAT66s the local pod of the egress node directly', () => {
    const [n0] = nodes();
    const [ask, answer, req, out] = scapyBytes([
      `Ether(dst='33:33:ff:00:00:10', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='ff02::1:ff00:10', hlim=255)/ICMPv6ND_NS(tgt='2001:2::10')/ICMPv6NDOptSrcLLAddr(lladdr='${HOST_MAC}')`,
      `Ether(dst='${HOST_MAC}', src='02:0e:c6:12:00:0a')/IPv6(src='2001:2::10', dst='${EXT}', hlim=255)/ICMPv6ND_NA(tgt='2001:2::10', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='02:0e:c6:12:00:0a')`,
      `IPv6(src='2001:2:0:100::5', dst='${EXT}')/TCP(sport=41000, dport=80, flags='S')`,
      `Ether(dst='${HOST_MAC}', src='02:0e:c6:12:00:0a')/IPv6(src='2001:2:0:e::1', dst='${EXT}', hlim=63)/TCP(sport=41000, dport=80, flags='S')`,
    ]);
    // The host asks for node0's IPv6 address first: answered, and its entry learned from the solicitation.
    n0!.uplink.queue.push(ask!);
    n0!.dp.pollUplink(999);
    expect(n0!.uplink.sent.splice(0).map(hex)).toEqual([hex(answer!)]);
    n0!.pod.queue.push(req!);
    n0!.dp.pollPod(0, 1000);
    expect(n0!.uplink.sent.map(hex)).toEqual([hex(out!)]);
  });

  it('an IPv6-only pod gets its port from the agent and its IPv6 Egress; IPv4 from its port is spoofed', () => {
    // web-7 on node1: status.podIPs with one IPv6 address, selected by both Egresses (eg4 cannot apply to it).
    const v6only = { ...dualPod('web-7', 'node1', 1), status: { podIPs: [{ ip: '2001:2:0:101::7' }] } };
    const state = mustApply(dualCluster(), [v6only]);
    const sim = new policy.ClusterSim(state);
    sim.settle(at(1));
    const view = sim.view('node1')!;
    expect(view.localPods.map((p) => p.key)).toEqual(['e2e/web-1']);
    expect(view.v6.localPods.map((p) => [p.key, p.egressIp, p.egressNode])).toEqual([
      ['e2e/web-1', '2001:2:0:e::1', 'node0'],
      ['e2e/web-7', '2001:2:0:e::1', 'node0'],
    ]);
    const opened: string[] = [];
    const slab = new Slab({ slots: 256 });
    const uplink = new ListPort('node1-uplink');
    const agent = new NodeAgent({
      name: 'node1',
      slab,
      mac: macFor('node', view.node!.transportIp),
      uplink,
      view,
      conntrack: { seed: 7 },
      pods: {
        open: (p) => (opened.push(`4 ${p.key}`), new ListPort(p.key)),
        open6: (p) => (opened.push(`6 ${p.key} ${p.ip}`), new ListPort(p.key)),
        close: (_k, p) => p.close(),
      },
    });
    expect(opened).toEqual(['4 e2e/web-1', '6 e2e/web-7 2001:2:0:101::7']);
    const web7 = agent.pods().get('e2e/web-7')!;
    expect(web7.member).toBe(1);
    const n0 = nodes(state)[0]!;
    agent.datapath.pinPeer(n0.view.node!.transportIp, ethernet.macHi16(n0.mac), ethernet.macLo32(n0.mac));
    n0.dp.pinPeer(view.node!.transportIp, ethernet.macHi16(agent.mac), ethernet.macLo32(agent.mac));
    const [req, ns, na, out, reply, delivered, v4] = scapyBytes([
      `IPv6(src='2001:2:0:101::7', dst='${EXT}')/UDP(sport=40000, dport=53)/b'query'`,
      `Ether(dst='33:33:ff:00:00:64', src='02:0e:c6:12:00:0a')/IPv6(src='2001:2:0:e::1', dst='ff02::1:ff00:64', hlim=255)/ICMPv6ND_NS(tgt='${EXT}')/ICMPv6NDOptSrcLLAddr(lladdr='02:0e:c6:12:00:0a')`,
      `Ether(dst='02:0e:c6:12:00:0a', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2:0:e::1', hlim=255)/ICMPv6ND_NA(tgt='${EXT}', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${HOST_MAC}')`,
      `Ether(dst='${HOST_MAC}', src='02:0e:c6:12:00:0a')/IPv6(src='2001:2:0:e::1', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'query'`,
      `Ether(dst='02:0e:c6:12:00:0a', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2:0:e::1')/UDP(sport=53, dport=40000)/b'answer'`,
      `IPv6(src='${EXT}', dst='2001:2:0:101::7', hlim=63)/UDP(sport=53, dport=40000)/b'answer'`,
      `IP(src='10.10.1.7', dst='198.18.0.100')/UDP(sport=40000, dport=53)/b'query'`,
    ]);
    let now = 1000;
    const port = web7.port as ListPort;
    port.queue.push(req!, v4!);
    agent.datapath.pollPod(web7.member, now++);
    const tunnelled = uplink.sent.splice(0);
    expect(tunnelled.length).toBe(1);
    n0.uplink.queue.push(...tunnelled);
    n0.dp.pollUplink(now++);
    // node0 resolves the external host with NDP, then sends the held packet.
    expect(n0.uplink.sent.splice(0).map(hex)).toEqual([hex(ns!)]);
    n0.uplink.queue.push(na!);
    n0.dp.pollUplink(now++);
    n0.dp.tick(now++);
    expect(n0.uplink.sent.splice(0).map(hex)).toEqual([hex(out!)]);
    n0.uplink.queue.push(reply!);
    n0.dp.pollUplink(now++);
    uplink.queue.push(...n0.uplink.sent.splice(0));
    agent.datapath.pollUplink(now);
    expect(port.sent.map(hex)).toEqual([hex(delivered!)]);
    const s1 = agent.datapath.pipeline.snapshot();
    expect(s1['pod-ingress']!.counters['drop-spoofed']).toBe(1);
    expect(s1['pod-ingress6']!.counters['egress-remote']).toBe(1);
    expect(s1['geneve-decap6']!.counters['to-pod']).toBe(1);
    agent.close();

    // A factory without open6: web-7 gets no port and stays out of the IPv6 tables (not on another pod's member).
    const plain = new NodeAgent({
      name: 'node1',
      slab: new Slab({ slots: 64 }),
      mac: macFor('node', view.node!.transportIp),
      uplink: new ListPort('plain-uplink'),
      view,
      pods: { open: (p) => new ListPort(p.key), close: (_k, p) => p.close() },
    });
    expect([...plain.pods().keys()]).toEqual(['e2e/web-1']);
    expect(plain.datapath.state.tables.v6!.podKeys).toEqual(['e2e/web-1']);
    expect(plain.datapath.state.tables.v6!.podOfPort[0]).toBe(0);
    plain.close();
  });

  it('the agent fills the IPv6 segment and router from the agent configuration, else the /64 of the node address', () => {
    const sim = new policy.ClusterSim(dualCluster());
    sim.settle(at(1));
    const v6 = viewToConfig(sim.view('node0')!, macFor('node', 1), () => 0).v6!;
    expect([v6.segment, v6.gateway, v6.neighbors]).toEqual(['2001:2::/64', null, []]);
    const cfg = dualCluster({ transportCIDRv6: '2001:2::/56', defaultGatewayv6: '2001:2::1' });
    const sim2 = new policy.ClusterSim(cfg);
    sim2.settle(at(1));
    const w6 = viewToConfig(sim2.view('node0')!, macFor('node', 1), () => 0).v6!;
    expect([w6.segment, w6.gateway]).toEqual(['2001:2::/56', '2001:2::1']);
  });

  it('takeover of an IPv6 egress IP: one unsolicited NA (Override) per announcement, by the gratuitous ARP rules', () => {
    const state = dualCluster();
    const control = new NodeControl('node0');
    control.ready = true;
    const members = new Set(['node0', 'node1']);
    const first = control.step(state, members, null, 1000);
    expect(first.announce6).toEqual(['2001:2:0:e::1']);
    expect(control.step(state, members, null, 2000).announce6).toEqual([]);
    expect(control.step(state, members, null, 3000, true).announce6).toEqual(['2001:2:0:e::1']);
    // The agent sends it: to all-nodes, from and for the egress IP, Override set, the node MAC as target LLA.
    const m = macFor('node', first.view.node!.transportIp);
    const uplink = new ListPort('uplink');
    const agent = new NodeAgent({
      name: 'node0',
      slab: new Slab({ slots: 64 }),
      mac: m,
      uplink,
      pods: { open: (p) => new ListPort(p.key), close: () => {} },
      view: first.view,
    });
    uplink.sent.splice(0);
    agent.apply(first.view, first.announce, 1000, first.withhold, first.announce6);
    const mt = ethernet.macToString(m);
    const [na] = scapyBytes([
      `Ether(dst='33:33:00:00:00:01', src='${mt}')/IPv6(src='2001:2:0:e::1', dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt='2001:2:0:e::1', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${mt}')`,
    ]);
    const sent = uplink.sent.map(hex);
    expect(sent).toContain(hex(na!));
    expect(sent.length).toBe(first.announce.length + 1);
    expect(agent.announced6.get('2001:2:0:e::1')).toBe(1);
  });
});
