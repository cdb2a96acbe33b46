/**
 * Forged ARP on the segment (issue 11 finding 7, docs/segment-security.md#arp-and-the-neighbour-table). Before,
 * one forged frame claiming node-c's IP moved node-a's and node-b's neighbour entries to the attacker: their
 * heartbeats stopped reaching node-c, which declared them dead and took every egress IP while they still held
 * theirs (a split brain until the 30 s re-probe); a storm from 1 000 senders split the cluster three ways. Now a
 * member's MAC comes only from its authenticated heartbeats: the same frames are counted and change nothing.
 *
 * Input frames are built with scapy (independently of engine/wire) into an Ethernet capture; the whole cluster
 * of examples/reference runs in replay.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const ROOT = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'egress-arp-spoof-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const NODE_MAC: Record<string, string> = {
  'node-a': '02:0e:c6:12:00:0b',
  'node-b': '02:0e:c6:12:00:0c',
  'node-c': '02:0e:c6:12:00:0d',
};
const ATTACKER = '02:ee:00:00:66:66';

interface Summary {
  ownership: Array<{ t: number; ip: string; nodes: string[] }>;
  membership: Array<{ t: number; node: string; event: string; peer?: string }>;
  nodes: Record<
    string,
    {
      members: string[];
      egressIps: string[];
      stages: Record<string, { counters?: Record<string, number> }>;
      neighbors: Array<{ ip: string; mac: string | null; state: string }>;
    }
  >;
}

/**
 * An Ethernet capture: prod/web-a and staging/web-c send a UDP packet to showip every 100 ms for 3 s (so the
 * replay runs that long and traffic shows each egress IP's path), plus the Python expressions of `attack` at 0.3 s.
 */
function capture(name: string, attack: string): string {
  const path = join(tmp, `${name}.pcap`);
  const preamble = `
pkts = []
for k in range(30):
    for src in ('198.19.1.10', '198.19.3.10'):
        p = Ether(src='02:00:00:00:00:02', dst='02:00:00:00:00:01')/IP(src=src, dst='198.18.0.100')/UDP(sport=2000 + k, dport=9)/b'tick'
        p.time = 1767225600 + k * 0.1
        pkts.append(p)
evil = ${attack}
for i, p in enumerate(evil):
    p.time = 1767225600 + 0.3 + i * 1e-6
pkts += evil
pkts.sort(key=lambda p: p.time)
wrpcap(${JSON.stringify(path)}, pkts)
`;
  scapyBytes(["b''"], preamble);
  return path;
}

async function replay(input: string): Promise<Summary> {
  const dir = join(tmp, `o${Math.random().toString(36).slice(2)}`);
  const [log, error] = [console.log, console.error];
  const err: string[] = [];
  console.log = () => {};
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const status = await main([
      'replay',
      '--manifests',
      join(ROOT, 'examples/reference/cluster.yaml'),
      '--in',
      input,
      '--reflect',
      '--out',
      dir,
      '--quiet',
    ]);
    expect(status, err.join('\n')).toBe(0);
  } finally {
    [console.log, console.error] = [log, error];
  }
  return JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Summary;
}

const arp = (s: Summary, node: string) => s.nodes[node]!.stages['arp']?.counters ?? {};

/** No split brain, nobody declared dead, and the start-up owners keep their IPs. */
function expectStableOwnership(s: Summary): void {
  for (const o of s.ownership) expect(o.nodes.length, `${o.ip} at ${o.t}: ${o.nodes.join(',')}`).toBe(1);
  expect(s.ownership).toEqual([
    { t: -0.89, ip: '198.18.0.253', nodes: ['node-c'] },
    { t: -0.89, ip: '198.18.0.254', nodes: ['node-a'] },
  ]);
  expect(s.membership.filter((m) => m.event === 'dead')).toEqual([]);
  for (const n of ['node-a', 'node-b', 'node-c']) expect(s.nodes[n]!.members).toEqual(['node-a', 'node-b', 'node-c']);
}

/** Every node's entries for the other nodes: pinned to their own MACs. */
function expectPinnedPeers(s: Summary): void {
  for (const n of Object.keys(NODE_MAC)) {
    const peers = s.nodes[n]!.neighbors.filter((e) => ['198.18.0.11', '198.18.0.12', '198.18.0.13'].includes(e.ip));
    const want = Object.entries(NODE_MAC)
      .filter(([m]) => m !== n)
      .map(([m, mac]) => ({ ip: `198.18.0.${{ 'node-a': 11, 'node-b': 12, 'node-c': 13 }[m]}`, mac, state: 'pinned' }));
    expect(peers.map((e) => ({ ip: e.ip, mac: e.mac, state: e.state }))).toEqual(want);
  }
}

describe.skipIf(!hasScapy())('replay: forged ARP cannot move a member or an egress IP', () => {
  beforeAll(() => {
    if (!hasScapy()) console.log('skipped: /usr/bin/python3 has no scapy (apt-get install python3-scapy)');
  });

  it("one forged GARP for node-c's IP: no split brain, counted spoof-member-ip on node-a and node-b", async () => {
    const s = await replay(
      capture(
        'one',
        `[Ether(src='${ATTACKER}', dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc='${ATTACKER}', psrc='198.18.0.13', hwdst='ff:ff:ff:ff:ff:ff', pdst='198.18.0.13')]`,
      ),
    );
    expectStableOwnership(s);
    expectPinnedPeers(s);
    expect(arp(s, 'node-a')['spoof-member-ip']).toBe(1);
    expect(arp(s, 'node-b')['spoof-member-ip']).toBe(1);
    // node-c sees a frame claiming its own address from another MAC.
    expect(arp(s, 'node-c')['conflict-node-ip']).toBe(1);
  });

  it('a forged GARP for an egress IP from a non-member MAC: the owner counts a conflict, peers keep its MAC', async () => {
    const s = await replay(
      capture(
        'egress',
        `[Ether(src='${ATTACKER}', dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc='${ATTACKER}', psrc=ip, hwdst='ff:ff:ff:ff:ff:ff', pdst=ip) for ip in ('198.18.0.253', '198.18.0.254')]`,
      ),
    );
    expectStableOwnership(s);
    // node-c hosts .253, node-a hosts .254: each counts the claim on its own IP.
    expect(arp(s, 'node-c')['conflict-egress-ip']).toBe(1);
    expect(arp(s, 'node-a')['conflict-egress-ip']).toBe(1);
    // web-a (node-a) tunnels to .253 and web-c (node-c) to .254: their entries stay the owners' MACs.
    expect(arp(s, 'node-a')['spoof-egress-ip']).toBe(1);
    expect(arp(s, 'node-c')['spoof-egress-ip']).toBe(1);
    const entry = (n: string, ip: string) => s.nodes[n]!.neighbors.find((e) => e.ip === ip);
    expect(entry('node-a', '198.18.0.253')?.mac).toBe(NODE_MAC['node-c']);
    expect(entry('node-c', '198.18.0.254')?.mac).toBe(NODE_MAC['node-a']);
  });

  it('an ARP storm from 1 000 senders: no split brain, pinned entries kept, the table stays bounded', async () => {
    // Each sender: a request for node-a's IP (which would create an entry) and a GARP claiming a node IP or an
    // egress IP in turn (which would move an existing one).
    const s = await replay(
      capture(
        'storm',
        `[f for k in range(1000) for f in (
  Ether(src='02:66:00:00:%02x:%02x' % (k >> 8, k & 255), dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc='02:66:00:00:%02x:%02x' % (k >> 8, k & 255), psrc='198.18.%d.%d' % (4 + (k >> 8), k & 255), pdst='198.18.0.11'),
  Ether(src='02:66:00:00:%02x:%02x' % (k >> 8, k & 255), dst='ff:ff:ff:ff:ff:ff')/ARP(op=2, hwsrc='02:66:00:00:%02x:%02x' % (k >> 8, k & 255), psrc=('198.18.0.11', '198.18.0.12', '198.18.0.13', '198.18.0.253', '198.18.0.254')[k % 5], hwdst='ff:ff:ff:ff:ff:ff', pdst='198.18.0.100'))]`,
      ),
    );
    expectStableOwnership(s);
    expectPinnedPeers(s);
    const a = arp(s, 'node-a');
    // 1 000 requests for node-a from unknown senders: at most a quarter of the 1 024 entries hold them, the
    // oldest replaced in turn.
    expect(a['learned']).toBeGreaterThanOrEqual(1000);
    expect(a['learn-replaced']).toBe(a['learned']! - 256);
    const storm = s.nodes['node-a']!.neighbors.filter(
      (e) => e.ip.startsWith('198.18.4') || e.ip.startsWith('198.18.5'),
    );
    expect(storm.length).toBeLessThanOrEqual(256);
    expect(s.nodes['node-a']!.neighbors.length).toBeLessThanOrEqual(256 + 4);
    // The claims, by reason (200 senders each claimed each address).
    for (const n of ['node-a', 'node-b', 'node-c']) {
      const c = arp(s, n);
      expect((c['spoof-member-ip'] ?? 0) + (c['conflict-node-ip'] ?? 0)).toBe(600);
    }
    expect(arp(s, 'node-a')['conflict-egress-ip']).toBe(200); // .254 is node-a's
    expect(arp(s, 'node-c')['conflict-egress-ip']).toBe(200); // .253 is node-c's
    expect(arp(s, 'node-a')['spoof-egress-ip']).toBe(200); // web-a tunnels to .253
  });
});
