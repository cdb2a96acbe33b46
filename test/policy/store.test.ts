/** The embedded store: atomic snapshot, lock, per-Node status files, events, watch. */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { withLockFile } from '../../engine/policy/store/lock.js';
import { T0, agentConfig, at, egress, mustApply, node, pool } from './helpers.js';

const { store } = policy;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'egr-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function sample(): policy.ClusterState {
  return mustApply(policy.emptyState(), [
    agentConfig(),
    node('node0', '198.18.0.10'),
    node('node1', '198.18.0.11'),
    pool('p', [{ cidr: '198.18.0.240/29' }]),
    egress('e', { externalIPPool: 'p' }),
  ]);
}

describe('snapshot', () => {
  it('round-trips the state, controller bookkeeping included, and leaves no temp file', () => {
    const s = sample();
    store.saveState(dir, s, T0);
    const back = store.loadState(dir);
    expect(back.generation).toBe(s.generation);
    expect(back.egresses.get('e')).toEqual(s.egresses.get('e'));
    expect(back.controller).toEqual(s.controller);
    expect(policy.toSnapshot(back, T0)).toEqual(policy.toSnapshot(s, T0));
    expect(readdirSync(dir).sort()).toEqual(['objects.json', 'status']);
  });

  it('is empty before the first apply and rejects a corrupt file with a clear error', () => {
    expect(store.loadState(dir).generation).toBe(0);
    writeFileSync(join(dir, 'objects.json'), '{"kind": "StoreSnapshot", ');
    expect(() => store.loadState(dir)).toThrow(/objects\.json is not valid JSON/);
    writeFileSync(join(dir, 'objects.json'), '{"kind": "Other"}');
    expect(() => store.loadState(dir)).toThrow(store.StoreError);
  });
});

describe('lock', () => {
  it('serializes concurrent updates (no lost update)', async () => {
    store.saveState(dir, sample(), T0);
    const names = ['a', 'b', 'c', 'd', 'e2', 'f'];
    await Promise.all(
      names.map((n, i) =>
        store.updateState(dir, (s) => {
          const r = policy.applyObjects(s, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } }], at(i));
          return { state: r.state, write: r.changed, result: r.ok };
        }),
      ),
    );
    const s = store.loadState(dir);
    expect([...s.namespaces.keys()].sort()).toEqual([...names].sort());
    expect(s.generation).toBe(sample().generation + names.length);
    expect(readdirSync(dir)).not.toContain('apply.lock');
  });

  it('breaks a stale lock left by a dead process', async () => {
    const lock = join(dir, 'apply.lock');
    writeFileSync(lock, `2147483646\n${(await import('node:os')).hostname()}\n2020-01-01T00:00:00Z\n`);
    const r = await withLockFile(lock, () => 42, { timeoutMs: 2000 });
    expect(r).toBe(42);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('times out on a live lock with a message naming the file', async () => {
    const lock = join(dir, 'apply.lock');
    writeFileSync(lock, `${process.pid}\n${(await import('node:os')).hostname()}\nnow\nsomeone-else\n`);
    await expect(withLockFile(lock, () => 1, { timeoutMs: 150 })).rejects.toThrow(
      `the state directory is locked by process ${process.pid} (${lock}); if that process is gone, remove the file`,
    );
  });
});

describe('Node status files and events', () => {
  it('each Node writes its own file; the merge gives the Egress status', () => {
    const s = sample();
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    for (const f of sim.files().values()) store.writeNodeStatus(dir, f);
    writeFileSync(join(dir, 'status', 'README.txt'), 'not a status file');
    writeFileSync(join(dir, 'status', 'node9.json'), '{"kind":"NodeStatus","node":"other","egresses":{}}');
    const files = store.readNodeStatuses(dir);
    expect(files.map((f) => f.node)).toEqual(['node0', 'node1']);
    expect(policy.mergeStatus(s, files)).toEqual(sim.status());
    expect(sim.status().get('e')!.egressIP).toBe('198.18.0.241');
  });

  it('appends and reads events', () => {
    const ev = policy.assignedEvent('e', '198.18.0.241', 'node0', T0.toISOString());
    store.appendEvents(dir, [ev]);
    store.appendEvents(dir, [policy.unassignedEvent('e', '198.18.0.241', 'node0', at(5).toISOString())]);
    expect(store.readEvents(dir).map((e) => e.message)).toEqual([
      'Assigned Egress e with IP 198.18.0.241 on Node node0',
      'Unassigned Egress e with IP 198.18.0.241 from Node node0',
    ]);
  });
});

describe('watchStore', () => {
  it('reports each new generation', async () => {
    const seen: number[] = [];
    const w = store.watchStore(dir, (s) => seen.push(s.generation), { intervalMs: 20 });
    try {
      store.saveState(dir, sample(), T0);
      await waitFor(() => seen.length === 1);
      await store.updateState(dir, (s) => {
        const r = policy.applyObjects(s, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'w' } }], at(1));
        return { state: r.state, write: true, result: null };
      });
      await waitFor(() => seen.length === 2);
      expect(seen).toEqual([sample().generation, sample().generation + 1]);
    } finally {
      w.close();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
