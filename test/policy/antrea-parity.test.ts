/**
 * Antrea semantics that used to differ (issue 17 item 4), at the policy layer: terminated Pods, non-Linux Nodes,
 * Unassigned events of deleted Egresses, the overlap wording between pools. The same rules are checked through the
 * CLI by test/conformance/.
 */
import { describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { T0, agentConfig, at, egress, errorLines, mustApply, namespace, node, pod, pool } from './helpers.js';

const BASE = [
  agentConfig(),
  node('node-a', '198.18.0.11', { podCIDR: '198.19.1.0/24' }),
  node('node-b', '198.18.0.12', { podCIDR: '198.19.2.0/24' }),
  node('node-c', '198.18.0.13', { podCIDR: '198.19.3.0/24' }),
  namespace('prod'),
];
const ALL = new Set(['node-a', 'node-b', 'node-c']);
const withPhase = (p: ReturnType<typeof pod>, phase: string) => ({ ...p, status: { ...p.status, phase } });

describe('terminated Pods (Antrea TestAddEgress, k8s.IsPodTerminated)', () => {
  const s = mustApply(policy.emptyState(), [
    ...BASE,
    pod('prod', 'running', 'node-a', '198.19.1.10', { app: 'web' }),
    withPhase(pod('prod', 'pending', 'node-a', '198.19.1.11', { app: 'web' }), 'Pending'),
    withPhase(pod('prod', 'done', 'node-a', '198.19.1.12', { app: 'web' }), 'Succeeded'),
    withPhase(pod('prod', 'crashed', 'node-a', '198.19.1.13', { app: 'web' }), 'Failed'),
    egress('eg', { appliedTo: { podSelector: { matchLabels: { app: 'web' } } }, egressIP: '198.18.0.12' }),
  ]);

  it('Succeeded and Failed Pods are selected by no Egress; Pending and Running ones are', () => {
    const selected = [...s.pods.values()]
      .filter((p) => policy.selectingEgresses(s, p).length > 0)
      .map((p) => p.metadata.name)
      .sort();
    expect(selected).toEqual(['pending', 'running']);
    expect(policy.selectingEgressesDirect(s, s.pods.get('prod/done')!)).toEqual([]);
  });

  it('their datapath entry leaves with the Node IP', () => {
    const v = policy.compileView({ state: s, node: 'node-a', membership: ALL });
    const egressIp = Object.fromEntries(v.localPods.map((p) => [p.key, p.egressIp]));
    expect(egressIp['prod/running']).not.toBe(0);
    expect(egressIp['prod/done']).toBe(0);
    expect(egressIp['prod/crashed']).toBe(0);
  });

  it('an unknown phase is refused with the API server wording', () => {
    const r = policy.applyObjects(
      policy.emptyState(),
      [...BASE, withPhase(pod('prod', 'x', 'node-a', '198.19.1.10'), 'Done')],
      T0,
    );
    expect(errorLines(r)).toEqual([
      '<objects>:1: document 6 (Pod/prod/x) status.phase: Unsupported value: "Done": supported values: "Pending", "Running", "Succeeded", "Failed", "Unknown"',
    ]);
  });
});

describe('non-Linux Nodes (Antrea memberlist shouldJoinCluster)', () => {
  const win = node('node-w', '198.18.0.14', { podCIDR: '198.19.4.0/24', labels: { 'kubernetes.io/os': 'windows' } });
  const s = mustApply(policy.emptyState(), [
    ...BASE,
    win,
    pool('p', [{ start: '198.18.0.200', end: '198.18.0.239' }]),
    ...Array.from({ length: 40 }, (_, i) =>
      egress(`e${i}`, { appliedTo: { podSelector: {} }, egressIP: `198.18.0.${200 + i}`, externalIPPool: 'p' }),
    ),
    egress('static-win', { appliedTo: { podSelector: {} }, egressIP: '198.18.0.14' }),
  ]);
  const members = new Set([...ALL, 'node-w']);

  it('is in no ring: every pool IP lands where it would if the Node did not exist', () => {
    const sched = policy.schedule(s, members);
    const without = policy.schedule(s, ALL);
    const nodesOf = (m: policy.Schedule) => [...m].map(([n, r]) => [n, r.ok ? r.node : r.error]);
    expect(nodesOf(sched)).toEqual(nodesOf(without));
    expect([...sched.values()].some((r) => r.ok && r.node === 'node-w')).toBe(false);
    expect(policy.allNodesRing(s, members).nodes).toEqual(['node-a', 'node-b', 'node-c']);
  });

  it('hosts no static egress IP either: its Egress has no placement and says why', () => {
    const p = policy.placements(s, policy.schedule(s, members), members).get('static-win')!;
    expect(p).toEqual({
      ok: false,
      reason: 'Node node-w holding static egressIP 198.18.0.14 is not a Linux Node',
      scheduleError: null,
    });
  });

  it('a Node without the label is Linux (the kubelet sets it)', () => {
    expect(s.nodes.get('node-a')!.metadata.labels['kubernetes.io/os']).toBe('linux');
    expect(policy.joinsCluster(s.nodes.get('node-a')!)).toBe(true);
    expect(policy.joinsCluster(s.nodes.get('node-w')!)).toBe(false);
  });
});

describe('events of a deleted Egress (Antrea uninstallEgress)', () => {
  it('no Unassigned event when the Egress is deleted; one when it still exists and loses its IP', () => {
    const s0 = mustApply(policy.emptyState(), [
      ...BASE,
      pool('p', [{ start: '198.18.0.200', end: '198.18.0.201' }]),
      egress('gone', { appliedTo: { podSelector: {} }, externalIPPool: 'p' }),
      egress('moved', { appliedTo: { podSelector: {} }, externalIPPool: 'p' }),
    ]);
    const sim = new policy.ClusterSim(s0);
    const first = sim.settle(at(1)).map((e) => e.reason);
    expect(first).toEqual(['IPAssigned', 'IPAssigned']);
    const d = policy.deleteObjects(s0, [{ kind: 'Egress', name: 'gone' }], at(2));
    const s1 = mustApply(
      d.state,
      [egress('moved', { appliedTo: { podSelector: {} }, egressIP: '198.18.0.12' })],
      at(3),
    );
    sim.setState(s1);
    const msgs = sim.settle(at(4)).map((e) => `${e.reason} ${e.egress}`);
    expect(msgs).toEqual(['IPUnassigned moved']);
  });
});

describe('overlapping pools (antrea #7319 wording)', () => {
  it('names the other pool as "ExternalIPPool X", after the pool\'s own ranges are checked', () => {
    const s = mustApply(policy.emptyState(), [...BASE, pool('qux', [{ cidr: '10.20.0.0/16' }])]);
    const r = policy.applyObjects(s, [pool('foo', [{ cidr: '10.20.30.0/24' }])], T0);
    expect(errorLines(r)).toEqual([
      '<objects>:1: document 1 (ExternalIPPool/foo) spec.ipRanges[0]: range [10.20.30.0/24] overlaps with range [10.20.0.0/16] of ExternalIPPool qux',
    ]);
    // Its own second range overlapping its first is reported first, as Antrea's ValidateIPRangesAndSubnetInfo runs
    // before validateNoOverlappingRanges.
    const r2 = policy.applyObjects(s, [pool('foo', [{ cidr: '10.20.30.0/24' }, { cidr: '10.20.30.0/25' }])], T0);
    expect(errorLines(r2)).toEqual([
      '<objects>:1: document 1 (ExternalIPPool/foo) spec.ipRanges[1]: range [10.20.30.0/25] overlaps with range [10.20.30.0/24]',
    ]);
  });
});
