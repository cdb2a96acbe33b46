/**
 * `egress apply/get/delete --store etcd://…` through the real bin/egress.js in child processes (separate "hosts"),
 * against a real 3-member etcd cluster (test/support/etcd-cluster.ts). Skipped, with the reason, without etcd.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYAML } from 'yaml';
import * as policy from '../../engine/policy/index.js';
import { ETCD_SKIP, EtcdCluster } from '../support/etcd-cluster.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const REF = join(ROOT, 'examples', 'reference');
const BIN = join(ROOT, 'bin', 'egress.js');
let etcd: EtcdCluster;
let tmp: string;
let n = 0;

function egress(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, EGRESS_STORE: '', EGRESS_STATE_DIR: join(tmp, 'unused'), ...env },
  });
}

function egressAsync(args: string[], stdout = false): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', stdout ? 'pipe' : 'ignore', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    c.on('exit', (code) => res({ code: code ?? -1, out, err }));
  });
}

/** Every file under `d` (absolute paths). */
function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
  );
}

/** A manifest file of one ExternalIPPool for every Node, from `start` to `end`. */
function poolFile(name: string, start: string, end: string): string {
  const f = join(tmp, `pool-${name}-${n}.yaml`);
  writeFileSync(
    f,
    `apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata:\n  name: ${name}\nspec:\n  ipRanges:\n    - start: ${start}\n      end: ${end}\n  nodeSelector: {}\n`,
  );
  return f;
}

describe.skipIf(ETCD_SKIP !== null)(`egress commands on etcd${ETCD_SKIP ? ` (skipped: ${ETCD_SKIP})` : ''}`, () => {
  beforeAll(async () => {
    etcd = await EtcdCluster.start(3);
    tmp = mkdtempSync(join(tmpdir(), 'egr-cli-etcd-'));
  }, 60000);
  afterAll(async () => {
    await etcd?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  const prefix = () => `/egr-cli-${process.pid}-${n++}/`;

  it('apply, get, delete round trip; EGRESS_STORE works as --store', () => {
    const p = prefix();
    const flags = ['--store', etcd.url, '--etcd-prefix', p];
    const a = egress(['apply', '-f', REF, ...flags]);
    expect(a.status).toBe(0);
    expect(a.stderr).toMatch(/^note: created the cluster key in etcd:\/\/\S+ \(32 random bytes\)/);
    expect(a.stdout).toContain('egress.crd.antrea.io/egress-prod-web created');
    const g = egress(['get', 'egress', '--etcd-prefix', p], { EGRESS_STORE: etcd.url });
    expect(g.status).toBe(0);
    expect(g.stdout).toMatch(/egress-prod-web\s+198\.18\.0\.25[34]/);
    expect(g.stdout).toMatch(/egress-staging-web\s+198\.18\.0\.25[34]/);
    const again = egress(['apply', '-f', REF, ...flags]);
    expect([again.status, again.stderr]).toEqual([0, '']); // the key exists: no second note
    const d = egress(['delete', 'egress', 'egress-staging-web', ...flags]);
    expect([d.status, d.stdout.trim()]).toEqual([0, 'egress.crd.antrea.io "egress-staging-web" deleted']);
    const g2 = egress(['get', 'egress', '-o', 'name', ...flags]);
    expect(g2.stdout.trim()).toBe('egress.crd.antrea.io/egress-prod-web');
  });

  it('parallel applies from separate processes: every distinct one stored, allocations unique', async () => {
    const p = prefix();
    const flags = ['--store', etcd.url, '--etcd-prefix', p];
    expect(egress(['apply', '-f', REF, ...flags]).status).toBe(0);
    const pool = poolFile('big', '198.18.0.140', '198.18.0.199');
    const pr = egress(['apply', '-f', pool, ...flags]);
    expect([pr.status, pr.stderr]).toEqual([0, '']);
    const count = 50; // the issue's 50, each its own process
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) => {
        const f = join(tmp, `par-${n}-${i}.yaml`);
        writeFileSync(
          f,
          `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: par-${i}\n---\napiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: par-${i}\nspec:\n  appliedTo: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: par-${i}}}}\n  externalIPPool: big\n`,
        );
        return egressAsync(['apply', '-f', f, ...flags]);
      }),
    );
    expect(results.map((r) => [r.code, r.err])).toEqual(results.map(() => [0, '']));
    const st = new policy.store.EtcdStore(etcd.url, { prefix: p });
    try {
      const { state } = await st.load();
      const mine = [...state.egresses.values()].filter((e) => e.metadata.name.startsWith('par-'));
      expect(mine.map((e) => e.metadata.name).sort()).toEqual(
        Array.from({ length: count }, (_, i) => `par-${i}`).sort(),
      );
      const ips = mine.map((e) => e.spec.egressIP);
      expect(ips.every((ip) => /^198\.18\.0\.1[4-9]\d$/.test(ip ?? ''))).toBe(true);
      expect(new Set(ips).size).toBe(count);
    } finally {
      st.close();
    }
  }, 120000);

  it('20 conflicting applies of one Egress from separate processes: each one a write of its own, none lost', async () => {
    const p = prefix();
    const flags = ['--store', etcd.url, '--etcd-prefix', p];
    expect(egress(['apply', '-f', REF, ...flags]).status).toBe(0);
    const pool = poolFile('contested', '198.18.0.150', '198.18.0.151');
    expect(egress(['apply', '-f', pool, ...flags]).status).toBe(0);
    const st = new policy.store.EtcdStore(etcd.url, { prefix: p });
    try {
      const before = (await st.load()).state.generation;
      const count = 20;
      const results = await Promise.all(
        Array.from({ length: count }, (_, i) => {
          const f = join(tmp, `conflict-${n}-${i}.yaml`);
          writeFileSync(
            f,
            `apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: contested\nspec:\n  appliedTo: {podSelector: {matchLabels: {writer: w${i}}}}\n  externalIPPool: contested\n`,
          );
          return egressAsync(['apply', '-f', f, ...flags], true);
        }),
      );
      // every writer's spec differs from every other's: each apply is a change, made on the state before it
      expect(results.map((r) => [r.code, r.err])).toEqual(results.map(() => [0, '']));
      const actions = results.map((r) => /^egress\.crd\.antrea\.io\/contested (\w+)$/.exec(r.out.trim())?.[1]);
      expect(actions.filter((a) => a === 'created')).toHaveLength(1);
      expect(actions.filter((a) => a === 'configured')).toHaveLength(count - 1);
      const { state } = await st.load();
      expect(state.generation).toBe(before + count);
      // the object's key was modified once per apply (etcd's version counts them since it was created)
      const key = `${st.stateKey}objects/Egress/contested`;
      const kv = (await etcd.post(0, '/v3/kv/range', { key: Buffer.from(key).toString('base64') })) as {
        kvs?: { version?: string }[];
      } | null;
      expect(kv?.kvs?.[0]?.version).toBe(String(count));
      const e = state.egresses.get('contested')!;
      const writer = e.spec.appliedTo.podSelector?.matchLabels?.['writer'];
      expect(Array.from({ length: count }, (_, i) => `w${i}`)).toContain(writer);
      // one IP allocated to it, whichever writer won, and no other
      expect(e.spec.egressIP).toMatch(/^198\.18\.0\.15[01]$/);
      expect(state.pools.get('contested')?.status.usage.used).toBe(1);
      const ips = [...state.egresses.values()].map((x) => x.spec.egressIP);
      expect(new Set(ips).size).toBe(ips.length);
    } finally {
      st.close();
    }
  }, 120000);

  it('get nodes with no agent on this host: a Node whose agent holds its status lease is Ready, the others NotReady', async () => {
    const p = `/egr-cli-nodes-${process.pid}/`;
    const flags = ['--store', etcd.url, '--etcd-prefix', p];
    expect(egress(['apply', '-f', REF, ...flags]).status).toBe(0);
    // node-a's agent on another host: its status key, under its lease
    const agent = new policy.store.EtcdStore(etcd.url, { prefix: p });
    try {
      await agent.writeNodeStatus({
        apiVersion: policy.ENGINE_API,
        kind: 'NodeStatus',
        node: 'node-a',
        observedGeneration: 1,
        updatedAt: new Date().toISOString(),
        egresses: {},
        hosted: ['198.18.0.253'],
      });
      const w = egress(['get', 'nodes', ...flags]);
      const rows = w.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/));
      expect(rows.map((r) => [r[0], r[1]])).toEqual([
        ['node-a', 'Ready'],
        ['node-b', 'NotReady'],
        ['node-c', 'NotReady'],
      ]);
      expect(w.stdout).toMatch(/^node-a\s+Ready\s.*198\.18\.0\.253/m);
      const d = egress(['describe', 'node', 'node-b', ...flags]);
      expect(d.stdout).toContain('no live status lease in the store');
    } finally {
      agent.close();
    }
  }, 60000);

  it('supportbundle --store etcd: objects and statuses from etcd, and no file holding the key kept in etcd', async () => {
    const p = `/egr-cli-bundle-${process.pid}/`;
    const flags = ['--store', etcd.url, '--etcd-prefix', p];
    expect(egress(['apply', '-f', REF, ...flags]).status).toBe(0);
    const st = new policy.store.EtcdStore(etcd.url, { prefix: p });
    let key: Buffer | null;
    try {
      key = await st.readClusterKey();
      await st.writeNodeStatus({
        apiVersion: policy.ENGINE_API,
        kind: 'NodeStatus',
        node: 'node-b',
        observedGeneration: 1,
        updatedAt: new Date().toISOString(),
        egresses: {},
        hosted: ['198.18.0.254'],
      });
      // this host's state directory: no key file, but a log line that leaked the etcd key (in hex)
      const local = join(tmp, `bundle-state-${n++}`);
      mkdirSync(join(local, 'testbed'), { recursive: true, mode: 0o700 });
      expect(key).not.toBeNull();
      writeFileSync(join(local, 'testbed', 'agent-node-b.log'), `{"msg":"key ${key!.toString('hex')}"}\n`);
      writeFileSync(join(local, 'testbed', 'agent-node-c.log'), '{"msg":"started"}\n');
      const out = join(tmp, `bundle-${n++}.tar.gz`);
      const r = egress(['supportbundle', '--out', out, ...flags], { EGRESS_STATE_DIR: local });
      expect([r.status, r.stderr]).toEqual([0, '']);
      const x = join(tmp, `bundle-x-${n++}`);
      mkdirSync(x);
      expect(spawnSync('tar', ['-xzf', out, '-C', x]).status).toBe(0);
      const [root] = readdirSync(x);
      const at = (f: string) => readFileSync(join(x, root!, f), 'utf8');
      const manifest = at('manifest.txt');
      expect(manifest.split('\n')[0]).toMatch(/^egress supportbundle of etcd:\/\/127\.0\.0\.1:\d+/);
      expect(manifest).toContain('missing  logs/agent-node-b.log: dropped: it holds the cluster key');
      expect(at('logs/agent-node-c.log')).toContain('started');
      expect(existsSync(join(x, root!, 'logs', 'agent-node-b.log'))).toBe(false);
      expect(at('objects/egress.yaml')).toContain('name: egress-prod-web');
      expect(parseYAML(at('status/nodes.yaml'))).toMatchObject([{ node: 'node-b', hosted: ['198.18.0.254'] }]);
      const hex = key!.toString('hex');
      const b64 = key!.toString('base64');
      for (const f of walk(x)) {
        const data = readFileSync(f);
        expect([f, data.includes(key!), data.includes(hex), data.includes(b64)]).toEqual([f, false, false, false]);
      }
    } finally {
      st.close();
    }
  }, 60000);

  it('bad store arguments and an unreachable store: one line, exit 1 or 2, nothing else', () => {
    const both = egress(['get', 'egress', '--store', etcd.url, '--state-dir', tmp]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--store and --state-dir are two ways to say the same thing: give one/);
    const bad = egress(['get', 'egress', '--store', 'redis://x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--store redis:\/\/x: use dir:PATH or etcd:\/\/host:port/);
    const down = egress(['apply', '-f', REF, '--store', 'etcd://127.0.0.1:1']);
    expect(down.status).toBe(1);
    expect(down.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^egress apply: store etcd:\/\/127\.0\.0\.1:1: etcd unreachable \(http:\/\/127\.0\.0\.1:1: connect ECONNREFUSED 127\.0\.0\.1:1\)$/,
      ),
    ]);
    const dir = egress(['get', 'egress', '--store', `dir:${join(tmp, 'as-dir')}`]);
    expect([dir.status, dir.stderr.trim()]).toEqual([0, 'No resources found']);
  }, 60000);
});
