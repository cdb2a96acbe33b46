/**
 * Outputs of the end-to-end benchmark: the results object (e2e.json), a Markdown table (e2e.md, printed by
 * `npm run bench:e2e`) and a chart of packets/s against frame size for every path (e2e.svg, no dependencies).
 */
import type { DrainResult, RateResult, TrialResult } from './measure.js';
import type { Machine } from './sys.js';
import type { Variant } from './variants.js';

export interface UdpResult extends RateResult {
  path: string;
  /** Frame size (RFC 2544: Ethernet header + IP packet + FCS). */
  size: number;
  flows: number;
  /** Capacity with the source idle (engine and ceiling; see measure.ts drain). */
  drain?: DrainResult;
  /** The engine variant's label (variants.ts), absent for the default engine and the other paths. */
  variant?: string;
}

export interface TcpResult {
  path: string;
  /** iperf3 receiver's goodput. */
  bps: number;
  retransmits: number;
  seconds: number;
  /** Forwarder processes' CPU, in cores (1 = one CPU busy all the time). */
  forwarderCpu: number;
  /** The machine's busy CPU, in cores. */
  systemCpu: number;
  /** Agent flags of this run (engine paths; '' for the kernel). */
  variant: string;
}

export interface Results {
  label: string;
  machine: Machine;
  params: {
    quick: boolean;
    sizes: number[];
    flows: number[];
    agentArgs: string[];
    /** Frame sizes of the variant rows (absent in results from before variants). */
    variantSizes?: number[];
    ceilingQueues: number;
    ceilingBurst: number;
    trialMs: number;
    mrrMs: number;
    mrrTrials: number;
    precision: number;
    maxTrials: number;
    pdrLoss: number;
    settleMs: number;
    sourceCpu: number;
    tcpMs: number;
  };
  /**
   * The source alone per first-hop device (veth for the kernel's pods, TUN for the engine's and the ceiling's)
   * and frame size: its CPU per datagram and its rate.
   */
  baseline: Partial<Record<'veth' | 'tun', Record<number, { sourceUsPerPacket: number; sourcePps: number }>>>;
  /** Engine variants of the UDP rows, measured or skipped (absent in results from before variants). */
  variants?: Variant[];
  udp: UdpResult[];
  tcp: TcpResult[];
  durationS: number;
  /** Per engine configuration: each node's runtime stats, port counters and non-zero drop counters. */
  engineReports?: Record<string, unknown>;
}

export const PATH_LABEL: Record<string, string> = {
  'engine-local': 'engine, local SNAT',
  'engine-remote': 'engine, Geneve → egress node',
  'kernel-local': 'kernel, local SNAT',
  'kernel-remote': 'kernel, VXLAN → egress node',
  ceiling: 'I/O ceiling (C, TUN → TAP)',
};

const ORDER = ['engine-local', 'ceiling', 'kernel-local', 'engine-remote', 'kernel-remote'];

/**
 * Forwarding CPU per received packet (µs): the machine's busy CPU over the trial minus what the source alone
 * costs for the packets it sent, divided by the packets received. Includes the forwarder processes, the kernel
 * work for them (TUN/TAP system calls, the bridge, the sink's ingress drop) or the kernel's own forwarding.
 */
export function forwardingUs(r: Results, path: string, size: number, t: TrialResult): number {
  const src = r.baseline[path.startsWith('kernel') ? 'veth' : 'tun']?.[size]?.sourceUsPerPacket ?? NaN;
  return t.received > 0 ? (t.system.busyUs - src * t.sent) / t.received : NaN;
}

/** The forwarder processes' own CPU (user + system, kernel work in their system calls included) per packet. */
export function processUs(t: TrialResult): number {
  return t.received > 0 ? t.forwarderCpuUs / t.received : NaN;
}

const k = (pps: number) => (pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} M` : `${(pps / 1e3).toFixed(0)} k`);
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? (a / b).toFixed(2) : '–');

function find(r: Results, path: string, size: number, flows: number, variant = ''): UdpResult | undefined {
  return r.udp.find((u) => u.path === path && u.size === size && u.flows === flows && (u.variant ?? '') === variant);
}

/** Labels of the variants with rows, in the order they were given. */
function measured(r: Results): string[] {
  const withRows = new Set(r.udp.map((u) => u.variant ?? '').filter(Boolean));
  const given = (r.variants ?? []).map((v) => v.label).filter((l) => withRows.has(l));
  return [...given, ...[...withRows].filter((l) => !given.includes(l))];
}

/** A row's name: the path's, with the variant's flags. */
function rowLabel(path: string, variant = ''): string {
  return `${PATH_LABEL[path] ?? path}${variant ? ` (\`${variant}\`)` : ''}`;
}

export function renderMarkdown(r: Results): string {
  const m = r.machine;
  const p = r.params;
  const out: string[] = [];
  out.push(`# End-to-end throughput${r.label ? `: ${r.label}` : ''}`);
  out.push('');
  out.push(
    `Machine: ${m.cpus} × ${m.cpuModel} (${m.virtualization}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}; ` +
      `${m.date.slice(0, 10)}; run took ${r.durationS.toFixed(0)} s.`,
  );
  out.push(
    `Method: UDP from a pod namespace (sendmmsg source pinned to CPU ${p.sourceCpu}) to a sink namespace that counts ` +
      `and drops at its ingress; frames = Ethernet + IP + FCS (IP packet = frame − 18). MRR = median receive rate ` +
      `of ${p.mrrTrials} unpaced ${p.mrrMs / 1000} s trials; PDR (≤ ${p.pdrLoss * 100} % loss) and NDR (0 loss) by ` +
      `binary search on the offered rate, ${p.trialMs / 1000} s trials, ≤ ${p.maxTrials} trials, precision ` +
      `${p.precision * 100} %; a trial passes only if the source achieved ≥ 98 % of its target; packets still ` +
      `queued when the source stops count if they arrive within ${p.settleMs} ms. CPU/pkt = machine busy CPU ` +
      `minus the source's own cost, per received packet (proc: the forwarder processes' own CPU); drain = ` +
      `capacity with the source idle (forwarder stopped while the source fills the pod TUN's queue, then timed ` +
      `alone). Engine and ceiling devices queue 4096 packets.` +
      (p.agentArgs.length ? ` Agent flags: \`${p.agentArgs.join(' ')}\`.` : '') +
      (p.ceilingQueues > 1 ? ` Ceiling: ${p.ceilingQueues} queue pairs.` : '') +
      (measured(r).length
        ? ` Engine variants (rows named with their flags): ${measured(r)
            .map((l) => `\`${l}\``)
            .join(', ')}, frames ${(p.variantSizes ?? p.sizes).join(', ')}, each run right after the default ` +
          `engine's rows.`
        : ''),
  );
  out.push('');
  if (r.udp.length) {
    out.push(
      '| path | frame | flows | MRR pps | MRR Gbit/s | PDR pps | NDR pps | CPU µs/pkt | proc µs/pkt | drain pps | drain µs/pkt |',
    );
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const flows of p.flows)
      for (const size of p.sizes)
        for (const path of ORDER)
          for (const variant of ['', ...measured(r)]) {
            const u = find(r, path, size, flows, variant);
            if (!u) continue;
            out.push(
              `| ${rowLabel(path, variant)} | ${size} | ${flows} | ${k(u.mrr.receivedPps)} | ${(u.mrr.receivedBps / 1e9).toFixed(2)} | ` +
                `${k(u.pdr.rate)} | ${k(u.ndr.rate)} | ${f2(forwardingUs(r, path, size, u.mrr))} | ` +
                `${path.startsWith('kernel') ? '–' : f2(processUs(u.mrr))} | ` +
                `${u.drain ? k(u.drain.pps) : '–'} | ${u.drain ? f2(u.drain.cpuUsPerPacket) : '–'} |`,
            );
          }
    out.push('');
    out.push('Ratios (MRR / PDR; drain: capacity with the source idle):');
    out.push('');
    out.push(
      '| frame | flows | engine/kernel local | engine/kernel remote | engine/ceiling local | engine/ceiling drain |',
    );
    out.push('| ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const flows of p.flows)
      for (const size of p.sizes) {
        const el = find(r, 'engine-local', size, flows);
        const er = find(r, 'engine-remote', size, flows);
        const kl = find(r, 'kernel-local', size, flows);
        const kr = find(r, 'kernel-remote', size, flows);
        const c = find(r, 'ceiling', size, flows);
        const both = (a?: UdpResult, b?: UdpResult) =>
          `${ratio(a?.mrr.receivedPps, b?.mrr.receivedPps)} / ${ratio(a?.pdr.rate, b?.pdr.rate)}`;
        out.push(
          `| ${size} | ${flows} | ${both(el, kl)} | ${both(er, kr)} | ${both(el, c)} | ${ratio(el?.drain?.pps, c?.drain?.pps)} |`,
        );
      }
    out.push('');
    out.push(...variantRatios(r));
  }
  const skipped = (r.variants ?? []).filter((v) => v.skipped);
  if (skipped.length) {
    out.push(`Variants not measured: ${skipped.map((v) => `\`${v.label}\` (${v.skipped})`).join('; ')}.`);
    out.push('');
  }
  if (r.tcp.length) {
    out.push(`TCP bulk (iperf3, one connection, ${p.tcpMs / 1000} s, pod → sink):`);
    out.push('');
    out.push('| path | Gbit/s | retransmits | forwarder CPU (cores) | machine CPU (cores) |');
    out.push('| --- | ---: | ---: | ---: | ---: |');
    for (const path of ORDER)
      for (const t of r.tcp.filter((x) => x.path === path)) {
        out.push(
          `| ${PATH_LABEL[path] ?? path}${t.variant ? ` (\`${t.variant}\`)` : ''} | ${(t.bps / 1e9).toFixed(2)} | ${t.retransmits} | ` +
            `${path.startsWith('kernel') ? '–' : t.forwarderCpu.toFixed(2)} | ${t.systemCpu.toFixed(2)} |`,
        );
      }
    const tl = (a: string, b: string) => {
      const xs = r.tcp.filter((t) => t.path === a);
      const y = r.tcp.find((t) => t.path === b);
      return xs.length && y
        ? xs.map((x) => `${(x.bps / y.bps).toFixed(2)}${x.variant ? ` (\`${x.variant}\`)` : ''}`).join(', ')
        : '–';
    };
    out.push('');
    out.push(
      `TCP engine/kernel: local ${tl('engine-local', 'kernel-local')}, remote ${tl('engine-remote', 'kernel-remote')}.`,
    );
    out.push('');
  }
  return out.join('\n');
}

/**
 * Each variant against the default engine, same path, frame and flows: MRR, PDR, drain (capacity with the source
 * idle) and CPU per packet (machine, then the agents' own, live at MRR; then per drained packet). Above 1 the
 * variant moves more packets; below 1 it spends less CPU per packet.
 */
function variantRatios(r: Results): string[] {
  const out: string[] = [];
  const labels = measured(r);
  if (!labels.length) return out;
  const versus = (l: string) => r.variants?.find((v) => v.label === l)?.versus ?? 'default';
  out.push('Engine variants against the default engine (variant / default, same run):');
  out.push('');
  out.push(
    '| variant / default | path | frame | flows | MRR | PDR | drain | CPU µs/pkt | proc µs/pkt | drain µs/pkt |',
  );
  out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const l of labels)
    for (const path of ORDER)
      for (const flows of r.params.flows)
        for (const size of r.params.sizes) {
          const v = find(r, path, size, flows, l);
          const d = find(r, path, size, flows);
          if (!v || !d) continue;
          out.push(
            `| \`${l}\` / \`${versus(l)}\` | ${PATH_LABEL[path] ?? path} | ${size} | ${flows} | ` +
              `${ratio(v.mrr.receivedPps, d.mrr.receivedPps)} | ${ratio(v.pdr.rate, d.pdr.rate)} | ` +
              `${ratio(v.drain?.pps, d.drain?.pps)} | ` +
              `${ratio(forwardingUs(r, path, size, v.mrr), forwardingUs(r, path, size, d.mrr))} | ` +
              `${ratio(processUs(v.mrr), processUs(d.mrr))} | ${ratio(v.drain?.cpuUsPerPacket, d.drain?.cpuUsPerPacket)} |`,
          );
        }
  out.push('');
  return out;
}

const COLORS: Record<string, string> = {
  'engine-local': '#1f77b4',
  ceiling: '#7f7f7f',
  'kernel-local': '#2ca02c',
  'engine-remote': '#9ecae1',
  'kernel-remote': '#a1d99b',
};

/** Colours of the variants' bars: [local, remote], by the variant's position. */
const VARIANT_COLORS: Array<[string, string]> = [
  ['#ff7f0e', '#fdd0a2'],
  ['#9467bd', '#dadaeb'],
  ['#d62728', '#fcbba1'],
  ['#8c564b', '#d9c2bc'],
];

/**
 * Grouped bars: MRR (bar) and PDR (tick) in packets/s per frame size, one panel per flow count; each engine variant
 * is a bar beside its path's.
 */
export function renderSvg(r: Results): string {
  const labels = measured(r);
  const series: Array<{ path: string; variant: string; color: string }> = [];
  for (const path of ORDER) {
    if (r.udp.some((u) => u.path === path && !u.variant))
      series.push({ path, variant: '', color: COLORS[path] ?? '#000' });
    labels.forEach((variant, i) => {
      if (r.udp.some((u) => u.path === path && u.variant === variant)) {
        const c = VARIANT_COLORS[i % VARIANT_COLORS.length]!;
        series.push({ path, variant, color: path.endsWith('remote') ? c[1] : c[0] });
      }
    });
  }
  const flowsList = r.params.flows;
  const sizes = r.params.sizes;
  const W = 420;
  const H = 300;
  const padL = 56;
  const padB = 40;
  const padT = 30;
  const width = W * flowsList.length + 20;
  const height = H + 30 + 18 * Math.ceil(series.length / 2) + 10;
  const max = Math.max(1, ...r.udp.map((u) => u.mrr.receivedPps));
  const step = niceStep(max / 5);
  const top = Math.ceil(max / step) * step;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  o.push(`<rect width="100%" height="100%" fill="white"/>`);
  flowsList.forEach((flows, pi) => {
    const x0 = pi * W + 10;
    const plotW = W - padL - 10;
    const plotH = H - padT - padB;
    const y = (v: number) => padT + plotH - (v / top) * plotH;
    o.push(
      `<text x="${x0 + padL + plotW / 2}" y="16" text-anchor="middle" font-size="13">` +
        `${esc(`UDP, ${flows} flow${flows > 1 ? 's' : ''}: receive rate (bar: MRR, line: PDR)`)}</text>`,
    );
    for (let v = 0; v <= top + 1e-9; v += step) {
      o.push(`<line x1="${x0 + padL}" x2="${x0 + padL + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
      o.push(`<text x="${x0 + padL - 4}" y="${y(v) + 4}" text-anchor="end">${k(v)}</text>`);
    }
    o.push(
      `<text transform="translate(${x0 + 12},${padT + plotH / 2}) rotate(-90)" text-anchor="middle">packets/s</text>`,
    );
    const gw = plotW / sizes.length;
    const bw = (gw * 0.8) / Math.max(1, series.length);
    sizes.forEach((size, si) => {
      const gx = x0 + padL + si * gw + gw * 0.1;
      o.push(`<text x="${gx + gw * 0.4}" y="${padT + plotH + 16}" text-anchor="middle">${size} B</text>`);
      series.forEach(({ path, variant, color }, k2) => {
        const u = find(r, path, size, flows, variant);
        if (!u) return;
        const bx = gx + k2 * bw;
        const v = u.mrr.receivedPps;
        o.push(
          `<rect x="${bx.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(y(0) - y(v)).toFixed(1)}" fill="${color}"><title>${esc(`${rowLabel(path, variant).replaceAll('`', '')}, ${size} B, ${flows} flows: MRR ${k(v)}pps, PDR ${k(u.pdr.rate)}pps`)}</title></rect>`,
        );
        if (u.pdr.rate > 0)
          o.push(
            `<line x1="${bx.toFixed(1)}" x2="${(bx + bw - 1).toFixed(1)}" y1="${y(u.pdr.rate).toFixed(1)}" y2="${y(u.pdr.rate).toFixed(1)}" stroke="black" stroke-width="2"/>`,
          );
      });
    });
    o.push(`<text x="${x0 + padL + plotW / 2}" y="${padT + plotH + 32}" text-anchor="middle">frame size</text>`);
  });
  series.forEach(({ path, variant, color }, i) => {
    const lx = 20 + (i % 2) * 330;
    const ly = H + 30 + Math.floor(i / 2) * 18;
    o.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color}"/>`);
    o.push(`<text x="${lx + 18}" y="${ly}">${esc(rowLabel(path, variant).replaceAll('`', ''))}</text>`);
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}

function niceStep(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}
