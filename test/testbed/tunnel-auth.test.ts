/**
 * Tunnel authentication on real devices (root; docs/tunnel-auth.md): two `egress agent --tunnel-auth siphash`
 * processes on one segment (a bridge in a namespace this test creates), a pod on each. UDP echo (Python) between the
 * pods crosses the Geneve tunnel; tshark on the bridge sees the authentication option; the pods' TUNs have MTU 1426;
 * no packet is dropped for authentication. Then node-b restarts with `--tunnel-auth off`: traffic between them
 * stops, counted as drop-critical-option on node-b and drop-auth-missing on node-a. Run under
 * `flock /tmp/egr-root.lock`.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON } from '../support/scapy.js';
import { findAll, hasTshark, tsharkPackets } from '../support/tshark.js';
import { AgentBed, isRoot, podNs, referenceWithDevPods, sh, udpEcho, until } from './helpers.js';

const SEG_NS = 'egr-tauth-seg';
const BRIDGE = 'egrtauthbr';
const POD_A = 'dev/tauth-a';
const POD_B = 'dev/tauth-b';

/** The reference cluster's configuration, Nodes and Namespaces, and one pod of `dev` on node-a and node-b. */
const manifests = () =>
  referenceWithDevPods([
    { name: 'tauth-a', node: 'node-a', ip: '198.19.1.30' },
    { name: 'tauth-b', node: 'node-b', ip: '198.19.2.30' },
  ]);

/** Datagrams from `from`'s pod echoed back by `to`'s pod (at `toIp`), of `n` sent. */
const echo = (from: string, to: string, toIp: string, n = 3) => udpEcho(PYTHON, from, to, toIp, n, 'tauth');

describe.skipIf(!isRoot)('tunnel authentication between real agents', () => {
  const bed = new AgentBed(SEG_NS, BRIDGE, 'egr-tauth-');
  const ab = ['node-a', 'node-b'];
  const start = (node: string, mode: 'off' | 'siphash') => bed.start(node, ['--tunnel-auth', mode]);
  const bothUp = () => bed.up('node-a', ab) && bed.up('node-b', ab);
  const decap = (node: string) => bed.counters(node, 'geneve-decap');
  beforeAll(() => bed.setUp(manifests()), 900_000);
  afterAll(() => bed.tearDown());

  it('authenticated pod-to-pod traffic flows; the option is on the wire; a mode mismatch is counted drops', async () => {
    start('node-a', 'siphash');
    start('node-b', 'siphash');
    await until(bothUp, `both agents up (logs: ${bed.allLogs()})`);
    for (const pod of [POD_A, POD_B]) {
      const link = sh('ip', ['netns', 'exec', podNs(pod), 'ip', '-o', 'link', 'show', 'eth0']);
      expect(link.stdout).toMatch(/ mtu 1426 /);
    }

    // tshark on the bridge while the pods exchange datagrams
    const pcap = join(bed.dir, 'segment.pcap');
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
    await bed.stop('node-b');
    start('node-b', 'off');
    await until(bothUp, 'node-b back');
    expect(await echo(POD_A, POD_B, '198.19.2.30', 2)).toBe(0);
    expect(await echo(POD_B, POD_A, '198.19.1.30', 2)).toBe(0);
    await until(
      () => (decap('node-b')['drop-critical-option'] ?? 0) >= 2 && (decap('node-a')['drop-auth-missing'] ?? 0) >= 2,
      `mismatch counters (a: ${JSON.stringify(decap('node-a'))}, b: ${JSON.stringify(decap('node-b'))})`,
      10000,
    );
  }, 120000);
});
