/** `egress get`: list stored objects with kubectl's columns, or print them as YAML/JSON. */
import * as policy from '../../engine/policy/index.js';
import { STATE_DIR_OPTION, STORE_USAGE, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { age, listOf, table, toJSON, toYAML } from '../output.js';
import { stateDirOf, storeOf } from '../state-dir.js';
import { kindOf } from './delete.js';
import { pipelineDot, printCounters } from './get-agent.js';

const usage = `usage: egress get KIND [NAME...] [-o wide|yaml|json|name] [-n NAMESPACE] [--state-dir DIR]
       egress get events
       egress get view NODE
       egress get counters NODE [-o json]
       egress get pipeline

List objects of the state directory.

KIND              columns
  egress (eg)     NAME EGRESSIP AGE NODE              (wide: + EXTERNALIPPOOL PODS CONDITIONS)
  externalippool  NAME TOTAL USED AGE                 (wide: + RANGES NODESELECTOR)
  (eip)
  node (no)       NAME INTERNAL-IP POD-CIDR AGE       (wide: + EGRESS-IPS MAX-EGRESS-IPS)
  pod (po)        NAMESPACE NAME IP NODE AGE          (wide: + EGRESS EGRESSIP EGRESSNODE)
  namespace (ns)  NAME STATUS AGE
  externalhost    NAME ADDRESS AGE                    (wide: + COMMAND)
  events (ev)     LAST SEEN TYPE REASON OBJECT MESSAGE
  view NODE       the compiled datapath view of a Node (-o json for all of it)
  counters NODE   what the running agent of NODE reports every second: packets per stage exit, drops by
                  reason, ports, conntrack, SNAT port use, neighbours (-o json: the whole report)
  pipeline        the datapath graph of a node as Graphviz dot (pipe it to \`dot -Tsvg\`)

An Egress's status (EGRESSIP, NODE, conditions) is what the Node agents wrote in the state directory. Before any
agent has reported, it is the control plane's prediction with every Node alive, and a note on stderr says so
(in -o yaml/json: annotation egress-engine.io/status-source: predicted).

options:
  -o, --output FORMAT   wide, yaml, json or name
  -n, --namespace NS    only Pods of this namespace
      --state-dir DIR   state directory (see egress apply --help)
      --insecure-state-dir
                        use a state directory other users own or can write
${STORE_USAGE}
  -h, --help            this text

A Node status file or events line that is not valid is skipped with a warning; an invalid objects.json is an
error (one line).`;

const STATUS_SOURCE_ANNOTATION = 'egress-engine.io/status-source';

interface Observed {
  state: policy.ClusterState;
  statuses: Map<string, policy.EgressStatus>;
  source: 'agents' | 'predicted';
  files: policy.NodeStatusFile[];
}

/** Store reads that warn (one line on stderr) about each status file or events line they skip. */
function warnings(): policy.store.StoreHealth {
  return new policy.store.StoreHealth((p) => console.error(`Warning: ${p.message}: skipped`));
}

async function observe(st: policy.store.Store, now: Date, health: policy.store.StoreHealth): Promise<Observed> {
  const { state } = await st.load();
  const files = (await st.readNodeStatuses(health)).filter((f) => state.nodes.has(f.node));
  if (files.length > 0) return { state, statuses: policy.mergeStatus(state, files), source: 'agents', files };
  return { state, statuses: policy.predictStatus(state, now), source: 'predicted', files };
}

/** Placements as the merged status shows them (an Egress with an IP and a Node is placed). */
function placementsFromStatus(o: Observed): Map<string, policy.Placement> {
  const m = new Map<string, policy.Placement>();
  for (const [name, st] of o.statuses) {
    m.set(
      name,
      st.egressIP && st.egressNode
        ? { ok: true, ip: st.egressIP, node: st.egressNode, ha: !!o.state.egresses.get(name)?.spec.externalIPPool }
        : {
            ok: false,
            reason: st.conditions?.find((c) => c.type === 'IPAssigned')?.message ?? 'not assigned',
            scheduleError: null,
          },
    );
  }
  return m;
}

function egressWithStatus(o: Observed, e: policy.Egress): policy.Egress {
  return {
    ...e,
    metadata: { ...e.metadata, annotations: { ...e.metadata.annotations, [STATUS_SOURCE_ANNOTATION]: o.source } },
    status: o.statuses.get(e.metadata.name) ?? { egressNode: '', egressIP: '' },
  };
}

/** The object as printed by -o yaml/json: empty label/annotation maps are omitted, like the API server does. */
function printable(obj: policy.AnyObject): unknown {
  const meta: Record<string, unknown> = { ...obj.metadata };
  if (Object.keys(obj.metadata.labels).length === 0) delete meta['labels'];
  if (Object.keys(obj.metadata.annotations).length === 0) delete meta['annotations'];
  return { ...obj, metadata: meta };
}

function conditionsText(st: policy.EgressStatus | undefined): string {
  return (st?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(',');
}

function viewJSON(v: policy.PolicyView): unknown {
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) => {
      if (x instanceof Map) return [...x.entries()];
      if (x instanceof Set) return [...x];
      if (ArrayBuffer.isView(x)) return [...(x as Int32Array)];
      return x;
    }),
  );
}

export const get: Command = {
  name: 'get',
  summary: 'list Egresses, ExternalIPPools, Nodes, Pods, events... (kubectl columns, -o wide|yaml|json)',
  usage,
  async run(argv) {
    const args = parseCommandArgs(argv, {
      output: { type: 'string', short: 'o' },
      namespace: { type: 'string', short: 'n' },
      ...STATE_DIR_OPTION,
    });
    const [word, ...names] = args.positionals;
    if (!word) throw new UsageError('KIND is required (egress, externalippool, nodes, pods, events...)');
    const output = stringOpt(args, 'output') ?? '';
    if (!['', 'wide', 'yaml', 'json', 'name'].includes(output))
      throw new UsageError(`unknown output format "${output}" (wide, yaml, json, name)`);
    const nsFilter = stringOpt(args, 'namespace');
    const now = new Date();
    if (word.toLowerCase() === 'counters') {
      // run files are local to the host the agent runs on: always the state directory
      const { dir, insecure } = stateDirOf(args);
      return printCounters(dir, names[0], output, insecure);
    }
    const st = storeOf(args);
    try {
      return await getFrom(st, word, names, output, nsFilter, now);
    } finally {
      st.close();
    }
  },
};

async function getFrom(
  st: policy.store.Store,
  word: string,
  names: string[],
  output: string,
  nsFilter: string | undefined,
  now: Date,
): Promise<number> {
  {
    const health = warnings();

    if (['events', 'event', 'ev'].includes(word.toLowerCase())) {
      const events = (await st.readEvents(health)).sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
      if (output === 'yaml' || output === 'json') {
        const items = events.map((e) => ({ ...e }));
        console.log(output === 'yaml' ? toYAML(listOf(items)) : toJSON(listOf(items)));
        return 0;
      }
      if (events.length === 0) {
        console.error('No events found.');
        return 0;
      }
      const rows = events.map((e) => [age(e.time, now), e.type, e.reason, `egress/${e.egress}`, e.message]);
      console.log(table(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'], rows));
      return 0;
    }

    if (word.toLowerCase() === 'pipeline') {
      process.stdout.write(pipelineDot());
      return 0;
    }

    const o = await observe(st, now, health);
    if (word.toLowerCase() === 'view') {
      const node = names[0];
      if (!node || names.length > 1) throw new UsageError('egress get view NODE');
      if (!o.state.nodes.has(node)) throw new UserError(`nodes "${node}" not found`);
      const r = policy.syncNode({ state: o.state, node, membership: new Set(o.state.nodes.keys()), now });
      if (output === 'json' || output === 'yaml') {
        const v = viewJSON(r.view);
        console.log(output === 'yaml' ? toYAML(v) : toJSON(v));
      } else console.log(policy.describeView(r.view));
      console.error('note: compiled with every Node alive');
      return 0;
    }

    const kind = kindOf(word);
    let objects: policy.AnyObject[] = policy.allObjects(o.state).filter((x) => x.kind === kind);
    if (kind === 'Pod' && nsFilter) objects = objects.filter((x) => x.metadata.namespace === nsFilter);
    if (names.length > 0) {
      const picked: policy.AnyObject[] = [];
      for (const n of names) {
        const [ns, name] = n.includes('/') ? (n.split('/', 2) as [string, string]) : [nsFilter ?? 'default', n];
        const found = objects.find(
          (x) =>
            x.metadata.name === name && (kind !== 'Pod' && kind !== 'ConfigMap' ? true : x.metadata.namespace === ns),
        );
        if (!found) throw new UserError(`${policy.PLURAL[kind]} "${n}" not found`);
        picked.push(found);
      }
      objects = picked;
    }
    if (kind === 'Egress') objects = objects.map((x) => egressWithStatus(o, x as policy.Egress));

    if (output === 'yaml' || output === 'json') {
      const items = objects.map(printable);
      const v = names.length === 1 ? items[0] : listOf(items);
      console.log(output === 'yaml' ? toYAML(v) : toJSON(v));
      if (kind === 'Egress' && o.source === 'predicted') predictedNote();
      return 0;
    }
    if (output === 'name') {
      for (const x of objects) console.log(`${policy.RESOURCE[kind]}/${policy.displayName(x)}`);
      return 0;
    }
    if (objects.length === 0) {
      console.error('No resources found');
      return 0;
    }
    const wide = output === 'wide';
    let header: string[];
    let rows: string[][];
    switch (kind) {
      case 'Egress': {
        header = ['NAME', 'EGRESSIP', 'AGE', 'NODE'];
        if (wide) header.push('EXTERNALIPPOOL', 'PODS', 'CONDITIONS');
        const places = placementsFromStatus(o);
        const effective = new Map<string, number>();
        for (const p of o.state.pods.values()) {
          const pe = policy.podEgress(o.state, p, places);
          if (pe.egress) effective.set(pe.egress.metadata.name, (effective.get(pe.egress.metadata.name) ?? 0) + 1);
        }
        rows = objects.map((x) => {
          const e = x as policy.Egress;
          const r = [e.metadata.name, e.status.egressIP, age(e.metadata.creationTimestamp, now), e.status.egressNode];
          if (wide)
            r.push(e.spec.externalIPPool ?? '', String(effective.get(e.metadata.name) ?? 0), conditionsText(e.status));
          return r;
        });
        break;
      }
      case 'ExternalIPPool':
        header = ['NAME', 'TOTAL', 'USED', 'AGE'];
        if (wide) header.push('RANGES', 'NODESELECTOR');
        rows = objects.map((x) => {
          const p = x as policy.ExternalIPPool;
          const r = [
            p.metadata.name,
            String(p.status.usage.total),
            String(p.status.usage.used),
            age(p.metadata.creationTimestamp, now),
          ];
          if (wide)
            r.push(
              p.spec.ipRanges.map((g) => g.cidr ?? `${g.start}-${g.end}`).join(','),
              policy.formatSelector(p.spec.nodeSelector),
            );
          return r;
        });
        break;
      case 'Node': {
        header = ['NAME', 'INTERNAL-IP', 'POD-CIDR', 'AGE'];
        if (wide) header.push('EGRESS-IPS', 'MAX-EGRESS-IPS');
        const cfg = policy.resolveConfig(o.state.config);
        rows = objects.map((x) => {
          const n = x as policy.Node;
          const r = [
            n.metadata.name,
            policy.nodeTransportIP(n) ?? '',
            policy.nodePodCIDR(n) ?? '',
            age(n.metadata.creationTimestamp, now),
          ];
          if (wide) {
            const ips = new Set<string>();
            for (const st of o.statuses.values())
              if (st.egressNode === n.metadata.name && st.egressIP) ips.add(st.egressIP);
            r.push([...ips].sort().join(','), String(policy.maxEgressIPs(n, cfg.maxEgressIPsPerNode)));
          }
          return r;
        });
        break;
      }
      case 'Pod': {
        header = ['NAMESPACE', 'NAME', 'IP', 'NODE', 'AGE'];
        if (wide) header.push('EGRESS', 'EGRESSIP', 'EGRESSNODE');
        const places = placementsFromStatus(o);
        rows = objects.map((x) => {
          const p = x as policy.Pod;
          const r = [
            p.metadata.namespace,
            p.metadata.name,
            policy.podIPv4(p) ?? p.status.podIP ?? '',
            p.spec.nodeName ?? '',
            age(p.metadata.creationTimestamp, now),
          ];
          if (wide) {
            const pe = policy.podEgress(o.state, p, places);
            r.push(pe.egress?.metadata.name ?? '', pe.placement?.ip ?? '', pe.placement?.node ?? '');
          }
          return r;
        });
        break;
      }
      case 'Namespace':
        header = ['NAME', 'STATUS', 'AGE'];
        rows = objects.map((x) => [x.metadata.name, 'Active', age(x.metadata.creationTimestamp, now)]);
        break;
      case 'ExternalHost':
        header = ['NAME', 'ADDRESS', 'AGE'];
        if (wide) header.push('COMMAND');
        rows = objects.map((x) => {
          const h = x as policy.ExternalHost;
          const r = [h.metadata.name, h.spec.address, age(h.metadata.creationTimestamp, now)];
          if (wide) r.push((h.spec.command ?? []).map((a) => a.split('\n')[0]!).join(' '));
          return r;
        });
        break;
      default:
        header = ['NAME', 'AGE'];
        rows = objects.map((x) => [policy.displayName(x), age(x.metadata.creationTimestamp, now)]);
    }
    console.log(table(header, rows));
    if (kind === 'Egress' && o.source === 'predicted') predictedNote();
    return 0;
  }
}

function predictedNote(): void {
  console.error(
    "note: no Node agent has reported yet: EGRESSIP and NODE are the control plane's prediction with every Node alive",
  );
}
