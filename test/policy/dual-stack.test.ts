/**
 * The dual-stack control plane (docs/ipv6.md §2.e): Pods with `status.podIPs` of both families, Nodes with an
 * IPv6 pod CIDR and address, an IPv4 and an IPv6 Egress selecting the same Pods, and the compiled view's IPv6
 * side; validation of the per-family rules with Kubernetes' messages. Addresses from 198.18.0.0/15 and 2001:2::/48.
 */
import { describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { at, mustApply } from './helpers.js';
import { dualCluster, dualNode, dualPod } from './dual-stack.js';

describe('dual-stack control plane', () => {
  it('an IPv4 and an IPv6 Egress select the same Pods: each family gets its own egress IP', () => {
    const s = dualCluster();
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    expect(s.egresses.get('eg4')!.spec.egressIP).toBe('198.18.1.1');
    expect(s.egresses.get('eg6')!.spec.egressIP).toBe('2001:2:0:e::1');
    const v0 = sim.view('node0')!;
    expect(v0.localPods.map((p) => [p.key, policy.formatIPv4(p.egressIp), p.egressName])).toEqual([
      ['e2e/web-0', '198.18.1.1', 'eg4'],
    ]);
    expect(v0.v6.nodeIp).toBe('2001:2::10');
    expect(v0.v6.podCidr).toBe('2001:2:0:100::/64');
    expect(v0.v6.localPods).toEqual([
      {
        key: 'e2e/web-0',
        ip: '2001:2:0:100::5',
        egressIp: '2001:2:0:e::1',
        egressName: 'eg6',
        egressLocal: true,
        egressNode: 'node0',
        fallback: null,
      },
    ]);
    expect(v0.v6.localEgressIps).toEqual([{ ip: '2001:2:0:e::1', egressNames: ['eg6'] }]);
    expect(v0.v6.remotePods).toEqual([{ ip: '2001:2:0:101::5', egressIp: '2001:2:0:e::1' }]);
    expect(v0.v6.podCidrs.map((r) => [r.cidr, r.node, r.local])).toEqual([
      ['2001:2:0:100::/64', 'node0', true],
      ['2001:2:0:101::/64', 'node1', false],
    ]);
    expect(v0.v6.nodeIps).toEqual(['2001:2::10', '2001:2::11']);
    expect(v0.v6.bypass).toEqual(['2001:2:0:96::/112']);
    const v1 = sim.view('node1')!;
    expect(v1.v6.localPods[0]).toMatchObject({ egressIp: '2001:2:0:e::1', egressLocal: false, egressNode: 'node0' });
    expect(v1.v6.localEgressIps).toEqual([]);
    expect(v1.v6.remotePods).toEqual([]);
  });

  it('IPv6 exceptCIDRs are IPv6 bypass prefixes; an IPv6-only Egress leaves IPv4 with the Node IP, saying why', () => {
    const s = mustApply(dualCluster({ egress: { exceptCIDRs: ['2001:2:0:ee::/64', '198.18.9.0/24'] } }), [
      {
        apiVersion: 'crd.antrea.io/v1beta1',
        kind: 'Egress',
        metadata: { name: 'eg4' },
        spec: { appliedTo: { podSelector: { matchLabels: { app: 'none' } } }, externalIPPool: 'pool-v4' },
      },
    ]);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    const v0 = sim.view('node0')!;
    expect(v0.v6.bypass).toEqual(['2001:2:0:96::/112', '2001:2:0:ee::/64']);
    expect(v0.localPods[0]!.egressIp).toBe(0);
    expect(v0.localPods[0]!.fallback).toBe('Egress eg6: IPv6 egressIP does not apply to IPv4 traffic');
    expect(v0.v6.localPods[0]!.egressName).toBe('eg6');
  });

  it('refuses two addresses of one family in status.podIPs and two CIDRs of one family in spec.podCIDRs', () => {
    const bad = [
      {
        ...dualPod('twice', 'node0', 0),
        status: { podIPs: [{ ip: '2001:2:0:100::7' }, { ip: '2001:2:0:100::8' }] },
      },
      {
        ...dualNode('node9', 9),
        spec: { podCIDRs: ['2001:2:0:109::/64', '2001:2:0:209::/64'] },
      },
    ];
    const r = policy.applyObjects(dualCluster(), bad, at(1));
    expect(r.ok).toBe(false);
    const msgs = policy.errorsOf(r.problems).map(policy.formatProblem);
    expect(
      msgs.some((m) =>
        m.includes(
          'status.podIPs: Invalid value: "2001:2:0:100::7, 2001:2:0:100::8": may specify no more than one IP for each IP family',
        ),
      ),
    ).toBe(true);
    expect(
      msgs.some((m) =>
        m.includes(
          'spec.podCIDRs: Invalid value: "2001:2:0:109::/64, 2001:2:0:209::/64": may specify no more than one CIDR for each IP family',
        ),
      ),
    ).toBe(true);
  });
});
