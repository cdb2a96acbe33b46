/**
 * Membership: authenticated heartbeats and failure detection for one node (docs/semantics.md §2.2–2.5, docs/architecture.md §5).
 *
 * Pure and deterministic: no timers, sockets or clocks inside. The agent passes a monotonic clock in ms
 * (`performance.now()`; it keeps running while a process is SIGSTOPped, which is what lets a frozen agent notice
 * it was frozen) to `tick` and `receive`, sends what `tick` returns, and feeds every datagram received on the
 * heartbeat port to `receive`. Replay runs the same code in simulated time.
 *
 * Peer states: `grace` (assumed alive, not heard yet: every peer at start), `alive` (a confirmed heartbeat within
 * its timeout), `dead`. `alive()` = self + grace + alive peers; it is the membership the hash ring is built from.
 *
 * Failure detection: a peer is dead once it has been silent (no confirmed heartbeat) for its timeout, evaluated on
 * `tick`. The timeout is `deadAfterMs` on a clean link. It adapts to loss: every peer's counter gaps give a loss
 * estimate p, and the timeout becomes the time of k = ⌈ln 1e-9 / ln p⌉ heartbeats (so k losses in a row, the only
 * way a live peer looks dead, have probability ≤ 1e-9), clamped to [deadAfterMs, maxDeadAfterMs]. Trade-off: on a
 * clean LAN detection stays at deadAfterMs (500 ms by default); under heavy loss (1 in 3) it grows to at most
 * maxDeadAfterMs (1000 ms by default) instead of flapping. `maxDeadAfterMs = deadAfterMs` disables it.
 *
 * Defaults: interval 50 ms, dead after 500 ms → a false death needs 10 heartbeats lost in a row. (With 100/500 it
 * would take 5: at 1-in-3 loss that is a false death every ~40 s per link.) Cost: 20 datagrams/s per peer of ~90 B.
 *
 * A self-pause (the agent frozen or its event loop stalled: more than `pauseAfterMs` between two calls) is not
 * silence of the peers: the stalled time is taken off every live peer's silence, so a resumed agent does not declare
 * everyone dead and flap. It reports `paused` (gap in ms) and becomes unsettled. Shorter stalls (a late timer, a
 * busy loop: a gap over `lateAfterMs` = 2 × intervalMs) are compensated quietly: only the time up to lateAfterMs of
 * each gap counts as the peers' silence, so a peer's silence is judged over the time the observer itself ran. The
 * agent should still hand the datagrams already received to `receive` before calling `tick`.
 *
 * Settling (the signal the agent needs before it acts on ownership): after start and after a pause, `settled()` is
 * false until every peer in `alive()` has sent a confirmed heartbeat saying it holds us alive (flag SEES_YOU), or
 * `deadAfterMs` has passed. While unsettled, our own view is a guess (a frozen node still believes it owns what
 * it owned; its peers may have taken it over) — see index.ts for what the agent does with it.
 *
 * Replay protection: per peer, (incarnation, counter) must grow; a heartbeat is proof of life only if it echoes
 * our current incarnation (so nothing recorded before we started can be replayed into us), comes from the transport
 * IP of the node it names and is addressed to our transport IP.
 */
import { crc32String } from '../policy/crc32.js';
import {
  decodeHeartbeat,
  encodeHeartbeat,
  FLAG_LEAVING,
  FLAG_SEES_YOU,
  FROM_SELF,
  MAX_NAME_LEN,
  OK,
  REPLAYED,
  STALE_INCARNATION,
  UNCONFIRMED,
  UNKNOWN_NODE,
  VERDICT_NAMES,
  WRONG_DESTINATION,
  WRONG_SOURCE,
  type HeartbeatVerdict,
} from './heartbeat.js';
import { keyProblem, type HeartbeatKey } from './key.js';

export const DEFAULT_INTERVAL_MS = 50;
export const DEFAULT_DEAD_AFTER_MS = 500;
export const DEFAULT_MAX_DEAD_AFTER_MS = 1000;
/** Probability of a live peer looking dead that the loss-adaptive timeout aims for (k losses in a row). */
export const FALSE_DEATH_TARGET = 1e-9;

/** A node taking part: its name and its transport IP (int32, `x | 0`). */
export interface Peer {
  readonly name: string;
  readonly ip: number;
}

export interface MembershipConfig {
  /** This node. */
  readonly self: Peer;
  /** The other nodes (from the Node manifests). Entries named like self are ignored; a repeated name keeps the last. */
  readonly peers: readonly Peer[];
  /** Key used to send (and accepted on receive). */
  readonly key: HeartbeatKey;
  /** More keys accepted on receive (key rotation: add the new key here everywhere, then make it primary). */
  readonly acceptKeys?: readonly HeartbeatKey[];
  /** This agent's incarnation (`newIncarnation(Date.now(), persisted)`), ≥ 1. */
  readonly incarnation: number;
  /** Heartbeat period per peer (default 50 ms). */
  readonly intervalMs?: number;
  /** Silence after which a peer is dead on a clean link (default 500 ms; must be > 2 × intervalMs). */
  readonly deadAfterMs?: number;
  /** Upper bound of the loss-adaptive timeout (default 1000 ms; = deadAfterMs turns adaptation off). */
  readonly maxDeadAfterMs?: number;
  /** A gap between two calls longer than this is a self-pause (default 4 × intervalMs; > intervalMs, < deadAfterMs). */
  readonly pauseAfterMs?: number;
}

export type PeerState = 'grace' | 'alive' | 'dead';

export type MembershipEvent =
  /** A dead (or never heard) peer sent a confirmed heartbeat: rebuild the rings. */
  | { readonly type: 'alive'; readonly node: string; readonly at: number }
  /** A peer left `alive()`: rebuild the rings. `silentMs`: time since its last confirmed heartbeat. */
  | {
      readonly type: 'dead';
      readonly node: string;
      readonly at: number;
      readonly reason: 'silent' | 'left' | 'removed';
      readonly silentMs: number;
    }
  /**
   * The peer had declared us dead and now holds us alive again (its revival count for us changed): meanwhile it may
   * have taken over our egress IPs and announced them, so re-announce what we own (coalesce per batch).
   */
  | { readonly type: 'revived-by'; readonly node: string; readonly at: number }
  /** The peer reports it no longer holds us alive: it may take over our IPs (split brain in progress). */
  | { readonly type: 'dropped-by'; readonly node: string; readonly at: number }
  /** This agent itself did not run for `gapMs` (frozen, stalled). */
  | { readonly type: 'paused'; readonly at: number; readonly gapMs: number }
  /** Re-synced after start or a pause (`acked`: every live peer holds us alive; `timeout`: deadAfterMs passed). */
  | { readonly type: 'settled'; readonly at: number; readonly reason: 'acked' | 'timeout' };

/** A datagram to send: UDP to `dstIp`:HEARTBEAT_PORT from our transport IP, payload as given. */
export interface Outgoing {
  readonly node: string;
  /** int32 */
  readonly dstIp: number;
  readonly payload: Uint8Array;
}

export interface TickResult {
  readonly send: readonly Outgoing[];
  readonly events: readonly MembershipEvent[];
}

export interface ReceiveResult {
  readonly verdict: HeartbeatVerdict;
  /** The peer the heartbeat named, when it got that far. */
  readonly node: string | null;
  readonly events: readonly MembershipEvent[];
}

export interface PeerStatus {
  readonly name: string;
  readonly ip: number;
  readonly state: PeerState;
  /** Our clock at its last confirmed heartbeat (NaN if never). */
  readonly lastHeardAt: number;
  /** Current silence timeout (ms). */
  readonly timeoutMs: number;
  /** Loss estimate on its link to us, 0..1. */
  readonly loss: number;
  /** Its incarnation and last counter seen (0 if none). */
  readonly incarnation: number;
  readonly counter: number;
  /** It reports holding us alive (reset by our own pause until it tells us again). */
  readonly seesMe: boolean;
  /** Times we brought it back from dead. */
  readonly revivals: number;
  /** Its reported interval and view (0 / null before its first heartbeat). */
  readonly intervalMs: number;
  readonly viewSize: number;
  readonly viewDigest: number | null;
}

export interface ViewSummary {
  /** Sorted names in `alive()`. */
  readonly members: readonly string[];
  readonly size: number;
  /** CRC-32 of the members joined with "\n" (what heartbeats carry). */
  readonly digest: number;
}

/** Counter names: one per receive verdict (`rx-<verdict>`), then the rest. */
export const MEMBERSHIP_COUNTERS = [
  ...VERDICT_NAMES.map((n) => `rx-${n}` as const),
  'tx-heartbeats',
  'tx-leaves',
  'alive-events',
  'dead-events',
  'pauses',
  'settles',
] as const;

const C_TX = VERDICT_NAMES.length;
const C_TX_LEAVE = C_TX + 1;
const C_ALIVE = C_TX + 2;
const C_DEAD = C_TX + 3;
const C_PAUSE = C_TX + 4;
const C_SETTLE = C_TX + 5;

/** Named counters of one Membership (engine/graph's Counters shape; cluster may not import graph). */
export class ClusterCounters {
  readonly names: readonly string[] = MEMBERSHIP_COUNTERS;
  readonly v = new Float64Array(MEMBERSHIP_COUNTERS.length);
  /** Value by name (0 for an unknown name). */
  get(name: string): number {
    const i = this.names.indexOf(name);
    return i < 0 ? 0 : this.v[i]!;
  }
  /** Name → value, zeros included, in declaration order. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.names.length; i++) out[this.names[i]!] = this.v[i]!;
    return out;
  }
  reset(): void {
    this.v.fill(0);
  }
}

const GRACE = 0;
const ALIVE = 1;
const DEAD = 2;
const STATE_NAMES: readonly PeerState[] = ['grace', 'alive', 'dead'];

/** Loss estimator: a prior of this many clean heartbeats, halved once `expected` exceeds LOSS_WINDOW. */
const LOSS_PRIOR = 4;
const LOSS_WINDOW = 400;

interface PeerRec {
  name: string;
  ip: number;
  state: number;
  /** Our clock at its last confirmed heartbeat; for GRACE the start of the grace period. */
  lastHeard: number;
  heard: boolean;
  inc: number;
  counter: number;
  txCounter: number;
  expected: number;
  received: number;
  timeoutMs: number;
  /** Skip loss accounting for the next gap (after a pause or a return from dead). */
  skipGap: boolean;
  seesMe: boolean;
  /** Times we brought it from DEAD to ALIVE (sent mod 256). */
  revivals: number;
  /** Its last reported revival count for us (-1: unknown for its current incarnation). */
  revSeen: number;
  peerInterval: number;
  viewSize: number;
  viewDigest: number;
  viewKnown: boolean;
}

const encoder = new TextEncoder();

/** Why a configuration is unusable (one line), or null. The CLI turns it into a UserError. */
export function membershipConfigProblem(cfg: MembershipConfig): string | null {
  const interval = cfg.intervalMs ?? DEFAULT_INTERVAL_MS;
  const dead = cfg.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
  const max = cfg.maxDeadAfterMs ?? Math.max(DEFAULT_MAX_DEAD_AFTER_MS, dead);
  const pause = cfg.pauseAfterMs ?? Math.min(4 * interval, dead - 1);
  const nameLen = encoder.encode(cfg.self.name).length;
  if (nameLen < 1 || nameLen > MAX_NAME_LEN) return `node name must be 1..${MAX_NAME_LEN} UTF-8 bytes`;
  if (!Number.isInteger(cfg.self.ip)) return 'own transport IP must be an int32';
  if (!Number.isSafeInteger(cfg.incarnation) || cfg.incarnation < 1) return 'incarnation must be an integer ≥ 1';
  const kp = keyProblem(cfg.key.key);
  if (kp) return kp;
  for (const k of cfg.acceptKeys ?? []) {
    const p = keyProblem(k.key);
    if (p) return `accepted ${p}`;
  }
  if (!Number.isInteger(interval) || interval < 1 || interval > 0xffff) {
    return `heartbeat interval must be an integer from 1 to 65535 ms (got ${interval})`;
  }
  if (!Number.isFinite(dead) || dead <= 2 * interval) {
    return `dead-after (${dead} ms) must be more than twice the heartbeat interval (${interval} ms)`;
  }
  if (!Number.isFinite(max) || max < dead) return `max dead-after (${max} ms) must be at least dead-after (${dead} ms)`;
  if (!Number.isFinite(pause) || pause <= interval || pause >= dead) {
    return `pause threshold (${pause} ms) must lie between the interval (${interval} ms) and dead-after (${dead} ms)`;
  }
  return null;
}

export class Membership {
  readonly self: Peer;
  readonly incarnation: number;
  readonly intervalMs: number;
  readonly deadAfterMs: number;
  readonly maxDeadAfterMs: number;
  readonly pauseAfterMs: number;
  /**
   * A gap between two calls longer than this (2 × intervalMs, at most pauseAfterMs) is a late call: its excess is
   * not counted against the peers (their silence is judged only over the time this observer ran).
   */
  readonly lateAfterMs: number;
  readonly counters = new ClusterCounters();

  private key: HeartbeatKey;
  private keys: HeartbeatKey[];
  private readonly byName = new Map<string, PeerRec>();
  private lastNow: number;
  private nextSendAt: number;
  private isSettled = false;
  private settleDeadline: number;
  private left = false;
  private aliveSet: ReadonlySet<string> | null = null;
  private viewCache: ViewSummary | null = null;

  /** Throws RangeError on a configuration `membershipConfigProblem` rejects (validate user input with it first). */
  constructor(cfg: MembershipConfig, now: number) {
    const p = membershipConfigProblem(cfg);
    if (p) throw new RangeError(`membership: ${p}`);
    this.self = { name: cfg.self.name, ip: cfg.self.ip | 0 };
    this.incarnation = cfg.incarnation;
    this.intervalMs = cfg.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.deadAfterMs = cfg.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
    this.maxDeadAfterMs = cfg.maxDeadAfterMs ?? Math.max(DEFAULT_MAX_DEAD_AFTER_MS, this.deadAfterMs);
    this.pauseAfterMs = cfg.pauseAfterMs ?? Math.min(4 * this.intervalMs, this.deadAfterMs - 1);
    this.lateAfterMs = Math.min(2 * this.intervalMs, this.pauseAfterMs);
    this.key = cfg.key;
    this.keys = [cfg.key, ...(cfg.acceptKeys ?? [])];
    this.lastNow = now;
    this.nextSendAt = now;
    this.settleDeadline = now + this.deadAfterMs;
    for (const peer of cfg.peers) {
      if (peer.name === this.self.name) continue;
      this.byName.set(peer.name, this.newRec(peer, GRACE, now));
    }
  }

  // ---- queries -------------------------------------------------------------------------------------------

  /** Members held alive: self, grace and alive peers. A new Set object after every change (a snapshot). */
  alive(): ReadonlySet<string> {
    if (!this.aliveSet) {
      const s = new Set<string>([this.self.name]);
      for (const r of this.byName.values()) if (r.state !== DEAD) s.add(r.name);
      this.aliveSet = s;
    }
    return this.aliveSet;
  }

  /** Our view: sorted members, size and digest. */
  view(): ViewSummary {
    if (!this.viewCache) {
      const members = [...this.alive()].sort();
      this.viewCache = { members, size: members.length, digest: crc32String(members.join('\n')) };
    }
    return this.viewCache;
  }

  /** True when every confirmed-alive peer reports the same view digest as ours (split brain healed). */
  converged(): boolean {
    const d = this.view().digest;
    for (const r of this.byName.values()) {
      if (r.state === DEAD) continue;
      if (r.state === GRACE || !r.viewKnown || r.viewDigest !== d) return false;
    }
    return true;
  }

  /** Re-synced since start / the last pause (see the file header). */
  settled(): boolean {
    return this.isSettled;
  }

  /** Per-peer status, sorted by name. */
  peers(): PeerStatus[] {
    return [...this.byName.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((r) => ({
        name: r.name,
        ip: r.ip,
        state: STATE_NAMES[r.state]!,
        lastHeardAt: r.heard ? r.lastHeard : NaN,
        timeoutMs: r.state === GRACE ? this.deadAfterMs : r.timeoutMs,
        loss: lossOf(r),
        incarnation: r.inc,
        counter: r.counter,
        seesMe: r.seesMe,
        revivals: r.revivals,
        intervalMs: r.peerInterval,
        viewSize: r.viewKnown ? r.viewSize : 0,
        viewDigest: r.viewKnown ? r.viewDigest : null,
      }));
  }

  /** The earliest time at which `tick` has something to do (next heartbeat, a timeout, the settle deadline). */
  nextDueAt(): number {
    let t = this.left ? Infinity : this.nextSendAt;
    for (const r of this.byName.values()) {
      if (r.state === DEAD) continue;
      t = Math.min(t, r.lastHeard + (r.state === GRACE ? this.deadAfterMs : r.timeoutMs));
    }
    if (!this.isSettled) t = Math.min(t, this.settleDeadline);
    return t;
  }

  // ---- inputs --------------------------------------------------------------------------------------------

  /** Advance to `now`: detect a self-pause, evaluate timeouts, settle, and return the heartbeats due. */
  tick(now: number): TickResult {
    const events: MembershipEvent[] = [];
    now = this.observeTime(now, events);
    for (const r of this.byName.values()) {
      if (r.state === DEAD) continue;
      const limit = r.state === GRACE ? this.deadAfterMs : r.timeoutMs;
      const silent = now - r.lastHeard;
      if (silent >= limit) {
        this.setDead(r);
        events.push({ type: 'dead', node: r.name, at: now, reason: 'silent', silentMs: silent });
      }
    }
    this.checkSettled(now, events);
    const send: Outgoing[] = [];
    if (!this.left && now >= this.nextSendAt) {
      for (const r of this.byName.values()) send.push(this.heartbeatTo(r, 0));
      this.nextSendAt += this.intervalMs;
      if (this.nextSendAt <= now) this.nextSendAt = now + this.intervalMs;
    }
    return { send, events };
  }

  /** One datagram received on the heartbeat port from `srcIp` (int32). Never throws. */
  receive(srcIp: number, payload: Uint8Array, now: number): ReceiveResult {
    const events: MembershipEvent[] = [];
    now = this.observeTime(now, events);
    const v = this.receiveInner(srcIp | 0, payload, now, events);
    this.counters.v[v.verdict]!++;
    this.checkSettled(now, events);
    return { verdict: v.verdict, node: v.node, events };
  }

  /**
   * Graceful shutdown: heartbeats flagged LEAVING for every peer (they mark us dead at once, like memberlist's
   * Leave). After it, `tick` sends nothing.
   */
  leave(now: number): Outgoing[] {
    this.observeTime(now, []);
    const out: Outgoing[] = [];
    for (const r of this.byName.values()) out.push(this.heartbeatTo(r, FLAG_LEAVING));
    this.counters.v[C_TX_LEAVE]! += out.length;
    this.left = true;
    return out;
  }

  /**
   * The Node set changed (manifests). New peers start dead until they send a confirmed heartbeat (a Node added
   * before its agent runs must not attract IPs); removed peers that were alive produce `dead` (reason `removed`);
   * a changed IP is taken as is (replay state kept).
   */
  setPeers(peers: readonly Peer[], now: number): MembershipEvent[] {
    const events: MembershipEvent[] = [];
    now = this.observeTime(now, events);
    const next = new Map<string, Peer>();
    for (const p of peers) if (p.name !== this.self.name) next.set(p.name, p);
    for (const r of [...this.byName.values()]) {
      if (next.has(r.name)) continue;
      this.byName.delete(r.name);
      if (r.state !== DEAD) {
        events.push({ type: 'dead', node: r.name, at: now, reason: 'removed', silentMs: now - r.lastHeard });
      }
      this.changed();
    }
    for (const p of next.values()) {
      const r = this.byName.get(p.name);
      if (r) r.ip = p.ip | 0;
      else this.byName.set(p.name, this.newRec(p, DEAD, now));
    }
    this.checkSettled(now, events);
    return events;
  }

  /** Replace the keys (rotation): `key` signs from now on; `acceptKeys` are also accepted. */
  setKeys(key: HeartbeatKey, acceptKeys: readonly HeartbeatKey[] = []): void {
    for (const k of [key, ...acceptKeys]) {
      const p = keyProblem(k.key);
      if (p) throw new RangeError(`membership: ${p}`);
    }
    this.key = key;
    this.keys = [key, ...acceptKeys];
  }

  // ---- internals -----------------------------------------------------------------------------------------

  private newRec(p: Peer, state: number, now: number): PeerRec {
    return {
      name: p.name,
      ip: p.ip | 0,
      state,
      lastHeard: now,
      heard: false,
      inc: 0,
      counter: 0,
      txCounter: 0,
      expected: LOSS_PRIOR,
      received: LOSS_PRIOR,
      timeoutMs: this.deadAfterMs,
      skipGap: true,
      seesMe: false,
      revivals: 0,
      revSeen: -1,
      peerInterval: 0,
      viewSize: 0,
      viewDigest: 0,
      viewKnown: false,
    };
  }

  private changed(): void {
    this.aliveSet = null;
    this.viewCache = null;
  }

  private setDead(r: PeerRec): void {
    r.state = DEAD;
    r.seesMe = false;
    r.skipGap = true;
    this.counters.v[C_DEAD]!++;
    this.changed();
  }

  /** Clamp a clock going backwards; detect a self-pause. Returns the effective now. */
  private observeTime(now: number, events: MembershipEvent[]): number {
    if (!(now >= this.lastNow)) return this.lastNow; // also NaN
    const gap = now - this.lastNow;
    this.lastNow = now;
    if (gap > this.pauseAfterMs) {
      // We did not listen during the gap: that silence is not the peers'. (Conservative: the whole gap is taken
      // off, so a real death that happened just before the pause is seen up to `gap` later — never falsely.)
      for (const r of this.byName.values()) {
        if (r.state !== DEAD) r.lastHeard = Math.min(now, r.lastHeard + gap);
        r.seesMe = false; // what they think of us now is unknown until they tell us
        r.skipGap = true; // their datagrams lost while we were away are not link loss
      }
      this.isSettled = false;
      this.settleDeadline = now + this.deadAfterMs;
      this.nextSendAt = Math.min(this.nextSendAt, now);
      this.counters.v[C_PAUSE]!++;
      events.push({ type: 'paused', at: now, gapMs: gap });
    } else if (gap > this.lateAfterMs) {
      // A late call (the observer's timer fired late, its loop was busy): the observer was not running for the
      // excess, so that time does not count as the peers' silence either (docs/agent.md "Membership timing").
      const excess = gap - this.lateAfterMs;
      for (const r of this.byName.values()) if (r.state !== DEAD) r.lastHeard = Math.min(now, r.lastHeard + excess);
    }
    return now;
  }

  private checkSettled(now: number, events: MembershipEvent[]): void {
    if (this.isSettled) return;
    let acked = true;
    for (const r of this.byName.values()) {
      if (r.state === DEAD) continue;
      if (r.state !== ALIVE || !r.seesMe) {
        acked = false;
        break;
      }
    }
    if (acked || now >= this.settleDeadline) {
      this.isSettled = true;
      this.counters.v[C_SETTLE]!++;
      events.push({ type: 'settled', at: now, reason: acked ? 'acked' : 'timeout' });
    }
  }

  private heartbeatTo(r: PeerRec, extraFlags: number): Outgoing {
    const view = this.view();
    r.txCounter++;
    const payload = encodeHeartbeat(
      {
        flags: (r.state === ALIVE ? FLAG_SEES_YOU : 0) | extraFlags,
        revivals: r.revivals & 0xff,
        incarnation: this.incarnation,
        counter: r.txCounter,
        echo: r.inc,
        dstIp: r.ip,
        intervalMs: this.intervalMs,
        viewSize: Math.min(view.size, 0xffff),
        viewDigest: view.digest,
        name: this.self.name,
      },
      this.key,
    );
    this.counters.v[C_TX]!++;
    return { node: r.name, dstIp: r.ip, payload };
  }

  private receiveInner(
    srcIp: number,
    payload: Uint8Array,
    now: number,
    events: MembershipEvent[],
  ): { verdict: HeartbeatVerdict; node: string | null } {
    const d = decodeHeartbeat(payload, this.keys);
    if (d.verdict !== OK) return { verdict: d.verdict, node: null };
    const hb = d.hb;
    if (hb.name === this.self.name) return { verdict: FROM_SELF, node: null };
    const r = this.byName.get(hb.name);
    if (!r) return { verdict: UNKNOWN_NODE, node: null };
    if (r.ip !== srcIp) return { verdict: WRONG_SOURCE, node: r.name };
    if ((hb.dstIp | 0) !== this.self.ip) return { verdict: WRONG_DESTINATION, node: r.name };
    if (hb.incarnation < r.inc) return { verdict: STALE_INCARNATION, node: r.name };
    if (hb.incarnation === r.inc && hb.counter <= r.counter) return { verdict: REPLAYED, node: r.name };

    // Authentic and fresh: record it (replay state, echo value, diagnostics).
    if (hb.incarnation > r.inc) {
      // The peer (re)started: it no longer knows us; counters start over.
      r.inc = hb.incarnation;
      r.seesMe = false;
      r.revSeen = -1;
      r.skipGap = true;
    } else if (r.skipGap) {
      r.skipGap = false;
    } else {
      const gap = hb.counter - r.counter;
      const iv = hb.intervalMs > 0 ? hb.intervalMs : this.intervalMs;
      // A gap wider than the longest timeout spans a death or partition, not link loss.
      if (r.state !== DEAD && gap <= Math.ceil(this.maxDeadAfterMs / iv) + 1) {
        r.expected += gap;
        r.received += 1;
        if (r.expected > LOSS_WINDOW) {
          r.expected /= 2;
          r.received /= 2;
        }
      }
    }
    r.counter = hb.counter;
    r.peerInterval = hb.intervalMs;
    r.viewSize = hb.viewSize;
    r.viewDigest = hb.viewDigest;
    r.viewKnown = true;
    r.timeoutMs = this.timeoutFor(r);

    if (hb.echo !== this.incarnation) return { verdict: UNCONFIRMED, node: r.name };

    // Proof of life.
    if ((hb.flags & FLAG_LEAVING) !== 0) {
      if (r.state !== DEAD) {
        const silent = r.heard ? now - r.lastHeard : 0;
        this.setDead(r);
        events.push({ type: 'dead', node: r.name, at: now, reason: 'left', silentMs: silent });
      }
      return { verdict: OK, node: r.name };
    }
    r.lastHeard = now;
    r.heard = true;
    if (r.state !== ALIVE) {
      const wasDead = r.state === DEAD;
      r.state = ALIVE;
      if (wasDead) {
        r.revivals++;
        this.counters.v[C_ALIVE]!++;
        this.changed();
        events.push({ type: 'alive', node: r.name, at: now });
      }
    }
    const sees = (hb.flags & FLAG_SEES_YOU) !== 0;
    if (sees && r.revSeen >= 0 && hb.revivals !== r.revSeen) events.push({ type: 'revived-by', node: r.name, at: now });
    if (!sees && r.seesMe) events.push({ type: 'dropped-by', node: r.name, at: now });
    r.revSeen = hb.revivals;
    r.seesMe = sees;
    return { verdict: OK, node: r.name };
  }

  /** Silence timeout of a peer from its interval and the loss estimate on its link (file header). */
  private timeoutFor(r: PeerRec): number {
    const iv = r.peerInterval > 0 ? r.peerInterval : this.intervalMs;
    const floor = Math.max(this.deadAfterMs, 3 * iv);
    const p = lossOf(r);
    if (p <= 0 || this.maxDeadAfterMs <= floor) return floor;
    const k = p >= 1 ? Infinity : Math.ceil(Math.log(FALSE_DEATH_TARGET) / Math.log(p));
    return Math.max(floor, Math.min(k * iv, this.maxDeadAfterMs));
  }
}

function lossOf(r: PeerRec): number {
  return r.expected > 0 ? Math.max(0, 1 - r.received / r.expected) : 0;
}
