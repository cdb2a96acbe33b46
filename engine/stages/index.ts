/**
 * engine/stages: the datapath of one node as pipeline stages (docs/architecture.md §1, docs/semantics.md §4–5), the
 * typed tables they read (compiled from a NodeDatapathConfig) and the state they share (conntrack,
 * neighbours, clock). Every stage writes exits and counts drops by reason; none throws on packet content.
 * Imports wire, packet, graph, conntrack (and policy read-only views).
 */
export * from './config.js';
export { NodeState, type NodeStateOptions, type ControlHandler } from './state.js';
export { N_INCOMPLETE, N_REACHABLE, NeighborTable, type NeighborCore, type NeighborOptions } from './neighbor.js';
export { NeighborTable6 } from './neighbor6.js';
export { Ndp } from './ndp.js';
export { Int32Map, PrefixTable } from './tables.js';
export { flowHash } from './flow-hash.js';
export { PodIngress } from './pod-ingress.js';
export { PodIngress6 } from './pod-ingress6.js';
export { Snat6 } from './snat6.js';
export { Unsnat6 } from './unsnat6.js';
export { UplinkOut6 } from './uplink-out6.js';
export { Tunnel6Encap } from './tunnel6-encap.js';
export { Tunnel6Decap } from './tunnel6-decap.js';
export {
  DatapathTables6,
  fold6,
  type NodeDatapathConfig6,
  type PodConfig6,
  type PodCidr6,
  type StaticNeighbor6,
  type Underlay6Config,
} from './config6.js';
export { Ct6 } from './ct6.js';
export { Ip6Map, Prefix6Table } from './tables6.js';
export { RateMeters, type MeterConfig } from './meter.js';
export { Defrag, MAX_FRAGMENTS, type FragmentOptions } from './defrag.js';
export { Classify } from './classify.js';
export { Snat } from './snat.js';
export { GeneveEncap } from './geneve-encap.js';
export { GeneveEncap6, flowHash6 } from './geneve-encap6.js';
export { UplinkOut } from './uplink-out.js';
export { UplinkIngress } from './uplink-ingress.js';
export { Arp, ArpClaims, ARP_COUNTERS, ARP_CLAIM_COUNTERS } from './arp.js';
export { IpLocal } from './ip-local.js';
export { GeneveDecap } from './geneve-decap.js';
export { GeneveDecap6 } from './geneve-decap6.js';
export { Unsnat } from './unsnat.js';
export { Steer, replyPort, replyPort6 } from './steer.js';
export { Inbound } from './inbound.js';
export { Inbound6 } from './inbound6.js';
export { IcmpLocal } from './icmp-local.js';
export { IcmpLocal6 } from './icmp-local6.js';
export { ControlIn } from './control-in.js';
export { LocalOut } from './local-out.js';
export { TunnelAuth, REPLAY_WINDOW, type TunnelAuthConfig } from './tunnel-auth.js';
