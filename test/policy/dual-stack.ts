/**
 * A dual-stack cluster for tests (docs/ipv6.md §2.e): two Nodes with IPv4 and IPv6 pod CIDRs and addresses, one
 * dual-stack Pod on each, an IPv4 and an IPv6 Egress (pools on node0) selecting both. 198.18.0.0/15, 2001:2::/48.
 */
import * as policy from '../../engine/policy/index.js';
import { agentConfig, egress, mustApply, namespace, pool } from './helpers.js';

const hostname = (...names: string[]) => ({
  matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: names }],
});

export function dualNode(name: string, i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: {}, annotations: {} },
    spec: { podCIDR: `10.10.${i}.0/24`, podCIDRs: [`10.10.${i}.0/24`, `2001:2:0:10${i}::/64`] },
    status: {
      addresses: [
        { type: 'InternalIP', address: `198.18.0.${10 + i}` },
        { type: 'InternalIP', address: `2001:2::${10 + i}` },
      ],
    },
  };
}

export function dualPod(name: string, nodeName: string, i: number, labels: Record<string, string> = { app: 'web' }) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'e2e', labels },
    spec: { nodeName },
    status: { podIP: `10.10.${i}.5`, podIPs: [{ ip: `10.10.${i}.5` }, { ip: `2001:2:0:10${i}::5` }] },
  };
}

/** node0 and node1, dual-stack; web-0 on node0 and web-1 on node1; both Egresses' pools on node0 only. */
export function dualCluster(config: Record<string, unknown> = {}): policy.ClusterState {
  return mustApply(policy.emptyState(), [
    agentConfig({ serviceCIDR: '10.96.0.0/12', serviceCIDRv6: '2001:2:0:96::/112', ...config }),
    dualNode('node0', 0),
    dualNode('node1', 1),
    namespace('e2e'),
    dualPod('web-0', 'node0', 0),
    dualPod('web-1', 'node1', 1),
    pool('pool-v4', [{ cidr: '198.18.1.0/30' }], hostname('node0')),
    pool('pool-v6', [{ cidr: '2001:2:0:e::/124' }], hostname('node0')),
    egress('eg4', { externalIPPool: 'pool-v4' }),
    egress('eg6', { externalIPPool: 'pool-v6' }),
  ]);
}

/** A Node with only IPv6 addresses and an IPv6 pod CIDR: its transport address is IPv6 (docs/ipv6.md §2.l). */
export function v6OnlyNode(name: string, i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: {}, annotations: {} },
    spec: { podCIDR: `2001:2:0:10${i}::/64`, podCIDRs: [`2001:2:0:10${i}::/64`] },
    status: { addresses: [{ type: 'InternalIP', address: `2001:2:0:ff::${10 + i}` }] },
  };
}

export function v6OnlyPod(name: string, nodeName: string, i: number, labels: Record<string, string> = { app: 'web' }) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'e2e', labels },
    spec: { nodeName },
    status: { podIP: `2001:2:0:10${i}::5`, podIPs: [{ ip: `2001:2:0:10${i}::5` }] },
  };
}

/** node0 and node1 with IPv6 transport addresses only (an IPv6 underlay); web-0, web-1; an IPv6 Egress on node0. */
export function v6OnlyCluster(config: Record<string, unknown> = {}): policy.ClusterState {
  return mustApply(policy.emptyState(), [
    agentConfig({ serviceCIDRv6: '2001:2:0:96::/112', ...config }),
    v6OnlyNode('node0', 0),
    v6OnlyNode('node1', 1),
    namespace('e2e'),
    v6OnlyPod('web-0', 'node0', 0),
    v6OnlyPod('web-1', 'node1', 1),
    pool('pool-v6', [{ cidr: '2001:2:0:e::/124' }], hostname('node0')),
    egress('eg6', { externalIPPool: 'pool-v6' }),
  ]);
}
