/**
 * The controller half of Antrea's Egress (`pkg/controller/egress/controller.go`,
 * `pkg/controller/externalippool/controller.go`): IP allocation, the `IPAllocated` condition, pool usage.
 *
 * No controller process exists here: `reconcileController` runs at every apply/delete, under the store lock, on the
 * state the change produces. It is a pure function of (state, now):
 *
 * 1. Allocators are built from the pools, ranges in allocator order (kept in `controller.poolRanges`).
 * 2. Restore: the tracked allocations are registered again — or, when the bookkeeping is lost
 *    (`state.controller === null`, like a controller restart), every Egress's `(spec.egressIP, pool)`, oldest Egress
 *    first. Nothing new is handed out before this is done, so a restart never hands an IP out twice.
 * 3. Release: tracked allocations whose Egress is gone, or whose IP or pool changed, or whose pool is gone.
 * 4. Sync, oldest Egress first (creationTimestamp, then name; Antrea's 4 workers have no order, ours is
 *    deterministic): keep what is tracked; pool missing → clear `spec.egressIP` (merge patch to null) and
 *    `IPAllocated=False "ExternalIPPool X does not exist"`; pinned IP → allocate it or report the error (the Egress
 *    keeps its IP and agents still schedule it, as in Antrea); no IP → the lowest free IP, written into
 *    `spec.egressIP`.
 * 5. `status.usage` of every pool; the `IPAllocated` condition of every Egress with a pool (removed otherwise).
 *
 * With the Egress feature gate off nothing is allocated or released and no condition is written (the controller
 * does not run).
 */
import { poolAllocator } from './allocator.js';
import type { PoolAllocator } from './allocator.js';
import { resolveConfig } from './config.js';
import { formatIP, parseIP } from './ip.js';
import type { IP } from './ip.js';
import { cmp, egressesOldestFirst, rfc3339 } from './model.js';
import type { Allocation, ClusterState, ControllerState, Egress, EgressCondition, ExternalIPPool } from './model.js';

export const MSG_ALLOCATED = 'EgressIP is successfully allocated';
export const MSG_ALLOCATION_ERROR = 'Cannot allocate EgressIP from ExternalIPPool';

/** What one reconcile did, for the apply summary and tests. */
export interface ControllerChange {
  readonly egress: string;
  readonly action: 'allocated' | 'released' | 'cleared' | 'error';
  readonly ip?: string;
  readonly pool?: string;
  readonly message?: string;
}

export interface ReconcileResult {
  readonly state: ClusterState;
  readonly changes: readonly ControllerChange[];
}

export function reconcileController(state: ClusterState, now: Date): ReconcileResult {
  const cfg = resolveConfig(state.config);
  if (!cfg.egressEnabled) {
    return { state: { ...state, controller: state.controller ?? { allocations: [], poolRanges: {} } }, changes: [] };
  }
  const nowText = rfc3339(now);
  const changes: ControllerChange[] = [];
  const prevCtl = state.controller;

  // 1. Allocators.
  const allocators = new Map<string, PoolAllocator>();
  const poolRanges: Record<string, string[]> = {};
  for (const pool of [...state.pools.values()].sort((a, b) => cmp(a.metadata.name, b.metadata.name))) {
    const a = poolAllocator(pool, prevCtl?.poolRanges[pool.metadata.name] ?? []);
    allocators.set(pool.metadata.name, a);
    poolRanges[pool.metadata.name] = a.ranges.map((r) => r.name);
  }

  // 2. Restore.
  const tracked = new Map<string, Allocation>();
  const restore = (egress: string, poolName: string, ipText: string, auto: boolean) => {
    const alloc = allocators.get(poolName);
    const ip = parseIP(ipText);
    if (!alloc || !ip) return;
    if (alloc.allocateIP(ip) === null) tracked.set(egress, { egress, pool: poolName, ip: formatIP(ip), auto });
  };
  if (prevCtl) {
    for (const a of prevCtl.allocations) restore(a.egress, a.pool, a.ip, a.auto);
  } else {
    for (const e of egressesOldestFirst(state)) {
      if (e.spec.externalIPPool && e.spec.egressIP)
        restore(e.metadata.name, e.spec.externalIPPool, e.spec.egressIP, false);
    }
  }

  // 3. Release stale allocations.
  for (const [name, a] of [...tracked]) {
    const e = state.egresses.get(name);
    const same = e && sameAllocation(a, e) && allocators.has(a.pool);
    if (same) continue;
    allocators.get(a.pool)?.release(parseIP(a.ip)!);
    tracked.delete(name);
    changes.push({ egress: name, action: 'released', ip: a.ip, pool: a.pool });
  }

  // 4. Sync every Egress, oldest first.
  const egresses = new Map(state.egresses);
  for (const e of egressesOldestFirst(state)) {
    const name = e.metadata.name;
    const poolName = e.spec.externalIPPool;
    let spec = e.spec;
    let error: string | null = null;
    if (poolName) {
      const t = tracked.get(name);
      const alloc = allocators.get(poolName);
      if (t) {
        // Kept: nothing to do.
      } else if (!alloc) {
        if (spec.egressIP !== undefined) {
          const { egressIP: _drop, ...rest } = spec;
          spec = rest;
          changes.push({ egress: name, action: 'cleared', pool: poolName });
        }
        error = `ExternalIPPool ${poolName} does not exist`;
      } else if (spec.egressIP) {
        const ip = parseIP(spec.egressIP)!;
        const err = alloc.allocateIP(ip);
        if (err === null) {
          tracked.set(name, { egress: name, pool: poolName, ip: formatIP(ip), auto: false });
          changes.push({ egress: name, action: 'allocated', ip: spec.egressIP, pool: poolName });
        } else {
          error = `error when allocating IP ${formatIP(ip)} for Egress ${name} from ExternalIPPool ${poolName}: ${err}`;
        }
      } else {
        const r = alloc.allocateNext();
        if (typeof r === 'string') error = r;
        else {
          const ipText = formatIP(r as IP);
          spec = { ...spec, egressIP: ipText };
          tracked.set(name, { egress: name, pool: poolName, ip: ipText, auto: true });
          changes.push({ egress: name, action: 'allocated', ip: ipText, pool: poolName });
        }
      }
      if (error !== null) changes.push({ egress: name, action: 'error', pool: poolName, message: error });
    }
    const conditions = withAllocatedCondition(
      e.status.conditions ?? [],
      poolName ? allocatedCondition(error, nowText) : null,
    );
    const status = { ...e.status };
    if (conditions.length > 0) status.conditions = conditions;
    else delete status.conditions;
    if (spec !== e.spec || !sameConditions(e.status.conditions ?? [], conditions)) {
      const specChanged = spec !== e.spec;
      egresses.set(name, {
        ...e,
        metadata: specChanged
          ? { ...e.metadata, generation: e.metadata.generation + 1, resourceVersion: String(state.generation) }
          : e.metadata,
        spec,
        status,
      });
    }
  }

  // 5. Pool usage.
  const pools = new Map<string, ExternalIPPool>();
  for (const [name, p] of state.pools) {
    const a = allocators.get(name)!;
    const usage = { total: a.total, used: a.used };
    pools.set(
      name,
      p.status.usage.total === usage.total && p.status.usage.used === usage.used ? p : { ...p, status: { usage } },
    );
  }

  const controller: ControllerState = {
    allocations: [...tracked.values()].sort((a, b) => cmp(a.egress, b.egress)),
    poolRanges,
  };
  return { state: { ...state, egresses, pools, controller }, changes };
}

function sameAllocation(a: Allocation, e: Egress): boolean {
  if (a.pool !== e.spec.externalIPPool || !e.spec.egressIP) return false;
  const ip = parseIP(e.spec.egressIP);
  return !!ip && formatIP(ip) === a.ip;
}

/** The IPAllocated condition the controller wants (`updateEgressAllocatedCondition`). */
export function allocatedCondition(error: string | null, now: string): EgressCondition {
  return error === null
    ? { type: 'IPAllocated', status: 'True', lastTransitionTime: now, reason: 'Allocated', message: MSG_ALLOCATED }
    : {
        type: 'IPAllocated',
        status: 'False',
        lastTransitionTime: now,
        reason: 'AllocationError',
        message: `${MSG_ALLOCATION_ERROR}: ${error}`,
      };
}

/**
 * Replace the IPAllocated condition: other conditions keep their place, the new one is appended; an unchanged
 * condition (ignoring the timestamp) keeps its timestamp.
 */
export function withAllocatedCondition(
  conditions: readonly EgressCondition[],
  desired: EgressCondition | null,
): EgressCondition[] {
  const current = conditions.find((c) => c.type === 'IPAllocated');
  if (current && desired && sameCondition(current, desired)) return [...conditions];
  const out = conditions.filter((c) => c.type !== 'IPAllocated');
  if (desired) out.push(desired);
  return out;
}

export function sameCondition(a: EgressCondition, b: EgressCondition): boolean {
  return a.type === b.type && a.status === b.status && a.reason === b.reason && a.message === b.message;
}

export function sameConditions(a: readonly EgressCondition[], b: readonly EgressCondition[]): boolean {
  return a.length === b.length && a.every((c, i) => sameCondition(c, b[i]!));
}
