/**
 * Trials and rate searches (RFC 2544 §26.1 throughput by binary search; CSIT's MRR, NDR and PDR):
 *
 * - a **trial** sends at a target rate (0: unpaced, as fast as the source can) for a fixed time from the
 *   source pod (bench/e2e/c/udpgen.c, pinned to one CPU), waits for the queues to empty, and reads the sink's
 *   counter: offered = datagrams the source's stack accepted, received = counted at the sink, loss = their
 *   difference. CPU: the whole machine's busy time from /proc/stat and the forwarder processes' utime+stime,
 *   over the trial;
 * - **MRR** (maximum receive rate): the median receive rate of `mrrTrials` unpaced trials;
 * - **PDR** (≤ 0.5 % loss) and **NDR** (no loss): binary search on the target rate between a passing lower
 *   bound (0) and a failing upper bound (the highest offered rate), first guess the MRR's receive rate, until
 *   the interval is narrower than `precision` of its top or `maxTrials` trials ran; NDR searches below the PDR.
 *   The reported rate is the highest target rate that passed (with what that trial measured).
 */
import { spawnSync } from 'node:child_process';
import { cpuDelta, processCpuUs, sleep, systemCpu, BenchError, type SystemCpu } from './sys.js';
import { DST_PORT, SINK_IP, sinkCounter } from './topology.js';

export interface Source {
  /** Namespace of the source pod. */
  ns: string;
  /** Processes whose CPU counts as the forwarder's (agents, the ceiling program; none for the kernel). */
  forwarders: () => number[];
}

export interface TrialResult {
  /** Target rate (packets/s; 0 = unpaced). */
  target: number;
  durationMs: number;
  sent: number;
  received: number;
  offeredPps: number;
  receivedPps: number;
  /** (sent − received) / sent; negative values (duplicates, stray packets) are clamped to 0. */
  loss: number;
  /** Receive rate in bits/s of IP bytes (L3). */
  receivedBps: number;
  /** The source's own CPU (user + system), µs. */
  sourceCpuUs: number;
  /** The forwarder processes' CPU, µs. */
  forwarderCpuUs: number;
  /** The whole machine's CPU over the trial window, µs. */
  system: SystemCpu;
  windowUs: number;
}

export interface TrialOptions {
  gen: string;
  size: number;
  flows: number;
  /** CPU the source is pinned to. */
  sourceCpu: number;
  /** Wait after the source stops before reading the counters. */
  settleMs: number;
}

/** IPv4 packet length of a frame size (Ethernet header 14 + FCS 4, RFC 2544 sizes). */
export function ipLength(frame: number): number {
  return frame - 18;
}

export async function trial(src: Source, o: TrialOptions, target: number, durationMs: number): Promise<TrialResult> {
  sinkCounter(true);
  const pids = src.forwarders();
  const f0 = pids.reduce((s, p) => s + processCpuUs(p), 0);
  const s0 = systemCpu();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      src.ns,
      'taskset',
      '-c',
      String(o.sourceCpu),
      o.gen,
      SINK_IP,
      String(DST_PORT),
      String(o.flows),
      String(ipLength(o.size)),
      String(Math.round(target)),
      String(durationMs),
    ],
    { encoding: 'utf8', timeout: durationMs + 20_000 },
  );
  if (r.status !== 0) throw new BenchError(`udpgen in ${src.ns} failed: ${(r.stderr || '').trim() || r.status}`);
  await sleep(o.settleMs);
  const t1 = process.hrtime.bigint();
  const s1 = systemCpu();
  const f1 = pids.reduce((s, p) => s + processCpuUs(p), 0);
  const rx = sinkCounter();
  const g = Object.fromEntries(
    r.stdout
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split('='))
      .map(([k, v]) => [k!, Number(v)]),
  ) as Record<string, number>;
  const sent = g.sent ?? 0;
  const secs = (g.elapsed_ns ?? durationMs * 1e6) / 1e9;
  return {
    target,
    durationMs,
    sent,
    received: rx.packets,
    offeredPps: sent / secs,
    receivedPps: rx.packets / secs,
    loss: sent > 0 ? Math.max(0, (sent - rx.packets) / sent) : 1,
    receivedBps: (rx.bytes * 8) / secs,
    sourceCpuUs: (g.utime_us ?? 0) + (g.stime_us ?? 0),
    forwarderCpuUs: f1 - f0,
    system: cpuDelta(s0, s1),
    windowUs: Number(t1 - t0) / 1000,
  };
}

export interface SearchOptions {
  trialMs: number;
  mrrTrials: number;
  mrrMs: number;
  /** Stop when (hi − lo) / hi is below this. */
  precision: number;
  /** At most this many trials per search. */
  maxTrials: number;
  pdrLoss: number;
}

export interface SearchResult {
  /** Highest passing target rate (0 when none passed). */
  rate: number;
  /** What the trial at that rate measured (null when none passed). */
  at: TrialResult | null;
  /** Lowest failing target rate seen (the search's upper bound). */
  failedAt: number;
  trials: number;
}

export interface RateResult {
  mrr: TrialResult;
  mrrTrials: TrialResult[];
  pdr: SearchResult;
  ndr: SearchResult;
}

function median<T>(xs: T[], key: (x: T) => number): T {
  const s = [...xs].sort((a, b) => key(a) - key(b));
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Binary search for the highest rate whose trial loss is ≤ maxLoss, inside (lo, hi), first guess `guess`. A
 * trial passes only when the source also achieved its target (≥ TARGET_MET of it): on two cores the source, the
 * forwarders and the kernel share the CPUs, and a source starved below its target has not offered that load.
 * The result's `rate` is what the passing trial offered (≤ its target).
 */
async function search(
  run: (rate: number) => Promise<TrialResult>,
  maxLoss: number,
  lo: { rate: number; at: TrialResult | null },
  hi: number,
  guess: number,
  o: SearchOptions,
): Promise<SearchResult> {
  let best = lo;
  let bestTarget = lo.rate;
  let top = hi;
  let trials = 0;
  let next = Math.min(Math.max(guess, bestTarget + 1), top * 0.999);
  while (trials < o.maxTrials && top > 0 && (top - bestTarget) / top > o.precision) {
    const t = await run(next);
    trials++;
    if (t.loss <= maxLoss && t.offeredPps >= next * TARGET_MET) {
      best = { rate: t.offeredPps, at: t };
      bestTarget = next;
    } else top = next;
    next = (bestTarget + top) / 2;
  }
  return { rate: best.rate, at: best.at, failedAt: top, trials };
}

/** Share of its target rate a paced trial's source must achieve for the trial to count. */
export const TARGET_MET = 0.98;

/** MRR, then PDR, then NDR for one source and frame size. */
export async function rates(src: Source, t: TrialOptions, o: SearchOptions): Promise<RateResult> {
  const run = (rate: number, ms: number) => trial(src, t, rate, ms);
  const mrrTrials: TrialResult[] = [];
  for (let i = 0; i < o.mrrTrials; i++) mrrTrials.push(await run(0, o.mrrMs));
  const mrr = median(mrrTrials, (x) => x.receivedPps);
  const maxOffered = Math.max(...mrrTrials.map((x) => x.offeredPps));
  // A full-load trial that lost (almost) nothing already is the answer: the source is the limit.
  const pdr: SearchResult =
    mrr.loss <= o.pdrLoss
      ? { rate: mrr.offeredPps, at: mrr, failedAt: maxOffered, trials: 0 }
      : await search((r) => run(r, o.trialMs), o.pdrLoss, { rate: 0, at: null }, maxOffered, mrr.receivedPps, o);
  let ndr: SearchResult;
  if (pdr.at && pdr.at.loss === 0) ndr = { ...pdr, trials: 0 };
  else
    ndr = await search(
      (r) => run(r, o.trialMs),
      0,
      { rate: 0, at: null },
      pdr.rate > 0 ? pdr.rate : maxOffered,
      (pdr.rate > 0 ? pdr.rate : mrr.receivedPps) * 0.9,
      o,
    );
  return { mrr, mrrTrials, pdr, ndr };
}

/** The pod TUN's queue during a drain (the fill must stay below it). */
const DRAIN_QUEUE = 250_000;

export interface DrainResult {
  /** Packets queued in the pod's TUN while the forwarder was stopped. */
  queued: number;
  /** Packets the sink received after the forwarder resumed. */
  drained: number;
  /** From resume to the last packet at the sink. */
  seconds: number;
  pps: number;
  /** The forwarder processes' CPU per drained packet (µs). */
  cpuUsPerPacket: number;
}

/**
 * docs/platform.md's drain: with the forwarder stopped (SIGSTOP), the source fills the pod TUN's queue (its
 * txqueuelen raised for that); then the forwarder resumes alone on the machine and the time until the last
 * packet reaches the sink gives its capacity, free of the source's competition for the two cores. The sink's
 * counter is read through /proc/PID/net/dev of a process in its namespace (no command per read).
 */
export async function drain(
  src: Source,
  o: TrialOptions,
  stop: number[],
  sinkRx: () => number,
  fillMs: number,
): Promise<DrainResult> {
  const ipn = (args: string[]) => spawnSync('ip', ['-n', src.ns, ...args], { encoding: 'utf8' });
  const qlen = String(
    (JSON.parse(ipn(['-j', 'link', 'show', 'eth0']).stdout) as Array<{ txqlen?: number }>)[0]?.txqlen ?? 500,
  );
  const set = ipn(['link', 'set', 'eth0', 'txqueuelen', String(DRAIN_QUEUE)]);
  if (set.status !== 0) throw new BenchError(`txqueuelen ${DRAIN_QUEUE} in ${src.ns}: ${set.stderr.trim()}`);
  for (const p of stop) process.kill(p, 'SIGSTOP');
  let queued: number;
  try {
    const r = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        src.ns,
        'taskset',
        '-c',
        String(o.sourceCpu),
        o.gen,
        SINK_IP,
        String(DST_PORT),
        String(o.flows),
        String(ipLength(o.size)),
        '0',
        String(fillMs),
      ],
      { encoding: 'utf8' },
    );
    queued = Number(/sent=(\d+)/.exec(r.stdout)?.[1] ?? 0);
    await sleep(50);
  } catch (e) {
    for (const p of stop) process.kill(p, 'SIGCONT');
    throw e;
  }
  const pids = src.forwarders();
  const c0 = pids.reduce((s, p) => s + processCpuUs(p), 0);
  const rx0 = sinkRx();
  const t0 = process.hrtime.bigint();
  for (const p of stop) process.kill(p, 'SIGCONT');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let last = rx0;
  let lastAt = t0;
  for (;;) {
    Atomics.wait(pause, 0, 0, 1);
    const now = process.hrtime.bigint();
    const rx = sinkRx();
    if (rx !== last) {
      last = rx;
      lastAt = now;
    }
    if (last - rx0 >= queued || Number(now - lastAt) > 200e6) break;
  }
  await sleep(100);
  const c1 = pids.reduce((s, p) => s + processCpuUs(p), 0);
  ipn(['link', 'set', 'eth0', 'txqueuelen', qlen]);
  const drained = last - rx0;
  const seconds = Number(lastAt - t0) / 1e9;
  return {
    queued,
    drained,
    seconds,
    pps: seconds > 0 ? drained / seconds : 0,
    cpuUsPerPacket: drained > 0 ? (c1 - c0) / drained : NaN,
  };
}
