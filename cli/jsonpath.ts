/**
 * kubectl's JSONPath templates (`-o jsonpath=…`, `-o custom-columns=…`, `--sort-by`), as
 * k8s.io/client-go/util/jsonpath implements them for `kubectl get` (missing keys print nothing):
 *
 * - text outside `{…}` is printed as is; `{"\t"}` and `{"\n"}` are literals;
 * - `{.a.b}`, `{$.a}`, `{['a']}`, `{..name}` (recursive descent), `{.items[*]}`, `{.a.*}`, `{.items[0]}`,
 *   `{.items[-1:]}`, `{.items[0:2]}` (slices, with a step too), `{.items[*]['metadata.name', 'status.x']}` (union),
 *   `{.users[?(@.name=="e2e")].user}` (filters: ==, !=, <, <=, >, >=, or a path that exists);
 * - `{range .items[*]}…{end}` repeats the template inside for each result, relative to it;
 * - the results of one `{…}` are joined by a space; strings print raw, anything else as compact JSON.
 *
 * A template without any `{` is taken as one expression (`-o jsonpath=.items[*].metadata.name`), as kubectl's
 * relaxed form for custom-columns and --sort-by. A malformed template is a UsageError (one line).
 */
import { UsageError } from './errors.js';

type Step =
  | { t: 'key'; name: string }
  | { t: 'all' }
  | { t: 'recurse'; name: string | null }
  | { t: 'index'; i: number }
  | { t: 'slice'; start: number | null; end: number | null; step: number }
  | { t: 'union'; paths: Step[][] }
  | { t: 'filter'; left: Step[]; op: string | null; right: unknown };

type Node = { t: 'text'; text: string } | { t: 'expr'; path: Step[] } | { t: 'range'; path: Step[]; body: Node[] };

const bad = (template: string, why: string) => new UsageError(`jsonpath ${JSON.stringify(template)}: ${why}`);

/** Parse a path (`.a[0].b`, `$..x`, `['a', 'b']`) into steps. */
function parsePath(src: string, template: string): Step[] {
  const steps: Step[] = [];
  let i = 0;
  if (src[i] === '$') i++;
  if (src[i] === '@') i++;
  const name = (): string => {
    let s = '';
    while (i < src.length && !'.[]'.includes(src[i]!)) {
      if (src[i] === '\\' && i + 1 < src.length) i++;
      s += src[i++];
    }
    return s;
  };
  if (i < src.length && !'.['.includes(src[i]!)) steps.push({ t: 'key', name: name() });
  while (i < src.length) {
    const c = src[i]!;
    if (c === '.') {
      if (src[i + 1] === '.') {
        i += 2;
        const n = src[i] === '*' ? (i++, null) : name();
        steps.push({ t: 'recurse', name: n });
      } else {
        i++;
        if (src[i] === '*') {
          i++;
          steps.push({ t: 'all' });
        } else {
          const n = name();
          if (n !== '') steps.push({ t: 'key', name: n });
        }
      }
    } else if (c === '[') {
      const close = matching(src, i, template);
      steps.push(bracket(src.slice(i + 1, close).trim(), template));
      i = close + 1;
    } else throw bad(template, `unexpected "${c}" in "${src}"`);
  }
  return steps;
}

/** Index of the `]` closing the `[` at `open` (quotes and nested brackets skipped). */
function matching(src: string, open: number, template: string): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = open; i < src.length; i++) {
    const c = src[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '(') depth++;
    else if (c === ']' || c === ')') {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw bad(template, 'unclosed [');
}

function unquote(s: string): string | null {
  const m = /^(['"])(.*)\1$/s.exec(s.trim());
  return m ? m[2]!.replace(/\\(.)/g, (_x, ch: string) => ({ n: '\n', t: '\t', r: '\r' })[ch] ?? ch) : null;
}

function splitTop(s: string, sep: string): string[] {
  const parts: string[] = [];
  let quote: string | null = null;
  let depth = 0;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === '\\') cur += s[i++] ?? '';
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '(') depth++;
    else if (c === ']' || c === ')') depth--;
    else if (c === sep && depth === 0) {
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  parts.push(cur);
  return parts;
}

function bracket(inner: string, template: string): Step {
  if (inner === '*') return { t: 'all' };
  if (inner.startsWith('?(') && inner.endsWith(')')) {
    const body = inner.slice(2, -1).trim();
    const m = /^(@[^=!<>\s]*)\s*(==|!=|<=|>=|<|>)\s*(.+)$/s.exec(body);
    if (!m) {
      if (/[=!<>]/.test(body)) throw bad(template, `cannot read the filter (${body})`);
      return { t: 'filter', left: parsePath(body, template), op: null, right: null };
    }
    const lit = m[3]!.trim();
    const s = unquote(lit);
    const right =
      s !== null
        ? s
        : Number.isFinite(Number(lit))
          ? Number(lit)
          : lit === 'true'
            ? true
            : lit === 'false'
              ? false
              : null;
    if (s === null && right === null) throw bad(template, `cannot compare with ${lit}`);
    return { t: 'filter', left: parsePath(m[1]!, template), op: m[2]!, right };
  }
  const parts = splitTop(inner, ',').map((p) => p.trim());
  if (parts.length > 1)
    return {
      t: 'union',
      paths: parts.map((p) => {
        const q = unquote(p);
        return q !== null ? parsePath(q.startsWith('.') ? q : `.${q}`, template) : [bracket(p, template)];
      }),
    };
  const q = unquote(inner);
  if (q !== null) return { t: 'key', name: q };
  if (/^-?\d+$/.test(inner)) return { t: 'index', i: Number(inner) };
  const sl = /^(-?\d+)?:(-?\d+)?(?::(-?\d+))?$/.exec(inner);
  if (sl)
    return {
      t: 'slice',
      start: sl[1] !== undefined ? Number(sl[1]) : null,
      end: sl[2] !== undefined ? Number(sl[2]) : null,
      step: sl[3] !== undefined ? Number(sl[3]) : 1,
    };
  throw bad(template, `cannot read [${inner}]`);
}

/** Parse a template into text, expressions and ranges. */
export function parseTemplate(template: string): Node[] {
  const src = template.includes('{') ? template : `{${template}}`;
  const root: Node[] = [];
  const stack: { body: Node[] }[] = [{ body: root }];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{', i);
    if (open < 0) {
      stack.at(-1)!.body.push({ t: 'text', text: src.slice(i) });
      break;
    }
    if (open > i) stack.at(-1)!.body.push({ t: 'text', text: src.slice(i, open) });
    let close = open + 1;
    let quote: string | null = null;
    for (; close < src.length; close++) {
      const c = src[close]!;
      if (quote) {
        if (c === '\\') close++;
        else if (c === quote) quote = null;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '}') break;
    }
    if (close >= src.length) throw bad(template, 'unclosed {');
    const action = src.slice(open + 1, close).trim();
    i = close + 1;
    const body = stack.at(-1)!.body;
    if (action === 'end') {
      if (stack.length === 1) throw bad(template, '{end} without {range}');
      stack.pop();
    } else if (action.startsWith('range ')) {
      const node: Node = { t: 'range', path: parsePath(action.slice(6).trim(), template), body: [] };
      body.push(node);
      stack.push(node);
    } else if (unquote(action) !== null) body.push({ t: 'text', text: unquote(action)! });
    else if (action === '' || action === '$' || action === '@') body.push({ t: 'expr', path: [] });
    else body.push({ t: 'expr', path: parsePath(action, template) });
  }
  if (stack.length > 1) throw bad(template, '{range} without {end}');
  return root;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function children(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (isObj(v)) return Object.values(v);
  return [];
}

function descend(v: unknown, out: unknown[]): void {
  out.push(v);
  for (const c of children(v)) descend(c, out);
}

function compare(a: unknown, op: string, b: unknown): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    default: {
      if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return false;
      const x = a as number | string;
      const y = b as number | string;
      return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
    }
  }
}

function evalSteps(values: unknown[], steps: readonly Step[]): unknown[] {
  let cur = values;
  for (const s of steps) {
    const next: unknown[] = [];
    for (const v of cur) {
      switch (s.t) {
        case 'key':
          if (isObj(v) && Object.hasOwn(v, s.name)) next.push(v[s.name]);
          break;
        case 'all':
          next.push(...children(v));
          break;
        case 'recurse': {
          const all: unknown[] = [];
          descend(v, all);
          if (s.name === null) next.push(...all.slice(1));
          else for (const x of all) if (isObj(x) && Object.hasOwn(x, s.name)) next.push(x[s.name]);
          break;
        }
        case 'index':
          if (Array.isArray(v)) {
            const i = s.i < 0 ? v.length + s.i : s.i;
            if (i >= 0 && i < v.length) next.push(v[i]);
          }
          break;
        case 'slice':
          if (Array.isArray(v)) {
            const n = v.length;
            const norm = (x: number | null, d: number) =>
              x === null ? d : x < 0 ? Math.max(0, n + x) : Math.min(n, x);
            const a = norm(s.start, 0);
            const b = norm(s.end, n);
            for (let i = a; i < b; i += Math.max(1, s.step)) next.push(v[i]);
          }
          break;
        case 'union':
          break;
        case 'filter':
          for (const x of children(v)) {
            const got = evalSteps([x], s.left);
            if (s.op === null ? got.length > 0 : got.length > 0 && compare(got[0], s.op, s.right)) next.push(x);
          }
          break;
      }
    }
    if (s.t === 'union') for (const p of s.paths) next.push(...evalSteps(cur, p));
    cur = next;
  }
  return cur;
}

/** The values a path (`.metadata.name`, `{.spec.x}`) selects from `v`. */
export function select(v: unknown, path: string): unknown[] {
  const nodes = parseTemplate(path);
  const expr = nodes.find((n) => n.t === 'expr');
  if (nodes.length !== 1 || !expr || expr.t !== 'expr') throw bad(path, 'expected one path, like .metadata.name');
  return evalSteps([v], expr.path);
}

/** A value as kubectl prints it in a template: strings raw, anything else compact JSON. */
export function formatValue(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? '');
}

function render(nodes: readonly Node[], v: unknown, out: string[]): void {
  for (const n of nodes) {
    if (n.t === 'text') out.push(n.text);
    else if (n.t === 'expr') out.push(evalSteps([v], n.path).map(formatValue).join(' '));
    else for (const x of evalSteps([v], n.path)) render(n.body, x, out);
  }
}

/** Execute a template against `v`. */
export function executeTemplate(template: string, v: unknown): string {
  const out: string[] = [];
  render(parseTemplate(template), v, out);
  return out.join('');
}
