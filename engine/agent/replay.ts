/**
 * Whole-cluster replay in one process (docs/architecture.md §4.1): every node of the manifests runs the same
 * datapath as the agent, their uplinks meet on a simulated L2 switch with the external hosts, and an input
 * capture drives it. A packet whose source IP is a pod's is sent by that pod (through its port); any other IPv4
 * packet comes from the external network (a declared ExternalHost, an implicit host of the segment with that
 * address, or the segment's gateway for off-segment sources); other frames (ARP, malformed) are put on the
 * segment as they are. With `reflect` the external side answers. A timeline fails and restores nodes and
 * changes manifests at packet times. Deterministic: no wall clock, fixed seeds, ordered iteration, so the same
 * input gives byte-identical outputs.
 *
 * Every node is a NodeRunner, as in the agent process: membership runs on real heartbeats (UDP 10351 over the
 * simulated segment, HMAC with a fixed replay key) in simulated time, so a failed node is detected, its IPs
 * move and are announced exactly as on devices. The cluster runs `warmupMs` before the first packet (membership
 * settles, egress IPs are announced), and every node ticks each `tickMs` of simulated time.
 */
import { createHash } from 'node:crypto';
import type { ConnDump } from '../../conntrack/index.js';
import { dump as ctDump } from '../../conntrack/index.js';
import { makeKey } from '../cluster/index.js';
import type { Port } from '../graph/index.js';
import { MemoryPort } from '../io/index.js';
import { Slab } from '../packet/index.js';
import {
  applyDocs,
  deleteObjects,
  mergeStatus,
  type ClusterState,
  type EgressEvent,
  type LocalPod,
  type NodeStatusFile,
} from '../policy/index.js';
import { ethernet, ipv4 } from '../wire/index.js';
import { macFor } from './node-agent.js';
import { NodeRunner } from './node-runner.js';
import { SimHost } from './sim-host.js';
import { SimSwitch, SwitchPort, type SegmentEndpoint } from './sim-switch.js';
import type { TimelineEvent } from './timeline.js';

export { macFor };

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
  /** Conntrack seed (default 1): fixed so runs are identical. */
  seed?: number;
  /** Every frame on the segment. */
  onSegment?: (bytes: Uint8Array, off: number, len: number, tMs: number) => void;
  /** Every packet a pod receives (an IPv4 packet). */
  onPod?: (pod: string, bytes: Uint8Array, tMs: number) => void;
  slots?: number;
}

export interface OwnershipChange {
  t: number;
  ip: string;
  /** Nodes answering ARP for it now (more than one would be a split brain; none while it moves). */
  nodes: string[];
}

interface NodeRt {
  name: string;
  runner: NodeRunner;
  port: SwitchPort;
  alive: boolean;
}

/** The replay's fixed cluster key (deterministic output; replay never touches a network). */
const REPLAY_KEY = makeKey(createHash('sha256').update('egress-engine replay cluster key').digest());

const LINKTYPE_ETHERNET = 1;

function macKey(b: Uint8Array, o: number): number {
  // 48 bits fit a double exactly.
  return (
    ((b[o]! << 8) | b[o + 1]!) * 0x100000000 +
    (((b[o + 2]! << 24) | (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!) >>> 0)
  );
}

export class Replay {
  readonly slab: Slab;
  readonly sw = new SimSwitch();
  readonly nodes = new Map<string, NodeRt>();
  readonly hosts = new Map<number, SimHost>();
  readonly ownership: OwnershipChange[] = [];
  readonly events: EgressEvent[] = [];
  readonly arpChanges: Array<{ t: number; host: string; ip: string; mac: string; was: string | null }> = [];
  readonly input = {
    packets: 0,
    fromPods: 0,
    fromExternal: 0,
    rawFrames: 0,
    fromDownNode: 0,
    undeliverable: 0,
    settleLimit: 0,
  };
  private readonly reflect: boolean;
  private readonly detectMs: number;
  private readonly intervalMs: number;
  private readonly warmupMs: number;
  private readonly tickMs: number;
  private readonly seed: number;
  private readonly timeline: TimelineEvent[];
  private timelinePos = 0;
  private t0 = -1;
  private now = 0;
  private nextTick = 0;
  private state: ClusterState;
  private readonly statusFiles = new Map<string, NodeStatusFile>();
  private readonly wire: SegmentEndpoint & { index: number };
  private readonly opts: ReplayOptions;
  private lastOwners = new Map<string, string>();
  private readonly nodeMacs = new Set<number>();

  constructor(o: ReplayOptions) {
    this.opts = o;
    this.reflect = o.reflect ?? false;
    this.detectMs = o.detectMs ?? 500;
    this.intervalMs = o.intervalMs ?? 50;
    this.warmupMs = o.warmupMs ?? 1000;
    this.tickMs = o.tickMs ?? 10;
    this.state = o.state;
    this.seed = o.seed ?? 1;
    this.timeline = [...(o.timeline ?? [])];
    this.slab = new Slab({ slots: o.slots ?? 16384 });
    this.sw.tap = (bytes, off, len) => o.onSegment?.(bytes, off, len, this.now);
    // The capture's own frames enter through a "wire" endpoint that receives nothing.
    const wireEp = { name: 'input', up: true, index: 0, deliver() {} };
    wireEp.index = this.sw.attach(wireEp);
    this.wire = wireEp;
  }

  /** Build nodes and hosts; the first packet comes at `tMs`, the cluster starts `warmupMs` earlier. */
  start(tMs: number): void {
    this.t0 = tMs;
    const begin = tMs - this.warmupMs;
    this.now = begin;
    this.nextTick = begin;
    for (const name of [...this.state.nodes.keys()].sort()) this.addNode(name, begin);
    this.buildHosts();
    this.recordOwnership(begin);
    this.advance(tMs);
  }

  private addNode(name: string, tMs: number): void {
    const port = new SwitchPort(`uplink:${name}`, this.sw, this.slab);
    const onPod = this.opts.onPod;
    const runner = new NodeRunner({
      name,
      state: this.state,
      slab: this.slab,
      uplink: port,
      key: REPLAY_KEY,
      incarnation: 1,
      now: tMs,
      intervalMs: this.intervalMs,
      deadAfterMs: this.detectMs,
      status: {
        files: () => this.statusFiles.values(),
        write: (f) => this.statusFiles.set(f.node, f),
        events: (ev) => this.events.push(...ev),
      },
      datapath: { conntrack: { seed: this.seed } },
      pods: {
        open: (pod: LocalPod): Port =>
          new MemoryPort({ name: pod.key, slab: this.slab, onSend: (data) => onPod?.(pod.key, data, this.now) }),
        close: (_key: string, p: Port) => p.close(),
      },
    });
    this.nodes.set(name, { name, runner, port, alive: true });
    this.nodeMacs.add(macKey(runner.agent.mac, 0));
  }

  private buildHosts(): void {
    const state = this.state;
    const any = [...this.nodes.values()][0];
    const n = any?.runner.agent.view.node;
    if (!n) return;
    const subnet = n.transportCidr ?? { addr: n.transportIp & (0xffffff00 | 0), len: 24 };
    const routes = this.hostRoutes();
    for (const h of [...state.externalHosts.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
      const ip = ipv4.parseAddr(h.spec.address.split('/')[0]!)!;
      this.addHost(h.metadata.name, ip, subnet, routes, false);
    }
    if (n.defaultGateway && !this.hosts.has(n.defaultGateway))
      this.addHost(
        'gateway',
        n.defaultGateway,
        subnet,
        routes.filter((r) => r.len > 0),
        true,
      );
  }

  private hostRoutes() {
    const routes: Array<{ addr: number; len: number; via: number }> = [];
    for (const rt of [...this.nodes.values()]) {
      const v = rt.runner.agent.view.node!;
      if (v.podCidr) routes.push({ addr: v.podCidr.addr, len: v.podCidr.len, via: v.transportIp });
    }
    const gw = [...this.nodes.values()][0]?.runner.agent.view.node?.defaultGateway;
    if (gw) routes.push({ addr: 0, len: 0, via: gw });
    return routes;
  }

  private addHost(
    name: string,
    ip: number,
    subnet: { addr: number; len: number },
    routes: Array<{ addr: number; len: number; via: number }>,
    router: boolean,
  ): SimHost {
    const h = new SimHost(this.sw, {
      name,
      ip,
      mac: macFor('host', ip),
      subnet,
      routes,
      reflect: this.reflect,
      router,
    });
    h.onArpChange = (c) =>
      this.arpChanges.push({
        t: this.rel(this.now),
        host: c.host,
        ip: ipv4.addrToString(c.ip),
        mac: c.mac,
        was: c.was,
      });
    this.hosts.set(ip, h);
    return h;
  }

  private rel(t: number): number {
    return Math.round((t - this.t0) * 1000) / 1e6;
  }

  /** The host that sends a packet from `src`, creating an implicit one on the segment; null when unroutable. */
  private hostFor(src: number): SimHost | null {
    const h = this.hosts.get(src);
    if (h) return h;
    const any = [...this.nodes.values()][0]?.runner.agent.view.node;
    if (!any) return null;
    const subnet = any.transportCidr ?? { addr: any.transportIp & (0xffffff00 | 0), len: 24 };
    const m = subnet.len === 0 ? 0 : (0xffffffff << (32 - subnet.len)) | 0;
    if ((src & m) === (subnet.addr & m))
      return this.addHost(`host-${ipv4.addrToString(src)}`, src, subnet, this.hostRoutes(), false);
    if (any.defaultGateway) return this.hosts.get(any.defaultGateway) ?? null;
    return null;
  }

  /**
   * Run the cluster up to time `t`: node ticks every `tickMs` (heartbeats, membership, handovers, neighbour and
   * conntrack timers) and timeline events, in time order, the segment settled after each.
   */
  advance(t: number): void {
    for (;;) {
      const nextEvent =
        this.timelinePos < this.timeline.length ? this.t0 + this.timeline[this.timelinePos]!.at * 1000 : Infinity;
      const next = Math.min(nextEvent, this.nextTick);
      if (next > t) break;
      this.now = next;
      if (nextEvent <= this.nextTick) this.runEvent(this.timeline[this.timelinePos++]!, next);
      else {
        for (const rt of this.sorted()) {
          if (!rt.alive) continue;
          rt.runner.tick(next);
          rt.runner.agent.datapath.tick(next, 1024);
        }
        this.nextTick += this.tickMs;
      }
      this.settle(next);
      this.recordOwnership(next);
    }
    this.now = t;
  }

  private sorted(): NodeRt[] {
    return [...this.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  private runEvent(e: TimelineEvent, t: number): void {
    const a = e.action;
    if (a.kind === 'fail' || a.kind === 'restore') {
      const rt = this.nodes.get(a.node)!;
      rt.alive = a.kind === 'restore';
      rt.port.up = rt.alive;
      // A resumed agent's first act is its overdue housekeeping: membership notices the pause before any frame.
      if (rt.alive) rt.runner.tick(t);
      return;
    }
    const now = new Date(t);
    const r =
      a.kind === 'apply' ? applyDocs(this.state, a.docs, now, a.problems) : deleteObjects(this.state, a.targets, now);
    if (!r.ok) throw new Error(`timeline event ${e.index} refused`); // checked before the run
    this.state = r.state;
    for (const name of [...r.state.nodes.keys()].sort()) if (!this.nodes.has(name)) this.addNode(name, t);
    for (const rt of this.sorted()) if (rt.alive) rt.runner.setState(r.state, t);
  }

  private recordOwnership(t: number): void {
    const owners = new Map<string, string[]>();
    for (const rt of this.sorted()) {
      // A node owns what its datapath answers ARP for: not while failed, not while resettling after a pause.
      if (!rt.alive || rt.runner.agent.datapath.state.holdEgress) continue;
      for (const ip of rt.runner.control.hosted()) {
        const text = ipv4.addrToString(ip);
        const list = owners.get(text) ?? [];
        list.push(rt.name);
        owners.set(text, list);
      }
    }
    const all = new Set([...owners.keys(), ...this.lastOwners.keys()]);
    const next = new Map<string, string>();
    for (const ip of [...all].sort()) {
      const nodes = owners.get(ip) ?? [];
      const key = nodes.join(',');
      next.set(ip, key);
      if (this.lastOwners.get(ip) !== key) this.ownership.push({ t: this.rel(t), ip, nodes });
    }
    for (const [ip, key] of next) if (key === '') next.delete(ip);
    this.lastOwners = next;
  }

  /** Feed one input record. */
  feed(data: Uint8Array, linkType: number, tSec: number, tNsec: number): void {
    const t = tSec * 1000 + tNsec / 1e6;
    if (this.t0 < 0) this.start(t);
    this.advance(t);
    this.input.packets++;
    let ip: Uint8Array | null = null;
    if (linkType === LINKTYPE_ETHERNET) {
      if (data.length >= 34 && data[12] === 0x08 && data[13] === 0x00) ip = data.subarray(14);
    } else if (data.length >= 1 && data[0]! >> 4 === 4) ip = data;
    if (ip) {
      const v = new DataView(ip.buffer, ip.byteOffset, ip.byteLength);
      const src = ip.length >= 20 ? ipv4.src(v, 0) : 0;
      const owner = ip.length >= 20 ? this.podOwner(src) : null;
      if (owner) {
        this.fromPod(owner, ip, v, t, tSec, tNsec);
        return;
      }
      // An Ethernet frame addressed to a node (or to a group address) goes on the segment as it is, so a
      // capture can exercise the nodes' own checks; other IPv4 packets are sent by the host that owns the source.
      const asIs = linkType === LINKTYPE_ETHERNET && (this.nodeMacs.has(macKey(data, 0)) || (data[0]! & 1) === 1);
      if (!asIs && ip.length >= 20 && ipv4.check(v, 0, ip.length) === 0) {
        const host = this.hostFor(src);
        if (!host) {
          this.input.undeliverable++;
          return;
        }
        this.input.fromExternal++;
        host.sendIp(ip.slice(0, ipv4.totalLen(v, 0)));
        this.settle(t);
        return;
      }
    }
    if (linkType === LINKTYPE_ETHERNET && data.length >= ethernet.HEADER_LEN) {
      this.input.rawFrames++;
      this.sw.forward(this.wire.index, data, 0, data.length);
      this.settle(t);
      return;
    }
    this.input.undeliverable++;
  }

  private fromPod(
    owner: { node: string; key: string },
    ip: Uint8Array,
    v: DataView,
    t: number,
    tSec: number,
    tNsec: number,
  ): void {
    this.input.fromPods++;
    const rt = this.nodes.get(owner.node)!;
    if (!rt.alive) {
      this.input.fromDownNode++;
      return;
    }
    const member = rt.runner.agent.memberOf(owner.key);
    const port = rt.runner.agent.pods().get(owner.key)?.port as MemoryPort | undefined;
    if (member < 0 || !port) {
      this.input.undeliverable++;
      return;
    }
    // Up to Total Length when it is sane (Ethernet padding is not part of the packet); pod-ingress checks the rest.
    const tl = ip.length >= 4 ? ipv4.totalLen(v, 0) : 0;
    port.inject(tl >= 20 && tl <= ip.length ? ip.subarray(0, tl) : ip, tSec, tNsec);
    rt.runner.agent.datapath.pollPod(member, t);
    this.settle(t);
  }

  private podOwner(ip: number): { node: string; key: string } | null {
    for (const rt of this.nodes.values()) {
      const p = rt.runner.agent.view.localPodByIp.get(ip);
      if (p) return { node: rt.name, key: p.key };
    }
    return null;
  }

  /** Let every live node process what waits on its uplink until the segment is quiet. */
  settle(t: number): void {
    const list = this.sorted();
    for (let iter = 0; iter < 10_000; iter++) {
      let busy = false;
      for (const rt of list) {
        if (!rt.alive) continue;
        const dp = rt.runner.agent.datapath;
        if (rt.port.queued > 0) {
          dp.pollUplink(t);
          busy = true;
        } else if (dp.state.neigh.hasReady || dp.state.neigh.parkedCount > 0) {
          const before = dp.state.neigh.parkedCount;
          dp.tick(t, 0);
          if (dp.state.neigh.parkedCount !== before) busy = true;
        }
      }
      if (!busy) return;
    }
    this.input.settleLimit++;
  }

  /** Process the rest of the timeline (up to its last event) after the last packet. */
  finish(): void {
    if (this.t0 < 0) return;
    // Run to the last timeline event and one failure timeout more, so its consequences are in the output.
    const last = this.timeline.length
      ? this.t0 + this.timeline[this.timeline.length - 1]!.at * 1000 + 2 * this.detectMs
      : this.now;
    this.advance(Math.max(this.now, last));
  }

  /** The summary written to summary.json: deterministic, no wall-clock values. */
  summary(): ReplaySummary {
    const nodes: ReplaySummary['nodes'] = {};
    for (const rt of this.sorted()) {
      const a = rt.runner.agent;
      const st = a.datapath.state;
      nodes[rt.name] = {
        alive: rt.alive,
        mac: ethernet.macToString(a.mac),
        egressIps: rt.runner.control.hosted().map(ipv4.addrToString),
        members: [...rt.runner.membership.alive()].sort(),
        membership: rt.runner.membership.counters.snapshot(),
        announced: Object.fromEntries([...a.announced].map(([ip, n]) => [ipv4.addrToString(ip), n])),
        stages: a.datapath.pipeline.snapshot(),
        conntrack: { counters: st.ct.counterSnapshot(), entries: ctDump(st.ct, st.now) },
        inbound: ctDump(st.ctIn, st.now),
        neighbors: st.neigh.dump(st.now).map((e) => ({
          ip: ipv4.addrToString(e.ip),
          mac: e.state === 'incomplete' ? null : ethernet.macToString(ethernet.macFromInts(e.macHi, e.macLo)),
          state: e.state,
        })),
      };
    }
    const hosts: ReplaySummary['hosts'] = {};
    for (const h of [...this.hosts.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      hosts[h.name] = {
        ip: ipv4.addrToString(h.ip),
        mac: ethernet.macToString(h.mac),
        ...h.stats,
        arp: Object.fromEntries(
          [...h.arpCache]
            .sort((a, b) => (a[0] >>> 0) - (b[0] >>> 0))
            .map(([ip, m]) => [ipv4.addrToString(ip), ethernet.macToString(m)]),
        ),
      };
    }
    return {
      input: { ...this.input },
      switch: this.sw.counters.snapshot(),
      nodes,
      hosts,
      ownership: this.ownership,
      arpChanges: this.arpChanges,
      events: this.events.map((e) => ({
        reason: e.reason,
        egress: e.egress,
        node: e.node,
        ip: e.ip,
        message: e.message,
      })),
      membership: this.sorted().flatMap((rt) =>
        rt.runner.history.map((e) => ({
          t: this.rel(e.at),
          node: rt.name,
          event: e.type,
          ...('node' in e ? { peer: e.node } : {}),
        })),
      ),
      status: Object.fromEntries(
        [...mergeStatus(this.state, this.statusFiles.values())]
          .sort((a, b) => (a[0] < b[0] ? -1 : 1))
          .map(([name, s]) => [name, { egressIP: s.egressIP ?? '', egressNode: s.egressNode ?? '' }]),
      ),
    };
  }
}

export interface ReplaySummary {
  input: Replay['input'];
  switch: Record<string, number>;
  nodes: Record<
    string,
    {
      alive: boolean;
      mac: string;
      egressIps: string[];
      members: string[];
      membership: Record<string, number>;
      announced: Record<string, number>;
      stages: Record<string, { exits: Record<string, number>; counters: Record<string, number> }>;
      conntrack: { counters: Record<string, number>; entries: ConnDump[] };
      /** Connections pods accepted (tracked without NAT). */
      inbound: ConnDump[];
      neighbors: Array<{ ip: string; mac: string | null; state: string }>;
    }
  >;
  hosts: Record<
    string,
    {
      ip: string;
      mac: string;
      received: number;
      reflected: number;
      arpRequests: number;
      arpReplies: number;
      unreachable: number;
      arp: Record<string, string>;
    }
  >;
  ownership: OwnershipChange[];
  arpChanges: Array<{ t: number; host: string; ip: string; mac: string; was: string | null }>;
  events: Array<{ reason: string; egress: string; node: string; ip: string; message: string }>;
  membership: Array<{ t: number; node: string; event: string; peer?: string }>;
  status: Record<string, { egressIP: string; egressNode: string }>;
}
