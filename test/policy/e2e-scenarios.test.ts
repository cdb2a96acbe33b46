/**
 * The control-plane cases of Antrea's e2e list (docs/semantics.md §6, test/e2e/egress_test.go), as unit tests: the
 * whole cluster runs in one process (ClusterSim), membership is simulated, Node choices are checked against the
 * Python reference scheduler (python.ts).
 */
import { describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { T0, agentConfig, at, conds, egress, mustApply, namespace, node, pod, pool } from './helpers.js';
import { pySchedule } from './python.js';

const NODES = ['node0', 'node1', 'node2'];

/** Three Nodes (198.18.0.10+i), one Pod per Node selected by app=web in namespace e2e. */
function cluster(extra: unknown[] = [], config: Record<string, unknown> = {}): policy.ClusterState {
  return mustApply(policy.emptyState(), [
    agentConfig(config),
    ...NODES.map((n, i) => node(n, `198.18.0.${10 + i}`, { podCIDR: `10.10.${i}.0/24` })),
    namespace('e2e'),
    ...NODES.map((n, i) => pod('e2e', `client-${i}`, n, `10.10.${i}.5`, { app: 'web' })),
    ...extra,
  ]);
}

const hostname = (...names: string[]) => ({
  matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: names }],
});

const ASSIGNED_TRUE = ['IPAssigned', 'True', 'Assigned', 'EgressIP is successfully assigned to EgressNode'];
const ALLOCATED_TRUE = ['IPAllocated', 'True', 'Allocated', 'EgressIP is successfully allocated'];
const msgs = (evs: readonly policy.EgressEvent[]) => evs.map((e) => e.message);

describe('testEgressCRUD', () => {
  it('single matching Node: .1 of a /30, conditions, one event, usage, cleanup', () => {
    let s = cluster([
      pool('pool-100', [{ cidr: '169.254.100.0/30' }], hostname('node0')),
      egress('eg1', { externalIPPool: 'pool-100' }),
    ]);
    const sim = new policy.ClusterSim(s);
    const events = sim.settle(at(1));
    expect(s.egresses.get('eg1')!.spec.egressIP).toBe('169.254.100.1');
    const st = sim.status().get('eg1')!;
    expect(st.egressNode).toBe('node0');
    expect(st.egressIP).toBe('169.254.100.1');
    expect(conds(st)).toEqual([ASSIGNED_TRUE, ALLOCATED_TRUE]);
    expect(msgs(events)).toEqual(['Assigned Egress eg1 with IP 169.254.100.1 on Node node0']);
    expect(s.pools.get('pool-100')!.status.usage).toEqual({ total: 2, used: 1 });
    expect(sim.view('node0')!.localEgressIps.map((l) => l.text)).toEqual(['169.254.100.1']);
    expect(sim.view('node1')!.localEgressIps).toEqual([]);

    const d = policy.deleteObjects(s, [{ kind: 'Egress', name: 'eg1' }], at(2));
    s = d.state;
    expect(d.controller).toEqual([{ egress: 'eg1', action: 'released', ip: '169.254.100.1', pool: 'pool-100' }]);
    sim.setState(s);
    // No Unassigned event for a deleted Egress (Antrea's uninstallEgress records one only while it exists).
    expect(msgs(sim.settle(at(3)))).toEqual([]);
    expect(s.pools.get('pool-100')!.status.usage).toEqual({ total: 2, used: 0 });
    expect(sim.view('node0')!.localEgressIps).toEqual([]);
  });

  it('single matching Node with an IPv6 range: ::aaa1 of a /124, total 15', () => {
    const s = cluster([
      pool('pool-v6', [{ cidr: '2021:1::aaa0/124' }], hostname('node0')),
      egress('eg6', { externalIPPool: 'pool-v6' }),
    ]);
    const sim = new policy.ClusterSim(s);
    const events = sim.settle(at(1));
    expect(s.egresses.get('eg6')!.spec.egressIP).toBe('2021:1::aaa1');
    expect(s.pools.get('pool-v6')!.status.usage).toEqual({ total: 15, used: 1 });
    const st = sim.status().get('eg6')!;
    expect([st.egressNode, st.egressIP]).toEqual(['node0', '2021:1::aaa1']);
    expect(conds(st)).toEqual([ASSIGNED_TRUE, ALLOCATED_TRUE]);
    expect(msgs(events)).toEqual(['Assigned Egress eg6 with IP 2021:1::aaa1 on Node node0']);
    // Not an IPv4 egress IP: IPv4 traffic keeps the Node IP; the view's IPv6 side hosts it.
    const v = sim.view('node0')!;
    expect(v.localEgressIps).toEqual([]);
    expect(v.localPods[0]!.egressIp).toBe(0);
    expect(v.v6.localEgressIps).toEqual([{ ip: '2021:1::aaa1', egressNames: ['eg6'] }]);
    expect(v.v6.egressIpOwner.get('2021:1::aaa1')).toBe('node0');
  });

  it('two matching Nodes: .10 of a start-end range, on the Node the Python ring picks', () => {
    const s = cluster([
      pool('pool-101', [{ start: '169.254.101.10', end: '169.254.101.11' }], hostname('node0', 'node1')),
      egress('eg2', { externalIPPool: 'pool-101' }),
    ]);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    const st = sim.status().get('eg2')!;
    expect(st.egressIP).toBe('169.254.101.10');
    expect(['node0', 'node1']).toContain(st.egressNode);
    const want = pySchedule({
      pools: { 'pool-101': ['node0', 'node1'] },
      capacity: {},
      egresses: [{ name: 'eg2', ip: '169.254.101.10', pool: 'pool-101' }],
    });
    expect(st.egressNode).toBe(want['eg2']);
    expect(s.pools.get('pool-101')!.status.usage.total).toBe(2);
  });

  it('no matching Node: IP allocated, no Node, AssignmentError "no Node available", Pods fall back', () => {
    let s = cluster([
      pool('pool-102', [{ cidr: '169.254.102.0/30' }], { matchLabels: { foo: 'bar' } }),
      egress('eg3', { externalIPPool: 'pool-102' }),
    ]);
    const sim = new policy.ClusterSim(s);
    expect(sim.settle(at(1))).toEqual([]);
    const st = sim.status().get('eg3')!;
    expect(s.egresses.get('eg3')!.spec.egressIP).toBe('169.254.102.1');
    expect([st.egressNode, st.egressIP]).toEqual(['', '']);
    expect(conds(st)).toEqual([
      ['IPAssigned', 'False', 'AssignmentError', 'Failed to assign the IP to EgressNode: no Node available'],
      ALLOCATED_TRUE,
    ]);
    // Exactly one agent (the "" ring's pick for the key 169.254.102.1) wrote it.
    const writers = [...sim.files().values()].filter((f) => f.egresses['eg3']).map((f) => f.node);
    expect(writers).toEqual([new policy.HashRing(NODES).get('169.254.102.1')]);
    for (const n of NODES) {
      const lp = sim.view(n)!.localPods[0]!;
      expect(lp.egressIp).toBe(0);
      expect(lp.fallback).toBe('Egress eg3: no Node available');
    }
    expect(s.pools.get('pool-102')!.status.usage.used).toBe(1);
    s = policy.deleteObjects(s, [{ kind: 'Egress', name: 'eg3' }], at(2)).state;
    expect(s.pools.get('pool-102')!.status.usage.used).toBe(0);
  });
});

describe('testEgressUpdateEgressIP', () => {
  for (const [title, poolBNode] of [
    ['different Nodes', 'node1'],
    ['same Node', 'node0'],
  ] as const) {
    it(`${title}: events [Assigned A], then [Unassigned A, Assigned B]`, () => {
      let s = cluster([
        pool('pool-a', [{ cidr: '169.254.110.0/30' }], hostname('node0')),
        pool('pool-b', [{ cidr: '169.254.111.0/30' }], hostname(poolBNode)),
        egress('eg', { externalIPPool: 'pool-a' }),
      ]);
      const sim = new policy.ClusterSim(s);
      expect(msgs(sim.settle(at(1)))).toEqual(['Assigned Egress eg with IP 169.254.110.1 on Node node0']);
      s = mustApply(s, [egress('eg', { externalIPPool: 'pool-b', egressIP: '169.254.111.1' })], at(2));
      sim.setState(s);
      expect(msgs(sim.settle(at(3)))).toEqual([
        'Unassigned Egress eg with IP 169.254.110.1 from Node node0',
        `Assigned Egress eg with IP 169.254.111.1 on Node ${poolBNode}`,
      ]);
      const st = sim.status().get('eg')!;
      expect([st.egressIP, st.egressNode]).toEqual(['169.254.111.1', poolBNode]);
      expect(s.pools.get('pool-a')!.status.usage.used).toBe(0); // the old IP was released
      expect(s.pools.get('pool-b')!.status.usage.used).toBe(1);
      expect(sim.view('node0')!.localEgressIps.map((l) => l.text)).toEqual(
        poolBNode === 'node0' ? ['169.254.111.1'] : [],
      );
    });
  }
});

describe('testEgressUpdateNodeSelector and Node failure', () => {
  it('moves the IP when its Node leaves the selector, and back', () => {
    const poolSpec = (names: string[]) => pool('pool-s', [{ cidr: '169.254.120.0/30' }], hostname(...names));
    let s = cluster([poolSpec(['node0', 'node1']), egress('eg', { externalIPPool: 'pool-s' })]);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    const first = sim.status().get('eg')!.egressNode;
    const other = first === 'node0' ? 'node1' : 'node0';
    expect(first).toBe(
      pySchedule({
        pools: { 'pool-s': ['node0', 'node1'] },
        capacity: {},
        egresses: [{ name: 'eg', ip: '169.254.120.1', pool: 'pool-s' }],
      })['eg'],
    );

    s = mustApply(s, [poolSpec([other])], at(2));
    sim.setState(s);
    expect(msgs(sim.settle(at(3)))).toEqual([
      `Unassigned Egress eg with IP 169.254.120.1 from Node ${first}`,
      `Assigned Egress eg with IP 169.254.120.1 on Node ${other}`,
    ]);
    expect(sim.status().get('eg')!.egressNode).toBe(other);
    expect(sim.view(first)!.localEgressIps).toEqual([]);

    s = mustApply(s, [poolSpec(['node0', 'node1'])], at(4));
    sim.setState(s);
    sim.settle(at(5));
    expect(sim.status().get('eg')!.egressNode).toBe(first);
  });

  it('moves the IP when its Node dies (membership), the new owner announces it, and back when it returns', () => {
    const s = cluster([
      pool('pool-f', [{ cidr: '169.254.130.0/30' }], hostname('node0', 'node1')),
      egress('eg', { externalIPPool: 'pool-f' }),
    ]);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    const owner = sim.status().get('eg')!.egressNode;
    const other = owner === 'node0' ? 'node1' : 'node0';
    const alive = NODES.filter((n) => n !== owner);
    const step = sim.step(at(2), { alive });
    expect(msgs(step.events)).toEqual([`Assigned Egress eg with IP 169.254.130.1 on Node ${other}`]);
    expect(step.results.get(other)!.announce).toEqual(['169.254.130.1']);
    sim.settle(at(2), { alive });
    expect(sim.status().get('eg')!.egressNode).toBe(other);
    // Source Nodes now tunnel to the egress IP, which the new owner holds.
    expect(sim.view('node2')!.egressIpOwner.get(policy.ipv4ToInt32('169.254.130.1')!)).toBe(other);

    // The owner was frozen, not dead (SIGSTOP in the e2e test): it still holds the IP, so it emits no new
    // Assigned event, but it re-announces it because the status names another Node (PR #5127), and rewrites it.
    const back = sim.step(at(3));
    expect(msgs(back.events)).toEqual([`Unassigned Egress eg with IP 169.254.130.1 from Node ${other}`]);
    expect(back.results.get(owner)!.announce).toEqual(['169.254.130.1']);
    expect(back.results.get(other)!.released).toEqual(['169.254.130.1']);
    sim.settle(at(3));
    expect(sim.status().get('eg')!.egressNode).toBe(owner);
  });
});

describe('capacity (maxEgressIPsPerNode) with oldest Egress first', () => {
  it('the oldest Egresses get the slots; the Python scheduler agrees', () => {
    let s = cluster([pool('pool-c', [{ cidr: '169.254.140.0/28' }], hostname('node0', 'node1'))], {
      egress: { maxEgressIPsPerNode: 1 },
    });
    // Created at different times: e-old first, then e-mid, then e-new (names in reverse order on purpose).
    s = mustApply(s, [egress('z-old', { externalIPPool: 'pool-c' })], at(10));
    s = mustApply(s, [egress('y-mid', { externalIPPool: 'pool-c' })], at(20));
    s = mustApply(s, [egress('x-new', { externalIPPool: 'pool-c' })], at(30));
    const ips = ['z-old', 'y-mid', 'x-new'].map((n) => s.egresses.get(n)!.spec.egressIP!);
    expect(ips).toEqual(['169.254.140.1', '169.254.140.2', '169.254.140.3']);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(31));
    const st = sim.status();
    const want = pySchedule({
      pools: { 'pool-c': ['node0', 'node1'] },
      capacity: {},
      defaultCapacity: 1,
      egresses: ['z-old', 'y-mid', 'x-new'].map((name, i) => ({ name, ip: ips[i]!, pool: 'pool-c' })),
    });
    expect(want['x-new']).toBe('');
    for (const n of ['z-old', 'y-mid', 'x-new']) expect(st.get(n)!.egressNode, n).toBe(want[n]);
    expect(new Set([st.get('z-old')!.egressNode, st.get('y-mid')!.egressNode])).toEqual(new Set(['node0', 'node1']));
    expect(conds(st.get('x-new'))[0]).toEqual([
      'IPAssigned',
      'False',
      'AssignmentError',
      'Failed to assign the IP to EgressNode: no Node available',
    ]);

    // Deleting the oldest frees a slot for the newest.
    s = policy.deleteObjects(s, [{ kind: 'Egress', name: 'z-old' }], at(40)).state;
    sim.setState(s);
    sim.settle(at(41));
    expect(sim.status().get('x-new')!.egressNode).not.toBe('');
  });

  it('the per-Node annotation overrides the default; Egresses sharing an IP use one slot', () => {
    const s0 = cluster([pool('pool-d', [{ cidr: '169.254.150.0/28' }], hostname('node0', 'node1'))], {
      egress: { maxEgressIPsPerNode: 1 },
    });
    const s1 = mustApply(
      s0,
      [
        node('node1', '198.18.0.11', {
          podCIDR: '10.10.1.0/24',
          annotations: { 'node.antrea.io/max-egress-ips': '0' },
        }),
        egress('a', { externalIPPool: 'pool-d', egressIP: '169.254.150.5' }),
      ],
      at(1),
    );
    const s = mustApply(s1, [egress('b', { externalIPPool: 'pool-d', egressIP: '169.254.150.5' })], at(2));
    // b's pinned IP is taken by a: allocation fails (Antrea keeps scheduling it anyway).
    expect(conds(s.egresses.get('b')!.status)[0]![2]).toBe('AllocationError');
    const sched = policy.schedule(s, new Set(NODES));
    expect(sched.get('a')).toEqual({ ok: true, ip: '169.254.150.5', node: 'node0' });
    expect(sched.get('b')).toEqual({ ok: true, ip: '169.254.150.5', node: 'node0' }); // same IP, same slot
    expect(policy.maxEgressIPs(s.nodes.get('node1'), 1)).toBe(0);
  });
});

describe('ExternalIPPool deletion', () => {
  it('clears the Egress IP (IPAllocated=False), unassigns it, and reallocates when the pool returns', () => {
    const p = pool('pool-del', [{ cidr: '169.254.160.0/30' }], hostname('node0'));
    let s = cluster([p, egress('eg', { externalIPPool: 'pool-del' })]);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    const d = policy.deleteObjects(s, [{ kind: 'ExternalIPPool', name: 'pool-del' }], at(2));
    s = d.state;
    expect(d.controller).toEqual([
      { egress: 'eg', action: 'cleared', pool: 'pool-del' },
      { egress: 'eg', action: 'error', pool: 'pool-del', message: 'ExternalIPPool pool-del does not exist' },
    ]);
    expect(s.egresses.get('eg')!.spec.egressIP).toBeUndefined();
    sim.setState(s);
    expect(msgs(sim.settle(at(3)))).toEqual(['Unassigned Egress eg with IP 169.254.160.1 from Node node0']);
    const st = sim.status().get('eg')!;
    expect([st.egressNode, st.egressIP]).toEqual(['', '']);
    expect(conds(st)).toEqual([
      [
        'IPAllocated',
        'False',
        'AllocationError',
        'Cannot allocate EgressIP from ExternalIPPool: ExternalIPPool pool-del does not exist',
      ],
    ]);
    expect(sim.view('node0')!.localPods[0]!.egressIp).toBe(0);

    s = mustApply(s, [p], at(4));
    expect(s.egresses.get('eg')!.spec.egressIP).toBe('169.254.160.1');
    sim.setState(s);
    expect(msgs(sim.settle(at(5)))).toEqual(['Assigned Egress eg with IP 169.254.160.1 on Node node0']);
    expect(conds(sim.status().get('eg'))).toEqual([ASSIGNED_TRUE, ALLOCATED_TRUE]);
  });
});

describe('feature gate Egress off', () => {
  it('ignores Egress objects with a warning; Pods use their Node IP; turning it on allocates', () => {
    const r = policy.applyObjects(
      policy.emptyState(),
      [
        agentConfig({ featureGates: { Egress: false } }),
        node('node0', '198.18.0.10', { podCIDR: '10.10.0.0/24' }),
        pod('default', 'p', 'node0', '10.10.0.5', { app: 'web' }),
        pool('pool-g', [{ cidr: '169.254.170.0/30' }]),
        egress('eg', { externalIPPool: 'pool-g' }),
      ],
      T0,
    );
    expect(r.ok).toBe(true);
    expect(
      policy
        .warningsOf(r.problems)
        .map((p) => p.message)
        .filter((m) => m.includes('feature gate')),
    ).toEqual(["feature gate Egress is disabled: 1 Egress object(s) are ignored and Pods leave with their Node's IP"]);
    let s = r.state;
    expect(s.egresses.get('eg')!.spec.egressIP).toBeUndefined();
    expect(s.egresses.get('eg')!.status.conditions).toBeUndefined();
    const sim = new policy.ClusterSim(s);
    expect(sim.settle(at(1))).toEqual([]);
    const v = sim.view('node0')!;
    expect(v.egressEnabled).toBe(false);
    expect(v.localPods[0]!.egressIp).toBe(0);
    expect(v.localPods[0]!.fallback).toBeNull();
    expect(sim.status().get('eg')).toEqual({ egressNode: '', egressIP: '' });

    s = mustApply(s, [agentConfig({ featureGates: { Egress: true } })], at(2));
    expect(s.egresses.get('eg')!.spec.egressIP).toBe('169.254.170.1');
    sim.setState(s);
    expect(msgs(sim.settle(at(3)))).toEqual(['Assigned Egress eg with IP 169.254.170.1 on Node node0']);
  });
});

describe('static Egress', () => {
  it('is hosted by the Node that declares its IP (annotation) or whose transport IP it is; no conditions, no events', () => {
    const s = mustApply(cluster(), [
      node('node2', '198.18.0.12', {
        podCIDR: '10.10.2.0/24',
        annotations: { 'egress-engine.io/static-egress-ips': '198.18.0.50' },
      }),
      egress('st-ann', { egressIP: '198.18.0.50' }),
      egress('st-node', { egressIP: '198.18.0.11', appliedTo: { podSelector: { matchLabels: { none: 'x' } } } }),
    ]);
    const sim = new policy.ClusterSim(s);
    expect(sim.settle(at(1))).toEqual([]);
    expect(sim.status().get('st-ann')).toEqual({ egressNode: 'node2', egressIP: '198.18.0.50' });
    expect(sim.status().get('st-node')).toEqual({ egressNode: 'node1', egressIP: '198.18.0.11' });
    expect(sim.view('node2')!.localEgressIps).toEqual([
      {
        ip: policy.ipv4ToInt32('198.18.0.50'),
        text: '198.18.0.50',
        egressNames: ['st-ann'],
        static: true,
        subnet: null,
        bandwidth: null,
      },
    ]);
    const lp0 = sim.view('node0')!.localPods[0]!;
    expect([lp0.egressName, lp0.egressNode, lp0.egressLocal]).toEqual(['st-ann', 'node2', false]);
  });

  it('whose IP is on no Node falls back to the Node IP and says so (Antrea blackholes it, #6228)', () => {
    const s = cluster([egress('st-none', { egressIP: '198.18.0.77' })]);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    expect(conds(sim.status().get('st-none'))).toEqual([
      [
        'IPAssigned',
        'False',
        'AssignmentError',
        'Failed to assign the IP to EgressNode: static egressIP 198.18.0.77 is on no Node',
      ],
    ]);
    for (const n of NODES) {
      const lp = sim.view(n)!.localPods[0]!;
      expect([lp.egressIp, lp.fallback]).toEqual([0, 'Egress st-none: static egressIP 198.18.0.77 is on no Node']);
    }
  });

  it('whose Node is dead falls back to the Node IP on the other Nodes', () => {
    const s = cluster([egress('st', { egressIP: '198.18.0.12' })]);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1), { alive: ['node0', 'node1'] });
    expect(sim.view('node0')!.localPods[0]!.fallback).toBe(
      'Egress st: Node node2 holding static egressIP 198.18.0.12 is not alive',
    );
  });
});

describe('several Egresses selecting one Pod', () => {
  it('the oldest with a usable IP is effective; the others are alternatives (deterministic on every Node)', () => {
    let s = cluster([pool('pool-m', [{ cidr: '169.254.180.0/29' }], hostname('node0'))]);
    s = mustApply(s, [egress('young', { externalIPPool: 'pool-m' })], at(20));
    s = mustApply(s, [egress('old', { externalIPPool: 'pool-m' })], at(10)); // created later but stamped earlier
    s = mustApply(s, [egress('oldest-nowhere', { egressIP: '198.18.0.99' })], at(5));
    const sim = new policy.ClusterSim(s);
    sim.settle(at(30));
    for (const n of NODES) {
      const lp = sim.view(n)!.localPods[0]!;
      expect(lp.egressName).toBe('old');
      expect(lp.alternatives).toEqual(['oldest-nowhere', 'young']);
    }
    s = policy.deleteObjects(s, [{ kind: 'Egress', name: 'old' }], at(31)).state;
    sim.setState(s);
    sim.settle(at(32));
    expect(sim.view('node1')!.localPods[0]!.egressName).toBe('young');
  });
});

describe('controller restart', () => {
  it('re-registers existing allocations before handing out new ones', () => {
    let s = cluster([
      pool('pool-r', [{ cidr: '169.254.190.0/29' }]),
      egress('a', { externalIPPool: 'pool-r' }),
      egress('b', { externalIPPool: 'pool-r', egressIP: '169.254.190.2' }),
    ]);
    expect(s.egresses.get('a')!.spec.egressIP).toBe('169.254.190.1');
    s = mustApply(s, [egress('c', { externalIPPool: 'pool-r' })], at(1));
    expect(s.egresses.get('c')!.spec.egressIP).toBe('169.254.190.3');
    // Lose the controller's bookkeeping (a restart), then ask for one more IP.
    const restarted: policy.ClusterState = { ...s, controller: null };
    const r = policy.applyObjects(restarted, [egress('d', { externalIPPool: 'pool-r' })], at(2));
    expect(r.ok).toBe(true);
    const got = ['a', 'b', 'c', 'd'].map((n) => r.state.egresses.get(n)!.spec.egressIP);
    expect(got).toEqual(['169.254.190.1', '169.254.190.2', '169.254.190.3', '169.254.190.4']);
    expect(r.state.controller!.allocations.map((a) => [a.egress, a.ip])).toEqual([
      ['a', '169.254.190.1'],
      ['b', '169.254.190.2'],
      ['c', '169.254.190.3'],
      ['d', '169.254.190.4'],
    ]);
    expect(r.state.pools.get('pool-r')!.status.usage).toEqual({ total: 6, used: 4 });
  });

  it('a re-applied manifest without egressIP keeps the allocated IP; a changed pinned IP releases the old one', () => {
    let s = cluster([
      pool('pool-k', [{ cidr: '169.254.200.0/29' }]),
      egress('a', { externalIPPool: 'pool-k' }),
      egress('b', { externalIPPool: 'pool-k' }),
    ]);
    expect(s.egresses.get('b')!.spec.egressIP).toBe('169.254.200.2');
    const again = policy.applyObjects(s, [egress('a', { externalIPPool: 'pool-k' })], at(1));
    expect(again.changes).toEqual([{ kind: 'Egress', name: 'a', action: 'unchanged' }]);
    s = mustApply(s, [egress('a', { externalIPPool: 'pool-k', egressIP: '169.254.200.5' })], at(2));
    expect(s.pools.get('pool-k')!.status.usage.used).toBe(2);
    s = mustApply(s, [egress('c', { externalIPPool: 'pool-k' })], at(3));
    expect(s.egresses.get('c')!.spec.egressIP).toBe('169.254.200.1'); // .1 was released
  });
});

describe('prediction (egress get before any agent reports)', () => {
  it('equals what a converged cluster with every Node alive writes', () => {
    const s = cluster([
      pool('pool-p', [{ cidr: '169.254.210.0/29' }], hostname('node0', 'node1')),
      pool('pool-none', [{ cidr: '169.254.211.0/30' }], { matchLabels: { foo: 'bar' } }),
      egress('a', { externalIPPool: 'pool-p' }),
      egress('b', { externalIPPool: 'pool-none' }),
      egress('c', { egressIP: '198.18.0.11' }),
      egress('d', { egressIP: '198.18.0.88' }),
    ]);
    const sim = new policy.ClusterSim(s);
    sim.settle(at(1));
    const strip = (m: Map<string, policy.EgressStatus>) =>
      [...m].map(([k, v]) => [k, v.egressNode, v.egressIP, conds(v)]);
    expect(strip(policy.predictStatus(s, at(1)))).toEqual(strip(sim.status()));
  });
});
