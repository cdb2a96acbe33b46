/**
 * Egress bandwidth on real devices (root; docs/semantics.md §4.g): the test bed with EgressTrafficShaping on, an
 * Egress for app=web with `bandwidth: {rate: 20M, burst: 10M}` hosted on node-c, pods on node-a and node-b (both
 * tunnel to node-c). iperf3 (a real server on an external host) measures what arrives: one pod's UDP and TCP at
 * 20 Mbit/s ± 10 %, two pods together share the 20 Mbit/s, and a rate changed live to 40M is followed. The
 * figures iperf3 reports are the receiver's (UDP payload; a 1200-byte datagram is 1242 bytes on the wire, so
 * 20 Mbit/s of frames is 19.3 Mbit/s of payload). Run under `flock /tmp/egr-root.lock`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply,
  egress,
  egressStatus,
  eventually,
  isRoot,
  leftovers,
  podNs,
  ROOT,
  runFile,
  sh,
  testbedLock,
} from './helpers.js';
import { PYTHON } from '../support/scapy.js';

const hasIperf = sh('sh', ['-c', 'command -v iperf3']).status === 0;
const SERVER = '198.18.2.100';

/** The integration cluster's nodes and pods, the gate on, an iperf3 server (ports 5201, 5202) as the external host. */
function manifests(): string {
  const text = readFileSync(join(ROOT, 'test/testbed/fixtures/cluster.yaml'), 'utf8');
  const docs = text.split('\n---\n').filter((d) => !/kind: ExternalHost/.test(d));
  docs[0] = docs[0]!.replace(
    'kind: AgentConfig\nmetadata: { name: default }\n',
    (m) => `${m}featureGates: { EgressTrafficShaping: true }\n`,
  );
  docs.push(`apiVersion: egress-engine/v1alpha1
kind: ExternalHost
metadata: { name: iperf }
spec:
  address: ${SERVER}/24
  command: [/bin/sh, -c, 'iperf3 -s -p 5201 & iperf3 -s -p 5202 & wait']`);
  return docs.join('\n---\n') + '\n';
}

const egressYaml = (rate: string) => `apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: { name: web }
spec:
  appliedTo: { podSelector: { matchLabels: { app: web } } }
  externalIPPool: pool-c
  bandwidth: { rate: ${rate}, burst: 10M }
`;

/** Whether a TCP connect from `pod` to the server's `port` succeeds (Python: no nc on the machine). */
function connects(pod: string, port: number): boolean {
  const py = `import socket; socket.create_connection(('${SERVER}', ${port}), timeout=1).close()`;
  return sh('ip', ['netns', 'exec', podNs(pod), PYTHON, '-c', py], 10_000).status === 0;
}

interface Iperf {
  /** What the server received, Mbit/s (`end.sum_received`; `end.sum` is the sender's side for UDP). */
  mbps: number;
}

/** iperf3 from `pod` to the server's `port`: 4 s, the first omitted (the bucket's burst); UDP offered at 60M. */
function iperf(pod: string, port: number, udp: boolean): Promise<Iperf> {
  const args = ['netns', 'exec', podNs(pod), 'iperf3', '-c', SERVER, '-p', String(port), '-t', '4', '-O', '1', '-J'];
  if (udp) args.push('-u', '-b', '60M', '-l', '1200');
  return new Promise((resolve, reject) => {
    const p = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', () => {
      clearTimeout(timer);
      try {
        const j = JSON.parse(out) as {
          error?: string;
          end: { sum_received?: { bits_per_second: number } };
        };
        if (j.error) throw new Error(j.error);
        const bps = j.end.sum_received!.bits_per_second;
        console.log(`iperf3 ${udp ? 'UDP' : 'TCP'} from ${pod}: ${(bps / 1e6).toFixed(1)} Mbit/s received`);
        resolve({ mbps: bps / 1e6 });
      } catch (e) {
        reject(new Error(`iperf3 from ${pod}: ${(e as Error).message}: ${out.slice(0, 300)}`));
      }
    });
  });
}

describe.skipIf(!isRoot || !hasIperf)(
  `Egress bandwidth on the test bed${!hasIperf ? ' (skipped: no iperf3)' : ''}`,
  () => {
    const state = mkdtempSync(join(tmpdir(), 'egr-tb-bw-'));
    const file = join(state, 'cluster.yaml');
    let unlock = () => {};

    beforeAll(async () => {
      unlock = await testbedLock();
      expect(leftovers(), 'something of an earlier run is still there').toEqual([]);
      writeFileSync(file, manifests());
      const r = egress(['testbed', 'up', '--manifests', file, '--quiet'], state);
      expect(r.status, r.stderr).toBe(0);
      apply(state, egressYaml('20M'));
      expect(await eventually(() => egressStatus(state, 'web').egressNode, 'node-c', 20_000)).toBe('node-c');
      // the servers listen and the tunnel path is up once a pod's TCP connect to them succeeds
      for (const pod of ['prod/web-a', 'prod/web-b'])
        expect(await eventually(() => connects(pod, 5201), true, 20_000), pod).toBe(true);
    }, 900_000);

    afterAll(() => {
      try {
        egress(['testbed', 'down'], state);
        rmSync(state, { recursive: true, force: true });
        expect(leftovers()).toEqual([]);
      } finally {
        unlock();
      }
    });

    const policed = () =>
      Number(runFile(state, 'node-c')['stages']?.['snat']?.['counters']?.['drop-rate-limited'] ?? 0);

    it('one pod on another node, UDP offered at 60M: 20 Mbit/s of frames arrive (± 10 %), the rest is counted', async () => {
      const before = policed();
      const r = await iperf('prod/web-a', 5201, true);
      expect(r.mbps).toBeGreaterThan(19.3 * 0.9);
      expect(r.mbps).toBeLessThan(19.3 * 1.1);
      expect(await eventually(() => policed() > before, true, 10_000)).toBe(true);
    }, 60_000);

    it('one pod, TCP: the connection settles at the rate (± 10 %)', async () => {
      const r = await iperf('prod/web-a', 5201, false);
      expect(r.mbps).toBeGreaterThan(20 * 0.9 * 0.95); // TCP payload: 1448 of 1514 bytes on the wire
      expect(r.mbps).toBeLessThan(20 * 1.1);
    }, 60_000);

    it('two pods on two nodes share the one limit: together 20 Mbit/s (± 10 %)', async () => {
      const [a, b] = await Promise.all([iperf('prod/web-a', 5201, true), iperf('prod/web-b', 5202, true)]);
      const sum = a.mbps + b.mbps;
      expect(sum).toBeGreaterThan(19.3 * 0.9);
      expect(sum).toBeLessThan(19.3 * 1.1);
      expect(Math.min(a.mbps, b.mbps)).toBeGreaterThan(2); // neither starved
    }, 60_000);

    it('the rate changed live to 40M: the next transfer gets 40 Mbit/s (± 10 %)', async () => {
      apply(state, egressYaml('40M'));
      await eventually(
        () => JSON.stringify(runFile(state, 'node-c')['meters'] ?? []).includes('"rateKbps":40000'),
        true,
        20_000,
      );
      const r = await iperf('prod/web-a', 5201, true);
      expect(r.mbps).toBeGreaterThan(38.6 * 0.9);
      expect(r.mbps).toBeLessThan(38.6 * 1.1);
    }, 60_000);
  },
);
