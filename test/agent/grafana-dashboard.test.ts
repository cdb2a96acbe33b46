/**
 * examples/grafana/egress-engine.json: a Grafana dashboard that loads (valid JSON, panels laid out on the 24-column
 * grid without overlap, unique ids, every query on the dashboard's data source variable), and every metric it
 * queries is one the agent's registry exports (cli/agent/metrics.ts, with prom-client's default metrics). The
 * name extraction is checked on PromQL written here by hand. A real agent's scrape is checked against the same
 * list in test/testbed/agent-metrics.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agentRegistry, type MetricsSnapshot } from '../../cli/agent/metrics.js';
import {
  allPanels,
  dashboardMetrics,
  declaredNames,
  expressions,
  loadDashboard,
  metricNames,
} from '../support/grafana.js';

const full: MetricsSnapshot = {
  node: 'node-a',
  stages: { classify: { exits: { tunnel: 3 }, counters: { 'drop-martian': 1, seen: 4 } } },
  conntrackEntries: 2,
  conntrackMax: 65536,
  conntrackCounters: { created: 2 },
  snatPortsUsed: { '198.18.2.250': 2 },
  snatConnections: { '198.18.2.250': 3 },
  egressIps: ['198.18.2.250'],
  egressIpOwned: { '198.18.2.250': true, '198.18.2.251': false },
  pods: 1,
  membersAlive: 2,
  membershipSettled: true,
  peers: { 'node-b': 'alive', 'node-c': 'dead' },
  storeProblems: { objects: 1 },
  faults: { report: 1 },
  storeConnected: true,
  loopDelay: { windowMs: 1000, p50Ms: 0.1, p99Ms: 2.5, maxMs: 12, maxEverMs: 1700, count: 98, sumMs: 40 },
  sync: {
    counters: {
      replicated: 7,
      'messages-sent': 3,
      'bytes-sent': 900,
      'records-sent': 9,
      'lag-ms-last': 90,
      'lag-ms-max': 120,
      'installed-on-takeover': 5,
      'takeover-clash': 1,
      'dropped-queue-full': 2,
      'rx-ok': 4,
      'rx-bad-mac': 6,
      'snapshot-loaded': 5,
      'snapshot-rejected-stale': 1,
      cached: 11,
      queued: 0,
    },
    standbys: { '198.18.2.250': 'node-b' },
  },
};

describe('the Grafana dashboard', () => {
  it('metric names come out of PromQL without functions, labels, strings, ranges or keywords', () => {
    expect(
      metricNames('sum by (node, stage) (rate(egress_stage_packets_total{node=~"$node",x="a b"}[$__rate_interval]))'),
    ).toEqual(['egress_stage_packets_total']);
    expect(metricNames('egress_conntrack_entries{node=~"$node"} / egress_conntrack_max{node=~"$node"}')).toEqual([
      'egress_conntrack_entries',
      'egress_conntrack_max',
    ]);
    expect(metricNames('a > 0 and on (node) b == 1 or histogram_quantile(0.99, sum without (le) (c_bucket))')).toEqual([
      'a',
      'b',
      'c_bucket',
    ]);
  });

  it('loads: panels on the grid, unique ids, queries on the data source variable, a node variable', () => {
    const d = loadDashboard();
    expect(d.uid).toBe('egress-engine');
    const panels = allPanels(d);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const cells = new Set<string>();
    for (const p of panels) {
      const g = p.gridPos!;
      expect(g.x + g.w, `${p.title} fits in 24 columns`).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      if (p.type === 'row') continue;
      expect(p.targets?.length, `${p.title} has queries`).toBeGreaterThan(0);
      expect((p as { datasource?: { uid?: string } }).datasource?.uid).toBe('${datasource}');
    }
    expect(d.templating?.list.map((v) => v.name)).toEqual(['datasource', 'node']);
    expect(expressions(d).length).toBeGreaterThan(panels.filter((p) => p.type !== 'row').length);
  });

  it.skipIf(!existsSync('/usr/bin/promtool'))(
    'the registry with the default metrics passes promtool check metrics',
    async () => {
      const text = await agentRegistry(() => full, 'node-a', true).metrics();
      const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(text).not.toMatch(/^nodejs_active_handles_total/m);
      expect(text).toMatch(/^egress_build_info\{node="node-a",version="[^"]+",nodejs="v\d+[^"]*",arch="[^"]+"\} 1$/m);
      expect(text).toMatch(/^egress_snat_ports_used\{node="node-a",ip="198\.18\.2\.250"\} 2$/m);
      expect(text).toMatch(/^egress_snat_connections\{node="node-a",ip="198\.18\.2\.250"\} 3$/m);
      expect(text).toMatch(/^egress_ip_owned\{node="node-a",ip="198\.18\.2\.251"\} 0$/m);
      expect(text).toMatch(/^egress_peer_state\{node="node-a",peer="node-c",state="dead"\} 1$/m);
      expect(text).toMatch(/^egress_stage_drops_total\{node="node-a",stage="classify",reason="martian"\} 1$/m);
      expect(text).toMatch(/^egress_stage_events_total\{node="node-a",stage="classify",event="seen"\} 4$/m);
      expect(text).toMatch(/^process_cpu_seconds_total\{node="node-a"\} /m);
      expect(text).toMatch(/^egress_conn_sync_replicated_total\{node="node-a"\} 7$/m);
      expect(text).toMatch(/^egress_conn_sync_lag_seconds\{node="node-a"\} 0\.09$/m);
      expect(text).toMatch(/^egress_conn_sync_takeover_total\{node="node-a",result="installed"\} 5$/m);
      expect(text).toMatch(/^egress_conn_sync_drops_total\{node="node-a",reason="queue-full"\} 2$/m);
      expect(text).toMatch(/^egress_conn_sync_drops_total\{node="node-a",reason="rx-bad-mac"\} 6$/m);
      expect(text).not.toMatch(/reason="rx-ok"/);
      expect(text).toMatch(/^egress_conn_sync_snapshot_rejected_total\{node="node-a",reason="stale"\} 1$/m);
      expect(text).toMatch(/^egress_conn_sync_standby\{node="node-a",ip="198\.18\.2\.250",standby="node-b"\} 1$/m);
    },
  );

  it('every metric it queries is exported by the agent', async () => {
    const registry = agentRegistry(() => full, 'node-a', true);
    const exported = declaredNames(await registry.metrics());
    const wanted = dashboardMetrics();
    expect(wanted.length).toBeGreaterThan(20);
    expect(wanted.filter((n) => !exported.has(n))).toEqual([]);
    // and the dashboard shows every metric of the agent's own (egress_*)
    const own = [...exported].filter((n) => n.startsWith('egress_') && !/_(sum|count)$/.test(n));
    expect(own.filter((n) => !wanted.includes(n))).toEqual([]);
  });
});
