/**
 * `egress agent --io uring` on real devices (root): two agents whose pod TUNs and uplink TAPs move packets through
 * io_uring, on one segment (a bridge in a namespace this test creates), a pod on each. UDP echo (Python) between
 * the pods crosses the Geneve tunnel both ways, every datagram answered; the uplinks count what they moved with no
 * errors; on SIGTERM each agent removes its devices (the rings let go of them). Run under
 * `flock /tmp/egr-root.lock`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonAvailable, netdev, uringBuilt } from '../../tun/index.js';
import { PYTHON } from '../support/scapy.js';
import { BIN, ROOT, egress, isRoot, podNs, runFile, sh, testbedLock } from './helpers.js';

const SEG_NS = 'egr-iour-seg';
const BRIDGE = 'egriourbr';
const POD_A = 'dev/iour-a';
const POD_B = 'dev/iour-b';
const skip = !isRoot || !addonAvailable() || !uringBuilt();
if (isRoot && skip) console.warn('test/testbed/io-uring.test.ts skipped: the TUN/TAP addon has no io_uring backend');

/** The reference cluster's configuration, Nodes and Namespaces, and one pod of `dev` on node-a and node-b. */
function manifests(): string {
  const text = readFileSync(join(ROOT, 'examples', 'reference', 'cluster.yaml'), 'utf8');
  const head = text.slice(0, text.indexOf('---\napiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool'));
  const pod = (name: string, node: string, ip: string) =>
    `---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: dev\nspec:\n  nodeName: ${node}\nstatus:\n  podIP: ${ip}\n`;
  return head + pod('iour-a', 'node-a', '198.19.1.31') + pod('iour-b', 'node-b', '198.19.2.31');
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
    s.sendto(b'iour %d' % i, (sys.argv[1], 7777))
    try:
        got += s.recvfrom(2048)[0] == b'iour %d' % i
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

describe.skipIf(skip)('egress agent --io uring between real agents', () => {
  let dir = '';
  const agents = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();

  const start = (node: string) => {
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
        '--io',
        'uring',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    logs.set(node, '');
    p.stderr?.on('data', (d: Buffer) => logs.set(node, (logs.get(node)! + d.toString()).slice(-20000)));
    agents.set(node, p);
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
    dir = mkdtempSync(join(tmpdir(), 'egr-iour-'));
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

  it('pod-to-pod UDP through the tunnel both ways, counted by the ports; SIGTERM removes the devices', async () => {
    start('node-a');
    start('node-b');
    await until(() => bothAlive('node-a') && bothAlive('node-b'), `both agents up (logs: ${[...logs].join(' | ')})`);
    expect(await echo(POD_A, POD_B, '198.19.2.31', 5)).toBe(5);
    expect(await echo(POD_B, POD_A, '198.19.1.31', 5)).toBe(5);
    await until(() => (decap('node-b')['to-pod'] ?? 0) >= 10 && (decap('node-a')['to-pod'] ?? 0) >= 10, 'counters');
    for (const node of ['node-a', 'node-b']) {
      const ports = run(node)!.ports as Record<string, Record<string, number>>;
      const uplink = ports.uplink!;
      expect(uplink.rx, `${node} uplink rx`).toBeGreaterThanOrEqual(10);
      expect(uplink.tx, `${node} uplink tx`).toBeGreaterThanOrEqual(10);
      for (const [name, c] of Object.entries(ports))
        for (const k of ['rx-error', 'tx-error', 'rx-truncated', 'tx-drop-eagain'])
          expect(c[k] ?? 0, `${name} ${k}`).toBe(0);
    }
    for (const node of ['node-a', 'node-b']) {
      // The uplink's ring and the pod's: io_uring instances among the agent's fds.
      const pid = agents.get(node)!.pid!;
      const rings = readdirSync(`/proc/${pid}/fd`).filter((f) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${f}`) === 'anon_inode:[io_uring]';
        } catch {
          return false;
        }
      });
      expect(rings.length, `${node}: rings`).toBeGreaterThanOrEqual(2);
    }
    for (const node of ['node-a', 'node-b']) {
      const p = agents.get(node)!;
      const done = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await done;
      expect(p.exitCode, logs.get(node)).toBe(0);
    }
    const left = netdev.listLinks({ netns: SEG_NS }).filter((l) => l.ifname !== BRIDGE && l.ifname !== 'lo');
    expect(left.map((l) => l.ifname)).toEqual([]);
    for (const pod of [POD_A, POD_B]) expect(netdev.listNetns()).not.toContain(podNs(pod));
  }, 120000);
});
