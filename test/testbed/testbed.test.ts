/**
 * Integration tests on real devices (root): the test bed builds the cluster of test/testbed/fixtures/cluster.yaml
 * in network namespaces, real agents run it, real curl talks to a real HTTP server on an external host that
 * reports the client address it sees (Antrea's e2e `assertClientIP`), arping and `ip neigh` on the external
 * host show who answers ARP. Covers the Antrea e2e scenarios of docs/semantics.md §6 (issues 6 and 7). All in one
 * file: the test bed's namespaces are machine-wide, so these tests run one after the other.
 * After the suite no namespace, link or process of the project is left.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply,
  arpResponders,
  curlIn,
  egress,
  egressAsNobody,
  egressStatus,
  eventually,
  hostNs,
  isRoot,
  leftovers,
  neighMac,
  nodeMac,
  podNs,
  ROOT,
  runFile,
  sh,
  sleep,
  testbedLock,
} from './helpers.js';

if (!isRoot) console.warn('test/testbed: skipped: the test bed needs root (network namespaces, TUN/TAP)');

const MANIFESTS = join(ROOT, 'test/testbed/fixtures/cluster.yaml');
const SHOWIP = 'http://198.18.2.100:8080/';
const INTERNAL = 'http://198.18.2.101:8080/';
const NODE_IP = { 'node-a': '198.18.2.11', 'node-b': '198.18.2.12', 'node-c': '198.18.2.13' } as const;
const SHOW_NS = hostNs('showip');

const egressYaml = (name: string, pool: string, labels: Record<string, string>, ip?: string) => `
apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: {name: ${name}}
spec:
  appliedTo:
    podSelector: {matchLabels: ${JSON.stringify(labels)}}
  externalIPPool: ${pool}${ip ? `\n  egressIP: ${ip}` : ''}
`;

/** What showip sees for a pod (null: no answer). */
const seen = (pod: string, url = SHOWIP) => curlIn(podNs(pod), url);

describe.skipIf(!isRoot)('test bed on real devices', () => {
  const state = mkdtempSync(join(tmpdir(), 'egress-tb-'));

  let unlock = () => {};
  beforeAll(async () => {
    unlock = await testbedLock(); // test/testbed/etcd-agents.test.ts builds a test bed too
    expect(leftovers(), 'something of an earlier run is still there').toEqual([]);
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

  describe('refuses what it cannot build, before creating anything', () => {
    it.each([
      [
        'a duplicate pod IP',
        (y: string) => y.replace(/podIP: 198\.19\.22\.10/, 'podIP: 198.19.21.10'),
        /198\.19\.21\.10/,
      ],
      ['a pod on an unknown node', (y: string) => y.replace(/nodeName: node-c(\s*})/, 'nodeName: node-z$1'), /node-z/],
      ['a host outside the segment', (y: string) => y.replace('198.18.2.101/24', '198.18.3.101/24'), /198\.18\.3\.101/],
      [
        'a segment outside the benchmarking range',
        (y: string) =>
          y.replaceAll('198.18.2.', '10.1.2.').replace('transportCIDR: 198.18.2.0/24', 'transportCIDR: 10.1.2.0/24'),
        /10\.1\.2\.0\/24|outside/,
      ],
    ])('%s', (_what, edit, message) => {
      const original = sh('cat', [MANIFESTS]).stdout;
      const text = edit(original);
      expect(text, 'the edit must change the manifests').not.toBe(original);
      const f = join(state, 'bad.yaml');
      writeFileSync(f, text);
      const r = egress(['testbed', 'up', '--manifests', f], state);
      if (r.status === 0) egress(['testbed', 'down'], state);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/^egress testbed: /);
      expect(leftovers()).toEqual([]);
    });

    it('a failure half-way rolls back what was created', () => {
      // Something else holds the name of showip's namespace: the build fails there, after the segment exists.
      sh('ip', ['netns', 'add', SHOW_NS]);
      const r = egress(['testbed', 'up', '--manifests', MANIFESTS], state);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(SHOW_NS));
      expect(leftovers()).toEqual([]);
    });

    it('without root: one clear line, nothing created', () => {
      const r = egressAsNobody([
        'testbed',
        'up',
        '--manifests',
        MANIFESTS,
        '--state-dir',
        join(tmpdir(), 'egress-nobody'),
      ]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/run it as root/);
      expect(leftovers()).toEqual([]);
    });
  });

  describe('issue 6: Egress on the test bed (Antrea e2e without failover)', () => {
    /** When the 10 MB download's check ended (Date.now()): later run files include its counts. */
    let downloadEnded: number | null = null;
    beforeAll(() => {
      const r = egress(['testbed', 'up', '--manifests', MANIFESTS, '--quiet', '--metrics-port-base', '19100'], state);
      expect(r.status, r.stderr).toBe(0);
    });

    it('builds the cluster: agents running, pods and hosts reachable; status lists them', async () => {
      const st = JSON.parse(egress(['testbed', 'status', '--json'], state).stdout);
      expect(st.nodes.map((n: { name: string; agent: string }) => `${n.name}:${n.agent}`)).toEqual([
        'node-a:running',
        'node-b:running',
        'node-c:running',
      ]);
      expect(st.hosts.map((h: { name: string; command: string }) => `${h.name}:${h.command}`)).toEqual([
        'internal:running',
        'showip:running',
      ]);
      expect(await eventually(() => seen('prod/web-a'), NODE_IP['node-a'], 10_000)).toBe(NODE_IP['node-a']);
      // nothing of the test bed in the host's own namespace
      expect(sh('ip', ['-o', 'link']).stdout).not.toMatch(/ egr/);
    });

    it('before any Egress, each pod leaves with its node IP', () => {
      expect(seen('prod/web-a')).toBe(NODE_IP['node-a']);
      expect(seen('prod/web-b')).toBe(NODE_IP['node-b']);
      expect(seen('prod/api-c')).toBe(NODE_IP['node-c']);
    });

    it('create: selected pods on every node are seen as the egress IP; others keep their node IP', async () => {
      apply(state, egressYaml('web', 'pool-c', { app: 'web' }));
      expect(await eventually(() => seen('prod/web-a'), '198.18.2.250')).toBe('198.18.2.250'); // remote: Geneve to node-c
      expect(await eventually(() => seen('prod/web-b'), '198.18.2.250')).toBe('198.18.2.250');
      expect(seen('prod/api-c')).toBe(NODE_IP['node-c']);
      const st = await eventually(() => egressStatus(state, 'web').egressNode, 'node-c');
      expect(st).toBe('node-c');
      expect(egressStatus(state, 'web').conditions.map((c) => `${c['type']}=${c['status']}`)).toEqual([
        'IPAssigned=True',
        'IPAllocated=True',
      ]);
    });

    it('exceptCIDRs: destinations in it are reached with the node IP, others with the egress IP', () => {
      expect(seen('prod/web-a', INTERNAL)).toBe(NODE_IP['node-a']);
      expect(seen('prod/web-a', SHOWIP)).toBe('198.18.2.250');
    });

    it('a 10 MB download through the remote egress path arrives intact', () => {
      const size = 10 * 1024 * 1024;
      const r = sh(
        'ip',
        [
          'netns',
          'exec',
          podNs('prod/web-b'),
          'bash',
          '-c',
          `curl -s -m 60 'http://198.18.2.100:8080/blob?size=${size}' | sha256sum`,
        ],
        90_000,
      );
      const block = Buffer.alloc(256 * 1024);
      for (let i = 0; i < block.length; i++) block[i] = (i * 7 + 3) & 0xff;
      const h = createHash('sha256');
      for (let sent = 0; sent < size; sent += block.length)
        h.update(block.subarray(0, Math.min(block.length, size - sent)));
      expect(r.stdout.split(' ')[0]).toBe(h.digest('hex'));
      downloadEnded = Date.now();
    });

    it('the running agents report the pipeline graph and their counters', async () => {
      // Run files are written every second: wait for one written after the download ended (an order, not a
      // time: a count compared against a threshold after a sleep failed at load 20, issue 11).
      const after = downloadEnded;
      expect(after).not.toBeNull();
      await eventually(() => Date.parse(runFile(state, 'node-c')['updated']) > after!, true, 30_000);
      const c = runFile(state, 'node-c');
      expect(Date.parse(c['updated'])).toBeGreaterThan(after!);
      expect(c['stages']['geneve-decap']['counters']['to-snat']).toBeGreaterThan(0); // web-b's download: its ACKs tunneled here
      expect(c['stages']['unsnat']['counters']['reply']).toBeGreaterThan(5000); // the download's segments, un-SNATed
      expect(c['stages']['snat']['counters']['new']).toBeGreaterThan(0);
      expect(c['egressIps']).toEqual(['198.18.2.250']);
      const a = JSON.parse(egress(['get', 'counters', 'node-a', '-o', 'json'], state).stdout);
      expect(a['stages']['geneve-encap']['counters']['encapsulated']).toBeGreaterThan(0);
      const text = egress(['get', 'counters', 'node-a'], state).stdout;
      expect(text).toMatch(/classify\s+egress-remote/);
      const dot = egress(['get', 'pipeline'], state).stdout;
      expect(dot).toContain('"classify" -> "geneve-encap" [label="tunnel"];');
      expect(dot).toContain('"geneve-decap" -> "snat" [label="snat"];');
    });

    it('agents serve Prometheus metrics (node-a on the first port)', () => {
      const r = sh('curl', ['-s', '-m', '2', 'http://127.0.0.1:19100/metrics']);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(
        /^egress_stage_packets_total\{node="node-a",stage="classify",exit="tunnel"\} [1-9]\d*$/m,
      );
      expect(r.stdout).toMatch(/^egress_stage_drops_total\{node="node-a",stage="pod-ingress",reason="spoofed"\} 0$/m);
      expect(r.stdout).toMatch(/^egress_conntrack_entries\{node="node-a"\} \d+$/m);
      expect(r.stdout).toMatch(/^egress_members_alive\{node="node-a"\} 3$/m);
      const c = sh('curl', ['-s', '-m', '2', 'http://127.0.0.1:19102/metrics']).stdout;
      expect(c).toMatch(/^egress_ips_owned\{node="node-c"\} 1$/m);
      expect(c).toMatch(/^egress_snat_ports_used\{node="node-c",ip="198.18.2.250"\} [1-9]\d*$/m);
    });

    it('update appliedTo: the newly selected pod gets the egress IP, the others go back to their node IP', async () => {
      apply(state, egressYaml('web', 'pool-c', { app: 'api' }));
      expect(await eventually(() => seen('prod/api-c'), '198.18.2.250')).toBe('198.18.2.250'); // local SNAT on node-c
      expect(await eventually(() => seen('prod/web-a'), NODE_IP['node-a'])).toBe(NODE_IP['node-a']);
      expect(seen('prod/web-b')).toBe(NODE_IP['node-b']);
    });

    it('a pod created after the Egress gets the egress IP on its first request', async () => {
      apply(
        state,
        `apiVersion: v1\nkind: Pod\nmetadata: {name: api-a, namespace: prod, labels: {app: api}}\nspec: {nodeName: node-a}\nstatus: {podIP: 198.19.21.20}\n`,
      );
      const ns = podNs('prod/api-a');
      await eventually(() => sh('ip', ['netns', 'list']).stdout.includes(ns), true, 5000, 20);
      // Its first request, no retry (Antrea issue #3361 is the case where this one goes out with the node IP).
      await eventually(() => sh('ip', ['-n', ns, 'link', 'show', 'eth0']).stdout.includes('UP'), true, 2000, 20);
      expect(curlIn(ns, SHOWIP, 3)).toBe('198.18.2.250');
    });

    it('delete: every pod is back to its node IP', async () => {
      expect(egress(['delete', 'egress', 'web'], state).status).toBe(0);
      expect(await eventually(() => seen('prod/api-c'), NODE_IP['node-c'])).toBe(NODE_IP['node-c']);
      expect(seen('prod/api-a')).toBe(NODE_IP['node-a']);
    });

    it('no matching node: IP allocated, "no Node available", pods fall back to their node IP', async () => {
      apply(state, egressYaml('nowhere', 'pool-nowhere', { app: 'web' }));
      const st = await eventually(
        () => egressStatus(state, 'nowhere').conditions.map((c) => `${c['type']}=${c['status']} ${c['message']}`),
        [
          'IPAssigned=False Failed to assign the IP to EgressNode: no Node available',
          'IPAllocated=True EgressIP is successfully allocated',
        ],
      );
      expect(st).toEqual([
        'IPAssigned=False Failed to assign the IP to EgressNode: no Node available',
        'IPAllocated=True EgressIP is successfully allocated',
      ]);
      expect(egressStatus(state, 'nowhere').egressIP).toBe('');
      expect(seen('prod/web-a')).toBe(NODE_IP['node-a']);
      expect(seen('prod/web-b')).toBe(NODE_IP['node-b']);
      expect(egress(['delete', 'egress', 'nowhere'], state).status).toBe(0);
    });
  });

  describe('issue 7: membership and failover', () => {
    it('an egress node frozen: the IP moves, the observer follows the GARP, traffic resumes (5 runs)', async () => {
      apply(state, egressYaml('web', 'pool-c', { app: 'web' }));
      // pool-c's nodes: zone two. Add node-b to it so there is somewhere to fail over to.
      apply(
        state,
        `apiVersion: v1\nkind: Node\nmetadata: {name: node-b, labels: {zone: two}}\nspec: {podCIDR: 198.19.22.0/24}\nstatus: {addresses: [{type: InternalIP, address: 198.18.2.12}]}\n`,
      );
      expect(await eventually(() => seen('prod/web-a'), '198.18.2.250')).toBe('198.18.2.250');
      const times: number[] = [];
      for (let run = 0; run < 5; run++) {
        const owner = await eventually(
          () => egressStatus(state, 'web').egressNode,
          egressStatus(state, 'web').egressNode,
        );
        const other = owner === 'node-b' ? 'node-c' : 'node-b';
        // The observer (showip) learns the owner's MAC.
        expect(seen('prod/web-a')).toBe('198.18.2.250');
        expect(neighMac(SHOW_NS, '198.18.2.250')).toBe(nodeMac(NODE_IP[owner as 'node-b' | 'node-c']));
        expect(egress(['testbed', 'fail', owner], state).status).toBe(0);
        const t0 = performance.now();
        let ok = false;
        while (performance.now() - t0 < 10_000) {
          if (curlIn(podNs('prod/web-a'), SHOWIP, 0.1) === '198.18.2.250') {
            ok = true;
            break;
          }
        }
        times.push(performance.now() - t0);
        expect(ok, `run ${run}: no answer through the egress IP within 10 s`).toBe(true);
        // The new owner answers ARP (alone), and the observer's entry shows its MAC.
        expect(neighMac(SHOW_NS, '198.18.2.250')).toBe(nodeMac(NODE_IP[other]));
        expect(arpResponders(SHOW_NS, '198.18.2.250', 2)).toEqual([nodeMac(NODE_IP[other])]);
        // Resume: the agent holds its IPs until membership settles; never two owners answering ARP.
        expect(egress(['testbed', 'restore', owner], state).status).toBe(0);
        await sleep(300);
        const who = arpResponders(SHOW_NS, '198.18.2.250', 2);
        expect(who.length, `after resume: ${who.join(', ')} answer ARP`).toBe(1);
        expect(seen('prod/web-a')).toBe('198.18.2.250');
        await sleep(200);
      }
      const sorted = [...times].sort((a, b) => a - b);
      // A figure, not a limit: on a loaded 2-core machine wall-clock limits fail for no fault of the agent
      // (issue 11). The order of events is what the loop above asserts: freeze → the other node answers ARP
      // alone → resume → one owner.
      console.log(
        `failover (freeze → request via the egress IP answered), ms: ${sorted.map((t) => t.toFixed(0)).join(', ')}; median ${sorted[2]!.toFixed(0)} (load ${loadavg()[0]!.toFixed(1)})`,
      );
    });

    it('a nodeSelector change moves the IP: the new owner announces it, the old node stops answering ARP for it', async () => {
      const owner = egressStatus(state, 'web').egressNode as 'node-b' | 'node-c';
      const other = owner === 'node-b' ? 'node-c' : 'node-b';
      const zone = owner === 'node-b' ? 'mine-c' : 'mine-b';
      // Label the other node so that only it matches the new selector.
      apply(
        state,
        `apiVersion: v1\nkind: Node\nmetadata: {name: ${other}, labels: {zone: two, pick: '${zone}'}}\nspec: {podCIDR: ${other === 'node-b' ? '198.19.22.0/24' : '198.19.23.0/24'}}\nstatus: {addresses: [{type: InternalIP, address: ${NODE_IP[other]}}]}\n`,
      );
      const t0 = performance.now();
      apply(
        state,
        `apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata: {name: pool-c}\nspec:\n  ipRanges: [{start: 198.18.2.250, end: 198.18.2.251}]\n  nodeSelector: {matchLabels: {pick: '${zone}'}}\n`,
      );
      // The observer's neighbour entry follows the new owner's gratuitous ARP.
      const want = nodeMac(NODE_IP[other]);
      // (30 s: a liveness bound for a loaded machine, not a limit; the time is printed as a figure.)
      while (neighMac(SHOW_NS, '198.18.2.250') !== want && performance.now() - t0 < 30_000) await sleep(10);
      const dt = performance.now() - t0;
      expect(neighMac(SHOW_NS, '198.18.2.250')).toBe(want);
      console.log(
        `nodeSelector change: the IP announced from ${other} ${dt.toFixed(0)} ms after \`egress apply\` started (load ${loadavg()[0]!.toFixed(1)})`,
      );
      // Then, in this order: only the new owner answers ARP, the status names it, the pod leaves with the IP.
      expect(arpResponders(SHOW_NS, '198.18.2.250', 2)).toEqual([nodeMac(NODE_IP[other])]);
      expect(await eventually(() => egressStatus(state, 'web').egressNode, other, 2000)).toBe(other);
      expect(seen('prod/web-a')).toBe('198.18.2.250');
    });

    it("a node whose labels stop matching loses its IPs; with no node left: 'no Node available' and node IPs", async () => {
      const owner = egressStatus(state, 'web').egressNode as 'node-b' | 'node-c';
      apply(
        state,
        `apiVersion: v1\nkind: Node\nmetadata: {name: ${owner}, labels: {zone: two}}\nspec: {podCIDR: ${owner === 'node-b' ? '198.19.22.0/24' : '198.19.23.0/24'}}\nstatus: {addresses: [{type: InternalIP, address: ${NODE_IP[owner]}}]}\n`,
      );
      expect(
        await eventually(
          () => egressStatus(state, 'web').conditions[0]?.['message'],
          'Failed to assign the IP to EgressNode: no Node available',
        ),
      ).toBe('Failed to assign the IP to EgressNode: no Node available');
      expect(await eventually(() => seen('prod/web-a'), NODE_IP['node-a'])).toBe(NODE_IP['node-a']);
      expect(arpResponders(SHOW_NS, '198.18.2.250', 2)).toEqual([]);
    });

    it('forged and replayed heartbeats change nothing (counted)', async () => {
      // Back to a normal placement.
      apply(
        state,
        `apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata: {name: pool-c}\nspec:\n  ipRanges: [{start: 198.18.2.250, end: 198.18.2.251}]\n  nodeSelector: {matchLabels: {zone: two}}\n`,
      );
      expect(await eventually(() => seen('prod/web-a'), '198.18.2.250')).toBe('198.18.2.250');
      const before = runFile(state, 'node-a')['membership']['counters'];
      // Capture one real heartbeat node-b → node-a on the segment, then send it again, and a forged one.
      const cap = join(state, 'hb.pcap');
      const tcpdump = sh(
        'ip',
        [
          'netns',
          'exec',
          'egr-fab',
          'tcpdump',
          '-i',
          'egr-br0',
          '-c',
          '1',
          '-w',
          cap,
          'udp port 10351 and src host 198.18.2.12 and dst host 198.18.2.11',
        ],
        10_000,
      );
      expect(tcpdump.status, tcpdump.stderr).toBe(0);
      const py = `
from scapy.all import *
p = rdpcap('${cap}')[0]
sendp(p, iface='eth0', verbose=False)                      # the same frame again: a replay
f = p.copy(); f[Raw].load = bytes(b ^ 0x5a for b in f[Raw].load); del f[UDP].chksum
sendp(f, iface='eth0', verbose=False)                      # the payload garbled
g = Ether(dst=p.dst)/IP(src='198.18.2.12', dst='198.18.2.11')/UDP(sport=10351, dport=10351)/(bytes(p[Raw].load[:-32]) + bytes(32))
sendp(g, iface='eth0', verbose=False)                      # the right fields, a wrong MAC (not made with the key)
`;
      const r = sh('ip', ['netns', 'exec', SHOW_NS, '/usr/bin/python3', '-c', py], 30_000);
      expect(r.status, r.stderr).toBe(0);
      await sleep(1200); // the run file is written every second
      const after = runFile(state, 'node-a')['membership']['counters'];
      const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      expect(delta('rx-replayed')).toBeGreaterThanOrEqual(1);
      expect(
        delta('rx-bad-mac') +
          delta('rx-bad-magic') +
          delta('rx-bad-version') +
          delta('rx-unknown-key') +
          delta('rx-bad-field') +
          delta('rx-truncated'),
      ).toBeGreaterThanOrEqual(2);
      expect(delta('dead-events')).toBe(0);
      expect(runFile(state, 'node-a')['members']).toEqual(['node-a', 'node-b', 'node-c']);
      expect(seen('prod/web-a')).toBe('198.18.2.250');
    });

    it('forged ARP for a node IP and an egress IP, and a 1000-sender storm, change nothing (counted)', async () => {
      // issue 11 finding 7 (docs/segment-security.md#arp-and-the-neighbour-table): before, one such frame made
      // node-c declare its peers dead and take every egress IP while they kept theirs.
      expect(await eventually(() => seen('prod/web-a'), '198.18.2.250')).toBe('198.18.2.250');
      const nodes = ['node-a', 'node-b', 'node-c'] as const;
      const before = Object.fromEntries(nodes.map((n) => [n, runFile(state, n)]));
      const py = `
from scapy.all import *
att = '02:66:00:00:66:66'
def garp(mac, ip, op=1):
    return Ether(src=mac, dst='ff:ff:ff:ff:ff:ff')/ARP(op=op, hwsrc=mac, psrc=ip, hwdst='ff:ff:ff:ff:ff:ff', pdst=ip)
frames = [garp(att, '${NODE_IP['node-c']}'), garp(att, '198.18.2.250', 2)]
for k in range(1000):
    m = '02:66:00:00:%02x:%02x' % (k >> 8, k & 255)
    frames.append(Ether(src=m, dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc=m, psrc='198.18.%d.%d' % (4 + (k >> 8), k & 255), pdst='${NODE_IP['node-a']}'))
    frames.append(garp(m, ('${NODE_IP['node-a']}', '${NODE_IP['node-b']}', '${NODE_IP['node-c']}')[k % 3], 2))
sendp(frames, iface='eth0', verbose=False)
`;
      const r = sh('ip', ['netns', 'exec', SHOW_NS, '/usr/bin/python3', '-c', py], 60_000);
      expect(r.status, r.stderr).toBe(0);
      const arp = (n: string) => (runFile(state, n)['stages']['arp']['counters'] ?? {}) as Record<string, number>;
      const delta = (n: (typeof nodes)[number], k: string) =>
        (arp(n)[k] ?? 0) - (before[n]!['stages']['arp']['counters'][k] ?? 0);
      // Liveness bound: the run files show the frames counted (written every second).
      expect(await eventually(() => delta('node-c', 'conflict-node-ip') >= 1, true, 10_000)).toBe(true);
      // Then longer than a failure detection (500 ms) and a run-file period, so a false death would show.
      await sleep(2000);
      // Frames the TAP queues could not take are lost before the engine; what arrived is counted by reason.
      console.log(
        `[testbed] ARP storm: ${nodes.map((n) => `${n} ${JSON.stringify(Object.fromEntries(['spoof-member-ip', 'conflict-node-ip', 'conflict-egress-ip', 'learn-replaced'].map((k) => [k, delta(n, k)])))}`).join('; ')}`,
      );
      expect(delta('node-a', 'spoof-member-ip')).toBeGreaterThanOrEqual(1);
      expect(delta('node-b', 'spoof-member-ip')).toBeGreaterThanOrEqual(1);
      // The claim on 198.18.2.250 is a conflict on its owner only.
      for (const n of nodes)
        expect(delta(n, 'conflict-egress-ip'), n).toBe(before[n]!['egressIps'].includes('198.18.2.250') ? 1 : 0);
      expect(delta('node-a', 'learn-replaced')).toBeGreaterThan(0);
      for (const n of nodes) {
        const now = runFile(state, n);
        expect(now['membership']['counters']['dead-events'], n).toBe(
          before[n]!['membership']['counters']['dead-events'],
        );
        expect(now['members'], n).toEqual(['node-a', 'node-b', 'node-c']);
        expect(now['egressIps'], n).toEqual(before[n]!['egressIps']);
        expect(now['neighbors'].length, n).toBeLessThanOrEqual(256 + 8);
        for (const m of nodes)
          if (m !== n)
            expect(
              now['neighbors'].find((e: { ip: string }) => e.ip === NODE_IP[m]),
              `${n}'s entry for ${m}`,
            ).toMatchObject({ mac: nodeMac(NODE_IP[m]), state: 'pinned' });
      }
      expect(seen('prod/web-a')).toBe('198.18.2.250');
    });
  });

  describe('issue 11: local files and store faults, with the agents running', () => {
    /** Replace a store file as its owner would (atomically: the agents never see a partial file). */
    const replace = (path: string, text: string) => {
      writeFileSync(`${path}.new`, text, { mode: 0o600 });
      renameSync(`${path}.new`, path);
    };
    const agentLog = (node: string) => readFileSync(join(state, 'testbed', `agent-${node}.log`), 'utf8');
    const count = (text: string, s: string) => text.split(s).length - 1;

    it('metrics listen on 127.0.0.1 only (--metrics-address changes it)', () => {
      const r = sh('ss', ['-Hltn', 'sport = :19100']);
      expect(r.stdout.trim().split(/\s+/)[3]).toBe('127.0.0.1:19100');
    });

    it('a symbolic link at run/<node>.json.tmp is never written through', async () => {
      const victim = join(state, 'victim');
      writeFileSync(victim, 'precious\n', { mode: 0o600 });
      symlinkSync(victim, join(state, 'run', 'node-a.json.tmp'));
      const before = runFile(state, 'node-a')['updated'];
      await eventually(() => runFile(state, 'node-a')['updated'] !== before, true, 3000, 100);
      await sleep(1100);
      expect(readFileSync(victim, 'utf8')).toBe('precious\n');
      rmSync(join(state, 'run', 'node-a.json.tmp'));
    });

    it('an invalid objects.json and a bad status file: agents keep their last good state, log once, count, then follow the next good store', async () => {
      const objects = join(state, 'objects.json');
      const good = JSON.parse(readFileSync(objects, 'utf8'));
      const logsBefore = Object.fromEntries(['node-a', 'node-b', 'node-c'].map((n) => [n, agentLog(n)]));
      // node-b claims node-a's transport IP (valid JSON, refused by the rules apply uses).
      const bad = structuredClone(good);
      const nodes = bad.objects.filter((o: { kind: string }) => o.kind === 'Node');
      nodes[1].status = nodes[0].status;
      bad.generation += 1;
      replace(objects, JSON.stringify(bad));
      // node-c's status file with a null entry (it stopped the other agents before).
      const cStatus = JSON.parse(readFileSync(join(state, 'status', 'node-c.json'), 'utf8'));
      replace(join(state, 'status', 'node-c.json'), JSON.stringify({ ...cStatus, egresses: { web: null } }));
      await sleep(1500);
      replace(objects, JSON.stringify(bad)); // the same problem again (a new file): no second report
      await sleep(1500);
      const st = JSON.parse(egress(['testbed', 'status', '--json'], state).stdout);
      expect(st.nodes.map((n: { agent: string }) => n.agent)).toEqual(['running', 'running', 'running']);
      expect(seen('prod/web-a')).toBe('198.18.2.250');
      for (const n of ['node-a', 'node-b', 'node-c']) {
        const added = agentLog(n).slice(logsBefore[n]!.length);
        expect(count(added, 'store file not used; keeping the last good state'), n).toBeGreaterThanOrEqual(1);
        expect(count(added, 'is also the transport IP of Node node-a'), n).toBe(1);
        expect(runFile(state, n)['store']['problems']['objects'], n).toBe(1);
      }
      const m = sh('curl', ['-s', '-m', '2', 'http://127.0.0.1:19100/metrics']).stdout;
      expect(m).toMatch(/^egress_store_problems_total\{node="node-a",file="objects"\} 1$/m);
      // A good store again, then a change: every agent follows it (node-c's bad status file notwithstanding).
      replace(objects, JSON.stringify({ ...good, generation: good.generation + 2 }));
      expect(egress(['delete', 'egress', 'web'], state).status).toBe(0);
      expect(await eventually(() => seen('prod/web-a'), NODE_IP['node-a'])).toBe(NODE_IP['node-a']);
      expect(seen('prod/web-b')).toBe(NODE_IP['node-b']);
      apply(state, egressYaml('web', 'pool-c', { app: 'web' }));
      expect(await eventually(() => seen('prod/web-a'), '198.18.2.250')).toBe('198.18.2.250');
    });
  });

  describe('issue 7: the demo', () => {
    it('runs the reference scenario end to end and tears it down', () => {
      egress(['testbed', 'down'], state);
      const t0 = performance.now();
      const r = egress(['demo']);
      const s = (performance.now() - t0) / 1000;
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/prod\/web-a\s+node-a\s+egress-prod-web\s+198\.18\.0\.253\s+ok/);
      expect(r.stdout).toMatch(/staging\/web-c\s+node-c\s+egress-staging-web\s+198\.18\.0\.254\s+ok/);
      expect(r.stdout).toMatch(/dev\/tools\s+node-b\s+-\s+198\.18\.0\.12\s+ok/);
      expect(r.stdout).toMatch(/succeeded again after \d+ ms/);
      expect(r.stdout).toMatch(/the MAC followed the gratuitous ARP/);
      console.log(
        r.stdout
          .split('\n')
          .filter((l) => /succeeded again|ARP entry|took/.test(l))
          .join('\n') + `\ndemo: ${s.toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)}; a figure, not a limit)`,
      );
      expect(leftovers()).toEqual([]);
    });

    it('without root it stops at once with a clear message', () => {
      const r = egressAsNobody(['demo']);
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toMatch(/^egress demo: .*root/);
    });
  });
});
