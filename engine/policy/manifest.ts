/**
 * Multi-document YAML (or JSON) manifests → plain values with source positions.
 *
 * Each document becomes a `ManifestDoc`: its plain value (maps, arrays, scalars; aliases resolved) plus a map from
 * every field path (`spec.ipRanges[0].cidr`) to its 1-based line, so any later check can name the line. A `kind:
 * List` document is expanded into its items (as kubectl does). Empty documents are skipped but keep their number, so
 * "document N" always counts the `---`-separated documents of the file. YAML syntax errors become problems.
 *
 * Limits (an alias bomb — nine lines of nested aliases expanding to 10^9 nodes — must cost nothing): a manifest file
 * is at most MAX_MANIFEST_BYTES (8 MiB; `EGRESS_MAX_MANIFEST_BYTES` overrides it); aliases are refused beyond the
 * yaml package's `maxAliasCount` heuristic (100, its own default, set explicitly), and resolving aliases may add
 * at most as many nodes as the text has characters (plus 10 000) — so the work is linear in the input.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { joinPath, parentPath } from './problems.js';
import type { Problem, Source } from './problems.js';

export interface ManifestDoc extends Source {
  readonly file: string;
  /** 1-based document number in the file. */
  readonly doc: number;
  /** Line where the document's content starts. */
  readonly line: number;
  /** The plain value of the document (or of one item of a List). */
  readonly value: unknown;
  /** Field path prefix of this value inside the document (`items[2]` for List items, else ``). */
  readonly prefix: string;
}

class Doc implements ManifestDoc {
  constructor(
    readonly file: string,
    readonly doc: number,
    readonly line: number,
    readonly value: unknown,
    readonly prefix: string,
    private readonly lines: ReadonlyMap<string, number>,
  ) {}

  lineOf(path: string): number {
    let p = this.prefix ? (path ? joinPrefixed(this.prefix, path) : this.prefix) : path;
    for (;;) {
      const l = this.lines.get(p);
      if (l !== undefined) return l;
      if (p === '') return this.line;
      p = parentPath(p);
    }
  }
}

function joinPrefixed(prefix: string, path: string): string {
  return path.startsWith('[') ? prefix + path : `${prefix}.${path}`;
}

const MAX_DEPTH = 64;

/** Default size limit of one manifest file (or stdin, or an inline timeline manifest), in bytes. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
/** The environment variable that overrides it. */
export const MAX_MANIFEST_BYTES_ENV = 'EGRESS_MAX_MANIFEST_BYTES';
/** The yaml package's alias heuristic (`maxAliasCount`; its default, set explicitly). */
export const MAX_ALIAS_COUNT = 100;
/** Nodes that resolving aliases may add beyond one per character of the text. */
const ALIAS_NODES_BASE = 10_000;

/** The manifest size limit: `EGRESS_MAX_MANIFEST_BYTES` when it is a positive whole number, else the default. */
export function manifestSizeLimit(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[MAX_MANIFEST_BYTES_ENV];
  return v && /^\d+$/.test(v) && Number(v) > 0 ? Number(v) : MAX_MANIFEST_BYTES;
}

const mib = (n: number) => (n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`);

function tooBig(file: string, size: number | null, limit: number): string {
  const what = size === null ? 'more than' : `${size} bytes, more than`;
  return `${file} is ${what} the ${mib(limit)} limit for a manifest (${MAX_MANIFEST_BYTES_ENV} raises it)`;
}

/**
 * The text of a manifest file (`-`: standard input), at most `limit` bytes: a larger file is refused before it is
 * read. Never throws: `{ error }` is one line naming the file.
 */
export function readManifestFile(file: string, limit = manifestSizeLimit()): { text: string } | { error: string } {
  let fd: number;
  try {
    fd = file === '-' ? 0 : openSync(file, constants.O_RDONLY);
  } catch (e) {
    return { error: `cannot read "${file}": ${(e as Error).message}` };
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.size > limit) return { error: tooBig(file, st.size, limit) };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, limit + 1 - total));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); // a non-blocking stdin: wait for data
        continue;
      }
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > limit) return { error: tooBig(file, null, limit) };
    }
    return { text: Buffer.concat(chunks).toString('utf8') };
  } catch (e) {
    return { error: `cannot read "${file}": ${(e as Error).message}` };
  } finally {
    if (fd !== 0) closeSync(fd);
  }
}

/** Raised inside toPlain when aliases expand beyond the budget. */
class AliasBudgetExceeded extends Error {}

interface Budget {
  /** Nodes that alias resolution may still produce. */
  aliasNodes: number;
}

/** Convert a YAML node to a plain value, recording the line of every path. */
function toPlain(
  node: unknown,
  doc: Document,
  lc: LineCounter,
  path: string,
  lines: Map<string, number>,
  depth: number,
  budget: Budget,
  inAlias = false,
): unknown {
  if (depth > MAX_DEPTH) return null;
  if (isAlias(node)) return toPlain(node.resolve(doc), doc, lc, path, lines, depth + 1, budget, true);
  if (inAlias && --budget.aliasNodes < 0) throw new AliasBudgetExceeded();
  const range = (node as YamlNode | null | undefined)?.range;
  if (range && !lines.has(path)) lines.set(path, lc.linePos(range[0]).line);
  if (isScalar(node)) {
    const v = node.value;
    return typeof v === 'bigint' ? Number(v) : v;
  }
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    for (const item of node.items) {
      if (!isPair(item)) continue;
      const k = isScalar(item.key) ? item.key.value : isAlias(item.key) ? item.key.source : item.key;
      const key = String(k);
      const p = joinPath(path, key);
      const keyRange = (item.key as YamlNode | null)?.range;
      if (keyRange) lines.set(p, lc.linePos(keyRange[0]).line);
      const value = toPlain(item.value, doc, lc, p, lines, depth + 1, budget, inAlias);
      // A "__proto__" key is data, not the object's prototype.
      if (key === '__proto__')
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      else out[key] = value;
    }
    return out;
  }
  if (isSeq(node)) {
    return node.items.map((it, i) => toPlain(it, doc, lc, joinPath(path, i), lines, depth + 1, budget, inAlias));
  }
  return node === undefined ? null : node;
}

export interface ParsedManifests {
  readonly docs: ManifestDoc[];
  readonly problems: Problem[];
}

/**
 * Why a parsed document's aliases are refused (the yaml package's `maxAliasCount` heuristic), or null. Only
 * documents whose text has a `*` can hold an alias, so others skip the check.
 */
function aliasProblem(d: Document.Parsed, text: string): string | null {
  if (!text.includes('*')) return null;
  try {
    d.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    return null;
  } catch (e) {
    return e instanceof ReferenceError ? (e as Error).message : null;
  }
}

function aliasRefusal(detail: string): string {
  return `YAML: refused: aliases expand too much (${detail}); an alias bomb? Write the values out instead of aliasing them`;
}

/** Parse the text of one file. Never throws. */
export function parseManifests(text: string, file: string, limit = manifestSizeLimit()): ParsedManifests {
  const problems: Problem[] = [];
  const docs: ManifestDoc[] = [];
  if (text.length > limit) {
    const size = Buffer.byteLength(text);
    if (size > limit) {
      problems.push({ severity: 'error', file, line: 1, path: '', message: tooBig(file, size, limit) });
      return { docs, problems };
    }
  }
  const lc = new LineCounter();
  const budget: Budget = { aliasNodes: ALIAS_NODES_BASE + text.length };
  let parsed: Document.Parsed[];
  try {
    const r = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
    parsed = Array.isArray(r) ? r : [];
  } catch (e) {
    problems.push({
      severity: 'error',
      file,
      line: 1,
      path: '',
      message: `cannot parse YAML: ${(e as Error).message}`,
    });
    return { docs, problems };
  }
  for (const [i, d] of parsed.entries()) {
    const n = i + 1;
    if (d.errors.length > 0) {
      for (const err of d.errors) {
        const line = lc.linePos(err.pos[0]).line;
        problems.push({ severity: 'error', file, line, doc: n, path: '', message: `YAML: ${firstLine(err.message)}` });
      }
      continue;
    }
    const contents = d.contents;
    if (contents === null || (isScalar(contents) && (contents.value === null || contents.value === ''))) continue;
    const docLine = contents.range ? lc.linePos(contents.range[0]).line : 1;
    const refused = aliasProblem(d, text);
    if (refused) {
      problems.push({ severity: 'error', file, line: docLine, doc: n, path: '', message: aliasRefusal(refused) });
      return { docs: [], problems };
    }
    const lines = new Map<string, number>();
    let value: unknown;
    try {
      value = toPlain(contents, d, lc, '', lines, 0, budget);
    } catch (e) {
      if (!(e instanceof AliasBudgetExceeded)) throw e;
      const detail = `more than ${ALIAS_NODES_BASE + text.length} nodes added by aliases`;
      problems.push({ severity: 'error', file, line: docLine, doc: n, path: '', message: aliasRefusal(detail) });
      return { docs: [], problems };
    }
    const line = lines.get('') ?? 1;
    if (isListDoc(value)) {
      (value['items'] as unknown[]).forEach((item, j) => {
        docs.push(new Doc(file, n, lines.get(`items[${j}]`) ?? line, item, `items[${j}]`, lines));
      });
      continue;
    }
    docs.push(new Doc(file, n, line, value, '', lines));
  }
  return { docs, problems };
}

function isListDoc(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    (v as Record<string, unknown>)['kind'] === 'List' &&
    Array.isArray((v as Record<string, unknown>)['items'])
  );
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

/** A document made from a value (for objects built in code or read from JSON): lines are unknown. */
export function docFromValue(value: unknown, file = '<memory>', doc = 1): ManifestDoc {
  return new Doc(file, doc, 1, value, '', new Map());
}

/** Parse one embedded YAML text (a ConfigMap's antrea-agent.conf) whose first line is `firstLine` of the file. */
export function parseEmbedded(
  text: string,
  firstLineNo: number,
): { value: unknown; lineOf: (path: string) => number; errors: { line: number; message: string }[] } {
  const lc = new LineCounter();
  const errors: { line: number; message: string }[] = [];
  const lines = new Map<string, number>();
  let value: unknown = null;
  try {
    const r = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
    const ds = Array.isArray(r) ? r : [];
    const d = ds[0];
    if (d) {
      for (const err of d.errors)
        errors.push({ line: firstLineNo + lc.linePos(err.pos[0]).line - 1, message: firstLine(err.message) });
      const refused = d.errors.length === 0 ? aliasProblem(d, text) : null;
      if (refused) errors.push({ line: firstLineNo, message: aliasRefusal(refused) });
      else if (d.errors.length === 0 && d.contents !== null)
        value = toPlain(d.contents, d, lc, '', lines, 0, { aliasNodes: ALIAS_NODES_BASE + text.length });
    }
  } catch (e) {
    if (e instanceof AliasBudgetExceeded) errors.push({ line: firstLineNo, message: aliasRefusal('too many nodes') });
    else errors.push({ line: firstLineNo, message: (e as Error).message });
  }
  const lineOf = (path: string): number => {
    let p = path;
    for (;;) {
      const l = lines.get(p);
      if (l !== undefined) return firstLineNo + l - 1;
      if (p === '') return firstLineNo;
      p = parentPath(p);
    }
  };
  return { value, lineOf, errors };
}
