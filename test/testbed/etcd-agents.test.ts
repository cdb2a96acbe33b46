/**
 * Real agents on etcd (root): two agents with their own state directories (two "hosts") on one segment (a bridge
 * in a namespace this test creates), sharing a 3-member etcd cluster. They see each other's status through etcd;
 * an agent killed with SIGKILL has its status expire with its lease and the other takes its Egress. Run under
 * `flock /tmp/egr-root.lock`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { netdev } from '../../tun/index.js';
import { ETCD_SKIP, EtcdCluster } from '../support/etcd-cluster.js';
import { BIN, ROOT, egress, isRoot } from './helpers.js';

const SEG_NS = 'egr-etcd-seg';
const BRIDGE = 'egretcdbr';
const skip = !isRoot ? 'needs root (TUN/TAP devices, namespaces)' : ETCD_SKIP;

/** The reference cluster without Pods and external hosts: Nodes, Namespaces, the pool, two Egresses. */
function manifests(): string {
  const text = readFileSync(join(ROOT, 'examples', 'reference', 'cluster.yaml'), 'utf8');
  return text.slice(0, text.indexOf('---\napiVersion: v1\nkind: Pod'));
}

async function until<T>(f: () => T | null | undefined | false, what: string, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(skip !== null)(`agents sharing an etcd store${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let etcd: EtcdCluster;
  let tmp: string;
  const agents = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();
  const prefix = `/egr-agents-${process.pid}/`;
  let flags: string[];

  const startAgent = (node: string) => {
    const dir = join(tmp, node);
    const p = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--node',
        node,
        ...flags,
        '--state-dir',
        dir,
        '--segment-netns',
        SEG_NS,
        '--bridge',
        BRIDGE,
        '--heartbeat-interval-ms',
        '100',
        '--dead-after-ms',
        '800',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    logs.set(node, '');
    p.stderr?.on('data', (d: Buffer) => logs.set(node, (logs.get(node)! + d.toString()).slice(-20000)));
    agents.set(node, p);
  };

  const statuses = async () => {
    const st = new policy.store.EtcdStore(etcd.url, { prefix });
    try {
      return await st.readNodeStatuses();
    } finally {
      st.close();
    }
  };

  beforeAll(async () => {
    etcd = await EtcdCluster.start(3);
    tmp = mkdtempSync(join(tmpdir(), 'egr-etcd-agents-'));
    flags = ['--store', etcd.url, '--etcd-prefix', prefix];
    netdev.deleteNetns(SEG_NS, { ifExists: true });
    netdev.addNetns(SEG_NS);
    netdev.addBridge(BRIDGE, { netns: SEG_NS });
    netdev.setUp(BRIDGE, { netns: SEG_NS });
    const a = egress(['apply', '-f', '-', ...flags], undefined, manifests());
    if (a.status !== 0) throw new Error(`apply: ${a.stderr}`);
  }, 60000);

  afterAll(async () => {
    for (const p of agents.values()) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    for (const p of agents.values()) if (p.exitCode === null) p.kill('SIGKILL');
    netdev.deleteNetns(SEG_NS, { ifExists: true });
    await etcd?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('two agents on two state dirs see each other through etcd; the host of an Egress killed: its status expires and the Egress moves', async () => {
    startAgent('node-a');
    startAgent('node-b');
    // both statuses in etcd, each agent counting both members alive, and get egress showing agents' placements
    const both = await untilAsync(
      async () => {
        const s = await statuses();
        return s.map((f) => f.node).join(',') === 'node-a,node-b' ? s : null;
      },
      `both statuses (logs: ${[...logs].join(' | ')})`,
    );
    expect(both.map((f) => f.node)).toEqual(['node-a', 'node-b']);
    const g = await untilAsync(async () => {
      const r = egress(['get', 'egress', '-o', 'json', ...flags]);
      if (r.status !== 0) return null;
      const items = (JSON.parse(r.stdout) as { items: policy.Egress[] }).items;
      const nodes = items.map((e) => e.status.egressNode).sort();
      return nodes.every((x) => x === 'node-a' || x === 'node-b') &&
        items.every((e) => e.metadata.annotations['egress-engine.io/status-source'] === 'agents')
        ? items
        : null;
    }, 'placements by the agents');
    expect(g.map((e) => e.metadata.name).sort()).toEqual(['egress-prod-web', 'egress-staging-web']);
    for (const node of ['node-a', 'node-b']) {
      const run = await until(() => {
        try {
          const v = JSON.parse(readFileSync(join(tmp, node, 'run', `${node}.json`), 'utf8')) as {
            store?: { connected?: boolean; url?: string };
          };
          return v.store?.connected === true ? v : null;
        } catch {
          return null;
        }
      }, `${node}'s run file`);
      expect(run.store?.url).toBe(etcd.url);
    }

    // the host of egress-prod-web dies: its status key expires with its lease, the other takes every Egress
    const victim = g.find((e) => e.metadata.name === 'egress-prod-web')!.status.egressNode;
    const survivor = victim === 'node-a' ? 'node-b' : 'node-a';
    agents.get(victim)!.kill('SIGKILL');
    await untilAsync(
      async () => {
        const s = await statuses();
        return s.map((f) => f.node).join(',') === survivor ? s : null;
      },
      `${victim}'s status to expire`,
      40000,
    );
    await untilAsync(
      async () => {
        const r = egress(['get', 'egress', '-o', 'json', ...flags]);
        const items = r.status === 0 ? (JSON.parse(r.stdout) as { items: policy.Egress[] }).items : [];
        return items.length === 2 && items.every((e) => e.status.egressNode === survivor) ? items : null;
      },
      `every Egress on ${survivor}`,
      40000,
    );
  }, 180000);

  it('etcd down: the agent keeps running and says store disconnected; it catches up when etcd is back', async () => {
    const survivor = [...agents].find(([, p]) => p.exitCode === null && p.signalCode === null)![0];
    const runFile = join(tmp, survivor, 'run', `${survivor}.json`);
    const connected = () => {
      try {
        return (JSON.parse(readFileSync(runFile, 'utf8')) as { store?: { connected?: boolean } }).store?.connected;
      } catch {
        return undefined;
      }
    };
    for (let i = 0; i < etcd.members.length; i++) await etcd.kill(i);
    await until(() => connected() === false, `${survivor} to report the store disconnected`);
    expect(agents.get(survivor)!.exitCode).toBe(null);
    expect(logs.get(survivor)).toContain('store: disconnected; forwarding on the last state');
    await etcd.restartAll();
    await until(() => connected() === true, `${survivor} to report the store connected again`);
    // a change made after the recovery reaches the agent: its status stops listing the deleted Egress
    const d = egress(['delete', 'egress', 'egress-staging-web', ...flags]);
    expect(d.status).toBe(0);
    await untilAsync(async () => {
      const s = (await statuses()).find((f) => f.node === survivor);
      return s && !('egress-staging-web' in s.egresses) && 'egress-prod-web' in s.egresses ? s : null;
    }, `${survivor}'s status after the delete`);
  }, 120000);
});

async function untilAsync<T>(f: () => Promise<T | null>, what: string, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
