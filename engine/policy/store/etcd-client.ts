/**
 * A minimal etcd v3 client over etcd's gRPC gateway (JSON over HTTP/1.1, `/v3/kv/*`, `/v3/watch`, `/v3/lease/*`),
 * on node:http/https: no dependency, no native code (docs/store.md says why). Keys and values are base64 in the
 * JSON; int64 fields come as strings. Requests go to the endpoints in turn: a connection error moves on to the next
 * one; an answer from etcd (an error message) is final. Every failure is an EtcdError with one line naming the
 * endpoint and the cause.
 */
import { request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';

export class EtcdError extends Error {
  override readonly name = 'EtcdError';
  constructor(
    message: string,
    /** true: etcd could not be reached at all (every endpoint failed to connect or timed out). */
    readonly unreachable = false,
    /**
     * true: a member may have taken the request and given no answer (it died, or timed out while proposing): a
     * write may still be applied. false: no member took it (connection refused, or an answer saying it was not
     * proposed, such as "no leader").
     */
    readonly maybeDelivered = false,
  ) {
    super(message.replace(/\s*\n\s*/g, ' '));
  }
}

export interface EtcdTLS {
  readonly cacert?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface EtcdClientOptions {
  readonly tls?: EtcdTLS;
  /** Per request (default 5000 ms). */
  readonly timeoutMs?: number;
}

export interface KV {
  readonly key: string;
  readonly value: Buffer;
  readonly modRevision: number;
  readonly createRevision: number;
  readonly lease: string;
}

export interface RangeResult {
  readonly kvs: KV[];
  /** The store's revision when read. */
  readonly revision: number;
}

export type Compare =
  | { key: string; target: 'MOD'; result: 'EQUAL'; modRevision: number }
  | { key: string; target: 'CREATE'; result: 'EQUAL'; createRevision: number };
export type Op = { put: { key: string; value: string | Buffer; lease?: string } } | { del: { key: string } };

export interface WatchEvent {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: KV;
}

export interface WatchHandlers {
  onEvents(events: WatchEvent[], revision: number): void;
  /** The revision asked for was compacted: the caller must reload and watch from the reload's revision. */
  onCompacted(compactRevision: number): void;
  /** The stream ended or could not start (the caller reconnects). */
  onEnd(err: EtcdError): void;
  /** The stream was set up (a reconnect succeeded). */
  onStart?(): void;
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const unb64 = (s: unknown): Buffer => Buffer.from(typeof s === 'string' ? s : '', 'base64');
const num = (s: unknown): number => (typeof s === 'string' || typeof s === 'number' ? Number(s) : 0);

/** The key just after every key with this prefix (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = b.subarray(0, i + 1);
      out[i] = out[i]! + 1;
      return out.toString('latin1');
    }
  }
  return '\0';
}

function kvOf(v: unknown): KV {
  const o = (v ?? {}) as Record<string, unknown>;
  return {
    key: unb64(o['key']).toString('utf8'),
    value: unb64(o['value']),
    modRevision: num(o['mod_revision']),
    createRevision: num(o['create_revision']),
    lease: String(o['lease'] ?? '0'),
  };
}

/**
 * Parse `etcd://h:p[,h:p…]` (or etcds:// for TLS) into base URLs; `etcd+unix:///path/to/socket` is one member
 * listening on a Unix socket (`unix:/path/to/socket`; the test bed's own member, which has no TCP port).
 */
export function parseEtcdURL(url: string): { endpoints: string[]; tls: boolean } {
  const ux = /^etcd\+unix:\/\/(\/.+)$/.exec(url);
  if (ux) return { endpoints: [`unix:${ux[1]!}`], tls: false };
  const m = /^(etcds?):\/\/(.+)$/.exec(url);
  if (!m) throw new EtcdError(`${url}: not an etcd URL (etcd://host:port[,host:port…])`);
  const tls = m[1] === 'etcds';
  const endpoints = m[2]!
    .replace(/\/+$/, '')
    .split(',')
    .map((hp) => hp.trim());
  for (const hp of endpoints) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(hp))
      throw new EtcdError(`${url}: "${hp}" is not host:port`);
  }
  return { endpoints: endpoints.map((hp) => `${tls ? 'https' : 'http'}://${hp}`), tls };
}

export class EtcdClient {
  private next = 0;
  private readonly tlsOpts: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  private readonly timeoutMs: number;
  private token: string | null = null;
  private readonly open = new Set<ClientRequest>();

  constructor(
    readonly endpoints: readonly string[],
    opts: EtcdClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    const t = opts.tls ?? {};
    const read = (what: string, p?: string) => {
      if (!p) return undefined;
      try {
        return readFileSync(p);
      } catch (e) {
        throw new EtcdError(`cannot read the etcd ${what} ${p}: ${(e as Error).message}`);
      }
    };
    this.tlsOpts = {};
    const ca = read('CA certificate', t.cacert);
    const cert = read('certificate', t.cert);
    const key = read('key', t.key);
    if (ca) this.tlsOpts.ca = ca;
    if (cert) this.tlsOpts.cert = cert;
    if (key) this.tlsOpts.key = key;
  }

  /** Log in with user and password (etcd auth): later requests carry the token. */
  async authenticate(name: string, password: string): Promise<void> {
    const r = await this.call('/v3/auth/authenticate', { name, password });
    this.token = String(r['token'] ?? '');
  }

  private send(base: string, path: string, body: unknown, timeoutMs: number): Promise<IncomingMessage> {
    const socketPath = base.startsWith('unix:') ? base.slice(5) : null;
    const url = new URL(path, socketPath !== null ? 'http://localhost' : base);
    const data = JSON.stringify(body);
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      ...(socketPath !== null ? { socketPath } : {}),
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(data),
        ...(this.token ? { authorization: this.token } : {}),
      },
      ...this.tlsOpts,
    });
    this.open.add(req);
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs > 0 ? setTimeout(() => req.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs) : undefined;
      req.on('response', (res) => {
        if (timer) clearTimeout(timer);
        resolve(res);
      });
      req.on('error', (e) => {
        if (timer) clearTimeout(timer);
        this.open.delete(req);
        reject(e);
      });
      req.on('close', () => this.open.delete(req));
      req.end(data);
    });
  }

  /**
   * One unary call, trying the endpoints in turn on connection errors and on "no leader"-like answers, in rounds,
   * until `timeoutMs` has passed (an election after a member died takes about a second).
   */
  async call(path: string, body: unknown): Promise<Record<string, unknown>> {
    const deadline = Date.now() + this.timeoutMs;
    const errs = new Map<string, string>();
    let maybeDelivered = false;
    for (let round = 0; ; round++) {
      for (let i = 0; i < this.endpoints.length; i++) {
        const base = this.endpoints[(this.next + i) % this.endpoints.length]!;
        let res: IncomingMessage;
        let text: string;
        try {
          res = await this.send(base, path, body, Math.max(500, deadline - Date.now()));
          text = await readAll(res, Math.max(500, deadline - Date.now()));
        } catch (e) {
          errs.set(base, (e as Error).message);
          if (!NOT_SENT.has((e as NodeJS.ErrnoException).code ?? '')) maybeDelivered = true;
          continue;
        }
        let v: Record<string, unknown>;
        try {
          v = JSON.parse(text) as Record<string, unknown>;
        } catch {
          throw new EtcdError(`${base}${path}: answer is not JSON (HTTP ${res.statusCode}): ${text.slice(0, 120)}`);
        }
        if (res.statusCode !== 200 || v['error'] !== undefined) {
          const msg = String(v['message'] ?? v['error'] ?? `HTTP ${res.statusCode}`);
          // a member without a leader (or being stopped) answers; another member, or a later try, may serve it
          if (/no leader|leader changed|timed out|stopped|unavailable|not capable/i.test(msg)) {
            errs.set(base, msg);
            if (/leader changed|timed out/i.test(msg)) maybeDelivered = true;
            continue;
          }
          throw new EtcdError(`${base}: ${msg}`);
        }
        this.next = (this.next + i) % this.endpoints.length;
        return v;
      }
      this.next = (this.next + 1) % this.endpoints.length;
      if (Date.now() + 100 > deadline) break;
      await new Promise((r) => setTimeout(r, Math.min(100 * (round + 1), 500)));
    }
    const detail = [...errs].map(([b, m]) => `${b}: ${m}`).join('; ');
    throw new EtcdError(`etcd unreachable (${detail})`, true, maybeDelivered);
  }

  async range(key: string, opts: { prefix?: boolean } = {}): Promise<RangeResult> {
    const r = await this.call('/v3/kv/range', {
      key: b64(key),
      ...(opts.prefix ? { range_end: b64(Buffer.from(prefixEnd(key), 'latin1')) } : {}),
    });
    const kvs = Array.isArray(r['kvs']) ? r['kvs'].map(kvOf) : [];
    return { kvs, revision: num((r['header'] as Record<string, unknown> | undefined)?.['revision']) };
  }

  async put(key: string, value: string | Buffer, lease?: string): Promise<number> {
    const r = await this.call('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
    return num((r['header'] as Record<string, unknown> | undefined)?.['revision']);
  }

  /** A transaction: `success` runs when every compare holds. Returns whether it did, and the new revision. */
  async txn(compare: Compare[], success: Op[], failure: Op[] = []): Promise<{ ok: boolean; revision: number }> {
    const op = (o: Op) =>
      'put' in o
        ? {
            request_put: {
              key: b64(o.put.key),
              value: b64(o.put.value),
              ...(o.put.lease ? { lease: o.put.lease } : {}),
            },
          }
        : { request_delete_range: { key: b64(o.del.key) } };
    const r = await this.call('/v3/kv/txn', {
      compare: compare.map((c) =>
        c.target === 'MOD'
          ? { key: b64(c.key), target: 'MOD', result: 'EQUAL', mod_revision: String(c.modRevision) }
          : { key: b64(c.key), target: 'CREATE', result: 'EQUAL', create_revision: String(c.createRevision) },
      ),
      success: success.map(op),
      failure: failure.map(op),
    });
    return {
      ok: r['succeeded'] === true,
      revision: num((r['header'] as Record<string, unknown> | undefined)?.['revision']),
    };
  }

  /** Delete every key with this prefix; returns how many were deleted. */
  async deletePrefix(prefix: string): Promise<number> {
    const r = await this.call('/v3/kv/deleterange', {
      key: b64(prefix),
      range_end: b64(Buffer.from(prefixEnd(prefix), 'latin1')),
    });
    return num(r['deleted']);
  }

  async leaseGrant(ttlSeconds: number): Promise<string> {
    const r = await this.call('/v3/lease/grant', { TTL: String(ttlSeconds) });
    return String(r['ID']);
  }

  /** Refresh a lease; false when it no longer exists (expired). */
  async leaseKeepAlive(id: string): Promise<boolean> {
    const r = await this.call('/v3/lease/keepalive', { ID: id });
    const res = (r['result'] ?? {}) as Record<string, unknown>;
    return num(res['TTL']) > 0;
  }

  async compact(revision: number): Promise<void> {
    await this.call('/v3/kv/compaction', { revision: String(revision), physical: true });
  }

  /**
   * Watch every key with `prefix` from `startRevision`. One stream on one endpoint; when it ends (the member died,
   * the connection broke) `onEnd` is called once and the caller starts a new watch from the revision after the last
   * event it got (the next endpoint is tried first). Returns a function that stops the watch.
   */
  watch(prefix: string, startRevision: number, h: WatchHandlers): () => void {
    const base = this.endpoints[this.next % this.endpoints.length]!;
    this.next = (this.next + 1) % this.endpoints.length;
    let ended = false;
    let stopped = false;
    let res: IncomingMessage | null = null;
    const end = (why: string) => {
      if (ended || stopped) return;
      ended = true;
      res?.destroy();
      h.onEnd(new EtcdError(`watch on ${base}: ${why}`, true));
    };
    this.send(
      base,
      '/v3/watch',
      {
        create_request: {
          key: b64(prefix),
          range_end: b64(Buffer.from(prefixEnd(prefix), 'latin1')),
          start_revision: String(startRevision),
          progress_notify: true,
        },
      },
      this.timeoutMs,
    ).then(
      (r) => {
        res = r;
        if (stopped) {
          r.destroy();
          return;
        }
        if (r.statusCode !== 200) {
          end(`HTTP ${r.statusCode}`);
          return;
        }
        let buf = '';
        r.setEncoding('utf8');
        r.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) this.watchLine(line, h, end);
            if (ended || stopped) return;
          }
        });
        r.on('end', () => end('stream ended'));
        r.on('error', (e) => end(e.message));
        r.on('close', () => end('connection closed'));
      },
      (e: Error) => end(e.message),
    );
    return () => {
      stopped = true;
      res?.destroy();
    };
  }

  private watchLine(line: string, h: WatchHandlers, end: (why: string) => void): void {
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      end(`not JSON: ${line.slice(0, 80)}`);
      return;
    }
    if (v['error']) {
      const e = v['error'] as Record<string, unknown>;
      end(String(e['message'] ?? 'error'));
      return;
    }
    const r = (v['result'] ?? {}) as Record<string, unknown>;
    if (r['created'] === true) h.onStart?.();
    const compact = num(r['compact_revision']);
    if (compact > 0) {
      h.onCompacted(compact);
      end('compacted');
      return;
    }
    if (r['canceled'] === true) {
      end(String(r['cancel_reason'] ?? 'canceled'));
      return;
    }
    const events = Array.isArray(r['events'])
      ? r['events'].map((e: Record<string, unknown>) => ({
          type: e['type'] === 'DELETE' ? ('DELETE' as const) : ('PUT' as const),
          kv: kvOf(e['kv']),
        }))
      : [];
    const rev = num((r['header'] as Record<string, unknown> | undefined)?.['revision']);
    if (events.length > 0 || rev > 0) h.onEvents(events, rev);
  }

  close(): void {
    for (const r of this.open) r.destroy();
    this.open.clear();
  }
}

/** Connection errors that mean the request never reached a member. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH', 'EACCES']);

function readAll(res: IncomingMessage, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => res.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
