/**
 * The benchmark's network, in namespaces named egr-bk-* (addresses in 198.18.0.0/15 and 169.254.0.0/16; the
 * root namespace is never touched):
 *
 *   egr-bk-fab    the L2 segment 198.18.0.0/24: bridge egr-bkbr, MTU 1550 on every port
 *   egr-bk-sink   the external host 198.18.0.100 (its own kernel stack). An nftables netdev ingress rule counts
 *                 and drops the benchmark's UDP (ports 5000-6999) as the tester's receive port: nothing above
 *                 the driver runs for them; everything else (TCP of iperf3, ARP) goes up the stack.
 *   (a) engine    bench/e2e/cluster.yaml: agents node-a (198.18.0.11, egress IP .201) and node-b (.12, .201),
 *                 their TAP uplinks on the bridge; pods bench/src-local and bench/src-remote on node-a (TUNs
 *                 created by node-a's agent in egr-<crc32>).
 *   (b) kernel    egr-bk-na (node 198.18.0.21 + egress IP .211; forwarding, nft `snat to`), egr-bk-nb (.22 + .212),
 *                 pods egr-bk-p1 (198.19.3.10, SNAT on node-a) and egr-bk-p2 (198.19.3.11: node-a sends it
 *                 through VXLAN to node-b, which SNATs) on veth pairs. The kernel has no Geneve (docs/platform.md):
 *                 VXLAN has the same 50 bytes of overhead.
 *   (c) ceiling   egr-bk-cp (pod 198.19.4.10 on a TUN) and a TAP on the bridge, both opened by this process
 *                 and handed to bench/e2e/c/ceiling.c, which only reads one and writes the other; their queues
 *                 are the agent's (DEFAULT_QUEUE_LEN).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_QUEUE_LEN } from '../../cli/agent/node-process.js';
import { podNetnsName, TapPort, TunPort } from '../../tun/index.js';
import { alive, BenchError, ip, listNetns, nft, packageRoot, run, sleep } from './sys.js';

export const FAB = 'egr-bk-fab';
export const BRIDGE = 'egr-bkbr';
export const SINK = 'egr-bk-sink';
export const SINK_IP = '198.18.0.100';
export const SEGMENT_MTU = 1550;
/** UDP destination ports the sink counts and drops (one per flow from DST_PORT up). */
export const DST_PORT = 5000;
export const IPERF_PORT = 5201;

export const K_NODE_A = 'egr-bk-na';
export const K_NODE_B = 'egr-bk-nb';
export const K_POD_LOCAL = 'egr-bk-p1';
export const K_POD_REMOTE = 'egr-bk-p2';
export const C_POD = 'egr-bk-cp';

export const E_POD_LOCAL = 'bench/src-local';
export const E_POD_REMOTE = 'bench/src-remote';

/** Every namespace the benchmark may create (leftovers of a crashed run are removed at start). */
export function benchNamespaces(): string[] {
  return [
    FAB,
    SINK,
    K_NODE_A,
    K_NODE_B,
    K_POD_LOCAL,
    K_POD_REMOTE,
    C_POD,
    BASELINE_VETH,
    BASELINE_TUN,
    podNetnsName(E_POD_LOCAL),
    podNetnsName(E_POD_REMOTE),
  ];
}

function addNs(ns: string): void {
  ip(['netns', 'add', ns]);
  ip(['link', 'set', 'lo', 'up'], ns);
  run('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], { ns });
}

/** A veth from namespace `ns` (named `inner`) to the bridge (its peer `port`, in the fabric). */
function vethToBridge(ns: string, inner: string, port: string): void {
  ip(['link', 'add', inner, 'mtu', String(SEGMENT_MTU), 'type', 'veth', 'peer', 'name', port, 'netns', FAB], ns);
  ip(['link', 'set', port, 'mtu', String(SEGMENT_MTU), 'master', BRIDGE, 'up'], FAB);
}

export function macOf(dev: string, ns: string): string {
  const [l] = JSON.parse(ip(['-j', 'link', 'show', 'dev', dev], ns)) as { address: string }[];
  return l!.address;
}

// --- the segment and the sink ------------------------------------------------------------------------------

export function upSegment(): void {
  addNs(FAB);
  ip(['link', 'add', BRIDGE, 'type', 'bridge'], FAB);
  ip(['link', 'set', BRIDGE, 'up'], FAB);
  addNs(SINK);
  vethToBridge(SINK, 'eth0', 'egrbksink');
  ip(['addr', 'add', `${SINK_IP}/24`, 'dev', 'eth0'], SINK);
  ip(['link', 'set', 'eth0', 'up'], SINK);
  nft(
    SINK,
    `table netdev egrbench {
  counter rx {}
  chain in {
    type filter hook ingress device "eth0" priority 0;
    udp dport ${DST_PORT}-6999 counter name "rx" drop
  }
}
`,
  );
}

export interface Count {
  packets: number;
  bytes: number;
}

/** The sink's receive counter (then zeroed when `reset`). */
export function sinkCounter(reset = false): Count {
  const out = run('nft', ['-j', reset ? 'reset' : 'list', 'counter', 'netdev', 'egrbench', 'rx'], { ns: SINK });
  const j = JSON.parse(out) as { nftables: Array<{ counter?: { packets: number; bytes: number } }> };
  const c = j.nftables.find((x) => x.counter)?.counter;
  if (!c) throw new BenchError('cannot read the sink counter');
  return { packets: c.packets, bytes: c.bytes };
}

/**
 * Reads the sink's eth0 receive counter through /proc/PID/net/dev of a process parked in its namespace: a file
 * read, no command per read (the drain polls it every millisecond).
 */
export class SinkProbe {
  private readonly child: ChildProcess;
  private constructor() {
    this.child = spawn('ip', ['netns', 'exec', SINK, 'sleep', '86400'], { stdio: 'ignore' });
  }

  static async start(): Promise<SinkProbe> {
    const p = new SinkProbe();
    const deadline = Date.now() + 3000;
    for (;;) {
      try {
        // `ip netns exec` enters the namespace and then becomes `sleep`: only then is /proc/PID/net the sink's.
        if (readFileSync(`/proc/${p.child.pid}/comm`, 'utf8').trim() !== 'sleep') throw new Error('not yet');
        p.rx();
        return p;
      } catch {
        if (Date.now() > deadline) throw new BenchError('cannot read the sink counters through /proc');
        await sleep(10);
      }
    }
  }

  /** Packets received on the sink's eth0 (everything: the benchmark's UDP, ARP, TCP). */
  rx(): number {
    const text = readFileSync(`/proc/${this.child.pid}/net/dev`, 'utf8');
    const line = text.split('\n').find((l) => l.trim().startsWith('eth0:'));
    if (!line) throw new BenchError('no eth0 in the sink');
    return Number(line.split(':')[1]!.trim().split(/\s+/)[1]);
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

// --- the source alone ----------------------------------------------------------------------------------------

/**
 * The source's cost alone, per first hop: in egr-bk-dv the route to the sink leads into a veth pair whose other
 * end, in the same namespace, drops at its ingress hook (what a kernel pod pays to hand a packet to its node); in
 * egr-bk-dt it leads into a TUN nobody reads, which drops when its queue is full (what an engine pod pays). The
 * source pays its socket, UDP/IP output, routing and the device's transmit, nothing downstream.
 */
export const BASELINE_VETH = 'egr-bk-dv';
export const BASELINE_TUN = 'egr-bk-dt';

/** Builds both baseline namespaces; returns the TUN to close at the end. */
export function upBaseline(): TunPort {
  addNs(BASELINE_VETH);
  ip(['link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'in0'], BASELINE_VETH);
  ip(['addr', 'add', '198.18.9.1/24', 'dev', 'out0'], BASELINE_VETH);
  ip(['link', 'set', 'out0', 'up'], BASELINE_VETH);
  ip(['link', 'set', 'in0', 'up'], BASELINE_VETH);
  ip(['route', 'add', 'default', 'via', '198.18.9.2', 'dev', 'out0'], BASELINE_VETH);
  ip(
    ['neigh', 'add', '198.18.9.2', 'lladdr', macOf('in0', BASELINE_VETH), 'dev', 'out0', 'nud', 'permanent'],
    BASELINE_VETH,
  );
  nft(
    BASELINE_VETH,
    `table netdev egrbench {
  chain in {
    type filter hook ingress device "in0" priority 0;
    drop
  }
}
`,
  );
  addNs(BASELINE_TUN);
  const tun = new TunPort('eth0', { netns: BASELINE_TUN });
  try {
    ip(['addr', 'add', '198.18.8.1/32', 'dev', 'eth0'], BASELINE_TUN);
    ip(['link', 'set', 'eth0', 'up'], BASELINE_TUN);
    ip(['route', 'add', 'default', 'dev', 'eth0'], BASELINE_TUN);
  } catch (e) {
    tun.close();
    throw e;
  }
  return tun;
}

// --- (b) the kernel ---------------------------------------------------------------------------------------------

export function upKernel(): void {
  for (const ns of [K_NODE_A, K_NODE_B, K_POD_LOCAL, K_POD_REMOTE]) addNs(ns);
  const pods: Array<[string, string, string]> = [
    [K_POD_LOCAL, 'pod1', '198.19.3.10'],
    [K_POD_REMOTE, 'pod2', '198.19.3.11'],
  ];
  for (const [ns, peer, addr] of pods) {
    ip(['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', peer, 'netns', K_NODE_A], ns);
    ip(['addr', 'add', `${addr}/24`, 'dev', 'eth0'], ns);
    ip(['link', 'set', 'eth0', 'up'], ns);
    ip(['route', 'add', 'default', 'via', '198.19.3.1'], ns);
    ip(['link', 'set', peer, 'up'], K_NODE_A);
  }
  ip(['addr', 'add', '198.19.3.1/24', 'dev', 'pod1'], K_NODE_A);
  ip(['route', 'add', '198.19.3.11/32', 'dev', 'pod2'], K_NODE_A);
  const nodes: Array<[string, string, string, string, string, string]> = [
    [K_NODE_A, 'egrbkna', '198.18.0.21', '198.18.0.211', '198.19.3.10', '198.18.0.22'],
    [K_NODE_B, 'egrbknb', '198.18.0.22', '198.18.0.212', '198.19.3.11', '198.18.0.21'],
  ];
  for (const [ns, port, addr, egressIp, pod, peer] of nodes) {
    vethToBridge(ns, 'up0', port);
    ip(['addr', 'add', `${addr}/24`, 'dev', 'up0'], ns);
    ip(['addr', 'add', `${egressIp}/24`, 'dev', 'up0'], ns);
    ip(['link', 'set', 'up0', 'up'], ns);
    run('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { ns });
    ip(
      [
        'link',
        'add',
        'vx0',
        'type',
        'vxlan',
        'id',
        '1',
        'local',
        addr,
        'remote',
        peer,
        'dstport',
        '4789',
        'dev',
        'up0',
      ],
      ns,
    );
    ip(['addr', 'add', ns === K_NODE_A ? '169.254.100.1/30' : '169.254.100.2/30', 'dev', 'vx0'], ns);
    ip(['link', 'set', 'vx0', 'up'], ns);
    nft(
      ns,
      `table ip egrbench {
  chain post {
    type nat hook postrouting priority srcnat;
    oifname "up0" ip saddr ${pod} snat to ${egressIp}
  }
}
`,
    );
  }
  // node-a sends the remote pod's traffic through the tunnel; node-b routes the replies back through it.
  ip(['rule', 'add', 'from', '198.19.3.11', 'iif', 'pod2', 'lookup', '100'], K_NODE_A);
  ip(['route', 'add', 'default', 'via', '169.254.100.2', 'dev', 'vx0', 'table', '100'], K_NODE_A);
  ip(['route', 'add', '198.19.3.0/24', 'via', '169.254.100.1', 'dev', 'vx0'], K_NODE_B);
}

// --- (c) the ceiling ----------------------------------------------------------------------------------------------

export const C_POD_IP = '198.19.4.10';
const C_SRC_MAC = '02:00:5e:bc:00:01';

export function upCeilingPod(): void {
  addNs(C_POD);
}

/** The ceiling forwarder running on `queues` queue pairs; `stop()` ends it and removes its devices. */
export class Ceiling {
  readonly child: ChildProcess;
  private readonly ports: Array<TunPort | TapPort> = [];
  private output = '';

  private constructor(child: ChildProcess, ports: Array<TunPort | TapPort>) {
    this.child = child;
    this.ports = ports;
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  static async start(exe: string, queues: number, burst: number): Promise<Ceiling> {
    const tuns =
      queues > 1 ? TunPort.openQueues('egrbkct', queues, { netns: C_POD }) : [new TunPort('egrbkct', { netns: C_POD })];
    let taps: TapPort[] = [];
    try {
      taps =
        queues > 1
          ? TapPort.openQueues('egrbkctap', queues, { netns: FAB })
          : [new TapPort('egrbkctap', { netns: FAB })];
      ip(['link', 'set', 'egrbkct', 'name', 'eth0'], C_POD);
      ip(['link', 'set', 'eth0', 'mtu', String(SEGMENT_MTU - 50), 'txqueuelen', String(DEFAULT_QUEUE_LEN)], C_POD);
      ip(['addr', 'add', `${C_POD_IP}/32`, 'dev', 'eth0'], C_POD);
      ip(['link', 'set', 'eth0', 'up'], C_POD);
      ip(['route', 'add', 'default', 'dev', 'eth0'], C_POD);
      ip(
        [
          'link',
          'set',
          'egrbkctap',
          'mtu',
          String(SEGMENT_MTU),
          'txqueuelen',
          String(DEFAULT_QUEUE_LEN),
          'master',
          BRIDGE,
          'up',
        ],
        FAB,
      );
    } catch (e) {
      for (const p of [...tuns, ...taps]) p.close();
      throw e;
    }
    const fds: number[] = [];
    for (let q = 0; q < queues; q++) fds.push(tuns[q]!.fileDescriptor, taps[q]!.fileDescriptor);
    const child = spawn(exe, [String(queues), String(burst), macOf('eth0', SINK), C_SRC_MAC], {
      stdio: ['ignore', 'pipe', 'inherit', ...fds],
    });
    const c = new Ceiling(child, [...tuns, ...taps]);
    const deadline = Date.now() + 5000;
    while (!c.output.includes('ready')) {
      if (child.exitCode !== null) throw new BenchError(`the ceiling forwarder exited (${child.exitCode})`);
      if (Date.now() > deadline) throw new BenchError('the ceiling forwarder did not start');
      await sleep(10);
    }
    return c;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  async stop(): Promise<string> {
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      const deadline = Date.now() + 3000;
      while (this.child.exitCode === null && Date.now() < deadline) await sleep(10);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
    for (const p of this.ports) p.close();
    return this.output;
  }
}

// --- (a) the engine --------------------------------------------------------------------------------------------

export interface EngineOptions {
  stateDir: string;
  /** Extra flags for both agents (`--burst 64`, `--offload`, ...). */
  agentArgs: readonly string[];
  log: (line: string) => void;
}

/** The two agents of bench/e2e/cluster.yaml on the benchmark's segment. */
export class Engine {
  readonly pids: number[] = [];
  private constructor(private readonly o: EngineOptions) {}

  static async start(o: EngineOptions): Promise<Engine> {
    const e = new Engine(o);
    try {
      await e.boot();
    } catch (err) {
      await e.stop();
      throw err;
    }
    return e;
  }

  private async boot(): Promise<void> {
    const { stateDir } = this.o;
    mkdirSync(stateDir, { recursive: true, mode: 0o700 }); // a state directory is private (docs/security.md)
    const root = packageRoot();
    const egress = join(root, 'bin', 'egress.js');
    // The first apply also creates the cluster key the two agents share.
    if (!existsSync(join(stateDir, 'cluster.key'))) {
      run(process.execPath, [
        egress,
        'apply',
        '-f',
        join(root, 'bench', 'e2e', 'cluster.yaml'),
        '--state-dir',
        stateDir,
      ]);
    }
    for (const node of ['node-a', 'node-b']) {
      const log = openSync(join(stateDir, `agent-${node}.log`), 'a');
      const child = spawn(
        process.execPath,
        [
          egress,
          'agent',
          '--node',
          node,
          '--state-dir',
          stateDir,
          '--segment-netns',
          FAB,
          '--bridge',
          BRIDGE,
          '--log-level',
          'warn',
          // Drains stop node-a for up to a second: its peer must not declare it dead meanwhile.
          '--dead-after-ms',
          '5000',
          ...this.o.agentArgs,
        ],
        { detached: true, stdio: ['ignore', 'ignore', log] },
      );
      closeSync(log);
      child.unref();
      if (!child.pid) throw new BenchError(`could not start the agent of ${node}`);
      this.pids.push(child.pid);
    }
    // Ready: both agents report, each hosts its egress IP, each sees the other alive, node-a has both pods.
    const want: Record<string, string> = { 'node-a': '198.18.0.201', 'node-b': '198.18.0.202' };
    const deadline = Date.now() + 20_000;
    for (;;) {
      let ready = true;
      for (const [i, node] of ['node-a', 'node-b'].entries()) {
        if (!alive(this.pids[i]!))
          throw new BenchError(`the agent of ${node} exited: ${tail(join(stateDir, `agent-${node}.log`))}`);
        try {
          const r = JSON.parse(readFileSync(join(stateDir, 'run', `${node}.json`), 'utf8')) as {
            egressIps: string[];
            members: string[];
            pods: unknown[];
          };
          if (!r.egressIps.includes(want[node]!) || r.members.length < 2 || (node === 'node-a' && r.pods.length < 2))
            ready = false;
        } catch {
          ready = false;
        }
      }
      if (ready) break;
      if (Date.now() > deadline)
        throw new BenchError(`the agents did not become ready: ${tail(join(stateDir, 'agent-node-a.log'))}`);
      await sleep(50);
    }
  }

  /** A node's run file (counters, runtime stats). */
  report(node: string): Record<string, unknown> {
    return JSON.parse(readFileSync(join(this.o.stateDir, 'run', `${node}.json`), 'utf8')) as Record<string, unknown>;
  }

  async stop(): Promise<void> {
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    const deadline = Date.now() + 5000;
    while (this.pids.some(alive) && Date.now() < deadline) await sleep(20);
    for (const pid of this.pids) {
      if (!alive(pid)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    this.pids.length = 0;
    for (const ns of [podNetnsName(E_POD_LOCAL), podNetnsName(E_POD_REMOTE)])
      if (listNetns().includes(ns)) ip(['netns', 'del', ns]);
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** Agents of an earlier run on our segment (found in /proc by their arguments), to kill before starting. */
export function strayAgents(): number[] {
  const out: number[] = [];
  for (const d of listProc()) {
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('--segment-netns');
      if (argv.includes('agent') && i >= 0 && argv[i + 1] === FAB) out.push(Number(d));
    } catch {
      /* raced */
    }
  }
  return out;
}

function listProc(): string[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid);
}

/** Remove everything the benchmark may have created (idempotent). */
export async function teardown(): Promise<void> {
  for (const pid of strayAgents()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await sleep(50);
  const have = new Set(listNetns());
  for (const ns of benchNamespaces()) if (have.has(ns)) ip(['netns', 'del', ns]);
}
