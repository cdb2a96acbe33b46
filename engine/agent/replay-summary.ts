/**
 * What a replay reports, built from counters and the cluster's (small) event lists after the run, never per
 * packet: `summary()` is summary.json's content (deterministic: wall-clock figures are added by the CLI under
 * `meta.run`), `accounting()` the figures of the summary line, `report()` the text of the report (report.md in the output directory).
 *
 * Counters with value 0 are left out. Connection tables are summarised as a total and the `top` connections by
 * packets (all with `top: Infinity`).
 */
import { dumpSome, type ConnDump, type ConnTable } from '../../conntrack/index.js';
import { mergeStatus } from '../policy/index.js';
import { ethernet, ipv4, ipv6 } from '../wire/index.js';
import { hosted6, isLoss, type OwnershipChange } from './replay-cluster.js';
import { SKIP_REASONS, UNDELIVERABLE_REASONS, type InputExample, type Replay } from './replay.js';
import { HOST_LOSSES } from './sim-host.js';
import { SWITCH_LOSSES } from './sim-switch.js';

export const UNITS = {
  t: 'seconds after the first input packet (input time)',
  idleSkippedMs: 'milliseconds of simulated time skipped in idle gaps',
  timeout: 'seconds until the connection times out',
  bytes: 'bytes (IP packets; frames on the segment)',
  wallMs: 'milliseconds of wall-clock time for the whole run',
  packetsPerSec: 'input packets per second of wall-clock time',
} as const;

function nonZero(o: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (v !== 0) out[k] = v;
  return out;
}

/**
 * The table's confirmed live connections: their number, and the `top` by packets (both directions; ties by
 * index), or all in table order when there are no more than `top`. Selected on the table's counters: only the
 * connections listed are made into objects.
 */
function topConnections(t: ConnTable, now: number, top: number): { total: number; top: ConnDump[] } {
  const ids: number[] = [];
  for (let c = 0; c < t.recordCount; c++) if (t.isLive(c) && t.isConfirmed(c)) ids.push(c);
  if (top >= ids.length) return { total: ids.length, top: dumpSome(t, ids, now) };
  const pk = new Float64Array(t.recordCount);
  for (const c of ids) pk[c] = t.packets(c, 0) + t.packets(c, 1);
  ids.sort((a, b) => pk[b]! - pk[a]! || a - b);
  return { total: ids.length, top: dumpSome(t, ids.slice(0, top), now) };
}

/** Confirmed live connections of a table (cold). */
function liveCount(t: ConnTable): number {
  let n = 0;
  for (let c = 0; c < t.recordCount; c++) if (t.isLive(c) && t.isConfirmed(c)) n++;
  return n;
}

export interface DropLine {
  where: string;
  count: number;
}

export interface Accounting {
  packets: number;
  fromPods: number;
  fromOutside: number;
  rawFrames: number;
  skipped: number;
  skippedBy: Record<string, number>;
  undeliverable: number;
  undeliverableBy: Record<string, number>;
  /** Datapath drops by `node/stage.reason`, largest first. */
  datapath: DropLine[];
  datapathTotal: number;
  /** Frames or packets the simulated segment, hosts or pod interfaces could not deliver, by reason. */
  delivery: DropLine[];
  deliveryTotal: number;
  framesOnSegment: number;
  packetsToPods: number;
}

/** The summary line's figures. The input categories add up to `packets`. */
export function accounting(r: Replay): Accounting {
  const c = r.cluster;
  const datapath: DropLine[] = [];
  for (const rt of c.nodes) {
    const snap = rt.runner.agent.datapath.pipeline.snapshot();
    for (const [stage, s] of Object.entries(snap)) {
      if (stage === 'pipeline') continue;
      for (const [name, n] of Object.entries(s.counters))
        if (n > 0 && isLoss(stage, name)) datapath.push({ where: `${rt.name}/${stage}.${name.slice(5)}`, count: n });
    }
  }
  const delivery = new Map<string, number>();
  const add = (k: string, n: number) => n > 0 && delivery.set(k, (delivery.get(k) ?? 0) + n);
  const sw = c.sw.counters.snapshot() as Record<string, number>;
  for (const k of SWITCH_LOSSES) add(`segment.${k}`, sw[k] ?? 0);
  // IPv4 hosts, then the IPv6-only ones (an IPv6 host with an IPv4 address is in `hosts` already).
  for (const h of [...c.hosts.values(), ...c.hosts6.filter((x) => x.ip === 0)]) {
    const st = h.stats();
    for (const k of HOST_LOSSES) add(`host.${k}`, st[k]);
  }
  let toPods = 0;
  for (const p of c.pods) {
    const pc = p.counters.snapshot() as Record<string, number>;
    add('pod.over-mtu', pc['over-mtu'] ?? 0);
    toPods += pc['received'] ?? 0;
  }
  for (const rt of c.nodes)
    add('uplink.queue-full', (rt.port.rxCounters.snapshot() as Record<string, number>)['queue-full'] ?? 0);
  const byCount = (a: DropLine, b: DropLine) => b.count - a.count || (a.where < b.where ? -1 : 1);
  datapath.sort(byCount);
  const del = [...delivery].map(([where, count]) => ({ where, count })).sort(byCount);
  return {
    packets: r.input.packets,
    fromPods: r.input.fromPods,
    fromOutside: r.input.fromOutside,
    rawFrames: r.input.rawFrames,
    skipped: r.skippedTotal,
    skippedBy: r.skippedByReason(),
    undeliverable: r.undeliverableTotal,
    undeliverableBy: r.undeliverableByReason(),
    datapath,
    datapathTotal: datapath.reduce((a, d) => a + d.count, 0),
    delivery: del,
    deliveryTotal: del.reduce((a, d) => a + d.count, 0),
    framesOnSegment: sw['frames'] ?? 0,
    packetsToPods: toPods,
  };
}

export interface SummaryOptions {
  /** Connections listed per table (default 100; Infinity for all). */
  top?: number;
}

/** summary.json (without `meta`, which the CLI adds): deterministic. */
export function summary(r: Replay, o: SummaryOptions = {}) {
  const c = r.cluster;
  const top = o.top ?? 100;
  const acc = accounting(r);
  const nodes: Record<string, unknown> = {};
  for (const rt of c.nodes) {
    const a = rt.runner.agent;
    const st = a.datapath.state;
    const stages: Record<string, { exits?: Record<string, number>; counters?: Record<string, number> }> = {};
    for (const [name, s] of Object.entries(a.datapath.pipeline.snapshot())) {
      const exits = nonZero(s.exits);
      const counters = nonZero(s.counters);
      if (Object.keys(exits).length || Object.keys(counters).length)
        stages[name] = {
          ...(Object.keys(exits).length ? { exits } : {}),
          ...(Object.keys(counters).length ? { counters } : {}),
        };
    }
    nodes[rt.name] = {
      alive: rt.alive,
      mac: ethernet.macToString(a.mac),
      egressIps: rt.runner.control.hosted().map(ipv4.addrToString),
      ...(hosted6(rt).length ? { egressIps6: hosted6(rt) } : {}),
      members: [...rt.runner.membership.alive()].sort(),
      membership: nonZero(rt.runner.membership.counters.snapshot()),
      announced: Object.fromEntries([...a.announced].map(([ip, n]) => [ipv4.addrToString(ip), n])),
      stages,
      conntrack: {
        counters: nonZero(st.ct.counterSnapshot()),
        ...topConnections(st.ct, st.now, top),
      },
      inbound: topConnections(st.ctIn, st.now, top),
      neighbors: st.neigh.dump(st.now).map((e) => ({
        ip: ipv4.addrToString(e.ip),
        mac: e.state === 'incomplete' ? null : ethernet.macToString(ethernet.macFromInts(e.macHi, e.macLo)),
        state: e.state,
      })),
      ...(st.tables.v6 !== null
        ? {
            conntrack6: { counters: nonZero(st.ct6.ct.counterSnapshot()), total: liveCount(st.ct6.ct) },
            neighbors6: st.neigh6.dump(st.now).map((e) => ({
              ip: e.ip,
              mac: e.state === 'incomplete' ? null : ethernet.macToString(ethernet.macFromInts(e.macHi, e.macLo)),
              state: e.state,
            })),
          }
        : {}),
    };
  }
  const hosts: Record<string, unknown> = {};
  const all = [...c.hosts.values(), ...c.hosts6.filter((h) => h.ip === 0)];
  for (const h of all.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    hosts[h.name] = {
      ...(h.ip !== 0 ? { ip: ipv4.addrToString(h.ip) } : {}),
      ...(h.ip6 ? { ip6: ipv6.addrBytesToString(h.ip6) } : {}),
      mac: ethernet.macToString(h.mac),
      counters: nonZero(h.stats()),
      // Packets received per IPv6 source: which address the outside saw (the report names whose it is).
      ...(h.ip6 ? { sources6: Object.fromEntries(h.bySource6) } : {}),
      ...(h.ip6 ? { neighbors6: Object.fromEntries(h.neighbors6().map((e) => [e.ip, e.mac])) } : {}),
      arp: Object.fromEntries(
        [...h.arpCache]
          .sort((a, b) => (a[0] >>> 0) - (b[0] >>> 0))
          .map(([ip, m]) => {
            const hi = Math.floor(m / 4294967296);
            return [ipv4.addrToString(ip), ethernet.macToString(ethernet.macFromInts(hi, (m - hi * 4294967296) | 0))];
          }),
      ),
    };
  }
  const pods: Record<string, Record<string, number>> = {};
  for (const p of [...c.pods].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index))) {
    const pc = nonZero(p.counters.snapshot());
    if (Object.keys(pc).length) pods[p.key] = pc;
  }
  const examples: Record<string, InputExample> = {};
  for (const [k, e] of [...r.examples].sort((a, b) => a[1].packet - b[1].packet)) examples[k] = e;
  return {
    input: {
      packets: acc.packets,
      fromPods: acc.fromPods,
      fromOutside: acc.fromOutside,
      rawFrames: acc.rawFrames,
      skipped: { total: acc.skipped, ...acc.skippedBy },
      undeliverable: { total: acc.undeliverable, ...acc.undeliverableBy },
      examples,
      ...nonZero({
        mapped: r.mapping.mapped,
        timeBackwards: r.input.timeBackwards,
        timeClamped: r.input.timeClamped,
        idleGaps: r.input.idleGaps,
        idleSkippedMs: r.input.idleSkippedMs,
        settleLimit: c.settleLimit,
      }),
    },
    drops: {
      datapath: { total: acc.datapathTotal, ...Object.fromEntries(acc.datapath.map((d) => [d.where, d.count])) },
      delivery: { total: acc.deliveryTotal, ...Object.fromEntries(acc.delivery.map((d) => [d.where, d.count])) },
    },
    switch: nonZero(c.sw.counters.snapshot()),
    nodes,
    hosts,
    pods,
    ownership: c.ownership.map((o: OwnershipChange) => ({ t: r.rel(o.at), ip: o.ip, nodes: o.nodes })),
    arpChanges: c.arpChanges.map((a) => ({ t: r.rel(a.at), host: a.host, ip: a.ip, mac: a.mac, was: a.was })),
    events: c.events.map((e) => ({ reason: e.reason, egress: e.egress, node: e.node, ip: e.ip, message: e.message })),
    membership: c.nodes.flatMap((rt) =>
      rt.runner.history.map((e) => ({
        t: r.rel(e.at),
        node: rt.name,
        event: e.type,
        ...('node' in e ? { peer: e.node } : {}),
      })),
    ),
    status: Object.fromEntries(
      [...mergeStatus(c.state, c.statusFiles.values())]
        .sort((a, b) => (a[0] < b[0] ? -1 : 1))
        .map(([name, s]) => [name, { egressIP: s.egressIP ?? '', egressNode: s.egressNode ?? '' }]),
    ),
  };
}

export type ReplaySummary = ReturnType<typeof summary>;

/** Text of every skip and undeliverable reason (for the CLI and report). */
export function reasonText(reason: string): string {
  return (
    (SKIP_REASONS as Record<string, string>)[reason] ??
    (UNDELIVERABLE_REASONS as Record<string, string>)[reason] ??
    reason
  );
}
