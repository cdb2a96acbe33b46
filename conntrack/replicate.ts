/**
 * Connection-state replication (docs/conntrack-sync.md): read a confirmed SNAT connection's state so another node
 * can take it over, and install such a replica so packets of the connection are translated exactly as before —
 * the same binding (egress IP and port) in both directions, reserved so no new connection can take it.
 *
 * A replica carries what the un-NAT and the state machine need: the original tuple, the binding, the TCP state
 * and its flags (seen-reply, assured, close-init, simultaneous open, last segment), the remaining timeout, the
 * age (the UDP stream rule reads it) and, for TCP, the tracked window. The window is a lower bound of the real one
 * by the time the replica is installed (the sync lags the traffic), so installed TCP connections are window-checked
 * liberally, like connections picked up mid-stream (Linux `nf_conntrack_tcp_loose`); the flag and RST rules
 * still apply. Counters (packets, bytes) and the mark are not carried: they restart at 0 on the new node.
 *
 * Cold path: export walks the table, import allocates a record per call. Numbers in, numbers out, like the table.
 */
import { PROTO_TCP } from './proto.js';
import { CT_EXISTS, CT_FULL } from './record.js';
import type { ConnTable } from './table.js';
import { TW_STRIDE } from './tcp-window.js';

/** One connection's replicated state (the same fields the cluster's sync message carries). */
export interface ReplicaRecord {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
  natIp: number;
  natPort: number;
  /** TCP state (proto.ts `TCP_*`), 0 for other protocols. */
  state: number;
  /** `ConnTable.replicaFlags`. */
  flags: number;
  timeoutMs: number;
  ageMs: number;
  /** TCP: `TW_STRIDE` window words; null otherwise. */
  window: Int32Array | null;
}

/** Window words per TCP replica. */
export const REPLICA_WINDOW_WORDS = TW_STRIDE;

/** Results of `importReplica`, indexed like IMPORT_RESULT_NAMES. */
export const IMPORT_INSTALLED = 0;
/** The connection was there with the same binding: its state was refreshed. */
export const IMPORT_REFRESHED = 1;
/** Table full, nothing evictable. */
export const IMPORT_FULL = 2;
/** Its original tuple belongs to another connection (another binding), or its binding is held by another one. */
export const IMPORT_CLASH = 3;
/** The replica's timeout has run out. */
export const IMPORT_EXPIRED = 4;
/** A field out of range. */
export const IMPORT_INVALID = 5;
export const IMPORT_RESULT_NAMES = ['installed', 'refreshed', 'full', 'clash', 'expired', 'invalid'] as const;

function ports(r: { proto: number; sport: number; dport: number }): number {
  return ((r.sport & 0xffff) << 16) | (r.dport & 0xffff) | 0;
}

/** A connection that can be replicated: live, confirmed, with a SNAT binding. */
export function isReplicable(t: ConnTable, c: number): boolean {
  return t.isLive(c) && t.isConfirmed(c) && t.isNatBound(c);
}

/** The replica of connection `c` at the table's time, or null when it is not replicable. */
export function exportReplica(t: ConnTable, c: number): ReplicaRecord | null {
  if (!isReplicable(t, c)) return null;
  const proto = t.proto(c);
  let window: Int32Array | null = null;
  if (proto === PROTO_TCP) {
    window = new Int32Array(TW_STRIDE);
    t.replicaWindow(c, window);
  }
  return {
    src: t.origSrc(c),
    dst: t.origDst(c),
    sport: t.origSport(c),
    dport: t.origDport(c),
    proto,
    natIp: t.natIp(c),
    natPort: t.natPort(c),
    state: proto === PROTO_TCP ? t.state(c) : 0,
    flags: t.replicaFlags(c),
    timeoutMs: Math.max(0, t.expiresAt(c) - t.time),
    ageMs: Math.max(0, t.time - t.createdAt(c)),
    window,
  };
}

/** Replicas of every replicable connection bound to an address in `natIps` (all of them when null). */
export function exportReplicas(t: ConnTable, natIps: ReadonlySet<number> | null = null): ReplicaRecord[] {
  const out: ReplicaRecord[] = [];
  for (let c = 0; c < t.recordCount; c++) {
    if (!isReplicable(t, c) || (natIps !== null && !natIps.has(t.natIp(c)))) continue;
    out.push(exportReplica(t, c)!);
  }
  return out;
}

/**
 * Install a replica in `t` (at the table's time), or refresh the connection when it is already there with the same
 * binding. `liberal` (default true): window-check the installed TCP connection liberally (see the header).
 * Returns an `IMPORT_*` result; the table is unchanged unless it is INSTALLED or REFRESHED.
 */
export function importReplica(t: ConnTable, r: ReplicaRecord, liberal = true): number {
  const proto = r.proto;
  if (
    !(proto >= 0 && proto <= 255) ||
    !(r.natPort >= 0 && r.natPort <= 0xffff) ||
    (proto === PROTO_TCP ? !(r.state >= 1 && r.state <= 9) : r.state !== 0) ||
    (r.window !== null && r.window.length !== TW_STRIDE) ||
    !(r.timeoutMs >= 0 && r.ageMs >= 0)
  )
    return IMPORT_INVALID;
  if (r.timeoutMs === 0) return IMPORT_EXPIRED;
  const now = t.time;
  // ICMP echo: the identifier is both ports, so the exported sport and dport are equal.
  const p = ports(r);
  const hit = t.find(r.src | 0, r.dst | 0, p, proto);
  if (hit >= 0) {
    const c = hit >> 1;
    if ((hit & 1) === 0 && t.isConfirmed(c) && t.natIp(c) === (r.natIp | 0) && t.natPort(c) === r.natPort) {
      t.readopt(c, r.state, r.flags, now + r.timeoutMs, r.window, liberal);
      return IMPORT_REFRESHED;
    }
    return IMPORT_CLASH;
  }
  const c = t.adopt(
    r.src,
    r.dst,
    p,
    proto,
    r.natIp,
    r.natPort,
    r.state,
    r.flags,
    now + r.timeoutMs,
    now - r.ageMs,
    proto === PROTO_TCP ? r.window : null,
    liberal,
  );
  if (c >= 0) return IMPORT_INSTALLED;
  if (c === CT_FULL) return IMPORT_FULL;
  if (c === CT_EXISTS) return IMPORT_CLASH;
  return IMPORT_INVALID;
}

/** Counts of `importReplica` results, by name. */
export class ImportCounts {
  readonly counts = new Float64Array(IMPORT_RESULT_NAMES.length);
  add(result: number): number {
    this.counts[result]!++;
    return result;
  }
  get(name: (typeof IMPORT_RESULT_NAMES)[number]): number {
    return this.counts[IMPORT_RESULT_NAMES.indexOf(name)]!;
  }
  snapshot(): Record<(typeof IMPORT_RESULT_NAMES)[number], number> {
    const o = {} as Record<(typeof IMPORT_RESULT_NAMES)[number], number>;
    IMPORT_RESULT_NAMES.forEach((n, i) => (o[n] = this.counts[i]!));
    return o;
  }
}
