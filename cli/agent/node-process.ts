/**
 * `egress agent`: one node's agent process on real devices. It reads the store (state directory), creates the
 * node's uplink TAP on the segment and one TUN per local pod in the pod's namespace, runs the datapath on them
 * (engine/agent AgentRuntime), runs the control plane of this node (engine/policy syncNode: schedule, hosted
 * egress IPs, status file, events), announces newly hosted egress IPs, and reports itself in
 * `<state>/run/<node>.json` every second (counters, conntrack, owned IPs, pods, membership). Logs are JSON
 * lines on stderr. SIGTERM/SIGINT remove everything it created.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Server } from 'node:http';
import { AgentRuntime } from '../../engine/agent/runtime.js';
import { macFor, NodeAgent } from '../../engine/agent/node-agent.js';
import { atomicWrite } from '../../engine/policy/store/fsutil.js';
import { conntrack, io, policy, Slab, wire, type Port } from '../../engine/index.js';
import { netdev, openPodTun, openUplink, podNetnsName } from '../../tun/index.js';
import { UserError } from '../errors.js';
import { serveMetrics, type MetricsSnapshot } from './metrics.js';

export interface AgentOptions {
  node: string;
  stateDir: string;
  /** Namespace holding the segment's bridge (the TAP moves there). */
  segmentNetns?: string;
  bridge?: string;
  metricsPort?: number;
  /** Log lines at or above this level. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;

export class AgentProcess {
  private readonly log: (level: keyof typeof LEVELS, msg: string, fields?: Record<string, unknown>) => void;
  private agent: NodeAgent | null = null;
  private runtime: AgentRuntime | null = null;
  private watch: policy.store.StoreWatch | null = null;
  private reportTimer: NodeJS.Timeout | null = null;
  private metrics: Server | null = null;
  private memory: policy.NodeMemory | null = null;
  private readonly createdNetns: string[] = [];
  private readonly started = new Date();
  private stopped = false;
  private readonly clock = () => performance.now();
  private membership: Set<string> = new Set();

  constructor(private readonly o: AgentOptions) {
    const min = LEVELS[o.logLevel ?? 'info'];
    this.log = (level, msg, fields = {}) => {
      if (LEVELS[level] < min) return;
      process.stderr.write(
        JSON.stringify({ ts: new Date().toISOString(), level, node: o.node, msg, ...fields }) + '\n',
      );
    };
  }

  /** Create the devices and start; resolves once the datapath runs. */
  async start(): Promise<void> {
    const { node, stateDir } = this.o;
    if (typeof process.getuid === 'function' && process.getuid() !== 0)
      throw new UserError(
        'the agent creates TUN/TAP devices and moves them between namespaces: run it as root (CAP_NET_ADMIN)',
      );
    if (!existsSync('/dev/net/tun'))
      throw new UserError('no /dev/net/tun: load the tun module or run where TUN devices exist');
    if (!existsSync(join(stateDir, policy.store.OBJECTS_FILE)))
      throw new UserError(`no applied manifests in ${stateDir}: run \`egress apply -f …\` first (or pass --state-dir)`);
    const state = policy.store.loadState(stateDir);
    if (!state.nodes.has(node))
      throw new UserError(
        `Node ${node} is not in the applied manifests (${[...state.nodes.keys()].join(', ') || 'none'})`,
      );
    this.membership = new Set(state.nodes.keys());
    const r = this.syncOnce(state);
    const view = r.view;
    if (!view.node) throw new UserError(`Node ${node} has no IPv4 transport address`);
    const slab = new Slab({ slots: 8192 });
    const mac = macFor('node', view.node.transportIp);
    let uplink: Port;
    try {
      uplink = openUplink({
        node,
        mtu: view.node.mtu,
        ...(this.o.segmentNetns !== undefined ? { netns: this.o.segmentNetns } : {}),
        ...(this.o.bridge !== undefined ? { bridge: this.o.bridge } : {}),
      });
    } catch (e) {
      throw new UserError(`cannot create the uplink: ${(e as Error).message}`);
    }
    const podMtu = view.node.podMtu;
    this.agent = new NodeAgent({
      name: node,
      slab,
      mac,
      uplink,
      control: new io.MemoryPort({ name: `control:${node}`, slab }),
      view,
      snatFullyRandom: view.node.snatFullyRandomPorts,
      pods: {
        open: (pod) => this.openPod(pod.key, wire.ipv4.addrToString(pod.ip), podMtu),
        close: (key, port) => {
          port.close();
          this.log('info', 'pod port removed', { pod: key });
        },
      },
      onPodPort: (_key, member, port, added) => {
        if (!this.runtime) return;
        if (added) this.runtime.watchPod(member, port);
        else this.runtime.unwatchPod(port);
      },
    });
    this.runtime = new AgentRuntime(this.agent, { clock: this.clock });
    this.runtime.start();
    const announce = r.announce.map((x) => wire.ipv4.parseAddr(x)).filter((x): x is number => x !== null);
    for (const ip of announce) this.agent.garp(ip, this.clock());
    this.afterSync(r);
    this.watch = policy.store.watchStore(stateDir, (s) => this.onState(s), {
      onError: (e) => this.log('warn', 'store read failed; retrying', { error: e.message }),
    });
    if (this.o.metricsPort !== undefined) {
      this.metrics = await serveMetrics(this.o.metricsPort, () => this.metricsSnapshot());
      this.log('info', 'metrics served', { port: this.o.metricsPort });
    }
    mkdirSync(join(stateDir, 'run'), { recursive: true });
    this.report();
    this.reportTimer = setInterval(() => this.report(), 1000);
    this.log('info', 'agent started', {
      pid: process.pid,
      transportIp: wire.ipv4.addrToString(view.node.transportIp),
      mac: wire.ethernet.macToString(mac),
      pods: view.localPods.length,
      egressIps: view.localEgressIps.map((l) => l.text),
    });
  }

  private openPod(key: string, ip: string, mtu: number): Port {
    const ns = podNetnsName(key);
    if (!netdev.listNetns().includes(ns)) {
      netdev.addNetns(ns);
      this.createdNetns.push(ns);
    }
    const port = openPodTun({ key, netns: ns, ip, mtu });
    this.log('info', 'pod port created', { pod: key, netns: ns, ip, mtu });
    return port;
  }

  private syncOnce(state: policy.ClusterState): policy.NodeSyncResult {
    const current = policy.mergeStatus(state, policy.store.readNodeStatuses(this.o.stateDir));
    const r = policy.syncNode({
      state,
      node: this.o.node,
      membership: this.membership,
      now: new Date(),
      memory: this.memory,
      current,
    });
    this.memory = r.memory;
    return r;
  }

  private afterSync(r: policy.NodeSyncResult): void {
    if (r.statusChanged) policy.store.writeNodeStatus(this.o.stateDir, r.status);
    if (r.events.length) {
      policy.store.appendEvents(this.o.stateDir, r.events);
      for (const e of r.events) this.log('info', e.message, { reason: e.reason, egress: e.egress, ip: e.ip });
    }
  }

  /** The store changed (or membership): run the control plane and hand the datapath its new view. */
  private onState(state: policy.ClusterState): void {
    if (this.stopped || !this.agent) return;
    if (!state.nodes.has(this.o.node)) {
      this.log('warn', 'this Node was deleted from the manifests; keeping the last configuration');
      return;
    }
    try {
      const r = this.syncOnce(state);
      const announce = r.announce.map((x) => wire.ipv4.parseAddr(x)).filter((x): x is number => x !== null);
      const { added, removed } = this.agent.apply(r.view, announce, this.clock());
      this.afterSync(r);
      this.log('info', 'configuration applied', {
        generation: state.generation,
        egressIps: r.view.localEgressIps.map((l) => l.text),
        announced: r.announce,
        podsAdded: added,
        podsRemoved: removed,
      });
    } catch (e) {
      this.log('error', 'could not apply the new state; keeping the previous one', { error: (e as Error).message });
    }
  }

  private metricsSnapshot(): MetricsSnapshot {
    const a = this.agent!;
    const st = a.datapath.state;
    const usage: Record<string, number> = {};
    for (const u of conntrack.snatUsage(st.ct))
      usage[u.natIp] = Object.values(u.connections).reduce((x, y) => x + y, 0);
    return {
      node: this.o.node,
      stages: a.datapath.pipeline.snapshot(),
      conntrackEntries: st.ct.size,
      conntrackCounters: st.ct.counterSnapshot(),
      snatPortsUsed: usage,
      egressIps: a.view.localEgressIps.map((l) => l.text),
      pods: a.pods().size,
      membersAlive: this.membership.size,
    };
  }

  /** Write `<state>/run/<node>.json`. */
  report(): void {
    const a = this.agent;
    if (!a) return;
    const st = a.datapath.state;
    const now = this.clock();
    const file = {
      node: this.o.node,
      pid: process.pid,
      started: this.started.toISOString(),
      updated: new Date().toISOString(),
      mac: wire.ethernet.macToString(a.mac),
      transportIp: a.view.node ? wire.ipv4.addrToString(a.view.node.transportIp) : null,
      egressIps: a.view.localEgressIps.map((l) => l.text),
      members: [...this.membership].sort(),
      pods: [...a.pods()].map(([key, p]) => ({ key, netns: podNetnsName(key), port: p.port.name, member: p.member })),
      runtime: this.runtime?.stats ?? null,
      stages: a.datapath.pipeline.snapshot(),
      conntrack: {
        size: st.ct.size,
        counters: st.ct.counterSnapshot(),
        entries: conntrack.dump(st.ct, now).slice(0, 1000),
      },
      snat: conntrack.snatUsage(st.ct),
      neighbors: st.neigh.dump(now).map((e) => ({
        ip: wire.ipv4.addrToString(e.ip),
        mac: e.state === 'incomplete' ? null : wire.ethernet.macToString(wire.ethernet.macFromInts(e.macHi, e.macLo)),
        state: e.state,
        queued: e.queued,
      })),
      ports: {
        uplink: portCounters(a.uplink),
      },
    };
    try {
      atomicWrite(join(this.o.stateDir, 'run', `${this.o.node}.json`), JSON.stringify(file, null, 1) + '\n');
    } catch (e) {
      this.log('warn', 'could not write the run file', { error: (e as Error).message });
    }
  }

  /** Remove everything this agent created; idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.watch?.close();
    if (this.reportTimer) clearInterval(this.reportTimer);
    this.metrics?.close();
    this.runtime?.stop();
    try {
      this.agent?.close();
    } catch (e) {
      this.log('warn', 'closing ports failed', { error: (e as Error).message });
    }
    for (const ns of this.createdNetns) {
      try {
        netdev.deleteNetns(ns, { ifExists: true });
      } catch (e) {
        this.log('warn', 'could not delete a namespace', { netns: ns, error: (e as Error).message });
      }
    }
    try {
      rmSync(join(this.o.stateDir, 'run', `${this.o.node}.json`), { force: true });
    } catch {
      /* best effort */
    }
    this.log('info', 'agent stopped');
  }
}

function portCounters(p: Port): Record<string, number> | null {
  const c = (p as { counters?: { snapshot(): Record<string, number> } }).counters;
  return c ? c.snapshot() : null;
}
