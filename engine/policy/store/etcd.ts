/**
 * The cluster's store on etcd v3 (docs/store.md). Keys under one prefix (default `/egress-engine/`):
 *
 *     <prefix>state/generation       {generation, updatedAt}: the store generation, rewritten by every apply/delete
 *     <prefix>state/controller       the controller's bookkeeping (allocations, pool ranges)
 *     <prefix>state/objects/<key>    one applied object each, `<Kind>/<name>` or `<Kind>/<namespace>/<name>` (the
 *                                    same JSON as one entry of objects.json's `objects`)
 *     <prefix>cluster.key            the agents' shared heartbeat key (32 random bytes), created once
 *     <prefix>status/<node>          NodeStatus of that Node's agent, held by the agent's lease: it expires when the
 *                                    agent dies
 *     <prefix>events/<time>-<n>      one Egress event each, held by a lease of EVENT_TTL_S; at most MAX_EVENTS kept
 *
 * The state is read with one range over `<prefix>state/` (one revision: a consistent set) and validated exactly as
 * the directory store's objects.json is (the keys are put together into a snapshot value and go through
 * fromSnapshot); status and events as the status files and events lines are. An update is ONE transaction: it puts
 * the keys whose content changed and the generation, deletes the keys of removed objects, and compares the mod
 * revision it read of every one of those keys and of the generation key (absent ones: create revision 0). A
 * concurrent writer makes a compare fail; the update is retried with the newer state, at most UPDATE_ATTEMPTS
 * times. Watches follow the `<prefix>state/` prefix from the revision after the one loaded; etcd delivers every
 * revision's events whole and in order, so the state is rebuilt once per revision; they resume from the revision
 * after the last event seen, on the next endpoint, after a disconnect; a compacted revision forces a full reload.
 */
import { randomBytes } from 'node:crypto';
import type { ClusterState } from '../model.js';
import type { EgressEvent, NodeStatusFile } from '../status.js';
import type { Snapshot, Store, StoreWatch, UpdateResult, WatchOptions } from './backend.js';
import { SnapshotCache, checkEvent } from './check.js';
import { EtcdClient, EtcdError, parseEtcdURL } from './etcd-client.js';
import type { EtcdTLS } from './etcd-client.js';
import { StoreError } from './fsutil.js';
import type { StoreHealth } from './health.js';
import { decodeNodeStatus } from './store.js';
import { GENERATION_KEY, STATE_DIR, StateKeys, stateTxn } from './etcd-state.js';

export const DEFAULT_ETCD_PREFIX = '/egress-engine/';
/** Attempts of one update before it reports the conflict. */
export const UPDATE_ATTEMPTS = 20;
/** Lifetime of a Node status key after its agent stopped refreshing it. */
export const STATUS_TTL_S = 10;
export const EVENT_TTL_S = 3600;
export const MAX_EVENTS = 1000;

const NODE_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export interface EtcdStoreOptions {
  readonly prefix?: string;
  readonly tls?: EtcdTLS;
  /** user and password, for etcd auth */
  readonly auth?: { user: string; password: string };
  readonly timeoutMs?: number;
  /** Status lease TTL in seconds (default STATUS_TTL_S). */
  readonly statusTTL?: number;
  /** Watch reconnect delay, first and largest (default 100 ms, 2000 ms). */
  readonly retryMs?: readonly [number, number];
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** etcd failures become StoreErrors (one line, naming the endpoint and the cause). */
async function guard<T>(url: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof StoreError) throw e;
    if (e instanceof EtcdError) throw new StoreError(`store ${url}: ${e.message}`);
    throw e;
  }
}

export class EtcdStore implements Store {
  readonly url: string;
  readonly statusesLeased = true;
  readonly prefix: string;
  readonly client: EtcdClient;
  private authed: Promise<void> | null = null;
  private lease: { id: string; timer: NodeJS.Timeout } | null = null;
  private eventSeq = 0;

  constructor(
    url: string,
    private readonly opts: EtcdStoreOptions = {},
  ) {
    const { endpoints } = parseEtcdURL(url);
    this.url = url;
    this.prefix = opts.prefix ?? DEFAULT_ETCD_PREFIX;
    if (!this.prefix.startsWith('/') || !this.prefix.endsWith('/'))
      throw new StoreError(`etcd prefix "${this.prefix}" must start and end with /`);
    this.client = new EtcdClient(endpoints, {
      ...(opts.tls ? { tls: opts.tls } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
  }

  /** Every key of the cluster state starts with this (one range reads the whole state at one revision). */
  get stateKey(): string {
    return `${this.prefix}${STATE_DIR}`;
  }

  /** The key whose mod revision every apply and delete moves. */
  get generationKey(): string {
    return `${this.prefix}${GENERATION_KEY}`;
  }

  /** Authenticated (when auth is configured). */
  ready(): Promise<void> {
    const a = this.opts.auth;
    if (!a) return Promise.resolve();
    this.authed ??= this.client.authenticate(a.user, a.password).catch((e: unknown) => {
      this.authed = null;
      throw e;
    });
    return this.authed;
  }

  private async read(): Promise<Snapshot & { keys: StateKeys }> {
    await this.ready();
    const r = await this.client.range(this.stateKey, { prefix: true });
    const keys = StateKeys.of(this.prefix, r.kvs);
    return { state: keys.decode(this.url), revision: r.revision, keys };
  }

  load(): Promise<Snapshot> {
    return guard(this.url, async () => {
      const r = await this.read();
      return { state: r.state, revision: r.revision };
    });
  }

  update<T>(fn: (state: ClusterState) => UpdateResult<T>): Promise<T> {
    return guard(this.url, async () => {
      for (let attempt = 1; ; attempt++) {
        const cur = await this.read();
        const r = fn(cur.state);
        if (!r.write) return r.result;
        const t = stateTxn(cur.keys, cur.state, r.state, new Date());
        let ok: boolean;
        try {
          ok = (await this.client.txn(t.compare, t.success)).ok;
        } catch (e) {
          if (e instanceof EtcdError && /too many operations|request is too large|too large/i.test(e.message))
            throw new StoreError(
              `store ${this.url}: this change writes ${t.changedObjects} objects in one transaction, more than the ` +
                `etcd members allow (${e.message.replace(/^.*?: (etcdserver: )?/, '')}; --max-txn-ops, default 128, ` +
                `--max-request-bytes, default 1.5 MiB): raise them on every member or apply in parts; nothing written`,
            );
          // a member took the transaction and died or timed out before answering: etcd may still apply it
          if (e instanceof EtcdError && e.maybeDelivered)
            throw new StoreError(
              `store ${this.url}: ${e.message}; a member took the change without answering, so it may still be ` +
                `applied: check with egress get`,
            );
          throw e;
        }
        if (ok) return r.result;
        if (attempt >= UPDATE_ATTEMPTS)
          throw new StoreError(
            `store ${this.url}: ${attempt} attempts lost to concurrent updates; nothing written, try again`,
          );
        await sleep(5 + Math.random() * 20 * attempt);
      }
    });
  }

  readNodeStatuses(health?: StoreHealth): Promise<NodeStatusFile[]> {
    return guard(this.url, async () => {
      await this.ready();
      const p = `${this.prefix}status/`;
      const r = await this.client.range(p, { prefix: true });
      const out: NodeStatusFile[] = [];
      for (const kv of r.kvs.sort((a, b) => (a.key < b.key ? -1 : 1))) {
        const name = kv.key.slice(p.length);
        if (!NODE_RE.test(name)) continue;
        const where = `${this.url} key ${kv.key}`;
        let file: NodeStatusFile | null = null;
        try {
          file = decodeNodeStatus(kv.value, where, `${name}.json`);
          health?.resolved(where);
          health?.lastGoodStatus.set(name, file);
        } catch (e) {
          if (!(e instanceof StoreError)) throw e;
          health?.problem('status', where, e.message);
        }
        const use = file ?? health?.lastGoodStatus.get(name) ?? null;
        if (use) out.push(use);
      }
      return out;
    });
  }

  /** The lease the agent's status keys hang on: granted once, refreshed every third of its TTL. */
  private async statusLease(): Promise<string> {
    if (this.lease) return this.lease.id;
    const ttl = this.opts.statusTTL ?? STATUS_TTL_S;
    const id = await this.client.leaseGrant(ttl);
    const timer = setInterval(
      () => {
        const l = this.lease;
        if (!l) return;
        this.client.leaseKeepAlive(l.id).then(
          (alive) => {
            if (!alive && this.lease === l) {
              clearInterval(l.timer);
              this.lease = null; // expired during an outage: the next write takes a new one
            }
          },
          () => {
            /* unreachable: retried on the next tick; the next write reports it */
          },
        );
      },
      Math.max(200, (ttl * 1000) / 3),
    );
    timer.unref();
    this.lease = { id, timer };
    return id;
  }

  writeNodeStatus(file: NodeStatusFile): Promise<void> {
    return guard(this.url, async () => {
      if (!NODE_RE.test(file.node)) throw new StoreError(`invalid Node name for a status key: ${file.node}`);
      await this.ready();
      const key = `${this.prefix}status/${file.node}`;
      const value = JSON.stringify(file, null, 1) + '\n';
      try {
        await this.client.put(key, value, await this.statusLease());
      } catch (e) {
        if (!/lease not found/i.test(errMsg(e))) throw e;
        if (this.lease) clearInterval(this.lease.timer);
        this.lease = null;
        await this.client.put(key, value, await this.statusLease());
      }
    });
  }

  appendEvents(events: readonly EgressEvent[]): Promise<void> {
    return guard(this.url, async () => {
      if (events.length === 0) return;
      await this.ready();
      const lease = await this.client.leaseGrant(EVENT_TTL_S);
      const tag = randomBytes(4).toString('hex');
      await this.client.txn(
        [],
        events.map((e) => ({
          put: {
            key: `${this.prefix}events/${e.time}-${tag}-${String(this.eventSeq++).padStart(6, '0')}`,
            value: JSON.stringify(e),
            lease,
          },
        })),
      );
      // keep at most MAX_EVENTS: drop the oldest (keys sort by time)
      const r = await this.client.range(`${this.prefix}events/`, { prefix: true });
      const extra = r.kvs.length - MAX_EVENTS;
      if (extra > 0) {
        const old = r.kvs.sort((a, b) => (a.key < b.key ? -1 : 1)).slice(0, extra);
        await this.client.txn(
          [],
          old.map((kv) => ({ del: { key: kv.key } })),
        );
      }
    });
  }

  readEvents(health?: StoreHealth): Promise<EgressEvent[]> {
    return guard(this.url, async () => {
      await this.ready();
      const r = await this.client.range(`${this.prefix}events/`, { prefix: true });
      const out: EgressEvent[] = [];
      let bad = 0;
      let first = '';
      for (const kv of r.kvs.sort((a, b) => (a.key < b.key ? -1 : 1))) {
        let v: unknown;
        try {
          v = JSON.parse(kv.value.toString('utf8'));
        } catch {
          v = undefined;
        }
        const c = checkEvent(v);
        if ('value' in c) out.push(c.value);
        else if (bad++ === 0) first = `${kv.key}: ${v === undefined ? 'not JSON' : c.error}`;
      }
      const where = `${this.url} ${this.prefix}events/`;
      if (bad > 0) health?.problem('events', where, `${bad} invalid event${bad > 1 ? 's' : ''} skipped (${first})`);
      else health?.resolved(where);
      return out;
    });
  }

  watch(onChange: (state: ClusterState) => void, opts: WatchOptions = {}): StoreWatch {
    return new EtcdWatch(this, onChange, opts, this.opts.retryMs ?? [100, 2000]);
  }

  ensureClusterKey(): Promise<boolean> {
    return guard(this.url, async () => {
      await this.ready();
      const key = `${this.prefix}cluster.key`;
      const t = await this.client.txn(
        [{ key, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
        [{ put: { key, value: randomBytes(32) } }],
      );
      return t.ok;
    });
  }

  /** The shared cluster key (null when none was created yet). */
  readClusterKey(): Promise<Buffer | null> {
    return guard(this.url, async () => {
      await this.ready();
      const r = await this.client.range(`${this.prefix}cluster.key`);
      return r.kvs[0]?.value ?? null;
    });
  }

  close(): void {
    if (this.lease) clearInterval(this.lease.timer);
    this.lease = null;
    this.client.close();
  }
}

/**
 * A watch of the state keys: loads them (one range: one revision), hands over the state, then follows the
 * `<prefix>state/` prefix from the revision after the one loaded. etcd delivers a watch's events in revision order
 * and never splits one revision (one transaction) over two answers, so after each revision's events the keys hold a
 * state some apply or delete wrote; it is rebuilt and validated once per revision. A disconnect resumes from the revision after
 * the last event seen (no update missed or replayed out of order); a compacted revision reloads every key.
 */
class EtcdWatch implements StoreWatch {
  private closed = false;
  private stop: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Next revision to watch from; 0 before the first load. */
  private from = 0;
  private lastGeneration = -1;
  private lastError: string | null = null;
  private connected: boolean | null = null;
  private delay: number;
  private keys: StateKeys;
  private readonly cache = new SnapshotCache();

  constructor(
    private readonly store: EtcdStore,
    private readonly onChange: (state: ClusterState) => void,
    private readonly opts: WatchOptions,
    private readonly retry: readonly [number, number],
  ) {
    this.delay = retry[0];
    this.keys = new StateKeys(store.prefix);
    queueMicrotask(() => void this.reload());
  }

  private get where(): string {
    return `${this.store.url} ${this.store.stateKey}`;
  }

  private setConnected(c: boolean): void {
    if (this.connected === c) return;
    this.connected = c;
    this.opts.onConnection?.(c);
    if (c) this.delay = this.retry[0];
  }

  private problem(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    this.opts.health?.problem('objects', this.where, message);
    this.opts.onError?.(new StoreError(message));
  }

  /** Rebuild the state from the keys; a bad set keeps the last good state in place. */
  private rebuild(): void {
    let state: ClusterState;
    try {
      state = this.keys.decode(this.store.url, this.cache);
    } catch (e) {
      this.problem(errMsg(e));
      return;
    }
    this.lastError = null;
    this.opts.health?.resolved(this.where);
    if (state.generation !== this.lastGeneration) {
      this.lastGeneration = state.generation;
      this.onChange(state);
    }
  }

  private async reload(): Promise<void> {
    if (this.closed) return;
    try {
      await this.store.ready();
      const r = await this.store.client.range(this.store.stateKey, { prefix: true });
      this.setConnected(true);
      this.keys = StateKeys.of(this.store.prefix, r.kvs);
      if (this.keys.entries.size > 0) this.rebuild();
      this.from = r.revision + 1;
      this.follow();
    } catch (e) {
      if (!(e instanceof EtcdError) || !e.unreachable) this.problem(errMsg(e));
      this.setConnected(false);
      this.later(() => void this.reload());
    }
  }

  private follow(): void {
    if (this.closed) return;
    let compacted = false;
    this.stop = this.store.client.watch(this.store.stateKey, this.from, {
      onStart: () => this.setConnected(true),
      onEvents: (events) => {
        this.setConnected(true);
        // One answer may carry several revisions (catching up after a reconnect): the state is rebuilt after each
        // revision's events, so every apply is seen, in order. (An answer without events does not move `from`: the
        // created answer carries the current revision while the events since `from` are still to come.)
        let changed = false;
        for (let i = 0; i < events.length; i++) {
          const ev = events[i]!;
          changed = (ev.type === 'PUT' ? this.keys.put(ev.kv) : this.keys.delete(ev.kv.key)) || changed;
          this.from = Math.max(this.from, ev.kv.modRevision + 1);
          const last = i + 1 === events.length || events[i + 1]!.kv.modRevision !== ev.kv.modRevision;
          if (last && changed && !this.closed) {
            this.rebuild();
            changed = false;
          }
        }
      },
      onCompacted: () => {
        compacted = true;
      },
      onEnd: () => {
        this.stop = null;
        if (this.closed) return;
        if (compacted) {
          this.reload().catch(() => {});
          return;
        }
        this.setConnected(false);
        this.later(() => this.follow());
      },
    });
  }

  private later(f: () => void): void {
    if (this.closed) return;
    const d = this.delay;
    this.delay = Math.min(this.retry[1], this.delay * 2);
    this.timer = setTimeout(f, d);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.stop?.();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
