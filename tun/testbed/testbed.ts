/**
 * The network-namespace test bed (docs/architecture.md §4.2): a cluster of the manifests on one machine.
 *
 *   egr-fab            the L2 segment: a bridge `egr-br0`, every node's TAP uplink and every host's veth on it
 *   egr-h<crc32>       one namespace per ExternalHost, with its own kernel stack: `eth0` (veth to the bridge)
 *                      with spec.address, the segment's gateway as default route when there is one, and
 *                      spec.command started inside it
 *   egr-<crc32>        one namespace per Pod, created by its node's agent (TUN `eth0`)
 *   agents             one `egress agent --node N` process per Node, in the host's namespace; they create their
 *                      devices directly inside the namespaces above, so nothing appears in the host's own namespace
 *   egr-etcd           with `etcd: true` only: a single-member etcd (Debian's etcd-server) in a namespace of its
 *                      own with nothing but loopback, listening on a Unix socket in `<state-dir>/etcd/` (no TCP port:
 *                      only the state directory's owner reaches it); the cluster's store, removed by `down`
 *
 * The cluster's store is the state directory (default), an etcd given by the caller (`store`: its prefix is
 * emptied first, as a fresh state directory would be), or the test bed's own etcd (`etcd`).
 *
 * Everything created is recorded in `<state-dir>/testbed.json`; `down` removes it, and also every namespace and
 * process with the project's prefix it finds (after a crash the record may be incomplete). The state directory is
 * created 0700 and checked like every store directory (docs/security.md): the record names processes that `down`
 * signals as root, so only its owner may write it. Addresses must lie in
 * 198.18.0.0/15 (RFC 2544) or 169.254.0.0/16; the host's own routes are never touched.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { policy } from '../../engine/index.js';
import * as netdev from '../netdev.js';
import { addonAvailable } from '../addon.js';
import { linkName, podNetnsName } from '../devices.js';

export const FABRIC_NETNS = 'egr-fab';
export const BRIDGE = 'egr-br0';
export const ETCD_NETNS = 'egr-etcd';
/** Debian's etcd-server; $EGRESS_ETCD_BIN for another build. */
export const ETCD_BIN = process.env['EGRESS_ETCD_BIN'] ?? '/usr/bin/etcd';
/** The member's client socket in `<state-dir>/etcd/` (etcd names a Unix socket `host:port` in its directory). */
const ETCD_SOCKET = 'localhost:2379';

export class TestbedError extends Error {
  override readonly name = 'TestbedError';
}

export interface TestbedRecord {
  stateDir: string;
  fabric: string;
  bridge: string;
  hosts: Array<{
    name: string;
    netns: string;
    veth: string;
    address: string;
    /** `spec.ipv6Address` (absent in records of test beds before dual stack, and for IPv4-only hosts). */
    ipv6Address?: string;
    pid: number | null;
    log: string;
  }>;
  /** `argv`: the agent's command line (`restart` starts it again the same way). */
  nodes: Array<{ name: string; pid: number; log: string; argv?: string[] }>;
  started: string;
  /** The cluster's store when it is not the state directory: an etcd URL, and its key prefix. */
  store?: string;
  etcdPrefix?: string;
  /** The test bed's own etcd member (`up --etcd`), removed by `down`. */
  etcd?: { pid: number; netns: string; dir: string; log: string };
}

/** The store of a test bed: the state directory, or its etcd. */
export function storeOf(rec: TestbedRecord): policy.store.Store {
  return rec.store
    ? new policy.store.EtcdStore(rec.store, rec.etcdPrefix ? { prefix: rec.etcdPrefix } : {})
    : new policy.store.DirStore(rec.stateDir);
}

/** The flags that point an `egress` command at a test bed's store. */
export function storeFlags(rec: TestbedRecord): string[] {
  return rec.store
    ? ['--store', rec.store, ...(rec.etcdPrefix ? ['--etcd-prefix', rec.etcdPrefix] : [])]
    : ['--state-dir', rec.stateDir];
}

/** The repository root (where package.json and bin/egress.js are), from this file in tun/ or dist/tun/. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'bin', 'egress.js'))) return d;
    d = dirname(d);
  }
  throw new TestbedError('cannot find the egress-engine package root');
}

/** argv to run the `egress` CLI as a child process. */
export function egressArgv(args: readonly string[]): [string, string[]] {
  return [process.execPath, [join(packageRoot(), 'bin', 'egress.js'), ...args]];
}

export function hostNetns(name: string): string {
  return `egr-h${policy.crc32String(name).toString(16).padStart(8, '0')}`;
}

function hostVeth(name: string): string {
  return `egrh${policy.crc32String(name).toString(16).padStart(8, '0')}`;
}

const recordPath = (stateDir: string) => join(stateDir, 'testbed.json');
const logDir = (stateDir: string) => join(stateDir, 'testbed');

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPid = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 1;
const strs = (o: Record<string, unknown>, keys: readonly string[]) => keys.every((k) => typeof o[k] === 'string');

/** The record of the test bed of `stateDir`, or null when there is none; TestbedError when it is not valid. */
export function readRecord(stateDir: string, opts: policy.store.FileOptions = {}): TestbedRecord | null {
  let v: unknown;
  try {
    const data = policy.store.readStoreFile(recordPath(stateDir), opts);
    if (data === null) return null;
    v = JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new TestbedError(`${recordPath(stateDir)}: ${(e as Error).message}`);
  }
  const ok =
    isObj(v) &&
    strs(v, ['stateDir', 'fabric', 'bridge', 'started']) &&
    Array.isArray(v['hosts']) &&
    v['hosts'].every(
      (h: unknown) =>
        isObj(h) && strs(h, ['name', 'netns', 'veth', 'address', 'log']) && (h['pid'] === null || isPid(h['pid'])),
    ) &&
    Array.isArray(v['nodes']) &&
    v['nodes'].every((n: unknown) => isObj(n) && strs(n, ['name', 'log']) && isPid(n['pid'])) &&
    (v['store'] === undefined || typeof v['store'] === 'string') &&
    (v['etcdPrefix'] === undefined || typeof v['etcdPrefix'] === 'string') &&
    (v['etcd'] === undefined ||
      (isObj(v['etcd']) && strs(v['etcd'], ['netns', 'dir', 'log']) && isPid(v['etcd']['pid'])));
  if (!ok)
    throw new TestbedError(
      `${recordPath(stateDir)} is not a test bed record: remove it, then \`egress testbed down\` cleans up by name`,
    );
  return v as unknown as TestbedRecord;
}

function writeRecord(r: TestbedRecord): void {
  policy.store.atomicWrite(recordPath(r.stateDir), JSON.stringify(r, null, 1) + '\n', { sync: false });
}

/** Checks that need no change to the machine: root, /dev/net/tun, iproute2, the addon, no test bed up. */
export function preflight(): void {
  if (process.platform !== 'linux') throw new TestbedError('the test bed needs Linux network namespaces');
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    throw new TestbedError('the test bed creates network namespaces and TUN/TAP devices: run it as root');
  if (!existsSync('/dev/net/tun'))
    throw new TestbedError('no /dev/net/tun: load the tun module or run where TUN devices exist');
  try {
    netdev.listNetns();
  } catch (e) {
    throw new TestbedError((e as Error).message);
  }
  if (!addonAvailable())
    throw new TestbedError('the TUN/TAP addon is not built: run `npm install` (or `npm run build:tun`)');
}

const SAFE = [
  [0xc6120000 | 0, 15], // 198.18.0.0/15
  [0xa9fe0000 | 0, 16], // 169.254.0.0/16
] as const;

function inSafeRange(addr: number, len: number): boolean {
  return SAFE.some(([net, plen]) => len >= plen && ((addr ^ net) & policy.maskInt32(plen)) === 0);
}

/** IPv6: 2001:2::/48 (RFC 5180, benchmarking) and fe80::/10. */
const SAFE6 = [policy.parseCIDR('2001:2::/48')!, policy.parseCIDR('fe80::/10')!];

/** An IPv6 address or prefix (text) inside SAFE6. */
function inSafeRange6(text: string): boolean {
  const p = policy.parseCIDR(text.includes('/') ? text : `${text}/128`);
  return p !== null && SAFE6.some((s) => p.len >= s.len && policy.prefixContains(s, { family: 6, value: p.addr }));
}

/** Load and check the manifests for the test bed; every problem is reported before anything is created. */
export function loadForTestbed(
  file: string,
  now: Date,
): { state: policy.ClusterState; docs: policy.ManifestDoc[]; problems: policy.Problem[] } {
  const read = policy.readManifestFile(file);
  if ('error' in read) throw new TestbedError(read.error);
  const parsed = policy.parseManifests(read.text, file);
  const r = policy.applyDocs(policy.emptyState(), parsed.docs, now, parsed.problems);
  if (!r.ok) {
    const lines = policy.formatProblems(r.problems.filter((p) => p.severity === 'error'));
    throw new TestbedError(`${file}: the manifests are not valid:\n  ${lines.join('\n  ')}`);
  }
  const s = r.state;
  const cfg = policy.resolveConfig(s.config);
  if (!cfg.transportCIDR)
    throw new TestbedError(`${file}: the test bed needs the segment: set transportCIDR in the AgentConfig`);
  const seg = policy.parsePrefix4(cfg.transportCIDR)!;
  if (!inSafeRange(seg.addr, seg.len))
    throw new TestbedError(
      `${file}: transportCIDR ${cfg.transportCIDR} is outside 198.18.0.0/15 and 169.254.0.0/16: the test bed only builds in those ranges`,
    );
  if (s.nodes.size === 0) throw new TestbedError(`${file}: no Node: nothing to build`);
  for (const n of s.nodes.values()) {
    const pc = policy.nodePodCIDR(n);
    const p = pc ? policy.parsePrefix4(pc) : null;
    if (p && !inSafeRange(p.addr, p.len))
      throw new TestbedError(
        `${file}: Node ${n.metadata.name}: pod CIDR ${pc} is outside 198.18.0.0/15 and 169.254.0.0/16`,
      );
  }
  // The IPv6 side of a dual-stack scenario: Node addresses and pod CIDRs, Pod and host addresses (egress IPs come
  // from pools or Nodes' annotations checked by the same rules as the rest: they must be on the segment).
  const unsafe6 = (what: string, text: string | null | undefined) => {
    if (text && text.includes(':') && !inSafeRange6(text))
      throw new TestbedError(`${file}: ${what} ${text} is outside 2001:2::/48 and fe80::/10`);
  };
  for (const n of s.nodes.values()) {
    unsafe6(`Node ${n.metadata.name}: IPv6 pod CIDR`, policy.nodePodCIDRv6(n));
    unsafe6(`Node ${n.metadata.name}: IPv6 address`, policy.nodeIPv6(n));
  }
  for (const p of s.pods.values())
    unsafe6(`Pod ${p.metadata.namespace}/${p.metadata.name}: IPv6 address`, policy.podIPv6(p));
  for (const h of s.externalHosts.values()) unsafe6(`ExternalHost ${h.metadata.name}: ipv6Address`, h.spec.ipv6Address);
  unsafe6('AgentConfig: transportCIDRv6', cfg.transportCIDRv6);
  unsafe6('AgentConfig: defaultGatewayv6', cfg.defaultGatewayv6);
  // The segment has no IPv6 router: without defaultGatewayv6 a host is reached only when it is inside the on-link
  // prefix every agent takes (transportCIDRv6, else the /64 of its Node's IPv6 address); outside it, every IPv6
  // packet to the host would be `uplink-out6.drop-no-route` (docs/ipv6.md §2.e).
  if (!cfg.defaultGatewayv6)
    for (const h of s.externalHosts.values()) {
      const a = h.spec.ipv6Address ? policy.parseInterfaceAddress(h.spec.ipv6Address) : null;
      if (!a) continue;
      for (const n of s.nodes.values()) {
        const ip6 = policy.nodeIPv6(n);
        const seg = cfg.transportCIDRv6 ?? (ip6 ? `${ip6}/64` : null);
        const p = seg ? policy.parseCIDR(seg) : null;
        if (p && !policy.prefixContains(p, a.ip))
          throw new TestbedError(
            `${file}: ExternalHost ${h.metadata.name}: ipv6Address ${h.spec.ipv6Address} is outside the IPv6 segment ${
              cfg.transportCIDRv6 ?? policy.formatPrefix(p)
            } Node ${n.metadata.name} takes (${cfg.transportCIDRv6 ? 'transportCIDRv6' : 'the /64 of its IPv6 address'}) and there is no defaultGatewayv6: its IPv6 packets to the host would be uplink-out6.drop-no-route`,
          );
      }
    }
  for (const pool of s.pools.values())
    for (const r of pool.spec.ipRanges)
      for (const t of [r.cidr, r.start, r.end]) unsafe6(`ExternalIPPool ${pool.metadata.name}: range`, t);
  // Device and namespace names are a prefix and a CRC-32 (15 characters at most): two names with the same CRC
  // would share one. Pods are refused by the manifest validation (agents create theirs on any apply); hosts and
  // node uplinks are created only here, by `up`.
  const hosts = [...s.externalHosts.keys()].map((h) => ({ what: `ExternalHost ${h}`, name: hostNetns(h) }));
  distinctNames(file, 'network namespace', hosts);
  distinctNames(
    file,
    'uplink',
    [...s.nodes.keys()].map((n) => ({ what: `Node ${n}`, name: linkName('u', n) })),
  );
  return { state: s, docs: parsed.docs, problems: r.problems.slice() };
}

function distinctNames(file: string, noun: string, items: readonly { what: string; name: string }[]): void {
  const seen = new Map<string, string>();
  for (const { what, name } of [...items].sort((a, b) => (a.what < b.what ? -1 : 1))) {
    const other = seen.get(name);
    if (other)
      throw new TestbedError(
        `${file}: ${other} and ${what} would share the ${noun} ${name} (the same CRC-32 of their names): rename one of them`,
      );
    seen.set(name, what);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** 'running', 'frozen' (SIGSTOP), or 'gone'. */
export function processState(pid: number | null): 'running' | 'frozen' | 'gone' {
  if (pid === null || !alive(pid)) return 'gone';
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (st === 'Z') return 'gone';
    return st === 'T' || st === 't' ? 'frozen' : 'running';
  } catch {
    return 'gone';
  }
}

function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export interface UpOptions {
  manifests: string;
  stateDir: string;
  /** Seconds to wait for every agent to report (default 20). */
  timeoutS?: number;
  /** Serve each agent's Prometheus metrics on this port + its index (nodes in name order); none by default. */
  metricsPortBase?: number;
  /** `--insecure-state-dir`, passed to the agents too. */
  insecure?: boolean;
  log?: (line: string) => void;
  /**
   * The cluster's store on an etcd the caller runs (`egress testbed up --store etcd://…`), and the flags that give
   * it to the agents (`--store URL`, `--etcd-prefix`, TLS and auth files). Its prefix is emptied first.
   */
  store?: { store: policy.store.EtcdStore; agentArgs: readonly string[] };
  /** Start a single-member etcd for the test bed (in namespace egr-etcd) and keep the store there. */
  etcd?: boolean;
  /** More flags for every agent (`egress testbed up --conn-sync` passes `--conn-sync`). */
  agentArgs?: readonly string[];
}

/** Start the test bed's own etcd member (recorded in `rec` once it runs; `down` finds a lost one by its data dir). */
async function startEtcd(rec: TestbedRecord, files: policy.store.FileOptions, log: (l: string) => void) {
  if (!existsSync(ETCD_BIN))
    throw new TestbedError(`${ETCD_BIN} not found: install Debian's etcd-server (apt install etcd-server)`);
  const dir = join(rec.stateDir, 'etcd');
  rmSync(dir, { recursive: true, force: true });
  policy.store.ensurePrivateDir(dir, files);
  const logFile = join(logDir(rec.stateDir), 'etcd.log');
  netdev.addNetns(ETCD_NETNS); // (`down` removes it by name even before the record names it)
  netdev.setUp('lo', { netns: ETCD_NETNS });
  const peer = 'unix://localhost:2380';
  const [ipFile, ipArgs] = netdev.netnsCommand(ETCD_NETNS, ETCD_BIN, [
    '--name=egr-testbed',
    `--data-dir=${join(dir, 'data')}`,
    `--listen-client-urls=unix://${ETCD_SOCKET}`,
    `--advertise-client-urls=unix://${ETCD_SOCKET}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=egr-testbed=${peer}`,
    // a whole manifest set is one transaction (docs/store.md): room for 10 000 objects
    '--max-txn-ops=20000',
    '--max-request-bytes=33554432',
    '--logger=zap',
    '--log-level=error',
  ]);
  const fd = policy.store.openAppendFd(logFile, files);
  const child = spawn(ipFile, ipArgs, { cwd: dir, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new TestbedError('could not start etcd');
  rec.etcd = { pid: child.pid, netns: ETCD_NETNS, dir, log: logFile };
  rec.store = `etcd+unix://${join(dir, ETCD_SOCKET)}`;
  writeRecord(rec);
  const st = new policy.store.EtcdStore(rec.store, { timeoutMs: 1000 });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!alive(child.pid)) throw new TestbedError(`etcd exited:\n${tail(logFile)}`);
      try {
        await st.load();
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new TestbedError(`etcd did not answer in time (${(e as Error).message})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    st.close();
  }
  log(`store: etcd pid ${child.pid} in namespace ${ETCD_NETNS}, ${rec.store}`);
}

/** Build the test bed; on any failure everything created so far is removed and the error rethrown. */
export async function up(o: UpOptions): Promise<TestbedRecord> {
  const log = o.log ?? (() => {});
  preflight();
  const files = { insecure: o.insecure ?? false };
  policy.store.ensureStore(o.stateDir, files);
  if (readRecord(o.stateDir, files) || netdev.listNetns().includes(FABRIC_NETNS))
    throw new TestbedError(`a test bed is already up (namespace ${FABRIC_NETNS}): run \`egress testbed down\` first`);
  const { docs } = loadForTestbed(o.manifests, new Date());
  policy.store.ensurePrivateDir(logDir(o.stateDir), files);
  const rec: TestbedRecord = {
    stateDir: o.stateDir,
    fabric: FABRIC_NETNS,
    bridge: BRIDGE,
    hosts: [],
    nodes: [],
    started: new Date().toISOString(),
  };
  if (o.etcd && o.store) throw new TestbedError('--etcd starts an etcd for the test bed: give it or --store, not both');
  let storeArgs: readonly string[] = [];
  let shared: policy.store.EtcdStore | null = null;
  try {
    // The store: the manifests, applied like `egress apply` (fresh: an old store would mix clusters).
    for (const f of [policy.store.OBJECTS_FILE, policy.store.EVENTS_FILE]) rmSync(join(o.stateDir, f), { force: true });
    rmSync(join(o.stateDir, policy.store.STATUS_DIR), { recursive: true, force: true });
    rmSync(join(o.stateDir, 'run'), { recursive: true, force: true });
    const apply = (prev: policy.ClusterState) => {
      const r = policy.applyDocs(prev, docs, new Date());
      return { state: r.state, write: r.ok, result: r };
    };
    let applied: policy.ApplyResult;
    if (o.etcd) {
      await startEtcd(rec, files, log);
      shared = storeOf(rec) as policy.store.EtcdStore;
      storeArgs = storeFlags(rec);
    } else if (o.store) {
      shared = o.store.store;
      storeArgs = o.store.agentArgs;
      rec.store = shared.url;
      if (shared.prefix !== policy.store.DEFAULT_ETCD_PREFIX) rec.etcdPrefix = shared.prefix;
      log(`store: ${shared.url} (prefix ${shared.prefix}, emptied)`);
    }
    if (shared) {
      await shared.ready();
      await shared.client.deletePrefix(shared.prefix).catch((e: unknown) => {
        throw new TestbedError(`store ${shared!.url}: ${(e as Error).message}`);
      });
      applied = await shared.update(apply);
      // The cluster key every agent of this test bed shares (a fresh one per test bed).
      await shared.ensureClusterKey();
    } else {
      applied = await policy.store.updateState(o.stateDir, apply, undefined, files);
      policy.store.renewClusterKey(o.stateDir, files);
    }
    if (!applied.ok) throw new TestbedError(policy.formatProblems(applied.problems).join('\n'));
    const state = applied.state;
    const cfg = policy.resolveConfig(state.config);
    writeRecord(rec);

    netdev.addNetns(FABRIC_NETNS);
    netdev.setUp('lo', { netns: FABRIC_NETNS });
    netdev.addBridge(BRIDGE, { netns: FABRIC_NETNS });
    netdev.setUp(BRIDGE, { netns: FABRIC_NETNS });
    log(`segment: namespace ${FABRIC_NETNS}, bridge ${BRIDGE} (${cfg.transportCIDR})`);

    for (const h of [...state.externalHosts.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
      const name = h.metadata.name;
      const ns = hostNetns(name);
      const veth = hostVeth(name);
      const entry = {
        name,
        netns: ns,
        veth,
        address: h.spec.address,
        ...(h.spec.ipv6Address !== undefined ? { ipv6Address: h.spec.ipv6Address } : {}),
        pid: null as number | null,
        log: join(logDir(o.stateDir), `host-${name}.log`),
      };
      rec.hosts.push(entry);
      writeRecord(rec);
      netdev.addNetns(ns);
      netdev.addVeth('eth0', veth, { netns: ns, peerNetns: FABRIC_NETNS });
      netdev.setMaster(veth, BRIDGE, { netns: FABRIC_NETNS });
      netdev.setUp(veth, { netns: FABRIC_NETNS });
      netdev.addAddress('eth0', h.spec.address, { netns: ns });
      if (h.spec.ipv6Address !== undefined) netdev.addAddress('eth0', h.spec.ipv6Address, { netns: ns, nodad: true });
      netdev.setMtu('eth0', cfg.mtu, { netns: ns });
      netdev.setUp('lo', { netns: ns });
      netdev.setUp('eth0', { netns: ns });
      if (cfg.defaultGateway && !h.spec.address.startsWith(cfg.defaultGateway + '/'))
        netdev.addRoute('default', { via: cfg.defaultGateway, netns: ns });
      if (h.spec.command && h.spec.command.length > 0) {
        const [file, args] =
          h.spec.command[0] === 'egress'
            ? egressArgv(h.spec.command.slice(1))
            : [h.spec.command[0]!, h.spec.command.slice(1)];
        const [ipFile, ipArgs] = netdev.netnsCommand(ns, file, args);
        const fd = policy.store.openAppendFd(entry.log, files);
        const child = spawn(ipFile, ipArgs, { detached: true, stdio: ['ignore', fd, fd] });
        closeSync(fd);
        child.unref();
        entry.pid = child.pid ?? null;
        writeRecord(rec);
      }
      log(
        `host ${name}: namespace ${ns}, ${h.spec.address}${h.spec.ipv6Address ? ` ${h.spec.ipv6Address}` : ''}${entry.pid ? `, command pid ${entry.pid}` : ''}`,
      );
    }

    for (const name of [...state.nodes.keys()].sort()) {
      const logFile = join(logDir(o.stateDir), `agent-${name}.log`);
      const [file, args] = egressArgv([
        'agent',
        '--node',
        name,
        '--state-dir',
        o.stateDir,
        '--segment-netns',
        FABRIC_NETNS,
        '--bridge',
        BRIDGE,
        ...storeArgs,
        ...(o.metricsPortBase !== undefined ? ['--metrics-port', String(o.metricsPortBase + rec.nodes.length)] : []),
        ...(files.insecure ? ['--insecure-state-dir'] : []),
        ...(o.agentArgs ?? []),
      ]);
      const argv = [file, ...args];
      rec.nodes.push({ name, pid: spawnAgent(name, argv, logFile, files), log: logFile, argv });
      writeRecord(rec);
    }

    const deadline = Date.now() + (o.timeoutS ?? 20) * 1000;
    for (const n of rec.nodes) {
      await agentStarted(o.stateDir, n, deadline);
      log(`node ${n.name}: agent pid ${n.pid}`);
    }
    return rec;
  } catch (e) {
    await down({ stateDir: o.stateDir });
    throw e;
  } finally {
    shared?.close();
  }
}

function spawnAgent(name: string, argv: readonly string[], logFile: string, files: policy.store.FileOptions): number {
  const fd = policy.store.openAppendFd(logFile, files);
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new TestbedError(`could not start the agent of ${name}`);
  return child.pid;
}

/** Wait for an agent's first run file. */
async function agentStarted(stateDir: string, n: { name: string; pid: number; log: string }, deadline: number) {
  const runFile = join(stateDir, 'run', `${n.name}.json`);
  while (!existsSync(runFile)) {
    if (!alive(n.pid)) throw new TestbedError(`the agent of ${n.name} exited:\n${tail(n.log)}`);
    if (Date.now() > deadline) throw new TestbedError(`the agent of ${n.name} did not start in time:\n${tail(n.log)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Restart a node's agent, as a rolling upgrade does: SIGTERM (SIGKILL after `timeoutS`), wait for it to exit, start
 * it again with the same command line, wait for its run file. Returns the old and new pids.
 */
export async function restartNode(
  rec: TestbedRecord,
  node: string,
  o: { timeoutS?: number; insecure?: boolean } = {},
): Promise<{ old: number; pid: number }> {
  const n = rec.nodes.find((x) => x.name === node);
  if (!n) throw new TestbedError(`no node ${node} in the test bed (${rec.nodes.map((x) => x.name).join(', ')})`);
  if (!n.argv) throw new TestbedError(`the test bed was built by an older egress: no command line for ${node}`);
  const old = n.pid;
  const deadline = Date.now() + (o.timeoutS ?? 20) * 1000;
  if (processState(old) !== 'gone') {
    if (processState(old) === 'frozen') process.kill(old, 'SIGCONT');
    process.kill(old, 'SIGTERM');
    while (processState(old) !== 'gone') {
      if (Date.now() > deadline) process.kill(old, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  n.pid = spawnAgent(node, n.argv, n.log, { insecure: o.insecure ?? false });
  writeRecord(rec);
  await agentStarted(rec.stateDir, n, Date.now() + (o.timeoutS ?? 20) * 1000);
  return { old, pid: n.pid };
}

export interface DownResult {
  processes: number;
  namespaces: string[];
}

/** Remove everything: agents (SIGTERM, then SIGKILL), host commands, namespaces. Idempotent; works after a crash. */
export async function down(o: {
  stateDir: string;
  insecure?: boolean;
  log?: (line: string) => void;
}): Promise<DownResult> {
  const log = o.log ?? (() => {});
  let rec: TestbedRecord | null;
  try {
    rec = readRecord(o.stateDir, { insecure: o.insecure ?? false });
  } catch (e) {
    // An unusable record: clean up by name (namespaces and agents with the project's prefix) instead.
    log((e as Error).message);
    rec = null;
  }
  let processes = 0;
  const pids = [
    ...(rec?.nodes.map((n) => n.pid) ?? []),
    ...((rec?.hosts.map((h) => h.pid).filter((p) => p !== null) as number[]) ?? []),
  ];
  // Agents and host commands are started detached, each the leader of its own process group: the group is
  // signalled, so what a host command started itself (`sh -c 'iperf3 -s & …'`) stops with it. Only groups whose
  // leader was alive when this call began: a stale record's pid may belong to someone else by now.
  const signalled: number[] = [];
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    }
  };
  for (const pid of pids) {
    if (!alive(pid)) continue;
    processes++;
    signalled.push(pid);
    signal(pid, 'SIGCONT'); // a frozen agent must run to clean up
    signal(pid, 'SIGTERM');
  }
  const deadline = Date.now() + 5000;
  while (signalled.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  // The rest of each group (a leader gone first may have left children): SIGKILL.
  for (const pid of signalled) signal(pid, 'SIGKILL');
  // The test bed's etcd, after the agents (they write their leaving status to it).
  const etcdPids = [...(rec?.etcd && rec.etcd.pid > 1 ? [rec.etcd.pid] : []), ...strayEtcd(o.stateDir)];
  for (const pid of new Set(etcdPids)) {
    if (!alive(pid)) continue;
    processes++;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const until = Date.now() + 3000;
    while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    try {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(join(o.stateDir, 'etcd'), { recursive: true, force: true });
  // Stray agents of an earlier run whose record was lost.
  for (const pid of strayAgents(o.stateDir)) {
    processes++;
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const gone: string[] = [];
  let names: string[];
  try {
    names = netdev.listNetns();
  } catch {
    names = [];
  }
  const ours = new Set([FABRIC_NETNS, ETCD_NETNS, ...(rec?.hosts.map((h) => h.netns) ?? [])]);
  if (rec && !rec.store) {
    try {
      const s = policy.store.loadState(o.stateDir);
      for (const key of s.pods.keys()) ours.add(podNetnsName(key));
    } catch {
      /* no store */
    }
  }
  for (const ns of names) {
    if (!ours.has(ns) && !/^egr-(fab|etcd|h[0-9a-f]{8}|[0-9a-f]{8})$/.test(ns)) continue;
    try {
      netdev.deleteNetns(ns, { ifExists: true });
      gone.push(ns);
    } catch (e) {
      log(`could not delete namespace ${ns}: ${(e as Error).message}`);
    }
  }
  rmSync(recordPath(o.stateDir), { force: true });
  rmSync(join(o.stateDir, 'run'), { recursive: true, force: true });
  return { processes, namespaces: gone };
}

/** PIDs of `egress agent` processes using this state directory (from /proc). */
function strayAgents(stateDir: string): number[] {
  const out: number[] = [];
  const want = resolve(stateDir);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('--state-dir');
      if (
        argv.includes('agent') &&
        argv.some((a) => a.endsWith('bin/egress.js')) &&
        i >= 0 &&
        resolve(argv[i + 1] ?? '') === want
      )
        out.push(Number(d));
    } catch {
      /* raced */
    }
  }
  return out;
}

/** PIDs of the test bed's own etcd of this state directory (from /proc: its --data-dir), for a lost record. */
function strayEtcd(stateDir: string): number[] {
  const out: number[] = [];
  const want = `--data-dir=${join(resolve(stateDir), 'etcd', 'data')}`;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.includes('--name=egr-testbed') && argv.includes(want)) out.push(Number(d));
    } catch {
      /* raced */
    }
  }
  return out;
}

/** The namespace of a test bed member: `namespace/pod` for a pod, the ExternalHost name for a host. */
export function netnsOf(rec: TestbedRecord, name: string): string {
  if (name.includes('/')) {
    const ns = podNetnsName(name);
    if (!netdev.listNetns().includes(ns))
      throw new TestbedError(`no pod ${name} in the test bed (namespace ${ns} does not exist)`);
    return ns;
  }
  const h = rec.hosts.find((x) => x.name === name);
  if (!h) throw new TestbedError(`no external host ${name} (pods are named namespace/pod)`);
  return h.netns;
}

/** Run a command in a member's namespace, with the terminal; returns its exit status. */
export function exec(rec: TestbedRecord, name: string, argv: readonly string[]): number {
  const ns = netnsOf(rec, name);
  const [file, args] = netdev.netnsCommand(ns, argv[0]!, argv.slice(1));
  const r = spawnSync(file, args, { stdio: 'inherit' });
  if (r.error) throw new TestbedError(`${argv[0]}: ${r.error.message}`);
  return r.status ?? 128 + 9;
}

/** Freeze (SIGSTOP) or resume (SIGCONT) a node's agent, as Antrea's e2e does with `pkill -STOP antrea-agent`. */
export function signalNode(rec: TestbedRecord, node: string, sig: 'SIGSTOP' | 'SIGCONT'): number {
  const n = rec.nodes.find((x) => x.name === node);
  if (!n) throw new TestbedError(`no node ${node} in the test bed (${rec.nodes.map((x) => x.name).join(', ')})`);
  if (!alive(n.pid)) throw new TestbedError(`the agent of ${node} (pid ${n.pid}) is not running`);
  process.kill(n.pid, sig);
  return n.pid;
}

export interface StatusReport {
  stateDir: string;
  /** `dir:<state-dir>` or the etcd URL. */
  store: string;
  segment: { netns: string; bridge: string };
  nodes: Array<{
    name: string;
    pid: number;
    agent: 'running' | 'frozen' | 'gone';
    egressIps: string[];
    /** Hosted IPv6 egress IPs (a dual-stack node; empty otherwise). */
    egressIps6: string[];
    pods: string[];
    members: string[];
  }>;
  hosts: Array<{
    name: string;
    netns: string;
    address: string;
    /** `spec.ipv6Address`, null when the host has none. */
    ipv6Address: string | null;
    command: 'running' | 'frozen' | 'gone' | 'none';
  }>;
}

export function status(rec: TestbedRecord): StatusReport {
  return {
    stateDir: rec.stateDir,
    store: rec.store ?? `dir:${rec.stateDir}`,
    segment: { netns: rec.fabric, bridge: rec.bridge },
    nodes: rec.nodes.map((n) => {
      let run: Record<string, unknown> = {};
      try {
        const v = policy.store.readRunFile(rec.stateDir, n.name);
        if (isObj(v)) run = v;
      } catch {
        /* not reported, or not readable */
      }
      const strings = (x: unknown) => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
      const pods = Array.isArray(run['pods']) ? run['pods'] : [];
      return {
        name: n.name,
        pid: n.pid,
        agent: processState(n.pid),
        egressIps: strings(run['egressIps']),
        egressIps6: strings(run['egressIps6']),
        pods: strings(pods.map((p: unknown) => (isObj(p) ? p['key'] : null))),
        members: strings(run['members']),
      };
    }),
    hosts: rec.hosts.map((h) => ({
      name: h.name,
      netns: h.netns,
      address: h.address,
      ipv6Address: h.ipv6Address ?? null,
      command: h.pid === null ? 'none' : processState(h.pid),
    })),
  };
}
