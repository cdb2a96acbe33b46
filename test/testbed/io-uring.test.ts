/**
 * `egress agent --io uring` on real devices (root): two agents whose pod TUNs and uplink TAPs move packets through
 * io_uring, on one segment (a bridge in a namespace this test creates), a pod on each. UDP echo (Python) between
 * the pods crosses the Geneve tunnel both ways, every datagram answered; the uplinks count what they moved with no
 * errors; on SIGTERM each agent removes its devices (the rings let go of them). Run under
 * `flock /tmp/egr-root.lock`.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonAvailable, netdev, uringBuilt } from '../../tun/index.js';
import { PYTHON } from '../support/scapy.js';
import { AgentBed, isRoot, podNs, referenceWithDevPods, udpEcho, until } from './helpers.js';

const SEG_NS = 'egr-iour-seg';
const BRIDGE = 'egriourbr';
const POD_A = 'dev/iour-a';
const POD_B = 'dev/iour-b';
const skip = !isRoot || !addonAvailable() || !uringBuilt();
if (isRoot && skip) console.warn('test/testbed/io-uring.test.ts skipped: the TUN/TAP addon has no io_uring backend');

/** The reference cluster's configuration, Nodes and Namespaces, and one pod of `dev` on node-a and node-b. */
const manifests = () =>
  referenceWithDevPods([
    { name: 'iour-a', node: 'node-a', ip: '198.19.1.31' },
    { name: 'iour-b', node: 'node-b', ip: '198.19.2.31' },
  ]);

/** Datagrams from `from`'s pod echoed back by `to`'s pod (at `toIp`), of `n` sent. */
const echo = (from: string, to: string, toIp: string, n = 3) => udpEcho(PYTHON, from, to, toIp, n, 'iour');

describe.skipIf(skip)('egress agent --io uring between real agents', () => {
  const bed = new AgentBed(SEG_NS, BRIDGE, 'egr-iour-');
  const ab = ['node-a', 'node-b'];
  const decap = (node: string) => bed.counters(node, 'geneve-decap');
  beforeAll(() => bed.setUp(manifests()), 900_000);
  afterAll(() => bed.tearDown());

  it('pod-to-pod UDP through the tunnel both ways, counted by the ports; SIGTERM removes the devices', async () => {
    bed.start('node-a', ['--io', 'uring']);
    bed.start('node-b', ['--io', 'uring']);
    await until(() => bed.up('node-a', ab) && bed.up('node-b', ab), `both agents up (logs: ${bed.allLogs()})`);
    expect(await echo(POD_A, POD_B, '198.19.2.31', 5)).toBe(5);
    expect(await echo(POD_B, POD_A, '198.19.1.31', 5)).toBe(5);
    await until(() => (decap('node-b')['to-pod'] ?? 0) >= 10 && (decap('node-a')['to-pod'] ?? 0) >= 10, 'counters');
    for (const node of ['node-a', 'node-b']) {
      const ports = bed.run(node)!.ports as Record<string, Record<string, number>>;
      const uplink = ports.uplink!;
      expect(uplink.rx, `${node} uplink rx`).toBeGreaterThanOrEqual(10);
      expect(uplink.tx, `${node} uplink tx`).toBeGreaterThanOrEqual(10);
      for (const [name, c] of Object.entries(ports))
        for (const k of ['rx-error', 'tx-error', 'rx-truncated', 'tx-drop-eagain'])
          expect(c[k] ?? 0, `${name} ${k}`).toBe(0);
    }
    for (const node of ['node-a', 'node-b']) {
      // The uplink's ring and the pod's: io_uring instances among the agent's fds.
      const pid = bed.agents.get(node)!.pid!;
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
      await bed.stop(node);
      expect(bed.agents.get(node)!.exitCode, bed.logs.get(node)).toBe(0);
    }
    const left = netdev.listLinks({ netns: SEG_NS }).filter((l) => l.ifname !== BRIDGE && l.ifname !== 'lo');
    expect(left.map((l) => l.ifname)).toEqual([]);
    for (const pod of [POD_A, POD_B]) expect(netdev.listNetns()).not.toContain(podNs(pod));
  }, 120000);
});
