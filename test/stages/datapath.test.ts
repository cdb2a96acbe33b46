/**
 * One node's datapath on in-memory ports, driven packet by packet. Inputs and expected outputs are built with
 * scapy (independently of engine/wire); outputs are compared byte for byte, so every incremental checksum
 * update is checked against scapy's full computation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { Slab } from '../../engine/index.js';
import type { NodeDatapathConfig } from '../../engine/stages/index.js';
import { baseConfig, HOST_MAC, ip, NODE_MAC, PEER_MAC } from '../support/node-config.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { ListPort } from '../support/list-port.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

function config(overrides: Partial<NodeDatapathConfig> = {}): NodeDatapathConfig {
  return { ...baseConfig(), ...overrides };
}

function build(cfg = config()) {
  const slab = new Slab({ slots: 512 });
  const dp = new NodeDatapath(slab, cfg, { conntrack: { seed: 7 } });
  const uplink = new ListPort('uplink');
  const control = new ListPort('control');
  dp.attachUplink(uplink);
  dp.attachControl(control);
  const pods = [new ListPort('web-1'), new ListPort('other'), new ListPort('web-2')];
  for (const p of pods) dp.pods.add(p);
  return { slab, dp, uplink, pods };
}

const S = (...exprs: string[]) => scapyBytes(exprs);
/** A neighbour asking for the node IP: the node learns it (a request for us creates an entry) and answers. */
const ARP_ASK = (from: string, fromMac: string) =>
  `Ether(dst='ff:ff:ff:ff:ff:ff', src='${fromMac}')/ARP(op=1, hwsrc='${fromMac}', psrc='${from}', pdst='198.18.0.11')`;
const ARP_REPLY = (from: string, fromMac: string, to = '198.18.0.11') =>
  `Ether(dst='${NODE_MAC}', src='${fromMac}')/ARP(op=2, hwsrc='${fromMac}', psrc='${from}', hwdst='${NODE_MAC}', pdst='${to}')`;

describe.skipIf(!hasScapy())('node datapath (scapy-built packets)', () => {
  beforeAll(() => {
    if (!hasScapy()) console.log('skipped: /usr/bin/python3 has no scapy (apt-get install python3-scapy)');
  });

  it('SNATs a local pod to its local Egress IP after ARP, and un-SNATs the reply', () => {
    const { slab, dp, uplink, pods } = build();
    const [req, arpReq, arpRep, out, reply, delivered] = S(
      "IP(src='10.244.1.5', dst='198.18.0.100', id=7)/UDP(sport=40000, dport=53)/b'query'",
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${NODE_MAC}')/ARP(op=1, hwsrc='${NODE_MAC}', psrc='198.18.0.253', hwdst='00:00:00:00:00:00', pdst='198.18.0.100')`,
      ARP_REPLY('198.18.0.100', HOST_MAC),
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.253', dst='198.18.0.100', id=7, ttl=63)/UDP(sport=40000, dport=53)/b'query'`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IP(src='198.18.0.100', dst='198.18.0.253', id=9)/UDP(sport=53, dport=40000)/b'answer'`,
      "IP(src='198.18.0.100', dst='10.244.1.5', id=9, ttl=63)/UDP(sport=53, dport=40000)/b'answer'",
    );
    pods[0]!.queue.push(req!);
    dp.pollPod(0, 1000);
    expect(uplink.sent.map(hex)).toEqual([hex(arpReq!)]); // the packet waits for ARP
    expect(dp.state.ct.size).toBe(1);
    expect(dp.state.ct.isConfirmed(0)).toBe(false);
    uplink.queue.push(arpRep!);
    dp.pollUplink(1001);
    expect(uplink.sent.map(hex)).toEqual([hex(arpReq!), hex(out!)]);
    uplink.queue.push(reply!);
    dp.pollUplink(1002);
    expect(pods[0]!.sent.map(hex)).toEqual([hex(delivered!)]);
    const snap = dp.pipeline.snapshot();
    expect(snap['classify']!.counters['egress-local']).toBe(1);
    expect(snap['uplink-out']!.counters).toMatchObject({ 'arp-request': 1, parked: 1, released: 1, sent: 1 });
    expect(snap['unsnat']!.counters['reply']).toBe(1);
    expect(slab.available).toBe(slab.slots);
  });

  it('node-SNATs an unselected pod and bypasses service CIDR and node IPs to the node IP', () => {
    const { dp, uplink } = build();
    const [arpRep] = S(ARP_ASK('198.18.0.100', HOST_MAC));
    uplink.queue.push(arpRep!);
    dp.pollUplink(0);
    uplink.sent.length = 0; // the node's answer
    // node-b's MAC comes from its authenticated heartbeats (node-runner pins the frame's source MAC), never ARP.
    dp.pinPeer(ip('198.18.0.12'), 0x0200, 0x0000000c);
    const [a, b, c, outA, outC] = S(
      "IP(src='10.244.1.6', dst='198.18.0.100')/TCP(sport=33000, dport=80, flags='S', seq=100)",
      "IP(src='10.244.1.5', dst='10.96.0.10')/UDP(sport=5353, dport=53)",
      "IP(src='10.244.1.5', dst='198.18.0.12')/ICMP(type=8, id=77, seq=1)",
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.0.100', ttl=63)/TCP(sport=33000, dport=80, flags='S', seq=100)`,
      `Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.0.12', ttl=63)/ICMP(type=8, id=77, seq=1)`,
    );
    const pods = dp.pods.ports as ListPort[];
    pods[1]!.queue.push(a!);
    dp.pollPod(1, 1);
    pods[0]!.queue.push(b!, c!);
    dp.pollPod(0, 2);
    expect(uplink.sent.map(hex)).toContain(hex(outA!));
    expect(uplink.sent.map(hex)).toContain(hex(outC!));
    const snap = dp.pipeline.snapshot();
    expect(snap['classify']!.counters).toMatchObject({ 'node-snat': 1, bypass: 2 });
    expect(snap['uplink-out']!.counters['drop-no-route']).toBe(1); // 10.96.0.10 is off-segment and there is no gateway
  });

  it('tunnels a pod whose Egress IP is elsewhere to the Egress IP (Geneve, VNI 0, DF, TTL 64, checksum 0)', () => {
    const { dp, uplink } = build();
    // ARP for an Egress IP hosted elsewhere is believed from a member's (pinned) MAC only.
    dp.pinPeer(ip('198.18.0.12'), 0x0200, 0x0000000c);
    const [arpEgress] = S(ARP_ASK('198.18.0.254', PEER_MAC));
    uplink.queue.push(arpEgress!);
    dp.pollUplink(0);
    uplink.sent.length = 0;
    const [inner] = S("IP(src='10.244.1.7', dst='198.18.0.100', id=3)/TCP(sport=41000, dport=80, flags='S')");
    (dp.pods.ports[2] as ListPort).queue.push(inner!);
    dp.pollPod(2, 1);
    expect(uplink.sent.length).toBe(1);
    const frame = uplink.sent[0]!;
    const sport = (frame[34]! << 8) | frame[35]!;
    const [expected] = S(
      `Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.0.254', flags='DF', ttl=64, id=0)/UDP(sport=${sport}, dport=6081, chksum=0)/GENEVE(vni=0, proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${NODE_MAC}')/IP(src='10.244.1.7', dst='198.18.0.100', id=3)/TCP(sport=41000, dport=80, flags='S')`,
    );
    expect(hex(frame)).toBe(hex(expected!));
    expect(sport).toBeGreaterThan(0);
  });

  it('decapsulates Geneve to a hosted Egress IP and SNATs it; the reply goes back to the pod node by Geneve', () => {
    const { dp, uplink } = build();
    const [arpHost, arpPeer] = S(ARP_ASK('198.18.0.100', HOST_MAC), ARP_ASK('198.18.0.12', PEER_MAC));
    uplink.queue.push(arpHost!, arpPeer!);
    dp.pollUplink(0);
    uplink.sent.length = 0;
    // As node-b's authenticated heartbeats would (node-runner pins the frame's source MAC).
    dp.pinPeer(ip('198.18.0.12'), 0x0200, 0x0000000c);
    const [tunneled, out, reply] = S(
      `Ether(dst='${NODE_MAC}', src='${PEER_MAC}')/IP(src='198.18.0.12', dst='198.18.0.253', flags='DF')/UDP(sport=5555, dport=6081, chksum=0)/GENEVE(vni=0, proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${PEER_MAC}')/IP(src='10.244.2.9', dst='198.18.0.100')/UDP(sport=1234, dport=9)/b'x'`,
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.253', dst='198.18.0.100', ttl=63)/UDP(sport=1234, dport=9)/b'x'`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IP(src='198.18.0.100', dst='198.18.0.253')/UDP(sport=9, dport=1234)/b'y'`,
    );
    uplink.queue.push(tunneled!);
    dp.pollUplink(1);
    expect(uplink.sent.map(hex)).toEqual([hex(out!)]);
    uplink.queue.push(reply!);
    dp.pollUplink(2);
    expect(uplink.sent.length).toBe(2);
    const back = uplink.sent[1]!;
    const sport = (back[34]! << 8) | back[35]!;
    const [expected] = S(
      `Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.0.12', flags='DF', ttl=64, id=0)/UDP(sport=${sport}, dport=6081, chksum=0)/GENEVE(vni=0, proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${NODE_MAC}')/IP(src='198.18.0.100', dst='10.244.2.9', ttl=63)/UDP(sport=9, dport=1234)/b'y'`,
    );
    expect(hex(back)).toBe(hex(expected!));
  });

  it('repeats ARP requests while packets wait, without new packets, then drops them after three', () => {
    const { slab, dp, uplink, pods } = build();
    const [req] = S("IP(src='10.244.1.5', dst='198.18.0.100', id=7)/UDP(sport=40000, dport=53)/b'query'");
    pods[0]!.queue.push(req!);
    dp.pollPod(0, 1000);
    const arps = () => uplink.sent.filter((f) => f[12] === 0x08 && f[13] === 0x06).length;
    expect(arps()).toBe(1);
    dp.tick(1500);
    expect(arps()).toBe(1); // one per second
    dp.tick(2001);
    expect(arps()).toBe(2);
    dp.tick(3002);
    expect(arps()).toBe(3);
    dp.tick(4003); // three unanswered: the waiting packet is dropped and its connection aborted
    const c = dp.pipeline.snapshot()['uplink-out']!.counters;
    expect(c).toMatchObject({ 'arp-request': 3, parked: 1, 'drop-arp-timeout': 1 });
    expect(dp.state.ct.size).toBe(0);
    expect(slab.available).toBe(slab.slots);
  });

  it('answers ARP only for owned addresses, and ICMP echo to the node IP', () => {
    const { dp, uplink } = build();
    const [who253, who254, whoNode, reply253, ping, pong] = S(
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${HOST_MAC}')/ARP(op=1, hwsrc='${HOST_MAC}', psrc='198.18.0.100', pdst='198.18.0.253')`,
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${HOST_MAC}')/ARP(op=1, hwsrc='${HOST_MAC}', psrc='198.18.0.100', pdst='198.18.0.254')`,
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${HOST_MAC}')/ARP(op=1, hwsrc='${HOST_MAC}', psrc='198.18.0.100', pdst='198.18.0.11')`,
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/ARP(op=2, hwsrc='${NODE_MAC}', psrc='198.18.0.253', hwdst='${HOST_MAC}', pdst='198.18.0.100')`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IP(src='198.18.0.100', dst='198.18.0.11', ttl=61)/ICMP(type=8, id=5, seq=9)/b'ping'`,
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.0.100', ttl=64)/ICMP(type=0, id=5, seq=9)/b'ping'`,
    );
    uplink.queue.push(who253!, who254!, whoNode!);
    dp.pollUplink(0);
    expect(uplink.sent.length).toBe(2);
    expect(hex(uplink.sent[0]!)).toBe(hex(reply253!));
    uplink.queue.push(ping!);
    dp.pollUplink(1);
    expect(hex(uplink.sent[2]!)).toBe(hex(pong!));
    // The first request for us creates the host's entry; the other two update it.
    expect(dp.pipeline.snapshot()['arp']!.counters).toMatchObject({ replied: 2, ignored: 1, learned: 1, updated: 2 });
  });

  it('drops spoofed, oversized and malformed pod packets with a reason, and sends fragmentation-needed', () => {
    const { slab, dp } = build();
    const pods = dp.pods.ports as ListPort[];
    const [spoofed, big, frag] = S(
      "IP(src='10.244.1.99', dst='198.18.0.100')/UDP(sport=1, dport=2)",
      "IP(src='10.244.1.5', dst='198.18.0.100', flags='DF')/UDP(sport=1, dport=2)/(b'z'*1460)",
      "IP(src='10.244.1.5', dst='198.18.0.100', flags='MF')/UDP(sport=1, dport=2)/b'abc'",
    );
    pods[0]!.queue.push(spoofed!, big!, frag!, new Uint8Array([0x45, 0, 0]));
    dp.pollPod(0, 0);
    const c = dp.pipeline.snapshot()['pod-ingress']!.counters;
    expect(c).toMatchObject({
      'drop-spoofed': 1,
      'drop-too-big': 1,
      fragment: 1,
      'drop-truncated': 1,
      'icmp-frag-needed': 1,
    });
    // The fragment's 11 bytes with MF are no multiple of 8 (RFC 791).
    expect(dp.pipeline.snapshot()['defrag']!.counters).toMatchObject({ 'drop-bad-length': 1 });
    expect(pods[0]!.sent.length).toBe(1);
    const [expected] = S(
      `IP(src='10.244.1.1', dst='10.244.1.5', tos=0xc0, id=0, ttl=64)/ICMP(type=3, code=4, nexthopmtu=1450)/bytes(IP(src='10.244.1.5', dst='198.18.0.100', flags='DF')/UDP(sport=1, dport=2)/(b'z'*1460))[:28]`,
    );
    expect(hex(pods[0]!.sent[0]!)).toBe(hex(expected!));
    expect(slab.available).toBe(slab.slots);
  });
});
