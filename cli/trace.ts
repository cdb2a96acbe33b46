/**
 * `egress trace POD DEST[:PORT]` (Antrea's Traceflow, in memory): the cluster of the store's state is built as
 * replay builds it (engine/agent/replay.ts: every Node's compiled datapath, the simulated segment and hosts), one
 * synthetic packet from the Pod is put in, and what it caused is read out: every stage exit it took on each Node,
 * the frames it put on the segment (the Geneve hop, ARP, the SNATed packet), drops with their reason, what a Pod
 * received. To separate the packet from the cluster's own traffic (heartbeats, ARP), the same simulation runs a
 * second time with the packet replaced by one the replay refuses (an IPv6 record) at the same instant; the
 * simulation is deterministic, so the difference between the two runs is the packet's doing.
 */
import * as policy from '../engine/policy/index.js';
import { Replay } from '../engine/agent/replay.js';
import { LT_RAW } from '../engine/agent/replay-input.js';
import { checksum, format, ipv4 } from '../engine/wire/index.js';
import { UsageError, UserError } from './errors.js';

export type Proto = 'tcp' | 'udp' | 'icmp';

export interface TraceRequest {
  readonly pod: string;
  readonly dest: string;
  readonly port: number;
  readonly proto: Proto;
}

export interface TraceResult {
  readonly packet: string;
  /** Per Node, the stage exits the packet took (`stage.exit` → count), in the datapath's order. */
  readonly nodes: { node: string; exits: string[]; counters: string[] }[];
  /** Frames the packet caused on the segment, in order, with the Node that sent each (or "host"). */
  readonly segment: { from: string; frame: string }[];
  /** Packets Pods received because of it. */
  readonly delivered: { pod: string; packet: string }[];
  readonly drops: { node: string; stage: string; reason: string }[];
  /** The frame that left the cluster for the destination: its source IP and the Node that sent it, or null. */
  readonly egress: { ip: string; node: string } | null;
}

const SPORT = 40000;

/** The IPv4 packet from `src` (TCP SYN, UDP with 8 bytes, or ICMP echo request), checksums filled. */
export function syntheticPacket(src: number, dst: number, proto: Proto, port: number): Uint8Array {
  const l4 = proto === 'tcp' ? 20 : 16; // UDP and ICMP: 8 bytes of header, 8 of payload
  const b = new Uint8Array(20 + l4);
  const v = new DataView(b.buffer);
  v.setUint8(0, 0x45);
  v.setUint16(2, b.length);
  v.setUint16(4, 0x1234);
  v.setUint16(6, ipv4.FLAG_DF);
  v.setUint8(8, 64);
  v.setUint8(9, proto === 'tcp' ? ipv4.PROTO_TCP : proto === 'udp' ? ipv4.PROTO_UDP : ipv4.PROTO_ICMP);
  v.setInt32(12, src);
  v.setInt32(16, dst);
  v.setUint16(10, checksum.checksum(v, 0, 20));
  if (proto === 'icmp') {
    v.setUint8(20, 8); // echo request
    v.setUint16(24, 0x4567);
    v.setUint16(26, 1);
    v.setUint16(22, checksum.checksum(v, 20, l4));
  } else {
    v.setUint16(20, SPORT);
    v.setUint16(22, port);
    if (proto === 'tcp') {
      v.setUint32(24, 1000);
      v.setUint8(32, 0x50);
      v.setUint8(33, 0x02); // SYN
      v.setUint16(34, 64240);
    } else v.setUint16(24, l4);
    const off = proto === 'tcp' ? 36 : 26;
    const ps = checksum.pseudoHeaderSum(src, dst, proto === 'tcp' ? ipv4.PROTO_TCP : ipv4.PROTO_UDP, l4);
    const c = checksum.checksum(v, 20, l4, ps);
    v.setUint16(off, proto === 'udp' ? checksum.udpNonZero(c) : c);
  }
  return b;
}

interface Run {
  exits: Map<string, Record<string, { exits: Record<string, number>; counters: Record<string, number> }>>;
  frames: string[];
  pods: string[];
  drops: string[];
}

function simulate(state: policy.ClusterState, packet: Uint8Array | null): Run {
  const frames: string[] = [];
  const pods: string[] = [];
  const drops: string[] = [];
  const hex = (u8: Uint8Array, off: number, len: number) => Buffer.from(u8.subarray(off, off + len)).toString('hex');
  const r = new Replay({
    state,
    onSegment: (rp, _slot, off, len, node) =>
      frames.push(`${node < 0 ? 'host' : rp.cluster.nodes[node]!.name} ${hex(rp.slab.u8, off, len)}`),
    onPod: (rp, pod, _slot, off, len, sent) => {
      if (!sent) pods.push(`${pod.name.replace(/^pod:/, '')} ${hex(rp.slab.u8, off, len)}`);
    },
    onDrop: (_rp, node, stage, reason) => drops.push(`${node} ${stage} ${reason}`),
  });
  // the same first record in both runs (refused: IPv6), then the packet or another refused record
  const v6 = new Uint8Array(40);
  v6[0] = 0x60;
  r.feed(v6, 0, v6.length, v6.length, LT_RAW, 1, 0);
  const second = packet ?? v6;
  r.feed(second, 0, second.length, second.length, LT_RAW, 1, 1_000_000);
  r.finish();
  const exits = new Map<string, ReturnType<Run['exits']['get']> & object>();
  for (const n of r.cluster.nodes) exits.set(n.name, n.runner.agent.datapath.pipeline.snapshot());
  return { exits, frames, pods, drops };
}

/** `a` minus `b`, as multisets. */
function minus(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  return a.filter((x) => {
    const n = left.get(x) ?? 0;
    if (n > 0) {
      left.set(x, n - 1);
      return false;
    }
    return true;
  });
}

const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

/** Parse `DEST[:PORT]` and the protocol's default port. */
export function parseDest(text: string, proto: Proto): { dest: string; port: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(text);
  if (!m || policy.ipv4ToInt32(m[1]!) === null) throw new UsageError(`DEST "${text}": an IPv4 address, with :PORT`);
  if (m[2] !== undefined && proto === 'icmp') throw new UsageError('icmp has no port');
  const port = m[2] === undefined ? (proto === 'udp' ? 53 : 80) : Number(m[2]);
  if (!(port >= 1 && port <= 65535)) throw new UsageError(`port ${m[2]}: 1-65535`);
  return { dest: m[1]!, port };
}

/** Trace one synthetic packet of `req` through the cluster of `state`. */
export function trace(state: policy.ClusterState, req: TraceRequest): TraceResult {
  const [ns, name] = req.pod.includes('/') ? (req.pod.split('/', 2) as [string, string]) : ['default', req.pod];
  const pod = [...state.pods.values()].find((p) => p.metadata.namespace === ns && p.metadata.name === name);
  if (!pod) throw new UserError(`pods "${ns}/${name}" not found`);
  const podIp = policy.podIPv4(pod);
  if (!podIp) throw new UserError(`pod ${ns}/${name} has no IPv4 address`);
  if (!pod.spec.nodeName || !state.nodes.has(pod.spec.nodeName))
    throw new UserError(`pod ${ns}/${name} is on no Node of the cluster`);
  const packet = syntheticPacket(policy.ipv4ToInt32(podIp)!, policy.ipv4ToInt32(req.dest)!, req.proto, req.port);
  const a = simulate(state, packet);
  const b = simulate(state, null);
  const nodes: TraceResult['nodes'] = [];
  for (const [node, snap] of a.exits) {
    const base = b.exits.get(node)!;
    const exits: string[] = [];
    const counters: string[] = [];
    for (const [stage, s] of Object.entries(snap)) {
      for (const [k, n] of Object.entries(s.exits)) {
        const d = n - (base[stage]?.exits[k] ?? 0);
        if (d !== 0) exits.push(`${stage}.${k}${d !== 1 ? ` ×${d}` : ''}`);
      }
      for (const [k, n] of Object.entries(s.counters)) {
        const d = n - (base[stage]?.counters[k] ?? 0);
        if (d !== 0) counters.push(`${stage} ${k}${d !== 1 ? ` ×${d}` : ''}`);
      }
    }
    if (exits.length || counters.length) nodes.push({ node, exits, counters });
  }
  const segment = minus(a.frames, b.frames).map((l) => {
    const [from, h] = l.split(' ') as [string, string];
    return { from, frame: format.formatFrame(fromHex(h)) };
  });
  const delivered = minus(a.pods, b.pods).map((l) => {
    const [p, h] = l.split(' ') as [string, string];
    return { pod: p, packet: format.formatIp(fromHex(h)) };
  });
  const drops = minus(a.drops, b.drops).map((l) => {
    const [node, stage, reason] = l.split(' ') as [string, string, string];
    return { node, stage, reason };
  });
  // the packet to the destination as it left the cluster: an IPv4 frame to DEST sent by a Node, not Geneve
  let egress: TraceResult['egress'] = null;
  for (const l of minus(a.frames, b.frames)) {
    const [from, h] = l.split(' ') as [string, string];
    const f = fromHex(h);
    const v = new DataView(f.buffer);
    if (from === 'host' || f.length < 34 || v.getUint16(12) !== ipv4.ETHERTYPE) continue;
    if (policy.formatIPv4(v.getInt32(30)) !== req.dest) continue;
    egress = { ip: policy.formatIPv4(v.getInt32(26)), node: from };
  }
  return {
    packet: format.formatIp(packet),
    nodes,
    segment,
    delivered,
    drops,
    egress,
  };
}
