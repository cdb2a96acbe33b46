/**
 * Geneve receive rules (docs/semantics.md §5, receiving): peers pinned from authenticated heartbeats (IP + MAC), the
 * inner source tied to the sending node, and the RFC 8926 rules (version, O bit, critical options). Packets are
 * built with scapy, independently of engine/wire; each rule has a counted drop reason and a control case that the
 * same packet without the offending field is delivered (so the test can fail).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { Slab } from '../../engine/index.js';
import type { NodeDatapathConfig } from '../../engine/stages/index.js';
import { baseConfig, HOST_MAC, ip, mac, NODE_MAC, OTHER_MAC, PEER_MAC } from '../support/node-config.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { ListPort } from '../support/list-port.js';

const ATTACKER_MAC = OTHER_MAC;

/** The shared node without its third pod (this test attaches two pod ports). */
function config(): NodeDatapathConfig {
  const c = baseConfig();
  return { ...c, pods: c.pods.slice(0, 2) };
}

/** A node datapath whose neighbours (host, node-b) are resolved; node-b pinned as its heartbeats would. */
function build(pin = true) {
  const slab = new Slab({ slots: 512 });
  const dp = new NodeDatapath(slab, config(), { conntrack: { seed: 7 } });
  const uplink = new ListPort('uplink');
  dp.attachUplink(uplink);
  dp.attachControl(new ListPort('control'));
  const pods = [new ListPort('web-1'), new ListPort('other')];
  for (const p of pods) dp.pods.add(p);
  const arps = S(
    `Ether(dst='ff:ff:ff:ff:ff:ff', src='${HOST_MAC}')/ARP(op=1, hwsrc='${HOST_MAC}', psrc='198.18.0.100', pdst='198.18.0.11')`,
    `Ether(dst='ff:ff:ff:ff:ff:ff', src='${PEER_MAC}')/ARP(op=1, hwsrc='${PEER_MAC}', psrc='198.18.0.12', pdst='198.18.0.11')`,
  );
  uplink.queue.push(...arps);
  dp.pollUplink(0);
  uplink.sent.length = 0;
  if (pin) {
    const m = mac(PEER_MAC);
    dp.pinPeer(ip('198.18.0.12'), (m[0]! << 8) | m[1]!, (m[2]! << 24) | (m[3]! << 16) | (m[4]! << 8) | m[5]! | 0);
  }
  return { slab, dp, uplink, pods };
}

const S = (...exprs: string[]) => scapyBytes(exprs);
const counters = (dp: NodeDatapath) => dp.pipeline.snapshot()['geneve-decap']!.counters;

/** Geneve from `src` (outer MAC) / 198.18.0.12 to `dst`, with the GENEVE(...) arguments `g` and inner IP `inner`. */
const tun = (src: string, dst: string, g: string, inner: string, payload = "UDP(sport=1234, dport=9)/b'x'") =>
  `Ether(dst='${NODE_MAC}', src='${src}')/IP(src='198.18.0.12', dst='${dst}', flags='DF')/UDP(sport=5555, dport=6081, chksum=0)/GENEVE(${g})/Ether(dst='aa:bb:cc:dd:ee:ff', src='${src}')/IP(${inner})/${payload}`;

describe.skipIf(!hasScapy())('geneve-decap receive rules (scapy-built packets)', () => {
  beforeAll(() => {
    if (!hasScapy()) console.log('skipped: /usr/bin/python3 has no scapy (apt-get install python3-scapy)');
  });

  it('spoofed Geneve from a non-member MAC with a member IP: 0 of 20 injected, 0 of 61 SNATed, all counted', () => {
    const { slab, dp, uplink, pods } = build();
    const inject = S(
      ...Array.from({ length: 20 }, (_, k) =>
        tun(ATTACKER_MAC, '198.18.0.11', 'vni=0, proto=0x6558', `src='198.19.7.${k + 1}', dst='10.244.1.5'`),
      ),
    );
    const snat = S(
      ...Array.from({ length: 61 }, (_, k) =>
        tun(
          ATTACKER_MAC,
          '198.18.0.253',
          'vni=0, proto=0x6558',
          `src='10.244.2.${k + 2}', dst='198.18.0.100'`,
          `UDP(sport=${20000 + k}, dport=53)/b'q'`,
        ),
      ),
    );
    uplink.queue.push(...inject, ...snat);
    while (uplink.queue.length > 0) dp.pollUplink(1);
    expect(pods.map((p) => p.sent.length)).toEqual([0, 0]);
    expect(uplink.sent.length).toBe(0);
    expect(dp.state.ct.size).toBe(0);
    expect(counters(dp)).toMatchObject({ 'drop-peer-mac': 81 });
    expect(counters(dp)['to-pod'] ?? 0).toBe(0);
    expect(slab.available).toBe(slab.slots);

    // Control: the same packets from the pinned MAC go through.
    const [okPod, okSnat] = S(
      tun(PEER_MAC, '198.18.0.11', 'vni=0, proto=0x6558', `src='198.19.7.1', dst='10.244.1.5'`),
      tun(PEER_MAC, '198.18.0.253', 'vni=0, proto=0x6558', `src='10.244.2.2', dst='198.18.0.100'`),
    );
    uplink.queue.push(okPod!, okSnat!);
    dp.pollUplink(2);
    expect(pods[0]!.sent.length).toBe(1);
    expect(uplink.sent.length).toBe(1);
    expect(counters(dp)).toMatchObject({ 'to-pod': 1, 'to-snat': 1, 'drop-peer-mac': 81 });
  });

  it('before any authenticated heartbeat a member IP is not pinned: dropped as drop-unpinned-peer', () => {
    const { dp, uplink, pods } = build(false);
    const [p] = S(tun(PEER_MAC, '198.18.0.11', 'vni=0, proto=0x6558', `src='10.244.2.9', dst='10.244.1.5'`));
    uplink.queue.push(p!);
    dp.pollUplink(1);
    expect(pods[0]!.sent.length).toBe(0);
    expect(counters(dp)).toMatchObject({ 'drop-unpinned-peer': 1 });
  });

  it('RFC 8926: version ≠ 0, O bit, a critical option (with or without the C bit) are dropped, each counted', () => {
    const { dp, uplink, pods } = build();
    const inner = `src='10.244.2.9', dst='10.244.1.5'`;
    const opt = (type: number) => `options=[GeneveOptions(classid=0x0102, type=${type}, data=b'\\x00'*4)]`;
    const frames = S(
      tun(PEER_MAC, '198.18.0.11', 'version=1, proto=0x6558', inner),
      tun(PEER_MAC, '198.18.0.11', 'oam=1, proto=0x6558', inner),
      tun(PEER_MAC, '198.18.0.11', `critical=0, proto=0x6558, ${opt(0x80)}`, inner),
      tun(PEER_MAC, '198.18.0.11', `critical=1, proto=0x6558, ${opt(0x81)}`, inner),
      tun(PEER_MAC, '198.18.0.11', 'critical=1, proto=0x6558', inner),
      // Controls: an unknown non-critical option is ignored (§3.5); a plain packet is delivered.
      tun(PEER_MAC, '198.18.0.11', `proto=0x6558, ${opt(0x01)}`, inner),
      tun(PEER_MAC, '198.18.0.11', 'proto=0x6558', inner),
    );
    uplink.queue.push(...frames);
    dp.pollUplink(1);
    expect(counters(dp)).toMatchObject({
      'drop-version': 1,
      'drop-oam': 1,
      'drop-critical-option': 3,
      'to-pod': 2,
    });
    expect(pods[0]!.sent.length).toBe(2);
  });

  it('inner source must be the sending node’s pod CIDR, or an outside address only towards a local pod', () => {
    const { dp, uplink, pods } = build();
    const frames = S(
      // node-b claiming node-c's pod, and its own node's pod: the first is dropped.
      tun(PEER_MAC, '198.18.0.11', 'proto=0x6558', `src='10.244.3.9', dst='10.244.1.5'`),
      tun(PEER_MAC, '198.18.0.11', 'proto=0x6558', `src='10.244.2.9', dst='10.244.1.5'`),
      // node-b tunnelling to the local egress IP with an outside source (no pod of node-b): dropped.
      tun(PEER_MAC, '198.18.0.253', 'proto=0x6558', `src='198.19.1.1', dst='198.18.0.100'`),
      // Egress-return (§4.c): an outside source towards a local pod is the un-NATed reply path.
      tun(PEER_MAC, '198.18.0.11', 'proto=0x6558', `src='198.18.0.100', dst='10.244.1.5'`),
    );
    uplink.queue.push(...frames);
    dp.pollUplink(1);
    expect(counters(dp)).toMatchObject({ 'drop-inner-src': 2, 'to-pod': 2 });
    expect(pods[0]!.sent.length).toBe(2);
    expect(uplink.sent.length).toBe(0);
  });
});
