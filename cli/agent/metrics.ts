/**
 * Prometheus metrics of a running agent, through prom-client: per-stage packets per exit and drops per reason,
 * conntrack entries and capacity, SNAT ports in use per egress IP, ownership per egress IP, membership and store
 * state, event-loop delay, build info, and (on the agent's own registry) prom-client's default process and
 * Node.js metrics (CPU, memory, heap, GC, event-loop lag, handles), and with `--conn-sync` the connection-state
 * sync's counters (replicated, messages, bytes, lag, takeover, missing, drops by reason, the restart snapshot). Every metric reads one snapshot taken when a
 * scrape renders (`collect` callbacks): nothing is counted on the packet path. Served on `--metrics-port`, on
 * loopback unless `--metrics-address` says otherwise, with `/healthz` and `/readyz`. A scrape is answered from a
 * text rendered at most once per second (`MetricsCache`), and nothing in a snapshot walks a connection table
 * (cli/agent/connections.ts): any number of scrapes costs the event loop one small rendering per second.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { LoopDelaySnapshot } from './loop-delay.js';

export interface MetricsSnapshot {
  node: string;
  stages: Record<string, { exits: Record<string, number>; counters: Record<string, number> }>;
  conntrackEntries: number;
  /** Capacity of the connection table (its maxConnections). */
  conntrackMax?: number;
  conntrackCounters: Record<string, number>;
  /** Distinct SNAT ports in use per egress IP (summed over protocols), from the last connection survey. */
  snatPortsUsed: Record<string, number>;
  /** Translated connections per egress IP (several may share a port: one per destination). */
  snatConnections?: Record<string, number>;
  egressIps: string[];
  /** Every egress IP this node's view knows, with whether this node hosts it. */
  egressIpOwned?: Record<string, boolean>;
  pods: number;
  membersAlive: number;
  /** Membership settled (a starting or resumed agent claims nothing before it is). */
  membershipSettled?: boolean;
  /** Each peer's state as this agent sees it. */
  peers?: Record<string, 'grace' | 'alive' | 'dead'>;
  /** Store problems reported so far, per kind of file (StoreHealth). */
  storeProblems?: Record<string, number>;
  /** Exceptions caught in the agent's timers and callbacks, per place (engine/agent/faults.ts). */
  faults?: Record<string, number>;
  /** Whether the store answers (a shared store can be unreachable; the agent then forwards on its last state). */
  storeConnected?: boolean;
  /** Event-loop delay (cli/agent/loop-delay.ts). */
  loopDelay?: LoopDelaySnapshot;
  /**
   * Connection-state sync (`--conn-sync`, docs/conntrack-sync.md): `ConnSync.snapshot()` (its counters, the
   * receiver's verdicts as `rx-<verdict>`, `cached`, `queued`) and the standby of each owned IP ('' for none).
   */
  sync?: { counters: Record<string, number>; standbys: Record<string, string> };
}

/**
 * Sync counters (engine/agent/conn-sync.ts SYNC_COUNTER_NAMES) that are drops, by the `reason` label of
 * `egress_conn_sync_drops_total`; the receiver's verdicts other than `ok` join them as `rx-<verdict>`.
 */
export const SYNC_DROP_REASONS: Readonly<Record<string, string>> = {
  'dropped-queue-full': 'queue-full',
  'dropped-standby-unknown': 'standby-unknown',
  'cache-full': 'cache-full',
};

/** The package's version and the Node.js it runs on, for `egress_build_info`. */
export const BUILD_INFO: Readonly<Record<'version' | 'nodejs' | 'arch', string>> = {
  version: (() => {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
        version?: string;
      };
      return pkg.version ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })(),
  nodejs: process.version,
  arch: process.arch,
};

/**
 * The metrics the agent exports, every one on `registry` and filled from `current()` when a scrape renders. The
 * names are the ones the hand-written exposition had (docs/agent.md lists them), plus the new ones.
 */
function defineMetrics(registry: Registry, current: () => MetricsSnapshot): void {
  const registers = [registry];
  type Rows<L extends string> = (m: MetricsSnapshot) => Iterable<[Record<L | 'node', string>, number]>;
  /**
   * A metric filled from a snapshot when a scrape renders: reset, then each row's value (a counter is set to the
   * total the datapath keeps through `inc` from zero: prom-client counters have no `set`).
   */
  const metric =
    (kind: 'counter' | 'gauge') =>
    <L extends string>(name: string, help: string, labelNames: readonly L[], rows: Rows<L>) => {
      const config = { name, help, labelNames: ['node', ...labelNames] as (L | 'node')[], registers };
      if (kind === 'counter')
        return new Counter<L | 'node'>({
          ...config,
          collect() {
            this.reset();
            for (const [labels, n] of rows(current())) this.inc(labels, n);
          },
        });
      return new Gauge<L | 'node'>({
        ...config,
        collect() {
          this.reset();
          for (const [labels, n] of rows(current())) this.set(labels, n);
        },
      });
    };
  const counter = metric('counter');
  const gauge = metric('gauge');
  const one = (m: MetricsSnapshot, v: number | undefined): [Record<'node', string>, number][] =>
    v === undefined ? [] : [[{ node: m.node }, v]];
  function* stageRows(m: MetricsSnapshot, drops: boolean) {
    for (const [stage, s] of Object.entries(m.stages))
      for (const [name, n] of Object.entries(s.counters))
        if (name.startsWith('drop-') === drops)
          yield drops
            ? ([{ node: m.node, stage, reason: name.slice(5) }, n] as [
                Record<'node' | 'stage' | 'reason', string>,
                number,
              ])
            : ([{ node: m.node, stage, event: name }, n] as [Record<'node' | 'stage' | 'event', string>, number]);
  }

  gauge(
    'egress_build_info',
    'Version of egress-engine and the Node.js it runs on (always 1).',
    ['version', 'nodejs', 'arch'],
    (m) => [[{ node: m.node, ...BUILD_INFO }, 1]],
  );
  counter(
    'egress_stage_packets_total',
    'Packets that left a datapath stage, by exit.',
    ['stage', 'exit'],
    function* (m) {
      for (const [stage, s] of Object.entries(m.stages))
        for (const [exit, n] of Object.entries(s.exits)) yield [{ node: m.node, stage, exit }, n];
    },
  );
  counter(
    'egress_stage_drops_total',
    'Packets a stage dropped, by reason.',
    ['stage', 'reason'],
    (m) => stageRows(m, true) as Iterable<[Record<'node' | 'stage' | 'reason', string>, number]>,
  );
  counter(
    'egress_stage_events_total',
    'Other per-stage counters.',
    ['stage', 'event'],
    (m) => stageRows(m, false) as Iterable<[Record<'node' | 'stage' | 'event', string>, number]>,
  );
  gauge('egress_conntrack_entries', 'Connections in the table.', [], (m) => one(m, m.conntrackEntries));
  gauge('egress_conntrack_max', 'Connections the table can hold.', [], (m) => one(m, m.conntrackMax));
  counter('egress_conntrack_events_total', 'Connection table events.', ['event'], (m) =>
    Object.entries(m.conntrackCounters).map(([event, n]) => [{ node: m.node, event }, n]),
  );
  gauge(
    'egress_snat_ports_used',
    'SNAT ports in use per egress IP (distinct ports, summed over TCP, UDP and ICMP), from the last connection survey.',
    ['ip'],
    (m) => Object.entries(m.snatPortsUsed).map(([ip, n]) => [{ node: m.node, ip }, n]),
  );
  gauge(
    'egress_snat_connections',
    'Translated connections per egress IP, from the last connection survey.',
    ['ip'],
    (m) => Object.entries(m.snatConnections ?? {}).map(([ip, n]) => [{ node: m.node, ip }, n]),
  );
  gauge('egress_ips_owned', 'Egress IPs this node hosts.', [], (m) => one(m, m.egressIps.length));
  gauge('egress_ip_owned', 'Per egress IP this node knows: 1 while this node hosts it, else 0.', ['ip'], (m) =>
    Object.entries(m.egressIpOwned ?? {}).map(([ip, owned]) => [{ node: m.node, ip }, owned ? 1 : 0]),
  );
  gauge('egress_pods', 'Local pods with a port.', [], (m) => one(m, m.pods));
  gauge('egress_members_alive', 'Nodes this agent sees alive (itself included).', [], (m) => one(m, m.membersAlive));
  gauge(
    'egress_membership_settled',
    '1 once membership settled (the agent claims egress IPs only then), else 0.',
    [],
    (m) => one(m, m.membershipSettled === undefined ? undefined : m.membershipSettled ? 1 : 0),
  );
  gauge(
    'egress_peer_state',
    'Each peer as this agent sees it: 1 for its current state (grace, alive or dead).',
    ['peer', 'state'],
    function* (m) {
      for (const [peer, st] of Object.entries(m.peers ?? {}))
        for (const state of ['grace', 'alive', 'dead']) yield [{ node: m.node, peer, state }, st === state ? 1 : 0];
    },
  );
  counter('egress_store_problems_total', 'Store files the agent could not use or write, by file.', ['file'], (m) =>
    Object.entries(m.storeProblems ?? {}).map(([file, n]) => [{ node: m.node, file }, n]),
  );
  counter('egress_agent_faults_total', 'Exceptions caught in the agent (it went on), by where.', ['where'], (m) =>
    Object.entries(m.faults ?? {}).map(([where, n]) => [{ node: m.node, where }, n]),
  );
  gauge('egress_store_connected', '1 when the store answers, 0 while it is disconnected.', [], (m) =>
    one(m, m.storeConnected === undefined ? undefined : m.storeConnected ? 1 : 0),
  );
  // A summary whose quantiles loop-delay.ts computed over its window: a metric object of our own on the registry
  // (prom-client's Summary computes quantiles from observations, which would put a call on every sample).
  const loopName = 'egress_event_loop_delay_seconds';
  const loopHelp =
    'How late the event loop ran a 10 ms timer: quantiles over the last window (quantile 1 = its maximum), sum and count since start.';
  registry.registerMetric({
    name: loopName,
    help: loopHelp,
    type: 'summary',
    aggregator: 'sum',
    get() {
      const m = current();
      const d = m.loopDelay;
      const node = m.node;
      const values = d
        ? [
            { labels: { node, quantile: '0.5' }, value: d.p50Ms / 1000 },
            { labels: { node, quantile: '0.99' }, value: d.p99Ms / 1000 },
            { labels: { node, quantile: '1' }, value: d.maxMs / 1000 },
            { metricName: `${loopName}_sum`, labels: { node }, value: d.sumMs / 1000 },
            { metricName: `${loopName}_count`, labels: { node }, value: d.count },
          ]
        : [];
      return Promise.resolve({ name: loopName, help: loopHelp, type: 'summary', aggregator: 'sum', values });
    },
    reset() {},
  } as unknown as Gauge);
  gauge('egress_event_loop_delay_max_seconds', 'Largest event-loop delay since the agent started.', [], (m) =>
    one(m, m.loopDelay ? m.loopDelay.maxEverMs / 1000 : undefined),
  );

  // Connection-state sync (--conn-sync): counters by kind, from the ConnSync snapshot of the rendering.
  const sync = (m: MetricsSnapshot, name: string): [Record<'node', string>, number][] =>
    m.sync ? one(m, m.sync.counters[name] ?? 0) : [];
  const byLabel =
    <L extends string>(label: L, names: Readonly<Record<string, string>>) =>
    (m: MetricsSnapshot): [Record<L | 'node', string>, number][] =>
      m.sync
        ? Object.entries(names).map(
            ([counter, value]) =>
              [{ node: m.node, [label]: value } as Record<L | 'node', string>, m.sync!.counters[counter] ?? 0] as [
                Record<L | 'node', string>,
                number,
              ],
          )
        : [];
  counter('egress_conn_sync_replicated_total', 'Connections sent to a standby for the first time.', [], (m) =>
    sync(m, 'replicated'),
  );
  counter(
    'egress_conn_sync_messages_total',
    'Sync messages sent to standbys and accepted from owners.',
    ['direction'],
    byLabel('direction', { 'messages-sent': 'sent', 'messages-received': 'received' }),
  );
  counter(
    'egress_conn_sync_bytes_total',
    'Bytes of sync messages (UDP payload) sent and accepted.',
    ['direction'],
    byLabel('direction', { 'bytes-sent': 'sent', 'bytes-received': 'received' }),
  );
  counter(
    'egress_conn_sync_records_total',
    'Connection records and removals in sync messages sent and accepted.',
    ['direction', 'kind'],
    (m) =>
      m.sync
        ? (
            [
              ['records-sent', 'sent', 'record'],
              ['removals-sent', 'sent', 'removal'],
              ['records-received', 'received', 'record'],
              ['removals-received', 'received', 'removal'],
            ] as const
          ).map(([c, direction, kind]) => [{ node: m.node, direction, kind }, m.sync!.counters[c] ?? 0])
        : [],
  );
  gauge(
    'egress_conn_sync_lag_seconds',
    "Time from a connection's creation to its first sync message: the last one.",
    [],
    (m) => (m.sync ? one(m, (m.sync.counters['lag-ms-last'] ?? 0) / 1000) : []),
  );
  gauge('egress_conn_sync_lag_max_seconds', 'The largest sync lag since the agent started.', [], (m) =>
    m.sync ? one(m, (m.sync.counters['lag-ms-max'] ?? 0) / 1000) : [],
  );
  gauge(
    'egress_conn_sync_cached',
    'Connections held for takeover (sent by the owners this node is standby for).',
    [],
    (m) => sync(m, 'cached'),
  );
  gauge('egress_conn_sync_queued', 'Records and removals waiting to be sent.', [], (m) => sync(m, 'queued'));
  counter(
    'egress_conn_sync_takeover_total',
    'Cached connections at a takeover, by result (installed, refreshed, or not installed: full, clash, expired, invalid).',
    ['result'],
    byLabel('result', {
      'installed-on-takeover': 'installed',
      'refreshed-on-takeover': 'refreshed',
      'takeover-full': 'full',
      'takeover-clash': 'clash',
      'takeover-expired': 'expired',
      'takeover-invalid': 'invalid',
    }),
  );
  counter(
    'egress_conn_sync_missing_total',
    'Inbound packets to a taken-over IP without a connection in the 30 s after the takeover.',
    [],
    (m) => sync(m, 'missing'),
  );
  counter(
    'egress_conn_sync_drops_total',
    'Sync records not sent or not kept (queue-full, standby-unknown, cache-full) and messages refused (rx-<verdict>).',
    ['reason'],
    (m) =>
      m.sync
        ? Object.entries(m.sync.counters)
            .filter(([c]) => c in SYNC_DROP_REASONS || (c.startsWith('rx-') && c !== 'rx-ok'))
            .map(([c, n]) => [{ node: m.node, reason: SYNC_DROP_REASONS[c] ?? c }, n])
        : [],
  );
  counter(
    'egress_conn_sync_transfers_total',
    "Whole transfers of an IP's connections: to a new standby (full) or to the node the IP moved to (handover).",
    ['kind'],
    byLabel('kind', { 'full-transfers': 'full', 'handover-transfers': 'handover' }),
  );
  counter(
    'egress_conn_sync_snapshot_total',
    'Restart snapshot (run/<node>.conns): connections written on SIGTERM, loaded at start, not installed.',
    ['event'],
    byLabel('event', {
      'snapshot-written': 'written',
      'snapshot-loaded': 'loaded',
      'snapshot-not-installed': 'not-installed',
    }),
  );
  counter('egress_conn_sync_snapshot_rejected_total', 'Restart snapshots refused whole, by reason.', ['reason'], (m) =>
    m.sync
      ? Object.entries(m.sync.counters)
          .filter(([c]) => c.startsWith('snapshot-rejected-'))
          .map(([c, n]) => [{ node: m.node, reason: c.slice('snapshot-rejected-'.length) }, n])
      : [],
  );
  gauge(
    'egress_conn_sync_standby',
    'The standby of each egress IP this node hosts (always 1; standby="" when the IP has none).',
    ['ip', 'standby'],
    (m) => Object.entries(m.sync?.standbys ?? {}).map(([ip, standby]) => [{ node: m.node, ip, standby }, 1]),
  );
}

/** prom-client default gauges whose names end in `_total` (a counter's suffix): left out. */
export const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** A registry with the agent's metrics on `current()`; `defaults` adds prom-client's process and Node.js metrics. */
export function agentRegistry(current: () => MetricsSnapshot, node: string, defaults: boolean): Registry {
  const registry = new Registry();
  defineMetrics(registry, current);
  if (defaults) {
    registry.setDefaultLabels({ node });
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
    // three gauges named like counters, which `promtool check metrics` rejects; their per-type versions
    // (nodejs_active_handles{type}, nodejs_active_requests{type}, nodejs_active_resources{type}) stay
    for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  }
  return registry;
}

/** The exposition text of one snapshot (the agent's metrics only, no process metrics). */
export async function renderMetrics(m: MetricsSnapshot): Promise<string> {
  return agentRegistry(() => m, m.node, false).metrics();
}

/**
 * The exposition text, rendered again only when the last rendering is `maxAgeMs` old (default 1 s): scrapes
 * never do more than return a string (or wait for the one rendering under way).
 */
export class MetricsCache {
  private text: Promise<string> = Promise.resolve('');
  private at = -Infinity;
  private snap: MetricsSnapshot | null = null;
  readonly registry: Registry;
  /** Renderings so far. */
  renders = 0;

  constructor(
    private readonly snapshot: () => MetricsSnapshot,
    private readonly clock: () => number = () => performance.now(),
    private readonly maxAgeMs = 1000,
    opts: { node?: string; defaults?: boolean } = {},
  ) {
    this.registry = agentRegistry(() => (this.snap ??= this.snapshot()), opts.node ?? '', opts.defaults ?? false);
  }

  get(): Promise<string> {
    const now = this.clock();
    if (now - this.at >= this.maxAgeMs) {
      this.snap = null; // the first collect of this rendering takes the snapshot, the others read it
      this.text = this.registry.metrics();
      this.at = now;
      this.renders++;
    }
    return this.text;
  }
}

/** What `/readyz` answers: ready, or the reasons it is not. */
export interface Readiness {
  ready: boolean;
  /** Why not (empty when ready). */
  reasons: string[];
}

/**
 * Serve `/metrics`, `/healthz` (the process answers: 200 `ok`) and `/readyz` (200 `ok` when `readiness` says so,
 * else 503 and the reasons, one a line) on `address`:`port` (the metrics tell a segment attacker a lot: loopback
 * by default).
 */
export function serveMetrics(
  port: number,
  snapshot: (() => MetricsSnapshot) | MetricsCache,
  address = '127.0.0.1',
  readiness: () => Readiness = () => ({ ready: true, reasons: [] }),
): Promise<Server> {
  const text = snapshot instanceof MetricsCache ? () => snapshot.get() : () => renderMetrics(snapshot());
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      let r: Readiness;
      try {
        r = readiness();
      } catch (e) {
        r = { ready: false, reasons: [`readiness check failed: ${(e as Error).message}`] };
      }
      res
        .writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(r.ready ? 'ok\n' : r.reasons.map((x) => `not ready: ${x}\n`).join(''));
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
      return;
    }
    text().then(
      (t) => res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE }).end(t),
      (e: unknown) =>
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve(server));
  });
}
