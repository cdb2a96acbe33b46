/** Helpers of the test-bed integration tests: the CLI as a child process, curl and arping in namespaces. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { netdev } from '../../tun/index.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin', 'egress.js');
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run `egress ARGS` (the built CLI) with a state directory. */
export function egress(args: readonly string[], stateDir?: string, input?: string): Run {
  const full = stateDir ? [...args, '--state-dir', stateDir] : [...args];
  const r = spawnSync(process.execPath, [BIN, ...full], {
    encoding: 'utf8',
    timeout: 120_000,
    ...(input !== undefined ? { input } : {}),
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Run `egress ARGS` as user nobody (no capabilities), with util-linux setpriv. */
export function egressAsNobody(args: readonly string[]): Run {
  return sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args]);
}

/** Apply YAML text to the test bed's store. */
export function apply(stateDir: string, yaml: string): void {
  const r = egress(['apply', '-f', '-'], stateDir, yaml);
  if (r.status !== 0) throw new Error(`egress apply failed: ${r.stderr}`);
}

export function sh(file: string, args: readonly string[], timeoutMs = 20_000): Run {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** crc32 of a string, as the project names namespaces (independent implementation). */
function crc32(s: string): number {
  let c = ~0;
  for (const b of Buffer.from(s)) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
export const podNs = (key: string) => `egr-${crc32(key).toString(16).padStart(8, '0')}`;
export const hostNs = (name: string) => `egr-h${crc32(name).toString(16).padStart(8, '0')}`;

/** `curl` in a namespace (`family`: `curl -4`/`-6`); the body or null. */
export function curlIn(ns: string, url: string, timeoutS = 2, family?: 4 | 6): string | null {
  const args = ['netns', 'exec', ns, 'curl', ...(family ? [`-${family}`] : []), '-s', '-m', String(timeoutS), url];
  const r = sh('ip', args, (timeoutS + 5) * 1000);
  return r.status === 0 ? r.stdout.trim() : null;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Poll `f` every `everyMs` until it returns a value equal to `want` or `timeoutMs` passes; returns the last value. */
export async function eventually<T>(f: () => T, want: T, timeoutMs = 5000, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = f();
  while (JSON.stringify(v) !== JSON.stringify(want) && Date.now() < end) {
    await sleep(everyMs);
    v = f();
  }
  return v;
}

/** MACs that answer ARP for `ip`, asked from namespace `ns` (iputils arping, `count` requests). */
export function arpResponders(ns: string, ip: string, count = 3): string[] {
  const r = sh('ip', ['netns', 'exec', ns, 'arping', '-c', String(count), '-w', String(count + 1), '-I', 'eth0', ip]);
  const macs = new Set<string>();
  for (const m of r.stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g)) macs.add(m[1]!.toLowerCase());
  return [...macs].sort();
}

/** The neighbour entry's MAC for `ip` in namespace `ns`, or null. */
export function neighMac(ns: string, ip: string): string | null {
  const r = sh('ip', ['netns', 'exec', ns, 'ip', 'neigh', 'show', ip]);
  return /lladdr (\S+)/.exec(r.stdout)?.[1] ?? null;
}

/** What the project may have left on the machine: namespaces and root links named egr…, agent processes. */
export function leftovers(): string[] {
  const out: string[] = [];
  for (const l of sh('ip', ['netns', 'list']).stdout.split('\n'))
    if (/^egr-(fab|etcd|h[0-9a-f]{8}|[0-9a-f]{8})(\s|$)/.test(l)) out.push(`netns ${l.split(' ')[0]}`);
  for (const l of sh('ip', ['-o', 'link']).stdout.split('\n')) {
    const m = /^\d+: (egr[^:@ ]*)/.exec(l);
    if (m) out.push(`link ${m[1]}`);
  }
  for (const l of sh('ps', ['-eo', 'pid,args']).stdout.split('\n'))
    if (l.includes('bin/egress.js agent') || l.includes('--name=egr-testbed')) out.push(`process ${l.trim()}`);
  return out;
}

/** The reference cluster without Pods and external hosts: Nodes, Namespaces, the pool, two Egresses. */
export function referenceWithoutPods(): string {
  const text = readFileSync(join(ROOT, 'examples', 'reference', 'cluster.yaml'), 'utf8');
  return text.slice(0, text.indexOf('---\napiVersion: v1\nkind: Pod'));
}

/** An agent's run file (what `egress get counters NODE -o json` prints). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON report the tests walk freely
export function runFile(stateDir: string, node: string): Record<string, any> {
  return JSON.parse(readFileSync(join(stateDir, 'run', `${node}.json`), 'utf8'));
}

/** The MAC the project gives a node (02:0e + its IPv4 address). */
export function nodeMac(ip: string): string {
  return (
    '02:0e:' +
    ip
      .split('.')
      .map((x) => Number(x).toString(16).padStart(2, '0'))
      .join(':')
  );
}

export function egressStatus(
  stateDir: string,
  name: string,
): { egressIP: string; egressNode: string; conditions: Array<Record<string, string>> } {
  const r = egress(['get', 'egress', name, '-o', 'json'], stateDir);
  if (r.status !== 0) throw new Error(r.stderr);
  const o = JSON.parse(r.stdout);
  return {
    egressIP: o.status?.egressIP ?? '',
    egressNode: o.status?.egressNode ?? '',
    conditions: o.status?.conditions ?? [],
  };
}

const TESTBED_LOCK = '/tmp/egr-testbed-tests.lock';

/**
 * Test files that build the test bed (namespace egr-fab is machine-wide) or check that nothing of the project is
 * left take this lock, so vitest's parallel files do not meet: a directory made atomically, holding the pid of its
 * holder (a holder that died leaves a lock the next taker removes). Returns the release function.
 */
export async function testbedLock(): Promise<() => void> {
  for (;;) {
    try {
      mkdirSync(TESTBED_LOCK);
      writeFileSync(join(TESTBED_LOCK, 'pid'), String(process.pid));
      return () => rmSync(TESTBED_LOCK, { recursive: true, force: true });
    } catch {
      let pid = 0;
      try {
        pid = Number(readFileSync(join(TESTBED_LOCK, 'pid'), 'utf8'));
      } catch {
        /* being written or removed */
      }
      if (pid > 1) {
        try {
          process.kill(pid, 0);
        } catch {
          rmSync(TESTBED_LOCK, { recursive: true, force: true }); // its holder died
          continue;
        }
      }
      await sleep(250);
    }
  }
}

/** Poll `f` (every 200 ms) until it gives a truthy value, which is returned; an error naming `what` after `ms`. */
export async function until<T>(f: () => T | null | undefined | false, what: string, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The reference cluster's configuration, Nodes and Namespaces (no pool, no Egress), and `pods` in `dev`. */
export function referenceWithDevPods(pods: ReadonlyArray<{ name: string; node: string; ip: string }>): string {
  const text = readFileSync(join(ROOT, 'examples', 'reference', 'cluster.yaml'), 'utf8');
  const head = text.slice(0, text.indexOf('---\napiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool'));
  return (
    head +
    pods
      .map(
        (p) =>
          `---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: ${p.name}\n  namespace: dev\nspec:\n  nodeName: ${p.node}\nstatus:\n  podIP: ${p.ip}\n`,
      )
      .join('')
  );
}

/** A UDP echo server on port 7777 for `n` datagrams or 8 s (Python: no ping on the machine). */
const UDP_ECHO = `import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7777)); s.settimeout(8)
try:
    for _ in range(int(sys.argv[1])):
        d, a = s.recvfrom(2048); s.sendto(d, a)
except socket.timeout:
    pass`;
/** Sends `argv[2]` datagrams tagged `argv[3]` to `argv[1]`:7777, prints how many came back unchanged. */
const UDP_CLIENT = `import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); got = 0
for i in range(int(sys.argv[2])):
    m = (sys.argv[3] + ' %d' % i).encode()
    s.sendto(m, (sys.argv[1], 7777))
    try:
        got += s.recvfrom(2048)[0] == m
    except socket.timeout:
        pass
print(got)`;

/**
 * Datagrams (each `tag N`) from the pod `from` echoed back by the pod `to` (at `toIp`): how many of `n` came back,
 * with `python` the interpreter to run in the pods' namespaces.
 */
export async function udpEcho(python: string, from: string, to: string, toIp: string, n: number, tag: string) {
  const server = spawn('ip', ['netns', 'exec', podNs(to), python, '-c', UDP_ECHO, String(n)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 700));
  const r = sh('ip', ['netns', 'exec', podNs(from), python, '-c', UDP_CLIENT, toIp, String(n), tag], 30_000);
  server.kill();
  return Number(r.stdout.trim() || '0');
}

/**
 * Agents of one state directory on a segment of their own: a bridge in a namespace the bed makes and removes, the
 * test-bed lock held from setUp to tearDown, each agent a child process (`egress agent`, 100 ms heartbeats, dead
 * after 1 s) whose stderr is kept (the last 20 kB) for failure messages.
 */
export class AgentBed {
  dir = '';
  readonly agents = new Map<string, ChildProcess>();
  readonly logs = new Map<string, string>();
  private unlock: (() => void) | undefined;

  constructor(
    readonly segNs: string,
    readonly bridge: string,
    private readonly tmpPrefix: string,
  ) {}

  /** Take the lock (other files' agents would be leftovers here), make the segment and the state dir, apply `yaml`. */
  async setUp(yaml: string): Promise<void> {
    this.unlock = await testbedLock();
    this.dir = mkdtempSync(join(tmpdir(), this.tmpPrefix));
    netdev.deleteNetns(this.segNs, { ifExists: true });
    netdev.addNetns(this.segNs);
    netdev.addBridge(this.bridge, { netns: this.segNs });
    netdev.setUp(this.bridge, { netns: this.segNs });
    const a = egress(['apply', '-f', '-'], this.dir, yaml);
    if (a.status !== 0) throw new Error(`apply: ${a.stderr}`);
  }

  start(node: string, extra: readonly string[] = []): ChildProcess {
    const args = ['agent', '--node', node, '--state-dir', this.dir, '--segment-netns', this.segNs];
    args.push('--bridge', this.bridge, '--heartbeat-interval-ms', '100', '--dead-after-ms', '1000', ...extra);
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.logs.set(node, '');
    p.stderr?.on('data', (d: Buffer) => this.logs.set(node, (this.logs.get(node)! + d.toString()).slice(-20000)));
    this.agents.set(node, p);
    return p;
  }

  /** SIGTERM `node`'s agent and wait for it to exit. */
  async stop(node: string): Promise<void> {
    const p = this.agents.get(node)!;
    if (p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await done;
  }

  /** `node`'s run file, or null while there is none (yet). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON report the tests walk freely
  run(node: string): Record<string, any> | null {
    try {
      return runFile(this.dir, node);
    } catch {
      return null;
    }
  }

  /** `node`'s run file once its agent sees `members` alive and has its `pods` pods; else null. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as run()
  up(node: string, members: readonly string[], pods = 1): Record<string, any> | null {
    const r = this.run(node);
    return r && r.members?.join(',') === members.join(',') && r.pods?.length === pods ? r : null;
  }

  /** One stage's counters in `node`'s run file. */
  counters(node: string, stage: string): Record<string, number> {
    return this.run(node)!.stages[stage].counters;
  }

  /** The logs of every agent, for a failure message. */
  allLogs(): string {
    return [...this.logs].join(' | ');
  }

  async tearDown(): Promise<void> {
    for (const p of this.agents.values()) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    for (const p of this.agents.values()) if (p.exitCode === null) p.kill('SIGKILL');
    netdev.deleteNetns(this.segNs, { ifExists: true });
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.unlock?.();
  }
}
