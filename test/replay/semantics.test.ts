/**
 * What the replay outputs mean, read with tshark (independent of our parsers): who showip sees as the source,
 * what pods get back, how the egress IP moves on failover, and that no byte sequence crashes the cluster.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Replay } from '../../engine/agent/replay.js';
import { accounting } from '../../engine/agent/replay-summary.js';
import * as policy from '../../engine/policy/index.js';
import { hasTshark } from '../support/tshark.js';
import { fields as tsharkFields, replay, SCENARIOS } from './scenarios.js';

const ROOT = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'egress-sem-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** tshark fields with data shown as text (the payloads name their sender). */
const TEXT = ['-o', 'data.show_as_text:TRUE'];
function fields(file: string, filter: string, names: string[]): string[][] {
  return tsharkFields(file, filter, names, TEXT);
}

const out = (name: string) => join(tmp, name);

describe.skipIf(!hasTshark())('replay semantics (tshark)', () => {
  beforeAll(async () => {
    for (const s of SCENARIOS) await replay(s, out(s.name));
  });

  it('reference: showip sees prod pods as one egress IP, staging as the other, others as their node IP', () => {
    const rows = fields(join(out('reference'), 'segment.pcap'), 'ip.dst==198.18.0.100 && udp.dstport==9 && !geneve', [
      'ip.src',
      'data.text',
    ]);
    const seen = Object.fromEntries(rows.map(([src, text]) => [text!.replace('udp from ', ''), src]));
    expect(seen).toEqual({
      '198.19.1.10': '198.18.0.253', // prod/web-a on node-a (Egress node-c): tunneled, SNATed on node-c
      '198.19.2.10': '198.18.0.253', // prod/web-b on node-b
      '198.19.3.10': '198.18.0.254', // staging/web-c on node-c (Egress node-a)
      '198.19.1.11': '198.18.0.254', // staging/web-d on node-a: local SNAT
      '198.19.2.11': '198.18.0.12', // dev/tools: no Egress, node-b's IP
    });
    // Every pod got its echo back, to its own address and port.
    const back = fields(join(out('reference'), 'pods.pcap'), 'udp.srcport==9', ['ip.src', 'ip.dst', 'udp.dstport']);
    expect(back.map((r) => r.join(' ')).sort()).toEqual(
      ['198.19.1.10 40000', '198.19.2.10 40001', '198.19.3.10 40002', '198.19.1.11 40003', '198.19.2.11 40004']
        .map((x) => `198.18.0.100 ${x}`)
        .sort(),
    );
    // Two pods with the same source port to the same destination through one egress IP: one keeps it, one is moved.
    const same = fields(join(out('reference'), 'segment.pcap'), 'ip.dst==198.18.0.100 && udp.dstport==53 && !geneve', [
      'ip.src',
      'udp.srcport',
    ]);
    expect(same.map((r) => r[0])).toEqual(['198.18.0.253', '198.18.0.253']);
    expect(same[0]![1]).toBe('5353');
    expect(same[1]![1]).not.toBe('5353');
    // TCP handshakes and ICMP echoes completed for every pod.
    expect(fields(join(out('reference'), 'pods.pcap'), 'tcp.flags.syn==1 && tcp.flags.ack==1', ['ip.dst']).length).toBe(
      5,
    );
    expect(fields(join(out('reference'), 'pods.pcap'), 'icmp.type==0', ['ip.dst']).length).toBe(5);
  });

  it('bypass: exceptCIDRs, the service CIDR and node IPs leave with the node IP; pod-to-pod is never NATed', () => {
    const seg = join(out('bypass'), 'segment.pcap');
    const src = (dst: string) =>
      fields(seg, `ip.dst==${dst} && !geneve && !(udp.port==10351)`, ['ip.src']).map((r) => r[0]);
    expect(src('198.19.250.10')).toEqual(['198.18.0.253', '198.18.0.253']); // the Internet: the Egress IP
    expect(src('198.19.200.5')).toEqual(['198.18.0.11']); // exceptCIDR
    expect(src('198.19.64.10')).toEqual(['198.18.0.11']); // service CIDR
    expect(src('198.18.0.12')).toEqual(['198.18.0.11']); // a node IP
    // Pod-to-pod across nodes: inside Geneve, addresses unchanged.
    const inner = fields(seg, 'geneve && tcp', ['ip.src', 'ip.dst']).map((r) => r.join(' '));
    expect(inner).toEqual([
      '198.18.0.11,198.19.1.10 198.18.0.12,198.19.2.10',
      '198.18.0.12,198.19.2.10 198.18.0.11,198.19.1.10',
    ]);
    // A connection the pod accepted: its answer leaves from the pod's own address.
    expect(fields(seg, 'ip.dst==198.18.0.100 && tcp.srcport==80', ['ip.src']).map((r) => r[0])).toEqual([
      '198.19.1.10',
    ]);
  });

  it('failover: the egress IP moves after detection, showip follows the gratuitous ARP, traffic resumes', () => {
    const s = JSON.parse(readFileSync(join(out('failover'), 'summary.json'), 'utf8')) as {
      ownership: Array<{ t: number; ip: string; nodes: string[] }>;
      arpChanges: Array<{ t: number; host: string; ip: string; mac: string }>;
      membership: Array<{ t: number; node: string; event: string; peer?: string }>;
    };
    const moves = s.ownership.filter((o) => o.ip === '198.18.0.253');
    // Never two owners answering for the IP at once.
    expect(moves.filter((m) => m.nodes.length > 1)).toEqual([]);
    const owner = (t: number) =>
      [...moves]
        .reverse()
        .find((m) => m.t <= t)
        ?.nodes.join(',') ?? '';
    expect(owner(0.29)).toBe('node-c');
    expect(owner(0.31)).toBe(''); // node-c frozen at 0.3 s: nobody answers until the others see it dead
    // Heartbeats: node-c is dead for node-a and node-b 500 ms after its last heartbeat (every 50 ms).
    const dead = s.membership.filter((m) => m.event === 'dead' && m.peer === 'node-c').map((m) => m.t);
    expect(dead.length).toBe(2);
    for (const t of dead) {
      expect(t).toBeGreaterThanOrEqual(0.75);
      expect(t).toBeLessThanOrEqual(0.85);
    }
    const takeover = moves.find((m) => m.t > 0.3 && m.nodes.length === 1)!;
    expect(takeover.nodes).toEqual(['node-a']);
    expect(takeover.t).toBeLessThanOrEqual(Math.max(...dead) + 0.02);
    // node-c comes back at 1.6 s: it holds its IPs until membership settles, then takes 198.18.0.253 back.
    expect(owner(1.6)).toBe(''); // node-a released as soon as it heard node-c; node-c not settled yet
    expect(owner(1.7)).toBe('node-c');
    expect(s.membership.filter((m) => m.node === 'node-c').map((m) => m.event)).toEqual(
      expect.arrayContaining(['paused', 'settled']),
    );
    // showip's ARP entry follows each move.
    const arp = s.arpChanges.filter((c) => c.ip === '198.18.0.253').map((c) => c.mac);
    expect(arp).toEqual(['02:0e:c6:12:00:0d', '02:0e:c6:12:00:0b', '02:0e:c6:12:00:0d']);
    const seg = join(out('failover'), 'segment.pcap');
    const garps = fields(seg, 'arp.isgratuitous==1 && arp.src.proto_ipv4==198.18.0.253', ['eth.src']).map((g) => g[0]);
    expect(garps).toEqual(['02:0e:c6:12:00:0d', '02:0e:c6:12:00:0b', '02:0e:c6:12:00:0d']); // exactly one per takeover
    // Requests reaching showip from prod/web-a (payload aNN, every 50 ms from t = 0): none while nobody owns the
    // IP, every one from the takeover on (web-a is on node-a: local SNAT there).
    const got = fields(seg, 'ip.dst==198.18.0.100 && udp.srcport==45000 && !geneve', ['data.text']).map((r) =>
      Number(r[0]!.slice(1)),
    );
    const first = Math.ceil((takeover.t + 1e-9) / 0.05);
    expect(got.filter((i) => i >= 7 && i < first - 1)).toEqual([]);
    expect(got.filter((i) => i >= first)).toEqual([...Array(40 - first).keys()].map((k) => k + first));
    console.log(
      `replay failover: node-c frozen at 0.300 s, dead for its peers at ${dead.join(' / ')} s, 198.18.0.253 on node-a at ${takeover.t} s`,
    );
  });

  it('any byte sequence ends as counted drops, never an exception', () => {
    const applied = policy.applyDocs(
      policy.emptyState(),
      policy.parseManifests(readFileSync(join(ROOT, 'examples/reference/cluster.yaml'), 'utf8'), 'cluster.yaml').docs,
      new Date(0),
    );
    expect(applied.ok).toBe(true);
    const r = new Replay({ state: applied.state, reflect: true });
    let x = 12345;
    const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 16) & 0xff;
    const frames: Uint8Array[] = [];
    // Random frames, and valid-looking headers addressed to the nodes, the egress IPs and the pods, mutated.
    const heads = [
      [
        0x02, 0x0e, 0xc6, 0x12, 0, 0x0b, 0x02, 0xee, 0xc6, 0x12, 0, 0x64, 0x08, 0x00, 0x45, 0, 0, 40, 0, 1, 0, 0, 64,
        17, 0, 0, 198, 18, 0, 100, 198, 18, 0, 253,
      ],
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xee, 0xc6, 0x12, 0, 0x64, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1],
      [
        0x02, 0x0e, 0xc6, 0x12, 0, 0x0d, 0x02, 0x0e, 0xc6, 0x12, 0, 0x0c, 0x08, 0x00, 0x45, 0, 0, 80, 0, 1, 0x40, 0, 64,
        17, 0, 0, 198, 18, 0, 12, 198, 18, 0, 13, 0x10, 0x00, 0x17, 0xc1, 0, 60, 0, 0, 0, 0, 0x65, 0x58,
      ],
    ];
    for (let i = 0; i < 6000; i++) {
      const h = heads[i % heads.length]!;
      const len = i % 4 === 0 ? rnd() % 20 : h.length + (rnd() % 80);
      const f = new Uint8Array(len);
      for (let k = 0; k < len; k++) f[k] = k < h.length && i % 5 !== 0 ? h[k]! : rnd();
      for (let m = rnd() % 4; m > 0 && len > 0; m--) f[rnd() % len] = rnd();
      frames.push(f);
    }
    let t = 0;
    for (const f of frames) {
      r.feed(f, 0, f.length, f.length, 1, 1767225600 + Math.floor(t / 1000), (t % 1000) * 1e6);
      t += 1;
    }
    // Raw IPv4 (link type 101), including pod sources, malformed.
    for (let i = 0; i < 3000; i++) {
      const len = rnd() % 64;
      const p = new Uint8Array(len);
      for (let k = 0; k < len; k++) p[k] = rnd();
      if (len >= 16) {
        p[0] = 0x45;
        p.set([198, 19, 1 + (i % 3), 10], 12);
      }
      r.feed(p, 0, p.length, p.length, 101, 1767225600 + Math.floor(t / 1000), (t % 1000) * 1e6);
      t += 1;
    }
    r.finish();
    const acc = accounting(r);
    expect(acc.packets).toBe(9000);
    expect(acc.fromPods + acc.fromOutside + acc.rawFrames + acc.skipped + acc.undeliverable).toBe(9000);
    expect(acc.datapathTotal).toBeGreaterThan(1000);
    const podDrops = acc.datapath.filter((d) => d.where.includes('/pod-ingress.')).reduce((a, d) => a + d.count, 0);
    expect(podDrops).toBeGreaterThan(500);
    console.log(
      `9000 random/mutated inputs: ${acc.datapathTotal} counted drops, ${acc.undeliverable} undeliverable inputs, no exception`,
    );
  });
});
