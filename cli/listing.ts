/**
 * What `egress get` prints from the store (and `egress demo` shows between its steps): objects of one or more kinds
 * with kubectl's columns (the printers of printers.ts) or in any `-o` format (formats.ts), events, a Node's
 * compiled view, the pipeline; and `--watch`, which prints what changes as the store's watch reports it.
 */
import * as policy from '../engine/policy/index.js';
import { DATAPATH_LINKS } from '../engine/agent/datapath.js';
import { UsageError, UserError } from './errors.js';
import type { OutputFormat } from './formats.js';
import { printData, refuseFormat } from './formats.js';
import { select } from './jsonpath.js';
import { kindOf } from './kinds.js';
import { listOf, age, table } from './output.js';
import { pipelineDot } from './pipeline-dot.js';
import { NAMESPACED, PrintContext, printRows } from './printers.js';
import type { NodeLiveness } from './printers.js';
import { viewJSON } from './view-json.js';

const STATUS_SOURCE_ANNOTATION = 'egress-engine.io/status-source';
const HOSTED_ANNOTATION = 'egress-engine.io/egress-ips';
/** Fields --watch ignores when it compares an object with what it printed last. */
const VOLATILE = ['lastTransitionTime', 'lastHeartbeatTime'];
/** An agent writes its run file every second: one older than this is a stopped or frozen agent. */
const REPORT_FRESH_MS = 3000;

export interface ListOptions {
  readonly format: OutputFormat;
  /** `-n NS`: only that namespace's Pods and ConfigMaps, and no NAMESPACE column. */
  readonly namespace?: string | undefined;
  /** `-l`: only objects whose labels match. */
  readonly selector?: policy.LabelSelector | undefined;
  readonly noHeaders?: boolean;
  /** `--sort-by PATH` (JSONPath on each object as -o json prints it). */
  readonly sortBy?: string | undefined;
  /** Where the agents' run files are (Node STATUS); without it every Node is Unknown. */
  readonly runDir?: { readonly dir: string; readonly insecure: boolean } | undefined;
}

export interface Observed {
  readonly state: policy.ClusterState;
  readonly statuses: Map<string, policy.EgressStatus>;
  readonly source: 'agents' | 'predicted';
  readonly files: policy.NodeStatusFile[];
  readonly liveness: Map<string, NodeLiveness>;
}

/** Store reads that warn (one line on stderr) about each status file or events line they skip. */
export function warnings(): policy.store.StoreHealth {
  return new policy.store.StoreHealth((p) => console.error(`Warning: ${p.message}: skipped`));
}

interface Report {
  readonly node: string;
  readonly updated: number;
  readonly members: readonly string[];
  readonly egressIps: readonly string[];
}

/** The agents' run files (the fields liveness reads); an absent or unreadable one is skipped. */
function readReports(runDir: ListOptions['runDir'], nodes: Iterable<string>): Map<string, Report> {
  const out = new Map<string, Report>();
  if (!runDir) return out;
  for (const node of nodes) {
    let v: unknown;
    try {
      v = policy.store.readRunFile(runDir.dir, node, { insecure: runDir.insecure });
    } catch {
      continue;
    }
    const r = v as Partial<Record<keyof Report, unknown>> | null;
    if (!r || typeof r.updated !== 'string' || !Array.isArray(r.members)) continue;
    out.set(node, {
      node,
      updated: Date.parse(r.updated),
      members: r.members.filter((m): m is string => typeof m === 'string'),
      egressIps: Array.isArray(r.egressIps) ? r.egressIps.filter((m): m is string => typeof m === 'string') : [],
    });
  }
  return out;
}

/**
 * Each Node's STATUS as the agents report it: Ready when a running agent (a run file younger than 3 s) sees it
 * alive, NotReady when running agents report and none does. With no agent reporting here and a store whose
 * statuses live under their agent's lease (etcd): Ready when the Node's status is there (its agent is alive and
 * connected), NotReady when it is not; else Unknown. Its egress IPs are what its own agent reports (none when that
 * report is stale), else what its status in the store says.
 */
export function nodeLiveness(
  state: policy.ClusterState,
  files: readonly policy.NodeStatusFile[],
  runDir: ListOptions['runDir'],
  now: Date,
  leased = false,
): Map<string, NodeLiveness> {
  const reports = readReports(runDir, state.nodes.keys());
  const fresh = [...reports.values()].filter((r) => now.getTime() - r.updated <= REPORT_FRESH_MS);
  const out = new Map<string, NodeLiveness>();
  for (const node of state.nodes.keys()) {
    const own = reports.get(node);
    const ownFresh = own !== undefined && fresh.includes(own);
    // a stopped or frozen agent hosts nothing any more (its peers took its IPs over); without a run file here
    // (an agent on another host), what its status in the store says
    const hosted = own ? (ownFresh ? [...own.egressIps] : []) : [...(files.find((f) => f.node === node)?.hosted ?? [])];
    const seenBy = fresh.filter((r) => r.members.includes(node)).map((r) => r.node);
    let status: NodeLiveness['status'];
    let reason: string;
    if (fresh.length === 0 && leased) {
      const held = files.some((f) => f.node === node);
      status = held ? 'Ready' : 'NotReady';
      reason = held
        ? 'its agent holds a live status lease in the store'
        : 'no live status lease in the store: its agent is stopped or cut off';
    } else if (fresh.length === 0) {
      status = 'Unknown';
      reason = runDir ? `no running agent reports in ${runDir.dir}/run/` : 'no agent reports here';
    } else if (seenBy.length > 0) {
      status = 'Ready';
      reason = `seen alive by ${seenBy.join(', ')}`;
    } else {
      status = 'NotReady';
      reason =
        own && !ownFresh
          ? `its agent's last report is ${((now.getTime() - own.updated) / 1000).toFixed(0)} s old and no agent sees it alive`
          : `no agent sees it alive (reporting: ${fresh.map((r) => r.node).join(', ')})`;
    }
    out.set(node, { status, reason, hosted: hosted.sort() });
  }
  return out;
}

export async function observe(
  st: policy.store.Store,
  now: Date,
  health: policy.store.StoreHealth,
  runDir?: ListOptions['runDir'],
): Promise<Observed> {
  const { state } = await st.load();
  const files = (await st.readNodeStatuses(health)).filter((f) => state.nodes.has(f.node));
  const liveness = nodeLiveness(state, files, runDir, now, st.statusesLeased);
  if (files.length > 0) return { state, statuses: policy.mergeStatus(state, files), source: 'agents', files, liveness };
  return { state, statuses: policy.predictStatus(state, now), source: 'predicted', files, liveness };
}

function egressWithStatus(o: Observed, e: policy.Egress): policy.Egress {
  return {
    ...e,
    metadata: { ...e.metadata, annotations: { ...e.metadata.annotations, [STATUS_SOURCE_ANNOTATION]: o.source } },
    status: o.statuses.get(e.metadata.name) ?? { egressNode: '', egressIP: '' },
  };
}

/** A Node as -o json prints it: its Ready condition as the agents report it, and the egress IPs it hosts. */
function nodeWithStatus(o: Observed, n: policy.Node, now: Date): policy.AnyObject {
  const l = o.liveness.get(n.metadata.name);
  if (!l) return n;
  const ready = { Ready: 'True', NotReady: 'False', Unknown: 'Unknown' }[l.status];
  return {
    ...n,
    metadata: {
      ...n.metadata,
      annotations: {
        ...n.metadata.annotations,
        ...(l.hosted.length ? { [HOSTED_ANNOTATION]: l.hosted.join(',') } : {}),
      },
    },
    status: {
      ...n.status,
      conditions: [
        {
          type: 'Ready',
          status: ready,
          reason:
            l.status === 'Ready' ? 'AgentsSeeItAlive' : l.status === 'NotReady' ? 'AgentsSeeItDead' : 'NoAgentReports',
          message: l.reason,
          lastHeartbeatTime: now.toISOString(),
        },
      ],
    },
  } as policy.AnyObject;
}

/** The object as printed by -o yaml/json: empty label/annotation maps are omitted, like the API server does. */
export function printable(obj: policy.AnyObject): Record<string, unknown> {
  const meta: Record<string, unknown> = { ...obj.metadata };
  if (Object.keys(obj.metadata.labels).length === 0) delete meta['labels'];
  if (Object.keys(obj.metadata.annotations).length === 0) delete meta['annotations'];
  return { ...obj, metadata: meta };
}

/** kubectl's --sort-by order: by the first value the path selects; numbers by value, the rest as text. */
function sortByPath<T>(items: T[], path: string, json: (x: T) => unknown): T[] {
  const key = (x: T) => select(json(x), path)[0];
  const cmp = (a: unknown, b: unknown): number => {
    if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    const x = typeof a === 'string' ? a : JSON.stringify(a);
    const y = typeof b === 'string' ? b : JSON.stringify(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
  return items
    .map((x) => ({ x, k: key(x) }))
    .sort((a, b) => cmp(a.k, b.k))
    .map((e) => e.x);
}

const SPECIAL = ['events', 'event', 'ev', 'pipeline', 'view'];

/** The kinds a `KIND[,KIND...]` word names (each once, in the order given). */
export function kindsOf(word: string): policy.Kind[] {
  const kinds: policy.Kind[] = [];
  for (const w of word.split(',')) {
    if (w === '') throw new UsageError(`empty resource type in "${word}"`);
    if (SPECIAL.includes(w.toLowerCase()) && word.includes(','))
      throw new UsageError(`${w} cannot be listed with other kinds (egress get ${w})`);
    const k = kindOf(w);
    if (!kinds.includes(k)) kinds.push(k);
  }
  return kinds;
}

/**
 * The objects `names` name among `objects` (of `kind`), in that order: a namespaced object is `ns/name`, or `name`
 * in `ns` (default "default"). A name that is not there is a UserError, kubectl's `… "x" not found`.
 */
export function pickNamed(
  objects: readonly policy.AnyObject[],
  kind: policy.Kind,
  names: readonly string[],
  ns: string | undefined,
): policy.AnyObject[] {
  return names.map((n) => {
    const [nsOf, name] = n.includes('/') ? (n.split('/', 2) as [string, string]) : [ns ?? 'default', n];
    const found = objects.find(
      (x) => x.metadata.name === name && (NAMESPACED.includes(kind) ? x.metadata.namespace === nsOf : true),
    );
    if (!found) throw new UserError(`${policy.PLURAL[kind]} "${n}" not found`);
    return found;
  });
}

interface Group {
  readonly kind: policy.Kind;
  /** The objects as printed (Egress with its merged status, Node with its Ready condition). */
  readonly objects: policy.AnyObject[];
}

/** The objects of `kinds` after -n, -l, NAME... and --sort-by. */
function pick(
  o: Observed,
  kinds: readonly policy.Kind[],
  names: readonly string[],
  opts: ListOptions,
  now: Date,
): Group[] {
  const ns = opts.namespace;
  return kinds.map((kind) => {
    let objects: policy.AnyObject[] = policy.allObjects(o.state).filter((x) => x.kind === kind);
    if (NAMESPACED.includes(kind) && ns !== undefined) objects = objects.filter((x) => x.metadata.namespace === ns);
    if (opts.selector) objects = objects.filter((x) => policy.selectorMatches(opts.selector!, x.metadata.labels));
    if (names.length > 0) objects = pickNamed(objects, kind, names, ns);
    objects = objects.map((x) =>
      x.kind === 'Egress' ? egressWithStatus(o, x) : x.kind === 'Node' ? nodeWithStatus(o, x, now) : x,
    );
    if (opts.sortBy) objects = sortByPath(objects, opts.sortBy, printable);
    return { kind, objects };
  });
}

function tableOf(g: Group, o: Observed, opts: ListOptions, now: Date, prefix: boolean) {
  const showNs = NAMESPACED.includes(g.kind) && opts.namespace === undefined;
  const { header, rows } = printRows(g.kind, g.objects, new PrintContext(o.state, o.statuses, now, o.liveness), {
    wide: opts.format.kind === 'wide',
    namespaceColumn: showNs,
  });
  if (prefix) {
    const col = showNs ? 1 : 0;
    for (const r of rows) r[col] = `${policy.RESOURCE[g.kind]}/${r[col]}`;
  }
  return { header, rows };
}

function printTable(header: readonly string[], rows: readonly (readonly string[])[], noHeaders: boolean): void {
  const text = table(header, rows);
  console.log(noHeaders ? text.split('\n').slice(1).join('\n') : text);
}

/** `egress get WORD [NAME...]` against a store: prints, returns the exit code. */
export async function listObjects(
  st: policy.store.Store,
  word: string,
  names: string[],
  opts: ListOptions,
  now: Date,
): Promise<number> {
  const health = warnings();
  const f = opts.format;
  const lower = word.toLowerCase();

  if (['events', 'event', 'ev'].includes(lower)) {
    refuseFormat(f, 'get events', ['table', 'json', 'yaml', 'jsonpath', 'custom-columns']);
    let events = (await st.readEvents(health)).sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    if (opts.sortBy) events = sortByPath(events, opts.sortBy, (e) => e);
    const items = events.map((e) => ({ ...e }));
    if (printData(f, listOf(items), items, opts.noHeaders)) return 0;
    if (events.length === 0) {
      console.error('No events found.');
      return 0;
    }
    const rows = events.map((e) => [age(e.time, now), e.type, e.reason, `egress/${e.egress}`, e.message]);
    printTable(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'], rows, !!opts.noHeaders);
    return 0;
  }

  if (lower === 'pipeline') {
    refuseFormat(f, 'get pipeline', ['table', 'json', 'yaml', 'jsonpath']);
    const links = DATAPATH_LINKS.map((l) => {
      const [from, to] = l.split(/\s*->\s*/) as [string, string];
      const dot = from.lastIndexOf('.');
      return from.startsWith('in:')
        ? { from, exit: null, to }
        : { from: from.slice(0, dot), exit: from.slice(dot + 1), to };
    });
    if (!printData(f, { kind: 'Pipeline', links }, links)) console.log(pipelineDot().trimEnd());
    return 0;
  }

  const o = await observe(st, now, health, opts.runDir);
  if (lower === 'view') {
    refuseFormat(f, 'get view', ['table', 'json', 'yaml', 'jsonpath']);
    const node = names[0];
    if (!node || names.length > 1) throw new UsageError('egress get view NODE');
    if (!o.state.nodes.has(node)) throw new UserError(`nodes "${node}" not found`);
    const r = policy.syncNode({ state: o.state, node, membership: new Set(o.state.nodes.keys()), now });
    if (!printData(f, viewJSON(r.view), [])) console.log(policy.describeView(r.view));
    console.error('note: compiled with every Node alive');
    return 0;
  }

  const kinds = kindsOf(word);
  if (names.length > 0 && kinds.length > 1) throw new UsageError('NAME... goes with one KIND');
  const groups = pick(o, kinds, names, opts, now);
  const all = groups.flatMap((g) => g.objects);
  const predicted = kinds.includes('Egress') && o.source === 'predicted';
  const items = all.map(printable);
  if (printData(f, names.length === 1 ? items[0] : listOf(items), items, opts.noHeaders)) {
    if (predicted) predictedNote();
    return 0;
  }
  if (f.kind === 'name') {
    for (const x of all) console.log(`${policy.RESOURCE[x.kind]}/${policy.displayName(x)}`);
    return 0;
  }
  if (all.length === 0) {
    console.error(
      opts.namespace !== undefined ? `No resources found in ${opts.namespace} namespace.` : 'No resources found',
    );
    return 0;
  }
  const shown = groups.filter((g) => g.objects.length > 0);
  shown.forEach((g, i) => {
    const { header, rows } = tableOf(g, o, opts, now, kinds.length > 1);
    if (i > 0) console.log('');
    printTable(header, rows, !!opts.noHeaders);
  });
  if (predicted) predictedNote();
  return 0;
}

/**
 * `egress get KIND... --watch`: the listing, then a line for each object that is added, changes or is deleted, as
 * the store's watch reports changes of the objects (and, every `statusEveryMs`, of the agents' statuses); until
 * SIGINT/SIGTERM or `signal` aborts. Only object listings can be watched.
 */
export async function watchObjects(
  st: policy.store.Store,
  word: string,
  names: string[],
  opts: ListOptions,
  signal?: AbortSignal,
  statusEveryMs = 1000,
): Promise<number> {
  if (SPECIAL.includes(word.toLowerCase())) throw new UsageError(`--watch lists objects; it does not watch ${word}`);
  const f = opts.format;
  refuseFormat(f, 'get --watch', ['table', 'wide', 'json', 'yaml', 'name', 'jsonpath']);
  const kinds = kindsOf(word);
  if (names.length > 0 && kinds.length > 1) throw new UsageError('NAME... goes with one KIND');
  const health = warnings();
  const key = (x: policy.AnyObject) => `${x.kind}/${policy.displayName(x)}`;
  /** Per object: its JSON without the volatile heartbeat time, and its table row when last printed. */
  const last = new Map<string, { json: string; row: string[] | null; kind: policy.Kind }>();
  const widths = new Map<policy.Kind, { header: string[]; rows: string[][] }>();
  let first = true;
  const initial: [policy.Kind, policy.AnyObject, string[], string[]][] = [];

  const emit = async (state?: policy.ClusterState) => {
    const now = new Date();
    let o = await observe(st, now, health, opts.runDir);
    if (state && state.generation > o.state.generation) o = { ...o, state };
    const named = (x: policy.AnyObject) =>
      names.some((n) => policy.displayName(x) === n || policy.displayName(x) === `${opts.namespace ?? 'default'}/${n}`);
    const groups = pick(o, kinds, first ? names : [], opts, now).map((g) =>
      names.length > 0 ? { ...g, objects: g.objects.filter(named) } : g,
    );
    const seen = new Set<string>();
    for (const g of groups) {
      const { header, rows } = tableOf(g, o, opts, now, kinds.length > 1);
      g.objects.forEach((x, i) => {
        const k = key(x);
        seen.add(k);
        // times that move on their own (a prediction's transition time, the Ready heartbeat) are no change
        const json = JSON.stringify(printable(x), (kk, v: unknown) => (VOLATILE.includes(kk) ? undefined : v));
        const prev = last.get(k);
        if (prev && prev.json === json) return;
        last.set(k, { json, row: rows[i]!, kind: g.kind });
        if (first) initial.push([g.kind, x, rows[i]!, header]);
        else printOne(g.kind, x, rows[i]!, header);
      });
    }
    if (first && (f.kind === 'table' || f.kind === 'wide')) {
      // the first listing as one table (aligned on all of its rows), then each change a row in those columns
      for (const kind of kinds) {
        const mine = initial.filter(([k]) => k === kind);
        if (mine.length === 0) continue;
        const w = { header: mine[0]![3], rows: mine.map((m) => m[2]) };
        widths.set(kind, w);
        printTable(w.header, w.rows, !!opts.noHeaders);
      }
    } else for (const m of initial) printOne(...m);
    initial.length = 0;
    for (const [k, v] of last)
      if (!seen.has(k)) {
        last.delete(k);
        if (v.row && (f.kind === 'table' || f.kind === 'wide')) printRow(v.kind, v.row, null);
        else if (f.kind === 'name') console.log(`${policy.RESOURCE[v.kind]}/${k.slice(k.indexOf('/') + 1)} deleted`);
      }
    if (first && seen.size === 0) console.error('No resources found');
    first = false;
  };

  const printRow = (kind: policy.Kind, row: string[], header: string[] | null) => {
    let w = widths.get(kind);
    if (!w && header) {
      widths.set(kind, (w = { header, rows: [] }));
      if (!opts.noHeaders) console.log(table(header, [row]).split('\n')[0]);
    }
    if (!w) return;
    console.log(
      table(w.header, [...w.rows, row])
        .split('\n')
        .at(-1),
    ); // the first listing's columns
  };
  const printOne = (kind: policy.Kind, x: policy.AnyObject, row: string[], header: string[]) => {
    if (f.kind === 'table' || f.kind === 'wide') printRow(kind, row, header);
    else if (f.kind === 'name') console.log(`${policy.RESOURCE[kind]}/${policy.displayName(x)}`);
    else printData(f, printable(x), []);
  };

  await emit();
  return new Promise<number>((resolve) => {
    let busy = Promise.resolve();
    const queue = (state?: policy.ClusterState) => {
      busy = busy.then(() => emit(state)).catch((e: unknown) => console.error(`Warning: ${(e as Error).message}`));
    };
    const w = st.watch((state) => queue(state), { health });
    const timer = setInterval(() => queue(), statusEveryMs);
    const stop = () => {
      clearInterval(timer);
      w.close();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void busy.then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
}

function predictedNote(): void {
  console.error(
    "note: no Node agent has reported yet: EGRESSIP and NODE are the control plane's prediction with every Node alive",
  );
}
