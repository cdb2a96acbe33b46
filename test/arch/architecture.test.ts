/**
 * The layering of docs/architecture.md §2, enforced: every import between our own folders must
 * be an allowed edge. A new edge fails this test; change docs/architecture.md's rule (and the README's design
 * note) before changing the table below.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

const ENGINE_LAYERS = ['wire', 'packet', 'graph', 'stages', 'io', 'policy', 'cluster', 'agent'] as const;

/** Layer → the layers it may import (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  'engine/wire': [],
  'engine/packet': [],
  conntrack: [],
  'engine/graph': ['engine/packet'],
  'engine/io': ['engine/packet', 'engine/graph', 'engine/wire'],
  'engine/stages': ['engine/wire', 'engine/packet', 'engine/graph', 'conntrack', 'engine/policy'],
  'engine/policy': [],
  'engine/cluster': ['engine/policy', 'engine/wire'],
  // The agent composes one node from every engine layer and the connection table the stages share.
  'engine/agent': [
    'engine/wire',
    'engine/packet',
    'engine/graph',
    'engine/stages',
    'engine/io',
    'engine/policy',
    'engine/cluster',
    'conntrack',
  ],
  // engine/index.ts: the engine's public index, re-exporting what tun/ and cli/ may use.
  'engine/index': [
    'engine/wire',
    'engine/packet',
    'engine/graph',
    'engine/stages',
    'engine/io',
    'engine/policy',
    'engine/cluster',
    'engine/agent',
    'conntrack',
  ],
  tun: ['engine/index'],
  cli: ['engine/index', ...ENGINE_LAYERS.map((l) => `engine/${l}`), 'tun'],
  bench: ['*'],
  test: ['*'],
};

/** The layer a repository path belongs to, or null for files outside the layered tree. */
export function layerOf(rel: string): string | null {
  const parts = rel.split(sep).join('/').split('/');
  if (parts[0] === 'engine') {
    if (parts.length === 2) return parts[1] === 'index.ts' || parts[1] === 'index.js' ? 'engine/index' : 'engine/?';
    return `engine/${parts[1]}`;
  }
  if (['conntrack', 'tun', 'cli', 'bench', 'test'].includes(parts[0]!)) return parts[0]!;
  return null;
}

export interface Edge {
  from: string;
  to: string;
  file: string;
  spec: string;
}

/** Edges that the table does not allow. */
export function forbidden(edges: readonly Edge[]): Edge[] {
  return edges.filter((e) => {
    if (e.from === e.to) return false;
    if (e.to === 'test') return true; // nothing imports test/
    if (e.to === 'bench') return e.from !== 'test'; // only tests import bench/ (the runner's own tests)
    const allowed = ALLOWED[e.from];
    if (!allowed) return true;
    return !(allowed.includes('*') || allowed.includes(e.to));
  });
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;(=])import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|[\s;])import\s*['"]([^'"]+)['"]/gm;

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'build' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function edgesOf(file: string): Edge[] {
  const rel = relative(ROOT, file);
  const from = layerOf(rel);
  if (!from) return [];
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1');
  const edges: Edge[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (!spec.startsWith('.')) continue; // packages and node: builtins are not layers
    const target = relative(ROOT, resolve(dirname(file), spec));
    const to = layerOf(target);
    if (to === null || target.startsWith('..')) {
      edges.push({ from, to: `outside:${target}`, file: rel, spec });
      continue;
    }
    edges.push({ from, to, file: rel, spec });
  }
  return edges;
}

function allEdges(): Edge[] {
  const roots = ['engine', 'conntrack', 'tun', 'cli', 'bench', 'test'].map((d) => join(ROOT, d));
  return roots.flatMap((r) => {
    try {
      return sourceFiles(r).flatMap(edgesOf);
    } catch {
      return [];
    }
  });
}

describe('architecture', () => {
  it('classifies paths into layers', () => {
    expect(layerOf('engine/wire/ipv4.ts')).toBe('engine/wire');
    expect(layerOf('engine/index.ts')).toBe('engine/index');
    expect(layerOf('tun/tun-port.ts')).toBe('tun');
    expect(layerOf('README.md')).toBeNull();
  });

  it('flags edges the table forbids (the checker itself can fail)', () => {
    const bad = forbidden([
      { from: 'engine/wire', to: 'engine/packet', file: 'x', spec: 'y' },
      { from: 'engine/stages', to: 'engine/io', file: 'x', spec: 'y' },
      { from: 'engine/agent', to: 'tun', file: 'x', spec: 'y' },
      { from: 'tun', to: 'engine/stages', file: 'x', spec: 'y' },
      { from: 'cli', to: 'bench', file: 'x', spec: 'y' },
      { from: 'engine/io', to: 'engine/wire', file: 'x', spec: 'y' },
      { from: 'tun', to: 'engine/index', file: 'x', spec: 'y' },
    ]);
    expect(bad.map((e) => `${e.from}->${e.to}`)).toEqual([
      'engine/wire->engine/packet',
      'engine/stages->engine/io',
      'engine/agent->tun',
      'tun->engine/stages',
      'cli->bench',
    ]);
  });

  it('finds imports in real files', () => {
    const edges = allEdges();
    expect(edges.some((e) => e.file.startsWith('engine/wire') && e.to === 'engine/wire')).toBe(true);
  });

  it('every import between our folders is an allowed edge', () => {
    const bad = forbidden(allEdges()).map((e) => `${e.file}: imports ${e.spec} (${e.from} -> ${e.to})`);
    expect(bad).toEqual([]);
  });
});
