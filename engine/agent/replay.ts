/**
 * Whole-cluster replay in one process (ARCHITECTURE.md §4.1): every node of the manifests runs the same
 * datapath as the agent, their uplinks meet on a simulated L2 switch with the external hosts, and an input
 * capture drives it. A packet whose source IP is a pod's is sent by that pod (through its port); any other IPv4
 * packet comes from the external network (a declared ExternalHost, an implicit host of the segment with that
 * address, or the segment's gateway for off-segment sources); other frames (ARP, malformed) are put on the
 * segment as they are. With `reflect` the external side answers. A timeline fails and restores nodes and
 * changes manifests at packet times. Deterministic: no wall clock, fixed seeds, ordered iteration, so the same
 * input gives byte-identical outputs.
 *
 * Membership in replay: a failed node stops at once; the others see it dead `detectMs` later (the heartbeat
 * failure detector's timeout on real devices) and reschedule; a restored node is seen alive at once.
 */
import type { ConnDump } from '../../conntrack/index.js';
import { dump as ctDump } from '../../conntrack/index.js';
import type { Port } from '../graph/index.js';
import { MemoryPort } from '../io/index.js';
import { Slab } from '../packet/index.js';
import {
  applyDocs,
  ClusterSim,
  deleteObjects,
  nodeTransportIP,
  podIPv4,
  type ClusterState,
  type EgressEvent,
  type LocalPod,
} from '../policy/index.js';
import { ethernet, ipv4 } from '../wire/index.js';
import { macFor, NodeAgent } from './node-agent.js';

export { macFor };
import { SimHost } from './sim-host.js';
import { SimSwitch, SwitchPort, type SegmentEndpoint } from './sim-switch.js';
import type { TimelineEvent } from './timeline.js';

export interface ReplayOptions {
  state: ClusterState;
  reflect?: boolean;
  timeline?: readonly TimelineEvent[];
  /** Failure detection delay in ms (default 500). */
  detectMs?: number;
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
  /** Node hosting it now (as that node's agent sees it), or null when no node hosts it. */
  nodes: string[];
}

interface NodeRt {
  name: string;
  agent: NodeAgent;
  port: SwitchPort;
  alive: boolean;
  failedAt: number;
  announce: number[];
}

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
  readonly sim: ClusterSim;
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
  private readonly seed: number;
  private readonly timeline: TimelineEvent[];
  private timelinePos = 0;
  private t0 = -1;
  private now = 0;
  private readonly pending: number[] = []; // detection deadlines (ms)
  private readonly wire: SegmentEndpoint & { index: number };
  private readonly opts: ReplayOptions;
  private lastOwners = new Map<string, string>();
  private readonly nodeMacs = new Set<number>();

  constructor(o: ReplayOptions) {
    this.opts = o;
    this.reflect = o.reflect ?? false;
    this.detectMs = o.detectMs ?? 500;
    this.seed = o.seed ?? 1;
    this.timeline = [...(o.timeline ?? [])];
    this.slab = new Slab({ slots: o.slots ?? 16384 });
    this.sim = new ClusterSim(o.state);
    this.sw.tap = (bytes, off, len) => o.onSegment?.(bytes, off, len, this.now);
    // The capture's own frames enter through a "wire" endpoint that receives nothing.
    const wireEp = { name: 'input', up: true, index: 0, deliver() {} };
    wireEp.index = this.sw.attach(wireEp);
    this.wire = wireEp;
  }

  private get state(): ClusterState {
    return this.sim.state;
  }

  /** Build nodes and hosts from the state at time `tMs` (the first packet's time). */
  start(tMs: number): void {
    this.t0 = tMs;
    this.now = tMs;
    const state = this.state;
    const alive = new Set(state.nodes.keys());
    this.events.push(...this.sim.settle(new Date(tMs), { alive }));
    for (const name of [...state.nodes.keys()].sort()) this.addNode(name, tMs);
    this.buildHosts();
    for (const rt of this.nodes.values()) {
      const r = this.sim.memory(rt.name);
      // Agent start announces every hosted IP (Antrea InitIPs).
      for (const ip of r?.hosted ?? []) {
        const a = ipv4.parseAddr(ip);
        if (a !== null) rt.agent.garp(a, tMs);
      }
    }
    this.recordOwnership(tMs);
  }

  private addNode(name: string, tMs: number): void {
    const view = this.sim.view(name);
    const node = this.state.nodes.get(name)!;
    const ipText = nodeTransportIP(node);
    if (!view || !view.node || !ipText) throw new Error(`replay: Node ${name} has no IPv4 transport address`);
    const mac = macFor('node', view.node.transportIp);
    const port = new SwitchPort(`uplink:${name}`, this.sw, this.slab);
    const onPod = this.opts.onPod;
    const agent = new NodeAgent({
      name,
      slab: this.slab,
      mac,
      uplink: port,
      control: new MemoryPort({ name: `control:${name}`, slab: this.slab }),
      view,
      conntrack: { seed: this.seed },
      snatFullyRandom: view.node.snatFullyRandomPorts,
      pods: {
        open: (pod: LocalPod): Port =>
          new MemoryPort({ name: pod.key, slab: this.slab, onSend: (data) => onPod?.(pod.key, data, this.now) }),
        close: (_key: string, p: Port) => p.close(),
      },
    });
    agent.datapath.state.now = tMs;
    this.nodes.set(name, { name, agent, port, alive: true, failedAt: -1, announce: [] });
    this.nodeMacs.add(macKey(mac, 0));
  }

  private buildHosts(): void {
    const state = this.state;
    const any = [...this.nodes.values()][0];
    const n = any?.agent.view.node;
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
      const v = rt.agent.view.node!;
      if (v.podCidr) routes.push({ addr: v.podCidr.addr, len: v.podCidr.len, via: v.transportIp });
    }
    const gw = [...this.nodes.values()][0]?.agent.view.node?.defaultGateway;
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
    const any = [...this.nodes.values()][0]?.agent.view.node;
    if (!any) return null;
    const subnet = any.transportCidr ?? { addr: any.transportIp & (0xffffff00 | 0), len: 24 };
    const m = subnet.len === 0 ? 0 : (0xffffffff << (32 - subnet.len)) | 0;
    if ((src & m) === (subnet.addr & m))
      return this.addHost(`host-${ipv4.addrToString(src)}`, src, subnet, this.hostRoutes(), false);
    if (any.defaultGateway) return this.hosts.get(any.defaultGateway) ?? null;
    return null;
  }

  /** Process everything scheduled up to `t` (timeline events, failure detections). */
  advance(t: number): void {
    for (;;) {
      const nextEvent =
        this.timelinePos < this.timeline.length ? this.t0 + this.timeline[this.timelinePos]!.at * 1000 : Infinity;
      const nextDetect = this.pending.length ? Math.min(...this.pending) : Infinity;
      const next = Math.min(nextEvent, nextDetect);
      if (next > t) break;
      this.now = next;
      if (nextDetect <= nextEvent) {
        this.pending.splice(this.pending.indexOf(nextDetect), 1);
        this.reconcile(next);
      } else this.runEvent(this.timeline[this.timelinePos++]!, next);
      this.settle(next);
    }
    this.now = t;
  }

  private runEvent(e: TimelineEvent, t: number): void {
    const a = e.action;
    if (a.kind === 'fail') {
      const rt = this.nodes.get(a.node)!;
      rt.alive = false;
      rt.failedAt = t;
      rt.port.up = false;
      this.pending.push(t + this.detectMs);
      return;
    }
    if (a.kind === 'restore') {
      const rt = this.nodes.get(a.node)!;
      rt.alive = true;
      rt.port.up = true;
      this.reconcile(t);
      return;
    }
    const now = new Date(t);
    const r =
      a.kind === 'apply' ? applyDocs(this.state, a.docs, now, a.problems) : deleteObjects(this.state, a.targets, now);
    if (!r.ok) throw new Error(`timeline event ${e.index} refused`); // checked before the run
    this.sim.setState(r.state);
    for (const name of [...r.state.nodes.keys()].sort()) if (!this.nodes.has(name)) this.addNode(name, t);
    this.reconcile(t);
  }

  /** Membership as node `self` sees it at time `t`. */
  private membershipOf(t: number): Set<string> {
    const s = new Set<string>();
    for (const rt of this.nodes.values()) if (rt.alive || t < rt.failedAt + this.detectMs) s.add(rt.name);
    return s;
  }

  /** Run the control plane of every live node and hand each its new view. */
  reconcile(t: number): void {
    const alive = [...this.nodes.values()].filter((n) => n.alive).map((n) => n.name);
    const member = this.membershipOf(t);
    const announce = new Map<string, Set<string>>();
    const now = new Date(t);
    for (let i = 0; i < 5; i++) {
      const r = this.sim.step(now, { alive, viewOf: () => member });
      this.events.push(...r.events);
      for (const [node, res] of r.results) {
        let s = announce.get(node);
        if (!s) announce.set(node, (s = new Set()));
        for (const ip of res.announce) s.add(ip);
      }
      if (!r.wrote) break;
    }
    for (const name of alive) {
      const rt = this.nodes.get(name)!;
      const view = this.sim.view(name);
      if (!view) continue;
      const ips = [...(announce.get(name) ?? [])].map((x) => ipv4.parseAddr(x)).filter((x): x is number => x !== null);
      rt.agent.apply(view, ips, t);
    }
    this.recordOwnership(t);
  }

  private recordOwnership(t: number): void {
    const owners = new Map<string, string[]>();
    for (const rt of [...this.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!rt.alive) continue;
      for (const l of rt.agent.view.localEgressIps) {
        const list = owners.get(l.text) ?? [];
        list.push(rt.name);
        owners.set(l.text, list);
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
    const member = rt.agent.memberOf(owner.key);
    const port = rt.agent.pods().get(owner.key)?.port as MemoryPort | undefined;
    if (member < 0 || !port) {
      this.input.undeliverable++;
      return;
    }
    // Up to Total Length when it is sane (Ethernet padding is not part of the packet); pod-ingress checks the rest.
    const tl = ip.length >= 4 ? ipv4.totalLen(v, 0) : 0;
    port.inject(tl >= 20 && tl <= ip.length ? ip.subarray(0, tl) : ip, tSec, tNsec);
    rt.agent.datapath.pollPod(member, t);
    this.settle(t);
  }

  private podOwner(ip: number): { node: string; key: string } | null {
    for (const rt of this.nodes.values()) {
      const p = rt.agent.view.localPodByIp.get(ip);
      if (p) return { node: rt.name, key: p.key };
    }
    return null;
  }

  /** Let every live node process what waits on its uplink until the segment is quiet. */
  settle(t: number): void {
    const list = [...this.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (let iter = 0; iter < 10_000; iter++) {
      let busy = false;
      for (const rt of list) {
        if (!rt.alive) continue;
        const dp = rt.agent.datapath;
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
    const last = this.timeline.length ? this.t0 + this.timeline[this.timeline.length - 1]!.at * 1000 : this.now;
    const end = Math.max(this.now, last, ...this.pending);
    this.advance(end);
  }

  /** The summary written to summary.json: deterministic, no wall-clock values. */
  summary(): ReplaySummary {
    const nodes: ReplaySummary['nodes'] = {};
    for (const rt of [...this.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const st = rt.agent.datapath.state;
      nodes[rt.name] = {
        alive: rt.alive,
        mac: ethernet.macToString(rt.agent.mac),
        egressIps: rt.agent.view.localEgressIps.map((l) => l.text),
        announced: Object.fromEntries([...rt.agent.announced].map(([ip, n]) => [ipv4.addrToString(ip), n])),
        stages: rt.agent.datapath.pipeline.snapshot(),
        conntrack: { counters: st.ct.counterSnapshot(), entries: ctDump(st.ct, st.now) },
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
      status: Object.fromEntries(
        [...this.sim.status()]
          .sort((a, b) => (a[0] < b[0] ? -1 : 1))
          .map(([name, s]) => [name, { egressIP: s.egressIP ?? '', egressNode: s.egressNode ?? '' }]),
      ),
    };
  }

  /** Pod IPs by key, for callers that label output. */
  podIps(): Map<string, string> {
    const m = new Map<string, string>();
    for (const p of this.state.pods.values()) {
      const ip = podIPv4(p);
      if (ip) m.set(`${p.metadata.namespace}/${p.metadata.name}`, ip);
    }
    return m;
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
      announced: Record<string, number>;
      stages: Record<string, { exits: Record<string, number>; counters: Record<string, number> }>;
      conntrack: { counters: Record<string, number>; entries: ConnDump[] };
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
  status: Record<string, { egressIP: string; egressNode: string }>;
}
