/**
 * bench:e2e's engine variants (bench/e2e/variants.ts) and how the report shows them: `--variants` parsing, the
 * check against the agent's `--help`, the variant rows in the Markdown table, their ratio to the default engine's
 * rows, the skipped ones, and their bars in the chart. Results are made up here; nothing is measured.
 */
import { describe, expect, it } from 'vitest';
import type { DrainResult, RateResult, TrialResult } from '../../bench/e2e/measure.js';
import { renderMarkdown, renderSvg, type Results, type UdpResult } from '../../bench/e2e/report.js';
import { DEFAULT_VARIANTS, parseVariants, unsupported } from '../../bench/e2e/variants.js';

describe('parseVariants', () => {
  it('turns name=value and bare names into agent flags, labelled, against the defaults or the base flags', () => {
    expect(parseVariants('io=uring;workers=2')).toEqual([
      { label: '--io uring', args: ['--io', 'uring'], versus: '--io rw' },
      { label: '--workers 2', args: ['--workers', '2'], versus: '--workers 1' },
    ]);
    expect(parseVariants('batch=32,budget=4; conntrack-tcp-liberal', ['--batch', '128'])).toEqual([
      { label: '--batch 32 --budget 4', args: ['--batch', '32', '--budget', '4'], versus: '--batch 128 --budget 16' },
      { label: '--conntrack-tcp-liberal', args: ['--conntrack-tcp-liberal'], versus: 'no --conntrack-tcp-liberal' },
    ]);
    expect(parseVariants('heartbeat-interval-ms=20')).toEqual([
      {
        label: '--heartbeat-interval-ms 20',
        args: ['--heartbeat-interval-ms', '20'],
        versus: 'default --heartbeat-interval-ms',
      },
    ]);
    expect(parseVariants('none')).toEqual([]);
    expect(parseVariants('')).toEqual([]);
    expect(parseVariants(DEFAULT_VARIANTS)).toHaveLength(2);
  });

  it('answers a malformed item with a message, not a throw', () => {
    expect(parseVariants('io=uring;--io uring')).toBe(
      'bad variant item "--io uring" (name=value or name, e.g. io=uring)',
    );
    expect(parseVariants('IO=x')).toMatch(/^bad variant item "IO=x"/);
  });
});

describe('unsupported', () => {
  const help = 'usage: egress agent --node NAME [--io rw|uring] [--batch N]\n  --offload   TUN/TAP offloads';
  it('lists the flags of a variant that the help text does not', () => {
    expect(unsupported(help, ['--io', 'uring'])).toEqual([]);
    expect(unsupported(help, ['--workers', '2'])).toEqual(['--workers']);
    expect(unsupported(help, ['--batch', '32', '--budget', '4', '--offload'])).toEqual(['--budget']);
    // a flag must be listed whole: --io does not stand for --io-depth
    expect(unsupported(help, ['--io-depth', '8'])).toEqual(['--io-depth']);
  });
});

const cpu = (busyUs: number) => ({ busyUs, softirqUs: 0, systemUs: 0, userUs: 0 });

function row(path: string, size: number, flows: number, pps: number, drainPps: number, variant?: string): UdpResult {
  const t: TrialResult = {
    target: 0,
    durationMs: 1000,
    sent: pps,
    received: pps,
    offeredPps: pps,
    receivedPps: pps,
    loss: 0,
    receivedBps: pps * (size - 18) * 8,
    sourceCpuUs: pps,
    forwarderCpuUs: pps * 3, // 3 µs per packet
    system: cpu(pps * 4), // 4 µs per packet, 1 of it the source's (baseline below)
    windowUs: 1e6,
  };
  const r: RateResult = {
    mrr: t,
    mrrTrials: [t],
    pdr: { rate: pps, at: t, failedAt: pps, trials: 0 },
    ndr: { rate: pps, at: t, failedAt: pps, trials: 0 },
  };
  const d: DrainResult = { queued: drainPps, drained: drainPps, seconds: 1, pps: drainPps, cpuUsPerPacket: 3 };
  return { path, size, flows, ...r, drain: d, ...(variant ? { variant } : {}) };
}

function results(): Results {
  return {
    label: 'test',
    machine: {
      cpuModel: 'cpu',
      cpus: 2,
      memoryGiB: 1,
      kernel: '6',
      node: 'v20',
      virtualization: 'vm',
      date: '2026-12-04T00:00:00Z',
    },
    params: {
      quick: true,
      sizes: [64, 1518],
      flows: [1000],
      agentArgs: [],
      variantSizes: [64],
      ceilingQueues: 1,
      ceilingBurst: 64,
      trialMs: 500,
      mrrMs: 1000,
      mrrTrials: 1,
      precision: 0.1,
      maxTrials: 4,
      pdrLoss: 0.005,
      settleMs: 200,
      sourceCpu: 0,
      tcpMs: 3000,
    },
    baseline: { tun: { 64: { sourceUsPerPacket: 1, sourcePps: 1e6 }, 1518: { sourceUsPerPacket: 1, sourcePps: 1e6 } } },
    variants: [
      { label: '--io uring', args: ['--io', 'uring'], versus: '--io rw' },
      {
        label: '--workers 2',
        args: ['--workers', '2'],
        versus: '--workers 1',
        skipped: 'egress agent has no --workers',
      },
    ],
    udp: [
      row('engine-local', 64, 1000, 300_000, 310_000),
      row('engine-local', 1518, 1000, 290_000, 300_000),
      row('engine-local', 64, 1000, 330_000, 341_000, '--io uring'),
      row('engine-remote', 64, 1000, 180_000, 200_000),
      row('engine-remote', 64, 1000, 90_000, 250_000, '--io uring'),
    ],
    tcp: [],
    durationS: 60,
  };
}

describe('renderMarkdown with engine variants', () => {
  const md = renderMarkdown(results());
  const lines = md.split('\n');

  it("lists each variant's rows after its path's default row, named with its flags", () => {
    const named = lines
      .filter((l) => l.startsWith('| engine'))
      .map((l) =>
        l
          .split('|')
          .slice(1, 4)
          .map((c) => c.trim())
          .join(' '),
      );
    expect(named).toEqual([
      'engine, local SNAT 64 1000',
      'engine, local SNAT (`--io uring`) 64 1000',
      'engine, Geneve → egress node 64 1000',
      'engine, Geneve → egress node (`--io uring`) 64 1000',
      'engine, local SNAT 1518 1000',
    ]);
    const uring = lines.find((l) => l.startsWith('| engine, local SNAT (`--io uring`)'))!;
    expect(uring).toContain('| 330 k |'); // MRR
    expect(uring).toContain('| 341 k | 3.00 |'); // drain and its CPU per packet
  });

  it('gives each variant row its ratio to the default row of the same path, frame and flows', () => {
    const ratios = lines.filter((l) => l.startsWith('| `--io uring` / `--io rw`'));
    expect(
      ratios.map((l) =>
        l
          .split('|')
          .slice(2, 8)
          .map((c) => c.trim()),
      ),
    ).toEqual([
      ['engine, local SNAT', '64', '1000', '1.10', '1.10', '1.10'],
      ['engine, Geneve → egress node', '64', '1000', '0.50', '0.50', '1.25'],
    ]);
    expect(md).toContain('Engine variants (rows named with their flags): `--io uring`, frames 64,');
  });

  it('says which variants were skipped and why', () => {
    expect(md).toContain('Variants not measured: `--workers 2` (egress agent has no --workers).');
    expect(md).not.toContain('| `--workers 2` /');
  });

  it('renders results from before variants as before (no variant table)', () => {
    const old = results();
    delete old.variants;
    old.udp = old.udp.filter((u) => !u.variant);
    const m = renderMarkdown(old);
    expect(m).not.toContain('variant');
    expect(m.split('\n').filter((l) => l.startsWith('| engine'))).toHaveLength(3);
  });
});

describe('renderSvg with engine variants', () => {
  it("draws a bar per variant row beside its path's and names it in the legend", () => {
    const svg = renderSvg(results());
    expect(svg).toContain('>engine, local SNAT (--io uring)</text>');
    expect(svg).toContain('>engine, Geneve → egress node (--io uring)</text>');
    expect(svg).toContain('<title>engine, local SNAT (--io uring), 64 B, 1000 flows: MRR 330 kpps');
    // 5 rows, 5 bars; 4 series in the legend
    expect(
      svg.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#[0-9a-f]+"><title>/g),
    ).toHaveLength(5);
    expect(svg.match(/width="12" height="12"/g)).toHaveLength(4);
  });
});
