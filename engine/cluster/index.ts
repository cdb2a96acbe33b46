/**
 * engine/cluster: membership by authenticated heartbeats, and failure detection (docs/semantics.md §2.2–2.5,
 * docs/architecture.md §5). Imports only engine/policy (CRC-32) and Node built-ins (node:crypto, node:fs for the key file).
 *
 * Contract with the agent (which owns the sockets/ports, the clock, the rings and the ARP behaviour):
 *
 * 1. Key: `loadKeyFile(path)`; on `{ ok: false }` the agent does not join and claims no IP (Antrea's rule). All nodes
 *    share the key; `acceptKeys` / `setKeys` allow a rotation without a split brain.
 * 2. Start: `new Membership({ self, peers, key, incarnation: newIncarnation(Date.now(), persisted) }, now)` with
 *    `now` from a monotonic clock (`performance.now()`). Persisting the incarnation is optional (it only guards
 *    against the wall clock stepping back across a restart).
 * 3. Loop: call `tick(now)` at least every `intervalMs` (best: at `nextDueAt()`), send each `Outgoing` as UDP from
 *    the node's transport IP to `dstIp`:HEARTBEAT_PORT (10351); pass every datagram received on that port to
 *    `receive(srcIp, payload, now)` — drain what is already received before calling `tick`, so a stalled loop
 *    does not read its own backlog as silence. Neither throws. Node set changed → `setPeers(peers, now)`.
 *    Graceful stop → send `leave(now)`.
 * 4. Events (returned by tick / receive / setPeers):
 *    - `alive` / `dead`: `alive()` changed → rebuild the rings from it and reschedule. A newly owned IP is answered
 *      for at once and announced with exactly one gratuitous ARP; a lost IP is no longer answered for.
 *    - `paused` (gapMs): this agent was frozen or stalled. Its peers may have taken its IPs: stop answering ARP for
 *      egress IPs (and do not announce) until `settled`, re-sync the store.
 *    - `settled`: at start and after a pause, `alive()` is trustworthy again (every live peer acknowledged us, or
 *      deadAfterMs passed). Recompute ownership from `alive()`, answer for what we own and announce each owned IP
 *      once (Antrea's InitIPs re-advertises at start too). Do not claim IPs before the first `settled`.
 *    - `revived-by` (node): that peer had declared us dead and holds us alive again; it may have owned and announced
 *      our IPs meanwhile (partition healed, or we were frozen) → re-announce every IP we own, once per batch of
 *      events (several peers may report it within one interval).
 *    - `dropped-by` (node): that peer says it no longer holds us alive (asymmetric loss, split brain forming).
 *      Informational; `converged()` / `view()` / `peers()` show the views.
 * 5. Diagnostics: `counters` (one per receive verdict, tx, events), `peers()` (state, timeout, loss estimate,
 *    incarnation, the peer's view digest), `view()`, `converged()`.
 *
 * Defaults: interval 50 ms, dead after 500 ms on a clean link (loss-adaptive up to 1000 ms), self-pause after a
 * 200 ms gap. A frozen peer is dead 500 ms + at most one tick period after its last heartbeat (501–510 ms with a
 * 10 ms tick in test/cluster); it is alive again on its first heartbeat after it resumes.
 */
export * from './key.js';
export * from './membership.js';
export { tunnelAuthKey } from './tunnel-key.js';
export {
  HEARTBEAT_PORT,
  encodeHeartbeat,
  decodeHeartbeat,
  newIncarnation,
  verdictName,
  type Heartbeat,
  type HeartbeatVerdict,
  type DecodeResult,
} from './heartbeat.js';
export * as heartbeat from './heartbeat.js';
export * as connSync from './conn-sync.js';
export { SyncReceiver, SyncSender, isSyncPayload, type SyncRecord, type SyncRemoval } from './conn-sync.js';
