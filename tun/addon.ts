/**
 * Loading the native addon (tun/src/tun.cc → tun/build/Release/tun.node) and turning its errno values into
 * one-line messages. The addon is loaded on first use, not at import, so that code which only mentions tun/
 * (the CLI's help, replay mode) works where it was never built.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';

/** Options of the native `open` (see tun.cc). */
export interface NativeOpenOptions {
  tap: boolean;
  multiQueue: boolean;
  vnetHdr: boolean;
  /** IFF_TUN_EXCL: fail with EBUSY when any interface of that name exists, instead of attaching to it. */
  exclusive: boolean;
  devicePath: string;
  /** Create the device inside this network namespace (a /run/netns/NAME path); the fd works from anywhere. */
  netnsPath?: string;
}

/** The addon's functions (contract in tun/src/tun.cc's header). */
export interface TunAddon {
  open(name: string, opts: NativeOpenOptions): { fd: number; name: string };
  /** Reads up to `max` packets into `slab` at `offs[i]` (at most `cap` bytes each); count, or -errno. */
  readBurst(
    fd: number,
    slab: ArrayBuffer,
    offs: Int32Array,
    lens: Int32Array,
    max: number,
    cap: number,
    info: Float64Array,
  ): number;
  /** Writes packets 0..n-1; returns how many were written; info = [failed, lastErrno, bytesWritten]. */
  writeBurst(fd: number, slab: ArrayBuffer, offs: Int32Array, lens: Int32Array, n: number, info: Float64Array): number;
  /** Starts a uv_poll (UV_READABLE) on fd; returns its id. */
  pollStart(fd: number, cb: (status: number) => void): number;
  /** Stops and releases a poll; unknown ids are ignored. */
  pollStop(id: number): void;
  /** close(2); 0 or -errno; negative fds are ignored. */
  close(fd: number): number;
  /** TUNSETOFFLOAD; 0 or -errno. */
  setOffload(fd: number, flags: number): number;
  /** TUNSETVNETHDRSZ (10, or 24 for UDP-tunnel GSO); 0 or -errno. */
  setVnetHdrSize(fd: number, size: number): number;
  /** readBurst for a vnet device: GSO super-packets become probes, the rest in jumbo (contract in vnet.cc). */
  readBurstVnet(
    fd: number,
    slab: ArrayBuffer,
    offs: Int32Array,
    lens: Int32Array,
    max: number,
    cap: number,
    info: Float64Array,
    meta: Int32Array,
    jumbo: ArrayBuffer,
    jumboOffs: Int32Array,
    jumboCap: number,
    hdrSize?: number,
    tap?: boolean,
  ): number;
  /** writeBurst for a vnet device: plain packets or whole super-packets per meta row (contract in vnet.cc). */
  writeBurstVnet(
    fd: number,
    slab: ArrayBuffer,
    offs: Int32Array,
    lens: Int32Array,
    n: number,
    info: Float64Array,
    meta: Int32Array,
    jumbo: ArrayBuffer,
    hdrSize?: number,
  ): number;
  /** True when the addon was built with liburing (the io_uring backend, contract in tun/src/uring.cc). */
  uringBuilt: boolean;
  /** A ring reading `fd` (multishot, into `nbufs` provided buffers of `bufSize`); out[0] = its eventfd. */
  uringOpen?(fd: number, nbufs: number, bufSize: number, out: Int32Array): UringHandle | number;
  /** readBurst through the ring. */
  uringRead?(
    ring: UringHandle,
    slab: ArrayBuffer,
    offs: Int32Array,
    lens: Int32Array,
    max: number,
    cap: number,
    info: Float64Array,
  ): number;
  /** writeBurst through the ring (one submit per burst). */
  uringWrite?(
    ring: UringHandle,
    slab: ArrayBuffer,
    offs: Int32Array,
    lens: Int32Array,
    n: number,
    info: Float64Array,
  ): number;
  /** Cancels the read and frees the ring; idempotent. */
  uringClose?(ring: UringHandle): void;
}

/** A native ring (an N-API external): only ever passed back to the addon. */
export interface UringHandle {
  readonly __uring: unique symbol;
}

/**
 * An error the user can act on, as one line: `code` is a short tag the CLI and tests match (`ENOTUN`, `EPERM`,
 * `EBUSY`, `EINVAL`, `ENOADDON`, `EDEVGONE`, `ENOURING`, or the errno name), `errno` the system error number when
 * there is one.
 */
export class TunError extends Error {
  override readonly name = 'TunError';
  constructor(
    readonly code: string,
    message: string,
    readonly errno?: number,
  ) {
    super(message);
  }
}

const ADDON_FILE = join('tun', 'build', 'Release', 'tun.node');

/**
 * Where the built addon is: the first `tun/build/Release/tun.node` found walking up from `from` (this module's
 * directory by default), so the same code works from tun/*.ts (vitest) and from dist/tun/*.js (tsc output).
 */
export function addonPath(from: string = dirname(fileURLToPath(import.meta.url))): string | null {
  for (let d = from; ; d = dirname(d)) {
    const p = join(d, ADDON_FILE);
    if (existsSync(p)) return p;
    if (dirname(d) === d) return null;
  }
}

let cached: TunAddon | null = null;

/** The addon, loaded once; throws a TunError (`ENOADDON`) with what to run when it is missing. */
export function loadAddon(): TunAddon {
  if (cached) return cached;
  if (process.platform !== 'linux')
    throw new TunError('ENOADDON', `TUN/TAP ports need Linux (this is ${process.platform})`);
  const p = addonPath();
  if (!p)
    throw new TunError(
      'ENOADDON',
      'the TUN/TAP addon is not built (no tun/build/Release/tun.node): run `npm run build:tun` (or `npm install`)',
    );
  try {
    cached = createRequire(import.meta.url)(p) as TunAddon;
  } catch (e) {
    const first = String((e as Error).message).split('\n')[0];
    throw new TunError('ENOADDON', `cannot load ${p}: ${first} (rebuild it with \`npm run build:tun\`)`);
  }
  return cached;
}

/** True when the addon is built and loads (tests use it for their skip reason). */
export function addonAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

/** What `open` was asked to do, for error messages. */
export interface OpenContext {
  name: string;
  tap: boolean;
  multiQueue: boolean;
  devicePath: string;
  netnsPath?: string;
}

/** errno value → name, from Node's table (first name wins: EAGAIN, not EWOULDBLOCK) plus EBADFD, which it lacks. */
const ERRNO_NAMES = new Map<number, string>();
for (const [k, v] of Object.entries(constants.errno)) if (!ERRNO_NAMES.has(v)) ERRNO_NAMES.set(v, k);
if (process.platform === 'linux' && !ERRNO_NAMES.has(77)) ERRNO_NAMES.set(77, 'EBADFD');

/** Name of a (positive) errno value (`ENOENT`), or `E<number>` when unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/**
 * The one-line error for a failed open: `syscall` is where the addon failed (`open` of the clone device,
 * `TUNSETIFF`, `TUNSETPERSIST`), `errno` the positive system error number, `text` the system's description
 * (strerror) when known.
 */
export function openError(errno: number, syscall: string, ctx: OpenContext, text?: string): TunError {
  const kind = ctx.tap ? 'TAP' : 'TUN';
  const code = errnoName(errno);
  if (syscall === 'open netns' || syscall === 'setns')
    return new TunError(
      code === 'ENOENT' ? 'ENONETNS' : code,
      code === 'ENOENT'
        ? `no network namespace ${ctx.netnsPath}`
        : `entering network namespace ${ctx.netnsPath} failed: ${text ?? code}`,
      errno,
    );
  if (syscall === 'open' && (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO' || code === 'ENOTDIR'))
    return new TunError('ENOTUN', `no ${ctx.devicePath}: load the tun module or run where TUN devices exist`, errno);
  if (code === 'EPERM' || code === 'EACCES')
    return new TunError('EPERM', `opening a ${kind} device needs CAP_NET_ADMIN (run as root)`, errno);
  if (code === 'EBUSY' || code === 'EEXIST')
    return new TunError('EBUSY', `interface ${ctx.name} is already in use`, errno);
  if (syscall === 'TUNSETIFF' && code === 'ENAMETOOLONG')
    return new TunError('EINVAL', `interface name "${ctx.name}" is longer than 15 characters`, errno);
  if (syscall === 'TUNSETIFF' && code === 'EINVAL') {
    const q = ctx.multiQueue ? 'multi-queue' : 'single-queue';
    return new TunError('EINVAL', `interface ${ctx.name} exists and is not a ${q} ${kind} device`, errno);
  }
  const what = syscall === 'open' ? `open ${ctx.devicePath}` : `${syscall} for ${kind} ${ctx.name}`;
  return new TunError(code, `${what} failed: ${text ?? code}${text ? ` (${code})` : ''}`, errno);
}
