/**
 * `egress describe KIND NAME`: one object in kubectl's describe layout. An Egress shows its spec, its status (as the
 * agents report it, or predicted), its conditions, which Node hosts its IP and why (the pool's consistent-hash
 * ring over the Nodes alive, the capacity skips), its Pods and the path each takes, the SNAT use of its IP from
 * the hosting agent's run file when there is one, and its events. Nodes, Pods and pools have their own sections;
 * other kinds print their labels, annotations and spec.
 */
import * as policy from '../engine/policy/index.js';
import { kindOf } from './kinds.js';
import type { ListOptions, Observed } from './listing.js';
import { observe, pickNamed, printable, warnings } from './listing.js';
import { NAMESPACED, PrintContext } from './printers.js';
import { age, table, toYAML } from './output.js';

type Field = readonly [string, string];

/** `Key:  value` lines, the values aligned (kubectl's describe). */
function fields(rows: readonly Field[], indent = ''): string[] {
  const w = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${indent}${`${k}:`.padEnd(w + 1)}${v}`.trimEnd());
}

const labelsText = (m: Readonly<Record<string, string>>) =>
  Object.keys(m).length === 0 ? ['<none>'] : Object.entries(m).map(([k, v]) => `${k}=${v}`);

function header(x: policy.AnyObject): string[] {
  const labels = labelsText(x.metadata.labels);
  const ann = labelsText(x.metadata.annotations);
  const rows: Field[] = [['Name', x.metadata.name]];
  if (x.metadata.namespace !== undefined && NAMESPACED.includes(x.kind)) rows.push(['Namespace', x.metadata.namespace]);
  rows.push(['Labels', labels[0]!], ['Annotations', ann[0]!]);
  const out = fields(rows);
  // further labels/annotations on their own lines, under the first value
  const pad = ' '.repeat(out[out.length - 1]!.length - ann[0]!.length);
  const li = out.findIndex((l) => l.startsWith('Labels:'));
  out.splice(li + 1, 0, ...labels.slice(1).map((l) => pad + l));
  out.push(...ann.slice(1).map((a) => pad + a));
  out.push(
    ...fields([
      ['API Version', x.apiVersion],
      ['Kind', x.kind],
      ['Created', x.metadata.creationTimestamp],
    ]),
  );
  return out;
}

/** The Nodes the agents see alive (Ready), or every Node when no agent reports here (the prediction's view). */
function membershipOf(o: Observed): { alive: Set<string>; reported: boolean } {
  const ready = [...o.liveness].filter(([, l]) => l.status === 'Ready').map(([n]) => n);
  const reported = [...o.liveness.values()].some((l) => l.status !== 'Unknown');
  return { alive: new Set(reported ? ready : o.state.nodes.keys()), reported };
}

/** Why the Egress's IP is on the Node it is on (or on none). */
function whyNode(o: Observed, e: policy.Egress, st: policy.EgressStatus): string[] {
  const { alive, reported } = membershipOf(o);
  const seen = reported ? 'the Nodes the agents here see alive' : 'every Node (no agent reports here: assumed alive)';
  const ip = st.egressIP || e.spec.egressIP;
  if (!e.spec.externalIPPool) {
    if (!ip) return ['no egressIP and no externalIPPool: nothing to place'];
    const owner = policy.staticOwner(o.state, ip);
    return owner
      ? [`static egressIP ${ip}: it is Node ${owner.metadata.name}'s own address (no failover)`]
      : [`static egressIP ${ip} is the address of no Node`];
  }
  const pool = o.state.pools.get(e.spec.externalIPPool);
  if (!pool) return [`ExternalIPPool ${e.spec.externalIPPool} does not exist`];
  if (!ip) return [`no IP allocated from ExternalIPPool ${pool.metadata.name} yet`];
  const eligible = [...o.state.nodes.values()]
    .filter((n) => policy.selectorMatches(pool.spec.nodeSelector, n.metadata.labels))
    .map((n) => n.metadata.name)
    .sort();
  const ring = policy.poolRing(o.state, pool.metadata.name, alive)!;
  const first = ring.get(ip);
  const lines = [
    `pool ${pool.metadata.name} (nodeSelector ${policy.formatSelector(pool.spec.nodeSelector)}) selects ${eligible.join(', ') || 'no Node'}`,
    `alive among them, of ${seen}: ${ring.nodes.join(', ') || 'none'}`,
  ];
  if (first === '') return [...lines, 'no alive Node in the pool: the IP is not hosted'];
  lines.push(
    `${ip} hashes to ${first} on the pool's consistent-hash ring (CRC32, ${policy.REPLICAS} replicas per Node)`,
  );
  if (st.egressNode && st.egressNode !== first)
    lines.push(
      `it is on ${st.egressNode}: ${first} was skipped (at its max-egress-ips, or not alive as its peers see it)`,
    );
  return lines;
}

interface SnatUse {
  natIp: string;
  connections: Record<string, number>;
  maxFullness: number;
}

/** The SNAT use of `ip` in the run file of `node`, or a line saying why there is none. */
function snatLines(runDir: ListOptions['runDir'], node: string, ip: string): string[] {
  if (!runDir || !node) return ['<no agent report here>'];
  let v: unknown;
  try {
    v = policy.store.readRunFile(runDir.dir, node, { insecure: runDir.insecure });
  } catch (e) {
    return [`<${(e as Error).message}>`];
  }
  const snat = (v as { snat?: unknown } | null)?.snat;
  if (!Array.isArray(snat)) return [`<no agent report of ${node} in ${runDir.dir}/run/>`];
  const u = (snat as SnatUse[]).find((s) => s && s.natIp === ip);
  if (!u) return [`no connection SNATed to ${ip} on ${node}`];
  const conns = Object.entries(u.connections ?? {})
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return [
    `${ip} on ${node}: connections ${conns || 'none'}; fullest port range ${(100 * (u.maxFullness ?? 0)).toFixed(1)}% used`,
  ];
}

function section(title: string, lines: readonly string[]): string[] {
  return [`${title}:`, ...(lines.length ? lines.map((l) => `  ${l}`) : ['  <none>'])];
}

async function describeEgress(o: Observed, e: policy.Egress, st: policy.store.Store, opts: ListOptions) {
  const status = o.statuses.get(e.metadata.name) ?? { egressNode: '', egressIP: '' };
  const out = header(e);
  const spec: Field[] = [
    ['Pod Selector', e.spec.appliedTo.podSelector ? policy.formatSelector(e.spec.appliedTo.podSelector) : '<none>'],
    [
      'Namespace Selector',
      e.spec.appliedTo.namespaceSelector ? policy.formatSelector(e.spec.appliedTo.namespaceSelector) : '<none>',
    ],
    ['External IP Pool', e.spec.externalIPPool ?? '<none>'],
    ['Egress IP', e.spec.egressIP ?? '<none>'],
  ];
  if (e.spec.bandwidth) spec.push(['Bandwidth', `rate ${e.spec.bandwidth.rate} burst ${e.spec.bandwidth.burst}`]);
  out.push('Spec:', ...fields(spec, '  '));
  out.push(
    'Status:',
    ...fields(
      [
        ['Egress IP', status.egressIP || '<none>'],
        ['Egress Node', status.egressNode || '<none>'],
        ['Source', o.source === 'agents' ? 'the Node agents' : 'predicted (no agent has reported): every Node alive'],
      ],
      '  ',
    ),
  );
  const conds = status.conditions ?? [];
  out.push(
    'Conditions:',
    ...(conds.length
      ? table(
          ['TYPE', 'STATUS', 'REASON', 'LAST TRANSITION', 'MESSAGE'],
          conds.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime, c.message]),
        )
          .split('\n')
          .map((l) => `  ${l}`)
      : ['  <none>']),
  );
  out.push(...section('Node', whyNode(o, e, status)));
  const places = new PrintContext(o.state, o.statuses, new Date()).placements();
  const pods: string[][] = [];
  for (const p of o.state.pods.values()) {
    const pe = policy.podEgress(o.state, p, places);
    if (!pe.selecting.some((x) => x.metadata.name === e.metadata.name)) continue;
    const node = p.spec.nodeName ?? '';
    let path: string;
    if (pe.egress?.metadata.name === e.metadata.name)
      path =
        pe.placement!.node === node
          ? `SNAT to ${pe.placement!.ip} on its own Node`
          : `Geneve to ${pe.placement!.node}, SNAT to ${pe.placement!.ip} there`;
    else if (pe.egress) path = `not this Egress: ${pe.egress.metadata.name} is older and placed`;
    else path = `its Node's IP (${pe.fallback ?? 'no placed Egress'})`;
    pods.push([`${p.metadata.namespace}/${p.metadata.name}`, policy.podIPv4(p) ?? '', node, path]);
  }
  out.push(
    'Pods:',
    ...(pods.length
      ? table(['POD', 'IP', 'NODE', 'PATH'], pods)
          .split('\n')
          .map((l) => `  ${l}`)
      : ['  <none>']),
  );
  if (status.egressIP) out.push(...section('SNAT', snatLines(opts.runDir, status.egressNode, status.egressIP)));
  const events = (await st.readEvents(warnings())).filter((ev) => ev.egress === e.metadata.name);
  const now = new Date();
  out.push(
    'Events:',
    ...(events.length
      ? table(
          ['TYPE', 'REASON', 'AGE', 'FROM', 'MESSAGE'],
          events.map((ev) => [ev.type, ev.reason, age(ev.time, now), `node/${ev.node}`, ev.message]),
        )
          .split('\n')
          .map((l) => `  ${l}`)
      : ['  <none>']),
  );
  return out;
}

function describeNode(o: Observed, n: policy.Node): string[] {
  const out = header(n);
  const l = o.liveness.get(n.metadata.name);
  const max = policy.maxEgressIPs(n, policy.resolveConfig(o.state.config).maxEgressIPsPerNode);
  out.push(
    ...fields([
      ['Internal IP', policy.nodeTransportIP(n) ?? '<none>'],
      ['Pod CIDR', policy.nodePodCIDR(n) ?? '<none>'],
      ['Status', `${l?.status ?? 'Unknown'} (${l?.reason ?? 'no report'})`],
      ['Egress IPs', l?.hosted.join(', ') || '<none>'],
      ['Max Egress IPs', String(max)],
    ]),
  );
  const pools = [...o.state.pools.values()]
    .filter((p) => policy.selectorMatches(p.spec.nodeSelector, n.metadata.labels))
    .map((p) => p.metadata.name);
  out.push(...section('ExternalIPPools selecting it', pools));
  const hosting = [...o.statuses]
    .filter(([, s]) => s.egressNode === n.metadata.name)
    .map(([name, s]) => `${name} (${s.egressIP})`);
  out.push(...section('Egresses hosted', hosting));
  const pods = [...o.state.pods.values()].filter((p) => p.spec.nodeName === n.metadata.name);
  out.push(
    ...section(
      'Pods',
      pods.map((p) => `${p.metadata.namespace}/${p.metadata.name} ${policy.podIPv4(p) ?? ''}`),
    ),
  );
  return out;
}

function describePod(o: Observed, p: policy.Pod): string[] {
  const out = header(p);
  const places = new PrintContext(o.state, o.statuses, new Date()).placements();
  const pe = policy.podEgress(o.state, p, places);
  out.push(
    ...fields([
      ['IP', policy.podIPv4(p) ?? p.status.podIP ?? '<none>'],
      ['Node', p.spec.nodeName ?? '<none>'],
      ['Host Network', p.spec.hostNetwork ? 'true' : 'false'],
      ['Egress', pe.egress?.metadata.name ?? '<none>'],
      [
        'Leaves with',
        pe.placement
          ? `${pe.placement.ip} (${pe.placement.node === p.spec.nodeName ? 'SNAT on its Node' : `Geneve to ${pe.placement.node}`})`
          : `its Node's IP${pe.fallback ? ` (${pe.fallback})` : ''}`,
      ],
      ['Also selected by', pe.alternatives.join(', ') || '<none>'],
    ]),
  );
  return out;
}

function describePool(o: Observed, p: policy.ExternalIPPool): string[] {
  const out = header(p);
  out.push(
    ...fields([
      ['IP Ranges', p.spec.ipRanges.map((g) => g.cidr ?? `${g.start}-${g.end}`).join(', ')],
      ['Node Selector', policy.formatSelector(p.spec.nodeSelector)],
      [
        'Subnet Info',
        p.spec.subnetInfo
          ? `gateway ${p.spec.subnetInfo.gateway}/${p.spec.subnetInfo.prefixLength}${p.spec.subnetInfo.vlan ? ` vlan ${p.spec.subnetInfo.vlan}` : ''}`
          : '<none>',
      ],
      ['Usage', `${p.status.usage.used} of ${p.status.usage.total} used`],
    ]),
  );
  const nodes = [...o.state.nodes.values()]
    .filter((n) => policy.selectorMatches(p.spec.nodeSelector, n.metadata.labels))
    .map((n) => `${n.metadata.name} (${o.liveness.get(n.metadata.name)?.status ?? 'Unknown'})`);
  out.push(...section('Nodes', nodes));
  const eg = [...o.state.egresses.values()]
    .filter((e) => e.spec.externalIPPool === p.metadata.name)
    .map((e) => {
      const s = o.statuses.get(e.metadata.name);
      return `${e.metadata.name} ${e.spec.egressIP ?? '<none>'} on ${s?.egressNode || '<none>'}`;
    });
  out.push(...section('Egresses', eg));
  return out;
}

function describeOther(x: policy.AnyObject): string[] {
  const out = header(x);
  const { apiVersion: _a, kind: _k, metadata: _m, ...rest } = printable(x);
  if (Object.keys(rest).length > 0) out.push(...toYAML(rest).trimEnd().split('\n'));
  return out;
}

/** Print the description of each named object; a name that does not exist is a UserError (one line). */
export async function describeObjects(
  st: policy.store.Store,
  word: string,
  names: readonly string[],
  opts: ListOptions,
): Promise<number> {
  const kind = kindOf(word);
  const o = await observe(st, new Date(), warnings(), opts.runDir);
  let objects = policy.allObjects(o.state).filter((x) => x.kind === kind);
  if (opts.namespace !== undefined && NAMESPACED.includes(kind))
    objects = objects.filter((x) => x.metadata.namespace === opts.namespace);
  const picked = names.length > 0 ? pickNamed(objects, kind, names, opts.namespace) : objects;
  if (picked.length === 0) {
    console.error('No resources found');
    return 0;
  }
  const blocks: string[] = [];
  for (const x of picked) {
    const lines =
      x.kind === 'Egress'
        ? await describeEgress(o, x, st, opts)
        : x.kind === 'Node'
          ? describeNode(o, x)
          : x.kind === 'Pod'
            ? describePod(o, x)
            : x.kind === 'ExternalIPPool'
              ? describePool(o, x)
              : describeOther(x);
    blocks.push(lines.join('\n'));
  }
  console.log(blocks.join('\n\n'));
  return 0;
}
