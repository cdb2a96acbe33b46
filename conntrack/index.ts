/**
 * conntrack/ — connection tracking and SNAT bindings. Numbers in, numbers out: no packet bytes, no imports from
 * the rest of the project (docs/architecture.md §2). Behaviour follows Linux nf_conntrack and iptables/nftables SNAT;
 * conntrack/README.md lists the differences and why.
 *
 * Contract (what the datapath stages may rely on):
 * - Keys are IPv4 5-tuples: src, dst (int32), sport, dport, proto. ICMP echo: the identifier is both ports.
 *   `lookup`/`find`/`lookupBurst` return `conn << 1 | dir` (dir 0 original, 1 reply) or -1, and never allocate.
 *   A `lookupBurst` hit stays valid while its connection `isLive`, a miss while `table.inserts` is unchanged.
 * - Once per burst (or per packet in replay): `setTime(ms)`. Time is table state, never a clock read inside.
 * - A miss goes to `create(src, dst, sport, dport, proto, flags, len)`, which processes that first packet and
 *   returns an unconfirmed connection, or CT_FULL (table full, nothing evictable: counted refusal), CT_EXISTS
 *   (created earlier in this burst: look it up again), CT_INVALID (this packet cannot open a connection). Then
 *   optionally `snat(conn, egressIp, mode)` → SNAT_OK | SNAT_EXHAUSTED (drop and abort) — the reply tuple is reserved at once,
 *   so no two connections ever share one. When the packet is emitted: `confirm(conn)` (false: drop it);
 *   when it is dropped: `abort(conn)`. Confirm before abort within a burst; a dropped first packet leaves nothing.
 * - A hit goes to `update(conn, dir, flags, len)` → UPDATE_ACCEPT | UPDATE_IGNORE (pass, no state change) |
 *   UPDATE_INVALID (count, drop) | UPDATE_RECREATE (the connection timed out or was closed: treat as a miss).
 *   `flags` are the TCP flags for TCP, the ICMP type for ICMP. `len` is the IP total length. Before a TCP
 *   `create`/`update`, the datapath fills `table.seg` (sequence, ack, window, payload length, SYN options,
 *   `SEG_SET` = 1) so the segment is checked against the tracked window (tcp-window.ts, Linux `tcp_in_window`).
 * - `create` may also answer CT_LIMIT: the per-host limit (`perHostLimit`) is reached.
 * - Translation: when `isSnat(conn)`, a packet of direction `dir` gets `rewriteAddr(conn, dir)` and
 *   `rewritePort(conn, dir)` as its new source (dir 0) or destination (dir 1). ICMP errors: `lookupRelated` with
 *   the quoted tuple gives the connection and the error's direction; see its doc for which fields to rewrite.
 * - Time: milliseconds, monotonic, any epoch, set with `setTime` (a double crossing a call boundary could be
 *   boxed; a table cell never is, so nothing on the packet path allocates). `expire(budget)` between bursts reaps at most `budget` records and releases records killed during the burst (they stay readable
 *   until then, so an in-flight packet's translation is never torn). A fixed `seed` makes every choice —
 *   hash layout, port offsets, random-fully ports — deterministic for replay.
 * - Counters: `table.counters` (Float64Array) indexed like `CT_COUNTER_NAMES`; `counterSnapshot()` by name.
 * - Observability (cold, allocating): `dump(table)` → JSON-ready objects, `formatConntrack(entries)` →
 *   `conntrack -L` text, `snatUsage(table)` → per egress IP and destination, how close to exhaustion. Both walk
 *   the table in one call; `new TableSurvey(table).step(now)` gives the same (a bounded sample of entries) in
 *   bounded slices.
 * - Replication (replicate.ts, cold): `exportReplica(table, conn)` reads a confirmed SNAT connection's state;
 *   `importReplica(table, record)` installs it on another node, confirmed, with its binding reserved.
 */
export { ConnTable } from './table.js';
export {
  CT_COUNTER_NAMES,
  CT_EXISTS,
  CT_FULL,
  CT_INVALID,
  CT_LIMIT,
  SNAT_EXHAUSTED,
  SNAT_INVALID,
  SNAT_OK,
  SNAT_RANDOM_FULLY,
  UPDATE_ACCEPT,
  UPDATE_IGNORE,
  UPDATE_INVALID,
  UPDATE_RECREATE,
  icmpPorts,
  packPorts,
  type CtCounterName,
} from './record.js';
export type { ConnTableOptions } from './state.js';
export * from './proto.js';
export {
  SEG_ACK,
  SEG_DATA,
  SEG_OPT_SACK_PERM,
  SEG_OPT_WSCALE,
  SEG_OPTS,
  SEG_SEQ,
  SEG_SET,
  SEG_WIN,
  SEG_WORDS,
  tcpValidFlags,
} from './tcp-window.js';
export {
  dump,
  dumpSome,
  formatAddr,
  formatConntrack,
  parseAddr,
  SnatAccumulator,
  snatUsage,
  TableSurvey,
} from './observe.js';
export type { ConnDump, DestinationUsage, EgressIpUsage, SurveyOptions, SurveyPass, TupleDump } from './observe.js';
export { portOwner } from './nat.js';
export { hsip4, Prng } from './hash.js';
export {
  exportReplica,
  exportReplicas,
  importReplica,
  isReplicable,
  ImportCounts,
  IMPORT_CLASH,
  IMPORT_EXPIRED,
  IMPORT_FULL,
  IMPORT_INSTALLED,
  IMPORT_INVALID,
  IMPORT_REFRESHED,
  IMPORT_RESULT_NAMES,
  REPLICA_WINDOW_WORDS,
  type ReplicaRecord,
} from './replicate.js';
