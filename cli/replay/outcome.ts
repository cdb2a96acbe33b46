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
import { ipv4 } from '../../engine/wire/index.js';
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
  // IPv4 from addresses the manifests do not know, and none from a pod: the capture's addresses need mapping.
  const unknown = replay.outsideSources.size > 0 || (acc.undeliverableBy['no-such-pod'] ?? 0) > 0;
  if (acc.fromPods === 0 && mapping.empty && unknown) console.log(noPodHint(replay, state));
  return code;
}

/** No packet came from a pod and nothing was mapped: say which sources the capture had and how to map them. */
function noPodHint(r: Replay, state: policy.ClusterState): string {
  const pods = [...state.pods.values()]
    .filter((p) => p.status?.podIP)
    .slice(0, 3)
    .map((p) => `${p.metadata.namespace}/${p.metadata.name} ${p.status!.podIP}`);
  const srcs = [...r.outsideSources].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, 3);
  const lines = [
    `note: no packet came from a Pod of the manifests${pods.length ? ` (${pods.join(', ')}${state.pods.size > 3 ? ', …' : ''})` : ''}.`,
  ];
  if (srcs.length)
    lines.push(
      `      The capture's most frequent other sources: ${srcs.map(([ip, n]) => `${ipv4.addrToString(ip)} (${n})`).join(', ')}.`,
    );
  // A pod is most likely one of the private (RFC 1918) or shared (RFC 6598) addresses a capture shows.
  const priv = (ip: number) => {
    const a = ip >>> 24;
    const b = (ip >>> 16) & 0xff;
    return (
      a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b < 128)
    );
  };
  const cand =
    [...r.outsideSources].filter(([ip]) => priv(ip)).sort((x, y) => y[1] - x[1] || x[0] - y[0])[0] ?? srcs[0];
  const ex = cand ? ipv4.addrToString(cand[0]) : '10.244.1.5';
  const pod = [...state.pods.values()].find((p) => p.status?.podIP);
  lines.push(
    `      Map capture addresses to the manifests' with --map-pod ${ex}=${pod ? `${pod.metadata.namespace}/${pod.metadata.name}` : 'NAMESPACE/POD'}` +
      ` or --map-addr FROM_CIDR=TO_CIDR (e.g. --map-addr 10.244.0.0/16=198.19.0.0/16).`,
  );
  return lines.join('\n');
}
