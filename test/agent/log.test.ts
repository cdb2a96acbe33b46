/**
 * The agent's log lines (cli/agent/log.ts) are pino's shape: pino-pretty (a real one, from npm) renders them with
 * their level and message, and the fixed fields survive a line's own fields of the same name.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOG_LEVELS, logLine } from '../../cli/agent/log.js';

const PRETTY = join(import.meta.dirname, '../../node_modules/.bin/pino-pretty');

describe('agent log lines', () => {
  it("are one JSON object per line with pino's fields; a line's own fields never replace them", () => {
    const before = Date.now();
    const line = logLine('warn', 'node-a', 'store: disconnected', { endpoint: 'x', level: 'bogus', msg: 'no' });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    const o = JSON.parse(line) as Record<string, unknown>;
    expect(o).toMatchObject({ level: 40, pid: process.pid, node: 'node-a', msg: 'store: disconnected', endpoint: 'x' });
    expect(o['time']).toBeGreaterThanOrEqual(before);
    expect(typeof o['hostname']).toBe('string');
    expect(LOG_LEVELS).toEqual({ debug: 20, info: 30, warn: 40, error: 50 }); // pino's numbers
  });

  it('pino-pretty renders them: level names, messages and fields', () => {
    const input =
      logLine('info', 'node-a', 'SIGTERM: shutting down') + logLine('error', 'node-b', 'tun: gone', { dev: 'egr0' });
    const r = spawnSync(PRETTY, ['--colorize', 'false'], { input, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^\[[^\]]+\] INFO \(\d+\): SIGTERM: shutting down$/);
    const err = r.stdout.slice(r.stdout.indexOf('ERROR'));
    expect(err).toMatch(/^ERROR \(\d+\): tun: gone\n/);
    expect(err).toContain('    dev: "egr0"\n');
    expect(err).toContain('    node: "node-b"');
  });
});
