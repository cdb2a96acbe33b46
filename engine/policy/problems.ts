/**
 * Problems found in manifests (errors reject the whole set, warnings are reported), and the small typed decoding
 * toolkit the validators use: every check names the document, the field path and the line.
 *
 * One problem prints as `file:line: document N (Kind/name) field.path: message` — without the source part when the
 * problem is about stored state (e.g. a delete that would leave a Pod without its Node).
 */

export type Severity = 'error' | 'warning';

export interface Problem {
  readonly severity: Severity;
  /** File name as the user gave it ("-" for stdin); absent for problems about stored objects. */
  readonly file?: string;
  readonly line?: number;
  /** 1-based index of the YAML document in its file. */
  readonly doc?: number;
  readonly kind?: string;
  readonly name?: string;
  /** Field path in Kubernetes notation (`spec.ipRanges[0].cidr`, `metadata.labels[app]`). */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  const parts: string[] = [];
  if (p.file !== undefined) parts.push(`${p.file}:${p.line ?? 1}:`);
  if (p.doc !== undefined) parts.push(`document ${p.doc}`);
  if (p.kind !== undefined) parts.push(`(${p.kind}/${p.name ?? ''})`);
  const where = parts.join(' ');
  const field = p.path ? `${p.path}: ` : '';
  return `${where}${where ? ' ' : ''}${field}${p.message}`;
}

export function errorsOf(ps: readonly Problem[]): Problem[] {
  return ps.filter((p) => p.severity === 'error');
}

export function warningsOf(ps: readonly Problem[]): Problem[] {
  return ps.filter((p) => p.severity === 'warning');
}

/** Append a map key to a field path: `a.b` for identifiers, `a[b.c/d]` otherwise. */
export function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${key}]`;
}

/** The parent of a field path (`a.b[0]` → `a.b`, `a.b` → `a`, `a` → ``). */
export function parentPath(path: string): string {
  if (path.endsWith(']')) {
    const i = path.lastIndexOf('[');
    return i <= 0 ? '' : path.slice(0, i);
  }
  const i = path.lastIndexOf('.');
  return i === -1 ? '' : path.slice(0, i);
}

/** Where a document came from, and how to find the line of a field path in it. */
export interface Source {
  readonly file: string;
  readonly doc: number;
  /** Line of the field path, or of its nearest ancestor present in the document. */
  lineOf(path: string): number;
}

/** Per problem list: how many entries were counted, and how many of them are errors (see `Ctx.errorCount`). */
const errorCounts = new WeakMap<Problem[], { scanned: number; errors: number }>();

/** Collects problems for one object. */
export class Ctx {
  kind: string | undefined;
  name: string | undefined;

  constructor(
    readonly problems: Problem[],
    readonly source: Source | null,
    kind?: string,
    name?: string,
  ) {
    this.kind = kind;
    this.name = name;
  }

  private add(severity: Severity, path: string, message: string): void {
    const p: {
      severity: Severity;
      path: string;
      message: string;
      file?: string;
      line?: number;
      doc?: number;
      kind?: string;
      name?: string;
    } = { severity, path, message };
    if (this.source) {
      p.file = this.source.file;
      p.line = this.source.lineOf(path);
      p.doc = this.source.doc;
    }
    if (this.kind !== undefined) {
      p.kind = this.kind;
      p.name = this.name ?? '';
    }
    this.problems.push(p);
  }

  error(path: string, message: string): void {
    this.add('error', path, message);
  }

  warn(path: string, message: string): void {
    this.add('warning', path, message);
  }

  /**
   * Errors in the problem list so far (every Ctx of a set shares one list). Decoders read it before and after each
   * document, so it is counted incrementally: a full count each time made a set of n documents with warnings
   * quadratic (10 000 Pods with unmodelled fields: 10 000 warnings scanned 40 000 times). Lists only grow.
   */
  get errorCount(): number {
    let c = errorCounts.get(this.problems);
    if (!c) errorCounts.set(this.problems, (c = { scanned: 0, errors: 0 }));
    const ps = this.problems;
    for (; c.scanned < ps.length; c.scanned++) if (ps[c.scanned]!.severity === 'error') c.errors++;
    return c.errors;
  }

  // --- typed reads; each returns undefined (after recording an error) when the value has the wrong type ----------

  isMap(v: unknown): v is Record<string, unknown> {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  }

  map(v: unknown, path: string): Record<string, unknown> | undefined {
    if (this.isMap(v)) return v;
    this.error(path, `Invalid value: ${show(v)}: must be an object`);
    return undefined;
  }

  /** Report keys of `o` not in `allowed` as kubectl's strict decoding does. */
  known(o: Record<string, unknown>, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.error(joinPath(path, k), `unknown field "${joinPath(path, k)}"`);
    }
  }

  /** Keys of `o` not in `allowed` (for kinds where we model a subset and ignore the rest). */
  unknown(o: Record<string, unknown>, path: string, allowed: readonly string[]): string[] {
    return Object.keys(o)
      .filter((k) => !allowed.includes(k))
      .map((k) => joinPath(path, k));
  }

  str(v: unknown, path: string): string | undefined {
    if (typeof v === 'string') return v;
    this.error(path, `Invalid value: ${show(v)}: must be a string`);
    return undefined;
  }

  int(v: unknown, path: string): number | undefined {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    this.error(path, `Invalid value: ${show(v)}: must be an integer`);
    return undefined;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (typeof v === 'boolean') return v;
    this.error(path, `Invalid value: ${show(v)}: must be a boolean`);
    return undefined;
  }

  list(v: unknown, path: string): unknown[] | undefined {
    if (Array.isArray(v)) return v;
    this.error(path, `Invalid value: ${show(v)}: must be an array`);
    return undefined;
  }

  strList(v: unknown, path: string): string[] | undefined {
    const l = this.list(v, path);
    if (!l) return undefined;
    const out: string[] = [];
    let ok = true;
    l.forEach((x, i) => {
      const s = this.str(x, joinPath(path, i));
      if (s === undefined) ok = false;
      else out.push(s);
    });
    return ok ? out : undefined;
  }

  strMap(v: unknown, path: string): Record<string, string> | undefined {
    const m = this.map(v, path);
    if (!m) return undefined;
    const out: Record<string, string> = {};
    let ok = true;
    for (const [k, x] of Object.entries(m)) {
      const s = this.str(x, joinPath(path, k));
      if (s === undefined) ok = false;
      else out[k] = s;
    }
    return ok ? out : undefined;
  }

  required(o: Record<string, unknown>, key: string, path: string): boolean {
    if (o[key] === undefined || o[key] === null) {
      this.error(joinPath(path, key), 'Required value');
      return false;
    }
    return true;
  }
}

/** A value as Kubernetes shows it in "Invalid value" messages. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return '"array"';
  if (typeof v === 'object') return '"object"';
  return String(v);
}
