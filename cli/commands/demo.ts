/**
 * `egress demo`: the reference scenario end to end on this machine (root), as the seed blog post walks through
 * it: prod pods are seen by the external "showip" server as one egress IP, staging pods as the other, other
 * pods as their node's IP; then the node hosting an egress IP fails, the IP moves, the external host's ARP
 * entry follows the gratuitous ARP, and requests succeed again. Everything is torn down at the end.
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

const USAGE = `usage: egress demo [--manifests FILE] [--state-dir DIR] [--etcd] [--keep]

The reference scenario (examples/reference/cluster.yaml) on this machine, in network namespaces (root, Linux
with /dev/net/tun): three Nodes, an ExternalIPPool with the last two free addresses of the segment, Egresses for
the app=web Pods of prod and staging, and the external host showip that answers with the client address it sees.

It prints, for each Pod, the address showip saw (prod → one egress IP, staging → the other, unselected → the
Node's IP) and \`egress get egress\`; then it freezes the agent of the Node hosting prod's egress IP (like
Antrea's e2e), measures how long until requests through that IP succeed again via the new Node, and shows
showip's ARP entry for the IP before and after (the MAC follows the gratuitous ARP). Then it tears everything
down (--keep leaves the test bed up for \`egress testbed …\`). Takes about 2 seconds.

  --manifests FILE   another scenario of the same shape (default examples/reference/cluster.yaml)
  --state-dir DIR    where the test bed keeps its state (default: a new temporary directory)
  --etcd             the agents' store on etcd: a single-member etcd the test bed starts in namespace egr-etcd
                     (\`egress testbed up --etcd\`), removed with the rest
  --keep             leave the test bed up`;

interface Probe {
  ok: boolean;
  body: string;
}

function curl(ns: string, url: string, timeoutS: number): Probe {
  const [file, args] = netdev.netnsCommand(ns, 'curl', ['-s', '-m', String(timeoutS), url]);
  const r = spawnSync(file, args, { encoding: 'utf8' });
  return { ok: r.status === 0, body: (r.stdout ?? '').trim() };
}

function neigh(ns: string, ip: string): string {
  const [file, args] = netdev.netnsCommand(ns, 'ip', ['neigh', 'show', ip]);
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
    });
    if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
    const manifests = stringOpt(a, 'manifests') ?? join(testbed.packageRoot(), 'examples', 'reference', 'cluster.yaml');
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
      return await demo(rec, say, t0);
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

async function demo(rec: testbed.TestbedRecord, say: (s?: string) => void, t0: number): Promise<number> {
  const st = testbed.storeOf(rec);
  try {
    return await demoOn(rec, st, say, t0);
  } finally {
    st.close();
  }
}

async function demoOn(
  rec: testbed.TestbedRecord,
  st: policy.store.Store,
  say: (s?: string) => void,
  t0: number,
): Promise<number> {
  const state = (await st.load()).state;
  const host = rec.hosts[0];
  if (!host) throw new UserError('the scenario has no ExternalHost to send requests to');
  const port =
    /ThreadingHTTPServer\(\("0\.0\.0\.0", (\d+)\)/.exec(
      (state.externalHosts.get(host.name)?.spec.command ?? []).join(' '),
    )?.[1] ?? '8080';
  const hostIp = host.address.split('/')[0]!;
  const url = `http://${hostIp}:${port}/`;
  const pods = [...state.pods.values()]
    .filter((p) => !p.spec.hostNetwork)
    .sort((x, y) =>
      `${x.metadata.namespace}/${x.metadata.name}` < `${y.metadata.namespace}/${y.metadata.name}` ? -1 : 1,
    );
  const key = (p: policy.Pod) => `${p.metadata.namespace}/${p.metadata.name}`;
  const nodeIp = (n: string) => policy.nodeTransportIP(state.nodes.get(n)!)!;

  // Wait until the agents have settled and showip answers (the first pod that gets an answer).
  const first = testbed.netnsOf(rec, key(pods[0]!));
  const deadline = performance.now() + 15_000;
  while (!curl(first, url, 0.5).ok) {
    if (performance.now() > deadline) throw new UserError(`${host.name} (${url}) does not answer`);
    await sleep(100);
  }
  await sleep(300); // let every agent write its status
  const status = policy.mergeStatus(state, await st.readNodeStatuses());
  const oldest = policy.egressesOldestFirst(state);
  const expectFor = (p: policy.Pod): { egress: string; ip: string } => {
    const e = policy.selectingEgresses(state, p, oldest)[0];
    const st = e ? status.get(e.metadata.name) : undefined;
    if (e && st?.egressIP && st.egressNode) return { egress: e.metadata.name, ip: st.egressIP };
    return { egress: '-', ip: nodeIp(p.spec.nodeName!) };
  };

  say(`\n1. ${host.name} (${url}) answers with the client address it sees:\n`);
  const rows: string[][] = [];
  let wrong = 0;
  for (const p of pods) {
    const r = curl(testbed.netnsOf(rec, key(p)), url, 2);
    const exp = expectFor(p);
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

  say('\n2. egress get egress\n');
  await showEgresses(rec);

  // 3. Failover of the node hosting the first Egress's IP, seen from a pod on another node.
  const target = oldest.find((e) => status.get(e.metadata.name)?.egressNode);
  if (!target) throw new UserError('no Egress has an egress IP on a Node: nothing to fail over');
  const egressIp = status.get(target.metadata.name)!.egressIP!;
  const victim = status.get(target.metadata.name)!.egressNode!;
  const client = pods.find((p) => p.spec.nodeName !== victim && expectFor(p).egress === target.metadata.name);
  if (!client) throw new UserError(`no pod of ${target.metadata.name} runs on a node other than ${victim}`);
  const clientNs = testbed.netnsOf(rec, key(client));
  const before = neigh(host.netns, egressIp);
  say(`\n3. failover: ${target.metadata.name}'s IP ${egressIp} is on ${victim}; freezing its agent (SIGSTOP)`);
  say(`   ${host.name}'s ARP entry for ${egressIp} before: ${before}`);
  testbed.signalNode(rec, victim, 'SIGSTOP');
  const tFail = performance.now();
  let tBack = -1;
  let attempts = 0;
  while (performance.now() - tFail < 20_000) {
    attempts++;
    const r = curl(clientNs, url, 0.25);
    if (r.ok && r.body === egressIp) {
      tBack = performance.now();
      break;
    }
  }
  if (tBack < 0) {
    testbed.signalNode(rec, victim, 'SIGCONT');
    throw new UserError(`requests through ${egressIp} did not succeed again within 20 s`);
  }
  await sleep(200);
  const after = neigh(host.netns, egressIp);
  const now = policy.mergeStatus(state, await st.readNodeStatuses()).get(target.metadata.name);
  say(
    `   requests from ${key(client)} through ${egressIp} succeeded again after ${Math.round(tBack - tFail)} ms (${attempts} attempts), now via ${now?.egressNode || '?'}`,
  );
  say(
    `   ${host.name}'s ARP entry for ${egressIp} after:  ${after}${after !== before ? ' (the MAC followed the gratuitous ARP)' : ' (unchanged!)'}`,
  );
  say('\n   egress get egress\n');
  await showEgresses(rec);
  testbed.signalNode(rec, victim, 'SIGCONT');
  say(`\n4. ${victim} resumed; the demo so far took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (wrong > 0 || after === before) {
    say(
      `\n${wrong} pod(s) were seen with an unexpected address${after === before ? ', and the ARP entry did not move' : ''}`,
    );
    return 1;
  }
  return 0;
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
