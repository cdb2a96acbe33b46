/**
 * Cases of Antrea's agent: pkg/agent/controller/egress/ip_scheduler_test.go (capacity-aware scheduling),
 * pkg/agent/memberlist/cluster_test.go (the consistent hash ring: which Node an IP lands on, nodeSelector and label
 * changes, Linux-only membership) and pkg/agent/controller/egress/egress_controller_test.go (quota, shared IPs,
 * overlapping Egresses, status). Node choices are what `egress get egress` predicts with every Node alive.
 */
import { describe, expect } from 'vitest';
import {
  Cluster,
  agentConfig,
  cidr,
  differs,
  egressObj,
  holds,
  namespace,
  node,
  nodes,
  pod,
  pool,
  range,
} from './harness.js';
import type { Ref } from './harness.js';

const SCHED = 'pkg/agent/controller/egress/ip_scheduler_test.go';
const CLUSTER = 'pkg/agent/memberlist/cluster_test.go';
const AGENT = 'pkg/agent/controller/egress/egress_controller_test.go';
const sched = (test: string): Ref => ({ file: SCHED, test: `TestSchedule/${test}` });
const mem = (test: string): Ref => ({ file: CLUSTER, test });
const agent = (test: string): Ref => ({ file: AGENT, test });

type Doc = Record<string, unknown>;
async function cluster(config: Doc, ...docs: Doc[]): Promise<Cluster> {
  const c = new Cluster();
  await c.ok([agentConfig(config), ...docs]);
  return c;
}
async function placement(c: Cluster): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, e] of await c.egresses()) out[name] = e.node;
  return out;
}

export function agentCases(): void {
  describe('ip scheduler (TestSchedule)', () => {
    const THREE = [node('node1', '198.18.0.11'), node('node2', '198.18.0.12'), node('node3', '198.18.0.13')];
    const EGRESSES = [
      pool('pool1', [cidr('1.1.1.0/24')]),
      egressObj('egressa', { egressIP: '1.1.1.1', externalIPPool: 'pool1' }),
      egressObj('egressb', { egressIP: '1.1.1.11', externalIPPool: 'pool1' }),
      egressObj('egressc', { egressIP: '1.1.1.21', externalIPPool: 'pool1' }),
    ];
    const max = (n: number) => ({ annotations: { 'node.antrea.io/max-egress-ips': String(n) } });
    holds(sched('sufficient capacity'), 'node1, node3, node1', async () => {
      const c = await cluster({ maxEgressIPsPerNode: 3 }, ...THREE, ...EGRESSES);
      expect(await placement(c)).toEqual({ egressa: 'node1', egressb: 'node3', egressc: 'node1' });
    });
    holds(sched('node specific limit'), 'node2, node2, no Node available', async () => {
      const c = await cluster(
        { maxEgressIPsPerNode: 3 },
        node('node1', '198.18.0.11', max(0)),
        node('node2', '198.18.0.12', max(2)),
        node('node3', '198.18.0.13', max(0)),
        ...EGRESSES,
      );
      expect(await placement(c)).toEqual({ egressa: 'node2', egressb: 'node2', egressc: '' });
      expect((await c.egresses()).get('egressc')!.conditions).toContain(
        'IPAssigned False AssignmentError Failed to assign the IP to EgressNode: no Node available',
      );
    });
    holds(sched('insufficient node capacity'), 'egressc moves to node2', async () => {
      const c = await cluster({ maxEgressIPsPerNode: 1 }, ...THREE, ...EGRESSES);
      expect(await placement(c)).toEqual({ egressa: 'node1', egressb: 'node3', egressc: 'node2' });
    });
    holds(sched('insufficient cluster capacity'), 'egressc on no Node', async () => {
      const c = await cluster({ maxEgressIPsPerNode: 1 }, THREE[0]!, THREE[2]!, ...EGRESSES);
      expect(await placement(c)).toEqual({ egressa: 'node1', egressb: 'node3', egressc: '' });
    });
    differs(
      sched('node specific limit'),
      'a max-egress-ips annotation that is not an integer 0–255 is refused',
      'Antrea logs an annotation Atoi cannot parse and uses the default, and takes any integer (−1, 300) as it is (#8115); here apply refuses it with one line, so a typo never silently changes capacity.',
      async () => {
        const c = new Cluster();
        for (const v of ['abc', '-1', '300']) {
          const err = await c.refused([
            agentConfig(),
            node('node1', '198.18.0.11', { annotations: { 'node.antrea.io/max-egress-ips': v } }),
          ]);
          expect(err).toContain(`Invalid value: "${v}": must be an integer between 0 and 255`);
        }
      },
    );
  });

  describe('memberlist cluster (consistent hash, nodeSelector, Linux only)', () => {
    const ring = (n: number) => nodes(n);
    const selectCases: [number, string][] = [
      [0, ''],
      [1, 'node-0'],
      [3, 'node-1'],
      [10, 'node-1'],
      [100, 'node-79'],
    ];
    // Both Antrea tests ask the same question of the same ring: one cluster per Node count serves both.
    const rings = new Map<number, Promise<Record<string, string>>>();
    const ringPlacement = (n: number) => {
      if (!rings.has(n))
        rings.set(
          n,
          cluster(
            {},
            ...ring(n),
            pool('fakeexternalippool', [cidr('1.1.1.0/24')]),
            egressObj('fakeegress', { egressIP: '1.1.1.1', externalIPPool: 'fakeexternalippool' }),
          ).then(placement),
        );
      return rings.get(n)!;
    };
    for (const [n, want] of selectCases) {
      for (const t of ['TestCluster_ShouldSelectEgress', 'TestCluster_SelectNodeForIP']) {
        holds(
          mem(`${t}/Select Node from ${n} Nodes`),
          want ? `1.1.1.1 lands on ${want}` : 'no Node available',
          async () => {
            expect((await ringPlacement(n))['fakeegress']).toBe(want);
          },
        );
      }
    }
    const dist: [string, string[], Record<string, number[]>][] = [
      [
        'Assign owner Node for 10 Egress',
        ['node0', 'node1', 'node2'],
        { node0: [1, 4, 9], node1: [0, 2, 5, 8], node2: [3, 6, 7] },
      ],
      ['A Node fail then Egress should move', ['node1', 'node2'], { node1: [0, 2, 4, 5, 8, 9], node2: [1, 3, 6, 7] }],
      [
        'Add new Node then Egress should move',
        ['node0', 'node1', 'node2', 'node3'],
        { node0: [1, 4, 9], node1: [0, 5, 8], node2: [3, 6], node3: [2, 7] },
      ],
    ];
    for (const [name, names, want] of dist) {
      holds(mem(`TestCluster_ConsistentHashDistribute/${name}`), 'the distribution of 10.1.1.0–9', async () => {
        const c = await cluster(
          {},
          ...names.map((n, i) => node(n, `198.18.0.${20 + i}`)),
          pool('fakeexternalippool', [range('10.1.1.0', '10.1.1.9')]),
          ...Array.from({ length: 10 }, (_, i) =>
            egressObj(`egress-${i}`, { egressIP: `10.1.1.${i}`, externalIPPool: 'fakeexternalippool' }),
          ),
        );
        const got: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, [] as number[]]));
        for (const [e, n] of Object.entries(await placement(c))) got[n]!.push(Number(e.split('-')[1]));
        for (const v of Object.values(got)) v.sort((a, b) => a - b);
        expect(got).toEqual(want);
      });
    }
    const sel = { matchLabels: { env: 'pro' } };
    holds(mem('TestCluster_Run/Local Node matches ExternalIPPool nodeSelectors'), 'the Node hosts the IP', async () => {
      const c = await cluster(
        {},
        node('localnodename', '198.18.0.11', { labels: { env: 'pro' } }),
        pool('fakeexternalippool', [cidr('1.1.1.0/24')], { nodeSelector: sel }),
        egressObj('e', { egressIP: '1.1.1.1', externalIPPool: 'fakeexternalippool' }),
      );
      expect((await placement(c))['e']).toBe('localnodename');
    });
    holds(
      mem('TestCluster_Run/Local Node does not match ExternalIPPool nodeSelectors'),
      'no Node hosts it',
      async () => {
        const c = await cluster(
          {},
          node('localnodename', '198.18.0.11'),
          pool('fakeexternalippool1', [cidr('1.1.1.0/24')], { nodeSelector: sel }),
          egressObj('e', { egressIP: '1.1.1.1', externalIPPool: 'fakeexternalippool1' }),
        );
        expect((await placement(c))['e']).toBe('');
      },
    );
    holds(
      mem('TestCluster_RunClusterEvents/Update Node with matched labels then local Node should be selected'),
      'labelling the Node makes it host the IP; removing the label moves it off',
      async () => {
        const c = await cluster(
          {},
          node('localnodename', '198.18.0.11'),
          pool('p', [cidr('1.1.1.0/24')], { nodeSelector: sel }),
          egressObj('e', { egressIP: '1.1.1.1', externalIPPool: 'p' }),
        );
        expect((await placement(c))['e']).toBe('');
        await c.ok([node('localnodename', '198.18.0.11', { labels: { env: 'pro', extra: 'x' } })]);
        expect((await placement(c))['e']).toBe('localnodename');
        await c.ok([node('localnodename', '198.18.0.11', { labels: { env: 'test' } })]);
        expect((await placement(c))['e']).toBe('');
      },
    );
    holds(
      mem(
        'TestCluster_RunClusterEvents/Update ExternalIPPool with nil nodeSelector then local Node should be selected',
      ),
      'an empty nodeSelector selects every Node',
      async () => {
        const c = await cluster(
          {},
          node('localnodename', '198.18.0.11'),
          pool('p', [cidr('1.1.1.0/24')], { nodeSelector: sel }),
          egressObj('e', { egressIP: '1.1.1.1', externalIPPool: 'p' }),
        );
        await c.ok([pool('p', [cidr('1.1.1.0/24')], { nodeSelector: {} })]);
        expect((await placement(c))['e']).toBe('localnodename');
      },
    );
    holds(
      mem('TestCluster_Run (shouldJoinCluster)'),
      'a Node labelled kubernetes.io/os=windows is in no ring: the IP lands where it would without that Node',
      async () => {
        const egr = [pool('p', [cidr('1.1.1.0/24')]), egressObj('e', { egressIP: '1.1.1.1', externalIPPool: 'p' })];
        const [n0, n1, n2] = ring(3);
        const linux = await cluster({}, n0!, n1!, n2!, ...egr);
        expect((await placement(linux))['e']).toBe('node-1');
        const without = await cluster({}, n0!, n2!, ...egr);
        const win = await cluster(
          {},
          n0!,
          node('node-1', '198.18.1.1', { labels: { 'kubernetes.io/os': 'windows' } }),
          n2!,
          ...egr,
        );
        const want = (await placement(without))['e'];
        expect(want).not.toBe('node-1');
        expect((await placement(win))['e']).toBe(want);
      },
    );
    holds(
      mem('TestCluster_Run (shouldJoinCluster)'),
      'a Windows Node whose transport IP is a static egressIP hosts nothing',
      async () => {
        const c = await cluster(
          {},
          node('win', '198.18.0.30', { labels: { 'kubernetes.io/os': 'windows' } }),
          egressObj('e', { egressIP: '198.18.0.30' }),
        );
        expect((await placement(c))['e']).toBe('');
      },
    );
  });

  describe('agent Egress controller (TestSyncEgress, TestSyncOverlappingEgress, TestUpdateEgressStatus)', () => {
    const ONE = [node('node1', '198.18.0.11', { podCIDR: '198.19.1.0/24' })];
    holds(
      agent('TestSyncEgress/Not exceed maxEgressIPsPerNode'),
      'a static IP takes no quota: the pool IP still lands on the Node',
      async () => {
        const c = await cluster(
          { maxEgressIPsPerNode: 1 },
          ...ONE,
          pool('p', [cidr('1.1.1.0/24')]),
          egressObj('egressa', { egressIP: '198.18.0.11' }),
          egressObj('egressb', { egressIP: '1.1.1.2', externalIPPool: 'p' }),
        );
        const m = await c.egresses();
        expect([m.get('egressa')!.node, m.get('egressb')!.node]).toEqual(['node1', 'node1']);
        expect(m.get('egressb')!.conditions).toContain(
          'IPAssigned True Assigned EgressIP is successfully assigned to EgressNode',
        );
      },
    );
    holds(agent('TestSyncEgress/Exceed maxEgressIPsPerNode'), 'the second pool IP has no Node', async () => {
      const c = await cluster(
        { maxEgressIPsPerNode: 1 },
        ...ONE,
        pool('p', [cidr('1.1.1.0/24')]),
        egressObj('egressa', { egressIP: '1.1.1.1', externalIPPool: 'p' }),
        egressObj('egressb', { egressIP: '1.1.1.2', externalIPPool: 'p' }),
      );
      const m = await c.egresses();
      expect(m.get('egressa')!.node).toBe('node1');
      expect(m.get('egressb')!.node).toBe('');
      expect(m.get('egressb')!.conditions).toContain(
        'IPAssigned False AssignmentError Failed to assign the IP to EgressNode: no Node available',
      );
    });
    holds(
      agent('TestSyncEgress/Add an Egress sharing the same Egress IP and having overlapping Pods'),
      'two Egresses, one static IP: both on its Node',
      async () => {
        const c = await cluster(
          {},
          ...ONE,
          egressObj('egressa', { egressIP: '198.18.0.11' }),
          egressObj('egressb', { egressIP: '198.18.0.11' }),
        );
        const m = await c.egresses();
        expect([m.get('egressa')!.node, m.get('egressb')!.node]).toEqual(['node1', 'node1']);
      },
    );
    holds(
      agent('TestUpdateEgressStatus/updating static Egress succeeds immediately'),
      'egressNode = the Node with the IP, no conditions',
      async () => {
        const c = await cluster({}, ...ONE, egressObj('egressa', { egressIP: '198.18.0.11' }));
        const e = (await c.egresses()).get('egressa')!;
        expect([e.node, e.ip, e.conditions]).toEqual(['node1', '198.18.0.11', []]);
      },
    );
    holds(
      agent('TestUpdateEgressStatus/updating HA Egress with local IP succeeds immediately'),
      'egressNode, egressIP and IPAssigned=True',
      async () => {
        const c = await cluster(
          {},
          ...ONE,
          pool('p', [cidr('1.1.1.0/24')]),
          egressObj('egressa', { egressIP: '1.1.1.1', externalIPPool: 'p' }),
        );
        const e = (await c.egresses()).get('egressa')!;
        expect([e.node, e.ip]).toEqual(['node1', '1.1.1.1']);
        expect(e.conditions[0]).toBe('IPAssigned True Assigned EgressIP is successfully assigned to EgressNode');
      },
    );
    differs(
      agent('TestSyncOverlappingEgress'),
      'a Pod selected by two Egresses uses the oldest one (creationTimestamp, then name) on every Node',
      'Antrea uses whichever Egress its agent processed first (#6591), which can differ between Nodes and restarts.',
      async () => {
        const ns = namespace('ns1');
        const p = pod('ns1', 'pod1', { app: 'foo' }, 'node1', '198.19.1.10');
        const c = await cluster({}, ...ONE, ns, p, egressObj('egressb', { egressIP: '198.18.0.11' }));
        // creationTimestamp has one-second resolution: let the next second begin, so egressa is younger.
        await new Promise((r) => setTimeout(r, 1050 - (Date.now() % 1000)));
        await c.ok([egressObj('egressa', { egressIP: '198.18.0.11' })]);
        expect((await c.podEgress()).get('ns1/pod1')).toBe('egressb');
      },
    );
  });
}
