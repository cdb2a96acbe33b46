/**
 * The datapath of one node: the stages of engine/stages wired into a pipeline (the spec below is the whole
 * graph; `egress get pipeline` and the replay summary print it as Graphviz dot), over three attachment
 * points: the `uplink` port (L2, a TAP or a simulated switch port), the `pods` port group (L3, one TUN or
 * memory port per local pod) and the `control` input (IPv4 packets the control plane sends, e.g. heartbeats,
 * which still need neighbour resolution).
 */
import { Pipeline, type InputHandle, type Port, type PortGroup } from '../graph/index.js';
import type { Slab } from '../packet/index.js';
import {
  Arp,
  Classify,
  ControlIn,
  Defrag,
  GeneveDecap,
  GeneveDecap6,
  GeneveEncap,
  GeneveEncap6,
  IcmpLocal,
  IcmpLocal6,
  Inbound,
  Inbound6,
  IpLocal,
  LocalOut,
  Ndp,
  NodeState,
  PodIngress,
  PodIngress6,
  Snat,
  Snat6,
  Steer,
  UplinkIngress,
  UplinkOut,
  Unsnat,
  Unsnat6,
  UplinkOut6,
  Tunnel6Encap,
  Tunnel6Decap,
  type NodeDatapathConfig,
  type NodeStateOptions,
} from '../stages/index.js';

export const DATAPATH_LINKS: readonly string[] = [
  'in:pods -> pod-ingress',
  'pod-ingress.ok -> classify',
  'pod-ingress.fragment -> defrag',
  'pod-ingress.reply -> out:pods',
  'pod-ingress.drop -> drop',
  'pod-ingress.ipv6 -> pod-ingress6',
  'pod-ingress6.local-pod -> out:pods',
  'pod-ingress6.remote-pod -> geneve-encap6',
  'pod-ingress6.snat -> snat6',
  'pod-ingress6.tunnel -> geneve-encap6',
  'pod-ingress6.no-nat -> uplink-out6',
  'geneve-encap6.out -> uplink-out',
  'geneve-encap6.drop -> drop',
  'geneve-encap6.underlay6 -> tunnel6-encap',
  'pod-ingress6.ignored -> sink',
  'pod-ingress6.drop -> drop',
  'pod-ingress6.reply -> out:pods',
  'pod-ingress6.local -> icmp-local6',
  'snat6.out -> uplink-out6',
  'snat6.drop -> drop',
  'snat6.error -> geneve-encap6',
  'uplink-out6.out -> out:uplink',
  'uplink-out6.held -> consumed',
  'uplink-out6.drop -> drop',
  'classify.local-pod -> out:pods',
  'classify.remote-pod -> geneve-encap',
  'classify.snat -> snat',
  'classify.tunnel -> geneve-encap',
  'classify.no-nat -> uplink-out',
  'classify.local -> icmp-local',
  'classify.drop -> drop',
  'in:uplink -> uplink-ingress',
  'uplink-ingress.arp -> arp',
  'uplink-ingress.ip -> ip-local',
  'uplink-ingress.fragment -> defrag',
  'uplink-ingress.drop -> drop',
  'uplink-ingress.ipv6 -> unsnat6',
  'uplink-ingress.underlay6 -> tunnel6-decap',
  'tunnel6-decap.to-pod -> out:pods',
  'tunnel6-decap.ipv6 -> geneve-decap6',
  'tunnel6-decap.control -> control-in',
  'tunnel6-decap.drop -> drop',
  'uplink-ingress.ndp -> ndp',
  'ndp.reply -> out:uplink',
  'ndp.done -> sink',
  'unsnat6.to-pod -> out:pods',
  'unsnat6.to-remote -> geneve-encap6',
  'unsnat6.inbound -> inbound6',
  'inbound6.to-pod -> out:pods',
  'inbound6.drop -> drop',
  'inbound6.error -> uplink-out6',
  'unsnat6.drop -> drop',
  'unsnat6.error -> uplink-out6',
  'unsnat6.local -> icmp-local6',
  'icmp-local6.to-uplink -> uplink-out6',
  'icmp-local6.to-pod -> out:pods',
  'icmp-local6.drop -> drop',
  'arp.reply -> out:uplink',
  'arp.done -> sink',
  'ip-local.decap -> geneve-decap',
  'ip-local.control -> control-in',
  'ip-local.inbound -> inbound',
  'ip-local.unsnat -> unsnat',
  'ip-local.drop -> drop',
  'geneve-decap.to-pod -> out:pods',
  'geneve-decap.snat -> snat',
  'geneve-decap.fragment -> defrag',
  'geneve-decap.drop -> drop',
  'geneve-decap.ipv6 -> geneve-decap6',
  'geneve-decap6.to-pod -> out:pods',
  'geneve-decap6.snat -> snat6',
  'geneve-decap6.drop -> drop',
  'defrag.pod -> classify',
  'defrag.tunnel -> snat',
  'defrag.unsnat -> unsnat',
  'defrag.inbound -> inbound',
  'defrag.held -> consumed',
  'defrag.drop -> drop',
  'unsnat.to-pod -> out:pods',
  'unsnat.to-remote -> geneve-encap',
  'unsnat.local -> icmp-local',
  'unsnat.drop -> drop',
  'unsnat.error -> uplink-out',
  'inbound.to-pod -> out:pods',
  'inbound.drop -> drop',
  'inbound.error -> uplink-out',
  'icmp-local.to-uplink -> uplink-out',
  'icmp-local.to-pod -> out:pods',
  'icmp-local.drop -> drop',
  'control-in.done -> sink',
  'snat.out -> uplink-out',
  'snat.drop -> drop',
  'snat.error -> geneve-encap',
  'geneve-encap.out -> uplink-out',
  'geneve-encap.drop -> drop',
  'geneve-encap.underlay6 -> tunnel6-encap',
  'tunnel6-encap.out -> uplink-out6',
  'tunnel6-encap.drop -> drop',
  'in:control -> local-out',
  'local-out.out -> uplink-out',
  'local-out.drop -> drop',
  'local-out.ipv6 -> uplink-out6',
  'uplink-out.out -> out:uplink',
  'uplink-out.held -> consumed',
  'uplink-out.drop -> drop',
];

/**
 * The graph of one worker of a set (`conntrack.portShards` count > 1, docs/agent.md "Workers"): packets for
 * unsnat and IPv6 frames for unsnat6 first go through steer, which hands those of another worker's SNAT (SNAT66)
 * partition to it (the `workers` group: member k is worker k's handoff ring); what a worker receives from the
 * others enters at uplink-ingress as if read from its own uplink queue. Every other link, the IPv6 stages' with
 * them, is DATAPATH_LINKS'. With one worker the graph is DATAPATH_LINKS, unchanged.
 */
export const WORKER_LINKS: readonly string[] = [
  ...DATAPATH_LINKS.filter((l) => l !== 'ip-local.unsnat -> unsnat' && l !== 'uplink-ingress.ipv6 -> unsnat6'),
  'ip-local.unsnat -> steer',
  'uplink-ingress.ipv6 -> steer',
  'steer.own -> unsnat',
  'steer.own6 -> unsnat6',
  'steer.handoff -> out:workers',
  'in:workers -> uplink-ingress',
];

export interface DatapathOptions extends NodeStateOptions {
  /** Round burst size (default 256). */
  burst?: number;
}

export class NodeDatapath {
  readonly state: NodeState;
  readonly pipeline: Pipeline;
  readonly pods: PortGroup;
  private readonly inUplink: InputHandle;
  private readonly inPods: InputHandle;
  private readonly inControl: InputHandle;

  /** Handoff ports to the other workers of a set (null with one worker). */
  readonly workers: PortGroup | null;
  private readonly inWorkers: InputHandle | null;

  constructor(slab: Slab, config: NodeDatapathConfig, opts: DatapathOptions = {}) {
    this.state = new NodeState(slab, config, opts);
    const s = this.state;
    const set = s.ct.shardCount > 1;
    this.pipeline = new Pipeline(slab, {
      stages: [
        ...(set ? [new Steer(s)] : []),
        new PodIngress(s),
        new PodIngress6(s),
        new Classify(s),
        new UplinkIngress(s),
        new Arp(s),
        new Ndp(s),
        new IpLocal(s),
        new GeneveDecap(s),
        new GeneveDecap6(s),
        new Defrag(s),
        new Unsnat(s),
        new Unsnat6(s),
        new IcmpLocal6(s),
        new Inbound(s),
        new Inbound6(s),
        new IcmpLocal(s),
        new ControlIn(s),
        new Snat(s),
        new Snat6(s),
        new GeneveEncap(s),
        new GeneveEncap6(s),
        new LocalOut(s),
        new UplinkOut(s),
        new UplinkOut6(s),
        new Tunnel6Encap(s),
        new Tunnel6Decap(s),
      ],
      ports: ['uplink', 'control'],
      groups: set ? ['pods', 'workers'] : ['pods'],
      links: set ? WORKER_LINKS : DATAPATH_LINKS,
      burst: opts.burst ?? 256,
    });
    this.pods = this.pipeline.group('pods');
    this.workers = set ? this.pipeline.group('workers') : null;
    this.inWorkers = set ? this.pipeline.input('workers') : null;
    this.inUplink = this.pipeline.input('uplink');
    this.inPods = this.pipeline.input('pods');
    this.inControl = this.pipeline.input('control');
  }

  attachUplink(port: Port): void {
    this.pipeline.attach('uplink', port);
  }

  attachControl(port: Port): void {
    this.pipeline.attach('control', port);
  }

  /** Receive from the uplink and process one round at time `now` (ms). */
  pollUplink(now: number): number {
    this.state.setNow(now);
    return this.pipeline.pollInput(this.inUplink);
  }

  /** Receive what worker `member` handed to this one and process one round (a worker set only). */
  pollWorker(member: number, now: number): number {
    if (this.inWorkers === null) return 0;
    this.state.setNow(now);
    return this.pipeline.pollInput(this.inWorkers, member);
  }

  /** Receive from pod port `member` and process one round. */
  pollPod(member: number, now: number): number {
    this.state.setNow(now);
    return this.pipeline.pollInput(this.inPods, member);
  }

  /**
   * Pin a peer's transport IP to its uplink MAC (learned from an authenticated heartbeat): Geneve is accepted
   * only from pinned pairs (geneve-decap) and ARP cannot change the neighbour entry
   * (docs/segment-security.md#peer-pins).
   */
  pinPeer(ip: number, macHi: number, macLo: number): void {
    this.state.pinPeer(ip, macHi, macLo);
    this.onPin?.(ip, macHi, macLo);
  }

  /** Told of every pin (the agent's other datapath workers pin the same peers). */
  onPin: ((ip: number, macHi: number, macLo: number) => void) | null = null;

  /** Receive control-plane packets and process one round. */
  pollControl(now: number): number {
    this.state.setNow(now);
    return this.pipeline.pollInput(this.inControl);
  }

  /** A round with no input: releases resolved neighbour queues, expires unanswered ones. */
  tick(now: number, ctBudget = 1024): void {
    this.state.setNow(now);
    this.state.ct.expire(ctBudget);
    this.state.ctIn.expire(ctBudget >> 2);
    this.state.ct6.ct.expire(ctBudget >> 2);
    this.state.ctIn6.ct.expire(ctBudget >> 2);
    this.pipeline.run();
  }
}
