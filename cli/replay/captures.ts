/**
 * The capture files `egress replay` writes while the cluster runs (docs/replay.md): segment.pcap (every frame on
 * the simulated segment), pods.pcap (what pods received), and on request capture.pcapng (one interface per uplink
 * and pod, with directions) and drops.pcapng (every dropped packet, one interface per node, the stage and reason
 * as comment). It gives the Replay its output callbacks; packets reach the writers through one staging slot of
 * the replay's slab (engine/io/copy.ts), so no view is made per packet.
 */
import { join } from 'node:path';
import type { Replay, ReplayOptions } from '../../engine/agent/replay.js';
import {
  EPB_INBOUND,
  EPB_OUTBOUND,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  PcapngWriter,
  PcapWriter,
  StageViews,
} from '../../engine/io/index.js';

export type CaptureCallbacks = Pick<ReplayOptions, 'onSegment' | 'onUplinkRx' | 'onDrop' | 'onPod'>;

export class ReplayCaptures {
  private readonly segment: PcapWriter;
  private readonly pods: PcapWriter;
  private readonly ng: PcapngWriter | null;
  private readonly drops: PcapngWriter | null;
  /** drops.pcapng interface per node, one for IPv4 packets and one (`node/eth`) for Ethernet frames. */
  private readonly dropIf = new Map<string, number>();
  /** capture.pcapng interface per node uplink (index = node index) and per pod (index = pod index). */
  private readonly uplinkIf: number[] = [];
  private readonly podIf: number[] = [];
  private stagedView: ((off: number, len: number) => Uint8Array) | null = null;

  constructor(dir: string, o: { pcapng: boolean; drops: boolean }) {
    this.segment = new PcapWriter(join(dir, 'segment.pcap'), { linkType: LINKTYPE_ETHERNET, nanos: true });
    this.pods = new PcapWriter(join(dir, 'pods.pcap'), { linkType: LINKTYPE_RAW, nanos: true });
    this.ng = o.pcapng
      ? new PcapngWriter(join(dir, 'capture.pcapng'), { linkType: LINKTYPE_ETHERNET, nanos: true, ifName: 'segment' })
      : null;
    this.drops = o.drops
      ? new PcapngWriter(join(dir, 'drops.pcapng'), { linkType: LINKTYPE_RAW, nanos: true, ifName: 'unused' })
      : null;
  }

  /** The Replay options that feed the writers (pass them to `new Replay`, then call `attach`). */
  callbacks(): CaptureCallbacks {
    const ng = this.ng;
    const drops = this.drops;
    return {
      onSegment: (r, _slot, off, len, node) => {
        const v = this.staged(off, len);
        this.segment.writeChunk(v, 0, len, r.outSec, r.outNsec, len);
        if (ng) {
          ng.writeOn(0, v, 0, len, r.outSec, r.outNsec, 0);
          if (node >= 0) ng.writeOn(this.uplink(r, node), v, 0, len, r.outSec, r.outNsec, EPB_OUTBOUND);
        }
      },
      ...(ng
        ? {
            onUplinkRx: (r: Replay, node: number, _slot: number, off: number, len: number) =>
              ng.writeOn(this.uplink(r, node), this.staged(off, len), 0, len, r.outSec, r.outNsec, EPB_INBOUND),
          }
        : {}),
      ...(drops
        ? {
            onDrop: (r: Replay, node: string, stage: string, reason: string, off: number, len: number, ip: boolean) =>
              drops.writeOn(
                this.dropIface(drops, node, ip),
                this.staged(off, len),
                0,
                len,
                r.outSec,
                r.outNsec,
                0,
                `${node} ${stage} ${reason}`,
              ),
          }
        : {}),
      onPod: (r, pod, _slot, off, len, sent) => {
        const v = this.staged(off, len);
        if (!sent) this.pods.writeChunk(v, 0, len, r.outSec, r.outNsec, len);
        if (ng) {
          const podIf = this.podIf;
          while (podIf.length <= pod.index) podIf.push(-1);
          if (podIf[pod.index]! < 0) podIf[pod.index] = ng.addInterface(`pod:${pod.key}`, LINKTYPE_RAW);
          ng.writeOn(podIf[pod.index]!, v, 0, len, r.outSec, r.outNsec, sent ? EPB_OUTBOUND : EPB_INBOUND);
        }
      },
    };
  }

  /** Take a staging slot of the replay's slab (before the first packet). */
  attach(replay: Replay): void {
    const slab = replay.slab;
    const base = slab.base(slab.alloc());
    const views = new StageViews(slab.u8, base, slab.slotSize);
    this.stagedView = (off, len) => {
      slab.u8.copyWithin(base, off, off + len);
      return views.pick(len, slab.slotSize);
    };
  }

  close(): void {
    this.segment.close();
    this.pods.close();
    this.ng?.close();
    this.drops?.close();
  }

  private staged(off: number, len: number): Uint8Array {
    return this.stagedView!(off, len);
  }

  private uplink(r: Replay, node: number): number {
    const ifs = this.uplinkIf;
    while (ifs.length <= node) ifs.push(-1);
    if (ifs[node]! < 0) ifs[node] = this.ng!.addInterface(`uplink:${r.cluster.created[node]!.name}`, LINKTYPE_ETHERNET);
    return ifs[node]!;
  }

  private dropIface(drops: PcapngWriter, node: string, ip: boolean): number {
    const k = ip ? node : `${node}/eth`;
    let i = this.dropIf.get(k);
    if (i === undefined) this.dropIf.set(k, (i = drops.addInterface(k, ip ? LINKTYPE_RAW : LINKTYPE_ETHERNET)));
    return i;
  }
}
