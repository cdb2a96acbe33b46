/**
 * `egress agent --tunnel-auth` on the command line (docs/tunnel-auth.md): documented in --help, a bad value or the
 * combination with --offload is one usage line (exit 2) before anything is created.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/egress.js', import.meta.url));
const egress = (args: readonly string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};

describe('egress agent --tunnel-auth', () => {
  it('is in the usage and explained in --help', () => {
    const r = egress(['agent', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('[--tunnel-auth off|siphash]');
    expect(r.stdout).toMatch(/--tunnel-auth MODE +per-packet Geneve authentication/);
    expect(r.stdout).toContain('uplink MTU − 74');
  });

  it('refuses an unknown mode in one line', () => {
    const r = egress(['agent', '--node', 'n', '--tunnel-auth', 'hmac']);
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'egress agent: --tunnel-auth must be off or siphash, got "hmac" (see egress agent --help)',
    ]);
  });

  it('refuses siphash with --offload (segments would share one tag)', () => {
    const r = egress(['agent', '--node', 'n', '--tunnel-auth', 'siphash', '--offload']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^egress agent: --tunnel-auth cannot be combined with --offload/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
