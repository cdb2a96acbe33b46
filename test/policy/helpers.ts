/** Builders for control-plane tests: objects as plain manifests, applied through the real reducer. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import * as policy from '../../engine/policy/index.js';

export const T0 = new Date('2026-03-01T10:00:00Z');

/** `T0 + s` seconds. */
export function at(s: number): Date {
  return new Date(T0.getTime() + s * 1000);
}

export function node(
  name: string,
  ip: string,
  opts: { labels?: Record<string, string>; podCIDR?: string; annotations?: Record<string, string> } = {},
) {
  const o: Record<string, unknown> = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: opts.labels ?? {}, annotations: opts.annotations ?? {} },
    status: { addresses: [{ type: 'InternalIP', address: ip }] },
  };
  if (opts.podCIDR) o['spec'] = { podCIDR: opts.podCIDR };
  return o;
}

export function namespace(name: string, labels: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function pod(
  ns: string,
  name: string,
  nodeName: string,
  ip: string,
  labels: Record<string, string> = {},
  hostNetwork = false,
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: { nodeName, hostNetwork },
    status: { podIP: ip },
  };
}

export function pool(
  name: string,
  ipRanges: unknown[],
  nodeSelector: unknown = {},
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: 'crd.antrea.io/v1beta1',
    kind: 'ExternalIPPool',
    metadata: { name },
    spec: { ipRanges, nodeSelector, ...extra },
  };
}

export function egress(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: 'crd.antrea.io/v1beta1',
    kind: 'Egress',
    metadata: { name },
    spec: { appliedTo: { podSelector: { matchLabels: { app: 'web' } } }, ...spec },
  };
}

export function agentConfig(fields: Record<string, unknown> = {}) {
  return {
    apiVersion: 'egress-engine/v1alpha1',
    kind: 'AgentConfig',
    metadata: { name: 'default' },
    transportCIDR: '198.18.0.0/24',
    ...fields,
  };
}

/** Apply objects; fail the test with the problems when the apply is rejected. */
export function mustApply(prev: policy.ClusterState, objects: unknown[], now: Date = T0): policy.ClusterState {
  const r = policy.applyObjects(prev, objects, now);
  expect(policy.errorsOf(r.problems).map(policy.formatProblem)).toEqual([]);
  expect(r.ok).toBe(true);
  return r.state;
}

/** Apply YAML text (as one file). */
export function applyYAML(
  prev: policy.ClusterState,
  text: string,
  file = 'test.yaml',
  now: Date = T0,
): policy.ApplyResult {
  const p = policy.parseManifests(text, file);
  return policy.applyDocs(prev, p.docs, now, p.problems);
}

export function applyFiles(prev: policy.ClusterState, files: string[], now: Date = T0): policy.ApplyResult {
  const docs: policy.ManifestDoc[] = [];
  const problems: policy.Problem[] = [];
  for (const f of files) {
    const p = policy.parseManifests(readFileSync(f, 'utf8'), f);
    docs.push(...p.docs);
    problems.push(...p.problems);
  }
  return policy.applyDocs(prev, docs, now, problems);
}

/** Errors as printed lines. */
export function errorLines(r: policy.ApplyResult): string[] {
  return policy.errorsOf(r.problems).map(policy.formatProblem);
}

export function warningLines(r: policy.ApplyResult): string[] {
  return policy.warningsOf(r.problems).map(policy.formatProblem);
}

/** Conditions without timestamps, for comparisons ("compared ignoring lastTransitionTime"). */
export function conds(st: policy.EgressStatus | undefined): [string, string, string, string][] {
  return (st?.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message]);
}
