/**
 * `egress agent`: one node's agent process on real devices. It reads the store (state directory), creates the
 * node's uplink TAP on the segment and one TUN per local pod in the pod's namespace, runs the datapath on them
 * (engine/agent AgentRuntime), runs the control plane of this node (engine/policy syncNode: schedule, hosted
 * egress IPs, status file, events), announces newly hosted egress IPs, and reports itself in
 * `<state>/run/<node>.json` every second (counters, conntrack, owned IPs, pods, membership). Logs are JSON
 * lines on stderr. SIGTERM/SIGINT remove everything it created.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Server } from 'node:http';
import { Faults } from '../../engine/agent/faults.js';
import { AgentRuntime } from '../../engine/agent/runtime.js';
import { NodeRunner, type TunnelAuthMode } from '../../engine/agent/node-runner.js';
import type { ConnSync } from '../../engine/agent/conn-sync.js';
import { SNAPSHOT_BYTES_PER_CONN } from '../../engine/agent/conn-snapshot.js';
import { cluster, policy, Slab, wire, type Port } from '../../engine/index.js';
import { netdev, openPodTunQueues, openUplinkQueues, podNetnsName, TapPort, type TunIo } from '../../tun/index.js';
import type { NodeDatapathConfig } from '../../engine/stages/index.js';
import { DatapathWorkers } from './workers.js';
import { UserError } from '../errors.js';
import { ConnectionSurveys } from './connections.js';
import { LOG_LEVELS, logLine, type LogLevel } from './log.js';
import { LoopDelay } from './loop-delay.js';
import { MetricsCache, serveMetrics, type MetricsSnapshot, type Readiness } from './metrics.js';

export interface AgentOptions {
  node: string;
  stateDir: string;
  /** Namespace holding the segment's bridge (the TAP moves there). */
  segmentNetns?: string;
  bridge?: string;
  metricsPort?: number;
  /** Address the metrics endpoint listens on (default 127.0.0.1). */
  metricsAddress?: string;
  /** The cluster key file (default <state-dir>/cluster.key). */
  keyFile?: string;
  /** The cluster key in hex, from $EGRESS_KEY (tests only); wins over keyFile. */
  keyHex?: string;
  /** `--insecure-state-dir`: no owner/mode checks of the state directory's files. */
  insecureStateDir?: boolean;
  /**
   * A shared store other than the state directory (etcd: `--store etcd://…`). Objects, status, events and the
   * cluster key then come from it; the run file stays in the local state directory (docs/store.md).
   */
  store?: policy.store.Store;
  intervalMs?: number;
  deadAfterMs?: number;
  /** Log lines at or above this level. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Packets per TUN/TAP read or write crossing (ports' batchSize; default 64). */
  batch?: number;
  /** Reads per readiness callback (AgentRuntime budget; default 16). */
  budget?: number;
  /** Packets per pipeline round (default 256). */
  round?: number;
  /** Offloads: pod TUNs with TSO/USO and partial checksums, a vnet TAP uplink (tun/offload.ts). */
  offload?: boolean;
  /** I/O backend of the TUN/TAP ports (`--io`; default rw). */
  io?: TunIo;
  /** With offload: ask the uplink for UDP-tunnel GSO (default true; falls back, logged once, when refused). */
  tunnelGso?: boolean;
  /**
   * txqueuelen of the pod TUNs and the uplink TAP: packets the kernel may queue for the agent (default
   * DEFAULT_QUEUE_LEN).
   */
  queueLen?: number;
  /** `--tunnel-auth`: per-packet Geneve authentication (docs/tunnel-auth.md; default off). */
  tunnelAuth?: TunnelAuthMode;
  /** `--conn-sync`: connection-state replication to each owned egress IP's standby (docs/conntrack-sync.md). */
  connSync?: boolean;
  /** Connections the translation table holds (`--conntrack-max`, default 65536). */
  conntrackMax?: number;
  /** Connections per pod in either table (`--conntrack-max-per-pod`; 0 or absent: no limit). */
  conntrackMaxPerPod?: number;
  /** Accept TCP segments outside the tracked window (`--conntrack-tcp-liberal`). */
  conntrackTcpLiberal?: boolean;
  /**
   * `--workers N`: datapath workers, one per queue of multi-queue devices (docs/agent.md "Workers"; default 1, the
   * main thread alone).
   */
  workers?: number;
}

/** The metrics endpoint listens on loopback unless --metrics-address says otherwise (docs/security.md). */
export const DEFAULT_METRICS_ADDRESS = '127.0.0.1';

/**
 * Queue of the agent's devices (txqueuelen of pod TUNs and the uplink TAP; the kernel's defaults are 500 and
 * 1000). Like a NIC's receive ring, it must absorb the agent's pauses (garbage collection, housekeeping: a few
 * ms): 500 packets are 2.5 ms at 200 kpps. bench/e2e, local SNAT, 64 B: NDR 129-173 kpps at 500, 219-284 at
 * 1000, 331-333 (= the maximum receive rate) at 4096.
 */
export const DEFAULT_QUEUE_LEN = 4096;

export class AgentProcess {
  private readonly log: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
  private runner: NodeRunner | null = null;
  private runtime: AgentRuntime | null = null;
  private watch: policy.store.StoreWatch | null = null;
  private reportTimer: NodeJS.Timeout | null = null;
  private metrics: Server | null = null;
  private readonly createdNetns: string[] = [];
  private readonly started = new Date();
  private stopped = false;
  private readonly clock = () => performance.now();
  /** Store files this agent could not use (or write): counted, logged once each; the run file and metrics show it. */
  readonly storeHealth: policy.store.StoreHealth;
  private readonly files: policy.store.StoreOptions;
  /** Exceptions caught in the agent's timers, watchers and callbacks (docs/agent.md "Faults"). */
  readonly faults: Faults;
  /** Per-connection report parts, from walks cut into slices (cli/agent/connections.ts). */
  private surveys: ConnectionSurveys | null = null;
  /** Event-loop delay, one window per report (cli/agent/loop-delay.ts). */
  private loopDelay: LoopDelay | null = null;
  /** Datapath workers 1..N-1 (null with one). */
  private workers: DatapathWorkers | null = null;

  constructor(private readonly o: AgentOptions) {
    const min = LOG_LEVELS[o.logLevel ?? 'info'];
    this.log = (level, msg, fields = {}) => {
      if (LOG_LEVELS[level] >= min) process.stderr.write(logLine(level, o.node, msg, fields));
    };
    this.storeHealth = new policy.store.StoreHealth((p) =>
      this.log(
        'warn',
        p.kind === 'write' ? 'could not write to the store' : 'store file not used; keeping the last good state',
        { file: p.file, error: p.message },
      ),
    );
    this.files = { health: this.storeHealth, ...(o.insecureStateDir ? { insecure: true } : {}) };
    this.faults = new Faults((where, e, f) =>
      this.log('error', 'fault caught; the agent goes on (further faults of this kind only counted)', {
        where,
        error: e.message,
        stack: e.stack?.split('\n').slice(0, 6).join('\n'),
        ...f,
      }),
    );
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
    const shared = this.o.store;
    let state: policy.ClusterState;
    if (shared) {
      state = (await shared.load()).state;
      if (state.generation === 0)
        throw new UserError(`no applied manifests in ${shared.url}: run \`egress apply --store … -f …\` first`);
    } else {
      if (!existsSync(join(stateDir, policy.store.OBJECTS_FILE)))
        throw new UserError(
          `no applied manifests in ${stateDir}: run \`egress apply -f …\` first (or pass --state-dir)`,
        );
      state = policy.store.loadState(stateDir, this.files);
    }
    if (!state.nodes.has(node))
      throw new UserError(
        `Node ${node} is not in the applied manifests (${[...state.nodes.keys()].join(', ') || 'none'})`,
      );
    const keyFile = this.o.keyFile ?? join(stateDir, policy.store.KEY_FILE);
    const sharedKey =
      shared instanceof policy.store.EtcdStore && this.o.keyHex === undefined && this.o.keyFile === undefined
        ? await shared.readClusterKey()
        : null;
    const key =
      this.o.keyHex !== undefined
        ? cluster.keyFromHex(this.o.keyHex, '$EGRESS_KEY (for tests only)')
        : sharedKey
          ? cluster.keyFromHex(sharedKey.toString('hex'), `${shared!.url} cluster.key`)
          : cluster.loadKeyFile(keyFile);
    if (!key.ok)
      throw new UserError(
        `no usable cluster key (${key.error}): every agent needs the same key to join; \`egress init\` or the first \`egress apply\` creates ${join(stateDir, policy.store.KEY_FILE)}, or pass --key-file`,
      );
    const cfgProblem = cluster.membershipConfigProblem({
      self: { name: node, ip: 0 },
      peers: [],
      key: key.key,
      incarnation: 1,
      ...(this.o.intervalMs !== undefined ? { intervalMs: this.o.intervalMs } : {}),
      ...(this.o.deadAfterMs !== undefined ? { deadAfterMs: this.o.deadAfterMs } : {}),
    });
    if (cfgProblem) throw new UserError(cfgProblem);
    const view0 = policy.syncNode({ state, node, membership: new Set(state.nodes.keys()), now: new Date() }).view;
    if (!view0.node) throw new UserError(`Node ${node} has no IPv4 transport address`);
    const slab = new Slab({ slots: 8192 });
    const nWorkers = this.o.workers ?? 1;
    let uplink: Port;
    let uplinkQueues: TapPort[];
    try {
      [uplink, ...uplinkQueues] = openUplinkQueues(
        {
          node,
          mtu: view0.node.mtu,
          ...(this.o.batch !== undefined ? { batchSize: this.o.batch } : {}),
          ...(this.o.offload === true ? { vnetHdr: true } : {}),
          ...(this.o.io !== undefined ? { io: this.o.io } : {}),
          ...(this.o.offload === true && this.o.tunnelGso !== false ? { tunnelGso: true } : {}),
          queueLen: this.o.queueLen ?? DEFAULT_QUEUE_LEN,
          ...(this.o.segmentNetns !== undefined ? { netns: this.o.segmentNetns } : {}),
          ...(this.o.bridge !== undefined ? { bridge: this.o.bridge } : {}),
        },
        nWorkers,
      ) as [TapPort, ...TapPort[]];
    } catch (e) {
      throw new UserError(`cannot create the uplink: ${(e as Error).message}`);
    }
    if (uplink instanceof TapPort && uplink.tunnelGsoProblem !== null)
      this.log('warn', 'tunnel GSO unavailable: Geneve super-packets are segmented in software', {
        reason: uplink.tunnelGsoProblem,
      });
    else if (uplink instanceof TapPort && uplink.tunnelGso) this.log('info', 'tunnel GSO on the uplink', {});
    // The authentication option takes 24 more bytes of every tunnelled packet (docs/tunnel-auth.md).
    const tunnelAuth = this.o.tunnelAuth ?? 'off';
    const podMtu =
      tunnelAuth === 'off' ? view0.node.podMtu : Math.min(view0.node.podMtu, view0.node.mtu - wire.geneveAuth.OVERHEAD);
    const conntrack = {
      ...(this.o.conntrackMax !== undefined ? { maxConnections: this.o.conntrackMax } : {}),
      ...(this.o.conntrackMaxPerPod ? { perHostLimit: this.o.conntrackMaxPerPod } : {}),
      ...(this.o.conntrackTcpLiberal ? { tcpLiberal: true } : {}),
    };
    const workers =
      nWorkers > 1
        ? new DatapathWorkers({
            count: nWorkers,
            node,
            slabSlots: 8192,
            batch: this.o.batch ?? 64,
            budget: this.o.budget ?? 16,
            tickMs: 10,
            expireBudget: 4096,
            options: {
              ...(this.o.round !== undefined ? { burst: this.o.round } : {}),
              conntrack,
              controlPort: cluster.HEARTBEAT_PORT,
              snatFullyRandom: view0.node.snatFullyRandomPorts ?? false,
            },
            clock: this.clock,
            log: this.log,
            fault: (where, e) => this.faults.fault(where, e),
            guard: (where, f) => this.faults.guard(where, f),
          })
        : null;
    this.workers = workers;
    if (workers) this.log('info', 'uplink and pod devices are multi-queue', { queues: nWorkers });
    this.runner = new NodeRunner({
      name: node,
      state,
      slab,
      uplink,
      key: key.key,
      incarnation: cluster.newIncarnation(Date.now()),
      nextIncarnation: (last) => Math.max(last + 1, cluster.newIncarnation(Date.now())),
      now: this.clock(),
      wall: () => new Date(),
      ...(this.o.intervalMs !== undefined ? { intervalMs: this.o.intervalMs } : {}),
      ...(this.o.deadAfterMs !== undefined ? { deadAfterMs: this.o.deadAfterMs } : {}),
      datapath: {
        ...(this.o.round !== undefined ? { burst: this.o.round } : {}),
        conntrack: workers ? { ...conntrack, portShards: [nWorkers, 0] } : conntrack,
      },
      ...(workers ? { onConfigure: (cfg: NodeDatapathConfig) => workers.configure(cfg) } : {}),
      tunnelAuth,
      ...(this.o.connSync ? { connSync: true } : {}),
      status: shared
        ? this.sharedStatus(shared)
        : {
            files: () => policy.store.readNodeStatuses(stateDir, this.files),
            write: (f) =>
              this.storeWrite(join(stateDir, policy.store.STATUS_DIR), () =>
                policy.store.writeNodeStatus(stateDir, f, this.files),
              ),
            events: (ev) =>
              this.storeWrite(join(stateDir, policy.store.EVENTS_FILE), () =>
                policy.store.appendEvents(stateDir, ev, this.files),
              ),
          },
      log: this.log,
      pods: {
        open: (pod, ip6) => this.openPod(pod.key, wire.ipv4.addrToString(pod.ip), ip6, podMtu),
        open6: (pod) => this.openPod(pod.key, null, pod.ip, podMtu),
        close: (key, port) => {
          port.close();
          this.log('info', 'pod port removed', { pod: key });
        },
      },
      onPodPort: (key, member, port, added) => {
        workers?.podPort(key, member, added);
        if (!this.runtime) return;
        if (added) this.runtime.watchPod(member, port);
        else this.runtime.unwatchPod(port);
      },
    });
    const runner = this.runner;
    // Before the datapath runs (so before any egress IP is reclaimed or announced): the connections the last
    // agent of this Node left in its restart snapshot.
    if (runner.sync) this.restoreConnections(runner.sync);
    this.runtime = new AgentRuntime(runner.agent, {
      clock: this.clock,
      onTick: (now) => {
        runner.tick(now);
        workers?.tick(now);
      },
      faults: this.faults,
      ...(this.o.budget !== undefined ? { budget: this.o.budget } : {}),
    });
    this.runtime.start();
    workers?.start(runner.agent.datapath, uplinkQueues);
    this.loopDelay = new LoopDelay(this.clock);
    const st0 = runner.agent.datapath.state;
    this.surveys = new ConnectionSurveys(st0.ct, st0.ctIn, {
      now: this.clock,
      onFault: (e) => this.faults.fault('connection-survey', e),
    });
    const onState = this.faults.guard('store-watch', (s: policy.ClusterState) => runner.setState(s, this.clock()));
    this.watch = shared
      ? shared.watch(onState, {
          health: this.storeHealth,
          onConnection: this.faults.guard('store-connection', (c: boolean) => {
            if (c === this.storeConnected) return;
            this.storeConnected = c;
            this.log(
              c ? 'info' : 'warn',
              c ? 'store: connected' : 'store: disconnected; forwarding on the last state',
              {
                store: shared.url,
              },
            );
          }),
        })
      : policy.store.watchStore(stateDir, onState, this.files);
    if (this.o.metricsPort !== undefined) {
      const address = this.o.metricsAddress ?? DEFAULT_METRICS_ADDRESS;
      const cache = new MetricsCache(() => this.safeMetricsSnapshot(), this.clock, 1000, {
        node: this.o.node,
        defaults: true,
      });
      this.metrics = await serveMetrics(this.o.metricsPort, cache, address, () => this.readiness());
      this.log('info', 'metrics served', { address, port: this.o.metricsPort });
    }
    policy.store.ensureRunDir(stateDir, this.files);
    this.report();
    this.reportTimer = setInterval(
      this.faults.guard('report', () => this.report()),
      1000,
    );
    this.log('info', 'agent started', {
      pid: process.pid,
      transportIp: wire.ipv4.addrToString(view0.node.transportIp),
      mac: wire.ethernet.macToString(runner.agent.mac),
      pods: view0.localPods.length,
      key: key.source,
      tunnelAuth,
    });
  }

  /**
   * Load `run/<node>.conns` (docs/conntrack-sync.md "Agent restart"), install its connections, delete it. A file
   * it cannot use is counted by reason, logged once and deleted; it never stops the start.
   */
  private restoreConnections(sync: ConnSync): void {
    const { stateDir, node } = this.o;
    let text: string | { oversize: number } | null;
    try {
      text = policy.store.readConnSnapshot(stateDir, node, maxSnapshotBytes(sync), this.files);
      if (text === null) return;
    } catch (e) {
      this.log('warn', 'connection snapshot not readable: ignored', { error: (e as Error).message });
      text = null;
    }
    const r = sync.restoreSnapshot(text, this.clock(), Date.now());
    if (r.ok)
      this.log('info', 'connections restored from the restart snapshot', {
        installed: r.installed,
        notInstalled: r.notInstalled,
        ageMs: r.elapsedMs,
      });
    else this.log('warn', 'connection snapshot ignored', { reason: r.reason, detail: r.detail });
    try {
      policy.store.removeConnSnapshot(stateDir, node);
    } catch (e) {
      this.log('warn', 'could not remove the connection snapshot', { error: (e as Error).message });
    }
  }

  /** SIGTERM with --conn-sync: write the restart snapshot (after the handover to the standbys). */
  private saveConnections(sync: ConnSync): void {
    try {
      policy.store.ensureRunDir(this.o.stateDir, this.files);
      const s = sync.snapshotText(this.clock(), Date.now());
      policy.store.writeConnSnapshot(this.o.stateDir, this.o.node, s.text);
      this.log('info', 'connection snapshot written', { connections: s.connections, bytes: s.text.length });
    } catch (e) {
      this.log('warn', 'could not write the connection snapshot', { error: (e as Error).message });
    }
  }

  /** Whether the shared store answers (true for the state directory). */
  storeConnected = true;
  private sharedStatuses: policy.NodeStatusFile[] = [];
  private statusPoll: NodeJS.Timeout | null = null;

  /**
   * Status on a shared store, without ever making the agent's loop wait for it: the statuses are read in the
   * background every second (the runner gets the newest read), writes and events are sent without waiting and a
   * failure is counted once (the `write` problem), resolved on the next success.
   */
  private sharedStatus(st: policy.store.Store) {
    const track = (what: string, p: Promise<void>) =>
      p.then(
        () => this.storeHealth.resolved(what),
        (e: unknown) => this.storeHealth.problem('write', what, (e as Error).message),
      );
    let reading = false;
    const poll = () => {
      if (reading) return;
      reading = true;
      st.readNodeStatuses(this.storeHealth)
        .then((f) => {
          this.sharedStatuses = f;
        })
        .catch(() => {
          /* disconnected: the last statuses stay; the watch reports the outage */
        })
        .finally(() => {
          reading = false;
        });
    };
    poll();
    this.statusPoll = setInterval(poll, 1000);
    this.statusPoll.unref();
    return {
      files: () => this.sharedStatuses,
      write: (f: policy.NodeStatusFile) => {
        // our own status is seen at once, like a status file written locally
        this.sharedStatuses = [...this.sharedStatuses.filter((x) => x.node !== f.node), f];
        void track(`${st.url} status/${f.node}`, st.writeNodeStatus(f));
      },
      events: (ev: readonly policy.EgressEvent[]) => void track(`${st.url} events`, st.appendEvents(ev)),
    };
  }

  /** A status or events write; a failure (ENOSPC, EACCES) is counted and logged once, never thrown into a timer. */
  private storeWrite(what: string, write: () => void): void {
    try {
      write();
      this.storeHealth.resolved(what);
    } catch (e) {
      if (!(e instanceof policy.store.StoreError)) throw e;
      this.storeHealth.problem('write', what, e.message);
    }
  }

  private openPod(key: string, ip: string | null, ip6: string | null, mtu: number): Port {
    const ns = podNetnsName(key);
    if (!netdev.listNetns().includes(ns)) {
      netdev.addNetns(ns);
      this.createdNetns.push(ns);
    }
    const [port, ...queues] = openPodTunQueues(
      {
        key,
        netns: ns,
        ip,
        ip6,
        mtu,
        ...(this.o.batch !== undefined ? { batchSize: this.o.batch } : {}),
        ...(this.o.offload === true ? { offload: true } : {}),
        ...(this.o.io !== undefined ? { io: this.o.io } : {}),
        queueLen: this.o.queueLen ?? DEFAULT_QUEUE_LEN,
      },
      this.o.workers ?? 1,
    );
    if (this.workers) this.workers.podOpened(key, queues);
    this.log('info', 'pod port created', {
      pod: key,
      netns: ns,
      ...(ip !== null ? { ip } : {}),
      ...(ip6 !== null ? { ip6 } : {}),
      mtu,
    });
    return port!;
  }

  /** A snapshot for a scrape; a fault in it is counted and the scrape gets the faults alone. */
  private safeMetricsSnapshot(): MetricsSnapshot {
    try {
      return this.metricsSnapshot();
    } catch (e) {
      this.faults.fault('metrics', e);
      return {
        node: this.o.node,
        stages: {},
        conntrackEntries: 0,
        conntrackCounters: {},
        snatPortsUsed: {},
        egressIps: [],
        pods: 0,
        membersAlive: 0,
        faults: this.faults.snapshot(),
      };
    }
  }

  /**
   * `/readyz`: the state loaded (the runner exists) and membership settled. A store outage does not make the agent
   * unready: it forwards on the last state and keeps failing over (`egress_store_connected` says it).
   */
  readiness(): Readiness {
    const r = this.runner;
    const reasons: string[] = [];
    if (!r) reasons.push('the state is not loaded yet');
    else if (!r.membership.settled()) reasons.push('membership has not settled');
    return { ready: reasons.length === 0, reasons };
  }

  private metricsSnapshot(): MetricsSnapshot {
    const r = this.runner!;
    const a = r.agent;
    const st = a.datapath.state;
    const hosted = r.control.hosted();
    const owned: Record<string, boolean> = {};
    for (const ip of a.view.egressIpOwner.keys()) owned[wire.ipv4.addrToString(ip)] = false;
    for (const ip of hosted) owned[wire.ipv4.addrToString(ip)] = true;
    const peers: Record<string, 'grace' | 'alive' | 'dead'> = {};
    for (const p of r.membership.peers()) peers[p.name] = p.state;
    const w = this.workers;
    const stages = a.datapath.pipeline.snapshot();
    return {
      node: this.o.node,
      stages: w ? w.sumStages(stages) : stages,
      conntrackEntries: st.ct.size + (w ? w.conntrackSize() : 0),
      conntrackMax: st.ct.maxConnections,
      conntrackCounters: st.ct.counterSnapshot(),
      // from the last finished survey pass: a scrape never walks the table
      snatPortsUsed: this.surveys?.snatPortsUsed() ?? {},
      snatConnections: this.surveys?.snatConnections() ?? {},
      egressIps: hosted.map(wire.ipv4.addrToString),
      egressIpOwned: owned,
      pods: a.pods().size,
      membersAlive: r.membership.alive().size,
      membershipSettled: r.membership.settled(),
      peers,
      storeProblems: this.storeHealth.snapshot().problems,
      faults: this.faults.snapshot(),
      storeConnected: this.storeConnected,
      ...(this.loopDelay ? { loopDelay: this.loopDelay.snapshot() } : {}),
      ...(r.sync ? { sync: { counters: r.sync.snapshot(), standbys: r.sync.standbyReport() } } : {}),
    };
  }

  /** Write `<state>/run/<node>.json`. */
  report(): void {
    const r = this.runner;
    if (!r) return;
    const a = r.agent;
    const st = a.datapath.state;
    const now = this.clock();
    // Start the next pass of the connection walk (it runs in slices after this report) and report the last one.
    this.surveys?.tick();
    const details = this.surveys?.details() ?? null;
    const loop = this.loopDelay?.roll() ?? null;
    const file = {
      node: this.o.node,
      pid: process.pid,
      started: this.started.toISOString(),
      updated: new Date().toISOString(),
      mac: wire.ethernet.macToString(a.mac),
      transportIp: a.view.node ? wire.ipv4.addrToString(a.view.node.transportIp) : null,
      egressIps: r.control.hosted().map(wire.ipv4.addrToString),
      // the IPv6 egress IPs hosted (the view's placement: no handover delay on the IPv6 side, docs/ipv6.md §2.e)
      ...(st.tables.v6 !== null ? { egressIps6: a.view.v6.localEgressIps.map((l) => l.ip) } : {}),
      withheld: [...a.withholding].map(wire.ipv4.addrToString),
      holdingArp: a.datapath.state.holdEgress,
      members: [...r.membership.alive()].sort(),
      // Connection-state replication (docs/conntrack-sync.md): the standby of each owned IP, and counters.
      sync: r.sync ? { standbys: r.sync.standbyReport(), counters: r.sync.snapshot() } : null,
      membership: {
        incarnation: r.membership.incarnation,
        peers: r.membership.peers(),
        counters: r.membership.counters.snapshot(),
      },
      pods: [...a.pods()].map(([key, p]) => ({ key, netns: podNetnsName(key), port: p.port.name, member: p.member })),
      runtime: this.runtime?.stats ?? null,
      // With --workers N: every worker's counters added to the main thread's (it is worker 0), and each one's
      // packets, connections and handoff counters.
      stages: this.workers ? this.workers.sumStages(a.datapath.pipeline.snapshot()) : a.datapath.pipeline.snapshot(),
      workers: this.workers
        ? this.workers.report(this.runtime?.stats.packets ?? 0, st.ct.size, this.workers.mainHandoffCounters())
        : null,
      conntrack: {
        size: st.ct.size + (this.workers ? this.workers.conntrackSize() : 0),
        counters: st.ct.counterSnapshot(),
        // at most SAMPLE_PER_TABLE connections of each table, from the last finished walk (null before the first)
        entries: details?.entries ?? [],
        inbound: details?.inbound ?? [],
        confirmed: details?.confirmed ?? null,
        detailsUpdated: details?.updated ?? null,
        detailsSlices: details?.slices ?? null,
      },
      snat: details?.snat ?? [],
      // rate meters of hosted egress IPs with spec.bandwidth (tokens: bits left in the bucket)
      meters: st.meters.snapshot().map((m) => ({ ...m, ip: wire.ipv4.addrToString(m.ip) })),
      eventLoopDelay: loop,
      neighbors: st.neigh.dump(now).map((e) => ({
        ip: wire.ipv4.addrToString(e.ip),
        mac: e.state === 'incomplete' ? null : wire.ethernet.macToString(wire.ethernet.macFromInts(e.macHi, e.macLo)),
        state: e.state,
        queued: e.queued,
      })),
      // the IPv6 neighbour table (NDP, engine/stages/neighbor6.ts), on a node with an IPv6 side
      ...(st.tables.v6 !== null
        ? {
            neighbors6: st.neigh6.dump(now).map((e) => ({
              ip: e.ip,
              mac:
                e.state === 'incomplete'
                  ? null
                  : wire.ethernet.macToString(wire.ethernet.macFromInts(e.macHi, e.macLo)),
              state: e.state,
              queued: e.queued,
            })),
          }
        : {}),
      ports: {
        uplink: portCounters(a.uplink),
      },
      faults: this.faults.snapshot(),
      detached: r.detached,
      store: {
        ...this.storeHealth.snapshot(),
        connected: this.storeConnected,
        url: this.o.store?.url ?? `dir:${this.o.stateDir}`,
      },
    };
    try {
      // Replaced atomically (a fresh temp file, rename), not synced: it is rewritten every second and an fsync
      // would stall the loop.
      policy.store.writeRunFile(this.o.stateDir, this.o.node, JSON.stringify(file, null, 1) + '\n');
    } catch (e) {
      this.log('warn', 'could not write the run file', { error: (e as Error).message });
    }
  }

  /** Remove everything this agent created; idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.watch?.close();
    if (this.statusPoll) clearInterval(this.statusPoll);
    this.o.store?.close();
    if (this.reportTimer) clearInterval(this.reportTimer);
    this.surveys?.stop();
    this.loopDelay?.stop();
    this.metrics?.close();
    try {
      this.runner?.leave(this.clock());
    } catch {
      /* best effort */
    }
    if (this.runner?.sync && !this.runner.detached) this.saveConnections(this.runner.sync);
    this.runtime?.stop();
    this.workers?.stop();
    try {
      this.runner?.agent.close();
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
    if (this.runtime) this.log('info', 'agent stopped');
  }
}

/** The largest restart snapshot the table could need (conn-snapshot.ts SNAPSHOT_BYTES_PER_CONN per connection). */
function maxSnapshotBytes(sync: ConnSync): number {
  return (sync.tableSize + 1) * SNAPSHOT_BYTES_PER_CONN;
}

function portCounters(p: Port): Record<string, number> | null {
  const c = (p as { counters?: { snapshot(): Record<string, number> } }).counters;
  return c ? c.snapshot() : null;
}
