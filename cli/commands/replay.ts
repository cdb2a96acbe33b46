/**
 * `egress replay`: run a whole cluster of the manifests in one process over an input capture (no root).
 *
 * Order of work: flags, manifests, timeline and mapping are checked; the capture is read once whole (link
 * types, corruption, packet count, first timestamp) before any packet is simulated; outputs are written into
 * a fresh directory next to `--out` and moved into place when complete, so a failed run leaves no output that
 * looks complete.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Replay } from '../../engine/agent/replay.js';
import {
  linkTypeName,
  Mapping,
  MappingError,
  parseMapAddr,
  SUPPORTED_LINK_TYPES,
  type MapRule,
} from '../../engine/agent/replay-input.js';
import { summary, UNITS } from '../../engine/agent/replay-summary.js';
import { loadTimeline, TimelineError, type TimelineEvent } from '../../engine/agent/timeline.js';
import { CaptureError, openCapture, PcapngReader, type CaptureReader } from '../../engine/io/index.js';
import * as policy from '../../engine/policy/index.js';
import { ipv4, ipv6 } from '../../engine/wire/index.js';
import { boolOpt, listOpt, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { failOnErrors, loadManifests } from '../manifest-files.js';
import { ReplayCaptures } from '../replay/captures.js';
import { printOutcome, writeResults } from '../replay/outcome.js';

const VERSION = '0.1.0';

const USAGE = `usage: egress replay --manifests FILE|DIR --in IN.pcap|IN.pcapng --out DIR [--reflect] [--timeline FILE]
                     [--map-addr FROM_CIDR=TO_CIDR]... [--map-pod IP=NAMESPACE/POD]... [--pcapng] [--drops]
                     [--strict] [--undeliverable-max FRACTION] [--top N] [--conntrack-dump] [--conntrack-tcp-strict]
                     [--conn-sync] [-v] [--quiet]

Runs every Node of the manifests in one process, each the same agent as on devices (datapath, control plane and
heartbeat membership), their uplinks on a simulated L2 switch with the external hosts, in simulated time, and
feeds the capture through it. A packet whose source IP is a pod's is sent by that pod; any other IPv4
packet comes from the external network (an ExternalHost, an implicit host of the segment, or the segment's
gateway), any other IPv6 packet from a host of the segment's IPv6 prefix (when a Node has an IPv6 side); other
Ethernet frames (ARP, NDP, malformed) are put on the segment as they are. No root needed.

  --manifests FILE|DIR  the cluster: Nodes, Namespaces, Pods, Egresses, ExternalIPPools, AgentConfig, ExternalHosts
  --in FILE             input capture: pcap or pcapng (any number of interfaces); link types Ethernet (802.1Q and
                        QinQ tags), raw IPv4/IPv6, Linux cooked SLL and SLL2 (tcpdump -i any), NULL/loopback
  --out DIR             output directory (replaced when the run completes): segment.pcap (every frame on the L2
                        segment), pods.pcap (raw IP, what pods received), summary.json,
                        DIR/report.md (a text report; -v prints it), timeline.svg, pipeline.dot
  --reflect             external hosts answer the cluster: UDP echoed, ICMP echo replied, TCP SYN → SYN-ACK,
                        data → ACK
  --timeline FILE       node failures/recoveries and manifest changes at packet times (YAML; see README)
  --map-addr FROM=TO    rewrite addresses of the capture (both source and destination; IPv4 or IPv6 prefixes of
                        one family and length, host part kept; checksums fixed), e.g. 10.244.0.0/16=198.19.0.0/16
                        or fd00:10:244:1::/64=2001:2:0:101::/64; repeatable
  --map-pod IP=NS/POD   rewrite one address of the capture to that Pod's IP of its family; repeatable
  --pcapng              also write capture.pcapng: one interface per node uplink and per pod, direction flags
  --drops               also write drops.pcapng: every packet a datapath dropped, with node, stage and reason
                        as its comment (pipelines then take one packet per round: slower)
  --strict              exit 3 when more of the input than --undeliverable-max could not be delivered
  --undeliverable-max F fraction of the input that may be undeliverable before the reasons are printed
                        (and --strict fails); default 0: any
  --top N               connections listed per conntrack table in summary.json (default 100)
  --conntrack-dump      list every connection in summary.json
  --conntrack-tcp-strict drop TCP segments outside the tracked window, as the agent does; by default replay is
                        liberal (counted tcp-window-liberal): a capture's pod side keeps its own sequence numbers
                        while simulated hosts answer with theirs
  --conn-sync           replicate connection state from each egress IP's owner to its standby, which installs
                        it when it takes the IP over (docs/conntrack-sync.md); off by default
  --detect-ms MS        heartbeat silence after which a node is dead for the others (default 500)
  --warmup-ms MS        how long the cluster runs before the first packet (membership settles, egress IPs are
                        announced; default 1000)
  -v, --verbose         print the text report (DIR/report.md)
  --quiet               no progress line on a terminal

The same input gives byte-identical segment.pcap, pods.pcap and capture.pcapng, and summary.json identical
except meta.run (wall-clock time and rate). Exit status: 0, 1 (bad input), 2 (usage), 3 (--strict failed).`;

/** Read the whole capture once: link types, corruption, count, first timestamp (before any packet is simulated). */
function prescan(path: string): { packets: number; first: [number, number] | null; warning: string | null } {
  const r = openCapture(path, { tolerateTruncation: true });
  try {
    let packets = 0;
    let first: [number, number] | null = null;
    let checked = -2;
    while (readSafe(r)) {
      if (packets === 0) first = [r.tsSec, r.tsNsec];
      packets++;
      const lt = r.linkType;
      if (lt !== checked && !SUPPORTED_LINK_TYPES.has(lt)) {
        const where =
          r instanceof PcapngReader
            ? `interface ${r.ifIndex}${r.interfaces[r.ifIndex]?.name ? ` (${r.interfaces[r.ifIndex]!.name})` : ''} has`
            : 'the file has';
        throw new UserError(
          `${path}: ${where} link type ${lt} (${linkTypeName(lt)}), which replay cannot read ` +
            `(packet ${packets}, byte ${r.byteOffset}); it reads ${[...SUPPORTED_LINK_TYPES].map(([n, s]) => `${s} (${n})`).join(', ')}`,
        );
      }
      checked = lt;
    }
    return { packets, first, warning: r.warning };
  } finally {
    r.close();
  }
}

function parseMapPod(text: string, state: policy.ClusterState): MapRule {
  const eq = text.indexOf('=');
  const addr = eq > 0 ? text.slice(0, eq) : '';
  const ip = addr.includes(':') ? null : ipv4.parseAddr(addr);
  const ip6 = addr.includes(':') ? ipv6.parseAddr(addr) : null;
  const key = eq > 0 ? text.slice(eq + 1) : '';
  if ((ip === null && ip6 === null) || !/^[^/]+\/[^/]+$/.test(key))
    throw new UsageError(
      `--map-pod ${text}: expected IP=NAMESPACE/POD (e.g. 10.244.1.5=prod/web-a or fd00:10:244:1::5=prod/web-a)`,
    );
  const pod = state.pods.get(key);
  if (!pod) throw new UserError(`--map-pod ${text}: the manifests have no Pod ${key}`);
  if (ip6) {
    const p6 = policy.podIPv6(pod);
    const to = p6 ? ipv6.parseAddr(p6) : null;
    if (to === null) throw new UserError(`--map-pod ${text}: Pod ${key} has no IPv6 address (status.podIPs)`);
    return {
      text: `--map-pod ${text}`,
      from: 0,
      to: 0,
      len: 128,
      from6: ipv6.addrWords(ip6),
      to6: ipv6.addrWords(to),
    };
  }
  const p4 = policy.podIPv4(pod);
  const podIp = p4 ? ipv4.parseAddr(p4) : null;
  if (podIp === null)
    throw new UserError(`--map-pod ${text}: Pod ${key} has no IPv4 address (status.podIP, status.podIPs)`);
  return { text: `--map-pod ${text}`, from: ip!, to: podIp, len: 32 };
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'run a whole cluster over a pcap without root (pcap in → pcaps + summary out)',
  usage: USAGE,
  async run(argv) {
    const started = performance.now();
    const a = parseCommandArgs(argv, {
      manifests: { type: 'string' },
      in: { type: 'string' },
      out: { type: 'string' },
      reflect: { type: 'boolean' },
      timeline: { type: 'string' },
      'map-addr': { type: 'string', multiple: true },
      'map-pod': { type: 'string', multiple: true },
      pcapng: { type: 'boolean' },
      drops: { type: 'boolean' },
      strict: { type: 'boolean' },
      'undeliverable-max': { type: 'string' },
      top: { type: 'string' },
      'conntrack-dump': { type: 'boolean' },
      'conntrack-tcp-strict': { type: 'boolean' },
      'conn-sync': { type: 'boolean' },
      'detect-ms': { type: 'string' },
      'warmup-ms': { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
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
    const maxText = stringOpt(a, 'undeliverable-max') ?? '0';
    const maxUndeliverable = Number(maxText);
    if (!/^\d*\.?\d+$/.test(maxText) || !(maxUndeliverable >= 0 && maxUndeliverable <= 1))
      throw new UsageError(`--undeliverable-max must be a fraction between 0 and 1, got "${maxText}"`);
    const topText = stringOpt(a, 'top') ?? '100';
    if (!/^\d+$/.test(topText)) throw new UsageError(`--top must be a whole number, got "${topText}"`);
    const top = boolOpt(a, 'conntrack-dump') ? Infinity : Number(topText);
    let rules: MapRule[];
    try {
      rules = listOpt(a, 'map-addr').map(parseMapAddr);
    } catch (e) {
      if (e instanceof MappingError) throw new UsageError(e.message);
      throw e;
    }

    // Read the capture whole first: its first timestamp is the cluster's "now" (creation times, events), so the
    // output does not depend on when the replay runs; and nothing is simulated from a file that is corrupt.
    let scan: ReturnType<typeof prescan>;
    try {
      scan = prescan(input);
    } catch (e) {
      if (e instanceof CaptureError) throw new UserError(e.message);
      throw e;
    }
    const t0 = scan.first ? scan.first[0] * 1000 + scan.first[1] / 1e6 : 0;
    const now = new Date(Math.floor(Math.min(t0, 8.64e15)));

    const loaded = loadManifests([manifests]);
    failOnErrors(loaded.problems, manifests);
    const applied = policy.applyDocs(policy.emptyState(), loaded.docs, now, loaded.problems);
    if (!applied.ok) failOnErrors(applied.problems, manifests);
    const state = applied.state;
    if (state.nodes.size === 0) throw new UserError(`${manifests}: no Node in the manifests: nothing to replay`);
    let mapping: Mapping;
    try {
      rules.push(...listOpt(a, 'map-pod').map((t) => parseMapPod(t, state)));
      mapping = new Mapping(rules);
    } catch (e) {
      if (e instanceof MappingError) throw new UsageError(e.message);
      throw e;
    }
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

    // Outputs go to a fresh sibling directory, renamed over --out when everything is written.
    const outAbs = resolve(out);
    if (existsSync(outAbs) && !statSync(outAbs).isDirectory())
      throw new UserError(`${out} exists and is not a directory`);
    const work = join(dirname(outAbs), `.${basename(outAbs)}.incomplete-${process.pid}`);
    try {
      rmSync(work, { recursive: true, force: true });
      mkdirSync(work, { recursive: true });
    } catch (e) {
      throw new UserError(`cannot create ${work}: ${(e as Error).message}`);
    }
    try {
      const code = await runReplay();
      if (existsSync(outAbs)) {
        // Replace only what a replay writes: an --out directory holding anything else is not ours to delete.
        const foreign = readdirSync(outAbs).filter((f) => !OUTPUT_FILES.has(f));
        if (foreign.length)
          throw new UserError(`${out} holds files replay did not write (${foreign[0]}): not replacing it`);
        rmSync(outAbs, { recursive: true, force: true });
      }
      renameSync(work, outAbs);
      return code;
    } catch (e) {
      rmSync(work, { recursive: true, force: true });
      throw e;
    }

    async function runReplay(): Promise<number> {
      const captures = new ReplayCaptures(work, { pcapng: boolOpt(a, 'pcapng'), drops: boolOpt(a, 'drops') });
      // Packet buffers hold the segment's largest frame (a jumbo MTU gets larger slots, fewer of them).
      const big = policy.resolveConfig(state.config).mtu + 14 + 8 + 128 > 2048;
      const replay = new Replay({
        state,
        slotSize: big ? 16384 : 2048,
        slots: big ? 4096 : 16384,
        reflect: boolOpt(a, 'reflect'),
        ...(boolOpt(a, 'conntrack-tcp-strict') ? { tcpStrict: true } : {}),
        ...(boolOpt(a, 'conn-sync') ? { connSync: true } : {}),
        timeline,
        detectMs,
        warmupMs,
        mapping,
        ...captures.callbacks(),
      });
      captures.attach(replay);
      const progress = process.stderr.isTTY && !boolOpt(a, 'quiet');
      let lastShown = 0;
      let reader: CaptureReader | null = null;
      try {
        reader = openCapture(input!, { tolerateTruncation: true });
        while (readSafe(reader)) {
          replay.feedRecord(reader);
          if (progress && (replay.input.packets & 4095) === 0) {
            const t = performance.now();
            if (t - lastShown > 250) {
              lastShown = t;
              const el = (t - started) / 1000;
              const rate = replay.input.packets / el;
              const eta = rate > 0 ? (scan.packets - replay.input.packets) / rate : 0;
              process.stderr.write(
                `\rreplay: ${replay.input.packets}/${scan.packets} packets, ${fmtRate(rate)}/s, ` +
                  `${el.toFixed(1)} s elapsed, ETA ${eta.toFixed(1)} s   `,
              );
            }
          }
        }
        replay.finish();
      } finally {
        reader?.close();
        captures.close();
      }
      if (progress && lastShown) process.stderr.write('\r' + ' '.repeat(79) + '\r');
      if (scan.warning) console.error(`egress replay: warning: ${scan.warning}`);
      const wallMs = performance.now() - started;
      const s = summary(replay, { top });
      const meta = {
        tool: 'egress replay',
        version: VERSION,
        input: { file: basename(input!), packets: scan.packets, ...(scan.warning ? { warning: scan.warning } : {}) },
        options: {
          reflect: boolOpt(a, 'reflect'),
          ...(boolOpt(a, 'conntrack-tcp-strict') ? { conntrackTcpStrict: true } : {}),
          ...(boolOpt(a, 'conn-sync') ? { connSync: true } : {}),
          timeline: tlPath ? basename(tlPath) : null,
          mapping: mapping.rules.map((r) => r.text),
          detectMs,
          warmupMs,
        },
        units: UNITS,
        run: { wallMs: Math.round(wallMs), packetsPerSec: Math.round((scan.packets * 1000) / Math.max(wallMs, 1)) },
      };
      const report = writeResults(work, replay, s, meta);
      const code = printOutcome(replay, state, mapping, out!, {
        maxUndeliverable,
        strict: boolOpt(a, 'strict'),
      });
      if (boolOpt(a, 'verbose')) console.log('\n' + report);
      return code;
    }
  },
};

const OUTPUT_FILES = new Set([
  'segment.pcap',
  'pods.pcap',
  'capture.pcapng',
  'drops.pcapng',
  'summary.json',
  'pipeline.dot',
  'report.md',
  'timeline.svg',
]);

function fmtRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)} k` : n.toFixed(0);
}

/** Advance the reader; a corrupt capture is a one-line user error naming the byte offset. */
function readSafe(r: { advance(): boolean }): boolean {
  try {
    return r.advance();
  } catch (e) {
    if (e instanceof CaptureError) throw new UserError(e.message);
    throw e;
  }
}
