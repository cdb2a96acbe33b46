/**
 * The compiled datapath view for the reference scenario (examples/reference/cluster.yaml): three Nodes on
 * 198.18.0.0/24, the pool 198.18.0.253-254, Egresses for app=web in prod and staging. Egress Nodes are checked
 * against the Python reference ring, addresses against hand-written int32 values.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { T0, at, mustApply, pod } from './helpers.js';
import { pySchedule } from './python.js';

const REF = join(import.meta.dirname, '..', '..', 'examples', 'reference', 'cluster.yaml');

function reference(): policy.ClusterState {
  const p = policy.parseManifests(readFileSync(REF, 'utf8'), REF);
  const r = policy.applyDocs(policy.emptyState(), p.docs, T0, p.problems);
  expect(policy.errorsOf(r.problems)).toEqual([]);
  return r.state;
}

/** a.b.c.d as int32, computed by hand-style arithmetic (not by the code under test). */
const ip4 = (a: number, b: number, c: number, d: number) => (a << 24) | (b << 16) | (c << 8) | d | 0;
const ALL = new Set(['node-a', 'node-b', 'node-c']);

describe('compiled view of the reference scenario', () => {
  const state = reference();
  const owners = pySchedule({
    pools: { 'egress-pool': ['node-a', 'node-b', 'node-c'] },
    capacity: {},
    egresses: [
      { name: 'egress-prod-web', ip: '198.18.0.253', pool: 'egress-pool' },
      { name: 'egress-staging-web', ip: '198.18.0.254', pool: 'egress-pool' },
    ],
  });
  const prodNode = owners['egress-prod-web']!;
  const stagingNode = owners['egress-staging-web']!;
  const views = new Map([...ALL].map((n) => [n, policy.compileView({ state, node: n, membership: ALL })]));

  it('allocates the last two addresses of the segment in name order', () => {
    expect(state.egresses.get('egress-prod-web')!.spec.egressIP).toBe('198.18.0.253');
    expect(state.egresses.get('egress-staging-web')!.spec.egressIP).toBe('198.18.0.254');
    expect(state.pools.get('egress-pool')!.status.usage).toEqual({ total: 2, used: 2 });
  });

  it('describes the Node', () => {
    expect(views.get('node-a')!.node).toEqual({
      name: 'node-a',
      transportIp: ip4(198, 18, 0, 11),
      transportIp6: null, // an IPv4 transport address: the IPv4 underlay
      podCidr: { addr: ip4(198, 19, 1, 0), len: 24, mask: ip4(255, 255, 255, 0) },
      mtu: 1500,
      podMtu: 1450,
      tunnelPort: 6081,
      snatFullyRandomPorts: false,
      transportCidr: { addr: ip4(198, 18, 0, 0), len: 24, mask: ip4(255, 255, 255, 0) },
      defaultGateway: null,
      serviceCidr: { addr: ip4(198, 19, 64, 0), len: 20, mask: ip4(255, 255, 240, 0) },
    });
  });

  it('gives each local Pod its effective egress IP, where it is hosted, or the Node IP', () => {
    const pods = (n: string) =>
      views.get(n)!.localPods.map((p) => [p.key, p.ip, p.egressIp, p.egressName, p.egressNode, p.egressLocal]);
    expect(pods('node-a')).toEqual([
      ['prod/web-a', ip4(198, 19, 1, 10), ip4(198, 18, 0, 253), 'egress-prod-web', prodNode, prodNode === 'node-a'],
      [
        'staging/web-d',
        ip4(198, 19, 1, 11),
        ip4(198, 18, 0, 254),
        'egress-staging-web',
        stagingNode,
        stagingNode === 'node-a',
      ],
    ]);
    expect(pods('node-b')).toEqual([
      ['dev/tools', ip4(198, 19, 2, 11), 0, null, null, false],
      ['prod/web-b', ip4(198, 19, 2, 10), ip4(198, 18, 0, 253), 'egress-prod-web', prodNode, prodNode === 'node-b'],
    ]);
    expect(pods('node-c')).toEqual([
      [
        'staging/web-c',
        ip4(198, 19, 3, 10),
        ip4(198, 18, 0, 254),
        'egress-staging-web',
        stagingNode,
        stagingNode === 'node-c',
      ],
    ]);
    expect(views.get('node-b')!.localPodByIp.get(ip4(198, 19, 2, 11))!.fallback).toBeNull(); // not selected at all
  });

  it('hosts each egress IP on exactly its scheduled Node, and every Node knows the owners', () => {
    for (const [n, v] of views) {
      const hosted = v.localEgressIps.map((l) => [l.text, l.egressNames]);
      const want: [string, string[]][] = [];
      if (prodNode === n) want.push(['198.18.0.253', ['egress-prod-web']]);
      if (stagingNode === n) want.push(['198.18.0.254', ['egress-staging-web']]);
      expect(hosted).toEqual(want);
      expect([...v.localEgressIpSet].sort()).toEqual(want.map(([t]) => policy.ipv4ToInt32(t)!).sort());
      expect(v.egressIpOwner.get(ip4(198, 18, 0, 253))).toBe(prodNode);
      expect(v.egressIpOwner.get(ip4(198, 18, 0, 254))).toBe(stagingNode);
    }
  });

  it('lists every Pod CIDR with its Node, every Node IP, and the bypass prefixes of §4.d', () => {
    const v = views.get('node-b')!;
    expect(v.podCidrs.map((r) => [r.addr, r.len, r.node, r.nodeIp, r.local])).toEqual([
      [ip4(198, 19, 1, 0), 24, 'node-a', ip4(198, 18, 0, 11), false],
      [ip4(198, 19, 2, 0), 24, 'node-b', ip4(198, 18, 0, 12), true],
      [ip4(198, 19, 3, 0), 24, 'node-c', ip4(198, 18, 0, 13), false],
    ]);
    expect([...v.podCidrAddr]).toEqual(v.podCidrs.map((r) => r.addr));
    expect([...v.nodeIps]).toEqual([ip4(198, 18, 0, 11), ip4(198, 18, 0, 12), ip4(198, 18, 0, 13)]);
    expect(v.bypass.map(policy.formatPrefix4)).toEqual([
      '198.18.0.11/32',
      '198.18.0.12/32',
      '198.18.0.13/32',
      '198.19.1.0/24',
      '198.19.2.0/24',
      '198.19.3.0/24',
      '198.19.64.0/20',
    ]);
    expect(policy.isBypass(v, ip4(198, 19, 3, 99))).toBe(true); // a remote Pod
    expect(policy.isBypass(v, ip4(198, 19, 65, 1))).toBe(true); // a Service
    expect(policy.isBypass(v, ip4(198, 18, 0, 13))).toBe(true); // a Node
    expect(policy.isBypass(v, ip4(198, 18, 0, 100))).toBe(false); // showip: external
    expect(policy.matchPrefix(v.podCidrAddr, v.podCidrMask, ip4(198, 19, 3, 7))).toBe(2);
    expect(policy.podCidrOf(v, ip4(198, 19, 3, 7))!.node).toBe('node-c');
    expect(policy.podCidrOf(v, ip4(198, 19, 4, 7))).toBeNull();
  });

  it('PrefixTable finds the longest prefix', () => {
    const p = (t: string) => policy.parsePrefix4(t)!;
    const t = new policy.PrefixTable([p('10.0.0.0/8'), p('10.1.0.0/16'), p('10.1.2.3/32'), p('0.0.0.0/0')]);
    expect(t.lookup(ip4(10, 1, 2, 3))).toBe(2);
    expect(t.lookup(ip4(10, 1, 9, 9))).toBe(1);
    expect(t.lookup(ip4(10, 200, 0, 1))).toBe(0);
    expect(t.lookup(ip4(192, 0, 2, 1))).toBe(3);
    expect(new policy.PrefixTable([p('10.0.0.0/8')]).lookup(ip4(11, 0, 0, 0))).toBe(-1);
  });

  it('carries the external hosts of the segment', () => {
    const h = views.get('node-a')!.externalHosts;
    expect(h.map((x) => [x.name, x.ip, x.len])).toEqual([['showip', ip4(198, 18, 0, 100), 24]]);
    expect(h[0]!.command![0]).toBe('/usr/bin/python3');
  });

  it('is immutable, and swapped (new object, generation + 1) only when its content changes', () => {
    const v = views.get('node-a')!;
    expect(Object.isFrozen(v)).toBe(true);
    expect(Object.isFrozen(v.localPods)).toBe(true);
    expect(Object.isFrozen(v.localPods[0])).toBe(true);
    expect(() => {
      (v.localPods as policy.LocalPod[]).push(v.localPods[0]!);
    }).toThrow(TypeError);
    expect(v.generation).toBe(1);
    expect(v.hash).toMatch(/^[0-9a-f]{64}$/);

    // Same content (a fresh parse of the same files) → the very same object.
    const again = policy.compileView({ state: reference(), node: 'node-a', membership: ALL }, v);
    expect(again).toBe(v);

    // A change that does not concern node-a's content still leaves its view alone...
    const s2 = mustApply(state, [pod('dev', 'tools2', 'node-c', '198.19.3.11', { app: 'tools' })], at(1));
    expect(policy.compileView({ state: s2, node: 'node-a', membership: ALL }, v)).toBe(v);
    // ...one that does gives a new view.
    const s3 = policy.deleteObjects(s2, [{ kind: 'Egress', name: 'egress-prod-web' }], at(2)).state;
    const v3 = policy.compileView({ state: s3, node: 'node-a', membership: ALL }, v);
    expect(v3).not.toBe(v);
    expect(v3.generation).toBe(2);
    expect(v3.hash).not.toBe(v.hash);
    expect(v3.localPods[0]!.egressIp).toBe(0);
    expect(v.localPods[0]!.egressIp).toBe(ip4(198, 18, 0, 253)); // the old view is untouched
  });

  it('follows membership: a dead Egress Node moves its IP in every surviving view', () => {
    const alive = new Set([...ALL].filter((n) => n !== prodNode));
    const survivor = [...alive][0]!;
    const v = policy.compileView({ state, node: survivor, membership: alive });
    const newOwner = v.egressIpOwner.get(ip4(198, 18, 0, 253))!;
    expect(newOwner).not.toBe(prodNode);
    const want = pySchedule({
      pools: { 'egress-pool': [...alive] },
      capacity: {},
      egresses: [
        { name: 'egress-prod-web', ip: '198.18.0.253', pool: 'egress-pool' },
        { name: 'egress-staging-web', ip: '198.18.0.254', pool: 'egress-pool' },
      ],
    });
    expect(newOwner).toBe(want['egress-prod-web']);
  });

  it('excludes hostNetwork Pods and Pods without an IP; adds exceptCIDRs to the bypass list', () => {
    const s = mustApply(
      state,
      [
        pod('prod', 'host', 'node-a', '198.18.0.11', { app: 'web' }, true),
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'pending', namespace: 'prod', labels: { app: 'web' } },
          spec: { nodeName: 'node-a' },
        },
        {
          apiVersion: 'egress-engine/v1alpha1',
          kind: 'AgentConfig',
          metadata: { name: 'default' },
          transportCIDR: '198.18.0.0/24',
          serviceCIDR: '198.19.64.0/20',
          egress: { exceptCIDRs: ['192.0.2.0/24', '2001:db8::/32'], snatFullyRandomPorts: true },
        },
      ],
      at(1),
    );
    const v = policy.compileView({ state: s, node: 'node-a', membership: ALL });
    expect(v.localPods.map((p) => p.key)).toEqual(['prod/web-a', 'staging/web-d']);
    expect(v.bypass.map(policy.formatPrefix4)).toContain('192.0.2.0/24');
    expect(v.node!.snatFullyRandomPorts).toBe(true);
  });

  it('carries the rate limit of a hosted egress IP when EgressTrafficShaping is on (oldest Egress wins)', () => {
    const bw = (name: string, rate: string, burst: string) => ({
      apiVersion: 'crd.antrea.io/v1beta1',
      kind: 'Egress',
      metadata: { name },
      spec: {
        appliedTo: { podSelector: { matchLabels: { app: 'none' } } },
        egressIP: '198.18.0.11',
        bandwidth: { rate, burst },
      },
    });
    const cfg = (on: boolean) => ({
      apiVersion: 'egress-engine/v1alpha1',
      kind: 'AgentConfig',
      metadata: { name: 'default' },
      transportCIDR: '198.18.0.0/24',
      featureGates: { EgressTrafficShaping: on },
    });
    const off = policy.applyObjects(state, [bw('shaped', '100M', '200M')], at(1));
    expect(policy.warningsOf(off.problems).map((p) => p.message)).toEqual([
      'ignored: feature gate EgressTrafficShaping is disabled',
    ]);
    let s = off.state;
    expect(policy.compileView({ state: s, node: 'node-a', membership: ALL }).localEgressIps[0]!.bandwidth).toBeNull();
    s = mustApply(s, [cfg(true), bw('later', '1G', '1G')], at(2));
    const l = policy.compileView({ state: s, node: 'node-a', membership: ALL }).localEgressIps[0]!;
    expect([l.text, l.static, l.egressNames]).toEqual(['198.18.0.11', true, ['later', 'shaped']]);
    expect(l.bandwidth).toEqual({ rateKbps: 100_000, burstKbps: 200_000 });
  });

  it('carries the pool subnetInfo of each egress IP', () => {
    const s = mustApply(
      state,
      [
        {
          apiVersion: 'crd.antrea.io/v1beta1',
          kind: 'ExternalIPPool',
          metadata: { name: 'vlan-pool' },
          spec: {
            ipRanges: [{ start: '203.0.113.10', end: '203.0.113.10' }],
            subnetInfo: { gateway: '203.0.113.1', prefixLength: 24, vlan: 42 },
            nodeSelector: {},
          },
        },
        {
          apiVersion: 'crd.antrea.io/v1beta1',
          kind: 'Egress',
          metadata: { name: 'vlan-egress' },
          spec: { appliedTo: { podSelector: { matchLabels: { app: 'tools' } } }, externalIPPool: 'vlan-pool' },
        },
      ],
      at(1),
    );
    const v = policy.compileView({ state: s, node: 'node-b', membership: ALL });
    expect(v.egressIpSubnet.get(ip4(203, 0, 113, 10))).toEqual({
      gateway: ip4(203, 0, 113, 1),
      prefixLength: 24,
      vlan: 42,
    });
    const tools = v.localPodByIp.get(ip4(198, 19, 2, 11))!;
    expect([tools.egressName, tools.egressIp]).toEqual(['vlan-egress', ip4(203, 0, 113, 10)]);
  });
});
