/** Bad input never crashes the control plane: arbitrary documents are rejected or accepted, never thrown on. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { T0 } from './helpers.js';

const KINDS: [string, string][] = [
  ['crd.antrea.io/v1beta1', 'Egress'],
  ['crd.antrea.io/v1beta1', 'ExternalIPPool'],
  ['v1', 'Node'],
  ['v1', 'Namespace'],
  ['v1', 'Pod'],
  ['v1', 'ConfigMap'],
  ['egress-engine/v1alpha1', 'AgentConfig'],
  ['egress-engine/v1alpha1', 'ExternalHost'],
];

// Field names that matter, so random documents reach deep into the decoders.
const FIELDS: string[] = [
  'metadata',
  'name',
  'namespace',
  'labels',
  'annotations',
  'spec',
  'status',
  'appliedTo',
  'podSelector',
  'namespaceSelector',
  'matchLabels',
  'matchExpressions',
  'key',
  'operator',
  'values',
  'egressIP',
  'egressIPs',
  'externalIPPool',
  'bandwidth',
  'rate',
  'burst',
  'ipRanges',
  'cidr',
  'start',
  'end',
  'subnetInfo',
  'gateway',
  'prefixLength',
  'vlan',
  'nodeSelector',
  'podCIDR',
  'addresses',
  'type',
  'address',
  'nodeName',
  'hostNetwork',
  'podIP',
  'phase',
  'data',
  'antrea-agent.conf',
  'featureGates',
  'egress',
  'exceptCIDRs',
  'transportCIDR',
  'command',
];

const leaf = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    '10.0.0.1',
    '10.0.0.0/30',
    '2021:1::aaa0/124',
    'In',
    'Exists',
    '100M',
    'node-a',
    '',
    'app',
    'Succeeded',
  ),
  fc.integer({ min: -5, max: 70000 }),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...FIELDS), tie('v'), { maxKeys: 4 }),
  ),
})).v;
describe('robustness', () => {
  it('never throws on arbitrary documents of known kinds', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...KINDS), value), { maxLength: 4 }), (docs) => {
        const objects = docs.map(([[apiVersion, kind], v]) => ({
          ...(typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { spec: v }),
          apiVersion,
          kind,
        }));
        const r = policy.applyObjects(policy.emptyState(), objects, T0);
        expect(typeof r.ok).toBe('boolean');
        if (r.ok)
          for (const n of r.state.nodes.keys())
            policy.compileView({ state: r.state, node: n, membership: new Set([n]) });
      }),
      { numRuns: 400 },
    );
  });

  it('never throws on arbitrary YAML text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const p = policy.parseManifests(text, 'x.yaml');
        policy.applyDocs(policy.emptyState(), p.docs, T0, p.problems);
      }),
      { numRuns: 300 },
    );
  });
});
