/**
 * The agent side of connection-state sync (engine/agent/conn-sync.ts), without a datapath: an owner's ConnSync
 * scans its table and its messages are handed to the standby's ConnSync. Bounds (queue, cache), removals, full
 * transfer on a standby change, and takeover.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConnTable } from '../../conntrack/index.js';
import { ConnSync } from '../../engine/agent/conn-sync.js';
import { makeKey } from '../../engine/cluster/index.js';
import * as policy from '../../engine/policy/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const KEY = makeKey(new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff));
const ip = (s: string) => s.split('.').reduce((a, x) => (a << 8) | Number(x), 0) | 0;
const NODE_IP: Record<string, number> = {
  'node-a': ip('198.18.0.11'),
  'node-b': ip('198.18.0.12'),
  'node-c': ip('198.18.0.13'),
};
const EGRESS = ip('198.18.0.253'); // prod's Egress IP, on node-c in examples/reference
const ALL = new Set(['node-a', 'node-b', 'node-c']);

function state(): policy.ClusterState {
  const text = readFileSync(join(ROOT, 'examples/reference/cluster.yaml'), 'utf8');
  return policy.applyDocs(policy.emptyState(), policy.parseManifests(text, 'cluster.yaml').docs, new Date(0)).state;
}

function node(name: string, opts: Partial<ConstructorParameters<typeof ConnSync>[0]> = {}) {
  const table = new ConnTable({ seed: 1, maxConnections: 1024 });
  const s = new ConnSync({ self: name, selfIp: NODE_IP[name]!, incarnation: 10, key: KEY, table, ...opts });
  s.echoOf = () => 10;
  return { s, table };
}

/** n UDP connections from pods to showip, SNATed to the egress IP. */
function fill(t: ConnTable, n: number, now = 0): number[] {
  t.setTime(now);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = t.create(ip('198.19.1.10'), ip('198.18.0.100'), 20000 + i, 9, 17, 0, 60);
    expect(t.snat(c, EGRESS)).toBe(0);
    expect(t.confirm(c)).toBe(true);
    out.push(c);
  }
  return out;
}

function deliver(from: string, msgs: Array<{ dstIp: number; payload: Uint8Array }>, to: ConnSync, now: number): number {
  let ok = 0;
  for (const m of msgs) if (to.receive(NODE_IP[from]!, m.payload, now) === 0) ok++;
  return ok;
}

describe('ConnSync', () => {
  const st = state();
  const owner = policy.standbys(st, ALL).get('198.18.0.253')!;

  it('streams new connections and removals to the standby, which installs them on takeover', () => {
    expect(owner).toEqual({ ip: '198.18.0.253', owner: 'node-c', standby: 'node-a' });
    const c = node('node-c');
    const a = node('node-a');
    c.s.update(st, ALL, [EGRESS], 0);
    a.s.update(st, ALL, [], 0);
    expect(c.s.standbyReport()).toEqual({ '198.18.0.253': 'node-a' });
    const conns = fill(c.table, 30);
    const msgs = c.s.tick(10);
    expect(c.s.counter('replicated')).toBe(30);
    expect(msgs.every((m) => m.dstIp === NODE_IP['node-a'] && m.payload.length <= 1400)).toBe(true);
    expect(deliver('node-c', msgs, a.s, 10)).toBe(msgs.length);
    expect(a.s.cachedFor(EGRESS)).toBe(30);
    // Nothing changed: nothing is sent again before the refresh interval.
    expect(c.s.tick(20)).toEqual([]);
    // Two connections end: removals.
    c.table.setTime(30);
    c.table.remove(conns[0]!);
    c.table.remove(conns[1]!);
    c.table.expire(0);
    expect(deliver('node-c', c.s.tick(30), a.s, 30)).toBeGreaterThan(0);
    expect(c.s.counter('removals-sent')).toBe(2);
    expect(a.s.cachedFor(EGRESS)).toBe(28);
    // The refresh: everything again after 5 s.
    const again = c.s.tick(5100);
    expect(c.s.counter('records-sent')).toBe(30 + 28);
    deliver('node-c', again, a.s, 5100);
    // Takeover: installed with their bindings.
    expect(a.s.takeover([EGRESS], 6000)).toBe(28);
    expect(a.table.size).toBe(28);
    expect(a.table.lookup(ip('198.18.0.100'), EGRESS, 9, 20005, 17)).toBeGreaterThanOrEqual(0);
    expect(a.s.counter('installed-on-takeover')).toBe(28);
    expect(a.s.cachedFor(EGRESS)).toBe(0);
  });

  it('bounds the queue (drop-oldest) and the cache, and counts both', () => {
    const c = node('node-c', { maxQueue: 10, maxRecordsPerRound: 4 });
    const a = node('node-a', { maxCache: 3 });
    c.s.update(st, ALL, [EGRESS], 0);
    a.s.update(st, ALL, [], 0);
    fill(c.table, 25);
    const msgs = c.s.tick(10);
    expect(c.s.counter('dropped-queue-full')).toBe(15);
    expect(c.s.counter('records-sent')).toBe(4);
    deliver('node-c', msgs, a.s, 10);
    deliver('node-c', c.s.tick(20), a.s, 20);
    expect(a.s.cachedFor(EGRESS)).toBe(3);
    expect(a.s.counter('cache-full')).toBe(5);
  });

  it('a record leaves the queue encoded from the table: a connection gone before its turn is not sent, nor removed', () => {
    const c = node('node-c', { maxRecordsPerRound: 4 });
    const a = node('node-a');
    c.s.update(st, ALL, [EGRESS], 0);
    a.s.update(st, ALL, [], 0);
    const conns = fill(c.table, 10);
    deliver('node-c', c.s.tick(10), a.s, 10);
    expect(c.s.counter('records-sent')).toBe(4);
    expect(c.s.snapshot()['queued']).toBe(6);
    // Two connections still queued end before their turn.
    c.table.setTime(15);
    c.table.remove(conns[8]!);
    c.table.remove(conns[9]!);
    c.table.expire(0);
    for (let now = 20; now <= 60; now += 10) deliver('node-c', c.s.tick(now), a.s, now);
    expect(c.s.snapshot()['queued']).toBe(0);
    expect(c.s.counter('records-sent')).toBe(8);
    // ... nor a removal: the standby never heard of them
    expect(c.s.counter('removals-sent')).toBe(0);
    expect(c.s.counter('replicated')).toBe(8);
    expect(a.s.cachedFor(EGRESS)).toBe(8);
  });

  it('a new standby gets a full transfer; a standby not heard yet is not sent to (counted)', () => {
    const c = node('node-c');
    c.s.update(st, ALL, [EGRESS], 0);
    fill(c.table, 12);
    c.s.tick(10);
    expect(c.s.counter('records-sent')).toBe(12);
    // node-a dies: the standby becomes node-b, which has not been heard yet.
    const withoutA = new Set(['node-b', 'node-c']);
    const next = policy.standbyOf(st, withoutA, '198.18.0.253');
    expect(next).toBe('node-b');
    c.s.echoOf = (x) => (x === NODE_IP['node-b'] ? 0 : 10);
    c.s.update(st, withoutA, [EGRESS], 20);
    expect(c.s.counter('full-transfers')).toBe(2); // the first standby, then node-b
    expect(c.s.tick(30)).toEqual([]);
    expect(c.s.counter('dropped-standby-unknown')).toBe(12);
    // Heard now: the next full transfer reaches it.
    c.s.echoOf = () => 10;
    c.s.update(st, ALL, [EGRESS], 40); // node-a back: standby node-a again
    const b = node('node-a');
    b.s.update(st, ALL, [], 40);
    expect(deliver('node-c', c.s.tick(50), b.s, 50)).toBeGreaterThan(0);
    expect(b.s.cachedFor(EGRESS)).toBe(12);
  });

  it('messages addressed to another node change nothing (counted)', () => {
    const c = node('node-c');
    const b = node('node-b');
    c.s.update(st, ALL, [EGRESS], 0);
    b.s.update(st, new Set(['node-a', 'node-b']), [], 0); // node-c is dead for node-b
    fill(c.table, 3);
    const msgs = c.s.tick(10); // addressed to node-a
    for (const m of msgs) b.s.receive(NODE_IP['node-c']!, m.payload, 10);
    expect(b.s.snapshot()['rx-wrong-destination']).toBe(msgs.length);
    expect(b.s.cachedFor(EGRESS)).toBe(0);
  });
});
