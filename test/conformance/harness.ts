/**
 * The conformance harness: cases derived from Antrea's own tests, run through the public CLI (`egress apply`,
 * `get`, `delete`, `replay`, in-process through main() like test/cli), each naming the Antrea file and test it
 * comes from. A case is one of:
 *
 * - `holds(ref, title, fn)`: Antrea's expectation, asserted as Antrea's test asserts it;
 * - `differs(ref, title, reason, fn)`: a deliberate difference (README "Deliberate differences from Antrea"); `fn`
 *   asserts what we do, and the case says why;
 * - `notImplemented(ref, title, reason, fn)`: a feature we accept but do not do yet (README "Not done"); `fn` asserts
 *   today's behaviour, so the case turns into a failure the day it changes and must be reclassified.
 *
 * Every case is a vitest test; the summary (`N/M Antrea cases hold`, N = cases that hold, M = all cases) is
 * printed after the suite and written to tmp/conformance-summary.txt, with a Markdown table of one line per case
 * beside it in tmp/ (both ignored by git).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { it } from 'vitest';
import { stringify } from 'yaml';
import { runMain } from '../support/cli-run.js';
import type { CliResult } from '../support/cli-run.js';

export const ROOT = resolve(import.meta.dirname, '../..');
const ANTREA = 'antrea-io/antrea';

/** Where a case comes from: a file of Antrea's repository and a test function (with its sub-test name). */
export interface Ref {
  readonly file: string;
  readonly test: string;
}

type Kind = 'holds' | 'differs' | 'not implemented';
interface Result {
  readonly ref: Ref;
  readonly title: string;
  readonly kind: Kind;
  readonly reason: string;
  ok: boolean | null;
}

const results: Result[] = [];

function register(kind: Kind, ref: Ref, title: string, reason: string, fn: () => unknown): void {
  const r: Result = { ref, title, kind, reason, ok: null };
  results.push(r);
  const label = kind === 'holds' ? '' : ` [${kind}]`;
  it(`${ref.test}: ${title}${label}`, async () => {
    r.ok = false;
    await fn();
    r.ok = true;
  });
}

export function holds(ref: Ref, title: string, fn: () => unknown): void {
  register('holds', ref, title, '', fn);
}

export function differs(ref: Ref, title: string, reason: string, fn: () => unknown): void {
  register('differs', ref, title, reason, fn);
}

export function notImplemented(ref: Ref, title: string, reason: string, fn: () => unknown): void {
  register('not implemented', ref, title, reason, fn);
}

/** The summary line and the per-case table; written under tmp/ and printed. Call from an afterAll. */
export function writeSummary(): string {
  const total = results.length;
  const held = results.filter((r) => r.kind === 'holds' && r.ok === true).length;
  const diff = results.filter((r) => r.kind === 'differs' && r.ok === true).length;
  const notImpl = results.filter((r) => r.kind === 'not implemented' && r.ok === true).length;
  const failing = results.filter((r) => r.ok === false).length;
  const skipped = results.filter((r) => r.ok === null).length;
  const line =
    `${held}/${total} Antrea cases hold (${diff} deliberate differences, ${notImpl} not implemented, ` +
    `${failing} failing${skipped ? `, ${skipped} not run` : ''})`;
  const rows = results.map((r) => {
    const v = r.ok === null ? 'not run' : !r.ok ? 'FAILING' : r.kind;
    const why = r.reason ? ` ${r.reason}` : '';
    return `| ${v} | \`${r.ref.file}\` | ${r.ref.test} | ${r.title}.${why} |`;
  });
  const md = [
    `# Conformance with ${ANTREA}'s tests`,
    '',
    line,
    '',
    '| verdict | Antrea file | Antrea test | case |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
  const dir = join(ROOT, 'tmp');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'conformance-summary.txt'), `${line}\n`);
  writeFileSync(join(dir, 'conformance.md'), md);
  process.stdout.write(`\nconformance: ${line}\n  (a table of every case is in tmp/)\n`);
  return line;
}

// ---- the CLI, in-process -------------------------------------------------------------------------------------

export type Run = CliResult;

/** Run `egress ARGV…` in-process, capturing console output. */
export function egress(...argv: string[]): Promise<Run> {
  return runMain(argv);
}

const dirs: string[] = [];
export function tmp(prefix = 'egr-conf-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function cleanup(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

type Doc = Record<string, unknown>;
export const yamlOf = (docs: readonly Doc[]): string => docs.map((d) => stringify(d)).join('---\n');

/** One state directory: a cluster as the CLI sees it. */
export class Cluster {
  readonly dir = tmp();
  private n = 0;

  /** `egress apply -f` of these documents. */
  async apply(docs: readonly Doc[]): Promise<Run> {
    const f = join(this.dir, `m${this.n++}.yaml`);
    writeFileSync(f, yamlOf(docs));
    return egress('apply', '-f', f, '--state-dir', join(this.dir, 'state'));
  }

  /** apply, expecting success. */
  async ok(docs: readonly Doc[]): Promise<void> {
    const r = await this.apply(docs);
    if (r.code !== 0) throw new Error(`apply failed: ${r.err}`);
  }

  /** apply, expecting a refusal; returns the error text. */
  async refused(docs: readonly Doc[]): Promise<string> {
    const r = await this.apply(docs);
    if (r.code === 0) throw new Error(`apply succeeded:\n${r.out}`);
    return r.err;
  }

  async delete(...args: string[]): Promise<Run> {
    return egress('delete', ...args, '--state-dir', join(this.dir, 'state'));
  }

  /** `egress get KIND -o json` items. */
  async items(kind: string): Promise<Doc[]> {
    const r = await egress('get', kind, '-o', 'json', '--state-dir', join(this.dir, 'state'));
    if (r.code !== 0) return [];
    const j = JSON.parse(r.out) as Doc;
    return (j['items'] as Doc[] | undefined) ?? [j];
  }

  /** Egress name → its status (predicted or reported), spec.egressIP and conditions. */
  async egresses(): Promise<Map<string, EgressSeen>> {
    const m = new Map<string, EgressSeen>();
    for (const e of await this.items('egress')) {
      const meta = e['metadata'] as { name: string };
      const spec = e['spec'] as { egressIP?: string };
      const st = (e['status'] ?? {}) as {
        egressNode?: string;
        egressIP?: string;
        conditions?: { type: string; status: string; reason: string; message: string }[];
      };
      m.set(meta.name, {
        specIP: spec.egressIP ?? '',
        node: st.egressNode ?? '',
        ip: st.egressIP ?? '',
        conditions: (st.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message].join(' ')),
      });
    }
    return m;
  }

  /** Pool name → status.usage. */
  async usage(): Promise<Map<string, { total: number; used: number }>> {
    const m = new Map<string, { total: number; used: number }>();
    for (const p of await this.items('externalippool')) {
      const meta = p['metadata'] as { name: string };
      m.set(meta.name, (p['status'] as { usage: { total: number; used: number } }).usage);
    }
    return m;
  }

  /** `egress get pods -o wide` rows: namespace/name → EGRESS column. */
  async podEgress(): Promise<Map<string, string>> {
    const r = await egress('get', 'pods', '-o', 'wide', '--state-dir', join(this.dir, 'state'));
    const lines = r.out.split('\n').filter((l) => l.trim() !== '');
    const head = lines.shift()?.split(/\s+/) ?? [];
    const iNs = head.indexOf('NAMESPACE');
    const iName = head.indexOf('NAME');
    const iEg = head.indexOf('EGRESS');
    return new Map(lines.map((l) => l.split(/\s+/)).map((c) => [`${c[iNs]}/${c[iName]}`, c[iEg] ?? '']));
  }
}

export interface EgressSeen {
  readonly specIP: string;
  readonly node: string;
  readonly ip: string;
  readonly conditions: string[];
}

// ---- manifests ------------------------------------------------------------------------------------------------

export function agentConfig(egress: Record<string, unknown> = {}): Doc {
  return {
    apiVersion: 'egress-engine/v1alpha1',
    kind: 'AgentConfig',
    metadata: { name: 'default' },
    egress,
    transportCIDR: '198.18.0.0/16',
  };
}

export function node(
  name: string,
  ip: string,
  opts: { labels?: Record<string, string>; annotations?: Record<string, string>; podCIDR?: string } = {},
): Doc {
  const metadata: Doc = { name };
  if (opts.labels) metadata['labels'] = opts.labels;
  if (opts.annotations) metadata['annotations'] = opts.annotations;
  const d: Doc = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata,
    status: { addresses: [{ type: 'InternalIP', address: ip }] },
  };
  if (opts.podCIDR) d['spec'] = { podCIDR: opts.podCIDR };
  return d;
}

/** `count` Nodes `prefix-0…` on 198.18.x.y (Antrea's genNodes: node-0, node-1, …). */
export function nodes(count: number, prefix = 'node-'): Doc[] {
  return Array.from({ length: count }, (_, i) => node(`${prefix}${i}`, `198.18.${1 + (i >> 8)}.${i & 255}`));
}

export type Range = { cidr: string } | { start: string; end: string };
export const cidr = (c: string): Range => ({ cidr: c });
export const range = (start: string, end: string): Range => ({ start, end });

export function pool(name: string, ranges: readonly Range[], opts: { nodeSelector?: Doc; subnetInfo?: Doc } = {}): Doc {
  const spec: Doc = { ipRanges: ranges, nodeSelector: opts.nodeSelector ?? {} };
  if (opts.subnetInfo) spec['subnetInfo'] = opts.subnetInfo;
  return { apiVersion: 'crd.antrea.io/v1beta1', kind: 'ExternalIPPool', metadata: { name }, spec };
}

export function egressObj(
  name: string,
  spec: { egressIP?: string; externalIPPool?: string; appliedTo?: Doc; bandwidth?: Doc },
): Doc {
  const s: Doc = { appliedTo: spec.appliedTo ?? { podSelector: {} } };
  if (spec.egressIP !== undefined) s['egressIP'] = spec.egressIP;
  if (spec.externalIPPool !== undefined) s['externalIPPool'] = spec.externalIPPool;
  if (spec.bandwidth !== undefined) s['bandwidth'] = spec.bandwidth;
  return { apiVersion: 'crd.antrea.io/v1beta1', kind: 'Egress', metadata: { name }, spec: s };
}

export function namespace(name: string, labels: Record<string, string> = {}): Doc {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function pod(
  ns: string,
  name: string,
  labels: Record<string, string>,
  nodeName: string,
  ip: string,
  opts: { hostNetwork?: boolean; phase?: string } = {},
): Doc {
  const spec: Doc = {};
  if (nodeName) spec['nodeName'] = nodeName;
  if (opts.hostNetwork) spec['hostNetwork'] = true;
  const status: Doc = {};
  if (ip) status['podIP'] = ip;
  if (opts.phase) status['phase'] = opts.phase;
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec, status };
}

/** The hostname selector Antrea's e2e puts on a pool (`kubernetes.io/hostname In …`). */
export const hostnames = (...names: string[]): Doc => ({
  matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: names }],
});

// ---- replay ---------------------------------------------------------------------------------------------------

export interface ReplayOut {
  readonly dir: string;
  readonly summary: {
    drops: Record<string, unknown> & { datapath: { total: number } };
    events: { reason: string; egress: string; node: string; ip: string; message: string }[];
    ownership: { t: number; ip: string; nodes: string[] }[];
    status: Record<string, { egressIP: string; egressNode: string }>;
  };
}

/** `egress replay --reflect` of `input` (a pcap) with these manifests and an optional timeline (YAML text). */
export async function replay(docs: readonly Doc[], input: string, timeline?: string): Promise<ReplayOut> {
  const d = tmp('egr-conf-replay-');
  writeFileSync(join(d, 'cluster.yaml'), yamlOf(docs));
  const args = ['replay', '--manifests', join(d, 'cluster.yaml'), '--in', input, '--out', join(d, 'out'), '--reflect'];
  if (timeline !== undefined) {
    writeFileSync(join(d, 'timeline.yaml'), timeline);
    args.push('--timeline', join(d, 'timeline.yaml'));
  }
  const r = await egress(...args, '--quiet');
  if (r.code !== 0) throw new Error(`replay failed (${r.code}): ${r.err}`);
  const summary = JSON.parse(readFileSync(join(d, 'out', 'summary.json'), 'utf8')) as ReplayOut['summary'];
  return { dir: join(d, 'out'), summary };
}
