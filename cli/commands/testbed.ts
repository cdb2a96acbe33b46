/** `egress testbed up|status|exec|fail|restore|capture|down`: the cluster of the manifests in network namespaces. */
import { spawn } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { testbed, netdev, TunError } from '../../tun/index.js';
import * as policy from '../../engine/policy/index.js';
import { STATE_DIR_OPTION, boolOpt, parseCommandArgs, stringOpt } from '../args.js';
import type { ParsedArgs } from '../args.js';
import type { Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { table } from '../output.js';
import { resolveStateDir, storeOf } from '../state-dir.js';

const USAGE = `usage: egress testbed <subcommand> [--state-dir DIR] …

Builds the cluster of a manifest set in network namespaces on this machine (root): a fabric namespace with a
bridge (the L2 segment), one namespace per Pod, one per ExternalHost with its own kernel stack (its
spec.command started inside), and one \`egress agent\` per Node. Addresses must be in 198.18.0.0/15 or
169.254.0.0/16; every namespace and link is named egr-…; the host's routes are never touched.

  up --manifests FILE [--metrics-port-base P] [--conn-sync] [--etcd | --store etcd://H:P[,H:P…] [--etcd-prefix P] …]
                             build it and apply the manifests to the store (a test bed at a time); with P, the
                             agents serve Prometheus metrics on ports P, P+1, … (nodes in name order);
                             --conn-sync starts the agents with --conn-sync (docs/conntrack-sync.md).
                             The store is the state directory, or with --store an etcd you run (its prefix is
                             emptied first; --etcd-prefix, --etcd-cacert, --etcd-cert/--etcd-key and
                             --etcd-user-file go to the agents too), or with --etcd a single-member etcd the test
                             bed starts in namespace egr-etcd, on a Unix socket in <state-dir>/etcd/ (no TCP port;
                             \`testbed status\` prints its etcd+unix:// URL), removed by \`down\`
  status [--json]            the store, nodes (agent pid, running/frozen, egress IPs, pods), external hosts
  exec NAME -- CMD [ARG…]    run CMD in a member's namespace: NAME is namespace/pod or an ExternalHost name
  fail NODE                  freeze the node's agent (SIGSTOP), as Antrea's e2e does
  restore NODE               resume it (SIGCONT)
  restart NODE               stop the node's agent (SIGTERM; with --conn-sync it hands its connections over and
                             leaves a restart snapshot) and start it again with the same flags
  capture --out FILE [--count N] [--duration S] [--filter BPF]
                             record the segment (every frame on the bridge) with libpcap until N frames, S
                             seconds or Ctrl-C
  down                       remove everything (agents, host commands, namespaces); idempotent, works after a crash

The state directory is created 0700 and must not be writable by other users (--insecure-state-dir skips the
check, for the agents too); the test bed puts a fresh cluster key in it.

Change the running cluster with \`egress apply|delete --state-dir DIR\` (on etcd: \`--store URL\`, as \`testbed
status\` prints it): the agents follow the store.`;

const ETCD_FLAGS = ['etcd-prefix', 'etcd-cacert', 'etcd-cert', 'etcd-key', 'etcd-user-file'] as const;

async function sub(name: string, argv: string[]): Promise<number> {
  switch (name) {
    case 'up': {
      const a = parseCommandArgs(argv, {
        manifests: { type: 'string' },
        ...STATE_DIR_OPTION,
        quiet: { type: 'boolean' },
        'metrics-port-base': { type: 'string' },
        etcd: { type: 'boolean' },
        'conn-sync': { type: 'boolean' },
      });
      const storeUrl = stringOpt(a, 'store');
      const etcd = boolOpt(a, 'etcd');
      if (storeUrl !== undefined && etcd)
        throw new UsageError('--etcd starts an etcd for the test bed; --store names one you run: give one');
      if (storeUrl !== undefined && !/^etcd(s|\+unix)?:\/\//.test(storeUrl))
        throw new UsageError(
          `testbed up --store takes an etcd URL (the state directory is --state-dir), got "${storeUrl}"`,
        );
      let store: { store: policy.store.EtcdStore; agentArgs: string[] } | undefined;
      if (storeUrl !== undefined) {
        const { 'state-dir': _sd, ...rest } = a.values;
        const st = storeOf({ ...a, values: rest }) as policy.store.EtcdStore;
        const agentArgs = ['--store', storeUrl];
        for (const f of ETCD_FLAGS) {
          const v = stringOpt(a, f);
          if (v !== undefined) agentArgs.push(`--${f}`, f === 'etcd-prefix' ? v : resolvePath(v));
        }
        store = { store: st, agentArgs };
      }
      const mp = stringOpt(a, 'metrics-port-base');
      if (mp !== undefined && !(/^\d+$/.test(mp) && Number(mp) >= 1024 && Number(mp) < 65000))
        throw new UsageError(`--metrics-port-base must be a port number from 1024 to 64999, got "${mp}"`);
      const manifests = stringOpt(a, 'manifests');
      if (!manifests) throw new UsageError('up needs --manifests FILE');
      const stateDir = resolveStateDir(stringOpt(a, 'state-dir'));
      const quiet = boolOpt(a, 'quiet');
      const t0 = Date.now();
      const rec = await testbed.up({
        manifests,
        stateDir,
        insecure: boolOpt(a, 'insecure-state-dir'),
        log: quiet ? () => {} : (l) => console.log(l),
        ...(mp !== undefined ? { metricsPortBase: Number(mp) } : {}),
        ...(store ? { store } : {}),
        ...(etcd ? { etcd: true } : {}),
        ...(boolOpt(a, 'conn-sync') ? { agentArgs: ['--conn-sync'] } : {}),
      });
      if (!quiet)
        console.log(
          `test bed up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${rec.nodes.length} nodes, ${rec.hosts.length} hosts); state ${stateDir}${rec.store ? `; store ${rec.store}` : ''}`,
        );
      return 0;
    }
    case 'down': {
      const a = parseCommandArgs(argv, { ...STATE_DIR_OPTION });
      const r = await testbed.down({
        stateDir: resolveStateDir(stringOpt(a, 'state-dir')),
        insecure: boolOpt(a, 'insecure-state-dir'),
        log: (l) => console.error(l),
      });
      console.log(`test bed down: ${r.processes} processes stopped, ${r.namespaces.length} namespaces removed`);
      return 0;
    }
    case 'status': {
      const a = parseCommandArgs(argv, { ...STATE_DIR_OPTION, json: { type: 'boolean' } });
      const rec = need(a);
      const s = testbed.status(rec);
      if (boolOpt(a, 'json')) {
        console.log(JSON.stringify(s, null, 2));
        return 0;
      }
      console.log(`store: ${s.store}\n`);
      console.log(
        table(
          ['NODE', 'AGENT', 'PID', 'EGRESS IPS', 'PODS', 'SEES ALIVE'],
          s.nodes.map((n) => [
            n.name,
            n.agent,
            String(n.pid),
            [...n.egressIps, ...n.egressIps6].join(',') || '-',
            n.pods.join(',') || '-',
            n.members.join(',') || '-',
          ]),
        ),
      );
      if (s.hosts.length)
        console.log(
          '\n' +
            table(
              ['HOST', 'ADDRESS', 'NAMESPACE', 'COMMAND'],
              s.hosts.map((h) => [
                h.name,
                h.ipv6Address ? `${h.address},${h.ipv6Address}` : h.address,
                h.netns,
                h.command,
              ]),
            ),
        );
      return 0;
    }
    case 'exec': {
      const dd = argv.indexOf('--');
      const before = dd < 0 ? argv : argv.slice(0, dd);
      const cmd = dd < 0 ? [] : argv.slice(dd + 1);
      const a = parseCommandArgs(before, { ...STATE_DIR_OPTION });
      if (a.positionals.length !== 1 || cmd.length === 0) throw new UsageError('exec NAME -- CMD [ARG…]');
      const rec = need(a);
      return testbed.exec(rec, a.positionals[0]!, cmd);
    }
    case 'restart': {
      const a = parseCommandArgs(argv, { ...STATE_DIR_OPTION });
      if (a.positionals.length !== 1) throw new UsageError('restart NODE');
      const rec = need(a);
      const node = a.positionals[0]!;
      const r = await testbed.restartNode(rec, node, { insecure: boolOpt(a, 'insecure-state-dir') });
      console.log(`${node}: agent ${r.old} stopped, agent ${r.pid} started`);
      return 0;
    }
    case 'fail':
    case 'restore': {
      const a = parseCommandArgs(argv, { ...STATE_DIR_OPTION });
      if (a.positionals.length !== 1) throw new UsageError(`${name} NODE`);
      const rec = need(a);
      const node = a.positionals[0]!;
      const pid = testbed.signalNode(rec, node, name === 'fail' ? 'SIGSTOP' : 'SIGCONT');
      console.log(`${node}: agent ${pid} ${name === 'fail' ? 'frozen' : 'resumed'}`);
      return 0;
    }
    case 'capture': {
      const a = parseCommandArgs(argv, {
        ...STATE_DIR_OPTION,
        out: { type: 'string' },
        count: { type: 'string' },
        duration: { type: 'string' },
        filter: { type: 'string' },
        here: { type: 'boolean' },
      });
      const out = stringOpt(a, 'out');
      if (!out) throw new UsageError('capture needs --out FILE');
      const count = num(stringOpt(a, 'count'), '--count');
      const duration = num(stringOpt(a, 'duration'), '--duration');
      const filter = stringOpt(a, 'filter');
      if (boolOpt(a, 'here')) {
        const n = await testbed.captureHere({
          out,
          ...(filter !== undefined ? { filter } : {}),
          ...(count !== undefined ? { count } : {}),
          ...(duration !== undefined ? { durationS: duration } : {}),
          onReady: () => console.error('capturing'),
        });
        console.log(`${n} frames written to ${out}`);
        return 0;
      }
      const rec = need(a);
      const [file, args] = testbed.egressArgv(['testbed', 'capture', '--here', ...argv.filter((x) => x !== '--here')]);
      const [ipFile, ipArgs] = netdev.netnsCommand(rec.fabric, file, args);
      const child = spawn(ipFile, ipArgs, { stdio: 'inherit' });
      const fwd = (sig: NodeJS.Signals) => child.kill(sig);
      process.on('SIGINT', fwd);
      process.on('SIGTERM', fwd);
      const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
      process.off('SIGINT', fwd);
      process.off('SIGTERM', fwd);
      return code;
    }
    default:
      throw new UsageError(`unknown subcommand "${name}"`);
  }
}

function num(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new UsageError(`${flag} must be a positive number, got "${v}"`);
  return Number(v);
}

function need(a: ParsedArgs): testbed.TestbedRecord {
  const stateDir = resolveStateDir(stringOpt(a, 'state-dir'));
  const rec = testbed.readRecord(stateDir, { insecure: boolOpt(a, 'insecure-state-dir') });
  if (!rec)
    throw new UserError(`no test bed is up for state directory ${stateDir} (egress testbed up --manifests FILE)`);
  return rec;
}

export const testbedCommand: Command = {
  name: 'testbed',
  summary: 'build the cluster in network namespaces, run commands in it, fail nodes, capture (root)',
  usage: USAGE,
  async run(argv) {
    const [name, ...rest] = argv;
    if (!name) throw new UsageError('which subcommand? up, status, exec, fail, restore, restart, capture or down');
    try {
      return await sub(name, rest);
    } catch (e) {
      if (e instanceof testbed.TestbedError || e instanceof testbed.CaptureError || e instanceof TunError)
        throw new UserError(e.message);
      throw e;
    }
  },
};
