/**
 * Issue 11: the agent exports its event-loop delay. A real stall of the loop (a busy wait) shows in the window's
 * maximum and in the maximum since start; the metrics text carries it as `egress_event_loop_delay_seconds` and
 * is accepted by `promtool check metrics` (Prometheus's own parser and linter).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LoopDelay } from '../../cli/agent/loop-delay.js';
import { renderMetrics } from '../../cli/agent/metrics.js';

const PROMTOOL = '/usr/bin/promtool';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('event-loop delay', () => {
  it('a 300 ms stall shows in the window and since start; a later calm window keeps only the latter', async () => {
    const d = new LoopDelay();
    try {
      await sleep(50);
      const t = performance.now();
      while (performance.now() - t < 300) {
        /* the stall */
      }
      await sleep(50);
      const w1 = d.roll();
      // The stall is at least 300 ms late minus the resolution; an upper bound would be a wall-clock limit.
      expect(w1.maxMs).toBeGreaterThanOrEqual(280);
      expect(w1.maxEverMs).toBe(w1.maxMs);
      expect(w1.count).toBeGreaterThan(0);
      await sleep(100);
      const w2 = d.roll();
      expect(w2.maxEverMs).toBe(w1.maxMs);
      expect(w2.count).toBeGreaterThan(w1.count);
      expect(d.snapshot()).toEqual(w2);
    } finally {
      d.stop();
    }
  });

  it.skipIf(!existsSync(PROMTOOL))('metrics carry it and promtool accepts the whole text', async () => {
    const text = await renderMetrics({
      node: 'node-a',
      stages: { classify: { exits: { tunnel: 3 }, counters: { 'drop-martian': 1, seen: 4 } } },
      conntrackEntries: 2,
      conntrackCounters: { created: 2 },
      snatPortsUsed: { '198.18.2.250': 2 },
      egressIps: ['198.18.2.250'],
      pods: 1,
      membersAlive: 3,
      storeProblems: { objects: 1 },
      faults: { report: 1 },
      storeConnected: true,
      loopDelay: { windowMs: 1000, p50Ms: 0.1, p99Ms: 2.5, maxMs: 12, maxEverMs: 1700, count: 98, sumMs: 40 },
    });
    expect(text).toContain('# TYPE egress_event_loop_delay_seconds summary');
    expect(text).toMatch(/^egress_event_loop_delay_seconds\{node="node-a",quantile="0.99"\} 0.0025$/m);
    expect(text).toMatch(/^egress_event_loop_delay_seconds\{node="node-a",quantile="1"\} 0.012$/m);
    expect(text).toMatch(/^egress_event_loop_delay_seconds_count\{node="node-a"\} 98$/m);
    expect(text).toMatch(/^egress_event_loop_delay_max_seconds\{node="node-a"\} 1.7$/m);
    const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.stderr + r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  it("egress get counters NODE prints the run file's figures in one line", () => {
    const dir = mkdtempSync(join(tmpdir(), 'egr-loop-'));
    try {
      mkdirSync(join(dir, 'run'), { mode: 0o700 });
      const report = {
        node: 'node-a',
        pid: 1,
        updated: new Date().toISOString(),
        egressIps: [],
        members: ['node-a'],
        pods: [],
        stages: {},
        conntrack: { size: 0, counters: {} },
        neighbors: [],
        ports: {},
        snat: [],
        eventLoopDelay: { windowMs: 1000, p50Ms: 0.1, p99Ms: 2.5, maxMs: 12, maxEverMs: 1700, count: 98, sumMs: 40 },
      };
      writeFileSync(join(dir, 'run', 'node-a.json'), JSON.stringify(report), { mode: 0o600 });
      const bin = resolve(import.meta.dirname, '../../bin/egress.js');
      const r = spawnSync(process.execPath, [bin, 'get', 'counters', 'node-a', '--state-dir', dir], {
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(
        'event loop delay: p99 2.5 ms, max 12.0 ms over the last 1.0 s; max since start 1700.0 ms',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
