/**
 * The restart snapshot of connection-state sync (docs/conntrack-sync.md "Agent restart"): on SIGTERM the agent
 * writes the replicas of the connections of its egress IPs into `run/<node>.conns`; the restarted agent reads it
 * back and installs the connections before it reclaims the IPs.
 *
 * The file is JSON: a header (format name, format version, node, the writer's incarnation, the wall-clock time it
 * was written, the record count) and one array per connection, the fields of `ReplicaRecord` in a fixed order.
 * Wall-clock time, because the agent's clock (performance.now) restarts with the process: a record's timeout is
 * what was left at `writtenAt`, and the reader takes the time since off it.
 *
 * Decoding never throws: anything it does not accept is a reason (SNAPSHOT_REJECT_REASONS), counted by the caller.
 */
import { REPLICA_WINDOW_WORDS, type ReplicaRecord } from '../../conntrack/index.js';

export const SNAPSHOT_FORMAT = 'egress-conn-snapshot';
export const SNAPSHOT_VERSION = 1;
/** Bytes per connection a snapshot may take at most (a TCP record with its window is about 200). */
export const SNAPSHOT_BYTES_PER_CONN = 512;
/** A file written this much later than now (the clock stepped back) is not trusted. */
const FUTURE_SLACK_MS = 5000;

export const SNAPSHOT_REJECT_REASONS = [
  'truncated',
  'corrupt',
  'version',
  'wrong-node',
  'oversize',
  'stale',
  'unreadable',
] as const;
export type SnapshotRejectReason = (typeof SNAPSHOT_REJECT_REASONS)[number];

export interface SnapshotMeta {
  node: string;
  incarnation: number;
  /** Wall-clock ms (Date.now) when written. */
  writtenAt: number;
}

export type DecodedSnapshot =
  | { ok: true; meta: SnapshotMeta; records: ReplicaRecord[]; elapsedMs: number }
  | { ok: false; reason: SnapshotRejectReason; detail: string };

/** The snapshot text of `records`. */
export function encodeSnapshot(meta: SnapshotMeta, records: readonly ReplicaRecord[]): string {
  const rows = records.map((r) => [
    r.src | 0,
    r.dst | 0,
    r.sport,
    r.dport,
    r.proto,
    r.natIp | 0,
    r.natPort,
    r.state,
    r.flags,
    Math.round(r.timeoutMs),
    Math.round(r.ageMs),
    r.window ? Array.from(r.window) : null,
  ]);
  const head = {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    node: meta.node,
    incarnation: meta.incarnation,
    writtenAt: meta.writtenAt,
    count: rows.length,
  };
  // One connection per line: readable with `head`, and a cut-off file is seen as truncated.
  const body = rows.map((r) => JSON.stringify(r)).join(',\n');
  return `${JSON.stringify(head).slice(0, -1)},"records":[\n${body}\n]}\n`;
}

const isInt = (x: unknown, lo: number, hi: number): x is number =>
  typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
const I32 = [-0x80000000, 0x7fffffff] as const;

function record(row: unknown): ReplicaRecord | null {
  if (!Array.isArray(row) || row.length !== 12) return null;
  const [src, dst, sport, dport, proto, natIp, natPort, state, flags, timeoutMs, ageMs, win] = row as unknown[];
  if (!isInt(src, ...I32) || !isInt(dst, ...I32) || !isInt(natIp, ...I32)) return null;
  if (!isInt(sport, 0, 0xffff) || !isInt(dport, 0, 0xffff) || !isInt(natPort, 0, 0xffff)) return null;
  if (!isInt(proto, 0, 255) || !isInt(state, 0, 15) || !isInt(flags, 0, 0xffff)) return null;
  if (!isInt(timeoutMs, 0, 2 ** 40) || !isInt(ageMs, 0, 2 ** 40)) return null;
  let window: Int32Array | null = null;
  if (win !== null) {
    if (!Array.isArray(win) || win.length !== REPLICA_WINDOW_WORDS || !win.every((w) => isInt(w, ...I32))) return null;
    window = Int32Array.from(win as number[]);
  }
  return { src, dst, sport, dport, proto, natIp, natPort, state, flags, timeoutMs, ageMs, window };
}

/**
 * Read a snapshot written for `node`, at wall-clock `wallNow`, holding at most `maxRecords` connections. The
 * records come back aged: `elapsedMs` taken off their timeouts (0 when run out) and added to their ages. Stale:
 * every connection's timeout ran out since it was written.
 */
export function decodeSnapshot(
  text: string,
  o: { node: string; wallNow: number; maxRecords: number },
): DecodedSnapshot {
  const no = (reason: SnapshotRejectReason, detail: string): DecodedSnapshot => ({ ok: false, reason, detail });
  if (text.length > (o.maxRecords + 1) * SNAPSHOT_BYTES_PER_CONN)
    return no('oversize', `${text.length} bytes for at most ${o.maxRecords} connections`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return text.trimEnd().endsWith('}')
      ? no('corrupt', `not JSON (${(e as Error).message})`)
      : no('truncated', 'the file ends early');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return no('corrupt', 'not a JSON object');
  const h = v as Record<string, unknown>;
  if (h['format'] !== SNAPSHOT_FORMAT) return no('corrupt', `format is not ${SNAPSHOT_FORMAT}`);
  if (h['version'] !== SNAPSHOT_VERSION) return no('version', `format version ${String(h['version'])}`);
  if (h['node'] !== o.node) return no('wrong-node', `written by ${String(h['node'])}`);
  const { incarnation, writtenAt, count, records: rows } = h;
  if (!isInt(incarnation, 0, Number.MAX_SAFE_INTEGER) || !isInt(writtenAt, 0, Number.MAX_SAFE_INTEGER))
    return no('corrupt', 'bad incarnation or writtenAt');
  if (!isInt(count, 0, Number.MAX_SAFE_INTEGER) || !Array.isArray(rows)) return no('corrupt', 'bad record list');
  if (rows.length !== count) return no('truncated', `${rows.length} of ${count} connections`);
  if (count > o.maxRecords) return no('oversize', `${count} connections, the table holds ${o.maxRecords}`);
  const elapsedMs = o.wallNow - writtenAt;
  if (elapsedMs < -FUTURE_SLACK_MS) return no('stale', `written ${-elapsedMs} ms in the future (clock stepped?)`);
  const el = Math.max(0, elapsedMs);
  const records: ReplicaRecord[] = [];
  let live = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = record(rows[i]);
    if (!r) return no('corrupt', `connection ${i} is malformed`);
    if (r.timeoutMs > el) live++;
    records.push({ ...r, timeoutMs: Math.max(0, r.timeoutMs - el), ageMs: r.ageMs + el });
  }
  if (count > 0 && live === 0) return no('stale', `written ${el} ms ago: every connection timed out`);
  return { ok: true, meta: { node: o.node, incarnation, writtenAt }, records, elapsedMs: el };
}
