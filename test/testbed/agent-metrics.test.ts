/**
 * A real agent's metrics endpoint (root: its uplink is a TAP on a bridge in a namespace this test creates): the
 * text of `/metrics` passes `promtool check metrics` (Debian's prometheus package), carries the agent's own
 * metrics and prom-client's process and Node.js ones, and every metric the Grafana dashboard in examples/grafana/
 * queries; `/healthz` answers while the process runs; `/readyz` says 503 with the reason until membership settled,
 * then 200. The agent runs with `--conn-sync`: its sync metrics come from a real ConnSync. Run under
 * `flock /tmp/egr-root.lock`; it holds the test bed lock (helpers.ts) like the test bed's files.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netdev } from '../../tun/index.js';
import { dashboardMetrics, declaredNames } from '../support/grafana.js';
import { freePort } from '../support/etcd-cluster.js';
import { BIN, ROOT, egress, isRoot, referenceWithoutPods, testbedLock } from './helpers.js';

const PROMTOOL = '/usr/bin/promtool';
const SEG_NS = 'egr-metrics-seg';
const BRIDGE = 'egrmetbr';
const skip = !isRoot
  ? 'needs root (TUN/TAP devices, namespaces)'
  : !existsSync(PROMTOOL)
    ? `${PROMTOOL} not found`
    : null;

async function get(url: string): Promise<{ status: number; body: string } | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return { status: r.status, body: await r.text() };
  } catch {
    return null;
  }
}

// the agent is a process leftovers() looks for: hold the test bed lock (helpers.ts) against the test bed's files
let unlock = () => {};
beforeAll(async () => {
  if (skip === null) unlock = await testbedLock();
}, 900_000);
afterAll(() => unlock());

describe.skipIf(skip !== null)(`a running agent's metrics and health${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let tmp: string;
  let agent: ChildProcess | null = null;
  let log = '';
  let port = 0;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'egr-metrics-'));
    netdev.deleteNetns(SEG_NS, { ifExists: true });
    netdev.addNetns(SEG_NS);
    netdev.addBridge(BRIDGE, { netns: SEG_NS });
    netdev.setUp(BRIDGE, { netns: SEG_NS });
    const a = egress(['apply', '-f', '-'], tmp, referenceWithoutPods());
    if (a.status !== 0) throw new Error(`apply: ${a.stderr}`);
    port = await freePort();
  }, 60000);

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const p = agent;
      await new Promise<void>((r) => {
        const t = setTimeout(() => p.kill('SIGKILL'), 5000);
        p.once('exit', () => (clearTimeout(t), r()));
        p.kill('SIGTERM');
      });
    }
    netdev.deleteNetns(SEG_NS, { ifExists: true });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('/readyz 503 until membership settled, then 200; /healthz 200; /metrics passes promtool and has every metric the dashboard queries', async () => {
    // node-b and node-c never answer: membership settles when --dead-after-ms has passed (8 s: time to see 503)
    agent = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--node',
        'node-a',
        '--state-dir',
        tmp,
        '--bridge',
        BRIDGE,
        '--segment-netns',
        SEG_NS,
        '--metrics-port',
        String(port),
        '--dead-after-ms',
        '8000',
        '--conn-sync',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    agent.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20000)));
    const base = `http://127.0.0.1:${port}`;
    const answers: { status: number; body: string }[] = [];
    const end = Date.now() + 90_000;
    for (;;) {
      const r = await get(`${base}/readyz`);
      if (r) answers.push(r);
      if (r?.status === 200) break;
      if (Date.now() > end || agent.exitCode !== null)
        throw new Error(`no ready agent (last /readyz: ${JSON.stringify(answers.at(-1))}; log: ${log.slice(-2000)})`);
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(answers[0], 'the first answer: not ready yet').toEqual({
      status: 503,
      body: 'not ready: membership has not settled\n',
    });
    expect(answers.at(-1)).toEqual({ status: 200, body: 'ok\n' });
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    expect((await get(`${base}/nothing`))?.status).toBe(404);

    const m = await get(`${base}/metrics`);
    expect(m?.status).toBe(200);
    const text = m!.body;
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.stdout + check.stderr, 'promtool check metrics').toBe('');
    expect(check.status).toBe(0);
    // the agent's own metrics, with what a running node-a knows
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(text).toMatch(
      new RegExp(
        `^egress_build_info\\{node="node-a",version="${version.replace(/\./g, '\\.')}",nodejs="${process.version}",arch="${process.arch}"\\} 1$`,
        'm',
      ),
    );
    expect(text).toMatch(/^egress_conntrack_entries\{node="node-a"\} 0$/m);
    expect(text).toMatch(/^egress_conntrack_max\{node="node-a"\} [1-9]\d*$/m);
    expect(text).toMatch(/^egress_membership_settled\{node="node-a"\} 1$/m);
    expect(text).toMatch(/^egress_members_alive\{node="node-a"\} 1$/m);
    expect(text).toMatch(/^egress_peer_state\{node="node-a",peer="node-b",state="dead"\} 1$/m);
    expect(text).toMatch(/^egress_peer_state\{node="node-a",peer="node-b",state="alive"\} 0$/m);
    expect(text).toMatch(/^egress_store_connected\{node="node-a"\} 1$/m);
    // node-a is the only one alive: it hosts both egress IPs of the reference pool
    expect(text).toMatch(/^egress_ip_owned\{node="node-a",ip="198\.18\.0\.253"\} 1$/m);
    expect(text).toMatch(/^egress_ips_owned\{node="node-a"\} 2$/m);
    // --conn-sync: node-a alone hosts both IPs, so neither has a standby, and nothing was replicated or received
    expect(text).toMatch(/^egress_conn_sync_standby\{node="node-a",ip="198\.18\.0\.253",standby=""\} 1$/m);
    expect(text).toMatch(/^egress_conn_sync_replicated_total\{node="node-a"\} 0$/m);
    expect(text).toMatch(/^egress_conn_sync_cached\{node="node-a"\} 0$/m);
    expect(text).toMatch(/^egress_conn_sync_messages_total\{node="node-a",direction="received"\} 0$/m);
    expect(text).toMatch(/^egress_event_loop_delay_seconds\{node="node-a",quantile="0\.99"\} [\d.e-]+$/m);
    // prom-client's default metrics, labelled with the node
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
    ])
      expect(text, name).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'));
    expect(text).toMatch(/^process_cpu_seconds_total\{node="node-a"\} /m);
    // every metric the dashboard queries is in a real scrape
    const exported = declaredNames(text);
    const missing = dashboardMetrics().filter((n) => !exported.has(n));
    expect(missing, 'dashboard metrics the agent does not export').toEqual([]);
  }, 180000);
});
