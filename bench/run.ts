/**
 * `npm run bench -- [REGEX] [--quick] [--json FILE] [--csv FILE] [--compare FILE [--threshold PCT]]`: runs the
 * suites of bench/suites/ on tinybench: the cases whose `suite/case` id matches REGEX, and the baseline each of
 * them names (so that its ratio is of the same run). Node is started with --expose-gc (see package.json) so
 * allocation can be measured per operation.
 *
 * Figures are medians: every call of a case's `fn` is one latency sample (cases batch their operations so that a
 * call lasts microseconds, far above the timer's resolution), ops/s = ops per call / median call latency. `±%` is
 * the relative margin of error of the mean latency (95 %).
 *
 * `--compare FILE` reads an earlier `--json` file and exits 1 when a case regressed by more than the threshold
 * (default 10 %). A case with a baseline in the same run is judged by its ratio to that baseline, which the load of
 * a shared machine moves far less than absolute rates; a case without one by its ops/s. Cases missing on either side
 * are listed, not judged.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { Bench, hrtimeNow } from 'tinybench';
import { compare, csvOf, fmt } from './compare.js';
import type { BenchCase, BenchResult, Suite } from './harness.js';

const USAGE = 'usage: npm run bench -- [REGEX] [--quick] [--json FILE] [--csv FILE] [--compare FILE [--threshold PCT]]';

interface Options {
  filter: RegExp;
  quick: boolean;
  json?: string;
  csv?: string;
  compare?: string;
  /** Allowed slowdown before --compare fails, as a fraction (0.1 = 10 %). */
  threshold: number;
}

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { filter: /.*/, quick: false, threshold: 0.1 };
  let filterSet = false;
  const value = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined || v.startsWith('--')) fail(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = value(++i, a);
    else if (a === '--csv') o.csv = value(++i, a);
    else if (a === '--compare') o.compare = value(++i, a);
    else if (a === '--threshold') {
      const t = value(++i, a);
      const m = /^(\d+(?:\.\d+)?)%?$/.exec(t);
      if (!m || Number(m[1]) >= 100) fail(`--threshold wants a percentage below 100 (10 or 10%), not ${t}`);
      o.threshold = Number(m[1]) / 100;
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (a.startsWith('-')) fail(`unknown option ${a} (see --help)`);
    else if (filterSet) fail(`one REGEX only (got ${o.filter.source} and ${a})`);
    else {
      try {
        o.filter = new RegExp(a);
      } catch {
        fail(`not a regular expression: ${a}`);
      }
      filterSet = true;
    }
  }
  return o;
}

async function loadSuites(): Promise<Suite[]> {
  const dir = new URL('./suites/', import.meta.url);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort();
  const suites: Suite[] = [];
  for (const f of files) {
    const mod = (await import(new URL(f, dir).href)) as { default?: Suite };
    if (mod.default) suites.push(mod.default);
  }
  return suites;
}

let gcCount = 0;
const obs = new PerformanceObserver((list) => (gcCount += list.getEntries().length));
obs.observe({ entryTypes: ['gc'] });

const gc = (globalThis as { gc?: () => void }).gc;

/** Bytes allocated per operation: heap growth over a loop that triggers no GC (retried with fewer ops if one ran). */
async function bytesPerOp(c: BenchCase): Promise<number> {
  if (!gc) return NaN;
  for (let calls = Math.max(1, Math.ceil(200_000 / c.ops)); calls >= 1; calls = Math.floor(calls / 4)) {
    for (let i = 0; i < 3; i++) c.fn(); // warm: first calls may allocate inline caches, not per packet
    gc();
    await new Promise((r) => setTimeout(r, 20)); // let the forced GC's entry reach the observer
    const before = gcCount;
    const h0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < calls; i++) c.fn();
    const h1 = process.memoryUsage().heapUsed;
    await new Promise((r) => setTimeout(r, 20));
    if (gcCount === before) return Math.max(0, (h1 - h0) / (calls * c.ops));
    if (calls === 1) break;
  }
  return NaN; // a GC ran even for one call: far above any per-packet budget; shown as "gc"
}

interface Timing {
  /** Median latency of one call, ms. */
  p50: number;
  rme: number;
  samples: number;
}

function timeCase(c: BenchCase, quick: boolean): Timing | Error {
  const bench = new Bench({
    time: quick ? 500 : 3000,
    iterations: quick ? 5 : 10,
    warmupTime: quick ? 100 : 250,
    warmupIterations: 2,
    now: hrtimeNow,
  });
  bench.add(c.name, c.fn);
  const [task] = bench.runSync();
  const r = task!.result;
  if (r.state === 'errored') return r.error;
  if (r.state !== 'completed') return new Error(`task ${r.state}`);
  return { p50: r.latency.p50, rme: r.latency.rme, samples: r.latency.samplesCount };
}

/** Where and on what the figures were taken: a result file without it cannot be compared honestly. */
function machine(opts: Options): Record<string, unknown> {
  const git = (args: string[]): string | undefined => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    commit: git(['rev-parse', 'HEAD']) ?? null,
    dirty: git(['status', '--porcelain', '--untracked-files=no']) ? true : false,
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${release()} ${process.arch}`,
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    loadavg: loadavg().map((l) => Number(l.toFixed(2))),
    quick: opts.quick,
    filter: opts.filter.source,
    gc: gc !== undefined,
  };
}

function readBaseline(file: string): BenchResult[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`--compare ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  const results = Array.isArray(data) ? data : (data as { results?: unknown }).results;
  if (!Array.isArray(results) || !results.every((r) => typeof r?.id === 'string' && typeof r?.opsPerSec === 'number'))
    fail(`--compare ${file}: not a result file of npm run bench -- --json`);
  return results as BenchResult[];
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const baseline = opts.compare ? readBaseline(opts.compare) : undefined;
  const suites = await loadSuites();
  const results = new Map<string, BenchResult>();
  const meta = machine(opts);
  console.log(
    `node ${process.version}, ${process.arch}, ${String(meta['cores'])} × ${String(meta['cpu'])}, load ${(meta['loadavg'] as number[]).join(' ')}` +
      (gc ? '' : ' (no --expose-gc: allocation not measured)'),
  );
  console.log(
    `${'case (median)'.padEnd(44)} ${'ops/s'.padStart(10)} ${'ns/op'.padStart(9)} ${'±%'.padStart(6)} ${'B/op'.padStart(7)}  ratio`,
  );
  // A selected case's baseline runs too (first, in suite order), so that its ratio is always of the same run.
  const ids = suites.flatMap((s) => s.cases.map((c): [string, BenchCase] => [`${s.name}/${c.name}`, c]));
  const wanted = new Set(ids.filter(([id]) => opts.filter.test(id)).map(([id]) => id));
  for (const [id, c] of ids) if (wanted.has(id) && c.baseline) wanted.add(c.baseline);
  for (const s of suites) {
    for (const c of s.cases) {
      const id = `${s.name}/${c.name}`;
      if (!wanted.has(id)) continue;
      c.setup?.();
      const t = timeCase(c, opts.quick);
      if (t instanceof Error) {
        console.log(`${id.padEnd(44)} error: ${t.message}`);
        continue;
      }
      const opsPerSec = (c.ops * 1000) / t.p50;
      const alloc = c.measureAllocation === false ? NaN : await bytesPerOp(c);
      const r: BenchResult = {
        id,
        opsPerSec,
        nsPerOp: 1e9 / opsPerSec,
        rme: t.rme,
        samples: t.samples,
        bytesPerOp: alloc,
      };
      if (c.baseline) {
        const base = results.get(c.baseline);
        r.baseline = c.baseline;
        if (base) r.ratio = opsPerSec / base.opsPerSec;
      }
      if (c.facts) r.facts = c.facts();
      results.set(id, r);
      const allocText = Number.isNaN(alloc) ? (gc && c.measureAllocation !== false ? 'gc' : '-') : alloc.toFixed(1);
      const ratio = r.ratio !== undefined ? `${r.ratio.toFixed(2)}x ${c.baseline}` : '';
      const facts = r.facts
        ? ' ' +
          Object.entries(r.facts)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')
        : '';
      console.log(
        `${id.padEnd(44)} ${fmt(opsPerSec).padStart(10)} ${r.nsPerOp.toFixed(1).padStart(9)} ${r.rme.toFixed(1).padStart(6)} ${allocText.padStart(7)}  ${ratio}${facts}`,
      );
    }
  }
  obs.disconnect();
  const all = [...results.values()];
  if (results.size === 0) console.error(`bench: no case matches ${opts.filter.source}`);
  meta['loadavgAfter'] = loadavg().map((l) => Number(l.toFixed(2)));
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ meta, results: all }, null, 2) + '\n');
  if (opts.csv) writeFileSync(opts.csv, csvOf(all));
  if (baseline) {
    const cmp = compare(baseline, all, opts.threshold);
    console.log(`\ncompared with ${opts.compare} (threshold ${(opts.threshold * 100).toFixed(0)} %):`);
    for (const l of cmp.lines) console.log(`  ${l}`);
    if (cmp.regressions > 0) {
      console.error(`bench: ${cmp.regressions} case(s) slower than ${opts.compare} by more than the threshold`);
      process.exitCode = 1;
    }
  }
  if (results.size === 0) process.exitCode = 2;
}

await main();
