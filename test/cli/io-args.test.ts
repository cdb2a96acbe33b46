/**
 * `egress agent --io rw|uring` on the command line: documented in --help, a bad value or uring with --offload is
 * one usage line (exit 2) before anything is created.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/egress.js', import.meta.url));
const egress = (args: readonly string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};

describe('egress agent --io', () => {
  it('is in the usage and explained in --help', () => {
    const r = egress(['agent', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('[--io rw|uring]');
    expect(r.stdout).toMatch(/--io rw\|uring +how the TUN\/TAP ports move packets: rw \(default\)/);
  });

  it('refuses an unknown backend in one line', () => {
    const r = egress(['agent', '--node', 'n', '--io', 'epoll']);
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'egress agent: --io must be rw or uring, got "epoll" (see egress agent --help)',
    ]);
  });

  it('refuses uring with --offload (vnet ports are rw only)', () => {
    const r = egress(['agent', '--node', 'n', '--io', 'uring', '--offload']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^egress agent: --io uring cannot be combined with --offload/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
