/**
 * `npm run bench:store [-- --quick] [--json FILE]`: the cluster's store, on the state directory and on etcd (a
 * 3-member cluster of Debian's etcd-server on 127.0.0.1, random ports, temp data, removed after), docs/store.md.
 *
 * - apply latency: one `egress apply` of one Egress through `Store.update` (read, applyObjects with the
 *   controller, compare-and-swap write), on a cluster of 20 Nodes and 500 Pods; p50/p99 over the applies;
 * - watch propagation: W watchers (3 and 10), each its own Store and watch (its own etcd connection or fs.watch)
 *   and on each new state the agent's control-plane step, `syncNode` for its Node (what an agent does before it
 *   swaps the datapath view); the figure is from the start of the apply to the moment the last watcher has run
 *   `syncNode` on the new generation. The watchers run in this one process (the agents are separate processes on
 *   separate hosts in a real cluster), so the 10th watcher also waits for the other nine on one thread: an upper
 *   bound for the CPU part;
 * - objects per second: one apply of a 10 000-Pod manifest set (with 100 Nodes, 20 Namespaces, 10 pools,
 *   100 Egresses) into an empty store, and the time a watcher takes to get it.
 *
 * These are async (network round trips), which the synchronous suites of bench/suites do not measure; this runner
 * times each operation with performance.now() and prints percentiles. Run under `flock /tmp/egr-bench.lock`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as policy from '../engine/policy/index.js';

const ETCD = process.env['EGRESS_ETCD_BIN'] ?? '/usr/bin/etcd';
const quick = process.argv.includes('--quick');
const jsonOut = (() => {
  const i = process.argv.indexOf('--json');
  return i >= 0 ? process.argv[i + 1] : undefined;
})();

// --- a 3-member etcd on loopback ---------------------------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(p));
    });
  });
}

async function startEtcd(size: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const root = mkdtempSync(join(tmpdir(), 'egr-bench-etcd-'));
  const ms: { name: string; c: number; p: number }[] = [];
  for (let i = 0; i < size; i++) ms.push({ name: `m${i}`, c: await freePort(), p: await freePort() });
  const initial = ms.map((m) => `${m.name}=http://127.0.0.1:${m.p}`).join(',');
  const procs: ChildProcess[] = ms.map((m) =>
    spawn(
      ETCD,
      [
        `--name=${m.name}`,
        `--data-dir=${join(root, m.name)}`,
        `--listen-client-urls=http://127.0.0.1:${m.c}`,
        `--advertise-client-urls=http://127.0.0.1:${m.c}`,
        `--listen-peer-urls=http://127.0.0.1:${m.p}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${m.p}`,
        `--initial-cluster=${initial}`,
        '--initial-cluster-state=new',
        '--initial-cluster-token=egr-bench',
        '--max-txn-ops=20000',
        '--max-request-bytes=33554432',
        '--logger=zap',
        '--log-level=error',
      ],
      { stdio: 'ignore' },
    ),
  );
  for (const p of procs) process.once('exit', () => p.kill('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      for (const p of procs) p.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  const url = `etcd://${ms.map((m) => `127.0.0.1:${m.c}`).join(',')}`;
  const probe = new policy.store.EtcdStore(url, { timeoutMs: 1000 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await probe.load();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(100);
    }
  }
  probe.close();
  return {
    url,
    stop: async () => {
      for (const p of procs) p.kill('SIGKILL');
      await sleep(200);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

// --- the clusters ----------------------------------------------------------------------------------------------

function manifests(nodes: number, pods: number, namespaces: number, pools: number, egresses: number): unknown[] {
  const o: unknown[] = [
    {
      apiVersion: 'egress-engine/v1alpha1',
      kind: 'AgentConfig',
      metadata: { name: 'cfg' },
      transportCIDR: '198.18.0.0/16',
    },
  ];
  for (let n = 0; n < namespaces; n++) o.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}` } });
  for (let n = 0; n < nodes; n++)
    o.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `node-${n}`, labels: { zone: `z${n % 4}` } },
      spec: { podCIDR: `198.19.${n}.0/24` },
      status: { addresses: [{ type: 'InternalIP', address: `198.18.1.${n + 1}` }] },
    });
  for (let p = 0; p < pods; p++) {
    const n = p % nodes;
    const k = Math.floor(p / nodes);
    o.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod-${p}`, namespace: `ns-${p % namespaces}`, labels: { app: `a${p % 100}` } },
      spec: { nodeName: `node-${n}` },
      status: { podIP: `198.19.${n}.${k + 2}` },
    });
  }
  for (let q = 0; q < pools; q++)
    o.push({
      apiVersion: 'crd.antrea.io/v1beta1',
      kind: 'ExternalIPPool',
      metadata: { name: `pool-${q}` },
      spec: { ipRanges: [{ cidr: `198.18.${100 + q}.0/24` }], nodeSelector: {} },
    });
  for (let e = 0; e < egresses; e++) o.push(egress(`eg-${e}`, `a${e % 100}`, `pool-${e % pools}`));
  return o;
}

function egress(name: string, app: string, pool: string): unknown {
  return {
    apiVersion: 'crd.antrea.io/v1beta1',
    kind: 'Egress',
    metadata: { name },
    spec: { appliedTo: { podSelector: { matchLabels: { app } } }, externalIPPool: pool },
  };
}

const applyObjs = (objs: unknown[]) => (s: policy.ClusterState) => {
  const r = policy.applyObjects(s, objs, new Date());
  if (!r.ok) throw new Error(policy.formatProblems(r.problems).join('\n'));
  return { state: r.state, write: r.changed, result: r };
};

// --- measurements ----------------------------------------------------------------------------------------------

interface Figures {
  p50: number;
  p99: number;
  n: number;
}

function pct(xs: number[]): Figures {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), n: s.length };
}

type Open = () => policy.store.Store;

/** A watcher: its own store and watch; on each state, syncNode for its node; resolves waiters per generation. */
class Watcher {
  readonly st: policy.store.Store;
  private w: policy.store.StoreWatch;
  gen = -1;
  private waiters: { gen: number; resolve: (t: number) => void }[] = [];
  private memory: policy.NodeSyncResult['memory'] | undefined;

  constructor(open: Open, node: string) {
    this.st = open();
    this.w = this.st.watch((state) => {
      const r = policy.syncNode({
        state,
        node,
        membership: new Set(state.nodes.keys()),
        now: new Date(),
        ...(this.memory ? { memory: this.memory } : {}),
      });
      this.memory = r.memory;
      this.gen = state.generation;
      const t = performance.now();
      this.waiters = this.waiters.filter((x) => {
        if (x.gen > state.generation) return true;
        x.resolve(t);
        return false;
      });
    });
  }

  at(gen: number): Promise<number> {
    if (this.gen >= gen) return Promise.resolve(performance.now());
    return new Promise((resolve) => this.waiters.push({ gen, resolve }));
  }

  close(): void {
    this.w.close();
    this.st.close();
  }
}

async function applyAndWatch(open: Open, watchers: number, applies: number) {
  const writer = open();
  await writer.update(applyObjs(manifests(20, 500, 5, 5, 0)));
  const ws = Array.from({ length: watchers }, (_, i) => new Watcher(open, `node-${i % 20}`));
  const start = (await writer.load()).state.generation;
  await Promise.all(ws.map((w) => w.at(start)));
  const apply: number[] = [];
  const prop: number[] = [];
  for (let i = 0; i < applies; i++) {
    const t0 = performance.now();
    const r = await writer.update(applyObjs([egress(`b-${watchers}-${i}`, `a${i % 100}`, `pool-${i % 5}`)]));
    const t1 = performance.now();
    const seen = await Promise.all(ws.map((w) => w.at(r.state.generation)));
    apply.push(t1 - t0);
    prop.push(Math.max(...seen) - t0);
  }
  for (const w of ws) w.close();
  writer.close();
  return { apply: pct(apply), propagation: pct(prop) };
}

async function bulk(open: Open) {
  const objs = manifests(100, 10_000, 20, 10, 100);
  const writer = open();
  const w = new Watcher(open, 'node-0');
  await sleep(300);
  const t0 = performance.now();
  const r = await writer.update(applyObjs(objs));
  const t1 = performance.now();
  const tw = await w.at(r.state.generation);
  const t2 = performance.now();
  const loaded = (await writer.load()).state;
  const t3 = performance.now();
  if (loaded.pods.size !== 10_000) throw new Error(`loaded ${loaded.pods.size} pods`);
  w.close();
  writer.close();
  const s = (ms: number) => ms / 1000;
  return {
    objects: objs.length,
    applySeconds: s(t1 - t0),
    objectsPerSecond: objs.length / s(t1 - t0),
    watcherSeconds: s(tw - t0),
    loadSeconds: s(t3 - t2),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<void> {
  if (!existsSync(ETCD)) {
    console.error(`bench:store: ${ETCD} not found (install Debian's etcd-server)`);
    process.exit(1);
  }
  const applies = quick ? 30 : 200;
  const etcd = await startEtcd(3);
  const dirs: string[] = [];
  let n = 0;
  const backends: Record<string, Open> = {
    dir: (() => {
      const d = mkdtempSync(join(tmpdir(), 'egr-bench-dir-'));
      dirs.push(d);
      let current = d;
      return Object.assign(() => new policy.store.DirStore(current, { intervalMs: 250 }), {
        fresh: () => {
          current = mkdtempSync(join(tmpdir(), 'egr-bench-dir-'));
          dirs.push(current);
        },
      });
    })(),
    etcd: (() => {
      let prefix = `/egr-bench-${n}/`;
      return Object.assign(() => new policy.store.EtcdStore(etcd.url, { prefix }), {
        fresh: () => {
          prefix = `/egr-bench-${++n}/`;
        },
      });
    })(),
  };
  const out: Record<string, unknown> = { load: loadavg(), applies };
  try {
    for (const [name, open] of Object.entries(backends)) {
      const fresh = (open as unknown as { fresh: () => void }).fresh;
      for (const watchers of [3, 10]) {
        fresh();
        const r = await applyAndWatch(open, watchers, applies);
        out[`${name}/watchers-${watchers}`] = r;
        console.log(
          `${name.padEnd(4)} ${String(watchers).padStart(2)} watchers: apply p50 ${r.apply.p50.toFixed(1)} ms p99 ${r.apply.p99.toFixed(1)} ms; ` +
            `apply → every watcher synced p50 ${r.propagation.p50.toFixed(1)} ms p99 ${r.propagation.p99.toFixed(1)} ms (${r.apply.n} applies)`,
        );
      }
      fresh();
      const b = await bulk(open);
      out[`${name}/10k-pods`] = b;
      console.log(
        `${name.padEnd(4)} 10 000-Pod set (${b.objects} objects): apply ${b.applySeconds.toFixed(2)} s = ${Math.round(b.objectsPerSecond)} objects/s; ` +
          `a watcher has it after ${b.watcherSeconds.toFixed(2)} s; load ${b.loadSeconds.toFixed(2)} s`,
      );
    }
  } finally {
    await etcd.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  out['loadAfter'] = loadavg();
  console.log(
    `load average before ${(out['load'] as number[]).map((x) => x.toFixed(2)).join(' ')}, after ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(out, null, 1) + '\n');
}

await main();
process.exit(0);
