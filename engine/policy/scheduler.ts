/**
 * Egress IP scheduling as every Antrea agent does it (`pkg/agent/controller/egress/ip_scheduler.go`,
 * `pkg/agent/memberlist/cluster.go`): a pure function of the objects and of one agent's membership view.
 *
 * - One ring per ExternalIPPool: members = Linux Node objects whose labels match the pool's nodeSelector and that are
 *   alive (a Node labelled `kubernetes.io/os` other than `linux` never joins, memberlist `shouldJoinCluster`).
 * - The `""` ring: every alive Linux Node that exists as a Node object; it only elects the agent that writes the status of
 *   an Egress nobody hosts (status.ts).
 * - One pass over the schedulable Egresses (egressIP and externalIPPool both set), oldest first (creationTimestamp,
 *   then name). For each, the pool's ring is walked from CRC32(spec.egressIP) with the capacity filter: a Node
 *   qualifies while (distinct IPs already placed on it in this pass, + 1 unless this IP is already there) ≤ its
 *   max (annotation `node.antrea.io/max-egress-ips`, else `egress.maxEgressIPsPerNode`). So older Egresses win when
 *   capacity is short, and Egresses sharing one IP use one slot.
 * - Result per Egress: `{ip, node}` or an error: "no Node available", or "local Node consistentHashMap has not
 *   synced, ExternalIPPool X" when the pool does not exist.
 *
 * With the Egress feature gate off the result is empty.
 */
import { resolveConfig } from './config.js';
import { HashRing } from './hashring.js';
import { ANNOTATION_MAX_EGRESS_IPS, egressesOldestFirst, isSchedulable, joinsCluster } from './model.js';
import type { ClusterState, Node } from './model.js';
import { selectorMatches } from './selector.js';

export const ERR_NO_NODE_AVAILABLE = 'no Node available';

export type ScheduleResult =
  { readonly ok: true; readonly ip: string; readonly node: string } | { readonly ok: false; readonly error: string };

/** Egress name → result, for schedulable Egresses only. */
export type Schedule = ReadonlyMap<string, ScheduleResult>;

/**
 * Alive Node objects of a membership view (names without a Node object are not members of any ring, nor are Nodes
 * that are not Linux: `joinsCluster`).
 */
export function aliveNodes(state: ClusterState, membership: ReadonlySet<string>): string[] {
  return [...state.nodes.values()]
    .filter((n) => membership.has(n.metadata.name) && joinsCluster(n))
    .map((n) => n.metadata.name)
    .sort();
}

/** The ring of one pool for a membership view; null when the pool does not exist. */
export function poolRing(state: ClusterState, pool: string, membership: ReadonlySet<string>): HashRing | null {
  const p = state.pools.get(pool);
  if (!p) return null;
  const members = aliveNodes(state, membership).filter((n) =>
    selectorMatches(p.spec.nodeSelector, state.nodes.get(n)!.metadata.labels),
  );
  return new HashRing(members);
}

/** The `""` ring: every alive Node. */
export function allNodesRing(state: ClusterState, membership: ReadonlySet<string>): HashRing {
  return new HashRing(aliveNodes(state, membership));
}

/** A Node's capacity: its valid annotation, else the configured default. */
export function maxEgressIPs(node: Node | undefined, defaultMax: number): number {
  const v = node?.metadata.annotations[ANNOTATION_MAX_EGRESS_IPS];
  if (v === undefined || !/^[+-]?[0-9]+$/.test(v)) return defaultMax;
  return Number(v);
}

export function schedule(state: ClusterState, membership: ReadonlySet<string>): Schedule {
  const cfg = resolveConfig(state.config);
  const results = new Map<string, ScheduleResult>();
  if (!cfg.egressEnabled) return results;
  const rings = new Map<string, HashRing | null>();
  const ipsOnNode = new Map<string, Set<string>>();
  for (const e of egressesOldestFirst(state)) {
    if (!isSchedulable(e)) continue;
    const ip = e.spec.egressIP!;
    const poolName = e.spec.externalIPPool!;
    if (!rings.has(poolName)) rings.set(poolName, poolRing(state, poolName, membership));
    const ring = rings.get(poolName)!;
    if (!ring) {
      results.set(e.metadata.name, {
        ok: false,
        error: `local Node consistentHashMap has not synced, ExternalIPPool ${poolName}`,
      });
      continue;
    }
    const node = ring.get(ip, (n) => {
      const ips = ipsOnNode.get(n);
      const count = (ips?.size ?? 0) + (ips?.has(ip) ? 0 : 1);
      return count <= maxEgressIPs(state.nodes.get(n), cfg.maxEgressIPsPerNode);
    });
    if (node === '') {
      results.set(e.metadata.name, { ok: false, error: ERR_NO_NODE_AVAILABLE });
      continue;
    }
    results.set(e.metadata.name, { ok: true, ip, node });
    let s = ipsOnNode.get(node);
    if (!s) ipsOnNode.set(node, (s = new Set()));
    s.add(ip);
  }
  return results;
}
