/**
 * What `egress get` prints from the store (and `egress demo` shows between its steps): objects of a kind with
 * kubectl's columns (the printers of printers.ts) or as YAML/JSON, events, a Node's compiled view, the pipeline.
 */
import * as policy from '../engine/policy/index.js';
import { UsageError, UserError } from './errors.js';
import { kindOf } from './kinds.js';
import { listOf, age, table, toJSON, toYAML } from './output.js';
import { pipelineDot } from './pipeline-dot.js';
import { PrintContext, printRows } from './printers.js';

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

/** `egress get WORD [NAME...]` against a store: prints, returns the exit code. */
export async function listObjects(
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
    const { header, rows } = printRows(kind, objects, new PrintContext(o.state, o.statuses, now), output === 'wide');
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
