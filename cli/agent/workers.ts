/**
 * The main thread's side of `egress agent --workers N` (docs/agent.md "Workers"): the main thread is worker 0
 * (its NodeRunner's datapath, with the control plane, membership, heartbeats and the store beside it) and starts
 * N − 1 datapath workers (datapath-worker.ts), each on queue k of the multi-queue uplink TAP and pod TUNs. It
 * creates the handoff rings (one per ordered pair), hands each worker its fds, and sends every configuration,
 * peer pin, learned neighbour (ARP and NDP, and the addresses being resolved: worker-neighbors.ts) and ARP hold
 * to all of them; heartbeats a worker receives come back here. The workers' counters arrive every half second and
 * are added to the main thread's in the run file and metrics.
 */
import { Worker } from 'node:worker_threads';
import type { DatapathOptions, NodeDatapath } from '../../engine/agent/datapath.js';
import { HandoffPort, HandoffRing } from '../../engine/io/index.js';
import type { NodeDatapathConfig } from '../../engine/stages/index.js';
import type { TapPort, TunPort } from '../../tun/index.js';
import { NeighborShare } from './worker-neighbors.js';
import type { FromWorker, ToWorker, WorkerCounters, WorkerInit } from './worker-protocol.js';

/** Packets per handoff ring. */
export const HANDOFF_RING_SLOTS = 4096;

export interface WorkerSetOptions {
  count: number;
  node: string;
  slabSlots: number;
  batch: number;
  budget: number;
  tickMs: number;
  expireBudget: number;
  /** The datapath options of every worker (`conntrack.portShards` is set per worker). */
  options: DatapathOptions;
  clock: () => number;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  fault: (where: string, e: unknown) => void;
  guard: <A extends unknown[]>(where: string, f: (...a: A) => void) => (...a: A) => void;
}

type Stages = Record<string, { exits: Record<string, number>; counters: Record<string, number> }>;

/** Adds `b`'s counters into `a` (the same stage graph: every worker runs the worker-set datapath). */
export function addStages(a: Stages, b: Stages): Stages {
  for (const [name, s] of Object.entries(b)) {
    const t = (a[name] ??= { exits: {}, counters: {} });
    for (const [k, v] of Object.entries(s.exits)) t.exits[k] = (t.exits[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.counters)) t.counters[k] = (t.counters[k] ?? 0) + v;
  }
  return a;
}

/** Adds counter records. */
export function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
  return a;
}

export class DatapathWorkers {
  /** The last counters of each worker (1..N-1). */
  readonly counters = new Map<number, WorkerCounters>();
  private readonly o: WorkerSetOptions;
  private workers: Array<Worker | null> = [];
  private readonly rings: Array<Array<SharedArrayBuffer | null>> = [];
  private config: NodeDatapathConfig | null = null;
  private readonly pins = new Map<number, [number, number, number]>();
  private readonly podQueues = new Map<string, TunPort[]>();
  private readonly podMembers = new Map<string, number>();
  private readonly closing = new Map<string, { ports: TunPort[]; waiting: number }>();
  private uplinkQueues: TapPort[] = [];
  private main: NodeDatapath | null = null;
  private neighbors: { 4: NeighborShare; 6: NeighborShare } | null = null;
  private hold = false;
  private readonly mainHandoff: HandoffPort[] = [];
  private started = false;

  constructor(o: WorkerSetOptions) {
    this.o = o;
    for (let i = 0; i < o.count; i++) {
      const row: Array<SharedArrayBuffer | null> = [];
      for (let j = 0; j < o.count; j++)
        row.push(i === j ? null : new HandoffRing({ slots: HANDOFF_RING_SLOTS, slotSize: 2048 }).sab);
      this.rings.push(row);
    }
  }

  /** Datapath options of worker `k`. */
  optionsOf(k: number): DatapathOptions {
    return { ...this.o.options, conntrack: { ...(this.o.options.conntrack ?? {}), portShards: [this.o.count, k] } };
  }

  /** Every configuration the main datapath takes (NodeAgent onConfigure). */
  configure(cfg: NodeDatapathConfig): void {
    this.config = cfg;
    this.broadcast({ type: 'config', config: cfg });
  }

  /** A peer pin of the main datapath (NodeDatapath.onPin). */
  pin(ip: number, macHi: number, macLo: number): void {
    this.pins.set(ip, [ip, macHi, macLo]);
    this.broadcast({ type: 'pin', ip, macHi, macLo });
  }

  /** The queues 1..N-1 of a pod's TUN, before its port joins the group. */
  podOpened(key: string, queues: TunPort[]): void {
    this.podQueues.set(key, queues);
  }

  /** A pod's port joined (added) or left the pods group at `member`. */
  podPort(key: string, member: number, added: boolean): void {
    const q = this.podQueues.get(key);
    if (!q) return;
    if (added) {
      this.podMembers.set(key, member);
      if (this.started)
        for (let k = 1; k < this.o.count; k++)
          this.post(k, { type: 'pod-add', key, member, fd: q[k - 1]!.fileDescriptor, ifname: q[k - 1]!.ifname });
      return;
    }
    this.podMembers.delete(key);
    this.podQueues.delete(key);
    const live = this.workers.filter((w) => w !== null).length;
    if (!this.started || live === 0) {
      for (const p of q) p.close();
      return;
    }
    // The fds are closed once every worker has stopped using them (an fd number reused early would be read by a
    // worker as the old pod's).
    this.closing.set(key, { ports: q, waiting: live });
    this.broadcast({ type: 'pod-remove', key, member });
  }

  /**
   * Start the workers: `main` is worker 0's datapath (the runner's), `uplinkQueues` the uplink's queues 1..N-1.
   */
  start(main: NodeDatapath, uplinkQueues: TapPort[]): void {
    this.main = main;
    this.uplinkQueues = uplinkQueues;
    const o = this.o;
    for (let j = 1; j < o.count; j++) {
      const hp = new HandoffPort({
        name: `handoff:0<->${j}`,
        tx: new HandoffRing(this.rings[0]![j]!),
        rx: new HandoffRing(this.rings[j]![0]!),
        batchSize: o.batch,
      });
      main.workers!.set(j, hp);
      this.mainHandoff.push(hp);
      hp.onReadable(
        o.guard('handoff', () => {
          const now = o.clock();
          for (let k = 0; k < o.budget; k++) if (main.pollWorker(j, now) === 0) break;
        }),
      );
    }
    main.onPin = (ip, hi, lo) => this.pin(ip, hi, lo);
    this.neighbors = { 4: new NeighborShare(main.state.neigh, 4), 6: new NeighborShare(main.state.neigh6, 6) };
    for (const f of [4, 6] as const) {
      this.neighbors[f].onLearned = (row) => this.broadcast({ type: 'neighbor', family: f, row });
      this.neighbors[f].onSolicit = (addr, vlan) => this.broadcast({ type: 'solicit', family: f, addr, vlan });
    }
    this.hold = main.state.holdEgress;
    const url = new URL('./datapath-worker.js', import.meta.url);
    this.workers = [null];
    for (let k = 1; k < o.count; k++) {
      const up = uplinkQueues[k - 1]!;
      const init: WorkerInit = {
        index: k,
        count: o.count,
        node: o.node,
        slabSlots: o.slabSlots,
        batch: o.batch,
        budget: o.budget,
        tickMs: o.tickMs,
        expireBudget: o.expireBudget,
        options: this.optionsOf(k),
        config: this.config!,
        uplink: { fd: up.fileDescriptor, ifname: up.ifname },
        pods: [...this.podMembers].map(([key, member]) => {
          const q = this.podQueues.get(key)![k - 1]!;
          return { key, member, fd: q.fileDescriptor, ifname: q.ifname };
        }),
        rings: this.rings,
        neighbors: { 4: this.neighbors[4].rows(), 6: this.neighbors[6].rows() },
        pins: [...this.pins.values()],
        holdEgress: this.hold,
      };
      const w = new Worker(url, { workerData: init, name: `datapath-${k}` });
      w.on(
        'message',
        o.guard('worker-message', (m: FromWorker) => this.receive(m)),
      );
      w.on('error', (e) => {
        o.fault(`worker-${k}`, e);
        o.log('error', 'a datapath worker failed: its queues are no longer read', { worker: k, error: e.message });
      });
      w.on('exit', () => {
        this.workers[k] = null;
        for (const [key, c] of this.closing) if (--c.waiting <= 0) this.closeQueues(key);
      });
      this.workers.push(w);
    }
    this.started = true;
    o.log('info', 'datapath workers started', { workers: o.count });
  }

  private receive(m: FromWorker): void {
    const main = this.main!;
    switch (m.type) {
      case 'control':
        main.state.onControl?.(m.src, m.sport, m.payload, 0, m.payload.length, m.macHi, m.macLo);
        break;
      case 'neighbor':
        this.neighbors![m.family].apply(m.row, this.o.clock());
        for (let k = 1; k < this.o.count; k++)
          if (k !== m.index) this.post(k, { type: 'neighbor', family: m.family, row: m.row });
        break;
      case 'solicit':
        this.neighbors![m.family].want(m.addr, m.vlan, this.o.clock());
        for (let k = 1; k < this.o.count; k++)
          if (k !== m.index) this.post(k, { type: 'solicit', family: m.family, addr: m.addr, vlan: m.vlan });
        break;
      case 'counters':
        this.counters.set(m.counters.index, m.counters);
        break;
      case 'pod-closed': {
        const c = this.closing.get(m.key);
        if (c && --c.waiting <= 0) this.closeQueues(m.key);
        break;
      }
      case 'fault': {
        const e = new Error(m.message);
        e.stack = m.stack;
        this.o.fault(`worker-${m.index}:${m.where}`, e);
        break;
      }
      case 'ready':
      case 'stopped':
        break;
    }
  }

  private closeQueues(key: string): void {
    const c = this.closing.get(key);
    if (!c) return;
    this.closing.delete(key);
    for (const p of c.ports) p.close();
  }

  /** The main thread's housekeeping round: neighbours it learned, the ARP hold. */
  tick(now: number): void {
    if (!this.started) return;
    this.neighbors![4].scan(now);
    this.neighbors![6].scan(now);
    const hold = this.main!.state.holdEgress;
    if (hold !== this.hold) {
      this.hold = hold;
      this.broadcast({ type: 'hold', hold });
    }
  }

  /** Counters of the main datapath plus every worker's last report. */
  sumStages(main: Stages): Stages {
    const out = addStages({}, main);
    for (const c of this.counters.values()) addStages(out, c.stages);
    return out;
  }

  /** Per-worker figures for the run file (worker 0 is the main thread). */
  report(mainPackets: number, mainCt: number, handoffMain: Record<string, number>): Array<Record<string, unknown>> {
    const rows: Array<Record<string, unknown>> = [
      { index: 0, packets: mainPackets, conntrack: mainCt, handoff: handoffMain },
    ];
    for (let k = 1; k < this.o.count; k++) {
      const c = this.counters.get(k);
      rows.push({
        index: k,
        running: this.workers[k] !== null && this.workers[k] !== undefined,
        packets: c?.runtime.packets ?? 0,
        conntrack: c?.conntrack.size ?? 0,
        handoff: c?.ports.handoff ?? {},
        uplink: c?.ports.uplink ?? {},
      });
    }
    return rows;
  }

  /** The main thread's handoff counters. */
  mainHandoffCounters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of this.mainHandoff) addCounts(out, h.counters.snapshot());
    return out;
  }

  /** Live connections of every worker but the main thread. */
  conntrackSize(): number {
    let n = 0;
    for (const c of this.counters.values()) n += c.conntrack.size;
    return n;
  }

  private post(k: number, m: ToWorker): void {
    this.workers[k]?.postMessage(m);
  }

  private broadcast(m: ToWorker): void {
    if (!this.started) return;
    for (let k = 1; k < this.o.count; k++) this.post(k, m);
  }

  /** Stop the workers (they stop reading; the fds are the main thread's to close) and close the extra queues. */
  stop(): void {
    for (const h of this.mainHandoff) h.close();
    for (let k = 1; k < this.workers.length; k++) {
      const w = this.workers[k];
      if (!w) continue;
      w.postMessage({ type: 'stop' } satisfies ToWorker);
      void w.terminate();
    }
    for (const q of this.podQueues.values()) for (const p of q) p.close();
    for (const c of this.closing.values()) for (const p of c.ports) p.close();
    for (const p of this.uplinkQueues) p.close();
    this.podQueues.clear();
    this.closing.clear();
  }
}
