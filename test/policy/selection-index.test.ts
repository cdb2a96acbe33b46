/**
 * syncNode at scale (issue 11): the Egresses selecting a Pod are indexed per state and (namespace, labels). The
 * index must give exactly the straightforward computation (every Egress's appliedTo matched against the Pod, oldest
 * first), on every state, including after changes that move Pods between Egresses (new labels, relabelled
 * namespaces, new and deleted Egresses): fast-check over random clusters and change sequences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { policy } from '../../engine/index.js';
import { T0 } from './helpers.js';

const APPS = ['a', 'b', 'c'];
const TEAMS = ['x', 'y'];

const nodeObj = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'node-0', labels: { zone: 'z' } },
  spec: { podCIDR: '198.19.0.0/24' },
  status: { addresses: [{ type: 'InternalIP', address: '198.18.0.10' }] },
};
const pool = {
  apiVersion: 'crd.antrea.io/v1beta1',
  kind: 'ExternalIPPool',
  metadata: { name: 'pool' },
  spec: { ipRanges: [{ start: '198.18.1.0', end: '198.18.1.255' }], nodeSelector: {} },
};
const ns = (i: number, team: string) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: `ns-${i}`, labels: { team } },
});
const pod = (i: number, nsI: number, app: string | null) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `p-${i}`, namespace: `ns-${nsI}`, labels: app ? { app } : {} },
  spec: { nodeName: 'node-0' },
  status: { podIP: `198.19.0.${i + 2}` },
});
const egress = (i: number, app: string | null, team: string | null) => ({
  apiVersion: 'crd.antrea.io/v1beta1',
  kind: 'Egress',
  metadata: { name: `e-${i}` },
  spec: {
    appliedTo: {
      ...(app ? { podSelector: { matchLabels: { app } } } : { podSelector: {} }),
      ...(team ? { namespaceSelector: { matchLabels: { team } } } : {}),
    },
    externalIPPool: 'pool',
  },
});

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
const change = fc.oneof(
  fc.record({ k: fc.constant('pod' as const), i: fc.nat(11), ns: fc.nat(2), app: opt(fc.constantFrom(...APPS)) }),
  fc.record({ k: fc.constant('ns' as const), i: fc.nat(2), team: fc.constantFrom(...TEAMS) }),
  fc.record({
    k: fc.constant('egress' as const),
    i: fc.nat(7),
    app: opt(fc.constantFrom(...APPS)),
    team: opt(fc.constantFrom(...TEAMS)),
  }),
  fc.record({ k: fc.constant('delete' as const), i: fc.nat(7) }),
);

function check(state: policy.ClusterState): void {
  for (const p of state.pods.values()) {
    const want = policy.selectingEgressesDirect(state, p).map((e) => e.metadata.name);
    // Twice: the first call fills the index, the second reads it.
    expect(policy.selectingEgresses(state, p).map((e) => e.metadata.name)).toEqual(want);
    expect(policy.selectingEgresses(state, p, policy.egressesOldestFirst(state)).map((e) => e.metadata.name)).toEqual(
      want,
    );
  }
}

describe('selection index', () => {
  it('equals the straightforward computation on every state of random change sequences', () => {
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 12 }), (changes) => {
        const objs: unknown[] = [nodeObj, pool, ns(0, 'x'), ns(1, 'y'), ns(2, 'x')];
        for (let i = 0; i < 12; i++) objs.push(pod(i, i % 3, APPS[i % 3]!));
        for (let i = 0; i < 4; i++) objs.push(egress(i, APPS[i % 3]!, i % 2 ? 'y' : null));
        let r = policy.applyObjects(policy.emptyState(), objs, T0);
        expect(r.ok).toBe(true);
        let state = r.state;
        check(state);
        let t = T0.getTime();
        for (const c of changes) {
          const now = new Date((t += 1000));
          if (c.k === 'delete') {
            if (!state.egresses.has(`e-${c.i}`)) continue;
            r = policy.deleteObjects(state, [{ kind: 'Egress', name: `e-${c.i}` }], now);
          } else {
            const o =
              c.k === 'pod' ? pod(c.i, c.ns, c.app) : c.k === 'ns' ? ns(c.i, c.team) : egress(c.i, c.app, c.team);
            r = policy.applyObjects(state, [o], now);
          }
          if (!r.ok) continue;
          state = r.state;
          check(state);
        }
      }),
      { numRuns: 150, seed: 11 },
    );
  });

  it("syncNode's view gives each local Pod the oldest selecting Egress, as computed directly", () => {
    const objs: unknown[] = [nodeObj, pool, ns(0, 'x'), ns(1, 'y')];
    for (let i = 0; i < 6; i++) objs.push(pod(i, i % 2, APPS[i % 3]!));
    for (let i = 0; i < 5; i++) objs.push(egress(i, APPS[i % 3]!, i === 4 ? 'y' : null));
    const r = policy.applyObjects(policy.emptyState(), objs, T0);
    expect(r.ok).toBe(true);
    const s = policy.syncNode({ state: r.state, node: 'node-0', membership: new Set(['node-0']), now: T0 });
    const places = s.placements;
    for (const lp of s.view.localPods) {
      const p = r.state.pods.get(lp.key)!;
      const first = policy.selectingEgressesDirect(r.state, p)[0];
      const pl = first ? places.get(first.metadata.name) : undefined;
      const want = pl && pl.ok ? policy.ipv4ToInt32(pl.ip) : 0;
      expect(lp.egressIp, lp.key).toBe(want);
    }
    expect(s.view.localPods.filter((p) => p.egressIp !== 0).length).toBe(6);
  });
});
