/**
 * `egress replay`: run a whole cluster of the manifests in one process over an input capture (no root).
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Replay } from '../../engine/agent/replay.js';
import { loadTimeline, TimelineError, type TimelineEvent } from '../../engine/agent/timeline.js';
import { CaptureError, LINKTYPE_ETHERNET, LINKTYPE_RAW, openCapture, PcapWriter } from '../../engine/io/index.js';
import * as policy from '../../engine/policy/index.js';
import { boolOpt, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { failOnErrors, loadManifests } from '../manifest-files.js';
import { pipelineDot } from './get-agent.js';

const USAGE = `usage: egress replay --manifests FILE|DIR --in IN.pcap|IN.pcapng --out DIR [--reflect] [--timeline FILE]
                     [--detect-ms MS] [--quiet]

Runs every Node of the manifests in one process, each the same agent as on devices (datapath, control plane and
heartbeat membership), their uplinks on a simulated L2 switch with the external hosts, in simulated time, and
feeds the capture through it. A packet whose source IP is a pod's is sent by that pod; any other IPv4
packet comes from the external network (an ExternalHost, an implicit host of the segment, or the segment's
gateway); other frames (ARP, malformed) are put on the segment as they are. No root needed.

  --manifests FILE|DIR  the cluster: Nodes, Namespaces, Pods, Egresses, ExternalIPPools, AgentConfig, ExternalHosts
  --in FILE             input capture (pcap or pcapng; Ethernet or raw IPv4 link type)
  --out DIR             output directory (created): segment.pcap (every frame on the L2 segment),
                        pods.pcap (raw IPv4, what pods received), summary.json (counters per node and stage,
                        conntrack tables, egress IP ownership over time, events), pipeline.dot
  --reflect             external hosts answer: UDP echoed, ICMP echo replied, TCP SYN → SYN-ACK, data → ACK
  --timeline FILE       node failures/recoveries and manifest changes at packet times (YAML; see README)
  --detect-ms MS        heartbeat silence after which a node is dead for the others (default 500)
  --warmup-ms MS        how long the cluster runs before the first packet (membership settles, egress IPs are
                        announced; default 1000)
  --quiet               no progress line on a terminal

The same input gives byte-identical outputs.`;

export const replayCommand: Command = {
  name: 'replay',
  summary: 'run a whole cluster over a pcap without root (pcap in → pcaps + summary out)',
  usage: USAGE,
  async run(argv) {
    const a = parseCommandArgs(argv, {
      manifests: { type: 'string' },
      in: { type: 'string' },
      out: { type: 'string' },
      reflect: { type: 'boolean' },
      timeline: { type: 'string' },
      'detect-ms': { type: 'string' },
      'warmup-ms': { type: 'string' },
      quiet: { type: 'boolean' },
    });
    if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
    const manifests = stringOpt(a, 'manifests');
    const input = stringOpt(a, 'in');
    const out = stringOpt(a, 'out');
    if (!manifests) throw new UsageError('--manifests is required');
    if (!input) throw new UsageError('--in is required');
    if (!out) throw new UsageError('--out is required');
    const msOpt = (flag: string, dflt: number, min: number): number => {
      const t = stringOpt(a, flag) ?? String(dflt);
      const v = Number(t);
      if (!/^\d+$/.test(t) || v < min || v > 3_600_000)
        throw new UsageError(`--${flag} must be a whole number of milliseconds ≥ ${min}, got "${t}"`);
      return v;
    };
    const detectMs = msOpt('detect-ms', 500, 101);
    const warmupMs = msOpt('warmup-ms', 1000, 0);

    // Open the capture first: its first timestamp is the cluster's "now" (creation times, events), so the
    // output does not depend on when the replay runs.
    let reader;
    try {
      reader = openCapture(input, { tolerateTruncation: true });
    } catch (e) {
      if (e instanceof CaptureError) throw new UserError(e.message);
      throw e;
    }
    const fileSize = statSync(input).size;
    let first = true;
    const hasFirst = readSafe(reader);
    const t0 = hasFirst ? reader.tsSec * 1000 + reader.tsNsec / 1e6 : 0;
    const now = new Date(Math.floor(t0));

    const loaded = loadManifests([manifests]);
    failOnErrors(loaded.problems, manifests);
    const applied = policy.applyDocs(policy.emptyState(), loaded.docs, now, loaded.problems);
    if (!applied.ok) failOnErrors(applied.problems, manifests);
    const state = applied.state;
    if (state.nodes.size === 0) throw new UserError(`${manifests}: no Node in the manifests: nothing to replay`);
    let timeline: TimelineEvent[] = [];
    const tlPath = stringOpt(a, 'timeline');
    if (tlPath) {
      try {
        timeline = loadTimeline(tlPath, state, now);
      } catch (e) {
        if (e instanceof TimelineError) throw new UserError(e.message);
        throw e;
      }
    }

    try {
      mkdirSync(out, { recursive: true });
    } catch (e) {
      throw new UserError(`cannot create ${out}: ${(e as Error).message}`);
    }
    const segment = new PcapWriter(join(out, 'segment.pcap'), { linkType: LINKTYPE_ETHERNET, nanos: true });
    const pods = new PcapWriter(join(out, 'pods.pcap'), { linkType: LINKTYPE_RAW, nanos: true });
    const ts = (t: number): [number, number] => {
      const sec = Math.floor(t / 1000);
      return [sec, Math.round((t - sec * 1000) * 1e6)];
    };
    const replay = new Replay({
      state,
      reflect: boolOpt(a, 'reflect'),
      timeline,
      detectMs,
      warmupMs,
      onSegment: (bytes, off, len, t) => {
        const [s, ns] = ts(t);
        segment.writeChunk(bytes, off, len, s, ns, len);
      },
      onPod: (_pod, bytes, t) => {
        const [s, ns] = ts(t);
        pods.write(bytes, s, ns);
      },
    });

    const progress = process.stderr.isTTY && !boolOpt(a, 'quiet');
    let lastShown = 0;
    try {
      if (hasFirst) {
        do {
          if (!first && !readSafe(reader)) break;
          first = false;
          const lt = reader.linkType;
          if (lt !== LINKTYPE_ETHERNET && lt !== LINKTYPE_RAW && lt !== 228) {
            replay.input.undeliverable++;
            continue;
          }
          replay.feed(
            reader.buf.subarray(reader.off, reader.off + reader.len),
            lt === 228 ? LINKTYPE_RAW : lt,
            reader.tsSec,
            reader.tsNsec,
          );
          if (progress && replay.input.packets % 1024 === 0) {
            const nowMs = Date.now();
            if (nowMs - lastShown > 500) {
              lastShown = nowMs;
              process.stderr.write(
                `\rreplay: ${replay.input.packets} packets, ${((100 * reader.byteOffset) / fileSize).toFixed(0)}%   `,
              );
            }
          }
        } while (true);
      }
      replay.finish();
    } finally {
      reader.close();
      segment.close();
      pods.close();
    }
    if (progress && lastShown) process.stderr.write('\r' + ' '.repeat(60) + '\r');
    if (reader.warning) console.error(`egress replay: warning: ${reader.warning}`);
    const summary = replay.summary();
    writeFileSync(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    writeFileSync(join(out, 'pipeline.dot'), pipelineDot());
    const drops = Object.values(summary.nodes).reduce((n, x) => n + (x.stages['pipeline']?.counters['drop'] ?? 0), 0);
    console.log(
      `replayed ${summary.input.packets} packets (${summary.input.fromPods} from pods, ${summary.input.fromExternal} from outside, ` +
        `${summary.input.rawFrames} raw frames) over ${Object.keys(summary.nodes).length} nodes: ` +
        `${summary.switch['frames'] ?? 0} frames on the segment, ${pods.count} packets to pods, ${drops} drops; wrote ${out}/`,
    );
    return 0;
  },
};

/** Advance the reader; a corrupt capture is a one-line user error naming the byte offset. */
function readSafe(r: { advance(): boolean }): boolean {
  try {
    return r.advance();
  } catch (e) {
    if (e instanceof CaptureError) throw new UserError(e.message);
    throw e;
  }
}
