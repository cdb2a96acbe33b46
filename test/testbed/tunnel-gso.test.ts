/**
 * UDP-tunnel GSO on real devices (root; Linux 6.17+ for the GSO path): the test bed of
 * test/testbed/fixtures/cluster.yaml with every agent started with `--offload`, an Egress that sends pod web-b
 * (node-b) out through node-c's egress IP, so its TCP crosses the Geneve tunnel node-b ⇄ node-c. 50 MB go each
 * way between the pod and the external HTTP server (curl: an upload whose SHA-256 the server computes, and a
 * download checked here) and must arrive intact. With `--tunnel-gso auto` the agents' counters must show the
 * super-packets took the tunnel GSO path: node-b wrote Geneve super-packets whole and node-c read them whole
 * (upload), node-c read plain TCP super-packets from the segment and wrote Geneve super-packets whole, node-b
 * read them whole (download). On a
 * kernel that refuses tunnel GSO, and with `--tunnel-gso off`, the same transfers must arrive intact through
 * software segmentation (on such a kernel the uplinks' `tunnel-gso-fallback` counter is 1). UDP GSO sends
 * (UDP_SEGMENT) from the pod cross the tunnel the same way: every datagram must arrive. Run under
 * `flock /tmp/egr-root.lock`.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as testbed from '../../tun/testbed/index.js';
import { spawn } from 'node:child_process';
import {
  apply,
  curlIn,
  eventually,
  hostNs,
  isRoot,
  leftovers,
  podNs,
  ROOT,
  runFile,
  sh,
  sleep,
  testbedLock,
} from './helpers.js';

if (!isRoot) console.warn('test/testbed/tunnel-gso.test.ts: skipped: the test bed needs root');

const MANIFESTS = join(ROOT, 'test/testbed/fixtures/cluster.yaml');
const SERVER = 'http://198.18.2.100:8080';
const EGRESS_IP = '198.18.2.250';
const SIZE = 50 * 1024 * 1024;

const EGRESS = `
apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: {name: web}
spec:
  appliedTo:
    podSelector: {matchLabels: {app: web}}
  externalIPPool: pool-c
`;

/** The uplink counters of a node's run file. */
function uplink(state: string, node: string): Record<string, number> {
  return runFile(state, node)['ports']['uplink'];
}

describe.skipIf(!isRoot).each([
  ['auto', ['--offload']],
  ['off', ['--offload', '--tunnel-gso', 'off']],
])('Geneve tunnel GSO between real agents (--offload, --tunnel-gso %s)', (mode, agentArgs) => {
  const state = mkdtempSync(join(tmpdir(), 'egress-tgso-'));
  const upload = join(state, 'upload.bin');
  let unlock = () => {};

  beforeAll(async () => {
    unlock = await testbedLock();
    expect(leftovers(), 'something of an earlier run is still there').toEqual([]);
    await testbed.up({ manifests: MANIFESTS, stateDir: state, agentArgs, log: () => {} });
    apply(state, EGRESS);
    expect(await eventually(() => curlIn(podNs('prod/web-b'), `${SERVER}/`), EGRESS_IP, 20_000)).toBe(EGRESS_IP);
  }, 120_000);

  afterAll(async () => {
    try {
      await testbed.down({ stateDir: state, log: () => {} });
      rmSync(state, { recursive: true, force: true });
      expect(leftovers()).toEqual([]);
    } finally {
      unlock();
    }
  }, 60_000);

  /** Waits for run files written after now; returns both nodes' uplink counters. */
  async function counters(): Promise<{ b: Record<string, number>; c: Record<string, number> }> {
    const after = Date.now();
    for (const n of ['node-b', 'node-c'])
      await eventually(() => Date.parse(runFile(state, n)['updated']) > after, true, 30_000);
    return { b: uplink(state, 'node-b'), c: uplink(state, 'node-c') };
  }

  it('tells whether the kernel took tunnel GSO', async () => {
    const { b, c } = await counters();
    const kernel = sh('uname', ['-r']).stdout.trim();
    console.log(
      `tunnel GSO on ${kernel}: fallback node-b ${b['tunnel-gso-fallback']}, node-c ${c['tunnel-gso-fallback']}`,
    );
    expect(b['tunnel-gso-fallback']).toBe(c['tunnel-gso-fallback']);
    if (mode === 'off') expect(b['tunnel-gso-fallback']).toBe(0); // not asked for, so not refused
  });

  /** Tunnel GSO in use: asked for and taken by the kernel. */
  const gso = (x: Record<string, number>) => mode === 'auto' && x['tunnel-gso-fallback'] === 0;

  it('a 50 MB upload from the pod through the tunnel arrives intact; Geneve super-packets went whole', async () => {
    const before = await counters();
    const block = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i++) block[i] = (i * 13 + 5) & 0xff;
    writeFileSync(upload, block);
    const want = createHash('sha256').update(block).digest('hex');
    const r = sh(
      'ip',
      ['netns', 'exec', podNs('prod/web-b'), 'curl', '-s', '-m', '120', '-T', upload, `${SERVER}/sha256`],
      150_000,
    );
    expect(r.stdout.trim()).toBe(want);
    const { b, c } = await counters();
    const d = (x: Record<string, number>, y: Record<string, number>, k: string) => x[k]! - y[k]!;
    if (gso(b)) {
      expect(d(b, before.b, 'tx-gso-tunnel')).toBeGreaterThan(100); // node-b: one write per TSO read of the pod
      expect(d(c, before.c, 'rx-gso-tunnel')).toBeGreaterThan(100); // node-c: read whole, decapsulated, SNATed once
      expect(d(c, before.c, 'tx-gso')).toBeGreaterThan(100); // ... and written as TCP super-packets to the segment
    } else {
      expect(d(b, before.b, 'tx-gso-segments')).toBeGreaterThan(1000); // software segmentation, as before
      expect(d(b, before.b, 'tx-gso-tunnel') + d(c, before.c, 'rx-gso-tunnel')).toBe(0);
    }
    expect(d(b, before.b, 'tx-error') + d(c, before.c, 'tx-error')).toBe(0);
  });

  it('a 50 MB download to the pod through the tunnel arrives intact; the reverse direction went whole too', async () => {
    const before = await counters();
    const r = sh(
      'ip',
      ['netns', 'exec', podNs('prod/web-b'), 'bash', '-c', `curl -s -m 120 '${SERVER}/blob?size=${SIZE}' | sha256sum`],
      150_000,
    );
    const block = Buffer.alloc(256 * 1024);
    for (let i = 0; i < block.length; i++) block[i] = (i * 7 + 3) & 0xff;
    const h = createHash('sha256');
    for (let sent = 0; sent < SIZE; sent += block.length)
      h.update(block.subarray(0, Math.min(block.length, SIZE - sent)));
    expect(r.stdout.split(' ')[0]).toBe(h.digest('hex'));
    const { b, c } = await counters();
    const d = (x: Record<string, number>, y: Record<string, number>, k: string) => x[k]! - y[k]!;
    if (gso(c)) {
      // node-c: TCP super-packets of the server read whole from the segment, un-SNATed, written as Geneve super-packets
      expect(d(c, before.c, 'rx-gso') - d(c, before.c, 'rx-gso-tunnel')).toBeGreaterThan(100);
      expect(d(c, before.c, 'tx-gso-tunnel')).toBeGreaterThan(100);
      expect(d(b, before.b, 'rx-gso-tunnel')).toBeGreaterThan(100); // node-b: read whole, written whole to the pod
    } else {
      // the uplinks took no offloads: the segment's kernel cut the server's super-packets before node-c read them
      expect(d(c, before.c, 'rx-gso') + d(c, before.c, 'tx-gso-tunnel') + d(b, before.b, 'rx-gso-tunnel')).toBe(0);
    }
    expect(d(b, before.b, 'rx-bad-vnet') + d(c, before.c, 'rx-bad-vnet')).toBe(0);
  });

  it('UDP GSO sends from the pod (UDP_SEGMENT) through the tunnel: every datagram arrives', async () => {
    const before = await counters();
    // The external host counts datagrams of 1200 bytes whose bytes are right (the kernel drops bad checksums).
    const recv = spawn(
      'ip',
      [
        'netns',
        'exec',
        hostNs('showip'),
        '/usr/bin/python3',
        '-c',
        `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9999)); s.settimeout(3)
n = 0
try:
    while True:
        d, a = s.recvfrom(65535)
        n += len(d) == 1200 and d == bytes([d[0]]) * 1200
except socket.timeout:
    pass
print(n)`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    recv.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise((r) => recv.on('exit', r));
    await sleep(1000);
    const send = `import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(17, 103, 1200)  # UDP_SEGMENT
for i in range(20):
    s.sendto(bytes([i]) * 12000, ('198.18.2.100', 9999))
    time.sleep(0.02)  # the receiver's socket buffer holds about 100 of these datagrams`;
    expect(sh('ip', ['netns', 'exec', podNs('prod/web-b'), '/usr/bin/python3', '-c', send]).status).toBe(0);
    await done;
    expect(Number(out.trim())).toBe(200);
    const { b } = await counters();
    if (gso(b)) expect(b['tx-gso-tunnel']! - before.b['tx-gso-tunnel']!).toBeGreaterThanOrEqual(20);
    else expect(b['tx-gso-segments']! - before.b['tx-gso-segments']!).toBeGreaterThanOrEqual(200);
  });
});
