/**
 * `egress apply`, `egress delete`, `egress get`: in-process through main() (fast) and, for exit codes, one-line
 * errors, stdin and concurrency, through the real `bin/egress.js` in child processes. Every test uses its own
 * temporary --state-dir.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYAML } from 'yaml';
import { runMain } from '../support/cli-run.js';
import { humanDuration, table } from '../../cli/output.js';
import { ROOT_STATE_DIR, defaultStateDir, resolveStateDir } from '../../cli/state-dir.js';
import * as policy from '../../engine/policy/index.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const REF = join(ROOT, 'examples', 'reference');
const BIN = join(ROOT, 'bin', 'egress.js');
let dir: string;
const dirs: string[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'egr-cli-'));
  dirs.push(d);
  return d;
}

/** Run main() in-process, capturing console output. */
const run = (...argv: string[]) => runMain(argv);

beforeEach(() => {
  dir = tmp();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('state directory resolution', () => {
  it('--state-dir beats $EGRESS_STATE_DIR beats the default', () => {
    expect(resolveStateDir('/x/y', { EGRESS_STATE_DIR: '/env' })).toBe('/x/y');
    expect(resolveStateDir(undefined, { EGRESS_STATE_DIR: '/env' })).toBe('/env');
    expect(defaultStateDir({ XDG_STATE_HOME: '/xdg', HOME: '/home/u' }, 1000)).toBe('/xdg/egress-engine');
    expect(defaultStateDir({ HOME: '/home/u' }, 1000)).toBe('/home/u/.local/state/egress-engine');
    expect(defaultStateDir({ HOME: '/root' }, 0)).toBe(ROOT_STATE_DIR);
  });
});

describe('output helpers', () => {
  it('AGE like kubectl (duration.HumanDuration)', () => {
    const s = 1000;
    const cases: [number, string][] = [
      [-500, '0s'],
      [0, '0s'],
      [5 * s, '5s'],
      [119 * s, '119s'],
      [180 * s, '3m'],
      [330 * s, '5m30s'],
      [45 * 60 * s, '45m'],
      [3 * 3600 * s, '3h'],
      [(5 * 3600 + 20 * 60) * s, '5h20m'],
      [30 * 3600 * s, '30h'],
      [2 * 86400 * s, '2d'],
      [(3 * 86400 + 5 * 3600) * s, '3d5h'],
      [400 * 86400 * s, '400d'],
      [(3 * 365 + 20) * 86400 * s, '3y20d'],
      [9 * 365 * 86400 * s, '9y'],
    ];
    for (const [ms, want] of cases) expect(humanDuration(ms), want).toBe(want);
  });

  it('tables like kubectl (3 spaces of padding, minimum width 6)', () => {
    expect(table(['NAME', 'AGE', 'NODE'], [['a', '5s', '']])).toBe('NAME   AGE   NODE\na      5s');
  });
});

describe('in-process', () => {
  it('applies the reference scenario and lists it with kubectl columns', async () => {
    const a = await run('apply', '-f', REF, '--state-dir', dir);
    expect(a.code).toBe(0);
    expect(a.out.split('\n')).toContain('egress.crd.antrea.io/egress-prod-web created');
    expect(a.out.split('\n')).toContain('pod/prod/web-a created');
    // The first apply creates the agents' key (0600) and says so; the next one does not.
    expect(a.err).toBe(
      `note: created the cluster key ${join(dir, 'cluster.key')} (32 random bytes, mode 0600): the agents of this state directory share it`,
    );
    expect(statSync(join(dir, 'cluster.key')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect((await run('apply', '-f', REF, '--state-dir', dir)).err).toBe('');

    const g = await run('get', 'egress', '--state-dir', dir);
    expect(g.code).toBe(0);
    const lines = g.out.split('\n');
    expect(lines[0]).toMatch(/^NAME {17}EGRESSIP {7}AGE {3}NODE$/);
    expect(lines[1]).toMatch(/^egress-prod-web {6}198\.18\.0\.253 {3}\d+s {2,4}node-[abc]$/);
    expect(lines[2]).toMatch(/^egress-staging-web {3}198\.18\.0\.254 {3}\d+s {2,4}node-[abc]$/);
    expect(g.err).toContain('prediction');

    const e = await run('get', 'eip', '--state-dir', dir);
    expect(e.out.split('\n')[0]).toBe('NAME          TOTAL   USED   AGE');
    expect(e.out.split('\n')[1]).toMatch(/^egress-pool {3}2 {7}2 {6}\d+s$/);

    const p = await run('get', 'pods', '-o', 'wide', '-n', 'prod', '--state-dir', dir);
    // -n: one namespace, so no NAMESPACE column (kubectl)
    expect(p.out.split('\n')[0]).toMatch(/^NAME\s+IP\s+NODE\s+AGE\s+EGRESS\s+EGRESSIP\s+EGRESSNODE$/);
    expect(
      p.out
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['web-a', 'web-b']);
    expect(p.out).toContain('egress-prod-web');

    const n = await run('get', 'nodes', '--state-dir', dir);
    expect(n.out.split('\n').map((l) => l.split(/\s+/).slice(0, 4).join(' '))).toEqual([
      'NAME STATUS INTERNAL-IP POD-CIDR',
      'node-a Unknown 198.18.0.11 198.19.1.0/24',
      'node-b Unknown 198.18.0.12 198.19.2.0/24',
      'node-c Unknown 198.18.0.13 198.19.3.0/24',
    ]);
  });

  it('prints YAML and JSON with the merged status and the status source', async () => {
    await run('apply', '-f', REF, '--state-dir', dir);
    const y = await run('get', 'egress', 'egress-prod-web', '-o', 'yaml', '--state-dir', dir);
    const obj = parseYAML(y.out) as policy.Egress;
    expect(obj.kind).toBe('Egress');
    expect(obj.spec.egressIP).toBe('198.18.0.253');
    expect(obj.status.conditions!.map((c) => c.type)).toEqual(['IPAssigned', 'IPAllocated']);
    expect(obj.metadata.annotations['egress-engine.io/status-source']).toBe('predicted');
    const j = await run('get', 'eg', '-o', 'json', '--state-dir', dir);
    const list = JSON.parse(j.out) as { kind: string; items: policy.Egress[] };
    expect(list.kind).toBe('List');
    expect(list.items.map((i) => i.metadata.name)).toEqual(['egress-prod-web', 'egress-staging-web']);
    expect(j.out).toContain('\n    "apiVersion"'); // kubectl's 4-space JSON
  });

  it('shows what agents wrote once they report, not the prediction', async () => {
    await run('apply', '-f', REF, '--state-dir', dir);
    const state = policy.store.loadState(dir);
    const sim = new policy.ClusterSim(state);
    sim.settle(new Date(), { alive: ['node-a', 'node-b'] }); // node-c is down
    for (const f of sim.files().values()) policy.store.writeNodeStatus(dir, f);
    policy.store.appendEvents(dir, sim.events);
    const g = await run('get', 'egress', '-o', 'json', '--state-dir', dir);
    const items = (JSON.parse(g.out) as { items: policy.Egress[] }).items;
    for (const i of items) {
      expect(['node-a', 'node-b']).toContain(i.status.egressNode);
      expect(i.metadata.annotations['egress-engine.io/status-source']).toBe('agents');
    }
    expect(g.err).toBe('');
    const ev = await run('get', 'events', '--state-dir', dir);
    expect(ev.out.split('\n')[0]).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/);
    expect(ev.out).toMatch(
      /Normal\s+IPAssigned\s+egress\/egress-prod-web\s+Assigned Egress egress-prod-web with IP 198\.18\.0\.253 on Node node-[ab]/,
    );
  });

  it('deletes by kind and name, by manifest, and cascades Pods of a deleted Namespace', async () => {
    await run('apply', '-f', REF, '--state-dir', dir);
    const d1 = await run('delete', 'pod', 'prod/web-a', '--state-dir', dir);
    expect([d1.code, d1.out]).toEqual([0, 'pod "prod/web-a" deleted']);
    const d2 = await run('delete', 'ns', 'staging', '--state-dir', dir);
    expect(d2.out.split('\n')).toEqual([
      'namespace "staging" deleted',
      'pod "staging/web-c" deleted (Namespace staging deleted)',
      'pod "staging/web-d" deleted (Namespace staging deleted)',
    ]);
    const f = join(dir, 'eg.yaml');
    writeFileSync(f, 'apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: egress-prod-web\n');
    const d3 = await run('delete', '-f', f, '--state-dir', dir);
    expect(d3.out).toBe('egress.crd.antrea.io "egress-prod-web" deleted');
    const e = await run('get', 'eip', '-o', 'json', '--state-dir', dir);
    expect((JSON.parse(e.out) as { items: policy.ExternalIPPool[] }).items[0]!.status.usage).toEqual({
      total: 2,
      used: 1,
    });
    const d4 = await run('delete', 'eg', 'nope', '--state-dir', dir);
    expect([d4.code, d4.err]).toEqual([1, 'egress delete: egresses.crd.antrea.io "nope" not found (nothing deleted)']);
    const d5 = await run('delete', 'eg', 'nope', '--ignore-not-found', '--state-dir', dir);
    expect(d5.code).toBe(0);
  });

  it('an apply with one bad document changes nothing on disk', async () => {
    await run('apply', '-f', REF, '--state-dir', dir);
    const before = readFileSync(join(dir, 'objects.json'), 'utf8');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      `apiVersion: v1
kind: Namespace
metadata:
  name: fine
---
apiVersion: crd.antrea.io/v1beta1
kind: ExternalIPPool
metadata:
  name: clash
spec:
  ipRanges:
    - cidr: 198.18.0.252/30
  nodeSelector: {}
`,
    );
    const r = await run('apply', '-f', REF, '-f', bad, '--state-dir', dir);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `egress apply: ${bad}:12: document 2 (ExternalIPPool/clash) spec.ipRanges[0]: range [198.18.0.252/30] overlaps with range [198.18.0.253-198.18.0.254] of ExternalIPPool egress-pool (nothing applied)`,
    );
    expect(readFileSync(join(dir, 'objects.json'), 'utf8')).toBe(before);
    const dry = await run('apply', '-f', join(REF, 'cluster.yaml'), '--dry-run', '--state-dir', dir);
    expect(dry.out.split('\n')[0]).toBe('agentconfig.egress-engine/default unchanged (server dry run)');
    expect(readFileSync(join(dir, 'objects.json'), 'utf8')).toBe(before);
  });

  it('--help everywhere; unknown flags and kinds are one-line usage errors', async () => {
    for (const c of ['apply', 'delete', 'get']) {
      const h = await run(c, '--help');
      expect(h.code).toBe(0);
      expect(h.out).toMatch(new RegExp(`^usage: egress ${c} `));
    }
    const top = await run('--help');
    expect(top.out).toMatch(/apply .*\n.*delete .*\n.*get /);
    const u = await run('get', 'eg', '--bogus', '--state-dir', dir);
    expect([u.code, u.err]).toEqual([2, 'egress get: unknown option --bogus (see egress get --help)']);
    const k = await run('get', 'widgets', '--state-dir', dir);
    expect([k.code, k.err]).toEqual([2, 'egress get: unknown resource type "widgets" (see egress get --help)']);
    const f = await run('apply', '--state-dir', dir);
    expect([f.code, f.err]).toEqual([2, 'egress apply: -f FILE|DIR|- is required (see egress apply --help)']);
    const m = await run('apply', '-f', join(dir, 'missing.yaml'), '--state-dir', dir);
    expect([m.code, m.err]).toEqual([1, `egress apply: the path "${join(dir, 'missing.yaml')}" does not exist`]);
  });
});

describe('the real binary', () => {
  beforeAll(() => {
    // Build dist/ (tsc emits even when another area has a type error; only the files we run must exist).
    spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'ignore', timeout: 300_000 });
    expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js'))).toBe(true);
  }, 300_000);

  const egress = (args: string[], input?: string) =>
    spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input: input ?? '', timeout: 60_000 });

  it('exit codes and one-line errors', () => {
    expect(egress(['apply', '-f', REF, '--state-dir', dir]).status).toBe(0);
    const bad = egress(['get', 'eg', '-o', 'table', '--state-dir', dir]);
    expect([bad.status, bad.stderr]).toEqual([
      2,
      'egress get: unknown output format "table" (wide, json, yaml, name, jsonpath=TEMPLATE, custom-columns=HEADER:PATH,...) (see egress get --help)\n',
    ]);
    const nf = egress(['get', 'eg', 'nope', '--state-dir', dir]);
    expect([nf.status, nf.stderr]).toEqual([1, 'egress get: egresses.crd.antrea.io "nope" not found\n']);
  });

  it('reads manifests from stdin and honours $EGRESS_STATE_DIR', () => {
    const r = spawnSync(process.execPath, [BIN, 'apply', '-f', '-'], {
      encoding: 'utf8',
      input: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: from-stdin\n',
      env: { ...process.env, EGRESS_STATE_DIR: dir },
    });
    expect([r.status, r.stdout]).toEqual([0, 'namespace/from-stdin created\n']);
    expect(policy.store.loadState(dir).namespaces.has('from-stdin')).toBe(true);
  });

  it('serializes concurrent applies: every one lands', async () => {
    const first = egress(['apply', '-f', REF, '--state-dir', dir]);
    expect([first.status, first.stderr]).toEqual([0, expect.stringMatching(/^note: created the cluster key /)]);
    const gen0 = policy.store.loadState(dir).generation;
    const n = 6;
    const codes = await Promise.all(
      [...Array(n).keys()].map(
        (i) =>
          new Promise<number>((res) => {
            const f = join(dir, `ns-${i}.yaml`);
            writeFileSync(
              f,
              `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: par-${i}\n---\napiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: par-${i}\nspec:\n  appliedTo: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: par-${i}}}}\n  egressIP: 198.18.0.${50 + i}\n`,
            );
            const c = spawn(process.execPath, [BIN, 'apply', '-f', f, '--state-dir', dir], { stdio: 'ignore' });
            c.on('exit', (code) => res(code ?? -1));
          }),
      ),
    );
    expect(codes).toEqual(Array(n).fill(0));
    const s = policy.store.loadState(dir);
    expect(s.generation).toBe(gen0 + n);
    for (let i = 0; i < n; i++) expect(s.egresses.has(`par-${i}`)).toBe(true);
    expect(existsSync(join(dir, 'apply.lock'))).toBe(false);
  });
});
