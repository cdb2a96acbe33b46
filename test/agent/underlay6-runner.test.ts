/**
 * Heartbeats over the IPv6 underlay (docs/ipv6.md §2.l): two NodeRunners of an IPv6-only cluster
 * (test/policy/dual-stack.ts `v6OnlyCluster`) whose uplinks are wired to each other in memory. Their heartbeats
 * go as UDP over IPv6 between the transport addresses (the first ones to the Ethernet broadcast address, until the
 * peer's answer pins its MAC), each node holds the other alive and knows it by its transport key, node0 hosts the
 * IPv6 egress IP, and when node0 falls silent node1 declares it dead. No IPv4 frame is ever
 * sent. tshark checks every UDP checksum of the frames on the wire. (The tunnelled data path between two such
 * nodes is test/stages/underlay6.test.ts's.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeRunner } from '../../engine/agent/node-runner.js';
import { cluster, io, policy, Slab } from '../../engine/index.js';
import { ethernet } from '../../engine/wire/index.js';
import { v6OnlyCluster } from '../policy/dual-stack.js';
import { CHECKSUM_PREFS, STATUS_GOOD, findAll, hasTshark, tsharkPackets } from '../support/tshark.js';

function runners() {
  const state = v6OnlyCluster();
  const key = cluster.makeKey(new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff));
  const statuses = new Map<string, policy.NodeStatusFile>();
  const slab = new Slab({ slots: 1024 });
  const pods = new Map<string, io.MemoryPort>();
  const rs = ['node0', 'node1'].map((name, i) => {
    const uplink = new io.MemoryPort({ name: `${name}-uplink`, slab });
    const r = new NodeRunner({
      name,
      state,
      slab,
      uplink,
      key,
      incarnation: 1000 + i,
      now: 0,
      status: { files: () => statuses.values(), write: (f) => statuses.set(f.node, f), events: () => {} },
      pods: {
        open: (p) => {
          const port = new io.MemoryPort({ name: p.key, slab });
          pods.set(p.key, port);
          return port;
        },
        close: (_k, p) => p.close(),
      },
    });
    return { name, r, uplink };
  });
  const wire: Uint8Array[] = [];
  let now = 0;
  const silent = new Set<string>();
  const cut = (name: string) => silent.add(name);
  const step = (to: number) => {
    for (; now < to; now += 10) {
      for (const x of rs) {
        if (silent.has(x.name)) continue;
        x.r.agent.datapath.pollUplink(now);
        x.r.tick(now);
      }
      const [a, b] = rs;
      const fromA = silent.has(a!.name) ? [] : a!.uplink.takeSent();
      const fromB = silent.has(b!.name) ? [] : b!.uplink.takeSent();
      for (const p of fromA) b!.uplink.inject(p.data);
      for (const p of fromB) a!.uplink.inject(p.data);
      for (const p of [...fromA, ...fromB]) wire.push(p.data);
    }
  };
  return { rs, pods, wire, step, cut, now: () => now };
}

describe('IPv6 underlay: heartbeats over IPv6 between two NodeRunners', () => {
  it('each node holds the other alive, node0 hosts the egress IP, only IPv6 frames on the wire', () => {
    const { rs, wire, step } = runners();
    step(3000);
    const [n0, n1] = rs;
    expect([...n0!.r.membership.alive()].sort()).toEqual(['node0', 'node1']);
    expect([...n1!.r.membership.alive()].sort()).toEqual(['node0', 'node1']);
    for (const [a, b] of [
      [n0!, n1!],
      [n1!, n0!],
    ] as const) {
      const p = a.r.membership.peers().find((x) => x.name === b.name)!;
      expect(p.state).toBe('alive');
      expect(p.seesMe).toBe(true);
      expect(p.ip).toBe(b.r.agent.view.node!.transportIp); // known by its transport key
    }
    expect(n0!.r.history.some((e) => e.type === 'settled')).toBe(true);
    expect(n0!.r.agent.view.v6.localEgressIps.map((l) => l.ip)).toEqual(['2001:2:0:e::1']);
    const s0 = n0!.r.agent.datapath.pipeline.snapshot();
    expect(s0['tunnel6-decap']!.counters['control']).toBeGreaterThan(10);
    expect(s0['control-in']!.counters['delivered']).toBe(s0['tunnel6-decap']!.counters['control']);
    expect(s0['uplink-out6']!.counters['first-contact']).toBeGreaterThanOrEqual(1);
    expect(s0['uplink-out6']!.counters['sent']).toBeGreaterThan(10);
    // Pinned under node1's transport key with node1's MAC.
    const k1 = n1!.r.agent.view.node!.transportIp;
    expect(n0!.r.agent.datapath.state.pins.get(k1)).toEqual([
      ethernet.macHi16(n1!.r.agent.mac),
      ethernet.macLo32(n1!.r.agent.mac),
    ]);
    expect(wire.length).toBeGreaterThan(20);
    expect(wire.every((f) => ethernet.ethertype(new DataView(f.buffer, f.byteOffset), 0) === 0x86dd)).toBe(true);
  });

  it('node0 falls silent: node1 declares it dead (failure detection over the IPv6 underlay)', () => {
    const { rs, step, now, cut } = runners();
    step(3000);
    const [n0, n1] = rs;
    expect(n1!.r.agent.view.v6.localEgressIps).toEqual([]);
    cut('node0');
    step(now() + 2000);
    expect(n1!.r.membership.peers().find((x) => x.name === 'node0')!.state).toBe('dead');
    void n0;
  });

  it.skipIf(!hasTshark())('tshark: every UDP checksum of the heartbeats and tunnelled frames is good', () => {
    const { wire, step } = runners();
    step(1000);
    const dir = mkdtempSync(join(tmpdir(), 'egr-underlay6-hb-'));
    try {
      const file = join(dir, 'heartbeats6.pcap');
      const frames = wire.slice(0, 40);
      io.writeCaptureFile(file, { linkType: 1, records: frames.map((data, i) => ({ data, tsSec: 1767225600 + i })) });
      const got = tsharkPackets(file, CHECKSUM_PREFS);
      expect(got.length).toBe(frames.length);
      // Heartbeats, and node0's unsolicited NA for the egress IP it takes over (docs/ipv6.md §2.e).
      const udpFrames = got.filter((p) => findAll(p, 'udp.dstport').length > 0);
      const other = got.filter((p) => findAll(p, 'udp.dstport').length === 0);
      expect(udpFrames.length).toBeGreaterThan(20);
      for (const p of udpFrames) {
        expect(findAll(p, 'udp.dstport')).toEqual(['10351']);
        expect(findAll(p, 'udp.checksum.status')).toEqual([STATUS_GOOD]);
        expect(findAll(p, 'ipv6.src')[0]).toMatch(/^2001:2:0:ff::1[01]$/);
      }
      for (const p of other) {
        expect(findAll(p, 'icmpv6.type')).toEqual(['136']);
        expect(findAll(p, 'icmpv6.nd.na.target_address')).toEqual(['2001:2:0:e::1']);
        expect(findAll(p, 'icmpv6.checksum.status')).toEqual([STATUS_GOOD]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
