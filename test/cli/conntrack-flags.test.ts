/**
 * The connection-tracking flags of `egress agent` and `egress replay` (docs/conntrack-security.md): bad values are
 * one line and exit 2 before anything is created; --help documents every flag; replay's --conntrack-tcp-strict
 * makes the reference scenario's scapy-built TCP (acknowledging sequence numbers the reflecting host never sent)
 * a counted drop, where the default passes it liberally.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'egr-ctflags-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err.push(String(s));
    return true;
  });
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('') };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

describe('conntrack flags', () => {
  it('agent: out-of-range values are refused in one line with exit 2', async () => {
    const a = await run('agent', '--node', 'x', '--conntrack-max', '0');
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--conntrack-max must be a whole number from 1 to 67108864, got "0"/);
    const b = await run('agent', '--node', 'x', '--conntrack-max', '1000', '--conntrack-max-per-pod', '1001');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--conntrack-max-per-pod \(1001\) must not exceed --conntrack-max \(1000\)/);
  });

  it('agent and replay --help document the flags', async () => {
    const a = await run('agent', '--help');
    for (const f of ['--conntrack-max N', '--conntrack-max-per-pod N', '--conntrack-tcp-liberal'])
      expect(a.out + a.err).toContain(f);
    const r = await run('replay', '--help');
    expect(r.out + r.err).toContain('--conntrack-tcp-strict');
  });

  it('replay --conntrack-tcp-strict drops what the default passes liberally', async () => {
    const args = [
      'replay',
      '--manifests',
      join(ROOT, 'examples/reference/cluster.yaml'),
      '--in',
      join(ROOT, 'captures/replay/reference/in.pcap'),
      '--reflect',
      '--quiet',
    ];
    const ok = await run(...args, '--out', join(tmp, 'liberal'));
    expect(ok.code).toBe(0);
    const strict = await run(...args, '--out', join(tmp, 'strict'), '--conntrack-tcp-strict');
    expect(strict.code).toBe(0);
    const drops = (d: string) =>
      (JSON.parse(readFileSync(join(tmp, d, 'summary.json'), 'utf8')) as { drops: { datapath: { total: number } } })
        .drops.datapath;
    expect(drops('liberal').total).toBe(0);
    expect(drops('strict').total).toBeGreaterThan(0);
    expect(JSON.stringify(drops('strict'))).toMatch(/unsnat\.ct-invalid/);
  });
});
