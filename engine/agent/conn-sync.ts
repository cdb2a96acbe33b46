/**
 * Connection-state replication of one node (docs/conntrack-sync.md): the owner of an egress IP streams the state
 * of the connections SNATed to it to the IP's standby (policy `standbys`: the node that would own the IP if this
 * one died); the standby keeps the state in a bounded cache and installs it in its connection table when it takes
 * the IP over, before it announces the IP (gratuitous ARP) and answers ARP for it.
 *
 * Sending never touches the packet path: a scan of the table in bounded slices (`scanBudget` records per
 * housekeeping round, like expiry) finds connections that are new (confirmed and bound), changed (TCP state or
 * flags), due for a refresh (`refreshMs`, so the standby's timeouts follow), or gone (removals). What it finds
 * goes into a bounded queue (`maxQueue`, drop-oldest, counted) drained at most `maxRecordsPerRound` records per
 * round into messages of at most 1400 bytes (cluster/conn-sync.ts), one burst per standby. A standby that changes
 * (membership, nodeSelector) gets a full transfer: every connection of the IP is sent again. An IP handed to
 * another live node (break before make) is transferred to that node at once, so a resumed owner takes its
 * connections back; `handOver` (SIGTERM) sends everything to the standbys without the per-round bound.
 *
 * Receiving: every message is judged by `SyncReceiver` (MAC, key, sender a live member, destination, replay
 * counters, echo of our incarnation); nothing but an OK message changes the cache. The cache holds at most
 * `maxCache` connections (full: counted, dropped) and forgets entries whose timeout ran out.
 */
import { connSync, SyncReceiver, SyncSender, type HeartbeatKey, type SyncRecord } from '../cluster/index.js';
import {
  exportReplica,
  exportReplicas,
  importReplica,
  IMPORT_RESULT_NAMES,
  isReplicable,
  type ConnTable,
} from '../../conntrack/index.js';
import { decodeSnapshot, encodeSnapshot, SNAPSHOT_REJECT_REASONS, type SnapshotRejectReason } from './conn-snapshot.js';
import { nodeTransportIP, standbys, type ClusterState } from '../policy/index.js';
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

interface Pending {
  dst: number;
  rec: SyncRecord | null;
  rem: connSync.SyncRemoval | null;
  flags: number;
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
  private cursor = 0;
  private readonly queue: Pending[] = [];
  private qHead = 0;
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
    out['queued'] = this.queue.length - this.qHead;
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
      const t = n ? nodeTransportIP(n) : null;
      return t ? ipv4.parseAddr(t) : null;
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
      if (this.sentBorn[c]! >= 0 && this.sentTuple[5 * c + 4] === (ip | 0)) this.sentBorn[c] = -1;
  }

  private push(p: Pending): void {
    if (this.queue.length - this.qHead >= this.o.maxQueue) {
      this.qHead++;
      this.add('dropped-queue-full');
    }
    this.queue.push(p);
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
        if (dst !== undefined) {
          const b = 5 * c;
          const ports = this.sentTuple[b + 2]!;
          this.push({
            dst,
            rec: null,
            rem: {
              src: this.sentTuple[b]!,
              dst: this.sentTuple[b + 1]!,
              sport: ports >>> 16,
              dport: ports & 0xffff,
              proto: this.sentTuple[b + 3]!,
            },
            flags: 0,
          });
        }
        this.sentBorn[c] = -1;
      }
      if (!live) continue;
      const dst = this.standbyIp.get(nat);
      if (dst === undefined) continue;
      const sig = t.state(c) | (t.replicaFlags(c) << 4);
      const first = this.sentBorn[c]! < 0;
      if (!first && this.sentSig[c] === sig && now - this.sentAt[c]! < this.o.refreshMs) continue;
      const rec = exportReplica(t, c)!;
      this.push({ dst, rec, rem: null, flags: 0 });
      if (first) {
        this.add('replicated');
        const lag = Math.max(0, now - t.createdAt(c));
        this.counters[SYNC_COUNTER_NAMES.indexOf('lag-ms-last')] = lag;
        const iMax = SYNC_COUNTER_NAMES.indexOf('lag-ms-max');
        if (lag > this.counters[iMax]!) this.counters[iMax] = lag;
      }
      this.sentBorn[c] = t.createdAt(c);
      this.sentSig[c] = sig;
      this.sentAt[c] = now;
      const b = 5 * c;
      this.sentTuple[b] = rec.src;
      this.sentTuple[b + 1] = rec.dst;
      this.sentTuple[b + 2] = (rec.sport << 16) | rec.dport | 0;
      this.sentTuple[b + 3] = rec.proto;
      this.sentTuple[b + 4] = nat;
      this.sentAny = true;
    }
    this.cursor = c;
  }

  /** The receiver's incarnation as heard in its heartbeats (0: not heard yet). */
  echoOf: (ip: number) => number = () => 0;

  private flush(now: number, budget: number): Array<{ dstIp: number; payload: Uint8Array }> {
    const out: Array<{ dstIp: number; payload: Uint8Array }> = [];
    if (this.queue.length === this.qHead) return out;
    const groups = new Map<number, { recs: SyncRecord[]; rems: connSync.SyncRemoval[]; flags: number }>();
    let taken = 0;
    while (this.qHead < this.queue.length && taken < budget) {
      const p = this.queue[this.qHead++]!;
      taken++;
      let g = groups.get(p.dst);
      if (!g) groups.set(p.dst, (g = { recs: [], rems: [], flags: 0 }));
      g.flags |= p.flags;
      if (p.rec) g.recs.push(p.rec);
      if (p.rem) g.rems.push(p.rem);
    }
    if (this.qHead === this.queue.length) {
      this.queue.length = 0;
      this.qHead = 0;
    } else if (this.qHead > 4096) {
      this.queue.splice(0, this.qHead);
      this.qHead = 0;
    }
    for (const [dst, g] of groups) out.push(...this.build(dst, g.recs, g.rems, g.flags));
    void now;
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
