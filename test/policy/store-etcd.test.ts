/**
 * The etcd backend against a real 3-member etcd cluster (Debian's etcd-server) on 127.0.0.1, random ports, temp data
 * directories removed after. Skipped, with the reason, when /usr/bin/etcd is missing.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { ETCD_SKIP, EtcdCluster } from '../support/etcd-cluster.js';
import { T0, agentConfig, at, egress, mustApply, node, pool } from './helpers.js';

const { store } = policy;
let etcd: EtcdCluster;
let n = 0;
/** A fresh prefix per test: tests share one cluster. */
const fresh = (opts: policy.store.EtcdStoreOptions = {}) =>
  new store.EtcdStore(etcd.url, { prefix: `/egr-test-${process.pid}-${n++}/`, retryMs: [50, 300], ...opts });

function sample(): policy.ClusterState {
  return mustApply(policy.emptyState(), [
    agentConfig(),
    node('node0', '198.18.0.10'),
    node('node1', '198.18.0.11'),
    pool('p', [{ cidr: '198.18.0.240/28' }]),
  ]);
}

function applyObjs(objs: unknown[], now = T0) {
  return (s: policy.ClusterState) => {
    const r = policy.applyObjects(s, objs, now);
    return { state: r.state, write: r.ok && r.changed, result: r };
  };
}

async function until(f: () => boolean, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(ETCD_SKIP !== null)(`etcd store${ETCD_SKIP ? ` (skipped: ${ETCD_SKIP})` : ''}`, () => {
  beforeAll(async () => {
    etcd = await EtcdCluster.start(3);
  }, 60000);
  afterAll(async () => {
    await etcd?.stop();
  });

  it('apply, get, delete round trip: the same snapshot as the directory store', async () => {
    const st = fresh();
    try {
      expect((await st.load()).state.generation).toBe(0);
      const base = sample();
      await st.update(() => ({ state: base, write: true, result: null }));
      const r = await st.update(applyObjs([egress('e', { externalIPPool: 'p' })]));
      expect(r.ok).toBe(true);
      const back = (await st.load()).state;
      expect(back.egresses.get('e')?.spec.egressIP).toBe(r.state.egresses.get('e')?.spec.egressIP);
      expect(back.egresses.get('e')?.spec.egressIP).toMatch(/^198\.18\.0\.24\d$/);
      expect(policy.toSnapshot(back, T0)).toEqual(policy.toSnapshot(r.state, T0));
      const d = await st.update((s) => {
        const x = policy.deleteObjects(s, [{ kind: 'Egress', name: 'e' }], at(1));
        return { state: x.state, write: x.ok && x.changed, result: x };
      });
      expect(d.changes.map((c) => c.name)).toEqual(['e']);
      expect((await st.load()).state.egresses.has('e')).toBe(false);
      expect(await st.ensureClusterKey()).toBe(true);
      expect(await st.ensureClusterKey()).toBe(false);
      expect((await st.readClusterKey())?.length).toBe(32);
    } finally {
      st.close();
    }
  });

  it('concurrent updates from two hosts: none lost, allocations unique; a writer that always loses gives up after a bounded number of attempts', async () => {
    const a = fresh();
    const b = new store.EtcdStore(etcd.url, { prefix: a.prefix });
    try {
      await a.update(() => ({ state: sample(), write: true, result: null }));
      let calls = 0;
      const names = Array.from({ length: 12 }, (_, i) => `e${i}`);
      const results = await Promise.all(
        names.map((name, i) =>
          (i % 2 ? a : b).update((s) => {
            calls++;
            return applyObjs([egress(name, { externalIPPool: 'p' })])(s);
          }),
        ),
      );
      expect(results.every((r) => r.ok)).toBe(true);
      expect(calls).toBeGreaterThan(names.length); // some lost the compare and were retried with the newer state
      const s = (await b.load()).state;
      expect([...s.egresses.keys()].sort()).toEqual([...names].sort());
      const ips = [...s.egresses.values()].map((e) => e.spec.egressIP);
      expect(new Set(ips).size).toBe(names.length);

      // a writer that always loses: a bounded number of attempts, then one line, nothing half-written
      const before = (await a.load()).state.generation;
      // another host (curl, straight to etcd's gateway) writes between every read and transaction of this one
      const port = etcd.members[0]!.clientPort;
      const bump = () =>
        execFileSync('curl', [
          '-sf',
          '-X',
          'POST',
          `http://127.0.0.1:${port}/v3/kv/put`,
          '-d',
          JSON.stringify({
            key: Buffer.from(a.objectsKey).toString('base64'),
            value: Buffer.from(JSON.stringify(policy.toSnapshot(s, T0))).toString('base64'),
          }),
        ]);
      let tries = 0;
      const loser = a.update((cur) => {
        tries++;
        bump();
        return applyObjs([egress('late', { externalIPPool: 'p' })])(cur);
      });
      await expect(loser).rejects.toThrow(
        new RegExp(
          `^store etcd://\\S+: ${store.UPDATE_ATTEMPTS} attempts lost to concurrent updates; nothing written, try again$`,
        ),
      );
      expect(tries).toBe(store.UPDATE_ATTEMPTS);
      const after = (await a.load()).state;
      expect(after.egresses.has('late')).toBe(false);
      expect(after.generation).toBe(before);
    } finally {
      a.close();
      b.close();
    }
  }, 60000);
});
