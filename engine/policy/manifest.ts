/**
 * Multi-document YAML (or JSON) manifests → plain values with source positions.
 *
 * Each document becomes a `ManifestDoc`: its plain value (maps, arrays, scalars; aliases resolved) plus a map from
 * every field path (`spec.ipRanges[0].cidr`) to its 1-based line, so any later check can name the line. A `kind:
 * List` document is expanded into its items (as kubectl does). Empty documents are skipped but keep their number, so
 * "document N" always counts the `---`-separated documents of the file. YAML syntax errors become problems.
 */
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

/** Convert a YAML node to a plain value, recording the line of every path. */
function toPlain(
  node: unknown,
  doc: Document,
  lc: LineCounter,
  path: string,
  lines: Map<string, number>,
  depth: number,
): unknown {
  if (depth > MAX_DEPTH) return null;
  if (isAlias(node)) return toPlain(node.resolve(doc), doc, lc, path, lines, depth + 1);
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
      out[key] = toPlain(item.value, doc, lc, p, lines, depth + 1);
    }
    return out;
  }
  if (isSeq(node)) {
    return node.items.map((it, i) => toPlain(it, doc, lc, joinPath(path, i), lines, depth + 1));
  }
  return node === undefined ? null : node;
}

export interface ParsedManifests {
  readonly docs: ManifestDoc[];
  readonly problems: Problem[];
}

/** Parse the text of one file. Never throws. */
export function parseManifests(text: string, file: string): ParsedManifests {
  const problems: Problem[] = [];
  const docs: ManifestDoc[] = [];
  const lc = new LineCounter();
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
  parsed.forEach((d, i) => {
    const n = i + 1;
    if (d.errors.length > 0) {
      for (const err of d.errors) {
        const line = lc.linePos(err.pos[0]).line;
        problems.push({ severity: 'error', file, line, doc: n, path: '', message: `YAML: ${firstLine(err.message)}` });
      }
      return;
    }
    const contents = d.contents;
    if (contents === null || (isScalar(contents) && (contents.value === null || contents.value === ''))) return;
    const lines = new Map<string, number>();
    const value = toPlain(contents, d, lc, '', lines, 0);
    const line = lines.get('') ?? 1;
    if (isListDoc(value)) {
      (value['items'] as unknown[]).forEach((item, j) => {
        docs.push(new Doc(file, n, lines.get(`items[${j}]`) ?? line, item, `items[${j}]`, lines));
      });
      return;
    }
    docs.push(new Doc(file, n, line, value, '', lines));
  });
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
      if (d.errors.length === 0 && d.contents !== null) value = toPlain(d.contents, d, lc, '', lines, 0);
    }
  } catch (e) {
    errors.push({ line: firstLineNo, message: (e as Error).message });
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
