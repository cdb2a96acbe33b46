/** The replay golden scenarios (captures/replay/<name>/) and a helper that runs one in-process. */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { main } from '../../cli/main.js';

const ROOT = resolve(import.meta.dirname, '../..');
export const CAP = join(ROOT, 'captures/replay');

export interface Scenario {
  name: string;
  manifests: string;
  reflect: boolean;
  timeline?: string;
  /** More `egress replay` flags. */
  args?: string[];
}

export const SCENARIOS: Scenario[] = [
  { name: 'reference', manifests: join(ROOT, 'examples/reference/cluster.yaml'), reflect: true },
  { name: 'bypass', manifests: join(CAP, 'bypass/cluster.yaml'), reflect: true },
  { name: 'vlan', manifests: join(CAP, 'vlan/cluster.yaml'), reflect: true },
  { name: 'arp', manifests: join(ROOT, 'examples/reference/cluster.yaml'), reflect: false },
  { name: 'malformed', manifests: join(ROOT, 'examples/reference/cluster.yaml'), reflect: true },
  { name: 'icmp', manifests: join(ROOT, 'examples/reference/cluster.yaml'), reflect: true },
  { name: 'fragments', manifests: join(ROOT, 'examples/reference/cluster.yaml'), reflect: false },
  { name: 'dual-stack', manifests: join(CAP, 'dual-stack/cluster.yaml'), reflect: true },
  {
    name: 'failover',
    manifests: join(ROOT, 'examples/reference/cluster.yaml'),
    reflect: true,
    timeline: join(CAP, 'failover/timeline.yaml'),
  },
  {
    name: 'failover-state',
    manifests: join(ROOT, 'examples/reference/cluster.yaml'),
    reflect: true,
    timeline: join(CAP, 'failover-state/timeline.yaml'),
    args: ['--conn-sync'],
  },
];

/** Run `egress replay` in-process; returns the output directory. */
export async function replay(s: Scenario, out: string): Promise<void> {
  const args = ['replay', '--manifests', s.manifests, '--in', join(CAP, s.name, 'in.pcap'), '--out', out, '--quiet'];
  if (s.reflect) args.push('--reflect');
  if (s.timeline) args.push('--timeline', s.timeline);
  if (s.args) args.push(...s.args);
  const log = console.log;
  console.log = () => {};
  try {
    expect(await main(args)).toBe(0);
  } finally {
    console.log = log;
  }
}

/** tshark's `-T fields` of the packets of `file` matching `filter` (one array of values per packet). */
export function fields(file: string, filter: string, names: string[], prefs: readonly string[] = []): string[][] {
  const args = ['-r', file, ...prefs, '-Y', filter, '-T', 'fields', ...names.flatMap((n) => ['-e', n])];
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}
