/**
 * Connection-state replication of one node (docs/conntrack-sync.md): the owner of an egress IP streams the state
 * of the connections SNATed to it to the IP's standby (policy `standbys`: the node that would own the IP if this
 * one died); the standby keeps the state in a bounded cache and installs it in its connection table when it takes
 * the IP over, before it announces the IP (gratuitous ARP) and answers ARP for it.
 *
 * Sending never touches the packet path: a scan of the table in bounded slices (`scanBudget` records per
 * housekeeping round, like expiry) finds connections that are new (confirmed and bound), changed (TCP state or
 * flags), due for a refresh (`refreshMs`, so the standby's timeouts follow), or gone (removals). What it finds
 * goes into a bounded queue (`maxQueue`, drop-oldest, counted; a ring of typed arrays) drained at most
 * `maxRecordsPerRound` records per round into messages of at most 1400 bytes (cluster/conn-sync.ts), one burst per
 * standby; a record is encoded from the table as it leaves (skipped if its connection ended meanwhile), in place
 * into a builder reused per standby, so the messages are the only allocation. A standby that changes
 * (membership, nodeSelector) gets a full transfer: every connection of the IP is sent again. An IP handed to
 * another live node (break before make) is transferred to that node at once, so a resumed owner takes its
 * connections back; `handOver` (SIGTERM) sends everything to the standbys without the per-round bound.
 *
 * Receiving: every message is judged by `SyncReceiver` (MAC, key, sender a live member, destination, replay
 * counters, echo of our incarnation); nothing but an OK message changes the cache. The cache (replica-cache.ts,
 * typed arrays) holds at most `maxCache` connections (full: counted, dropped) and forgets entries whose timeout
 * ran out.
 */
import { connSync, SyncReceiver, SyncSender, type HeartbeatKey, type SyncRecord } from '../cluster/index.js';
import {
  exportReplicas,
  PROTO_TCP,
  importReplica,
  IMPORT_RESULT_NAMES,
  isReplicable,
  type ConnTable,
} from '../../conntrack/index.js';
import { decodeSnapshot, encodeSnapshot, SNAPSHOT_REJECT_REASONS, type SnapshotRejectReason } from './conn-snapshot.js';
import { nodeTransportKey, standbys, type ClusterState } from '../policy/index.js';
import { ReplicaCache } from './replica-cache.js';
import { ipv4 } from '../wire/index.js';

export const SYNC_COUNTER_NAMES = [
  'replicated',
  'records-sent',
  'removals-sent',
  'messages-sent',
  'bytes-sent',
  'messages-received',
  'bytes-received',
  'records-received',
  'removals-received',
  'cache-full',
  'installed-on-takeover',
  'refreshed-on-takeover',
  'takeover-full',
  'takeover-clash',
  'takeover-expired',
  'takeover-invalid',
  'dropped-queue-full',
  'dropped-standby-unknown',
  'full-transfers',
  'handover-transfers',
  'missing',
  'lag-ms-max',
  'lag-ms-last',
  // The restart snapshot (conn-snapshot.ts): connections written on SIGTERM, installed from it at start, not
  // installed (expired, clash, full), and files rejected, by reason.
  'snapshot-written',
  'snapshot-loaded',
  'snapshot-not-installed',
  ...SNAPSHOT_REJECT_REASONS.map((r) => `snapshot-rejected-${r}` as const),
] as const;
export type SyncCounterName = (typeof SYNC_COUNTER_NAMES)[number];
const I_RECORDS_RECEIVED = SYNC_COUNTER_NAMES.indexOf('records-received');
const I_REMOVALS_RECEIVED = SYNC_COUNTER_NAMES.indexOf('removals-received');
const I_CACHE_FULL = SYNC_COUNTER_NAMES.indexOf('cache-full');
const I_REPLICATED = SYNC_COUNTER_NAMES.indexOf('replicated');
const I_LAG_LAST = SYNC_COUNTER_NAMES.indexOf('lag-ms-last');
const I_LAG_MAX = SYNC_COUNTER_NAMES.indexOf('lag-ms-max');

export interface ConnSyncOptions {
  self: string;
  selfIp: number;
  incarnation: number;
  key: HeartbeatKey;
  table: ConnTable;
  /** Records examined per round (default 8192). */
  scanBudget?: number;
  /** Refresh interval of an unchanged connection (default 5000 ms). */
  refreshMs?: number;
  /** Pending records and removals (default 65536). */
  maxQueue?: number;
  /** Records sent per round at most (default 2048). */
  maxRecordsPerRound?: number;
  /** Connections the standby cache holds (default: the table's maxConnections). */
  maxCache?: number;
  /** How long after a takeover inbound packets without state count as `missing` (default 30 s). */
  missingWindowMs?: number;
}

/** A message being filled for one standby: records and removals written in place, sealed when full. */
interface Builder {
  dst: number;
  recs: Uint8Array;
  recView: DataView;
  recBytes: number;
  nRec: number;
  rems: Uint8Array;
  remView: DataView;
  nRem: number;
}

export class ConnSync {
  readonly counters = new Float64Array(SYNC_COUNTER_NAMES.length);
  readonly receiver: SyncReceiver;
  private readonly sender: SyncSender;
  private readonly t: ConnTable;
  private readonly o: Required<Omit<ConnSyncOptions, 'key' | 'table' | 'self' | 'selfIp' | 'incarnation'>>;
  /** Per record: creation time of the connection last sent (-1: none), its signature, when, and its tuple. */
  private readonly sentBorn: Float64Array;
  private readonly sentAt: Float64Array;
  private readonly sentSig: Int32Array;
  private readonly sentTuple: Int32Array;
  /** Per record: 1 once a record of the connection in `sentBorn` left in a message (a removal is then due). */
  private readonly sentOut: Uint8Array;
  private cursor = 0;
  /**
   * The queue, a ring of `maxQueue` items in typed arrays: per item its standby (`qDst`), the record (`qConn`,
   * -1 for a removal) and the creation time of the connection it held when queued (`qBorn`: the record is encoded
   * when it leaves, and skipped if it holds another connection by then), or the removed tuple (`qRem`, 4 words).
   */
  private readonly qDst: Int32Array;
  private readonly qConn: Int32Array;
  private readonly qBorn: Float64Array;
  /** 1: the connection's first record (counted `replicated`, its lag measured, when it leaves). */
  private readonly qFirst: Uint8Array;
  private readonly qRem: Int32Array;
  private qHead = 0;
  private qLen = 0;
  /** One message builder per standby, reused (`flush`). */
  private readonly builders = new Map<number, Builder>();
  private readonly win = new Int32Array(connSync.WINDOW_WORDS);
  /** Hosted egress IP → standby transport IP (absent: no standby). */
  private standbyIp = new Map<number, number>();
  /** Hosted egress IP → standby name ('' none), for reports. */
  private standbyName = new Map<number, string>();
  private hosted = new Set<number>();
  /** What owners sent us, for takeover (typed arrays, bounded: replica-cache.ts). */
  private readonly cache: ReplicaCache;
  /** Receiving: the cache stores each record and removal straight from the verified message. */
  private readonly sink: connSync.SyncItemSink;
  private rxNow = 0;
  private nextPurge = 0;
  private missingUntil = -Infinity;
  private missingBase = 0;

  constructor(o: ConnSyncOptions) {
    this.t = o.table;
    this.o = {
      scanBudget: o.scanBudget ?? 8192,
      refreshMs: o.refreshMs ?? 5000,
      maxQueue: o.maxQueue ?? 65536,
      maxRecordsPerRound: o.maxRecordsPerRound ?? 2048,
      maxCache: o.maxCache ?? o.table.maxConnections,
      missingWindowMs: o.missingWindowMs ?? 30_000,
    };
    this.self = o.self;
    this.incarnation = o.incarnation;
    this.sender = new SyncSender(o.selfIp, o.incarnation, o.key);
    this.receiver = new SyncReceiver({ selfIp: o.selfIp, incarnation: o.incarnation, keys: [o.key] });
    const n = o.table.recordCount;
    this.sentBorn = new Float64Array(n).fill(-1);
    this.sentAt = new Float64Array(n);
    this.sentSig = new Int32Array(n);
    this.sentTuple = new Int32Array(5 * n);
    this.sentOut = new Uint8Array(n);
    const q = this.o.maxQueue;
    this.qDst = new Int32Array(q);
    this.qConn = new Int32Array(q);
    this.qBorn = new Float64Array(q);
    this.qFirst = new Uint8Array(q);
    this.qRem = new Int32Array(4 * q);
    this.cache = new ReplicaCache(this.o.maxCache);
    const cache = this.cache;
    this.sink = {
      record: (src, dst, ports, proto, natIp, natPort, state, flags, timeoutMs, ageMs, v, winOff) => {
        this.counters[I_RECORDS_RECEIVED]!++;
        const now = this.rxNow;
        if (!cache.put(src, dst, ports, proto, natIp, natPort, state, flags, now + timeoutMs, now, ageMs, v, winOff))
          this.counters[I_CACHE_FULL]!++;
      },
      removal: (src, dst, ports, proto) => {
        this.counters[I_REMOVALS_RECEIVED]!++;
        cache.remove(src, dst, ports, proto);
      },
    };
  }

  private readonly self: string;
  private readonly incarnation: number;

  /** Connections the table holds at most. */
  get tableSize(): number {
    return this.t.maxConnections;
  }

  counter(name: SyncCounterName): number {
    return this.counters[SYNC_COUNTER_NAMES.indexOf(name)]!;
  }

  private add(name: SyncCounterName, d = 1): void {
    this.counters[SYNC_COUNTER_NAMES.indexOf(name)]! += d;
  }

  /** Counters by name, the receiver's verdicts as `rx-<verdict>`, and the cache size. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    SYNC_COUNTER_NAMES.forEach((n, i) => (out[n] = this.counters[i]!));
    for (const [k, v] of Object.entries(this.receiver.snapshot())) out[`rx-${k}`] = v;
    out['cached'] = this.cache.size;
    out['queued'] = this.qLen;
    return out;
  }

  /** Standby per hosted egress IP (dotted quad → node name, '' for none). */
  standbyReport(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const ip of [...this.hosted].sort((a, b) => (a >>> 0) - (b >>> 0)))
      out[ipv4.addrToString(ip)] = this.standbyName.get(ip) ?? '';
    return out;
  }

  /** Connections cached for takeover, per egress IP (tests, reports). */
  cachedFor(ip: number): number {
    return this.cache.countFor(ip);
  }

  /**
   * The control plane changed: the hosted IPs, the membership, the objects. Recomputes the standbys (a changed
   * standby gets a full transfer) and hands the connections of IPs now owned by another live node to it.
   */
  update(state: ClusterState, alive: ReadonlySet<string>, hosted: readonly number[], now: number): void {
    const ipOf = (name: string): number | null => {
      const n = state.nodes.get(name);
      return n ? nodeTransportKey(n) : null;
    };
    const members = new Map<number, string>();
    for (const name of alive) {
      if (name === this.self) continue;
      const ip = ipOf(name);
      if (ip !== null) members.set(ip, name);
    }
    this.receiver.setMembers(members);
    const sb = standbys(state, alive);
    const byInt = new Map<number, { owner: string; standby: string }>();
    for (const [text, e] of sb) {
      const ip = ipv4.parseAddr(text);
      if (ip !== null) byInt.set(ip, e);
    }
    const nowHosted = new Set(hosted);
    this.t.setTime(now);
    // Lost to another live node: transfer at once (it withholds the IP for the handover delay meanwhile).
    for (const ip of this.hosted) {
      if (nowHosted.has(ip)) continue;
      const owner = byInt.get(ip)?.owner;
      const dst = owner && owner !== this.self && alive.has(owner) ? ipOf(owner) : null;
      if (dst !== null) {
        const recs = exportReplicas(this.t, new Set([ip]));
        if (recs.length) {
          this.add('handover-transfers');
          this.sendNow(dst, recs, now, connSync.SYNC_FLAG_FULL);
        }
      }
    }
    const nextIp = new Map<number, number>();
    const nextName = new Map<number, string>();
    for (const ip of nowHosted) {
      const name = byInt.get(ip)?.standby ?? '';
      const sip = name ? ipOf(name) : null;
      nextName.set(ip, name);
      if (sip !== null) nextIp.set(ip, sip);
      if (this.standbyIp.get(ip) !== (sip ?? undefined)) {
        if (sip !== null) this.add('full-transfers');
        this.resetSent(ip);
      }
    }
    this.hosted = nowHosted;
    this.standbyIp = nextIp;
    this.standbyName = nextName;
  }

  /** Forget what was sent for `ip`: the next scan sends every connection again. */
  private resetSent(ip: number): void {
    const n = this.sentBorn.length;
    for (let c = 0; c < n; c++)
      if (this.sentBorn[c]! >= 0 && this.sentTuple[5 * c + 4] === (ip | 0)) {
        this.sentBorn[c] = -1;
        this.sentOut[c] = 0;
      }
  }

  /** A free item at the tail of the queue (the oldest is dropped, counted, when it is full). */
  private slot(dst: number): number {
    const max = this.o.maxQueue;
    if (this.qLen >= max) {
      this.qHead = this.qHead + 1 === max ? 0 : this.qHead + 1;
      this.qLen--;
      this.add('dropped-queue-full');
    }
    let i = this.qHead + this.qLen++;
    if (i >= max) i -= max;
    this.qDst[i] = dst;
    return i;
  }

  private pushRecord(dst: number, c: number, born: number, first: boolean): void {
    const i = this.slot(dst);
    this.qConn[i] = c;
    this.qBorn[i] = born;
    this.qFirst[i] = first ? 1 : 0;
  }

  private pushRemoval(dst: number, src: number, dstIp: number, ports: number, proto: number): void {
    const i = this.slot(dst);
    this.qConn[i] = -1;
    this.qRem[4 * i] = src;
    this.qRem[4 * i + 1] = dstIp;
    this.qRem[4 * i + 2] = ports;
    this.qRem[4 * i + 3] = proto;
  }

  /** One housekeeping round: scan a slice of the table, send a bounded burst, purge the cache. */
  tick(now: number, noConntrackDrops = 0): Array<{ dstIp: number; payload: Uint8Array }> {
    if (this.standbyIp.size || this.sentAny) this.scan(now);
    if (now >= this.nextPurge) {
      this.nextPurge = now + 1000;
      this.cache.purge(now);
    }
    if (now < this.missingUntil) {
      const d = noConntrackDrops - this.missingBase;
      if (d > 0) this.add('missing', d);
      this.missingBase = noConntrackDrops;
    }
    return this.flush(now, this.o.maxRecordsPerRound);
  }

  private sentAny = false;

  private scan(now: number): void {
    const t = this.t;
    const n = t.recordCount;
    const steps = Math.min(this.o.scanBudget, n);
    let c = this.cursor;
    for (let k = 0; k < steps; k++, c = c + 1 === n ? 0 : c + 1) {
      const live = isReplicable(t, c);
      const nat = live ? t.natIp(c) : 0;
      if (
        this.sentBorn[c]! >= 0 &&
        (!live || t.createdAt(c) !== this.sentBorn[c] || this.sentTuple[5 * c + 4] !== nat)
      ) {
        const old = this.sentTuple[5 * c + 4]!;
        const dst = this.standbyIp.get(old);
        if (dst !== undefined && this.sentOut[c] === 1) {
          const b = 5 * c;
          this.pushRemoval(
            dst,
            this.sentTuple[b]!,
            this.sentTuple[b + 1]!,
            this.sentTuple[b + 2]!,
            this.sentTuple[b + 3]!,
          );
        }
        this.sentBorn[c] = -1;
        this.sentOut[c] = 0;
      }
      if (!live) continue;
      const dst = this.standbyIp.get(nat);
      if (dst === undefined) continue;
      const sig = t.state(c) | (t.replicaFlags(c) << 4);
      const first = this.sentBorn[c]! < 0;
      if (!first && this.sentSig[c] === sig && now - this.sentAt[c]! < this.o.refreshMs) continue;
      this.pushRecord(dst, c, t.createdAt(c), first);
      this.sentBorn[c] = t.createdAt(c);
      this.sentSig[c] = sig;
      this.sentAt[c] = now;
      const b = 5 * c;
      this.sentTuple[b] = t.origSrc(c);
      this.sentTuple[b + 1] = t.origDst(c);
      this.sentTuple[b + 2] = (t.origSport(c) << 16) | t.origDport(c) | 0;
      this.sentTuple[b + 3] = t.proto(c);
      this.sentTuple[b + 4] = nat;
      this.sentAny = true;
    }
    this.cursor = c;
  }

  /** The receiver's incarnation as heard in its heartbeats (0: not heard yet). */
  echoOf: (ip: number) => number = () => 0;

  private builder(dst: number): Builder {
    let g = this.builders.get(dst);
    if (!g) {
      const recs = new Uint8Array(connSync.SYNC_MAX_LEN);
      const rems = new Uint8Array(connSync.SYNC_MAX_LEN);
      g = {
        dst,
        recs,
        recView: new DataView(recs.buffer),
        recBytes: 0,
        nRec: 0,
        rems,
        remView: new DataView(rems.buffer),
        nRem: 0,
      };
      this.builders.set(dst, g);
    }
    return g;
  }

  /** Seal what `g` holds into a message (none when the standby has not been heard: counted) and empty it. */
  private seal(g: Builder, out: Array<{ dstIp: number; payload: Uint8Array }>): void {
    if (g.nRec === 0 && g.nRem === 0) return;
    const echo = this.echoOf(g.dst);
    if (echo === 0) {
      // The standby has not been heard yet: it would reject the message (unconfirmed). The next refresh resends.
      this.add('dropped-standby-unknown', g.nRec + g.nRem);
    } else {
      const payload = this.sender.seal(g.dst, echo, g.recs, g.recBytes, g.nRec, g.rems, g.nRem);
      this.add('records-sent', g.nRec);
      this.add('removals-sent', g.nRem);
      this.add('messages-sent');
      this.add('bytes-sent', payload.length);
      out.push({ dstIp: g.dst, payload });
    }
    g.recBytes = 0;
    g.nRec = 0;
    g.nRem = 0;
  }

  /**
   * Drain at most `budget` items of the queue into messages, one builder per standby; a record is encoded from
   * the table as it leaves (at the table's time), and skipped if its record holds another connection by then (its
   * removal follows from the scan). The only allocations are the messages.
   */
  private flush(now: number, budget: number): Array<{ dstIp: number; payload: Uint8Array }> {
    const out: Array<{ dstIp: number; payload: Uint8Array }> = [];
    if (this.qLen === 0) return out;
    const t = this.t;
    const max = this.o.maxQueue;
    const MAX = connSync.SYNC_MAX_LEN;
    for (let taken = 0; this.qLen > 0 && taken < budget; taken++) {
      const i = this.qHead;
      this.qHead = i + 1 === max ? 0 : i + 1;
      this.qLen--;
      const g = this.builder(this.qDst[i]!);
      const c = this.qConn[i]!;
      if (c >= 0) {
        if (!isReplicable(t, c) || t.createdAt(c) !== this.qBorn[i]) {
          // Ended before a record of it left: the standby never heard of it, so no removal either.
          if (this.sentBorn[c] === this.qBorn[i] && this.sentOut[c] === 0) this.sentBorn[c] = -1;
          continue;
        }
        const proto = t.proto(c);
        const l = connSync.recordLen(proto);
        if (g.nRec === 255 || connSync.syncLength(g.recBytes + l, g.nRem) > MAX) this.seal(g, out);
        const tcp = proto === PROTO_TCP;
        if (tcp) t.replicaWindow(c, this.win);
        g.recBytes = connSync.putRecord(
          g.recView,
          g.recBytes,
          t.origSrc(c),
          t.origDst(c),
          t.origSport(c),
          t.origDport(c),
          t.natIp(c),
          t.natPort(c),
          proto,
          tcp ? t.state(c) : 0,
          t.replicaFlags(c),
          Math.max(0, t.expiresAt(c) - t.time),
          Math.max(0, t.time - t.createdAt(c)),
          tcp ? this.win : null,
        );
        g.nRec++;
        if (this.sentBorn[c] === this.qBorn[i]) this.sentOut[c] = 1;
        if (this.qFirst[i] === 1) {
          this.counters[I_REPLICATED]!++;
          const lag = Math.max(0, now - t.createdAt(c));
          this.counters[I_LAG_LAST] = lag;
          if (lag > this.counters[I_LAG_MAX]!) this.counters[I_LAG_MAX] = lag;
        }
      } else {
        if (g.nRem === 255 || connSync.syncLength(g.recBytes, g.nRem + 1) > MAX) this.seal(g, out);
        const r = 4 * i;
        connSync.putRemoval(
          g.remView,
          connSync.REMOVAL_LEN * g.nRem,
          this.qRem[r]!,
          this.qRem[r + 1]!,
          this.qRem[r + 2]!,
          this.qRem[r + 3]!,
        );
        g.nRem++;
      }
    }
    for (const g of this.builders.values()) this.seal(g, out);
    return out;
  }

  private build(
    dst: number,
    recs: readonly SyncRecord[],
    rems: readonly connSync.SyncRemoval[],
    flags: number,
  ): Array<{ dstIp: number; payload: Uint8Array }> {
    const echo = this.echoOf(dst);
    if (echo === 0) {
      // The standby has not been heard yet: it would reject the message (unconfirmed). The next refresh resends.
      this.add('dropped-standby-unknown', recs.length + rems.length);
      return [];
    }
    const msgs = this.sender.build(dst, echo, recs, rems, flags);
    this.add('records-sent', recs.length);
    this.add('removals-sent', rems.length);
    this.add('messages-sent', msgs.length);
    for (const m of msgs) this.add('bytes-sent', m.length);
    return msgs.map((payload) => ({ dstIp: dst, payload }));
  }

  /** Outgoing messages the runner sends at once (handover transfers, `handOver`). */
  readonly urgent: Array<{ dstIp: number; payload: Uint8Array }> = [];

  private sendNow(dst: number, recs: readonly SyncRecord[], _now: number, flags: number): void {
    this.urgent.push(...this.build(dst, recs, [], flags));
  }

  /**
   * Graceful stop (SIGTERM): every connection of every hosted IP to its standby at once, whatever the per-round
   * bound. Returns the messages to send.
   */
  handOver(now: number): Array<{ dstIp: number; payload: Uint8Array }> {
    this.t.setTime(now);
    for (const [ip, dst] of this.standbyIp) {
      const recs = exportReplicas(this.t, new Set([ip]));
      if (recs.length) this.sendNow(dst, recs, now, connSync.SYNC_FLAG_FULL);
    }
    return this.urgent.splice(0);
  }

  /**
   * The restart snapshot (SIGTERM): the text of `run/<node>.conns` with every replicable connection of the hosted
   * egress IPs, at wall-clock `wallNow`.
   */
  snapshotText(now: number, wallNow: number): { text: string; connections: number } {
    this.t.setTime(now);
    const recs = this.hosted.size ? exportReplicas(this.t, this.hosted) : [];
    this.add('snapshot-written', recs.length);
    return {
      text: encodeSnapshot({ node: this.self, incarnation: this.incarnation, writtenAt: wallNow }, recs),
      connections: recs.length,
    };
  }

  /**
   * At start, before any egress IP is reclaimed: install the connections of a restart snapshot (bindings
   * reserved). `text` null: there was a file but it could not be read (`unreadable`). A file it does not accept
   * (truncated, corrupt, another version or node, too large, stale) is counted by reason and nothing is installed.
   */
  restoreSnapshot(
    text: string | { oversize: number } | null,
    now: number,
    wallNow: number,
  ):
    | { ok: true; installed: number; notInstalled: number; elapsedMs: number }
    | {
        ok: false;
        reason: SnapshotRejectReason;
        detail: string;
      } {
    const reject = (reason: SnapshotRejectReason, detail: string) => {
      this.add(`snapshot-rejected-${reason}`);
      return { ok: false as const, reason, detail };
    };
    if (text === null) return reject('unreadable', 'the file could not be read');
    if (typeof text !== 'string') return reject('oversize', `${text.oversize} bytes`);
    const d = decodeSnapshot(text, { node: this.self, wallNow, maxRecords: this.t.maxConnections });
    if (!d.ok) return reject(d.reason, d.detail);
    this.t.setTime(now);
    let installed = 0;
    let notInstalled = 0;
    for (const r of d.records) {
      const name = IMPORT_RESULT_NAMES[importReplica(this.t, r)];
      if (name === 'installed' || name === 'refreshed') installed++;
      else notInstalled++;
    }
    this.add('snapshot-loaded', installed);
    this.add('snapshot-not-installed', notInstalled);
    return { ok: true, installed, notInstalled, elapsedMs: d.elapsedMs };
  }

  /** A datagram on the control port that carries a sync message. */
  receive(srcIp: number, payload: Uint8Array, now: number): number {
    const verdict = this.receiver.accept(srcIp, payload);
    if (verdict !== connSync.SYNC_OK) return verdict;
    this.add('messages-received');
    this.add('bytes-received', payload.length);
    this.rxNow = now;
    connSync.readItems(payload, this.sink);
    return verdict;
  }

  /**
   * This node takes `ips` over: install their cached connections in the table (bindings reserved) before the
   * caller announces them. Returns how many were installed.
   */
  takeover(ips: readonly number[], now: number, noConntrackDrops = 0): number {
    if (ips.length === 0) return 0;
    const want = new Set(ips.map((ip) => ip | 0));
    const t = this.t;
    t.setTime(now);
    let installed = 0;
    this.cache.takeover(t, want, now, (res) => {
      if (res < 0) return this.add('takeover-expired');
      const name = IMPORT_RESULT_NAMES[res]!;
      if (name === 'installed') {
        installed++;
        this.add('installed-on-takeover');
      } else if (name === 'refreshed') this.add('refreshed-on-takeover');
      else this.add(`takeover-${name}` as SyncCounterName);
    });
    this.missingUntil = now + this.o.missingWindowMs;
    this.missingBase = noConntrackDrops;
    return installed;
  }
}
