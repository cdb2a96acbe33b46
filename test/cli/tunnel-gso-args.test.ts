/**
 * `egress agent --tunnel-gso` on the command line (tun/offload.ts): documented in --help, a bad value or use
 * without --offload is one usage line (exit 2) before anything is created.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/egress.js', import.meta.url));
const egress = (args: readonly string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};

describe('egress agent --tunnel-gso', () => {
  it('is in the usage and explained in --help', () => {
    const r = egress(['agent', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('[--offload [--tunnel-gso auto|off]]');
    expect(r.stdout).toMatch(/--tunnel-gso MODE +with --offload: auto \(default\)/);
    expect(r.stdout).toContain('tunnel-gso-fallback');
  });

  it('refuses an unknown mode in one line', () => {
    const r = egress(['agent', '--node', 'n', '--offload', '--tunnel-gso', 'on']);
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'egress agent: --tunnel-gso must be auto or off, got "on" (see egress agent --help)',
    ]);
  });

  it('refuses it without --offload', () => {
    const r = egress(['agent', '--node', 'n', '--tunnel-gso', 'off']);
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'egress agent: --tunnel-gso needs --offload (see egress agent --help)',
    ]);
  });
});
