/**
 * The simulated cluster of a replay (simulation and topology; the event loop that feeds it is replay.ts):
 * every Node of the manifests is a NodeRunner, as in the agent process (datapath, control plane, heartbeat
 * membership), its uplink a port of one simulated L2 switch (sim-switch.ts) shared with the external hosts
 * (sim-host.ts), its pods memory ports (`SimPod`). Time is simulated: the caller says what time it is.
 *
 * Hosts: each `kind: ExternalHost`, the `subnetInfo.gateway` of each ExternalIPPool on a VLAN (with the
 * EgressSeparateSubnet gate: a router on that VLAN, its frames 802.1Q-tagged), the segment's default gateway (a router answering for every
 * off-segment address) and, created on first use, one implicit host per other on-segment source address of the
 * capture. MACs: nodes `02:0e:` + node IP, hosts `02:ee:` + host IP (node-agent.ts `macFor`).
 *
 * Hot path (`settle` and what it drives): typed arrays and the nodes' own pipelines; the per-tick work
 * (membership, ownership sampling) is per 10 ms of simulated time, not per packet.
 */
import { createHash } from 'node:crypto';
import { HEARTBEAT_PORT, makeKey } from '../cluster/index.js';
import { Counters, counterIndex, type DropTracer, type Pipeline, type Port } from '../graph/index.js';
import { MemoryPort } from '../io/index.js';
import { Slab, type Burst } from '../packet/index.js';
import {
  applyDocs,
  deleteObjects,
  nodeIPv6,
  resolveConfig,
  type ClusterState,
  type EgressEvent,
  type LocalPod,
  type NodeStatusFile,
} from '../policy/index.js';
import { ipv4, ipv6 } from '../wire/index.js';
import { Ip6Map, words6 } from '../stages/tables6.js';
import { macFor } from './node-agent.js';
import { NodeRunner } from './node-runner.js';
import { SimHost, type HostRoute, type HostRoute6 } from './sim-host.js';
import { SimSwitch, SWITCH_LOSSES, SwitchPort } from './sim-switch.js';
import type { TimelineEvent } from './timeline.js';
import { maskInt32 } from '../policy/index.js';

/** The replay's fixed cluster key (deterministic output; replay never touches a network). */
const REPLAY_KEY = makeKey(createHash('sha256').update('egress-engine replay cluster key').digest());

export const POD_COUNTERS = ['received', 'over-mtu'] as const;
const P = counterIndex(POD_COUNTERS);

/**
 * Called for every packet a node's datapath drops, before its slot is freed: `off`/`len` the packet as the stage
 * left it (an IPv4 packet when `ip`, else an Ethernet frame), `reason` the stage's drop counter without its
 * `drop-` prefix (several joined by `|` when one selection dropped packets for several reasons and which is
 * which cannot be told).
 */
export type DropTap = (node: NodeRt, stage: string, reason: string, off: number, len: number, ip: boolean) => void;

/**
 * Whether a stage's drop counter counts lost packets. `uplink-ingress.drop-other-mac` and `drop-broadcast-ip` do
 * not: those are copies of flooded or broadcast frames a node filters out while another port takes them; nor
 * do `ndp.drop-not-owned` and `drop-na-unknown`: a Neighbor Solicitation or an unsolicited Neighbor Advertisement
 * (multicast) reaches every node; only the owner answers the one, only nodes with an entry take the other.
 */
export function isLoss(stage: string, counter: string): boolean {
  return (
    counter.startsWith('drop-') &&
    !(stage === 'uplink-ingress' && (counter === 'drop-other-mac' || counter === 'drop-broadcast-ip')) &&
    !(stage === 'ndp' && (counter === 'drop-not-owned' || counter === 'drop-na-unknown'))
  );
}

/** Attributes each drop of one node's pipeline to the stage's drop counter that moved (see DropTap). */
class NodeDropTracer implements DropTracer {
  /** Per stage: indices of its `drop-*` counters, their names, and their values before the stage ran. */
  private readonly idx: Int32Array[];
  private readonly names: string[][];
  private readonly before0: Float64Array[];

  constructor(
    private readonly rt: NodeRt,
    private readonly pipeline: Pipeline,
    private readonly tap: { onDrop: DropTap | null },
  ) {
    this.idx = [];
    this.names = [];
    this.before0 = [];
    for (const st of pipeline.stages) {
      const names = st.counters ? st.counters.names : [];
      const k = names.map((n, i) => (n.startsWith('drop-') ? i : -1)).filter((i) => i >= 0);
      this.idx.push(Int32Array.from(k));
      this.names.push(k.map((i) => names[i]!.slice(5)));
      this.before0.push(new Float64Array(k.length));
    }
  }

  before(s: number): void {
    const c = this.pipeline.stages[s]!.counters;
    if (!c) return;
    const idx = this.idx[s]!;
    const b = this.before0[s]!;
    for (let k = 0; k < idx.length; k++) b[k] = c.v[idx[k]!]!;
  }

  drop(s: number, b: Burst, i: number): void {
    const tap = this.tap.onDrop;
    if (!tap) return;
    const st = this.pipeline.stages[s]!;
    const idx = this.idx[s]!;
    const seen = this.before0[s]!;
    const v = st.counters ? st.counters.v : null;
    let reason = 'unknown';
    let first = -1;
    let many = false;
    for (let k = 0; v && k < idx.length; k++)
      if (v[idx[k]!]! > seen[k]!) {
        if (first < 0) first = k;
        else many = true;
      }
    if (first >= 0) {
      if (!many) reason = this.names[s]![first]!;
      else reason = this.names[s]!.filter((_, k) => v![idx[k]!]! > seen[k]!).join('|');
      if (!many) seen[first]!++; // this packet is accounted for
    }
    if (!many && first >= 0 && !isLoss(st.name, `drop-${reason}`)) return;
    const l3 = b.l3[i]!;
    const ip = l3 >= 0 && l3 >= b.off[i]! && l3 < b.off[i]! + b.len[i]!;
    const len = ip ? b.off[i]! + b.len[i]! - l3 : b.len[i]!;
    tap(this.rt, st.name, reason, ip ? l3 : b.off[i]!, len, ip);
  }
}

/** Called for every packet a pod receives (`slot` of the cluster's slab holds it at `off`). */
export type PodTap = (pod: SimPod, slot: number, off: number, len: number) => void;

/**
 * A pod's interface in replay: input packets the pod sends wait in `rx` until the node polls it; what the
 * node sends the pod is counted and shown to the tap. Like a veth (drivers/net/veth.c, `is_skb_forwardable`),
 * it takes no packet longer than its MTU (`over-mtu`).
 */
export class SimPod implements Port {
  readonly name: string;
  readonly batchSize: number;
  readonly rx: MemoryPort;
  readonly counters = new Counters(POD_COUNTERS);
  /** Port-group member in its node's datapath (-1 until attached). */
  member = -1;
  /** Index in the cluster's pod list (stable for the run). */
  readonly index: number;
  /** Whether `rx` holds packets the node has not polled yet (the cluster keeps a list of such pods). */
  dirty = false;

  constructor(
    readonly key: string,
    readonly ip: number,
    readonly node: NodeRt,
    readonly mtu: number,
    slab: Slab,
    index: number,
    private readonly tap: { onPod: PodTap | null },
    batchSize: number,
  ) {
    this.name = `pod:${key}`;
    this.batchSize = batchSize;
    this.index = index;
    this.rx = new MemoryPort({ name: this.name, slab, capacity: 4096, batchSize: this.batchSize });
  }

  recv(burst: Burst): number {
    return this.rx.recv(burst);
  }

  send(burst: Burst): void {
    const c = this.counters.v;
    const tap = this.tap.onPod;
    for (let i = 0; i < burst.count; i++) {
      const len = burst.len[i]!;
      if (len > this.mtu) {
        c[P['over-mtu']]!++;
        continue;
      }
      c[P.received]!++;
      tap?.(this, burst.slot[i]!, burst.off[i]!, len);
    }
  }

  close(): void {
    this.rx.close();
  }
}

export interface NodeRt {
  readonly name: string;
  readonly index: number;
  readonly runner: NodeRunner;
  readonly port: SwitchPort;
  alive: boolean;
}

export interface OwnershipChange {
  /** Simulated time (ms) of the change; the replay turns it into seconds after the first packet. */
  at: number;
  ip: string;
  /** Nodes answering ARP for it now (more than one would be a split brain; none while it moves). */
  nodes: string[];
  /** Packets lost so far in the whole cluster (datapath drops and undelivered frames), for failover gaps. */
  lost: number;
}

/** A node failed or came back (timeline). */
export interface LivenessChange {
  at: number;
  node: string;
  alive: boolean;
}

/** A change of an external host's ARP cache, or of its IPv6 neighbour cache (NDP; `ip` is then IPv6). */
export interface ArpChangeRecord {
  at: number;
  host: string;
  ip: string;
  mac: string;
  was: string | null;
}

export interface ClusterOptions {
  state: ClusterState;
  reflect: boolean;
  detectMs: number;
  intervalMs: number;
  seed: number;
  /**
   * Check TCP segments against the tracked window (the agent's default). Off by default in replay: a capture's
   * pod side is fixed while simulated hosts answer with their own sequence numbers, so strict tracking would
   * drop the capture's later segments as acknowledging data never seen (docs/conntrack-security.md).
   */
  tcpStrict?: boolean;
  /** Connection-state replication between the nodes (docs/conntrack-sync.md). */
  connSync?: boolean;
  /** Wall-clock date of simulated time `t` (status, events). */
  wall: (t: number) => Date;
  /**
   * One packet per pipeline round from the pods and uplinks, so that every drop's reason is exact (DropTap):
   * several times slower. Default: rounds of up to 128.
   */
  exactDrops?: boolean;
}

/** Where a source address belongs (`SimCluster.sourceKind`). */
export const SRC_OUTSIDE = 0;
export const SRC_POD = 1;
/** A node's or an Egress IP: the cluster's own output, seen in the capture. */
export const SRC_CLUSTER = 2;
/** Inside a Node's pod CIDR, but no Pod of the manifests has it. */
export const SRC_NO_POD = 3;

export class SimCluster {
  readonly slab: Slab;
  readonly sw: SimSwitch;
  /** Nodes sorted by name. */
  readonly nodes: NodeRt[] = [];
  /** Nodes in creation order (`NodeRt.index`). */
  readonly created: NodeRt[] = [];
  readonly byName = new Map<string, NodeRt>();
  readonly hosts = new Map<number, SimHost>();
  readonly pods: SimPod[] = [];
  readonly podByIp = new Map<number, SimPod>();
  readonly ownership: OwnershipChange[] = [];
  readonly events: EgressEvent[] = [];
  readonly arpChanges: ArpChangeRecord[] = [];
  readonly liveness: LivenessChange[] = [];
  readonly statusFiles = new Map<string, NodeStatusFile>();
  /** Hosts with an IPv6 address, and address → index in `hosts6` (IPv6-only hosts are not in `hosts`). */
  readonly hosts6: SimHost[] = [];
  private readonly host6ByIp = new Ip6Map(1024);
  /** Pods by IPv6 address → index in `pods`. */
  private pod6 = new Ip6Map(16);
  /** Node IPv6 addresses and IPv6 egress IPs (the cluster's own IPv6 sources). */
  private cluster6 = new Ip6Map(16);
  /** IPv6 pod CIDRs: per CIDR 4 address words and 4 mask words. */
  private podCidrs6 = new Int32Array(0);
  /** Whether any Node has an IPv6 side (else IPv6 input is undeliverable `ipv6`). */
  dualStack = false;
  /** The segment's IPv6 prefix (the /64 of the first Node's IPv6 address), words and mask; null without one. */
  segment6: string | null = null;
  private seg6 = new Int32Array(8);
  /** IPv6 routes of the hosts: every Node's IPv6 pod CIDR via the Node's IPv6 address. */
  private routes6: HostRoute6[] = [];
  /** Times the settle loop hit its bound (a packet storm; what was left is still queued). */
  settleLimit = 0;
  /** The segment's MTU (the first node's transport MTU) and subnet. */
  segmentMtu = 1500;
  state: ClusterState;
  /** Hook shared by every pod port (set by the replay before the first packet). */
  readonly podTap: { onPod: PodTap | null } = { onPod: null };
  /** Hook for every datapath drop (set before the first packet; nodes get a DropTracer only when it is). */
  readonly dropTap: { onDrop: DropTap | null } = { onDrop: null };
  private readonly opts: ClusterOptions;
  private readonly dirtyPods: SimPod[] = [];
  private ownKey = new Map<string, string>();
  private clusterIps = new Set<number>();
  private nodeIps = new Set<number>();
  private epNode: number[] = [];
  private podCidrs: Array<{ addr: number; mask: number }> = [];
  private subnet = { addr: 0, len: 24 };
  private routes: HostRoute[] = [];
  private gateway = 0;
  now = 0;

  private readonly batch: number;

  constructor(o: ClusterOptions, slotSize: number, slots: number) {
    this.opts = o;
    this.batch = o.exactDrops ? 1 : 128;
    this.state = o.state;
    this.slab = new Slab({ slots, slotSize });
    this.sw = new SimSwitch(this.slab, HEARTBEAT_PORT);
  }

  /** Build the nodes and hosts at simulated time `t`. */
  start(t: number): void {
    this.now = t;
    this.sw.setNow(t);
    this.segment6 = segmentOf(this.state);
    if (this.segment6) {
      const [a, len] = this.segment6.split('/');
      const n = Number(len);
      const m = [0, 1, 2, 3].map((i) => (n >= 32 * (i + 1) ? -1 : n <= 32 * i ? 0 : maskInt32(n - 32 * i)));
      const w = words6(a!)!;
      this.seg6.set(
        w.map((x, i) => x & m[i]!),
        0,
      );
      this.seg6.set(m, 4);
    }
    for (const name of [...this.state.nodes.keys()].sort()) this.addNode(name, t);
    this.topology();
    this.buildHosts();
    this.recordOwnership(t);
  }

  private addNode(name: string, t: number): void {
    const index = this.nodes.length;
    // The uplink's MTU is the Node's transport MTU; the view knows it once the runner has compiled one.
    const port = new SwitchPort(`uplink:${name}`, this.sw, 0, { batchSize: this.batch });
    const rt: NodeRt = { name, index, runner: null as unknown as NodeRunner, port, alive: true };
    const runner = new NodeRunner({
      name,
      state: this.state,
      slab: this.slab,
      uplink: port,
      key: REPLAY_KEY,
      incarnation: 1,
      now: t,
      intervalMs: this.opts.intervalMs,
      deadAfterMs: this.opts.detectMs,
      wall: this.opts.wall,
      status: {
        files: () => this.statusFiles.values(),
        write: (f) => this.statusFiles.set(f.node, f),
        events: (ev) => this.events.push(...ev),
      },
      datapath: { conntrack: { seed: this.opts.seed, tcpLiberal: this.opts.tcpStrict !== true } },
      ...(this.opts.connSync ? { connSync: true } : {}),
      pods: {
        open: (pod: LocalPod): Port => this.openPod(rt, pod),
        open6: (pod): Port => this.openPod(rt, { key: pod.key, ip: 0 } as LocalPod),
        close: (_key: string, p: Port) => this.closePod(p as SimPod),
      },
      onPodPort: (_key, member, p, added) => {
        if (added) (p as SimPod).member = member;
      },
    });
    (rt as { runner: NodeRunner }).runner = runner;
    (port as { mtu: number }).mtu = runner.agent.view.node?.mtu ?? 1500;
    const pipeline = runner.agent.datapath.pipeline;
    if (this.dropTap.onDrop) pipeline.tracer = new NodeDropTracer(rt, pipeline, this.dropTap);
    this.nodes.push(rt);
    this.created.push(rt);
    this.nodes.sort((a, b) => (a.name < b.name ? -1 : 1));
    this.byName.set(name, rt);
    this.epNode = [];
    this.nodes.forEach((n) => {
      while (this.epNode.length <= n.port.index) this.epNode.push(-1);
      this.epNode[n.port.index] = n.index;
    });
  }

  private openPod(rt: NodeRt, pod: LocalPod): SimPod {
    // Pods are opened while the runner is being built: the MTU comes from the configuration, as the view's does.
    const mtu = resolveConfig(this.state.config).podMtu;
    const p = new SimPod(pod.key, pod.ip, rt, mtu, this.slab, this.pods.length, this.podTap, this.batch);
    this.pods.push(p);
    if (pod.ip !== 0) this.podByIp.set(pod.ip, p);
    return p;
  }

  private closePod(p: SimPod): void {
    if (this.podByIp.get(p.ip) === p) this.podByIp.delete(p.ip);
    p.member = -1;
    p.close();
  }

  /** Addresses, subnet and routes derived from the state (after start and every manifest change). */
  private topology(): void {
    const n = this.nodes[0]?.runner.agent.view.node;
    if (!n) return;
    this.subnet = n.transportCidr ?? { addr: n.transportIp & (0xffffff00 | 0), len: 24 };
    this.segmentMtu = n.mtu;
    this.gateway = n.defaultGateway ?? 0;
    const routes: HostRoute[] = [];
    const cidrs: Array<{ addr: number; mask: number }> = [];
    const own = new Set<number>();
    for (const rt of this.nodes) {
      const v = rt.runner.agent.view.node!;
      own.add(v.transportIp);
      if (v.podCidr) {
        routes.push({ addr: v.podCidr.addr, len: v.podCidr.len, via: v.transportIp });
        cidrs.push({ addr: v.podCidr.addr & maskInt32(v.podCidr.len), mask: maskInt32(v.podCidr.len) });
      }
    }
    if (this.gateway) routes.push({ addr: 0, len: 0, via: this.gateway });
    for (const a of this.state.controller?.allocations ?? []) {
      const ip = ipv4.parseAddr(a.ip);
      if (ip !== null) own.add(ip);
    }
    for (const e of this.state.egresses.values())
      for (const t of [e.spec.egressIP, e.status?.egressIP]) {
        const ip = t ? ipv4.parseAddr(t) : null;
        if (ip !== null) own.add(ip);
      }
    this.nodeIps = new Set(this.nodes.map((rt) => rt.runner.agent.view.node!.transportIp));
    this.routes = routes;
    this.podCidrs = cidrs;
    this.clusterIps = own;
    this.topology6();
  }

  /** The IPv6 side of the topology: pods' and the cluster's own IPv6 addresses, IPv6 pod CIDRs (cold). */
  private topology6(): void {
    const byKey = new Map(this.pods.filter((p) => p.member >= 0).map((p) => [p.key, p]));
    const pods: Array<[number, number, number, number, number]> = [];
    const own = new Map<string, [number, number, number, number]>();
    const cidrs: number[] = [];
    let dual = false;
    const nodeIp6 = new Map<string, [number, number, number, number]>();
    for (const rt of this.nodes) {
      const w = rt.runner.agent.view.v6.nodeIp ? words6(rt.runner.agent.view.v6.nodeIp) : null;
      if (w) nodeIp6.set(rt.name, w);
    }
    const routes6: HostRoute6[] = [];
    for (const rt of this.nodes) {
      const v6 = rt.runner.agent.view.v6;
      if (v6.nodeIp !== null || v6.localPods.length > 0) dual = true;
      for (const lp of v6.localPods) {
        const p = byKey.get(lp.key);
        const w = words6(lp.ip);
        if (p && w) pods.push([...w, p.index]);
      }
      for (const a of [v6.nodeIp, ...v6.nodeIps, ...v6.egressIpOwner.keys()]) {
        const w = a ? words6(a) : null;
        if (w && a) own.set(a, w);
      }
      if (rt === this.nodes[0])
        for (const r of v6.podCidrs) {
          const [a, len] = r.cidr.split('/');
          const w = words6(a!);
          if (!w) continue;
          const n = Number(len);
          const m = [0, 1, 2, 3].map((i) => (n >= 32 * (i + 1) ? -1 : n <= 32 * i ? 0 : maskInt32(n - 32 * i)));
          cidrs.push(...w.map((x, i) => x & m[i]!), ...m);
          // The hosts reach a Node's IPv6 pods through the Node (as IPv4's pod CIDR routes).
          const via = nodeIp6.get(r.node);
          if (via) routes6.push({ addr: w, len: n, via });
        }
    }
    for (const a of [...(this.state.controller?.allocations ?? []).map((x) => x.ip)]) {
      const w = a.includes(':') ? words6(a) : null;
      if (w) own.set(a, w);
    }
    this.pod6 = new Ip6Map(pods.length + 1);
    for (const [a0, a1, a2, a3, i] of pods) this.pod6.set(a0, a1, a2, a3, i);
    this.cluster6 = new Ip6Map(own.size + 1);
    for (const w of own.values()) this.cluster6.set(w[0], w[1], w[2], w[3], 1);
    this.podCidrs6 = Int32Array.from(cidrs);
    this.routes6 = routes6;
    this.dualStack = dual;
  }

  /** The pod with IPv6 address a0..a3, or undefined. */
  podByIp6(a0: number, a1: number, a2: number, a3: number): SimPod | undefined {
    const i = this.pod6.get(a0, a1, a2, a3);
    return i >= 0 ? this.pods[i] : undefined;
  }

  /** Where the IPv6 source a0..a3 belongs: SRC_POD, SRC_CLUSTER, SRC_NO_POD (an IPv6 pod CIDR) or SRC_OUTSIDE. */
  sourceKind6(a0: number, a1: number, a2: number, a3: number): number {
    if (this.pod6.get(a0, a1, a2, a3) >= 0) return SRC_POD;
    if (this.cluster6.get(a0, a1, a2, a3) >= 0) return SRC_CLUSTER;
    const c = this.podCidrs6;
    for (let k = 0; k < c.length; k += 8)
      if (
        (a0 & c[k + 4]!) === c[k] &&
        (a1 & c[k + 5]!) === c[k + 1] &&
        (a2 & c[k + 6]!) === c[k + 2] &&
        (a3 & c[k + 7]!) === c[k + 3]
      )
        return SRC_NO_POD;
    return SRC_OUTSIDE;
  }

  /** Whether a0..a3 is in the segment's IPv6 prefix. */
  onSegment6(a0: number, a1: number, a2: number, a3: number): boolean {
    const g = this.seg6;
    return (
      this.segment6 !== null &&
      (a0 & g[4]!) === g[0] &&
      (a1 & g[5]!) === g[1] &&
      (a2 & g[6]!) === g[2] &&
      (a3 & g[7]!) === g[3]
    );
  }

  /**
   * The host with IPv6 address a0..a3, created on the segment on first use (a source of the capture, or a
   * destination pods send to: every IPv6 address of the segment the capture talks to is a host); null off the
   * segment (there is no IPv6 router) or for the cluster's own addresses.
   */
  hostFor6(a0: number, a1: number, a2: number, a3: number): SimHost | null {
    const i = this.host6ByIp.get(a0, a1, a2, a3);
    if (i >= 0) return this.hosts6[i]!;
    if (!this.onSegment6(a0, a1, a2, a3) || this.sourceKind6(a0, a1, a2, a3) !== SRC_OUTSIDE) return null;
    if (this.hosts6.length >= 512) return null;
    const b = new Uint8Array(16);
    new DataView(b.buffer).setInt32(0, a0);
    new DataView(b.buffer).setInt32(4, a1);
    new DataView(b.buffer).setInt32(8, a2);
    new DataView(b.buffer).setInt32(12, a3);
    const text = ipv6.addrBytesToString(b);
    // MAC: 02:ee: + the address's last 32 bits (an IPv4 host's rule applied to them).
    return this.addHost(`host-${text}`, 0, [], false, this.subnet, 0, b);
  }

  private buildHosts(): void {
    for (const h of [...this.state.externalHosts.values()].sort((a, b) =>
      a.metadata.name < b.metadata.name ? -1 : 1,
    )) {
      const ip = ipv4.parseAddr(h.spec.address.split('/')[0]!)!;
      // A dual-stack host (`spec.ipv6Address`) is one host with both addresses, unless its IPv6 address is a
      // host already (made from the capture before a manifest change named it).
      const a6 = h.spec.ipv6Address ? ipv6.parseAddr(h.spec.ipv6Address.split('/')[0]!) : null;
      const w6 = a6 ? ipv6.addrWords(a6) : null;
      const ip6 = w6 && this.host6ByIp.get(w6[0], w6[1], w6[2], w6[3]) < 0 ? a6 : null;
      if (!this.hosts.has(ip)) this.addHost(h.metadata.name, ip, this.routes, false, this.subnet, 0, ip6);
    }
    if (resolveConfig(this.state.config).separateSubnet)
      for (const p of [...this.state.pools.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
        const si = p.spec.subnetInfo;
        const gw = si && (si.vlan ?? 0) > 0 ? ipv4.parseAddr(si.gateway) : null;
        if (si && gw !== null && !this.hosts.has(gw))
          this.addHost(`gateway-vlan${si.vlan}`, gw, [], true, { addr: gw, len: si.prefixLength }, si.vlan);
      }
    if (this.gateway && !this.hosts.has(this.gateway))
      this.addHost(
        'gateway',
        this.gateway,
        this.routes.filter((r) => r.len > 0),
        true,
      );
  }

  private addHost(
    name: string,
    ip: number,
    routes: HostRoute[],
    router: boolean,
    subnet = this.subnet,
    vlan = 0,
    ip6: Uint8Array | null = null,
  ): SimHost {
    const h = new SimHost(this.sw, {
      name,
      ip,
      ip6,
      routes6: ip6 ? this.routes6 : [],
      // 02:ee: + the IPv4 address, or for an IPv6-only host the IPv6 address's last 32 bits.
      mac: macFor('host', ip !== 0 ? ip : new DataView(ip6!.buffer, ip6!.byteOffset).getInt32(12)),
      subnet,
      routes,
      reflect: this.opts.reflect,
      router,
      mtu: this.segmentMtu,
      vlan,
    });
    h.onArpChange = (c) =>
      this.arpChanges.push({ at: this.now, host: c.host, ip: ipv4.addrToString(c.ip), mac: c.mac, was: c.was });
    h.onNdpChange = (c) => this.arpChanges.push({ at: this.now, ...c });
    if (ip !== 0) this.hosts.set(ip, h);
    if (ip6) {
      const w = ipv6.addrWords(ip6);
      this.host6ByIp.set(w[0], w[1], w[2], w[3], this.hosts6.length);
      this.hosts6.push(h);
    }
    return h;
  }

  /** The creation index (`NodeRt.index`) of the node whose uplink is switch endpoint `ep`, or -1. */
  nodeOfEndpoint(ep: number): number {
    return ep < this.epNode.length ? this.epNode[ep]! : -1;
  }

  /** Whether `ip` is a node's transport address. */
  isNodeIp(ip: number): boolean {
    return this.nodeIps.has(ip);
  }

  /** Where the source address `src` belongs: SRC_POD (`podByIp`), SRC_CLUSTER, SRC_NO_POD or SRC_OUTSIDE. */
  sourceKind(src: number): number {
    if (this.podByIp.has(src)) return SRC_POD;
    if (this.clusterIps.has(src)) return SRC_CLUSTER;
    const c = this.podCidrs;
    for (let i = 0; i < c.length; i++) if ((src & c[i]!.mask) === c[i]!.addr) return SRC_NO_POD;
    return SRC_OUTSIDE;
  }

  /** The host that sends a packet from `src`, creating an implicit one on the segment; null when unroutable. */
  hostFor(src: number): SimHost | null {
    const h = this.hosts.get(src);
    if (h) return h;
    const m = maskInt32(this.subnet.len);
    if ((src & m) === (this.subnet.addr & m))
      return this.addHost(`host-${ipv4.addrToString(src)}`, src, this.routes, false);
    if (this.gateway) return this.hosts.get(this.gateway) ?? null;
    return null;
  }

  /** Queue an input packet (in `slot`, at its start) as sent by pod `p`; false when it could not be queued. */
  fromPod(p: SimPod, slot: number, len: number): boolean {
    if (!p.rx.adopt(slot, len)) return false;
    if (!p.dirty) {
      p.dirty = true;
      this.dirtyPods.push(p);
    }
    return true;
  }

  /** Housekeeping at simulated time `t`: node ticks (membership, handovers, timers), hosts' ARP waits. */
  tick(t: number): void {
    this.now = t;
    this.sw.setNow(t);
    for (const rt of this.nodes) {
      if (!rt.alive) continue;
      rt.runner.tick(t);
      rt.runner.agent.datapath.tick(t, 1024);
    }
    for (const h of this.hosts.values()) if (h.waiting) h.tick(t);
    for (const h of this.hosts6) if (h.waiting && h.ip === 0) h.tick(t);
    this.settle(t);
    this.recordOwnership(t);
  }

  /**
   * Skip `ms` of idle time at `t` (nothing happens in it but heartbeats): the cluster's clock does not move,
   * but what would have timed out meanwhile does — connection-tracking entries expire as if `ms` had passed.
   */
  skipIdle(t: number, ms: number): void {
    for (const rt of this.nodes) {
      if (!rt.alive) continue;
      const st = rt.runner.agent.datapath.state;
      for (const ct of [st.ct, st.ctIn]) {
        ct.setTime(t + ms);
        ct.expire(Number.MAX_SAFE_INTEGER);
        ct.setTime(t);
      }
    }
  }

  runEvent(e: TimelineEvent, t: number): void {
    this.now = t;
    this.sw.setNow(t);
    const a = e.action;
    if (a.kind === 'fail' || a.kind === 'restore') {
      const rt = this.byName.get(a.node)!;
      rt.alive = a.kind === 'restore';
      rt.port.up = rt.alive;
      this.liveness.push({ at: t, node: rt.name, alive: rt.alive });
      // A resumed agent's first act is its overdue housekeeping: membership notices the pause before any frame.
      if (rt.alive) rt.runner.tick(t);
    } else {
      const now = this.opts.wall(t);
      const r =
        a.kind === 'apply' ? applyDocs(this.state, a.docs, now, a.problems) : deleteObjects(this.state, a.targets, now);
      if (!r.ok) throw new Error(`timeline event ${e.index} refused`); // checked before the run
      this.state = r.state;
      for (const name of [...r.state.nodes.keys()].sort()) if (!this.byName.has(name)) this.addNode(name, t);
      for (const rt of this.nodes) if (rt.alive) rt.runner.setState(r.state, t);
      this.topology();
      this.buildHosts();
    }
    this.settle(t);
    this.recordOwnership(t);
  }

  /** Let every live node process what waits for it, and the segment forward, until all is quiet. */
  settle(t: number): void {
    this.now = t;
    const sw = this.sw;
    sw.setNow(t);
    sw.resetBudget();
    const nodes = this.nodes;
    for (let iter = 0; iter < 10_000; iter++) {
      let busy = false;
      const dirty = this.dirtyPods;
      if (dirty.length > 0) {
        for (let k = 0; k < dirty.length; k++) {
          const p = dirty[k]!;
          p.dirty = false;
          const rt = p.node;
          if (!rt.alive || p.member < 0) continue;
          const dp = rt.runner.agent.datapath;
          while (p.rx.queued > 0) dp.pollPod(p.member, t);
        }
        dirty.length = 0;
        busy = true;
      }
      for (let k = 0; k < nodes.length; k++) {
        const rt = nodes[k]!;
        if (!rt.alive) continue;
        const dp = rt.runner.agent.datapath;
        if (rt.port.queued > 0) {
          while (rt.port.queued > 0) dp.pollUplink(t);
          busy = true;
        } else {
          const n4 = dp.state.neigh;
          const n6 = dp.state.neigh6;
          if (n4.hasReady || n4.parkedCount > 0 || n6.hasReady || n6.parkedCount > 0) {
            const before = n4.parkedCount + n6.parkedCount;
            dp.tick(t, 0);
            if (n4.parkedCount + n6.parkedCount !== before) busy = true;
          }
        }
      }
      if (sw.drain()) busy = true;
      if (!busy) return;
    }
    this.settleLimit++;
  }

  /** The end of the run: what the hosts still hold for ARP or NDP is counted lost (`unresolved-at-end`). */
  abandonPending(): void {
    for (const h of this.hosts.values()) if (h.waiting) h.abandonPending();
    for (const h of this.hosts6) if (h.waiting) h.abandonPending();
  }

  /** Packets lost so far: every node's datapath drops and every frame the segment could not deliver (cold). */
  lostSoFar(): number {
    let n = 0;
    for (const rt of this.nodes)
      for (const [stage, s] of Object.entries(rt.runner.agent.datapath.pipeline.snapshot()))
        for (const [name, v] of Object.entries(s.counters)) if (isLoss(stage, name)) n += v;
    const sw = this.sw.counters.snapshot() as Record<string, number>;
    for (const k of SWITCH_LOSSES) n += sw[k] ?? 0;
    return n;
  }

  /** Note who answers ARP for each egress IP when it changed (per tick and event: cold). */
  private recordOwnership(t: number): void {
    const owners = new Map<string, string[]>();
    for (const rt of this.nodes) {
      // A node owns what its datapath answers ARP for: not while failed, not while resettling after a pause.
      if (!rt.alive || rt.runner.agent.datapath.state.holdEgress) continue;
      for (const text of [...rt.runner.control.hosted().map(ipv4.addrToString), ...hosted6(rt)]) {
        const list = owners.get(text);
        if (list) list.push(rt.name);
        else owners.set(text, [rt.name]);
      }
    }
    if (owners.size === 0 && this.ownKey.size === 0) return;
    let lost = -1;
    const next = new Map<string, string>();
    const all = new Set([...owners.keys(), ...this.ownKey.keys()]);
    for (const ip of [...all].sort()) {
      const nodes = owners.get(ip) ?? [];
      const key = nodes.join(',');
      if (this.ownKey.get(ip) !== key) {
        if (lost < 0) lost = this.lostSoFar();
        this.ownership.push({ at: t, ip, nodes, lost });
      }
      if (key !== '') next.set(ip, key);
    }
    this.ownKey = next;
  }
}

/** The IPv6 egress IPs node `rt`'s datapath hosts now (cold). */
export function hosted6(rt: NodeRt): string[] {
  return rt.runner.agent.view.v6.localEgressIps.map((l) => l.ip);
}

/**
 * The segment's on-link IPv6 prefix as the agents take it (node-agent.ts viewToConfig6): `transportCIDRv6`, else
 * the /64 of the first Node's (by name) IPv6 address; null without either. Its hosts are the simulated IPv6 hosts.
 */
function segmentOf(state: ClusterState): string | null {
  const cfg = resolveConfig(state.config).transportCIDRv6;
  if (cfg) return cfg;
  for (const name of [...state.nodes.keys()].sort()) {
    const a = nodeIPv6(state.nodes.get(name)!);
    const w = a ? words6(a) : null;
    if (!w) continue;
    const b = new Uint8Array(16);
    new DataView(b.buffer).setInt32(0, w[0]);
    new DataView(b.buffer).setInt32(4, w[1]);
    return `${ipv6.addrBytesToString(b)}/64`;
  }
  return null;
}
