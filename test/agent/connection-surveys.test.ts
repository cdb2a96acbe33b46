/**
 * Issue 11 finding 3: the agent's report never walks a whole connection table on the event loop. At 65 536
 * connections the walk behind the run file and the metrics is cut into slices (each visits a bounded number of
 * records), the readers of a report or a scrape visit none, and a finished pass agrees with a reference built
 * here from how the table was filled. Work is measured structurally (records visited per call, counted by the
 * table itself), never by the clock.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionSurveys, SAMPLE_PER_TABLE } from '../../cli/agent/connections.js';
import { MetricsCache, renderMetrics, type MetricsSnapshot } from '../../cli/agent/metrics.js';
import { ConnTable, dump } from '../../conntrack/index.js';
import { ip, UDP } from '../conntrack/helpers.js';

/** A real table that counts the records anything visits (isLive) and the SNAT bindings it reads (natPort). */
class CountingTable extends ConnTable {
  visits = 0;
  natReads = 0;
  override isLive(c: number): boolean {
    this.visits++;
    return super.isLive(c);
  }
  override natPort(c: number): number {
    this.natReads++;
    return super.natPort(c);
  }
  reset(): void {
    this.visits = 0;
    this.natReads = 0;
  }
}

const NAT = ['198.18.2.250', '198.18.2.251'];
const DST = ip('198.18.2.100');

/** 65 536 confirmed UDP connections from 256 pods' addresses × 256 ports, SNATed alternately to two egress IPs. */
function full(): CountingTable {
  const t = new CountingTable({ seed: 11 });
  t.setTime(0);
  for (let i = 0; i < 65536; i++) {
    const c = t.create(ip('198.19.21.0') | (i & 0xff), DST, 1024 + (i >> 8), 8080, UDP, 0, 60);
    if (c < 0) throw new Error(`create ${i}: ${c}`);
    if (t.snat(c, ip(NAT[i & 1]!)) !== 0) throw new Error(`snat ${i}`);
    if (!t.confirm(c)) throw new Error(`confirm ${i}`);
  }
  return t;
}

describe('connection surveys at 65 536 connections', () => {
  it('a pass runs in bounded slices; reports and scrapes read its result and visit no record', () => {
    const out = full();
    const inb = new CountingTable({ seed: 12, maxConnections: 4096 });
    expect(out.size).toBe(65536);
    const queue: Array<() => void> = [];
    const s = new ConnectionSurveys(out, inb, { now: () => 0, schedule: (fn) => queue.push(fn) });
    const perCall: Array<{ visits: number; nat: number }> = [];
    const measure = (f: () => void) => {
      out.reset();
      inb.reset();
      f();
      perCall.push({ visits: out.visits + inb.visits, nat: out.natReads + inb.natReads });
    };

    measure(() => s.tick());
    expect(s.details(), 'nothing reported before the first pass ends').toBeNull();
    // A second report while the pass runs does not start another walk, and does no walking itself.
    measure(() => s.tick());
    expect(perCall[1]).toEqual({ visits: 0, nat: 0 });
    while (queue.length) {
      const next = queue.shift()!;
      measure(next);
      // Readers in between (what report() and a scrape call) never touch the tables.
      out.reset();
      inb.reset();
      s.details();
      s.snatPortsUsed();
      expect(out.visits + inb.visits).toBe(0);
    }
    const slices = perCall.filter((_, i) => i !== 1);
    // Every slice is bounded: ≤ 8192 records visited, ≤ 1024 live connections accounted.
    expect(Math.max(...slices.map((p) => p.visits))).toBeLessThanOrEqual(8192);
    expect(Math.max(...slices.map((p) => p.nat))).toBeLessThanOrEqual(1024);
    // …so a pass over 65 536 live connections takes at least 64 slices; together they visit each record once.
    expect(slices.length).toBeGreaterThanOrEqual(64);
    expect(slices.reduce((x, p) => x + p.visits, 0)).toBe(out.recordCount + inb.recordCount);

    const d = s.details()!;
    expect(d.slices).toBe(slices.length);
    expect(d.confirmed).toEqual({ outbound: 65536, inbound: 0 });
    expect(d.entries.length).toBe(SAMPLE_PER_TABLE);
    expect(d.entries).toEqual(dump(out, 0).slice(0, SAMPLE_PER_TABLE));
    expect(d.inbound).toEqual([]);
    // The reference from the fill: 32 768 connections per egress IP, each on its own port toward one destination.
    expect(s.snatPortsUsed()).toEqual({ [NAT[0]!]: 32768, [NAT[1]!]: 32768 });
    for (const u of d.snat) {
      expect(u.connections).toEqual({ udp: 32768 });
      expect(u.destinations.map((x) => `${x.dst}:${x.dport}/${x.proto} ${x.used}`)).toEqual([
        '198.18.2.100:8080/udp 32768',
      ]);
    }
  });

  it('the next report starts the next pass; a change made meanwhile shows in it', () => {
    const out = new CountingTable({ seed: 13, maxConnections: 1024 });
    const inb = new CountingTable({ seed: 14, maxConnections: 1024 });
    const queue: Array<() => void> = [];
    const s = new ConnectionSurveys(out, inb, { now: () => 0, schedule: (fn) => queue.push(fn) });
    const drain = () => {
      while (queue.length) queue.shift()!();
    };
    s.tick();
    drain();
    expect(s.details()!.confirmed.outbound).toBe(0);
    out.setTime(0);
    const c = out.create(ip('198.19.21.10'), DST, 40000, 80, UDP, 0, 60);
    expect(out.snat(c, ip(NAT[0]!))).toBe(0);
    expect(out.confirm(c)).toBe(true);
    expect(s.snatPortsUsed(), 'until the next pass: the last one').toEqual({});
    s.tick();
    drain();
    expect(s.details()!.confirmed.outbound).toBe(1);
    expect(s.snatPortsUsed()).toEqual({ [NAT[0]!]: 1 });
  });

  it('a slice that throws is reported once and the next report starts over', () => {
    const out = new CountingTable({ seed: 15, maxConnections: 1024 });
    const inb = new CountingTable({ seed: 16, maxConnections: 1024 });
    const queue: Array<() => void> = [];
    const faults: unknown[] = [];
    let boom = true;
    const s = new ConnectionSurveys(out, inb, {
      now: () => {
        if (boom) throw new Error('clock');
        return 0;
      },
      schedule: (fn) => queue.push(fn),
      onFault: (e) => faults.push(e),
    });
    s.tick();
    expect(faults.length).toBe(1);
    expect(queue.length).toBe(0);
    boom = false;
    s.tick();
    while (queue.length) queue.shift()!();
    expect(s.details()!.confirmed).toEqual({ outbound: 0, inbound: 0 });
  });
});

describe('metrics cache', () => {
  const snap = (): MetricsSnapshot => ({
    node: 'node-a',
    stages: {},
    conntrackEntries: 0,
    conntrackCounters: {},
    snatPortsUsed: {},
    egressIps: [],
    pods: 0,
    membersAlive: 1,
  });

  it('renders at most once per second, however many scrapes come', async () => {
    let now = 0;
    let builds = 0;
    const m = new MetricsCache(
      () => {
        builds++;
        return snap();
      },
      () => now,
    );
    for (let i = 0; i < 200; i++) {
      now = i * 4.9; // 200 scrapes within 1 s
      expect(await m.get()).toBe(await renderMetrics(snap()));
    }
    expect(builds).toBe(1);
    now = 1000;
    await m.get();
    expect(builds).toBe(2);
  });
});
