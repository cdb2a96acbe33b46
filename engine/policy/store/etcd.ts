/**
 * The cluster's store on etcd v3 (docs/store.md). Keys under one prefix (default `/egress-engine/`):
 *
 *     <prefix>objects          the StoreSnapshot (the same JSON as objects.json: every object and the
 *                              controller's allocations), replaced whole by one transaction per apply/delete
 *     <prefix>cluster.key      the agents' shared heartbeat key (32 random bytes), created once (create revision 0)
 *     <prefix>status/<node>    NodeStatus of that Node's agent, held by the agent's lease: it expires when the
 *                              agent dies
 *     <prefix>events/<time>-<n> one Egress event each, held by a lease of EVENT_TTL_S; at most MAX_EVENTS kept
 *
 * Every value read is validated exactly as the directory store's files are (decodeSnapshot, decodeNodeStatus,
 * checkEvent). Updates compare the mod revision they read (a Txn): a concurrent writer makes it fail and it is
 * retried with the newer state, at most UPDATE_ATTEMPTS times. Watches resume from the revision after the last one
 * seen, on the next endpoint, after a disconnect; a compacted revision forces a full reload.
 */
import { randomBytes } from 'node:crypto';
import type { ClusterState } from '../model.js';
import { toSnapshot } from '../state.js';
import type { EgressEvent, NodeStatusFile } from '../status.js';
import type { Snapshot, Store, StoreWatch, UpdateResult, WatchOptions } from './backend.js';
import { SnapshotCache, checkEvent } from './check.js';
import { EtcdClient, EtcdError, parseEtcdURL } from './etcd-client.js';
import type { EtcdTLS } from './etcd-client.js';
import { StoreError } from './fsutil.js';
import type { StoreHealth } from './health.js';
import { emptyState } from '../model.js';
import { decodeNodeStatus, decodeSnapshot } from './store.js';

export const DEFAULT_ETCD_PREFIX = '/egress-engine/';
/** Attempts of one update before it reports the conflict. */
export const UPDATE_ATTEMPTS = 20;
/** Lifetime of a Node status key after its agent stopped refreshing it. */
export const STATUS_TTL_S = 10;
export const EVENT_TTL_S = 3600;
export const MAX_EVENTS = 1000;

const RECOVER = 'apply the manifests again (the key is replaced whole)';
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

  get objectsKey(): string {
    return `${this.prefix}objects`;
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

  private async read(cache?: SnapshotCache): Promise<Snapshot & { modRevision: number }> {
    await this.ready();
    const r = await this.client.range(this.objectsKey);
    const kv = r.kvs[0];
    if (!kv) return { state: emptyState(), revision: r.revision, modRevision: 0 };
    const state = decodeSnapshot(kv.value, `${this.url} key ${this.objectsKey}`, RECOVER, cache);
    return { state, revision: r.revision, modRevision: kv.modRevision };
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
        const text = JSON.stringify(toSnapshot(r.state, new Date()), null, 1) + '\n';
        const t = await this.client.txn(
          [{ key: this.objectsKey, target: 'MOD', result: 'EQUAL', modRevision: cur.modRevision }],
          [{ put: { key: this.objectsKey, value: text } }],
        );
        if (t.ok) return r.result;
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
 * A watch of the objects key: loads, hands over the state, then follows the key from the revision after the one
 * loaded. A disconnect resumes from the revision after the last event seen (no update missed or replayed out of
 * order: etcd delivers events of a watch in revision order); a compacted revision reloads the whole state.
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
  private readonly cache = new SnapshotCache();

  constructor(
    private readonly store: EtcdStore,
    private readonly onChange: (state: ClusterState) => void,
    private readonly opts: WatchOptions,
    private readonly retry: readonly [number, number],
  ) {
    this.delay = retry[0];
    queueMicrotask(() => void this.reload());
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
    this.opts.health?.problem('objects', `${this.store.url} key ${this.store.objectsKey}`, message);
    this.opts.onError?.(new StoreError(message));
  }

  private good(state: ClusterState): void {
    this.lastError = null;
    this.opts.health?.resolved(`${this.store.url} key ${this.store.objectsKey}`);
    if (state.generation !== this.lastGeneration) {
      this.lastGeneration = state.generation;
      this.onChange(state);
    }
  }

  private async reload(): Promise<void> {
    if (this.closed) return;
    try {
      await this.store.ready();
      const r = await this.store.client.range(this.store.objectsKey);
      this.setConnected(true);
      const kv = r.kvs[0];
      if (kv) this.apply(kv.value);
      this.from = r.revision + 1;
      this.follow();
    } catch (e) {
      if (!(e instanceof EtcdError) || !e.unreachable) this.problem(errMsg(e));
      this.setConnected(false);
      this.later(() => void this.reload());
    }
  }

  private apply(value: Buffer): void {
    let st: ClusterState;
    try {
      st = decodeSnapshot(value, `${this.store.url} key ${this.store.objectsKey}`, RECOVER, this.cache);
    } catch (e) {
      this.problem(errMsg(e)); // the last good state stays in place
      return;
    }
    this.good(st);
  }

  private follow(): void {
    if (this.closed) return;
    let compacted = false;
    this.stop = this.store.client.watch(this.store.objectsKey, this.from, {
      onStart: () => this.setConnected(true),
      onEvents: (events, revision) => {
        this.setConnected(true);
        for (const ev of events) {
          if (ev.kv.key !== this.store.objectsKey) continue;
          if (ev.type === 'PUT') this.apply(ev.kv.value);
          else this.good({ ...emptyState(), generation: this.lastGeneration + 1 });
          this.from = ev.kv.modRevision + 1;
        }
        // (an answer without events does not move `from`: the created answer carries the current revision while
        // the events since `from` are still to come)
        void revision;
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
