/**
 * The restart snapshot of connection-state sync (engine/agent/conn-snapshot.ts, ConnSync.snapshotText /
 * restoreSnapshot, the store's run/<node>.conns): connections of a real ConnTable written by a stopping agent
 * come back in a new table (another seed, another clock) translated the same way in both directions, with their
 * timeouts aged by the time between; a truncated, corrupt, stale, oversized, foreign or unreadable file is counted
 * by reason and installs nothing, and no input makes it throw.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ConnTable } from '../../conntrack/index.js';
import { decodeSnapshot, SNAPSHOT_REJECT_REASONS } from '../../engine/agent/conn-snapshot.js';
import { ConnSync } from '../../engine/agent/conn-sync.js';
import { makeKey } from '../../engine/cluster/index.js';
import * as policy from '../../engine/policy/index.js';
import { ICMP, ip, TCP, UDP } from '../conntrack/helpers.js';
import { establish, translation } from '../conntrack/replica-helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const KEY = makeKey(new Uint8Array(32).map((_, i) => (i * 29 + 5) & 0xff));
const EGRESS = ip('198.18.0.253'); // prod's Egress IP, hosted by node-c in examples/reference
const ALL = new Set(['node-a', 'node-b', 'node-c']);
const WALL = Date.UTC(2026, 0, 1);

function state(): policy.ClusterState {
  const text = readFileSync(join(ROOT, 'examples/reference/cluster.yaml'), 'utf8');
  return policy.applyDocs(policy.emptyState(), policy.parseManifests(text, 'cluster.yaml').docs, new Date(0)).state;
}
const ST = state();

function agent(seed: number, max = 1024, hosted = true) {
  const table = new ConnTable({ seed, maxConnections: max });
  const sync = new ConnSync({ self: 'node-c', selfIp: ip('198.18.0.13'), incarnation: seed, key: KEY, table });
  sync.update(ST, ALL, hosted ? [EGRESS] : [], 0);
  return { table, sync };
}

/** TCP (handshake and data), UDP and ICMP connections of two pods, SNATed to the egress IP. */
const CONNS: Array<[number, number, number, number, number]> = [
  [ip('10.10.1.5'), ip('198.18.1.1'), 40000, 80, TCP],
  [ip('10.10.1.5'), ip('198.18.1.2'), 40001, 443, TCP],
  [ip('10.10.1.6'), ip('198.18.1.1'), 5353, 53, UDP],
  [ip('10.10.1.6'), ip('198.18.1.3'), 777, 777, ICMP],
];

function owner() {
  const a = agent(1);
  for (const c of CONNS) establish(a.table, ...c, 1000, EGRESS);
  return a;
}

describe('restart snapshot', () => {
  it('snapshot → new table: the same translation both ways, timeouts aged, bindings reserved', () => {
    const a = owner();
    const { text, connections } = a.sync.snapshotText(3000, WALL);
    expect(connections).toBe(CONNS.length);
    expect(a.sync.counter('snapshot-written')).toBe(CONNS.length);
    // A new process: another seed (hash layout, port offsets), another clock, not yet hosting the IP.
    const b = agent(99, 1024, false);
    b.table.setTime(50);
    const r = b.sync.restoreSnapshot(text, 50, WALL + 2000);
    expect(r).toEqual({ ok: true, installed: CONNS.length, notInstalled: 0, elapsedMs: 2000 });
    expect(b.sync.counter('snapshot-loaded')).toBe(CONNS.length);
    expect(b.table.selfCheck()).toBeNull();
    a.table.setTime(5000); // the old table 2 s after the snapshot
    for (const c of CONNS) {
      const want = translation(a.table, ...c);
      expect(want).not.toBeNull();
      expect(translation(b.table, ...c)).toEqual(want);
      const ca = a.table.lookup(c[0], c[1], c[2], c[4] === ICMP ? c[2] : c[3], c[4]) >> 1;
      const cb = b.table.lookup(c[0], c[1], c[2], c[4] === ICMP ? c[2] : c[3], c[4]) >> 1;
      expect(b.table.expiresAt(cb) - b.table.time).toBe(a.table.expiresAt(ca) - a.table.time);
      expect(b.table.time - b.table.createdAt(cb)).toBe(a.table.time - a.table.createdAt(ca));
    }
    // The binding of the first TCP connection is held: another pod's connection to the same server cannot take it.
    const natPort = b.table.natPort(b.table.lookup(...CONNS[0]!) >> 1);
    const n = b.table.create(ip('10.10.1.7'), ip('198.18.1.1'), 40000, 80, TCP, 0x02, 60);
    expect(b.table.snat(n, EGRESS)).toBe(0);
    expect(b.table.natPort(n)).not.toBe(natPort);
  });

  it('connections whose timeout ran out since are not installed (counted); all of them: stale', () => {
    const a = owner();
    const { text } = a.sync.snapshotText(1000, WALL);
    const udpLeft = JSON.parse(text).records.find((r: number[]) => r[4] === UDP)[9] as number;
    const b = agent(7);
    const r = b.sync.restoreSnapshot(text, 0, WALL + udpLeft + 1);
    expect(r.ok && r.notInstalled).toBeGreaterThanOrEqual(1); // the UDP one at least
    expect(b.sync.counter('snapshot-not-installed')).toBe(r.ok ? r.notInstalled : -1);
    const c = agent(8);
    const stale = c.sync.restoreSnapshot(text, 0, WALL + 30 * 86_400_000);
    expect(stale).toMatchObject({ ok: false, reason: 'stale' });
    expect(c.sync.counter('snapshot-rejected-stale')).toBe(1);
    expect(c.table.size).toBe(0);
  });

  it('truncated, corrupt, foreign, other-version, oversized and unreadable files: counted by reason, nothing installed', () => {
    const { text } = owner().sync.snapshotText(1000, WALL);
    const head = JSON.parse(text) as Record<string, unknown>;
    const cases: Array<[string | { oversize: number } | null, string]> = [
      [text.slice(0, Math.floor(text.length / 2)), 'truncated'],
      [text.slice(0, 10), 'truncated'],
      [JSON.stringify({ ...head, count: 9 }), 'truncated'],
      [text.replace('"records":[', '"records":[x'), 'corrupt'],
      ['{}', 'corrupt'],
      [JSON.stringify({ ...head, records: [[1, 2, 3]], count: 1 }), 'corrupt'],
      [JSON.stringify({ ...head, records: [Array(12).fill(1e20)], count: 1 }), 'corrupt'],
      [JSON.stringify({ ...head, version: 2 }), 'version'],
      [JSON.stringify({ ...head, node: 'node-a' }), 'wrong-node'],
      [JSON.stringify({ ...head, writtenAt: WALL + 3_600_000 }), 'stale'],
      [{ oversize: 1 << 30 }, 'oversize'],
      [text + ' '.repeat(600 * 1024), 'oversize'],
      [null, 'unreadable'],
    ];
    const b = agent(3);
    for (const [input, reason] of cases)
      expect(b.sync.restoreSnapshot(input, 0, WALL + 10), String(input).slice(0, 40)).toMatchObject({
        ok: false,
        reason,
      });
    expect(b.table.size).toBe(0);
    const snap = b.sync.snapshot();
    const want = (r: string) => cases.filter((c) => c[1] === r).length;
    for (const r of SNAPSHOT_REJECT_REASONS) expect(snap[`snapshot-rejected-${r}`]).toBe(want(r));
    // More connections than the table holds.
    const small = agent(4, 2);
    expect(small.sync.restoreSnapshot(text, 0, WALL + 10)).toMatchObject({ ok: false, reason: 'oversize' });
  });

  it('no mutation of a snapshot makes decoding throw', () => {
    const { text } = owner().sync.snapshotText(1000, WALL);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: text.length - 1 }), fc.string({ maxLength: 3 }), (at, s) => {
        const d = decodeSnapshot(text.slice(0, at) + s + text.slice(at + 1), {
          node: 'node-c',
          wallNow: WALL,
          maxRecords: 1024,
        });
        expect(typeof d.ok).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });
});

describe('run/<node>.conns in the state directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'egr-snap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('written atomically with mode 0600, read back, bounded, removed', () => {
    policy.store.ensureRunDir(dir);
    expect(policy.store.readConnSnapshot(dir, 'node-c', 1 << 20)).toBeNull();
    policy.store.writeConnSnapshot(dir, 'node-c', 'hello');
    const path = policy.store.connSnapshotPath(dir, 'node-c');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(policy.store.readConnSnapshot(dir, 'node-c', 1 << 20)).toBe('hello');
    writeFileSync(path, 'x'.repeat(2000), { mode: 0o600 });
    expect(policy.store.readConnSnapshot(dir, 'node-c', 1000)).toEqual({ oversize: 2000 });
    policy.store.removeConnSnapshot(dir, 'node-c');
    expect(policy.store.readConnSnapshot(dir, 'node-c', 1 << 20)).toBeNull();
    expect(() => policy.store.connSnapshotPath(dir, '../x')).toThrow(/invalid Node name/);
  });
});
