/**
 * `egress demo`: the reference scenario end to end on this machine (root), as the seed blog post walks through
 * it: prod pods are seen by the external "showip" server as one egress IP, staging pods as the other, other
 * pods as their node's IP; then the node hosting an egress IP fails, the IP moves, the external host's ARP
 * entry follows the gratuitous ARP, and requests succeed again. Everything is torn down at the end. With `--ipv6` the
 * dual-stack scenario (examples/dual-stack/): each pod is probed over both families, and the failover is the IPv6
 * egress IP's, the neighbour entry following the unsolicited Neighbor Advertisement.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as policy from '../../engine/policy/index.js';
import { netdev, testbed } from '../../tun/index.js';
import { boolOpt, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { table } from '../output.js';
import { listObjects } from '../listing.js';
import { storeOf } from '../state-dir.js';

const USAGE = `usage: egress demo [--ipv6] [--manifests FILE] [--state-dir DIR] [--etcd] [--keep]

The reference scenario (examples/reference/cluster.yaml) on this machine, in network namespaces (root, Linux
with /dev/net/tun): three Nodes, an ExternalIPPool with the last two free addresses of the segment, Egresses for
the app=web Pods of prod and staging, and the external host showip that answers with the client address it sees.

It prints, for each Pod, the address showip saw (prod → one egress IP, staging → the other, unselected → the
Node's IP) and \`egress get egress\`; then it freezes the agent of the Node hosting prod's egress IP (like
Antrea's e2e), measures how long until requests through that IP succeed again via the new Node, and shows
showip's ARP entry for the IP before and after (the MAC follows the gratuitous ARP). Then it tears everything
down (--keep leaves the test bed up for \`egress testbed …\`). Takes about 2 seconds.

  --ipv6             the dual-stack scenario (examples/dual-stack/cluster.yaml): the same cluster with IPv6
                     addresses from 2001:2::/48, an IPv6 pool and an IPv6 Egress beside each IPv4 one; every
                     Pod is probed over IPv4 and IPv6 (curl -6 to showip's IPv6 address), and the failover is
                     of prod's IPv6 egress IP: showip's neighbour entry (ip -6 neigh) follows the unsolicited
                     Neighbor Advertisement of the new Node, and IPv4 is checked again after it
  --manifests FILE   another scenario of the same shape (default examples/reference/cluster.yaml, with --ipv6
                     examples/dual-stack/cluster.yaml)
  --state-dir DIR    where the test bed keeps its state (default: a new temporary directory)
  --etcd             the agents' store on etcd: a single-member etcd the test bed starts in namespace egr-etcd
                     (\`egress testbed up --etcd\`), removed with the rest
  --keep             leave the test bed up`;

interface Probe {
  ok: boolean;
  body: string;
}

function curl(ns: string, url: string, timeoutS: number, family: 4 | 6 = 4): Probe {
  const [file, args] = netdev.netnsCommand(ns, 'curl', [`-${family}`, '-s', '-m', String(timeoutS), url]);
  const r = spawnSync(file, args, { encoding: 'utf8' });
  return { ok: r.status === 0, body: (r.stdout ?? '').trim() };
}

function neigh(ns: string, ip: string, family: 4 | 6 = 4): string {
  const [file, args] = netdev.netnsCommand(ns, 'ip', [`-${family}`, 'neigh', 'show', ip]);
  const r = spawnSync(file, args, { encoding: 'utf8' });
  const line = (r.stdout ?? '').trim();
  const m = /lladdr (\S+)/.exec(line);
  return m ? m[1]! : line || '(no entry)';
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the reference scenario end to end: egress IPs per namespace, then failover (root, ~2 s)',
  usage: USAGE,
  async run(argv) {
    const a = parseCommandArgs(argv, {
      manifests: { type: 'string' },
      'state-dir': { type: 'string' },
      keep: { type: 'boolean' },
      etcd: { type: 'boolean' },
      ipv6: { type: 'boolean' },
    });
    if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
    const ipv6 = boolOpt(a, 'ipv6');
    const manifests =
      stringOpt(a, 'manifests') ??
      join(testbed.packageRoot(), 'examples', ipv6 ? 'dual-stack' : 'reference', 'cluster.yaml');
    try {
      testbed.preflight();
    } catch (e) {
      throw new UserError(`${(e as Error).message} (the demo builds a cluster in network namespaces)`);
    }
    const given = stringOpt(a, 'state-dir');
    const stateDir = given ?? mkdtempSync(join(tmpdir(), 'egress-demo-'));
    const keep = boolOpt(a, 'keep');
    const t0 = performance.now();
    const say = (s = '') => console.log(s);
    let rec: testbed.TestbedRecord;
    try {
      rec = await testbed.up({
        manifests,
        stateDir,
        log: (l) => say(`  ${l}`),
        ...(boolOpt(a, 'etcd') ? { etcd: true } : {}),
      });
    } catch (e) {
      if (!given) rmSync(stateDir, { recursive: true, force: true });
      throw new UserError((e as Error).message);
    }
    try {
      return await demo(rec, say, t0, ipv6);
    } finally {
      if (keep)
        say(
          `\ntest bed left up: egress testbed status --state-dir ${stateDir}; egress testbed down --state-dir ${stateDir}`,
        );
      else {
        await testbed.down({ stateDir });
        if (!given) rmSync(stateDir, { recursive: true, force: true });
        say(`\ntorn down; the demo took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
    }
  },
};

async function demo(rec: testbed.TestbedRecord, say: (s?: string) => void, t0: number, ipv6: boolean): Promise<number> {
  const st = testbed.storeOf(rec);
  try {
    return await demoOn(rec, st, say, t0, ipv6);
  } finally {
    st.close();
  }
}

async function demoOn(
  rec: testbed.TestbedRecord,
  st: policy.store.Store,
  say: (s?: string) => void,
  t0: number,
  ipv6: boolean,
): Promise<number> {
  const state = (await st.load()).state;
  const host = rec.hosts[0];
  if (!host) throw new UserError('the scenario has no ExternalHost to send requests to');
  const hostSpec = state.externalHosts.get(host.name)?.spec;
  const port = /ThreadingHTTPServer\(\("0\.0\.0\.0", (\d+)\)/.exec((hostSpec?.command ?? []).join(' '))?.[1] ?? '8080';
  const hostIp = host.address.split('/')[0]!;
  const url = `http://${hostIp}:${port}/`;
  const hostIp6 = hostSpec?.ipv6Address?.split('/')[0];
  if (ipv6 && !hostIp6)
    throw new UserError(`--ipv6: ExternalHost ${host.name} has no spec.ipv6Address (examples/dual-stack/ has one)`);
  const url6 = `http://[${hostIp6}]:${port}/`;
  const pods = [...state.pods.values()]
    .filter((p) => !p.spec.hostNetwork)
    .sort((x, y) =>
      `${x.metadata.namespace}/${x.metadata.name}` < `${y.metadata.namespace}/${y.metadata.name}` ? -1 : 1,
    );
  const key = (p: policy.Pod) => `${p.metadata.namespace}/${p.metadata.name}`;
  const nodeIp = (n: string, family: 4 | 6) =>
    family === 4 ? policy.nodeTransportIP(state.nodes.get(n)!)! : (policy.nodeIPv6(state.nodes.get(n)!) ?? '-');
  const urlOf = (family: 4 | 6) => (family === 4 ? url : url6);

  // Wait until the agents have settled and showip answers (the first pod that gets an answer).
  const first = testbed.netnsOf(rec, key(pods[0]!));
  const deadline = performance.now() + 15_000;
  for (const family of ipv6 ? ([4, 6] as const) : ([4] as const))
    while (!curl(first, urlOf(family), 0.5, family).ok) {
      if (performance.now() > deadline) throw new UserError(`${host.name} (${urlOf(family)}) does not answer`);
      await sleep(100);
    }
  await sleep(300); // let every agent write its status
  const status = policy.mergeStatus(state, await st.readNodeStatuses());
  const oldest = policy.egressesOldestFirst(state);
  const familyOf = (e: policy.Egress): 4 | 6 | null => {
    const ip = e.spec.egressIP ?? status.get(e.metadata.name)?.egressIP;
    return ip ? (ip.includes(':') ? 6 : 4) : null;
  };
  /**
   * The Egress a pod's traffic of `family` uses (the oldest selecting one of that family, or without an IP yet)
   * and the IP showip sees.
   */
  const expectFor = (p: policy.Pod, family: 4 | 6): { egress: string; ip: string } => {
    const e = policy.selectingEgresses(state, p, oldest).find((x) => (familyOf(x) ?? family) === family); // (one without an IP: the node IP)
    const es = e ? status.get(e.metadata.name) : undefined;
    if (e && es?.egressIP && es.egressNode) return { egress: e.metadata.name, ip: es.egressIP };
    return { egress: '-', ip: nodeIp(p.spec.nodeName!, family) };
  };

  let wrong = 0;
  const probeAll = (family: 4 | 6) => {
    const rows: string[][] = [];
    for (const p of pods) {
      const r = curl(testbed.netnsOf(rec, key(p)), urlOf(family), 2, family);
      const exp = expectFor(p, family);
      const okay = r.ok && r.body === exp.ip;
      if (!okay) wrong++;
      rows.push([
        key(p),
        p.spec.nodeName!,
        exp.egress,
        r.ok ? r.body : '(no answer)',
        okay ? 'ok' : `expected ${exp.ip}`,
      ]);
    }
    say(table(['POD', 'NODE', 'EGRESS', 'SHOWIP SAW', ''], rows));
  };
  say(`\n1. ${host.name} (${url}) answers with the client address it sees:\n`);
  probeAll(4);
  if (ipv6) {
    say(`\n   and over IPv6 (curl -6 ${url6}):\n`);
    probeAll(6);
  }

  say('\n2. egress get egress\n');
  await showEgresses(rec);

  // 3. Failover of the node hosting the first Egress's IP (with --ipv6: the first IPv6 Egress's), seen from a pod
  // on another node.
  const family: 4 | 6 = ipv6 ? 6 : 4;
  const target = oldest.find((e) => familyOf(e) === family && status.get(e.metadata.name)?.egressNode);
  if (!target) throw new UserError('no Egress has an egress IP on a Node: nothing to fail over');
  const egressIp = status.get(target.metadata.name)!.egressIP!;
  const victim = status.get(target.metadata.name)!.egressNode!;
  const client = pods.find((p) => p.spec.nodeName !== victim && expectFor(p, family).egress === target.metadata.name);
  if (!client) throw new UserError(`no pod of ${target.metadata.name} runs on a node other than ${victim}`);
  const clientNs = testbed.netnsOf(rec, key(client));
  const entry = family === 4 ? 'ARP entry' : 'neighbour entry (ip -6 neigh)';
  const before = neigh(host.netns, egressIp, family);
  say(`\n3. failover: ${target.metadata.name}'s IP ${egressIp} is on ${victim}; freezing its agent (SIGSTOP)`);
  say(`   ${host.name}'s ${entry} for ${egressIp} before: ${before}`);
  testbed.signalNode(rec, victim, 'SIGSTOP');
  const back = await probeUntil(clientNs, urlOf(family), family, egressIp);
  if (back === null) {
    testbed.signalNode(rec, victim, 'SIGCONT');
    throw new UserError(`requests through ${egressIp} did not succeed again within 20 s`);
  }
  await sleep(200);
  const after = neigh(host.netns, egressIp, family);
  const now = policy.mergeStatus(state, await st.readNodeStatuses()).get(target.metadata.name);
  say(
    `   requests from ${key(client)} through ${egressIp} succeeded again after ${back.ms} ms (${back.attempts} attempts), now via ${now?.egressNode || '?'}`,
  );
  const followed = family === 4 ? 'the gratuitous ARP' : 'the unsolicited Neighbor Advertisement';
  say(
    `   ${host.name}'s ${entry} for ${egressIp} after:  ${after}${after !== before ? ` (the MAC followed ${followed})` : ' (unchanged!)'}`,
  );
  let v4Broken = false;
  if (ipv6) {
    // IPv4 of the same pod, during the same failover: its own egress IP (moved too if it was on the frozen node).
    const exp4 = expectFor(client, 4);
    const r4 = await probeUntil(clientNs, url, 4, exp4.ip);
    v4Broken = r4 === null;
    say(
      `   over IPv4, ${key(client)} is ${v4Broken ? 'NOT ' : ''}seen as ${exp4.ip}${exp4.egress === '-' ? '' : ` (${exp4.egress})`}${r4 ? ` (after ${r4.ms} ms)` : ''}`,
    );
  }
  say('\n   egress get egress\n');
  await showEgresses(rec);
  testbed.signalNode(rec, victim, 'SIGCONT');
  say(`\n4. ${victim} resumed; the demo so far took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (wrong > 0 || after === before || v4Broken) {
    say(
      `\n${wrong} probe(s) saw an unexpected address${after === before ? `, and the ${entry} did not move` : ''}${v4Broken ? ', and IPv4 did not come back' : ''}`,
    );
    return 1;
  }
  return 0;
}

/** Probe `url` from `ns` every 250 ms until showip sees `ip` (20 s at most): the time and attempts, or null. */
async function probeUntil(
  ns: string,
  url: string,
  family: 4 | 6,
  ip: string,
): Promise<{ ms: number; attempts: number } | null> {
  const t = performance.now();
  let attempts = 0;
  while (performance.now() - t < 20_000) {
    attempts++;
    const r = curl(ns, url, 0.25, family);
    if (r.ok && r.body === ip) return { ms: Math.round(performance.now() - t), attempts };
  }
  return null;
}

/** `egress get egress` of the test bed's store (its state directory or its etcd). */
async function showEgresses(rec: testbed.TestbedRecord): Promise<void> {
  const st = storeOf({
    values: rec.store ? { store: rec.store, 'etcd-prefix': rec.etcdPrefix } : { 'state-dir': rec.stateDir },
    positionals: [],
  });
  try {
    await listObjects(st, 'egress', [], { format: { kind: 'table' } }, new Date());
  } finally {
    st.close();
  }
}
