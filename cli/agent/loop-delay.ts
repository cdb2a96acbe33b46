/**
 * Event-loop delay of the agent (`perf_hooks.monitorEventLoopDelay`): how late the loop ran a 10 ms timer. A
 * stall here is a stall of everything the agent does — packets, heartbeats (peers declare a node dead after
 * 500 ms of silence), the store watch — so it is exported: the run file's `eventLoopDelay`,
 * `egress get counters NODE`, and the metric `egress_event_loop_delay_seconds` (docs/agent.md "Event-loop delay").
 *
 * The histogram is read and reset once per window (`roll`, every report): quantiles and the maximum describe the
 * last window, the maximum since start and the sum/count are kept across windows.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Sampling resolution (ms): the monitor's timer period. */
export const LOOP_DELAY_RESOLUTION_MS = 10;

export interface LoopDelaySnapshot {
  /** Length of the window the quantiles describe (ms). */
  windowMs: number;
  /** Delay quantiles and maximum over the last window (ms). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Largest delay since the agent started (ms). */
  maxEverMs: number;
  /** Samples and their summed delay since start (ms), for a Prometheus summary's _count and _sum. */
  count: number;
  sumMs: number;
}

const NS = 1e6;

export class LoopDelay {
  private readonly h: IntervalHistogram;
  private last: LoopDelaySnapshot = { windowMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, maxEverMs: 0, count: 0, sumMs: 0 };
  private since: number;

  constructor(private readonly clock: () => number = () => performance.now()) {
    this.h = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    this.h.enable();
    this.since = clock();
  }

  /** Close the current window: its figures become `snapshot()`, and a new window starts. */
  roll(): LoopDelaySnapshot {
    const h = this.h;
    const now = this.clock();
    const n = h.count;
    // Every sample includes the resolution itself (the timer's own period): subtract it, as the figures are
    // "how late", not "how long between samples".
    const late = (ns: number) => (n > 0 ? Math.max(0, ns / NS - LOOP_DELAY_RESOLUTION_MS) : 0);
    const maxMs = late(h.max);
    this.last = {
      windowMs: now - this.since,
      p50Ms: late(h.percentile(50)),
      p99Ms: late(h.percentile(99)),
      maxMs,
      maxEverMs: Math.max(this.last.maxEverMs, maxMs),
      count: this.last.count + n,
      sumMs: this.last.sumMs + (n > 0 ? Math.max(0, h.mean / NS - LOOP_DELAY_RESOLUTION_MS) * n : 0),
    };
    h.reset();
    this.since = now;
    return this.last;
  }

  /** The last closed window's figures (never touches the histogram). */
  snapshot(): LoopDelaySnapshot {
    return this.last;
  }

  stop(): void {
    this.h.disable();
  }
}
