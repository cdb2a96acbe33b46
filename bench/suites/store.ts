/**
 * What reading the store costs an agent (cold path: once per store change). `loadState` validates objects.json as
 * `egress apply` validates a manifest set (decode every object, webhooks, cross-object rules); an agent's
 * watchStore keeps a SnapshotCache so unchanged objects are not decoded again. Baseline: JSON.parse of the same
 * text, which was all the store did before it validated (plus building the maps).
 *
 * The cluster: 100 Nodes, 2 000 Pods, 10 ExternalIPPools, 500 Egresses with allocated IPs (2 611 objects);
 * one operation is one stored object (a call reads the whole file).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as policy from '../../engine/policy/index.js';
import type { Suite } from '../harness.js';

const T0 = new Date('2026-03-01T10:00:00Z');
/** Objects in the snapshot: results are per stored object. */
const OBJECTS = 2611;
let dir = '';
let text = '';
let cache = new policy.store.SnapshotCache();
let sink = 0;

function setup(): void {
  if (dir) return;
  const objects: unknown[] = [
    {
      apiVersion: 'egress-engine/v1alpha1',
      kind: 'AgentConfig',
      metadata: { name: 'cfg' },
      transportCIDR: '198.18.0.0/16',
    },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod' } },
  ];
  for (let n = 0; n < 100; n++)
    objects.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: `node-${n}`, labels: { zone: `z${n % 4}` } },
      spec: { podCIDR: `198.19.${n}.0/24` },
      status: { addresses: [{ type: 'InternalIP', address: `198.18.1.${n + 1}` }] },
    });
  for (let p = 0; p < 2000; p++)
    objects.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod-${p}`, namespace: 'prod', labels: { app: `a${p % 500}` } },
      spec: { nodeName: `node-${p % 100}` },
      status: { podIP: `198.19.${p % 100}.${Math.floor(p / 100) + 2}` },
    });
  for (let q = 0; q < 10; q++)
    objects.push({
      apiVersion: 'crd.antrea.io/v1beta1',
      kind: 'ExternalIPPool',
      metadata: { name: `pool-${q}` },
      spec: { ipRanges: [{ cidr: `198.18.${100 + q}.0/24` }], nodeSelector: {} },
    });
  for (let e = 0; e < 500; e++)
    objects.push({
      apiVersion: 'crd.antrea.io/v1beta1',
      kind: 'Egress',
      metadata: { name: `eg-${e}` },
      spec: { appliedTo: { podSelector: { matchLabels: { app: `a${e}` } } }, externalIPPool: `pool-${e % 10}` },
    });
  const r = policy.applyObjects(policy.emptyState(), objects, T0);
  if (!r.ok) throw new Error(policy.formatProblems(r.problems).join('\n'));
  dir = mkdtempSync(join(tmpdir(), 'egr-bench-store-'));
  const made = dir;
  process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  policy.store.saveState(dir, r.state, T0);
  text = readFileSync(join(dir, policy.store.OBJECTS_FILE), 'utf8');
  cache = new policy.store.SnapshotCache();
  policy.store.loadState(dir, { cache });
}

const suite: Suite = {
  name: 'store',
  cases: [
    {
      name: 'json-parse/2.6k-objects',
      ops: OBJECTS,
      setup,
      fn: () => {
        sink ^= (JSON.parse(text) as { generation: number }).generation;
      },
      facts: () => ({ objects: OBJECTS, bytes: text.length }),
    },
    {
      name: 'load/2.6k-objects',
      ops: OBJECTS,
      setup,
      baseline: 'store/json-parse/2.6k-objects',
      fn: () => {
        sink ^= policy.store.loadState(dir).generation;
      },
    },
    {
      name: 'load-cached/2.6k-objects',
      ops: OBJECTS,
      setup,
      baseline: 'store/json-parse/2.6k-objects',
      fn: () => {
        sink ^= policy.store.loadState(dir, { cache }).generation;
      },
    },
  ],
};
export default suite;
export const _sink = () => sink;
