/**
 * The devices a node agent creates, with their names and configuration (iproute2 through netdev):
 * - the uplink: a TAP created in the segment's namespace and enslaved to its bridge;
 * - one TUN per local pod, created in the pod's namespace, renamed `eth0`, with the pod IP, the pod MTU
 *   (uplink MTU − 50) and a default route through it.
 * Link names carry the project's prefix and a hash of what they serve (`egru1a2b3c4d`, `egrp…`): at most 15
 * characters, stable across restarts, unique in practice. Devices are created directly in their namespace
 * (the addon enters it for the open), so no link ever appears in the agent's own namespace, which may be the
 * host's. Created devices go with their file descriptor, so
 * closing the port removes them; `cleanupLinks` removes leftovers after a crash.
 */
import { policy } from '../engine/index.js';
import * as netdev from './netdev.js';
import { POD_OFFLOADS } from './offload.js';
import { TapPort, TunPort, type TunIo, type TunPortOptions } from './tun-port.js';

/** `egr` + kind letter + 8 hex digits of CRC-32(key). */
export function linkName(kind: 'u' | 'p', key: string): string {
  return `egr${kind}${policy.crc32String(key).toString(16).padStart(8, '0')}`;
}

/** The network namespace of a pod (`namespace/name`): `egr-` + 8 hex digits of CRC-32(key). */
export function podNetnsName(key: string): string {
  return `egr-${policy.crc32String(key).toString(16).padStart(8, '0')}`;
}

export interface UplinkSpec {
  node: string;
  /** Namespace of the segment (where the bridge is); absent: stay where created. */
  netns?: string;
  bridge?: string;
  mtu: number;
  batchSize?: number;
  /** Open with IFF_VNET_HDR (GSO super-packets from offload pod ports go out whole; see tun/offload.ts). */
  vnetHdr?: boolean;
  /** With vnetHdr: try UDP-tunnel GSO (TapPort `tunnelGso`; the port says whether the kernel took it). */
  tunnelGso?: boolean;
  /** The TAP's queue (txqueuelen: frames the segment may deliver ahead of the engine); kernel default 1000. */
  queueLen?: number;
  /** I/O backend of the port (TunPortOptions.io; default rw). */
  io?: TunIo;
}

/** Create the node's uplink TAP, attach it to the segment, bring it up. */
export function openUplink(spec: UplinkSpec): TapPort {
  return openUplinkQueues(spec, 1)[0]!;
}

/**
 * `openUplink` with `queues` queues (IFF_MULTI_QUEUE when more than one: a datapath worker per queue, the
 * kernel's flow steering choosing the queue of each frame it delivers); the first port is queue 0.
 */
export function openUplinkQueues(spec: UplinkSpec, queues: number): TapPort[] {
  const name = linkName('u', spec.node);
  const opts: TunPortOptions = {
    batchSize: spec.batchSize ?? 64,
    name: `uplink:${spec.node}`,
    ...(spec.vnetHdr === true ? { vnetHdr: true } : {}),
    ...(spec.io !== undefined ? { io: spec.io } : {}),
    ...(spec.vnetHdr === true && spec.tunnelGso === true ? { tunnelGso: true } : {}),
  };
  if (spec.netns !== undefined) opts.netns = spec.netns; // created right there, never in the agent's namespace
  const ports = queues === 1 ? [new TapPort(name, opts)] : TapPort.openQueues(name, queues, opts);
  try {
    const where = spec.netns !== undefined ? { netns: spec.netns } : {};
    // The TAP carries full frames of the uplink MTU; the kernel side's MTU only matters to the bridge.
    netdev.setMtu(name, spec.mtu, where);
    if (spec.queueLen !== undefined) netdev.setTxQueueLen(name, spec.queueLen, where);
    if (spec.bridge !== undefined) netdev.setMaster(name, spec.bridge, where);
    netdev.setUp(name, where);
  } catch (e) {
    for (const p of ports) p.close();
    throw e;
  }
  return ports;
}

export interface PodDeviceSpec {
  /** `namespace/name`. */
  key: string;
  netns: string;
  /** Pod IPv4 address (dotted quad); null for an IPv6-only pod (then `ip6` is required). */
  ip: string | null;
  /** The pod's IPv6 address (a dual-stack pod, `status.podIPs`): on the TUN too, with an IPv6 default route. */
  ip6?: string | null;
  mtu: number;
  portIndex?: number;
  batchSize?: number;
  /**
   * Offloads (tun/offload.ts): IFF_VNET_HDR and TUNSETOFFLOAD(`POD_OFFLOADS`), so the pod's TCP sends GSO
   * super-packets of up to 64 KiB with partial checksums, read in one system call.
   */
  offload?: boolean;
  /** The TUN's queue (txqueuelen, packets the pod may send ahead of the engine); the kernel's default is 500. */
  queueLen?: number;
  /** I/O backend of the port (TunPortOptions.io; default rw). */
  io?: TunIo;
}

/**
 * Create a pod's TUN, move it into the pod's namespace as `eth0` with the pod IP and a default route, per family:
 * IPv4 only, dual-stack (`ip` and `ip6`) or IPv6 only (`ip` null).
 */
export function openPodTun(spec: PodDeviceSpec): TunPort {
  return openPodTunQueues(spec, 1)[0]!;
}

/** `openPodTun` with `queues` queues (IFF_MULTI_QUEUE when more than one); the first port is queue 0. */
export function openPodTunQueues(spec: PodDeviceSpec, queues: number): TunPort[] {
  const name = linkName('p', spec.key);
  const topts: TunPortOptions = {
    batchSize: spec.batchSize ?? 64,
    name: `pod:${spec.key}`,
    portIndex: spec.portIndex ?? 0,
    netns: spec.netns, // created inside the pod's namespace
    ...(spec.offload === true ? { vnetHdr: true, offload: POD_OFFLOADS } : {}),
    ...(spec.io !== undefined ? { io: spec.io } : {}),
  };
  const ports = queues === 1 ? [new TunPort(name, topts)] : TunPort.openQueues(name, queues, topts);
  const ns = { netns: spec.netns };
  try {
    netdev.ip(['link', 'set', 'dev', name, 'name', 'eth0'], ns);
    netdev.setMtu('eth0', spec.mtu, ns);
    if (spec.queueLen !== undefined) netdev.setTxQueueLen('eth0', spec.queueLen, ns);
    const ip6 = spec.ip6 ?? null;
    if (spec.ip === null && ip6 === null) throw new RangeError(`pod ${spec.key}: no address of either family`);
    if (spec.ip !== null) netdev.addAddress('eth0', `${spec.ip}/32`, ns);
    // An IPv4-only pod: keep its kernel from sending IPv6 (router solicitations, MLD) into the TUN. A dual-stack
    // pod gets its IPv6 address as a /128 (a TUN has no neighbours: everything goes to the engine) and no router
    // discovery; what its kernel still sends on the link (MLD) pod-ingress6 counts and consumes (docs/ipv6.md §2.a).
    if (ip6 === null) netdev.sysctl('net.ipv6.conf.all.disable_ipv6', 1, ns);
    else {
      netdev.sysctl('net.ipv6.conf.all.disable_ipv6', 0, ns); // (a namespace an IPv4-only pod of this key left)
      netdev.sysctl('net.ipv6.conf.eth0.accept_ra', 0, ns);
      netdev.sysctl('net.ipv6.conf.eth0.router_solicitations', 0, ns);
      netdev.addAddress('eth0', `${ip6}/128`, { ...ns, nodad: true });
    }
    netdev.setUp('lo', ns);
    netdev.setUp('eth0', ns);
    if (spec.ip !== null) netdev.addRoute('default', { dev: 'eth0', netns: spec.netns });
    if (ip6 !== null) netdev.addRoute('::/0', { dev: 'eth0', netns: spec.netns });
  } catch (e) {
    for (const p of ports) p.close();
    throw e;
  }
  return ports;
}

/** Delete links with the project's device prefix left in a namespace (after a crash); returns their names. */
export function cleanupLinks(where: netdev.InNetns = {}): string[] {
  const gone: string[] = [];
  for (const l of netdev.listLinks(where)) {
    if (/^egr[up][0-9a-f]{8}$/.test(l.ifname)) {
      netdev.deleteLink(l.ifname, { ...where, ifExists: true });
      gone.push(l.ifname);
    }
  }
  return gone;
}
