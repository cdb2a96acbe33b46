/**
 * Whole-cluster replay in one process (the event loop; the simulated cluster is replay-cluster.ts, the link
 * layer and address mapping replay-input.ts, the summary replay-summary.ts): an input capture drives every
 * node of the manifests over a simulated L2 segment. A packet whose source IP is a pod's is sent by that pod
 * (through its port); any other IPv4 packet comes from the external network (a declared ExternalHost, an
 * implicit host of the segment with that address, or the segment's gateway for off-segment sources); other
 * Ethernet frames (ARP, malformed) are put on the segment as they are. With `reflect` the external side
 * answers. A timeline fails and restores nodes and changes manifests at packet times. Deterministic: no wall
 * clock, fixed seeds, ordered iteration, so the same input gives byte-identical outputs.
 *
 * Every input packet lands in exactly one `input` counter: from pods, from outside, raw frames, skipped (the
 * capture's own output: what the capturing host sent, packets from node or Egress IPs) or undeliverable, by
 * reason. What happens next is counted by the stage, segment, host or pod that handled it.
 *
 * Time. The cluster runs on simulated milliseconds: 0 is `warmupMs` before the first packet. Input packets are
 * taken in bursts (up to BATCH packets within BATCH_WINDOW_MS of simulated time and before the next timer,
 * like a NIC's interrupt coalescing), each burst processed at the time of its last packet; every `tickMs` the
 * nodes do their housekeeping (heartbeats, membership, neighbour and conntrack timers). Idle time costs
 * nothing: when the next packet or timeline event is more than `idleMs` away, the cluster runs `idleMs` (what
 * was in flight settles) and the rest is skipped — the cluster's clock stops, connection-tracking entries that
 * would have timed out meanwhile are expired, and output timestamps stay those of the input. Timestamps going
 * backwards are taken as the previous packet's (counted); timestamps after what the outputs can hold (pcap's
 * 32-bit seconds, less an hour) likewise.
 */
import type { CaptureReader } from '../io/index.js';
import type { ClusterState } from '../policy/index.js';
import { ipv4, ipv6, tcp, udp } from '../wire/index.js';
import { macFor } from './node-agent.js';
import {
  Decoded,
  decode,
  K_COOKED_ARP,
  K_FRAME,
  K_IPV4,
  K_IPV6,
  K_NOT_IP,
  K_OUTGOING,
  K_TRUNCATED,
  LT_ETHERNET,
  LT_SLL,
  LT_SLL2,
  Mapping,
  SUPPORTED_LINK_TYPES,
} from './replay-input.js';
import { SimCluster, SimPod, SRC_CLUSTER, SRC_NO_POD, SRC_POD } from './replay-cluster.js';
import type { SegmentEndpoint } from './sim-switch.js';
import { Counts6 } from '../stages/tables6.js';
import { PENDING_PER_HOP as HOST_PENDING_PER_HOP } from './sim-host.js';
import type { TimelineEvent } from './timeline.js';

export { macFor };
export { SimCluster } from './replay-cluster.js';

/** Where input packets end up (each packet in exactly one). */
export const INPUT_CATEGORIES = ['from-pods', 'from-outside', 'raw-frames', 'skipped', 'undeliverable'] as const;

/** Why an input packet was skipped: the capture's own output, which the simulation makes itself. */
export const SKIP_REASONS = {
  outgoing: 'sent by the capturing host (Linux cooked capture, packet type "outgoing")',
  'cluster-output': "from a node's or an Egress IP: the cluster's own output",
  'cooked-arp': 'ARP on a cooked capture: the simulation resolves addresses itself',
  'to-pod': 'from outside to a pod on a cooked capture: what the cluster delivered (the simulation delivers its own)',
} as const;

/** Why an input packet could not be put into the simulation. */
export const UNDELIVERABLE_REASONS = {
  'no-such-pod': "from an address of a Node's pod CIDR that no Pod of the manifests has",
  'node-down': 'from a pod whose node has failed (timeline)',
  'pod-not-attached': 'from a pod whose port is not attached',
  'no-route': 'from an off-segment address, and the segment has no default gateway',
  'over-mtu': "larger than the segment's MTU (a capture of GRO/TSO super-packets?)",
  oversize: 'larger than a packet buffer of the simulation',
  snapped: 'cut short by the capture (snaplen): capture with -s 0',
  truncated: 'the link-layer or IPv4 header is cut short',
  'bad-ipv4': 'a broken IPv4 header, from outside on a link without Ethernet',
  'bad-ipv6': 'a broken IPv6 header, from outside on a link without Ethernet',
  ipv6: 'IPv6 while no Node of the manifests has an IPv6 side',
  'no-route-ipv6': "from an IPv6 address off the segment's IPv6 prefix (replay has no IPv6 router)",
  'not-ip': 'neither IPv4 nor IPv6 on a link without Ethernet',
  'no-buffer': 'no free packet buffer (the simulation is overloaded)',
} as const;
export type SkipReason = keyof typeof SKIP_REASONS;
export type UndeliverableReason = keyof typeof UNDELIVERABLE_REASONS;
const SKIP_NAMES = Object.keys(SKIP_REASONS) as SkipReason[];
const UNDELIVERABLE_NAMES = Object.keys(UNDELIVERABLE_REASONS) as UndeliverableReason[];
const S_OUTGOING = SKIP_NAMES.indexOf('outgoing');
const S_CLUSTER = SKIP_NAMES.indexOf('cluster-output');
const S_ARP = SKIP_NAMES.indexOf('cooked-arp');
const S_TO_POD = SKIP_NAMES.indexOf('to-pod');
const U = Object.fromEntries(UNDELIVERABLE_NAMES.map((n, i) => [n, i])) as Record<UndeliverableReason, number>;

/** Input packets per burst, and the longest burst in simulated time. */
const BATCH = 256;
const BATCH_WINDOW_MS = 1;
/**
 * New address pairs. The simulated segment answers ARP and NDP at once but only between bursts, while a real
 * one does within microseconds of the first packet, before the packets captured after it arrive: so a burst
 * ends at most `parkCap` packets after the first packet of an (source, destination) pair it has not seen, the
 * fewest packets a neighbour queue of the simulation holds (a node's per-entry queue, a host's per next hop).
 * Pairs are kept in an open-addressed table of PAIR_SLOTS (cleared when half full: its pairs count as new again).
 */
const PAIR_BITS = 15;
const PAIR_SLOTS = 1 << PAIR_BITS;
/** Latest input time accepted (pcap stores 32-bit seconds; finish() runs a little past the last packet). */
const MAX_INPUT_SEC = 0xffffffff - 3600;

export interface ReplayOptions {
  state: ClusterState;
  reflect?: boolean;
  timeline?: readonly TimelineEvent[];
  /** Failure detection timeout in ms (default 500), heartbeat interval (default 50). */
  detectMs?: number;
  intervalMs?: number;
  /** How long the cluster runs before the first packet (default 1000 ms). */
  warmupMs?: number;
  /** Node housekeeping period in simulated time (default 10 ms). */
  tickMs?: number;
  /** Idle time simulated before the rest of a gap is skipped (default 2000 ms). */
  idleMs?: number;
  /** Conntrack seed (default 1): fixed so runs are identical. */
  seed?: number;
  /** Strict TCP window tracking, as the agent (default: liberal, see `ClusterOptions.tcpStrict`). */
  tcpStrict?: boolean;
  /** Connection-state replication between the nodes (docs/conntrack-sync.md; default off). */
  connSync?: boolean;
  /** Address mapping applied to every input IPv4 and IPv6 packet. */
  mapping?: Mapping;
  /**
   * Every frame on the segment: `slot` of `replay.slab` holds it at `off`; the time is `replay.outSec/outNsec`;
   * `node` is the sending node's index in `cluster.nodes`, or -1 (a host, the input).
   */
  onSegment?: (replay: Replay, slot: number, off: number, len: number, node: number) => void;
  /** Every frame a node's uplink takes from the segment, as onSegment. */
  onUplinkRx?: (replay: Replay, node: number, slot: number, off: number, len: number) => void;
  /**
   * Every packet a pod receives (an IPv4 packet; `sent` false) and every input packet a pod sends (`sent`
   * true), as onSegment.
   */
  onPod?: (replay: Replay, pod: SimPod, slot: number, off: number, len: number, sent: boolean) => void;
  /**
   * Every packet a node's datapath drops (`ip`: an IPv4 packet, else an Ethernet frame), with the stage and the
   * reason (see replay-cluster.ts DropTap), as onSegment. Pipelines then run one input packet per round, so
   * that the reason is exact (several times slower).
   */
  onDrop?: (replay: Replay, node: string, stage: string, reason: string, off: number, len: number, ip: boolean) => void;
  /** Slots of the shared packet slab (default 16384) and their size (default 2048; larger for jumbo MTUs). */
  slots?: number;
  slotSize?: number;
}

/** An input packet shown as an example of an undeliverable reason (cold: one per reason). */
export interface InputExample {
  /** 1-based position in the capture. */
  packet: number;
  /** Seconds after the first packet. */
  t: number;
  what: string;
}

export class Replay {
  readonly cluster: SimCluster;
  /** Counters per input category; skipped and undeliverable also per reason. */
  readonly input = {
    packets: 0,
    fromPods: 0,
    fromOutside: 0,
    rawFrames: 0,
    skipped: new Float64Array(SKIP_NAMES.length),
    undeliverable: new Float64Array(UNDELIVERABLE_NAMES.length),
    /** Timestamps earlier than the previous packet's, or beyond what the outputs hold: taken as the previous. */
    timeBackwards: 0,
    timeClamped: 0,
    /** Idle gaps skipped, and the simulated time they would have taken. */
    idleGaps: 0,
    idleSkippedMs: 0,
  };
  /** The first packet of each undeliverable reason. */
  readonly examples = new Map<UndeliverableReason, InputExample>();
  /** Sources of packets that are neither a pod's nor the cluster's, with counts (at most 1024 addresses). */
  readonly outsideSources = new Map<number, number>();
  /** The same for IPv6 sources, in typed tables: addresses (4 words each) and counts (at most 1024 addresses). */
  private readonly src6 = new Counts6(1024);
  /** Output timestamp of what is being recorded now (set before each onSegment / onPod call). */
  outSec = 0;
  outNsec = 0;
  /** The simulated time and skipped total `outSec`/`outNsec` were computed for. */
  private stampT = NaN;
  private stampSkipped = NaN;
  readonly mapping: Mapping;
  readonly warmupMs: number;
  readonly detectMs: number;
  private readonly tickMs: number;
  private readonly idleMs: number;
  private readonly timeline: TimelineEvent[];
  private timelinePos = 0;
  private started = false;
  /** First packet's timestamp (the origin of relative times). */
  private sec0 = 0;
  private nsec0 = 0;
  /** Relative input time (ms after the first packet) of the last packet. */
  private lastRel = 0;
  /** Simulated ms skipped so far (cluster time = warmup + input time − skipped). */
  private skipped = 0;
  /** Simulated times of the skips and the total skipped after each (for `rel`). */
  private readonly skipAt: number[] = [];
  private readonly skipTotal: number[] = [];
  private now = 0;
  private nextTick = 0;
  /** Simulated time of the next timeline event (`nextEvent`). */
  private evAt = Infinity;
  /** The time `advance` runs the cluster to (a field: doubles passed between calls would be boxed). */
  private target = 0;
  private pending = 0;
  private batchStart = 0;
  /** Packets the current burst may hold (BATCH, less after a new address pair: see PAIR_SLOTS). */
  private burstMax = BATCH;
  private readonly parkCap: number;
  /** Address pairs seen (IPv6: 32-bit folds of the addresses); `pairUsed` 1 where a slot holds one. */
  private readonly pairSrc = new Int32Array(PAIR_SLOTS);
  private readonly pairDst = new Int32Array(PAIR_SLOTS);
  private readonly pairUsed = new Uint8Array(PAIR_SLOTS);
  private pairCount = 0;
  private readonly d = new Decoded();
  private reader: CaptureReader | null = null;
  private onPodSent: ReplayOptions['onPod'] | null = null;
  private readonly wireEp: SegmentEndpoint & { index: number };

  constructor(o: ReplayOptions) {
    this.detectMs = o.detectMs ?? 500;
    this.warmupMs = o.warmupMs ?? 1000;
    this.tickMs = o.tickMs ?? 10;
    this.idleMs = Math.max(o.idleMs ?? 2000, 4 * this.detectMs);
    this.timeline = [...(o.timeline ?? [])];
    this.mapping = o.mapping ?? new Mapping([]);
    this.cluster = new SimCluster(
      {
        state: o.state,
        reflect: o.reflect ?? false,
        detectMs: this.detectMs,
        intervalMs: o.intervalMs ?? 50,
        seed: o.seed ?? 1,
        ...(o.tcpStrict ? { tcpStrict: true } : {}),
        ...(o.connSync ? { connSync: true } : {}),
        exactDrops: o.onDrop !== undefined,
        wall: (t) => new Date(Math.round(this.sec0 * 1000 + this.nsec0 / 1e6 + t - this.warmupMs + this.skipped)),
      },
      o.slotSize ?? 2048,
      o.slots ?? 16384,
    );
    const c = this.cluster;
    if (o.onSegment) {
      const f = o.onSegment;
      c.sw.tap = (slot, off, len, from) => {
        this.stamp(c.sw.now);
        f(this, slot, off, len, c.nodeOfEndpoint(from));
      };
    }
    if (o.onUplinkRx) {
      const f = o.onUplinkRx;
      c.sw.rxTap = (slot, off, len, to) => {
        this.stamp(c.sw.now);
        f(this, c.nodeOfEndpoint(to), slot, off, len);
      };
    }
    if (o.onPod) {
      const f = o.onPod;
      c.podTap.onPod = (pod, slot, off, len) => {
        this.stamp(c.now);
        f(this, pod, slot, off, len, false);
      };
      this.onPodSent = f;
    }
    if (o.onDrop) {
      const f = o.onDrop;
      c.dropTap.onDrop = (rt, stage, reason, off, len, ip) => {
        this.stamp(c.now);
        f(this, rt.name, stage, reason, off, len, ip);
      };
    }
    let cap = HOST_PENDING_PER_HOP;
    for (const rt of c.nodes) {
      const st = rt.runner.agent.datapath.state;
      cap = Math.min(cap, st.neigh.perEntry, st.neigh6.perEntry);
    }
    this.parkCap = Math.max(1, cap);
    // The capture's own frames enter through an endpoint that receives nothing.
    const wire = { name: 'input', up: true, mtu: 0, index: 0, deliver: () => true };
    wire.index = c.sw.attach(wire);
    this.wireEp = wire;
  }

  get slab(): SimCluster['slab'] {
    return this.cluster.slab;
  }

  /** Set `outSec`/`outNsec` to the input-time timestamp of simulated time `t`. */
  private stamp(t: number): void {
    // Every frame of a settle has the same time: compute once per time (and per skip).
    if (t === this.stampT && this.skipped === this.stampSkipped) return;
    this.stampT = t;
    this.stampSkipped = this.skipped;
    const ms = t - this.warmupMs + this.skipped; // after the first packet (negative during the warm-up)
    let s = Math.floor(ms / 1000);
    let ns = Math.round((ms - s * 1000) * 1e6) + this.nsec0;
    if (ns >= 1e9) {
      const carry = Math.floor(ns / 1e9);
      s += carry;
      ns -= carry * 1e9;
    }
    const sec = this.sec0 + s;
    this.outSec = sec < 0 ? 0 : sec;
    this.outNsec = sec < 0 ? 0 : ns;
  }

  /** Seconds after the first packet (input time) of simulated time `t`, to the microsecond. */
  rel(t: number): number {
    let k = this.skipAt.length;
    while (k > 0 && this.skipAt[k - 1]! >= t) k--;
    const skipped = k > 0 ? this.skipTotal[k - 1]! : 0;
    return Math.round((t - this.warmupMs + skipped) * 1000) / 1e6;
  }

  /** Recompute `evAt`, the simulated time of the next timeline event (Infinity when none is left). */
  private nextEvent(): void {
    this.evAt =
      this.timelinePos < this.timeline.length
        ? this.warmupMs + this.timeline[this.timelinePos]!.at * 1000 - this.skipped
        : Infinity;
  }

  private start(tsSec: number, tsNsec: number): void {
    this.started = true;
    this.sec0 = tsSec;
    this.nsec0 = tsNsec;
    this.stampT = NaN;
    this.cluster.start(0);
    this.now = 0;
    this.nextTick = 0;
    this.nextEvent();
  }

  /** Process the burst waiting for the cluster. */
  private flush(): void {
    if (this.pending === 0) return;
    this.pending = 0;
    this.burstMax = BATCH;
    this.cluster.settle(this.now);
  }

  /**
   * Run the cluster up to simulated time `t` (the next packet's): node ticks every `tickMs` and timeline
   * events, in time order. When the next packet or event is more than `idleMs` away, `idleMs` of the gap are
   * run and the rest is skipped; returns `t` less what was skipped.
   */
  private advance(): void {
    for (;;) {
      const ev = this.evAt;
      const t = this.target;
      const target = t < ev ? t : ev;
      if (target - this.now > this.idleMs + this.tickMs) {
        this.flush();
        this.runTimers(this.now + this.idleMs);
        // Land one tick after now, so that what happens after the skip is strictly later than what came before.
        const gap = target - this.now - this.tickMs;
        this.cluster.skipIdle(this.now, gap);
        this.skipped += gap;
        this.skipAt.push(this.now);
        this.skipTotal.push(this.skipped);
        this.input.idleGaps++;
        this.input.idleSkippedMs += gap;
        this.target = t - gap;
        this.nextEvent();
        continue;
      }
      const next = ev < this.nextTick ? ev : this.nextTick;
      if (next > t) break;
      this.flush();
      this.runTimers(next);
    }
    if (this.target > this.now) this.now = this.target;
  }

  /** Run timers and events due up to `until` (no idle skipping). */
  private runTimers(until: number): void {
    for (;;) {
      const ev = this.evAt;
      const next = Math.min(ev, this.nextTick);
      if (next > until) break;
      this.now = next;
      if (ev <= this.nextTick) {
        this.cluster.runEvent(this.timeline[this.timelinePos++]!, next);
        this.nextEvent();
      } else {
        this.cluster.tick(next);
        this.nextTick += this.tickMs;
      }
    }
    if (until > this.now) this.now = until;
  }

  /** Feed the current record of a capture reader. */
  feedRecord(r: CaptureReader): void {
    this.feed(r.buf, r.off, r.len, r.origLen, r.linkType, r.tsSec, r.tsNsec, r);
  }

  /**
   * Feed one input record: `u8[off .. off+len)` of link type `linkType` (one of SUPPORTED_LINK_TYPES),
   * originally `origLen` bytes, captured at tsSec.tsNsec. With `reader` (whose current record it is) the bytes
   * are copied into the simulation without allocating; `feedRecord` passes it.
   */
  feed(
    u8: Uint8Array,
    off: number,
    len: number,
    origLen: number,
    linkType: number,
    tsSec: number,
    tsNsec: number,
    reader: CaptureReader | null = null,
  ): void {
    this.reader = reader;
    const inp = this.input;
    inp.packets++;
    if (!this.started) {
      if (tsSec > MAX_INPUT_SEC) {
        tsSec = MAX_INPUT_SEC;
        inp.timeClamped++;
      }
      this.start(tsSec, tsNsec);
    }
    let rel = (tsSec - this.sec0) * 1000 + (tsNsec - this.nsec0) / 1e6;
    if (tsSec > MAX_INPUT_SEC) {
      rel = this.lastRel;
      inp.timeClamped++;
    } else if (rel < this.lastRel) {
      rel = this.lastRel;
      inp.timeBackwards++;
    }
    this.lastRel = rel;
    const t = this.warmupMs + rel - this.skipped;
    if (
      this.pending > 0 &&
      (this.pending >= this.burstMax || t - this.batchStart > BATCH_WINDOW_MS || t >= this.nextTick)
    )
      this.flush();
    this.target = t;
    this.advance();
    if (this.pending === 0) this.batchStart = this.target;
    this.classify(u8, off, len, origLen, linkType);
  }

  /**
   * Count the input packet just added to the burst as one from `src` to `dst`: when the pair is new, the burst
   * ends at most `parkCap` packets from it (see PAIR_SLOTS).
   */
  private notePair(src: number, dst: number): void {
    const mask = PAIR_SLOTS - 1;
    let i = Math.imul(src ^ Math.imul(dst, 0x9e3779b1), 0x85ebca6b) >>> (32 - PAIR_BITS);
    const used = this.pairUsed;
    const ps = this.pairSrc;
    const pd = this.pairDst;
    while (used[i] === 1) {
      if (ps[i] === src && pd[i] === dst) return;
      i = (i + 1) & mask;
    }
    if (this.pairCount >= PAIR_SLOTS >> 1) {
      used.fill(0);
      this.pairCount = 0;
      return this.notePair(src, dst);
    }
    used[i] = 1;
    ps[i] = src;
    pd[i] = dst;
    this.pairCount++;
    const max = this.pending + this.parkCap - 1;
    if (max < this.burstMax) this.burstMax = max;
  }

  private skip(reason: number): void {
    this.input.skipped[reason]!++;
  }

  private undeliverable(reason: number, u8: Uint8Array, off: number, len: number, lt: number, l3: number): void {
    this.input.undeliverable[reason]!++;
    const name = UNDELIVERABLE_NAMES[reason]!;
    if (!this.examples.has(name))
      this.examples.set(name, {
        packet: this.input.packets,
        t: this.rel(this.now),
        what: describePacket(u8, off, len, lt, l3),
      });
  }

  private classify(u8: Uint8Array, off: number, len: number, origLen: number, lt: number): void {
    const d = this.d;
    decode(u8, off, len, lt, d);
    const kind = d.kind;
    const l3 = d.l3;
    if (kind !== K_IPV4) {
      if (kind === K_FRAME) {
        // IPv6 in an Ethernet frame to no node (or group) of a dual-stack cluster is classified by its source.
        if (
          this.cluster.dualStack &&
          lt === LT_ETHERNET &&
          l3 >= 14 &&
          len >= l3 + ipv6.HEADER_LEN &&
          u8[off + l3 - 2] === 0x86 &&
          u8[off + l3 - 1] === 0xdd &&
          (u8[off]! & 1) === 0 &&
          !this.isNodeMac(u8, off)
        )
          return this.classify6(u8, off, len, origLen, lt, l3);
        return this.rawFrame(u8, off, len, lt);
      }
      if (kind === K_IPV6 && this.cluster.dualStack) return this.classify6(u8, off, len, origLen, lt, l3);
      if (kind === K_OUTGOING) {
        // Sent by the capturing host: the cluster's own output on a node (SNATed on the uplink, delivered to a
        // pod on its interface), except a pod's packet to a non-pod address — a capture inside the pod.
        if (this.cluster.dualStack && len >= l3 + ipv6.HEADER_LEN && u8[off + l3]! >> 4 === 6)
          return this.classify6(u8, off, len, origLen, lt, l3, true);
        if (!this.podSent(u8, off, len, l3)) return this.skip(S_OUTGOING);
      } else {
        if (kind === K_COOKED_ARP) return this.skip(S_ARP);
        const r =
          kind === K_IPV6 ? U.ipv6 : kind === K_NOT_IP ? U['not-ip'] : kind === K_TRUNCATED ? U.truncated : U['not-ip'];
        return this.undeliverable(r, u8, off, len, lt, l3);
      }
    }
    // An Ethernet frame addressed to a node (or to a group address) goes on the segment as it is, so a capture
    // can exercise the nodes' own checks.
    if (lt === LT_ETHERNET && ((u8[off]! & 1) === 1 || this.isNodeMac(u8, off))) return this.rawFrame(u8, off, len, lt);
    const c = this.cluster;
    const slab = c.slab;
    const ipLen = len - l3;
    if (ipLen > slab.mtu || l3 > slab.headroom) return this.undeliverable(U.oversize, u8, off, len, lt, l3);
    const s = slab.alloc();
    if (s < 0) return this.undeliverable(U['no-buffer'], u8, off, len, lt, l3);
    // Copy the record so that its IP header lands at the slot's start (the link header goes into the headroom).
    const o = slab.start(s);
    this.copyIn(u8, off, len, o - l3, slab.base(s) + slab.slotSize);
    const v = slab.dv;
    const hdrOk = ipv4.check(v, o, ipLen) === 0;
    const tl = hdrOk ? ipv4.totalLen(v, o) : 0;
    if (!hdrOk && origLen > len) {
      slab.free(s);
      return this.undeliverable(U.snapped, u8, off, len, lt, l3);
    }
    if (hdrOk) this.mapping.apply(v, o, ipLen);
    const src = ipLen >= 20 ? ipv4.src(v, o) : 0;
    const p = ipLen >= 20 ? c.podByIp.get(src) : undefined;
    const where = p !== undefined ? SRC_POD : ipLen >= 20 ? c.sourceKind(src) : SRC_NO_POD;
    if (p !== undefined) {
      if (!p.node.alive) {
        slab.free(s);
        return this.undeliverable(U['node-down'], u8, off, len, lt, l3);
      }
      if (p.member < 0) {
        slab.free(s);
        return this.undeliverable(U['pod-not-attached'], u8, off, len, lt, l3);
      }
      // Up to Total Length when it is sane (Ethernet padding is not part of the packet); pod-ingress checks the rest.
      const plen = tl >= 20 && tl <= ipLen ? tl : ipLen;
      if (this.onPodSent) {
        this.stamp(this.now);
        this.onPodSent(this, p, s, o, plen, true);
      }
      if (!c.fromPod(p, s, plen)) return this.undeliverable(U['no-buffer'], u8, off, len, lt, l3);
      this.input.fromPods++;
      this.pending++;
      if (ipLen >= 20) this.notePair(src, ipv4.dst(v, o));
      return;
    }
    if (!hdrOk) {
      slab.free(s);
      if (lt === LT_ETHERNET) return this.rawFrame(u8, off, len, lt);
      return this.undeliverable(ipLen < 20 ? U.truncated : U['bad-ipv4'], u8, off, len, lt, l3);
    }
    if (tl > ipLen) {
      slab.free(s);
      if (origLen > len) return this.undeliverable(U.snapped, u8, off, len, lt, l3);
      return this.undeliverable(U.truncated, u8, off, len, lt, l3);
    }
    if (where === SRC_CLUSTER) {
      slab.free(s);
      return this.skip(S_CLUSTER);
    }
    if (where === SRC_NO_POD) {
      slab.free(s);
      return this.undeliverable(U['no-such-pod'], u8, off, len, lt, l3);
    }
    if ((lt === LT_SLL || lt === LT_SLL2) && c.podByIp.has(ipv4.dst(v, o))) {
      slab.free(s);
      return this.skip(S_TO_POD);
    }
    this.countSource(src);
    if (tl > c.segmentMtu) {
      slab.free(s);
      return this.undeliverable(U['over-mtu'], u8, off, len, lt, l3);
    }
    const host = c.hostFor(src);
    if (!host) {
      slab.free(s);
      return this.undeliverable(U['no-route'], u8, off, len, lt, l3);
    }
    this.input.fromOutside++;
    this.pending++;
    this.notePair(src, ipv4.dst(v, o));
    host.sendSlot(s, tl);
  }

  /**
   * An IPv6 packet at `l3` of a dual-stack cluster's input: from a pod's IPv6 address it is sent by that pod;
   * from the cluster's own IPv6 addresses skipped; from an IPv6 pod CIDR without such a pod undeliverable; any
   * other source on the segment's IPv6 prefix is a host of the segment (created on first use); addresses are
   * mapped first (`--map-addr`, `--map-pod`). A pod's destination on the segment becomes a host too, so that
   * the node's Neighbor Solicitation is answered.
   */
  private classify6(
    u8: Uint8Array,
    off: number,
    len: number,
    origLen: number,
    lt: number,
    l3: number,
    outgoing = false,
  ): void {
    const c = this.cluster;
    const slab = c.slab;
    const ipLen = len - l3;
    if (ipLen > slab.mtu || l3 > slab.headroom) return this.undeliverable(U.oversize, u8, off, len, lt, l3);
    const s = slab.alloc();
    if (s < 0) return this.undeliverable(U['no-buffer'], u8, off, len, lt, l3);
    const o = slab.start(s);
    this.copyIn(u8, off, len, o - l3, slab.base(s) + slab.slotSize);
    const v = slab.dv;
    if (ipv6.check(v, o, ipLen) !== 0) {
      slab.free(s);
      if (outgoing) return this.skip(S_OUTGOING);
      if (origLen > len) return this.undeliverable(U.snapped, u8, off, len, lt, l3);
      if (lt === LT_ETHERNET) return this.rawFrame(u8, off, len, lt);
      return this.undeliverable(ipLen < ipv6.HEADER_LEN ? U.truncated : U['bad-ipv6'], u8, off, len, lt, l3);
    }
    const mappedBefore = this.mapping.mapped;
    this.mapping.apply6(v, o, ipLen);
    const tl = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
    const a0 = v.getInt32(o + 8);
    const a1 = v.getInt32(o + 12);
    const a2 = v.getInt32(o + 16);
    const a3 = v.getInt32(o + 20);
    const p = c.podByIp6(a0, a1, a2, a3);
    if (
      outgoing &&
      (p === undefined ||
        c.podByIp6(v.getInt32(o + 24), v.getInt32(o + 28), v.getInt32(o + 32), v.getInt32(o + 36)) !== undefined)
    ) {
      // As for IPv4 (`podSent`): only a pod's packet to a non-pod, a capture inside the pod, is the pod's own;
      // the rest is skipped, and not counted as mapped (IPv4 maps only what it replays of such packets).
      this.mapping.mapped = mappedBefore;
      slab.free(s);
      return this.skip(S_OUTGOING);
    }
    if (p !== undefined) {
      if (!p.node.alive) {
        slab.free(s);
        return this.undeliverable(U['node-down'], u8, off, len, lt, l3);
      }
      if (p.member < 0) {
        slab.free(s);
        return this.undeliverable(U['pod-not-attached'], u8, off, len, lt, l3);
      }
      // The destination, when it is an address of the segment, is a host there (cold: once per new address).
      c.hostFor6(v.getInt32(o + 24), v.getInt32(o + 28), v.getInt32(o + 32), v.getInt32(o + 36));
      if (this.onPodSent) {
        this.stamp(this.now);
        this.onPodSent(this, p, s, o, tl, true);
      }
      if (!c.fromPod(p, s, tl)) return this.undeliverable(U['no-buffer'], u8, off, len, lt, l3);
      this.input.fromPods++;
      this.pending++;
      this.notePair(a0 ^ a1 ^ a2 ^ a3, fold6(v, o + 24));
      return;
    }
    const where = c.sourceKind6(a0, a1, a2, a3);
    if (where === SRC_CLUSTER) {
      slab.free(s);
      return this.skip(S_CLUSTER);
    }
    if (where === SRC_NO_POD) {
      slab.free(s);
      return this.undeliverable(U['no-such-pod'], u8, off, len, lt, l3);
    }
    if (
      (lt === LT_SLL || lt === LT_SLL2) &&
      c.podByIp6(v.getInt32(o + 24), v.getInt32(o + 28), v.getInt32(o + 32), v.getInt32(o + 36)) !== undefined
    ) {
      slab.free(s);
      return this.skip(S_TO_POD);
    }
    this.src6.add(a0, a1, a2, a3);
    if (tl > c.segmentMtu) {
      slab.free(s);
      return this.undeliverable(U['over-mtu'], u8, off, len, lt, l3);
    }
    const host = c.hostFor6(a0, a1, a2, a3);
    if (!host) {
      slab.free(s);
      return this.undeliverable(U['no-route-ipv6'], u8, off, len, lt, l3);
    }
    this.input.fromOutside++;
    this.pending++;
    this.notePair(a0 ^ a1 ^ a2 ^ a3, fold6(v, o + 24));
    host.sendSlot6(s, tl);
  }

  /** Copy the record `u8[off .. off+len)` to `slab.u8[at ..)`; bytes up to `end` may be overwritten. */
  private copyIn(u8: Uint8Array, off: number, len: number, at: number, end: number): void {
    const dst = this.cluster.slab.u8;
    if (this.reader) this.reader.copyTo(dst, at, end - at);
    else if (u8 === dst)
      dst.copyWithin(at, off, off + len); // a packet built in the slab (benchmarks)
    else dst.set(u8.subarray(off, off + len), at); // tests feeding arrays: one view per packet
  }

  /** IPv6 sources of packets that are neither a pod's nor the cluster's: address text → packets (cold). */
  get outsideSources6(): ReadonlyMap<string, number> {
    return this.src6.toMap();
  }

  private countSource(src: number): void {
    const m = this.outsideSources;
    const n = m.get(src);
    if (n !== undefined) m.set(src, n + 1);
    else if (m.size < 1024) m.set(src, 1);
  }

  /** An outgoing cooked IPv4 packet from a pod (after mapping) to an address that is not a pod's. */
  private podSent(u8: Uint8Array, off: number, len: number, l3: number): boolean {
    if (len < l3 + 20) return false;
    const at = off + l3;
    if (u8[at]! >> 4 !== 4) return false;
    const rd = (p: number) => (u8[p]! << 24) | (u8[p + 1]! << 16) | (u8[p + 2]! << 8) | u8[p + 3]!;
    const src = this.mapping.map(rd(at + 12));
    const dst = this.mapping.map(rd(at + 16));
    const c = this.cluster;
    return c.podByIp.has(src) && !c.podByIp.has(dst);
  }

  private isNodeMac(u8: Uint8Array, off: number): boolean {
    // Node MACs are 02:0e: + the node IP (macFor): check the prefix, then that the address is a node's.
    if (u8[off] !== 0x02 || u8[off + 1] !== 0x0e) return false;
    const ip = (u8[off + 2]! << 24) | (u8[off + 3]! << 16) | (u8[off + 4]! << 8) | u8[off + 5]!;
    return this.cluster.isNodeIp(ip);
  }

  /** Put an Ethernet frame of the input on the segment as it is. */
  private rawFrame(u8: Uint8Array, off: number, len: number, lt: number): void {
    const c = this.cluster;
    const slab = c.slab;
    if (len > slab.slotSize) return this.undeliverable(U.oversize, u8, off, len, lt, 0);
    const s = slab.alloc();
    if (s < 0) return this.undeliverable(U['no-buffer'], u8, off, len, lt, 0);
    const o = slab.base(s);
    this.copyIn(u8, off, len, o, o + slab.slotSize);
    if (len >= 34) {
      const v = slab.dv;
      const l3 = o + 14;
      const et = v.getUint16(o + 12);
      if (et === 0x0800 && ipv4.check(v, l3, len - 14) === 0) this.mapping.apply(v, l3, len - 14);
      else if (et === 0x86dd && ipv6.check(v, l3, len - 14) === 0) this.mapping.apply6(v, l3, len - 14);
    }
    this.input.rawFrames++;
    this.pending++;
    c.sw.send(this.wireEp.index, s, o, len);
  }

  /** Process what is left: the last burst, and the timeline up to its last event and a failure timeout more. */
  finish(): void {
    if (!this.started) return;
    this.flush();
    const last = this.timeline.length
      ? this.warmupMs + this.timeline[this.timeline.length - 1]!.at * 1000 - this.skipped + 2 * this.detectMs
      : this.now;
    this.target = Math.max(this.now, last);
    this.advance();
    this.flush();
    this.cluster.abandonPending();
  }

  /** Undeliverable counts by reason (non-zero only). */
  undeliverableByReason(): Partial<Record<UndeliverableReason, number>> {
    const out: Partial<Record<UndeliverableReason, number>> = {};
    UNDELIVERABLE_NAMES.forEach((n, i) => {
      if (this.input.undeliverable[i]! > 0) out[n] = this.input.undeliverable[i]!;
    });
    return out;
  }

  skippedByReason(): Partial<Record<SkipReason, number>> {
    const out: Partial<Record<SkipReason, number>> = {};
    SKIP_NAMES.forEach((n, i) => {
      if (this.input.skipped[i]! > 0) out[n] = this.input.skipped[i]!;
    });
    return out;
  }

  get undeliverableTotal(): number {
    return this.input.undeliverable.reduce((a, b) => a + b, 0);
  }

  get skippedTotal(): number {
    return this.input.skipped.reduce((a, b) => a + b, 0);
  }
}

/** The IPv6 address at `p` folded to 32 bits (a key of the address-pair table). */
function fold6(v: DataView, p: number): number {
  return v.getInt32(p) ^ v.getInt32(p + 4) ^ v.getInt32(p + 8) ^ v.getInt32(p + 12);
}

/** One line about an input packet: addresses, protocol, ports, length (cold: examples only). */
export function describePacket(u8: Uint8Array, off: number, len: number, lt: number, l3: number): string {
  const name = SUPPORTED_LINK_TYPES.get(lt) ?? `link type ${lt}`;
  if (len - l3 >= ipv6.HEADER_LEN && u8[off + l3]! >> 4 === 6) {
    const v = new DataView(u8.buffer, u8.byteOffset + off + l3, len - l3);
    const src = ipv6.addrToString(v, 8);
    const dst = ipv6.addrToString(v, 24);
    const nh = v.getUint8(6);
    const ports = (nh === 6 || nh === 17) && len - l3 >= 44 ? [v.getUint16(40), v.getUint16(42)] : null;
    const what = ports
      ? `${nh === 6 ? 'TCP' : 'UDP'} [${src}]:${ports[0]} → [${dst}]:${ports[1]}`
      : `${nh === 58 ? 'ICMPv6' : `IPv6 next header ${nh}`} ${src} → ${dst}`;
    return `${what}, ${len - l3} bytes`;
  }
  if (len - l3 < 20 || u8[off + l3]! >> 4 !== 4) return `${len}-byte ${name} record`;
  const v = new DataView(u8.buffer, u8.byteOffset + off + l3, len - l3);
  const src = ipv4.addrToString(ipv4.src(v, 0));
  const dst = ipv4.addrToString(ipv4.dst(v, 0));
  const proto = ipv4.proto(v, 0);
  const hl = ipv4.headerLen(v, 0);
  const ports = (p: string, a: number, b: number) => `${p} ${src}:${a} → ${dst}:${b}`;
  let what: string;
  if ((proto === tcp.PROTO || proto === udp.PROTO) && len - l3 >= hl + 4)
    what = ports(proto === tcp.PROTO ? 'TCP' : 'UDP', v.getUint16(hl), v.getUint16(hl + 2));
  else what = `${proto === 1 ? 'ICMP' : `IP proto ${proto}`} ${src} → ${dst}`;
  return `${what}, ${len - l3} bytes`;
}
