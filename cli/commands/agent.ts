/** `egress agent --node NAME`: one node's agent on real devices (root). */
import { isIP } from 'node:net';
import { UsageError, UserError } from '../errors.js';
import { STATE_DIR_OPTION, boolOpt, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { STORE_ENV, stateDirOf, storeOf } from '../state-dir.js';
import { AgentProcess, DEFAULT_METRICS_ADDRESS } from '../agent/node-process.js';
import { logLine } from '../agent/log.js';
import { TUNNEL_AUTH_MODES, type TunnelAuthMode } from '../../engine/agent/node-runner.js';
import { addonAvailable, TUN_IO, uringBuilt, type TunIo } from '../../tun/index.js';

/** The cluster key in hex, for tests only (a key on a command line is visible to every user in ps). */
export const KEY_ENV = 'EGRESS_KEY';

const USAGE = `usage: egress agent --node NAME [--state-dir DIR] [--segment-netns NS --bridge BR]
                    [--metrics-port PORT [--metrics-address ADDR]] [--key-file FILE]
                    [--insecure-state-dir] [--heartbeat-interval-ms MS] [--dead-after-ms MS]
                    [--log-level debug|info|warn|error] [--batch N] [--budget N] [--round N]
                    [--offload [--tunnel-gso auto|off]] [--io rw|uring] [--queue-len N] [--tunnel-auth off|siphash]
                    [--conntrack-max N] [--conntrack-max-per-pod N] [--conntrack-tcp-liberal] [--conn-sync]
                    [--workers N]

Runs the datapath and control plane of one Node on real devices (root): a TAP uplink attached to the segment
(moved into --segment-netns and enslaved to --bridge when given), one TUN per local Pod moved into the Pod's
namespace (egr-<crc32 of namespace/name>, created when missing) as eth0 with the Pod IP, the Pod MTU (uplink
MTU − 50) and a default route. It follows the applied manifests in the state directory, writes this Node's
status and events there, and reports itself in <state-dir>/run/NAME.json every second (read it with
\`egress get counters NAME\`). Logs are JSON lines on stderr. SIGTERM or SIGINT removes everything it created.

Agents find each other with heartbeats (UDP 10351 between node IPs, HMAC-SHA256 with the shared cluster key):
a node silent for --dead-after-ms is dead for the others, which reschedule its egress IPs; the new owner
answers ARP for them and sends one gratuitous ARP. Without a key an agent does not start. The key file must be
owned by the agent's user and readable by nobody else (chmod 600); weak keys (under 16 bytes, printable text,
repeated patterns) are refused. $${KEY_ENV} (hex) overrides the file: for tests only.

  --node NAME            the Node this agent is (a Node of the applied manifests)
  --state-dir DIR        the store (default: $EGRESS_STATE_DIR, else /var/lib/egress-engine as root); it must be
                         owned by the agent's user and writable by nobody else
  --insecure-state-dir   use a state directory (and files) other users own or can write
  --store URL            a shared store: etcd://host:port[,host:port...] (etcds:// for TLS) or dir:PATH
                         (default $EGRESS_STORE); on etcd, --state-dir only holds this host's run file.
                         --etcd-prefix, --etcd-cacert, --etcd-cert, --etcd-key, --etcd-user-file: as in
                         egress apply --help
  --bridge BR            bridge to attach the uplink to: on a host, the bridge that holds the segment's NIC
                         (README "Several hosts"); with --segment-netns, a bridge in that namespace
  --segment-netns NS     namespace of the L2 segment's bridge (the test bed's fabric)
  --metrics-port PORT    serve Prometheus metrics on http://ADDR:PORT/metrics, and /healthz, /readyz
  --metrics-address ADDR the address the metrics listen on (default ${DEFAULT_METRICS_ADDRESS}; 0.0.0.0 for every address)
  --key-file FILE        the cluster key: >= 16 random bytes, raw or hex (default <state-dir>/cluster.key)
  --heartbeat-interval-ms MS   heartbeat period (default 50)
  --dead-after-ms MS     silence after which a node is dead (default 500)
  --log-level LEVEL      debug, info (default), warn or error
  --tunnel-auth MODE     per-packet Geneve authentication between nodes: off (default) or siphash (a 24-byte
                         option with the key id, a 64-bit sequence number and a SipHash-2-4 tag under a subkey of
                         the cluster key; receivers drop forged, tampered and replayed packets, counted by
                         reason). Every node must use the same mode: a mismatch drops all tunnelled traffic
                         between them (counted drop-auth-missing or drop-critical-option). The pod MTU becomes
                         the uplink MTU − 74. Not with --offload. docs/tunnel-auth.md
  --conn-sync            replicate the state of the connections SNATed to each egress IP this node owns to the
                         IP's standby (the node the hash ring would pick without this one), which installs it
                         when it takes the IP over, so established connections survive a failover; on SIGTERM
                         hand every connection to the standbys before leaving. Every node should use it
                         (default off). docs/conntrack-sync.md

Datapath tuning (bench/e2e measures them):
  --batch N              packets per TUN/TAP read or write system-call burst (1-1024, default 64)
  --budget N             bursts read per readiness event of a port before yielding (1-1024, default 16)
  --round N              packets per pipeline round (64-4096, default 256; at least --batch)
  --offload              TUN/TAP offloads: pod TUNs hand over TCP/UDP GSO super-packets of up to 64 KiB with
                         partial checksums (IFF_VNET_HDR + TUNSETOFFLOAD); each goes through the datapath as its
                         first segment and is written whole to a vnet TAP uplink (segmented here when Geneve
                         encapsulates it and the kernel takes no tunnel GSO)
  --tunnel-gso MODE      with --offload: auto (default) asks the uplink TAP for UDP-tunnel GSO (Linux 6.17+): a
                         Geneve super-packet is written and read whole and the kernel segments it, both ways;
                         plain TCP super-packets from the segment are read whole too. When the kernel refuses,
                         logged once and counted (uplink counter tunnel-gso-fallback = 1), encapsulated
                         super-packets are segmented here. off: always segment here
  --io rw|uring          how the TUN/TAP ports move packets: rw (default), a read(2) or write(2) per packet;
                         uring, one io_uring per port (multishot reads, one submit per burst of writes; Linux
                         6.7+, an addon built with liburing). Same counters; not with --offload. The README's
                         performance section has both measured
  --workers N            datapath threads (1-16, default 1): the uplink TAP and every pod TUN get N queues
                         (IFF_MULTI_QUEUE), worker k reads and writes queue k with its own connection tables
                         and the SNAT (and SNAT66) ports p with p % N = k, so the kernel's flow steering brings
                         most replies to the worker that sent the request; the rest, IPv4 and IPv6, are handed
                         to it through a shared ring. ARP and NDP answers are shared between the workers.
                         The main thread is worker 0 and keeps the control plane, membership and the store;
                         counters are summed. Default 1: on the 2-core reference machine 2 workers drain
                         pre-filled queues 1.38x faster (README performance section) but live traffic's
                         senders need the other core. Not with --conn-sync, --offload, --io uring or
                         --tunnel-auth siphash. docs/agent.md "Workers"
  --queue-len N          txqueuelen of the pod TUNs and the uplink TAP: packets the kernel queues for the agent
                         (16-65536, default 4096; the kernel's 500 lose packets in a 2.5 ms pause at 200 kpps)

Connection tracking (docs/conntrack-security.md):
  --conntrack-max N      connections the SNAT table holds (1-67108864, default 65536; Linux nf_conntrack_max);
                         when full, new ones evict an unassured connection or are dropped (snat.drop-ct-full)
  --conntrack-max-per-pod N  live connections per pod address in the SNAT table (by source) and in the table of
                         connections pods accept (by destination); beyond it new ones are dropped and counted
                         (snat/inbound drop-ct-limit, conntrack refused-per-host). Default 0: no limit
  --conntrack-tcp-liberal accept TCP segments outside the tracked window (Linux nf_conntrack_tcp_be_liberal;
                         counted tcp-window-liberal); flag and RST checks still apply. Default: dropped
                         (drop-ct-invalid, conntrack tcp-out-of-window)`;

export const agentCommand: Command = {
  name: 'agent',
  summary: "run one node's agent on TUN/TAP devices (root)",
  usage: USAGE,
  async run(argv) {
    const a = parseCommandArgs(argv, {
      node: { type: 'string' },
      ...STATE_DIR_OPTION,
      'segment-netns': { type: 'string' },
      bridge: { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-address': { type: 'string' },
      'log-level': { type: 'string' },
      'key-file': { type: 'string' },
      'heartbeat-interval-ms': { type: 'string' },
      'dead-after-ms': { type: 'string' },
      batch: { type: 'string' },
      budget: { type: 'string' },
      round: { type: 'string' },
      'queue-len': { type: 'string' },
      offload: { type: 'boolean' },
      io: { type: 'string' },
      'tunnel-gso': { type: 'string' },
      'tunnel-auth': { type: 'string' },
      'conntrack-max': { type: 'string' },
      'conntrack-max-per-pod': { type: 'string' },
      'conntrack-tcp-liberal': { type: 'boolean' },
      'conn-sync': { type: 'boolean' },
      workers: { type: 'string' },
    });
    const count = (flag: string, lo: number, hi: number): number | undefined => {
      const v = stringOpt(a, flag);
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi)
        throw new UsageError(`--${flag} must be a whole number from ${lo} to ${hi}, got "${v}"`);
      return Number(v);
    };
    const batch = count('batch', 1, 1024);
    const budget = count('budget', 1, 1024);
    const round = count('round', 64, 4096);
    const queueLen = count('queue-len', 16, 65536);
    const workers = count('workers', 1, 16);
    if (workers !== undefined && workers > 1) {
      const clash = boolOpt(a, 'conn-sync')
        ? '--conn-sync (connections would have to be replicated from every worker)'
        : boolOpt(a, 'offload')
          ? '--offload (GSO super-packets are not handed between workers)'
          : stringOpt(a, 'io') === 'uring'
            ? '--io uring (the workers drive their queues with read and write)'
            : (stringOpt(a, 'tunnel-auth') ?? 'off') !== 'off'
              ? '--tunnel-auth siphash (one sequence number per sender, not per worker)'
              : null;
      if (clash) throw new UsageError(`--workers ${workers} cannot be combined with ${clash}`);
    }
    const conntrackMax = count('conntrack-max', 1, 1 << 26);
    const conntrackMaxPerPod = count('conntrack-max-per-pod', 0, 1 << 26);
    if (conntrackMaxPerPod !== undefined && conntrackMaxPerPod > (conntrackMax ?? 65536))
      throw new UsageError(
        `--conntrack-max-per-pod (${conntrackMaxPerPod}) must not exceed --conntrack-max (${conntrackMax ?? 65536})`,
      );
    if ((batch ?? 64) > (round ?? 256))
      throw new UsageError(`--round (${round ?? 256}) must be at least --batch (${batch ?? 64})`);
    const ms = (flag: string): number | undefined => {
      const v = stringOpt(a, flag);
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v) || Number(v) < 1)
        throw new UsageError(`--${flag} must be a whole number of milliseconds, got "${v}"`);
      return Number(v);
    };
    const intervalMs = ms('heartbeat-interval-ms');
    const deadAfterMs = ms('dead-after-ms');
    const tunnelAuth = stringOpt(a, 'tunnel-auth') ?? 'off';
    if (!(TUNNEL_AUTH_MODES as readonly string[]).includes(tunnelAuth))
      throw new UsageError(`--tunnel-auth must be ${TUNNEL_AUTH_MODES.join(' or ')}, got "${tunnelAuth}"`);
    if (tunnelAuth !== 'off' && boolOpt(a, 'offload'))
      throw new UsageError(
        '--tunnel-auth cannot be combined with --offload: the segments of an encapsulated super-packet would share one tag and sequence number',
      );
    const io = stringOpt(a, 'io') ?? 'rw';
    if (!(TUN_IO as readonly string[]).includes(io))
      throw new UsageError(`--io must be ${TUN_IO.join(' or ')}, got "${io}"`);
    if (io === 'uring' && boolOpt(a, 'offload'))
      throw new UsageError(
        '--io uring cannot be combined with --offload: the io_uring backend does not take vnet ports',
      );
    if (io === 'uring' && addonAvailable() && !uringBuilt())
      throw new UserError(
        '--io uring: this TUN/TAP addon was built without io_uring (no liburing): install liburing-dev and run `npm run build:tun`, or use --io rw',
      );
    const tunnelGso = stringOpt(a, 'tunnel-gso');
    if (tunnelGso !== undefined && tunnelGso !== 'auto' && tunnelGso !== 'off')
      throw new UsageError(`--tunnel-gso must be auto or off, got "${tunnelGso}"`);
    if (tunnelGso !== undefined && !boolOpt(a, 'offload')) throw new UsageError('--tunnel-gso needs --offload');
    const keyFile = stringOpt(a, 'key-file');
    const keyHex = process.env[KEY_ENV] || undefined;
    if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
    const node = stringOpt(a, 'node');
    if (!node) throw new UsageError('--node is required');
    const mp = stringOpt(a, 'metrics-port');
    if (mp !== undefined && !(/^\d+$/.test(mp) && Number(mp) > 0 && Number(mp) < 65536))
      throw new UsageError(`--metrics-port must be a port number, got "${mp}"`);
    const maddr = stringOpt(a, 'metrics-address');
    if (maddr !== undefined && isIP(maddr) === 0)
      throw new UsageError(`--metrics-address must be an IP address (127.0.0.1, ::1, 0.0.0.0), got "${maddr}"`);
    if (maddr !== undefined && mp === undefined) throw new UsageError('--metrics-address needs --metrics-port');
    const level = stringOpt(a, 'log-level') ?? 'info';
    if (!['debug', 'info', 'warn', 'error'].includes(level))
      throw new UsageError(`--log-level must be debug, info, warn or error`);
    const segmentNetns = stringOpt(a, 'segment-netns');
    const bridge = stringOpt(a, 'bridge');
    if (segmentNetns !== undefined && bridge === undefined)
      throw new UsageError('--segment-netns needs --bridge (the bridge in that namespace)');
    // --store etcd://…: objects, status, events and key from etcd; the run file stays in the local state dir
    const storeUrl = stringOpt(a, 'store') ?? process.env[STORE_ENV] ?? '';
    const { 'state-dir': _sd, ...rest } = a.values;
    const shared = /^etcd(s|\+unix)?:/.test(storeUrl) ? storeOf({ ...a, values: { ...rest, store: storeUrl } }) : null;
    const { dir: stateDir, insecure } = storeUrl.startsWith('dir:')
      ? stateDirOf({ ...a, values: { ...rest, 'state-dir': storeUrl.slice(4) } })
      : stateDirOf(a);
    const store = shared;
    const proc = new AgentProcess({
      node,
      stateDir,
      ...(store ? { store } : {}),
      ...(insecure ? { insecureStateDir: true } : {}),
      ...(segmentNetns !== undefined ? { segmentNetns } : {}),
      ...(bridge !== undefined ? { bridge } : {}),
      ...(mp !== undefined ? { metricsPort: Number(mp) } : {}),
      ...(maddr !== undefined ? { metricsAddress: maddr } : {}),
      ...(keyFile !== undefined ? { keyFile } : {}),
      ...(keyHex !== undefined ? { keyHex } : {}),
      ...(intervalMs !== undefined ? { intervalMs } : {}),
      ...(deadAfterMs !== undefined ? { deadAfterMs } : {}),
      logLevel: level as 'info',
      ...(batch !== undefined ? { batch } : {}),
      ...(budget !== undefined ? { budget } : {}),
      ...(round !== undefined ? { round } : {}),
      ...(boolOpt(a, 'offload') ? { offload: true } : {}),
      ...(io !== 'rw' ? { io: io as TunIo } : {}),
      ...(tunnelGso === 'off' ? { tunnelGso: false } : {}),
      ...(queueLen !== undefined ? { queueLen } : {}),
      tunnelAuth: tunnelAuth as TunnelAuthMode,
      ...(conntrackMax !== undefined ? { conntrackMax } : {}),
      ...(conntrackMaxPerPod ? { conntrackMaxPerPod } : {}),
      ...(boolOpt(a, 'conntrack-tcp-liberal') ? { conntrackTcpLiberal: true } : {}),
      ...(boolOpt(a, 'conn-sync') ? { connSync: true } : {}),
      ...(workers !== undefined && workers > 1 ? { workers } : {}),
    });
    try {
      await proc.start();
    } catch (e) {
      proc.stop();
      if (e instanceof UserError || e instanceof UsageError) throw e;
      const err = e as { code?: string; message?: string };
      throw new UserError(err.message ?? String(e));
    }
    return await new Promise<number>((resolve) => {
      const done = (sig: string) => {
        process.stderr.write(logLine('info', node, `${sig}: shutting down`));
        proc.stop();
        resolve(0);
      };
      process.once('SIGTERM', () => done('SIGTERM'));
      process.once('SIGINT', () => done('SIGINT'));
    });
  },
};
