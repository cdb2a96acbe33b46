/**
 * TunPort (layer 3: IP packets, no Ethernet header) and TapPort (layer 2: Ethernet frames): engine Ports over a
 * TUN/TAP file descriptor. One `recv` is one native readBurst, one `send` one writeBurst per `batchSize`
 * packets: the JavaScript ↔ native crossing is per burst, never per packet (wireguard-go `tun.Device.Read(bufs,
 * sizes, offset)`). Packets are read straight into slab slots at the headroom; nothing is allocated per packet
 * (the offsets, lengths and slot arrays are the port's own, sized once at `batchSize`).
 *
 * Readiness comes from libuv: `onReadable(cb)` runs `cb` once per readiness event of the fd (level-triggered,
 * so a burst left in the kernel queue fires again on the next loop turn). The callback is expected to call
 * `recv` from there, best a few bursts per call up to a budget: one burst per callback adds an epoll round
 * trip per burst (bench/tun-io.ts: 3.9 instead of 2.6 µs of CPU per packet at burst 1, no difference at 64).
 *
 * I/O backends (`io`): `rw` (default) is the loop above, a read(2) and a write(2) per packet; `uring` moves the
 * same bursts through one io_uring per port (tun/src/uring.cc): a multishot read into provided buffers, copied
 * once into the slab's slots, and one submit per burst of writes, with the ring's eventfd polled by libuv in place
 * of the fd. Counters and errors are the same; vnet ports (offloads) take `rw` only.
 *
 * A device that disappears under its fd (its namespace was deleted, `ip link del`) makes reads fail with
 * EBADFD and the poll report an error: the port counts it, stops polling, sets `down` and from then on
 * receives nothing and counts every send as `tx-error`.
 */
import { Counters, counterIndex, type Burst, type Port, type Slab } from '../engine/index.js';
import { errnoName, loadAddon, openError, TunError, type TunAddon, type UringHandle } from './addon.js';
import { checkName, NetdevError } from './netdev.js';
import {
  GSO_TCPV4,
  GSO_TUNNEL_V4,
  GsoTable,
  JUMBO_RING,
  JUMBO_SIZE,
  META,
  UPLINK_OFFLOADS,
  VNET_HDR,
  VNET_HDR_TUNNEL,
} from './offload.js';

/** Counters of a TUN/TAP port, in snapshot order. */
export const PORT_COUNTERS = [
  /** Packets received and handed to the engine. */
  'rx',
  'rx-bytes',
  /** Native readBurst calls (rx / rx-bursts = the mean burst). */
  'rx-bursts',
  /**
   * Packets that filled a whole slot (`slab.mtu` bytes or more, so possibly cut by the kernel): dropped. Keep the
   * device MTU (+14 for a TAP's Ethernet header) below `slab.mtu`.
   */
  'rx-truncated',
  /** recv found the slab exhausted and left the packets in the kernel queue. */
  'rx-no-slot',
  /** read errors other than EAGAIN/EINTR. */
  'rx-error',
  'tx',
  'tx-bytes',
  /** Native writeBurst calls. */
  'tx-bursts',
  /** Packets not written because the fd would block (EAGAIN). */
  'tx-drop-eagain',
  /** Packets the kernel refused (EINVAL: malformed, EIO: link down) or sent to a closed or gone port. */
  'tx-error',
  /** vnet ports: GSO super-packets read (each counted once in rx; their bytes in rx-bytes). */
  'rx-gso',
  /** vnet ports: packets dropped for a vnet header or GSO layout the port does not take. */
  'rx-bad-vnet',
  /**
   * vnet ports: super-packets sent (counted once in tx): one GSO write each, or cut into segments here when the
   * frame is encapsulated (tx-gso-segments).
   */
  'tx-gso',
  /** vnet ports: segments written by software segmentation (super-packets the device cannot take whole). */
  'tx-gso-segments',
  /** vnet ports: probes whose tail was overwritten before they were sent: sent as their first segment only. */
  'tx-gso-lost',
  /** Tunnel-GSO ports: Geneve super-packets read whole (also counted in rx-gso). */
  'rx-gso-tunnel',
  /** Tunnel-GSO ports: Geneve super-packets written whole, segmented by the kernel (also counted in tx-gso). */
  'tx-gso-tunnel',
  /**
   * 1 when tunnel GSO was asked for and the kernel refused it (before Linux 6.17): encapsulated super-packets
   * are segmented in software (tx-gso-segments), as without it.
   */
  'tunnel-gso-fallback',
] as const;
const C = counterIndex(PORT_COUNTERS);

/** Largest burst a port accepts. */
export const MAX_BATCH = 1024;

/** How a port moves packets: read(2)/write(2) per packet, or one io_uring per port. */
export type TunIo = 'rw' | 'uring';
export const TUN_IO: readonly TunIo[] = ['rw', 'uring'];

/** Size of each io_uring provided buffer: a packet that fills it counts as rx-truncated, as one filling a slot. */
export const URING_BUFFER_SIZE = 2048;

/** True when this build of the addon has the io_uring backend (liburing was found when it was built). */
export function uringBuilt(): boolean {
  return loadAddon().uringBuilt === true;
}

export interface TunPortOptions {
  /** Largest number of packets per recv/send crossing (default 64, at most 1024). */
  batchSize?: number;
  /** Value written to `burst.port[i]` for packets received here (default 0). */
  portIndex?: number;
  /** Port name for logs and counters (default `tun:IFNAME` / `tap:IFNAME`, with `#Q` for queue Q > 0). */
  name?: string;
  /** Open with IFF_MULTI_QUEUE (default false). Other queues of the same device attach with `exclusive: false`. */
  multiQueue?: boolean;
  /**
   * Fail with EBUSY when any interface of this name already exists (IFF_TUN_EXCL), instead of attaching to an
   * existing TUN/TAP device (default true; `openQueues` clears it for the second queue on).
   */
  exclusive?: boolean;
  /** The clone device (default `/dev/net/tun`). */
  devicePath?: string;
  /**
   * Open with IFF_VNET_HDR: every packet carries a virtio_net_hdr, so the device can hand over and take GSO
   * super-packets and partial checksums (tun/offload.ts). Default false.
   */
  vnetHdr?: boolean;
  /** TUNSETOFFLOAD flags (`TUN_F`) to set after opening; needs `vnetHdr`. Default none. */
  offload?: number;
  /**
   * TAP with `vnetHdr`: try UDP-tunnel GSO (Linux 6.17+): TUNSETVNETHDRSZ 24 and TUNSETOFFLOAD(`UPLINK_OFFLOADS`),
   * so Geneve super-packets are written and read whole and the kernel segments them. When the kernel refuses,
   * the port stays as without it (10-byte header, no offloads), `tunnelGsoProblem` says why and the counter
   * `tunnel-gso-fallback` is 1. Not with `offload`. Default false.
   */
  tunnelGso?: boolean;
  /**
   * Create the device directly inside this named network namespace (`ip netns` name): the agent's own
   * namespace never sees it, and the fd works from the agent's namespace.
   */
  netns?: string;
  /** I/O backend (default `rw`); `uring` needs the addon built with liburing and Linux 6.7 or later. */
  io?: TunIo;
  /**
   * Use this already open queue of device `ifname` instead of opening one (a datapath worker thread drives a
   * queue the main thread opened; the process shares its fds). The port then never closes the fd: its opener
   * does. `rw` I/O, no vnet header.
   */
  adoptFd?: number;
}

/** The one-line error for a ring that could not be set up (errno from uringOpen). */
function uringError(errno: number, ifname: string): TunError {
  const code = errnoName(errno);
  const why =
    code === 'ENOSYS'
      ? 'this kernel has no io_uring'
      : code === 'EPERM' || code === 'EACCES'
        ? 'io_uring is disabled here (sysctl kernel.io_uring_disabled)'
        : code === 'EINVAL' || code === 'EOPNOTSUPP'
          ? 'this kernel lacks multishot reads or DEFER_TASKRUN (Linux 6.7 or later)'
          : code === 'ENOMEM'
            ? 'not enough locked memory for the ring'
            : 'the kernel refused it';
  return new TunError(code, `io_uring set-up for ${ifname} failed (${code}): ${why}; use io rw`, errno);
}

/** Name template `%d` lets the kernel pick the number (`egr%d` → `egr0`). */
function checkIfName(name: string): string {
  const bare = name.replace('%d', '0');
  if (name.split('%d').length > 2 || name.length > 15) throw new TunError('EINVAL', invalidNameMessage(name));
  try {
    checkName(bare);
  } catch (e) {
    if (e instanceof NetdevError) throw new TunError('EINVAL', invalidNameMessage(name));
    throw e;
  }
  return name;
}

function invalidNameMessage(name: string): string {
  return `invalid interface name ${JSON.stringify(name)}: use 1-15 characters of A-Z a-z 0-9 _ . - (not starting with -)`;
}

/** Shared implementation of TunPort and TapPort. */
abstract class DevicePort implements Port {
  readonly name: string;
  readonly batchSize: number;
  /** The interface name the kernel gave the device (a `%d` template resolved). */
  readonly ifname: string;
  readonly counters = new Counters(PORT_COUNTERS);

  private fd: number;
  /** The fd was adopted (`adoptFd`): close() leaves it open. */
  private adopted = false;
  private readonly portIndex: number;
  private readonly addon: TunAddon;
  private pollId = 0;
  private readonly slots: Int32Array;
  private readonly offs: Int32Array;
  private readonly lens: Int32Array;
  /** Native out-parameters: read [truncated, sec, nsec], write [failed, errno, bytes]. */
  private readonly info = new Float64Array(5);
  private readonly isTun: boolean;
  /** Opened with IFF_VNET_HDR. */
  readonly vnetHdr: boolean;
  /** Native meta rows (vnet ports) and jumbo offsets of a read. */
  private readonly meta: Int32Array;
  private readonly jumboOffs: Int32Array;
  private gsoSlab: Slab | null = null;
  private gso: GsoTable | null = null;
  private downError: TunError | null = null;
  private lastErr = 0;
  /** io uring: the port's ring (null for rw) and its eventfd. */
  private ring: UringHandle | null = null;
  private ringFd = -1;
  /** The I/O backend in use. */
  readonly io: TunIo;
  /** vnet header bytes per packet: 10, or 24 with UDP-tunnel GSO. */
  private readonly hdrSize: number;
  /** UDP-tunnel GSO is on (the kernel took it). */
  readonly tunnelGso: boolean;
  /** Why tunnel GSO was asked for and is off (the kernel's refusal), or null. */
  readonly tunnelGsoProblem: string | null;

  protected constructor(ifname: string, tap: boolean, opts: TunPortOptions) {
    const batchSize = opts.batchSize ?? 64;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH)
      throw new RangeError(`${tap ? 'TapPort' : 'TunPort'}: batchSize must be 1..${MAX_BATCH}, got ${batchSize}`);
    const portIndex = opts.portIndex ?? 0;
    if (!Number.isInteger(portIndex) || portIndex < 0 || portIndex > 0xffff)
      throw new RangeError(`${tap ? 'TapPort' : 'TunPort'}: portIndex must be 0..65535, got ${portIndex}`);
    checkIfName(ifname);
    const multiQueue = opts.multiQueue ?? false;
    const vnetHdr = opts.vnetHdr ?? false;
    if (opts.offload !== undefined && (!vnetHdr || !Number.isInteger(opts.offload) || opts.offload < 0))
      throw new RangeError(`${tap ? 'TapPort' : 'TunPort'}: offload needs vnetHdr and TUN_F flags`);
    const io = opts.io ?? 'rw';
    if (!TUN_IO.includes(io)) throw new RangeError(`${tap ? 'TapPort' : 'TunPort'}: io must be rw or uring, got ${io}`);
    if (opts.tunnelGso === true && (!vnetHdr || !tap || opts.offload !== undefined))
      throw new RangeError('tunnelGso needs a TapPort with vnetHdr and no offload option');
    const devicePath = opts.devicePath ?? '/dev/net/tun';
    const netnsPath = opts.netns !== undefined ? `/run/netns/${checkName(opts.netns, 'namespace')}` : undefined;
    this.addon = loadAddon();
    if (io === 'uring') {
      if (this.addon.uringBuilt !== true || !this.addon.uringOpen)
        throw new TunError(
          'ENOURING',
          'io_uring I/O is not available: the TUN/TAP addon was built without liburing (install liburing-dev, then run `npm run build:tun`)',
        );
      if (vnetHdr) throw new TunError('EINVAL', 'io_uring I/O does not take vnet (offload) ports yet: use io rw');
    }
    let opened: { fd: number; name: string };
    if (opts.adoptFd !== undefined) {
      if (!Number.isInteger(opts.adoptFd) || opts.adoptFd < 0 || vnetHdr || io !== 'rw')
        throw new RangeError('adoptFd needs a file descriptor, rw I/O and no vnet header');
      opened = { fd: opts.adoptFd, name: ifname };
      this.adopted = true;
    } else
      try {
        opened = this.addon.open(ifname, {
          tap,
          multiQueue,
          vnetHdr,
          exclusive: opts.exclusive ?? true,
          devicePath,
          ...(netnsPath !== undefined ? { netnsPath } : {}),
        });
      } catch (e) {
        const err = e as Error & { errno?: number; syscall?: string };
        if (typeof err.errno !== 'number') throw e;
        const text = err.message.slice(err.message.indexOf(': ') + 2);
        throw openError(
          err.errno,
          err.syscall ?? 'open',
          { name: ifname, tap, multiQueue, devicePath, ...(netnsPath !== undefined ? { netnsPath } : {}) },
          text,
        );
      }
    this.fd = opened.fd;
    this.ifname = opened.name;
    if (opts.offload !== undefined && opts.offload !== 0) {
      const r = this.addon.setOffload(opened.fd, opts.offload);
      if (r < 0) {
        this.addon.close(opened.fd);
        throw new TunError(
          errnoName(-r),
          `TUNSETOFFLOAD ${opts.offload.toString(16)} on ${opened.name} failed (${errnoName(-r)}): this kernel does not take these offloads`,
          -r,
        );
      }
    }
    if (io === 'uring') {
      const out = new Int32Array(1);
      // Twice the burst in provided buffers (a power of two, at least 256): a burst's worth waiting while one is read.
      let nbufs = 256;
      while (nbufs < 2 * batchSize) nbufs *= 2;
      const ring = this.addon.uringOpen!(opened.fd, nbufs, URING_BUFFER_SIZE, out);
      if (typeof ring === 'number') {
        this.addon.close(opened.fd);
        throw uringError(-ring, opened.name);
      }
      this.ring = ring;
      this.ringFd = out[0]!;
    }
    this.io = io;
    let hdrSize = VNET_HDR;
    let problem: string | null = null;
    if (opts.tunnelGso === true) {
      // The header size first: a device with tunnel offloads and a 10-byte header drops tunnel super-packets.
      const r1 = this.addon.setVnetHdrSize(opened.fd, VNET_HDR_TUNNEL);
      const r2 = r1 < 0 ? r1 : this.addon.setOffload(opened.fd, UPLINK_OFFLOADS);
      if (r2 < 0) {
        if (r1 === 0) this.addon.setVnetHdrSize(opened.fd, VNET_HDR);
        problem = `${r1 < 0 ? 'TUNSETVNETHDRSZ 24' : `TUNSETOFFLOAD ${UPLINK_OFFLOADS.toString(16)}`} failed (${errnoName(-r2)}): this kernel takes no UDP-tunnel GSO (Linux 6.17+)`;
      } else hdrSize = VNET_HDR_TUNNEL;
    }
    this.hdrSize = hdrSize;
    this.tunnelGso = hdrSize === VNET_HDR_TUNNEL;
    this.tunnelGsoProblem = problem;
    if (problem !== null) this.counters.v[C['tunnel-gso-fallback']] = 1;
    this.vnetHdr = vnetHdr;
    this.isTun = !tap;
    this.batchSize = batchSize;
    this.portIndex = portIndex;
    this.name = opts.name ?? `${tap ? 'tap' : 'tun'}:${opened.name}`;
    this.slots = new Int32Array(batchSize);
    this.offs = new Int32Array(batchSize);
    this.lens = new Int32Array(batchSize);
    this.meta = new Int32Array(vnetHdr ? batchSize * META : 0);
    this.jumboOffs = new Int32Array(vnetHdr ? batchSize : 0);
  }

  /** The GSO table of the slab the engine uses (looked up once per slab). */
  private table(slab: Slab): GsoTable {
    if (this.gsoSlab !== slab) {
      this.gso = GsoTable.of(slab);
      this.gsoSlab = slab;
    }
    return this.gso!;
  }

  /** Why the port stopped working (its device vanished), or null. */
  get down(): TunError | null {
    return this.downError;
  }

  /** errno of the last failed read, write or poll (0 when none). */
  get lastErrno(): number {
    return this.lastErr;
  }

  /** The device's file descriptor (-1 once closed). */
  get fileDescriptor(): number {
    return this.fd;
  }

  recv(burst: Burst): number {
    if (this.fd < 0 || this.downError !== null) return 0;
    let want = burst.capacity - burst.count;
    if (want > this.batchSize) want = this.batchSize;
    if (want <= 0) return 0;
    const slab = burst.slab;
    const slots = this.slots;
    const offs = this.offs;
    let k = 0;
    for (; k < want; k++) {
      const s = slab.alloc();
      if (s < 0) break;
      slots[k] = s;
      offs[k] = slab.start(s);
    }
    const v = this.counters.v;
    if (k === 0) {
      v[C['rx-no-slot']]++;
      return 0;
    }
    const info = this.info;
    let gso: GsoTable | null = null;
    let jumbo0 = 0;
    let r: number;
    if (this.vnetHdr) {
      gso = this.table(slab);
      jumbo0 = gso.reserve(k, this.jumboOffs);
      r = this.addon.readBurstVnet(
        this.fd,
        slab.buffer,
        offs,
        this.lens,
        k,
        slab.mtu,
        info,
        this.meta,
        gso.jumbo,
        this.jumboOffs,
        JUMBO_SIZE,
        this.hdrSize,
        !this.isTun,
      );
      if (info[3]! > 0) v[C['rx-bad-vnet']] += info[3]!;
    } else if (this.ring !== null)
      r = this.addon.uringRead!(this.ring, slab.buffer, offs, this.lens, k, slab.mtu, info);
    else r = this.addon.readBurst(this.fd, slab.buffer, offs, this.lens, k, slab.mtu, info);
    v[C['rx-bursts']]++;
    if (info[0]! > 0) v[C['rx-truncated']] += info[0]!;
    const n = r > 0 ? r : 0;
    if (n > 0) {
      const lens = this.lens;
      const u8 = slab.u8;
      const sec = info[1]!;
      const nsec = info[2]!;
      const port = this.portIndex;
      const isTun = this.isTun;
      let bytes = 0;
      let j = burst.count;
      for (let i = 0; i < n; i++, j++) {
        const off = offs[i]!;
        const len = lens[i]!;
        burst.slot[j] = slots[i]!;
        burst.off[j] = off;
        burst.len[j] = len;
        burst.next[j] = 0;
        burst.flow[j] = 0;
        // A TUN packet starts with its IP header: l3 is known when it is IPv4.
        burst.l3[j] = isTun && u8[off]! >>> 4 === 4 ? off : -1;
        burst.port[j] = port;
        burst.meta[j] = 0;
        burst.tsSec[j] = sec;
        burst.tsNsec[j] = nsec;
        bytes += len;
        if (gso !== null) {
          const m = i * META;
          const type = this.meta[m]!;
          if (type !== 0) {
            const l3 = this.meta[m + 7]!;
            gso.record(slots[i]!, off + l3, this.meta, m, (jumbo0 + i) % JUMBO_RING);
            v[C['rx-gso']]++;
            if ((type & GSO_TUNNEL_V4) !== 0) v[C['rx-gso-tunnel']]++;
            // Connection tracking sees the probe as the whole super-packet (its TCP payload beyond the probe).
            if ((type & 0x0f) === GSO_TCPV4) slab.tcpTail[slots[i]!] = this.meta[m + 3]! + l3 - len;
            bytes += this.meta[m + 3]! + l3 - len;
          } else gso.clear(slots[i]!);
        }
      }
      burst.count = j;
      v[C.rx] += n;
      v[C['rx-bytes']] += bytes;
    }
    // Unused slots go back in reverse order, so the next recv gets the same (cache-warm) slots first.
    for (let i = k - 1; i >= n; i--) slab.free(slots[i]!);
    if (r < 0) this.failed(-r, 'read');
    return n;
  }

  send(burst: Burst): void {
    const total = burst.count;
    if (total === 0) return;
    const v = this.counters.v;
    if (this.fd < 0 || this.down !== null) {
      v[C['tx-error']] += total;
      return;
    }
    const offs = this.offs;
    const lens = this.lens;
    const info = this.info;
    const slab = burst.slab;
    const buffer = slab.buffer;
    const gso = this.vnetHdr ? this.table(slab) : null;
    const meta = this.meta;
    const slotSize = slab.slotSize;
    const hdrSize = this.hdrSize;
    for (let base = 0; base < total; base += this.batchSize) {
      let m = total - base;
      if (m > this.batchSize) m = this.batchSize;
      let whole = 0;
      for (let i = 0; i < m; i++) {
        const off = burst.off[base + i]!;
        const len = burst.len[base + i]!;
        offs[i] = off;
        lens[i] = len;
        if (gso !== null) {
          const slot = burst.slot[base + i]!;
          const t = gso.take(slot, off, len, meta, i * META);
          if (t > 0) whole++;
          else {
            if (t < 0) v[C['tx-gso-lost']]++;
            // Plain: the vnet header goes in the headroom when the slot has room for it before the packet.
            meta[i * META] = off - slot * slotSize >= hdrSize ? 0 : -1;
          }
        }
      }
      const w =
        gso !== null
          ? this.addon.writeBurstVnet(this.fd, buffer, offs, lens, m, info, meta, gso.jumbo, hdrSize)
          : this.ring !== null
            ? this.addon.uringWrite!(this.ring, buffer, offs, lens, m, info)
            : this.addon.writeBurst(this.fd, buffer, offs, lens, m, info);
      if (gso !== null && whole > 0) {
        v[C['tx-gso-segments']] += info[3]!;
        v[C['tx-gso']] += whole;
        v[C['tx-gso-tunnel']] += info[4]!;
      }
      const failed = info[0]!;
      v[C['tx-bursts']]++;
      v[C.tx] += w;
      v[C['tx-bytes']] += info[2]!;
      if (failed > 0) {
        v[C['tx-error']] += failed;
        this.failed(info[1]!, 'write');
        if (this.down !== null) {
          v[C['tx-error']] += total - base - m;
          return;
        }
      }
      const eagain = m - w - failed;
      if (eagain > 0) v[C['tx-drop-eagain']] += eagain;
    }
  }

  /**
   * Calls `cb` once per readiness event of the device (libuv `uv_poll`, level-triggered). `null` stops. When the
   * device disappears the port goes `down`, polling stops and `cb` runs a last time so the caller notices.
   */
  onReadable(cb: (() => void) | null): void {
    if (this.pollId !== 0) {
      this.addon.pollStop(this.pollId);
      this.pollId = 0;
    }
    if (cb === null || this.fd < 0 || this.down !== null) return;
    // io uring: the ring's eventfd is readable while completions may wait (the device's wake-ups land there).
    this.pollId = this.addon.pollStart(this.ring !== null ? this.ringFd : this.fd, (status: number) => {
      if (status < 0) this.failed(-status, 'poll');
      cb();
    });
  }

  /** Stops polling and closes the fd (the device goes away with its last queue); idempotent. */
  close(): void {
    if (this.pollId !== 0) {
      this.addon.pollStop(this.pollId);
      this.pollId = 0;
    }
    if (this.ring !== null) {
      // First: the ring's read holds a reference to the device's file.
      this.addon.uringClose!(this.ring);
      this.ring = null;
      this.ringFd = -1;
    }
    if (this.fd >= 0) {
      if (!this.adopted) this.addon.close(this.fd);
      this.fd = -1;
    }
  }

  /** Counts a read/write/poll error; a device that vanished takes the port down. */
  private failed(errno: number, op: 'read' | 'write' | 'poll'): void {
    this.lastErr = errno;
    if (op === 'read') this.counters.v[C['rx-error']]++;
    const code = errnoName(errno);
    // EBADFD: the fd lost its device (deleted, or its namespace went away); EBADF from libuv's poll means POLLERR.
    if (code === 'EBADFD' || code === 'EBADF' || op === 'poll') {
      this.downError = new TunError(
        'EDEVGONE',
        `${this.name}: device ${this.ifname} is gone (deleted, or its network namespace was) (${op}: ${code})`,
        errno,
      );
      if (this.pollId !== 0) {
        this.addon.pollStop(this.pollId);
        this.pollId = 0;
      }
    }
  }
}

/** A TUN device (IFF_TUN | IFF_NO_PI): each packet is an IP packet, `l3` = `off` for IPv4. */
export class TunPort extends DevicePort {
  readonly kind = 'tun';
  /** Creates (or, with `exclusive: false`, attaches to) TUN device `ifname`. */
  constructor(ifname: string, opts: TunPortOptions = {}) {
    super(ifname, false, opts);
  }

  /** `n` queues of one multi-queue TUN device (IFF_MULTI_QUEUE); the first creates it. */
  static openQueues(ifname: string, n: number, opts: TunPortOptions = {}): TunPort[] {
    return openQueues(ifname, n, opts, (name, o) => new TunPort(name, o));
  }
}

/** A TAP device (IFF_TAP | IFF_NO_PI): each packet is an Ethernet frame, `l3` = -1. */
export class TapPort extends DevicePort {
  readonly kind = 'tap';
  /** Creates (or, with `exclusive: false`, attaches to) TAP device `ifname`. */
  constructor(ifname: string, opts: TunPortOptions = {}) {
    super(ifname, true, opts);
  }

  /** `n` queues of one multi-queue TAP device (IFF_MULTI_QUEUE); the first creates it. */
  static openQueues(ifname: string, n: number, opts: TunPortOptions = {}): TapPort[] {
    return openQueues(ifname, n, opts, (name, o) => new TapPort(name, o));
  }
}

function openQueues<P extends DevicePort>(
  ifname: string,
  n: number,
  opts: TunPortOptions,
  make: (name: string, o: TunPortOptions) => P,
): P[] {
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new RangeError(`openQueues: queue count must be 1..256, got ${n}`);
  const ports: P[] = [];
  try {
    for (let q = 0; q < n; q++) {
      const name = q === 0 ? ifname : ports[0]!.ifname;
      const o: TunPortOptions = { ...opts, multiQueue: true, exclusive: q === 0 ? (opts.exclusive ?? true) : false };
      if (q > 0 && opts.name === undefined) o.name = `${ports[0]!.name}#${q}`;
      else if (q > 0) o.name = `${opts.name}#${q}`;
      ports.push(make(name, o));
    }
  } catch (e) {
    for (const p of ports) p.close();
    throw e;
  }
  return ports;
}
