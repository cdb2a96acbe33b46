/**
 * An IPv6 underlay in memory (docs/ipv6.md §2.l): two Nodes with IPv6 transport addresses only, compiled from
 * manifests (test/policy/dual-stack.ts `v6OnlyCluster`) through the control plane and `viewToConfig`. web-1 on
 * node1 is selected by the IPv6 Egress hosted on node0: its packet crosses Geneve over IPv6 (outer
 * 2001:2:0:ff::11 → ::10, UDP checksum computed), is SNAT66ed on node0, and the reply comes back the same way.
 * Every tunnelled frame is compared byte for byte with what scapy builds (scapy computes the outer checksum),
 * tshark checks the outer UDP/IPv6 checksums, and a broken, a zero-checksum and an unknown-source frame are
 * counted drops. Heartbeats over IPv6 between two NodeRunners are in test/agent/underlay6-runner.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { macFor, viewToConfig } from '../../engine/agent/node-agent.js';
import { io, Slab } from '../../engine/index.js';
import * as policy from '../../engine/policy/index.js';
import { flowHash6 } from '../../engine/stages/index.js';
import { ethernet, geneve, udp } from '../../engine/wire/index.js';
import { HOST_MAC, mac } from '../support/node-config.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { CHECKSUM_PREFS, STATUS_GOOD, findAll, hasTshark, tsharkPackets } from '../support/tshark.js';
import { ListPort } from '../support/list-port.js';
import { at } from '../policy/helpers.js';
import { v6OnlyCluster } from '../policy/dual-stack.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const macText = (m: Uint8Array) => ethernet.macToString(m);
const EXT = '2001:2::64';
const T0 = '2001:2:0:ff::10';
const T1 = '2001:2:0:ff::11';

function nodes() {
  const sim = new policy.ClusterSim(v6OnlyCluster());
  sim.settle(at(1));
  const built = ['node0', 'node1'].map((name) => {
    const view = sim.view(name)!;
    const m = macFor('node', view.node!.transportIp);
    const cfg = viewToConfig(view, m, () => 0);
    cfg.v6 = { ...cfg.v6!, neighbors: [{ ip: EXT, mac: mac(HOST_MAC) }] };
    const dp = new NodeDatapath(new Slab({ slots: 256 }), cfg, { conntrack: { seed: 7 }, controlPort: 10351 });
    const uplink = new ListPort(`${name}-uplink`);
    dp.attachUplink(uplink);
    dp.attachControl(new ListPort('control'));
    const pod = new ListPort(`${name}-web`);
    dp.pods.add(pod);
    return { name, view, mac: m, dp, uplink, pod };
  });
  // Each peer's MAC under its transport key, as its authenticated heartbeats would pin it.
  for (const a of built)
    for (const b of built)
      if (a !== b) a.dp.pinPeer(b.view.node!.transportIp, ethernet.macHi16(b.mac), ethernet.macLo32(b.mac));
  return built;
}

/** The UDP source port the sender picks for an inner IPv6 packet (the flow hash; scapy builds the rest). */
const sportOf = (inner: Uint8Array) => geneve.flowSrcPort(flowHash6(new DataView(inner.buffer), 0));

describe.skipIf(!hasScapy())('IPv6 underlay: two IPv6-only nodes in memory (scapy-built packets)', () => {
  it('compiles an IPv6 underlay from Nodes with IPv6 addresses only; pods get the uplink MTU − 70', () => {
    const [n0, n1] = nodes();
    expect(n0!.view.node!.transportIp6).toBe(T0);
    expect(n1!.view.node!.transportIp >>> 28).toBe(0xf); // a key in 240.0.0.0/4, never on the wire
    expect(n0!.dp.state.tables.v6!.underlay).toBe(true);
    expect(n0!.view.node!.podMtu).toBe(1430);
    expect(n0!.dp.state.tables.podMtu).toBe(1430);
  });

  it('tunnels a node1 pod to the IPv6 Egress on node0 over IPv6, SNAT66 there, and the reply back', () => {
    const [n0, n1] = nodes();
    const [req, reqBack] = scapyBytes([
      `IPv6(src='2001:2:0:101::5', dst='${EXT}')/UDP(sport=40000, dport=53)/b'query'`,
      `IPv6(src='${EXT}', dst='2001:2:0:101::5', hlim=63)/UDP(sport=53, dport=40000)/b'answer'`,
    ]);
    const outer = (src: string, dst: string, sm: Uint8Array, dm: Uint8Array, sport: number) =>
      `Ether(dst='${macText(dm)}', src='${macText(sm)}')/IPv6(src='${src}', dst='${dst}', hlim=64)/` +
      `UDP(sport=${sport}, dport=6081)/GENEVE(proto=0x6558, vni=0)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${macText(sm)}')`;
    const [tun1, out, reply, tun0, delivered] = scapyBytes([
      `${outer(T1, T0, n1!.mac, n0!.mac, sportOf(req!))}/IPv6(src='2001:2:0:101::5', dst='${EXT}')/UDP(sport=40000, dport=53)/b'query'`,
      `Ether(dst='${HOST_MAC}', src='${macText(n0!.mac)}')/IPv6(src='2001:2:0:e::1', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'query'`,
      `Ether(dst='${macText(n0!.mac)}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2:0:e::1')/UDP(sport=53, dport=40000)/b'answer'`,
      `${outer(T0, T1, n0!.mac, n1!.mac, sportOf(reqBack!))}/IPv6(src='${EXT}', dst='2001:2:0:101::5', hlim=63)/UDP(sport=53, dport=40000)/b'answer'`,
      `IPv6(src='${EXT}', dst='2001:2:0:101::5', hlim=63)/UDP(sport=53, dport=40000)/b'answer'`,
    ]);
    let now = 1000;
    n1!.pod.queue.push(req!);
    n1!.dp.pollPod(0, now++);
    const tunnelled = n1!.uplink.sent.splice(0);
    expect(tunnelled.map(hex)).toEqual([hex(tun1!)]);
    n0!.uplink.queue.push(...tunnelled);
    n0!.dp.pollUplink(now++);
    expect(n0!.uplink.sent.splice(0).map(hex)).toEqual([hex(out!)]);
    n0!.uplink.queue.push(reply!);
    n0!.dp.pollUplink(now++);
    const back = n0!.uplink.sent.splice(0);
    expect(back.map(hex)).toEqual([hex(tun0!)]);
    n1!.uplink.queue.push(...back);
    n1!.dp.pollUplink(now);
    expect(n1!.pod.sent.map(hex)).toEqual([hex(delivered!)]);
    const s0 = n0!.dp.pipeline.snapshot();
    const s1 = n1!.dp.pipeline.snapshot();
    expect(s1['geneve-encap6']!.exits['underlay6']).toBe(1);
    expect(s1['tunnel6-encap']!.counters['encapsulated']).toBe(1);
    expect(s1['uplink-out6']!.counters['sent']).toBe(1);
    expect(s0['tunnel6-decap']!.counters['to-ipv6']).toBe(1);
    expect(s0['geneve-decap6']!.counters['to-snat']).toBe(1);
    expect(s0['unsnat6']!.counters['un-snat-remote']).toBe(1);
    expect(s0['tunnel6-encap']!.counters['encapsulated']).toBe(1);
    expect(s1['geneve-decap6']!.counters['to-pod']).toBe(1);
    // Nothing went the IPv4 way.
    expect(s1['uplink-out']!.counters['sent'] ?? 0).toBe(0);
    expect(s0['geneve-decap']!.exits['snat'] ?? 0).toBe(0);
  });

  it('pod-to-pod over the IPv6 underlay; a zero, a wrong checksum and an unknown source are counted drops', () => {
    const [n0, n1] = nodes();
    const [p2p] = scapyBytes([
      `IPv6(src='2001:2:0:101::5', dst='2001:2:0:100::5')/TCP(sport=41000, dport=80, flags='S')`,
    ]);
    n1!.pod.queue.push(p2p!);
    n1!.dp.pollPod(0, 1000);
    const [f] = n1!.uplink.sent.splice(0);
    expect(f).toBeDefined();
    const zero = f!.slice();
    zero[60] = 0;
    zero[61] = 0;
    const bad = f!.slice();
    bad[bad.length - 1] ^= 0x10;
    const stranger = f!.slice();
    stranger[14 + 8 + 15] = 0x99; // source 2001:2:0:ff::99, no member
    n0!.uplink.queue.push(f!, zero, bad, stranger);
    n0!.dp.pollUplink(1001);
    expect(n0!.pod.sent.map(hex)).toEqual([hex(p2p!)]);
    const d = n0!.dp.pipeline.snapshot()['tunnel6-decap']!.counters;
    expect(d['to-ipv6']).toBe(1);
    expect(d['drop-zero-checksum']).toBe(1);
    expect(d['drop-bad-checksum']).toBe(1);
    // From no member's address: not the underlay, so unsnat6 has it (no connection).
    expect(n0!.dp.pipeline.snapshot()['unsnat6']!.counters['drop-no-connection']).toBe(1);
  });

  it('bad IPv6 outer headers: truncated, wrong Next Header, zero checksum, Geneve version 1, spoofed sources are counted drops', () => {
    const [n0, n1] = nodes();
    const m1 = macText(n1!.mac);
    const m0 = macText(n0!.mac);
    const geneve6 = (src: string, smac: string, g: string, udpExtra = '') =>
      `Ether(dst='${m0}', src='${smac}')/IPv6(src='${src}', dst='${T0}')/UDP(sport=5555, dport=6081${udpExtra})/` +
      `GENEVE(${g})/Ether(dst='aa:bb:cc:dd:ee:ff', src='${smac}')/IPv6(src='2001:2:0:101::5', dst='2001:2:0:100::5')/UDP(sport=1, dport=2)/b'x'`;
    const TEB = 'proto=0x6558, vni=0';
    const [good, v1, zero, wrongMac, fromSelf, nhTcp] = scapyBytes([
      geneve6(T1, m1, TEB),
      geneve6(T1, m1, `version=1, ${TEB}`),
      geneve6(T1, m1, TEB, ', chksum=0'),
      geneve6(T1, '02:00:00:00:00:66', TEB),
      geneve6(T0, m1, TEB),
      `Ether(dst='${m0}', src='${m1}')/IPv6(src='${T1}', dst='${T0}')/TCP(sport=5555, dport=6081)`,
    ]);
    const truncated = good!.slice(0, 14 + 40 + 8 + 4); // the Geneve header cut: the Payload Length runs past it
    n0!.uplink.queue.push(good!, truncated, nhTcp!, zero!, v1!, wrongMac!, fromSelf!);
    expect(() => n0!.dp.pollUplink(1000)).not.toThrow();
    const snap = n0!.dp.pipeline.snapshot();
    const nonZero = Object.fromEntries(Object.entries(snap['tunnel6-decap']!.counters).filter(([, v]) => v > 0));
    expect(nonZero).toEqual({
      'to-ipv6': 1,
      'drop-bad-outer': 1,
      'drop-zero-checksum': 1,
      'drop-version': 1,
      'drop-peer-mac': 1,
      'drop-unknown-peer': 1,
    });
    // TCP to the tunnel port is not the underlay: unsnat6 has it, as any IPv6 from the segment (no connection).
    expect(snap['unsnat6']!.counters['drop-no-connection']).toBe(1);
    expect(n0!.pod.sent).toHaveLength(1);
    expect(n0!.dp.state.slab.available).toBe(n0!.dp.state.slab.slots);
  });

  it('3000 mutated frames over the IPv6 underlay (outer and inner, the UDP checksum refilled for half): counted drops, never an exception or a leak', () => {
    const [n0, n1] = nodes();
    const m1 = macText(n1!.mac);
    const m0 = macText(n0!.mac);
    const outer = (g = 'proto=0x6558, vni=0', dport = 6081) =>
      `Ether(dst='${m0}', src='${m1}')/IPv6(src='${T1}', dst='${T0}')/UDP(sport=5555, dport=${dport})/` +
      (dport === 6081 ? `GENEVE(${g})/Ether(dst='aa:bb:cc:dd:ee:ff', src='${m1}')/` : '');
    const seeds = scapyBytes([
      `${outer()}IPv6(src='2001:2:0:101::5', dst='${EXT}')/UDP(sport=40000, dport=53)/b'query'`,
      `${outer()}IPv6(src='2001:2:0:101::5', dst='2001:2:0:100::5')/TCP(sport=41000, dport=80, flags='S')`,
      `${outer()}IPv6(src='2001:2:0:101::5', dst='${EXT}')/IPv6ExtHdrDestOpt()/ICMPv6EchoRequest(id=1)`,
      `${outer()}IP(src='10.244.1.5', dst='10.244.0.5')/UDP(sport=1, dport=2)/b'v4'`,
      `${outer('proto=0x6558, vni=0, options=[GeneveOptions(classid=0x0102, type=0x01, data=b"abcd")]')}IPv6(src='2001:2:0:101::5', dst='${EXT}')/UDP(sport=1, dport=2)`,
      `${outer(undefined, 10351)}b'heartbeat-bytes-0123456789'`,
    ]);
    let x = 88172645;
    const rnd = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) {
      const seed = seeds[rnd() % seeds.length]!;
      const cut = rnd() % 4 === 0 ? rnd() % seed.length : 0;
      const p = Uint8Array.from(seed.subarray(0, Math.max(1, seed.length - cut)));
      // Mutate the outer IPv6/UDP/Geneve headers mostly, sometimes anywhere.
      for (let m = 1 + (rnd() % 3); m > 0; m--) {
        const at = rnd() % 2 === 0 ? 14 + (rnd() % Math.min(70, Math.max(1, p.length - 14))) : rnd() % p.length;
        if (at < p.length) p[at] = rnd() & 0xff;
      }
      // Half keep the sender's valid checksum over the mutated bytes, so the mutants reach the Geneve and inner checks.
      if (rnd() % 2 === 0 && p.length >= 62 && p[14 + 6] === 17) {
        const v = new DataView(p.buffer);
        const plen = v.getUint16(14 + 4);
        if (14 + 40 + plen <= p.length && plen >= 8 && v.getUint16(14 + 44) === plen) {
          v.setUint16(14 + 46, 0);
          udp.fillChecksum6(v, 14, 14 + 40);
        }
      }
      frames.push(p);
    }
    const slab = n0!.dp.state.slab;
    let now = 1000;
    expect(() => {
      for (let k = 0; k < frames.length; k += 32) {
        n0!.uplink.queue.push(...frames.slice(k, k + 32));
        while (n0!.uplink.queue.length > 0) n0!.dp.pollUplink(now++);
        n0!.uplink.sent.splice(0);
        n0!.pod.sent.splice(0);
      }
      for (let t = 0; t < 5; t++) n0!.dp.tick(1_000_000 + t * 10_000);
    }).not.toThrow();
    const d = n0!.dp.pipeline.snapshot()['tunnel6-decap']!.counters;
    const reasons = Object.entries(d).filter(([k, v]) => k.startsWith('drop-') && v > 0);
    const drops = reasons.reduce((a, [, v]) => a + v, 0);
    expect(drops).toBeGreaterThan(500);
    expect(reasons.length).toBeGreaterThanOrEqual(8); // outer, checksums, version, options, inner ...
    expect(d['drop-bad-checksum']).toBeGreaterThan(0);
    expect((d['to-ipv6'] ?? 0) + (d['control'] ?? 0)).toBeGreaterThan(0); // some mutants stay valid
    expect(slab.available).toBe(slab.slots);
  });

  it.skipIf(!hasTshark())('tshark: every outer UDP/IPv6 checksum the nodes sent is good', () => {
    const [n0, n1] = nodes();
    const [a, b] = scapyBytes([
      `IPv6(src='2001:2:0:101::5', dst='${EXT}')/UDP(sport=40001, dport=53)/b'query'`,
      `IPv6(src='2001:2:0:101::5', dst='2001:2:0:100::5')/UDP(sport=40002, dport=7)/Raw(bytes(range(201)))`,
    ]);
    n1!.pod.queue.push(a!, b!);
    n1!.dp.pollPod(0, 1000);
    const frames = n1!.uplink.sent.splice(0);
    expect(frames.length).toBe(2);
    void n0;
    const dir = mkdtempSync(join(tmpdir(), 'egr-underlay6-'));
    try {
      const file = join(dir, 'underlay6.pcap');
      io.writeCaptureFile(file, { linkType: 1, records: frames.map((data, i) => ({ data, tsSec: 1767225600 + i })) });
      const got = tsharkPackets(file, CHECKSUM_PREFS);
      expect(got.map((p) => findAll(p, 'udp.checksum.status'))).toEqual([
        [STATUS_GOOD, STATUS_GOOD],
        [STATUS_GOOD, STATUS_GOOD],
      ]);
      expect(got.map((p) => findAll(p, 'ipv6.src')[0])).toEqual([T1, T1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
