/**
 * `egress agent --workers N` on the command line: documented in --help, out of range or combined with what a
 * worker set cannot do (--conn-sync, --offload, --io uring, --tunnel-auth siphash) is one usage line (exit 2)
 * before anything is created; a dual-stack node is no reason to refuse (docs/agent.md "Workers").
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/egress.js', import.meta.url));
const egress = (args: readonly string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};

describe('egress agent --workers', () => {
  it('is in the usage and explained in --help, IPv6 included', () => {
    const r = egress(['agent', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('[--workers N]');
    expect(r.stdout).toMatch(/--workers N +datapath threads \(1-16, default 1\)/);
    expect(r.stdout).toMatch(/SNAT66/);
  });

  it('refuses a count out of range in one line', () => {
    for (const n of ['0', '17', 'two']) {
      const r = egress(['agent', '--node', 'n', '--workers', n]);
      expect(r.status).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^egress agent: --workers/);
    }
  });

  it('refuses the options a worker set cannot carry, one line each', () => {
    for (const [args, why] of [
      [['--conn-sync'], '--conn-sync'],
      [['--offload'], '--offload'],
      [['--io', 'uring'], '--io uring'],
      [['--tunnel-auth', 'siphash'], '--tunnel-auth siphash'],
    ] as const) {
      const r = egress(['agent', '--node', 'n', '--workers', '2', ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr.startsWith(`egress agent: --workers 2 cannot be combined with ${why}`)).toBe(true);
    }
  });
});
