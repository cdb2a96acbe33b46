/**
 * Device configuration through iproute2: MTU, up/down, addresses, routes, namespaces, bridges, veth pairs, and
 * running a command inside a namespace. Every call is `execFileSync('ip', [...args])`: arguments are an array,
 * never a shell string, and every interface or namespace name is validated first. A failure is a NetdevError
 * whose message is one line: the command and the first line `ip` wrote to stderr.
 *
 * Synchronous on purpose: these run at set-up (a pod port is created, the test bed comes up), each in a few
 * milliseconds, and callers want the device configured before the next line runs.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { isIP } from 'node:net';

/** A failed or refused device configuration; `code` is `EINVAL` (bad argument), `ENOIP` or `EIPROUTE`. */
export class NetdevError extends Error {
  override readonly name = 'NetdevError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Interface and namespace names: 1–15 of `A-Z a-z 0-9 _ . -`, not starting with `-`, not `.` or `..`. */
export const NAME_RE = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/;

/** Whether `name` is a name these helpers accept (IFNAMSIZ − 1 = 15 characters at most). */
export function isValidName(name: string): boolean {
  return NAME_RE.test(name) && name !== '.' && name !== '..';
}

/** Throws a one-line NetdevError unless `name` is valid; returns it. */
export function checkName(name: string, what = 'interface'): string {
  if (typeof name !== 'string' || !isValidName(name))
    throw new NetdevError(
      'EINVAL',
      `invalid ${what} name ${JSON.stringify(name)}: use 1-15 characters of A-Z a-z 0-9 _ . - (not starting with -)`,
    );
  return name;
}

function checkPrefix(cidr: string, what: string): string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  const fam = m ? isIP(m[1]!) : 0;
  if (!m || fam === 0 || Number(m[2]) > (fam === 4 ? 32 : 128))
    throw new NetdevError('EINVAL', `invalid ${what} ${JSON.stringify(cidr)}: expected ADDRESS/PREFIXLEN`);
  return cidr;
}

function checkAddr(addr: string, what: string): string {
  if (isIP(addr) === 0)
    throw new NetdevError('EINVAL', `invalid ${what} ${JSON.stringify(addr)}: expected an IP address`);
  return addr;
}

function checkInt(n: number, lo: number, hi: number, what: string): number {
  if (!Number.isInteger(n) || n < lo || n > hi)
    throw new NetdevError('EINVAL', `invalid ${what} ${n}: expected ${lo}..${hi}`);
  return n;
}

/** Where a command runs: `netns` is a named namespace (`ip netns add`); absent means the caller's namespace. */
export interface InNetns {
  netns?: string;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  );
}

function run(file: string, args: readonly string[], what: string, opts: ExecFileSyncOptions = {}): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...opts }) as string;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & {
      stderr?: string | Buffer;
      status?: number | null;
      signal?: string | null;
    };
    if (err.code === 'ENOENT' && file === 'ip')
      throw new NetdevError('ENOIP', "iproute2's `ip` command was not found: install iproute2");
    const stderr = firstLine(String(err.stderr ?? ''));
    const why =
      stderr ||
      (err.signal ? `killed by ${err.signal}` : err.status != null ? `exit status ${err.status}` : err.message);
    throw new NetdevError('EIPROUTE', `${what}: ${why}`);
  }
}

/**
 * Runs `ip [-n NETNS] ARGS...` and returns its stdout. Names inside `args` are the caller's to validate (the
 * helpers below do); prefer them.
 */
export function ip(args: readonly string[], where: InNetns = {}): string {
  const full = where.netns !== undefined ? ['-n', checkName(where.netns, 'namespace'), ...args] : [...args];
  return run('ip', full, `ip ${full.join(' ')}`);
}

// --- namespaces -------------------------------------------------------------------------------------------

/** `ip netns add NS`. */
export function addNetns(ns: string): void {
  ip(['netns', 'add', checkName(ns, 'namespace')]);
}

/** `ip netns del NS`; with `ifExists`, a missing namespace is not an error. */
export function deleteNetns(ns: string, opts: { ifExists?: boolean } = {}): void {
  checkName(ns, 'namespace');
  if (opts.ifExists && !listNetns().includes(ns)) return;
  ip(['netns', 'del', ns]);
}

/** Names of the named namespaces (`ip netns list`). */
export function listNetns(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter((n) => n.length > 0);
}

/**
 * Runs `FILE ARGS...` inside namespace `ns` (`ip netns exec`) and returns its stdout. `input` is written to its
 * stdin; `timeoutMs` kills it (default 10 s).
 */
export function netnsExec(
  ns: string,
  file: string,
  args: readonly string[] = [],
  opts: { input?: string; timeoutMs?: number } = {},
): string {
  const full = ['netns', 'exec', checkName(ns, 'namespace'), file, ...args];
  const o: ExecFileSyncOptions = { timeout: opts.timeoutMs ?? 10_000 };
  if (opts.input !== undefined) o.input = opts.input;
  return run('ip', full, `ip netns exec ${ns} ${[file, ...args].join(' ')}`, o);
}

/** `[file, args]` that run `FILE ARGS...` inside `ns`, for `child_process.spawn` (long-running commands). */
export function netnsCommand(ns: string, file: string, args: readonly string[] = []): [string, string[]] {
  return ['ip', ['netns', 'exec', checkName(ns, 'namespace'), file, ...args]];
}

/** `sysctl -w KEY=VALUE` inside `ns` (or here). */
export function sysctl(key: string, value: string | number, where: InNetns = {}): void {
  if (!/^[a-z0-9_][a-z0-9_./-]*$/i.test(key))
    throw new NetdevError('EINVAL', `invalid sysctl key ${JSON.stringify(key)}`);
  const v = String(value);
  if (!/^[A-Za-z0-9_. -]*$/.test(v)) throw new NetdevError('EINVAL', `invalid sysctl value ${JSON.stringify(v)}`);
  const args = ['-qw', `${key}=${v}`];
  if (where.netns !== undefined) netnsExec(where.netns, 'sysctl', args);
  else run('sysctl', args, `sysctl ${args.join(' ')}`);
}

// --- links ------------------------------------------------------------------------------------------------

/** One link as `ip -j link show` reports it (the fields these helpers use). */
export interface LinkInfo {
  ifname: string;
  ifindex: number;
  mtu: number;
  /** MAC address, absent for TUN (layer 3) devices. */
  address?: string;
  flags: string[];
  operstate?: string;
  link_type?: string;
  txqlen?: number;
}

/** Links of a namespace (`ip -j link show`). */
export function listLinks(where: InNetns = {}): LinkInfo[] {
  return JSON.parse(ip(['-j', 'link', 'show'], where) || '[]') as LinkInfo[];
}

/** One link, or null when there is no link of that name. */
export function getLink(dev: string, where: InNetns = {}): LinkInfo | null {
  checkName(dev);
  return listLinks(where).find((l) => l.ifname === dev) ?? null;
}

/** Whether a link of that name exists in the namespace. */
export function linkExists(dev: string, where: InNetns = {}): boolean {
  return getLink(dev, where) !== null;
}

/** `ip link set DEV up`. */
export function setUp(dev: string, where: InNetns = {}): void {
  ip(['link', 'set', 'dev', checkName(dev), 'up'], where);
}

/** `ip link set DEV down`. */
export function setDown(dev: string, where: InNetns = {}): void {
  ip(['link', 'set', 'dev', checkName(dev), 'down'], where);
}

/** `ip link set DEV mtu MTU`. */
export function setMtu(dev: string, mtu: number, where: InNetns = {}): void {
  ip(['link', 'set', 'dev', checkName(dev), 'mtu', String(checkInt(mtu, 68, 65535, 'MTU'))], where);
}

/** `ip link set DEV txqueuelen N` (for a TUN device, the length of the queue a reader drains). */
export function setTxQueueLen(dev: string, n: number, where: InNetns = {}): void {
  ip(['link', 'set', 'dev', checkName(dev), 'txqueuelen', String(checkInt(n, 0, 2 ** 31 - 1, 'txqueuelen'))], where);
}

/** `ip link set DEV address MAC`. */
export function setMac(dev: string, mac: string, where: InNetns = {}): void {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac))
    throw new NetdevError('EINVAL', `invalid MAC address ${JSON.stringify(mac)}`);
  ip(['link', 'set', 'dev', checkName(dev), 'address', mac], where);
}

/**
 * `ip link set DEV netns NS`: moves a link into namespace `ns`. For a TUN/TAP device the file descriptor stays
 * with the process that opened it; only the network side moves (a pod port is made this way).
 */
export function moveToNetns(dev: string, ns: string, where: InNetns = {}): void {
  ip(['link', 'set', 'dev', checkName(dev), 'netns', checkName(ns, 'namespace')], where);
}

/** `ip link del DEV`; with `ifExists`, a missing link is not an error. */
export function deleteLink(dev: string, where: InNetns & { ifExists?: boolean } = {}): void {
  checkName(dev);
  const w: InNetns = where.netns !== undefined ? { netns: where.netns } : {};
  if (where.ifExists && !linkExists(dev, w)) return;
  ip(['link', 'del', 'dev', dev], w);
}

/** `ip link add NAME type bridge` (up is left to the caller). */
export function addBridge(name: string, where: InNetns = {}): void {
  ip(['link', 'add', 'name', checkName(name, 'bridge'), 'type', 'bridge'], where);
}

/** `ip link set DEV master BRIDGE`. */
export function setMaster(dev: string, bridge: string, where: InNetns = {}): void {
  ip(['link', 'set', 'dev', checkName(dev), 'master', checkName(bridge, 'bridge')], where);
}

/**
 * `ip link add A type veth peer name B`, created in `netns` (or here); `peerNetns` moves B into another
 * namespace in the same command.
 */
export function addVeth(a: string, b: string, opts: InNetns & { peerNetns?: string } = {}): void {
  const args = ['link', 'add', 'name', checkName(a), 'type', 'veth', 'peer', 'name', checkName(b)];
  if (opts.peerNetns !== undefined) args.push('netns', checkName(opts.peerNetns, 'namespace'));
  ip(args, opts.netns !== undefined ? { netns: opts.netns } : {});
}

// --- addresses and routes ---------------------------------------------------------------------------------

/**
 * `ip addr add CIDR [peer PEER] dev DEV [nodad]`; `nodad` (IPv6) skips Duplicate Address Detection, so the address
 * is usable at once.
 */
export function addAddress(dev: string, cidr: string, opts: InNetns & { peer?: string; nodad?: boolean } = {}): void {
  const args = ['addr', 'add', checkPrefix(cidr, 'address')];
  if (opts.peer !== undefined)
    args.push('peer', opts.peer.includes('/') ? checkPrefix(opts.peer, 'peer') : checkAddr(opts.peer, 'peer'));
  args.push('dev', checkName(dev));
  if (opts.nodad === true) args.push('nodad');
  ip(args, opts.netns !== undefined ? { netns: opts.netns } : {});
}

/** What `addRoute` installs. */
export interface RouteSpec extends InNetns {
  /** Output device. */
  dev?: string;
  /** Next-hop address. */
  via?: string;
  /** Preferred source address. */
  src?: string;
  /** Route metric. */
  metric?: number;
}

/** `ip route add DST [via GW] [dev DEV] [src SRC] [metric M]`; `dst` is a prefix or `default`. */
export function addRoute(dst: string, spec: RouteSpec): void {
  if (spec.dev === undefined && spec.via === undefined)
    throw new NetdevError('EINVAL', `route ${dst}: give a device or a gateway`);
  const args = ['route', 'add', dst === 'default' ? 'default' : checkPrefix(dst, 'route destination')];
  if (spec.via !== undefined) args.push('via', checkAddr(spec.via, 'gateway'));
  if (spec.dev !== undefined) args.push('dev', checkName(spec.dev));
  if (spec.src !== undefined) args.push('src', checkAddr(spec.src, 'source address'));
  if (spec.metric !== undefined) args.push('metric', String(checkInt(spec.metric, 0, 2 ** 32 - 1, 'metric')));
  ip(args, spec.netns !== undefined ? { netns: spec.netns } : {});
}
