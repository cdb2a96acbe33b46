/**
 * `egress supportbundle`: a bundle of the reference cluster's state directory (a faked agent run file, a test bed
 * log) listed and extracted with the system tar, its contents checked against `egress get`, the cluster key
 * absent from every extracted byte, no overwrite, one-line usage errors, and unreadable pieces named in
 * manifest.txt.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYAML } from 'yaml';
import { runMain } from '../support/cli-run.js';
import { tarArchive } from '../../cli/tar.js';
import * as policy from '../../engine/policy/index.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const REF = join(ROOT, 'examples', 'reference', 'cluster.yaml');
const dirs: string[] = [];
let work: string;
let state: string;

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'egr-bundle-'));
  dirs.push(d);
  return d;
}

function tar(...args: string[]): string {
  const r = spawnSync('tar', args, { encoding: 'utf8', cwd: work });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** Every file under `d`, relative paths. */
function walk(d: string, rel = ''): string[] {
  return readdirSync(join(d, rel), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(d, join(rel, e.name)) : [join(rel, e.name)],
  );
}

beforeEach(async () => {
  work = tmp();
  state = join(work, 'state');
  expect((await runMain(['apply', '-f', REF, '--state-dir', state])).code).toBe(0);
  mkdirSync(join(state, 'run'), { mode: 0o700 });
  // long stopped: the Node STATUS it implies does not change while the test runs (a loaded machine)
  policy.store.writeRunFile(
    state,
    'node-a',
    JSON.stringify({ node: 'node-a', pid: 1, updated: '2026-01-01T00:00:00.000Z', members: ['node-a'], egressIps: [] }),
  );
  mkdirSync(join(state, 'testbed'), { mode: 0o700 });
  writeFileSync(join(state, 'testbed', 'agent-node-a.log'), '{"level":"info","msg":"started"}\n', { mode: 0o600 });
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('egress supportbundle', () => {
  it('bundles the state, read back by the system tar, without the cluster key', async () => {
    const out = join(work, 'b.tar.gz');
    const r = await runMain(['supportbundle', '--out', out, '--state-dir', state]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/b\.tar\.gz: \d+ files/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readdirSync(work).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const listed = tar('-tzf', out).trim().split('\n');
    const top = listed[0]!.split('/')[0]!;
    expect(top).toMatch(/^egress-supportbundle-\d{8}T\d{6}Z$/);
    const inside = listed.map((l) => l.slice(top.length + 1)).sort();
    expect(inside).toEqual(
      [
        'manifest.txt',
        'version.txt',
        ...policy.KINDS.map((k) => `objects/${k.toLowerCase()}.yaml`),
        'status/nodes.yaml',
        'events.yaml',
        'pipeline.dot',
        'pipeline.json',
        'nodes/node-a/view.json',
        'nodes/node-b/view.json',
        'nodes/node-c/view.json',
        'run/node-a.json',
        'logs/agent-node-a.log',
      ].sort(),
    );

    tar('-xzf', out);
    const x = join(work, top);
    const file = (p: string) => readFileSync(join(x, p), 'utf8');
    const egresses = parseYAML(file('objects/egress.yaml')) as { items: { metadata: { name: string } }[] };
    expect(egresses.items.map((e) => e.metadata.name)).toContain('egress-prod-web');
    expect(file('objects/egress.yaml')).toBe(
      (await runMain(['get', 'eg', '-o', 'yaml', '--state-dir', state])).out + '\n',
    );
    const view = JSON.parse(file('nodes/node-a/view.json')) as Record<string, unknown>;
    const get = JSON.parse((await runMain(['get', 'view', 'node-a', '-o', 'json', '--state-dir', state])).out);
    expect(view).toEqual(get);
    expect(file('pipeline.dot')).toMatch(/^digraph/);
    expect(file('version.txt')).toMatch(/^egress-engine \d+\.\d+\.\d+/);
    expect(JSON.parse(file('run/node-a.json'))).toMatchObject({ node: 'node-a', pid: 1 });
    expect(file('logs/agent-node-a.log')).toContain('"msg":"started"');
    const manifest = file('manifest.txt');
    for (const p of inside.filter((p) => p !== 'manifest.txt')) expect(manifest).toContain(`ok       ${p} (`);

    // the key, in every form it could be printed in, appears in no extracted byte
    const key = readFileSync(join(state, 'cluster.key'));
    expect(key.length).toBeGreaterThanOrEqual(32);
    const forms = [key, Buffer.from(key.toString('hex')), Buffer.from(key.toString('base64'))];
    for (const f of walk(x)) {
      const data = readFileSync(join(x, f));
      for (const k of forms) expect(data.includes(k), `${f} holds the key`).toBe(false);
    }
    const grep = spawnSync('grep', ['-rlF', key.toString('hex'), x], { encoding: 'utf8' });
    expect(grep.status).toBe(1); // grep: no match
  });

  it('names the default file by UTC time in the current directory, and never overwrites', async () => {
    const cwd = process.cwd();
    process.chdir(work);
    try {
      const r = await runMain(['supportbundle', '--state-dir', state]);
      expect(r.code).toBe(0);
      const made = readdirSync(work).filter((f) => /^egress-supportbundle-\d{8}T\d{6}Z\.tar\.gz$/.test(f));
      expect(made).toHaveLength(1);
      const before = readFileSync(join(work, made[0]!));
      const again = await runMain(['supportbundle', '--out', made[0]!, '--state-dir', state]);
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/^egress supportbundle: .*exists: not overwritten$/);
      expect(readFileSync(join(work, made[0]!)).equals(before)).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it.each([
    [['--bogus'], /unknown option/],
    [['extra'], /unexpected argument "extra"/],
    [['--out'], /--out/],
    [['--store', 'dir:/x', '--state-dir', '/y'], /--store and --state-dir/],
  ])('bad flags %j: one line, exit 2', async (argv, msg) => {
    const r = await runMain(['supportbundle', ...argv]);
    expect(r.code).toBe(2);
    expect(r.err.split('\n')).toHaveLength(1);
    expect(r.err).toMatch(msg);
    expect(readdirSync(work).filter((f) => f.endsWith('.tar.gz'))).toEqual([]);
  });

  it('lists what it could not read in manifest.txt and still writes the bundle', async () => {
    if (process.getuid?.() === 0) {
      // root reads any file: make the pieces unreadable another way (a directory where a file is read)
      mkdirSync(join(state, 'testbed', 'broken.log'));
    } else {
      writeFileSync(join(state, 'testbed', 'broken.log'), 'x', { mode: 0o600 });
      chmodSync(join(state, 'testbed', 'broken.log'), 0);
    }
    rmSync(join(state, 'run'), { recursive: true });
    writeFileSync(join(state, 'events.jsonl'), 'not json\n', { mode: 0o600 });
    const out = join(work, 'b.tar.gz');
    const r = await runMain(['supportbundle', '--out', out, '--state-dir', state]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/pieces missing \(see manifest\.txt\)/);
    tar('-xzf', out);
    const top = readdirSync(work).find((f) => f.startsWith('egress-supportbundle-'))!;
    const manifest = readFileSync(join(work, top, 'manifest.txt'), 'utf8');
    expect(manifest).toMatch(/^missing {2}logs\/broken\.log: .+$/m);
    expect(manifest).toMatch(/^missing {2}run\/: .*run does not exist$/m);
    expect(manifest).toMatch(/^note {5}events\.yaml: .*skipped/m); // the bad line is skipped with a warning
    expect(manifest).toMatch(/^ok {7}logs\/agent-node-a\.log \(/m);
    expect(existsSync(join(work, top, 'logs', 'broken.log'))).toBe(false);
  });

  it('drops a collected file that holds the cluster key (here a log that printed it)', async () => {
    const key = readFileSync(join(state, 'cluster.key'));
    writeFileSync(join(state, 'testbed', 'leaky.log'), `key=${key.toString('base64')}\n`, { mode: 0o600 });
    const out = join(work, 'b.tar.gz');
    expect((await runMain(['supportbundle', '--out', out, '--state-dir', state])).code).toBe(0);
    const listed = tar('-tzf', out);
    expect(listed).not.toContain('leaky.log');
    expect(listed).toContain('logs/agent-node-a.log');
    tar('-xzf', out);
    const top = readdirSync(work).find((f) => f.startsWith('egress-supportbundle-'))!;
    const manifest = readFileSync(join(work, top, 'manifest.txt'), 'utf8');
    expect(manifest).toMatch(/^missing {2}logs\/leaky\.log: dropped: it holds the cluster key$/m);
    expect(manifest).not.toMatch(/^ok .*leaky/m);
  });
});

describe('README', () => {
  it('the supportbundle examples run', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf('<!-- readme-examples: supportbundle -->');
    expect(at).toBeGreaterThan(0);
    const lines = /```sh\n([\s\S]*?)```/
      .exec(readme.slice(at))![1]!
      .split('\n')
      .filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(2);
    const cwd = process.cwd();
    process.chdir(work);
    try {
      for (const line of lines) {
        if (line.startsWith('egress ')) {
          const r = await runMain([...line.split(' ').slice(1), '--state-dir', state]);
          expect(r.code, `${line}\n${r.err}`).toBe(0);
          continue;
        }
        const r = spawnSync('bash', ['-c', line], { encoding: 'utf8', cwd: work });
        expect(r.status, `${line}\n${r.stderr}`).toBe(0);
        expect(r.stdout, line).toMatch(/version\.txt/);
      }
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('cli/tar.ts', () => {
  it('long paths go into the ustar prefix and come back whole from the system tar', () => {
    work = tmp();
    const name = `d/${'a'.repeat(90)}/${'b'.repeat(90)}.txt`;
    const data = Buffer.alloc(1025, 0x41); // spans three blocks
    writeFileSync(
      join(work, 'l.tar'),
      tarArchive([
        { name, data, mtime: 0 },
        { name: 'e', data: Buffer.alloc(0), mtime: 0 },
      ]),
    );
    expect(tar('-tf', 'l.tar').trim().split('\n')).toEqual([name, 'e']);
    tar('-xf', 'l.tar');
    expect(readFileSync(join(work, name)).equals(data)).toBe(true);
    expect(() => tarArchive([{ name: '../x', data, mtime: 0 }])).toThrow(/bad path/);
    expect(() => tarArchive([{ name: 'x'.repeat(300), data, mtime: 0 }])).toThrow(/too long/);
  });
});
