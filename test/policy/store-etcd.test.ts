/**
 * The etcd backend against a real 3-member etcd cluster (Debian's etcd-server) on 127.0.0.1, random ports, temp data
 * directories removed after. Skipped, with the reason, when /usr/bin/etcd is missing.
 */
import { execFileSync } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { ETCD_SKIP, EtcdCluster } from '../support/etcd-cluster.js';
import { T0, agentConfig, at, egress, mustApply, namespace, node, pod, pool } from './helpers.js';

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
      // one key per object, plus the controller's bookkeeping and the generation
      const keys = await st.client.range(st.stateKey, { prefix: true });
      const names = keys.kvs.map((kv) => kv.key.slice(st.prefix.length)).sort();
      expect(names).toEqual([
        'state/controller',
        'state/generation',
        'state/objects/AgentConfig/default',
        'state/objects/Egress/e',
        'state/objects/ExternalIPPool/p',
        'state/objects/Node/node0',
        'state/objects/Node/node1',
      ]);
      const egressKV = keys.kvs.find((kv) => kv.key.endsWith('/Egress/e'))!;
      expect(JSON.parse(egressKV.value.toString()).spec.egressIP).toBe(back.egresses.get('e')?.spec.egressIP);
      // the apply of one Egress wrote its key, the pool's (usage), the controller and the generation, in one
      // revision; the Nodes and the configuration kept the revision of the first write
      const mod = (suffix: string) => keys.kvs.find((kv) => kv.key.endsWith(suffix))!.modRevision;
      const applyRev = mod('/Egress/e');
      expect([mod('/ExternalIPPool/p'), mod('state/controller'), mod('state/generation')]).toEqual([
        applyRev,
        applyRev,
        applyRev,
      ]);
      expect(mod('/Node/node0')).toBeLessThan(applyRev);
      expect(mod('/AgentConfig/default')).toBe(mod('/Node/node0'));
      const d = await st.update((s) => {
        const x = policy.deleteObjects(s, [{ kind: 'Egress', name: 'e' }], at(1));
        return { state: x.state, write: x.ok && x.changed, result: x };
      });
      expect(d.changes.map((c) => c.name)).toEqual(['e']);
      expect((await st.load()).state.egresses.has('e')).toBe(false);
      expect((await st.client.range(`${st.stateKey}objects/Egress/e`)).kvs).toEqual([]);
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
      // (the same generation value again: only its mod revision moves, which every apply compares)
      const port = etcd.members[0]!.clientPort;
      const genValue = (await a.client.range(a.generationKey)).kvs[0]!.value;
      const bump = () =>
        execFileSync('curl', [
          '-sf',
          '-X',
          'POST',
          `http://127.0.0.1:${port}/v3/kv/put`,
          '-d',
          JSON.stringify({
            key: Buffer.from(a.generationKey).toString('base64'),
            value: genValue.toString('base64'),
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

  it('watch: each new state once, in order; a corrupt key keeps the last good state and is counted once', async () => {
    const st = fresh();
    const seen: number[] = [];
    const problems: string[] = [];
    const health = new store.StoreHealth((p) => problems.push(p.message));
    const w = st.watch((s) => seen.push(s.generation), { health });
    try {
      await st.update(() => ({ state: sample(), write: true, result: null }));
      await until(() => seen.length === 1, 'the first state');
      const g1 = seen[0]!;
      const nodeKey = `${st.stateKey}objects/Node/node0`;
      const good = (await st.client.range(nodeKey)).kvs[0]!.value;
      await st.client.put(nodeKey, '{"kind": "Node", ');
      await until(() => problems.length === 1, 'the problem');
      expect(problems[0]).toMatch(
        /^etcd:\/\/\S+ key \/egr-test-\S+\/state\/objects\/Node\/node0 is not valid JSON .*: delete it \(etcdctl del KEY\)/,
      );
      await st.client.txn(
        [],
        [
          { put: { key: nodeKey, value: good } },
          { put: { key: `${st.stateKey}objects/Node/x`, value: '{"kind": "Other"}' } },
        ],
      );
      await until(() => problems.length === 2, 'the second problem');
      expect(problems[1]).toMatch(/key \/egr-test-\S+\/state\/objects\/Node\/x holds no object with a kind and a name/);
      // an object that breaks a cross-object rule: a Pod on a Node that does not exist (named by its key)
      await st.client.txn(
        [],
        [
          { del: { key: `${st.stateKey}objects/Node/x` } },
          {
            put: {
              key: `${st.stateKey}objects/Pod/default/p`,
              value: JSON.stringify({
                ...pod('default', 'p', 'nowhere', '198.19.0.2'),
                metadata: {
                  name: 'p',
                  namespace: 'default',
                  labels: {},
                  uid: 'u',
                  creationTimestamp: T0.toISOString(),
                  generation: 1,
                  resourceVersion: '1',
                },
              }),
            },
          },
        ],
      );
      await until(() => problems.length === 3, 'the third problem');
      expect(problems[2]).toMatch(
        /state\/ is not a valid store state: key \/egr-test-\S+\/state\/objects\/Pod\/default\/p .*nowhere/,
      );
      expect(health.snapshot().problems.objects).toBe(3);
      expect(seen).toEqual([g1]); // the last good state stays
      // good keys again, with a new generation: one new state
      await st.client.txn(
        [],
        [
          { del: { key: `${st.stateKey}objects/Pod/default/p` } },
          {
            put: { key: st.generationKey, value: JSON.stringify({ generation: g1 + 5, updatedAt: T0.toISOString() }) },
          },
        ],
      );
      await until(() => seen.length === 2, 'the good state after the bad ones');
      expect(seen[1]).toBe(g1 + 5);
      expect(health.snapshot().current).toEqual({});
      // a command reading a bad key fails with one line
      await st.client.put(nodeKey, 'garbage');
      await expect(st.load()).rejects.toThrow(/^etcd:\/\/\S+ key \S+\/Node\/node0 is not valid JSON/);
      await expect(st.update(applyObjs([egress('e', { externalIPPool: 'p' })]))).rejects.toThrow(/is not valid JSON/);
    } finally {
      w.close();
      st.close();
    }
  }, 60000);

  it('one apply is one revision: a watcher sees 20 Egresses appear at once and go at once', async () => {
    const st = fresh();
    const writer = new store.EtcdStore(etcd.url, { prefix: st.prefix });
    const counts: number[] = [];
    const w = st.watch((s) => counts.push(s.egresses.size));
    try {
      await writer.update(() => ({ state: sample(), write: true, result: null }));
      await until(() => counts.length === 1, 'the first state');
      const names = Array.from({ length: 20 }, (_, i) => `w${i}`);
      await writer.update(applyObjs(names.map((n) => egress(n, { externalIPPool: 'p' }))));
      await until(() => counts.length === 2, 'the applied state');
      await writer.update((s) => {
        const x = policy.deleteObjects(
          s,
          names.map((name) => ({ kind: 'Egress' as const, name })),
          at(1),
        );
        return { state: x.state, write: x.ok && x.changed, result: x };
      });
      await until(() => counts.length === 3, 'the state after the delete');
      expect(counts).toEqual([0, 20, 0]);
    } finally {
      w.close();
      st.close();
      writer.close();
    }
  }, 60000);

  it('a change larger than one etcd transaction allows is one line and writes nothing', async () => {
    const st = fresh();
    try {
      await st.update(() => ({ state: sample(), write: true, result: null }));
      const before = (await st.load()).state.generation;
      const pods = Array.from({ length: 200 }, (_, i) => pod('big', `p${i}`, 'node0', `198.19.0.${i + 2}`));
      await expect(st.update(applyObjs([namespace('big'), ...pods]))).rejects.toThrow(
        /^store etcd:\/\/\S+: this change writes 201 objects in one transaction, more than the etcd members allow \(too many operations in txn request; --max-txn-ops, default 128, --max-request-bytes, default 1\.5 MiB\): raise them on every member or apply in parts; nothing written$/,
      );
      const after = (await st.load()).state;
      expect(after.generation).toBe(before);
      expect(after.pods.size).toBe(0);
    } finally {
      st.close();
    }
  }, 60000);

  it('watch resumes after the member it streams from is killed: no update missed or replayed', async () => {
    const st = fresh();
    const seen: number[] = [];
    const conn: boolean[] = [];
    // a store on one member only: the watch must reconnect to it after it comes back
    const writer = new store.EtcdStore(etcd.url, { prefix: st.prefix });
    const w = st.watch((s) => seen.push(s.generation), { onConnection: (c) => conn.push(c) });
    try {
      let s = sample();
      await writer.update(() => ({ state: s, write: true, result: null }));
      await until(() => seen.length === 1, 'the first state');
      // the watch streams from one of the members: kill each in turn while writing
      for (let i = 0; i < 3; i++) {
        await etcd.kill(i);
        for (let k = 0; k < 3; k++) {
          s = await writer
            .update(applyObjs([egress(`e${i}-${k}`, { externalIPPool: 'p' })], at(i * 10 + k)))
            .then((r) => r.state);
        }
        await etcd.restart(i);
      }
      await until(() => seen[seen.length - 1] === s.generation, 'the last state');
      const expected = Array.from({ length: 10 }, (_, i) => seen[0]! + i);
      expect(seen).toEqual(expected); // every generation exactly once, in order
      expect(conn[0]).toBe(true);
      expect(conn.includes(false)).toBe(true); // it did lose its stream at least once
      expect(conn[conn.length - 1]).toBe(true);
    } finally {
      w.close();
      st.close();
      writer.close();
    }
  }, 120000);

  it('a compacted watch revision forces a full reload, and the state is right', async () => {
    const st = fresh({ retryMs: [2000, 2000] });
    const seen: policy.ClusterState[] = [];
    const conn: boolean[] = [];
    const w = st.watch((x) => seen.push(x), { onConnection: (c) => conn.push(c) });
    try {
      await st.update(() => ({ state: sample(), write: true, result: null }));
      await until(() => seen.length === 1, 'the first state');
      // stop the stream, write past it, compact, then let it resume from its old revision
      st.client.close();
      await until(() => conn.includes(false), 'the disconnect');
      let last = seen[0]!;
      for (let k = 0; k < 3; k++)
        last = await st.update(applyObjs([egress(`c${k}`, { externalIPPool: 'p' })], at(k))).then((r) => r.state);
      const rev = (await st.client.range(st.generationKey)).revision;
      await st.client.compact(rev);
      await until(() => seen[seen.length - 1]!.generation === last.generation, 'the reloaded state');
      expect([...seen[seen.length - 1]!.egresses.keys()].sort()).toEqual(['c0', 'c1', 'c2']);
      // the events in between were compacted away: the reload jumps to the newest state
      expect(seen.length).toBe(2);
    } finally {
      w.close();
      st.close();
    }
  }, 60000);

  it("two hosts see each other's Node status; a status expires with its lease", async () => {
    const a = fresh({ statusTTL: 2 });
    const b = new store.EtcdStore(etcd.url, { prefix: a.prefix, statusTTL: 2 });
    try {
      const s = mustApply(sample(), [egress('e', { externalIPPool: 'p' })]);
      await a.update(() => ({ state: s, write: true, result: null }));
      const sim = new policy.ClusterSim(s);
      sim.settle(at(1));
      const files = sim.files();
      await a.writeNodeStatus(files.get('node0')!);
      await b.writeNodeStatus(files.get('node1')!);
      for (const st of [a, b]) {
        const got = await st.readNodeStatuses();
        expect(got.map((f) => f.node)).toEqual(['node0', 'node1']);
        expect(policy.mergeStatus(s, got)).toEqual(sim.status());
      }
      // an invalid status value is skipped and counted; its last good content is used
      const health = new store.StoreHealth();
      await b.readNodeStatuses(health);
      await b.client.put(`${b.prefix}status/node1`, '{"kind":"NodeStatus","node":"other"}');
      expect((await b.readNodeStatuses(health)).map((f) => f.node)).toEqual(['node0', 'node1']);
      expect(health.snapshot().problems.status).toBe(1);
      // host b dies (its lease is no longer refreshed): its status key goes away within the TTL
      await b.writeNodeStatus(files.get('node1')!);
      b.close();
      await new Promise((r) => setTimeout(r, 4000));
      expect((await a.readNodeStatuses()).map((f) => f.node)).toEqual(['node0']); // a refreshes its own
      // events: appended by both, read by either, in time order
      const c = new store.EtcdStore(etcd.url, { prefix: a.prefix });
      await a.appendEvents([policy.assignedEvent('e', '198.18.0.241', 'node0', T0.toISOString())]);
      await c.appendEvents([policy.unassignedEvent('e', '198.18.0.241', 'node0', at(5).toISOString())]);
      expect((await c.readEvents()).map((e) => e.reason)).toEqual([
        policy.assignedEvent('e', 'x', 'n', T0.toISOString()).reason,
        policy.unassignedEvent('e', 'x', 'n', T0.toISOString()).reason,
      ]);
      c.close();
    } finally {
      a.close();
      b.close();
    }
  }, 60000);

  it('an unreachable store is one line naming the endpoints and the cause', async () => {
    const st = new store.EtcdStore('etcd://127.0.0.1:1,127.0.0.1:2', { timeoutMs: 1000 });
    await expect(st.load()).rejects.toThrow(
      /^store etcd:\/\/127\.0\.0\.1:1,127\.0\.0\.1:2: etcd unreachable \(http:\/\/127\.0\.0\.1:\d: connect ECONNREFUSED 127\.0\.0\.1:\d; http:\/\/127\.0\.0\.1:\d: connect ECONNREFUSED 127\.0\.0\.1:\d\)$/,
    );
    st.close();
  });
  it('a transaction a member took without answering: the failure says it may still be applied; a refused one does not', async () => {
    // a member in front of a real one: reads pass, a transaction is read whole, then the connection is cut
    const port = etcd.members[0]!.clientPort;
    const cut = createServer((req, res) => {
      const body: Buffer[] = [];
      req.on('data', (d: Buffer) => body.push(d));
      req.on('end', () => {
        if (req.url === '/v3/kv/txn') {
          req.socket.destroy();
          return;
        }
        const fwd = httpRequest(
          { host: '127.0.0.1', port, path: req.url, method: 'POST', headers: { 'content-type': 'application/json' } },
          (r) => {
            res.writeHead(r.statusCode ?? 500, { 'content-type': 'application/json' });
            r.pipe(res);
          },
        );
        fwd.end(Buffer.concat(body));
      });
    });
    await new Promise<void>((r) => cut.listen(0, '127.0.0.1', () => r()));
    const cutPort = (cut.address() as AddressInfo).port;
    const prefix = `/egr-test-${process.pid}-${n++}/`;
    const st = new store.EtcdStore(`etcd://127.0.0.1:${cutPort}`, { prefix, timeoutMs: 1500 });
    const add = applyObjs([egress('e', { externalIPPool: 'p' })]);
    try {
      await expect(st.update(() => ({ state: sample(), write: true, result: null }))).rejects.toThrow(
        new RegExp(
          `^store etcd://127\\.0\\.0\\.1:${cutPort}: etcd unreachable \\(http://127\\.0\\.0\\.1:${cutPort}: socket hang up\\); a member took the change without answering, so it may still be applied: check with egress get$`,
        ),
      );
    } finally {
      st.close();
      cut.close();
    }
    // nothing listens: the transaction never left, the line says only why
    const gone = new store.EtcdStore(`etcd://127.0.0.1:${cutPort}`, { prefix, timeoutMs: 1000 });
    try {
      const err = await gone.update(add).catch((e: Error) => e);
      expect(String((err as Error).message)).toMatch(
        /: etcd unreachable \(http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED [\d.:]+\)$/,
      );
    } finally {
      gone.close();
    }
  });
});

describe.skipIf(ETCD_SKIP !== null)(`etcd store over TLS${ETCD_SKIP ? ` (skipped: ${ETCD_SKIP})` : ''}`, () => {
  let tls: EtcdCluster;
  beforeAll(async () => {
    tls = await EtcdCluster.start(1, { tls: true });
  }, 60000);
  afterAll(async () => {
    await tls?.stop();
  });

  it('etcds:// with the CA and a client certificate works; without the certificate it is one clear line', async () => {
    const c = tls.certs!;
    const st = new store.EtcdStore(tls.url, { tls: { cacert: c.ca, cert: c.clientCert, key: c.clientKey } });
    try {
      await st.update(() => ({ state: sample(), write: true, result: null }));
      expect((await st.load()).state.nodes.size).toBe(2);
    } finally {
      st.close();
    }
    const noCert = new store.EtcdStore(tls.url, { tls: { cacert: c.ca }, timeoutMs: 1000 });
    await expect(noCert.load()).rejects.toThrow(
      /^store etcds:\/\/127\.0\.0\.1:\d+: etcd unreachable \(https:\/\/127\.0\.0\.1:\d+: .+\)$/,
    );
    noCert.close();
    const noCA = new store.EtcdStore(tls.url, { timeoutMs: 1000 });
    await expect(noCA.load()).rejects.toThrow(/self[- ]signed certificate|unable to verify|unable to get local issuer/);
    noCA.close();
  }, 60000);
});
