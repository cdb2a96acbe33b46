/**
 * The pure parts of bench/run.ts, apart so that tests can judge them without running a benchmark: number
 * formatting, the CSV file, and `--compare` (a case with an in-run baseline is judged by its ratio to it, which a
 * shared machine's load moves far less than absolute rates; a case without one by its ops/s).
 */
import type { BenchResult } from './harness.js';

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(1);
}

export function csvOf(results: BenchResult[]): string {
  const cell = (v: unknown) => {
    const s = v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = [['case', 'ops_per_sec', 'ns_per_op', 'rme_pct', 'samples', 'bytes_per_op', 'baseline', 'ratio']];
  for (const r of results)
    rows.push([r.id, r.opsPerSec, r.nsPerOp, r.rme, r.samples, r.bytesPerOp, r.baseline, r.ratio].map(cell));
  return rows.map((r) => r.join(',')).join('\n') + '\n';
}

export interface Comparison {
  lines: string[];
  regressions: number;
}

/** Judges `now` against an earlier run: `regressions` counts the cases slower by more than `threshold`. */
export function compare(before: BenchResult[], now: BenchResult[], threshold: number): Comparison {
  const old = new Map(before.map((r) => [r.id, r]));
  const lines: string[] = [];
  let regressions = 0;
  for (const r of now) {
    const o = old.get(r.id);
    if (!o) {
      lines.push(`new      ${r.id}`);
      continue;
    }
    old.delete(r.id);
    const byRatio = r.ratio !== undefined && o.ratio !== undefined;
    const change = byRatio ? r.ratio! / o.ratio! - 1 : r.opsPerSec / o.opsPerSec - 1;
    const what = byRatio
      ? `ratio ${o.ratio!.toFixed(2)} → ${r.ratio!.toFixed(2)} x ${r.baseline}`
      : `${fmt(o.opsPerSec)} → ${fmt(r.opsPerSec)} ops/s`;
    const worse = change < -threshold;
    if (worse) regressions++;
    const tag = worse ? 'SLOWER' : change > threshold ? 'faster' : 'same';
    lines.push(`${tag.padEnd(8)} ${r.id}: ${(change * 100).toFixed(1)} % (${what})`);
  }
  for (const id of old.keys()) lines.push(`missing  ${id} (in the baseline, not in this run)`);
  return { lines, regressions };
}
