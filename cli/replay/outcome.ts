/**
 * What `egress replay` leaves when the run is over (docs/replay.md): files in the output directory OUT
 * (summary.json, pipeline.dot, report.md, timeline.svg), and the lines on stdout (the accounting of every input
 * packet, the drops, undeliverable input by reason, a hint when no packet came from a pod).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Replay } from '../../engine/agent/replay.js';
import type { Mapping } from '../../engine/agent/replay-input.js';
import { replayReport, timelineSvg } from '../../engine/agent/replay-report.js';
import { accounting, reasonText, type summary } from '../../engine/agent/replay-summary.js';
import * as policy from '../../engine/policy/index.js';
import { ipv4, ipv6 } from '../../engine/wire/index.js';
import { pipelineDot } from '../pipeline-dot.js';

/** Write the result files into `dir`; returns the report's text (printed with --verbose). */
export function writeResults(dir: string, replay: Replay, s: ReturnType<typeof summary>, meta: object): string {
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({ meta, ...s }, null, 2) + '\n');
  writeFileSync(join(dir, 'pipeline.dot'), pipelineDot());
  const report = replayReport(replay, s);
  writeFileSync(join(dir, 'report.md'), report);
  writeFileSync(join(dir, 'timeline.svg'), timelineSvg(replay, s));
  return report;
}

/**
 * Print the outcome of a finished replay whose outputs go to `out`; returns the exit code: 3 with `strict` when
 * more than `maxUndeliverable` of the input could not be put into the simulation, else 0.
 */
export function printOutcome(
  replay: Replay,
  state: policy.ClusterState,
  mapping: Mapping,
  out: string,
  o: { maxUndeliverable: number; strict: boolean },
): number {
  const acc = accounting(replay);
  const reasons = (by: Record<string, number>) =>
    Object.entries(by)
      .sort((x, y) => y[1] - x[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  console.log(
    `replayed ${acc.packets} packets: ${acc.fromPods} from pods, ${acc.fromOutside} from outside, ` +
      `${acc.rawFrames} raw frames` +
      (acc.skipped ? `, ${acc.skipped} skipped (${reasons(acc.skippedBy)})` : '') +
      (acc.undeliverable ? `, ${acc.undeliverable} undeliverable (${reasons(acc.undeliverableBy)})` : '') +
      `; ${replay.cluster.nodes.length} nodes: ${acc.framesOnSegment} frames on the segment, ` +
      `${acc.packetsToPods} packets to pods; wrote ${out}/`,
  );
  const top5 = (l: Array<{ where: string; count: number }>) =>
    l
      .slice(0, 5)
      .map((d) => `${d.where} ${d.count}`)
      .join(', ') + (l.length > 5 ? ', …' : '');
  console.log(
    `drops: ${acc.datapathTotal} in the datapath${acc.datapath.length ? ` (${top5(acc.datapath)})` : ''}, ` +
      `${acc.deliveryTotal} not delivered by the simulated segment${acc.delivery.length ? ` (${top5(acc.delivery)})` : ''}`,
  );
  let code = 0;
  const frac = acc.packets ? acc.undeliverable / acc.packets : 0;
  if (acc.undeliverable > 0 && frac > o.maxUndeliverable) {
    console.log(
      `${acc.undeliverable} of ${acc.packets} input packets (${(100 * frac).toFixed(1)} %) could not be put into the simulation:`,
    );
    for (const [k, n] of Object.entries(acc.undeliverableBy).sort((x, y) => y[1] - x[1])) {
      const ex = replay.examples.get(k as never);
      console.log(`  ${k} ${n}: ${reasonText(k)}${ex ? `; e.g. packet ${ex.packet} at ${ex.t} s: ${ex.what}` : ''}`);
    }
    if (o.strict) code = 3;
  }
  // IP from addresses the manifests do not know, and none from a pod: the capture's addresses need mapping.
  const unknown =
    replay.outsideSources.size > 0 || replay.outsideSources6.size > 0 || (acc.undeliverableBy['no-such-pod'] ?? 0) > 0;
  if (acc.fromPods === 0 && mapping.empty && unknown) console.log(noPodHint(replay, state));
  return code;
}

/** No packet came from a pod and nothing was mapped: say which sources the capture had and how to map them. */
function noPodHint(r: Replay, state: policy.ClusterState): string {
  const ipOf = (p: policy.Pod) => policy.podIPv4(p) ?? policy.podIPv6(p);
  const pods = [...state.pods.values()]
    .filter((p) => ipOf(p))
    .slice(0, 3)
    .map((p) => `${p.metadata.namespace}/${p.metadata.name} ${ipOf(p)}`);
  const v4 = [...r.outsideSources].map(([ip, n]): [string, number, number] => [ipv4.addrToString(ip), n, ip]);
  const v6 = [...r.outsideSources6].map(([ip, n]): [string, number, number] => [ip, n, 0]);
  const srcs = [...v4, ...v6].sort((x, y) => y[1] - x[1] || x[2] - y[2] || (x[0] < y[0] ? -1 : 1)).slice(0, 3);
  const lines = [
    `note: no packet came from a Pod of the manifests${pods.length ? ` (${pods.join(', ')}${state.pods.size > 3 ? ', …' : ''})` : ''}.`,
  ];
  if (srcs.length)
    lines.push(`      The capture's most frequent other sources: ${srcs.map(([ip, n]) => `${ip} (${n})`).join(', ')}.`);
  // A pod is most likely one of the private (RFC 1918) or shared (RFC 6598) addresses a capture shows, over
  // IPv6 a unique local one (fc00::/7, RFC 4193).
  const priv = (ip: number) => {
    const a = ip >>> 24;
    const b = (ip >>> 16) & 0xff;
    return (
      a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128)
    );
  };
  const byCount = (x: [string, number, number], y: [string, number, number]) => y[1] - x[1] || x[2] - y[2];
  if (v4.length > 0 || v6.length === 0) {
    const cand = v4.filter(([, , ip]) => priv(ip)).sort(byCount)[0] ?? v4.sort(byCount)[0];
    const ex = cand ? cand[0] : '10.244.1.5';
    const pod = [...state.pods.values()].find((p) => policy.podIPv4(p));
    lines.push(
      `      Map capture addresses to the manifests' with --map-pod ${ex}=${pod ? `${pod.metadata.namespace}/${pod.metadata.name}` : 'NAMESPACE/POD'}` +
        ` or --map-addr FROM_CIDR=TO_CIDR (e.g. --map-addr 10.244.0.0/16=198.19.0.0/16).`,
    );
  }
  if (v6.length > 0) {
    const ula = (t: string) => /^f[cd]/i.test(t);
    const cand = v6.filter(([ip]) => ula(ip)).sort(byCount)[0] ?? v6.sort(byCount)[0]!;
    const pod = [...state.pods.values()].find((p) => policy.podIPv6(p));
    const p6 = pod ? policy.podIPv6(pod) : null;
    lines.push(
      `      For IPv6: --map-pod ${cand[0]}=${pod ? `${pod.metadata.namespace}/${pod.metadata.name}` : 'NAMESPACE/POD'}` +
        ` or --map-addr ${net64(cand[0])}=${p6 ? net64(p6) : 'TO_CIDR'}.`,
    );
  }
  return lines.join('\n');
}

/** The /64 of an IPv6 address, as text (cold). */
function net64(a: string): string {
  const b = ipv6.parseAddr(a);
  if (!b) return `${a}/64`;
  b.fill(0, 8);
  return `${ipv6.addrBytesToString(b)}/64`;
}
