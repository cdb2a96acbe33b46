/**
 * `egress get view NODE -o json|yaml`: the compiled view (engine/policy/view.ts) as typed JSON. The view holds IPv4
 * addresses as int32 for the datapath; here every address is its dotted text and every prefix its CIDR text, and
 * the lookup structures that only repeat the lists (typed arrays, prefix tables, maps by IP) are left out.
 */
import * as policy from '../engine/policy/index.js';

const ip = (v: number) => policy.formatIPv4(v);
const cidr = (p: policy.Prefix4 | null) => (p ? `${ip(p.addr)}/${p.len}` : null);

export function viewJSON(v: policy.PolicyView): unknown {
  const n = v.node;
  return {
    generation: v.generation,
    hash: v.hash,
    stateGeneration: v.stateGeneration,
    egressEnabled: v.egressEnabled,
    node: n && {
      name: n.name,
      transportIP: ip(n.transportIp),
      podCIDR: cidr(n.podCidr),
      mtu: n.mtu,
      podMTU: n.podMtu,
      tunnelPort: n.tunnelPort,
      snatFullyRandomPorts: n.snatFullyRandomPorts,
      transportCIDR: cidr(n.transportCidr),
      defaultGateway: n.defaultGateway === null ? null : ip(n.defaultGateway),
      serviceCIDR: cidr(n.serviceCidr),
    },
    localPods: v.localPods.map((p) => ({
      pod: p.key,
      ip: ip(p.ip),
      egressIP: p.egressIp === 0 ? null : ip(p.egressIp),
      egress: p.egressName,
      egressLocal: p.egressLocal,
      egressNode: p.egressNode,
      alternatives: [...p.alternatives],
      fallback: p.fallback,
    })),
    podCIDRs: v.podCidrs.map((r) => ({ cidr: cidr(r), node: r.node, nodeIP: ip(r.nodeIp), local: r.local })),
    nodeIPs: [...v.nodeIps].map(ip),
    bypass: v.bypass.map(cidr),
    localEgressIPs: v.localEgressIps.map((e) => ({
      ip: e.text,
      egresses: [...e.egressNames],
      static: e.static,
      subnet: e.subnet && { gateway: ip(e.subnet.gateway), prefixLength: e.subnet.prefixLength, vlan: e.subnet.vlan },
      bandwidth: e.bandwidth,
    })),
    egressIPOwners: Object.fromEntries([...v.egressIpOwner].map(([k, node]) => [ip(k), node])),
    externalHosts: v.externalHosts.map((h) => ({
      name: h.name,
      cidr: `${ip(h.ip)}/${h.len}`,
      command: h.command,
    })),
    // The IPv6 side (docs/ipv6.md §2.e), only on a Node that has one: IPv4-only views print as before.
    ...(v.v6.nodeIp !== null || v.v6.localPods.length > 0 || v.v6.localEgressIps.length > 0
      ? {
          ipv6: {
            nodeIP: v.v6.nodeIp,
            podCIDR: v.v6.podCidr,
            localPods: v.v6.localPods.map((p) => ({
              pod: p.key,
              ip: p.ip,
              egressIP: p.egressIp,
              egress: p.egressName,
              egressLocal: p.egressLocal,
              egressNode: p.egressNode,
              fallback: p.fallback,
            })),
            podCIDRs: v.v6.podCidrs.map((r) => ({ cidr: r.cidr, node: r.node, nodeIP: ip(r.nodeIp), local: r.local })),
            nodeIPs: [...v.v6.nodeIps],
            bypass: [...v.v6.bypass],
            localEgressIPs: v.v6.localEgressIps.map((e) => ({ ip: e.ip, egresses: [...e.egressNames] })),
            remotePods: v.v6.remotePods.map((r) => ({ ip: r.ip, egressIP: r.egressIp })),
            egressIPOwners: Object.fromEntries(v.v6.egressIpOwner),
          },
        }
      : {}),
    notes: [...v.notes],
  };
}
