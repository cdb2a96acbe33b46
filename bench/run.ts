/**
 * `npm run bench -- [regex] [--quick] [--json FILE]`: runs the benchmark.js suites of bench/suites/ (the cases
 * whose `suite/case` id matches, and the baseline each of them names, so its ratio is of the same run).
 * Node is started with --expose-gc (see package.json) so allocation can be measured per operation.
 */
import Benchmark from 'benchmark';
import { readdirSync, writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import type { BenchCase, BenchResult, Suite } from './harness.js';

interface Options {
  filter: RegExp;
  quick: boolean;
  json?: string;
}

function parseArgs(argv: string[]): Options {
  let filter = /.*/;
  let quick = false;
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--json') json = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench -- [regex] [--quick] [--json FILE]');
      process.exit(0);
    } else if (a.startsWith('-')) {
      console.error(`bench: unknown option ${a}`);
      process.exit(2);
    } else filter = new RegExp(a);
  }
  return json === undefined ? { filter, quick } : { filter, quick, json };
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

function runCase(c: BenchCase, quick: boolean): Promise<Benchmark> {
  return new Promise((resolve) => {
    const b = new Benchmark(c.name, c.fn, {
      minSamples: quick ? 5 : 20,
      maxTime: quick ? 0.5 : 3,
      initCount: 1,
      onComplete: () => resolve(b),
      onError: () => resolve(b),
    });
    b.run({ async: false });
  });
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(1);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const suites = await loadSuites();
  const results = new Map<string, BenchResult>();
  console.log(`node ${process.version}, ${process.arch}${gc ? '' : ' (no --expose-gc: allocation not measured)'}`);
  console.log(
    `${'case'.padEnd(44)} ${'ops/s'.padStart(10)} ${'ns/op'.padStart(9)} ${'±%'.padStart(6)} ${'B/op'.padStart(7)}  ratio`,
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
      const b = await runCase(c, opts.quick);
      if (b.error) {
        console.log(`${id.padEnd(44)} error: ${String(b.error)}`);
        continue;
      }
      const opsPerSec = b.hz * c.ops;
      const alloc = c.measureAllocation === false ? NaN : await bytesPerOp(c);
      const r: BenchResult = {
        id,
        opsPerSec,
        nsPerOp: 1e9 / opsPerSec,
        rme: b.stats.rme,
        samples: b.stats.sample.length,
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
  if (opts.json) writeFileSync(opts.json, JSON.stringify([...results.values()], null, 2));
}

await main();
