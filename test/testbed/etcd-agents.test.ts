/**
 * Real agents on etcd (root): two agents with their own state directories (two "hosts") on one segment (a bridge
 * in a namespace this test creates), sharing a 3-member etcd cluster. They see each other's status through etcd;
 * an agent killed with SIGKILL has its status expire with its lease and the other takes its Egress. Then the test
 * bed itself on etcd: `egress testbed up --store etcd://…` (the 3-member cluster) runs the integration test that
 * moves an Egress between nodes, and `egress demo --etcd` the reference scenario on the test bed's own etcd. Run
 * under `flock /tmp/egr-root.lock`; the file holds the test bed lock (helpers.ts) against testbed.test.ts.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { netdev } from '../../tun/index.js';
import { ETCD_SKIP, EtcdCluster } from '../support/etcd-cluster.js';
import {
  BIN,
  ROOT,
  arpResponders,
  curlIn,
  egress,
  eventually,
  hostNs,
  isRoot,
  leftovers,
  neighMac,
  nodeMac,
  podNs,
  until,
  referenceWithoutPods,
  runFile,
  sh,
  sleep,
  testbedLock,
} from './helpers.js';

const SEG_NS = 'egr-etcd-seg';
const BRIDGE = 'egretcdbr';
const skip = !isRoot ? 'needs root (TUN/TAP devices, namespaces)' : ETCD_SKIP;

/** examples/hosts/egress-agent.env as systemd reads it: KEY=VALUE lines, # comments. */
function exampleEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(ROOT, 'examples/hosts/egress-agent.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The unit's ExecStart with systemd's expansion of `${X}` (one word) and `$X` (split on whitespace). */
function unitArgv(env: Record<string, string>): string[] {
  const unit = readFileSync(join(ROOT, 'examples/hosts/egress-agent.service'), 'utf8');
  expect(unit).toMatch(/^EnvironmentFile=\/etc\/egress-engine\/agent\.env$/m);
  const out: string[] = [];
  for (const w of /^ExecStart=(.+)$/m.exec(unit)![1]!.trim().split(/\s+/)) {
    const one = /^\$\{(\w+)\}$/.exec(w);
    const split = /^\$(\w+)$/.exec(w);
    if (one) out.push(env[one[1]!] ?? '');
    else if (split) out.push(...(env[split[1]!] ?? '').split(/\s+/).filter(Boolean));
    else out.push(w);
  }
  return out;
}

let unlock = () => {};
beforeAll(async () => {
  unlock = await testbedLock();
}, 900_000);
afterAll(() => unlock());

describe.skipIf(skip !== null)(`agents sharing an etcd store${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let etcd: EtcdCluster;
  let tmp: string;
  const agents = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();
  const prefix = `/egr-agents-${process.pid}/`;
  let flags: string[];

  /**
   * Each "host" runs the agent as examples/hosts/egress-agent.service does: its ExecStart line with systemd's
   * expansion (`${X}` one word, `$X` split on whitespace) and the store from EGRESS_STORE in the environment. On
   * this machine the segment's bridge is in a namespace, so EGRESS_AGENT_ARGS names it with --segment-netns.
   */
  const startAgent = (node: string) => {
    const dir = join(tmp, node);
    const argv = unitArgv({
      ...exampleEnv(),
      EGRESS_NODE: node,
      EGRESS_AGENT_ARGS: `--bridge ${BRIDGE} --segment-netns ${SEG_NS} --state-dir ${dir} --etcd-prefix ${prefix} --heartbeat-interval-ms 100 --dead-after-ms 800`,
    });
    expect(argv[0]).toBe('/usr/local/bin/egress');
    const p = spawn(process.execPath, [BIN, ...argv.slice(1)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, EGRESS_STORE: etcd.url },
    });
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
    const a = egress(['apply', '-f', '-', ...flags], undefined, referenceWithoutPods());
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

  it('the example unit and env file agree: the unit uses what the env file sets', () => {
    const env = exampleEnv();
    expect(Object.keys(env).sort()).toEqual(['EGRESS_AGENT_ARGS', 'EGRESS_NODE', 'EGRESS_STORE']);
    expect(env['EGRESS_STORE']).toMatch(/^etcd:\/\/[\d.]+:2379(,[\d.]+:2379)*$/);
    expect(unitArgv(env)).toEqual([
      '/usr/local/bin/egress',
      'agent',
      '--node',
      'node-a',
      ...env['EGRESS_AGENT_ARGS']!.split(' '),
    ]);
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

describe.skipIf(skip !== null)(`the test bed on etcd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const MANIFESTS = join(ROOT, 'test/testbed/fixtures/cluster.yaml');
  const SHOWIP = 'http://198.18.2.100:8080/';
  const NODE_IP = { 'node-a': '198.18.2.11', 'node-b': '198.18.2.12', 'node-c': '198.18.2.13' } as const;
  const SHOW_NS = hostNs('showip');
  /** node-a's metrics port (node-b, node-c: the next two). */
  const METRICS = 19350;
  let etcd: EtcdCluster;
  let state: string;
  const prefix = `/egr-testbed-${process.pid}/`;
  let flags: string[];
  /** `egress ARGS` on the test bed's store (etcd: no --state-dir). */
  const eg = (args: string[], input?: string) => egress([...args, ...flags], undefined, input);
  const tb = (args: string[]) => egress(['testbed', ...args, '--state-dir', state]);
  const apply = (yaml: string) => {
    const r = eg(['apply', '-f', '-'], yaml);
    if (r.status !== 0) throw new Error(`egress apply failed: ${r.stderr}`);
  };
  const status = (name: string) => {
    const r = eg(['get', 'egress', name, '-o', 'json']);
    if (r.status !== 0) throw new Error(r.stderr);
    return (JSON.parse(r.stdout) as policy.Egress).status;
  };
  const seen = (pod: string, t = 2) => curlIn(podNs(pod), SHOWIP, t);

  beforeAll(async () => {
    etcd = await EtcdCluster.start(3);
    state = mkdtempSync(join(tmpdir(), 'egr-tb-etcd-'));
    flags = ['--store', etcd.url, '--etcd-prefix', prefix];
    expect(leftovers(), 'something of an earlier run is still there').toEqual([]);
  }, 60000);

  afterAll(async () => {
    tb(['down']);
    await etcd?.stop();
    if (state) rmSync(state, { recursive: true, force: true });
    expect(leftovers()).toEqual([]);
  });

  it('testbed up --store etcd://…: the manifests are in etcd (one key per object), the agents follow it', async () => {
    const up = egress([
      'testbed',
      'up',
      '--manifests',
      MANIFESTS,
      '--state-dir',
      state,
      '--quiet',
      '--metrics-port-base',
      String(METRICS),
      ...flags,
    ]);
    expect(up.status, up.stderr).toBe(0);
    const st = JSON.parse(tb(['status', '--json']).stdout) as { store: string; nodes: { agent: string }[] };
    expect(st.store).toBe(etcd.url);
    expect(st.nodes.map((n) => n.agent)).toEqual(['running', 'running', 'running']);
    // no store in the state directory: the objects live in etcd, one key each
    expect(() => readFileSync(join(state, 'objects.json'))).toThrow(/ENOENT/);
    const store = new policy.store.EtcdStore(etcd.url, { prefix });
    try {
      const keys = (await store.client.range(store.stateKey, { prefix: true })).kvs.map((kv) => kv.key);
      expect(keys).toContain(`${prefix}state/objects/Pod/prod/web-a`);
      expect(keys).toContain(`${prefix}state/objects/Node/node-c`);
      expect((await store.readClusterKey())?.length).toBe(32);
    } finally {
      store.close();
    }
    // before any Egress, pods leave with their node IP
    expect(await eventually(() => seen('prod/web-a'), NODE_IP['node-a'], 20000)).toBe(NODE_IP['node-a']);
  }, 120000);

  it('an egress node frozen: the IP moves, the observer follows the GARP, traffic resumes (3 runs, on etcd)', async () => {
    apply(`apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: {name: web}
spec:
  appliedTo:
    podSelector: {matchLabels: {app: web}}
  externalIPPool: pool-c
`);
    apply(
      `apiVersion: v1\nkind: Node\nmetadata: {name: node-b, labels: {zone: two}}\nspec: {podCIDR: 198.19.22.0/24}\nstatus: {addresses: [{type: InternalIP, address: 198.18.2.12}]}\n`,
    );
    expect(await eventually(() => seen('prod/web-a'), '198.18.2.250', 20000)).toBe('198.18.2.250');
    for (let run = 0; run < 3; run++) {
      await eventually(() => ['node-b', 'node-c'].includes(status('web').egressNode), true, 10000);
      const owner = status('web').egressNode as 'node-b' | 'node-c';
      expect(['node-b', 'node-c']).toContain(owner);
      const other = owner === 'node-b' ? 'node-c' : 'node-b';
      expect(seen('prod/web-a')).toBe('198.18.2.250');
      expect(neighMac(SHOW_NS, '198.18.2.250')).toBe(nodeMac(NODE_IP[owner]));
      expect(tb(['fail', owner]).status).toBe(0);
      const t0 = performance.now();
      let ok = false;
      while (performance.now() - t0 < 20_000) {
        if (curlIn(podNs('prod/web-a'), SHOWIP, 0.2) === '198.18.2.250') {
          ok = true;
          break;
        }
      }
      const dt = performance.now() - t0;
      expect(ok, `run ${run}: no answer through the egress IP within 20 s`).toBe(true);
      expect(neighMac(SHOW_NS, '198.18.2.250')).toBe(nodeMac(NODE_IP[other]));
      expect(arpResponders(SHOW_NS, '198.18.2.250', 2)).toEqual([nodeMac(NODE_IP[other])]);
      // the new owner's status reaches etcd and `get egress` names it
      expect(await eventually(() => status('web').egressNode, other, 20000)).toBe(other);
      expect(tb(['restore', owner]).status).toBe(0);
      await sleep(300);
      const who = arpResponders(SHOW_NS, '198.18.2.250', 2);
      expect(who.length, `after resume: ${who.join(', ')} answer ARP`).toBe(1);
      expect(seen('prod/web-a')).toBe('198.18.2.250');
      console.log(
        `etcd test bed, run ${run}: failover ${dt.toFixed(0)} ms (a figure; load ${loadavg()[0]!.toFixed(1)})`,
      );
    }
  }, 240000);

  it('etcd down (the leader, then every member): pods keep leaving by the egress IP; a new Egress applied after the recovery is followed', async () => {
    const IP = '198.18.2.250';
    const nodes = ['node-a', 'node-b', 'node-c'] as const;
    const report: string[] = [];
    const t0 = performance.now();
    const ms = () => (performance.now() - t0).toFixed(0);
    /** curl through the egress IP for `forMs` (at least 3 tries): every answer, counted. */
    const traffic = async (what: string, forMs: number) => {
      const answers: (string | null)[] = [];
      const end = performance.now() + forMs;
      while (answers.length < 3 || performance.now() < end) {
        answers.push(seen('prod/web-a', 4));
        await sleep(100);
      }
      const good = answers.filter((a) => a === IP).length;
      report.push(`${ms()} ms ${what}: ${good}/${answers.length} curls answered ${IP}`);
      expect(answers, `${what}: every curl from prod/web-a answered with the egress IP`).toEqual(answers.map(() => IP));
    };
    const storeConnected = (node: string): boolean | undefined => {
      try {
        return (runFile(state, node) as { store?: { connected?: boolean } }).store?.connected;
      } catch {
        return undefined;
      }
    };
    const allStore = async (want: boolean, what: string) => {
      const got = await eventually(
        () => nodes.map(storeConnected),
        nodes.map(() => want),
        60000,
        200,
      );
      expect(got, what).toEqual(nodes.map(() => want));
      report.push(`${ms()} ms ${what}`);
    };
    const owner = status('web').egressNode as 'node-b' | 'node-c';
    expect(await eventually(() => seen('prod/web-a'), IP, 20000)).toBe(IP);
    await traffic('before', 2000);

    const leader = await etcd.waitLeader();
    await etcd.kill(leader);
    report.push(`${ms()} ms leader ${etcd.members[leader]!.name} SIGKILLed`);
    await traffic('leader killed', 3000);
    // the other two elect a leader: the agents' status writes go on
    await etcd.waitLeader();
    report.push(`${ms()} ms a new leader elected`);

    for (let i = 0; i < etcd.members.length; i++) await etcd.kill(i);
    report.push(`${ms()} ms every member SIGKILLed`);
    await allStore(false, 'every agent reports store disconnected');
    // the metrics say so; the agents stay ready (they forward on the last state)
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const m = await eventually(
        () =>
          /^egress_store_connected\{node="[^"]+"\} (\d)$/m.exec(
            sh('curl', ['-s', '-m', '3', `http://127.0.0.1:${METRICS + i}/metrics`]).stdout,
          )?.[1] ?? null,
        '0',
        10000,
      );
      expect(m, `${node}: egress_store_connected`).toBe('0');
      expect(sh('curl', ['-s', '-m', '3', `http://127.0.0.1:${METRICS + i}/readyz`]).stdout, `${node} /readyz`).toBe(
        'ok\n',
      );
    }
    report.push(`${ms()} ms every agent's metrics: egress_store_connected 0, /readyz ok`);
    await traffic('all members down', 5000);
    expect(neighMac(SHOW_NS, IP)).toBe(nodeMac(NODE_IP[owner]));
    expect(arpResponders(SHOW_NS, IP, 2), 'one owner through the outage').toEqual([nodeMac(NODE_IP[owner])]);

    await etcd.restartAll();
    report.push(`${ms()} ms every member restarted`);
    await allStore(true, 'every agent reports store connected');
    await traffic('after', 2000);

    // a change made after the recovery: a new Egress for prod/api-c (node-c), which left by its node IP so far
    expect(seen('prod/api-c')).toBe(NODE_IP['node-c']);
    apply(
      `apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {name: api}\nspec:\n  appliedTo:\n    podSelector: {matchLabels: {app: api}}\n  externalIPPool: pool-c\n`,
    );
    const apiIP = await eventually(
      () => (eg(['get', 'egress', 'api', '-o', 'json']).stdout.includes('198.18.2.251') ? '198.18.2.251' : null),
      '198.18.2.251',
      20000,
    );
    expect(apiIP).toBe('198.18.2.251');
    expect(await eventually(() => seen('prod/api-c'), '198.18.2.251', 30000)).toBe('198.18.2.251');
    report.push(`${ms()} ms the new Egress api applied after the recovery: prod/api-c leaves by 198.18.2.251`);
    await traffic('with the new Egress', 1000);
    // and removed again: api-c back on its node IP (the next test expects the fixture's Egresses only)
    expect(eg(['delete', 'egress', 'api']).status).toBe(0);
    expect(await eventually(() => seen('prod/api-c'), NODE_IP['node-c'], 30000)).toBe(NODE_IP['node-c']);
    console.log(`etcd outage on the test bed (load ${loadavg()[0]!.toFixed(1)}):\n  ${report.join('\n  ')}`);
  }, 300000);

  it('a nodeSelector change applied to etcd moves the IP to the other node', async () => {
    const owner = status('web').egressNode as 'node-b' | 'node-c';
    const other = owner === 'node-b' ? 'node-c' : 'node-b';
    const pick = `only-${other}`;
    apply(
      `apiVersion: v1\nkind: Node\nmetadata: {name: ${other}, labels: {zone: two, pick: ${pick}}}\nspec: {podCIDR: ${other === 'node-b' ? '198.19.22.0/24' : '198.19.23.0/24'}}\nstatus: {addresses: [{type: InternalIP, address: ${NODE_IP[other]}}]}\n`,
    );
    apply(
      `apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata: {name: pool-c}\nspec:\n  ipRanges: [{start: 198.18.2.250, end: 198.18.2.251}]\n  nodeSelector: {matchLabels: {pick: ${pick}}}\n`,
    );
    const want = nodeMac(NODE_IP[other]);
    expect(await eventually(() => neighMac(SHOW_NS, '198.18.2.250'), want, 30000, 50)).toBe(want);
    expect(arpResponders(SHOW_NS, '198.18.2.250', 2)).toEqual([want]);
    expect(await eventually(() => status('web').egressNode, other, 20000)).toBe(other);
    expect(seen('prod/web-a')).toBe('198.18.2.250');
    const down = tb(['down']);
    expect(down.status, down.stderr).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 120000);

  it("egress demo --etcd: the reference scenario with the agents on the test bed's own etcd, all removed after", () => {
    const r = egress(['demo', '--etcd']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/store: etcd pid \d+ in namespace egr-etcd, etcd\+unix:\/\/\/\S+\/etcd\/localhost:2379/);
    expect(r.stdout).toMatch(/prod\/web-a\s+node-a\s+egress-prod-web\s+198\.18\.0\.253\s+ok/);
    expect(r.stdout).toMatch(/staging\/web-c\s+node-c\s+egress-staging-web\s+198\.18\.0\.254\s+ok/);
    expect(r.stdout).toMatch(/dev\/tools\s+node-b\s+-\s+198\.18\.0\.12\s+ok/);
    expect(r.stdout).toMatch(/succeeded again after \d+ ms/);
    expect(r.stdout).toMatch(/the MAC followed the gratuitous ARP/);
    expect(leftovers()).toEqual([]); // the etcd namespace and process included
  }, 120000);
});
