/**
 * A simulated LAN for Membership instances (not a test file): simulated time in 1 ms steps, a fixed one-way
 * latency, seeded loss, partitions, and nodes that can be frozen (no ticks, no receives; their inbox is dropped
 * or queued until they resume, like a socket buffer) and restarted (new incarnation, state forgotten).
 */
import {
  makeKey,
  Membership,
  type HeartbeatKey,
  type MembershipConfig,
  type MembershipEvent,
  type Outgoing,
} from '../../engine/cluster/index.js';

/** mulberry32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const TEST_KEY: HeartbeatKey = makeKey(new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff));

export function ipOf(i: number): number {
  return (198 << 24) | (18 << 16) | (i + 10) | 0;
}

export interface LoggedEvent {
  readonly node: string;
  readonly ev: MembershipEvent;
}

export interface Datagram {
  readonly at: number;
  readonly from: string;
  readonly srcIp: number;
  readonly to: string;
  readonly payload: Uint8Array;
}

interface SimNode {
  name: string;
  ip: number;
  m: Membership;
  tickMs: number;
  nextTick: number;
  frozen: boolean;
  inbox: Datagram[];
}

export interface SimOptions {
  readonly names: readonly string[];
  readonly seed?: number;
  /** How often each node calls tick (ms); phases are seeded. Default 10. */
  readonly tickMs?: number;
  readonly latencyMs?: number;
  /** Probability that a datagram is lost. */
  readonly loss?: number;
  /** What a frozen node's socket does with datagrams: drop them or queue them until it resumes. */
  readonly frozenInbox?: 'drop' | 'queue';
  readonly config?: Partial<Omit<MembershipConfig, 'self' | 'peers' | 'incarnation'>>;
  readonly start?: number;
}

export class SimNet {
  now: number;
  readonly nodes = new Map<string, SimNode>();
  readonly log: LoggedEvent[] = [];
  /** Every datagram put on the wire (before loss), for replay attacks. */
  readonly wire: Datagram[] = [];
  /** Last time each node sent to each other node: `${from}>${to}` → ms. */
  readonly lastSent = new Map<string, number>();
  private readonly queue: Datagram[] = [];
  private readonly rand: () => number;
  private readonly lossRand: () => number;
  private readonly blocked = new Set<string>();
  private incarnations = 1_000_000;

  constructor(readonly opts: SimOptions) {
    this.now = opts.start ?? 10_000;
    this.rand = rng(opts.seed ?? 1);
    this.lossRand = rng((opts.seed ?? 1) ^ 0x5bd1e995);
    for (const name of opts.names) this.addNode(name);
  }

  private peersOf(name: string) {
    return this.opts.names.filter((n) => n !== name).map((n) => ({ name: n, ip: ipOf(this.opts.names.indexOf(n)) }));
  }

  private addNode(name: string): void {
    const tickMs = this.opts.tickMs ?? 10;
    const ip = ipOf(this.opts.names.indexOf(name));
    const m = new Membership(
      {
        key: TEST_KEY,
        ...this.opts.config,
        self: { name, ip },
        peers: this.peersOf(name),
        incarnation: (this.incarnations += 1000),
      },
      this.now,
    );
    const phase = Math.floor(this.rand() * tickMs);
    this.nodes.set(name, { name, ip, m, tickMs, nextTick: this.now + phase, frozen: false, inbox: [] });
  }

  node(name: string): Membership {
    return this.nodes.get(name)!.m;
  }

  /** Replace a node's Membership by a fresh one (agent restart: new incarnation, everything forgotten). */
  restart(name: string): void {
    this.addNode(name);
  }

  freeze(name: string): void {
    this.nodes.get(name)!.frozen = true;
  }

  unfreeze(name: string): void {
    const n = this.nodes.get(name)!;
    n.frozen = false;
    n.nextTick = this.now; // the process runs again at once
  }

  /** Block traffic between the two groups (both directions). */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) for (const y of b) this.blocked.add(`${x}>${y}`).add(`${y}>${x}`);
  }

  /** Block one direction only. */
  block(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  /** Deliver a datagram now, as if it came from `srcIp` (for forged / replayed input). */
  inject(to: string, srcIp: number, payload: Uint8Array): ReturnType<Membership['receive']> {
    const r = this.node(to).receive(srcIp, payload, this.now);
    for (const ev of r.events) this.log.push({ node: to, ev });
    return r;
  }

  private send(from: SimNode, out: readonly Outgoing[]): void {
    for (const o of out) {
      const d: Datagram = {
        at: this.now + (this.opts.latencyMs ?? 1),
        from: from.name,
        srcIp: from.ip,
        to: o.node,
        payload: o.payload,
      };
      this.wire.push(d);
      this.lastSent.set(`${from.name}>${o.node}`, this.now);
      if (this.blocked.has(`${from.name}>${o.node}`)) continue;
      if (this.opts.loss && this.lossRand() < this.opts.loss) continue;
      this.queue.push(d);
    }
  }

  private deliver(n: SimNode, d: Datagram): void {
    const r = n.m.receive(d.srcIp, d.payload, this.now);
    for (const ev of r.events) this.log.push({ node: n.name, ev });
  }

  /** Advance simulated time to `until` (ms). */
  runUntil(until: number): void {
    while (this.now < until) {
      this.now++;
      // Datagrams due now, in send order.
      let keep = 0;
      for (let i = 0; i < this.queue.length; i++) {
        const d = this.queue[i]!;
        if (d.at > this.now) {
          this.queue[keep++] = d;
          continue;
        }
        const n = this.nodes.get(d.to);
        if (!n) continue;
        if (n.frozen) {
          if (this.opts.frozenInbox === 'queue') n.inbox.push(d);
          continue;
        }
        this.deliver(n, d);
      }
      this.queue.length = keep;
      for (const n of this.nodes.values()) {
        if (n.frozen || this.now < n.nextTick) continue;
        const r = n.m.tick(this.now);
        for (const ev of r.events) this.log.push({ node: n.name, ev });
        this.send(n, r.send);
        n.nextTick = this.now + n.tickMs;
        // A resumed process handles its timers before the socket backlog (the harder order for flapping).
        if (n.inbox.length) for (const d of n.inbox.splice(0)) this.deliver(n, d);
      }
    }
  }

  run(ms: number): void {
    this.runUntil(this.now + ms);
  }

  events(node?: string, type?: MembershipEvent['type']): LoggedEvent[] {
    return this.log.filter(
      (e) => (node === undefined || e.node === node) && (type === undefined || e.ev.type === type),
    );
  }
}

/** min / median / max of a list. */
export function stats(xs: readonly number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]! };
}
