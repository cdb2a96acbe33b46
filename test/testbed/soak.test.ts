/**
 * The soak in CI (issue 11): `npm run soak -- --duration 60` on the test bed (bench/soak.ts: 65 536 flows, a
 * scrape of every agent each second, a Node deleted and added back, an ARP storm and Geneve spoofing from an
 * attacker host). Asserts what the soak asserts: the egress IP never moves (no false failover) and is never hosted
 * twice, no agent exits, every scrape answers, the owner's table was full; and that each agent reported its
 * event-loop delay. Needs root; runs under `flock /tmp/egr-root.lock` like the other test-bed files (they share
 * the segment's namespace names, so they must not run at the same time).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, leftovers, ROOT, testbedLock } from './helpers.js';

if (!isRoot) console.warn('test/testbed/soak: skipped: the test bed needs root (network namespaces, TUN/TAP)');

describe.skipIf(!isRoot)('soak, 60 s', () => {
  let unlock: (() => void) | undefined;
  beforeAll(async () => {
    unlock = await testbedLock(); // the other test-bed files build egr-fab too
  }, 900_000);
  afterAll(() => unlock?.());

  it('no false failover, no split brain, no crash under 64 k connections, scrapes, Node churn and attacks', () => {
    expect(leftovers(), 'something of an earlier run is still there').toEqual([]);
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench/soak.js'), '--duration', '60', '--json'], {
      encoding: 'utf8',
      timeout: 280_000,
      cwd: ROOT,
    });
    expect(r.status === 0 || r.status === 1, r.stderr).toBe(true);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    console.log(
      `soak 60 s: owner ${res.owner}; loop delay max (ms) ${Object.entries(res.nodes)
        .map(([n, v]) => `${n} ${(v as { loopDelayMaxMs: number }).loopDelayMaxMs.toFixed(0)}`)
        .join(', ')}; ${res.flows}; ${res.attacker}; load ${res.load}`,
    );
    expect(res.nodeDeleted && res.nodeRejoined).toBe(true);
    expect(res.nodes[res.owner].conntrackMax).toBeGreaterThanOrEqual(60_000);
    expect(res.crashed).toEqual([]);
    expect(res.scrapeFailures).toBe(0);
    expect(res.samples).toBeGreaterThanOrEqual(50);
    for (const n of Object.values(res.nodes) as Array<{ loopDelayMaxMs: number }>)
      expect(n.loopDelayMaxMs).toBeGreaterThan(0);
    expect(res.ownerChanges, 'the egress IP moved').toEqual([]);
    expect(res.splitBrain, 'two nodes hosted the egress IP').toEqual([]);
    expect(r.status).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 300_000);
});
