/**
 * The human side of a replay, from the summary and the cluster's event lists (cold, after the run):
 * `replayReport` is the text report replay writes as report.md into its output directory (an example: captures/replay/failover/expected/report.md) — what the outside saw per source IP, what each node owned when, failover gaps
 * (time and packets lost), drops by reason — and `timelineSvg` draws egress IP ownership and node liveness
 * over time (timeline.svg).
 */
import { ipv4 } from '../wire/index.js';
import { words6 } from '../stages/tables6.js';
import type { Replay } from './replay.js';
import { accounting, reasonText, type ReplaySummary } from './replay-summary.js';

interface Interval {
  ip: string;
  nodes: string[];
  from: number;
  to: number;
  lostFrom: number;
  lostTo: number;
}

/** Ownership as intervals per egress IP (times in seconds after the first packet). */
function intervals(r: Replay, end: number): Interval[] {
  const c = r.cluster;
  const byIp = new Map<string, Interval[]>();
  const endLost = c.lostSoFar();
  for (const o of c.ownership) {
    const list = byIp.get(o.ip) ?? [];
    const last = list[list.length - 1];
    const t = r.rel(o.at);
    if (last) {
      last.to = t;
      last.lostTo = o.lost;
    }
    list.push({ ip: o.ip, nodes: o.nodes, from: t, to: end, lostFrom: o.lost, lostTo: endLost });
    byIp.set(o.ip, list);
  }
  return [...byIp.values()].flat();
}

function what(ip: number, s: ReplaySummary, r: Replay): string {
  const text = ipv4.addrToString(ip);
  const eg = Object.entries(s.status)
    .filter(([, st]) => st.egressIP === text)
    .map(([n]) => n);
  if (eg.length) return `egress IP of ${eg.join(', ')}`;
  const node = r.cluster.nodes.find((rt) => rt.runner.agent.view.node?.transportIp === ip);
  if (node) return `node IP of ${node.name} (pods without an Egress, or bypassed destinations)`;
  const pod = r.cluster.podByIp.get(ip);
  if (pod) return `pod ${pod.key} (not translated)`;
  return 'another host of the segment';
}

function what6(text: string, s: ReplaySummary, r: Replay): string {
  const eg = Object.entries(s.status)
    .filter(([, st]) => st.egressIP === text)
    .map(([n]) => n);
  if (eg.length) return `egress IP of ${eg.join(', ')}`;
  const node = r.cluster.nodes.find((rt) => rt.runner.agent.view.v6.nodeIp === text);
  if (node) return `IPv6 address of node ${node.name} (pods without an IPv6 Egress, or bypassed destinations)`;
  const w = words6(text);
  const pod = w ? r.cluster.podByIp6(w[0], w[1], w[2], w[3]) : undefined;
  if (pod) return `pod ${pod.key} (not translated)`;
  return 'another host of the segment';
}

export function replayReport(r: Replay, s: ReplaySummary): string {
  const acc = accounting(r);
  const c = r.cluster;
  const end = r.rel(c.now);
  const L: string[] = ['# Replay report', ''];
  L.push(
    `${acc.packets} input packets: ${acc.fromPods} from pods, ${acc.fromOutside} from outside, ${acc.rawFrames} raw frames, ` +
      `${acc.skipped} skipped, ${acc.undeliverable} undeliverable. ${c.nodes.length} nodes, simulated until ${end} s.`,
    '',
  );
  if (acc.undeliverable || acc.skipped) {
    L.push('| input not simulated | packets | why | example |', '| --- | ---: | --- | --- |');
    for (const [k, n] of [...Object.entries(acc.skippedBy), ...Object.entries(acc.undeliverableBy)]) {
      const ex = r.examples.get(k as never);
      L.push(`| ${k} | ${n} | ${reasonText(k)} | ${ex ? `packet ${ex.packet} (${ex.t} s): ${ex.what}` : ''} |`);
    }
    L.push('');
  }
  L.push('## What the outside saw', '');
  const seen = new Map<number, Map<string, number>>();
  for (const h of c.hosts.values())
    for (const [src, n] of h.bySource) {
      const m = seen.get(src) ?? new Map<string, number>();
      m.set(h.name, (m.get(h.name) ?? 0) + n);
      seen.set(src, m);
    }
  if (seen.size === 0) L.push('No external host received a packet.', '');
  else {
    L.push('| source IP | what it is | packets | received by |', '| --- | --- | ---: | --- |');
    for (const [src, m] of [...seen].sort((a, b) => (a[0] >>> 0) - (b[0] >>> 0))) {
      const total = [...m.values()].reduce((x, y) => x + y, 0);
      const by = [...m].map(([h, n]) => `${h} ${n}`).join(', ');
      L.push(`| ${ipv4.addrToString(src)} | ${what(src, s, r)} | ${total} | ${by} |`);
    }
    L.push('');
  }
  const seen6 = new Map<string, Map<string, number>>();
  for (const h of c.hosts6)
    for (const [src, n] of h.bySource6) {
      const m = seen6.get(src) ?? new Map<string, number>();
      m.set(h.name, (m.get(h.name) ?? 0) + n);
      seen6.set(src, m);
    }
  if (seen6.size) {
    L.push('| IPv6 source | what it is | packets | received by |', '| --- | --- | ---: | --- |');
    for (const [src, m] of [...seen6].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const total = [...m.values()].reduce((x, y) => x + y, 0);
      const by = [...m].map(([h, n]) => `${h} ${n}`).join(', ');
      L.push(`| ${src} | ${what6(src, s, r)} | ${total} | ${by} |`);
    }
    L.push('');
  }
  L.push('## Egress IP ownership', '');
  const iv = intervals(r, end);
  if (iv.length === 0) L.push('No node hosted an egress IP.', '');
  else {
    L.push('| egress IP | from (s) | to (s) | owner | packets lost meanwhile |', '| --- | ---: | ---: | --- | ---: |');
    for (const i of iv)
      L.push(
        `| ${i.ip} | ${i.from} | ${i.to} | ${i.nodes.length ? i.nodes.join(', ') : '**none** (failover gap)'} | ${i.lostTo - i.lostFrom} |`,
      );
    L.push('');
    const gaps = iv.filter((i) => i.nodes.length === 0 && i.to > i.from);
    const split = iv.filter((i) => i.nodes.length > 1);
    L.push('### Failover gaps', '');
    if (gaps.length === 0) L.push('None: every egress IP had an owner from its first announcement on.', '');
    for (const g of gaps)
      L.push(
        `- ${g.ip}: no owner from ${g.from} s to ${g.to} s (${Math.round((g.to - g.from) * 1000)} ms); ` +
          `${g.lostTo - g.lostFrom} packets lost in the cluster meanwhile`,
      );
    for (const g of split) L.push(`- ${g.ip}: **split brain** from ${g.from} s to ${g.to} s: ${g.nodes.join(', ')}`);
    if (gaps.length || split.length) L.push('');
  }
  if (c.liveness.length) {
    L.push('## Node failures (timeline)', '');
    for (const l of c.liveness) L.push(`- ${r.rel(l.at)} s: ${l.node} ${l.alive ? 'restored' : 'failed'}`);
    L.push('');
  }
  L.push('## Drops', '');
  L.push(
    `${acc.datapathTotal} packets dropped by the datapath, ${acc.deliveryTotal} frames or packets not delivered by the simulated segment.`,
    '',
  );
  if (acc.datapath.length || acc.delivery.length) {
    L.push('| where | reason | packets |', '| --- | --- | ---: |');
    for (const d of acc.datapath) {
      const dot = d.where.lastIndexOf('.');
      L.push(`| ${d.where.slice(0, dot)} | ${d.where.slice(dot + 1)} | ${d.count} |`);
    }
    for (const d of acc.delivery) {
      const dot = d.where.indexOf('.');
      L.push(`| ${d.where.slice(0, dot)} | ${d.where.slice(dot + 1)} | ${d.count} |`);
    }
    L.push('');
  }
  return L.join('\n');
}

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f'];

/** timeline.svg: one row per egress IP (owner over time) and one per node (up or failed). */
export function timelineSvg(r: Replay, _s: ReplaySummary): string {
  const c = r.cluster;
  const t0 = r.rel(0);
  const t1 = Math.max(r.rel(c.now), t0 + 0.001);
  const iv = intervals(r, t1);
  const ips = [...new Set(iv.map((i) => i.ip))];
  const nodes = c.nodes.map((n) => n.name);
  const color = new Map(nodes.map((n, i) => [n, PALETTE[i % PALETTE.length]!]));
  const W = 900;
  const left = 130;
  const rowH = 22;
  const rows = ips.length + nodes.length;
  const H = 40 + rows * rowH + 40;
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (W - left - 20);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="monospace" font-size="11">`,
    `<text x="10" y="16" font-size="13">egress IP ownership and node liveness (seconds after the first packet)</text>`,
  ];
  let y = 30;
  for (const ip of ips) {
    out.push(`<text x="10" y="${y + 15}">${esc(ip)}</text>`);
    for (const i of iv.filter((v) => v.ip === ip)) {
      const fill = i.nodes.length === 0 ? '#e15759' : i.nodes.length > 1 ? '#000' : color.get(i.nodes[0]!)!;
      const label = i.nodes.length ? i.nodes.join('+') : 'none';
      out.push(
        `<rect x="${x(i.from).toFixed(1)}" y="${y + 3}" width="${Math.max(0.5, x(i.to) - x(i.from)).toFixed(1)}" height="${rowH - 6}" fill="${fill}"><title>${esc(`${ip} ${label} ${i.from}–${i.to} s`)}</title></rect>`,
      );
    }
    y += rowH;
  }
  for (const n of nodes) {
    out.push(`<text x="10" y="${y + 15}">${esc(n)}</text>`);
    let from = t0;
    let alive = true;
    const bar = (a: number, b: number, up: boolean) =>
      out.push(
        `<rect x="${x(a).toFixed(1)}" y="${y + 6}" width="${Math.max(0.5, x(b) - x(a)).toFixed(1)}" height="${rowH - 12}" fill="${up ? color.get(n) : '#bbb'}"><title>${esc(`${n} ${up ? 'up' : 'failed'} ${a}–${b} s`)}</title></rect>`,
      );
    for (const l of c.liveness.filter((v) => v.node === n)) {
      const t = r.rel(l.at);
      bar(from, t, alive);
      from = t;
      alive = l.alive;
    }
    bar(from, t1, alive);
    y += rowH;
  }
  const ticks = 5;
  for (let k = 0; k <= ticks; k++) {
    const t = t0 + ((t1 - t0) * k) / ticks;
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="30" x2="${x(t).toFixed(1)}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${x(t).toFixed(1)}" y="${y + 14}" text-anchor="middle">${t.toFixed(3)}</text>`,
    );
  }
  out.push(
    `<text x="${left}" y="${y + 30}">red: no owner (failover gap); grey: node failed; black: more than one owner</text>`,
  );
  out.push('</svg>', '');
  return out.join('\n');
}
