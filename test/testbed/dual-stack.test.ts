/**
 * The dual-stack test bed (issue 18, docs/ipv6.md §4): examples/dual-stack/cluster.yaml in network namespaces, real
 * agents, real curl over both families to showip, which answers with the source address it saw. Pods reach showip
 * over IPv6 as their IPv6 Egress's IP (through Geneve from other nodes) or their node's IPv6 address, over IPv4 as
 * before; when the node hosting an IPv6 egress IP is frozen the IP moves, and showip's neighbour entry for it
 * follows the new node's unsolicited Neighbor Advertisement before showip sends anything to it; IPv4 keeps working
 * in the same run. Then `egress demo --ipv6`. After the file nothing of the project is left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply,
  curlIn,
  egress,
  egressStatus,
  hostNs,
  isRoot,
  leftovers,
  neighMac,
  nodeMac,
  podNs,
  ROOT,
  runFile,
  sh,
  testbedLock,
  until,
} from './helpers.js';

const MANIFESTS = join(ROOT, 'examples', 'dual-stack', 'cluster.yaml');
const SHOW4 = 'http://198.18.0.100:8080/';
const SHOW6 = 'http://[2001:2::100]:8080/';
const SHOW_NS = hostNs('showip');
const NODE4 = { 'node-a': '198.18.0.11', 'node-b': '198.18.0.12', 'node-c': '198.18.0.13' } as const;
type NodeName = keyof typeof NODE4;
/** What showip must see from each pod, per family (the example's README; pools allocate in Egress name order). */
const WANT: Record<string, { v4: string; v6: string; node: NodeName }> = {
  'prod/web-a': { v4: '198.18.0.253', v6: '2001:2::fd', node: 'node-a' },
  'prod/web-b': { v4: '198.18.0.253', v6: '2001:2::fd', node: 'node-b' },
  'staging/web-c': { v4: '198.18.0.254', v6: '2001:2::fe', node: 'node-c' },
  'staging/web-d': { v4: '198.18.0.254', v6: '2001:2::fe', node: 'node-a' },
  'dev/tools': { v4: '198.18.0.12', v6: '2001:2::12', node: 'node-b' }, // no Egress: the node's addresses
};
const seen = (pod: string, family: 4 | 6, timeoutS = 2) =>
  curlIn(podNs(pod), family === 4 ? SHOW4 : SHOW6, timeoutS, family);
/** The IPv6 stages whose drops say why a pod's IPv6 packets do not reach showip. */
const STAGES6 = ['pod-ingress6', 'snat6', 'geneve-encap6', 'geneve-decap6', 'uplink-out6', 'ndp', 'unsnat6'];
/** Every non-zero drop counter of the IPv6 stages, per node (`node-b uplink-out6.drop-no-route=12`), for messages. */
const drops6 = (state: string): string =>
  Object.keys(NODE4)
    .flatMap((n) => {
      const stages = runFile(state, n)['stages'] ?? {};
      return STAGES6.flatMap((st) =>
        Object.entries((stages[st]?.['counters'] ?? {}) as Record<string, number>)
          .filter(([k, v]) => k.startsWith('drop-') && v > 0)
          .map(([k, v]) => `${n} ${st}.${k}=${v}`),
      );
    })
    .join(', ') || 'none';
/** The MAC in showip's neighbour entry for an IPv6 address, with its state (`ip -6 neigh`). */
const neigh6 = (ip: string) => sh('ip', ['netns', 'exec', SHOW_NS, 'ip', '-6', 'neigh', 'show', ip]).stdout.trim();

if (!isRoot) console.warn('test/testbed/dual-stack: skipped: the test bed needs root (network namespaces, TUN/TAP)');

describe.skipIf(!isRoot)('dual-stack test bed (issue 18)', () => {
  const state = mkdtempSync(join(tmpdir(), 'egress-tb6-'));
  let unlock = () => {};
  const frozen = new Set<string>();

  beforeAll(async () => {
    unlock = await testbedLock();
    expect(leftovers(), 'something of an earlier run is still there').toEqual([]);
    const r = egress(['testbed', 'up', '--manifests', MANIFESTS, '--quiet'], state);
    expect(r.status, r.stderr).toBe(0);
  }, 120_000);

  afterAll(() => {
    try {
      for (const n of frozen) egress(['testbed', 'restore', n], state);
      egress(['testbed', 'down'], state);
      rmSync(state, { recursive: true, force: true });
      expect(leftovers()).toEqual([]);
    } finally {
      unlock();
    }
  });

  it('pods carry both families on their TUN; showip sees each pod as its IPv6 Egress IP over IPv6, IPv4 as before', async () => {
    const addr = sh('ip', ['-n', podNs('prod/web-a'), '-6', 'addr', 'show', 'dev', 'eth0']).stdout;
    expect(addr).toMatch(/inet6 2001:2:0:1::10\/128 scope global/);
    expect(sh('ip', ['-n', podNs('prod/web-a'), '-6', 'route', 'show', 'default']).stdout).toMatch(/default dev eth0/);
    // The agents settle; then every pod, both families, once each.
    await until(
      () => seen('prod/web-a', 6, 1) === '2001:2::fd',
      'prod/web-a seen as 2001:2::fd over IPv6',
      20_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; IPv6 drops: ${drops6(state)}`);
    });
    const got: Record<string, [string | null, string | null]> = {};
    for (const pod of Object.keys(WANT)) got[pod] = [seen(pod, 4), seen(pod, 6)];
    expect(got, `IPv6 drops: ${drops6(state)}`).toEqual(
      Object.fromEntries(Object.entries(WANT).map(([k, w]) => [k, [w.v4, w.v6]])),
    );
    // showip and the IPv6 egress IPs are in the /64 of the Nodes' IPv6 addresses, the segment every agent takes: no
    // IPv6 packet of the run is without a next hop.
    for (const n of Object.keys(NODE4))
      expect(runFile(state, n)['stages']['uplink-out6']['counters']['drop-no-route'], `${n}: ${drops6(state)}`).toBe(0);
    const st = egressStatus(state, 'egress-prod-web-v6');
    expect(st.egressIP).toBe('2001:2::fd');
    expect(st.conditions.map((c) => `${c['type']}=${c['status']}`)).toEqual(['IPAssigned=True', 'IPAllocated=True']);
    // showip learnt the owner's MAC for the IPv6 egress IP by NDP (it answered the pods' requests).
    expect(neighMac(SHOW_NS, '2001:2::fd')).toBe(nodeMac(NODE4[st.egressNode as NodeName]));
    // `egress testbed status` lists the IPv6 egress IPs where the status places them, and showip's IPv6 address.
    const status = () => JSON.parse(egress(['testbed', 'status', '--json'], state).stdout);
    const st6 = egressStatus(state, 'egress-staging-web-v6');
    await until(
      () => {
        const nodes: Array<{ name: string; egressIps6: string[] }> = status().nodes;
        const on = (ip: string) => nodes.filter((n) => n.egressIps6.includes(ip)).map((n) => n.name);
        return on('2001:2::fd').join() === st.egressNode && on('2001:2::fe').join() === st6.egressNode;
      },
      'testbed status: 2001:2::fd and 2001:2::fe each on the node the status names',
      5_000,
    );
    expect(status().hosts.find((h: { name: string }) => h.name === 'showip').ipv6Address).toBe('2001:2::100/64');
    const text = egress(['testbed', 'status'], state).stdout;
    expect(text).toMatch(/showip\s+198\.18\.0\.100\/24,2001:2::100\/64\s/);
    expect(text).toMatch(new RegExp(`${st.egressNode}\\s+running\\s+\\d+\\s+\\S*2001:2::fd`));
  });

  it('an IPv6-only pod applied live: its TUN carries IPv6 alone, showip sees it as its IPv6 Egress IP', async () => {
    apply(
      state,
      `apiVersion: v1\nkind: Pod\nmetadata: {name: web-six, namespace: prod, labels: {app: web}}\nspec: {nodeName: node-c}\nstatus: {podIPs: [{ip: '2001:2:0:3::20'}]}\n`,
    );
    const ns = podNs('prod/web-six');
    await until(() => sh('ip', ['-n', ns, 'link', 'show', 'eth0']).stdout.includes('UP'), 'web-six up', 10_000);
    const addrs = sh('ip', ['-n', ns, 'addr', 'show', 'dev', 'eth0']).stdout;
    expect(addrs).toMatch(/inet6 2001:2:0:3::20\/128 scope global/);
    expect(addrs).not.toMatch(/inet /);
    expect(await until(() => curlIn(ns, SHOW6, 1, 6), 'web-six answered over IPv6', 10_000)).toBe('2001:2::fd');
    expect(curlIn(ns, SHOW4, 1, 4)).toBeNull(); // no IPv4 at all
    expect(egress(['delete', 'pod', 'web-six', '-n', 'prod'], state).status).toBe(0);
  });

  it("failover: the IPv6 egress IP moves, showip's neighbour entry follows the unsolicited NA; IPv4 unchanged", async () => {
    const owner = egressStatus(state, 'egress-prod-web-v6').egressNode as NodeName;
    const client = Object.keys(WANT).find((p) => p.startsWith('prod/') && WANT[p]!.node !== owner)!;
    expect(seen(client, 6)).toBe('2001:2::fd');
    expect(seen(client, 4)).toBe('198.18.0.253');
    const before = neighMac(SHOW_NS, '2001:2::fd');
    expect(before).toBe(nodeMac(NODE4[owner]));
    expect(egress(['testbed', 'fail', owner], state).status).toBe(0);
    frozen.add(owner);
    const t0 = performance.now();
    // No request in the meantime, so showip sends nothing to 2001:2::fd: only an unsolicited NA can change the entry.
    const mac = await until(
      () => {
        const m = neighMac(SHOW_NS, '2001:2::fd');
        return m !== null && m !== before ? m : null;
      },
      "showip's neighbour entry for 2001:2::fd to change",
      20_000,
    );
    const dt = performance.now() - t0;
    const other = await until(
      () => {
        const n = egressStatus(state, 'egress-prod-web-v6').egressNode;
        return n && n !== owner ? (n as NodeName) : null;
      },
      'a new owner of 2001:2::fd',
      10_000,
    );
    expect(mac).toBe(nodeMac(NODE4[other]));
    expect(neigh6('2001:2::fd')).toMatch(/lladdr \S+ (STALE|REACHABLE|DELAY|PROBE)/);
    console.log(
      `[testbed] IPv6 failover: showip's neighbour entry for 2001:2::fd moved ${owner} → ${other} ${dt.toFixed(0)} ms after the freeze (load ${loadavg()[0]!.toFixed(1)}; a figure, not a limit)`,
    );
    // Traffic resumes over IPv6 through the new owner; IPv4 of the same pod still leaves as its IPv4 egress IP
    // (moved too when it was on the frozen node).
    await until(() => seen(client, 6, 0.5) === '2001:2::fd', `${client} seen as 2001:2::fd again`, 20_000);
    await until(() => seen(client, 4, 0.5) === '198.18.0.253', `${client} seen as 198.18.0.253 over IPv4`, 20_000);
    // Every pod of the other nodes, both families, as before the freeze (their IPs moved too if they were there).
    for (const [pod, w] of Object.entries(WANT))
      if (w.node !== owner)
        for (const [family, ip] of [
          [4, w.v4],
          [6, w.v6],
        ] as const)
          await until(() => seen(pod, family, 0.5) === ip, `${pod} seen as ${ip} during the freeze`, 20_000);
    // Resume the old owner; once membership settles one node owns the IP: showip, its entry flushed, resolves it
    // again by NDP and gets that node's MAC.
    expect(egress(['testbed', 'restore', owner], state).status).toBe(0);
    frozen.delete(owner);
    const now = await until(
      () => {
        const n = egressStatus(state, 'egress-prod-web-v6').egressNode;
        return n ? (n as NodeName) : null;
      },
      'an owner of 2001:2::fd after the resume',
      10_000,
    );
    sh('ip', ['netns', 'exec', SHOW_NS, 'ip', '-6', 'neigh', 'flush', '2001:2::fd']);
    await until(() => seen(client, 6, 0.5) === '2001:2::fd', `${client} seen as 2001:2::fd after the resume`, 20_000);
    expect(neighMac(SHOW_NS, '2001:2::fd')).toBe(nodeMac(NODE4[now]));
  });

  it('egress demo --ipv6 runs the dual-stack scenario end to end and tears it down', () => {
    egress(['testbed', 'down'], state);
    expect(leftovers()).toEqual([]);
    const t0 = performance.now();
    const r = egress(['demo', '--ipv6']);
    const s = (performance.now() - t0) / 1000;
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/prod\/web-a\s+node-a\s+egress-prod-web\s+198\.18\.0\.253\s+ok/);
    expect(r.stdout).toMatch(/prod\/web-a\s+node-a\s+egress-prod-web-v6\s+2001:2::fd\s+ok/);
    expect(r.stdout).toMatch(/staging\/web-c\s+node-c\s+egress-staging-web-v6\s+2001:2::fe\s+ok/);
    expect(r.stdout).toMatch(/dev\/tools\s+node-b\s+-\s+2001:2::12\s+ok/);
    expect(r.stdout).toMatch(/failover: egress-prod-web-v6's IP 2001:2::fd/);
    expect(r.stdout).toMatch(/the MAC followed the unsolicited Neighbor Advertisement/);
    expect(r.stdout).toMatch(/over IPv4, prod\/web-\w is seen as 198\.18\.0\.253/);
    console.log(
      r.stdout
        .split('\n')
        .filter((l) => /succeeded again|neighbour entry|over IPv4/.test(l))
        .join('\n') + `\ndemo --ipv6: ${s.toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)}; a figure, not a limit)`,
    );
    expect(leftovers()).toEqual([]);
  });
});
