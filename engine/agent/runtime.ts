/**
 * The agent's event loop on real devices: a NodeAgent's ports are polled when the kernel says they are
 * readable (libuv readiness, one callback per event), each callback drains up to `budget` bursts (so one busy
 * port cannot starve the others and a small burst does not cost a callback), and a timer runs the housekeeping
 * round every `tickMs`: neighbour queues released or expired, conntrack expiry (bounded work), and whatever the
 * caller hooks in (heartbeats). Time is the caller's monotonic clock in milliseconds.
 */
import type { Port } from '../graph/index.js';
import { Faults } from './faults.js';
import type { NodeAgent } from './node-agent.js';

/** A port that can tell when it is readable (TunPort, TapPort). */
export interface ReadablePort extends Port {
  onReadable(cb: (() => void) | null): void;
}

export function isReadable(p: Port): p is ReadablePort {
  return typeof (p as Partial<ReadablePort>).onReadable === 'function';
}

export interface RuntimeOptions {
  clock: () => number;
  /** Bursts per readiness callback (default 16). */
  budget?: number;
  /** Housekeeping interval (default 10 ms). */
  tickMs?: number;
  /** Conntrack slots examined per housekeeping round (default 4096). */
  expireBudget?: number;
  /** Called every housekeeping round before the datapath tick. */
  onTick?: (now: number) => void;
  /**
   * Where exceptions in the timer and readiness callbacks go (counted, logged once per kind; the loop goes on).
   * Default: a Faults of its own (`runtime.faults`).
   */
  faults?: Faults;
}

export class AgentRuntime {
  private timer: NodeJS.Timeout | null = null;
  private readonly budget: number;
  private readonly watched = new Map<Port, number>();
  readonly stats = { wakeups: 0, polls: 0, packets: 0, ticks: 0 };
  readonly faults: Faults;

  constructor(
    readonly agent: NodeAgent,
    private readonly o: RuntimeOptions,
  ) {
    this.budget = o.budget ?? 16;
    this.faults = o.faults ?? new Faults();
  }

  /** Start polling the uplink, the pods already there, and the housekeeping timer. */
  start(): void {
    const up = this.agent.uplink;
    if (isReadable(up)) up.onReadable(this.faults.guard('uplink', () => this.drainUplink()));
    for (const [, p] of this.agent.pods()) this.watchPod(p.member, p.port);
    const tick = this.o.tickMs ?? 10;
    this.timer = setInterval(
      this.faults.guard('housekeeping', () => this.tick()),
      tick,
    );
  }

  /** Watch a pod port (the NodeAgent's onPodPort hook calls this). */
  watchPod(member: number, port: Port): void {
    if (!isReadable(port)) return;
    this.watched.set(port, member);
    port.onReadable(this.faults.guard('pod', () => this.drainPod(member)));
  }

  unwatchPod(port: Port): void {
    if (isReadable(port)) port.onReadable(null);
    this.watched.delete(port);
  }

  private lastTickAt = -Infinity;

  /**
   * After a stall (the process was frozen), run the overdue housekeeping before any frame: membership must notice
   * the pause (and hold the egress IPs) before the backlog is processed.
   */
  private catchUp(now: number): void {
    if (now - this.lastTickAt > 5 * (this.o.tickMs ?? 10) + 50) this.faults.run('housekeeping', () => this.tick());
  }

  private drainUplink(): void {
    const dp = this.agent.datapath;
    const now = this.o.clock();
    this.catchUp(now);
    this.stats.wakeups++;
    for (let k = 0; k < this.budget; k++) {
      this.stats.polls++;
      const n = dp.pollUplink(now);
      this.stats.packets += n;
      if (n === 0) break;
    }
  }

  private drainPod(member: number): void {
    const dp = this.agent.datapath;
    const now = this.o.clock();
    this.catchUp(now);
    this.stats.wakeups++;
    for (let k = 0; k < this.budget; k++) {
      this.stats.polls++;
      const n = dp.pollPod(member, now);
      this.stats.packets += n;
      if (n === 0) break;
    }
  }

  /** One housekeeping round now. */
  tick(): void {
    const now = this.o.clock();
    this.lastTickAt = now;
    this.stats.ticks++;
    // The control plane's round (membership, handovers) and the datapath's are contained separately: a fault in
    // one does not skip the other.
    const onTick = this.o.onTick;
    if (onTick) this.faults.run('control', () => onTick(now));
    this.agent.datapath.tick(now, this.o.expireBudget ?? 4096);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const up = this.agent.uplink;
    if (isReadable(up)) up.onReadable(null);
    for (const p of [...this.watched.keys()]) this.unwatchPod(p);
  }
}
