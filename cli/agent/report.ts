/** `egress get counters NODE`: what a running agent reports in its run file (docs/agent.md). */
import { join } from 'node:path';
import * as policy from '../../engine/policy/index.js';
import { UsageError, UserError } from '../errors.js';
import { table } from '../output.js';

interface RunFile {
  node: string;
  pid: number;
  updated: string;
  egressIps: string[];
  /** Hosted IPv6 egress IPs, on a dual-stack node (absent otherwise). */
  egressIps6?: string[];
  members: string[];
  pods: Array<{ key: string; netns: string }>;
  stages: Record<string, { exits: Record<string, number>; counters: Record<string, number> }>;
  conntrack: { size: number; counters: Record<string, number>; detailsUpdated?: string | null };
  eventLoopDelay?: { windowMs: number; p50Ms: number; p99Ms: number; maxMs: number; maxEverMs: number } | null;
  neighbors: Array<{ ip: string; mac: string | null; state: string; queued: number }>;
  ports: Record<string, Record<string, number> | null>;
  snat: Array<{ natIp: string; connections: Record<string, number>; maxFullness: number }>;
  /** Absent in reports of agents before bandwidth was enforced. */
  meters?: Array<{ ip: string; rateKbps: number; burstKbit: number; tokensBits: number }>;
}

/** The parsed run file of `node` (any JSON); a missing one is a UserError naming the agent to start. */
export function readRunFile(dir: string, node: string, insecure = false): unknown {
  const v = policy.store.readRunFile(dir, node, { insecure });
  if (v === null)
    throw new UserError(
      `no agent of Node ${node} has reported in ${join(dir, 'run')}/ (is \`egress agent --node ${node}\` running?)`,
    );
  return v;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const numbers = (v: unknown) => isObj(v) && Object.values(v).every((x) => typeof x === 'number');
const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
const listOf = (v: unknown, item: (x: Record<string, unknown>) => boolean) =>
  Array.isArray(v) && v.every((x) => isObj(x) && item(x));

/** Why a run file cannot be shown as a table (the fields printCounters reads), or null. */
export function runFileProblem(v: unknown): string | null {
  if (!isObj(v)) return 'not an object';
  const checks: [string, boolean][] = [
    ['node', typeof v['node'] === 'string'],
    ['pid', Number.isSafeInteger(v['pid'])],
    ['updated', typeof v['updated'] === 'string'],
    ['egressIps', strings(v['egressIps'])],
    ['members', strings(v['members'])],
    ['pods', listOf(v['pods'], (p) => typeof p['key'] === 'string')],
    [
      'stages',
      isObj(v['stages']) &&
        Object.values(v['stages']).every((s) => isObj(s) && numbers(s['exits']) && numbers(s['counters'])),
    ],
    [
      'conntrack',
      isObj(v['conntrack']) && typeof v['conntrack']['size'] === 'number' && numbers(v['conntrack']['counters']),
    ],
    [
      'neighbors',
      listOf(
        v['neighbors'],
        (n) =>
          typeof n['ip'] === 'string' &&
          typeof n['state'] === 'string' &&
          typeof n['queued'] === 'number' &&
          (n['mac'] === null || typeof n['mac'] === 'string'),
      ),
    ],
    ['ports', isObj(v['ports']) && Object.values(v['ports']).every((c) => c === null || numbers(c))],
    [
      'snat',
      listOf(
        v['snat'],
        (u) => typeof u['natIp'] === 'string' && numbers(u['connections']) && typeof u['maxFullness'] === 'number',
      ),
    ],
  ];
  const bad = checks.filter(([, ok]) => !ok).map(([k]) => k);
  return bad.length ? `unexpected ${bad.join(', ')}` : null;
}

/** Print a node agent's counters: every stage's exits and non-zero counters, ports, conntrack, neighbours. */
export function printCounters(dir: string, node: string | undefined, output: string, insecure = false): number {
  if (!node) throw new UsageError('egress get counters NODE');
  const v = readRunFile(dir, node, insecure);
  if (output === 'json') {
    console.log(JSON.stringify(v, null, 2));
    return 0;
  }
  const problem = runFileProblem(v);
  if (problem)
    throw new UserError(`${join(dir, 'run', `${node}.json`)} is not an agent report (${problem}); try -o json`);
  const r = v as RunFile;
  const ageS = (Date.now() - Date.parse(r.updated)) / 1000;
  console.log(
    `node ${r.node}: agent pid ${r.pid}, report ${ageS.toFixed(1)} s old${ageS > 3 ? ' (the agent is frozen or stopped)' : ''}`,
  );
  console.log(
    `egress IPs: ${[...r.egressIps, ...(strings(r.egressIps6) ? (r.egressIps6 as string[]) : [])].join(', ') || '-'}; sees alive: ${r.members.join(', ')}; pods: ${r.pods.map((p) => p.key).join(', ') || '-'}`,
  );
  const sync = (v as { sync?: unknown }).sync;
  if (isObj(sync) && isObj(sync['standbys'])) {
    const sb = Object.entries(sync['standbys'] as Record<string, string>);
    console.log(
      `connection sync: ${sb.length ? sb.map(([ip, n]) => `${ip} → standby ${n || '(none)'}`).join(', ') : 'no egress IP owned'}`,
    );
  }
  const loop = r.eventLoopDelay;
  if (isObj(loop) && numbers(loop))
    console.log(
      `event loop delay: p99 ${loop.p99Ms.toFixed(1)} ms, max ${loop.maxMs.toFixed(1)} ms over the last ${(loop.windowMs / 1000).toFixed(1)} s; max since start ${loop.maxEverMs.toFixed(1)} ms`,
    );
  const rows: string[][] = [];
  for (const [stage, s] of Object.entries(r.stages)) {
    for (const [k, v] of Object.entries(s.exits)) if (v) rows.push([stage, `exit ${k}`, String(v)]);
    for (const [k, v] of Object.entries(s.counters)) if (v) rows.push([stage, k, String(v)]);
  }
  for (const [port, c] of Object.entries(r.ports))
    for (const [k, v] of Object.entries(c ?? {})) if (v) rows.push([`port ${port}`, k, String(v)]);
  for (const [k, v] of Object.entries(r.conntrack.counters)) if (v) rows.push(['conntrack', k, String(v)]);
  if (isObj(sync) && numbers(sync['counters']))
    for (const [k, v] of Object.entries(sync['counters'] as Record<string, number>))
      if (v) rows.push(['conn-sync', k, String(v)]);
  rows.push(['conntrack', 'entries', String(r.conntrack.size)]);
  console.log('\n' + table(['STAGE', 'COUNTER', 'VALUE'], rows));
  if (r.conntrack.detailsUpdated) {
    const d = (Date.now() - Date.parse(r.conntrack.detailsUpdated)) / 1000;
    if (d > 3)
      console.log(
        `\n(SNAT and connection details below are ${d.toFixed(0)} s old: the walk that refreshes them runs in slices, about once a second)`,
      );
  }
  if (r.snat.length)
    console.log(
      '\n' +
        table(
          ['SNAT IP', 'CONNECTIONS', 'FULLEST DESTINATION'],
          r.snat.map((u) => [u.natIp, JSON.stringify(u.connections), `${(u.maxFullness * 100).toFixed(2)}%`]),
        ),
    );
  const meters = listOf(r.meters, (m) => typeof m['ip'] === 'string' && numbers({ ...m, ip: 0 })) ? r.meters! : [];
  if (meters.length)
    console.log(
      '\n' +
        table(
          ['METERED IP', 'RATE', 'BURST', 'TOKENS'],
          meters.map((m) => [m.ip, `${m.rateKbps} kbit/s`, `${m.burstKbit} kbit`, `${Math.floor(m.tokensBits)} bit`]),
        ),
    );
  if (r.neighbors.length)
    console.log(
      '\n' +
        table(
          ['NEIGHBOUR', 'MAC', 'STATE', 'QUEUED'],
          r.neighbors.map((n) => [n.ip, n.mac ?? '-', n.state, String(n.queued)]),
        ),
    );
  return 0;
}
