/**
 * Prometheus text exposition (format 0.0.4) of a running agent: per-stage packets per exit and drops per
 * reason, conntrack size, SNAT ports in use per egress IP, egress IPs owned, store files the agent could not use.
 * Served on `--metrics-port`, on loopback unless `--metrics-address` says otherwise. A scrape is answered from a
 * text rendered at most once per second (`MetricsCache`), and nothing in a snapshot walks a connection table
 * (cli/agent/connections.ts): any number of scrapes costs the event loop one small rendering per second.
 */
import { createServer, type Server } from 'node:http';
import type { LoopDelaySnapshot } from './loop-delay.js';

export interface MetricsSnapshot {
  node: string;
  stages: Record<string, { exits: Record<string, number>; counters: Record<string, number> }>;
  conntrackEntries: number;
  conntrackCounters: Record<string, number>;
  snatPortsUsed: Record<string, number>;
  egressIps: string[];
  pods: number;
  membersAlive: number;
  /** Store problems reported so far, per kind of file (StoreHealth). */
  storeProblems?: Record<string, number>;
  /** Exceptions caught in the agent's timers and callbacks, per place (engine/agent/faults.ts). */
  faults?: Record<string, number>;
  /** Whether the store answers (a shared store can be unreachable; the agent then forwards on its last state). */
  storeConnected?: boolean;
  /** Event-loop delay (cli/agent/loop-delay.ts). */
  loopDelay?: LoopDelaySnapshot;
}

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function renderMetrics(m: MetricsSnapshot): string {
  const out: string[] = [];
  const node = `node="${esc(m.node)}"`;
  out.push('# HELP egress_stage_packets_total Packets that left a datapath stage, by exit.');
  out.push('# TYPE egress_stage_packets_total counter');
  for (const [stage, s] of Object.entries(m.stages))
    for (const [exit, n] of Object.entries(s.exits))
      out.push(`egress_stage_packets_total{${node},stage="${esc(stage)}",exit="${esc(exit)}"} ${n}`);
  out.push('# HELP egress_stage_drops_total Packets a stage dropped, by reason.');
  out.push('# TYPE egress_stage_drops_total counter');
  for (const [stage, s] of Object.entries(m.stages))
    for (const [name, n] of Object.entries(s.counters))
      if (name.startsWith('drop-'))
        out.push(`egress_stage_drops_total{${node},stage="${esc(stage)}",reason="${esc(name.slice(5))}"} ${n}`);
  out.push('# HELP egress_stage_events_total Other per-stage counters.');
  out.push('# TYPE egress_stage_events_total counter');
  for (const [stage, s] of Object.entries(m.stages))
    for (const [name, n] of Object.entries(s.counters))
      if (!name.startsWith('drop-'))
        out.push(`egress_stage_events_total{${node},stage="${esc(stage)}",event="${esc(name)}"} ${n}`);
  out.push('# HELP egress_conntrack_entries Connections in the table.');
  out.push('# TYPE egress_conntrack_entries gauge');
  out.push(`egress_conntrack_entries{${node}} ${m.conntrackEntries}`);
  out.push('# HELP egress_conntrack_events_total Connection table events.');
  out.push('# TYPE egress_conntrack_events_total counter');
  for (const [name, n] of Object.entries(m.conntrackCounters))
    out.push(`egress_conntrack_events_total{${node},event="${esc(name)}"} ${n}`);
  out.push('# HELP egress_snat_ports_used SNAT bindings per NAT address.');
  out.push('# TYPE egress_snat_ports_used gauge');
  for (const [ip, n] of Object.entries(m.snatPortsUsed))
    out.push(`egress_snat_ports_used{${node},ip="${esc(ip)}"} ${n}`);
  out.push('# HELP egress_ips_owned Egress IPs this node hosts.');
  out.push('# TYPE egress_ips_owned gauge');
  out.push(`egress_ips_owned{${node}} ${m.egressIps.length}`);
  out.push('# HELP egress_pods Local pods with a port.');
  out.push('# TYPE egress_pods gauge');
  out.push(`egress_pods{${node}} ${m.pods}`);
  out.push('# HELP egress_members_alive Nodes this agent sees alive (itself included).');
  out.push('# TYPE egress_members_alive gauge');
  out.push(`egress_members_alive{${node}} ${m.membersAlive}`);
  if (m.storeProblems) {
    out.push('# HELP egress_store_problems_total Store files the agent could not use or write, by file.');
    out.push('# TYPE egress_store_problems_total counter');
    for (const [file, n] of Object.entries(m.storeProblems))
      out.push(`egress_store_problems_total{${node},file="${esc(file)}"} ${n}`);
  }
  if (m.faults) {
    out.push('# HELP egress_agent_faults_total Exceptions caught in the agent (it went on), by where.');
    out.push('# TYPE egress_agent_faults_total counter');
    for (const [where, n] of Object.entries(m.faults))
      out.push(`egress_agent_faults_total{${node},where="${esc(where)}"} ${n}`);
  }
  if (m.storeConnected !== undefined) {
    out.push('# HELP egress_store_connected 1 when the store answers, 0 while it is disconnected.');
    out.push('# TYPE egress_store_connected gauge');
    out.push(`egress_store_connected{${node}} ${m.storeConnected ? 1 : 0}`);
  }
  if (m.loopDelay) {
    const d = m.loopDelay;
    const sec = (ms: number) => String(ms / 1000);
    out.push(
      '# HELP egress_event_loop_delay_seconds How late the event loop ran a 10 ms timer: quantiles over the last window (quantile 1 = its maximum), sum and count since start.',
    );
    out.push('# TYPE egress_event_loop_delay_seconds summary');
    out.push(`egress_event_loop_delay_seconds{${node},quantile="0.5"} ${sec(d.p50Ms)}`);
    out.push(`egress_event_loop_delay_seconds{${node},quantile="0.99"} ${sec(d.p99Ms)}`);
    out.push(`egress_event_loop_delay_seconds{${node},quantile="1"} ${sec(d.maxMs)}`);
    out.push(`egress_event_loop_delay_seconds_sum{${node}} ${sec(d.sumMs)}`);
    out.push(`egress_event_loop_delay_seconds_count{${node}} ${d.count}`);
    out.push('# HELP egress_event_loop_delay_max_seconds Largest event-loop delay since the agent started.');
    out.push('# TYPE egress_event_loop_delay_max_seconds gauge');
    out.push(`egress_event_loop_delay_max_seconds{${node}} ${sec(d.maxEverMs)}`);
  }
  return out.join('\n') + '\n';
}

/**
 * The exposition text, rendered again only when the last rendering is `maxAgeMs` old (default 1 s): scrapes
 * never do more than return a string.
 */
export class MetricsCache {
  private text = '';
  private at = -Infinity;
  /** Renderings so far. */
  renders = 0;

  constructor(
    private readonly snapshot: () => MetricsSnapshot,
    private readonly clock: () => number = () => performance.now(),
    private readonly maxAgeMs = 1000,
  ) {}

  get(): string {
    const now = this.clock();
    if (now - this.at >= this.maxAgeMs) {
      this.text = renderMetrics(this.snapshot());
      this.at = now;
      this.renders++;
    }
    return this.text;
  }
}

/** Serve `/metrics` on `address`:`port` (the metrics tell a segment attacker a lot: loopback by default). */
export function serveMetrics(
  port: number,
  snapshot: (() => MetricsSnapshot) | MetricsCache,
  address = '127.0.0.1',
): Promise<Server> {
  const text = snapshot instanceof MetricsCache ? () => snapshot.get() : () => renderMetrics(snapshot());
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve(server));
  });
}
