/**
 * The standby of each egress IP (connection-state replication, docs/conntrack-sync.md): the Node that would own
 * the IP if its owner died. It is the scheduler's own answer for the membership view without the owner, so it
 * honours everything the scheduler does — the pool's nodeSelector, liveness, capacity (`max-egress-ips`) and the
 * oldest-first order — and every agent computes the same standby from the same view, with no configuration and
 * no leader. An IP whose ring holds only its owner has no standby (`standby: ''`).
 *
 * Pure: (objects, membership) in, one entry per scheduled egress IP out. Egresses sharing one IP share one entry.
 */
import type { ClusterState } from './model.js';
import { schedule } from './scheduler.js';

export interface StandbyEntry {
  /** The egress IP exactly as written in `spec.egressIP`. */
  readonly ip: string;
  /** The Node that owns it in this view. */
  readonly owner: string;
  /** The Node that would own it if `owner` died; '' when none would. */
  readonly standby: string;
}

/** Egress IP → owner and standby, for every IP the scheduler places in this membership view. */
export function standbys(state: ClusterState, membership: ReadonlySet<string>): Map<string, StandbyEntry> {
  const now = schedule(state, membership);
  const out = new Map<string, StandbyEntry>();
  /** owner → the schedule without it (one extra pass per distinct owner). */
  const without = new Map<string, ReturnType<typeof schedule>>();
  for (const [egress, r] of now) {
    if (!r.ok || out.has(r.ip)) continue;
    let s = without.get(r.node);
    if (!s) {
      const rest = new Set(membership);
      rest.delete(r.node);
      without.set(r.node, (s = schedule(state, rest)));
    }
    const alt = s.get(egress);
    out.set(r.ip, { ip: r.ip, owner: r.node, standby: alt?.ok ? alt.node : '' });
  }
  return out;
}

/** The standby of one IP in this view: '' when the IP is not placed or has none. */
export function standbyOf(state: ClusterState, membership: ReadonlySet<string>, ip: string): string {
  return standbys(state, membership).get(ip)?.standby ?? '';
}
