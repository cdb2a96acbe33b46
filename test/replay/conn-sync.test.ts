/**
 * Failover with state, in replay (captures/replay/failover-state, docs/conntrack-sync.md): node-c, owner of
 * 198.18.0.253, fails for good at 0.5 s; node-a takes the IP over with the connections node-c replicated to it.
 * Frames are read here with hand-written offsets (Ethernet 14, IPv4 IHL, ports), not with the engine's parsers.
 * Every assertion is also checked against the same replay without sync, where it must fail.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConnSync } from '../../engine/agent/conn-sync.js';
import { Replay } from '../../engine/agent/replay.js';
import { loadTimeline } from '../../engine/agent/timeline.js';
import { openCapture } from '../../engine/io/index.js';
import * as policy from '../../engine/policy/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DIR = join(ROOT, 'captures/replay/failover-state');
const T0 = 1767225600;

const ipText = (b: Uint8Array, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;

interface Frame {
  sec: number;
  nsec: number;
  node: number;
  bytes: Uint8Array;
}

interface Run {
  segment: Frame[];
  pods: Uint8Array[];
  sync: Map<string, ConnSync | null>;
  drops: Record<string, number>;
}

function state(): policy.ClusterState {
  const text = readFileSync(join(ROOT, 'examples/reference/cluster.yaml'), 'utf8');
  const a = policy.applyDocs(policy.emptyState(), policy.parseManifests(text, 'cluster.yaml').docs, new Date(0));
  expect(a.ok).toBe(true);
  return a.state;
}

/** Replay the scenario; `extra` frames (Ethernet) are put on the segment at `at` seconds after the first packet. */
function run(connSync: boolean, extra: Array<{ at: number; bytes: Uint8Array }> = []): Run {
  const st = state();
  const segment: Frame[] = [];
  const pods: Uint8Array[] = [];
  const r = new Replay({
    state: st,
    reflect: true,
    connSync,
    timeline: loadTimeline(join(DIR, 'timeline.yaml'), st, new Date(0)),
    onSegment: (rp, _slot, off, len, node) =>
      segment.push({ sec: rp.outSec, nsec: rp.outNsec, node, bytes: rp.slab.u8.slice(off, off + len) }),
    onPod: (rp, _pod, _slot, off, len, sent) => {
      if (!sent) pods.push(rp.slab.u8.slice(off, off + len));
    },
  });
  const reader = openCapture(join(DIR, 'in.pcap'));
  const pending = [...extra].sort((a, b) => a.at - b.at);
  const feedExtra = (upTo: number) => {
    while (pending.length && pending[0]!.at <= upTo) {
      const e = pending.shift()!;
      const ns = Math.round(e.at * 1e9);
      r.feed(e.bytes, 0, e.bytes.length, e.bytes.length, 1, T0 + Math.floor(ns / 1e9), ns % 1e9);
    }
  };
  while (reader.advance()) {
    feedExtra(reader.tsSec - T0 + reader.tsNsec / 1e9);
    r.feedRecord(reader);
  }
  feedExtra(Infinity);
  reader.close();
  r.finish();
  const sync = new Map<string, ConnSync | null>();
  for (const n of r.cluster.nodes) sync.set(n.name, n.runner.sync);
  const dp = r.cluster.byName.get('node-a')!.runner.agent.datapath.pipeline;
  const unsnat = dp.stages[dp.stageIndex('unsnat')]!.counters!;
  return { segment, pods, sync, drops: { 'node-a/unsnat/drop-no-conntrack': unsnat.get('drop-no-conntrack') } };
}

/** Per flow of a pod to showip (payload's first two letters: u/t for UDP/TCP, a/b for web-a/web-b): the source IP:port showip saw. */
function tuplesAtShowip(segment: Frame[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const f of segment) {
    const b = f.bytes;
    if (b.length < 34 || u16(b, 12) !== 0x0800 || ipText(b, 30) !== '198.18.0.100') continue;
    const ihl = (b[14]! & 0x0f) * 4;
    const proto = b[23]!;
    const l4 = 14 + ihl;
    const hdr = proto === 17 ? 8 : proto === 6 ? (b[l4 + 12]! >> 4) * 4 : -1;
    if (hdr < 0 || u16(b, l4 + 2) === 10351 || u16(b, l4 + 2) === 6081) continue;
    const payload = new TextDecoder().decode(b.subarray(l4 + hdr));
    const sport = u16(b, l4);
    const key = payload.length >= 2 ? payload.slice(0, 2) : proto === 6 && u16(b, l4) >= 41000 ? `t?${u16(b, l4)}` : '';
    if (key === '' || key.startsWith('st')) continue;
    const flow = key.startsWith('t?') ? `t${sport === 41000 ? 'a' : 'b'}` : key;
    if (!out.has(flow)) out.set(flow, new Set());
    out.get(flow)!.add(`${ipText(b, 26)}:${sport}`);
  }
  return out;
}

/** Payloads pods received as text (UDP from showip:9). */
function podTexts(pods: Uint8Array[]): string[] {
  return pods
    .filter((p) => p[9] === 17 && u16(p, (p[0]! & 0x0f) * 4) === 9)
    .map((p) => new TextDecoder().decode(p.subarray((p[0]! & 0x0f) * 4 + 8)) + '@' + ipText(p, 16));
}

/** Sync messages node-c sent node-a (UDP 10351 from 198.18.0.13 to 198.18.0.11, payload 'EGCS'). */
function syncFrames(segment: Frame[]): Frame[] {
  return segment.filter((f) => {
    const b = f.bytes;
    if (b.length < 46 || u16(b, 12) !== 0x0800 || b[23] !== 17) return false;
    const l4 = 14 + (b[14]! & 0x0f) * 4;
    return (
      ipText(b, 26) === '198.18.0.13' &&
      ipText(b, 30) === '198.18.0.11' &&
      u16(b, l4 + 2) === 10351 &&
      String.fromCharCode(...b.subarray(l4 + 8, l4 + 12)) === 'EGCS'
    );
  });
}

describe('replay: failover with connection state', () => {
  const on = run(true);
  const off = run(false);

  it('keeps every flow on one SNAT tuple across the takeover (without sync, the remapped UDP flow moves)', () => {
    const t = tuplesAtShowip(on.segment);
    expect([...t.keys()].sort()).toEqual(['ta', 'tb', 'ua', 'ub']);
    for (const [flow, s] of t) expect([flow, s.size]).toEqual([flow, 1]);
    expect([...t.get('ua')!]).toEqual(['198.18.0.253:40000']);
    expect([...t.get('ub')!][0]).toMatch(/^198\.18\.0\.253:/);
    expect([...t.get('ub')!][0]).not.toBe('198.18.0.253:40000'); // remapped by node-c, kept by node-a
    const t0 = tuplesAtShowip(off.segment);
    expect(t0.get('ub')!.size).toBe(2);
  });

  it('un-NATs what showip sends before the pods speak again (without sync: drop-no-conntrack)', () => {
    expect(podTexts(on.pods)).toContain('push@198.19.1.10');
    expect(on.drops['node-a/unsnat/drop-no-conntrack']).toBe(0);
    expect(podTexts(off.pods)).not.toContain('push@198.19.1.10');
    expect(off.drops['node-a/unsnat/drop-no-conntrack']).toBe(1);
    // Every UDP echo came back to its pod in both runs before the failure; after it only with the same tuple.
    expect(podTexts(on.pods).filter((x) => x.startsWith('ub')).length).toBe(14);
  });

  it('counts what was replicated and installed', () => {
    const a = on.sync.get('node-a')!.snapshot();
    const c = on.sync.get('node-c')!.snapshot();
    expect(c['replicated']).toBe(4); // UDP and TCP of web-a and web-b through 198.18.0.253
    expect(c['messages-sent']).toBeGreaterThanOrEqual(1);
    expect(a['rx-ok']).toBe(c['messages-sent']);
    expect(a['installed-on-takeover']).toBe(4);
    expect(a['missing']).toBe(0);
    expect(a['takeover-clash'] + a['takeover-full'] + a['takeover-expired']).toBe(0);
    expect(on.sync.get('node-a')!.standbyReport()['198.18.0.253']).toBe(
      policy.standbyOf(state(), new Set(['node-a', 'node-b']), '198.18.0.253'),
    );
    expect(off.sync.get('node-a')).toBeNull();
  });

  it('forged, truncated and replayed sync messages are counted and change nothing', () => {
    const genuine = syncFrames(on.segment);
    expect(genuine.length).toBeGreaterThanOrEqual(1);
    const g = genuine[0]!.bytes;
    const attacker = (b: Uint8Array) => {
      const x = Uint8Array.from(b);
      x.set([0x02, 0xee, 198, 18, 0, 0x99], 6); // an attacker's MAC (no host's: the switch learns it)
      return x;
    };
    const replayed = attacker(g);
    const forged = attacker(g);
    forged[forged.length - 40] ^= 0x01; // inside the records: the MAC no longer verifies
    const cut = attacker(g).subarray(0, g.length - 10);
    // The IP and UDP lengths of the cut frame still claim the full length: the datapath drops it before sync sees it,
    // so also a cut payload with consistent headers.
    const short = attacker(g).subarray(0, g.length - 10);
    const l4 = 14 + (short[14]! & 0x0f) * 4;
    const ipLen = u16(short, 16) - 10;
    short[16] = ipLen >> 8;
    short[17] = ipLen & 0xff;
    short[24] = 0;
    short[25] = 0; // header checksum recomputed below
    let sum = 0;
    for (let k = 14; k < l4; k += 2) sum += u16(short, k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    short[24] = (~sum >> 8) & 0xff;
    short[25] = ~sum & 0xff;
    const udpLen = u16(short, l4 + 4) - 10;
    short[l4 + 4] = udpLen >> 8;
    short[l4 + 5] = udpLen & 0xff;
    short[l4 + 6] = 0;
    short[l4 + 7] = 0; // no UDP checksum
    const attacked = run(true, [
      { at: 0.45, bytes: replayed },
      { at: 0.46, bytes: forged },
      { at: 0.47, bytes: cut },
      { at: 0.48, bytes: short },
      { at: 2.2, bytes: replayed },
    ]);
    const a = attacked.sync.get('node-a')!.snapshot();
    expect(a['rx-replayed']).toBe(1);
    expect(a['rx-bad-mac']).toBe(1);
    expect(a['rx-truncated']).toBe(1);
    expect(a['rx-non-member']).toBe(1); // node-c is dead by 2.2 s
    expect(a['installed-on-takeover']).toBe(4);
    // Nothing changed: what the nodes put on the segment and what the pods got are byte for byte the same.
    const nodesOut = (r: Run) => r.segment.filter((f) => f.node >= 0).map((f) => Buffer.from(f.bytes).toString('hex'));
    expect(nodesOut(attacked)).toEqual(nodesOut(on));
    expect(attacked.pods.map((p) => Buffer.from(p).toString('hex'))).toEqual(
      on.pods.map((p) => Buffer.from(p).toString('hex')),
    );
  });
});
