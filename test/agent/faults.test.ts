/**
 * Fault containment (issue 11 "every timer and watcher guarded", docs/agent.md "Faults"): an exception in the
 * agent's housekeeping callback is caught, counted per place, logged once per kind, and the agent's loop goes on
 * (heartbeats keep leaving, the datapath's rounds keep running).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../../cli/agent/metrics.js';
import { Faults } from '../../engine/agent/faults.js';
import { NodeRunner } from '../../engine/agent/node-runner.js';
import { AgentRuntime } from '../../engine/agent/runtime.js';
import { cluster, io, policy, Slab } from '../../engine/index.js';
import { mustApply } from '../policy/helpers.js';

const REF = join(import.meta.dirname, '../../examples/reference/cluster.yaml');

function reference(): policy.ClusterState {
  const parsed = policy.parseManifests(readFileSync(REF, 'utf8'), REF);
  return mustApply(
    policy.emptyState(),
    parsed.docs.map((d) => d.value),
  );
}

/** Resolves once `cond` holds (checked every few ms); no wall-clock limit beyond vitest's own timeout. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
}

describe('Faults', () => {
  it('counts every fault per place and logs each kind once', () => {
    const logged: string[] = [];
    const f = new Faults((where, e, { count }) => logged.push(`${where}: ${e.message} (#${count})`));
    const boom = f.guard('report', (n: number) => {
      if (n % 2) throw new Error('odd');
      if (n === 4) throw new TypeError('four');
    });
    for (let n = 0; n < 7; n++) boom(n);
    f.run('store-watch', () => {
      throw 'not an Error';
    });
    expect(f.snapshot()).toEqual({ report: 4, 'store-watch': 1 });
    expect(f.total).toBe(5);
    expect(logged).toEqual(['report: odd (#1)', 'report: four (#3)', 'store-watch: not an Error (#1)']);
  });

  it('a throwing logger does not undo the containment', () => {
    const f = new Faults(() => {
      throw new Error('logger');
    });
    expect(() =>
      f.run('x', () => {
        throw new Error('y');
      }),
    ).not.toThrow();
    expect(f.snapshot()).toEqual({ x: 1 });
  });

  it('metrics export the counter per place', async () => {
    const text = await renderMetrics({
      node: 'node-a',
      stages: {},
      conntrackEntries: 0,
      conntrackCounters: {},
      snatPortsUsed: {},
      egressIps: [],
      pods: 0,
      membersAlive: 1,
      faults: { control: 3, report: 1 },
    });
    expect(text).toContain('# TYPE egress_agent_faults_total counter');
    expect(text).toContain('egress_agent_faults_total{node="node-a",where="control"} 3');
    expect(text).toContain('egress_agent_faults_total{node="node-a",where="report"} 1');
  });
});

describe('AgentRuntime with a throwing housekeeping callback', () => {
  it('catches and counts each throw; heartbeats and datapath rounds go on after them', async () => {
    const state = reference();
    const slab = new Slab({ slots: 256 });
    const statuses = new Map<string, policy.NodeStatusFile>();
    let clock = 0;
    const runner = new NodeRunner({
      name: 'node-a',
      state,
      slab,
      uplink: new io.MemoryPort({ name: 'uplink', slab }),
      key: cluster.makeKey(new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff)),
      incarnation: 1,
      now: 0,
      status: { files: () => statuses.values(), write: (f) => statuses.set(f.node, f), events: () => {} },
      pods: { open: (p) => new io.MemoryPort({ name: p.key, slab }), close: (_k, p) => p.close() },
    });
    const logged: string[] = [];
    const faults = new Faults((where, e) => logged.push(`${where}: ${e.message}`));
    let calls = 0;
    let thrown = 0;
    // A simulated clock advancing 10 ms per round keeps membership's timing independent of the machine's load.
    const rt = new AgentRuntime(runner.agent, {
      clock: () => clock,
      tickMs: 1,
      faults,
      onTick: (now) => {
        clock += 10;
        if (++calls % 3 === 0) {
          thrown++;
          throw new Error('injected');
        }
        runner.tick(now);
      },
    });
    rt.start();
    try {
      await until(() => thrown >= 5);
      const txAfterFaults = runner.membership.counters.get('tx-heartbeats');
      const ticksAfterFaults = rt.stats.ticks;
      await until(() => runner.membership.counters.get('tx-heartbeats') > txAfterFaults + 2);
      // Every round ran to its datapath part (ticks count rounds, throwing or not), and the loop is alive.
      expect(rt.stats.ticks).toBeGreaterThan(ticksAfterFaults);
      expect(faults.snapshot().control).toBe(thrown);
      expect(logged).toEqual(['control: injected']);
    } finally {
      rt.stop();
    }
  });
});
