/**
 * The part of a node agent that is the same in replay and on real devices: it turns the control plane's
 * result for this node (a PolicyView and the IPs to announce) into the datapath's configuration, keeps one
 * pod port per local pod, IPv6-only pods included (created and closed through a factory: memory ports in
 * replay, TUNs on a host),
 * swaps the compiled tables between rounds, and announces newly hosted egress IPs with exactly one
 * gratuitous ARP each in Antrea's format (docs/semantics.md §3), an IPv6 egress IP with one unsolicited Neighbor
 * Advertisement with the Override flag (docs/ipv6.md §2.c).
 */
import type { Port } from '../graph/index.js';
import { Burst, type Slab } from '../packet/index.js';
import type { LocalPod, LocalPod6, PolicyView } from '../policy/index.js';
import {
  EGRESS_LOCAL,
  EGRESS_NONE,
  EGRESS_REMOTE,
  type EgressVlan,
  type MeterConfig,
  type NodeDatapathConfig,
  type NodeDatapathConfig6,
  type PeerNode,
  type PodConfig,
} from '../stages/index.js';
import { arp, ethernet, ipv6, ndp } from '../wire/index.js';
import { NodeDatapath, type DatapathOptions } from './datapath.js';

/**
 * The MAC of a node's uplink (`02:0e:` + its IPv4 address) or of a simulated host (`02:ee:` + address):
 * locally administered, deterministic, so replay outputs and test-bed captures are stable.
 */
export function macFor(kind: 'node' | 'host', ip: number): Uint8Array {
  return new Uint8Array([
    0x02,
    kind === 'node' ? 0x0e : 0xee,
    (ip >>> 24) & 0xff,
    (ip >>> 16) & 0xff,
    (ip >>> 8) & 0xff,
    ip & 0xff,
  ]);
}

/** Creates and closes the port of a local pod. */
export interface PodPortFactory {
  /**
   * A Pod with an IPv4 address (dual-stack or IPv4 only); `ip6`: its IPv6 address (canonical text) when it is
   * dual-stack, else null.
   */
  open(pod: LocalPod, ip6: string | null): Port;
  /**
   * A Pod whose status.podIPs has only an IPv6 address: its port carries IPv6 alone (an IPv4 packet from it is
   * spoofed, pod-ingress `drop-spoofed`). Without `open6` such Pods get no port.
   */
  open6?(pod: LocalPod6): Port;
  close(pod: string, port: Port): void;
}

/**
 * The datapath configuration for a view; `memberOf` gives the port-group member of a local pod. Egress IPs in
 * `withhold` are placed here by the view but not hosted yet (a handover in progress): pods using them tunnel to
 * the IP like pods of other nodes, and the node neither answers ARP for them nor SNATs to them.
 */
export function viewToConfig(
  view: PolicyView,
  mac: Uint8Array,
  memberOf: (key: string) => number,
  withhold: ReadonlySet<number> = new Set(),
): NodeDatapathConfig {
  const n = view.node;
  if (!n) throw new Error('the view has no Node object for this node');
  const nodes: PeerNode[] = [];
  for (const [ip, name] of [...view.nodeByIp.entries()].sort((a, b) => (a[0] >>> 0) - (b[0] >>> 0))) {
    const pc = view.podCidrs.find((p) => p.node === name);
    nodes.push({ name, ip, podCidr: pc ? { addr: pc.addr, len: pc.len } : null });
  }
  const local = new Set([...view.localEgressIpSet].filter((ip) => !withhold.has(ip)));
  const pods: PodConfig[] = view.localPods.map((p) => ({
    key: p.key,
    ip: p.ip,
    port: memberOf(p.key),
    egress: p.egressIp === 0 ? EGRESS_NONE : local.has(p.egressIp) ? EGRESS_LOCAL : EGRESS_REMOTE,
    egressIp: p.egressIp,
  }));
  const transport = n.transportCidr ?? { addr: n.transportIp & (0xffffff00 | 0), len: 24 };
  const gateways = new Map<number, number>();
  for (const l of view.localEgressIps) if (l.subnet) gateways.set(l.ip, l.subnet.gateway);
  const vlans = new Map<number, EgressVlan>();
  for (const l of view.localEgressIps)
    if (l.subnet && l.subnet.vlan > 0 && !withhold.has(l.ip))
      vlans.set(l.ip, { vlan: l.subnet.vlan, gateway: l.subnet.gateway, prefixLength: l.subnet.prefixLength });
  // Geneve to a VLAN Egress IP hosted elsewhere goes to its owner's node IP on the segment (uplink-out.ts).
  const nodeIpOf = new Map([...view.nodeByIp].map(([ip, name]) => [name, ip]));
  const via = new Map<number, number>();
  for (const [ip, owner] of view.egressIpOwner) {
    const si = view.egressIpSubnet.get(ip);
    const ownerIp = nodeIpOf.get(owner);
    if (si && si.vlan > 0 && owner !== n.name && ownerIp !== undefined && !local.has(ip)) via.set(ip, ownerIp);
  }
  const meters = new Map<number, MeterConfig>();
  for (const l of view.localEgressIps) if (l.bandwidth && !withhold.has(l.ip)) meters.set(l.ip, l.bandwidth);
  return {
    nodeName: n.name,
    nodeIp: n.transportIp,
    mac,
    uplinkMtu: n.mtu,
    transport: { addr: transport.addr, len: transport.len },
    gateway: n.defaultGateway ?? 0,
    tunnelPort: n.tunnelPort,
    podCidr: n.podCidr ? { addr: n.podCidr.addr, len: n.podCidr.len } : null,
    pods,
    nodes,
    bypass: view.bypass.map((p) => ({ addr: p.addr, len: p.len })),
    egressIps: view.localEgressIps.map((l) => l.ip).filter((ip) => !withhold.has(ip)),
    egressGateways: gateways,
    egressVlans: vlans,
    remoteEgressVia: via,
    egressMeters: meters,
    v6: viewToConfig6(view, memberOf),
  };
}

/**
 * The IPv6 side of the datapath configuration (docs/ipv6.md §2.e), null on a node with no IPv6 address, no IPv6
 * pod and no IPv6 egress IP (IPv6 packets stay counted drops there). A pod whose IPv6 Egress is hosted on another
 * node tunnels to that node's transport IP. A pod `memberOf` gives no port (-1) is left out. The segment is
 * `transportCIDRv6`, else the /64 of the node's IPv6 address; the router `defaultGatewayv6`; neighbours are
 * resolved with NDP (no static ones). A Node whose transport address is IPv6 gets the IPv6 underlay: every Node's
 * transport address with its key.
 */
export function viewToConfig6(view: PolicyView, memberOf: (key: string) => number): NodeDatapathConfig6 | null {
  const v6 = view.v6;
  if (v6.nodeIp === null && v6.localPods.length === 0 && v6.localEgressIps.length === 0) return null;
  const nodeIpOf = new Map([...view.nodeByIp.entries()].map(([ip, name]) => [name, ip]));
  const hosted = new Set(v6.localEgressIps.map((l) => l.ip));
  return {
    nodeIp: v6.nodeIp,
    pods: v6.localPods
      .filter((p) => memberOf(p.key) >= 0)
      .map((p) => {
        const kind = p.egressIp === null ? EGRESS_NONE : hosted.has(p.egressIp) ? EGRESS_LOCAL : EGRESS_REMOTE;
        return {
          key: p.key,
          ip: p.ip,
          port: memberOf(p.key),
          egress: kind,
          egressIp: p.egressIp,
          egressNodeIp: kind === EGRESS_REMOTE && p.egressNode ? (nodeIpOf.get(p.egressNode) ?? 0) : 0,
        };
      }),
    podCidrs: v6.podCidrs.map((r) => ({ cidr: r.cidr, nodeIp: r.nodeIp })),
    nodeIps: [...v6.nodeIps],
    bypass: [...v6.bypass],
    egressIps: v6.localEgressIps.map((l) => l.ip),
    remotePods: v6.remotePods.map((r) => ({ ip: r.ip, egressIp: r.egressIp })),
    gateway: v6.gateway,
    neighbors: [],
    segment: v6.segment ?? slash64(v6.nodeIp),
    // The IPv6 underlay (docs/ipv6.md §2.l): this Node's transport address is IPv6 (validation makes them all so).
    underlay:
      view.node?.transportIp6 != null
        ? { self: view.node.transportIp6, nodes: v6.transport.map((x) => ({ key: x.key, ip: x.ip })) }
        : null,
  };
}

/** The /64 holding an IPv6 address (the usual on-link prefix, RFC 4291 §2.5.1), null for none. */
function slash64(ip: string | null): string | null {
  const a = ip === null ? null : ipv6.parseAddr(ip);
  if (!a) return null;
  a.fill(0, 8);
  return `${ipv6.addrBytesToString(a)}/64`;
}

export interface NodeAgentOptions extends DatapathOptions {
  name: string;
  slab: Slab;
  mac: Uint8Array;
  uplink: Port;
  /** Where control-plane IP packets enter (heartbeats); optional. */
  control?: Port;
  pods: PodPortFactory;
  /** Initial view. */
  view: PolicyView;
  /** Egress IPs of the initial view not to host yet (see viewToConfig). */
  withhold?: readonly number[];
  /** Told when a pod's port joins or leaves the `pods` group (a runtime watches its readiness). */
  onPodPort?: (key: string, member: number, port: Port, added: boolean) => void;
  /** Told of every configuration the datapath takes (the agent's other datapath workers take the same). */
  onConfigure?: (config: NodeDatapathConfig) => void;
}

export class NodeAgent {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly datapath: NodeDatapath;
  readonly uplink: Port;
  view: PolicyView;
  /** Gratuitous ARPs sent, per IP (int32). */
  readonly announced = new Map<number, number>();
  /** Unsolicited Neighbor Advertisements sent, per IPv6 egress IP (text). */
  readonly announced6 = new Map<string, number>();
  private readonly podPorts = new Map<string, { member: number; port: Port }>();
  private readonly factory: PodPortFactory;
  private readonly out: Burst;
  private readonly onPodPort: NodeAgentOptions['onPodPort'];
  private readonly onConfigure: NodeAgentOptions['onConfigure'];

  constructor(o: NodeAgentOptions) {
    this.name = o.name;
    this.mac = Uint8Array.from(o.mac);
    this.uplink = o.uplink;
    this.factory = o.pods;
    this.onPodPort = o.onPodPort;
    this.onConfigure = o.onConfigure;
    this.view = o.view;
    this.withheld = new Set(o.withhold ?? []);
    this.out = new Burst(o.slab, 16);
    this.syncPods(o.view);
    this.datapath = new NodeDatapath(o.slab, this.config(o.view), o);
    for (const [key, p] of this.podPorts) this.addMember(key, p);
    this.configure(this.config(o.view)); // now with the pods' port-group members
    this.datapath.attachUplink(o.uplink);
    if (o.control) this.datapath.attachControl(o.control);
  }

  private configure(cfg: NodeDatapathConfig): void {
    this.datapath.state.configure(cfg);
    this.onConfigure?.(cfg);
  }

  /** Local pods with their port and port-group member. */
  pods(): ReadonlyMap<string, { member: number; port: Port }> {
    return this.podPorts;
  }

  private readonly members = new Map<string, number>();

  private syncPods(view: PolicyView): { added: string[]; removed: Array<{ key: string; port: Port; member: number }> } {
    const want = new Set(view.localPods.map((p) => p.key));
    // Pods with an IPv6 address only (the view's IPv4 side leaves them out).
    const only6 = this.factory.open6 ? view.v6.localPods.filter((p) => !want.has(p.key)) : [];
    for (const p of only6) want.add(p.key);
    const removed: Array<{ key: string; port: Port; member: number }> = [];
    for (const [key, p] of this.podPorts) if (!want.has(key)) removed.push({ key, ...p });
    for (const r of removed) this.podPorts.delete(r.key);
    const added: string[] = [];
    const add = (key: string, open: () => Port) => {
      if (this.podPorts.has(key)) return;
      this.podPorts.set(key, { member: -1, port: open() });
      added.push(key);
    };
    let ip6: Map<string, string> | null = null;
    for (const pod of view.localPods)
      add(pod.key, () => {
        ip6 ??= new Map(view.v6.localPods.map((p) => [p.key, p.ip]));
        return this.factory.open(pod, ip6.get(pod.key) ?? null);
      });
    for (const pod of only6) add(pod.key, () => this.factory.open6!(pod));
    return { added, removed };
  }

  private addMember(key: string, p: { member: number; port: Port }): void {
    p.member = this.datapath.pods.add(p.port);
    this.members.set(key, p.member);
    this.onPodPort?.(key, p.member, p.port, true);
  }

  private withheld: ReadonlySet<number> = new Set();

  private config(view: PolicyView): NodeDatapathConfig {
    return viewToConfig(
      view,
      this.mac,
      // A pod without a port (an IPv6-only pod of a factory without open6) is -1: viewToConfig6 leaves it out.
      (key) => {
        const p = this.podPorts.get(key);
        return p ? Math.max(p.member, 0) : -1;
      },
      this.withheld,
    );
  }

  /** Egress IPs the view places here but the datapath does not host (see viewToConfig). */
  get withholding(): ReadonlySet<number> {
    return this.withheld;
  }

  /**
   * Take a new control-plane result: update pod ports, swap the datapath's tables, and announce `announce`
   * (int32) with one gratuitous ARP each and `announce6` (IPv6 text) with one unsolicited Neighbor Advertisement
   * each. Returns the pods added and removed.
   */
  apply(
    view: PolicyView,
    announce: readonly number[],
    now: number,
    withhold: readonly number[] = [],
    announce6: readonly string[] = [],
  ): { added: string[]; removed: string[] } {
    this.withheld = new Set(withhold);
    const { added, removed } = this.syncPods(view);
    for (const r of removed) {
      this.onPodPort?.(r.key, r.member, r.port, false);
      this.datapath.pods.remove(r.member);
      this.members.delete(r.key);
      this.factory.close(r.key, r.port);
    }
    for (const key of added) this.addMember(key, this.podPorts.get(key)!);
    this.view = view;
    this.configure(this.config(view));
    this.datapath.state.now = now;
    for (const ip of announce) this.garp(ip, now);
    for (const ip of announce6) this.unsolicitedNa(ip, now);
    return { added, removed: removed.map((r) => r.key) };
  }

  /**
   * Send one gratuitous ARP for `ip` on the uplink (Antrea's format: op 1, THA broadcast, SPA = TPA = ip),
   * 802.1Q-tagged with the IP's VLAN when its pool has one (docs/semantics.md §3.1).
   */
  garp(ip: number, now: number): void {
    const b = this.out;
    const vid = this.datapath.state.tables.vlanOf(ip);
    const j = b.alloc(arp.FRAME_LEN + (vid === 0 ? 0 : ethernet.TAG_LEN));
    if (j < 0) return;
    const v = b.slab.dv;
    const o = b.off[j]!;
    if (vid === 0) arp.emitGratuitousFrame(v, o, this.mac, ip);
    else {
      // The untagged frame four bytes on, then the tagged header over its first 16 bytes.
      arp.emitGratuitousFrame(v, o + ethernet.TAG_LEN, this.mac, ip);
      const hi = ethernet.macHi16(this.mac);
      const lo = ethernet.macLo32(this.mac);
      ethernet.writeTaggedHeader(v, o, 0xffff, -1, hi, lo, vid, ethernet.ETHERTYPE_ARP);
    }
    b.tsSec[j] = Math.floor(now / 1000);
    b.tsNsec[j] = Math.round((now % 1000) * 1e6);
    this.uplink.send(b);
    b.freeAll();
    this.announced.set(ip, (this.announced.get(ip) ?? 0) + 1);
  }

  /**
   * Send one unsolicited Neighbor Advertisement for the IPv6 address `ip` on the uplink (RFC 4861 §7.2.6, what
   * Antrea sends on takeover of an IPv6 egress IP): to all-nodes, Override set, Solicited clear, the target
   * link-layer address option with this node's MAC. Not an IPv6 address: nothing is sent.
   */
  unsolicitedNa(ip: string, now: number): void {
    const target = ipv6.parseAddr(ip);
    if (!target) return;
    const b = this.out;
    const j = b.alloc(ndp.FRAME_LEN);
    if (j < 0) return;
    ndp.emitUnsolicitedAdvertFrame(b.slab.dv, b.off[j]!, this.mac, target);
    b.tsSec[j] = Math.floor(now / 1000);
    b.tsNsec[j] = Math.round((now % 1000) * 1e6);
    this.uplink.send(b);
    b.freeAll();
    this.announced6.set(ip, (this.announced6.get(ip) ?? 0) + 1);
  }

  /** Member index of a local pod's port, or -1. */
  memberOf(key: string): number {
    return this.members.get(key) ?? -1;
  }

  close(): void {
    for (const [key, p] of this.podPorts) {
      this.onPodPort?.(key, p.member, p.port, false);
      this.factory.close(key, p.port);
    }
    this.podPorts.clear();
    this.uplink.close();
  }
}
