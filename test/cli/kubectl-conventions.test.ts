/**
 * The kubectl conventions of `egress get|describe|apply|delete|version|completion` (issue 19): golden tables
 * (test/cli/golden/, at a fixed clock so AGE is 0s), -o json|yaml round trips through JSON.parse and `yaml`,
 * jsonpath and custom-columns, formats refused in one line, -n/-A/-l/--sort-by/--no-headers, KIND,KIND, Node
 * STATUS from agent run files, --dry-run modes and -R, --watch in a child process, and the completion scripts
 * loaded by bash. Regenerate the golden files with EGRESS_UPDATE_GOLDEN=1 (and read the diff).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parse as parseYAML } from 'yaml';
import { runMain } from '../support/cli-run.js';
import type { CliResult } from '../support/cli-run.js';
import * as policy from '../../engine/policy/index.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const REF = join(ROOT, 'examples', 'reference', 'cluster.yaml');
const BIN = join(ROOT, 'bin', 'egress.js');
const GOLDEN = join(import.meta.dirname, 'golden');
const T0 = new Date('2026-01-02T03:04:05.000Z');
const dirs: string[] = [];
let dir: string;

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'egr-kubectl-'));
  dirs.push(d);
  return d;
}

/** main() in-process; the store commands get this test's --state-dir. */
function run(...argv: string[]): Promise<CliResult> {
  return runMain(['version', 'completion'].includes(argv[0]!) ? argv : [...argv, '--state-dir', dir]);
}

function golden(name: string, text: string): void {
  const file = join(GOLDEN, `${name}.txt`);
  const norm = text.split(dir).join('<state-dir>') + '\n';
  if (process.env['EGRESS_UPDATE_GOLDEN'] === '1') writeFileSync(file, norm);
  expect(norm).toBe(readFileSync(file, 'utf8'));
}

/** A run file as a running agent writes it every second (cli/agent/node-process.ts), with the fields read here. */
function agentReport(node: string, updated: Date, members: string[], egressIps: string[], snat: unknown[] = []) {
  mkdirSync(join(dir, 'run'), { recursive: true, mode: 0o700 });
  policy.store.writeRunFile(
    dir,
    node,
    JSON.stringify({ node, pid: 1, updated: updated.toISOString(), egressIps, members, snat }),
  );
}

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
  dir = tmp();
  expect((await run('apply', '-f', REF)).code).toBe(0);
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('egress get: tables (golden)', () => {
  const cases: [string, string[]][] = [
    ['get-eg', ['get', 'eg']],
    ['get-eg-wide', ['get', 'egress', '-o', 'wide']],
    ['get-eip', ['get', 'eip']],
    ['get-no', ['get', 'no']],
    ['get-po', ['get', 'po']],
    ['get-po-all-namespaces', ['get', 'pods', '-A']],
    ['get-po-n-prod', ['get', 'pods', '-n', 'prod']],
    ['get-po-n-prod-wide', ['get', 'pods', '-n', 'prod', '-o', 'wide']],
    ['get-ns', ['get', 'ns']],
    ['get-eg-eip', ['get', 'eg,eip']],
    ['get-eg-no-headers', ['get', 'eg', '--no-headers']],
    ['get-po-selector-sorted', ['get', 'po', '-l', 'app=web', '--sort-by', '.status.podIP']],
    ['get-po-selector-notin', ['get', 'po', '-l', 'app notin (web)']],
    ['get-eg-custom-columns', ['get', 'eg', '-o', 'custom-columns=NAME:.metadata.name,IP:.status.egressIP,NOPE:.x']],
    ['describe-eg', ['describe', 'eg', 'egress-prod-web']],
    ['describe-po', ['describe', 'po', 'prod/web-a']],
    ['describe-no', ['describe', 'no', 'node-a']],
    ['describe-eip', ['describe', 'eip', 'egress-pool']],
  ];
  for (const [name, argv] of cases)
    it(`${argv.join(' ')}`, async () => {
      const r = await run(...argv);
      expect(r.code, r.err).toBe(0);
      golden(name, r.out);
    });

  it('-n NS without objects says so, as kubectl', async () => {
    const r = await run('get', 'po', '-n', 'default');
    expect([r.code, r.out, r.err]).toEqual([0, '', 'No resources found in default namespace.']);
  });
});

describe('egress get: data formats', () => {
  it('-o json and -o yaml are the same objects (JSON.parse, yaml), with the merged status', async () => {
    const j = await run('get', 'eg', '-o', 'json');
    const y = await run('get', 'eg', '-o', 'yaml');
    const fromJSON = JSON.parse(j.out) as { kind: string; items: policy.Egress[] };
    expect(parseYAML(y.out)).toEqual(fromJSON);
    expect(fromJSON.kind).toBe('List');
    expect(fromJSON.items.map((e) => [e.metadata.name, e.status.egressIP])).toEqual([
      ['egress-prod-web', '198.18.0.253'],
      ['egress-staging-web', '198.18.0.254'],
    ]);
    const one = JSON.parse((await run('get', 'eg', 'egress-prod-web', '-o', 'json')).out) as policy.Egress;
    expect(one.kind).toBe('Egress');
  });

  it('several kinds in -o json are one List; -o name is kind/name', async () => {
    const j = JSON.parse((await run('get', 'eg,eip', '-o', 'json')).out) as { items: policy.AnyObject[] };
    expect(j.items.map((x) => x.kind)).toEqual(['Egress', 'Egress', 'ExternalIPPool']);
    expect((await run('get', 'eip,ns', '-o', 'name')).out.split('\n')).toEqual([
      'externalippool.crd.antrea.io/egress-pool',
      'namespace/dev',
      'namespace/prod',
      'namespace/staging',
    ]);
  });

  it('get view NODE -o json is typed: every address and prefix is text, no int32 left', async () => {
    const r = await run('get', 'view', 'node-a', '-o', 'json');
    const v = JSON.parse(r.out) as Record<string, unknown> & {
      node: { transportIP: string; podCIDR: string };
      localPods: { pod: string; ip: string; egressIP: string | null }[];
      egressIPOwners: Record<string, string>;
    };
    expect(v.node.transportIP).toBe('198.18.0.11');
    expect(v.node.podCIDR).toBe('198.19.1.0/24');
    expect(v.localPods.map((p) => [p.pod, p.ip, p.egressIP])).toEqual([
      ['prod/web-a', '198.19.1.10', '198.18.0.253'],
      ['staging/web-d', '198.19.1.11', '198.18.0.254'],
    ]);
    expect(v.egressIPOwners).toEqual({ '198.18.0.253': 'node-c', '198.18.0.254': 'node-a' });
    const numbers: [string, number][] = [];
    const walk = (x: unknown, path: string) => {
      if (typeof x === 'number') numbers.push([path, x]);
      else if (x && typeof x === 'object') for (const [k, c] of Object.entries(x)) walk(c, `${path}.${k}`);
    };
    walk(v, '');
    // what stays a number is a count, a port, a length or a generation: none is an address
    expect(numbers.filter(([p, n]) => n < 0 || n > 65535 || /ip|addr|cidr|mask/i.test(p.split('.').at(-1)!))).toEqual(
      [],
    );
    expect(parseYAML((await run('get', 'view', 'node-a', '-o', 'yaml')).out)).toEqual(v);
  });

  it('-o jsonpath on lists, objects, the view and version', async () => {
    expect((await run('get', 'eg', '-o', 'jsonpath={.items[*].status.egressIP}')).out).toBe(
      '198.18.0.253 198.18.0.254',
    );
    expect(
      (await run('get', 'po', '-o', 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\\n"}{end}'))
        .out,
    ).toBe('dev/tools\nprod/web-a\nprod/web-b\nstaging/web-c\nstaging/web-d\n');
    expect((await run('get', 'eg', 'egress-prod-web', '-o', 'jsonpath={.spec.externalIPPool}')).out).toBe(
      'egress-pool',
    );
    expect((await run('get', 'view', 'node-b', '-o', 'jsonpath={.node.transportIP}')).out).toBe('198.18.0.12');
    expect((await run('version', '-o', 'jsonpath={.node}')).out).toBe(process.version);
    expect(JSON.parse((await run('get', 'eg', '-o', 'jsonpath-as-json={.items[*].metadata.name}')).out)).toEqual([
      'egress-prod-web',
      'egress-staging-web',
    ]);
  });

  it('a format a listing cannot print, an unknown one or a bad flag is one line and status 2', async () => {
    const cases: [string[], RegExp][] = [
      [['get', 'eg', '-o', 'foo'], /unknown output format "foo"/],
      [['get', 'pipeline', '-o', 'wide'], /-o wide is not available for get pipeline/],
      [['get', 'events', '-o', 'name'], /-o name is not available for get events/],
      [['get', 'view', 'node-a', '-o', 'custom-columns=A:.x'], /-o custom-columns is not available for get view/],
      [['get', 'counters', 'node-a', '-o', 'wide'], /-o wide is not available for get counters/],
      [['version', '-o', 'name'], /-o name is not available for version/],
      [['get', 'eg', '-o', 'jsonpath={.items['], /jsonpath .*unclosed/],
      [['get', 'eg', '-o', 'custom-columns=NAME'], /is not HEADER:PATH/],
      [['get', 'po', '-n', 'prod', '-A'], /-n and -A/],
      [['get', 'po', '-l', 'app in web'], /-l "app in web": cannot read/],
      [['get', 'eg,bogus'], /unknown resource type "bogus"/],
      [['get', 'eg,eip', 'x'], /NAME\.\.\. goes with one KIND/],
      [['get', 'events', '-w'], /--watch lists objects/],
      [
        ['apply', '-f', REF, '--dry-run=maybe'],
        /--dry-run=maybe: use --dry-run=none, --dry-run=client, --dry-run=server/,
      ],
      [['completion', 'tcsh'], /unknown shell "tcsh"/],
    ];
    for (const [argv, re] of cases) {
      const r = await run(...argv);
      expect([r.code, r.out], argv.join(' ')).toEqual([2, '']);
      expect(r.err.split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.err, argv.join(' ')).toMatch(re);
    }
  });

  it('get pipeline -o json lists the datapath links the dot graph draws', async () => {
    const j = JSON.parse((await run('get', 'pipeline', '-o', 'json')).out) as {
      links: { from: string; exit: string | null; to: string }[];
    };
    const dot = (await run('get', 'pipeline')).out;
    for (const l of j.links.filter((x) => x.exit !== null && x.to !== 'consumed' && !x.to.startsWith('out:')))
      expect(dot).toContain(`"${l.from}" -> "${l.to}" [label="${l.exit}"]`);
    expect(j.links.length).toBeGreaterThan(10);
  });
});

describe('Node STATUS and EGRESS-IPS from the agents', () => {
  it('Ready when a running agent sees it, NotReady when its report is stale and no one does', async () => {
    agentReport('node-a', T0, ['node-a', 'node-b'], ['198.18.0.254']);
    agentReport('node-b', new Date(T0.getTime() - 1000), ['node-a', 'node-b'], ['198.18.0.253']);
    agentReport('node-c', new Date(T0.getTime() - 30_000), ['node-a', 'node-b', 'node-c'], ['198.18.0.253']);
    const r = await run('get', 'no', '-o', 'wide');
    golden('get-no-agents-wide', r.out);
    const j = JSON.parse((await run('get', 'no', 'node-c', '-o', 'json')).out) as {
      status: { conditions: { type: string; status: string; message: string }[] };
    };
    expect(j.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'False' });
    expect(j.status.conditions[0]!.message).toMatch(/last report is 30 s old/);
  });

  it("describe egress shows the hosting agent's SNAT use of its IP", async () => {
    agentReport(
      'node-c',
      T0,
      ['node-a', 'node-b', 'node-c'],
      ['198.18.0.253'],
      [{ natIp: '198.18.0.253', connections: { tcp: 3, udp: 1 }, maxFullness: 0.0001 }],
    );
    const r = await run('describe', 'eg', 'egress-prod-web');
    expect(r.out).toContain('SNAT:\n  198.18.0.253 on node-c: connections tcp 3, udp 1; fullest port range 0.0% used');
  });
});

describe('apply and delete: --dry-run modes, -R', () => {
  it('--dry-run=client reads no store; --dry-run (server) compares with it; neither writes', async () => {
    const before = readFileSync(join(dir, 'objects.json'), 'utf8');
    const s = await run('apply', '-f', REF, '--dry-run=server');
    expect(s.out.split('\n')[0]).toBe('agentconfig.egress-engine/default unchanged (server dry run)');
    expect((await run('apply', '-f', REF, '--dry-run')).out).toBe(s.out);
    const c = await run('apply', '-f', REF, '--dry-run=client');
    expect(c.out.split('\n')[0]).toBe('agentconfig.egress-engine/default created (dry run)');
    expect((await run('delete', 'eg', 'egress-prod-web', '--dry-run=server')).out).toBe(
      'egress.crd.antrea.io "egress-prod-web" deleted (server dry run)',
    );
    expect((await run('delete', 'eg', 'nosuch', '--dry-run=client')).out).toBe(
      'egress.crd.antrea.io "nosuch" deleted (dry run)',
    );
    expect(readFileSync(join(dir, 'objects.json'), 'utf8')).toBe(before);
    const fresh = join(tmp(), 'never');
    const c2 = await runMain(['apply', '-f', REF, '--dry-run=client', '--state-dir', fresh]);
    expect([c2.code, c2.out.split('\n')[0]]).toEqual([0, 'agentconfig.egress-engine/default created (dry run)']);
    expect(existsSync(fresh)).toBe(false);
    expect((await run('apply', '-f', REF, '--dry-run=none')).out.split('\n')[0]).toBe(
      'agentconfig.egress-engine/default unchanged',
    );
  });

  it('-R takes the files of subdirectories too', async () => {
    const m = tmp();
    mkdirSync(join(m, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(m, 'a.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n');
    writeFileSync(join(m, 'sub', 'deeper', 'b.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-b\n');
    expect((await run('apply', '-f', m, '--dry-run')).out).toBe('namespace/team-a created (server dry run)');
    expect((await run('apply', '-f', m, '-R')).out.split('\n')).toEqual([
      'namespace/team-a created',
      'namespace/team-b created',
    ]);
    expect((await run('delete', '-f', m, '--recursive')).out.split('\n')).toEqual([
      'namespace "team-a" deleted',
      'namespace "team-b" deleted',
    ]);
  });
});

describe('egress get --watch (child process)', () => {
  it('prints the listing, then a row for an Egress created and for one deleted; SIGTERM ends it with 0', async () => {
    vi.useRealTimers();
    const child = spawn(process.execPath, [BIN, 'get', 'eg', '-w', '--state-dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const until = async (what: () => boolean, label: string) => {
      const t = Date.now();
      while (!what()) {
        if (Date.now() - t > 20_000) throw new Error(`timed out waiting for ${label}; got:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      await until(() => out.split('\n').length >= 4, 'the listing');
      expect(
        out
          .split('\n')
          .slice(0, 3)
          .map((l) => l.split(/\s+/)[0]),
      ).toEqual(['NAME', 'egress-prod-web', 'egress-staging-web']);
      const m = join(tmp(), 'eg.yaml');
      writeFileSync(
        m,
        'apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata:\n  name: egress-new\nspec:\n  appliedTo:\n    podSelector:\n      matchLabels:\n        app: none\n  egressIP: 198.18.0.11\n',
      );
      expect(spawnSync(process.execPath, [BIN, 'apply', '-f', m, '--state-dir', dir]).status).toBe(0);
      await until(() => /\negress-new\s+198\.18\.0\.11\s+\d+s\s+node-a\n/.test(out), 'the new Egress');
      const n = out.split('\n').length;
      expect(spawnSync(process.execPath, [BIN, 'delete', 'eg', 'egress-new', '--state-dir', dir]).status).toBe(0);
      await until(() => out.split('\n').length > n, 'the deletion');
      expect(out.split('\n').at(-2)).toMatch(/^egress-new\s+198\.18\.0\.11/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);
});

describe('egress version and completion', () => {
  it('version prints the package version, the commit of this checkout and Node.js', async () => {
    const v = JSON.parse((await run('version', '-o', 'json')).out) as Record<string, string>;
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(v['version']).toBe(pkg.version);
    expect(v['node']).toBe(process.version);
    const git = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
    if (git.status === 0) expect(v['commit']).toBe(git.stdout.trim());
    expect((await run('version')).out.split('\n')[0]).toBe(`egress-engine ${pkg.version}`);
  });

  it('bash loads the completion script and completes commands, kinds, -o values and object names', () => {
    const sh = (words: string) =>
      spawnSync(
        'bash',
        [
          '-c',
          `egress() { node ${BIN} "$@"; }
source <(egress completion bash) && complete -p egress
COMP_WORDS=(${words}); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _egress; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8', env: { ...process.env, EGRESS_STATE_DIR: dir } },
      );
    const top = sh('egress de ""'.replace(' ""', ''));
    expect(top.status, top.stderr).toBe(0);
    expect(top.stdout.split('\n')[0]).toBe('complete -F _egress egress');
    expect(top.stdout.split('\n')[1]).toBe('demo delete describe');
    expect(sh('egress get e').stdout.split('\n')[1]).toBe('egress eg externalippool eip externalhosts events');
    expect(sh('egress get eg -o j').stdout.split('\n')[1]).toBe('json jsonpath=');
    expect(sh('egress describe eg egress-').stdout.split('\n')[1]).toBe('egress-prod-web egress-staging-web');
    expect(sh('egress get --no').stdout.split('\n')[1]).toBe('--no-headers');
  });

  it("the completion lists are the command index's commands and every flag of each command's --help", async () => {
    const { commands } = await import('../../cli/commands/index.js');
    const { COMPLETION_COMMANDS } = await import('../../cli/completion.js');
    expect(Object.keys(COMPLETION_COMMANDS).sort()).toEqual(commands.map((c) => c.name).sort());
    for (const e of commands) {
      const usage = (await e.load()).usage;
      const inHelp = new Set([...usage.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]));
      inHelp.delete('--help');
      const listed = new Set(COMPLETION_COMMANDS[e.name]!.flags.map((f) => f.replace(/=.*/, '')));
      expect([...inHelp].filter((f) => !listed.has(f)).sort(), e.name).toEqual([]);
      expect([...listed].filter((f) => !inHelp.has(f)).sort(), e.name).toEqual([]);
    }
  });

  for (const shell of ['zsh', 'fish'])
    it(`${shell} loads its completion script`, (ctx) => {
      const which = spawnSync('sh', ['-c', `command -v ${shell}`]);
      if (which.status !== 0) return ctx.skip(`${shell} is not installed`);
      const script = spawnSync(process.execPath, [BIN, 'completion', shell], { encoding: 'utf8' }).stdout;
      const file = join(tmp(), `egress.${shell}`);
      writeFileSync(file, script);
      const r =
        shell === 'zsh'
          ? spawnSync('zsh', ['-c', `source ${file} && (( $+functions[_egress] )) && echo ok`], { encoding: 'utf8' })
          : spawnSync('fish', ['-c', `source ${file}; and complete -c egress | grep -c describe`], {
              encoding: 'utf8',
            });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).not.toBe('');
    });
});
