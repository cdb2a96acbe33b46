/**
 * tun/: real devices for the engine. Contract of the layer:
 *
 * - **Ports.** `TunPort` (layer 3, `IFF_TUN|IFF_NO_PI`: each packet an IP packet; a pod port) and `TapPort`
 *   (layer 2, `IFF_TAP|IFF_NO_PI`: each packet an Ethernet frame; the uplink) implement the engine's `Port`. One
 *   `recv`/`send` is one crossing into the native addon for up to `batchSize` packets; packets are read
 *   straight into slab slots at the headroom and written from wherever `off` points; nothing is allocated per
 *   packet. Readiness: `onReadable(cb)` (libuv `uv_poll`, level-triggered). Counters: `PORT_COUNTERS`.
 * - **Addon.** `tun/src/tun.cc`, built by node-gyp into `tun/build/Release/tun.node` during `npm install`
 *   (`npm run build:tun` rebuilds it). It only opens devices and moves bursts of bytes; it is loaded on first
 *   use, and a missing build is a one-line `ENOADDON` error.
 * - **Errors.** What the user can cause or fix is a `TunError` with a short `code` and a one-line message:
 *   `ENOTUN` (no /dev/net/tun), `EPERM` (needs CAP_NET_ADMIN), `EBUSY` (name in use), `EINVAL` (bad name, or
 *   the name is a different kind of device), `ENOADDON`, `EDEVGONE` (a port's device vanished: `port.down`).
 *   Packet-level failures are counted, never thrown.
 * - **Device configuration** (`netdev`): iproute2 through `execFileSync` with argument arrays, every name
 *   validated (1–15 of `A-Za-z0-9_.-`); failures are one-line `NetdevError`s carrying `ip`'s stderr.
 * - **Offloads.** Ports opened with `vnetHdr` (and pod TUNs with TUNSETOFFLOAD) take and give GSO
 *   super-packets: the head goes through the engine as a probe, the rest waits in a per-slab table
 *   (`tun/offload.ts`, native half `tun/src/vnet.cc`); a TAP uplink with `tunnelGso` does so for Geneve frames
 *   too (UDP-tunnel GSO, Linux 6.17+).
 * - **Imports.** Only the engine's public index (`../engine/index.js`); the engine never imports tun/.
 *   Linux only.
 */
export {
  TunPort,
  TapPort,
  PORT_COUNTERS,
  MAX_BATCH,
  TUN_IO,
  URING_BUFFER_SIZE,
  uringBuilt,
  type TunIo,
  type TunPortOptions,
} from './tun-port.js';
export { TunError, loadAddon, addonAvailable, addonPath, openError, errnoName, type TunAddon } from './addon.js';
export * as netdev from './netdev.js';
export { NetdevError } from './netdev.js';
export {
  linkName,
  podNetnsName,
  openUplink,
  openPodTun,
  openUplinkQueues,
  openPodTunQueues,
  cleanupLinks,
  type UplinkSpec,
  type PodDeviceSpec,
} from './devices.js';
export {
  GsoTable,
  TUN_F,
  POD_OFFLOADS,
  UPLINK_OFFLOADS,
  VNET_HDR,
  VNET_HDR_TUNNEL,
  JUMBO_SIZE,
  JUMBO_RING,
} from './offload.js';
export * as testbed from './testbed/index.js';
