/**
 * The benchmark runner as a user drives it: one quick case, its JSON (with the machine and commit), CSV,
 * `--compare` against a saved baseline with its exit status, and bad flags as one line. Figures are never
 * asserted (a benchmark on a shared machine is not a test); only that they exist and are consistent.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compare, csvOf } from '../../bench/compare.js';
import type { BenchResult } from '../../bench/harness.js';

const ROOT = join(import.meta.dirname, '../..');
const RUN = join(ROOT, 'dist/bench/run.js');
const tmp = mkdtempSync(join(tmpdir(), 'egr-bench-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const bench = (args: string[]) =>
  spawnSync(process.execPath, ['--expose-gc', RUN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });

const result = (id: string, opsPerSec: number, ratio?: number): BenchResult => ({
  id,
  opsPerSec,
  nsPerOp: 1e9 / opsPerSec,
  rme: 1,
  samples: 100,
  bytesPerOp: 0,
  ...(ratio === undefined ? {} : { baseline: 'b/base', ratio }),
});

describe('compare', () => {
  it('judges a case with an in-run baseline by its ratio, others by ops/s; missing and new cases are listed', () => {
    const before = [result('b/base', 1000), result('b/x', 500, 0.5), result('b/gone', 10)];
    // the machine got 2x slower overall: b/base is slower, b/x is too in ops/s but its ratio held
    const now = [result('b/base', 500), result('b/x', 250, 0.5), result('b/new', 1)];
    const c = compare(before, now, 0.1);
    expect(c.regressions).toBe(1);
    expect(c.lines).toEqual([
      'SLOWER   b/base: -50.0 % (1.0 k → 500.0 ops/s)',
      'same     b/x: 0.0 % (ratio 0.50 → 0.50 x b/base)',
      'new      b/new',
      'missing  b/gone (in the baseline, not in this run)',
    ]);
  });

  it('a slowdown within the threshold is the same; beyond it in the other direction is faster', () => {
    const c = compare([result('a', 1000), result('b', 1000)], [result('a', 920), result('b', 1200)], 0.1);
    expect(c.regressions).toBe(0);
    expect(c.lines.map((l) => l.split(' ')[0])).toEqual(['same', 'faster']);
  });

  it('CSV: a header and one row per case, empty cells for what a case lacks', () => {
    expect(csvOf([result('a', 2000), { ...result('b,"c"', 1000, 0.5), bytesPerOp: NaN }]).split('\n')).toEqual([
      'case,ops_per_sec,ns_per_op,rme_pct,samples,bytes_per_op,baseline,ratio',
      'a,2000,500000,1,100,0,,',
      '"b,""c""",1000,1000000,1,100,,b/base,0.5',
      '',
    ]);
  });
});

describe('npm run bench', () => {
  const json = join(tmp, 'run.json');
  const csv = join(tmp, 'run.csv');

  it('runs the matching cases and their baselines; --json holds the machine, the commit and the results; --csv the same rows', () => {
    const r = bench(['^checksum/sum/(64|1500)$', '--quick', '--json', json, '--csv', csv]);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('checksum/'));
    // checksum/sum/1500's baseline (checksum/sum-bytes/1500) runs too, so its ratio is of this run
    const ids = ['checksum/sum/64', 'checksum/sum-bytes/1500', 'checksum/sum/1500'];
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(ids);
    const out = JSON.parse(readFileSync(json, 'utf8')) as {
      meta: Record<string, unknown>;
      results: BenchResult[];
    };
    expect(out.meta['commit']).toMatch(/^[0-9a-f]{40}$/);
    expect(out.meta['node']).toBe(process.version);
    expect(out.meta['cores']).toBeGreaterThan(0);
    expect(out.meta['loadavg']).toHaveLength(3);
    expect(out.results.map((x) => x.id)).toEqual(ids);
    expect(out.results[2]!.ratio).toBeCloseTo(out.results[2]!.opsPerSec / out.results[1]!.opsPerSec, 9);
    for (const x of out.results) {
      expect(x.opsPerSec).toBeGreaterThan(0);
      expect(x.nsPerOp * x.opsPerSec).toBeCloseTo(1e9, 0);
      expect(x.samples).toBeGreaterThanOrEqual(5);
      expect(x.bytesPerOp).toBeLessThan(1); // the checksum allocates nothing per operation
    }
    expect(readFileSync(csv, 'utf8').trimEnd().split('\n')).toHaveLength(4);
  });

  it('--compare: exit 1 naming the case when a saved baseline was much faster, exit 0 when it was slower', () => {
    const saved = JSON.parse(readFileSync(json, 'utf8')) as { results: BenchResult[] };
    const scaled = (k: number) => {
      const f = join(tmp, `base-${k}.json`);
      const results = saved.results
        .filter((x) => x.id === 'checksum/sum/64')
        .map((x) => ({ ...x, opsPerSec: x.opsPerSec * k }));
      writeFileSync(f, JSON.stringify({ meta: {}, results }));
      return f;
    };
    const slower = bench(['^checksum/sum/64$', '--quick', '--compare', scaled(100)]);
    expect(slower.status).toBe(1);
    expect(slower.stdout).toMatch(/^ {2}SLOWER {3}checksum\/sum\/64: -9\d\.\d %/m);
    expect(slower.stderr.trim()).toBe(
      `bench: 1 case(s) slower than ${join(tmp, 'base-100.json')} by more than the threshold`,
    );
    const faster = bench(['^checksum/sum/64$', '--quick', '--compare', scaled(0.01), '--threshold', '20%']);
    expect(faster.status, faster.stderr).toBe(0);
    expect(faster.stdout).toMatch(/^ {2}faster {3}checksum\/sum\/64: /m);
    expect(faster.stdout).toContain('(threshold 20 %)');
  });

  it('bad flags, a bad baseline file and a filter that matches nothing: one line, exit 2', () => {
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, '{"results": [{"id": 1}]}');
    const cases: [string[], string][] = [
      [['--threshold', 'abc'], 'bench: --threshold wants a percentage below 100 (10 or 10%), not abc'],
      [['--json'], 'bench: --json needs a value'],
      [['['], 'bench: not a regular expression: ['],
      [['--compare', bad], `bench: --compare ${bad}: not a result file of npm run bench -- --json`],
      [['^no-such-suite/'], 'bench: no case matches ^no-such-suite\\/'],
    ];
    for (const [args, line] of cases) {
      const r = bench(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim(), args.join(' ')).toBe(line);
    }
    expect(bench(['--compare', join(tmp, 'absent.json')]).stderr).toMatch(
      /^bench: --compare .*absent\.json: ENOENT: no such file or directory/,
    );
  });
});
