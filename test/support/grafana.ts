/**
 * The Grafana dashboard in examples/grafana/ as tests read it: its PromQL expressions and the metric names they
 * query; and the metric names an exposition text declares.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const DASHBOARD = join(resolve(import.meta.dirname, '..', '..'), 'examples', 'grafana', 'egress-engine.json');

export interface Panel {
  id?: number;
  title?: string;
  type?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: { expr?: string; refId?: string; legendFormat?: string }[];
  panels?: Panel[];
}

export interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating?: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
}

export function loadDashboard(path = DASHBOARD): Dashboard {
  return JSON.parse(readFileSync(path, 'utf8')) as Dashboard;
}

/** Every panel, rows' children included. */
export function allPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      out.push(p);
      if (p.panels) walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

/** Every PromQL expression: panel targets and query variables (label_values(metric, label) included). */
export function expressions(d: Dashboard): string[] {
  const out: string[] = [];
  for (const p of allPanels(d)) for (const t of p.targets ?? []) if (t.expr) out.push(t.expr);
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : ((v.query as { query?: string } | undefined)?.query ?? '');
    const lv = /^label_values\(\s*([^,]+),/.exec(q);
    if (lv) out.push(lv[1]!.trim());
    else if (q) out.push(q);
  }
  return out;
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
]);

/** The metric names a PromQL expression reads (function names, labels, strings, ranges and keywords left out). */
export function metricNames(expr: string): string[] {
  let e = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""'); // strings (label values, Grafana variables in them)
  e = e.replace(/\{[^}]*\}/g, ' '); // label matchers
  e = e.replace(/\[[^\]]*\]/g, ' '); // ranges, subqueries
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const out: string[] = [];
  for (const m of e.matchAll(/(?<![\w:$])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] !== undefined || KEYWORDS.has(m[1]!)) continue; // a function call, or a keyword
    if (/^(Inf|NaN|e)$/i.test(m[1]!)) continue;
    out.push(m[1]!);
  }
  return out;
}

/** Every metric name the dashboard queries, sorted, once each. */
export function dashboardMetrics(d = loadDashboard()): string[] {
  return [...new Set(expressions(d).flatMap(metricNames))].sort();
}

/** The series names an exposition text declares (`# TYPE` lines; a histogram or summary's _bucket/_sum/_count). */
export function declaredNames(text: string): Set<string> {
  const out = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    out.add(name!);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name! + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) out.add(name! + s);
  }
  return out;
}
