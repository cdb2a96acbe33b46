/**
 * Established connections survive failover on real devices (root; docs/conntrack-sync.md, issue 15): the test bed
 * with `--conn-sync`; prod/web-a on node-a (not an egress node) downloads 30 MB paced over about 5 s from showip
 * through 198.18.2.250; half-way its owner is frozen (SIGSTOP), then, in a second run, killed (SIGKILL), then
 * (a third node in the pool) stopped with SIGTERM, which hands the connections over before it leaves. The
 * download completes with the right sha256, tcpdump on showip sees no RST and one source IP:port for the whole
 * transfer. Last, a rolling restart: the agents of the egress nodes are restarted in turn (`egress testbed
 * restart`: SIGTERM, start again) during a slower download; the restarted owner gets its connections back from its
 * restart snapshot (run/<node>.conns). Then the owner is restarted while its standby is dead (SIGKILL): nothing but
 * its own snapshot can give it its connections back, and the download still completes intact. Each run logs the
 * longest silence of the client at showip (the failover gap as the connection saw it). Run under
 * `flock /tmp/egr-root.lock`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTshark } from '../support/tshark.js';
import {
  apply,
  curlIn,
  egress,
  egressStatus,
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

const MANIFESTS = join(ROOT, 'test/testbed/fixtures/cluster.yaml');
const SHOW_NS = hostNs('showip');
const EGRESS_IP = '198.18.2.250';
const SIZE = 30 * 1024 * 1024;
const RATE = 6 * 1024 * 1024;

function expectedSha(): string {
  const block = Buffer.alloc(256 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 7 + 3) & 0xff;
  const h = createHash('sha256');
  for (let sent = 0; sent < SIZE; sent += block.length)
    h.update(block.subarray(0, Math.min(block.length, SIZE - sent)));
  return h.digest('hex');
}

/** Run a command, resolving with its exit status and stdout. */
function run(file: string, args: string[]): { done: Promise<{ code: number | null; out: string }>; pid: number } {
  const p = spawn(file, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return { done: new Promise((r) => p.on('close', (code) => r({ code, out }))), pid: p.pid! };
}

describe.skipIf(!isRoot || !hasTshark())('connections survive failover (test bed, --conn-sync)', () => {
  const state = mkdtempSync(join(tmpdir(), 'egress-tbsync-'));
  let unlock = () => {};

  beforeAll(async () => {
    unlock = await testbedLock();
    expect(leftovers(), 'something of an earlier run is still there').toEqual([]);
    const r = egress(['testbed', 'up', '--manifests', MANIFESTS, '--quiet', '--conn-sync'], state);
    expect(r.status, r.stderr).toBe(0);
    apply(
      state,
      `apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {name: web}\nspec:\n  appliedTo:\n    podSelector: {matchLabels: {app: web}}\n  externalIPPool: pool-c\n`,
    );
    // pool-c's nodes: zone two (node-c); node-b joins it so the IP has a standby.
    apply(
      state,
      `apiVersion: v1\nkind: Node\nmetadata: {name: node-b, labels: {zone: two}}\nspec: {podCIDR: 198.19.22.0/24}\nstatus: {addresses: [{type: InternalIP, address: 198.18.2.12}]}\n`,
    );
    expect(await eventually(() => curlIn(podNs('prod/web-a'), 'http://198.18.2.100:8080/'), EGRESS_IP, 30_000)).toBe(
      EGRESS_IP,
    );
  }, 900_000);

  afterAll(async () => {
    try {
      egress(['testbed', 'down'], state);
      rmSync(state, { recursive: true, force: true });
      expect(leftovers()).toEqual([]);
    } finally {
      unlock();
    }
  });

  /**
   * The paced download from prod/web-a with tcpdump on showip, `during` run half-way; checks the sha256, one
   * source tuple (the egress IP), no RST. Returns the time it took and the source.
   */
  async function transfer(
    tag: string,
    rate: number,
    during: () => Promise<void>,
  ): Promise<{ ms: number; source: string; gapMs: number }> {
    const cap = join(state, `show-${tag}.pcap`);
    const dump = run('ip', [
      'netns',
      'exec',
      SHOW_NS,
      'tcpdump',
      '-i',
      'eth0',
      '-U',
      '-s',
      '96',
      '-w',
      cap,
      'tcp port 8080',
    ]);
    await sleep(1000);
    const t0 = performance.now();
    const dl = run('ip', [
      'netns',
      'exec',
      podNs('prod/web-a'),
      'bash',
      '-c',
      `curl -s -m 90 'http://198.18.2.100:8080/blob?size=${SIZE}&rate=${rate}' | sha256sum`,
    ]);
    await sleep(2500);
    await during();
    const r = await dl.done;
    const ms = performance.now() - t0;
    await sleep(500);
    process.kill(dump.pid, 'SIGINT');
    await dump.done;
    expect(r.out.split(' ')[0]).toBe(expectedSha());
    const pkts = sh('tshark', [
      '-r',
      cap,
      '-Y',
      'tcp.dstport==8080',
      '-T',
      'fields',
      '-e',
      'ip.src',
      '-e',
      'tcp.srcport',
    ]);
    const sources = new Set(pkts.stdout.split('\n').filter((l) => l));
    expect([...sources]).toHaveLength(1);
    expect([...sources][0]!.split('\t')[0]).toBe(EGRESS_IP);
    const rst = sh('tshark', ['-r', cap, '-Y', 'tcp.flags.reset==1', '-T', 'fields', '-e', 'frame.number']);
    expect(rst.stdout.trim()).toBe('');
    // The failover gap as the connection saw it: the longest silence of the client (through the egress IP) at
    // showip, from its first segment to its last (the takeover plus TCP's retransmission to resume). Reported only.
    const times = sh('tshark', ['-r', cap, '-Y', 'tcp.dstport==8080', '-T', 'fields', '-e', 'frame.time_relative'])
      .stdout.split('\n')
      .filter((l) => l)
      .map(Number);
    let gapMs = 0;
    for (let i = 1; i < times.length; i++) gapMs = Math.max(gapMs, (times[i]! - times[i - 1]!) * 1000);
    return { ms, source: [...sources][0]!.replace('\t', ':'), gapMs };
  }

  const agentPid = (node: string): number =>
    JSON.parse(egress(['testbed', 'status', '--json'], state).stdout).nodes.find(
      (n: { name: string }) => n.name === node,
    ).pid as number;

  async function download(fault: 'SIGSTOP' | 'SIGKILL' | 'SIGTERM', standbyOf?: string): Promise<void> {
    const owner = await eventually(() => egressStatus(state, 'web').egressNode, egressStatus(state, 'web').egressNode);
    expect(['node-b', 'node-c']).toContain(owner);
    const other = standbyOf ?? (owner === 'node-b' ? 'node-c' : 'node-b');
    // The owner names its standby in its report (`egress get counters`).
    expect(await eventually(() => runFile(state, owner)['sync']?.['standbys']?.[EGRESS_IP], other, 10_000)).toBe(other);
    let pid = 0;
    const { ms, source, gapMs } = await transfer(fault, RATE, async () => {
      pid = agentPid(owner);
      process.kill(pid, fault);
    }).finally(() => {
      if (fault === 'SIGSTOP' && pid) process.kill(pid, 'SIGCONT');
    });
    const newOwner = runFile(state, other);
    expect(newOwner['sync']['counters']['installed-on-takeover']).toBeGreaterThanOrEqual(1);
    console.log(
      `conn-sync ${fault}: 30 MB in ${(ms / 1000).toFixed(1)} s through ${EGRESS_IP} (${owner} → ${other}), one source ${source}, no RST; longest client silence ${gapMs.toFixed(0)} ms; installed on takeover ${newOwner['sync']['counters']['installed-on-takeover']} (load ${loadavg()[0]!.toFixed(1)})`,
    );
  }

  it('the owner frozen half-way: the download completes intact, one source tuple, no RST', async () => {
    await download('SIGSTOP');
    // The resumed owner takes the IP back (with the connections the interim owner handed over).
    await sleep(3000);
  }, 120_000);

  it('the owner killed half-way: the download completes intact, one source tuple, no RST', async () => {
    await download('SIGKILL');
  }, 120_000);

  it('the owner stopped (SIGTERM) half-way: it hands its connections over; the download completes intact', async () => {
    // node-b is gone; node-a joins pool-c so the IP has a standby again (the pod's node: its SNAT becomes local).
    apply(
      state,
      `apiVersion: v1\nkind: Node\nmetadata: {name: node-a, labels: {zone: two}}\nspec: {podCIDR: 198.19.21.0/24}\nstatus: {addresses: [{type: InternalIP, address: 198.18.2.11}]}\n`,
    );
    await download('SIGTERM', 'node-a');
  }, 120_000);
  it("rolling restart: each egress node's agent stopped (SIGTERM) and started again in turn during a download: completes intact", async () => {
    // The agents the earlier tests stopped come back first. node-a (the pod's node) leaves pool-c again: its agent
    // is not restarted here, since a stopping agent deletes the pod namespaces it created (the pod's socket with
    // them), which a restart of a real node's agent does not do.
    for (const n of ['node-a', 'node-b', 'node-c']) {
      const st = JSON.parse(egress(['testbed', 'status', '--json'], state).stdout).nodes.find(
        (x: { name: string }) => x.name === n,
      );
      if (st.agent !== 'running') expect(egress(['testbed', 'restart', n], state).status).toBe(0);
    }
    apply(
      state,
      `apiVersion: v1\nkind: Node\nmetadata: {name: node-a, labels: {zone: one}}\nspec: {podCIDR: 198.19.21.0/24}\nstatus: {addresses: [{type: InternalIP, address: 198.18.2.11}]}\n`,
    );
    const settled = await eventually(
      () => {
        const o = egressStatus(state, 'web').egressNode;
        return (o === 'node-b' || o === 'node-c') && runFile(state, o)['sync']?.['standbys']?.[EGRESS_IP]
          ? 'yes'
          : null;
      },
      'yes',
      30_000,
    );
    expect(settled).toBe('yes');
    await sleep(2000);
    const loaded: Record<string, number> = {};
    const order: string[] = [];
    const { ms, source, gapMs } = await transfer('rolling', RATE / 3, async () => {
      // The owner first, then the other one (by then the owner again or its standby).
      const first = egressStatus(state, 'web').egressNode!;
      for (const n of [first, first === 'node-b' ? 'node-c' : 'node-b']) {
        const r = egress(['testbed', 'restart', n], state);
        expect(r.status, r.stderr).toBe(0);
        order.push(n);
        await sleep(2500);
        loaded[n] = runFile(state, n)['sync']?.['counters']?.['snapshot-loaded'] ?? 0;
      }
    });
    // The owner left its connections in its snapshot and got them back before it reclaimed the IP.
    expect(loaded[order[0]!]).toBeGreaterThanOrEqual(1);
    console.log(
      `conn-sync rolling restart (${order.join(', ')}): 30 MB in ${(ms / 1000).toFixed(1)} s, one source ${source}, no RST; longest client silence ${gapMs.toFixed(0)} ms; snapshot-loaded ${JSON.stringify(loaded)} (load ${loadavg()[0]!.toFixed(1)})`,
    );
  }, 180_000);

  it('the owner restarted while its standby is dead: its connections come back from its own snapshot; the download completes intact', async () => {
    const owner = await eventually(
      () => {
        const o = egressStatus(state, 'web').egressNode;
        return o === 'node-b' || o === 'node-c' ? o : null;
      },
      egressStatus(state, 'web').egressNode,
      30_000,
    );
    expect(['node-b', 'node-c']).toContain(owner);
    const standby = owner === 'node-b' ? 'node-c' : 'node-b';
    // The standby dies (SIGKILL: no handover, no snapshot of its own); node-a is not in pool-c, so the IP is left
    // with no standby: the restarted owner has nobody to get its connections from but its snapshot.
    process.kill(agentPid(standby), 'SIGKILL');
    expect(await eventually(() => runFile(state, owner!)['sync']?.['standbys']?.[EGRESS_IP], '', 15_000)).toBe('');
    const { ms, source, gapMs } = await transfer('no-standby', RATE, async () => {
      const r = egress(['testbed', 'restart', owner!], state);
      expect(r.status, r.stderr).toBe(0);
    });
    const c = runFile(state, owner!)['sync']['counters'];
    expect(egressStatus(state, 'web').egressNode).toBe(owner);
    expect(c['snapshot-loaded']).toBeGreaterThanOrEqual(1);
    // nothing came from a peer: the restarted agent's connections are the snapshot's
    expect(c['messages-received']).toBe(0);
    expect(c['installed-on-takeover']).toBe(0);
    console.log(
      `conn-sync restart with the standby dead (${owner}; ${standby} killed): 30 MB in ${(ms / 1000).toFixed(1)} s, one source ${source}, no RST; longest client silence ${gapMs.toFixed(0)} ms; snapshot-loaded ${c['snapshot-loaded']} (load ${loadavg()[0]!.toFixed(1)})`,
    );
  }, 180_000);
});
