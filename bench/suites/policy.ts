/**
 * Manifest validation at scale (cold path, every `egress apply` and every store load): a set of 10 000 Pods on
 * 100 Nodes and 20 000 Egresses over 10 ExternalIPPools, validated as a whole and applied (`applyDocs`: decode,
 * webhooks, cross-object rules, controller allocation) onto an empty state, and the cross-object rules alone on the
 * resulting state; each after the same shape at a tenth of the size. `ops` is the number of objects, so ns/op is
 * the cost per object and the ratio to the tenth is 1.0 when the cost grows linearly (a quadratic loop shows
 * ≈ 0.1). Two variants exercise paths that were quadratic: every Pod carrying fields the engine does not model (one
 * warning each), and one pool of 60 000 addresses that 15 000 Egresses are allocated from.
 */
import * as policy from '../../engine/policy/index.js';
import type { Suite } from '../harness.js';

interface Shape {
  pods: number;
  egresses: number;
  nodes?: number;
  pools?: number;
  /** Every Pod carries `spec.containers` (ignored with a warning). */
  unmodelled?: boolean;
  /** One pool of 198.18.16.0-198.18.255.255 instead of ten of 2 048 addresses. */
  bigPool?: boolean;
}

/** The manifest set as plain objects (deterministic). */
function manifests(s: Shape): unknown[] {
  const nodes = s.nodes ?? 100;
  const pools = s.bigPool ? 1 : (s.pools ?? 10);
  const out: unknown[] = [
    {
      apiVersion: 'egress-engine/v1alpha1',
      kind: 'AgentConfig',
      metadata: { name: 'default' },
      transportCIDR: '198.18.0.0/16',
      defaultGateway: '198.18.0.1',
    },
  ];
  for (let i = 0; i < 50; i++)
    out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${i}`, labels: { team: `t${i % 5}` } } });
  for (let i = 0; i < nodes; i++)
    out.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `node-${i}`, labels: { zone: `z${i % 3}` } },
      spec: { podCIDR: `198.19.${i}.0/24` },
      status: { addresses: [{ type: 'InternalIP', address: `198.18.0.${i + 10}` }] },
    });
  for (let i = 0; i < s.pods; i++) {
    const n = i % nodes;
    const spec: Record<string, unknown> = { nodeName: `node-${n}` };
    if (s.unmodelled) spec['containers'] = [{ name: 'app', image: 'registry.example/app:1' }];
    out.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod-${i}`, namespace: `ns-${i % 50}`, labels: { app: `app-${i % 200}` } },
      spec,
      status: { podIP: `198.19.${n}.${Math.floor(i / nodes) + 2}` },
    });
  }
  const first = (p: number) => (s.bigPool ? 16 : 16 + p * 8);
  for (let p = 0; p < pools; p++)
    out.push({
      apiVersion: 'crd.antrea.io/v1beta1',
      kind: 'ExternalIPPool',
      metadata: { name: `pool-${p}` },
      spec: {
        ipRanges: [{ start: `198.18.${first(p)}.0`, end: s.bigPool ? '198.18.255.255' : `198.18.${first(p) + 7}.255` }],
        nodeSelector: { matchLabels: { zone: `z${p % 3}` } },
      },
    });
  for (let i = 0; i < s.egresses; i++) {
    const p = i % pools;
    const spec: Record<string, unknown> = {
      appliedTo: {
        podSelector: { matchLabels: { app: `app-${i % 200}` } },
        namespaceSelector: { matchLabels: { team: `t${i % 5}` } },
      },
      externalIPPool: `pool-${p}`,
    };
    // One in four pinned, in the upper half of its pool (auto allocation fills the lower half).
    if (i % 4 === 3) {
      const j = Math.floor(i / pools);
      spec['egressIP'] = `198.18.${first(p) + 4 + ((j >> 8) & 3)}.${j & 255}`;
    }
    out.push({ apiVersion: 'crd.antrea.io/v1beta1', kind: 'Egress', metadata: { name: `egress-${i}` }, spec });
  }
  return out;
}

const NOW = new Date('2026-03-01T10:00:00Z');

/** Documents for `applyDocs` (decoding never writes to them, so one set serves every call). */
function docs(s: Shape): policy.ManifestDoc[] {
  const d = manifests(s).map((o, i) => policy.docFromValue(o, 'bench.yaml', i + 1));
  const r = policy.applyDocs(policy.emptyState(), d, NOW);
  if (!r.ok) throw new Error(`bench set refused: ${policy.formatProblems(policy.errorsOf(r.problems)).slice(0, 3)}`);
  return d;
}

let sink = 0;
const sets = new Map<string, policy.ManifestDoc[]>();
function set(name: string, s: Shape): policy.ManifestDoc[] {
  let d = sets.get(name);
  if (!d) sets.set(name, (d = docs(s)));
  return d;
}

const SMALL: Shape = { pods: 1000, egresses: 2000, nodes: 10, pools: 10 };
const FULL: Shape = { pods: 10_000, egresses: 20_000 };
const count = (s: Shape) => 1 + 50 + (s.nodes ?? 100) + s.pods + (s.bigPool ? 1 : (s.pools ?? 10)) + s.egresses;

function applyCase(name: string, s: Shape, baseline?: string) {
  return {
    name: `apply/${name}`,
    ops: count(s),
    setup: () => {
      set(name, s);
      for (let i = 0; i < 2; i++) policy.applyDocs(policy.emptyState(), set(name, s), NOW); // JIT warm-up
    },
    fn: () => {
      const r = policy.applyDocs(policy.emptyState(), set(name, s), NOW);
      sink ^= r.problems.length;
    },
    measureAllocation: false,
    ...(baseline ? { baseline } : {}),
  };
}

/** The same shape at a tenth of the size (the baseline of a linear cost), then at full size. */
function scaled(variant: string, extra: Partial<Shape>) {
  const small = `1k-pods-2k-egresses${variant}`;
  return [
    applyCase(small, { ...SMALL, ...extra }),
    applyCase(`10k-pods-20k-egresses${variant}`, { ...FULL, ...extra }, `policy/apply/${small}`),
  ];
}

const states = new Map<string, policy.ClusterState>();
function crossCheckCase(name: string, s: Shape, baseline?: string) {
  return {
    name: `crossCheck/${name}`,
    ops: count(s),
    setup: () => void states.set(name, policy.applyDocs(policy.emptyState(), set(name, s), NOW).state),
    fn: () => {
      const problems: policy.Problem[] = [];
      const ctx = new policy.Ctx(problems, null);
      policy.crossCheck(
        states.get(name)!,
        () => ctx,
        () => false,
      );
      sink ^= problems.length;
    },
    measureAllocation: false,
    ...(baseline ? { baseline } : {}),
  };
}

/**
 * One node's control-plane step (`syncNode`: schedule, placements, status, compiled view) on the applied state,
 * with membership = every node and the node's previous result as memory (the agent's case on a store or
 * membership change). Issue 11 measured 2.3 s at 20 000 Egresses × 705 pods: longer than the 500 ms failure
 * detector. ops = Egresses, so ns/op is the cost per Egress (ratio to the tenth 1.0 = linear).
 * Measured (--quick, 2 cores): before the selection index 62 067 ns/op at 20 k (1.24 s per sync, ratio 0.57x,
 * load 2.0); with it 7 404 ns/op (148 ms per sync, ratio 0.89x, load 0.5).
 */
function syncNodeCase(name: string, s: Shape, baseline?: string) {
  let memory: policy.NodeMemory | null = null;
  let membership: Set<string> = new Set();
  const step = () => {
    const st = states.get(`sync-${name}`)!;
    const r = policy.syncNode({ state: st, node: 'node-0', membership, now: NOW, memory, current: null });
    memory = r.memory;
    sink ^= r.hosted.length;
  };
  return {
    name: `syncNode/${name}`,
    ops: s.egresses,
    setup: () => {
      const st = policy.applyDocs(policy.emptyState(), set(name, s), NOW).state;
      states.set(`sync-${name}`, st);
      membership = new Set(st.nodes.keys());
      memory = null;
      step();
    },
    fn: step,
    measureAllocation: false,
    ...(baseline ? { baseline } : {}),
  };
}

const suite: Suite = {
  name: 'policy',
  cases: [
    ...scaled('', {}),
    ...scaled('-unmodelled-fields', { unmodelled: true }),
    ...scaled('-one-big-pool', { bigPool: true }),
    crossCheckCase('1k-pods-2k-egresses', SMALL),
    crossCheckCase('10k-pods-20k-egresses', FULL, 'policy/crossCheck/1k-pods-2k-egresses'),
    syncNodeCase('1k-pods-2k-egresses', SMALL),
    syncNodeCase('10k-pods-20k-egresses', FULL, 'policy/syncNode/1k-pods-2k-egresses'),
  ],
};
export default suite;
export const _sink = () => sink;
