/**
 * Tunnel authentication on real devices (root; docs/tunnel-auth.md): two `egress agent --tunnel-auth siphash`
 * processes on one segment (a bridge in a namespace this test creates), a pod on each. UDP echo (Python) between the
 * pods crosses the Geneve tunnel; tshark on the bridge sees the authentication option; the pods' TUNs have MTU 1426;
 * no packet is dropped for authentication. Then node-b restarts with `--tunnel-auth off`: traffic between them
 * stops, counted as drop-critical-option on node-b and drop-auth-missing on node-a. Run under
 * `flock /tmp/egr-root.lock`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netdev } from '../../tun/index.js';
import { PYTHON } from '../support/scapy.js';
import { findAll, hasTshark, tsharkPackets } from '../support/tshark.js';
import { BIN, ROOT, egress, isRoot, podNs, runFile, sh, testbedLock } from './helpers.js';

const SEG_NS = 'egr-tauth-seg';
const BRIDGE = 'egrtauthbr';
const POD_A = 'dev/tauth-a';
const POD_B = 'dev/tauth-b';

/** The reference cluster's configuration, Nodes and Namespaces, and one pod of `dev` on node-a and node-b. */
function manifests(): string {
  const text = readFileSync(join(ROOT, 'examples', 'reference', 'cluster.yaml'), 'utf8');
  const head = text.slice(0, text.indexOf('---\napiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool'));
  const pod = (name: string, node: string, ip: string) =>
    `---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: dev\nspec:\n  nodeName: ${node}\nstatus:\n  podIP: ${ip}\n`;
  return head + pod('tauth-a', 'node-a', '198.19.1.30') + pod('tauth-b', 'node-b', '198.19.2.30');
}

async function until<T>(f: () => T | null | undefined | false, what: string, ms = 30000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Python (no ping on the machine): a UDP echo server in `pod`'s namespace for `n` datagrams or 8 s. */
const ECHO = `import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7777)); s.settimeout(8)
try:
    for _ in range(int(sys.argv[1])):
        d, a = s.recvfrom(2048); s.sendto(d, a)
except socket.timeout:
    pass`;
const CLIENT = `import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); got = 0
for i in range(int(sys.argv[2])):
    s.sendto(b'tauth %d' % i, (sys.argv[1], 7777))
    try:
        got += s.recvfrom(2048)[0] == b'tauth %d' % i
    except socket.timeout:
        pass
print(got)`;

/** Datagrams from `from`'s pod echoed back by `to`'s pod (at `toIp`), of `n` sent. */
async function echo(from: string, to: string, toIp: string, n = 3): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', podNs(to), PYTHON, '-c', ECHO, String(n)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 700));
  const r = sh('ip', ['netns', 'exec', podNs(from), PYTHON, '-c', CLIENT, toIp, String(n)], 30_000);
  server.kill();
  return Number(r.stdout.trim() || '0');
}

describe.skipIf(!isRoot)('tunnel authentication between real agents', () => {
  let dir = '';
  const agents = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();

  const start = (node: string, mode: 'off' | 'siphash') => {
    const p = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--node',
        node,
        '--state-dir',
        dir,
        '--segment-netns',
        SEG_NS,
        '--bridge',
        BRIDGE,
        '--heartbeat-interval-ms',
        '100',
        '--dead-after-ms',
        '1000',
        '--tunnel-auth',
        mode,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    logs.set(node, '');
    p.stderr?.on('data', (d: Buffer) => logs.set(node, (logs.get(node)! + d.toString()).slice(-20000)));
    agents.set(node, p);
  };
  const stop = async (node: string) => {
    const p = agents.get(node)!;
    if (p.exitCode === null) {
      const done = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await done;
    }
  };
  const run = (node: string) => {
    try {
      return runFile(dir, node);
    } catch {
      return null;
    }
  };
  const bothAlive = (node: string) => {
    const r = run(node);
    return r && r.members?.join(',') === 'node-a,node-b' && r.pods?.length === 1 ? r : null;
  };
  const decap = (node: string): Record<string, number> => run(node)!.stages['geneve-decap'].counters;

  let unlock: (() => void) | undefined;
  beforeAll(async () => {
    unlock = await testbedLock(); // its agents would be another file's leftovers
    dir = mkdtempSync(join(tmpdir(), 'egr-tauth-'));
    netdev.deleteNetns(SEG_NS, { ifExists: true });
    netdev.addNetns(SEG_NS);
    netdev.addBridge(BRIDGE, { netns: SEG_NS });
    netdev.setUp(BRIDGE, { netns: SEG_NS });
    const a = egress(['apply', '-f', '-'], dir, manifests());
    if (a.status !== 0) throw new Error(`apply: ${a.stderr}`);
  }, 900_000);

  afterAll(async () => {
    for (const p of agents.values()) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    for (const p of agents.values()) if (p.exitCode === null) p.kill('SIGKILL');
    netdev.deleteNetns(SEG_NS, { ifExists: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
    unlock?.();
  });

  it('authenticated pod-to-pod traffic flows; the option is on the wire; a mode mismatch is counted drops', async () => {
    start('node-a', 'siphash');
    start('node-b', 'siphash');
    await until(() => bothAlive('node-a') && bothAlive('node-b'), `both agents up (logs: ${[...logs].join(' | ')})`);
    for (const pod of [POD_A, POD_B]) {
      const link = sh('ip', ['netns', 'exec', podNs(pod), 'ip', '-o', 'link', 'show', 'eth0']);
      expect(link.stdout).toMatch(/ mtu 1426 /);
    }

    // tshark on the bridge while the pods exchange datagrams
    const pcap = join(dir, 'segment.pcap');
    const cap = hasTshark()
      ? spawn(
          'ip',
          ['netns', 'exec', SEG_NS, 'tshark', '-i', BRIDGE, '-a', 'duration:6', '-f', 'udp port 6081', '-w', pcap],
          {
            stdio: 'ignore',
          },
        )
      : null;
    if (cap) await new Promise((r) => setTimeout(r, 2000));
    expect(await echo(POD_A, POD_B, '198.19.2.30')).toBe(3);
    expect(await echo(POD_B, POD_A, '198.19.1.30')).toBe(3);
    if (cap) {
      await new Promise((r) => cap.once('exit', r));
      const frames = tsharkPackets(pcap);
      expect(frames.length).toBeGreaterThanOrEqual(12); // 3 requests + 3 replies each way
      for (const f of frames) {
        expect(findAll(f, 'geneve.option.class')).toEqual(['0xfff0']);
        expect(findAll(f, 'geneve.flags.critical')).toEqual(['1']);
      }
    }
    await until(() => (decap('node-b')['to-pod'] ?? 0) >= 6 && (decap('node-a')['to-pod'] ?? 0) >= 6, 'counters');
    for (const node of ['node-a', 'node-b'])
      expect(Object.entries(decap(node)).filter(([k, n]) => k.startsWith('drop-auth') && n > 0)).toEqual([]);

    // node-b without authentication: nothing passes either way, and each receiver says why
    await stop('node-b');
    start('node-b', 'off');
    await until(() => bothAlive('node-a') && bothAlive('node-b'), 'node-b back');
    expect(await echo(POD_A, POD_B, '198.19.2.30', 2)).toBe(0);
    expect(await echo(POD_B, POD_A, '198.19.1.30', 2)).toBe(0);
    await until(
      () => (decap('node-b')['drop-critical-option'] ?? 0) >= 2 && (decap('node-a')['drop-auth-missing'] ?? 0) >= 2,
      `mismatch counters (a: ${JSON.stringify(decap('node-a'))}, b: ${JSON.stringify(decap('node-b'))})`,
      10000,
    );
  }, 120000);
});
