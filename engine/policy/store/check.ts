/**
 * Validation of everything the store reads back: objects.json, status/<node>.json, events.jsonl lines. A store file
 * is input like a manifest — any process of the state directory's user can write it, and a crash or a bad tool can
 * leave anything in it — so nothing read is trusted by type: each reader gets either a value of exactly the
 * expected shape or a one-line reason (docs/security.md).
 *
 * objects.json goes through the same checks as `egress apply` (validate.ts): every object is decoded again by the
 * manifest decoders (CRD schemas, object rules), the webhooks run on every Egress and ExternalIPPool as if it were
 * created, and the cross-object rules (`crossCheck`: unique transport IPs, pods on existing Nodes, ...) on the whole
 * set. The metadata the store manages (uid, creationTimestamp, generation, resourceVersion), the controller-written
 * status and the controller's bookkeeping are checked here by type.
 */
import { docFromValue } from '../manifest.js';
import { ENGINE_API, displayName, keyOf } from '../model.js';
import type {
  Allocation,
  AnyObject,
  ClusterState,
  ControllerState,
  Egress,
  EgressCondition,
  EgressStatus,
  ExternalIPPool,
} from '../model.js';
import { parseIP } from '../ip.js';
import { Ctx, errorsOf } from '../problems.js';
import type { Problem, Source } from '../problems.js';
import { dns1123SubdomainErrors } from '../selector.js';
import type { EgressEvent, NodeStatusEntry, NodeStatusFile } from '../status.js';
import { crossCheck, decodeDoc, egressWebhook, poolWebhook } from '../validate.js';

export type Checked<T> = { readonly value: T } | { readonly error: string };

const OBJECTS = 'objects.json';
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const validTime = (v: unknown): v is string => typeof v === 'string' && Number.isFinite(Date.parse(v));

/** One line for the first error (and how many more there are). */
function firstError(problems: readonly Problem[]): string | null {
  const errs = errorsOf(problems);
  if (errs.length === 0) return null;
  const p = errs[0]!;
  const at = p.doc !== undefined ? `objects[${p.doc - 1}] ` : '';
  const obj = p.kind !== undefined ? `(${p.kind}/${p.name ?? ''}) ` : '';
  const field = p.path ? `${p.path}: ` : '';
  const more = errs.length > 1 ? ` (and ${errs.length - 1} more problem${errs.length > 2 ? 's' : ''})` : '';
  return `${at}${obj}${field}${p.message}${more}`;
}

function checkCondition(ctx: Ctx, v: unknown, path: string): EgressCondition | undefined {
  const m = ctx.map(v, path);
  if (!m) return undefined;
  const type = ctx.str(m['type'], `${path}.type`);
  const status = ctx.str(m['status'], `${path}.status`);
  const lastTransitionTime = ctx.str(m['lastTransitionTime'], `${path}.lastTransitionTime`);
  const reason = ctx.str(m['reason'], `${path}.reason`);
  const message = ctx.str(m['message'], `${path}.message`);
  if (type !== undefined && type !== 'IPAssigned' && type !== 'IPAllocated')
    ctx.error(`${path}.type`, `Unsupported value: "${type}"`);
  if (status !== undefined && status !== 'True' && status !== 'False' && status !== 'Unknown')
    ctx.error(`${path}.status`, `Unsupported value: "${status}"`);
  if (lastTransitionTime !== undefined && !validTime(lastTransitionTime))
    ctx.error(`${path}.lastTransitionTime`, `Invalid value: "${lastTransitionTime}": not a time`);
  if (type === undefined || status === undefined || lastTransitionTime === undefined) return undefined;
  if (reason === undefined || message === undefined) return undefined;
  return {
    type: type as EgressCondition['type'],
    status: status as EgressCondition['status'],
    lastTransitionTime,
    reason,
    message,
  };
}

function checkConditions(ctx: Ctx, v: unknown, path: string): EgressCondition[] | undefined {
  const l = ctx.list(v, path);
  if (!l) return undefined;
  const out: EgressCondition[] = [];
  l.forEach((c, i) => {
    const x = checkCondition(ctx, c, `${path}[${i}]`);
    if (x) out.push(x);
  });
  return out.length === l.length ? out : undefined;
}

/** The managed metadata of a stored object, copied onto its decoded form. */
function restoreMeta(ctx: Ctx, raw: Record<string, unknown>, o: AnyObject): void {
  const m = isMap(raw['metadata']) ? raw['metadata'] : {};
  const uid = ctx.str(m['uid'], 'metadata.uid');
  const created = ctx.str(m['creationTimestamp'], 'metadata.creationTimestamp');
  const gen = ctx.int(m['generation'], 'metadata.generation');
  const rv = ctx.str(m['resourceVersion'], 'metadata.resourceVersion');
  if (uid === '') ctx.error('metadata.uid', 'Required value');
  if (created !== undefined && !validTime(created))
    ctx.error('metadata.creationTimestamp', `Invalid value: "${created}": not a time`);
  if (gen !== undefined && gen < 1) ctx.error('metadata.generation', `Invalid value: ${gen}: must be at least 1`);
  o.metadata.uid = uid ?? '';
  o.metadata.creationTimestamp = created ?? '';
  o.metadata.generation = gen ?? 0;
  o.metadata.resourceVersion = rv ?? '';
}

function restoreEgressStatus(ctx: Ctx, raw: Record<string, unknown>, e: Egress): void {
  const st = ctx.map(raw['status'], 'status');
  if (!st) return;
  const egressNode = ctx.str(st['egressNode'], 'status.egressNode');
  const egressIP = ctx.str(st['egressIP'], 'status.egressIP');
  const status: EgressStatus = { egressNode: egressNode ?? '', egressIP: egressIP ?? '' };
  if (st['conditions'] !== undefined) {
    const c = checkConditions(ctx, st['conditions'], 'status.conditions');
    if (c) status.conditions = c;
  }
  e.status = status;
}

function restorePoolStatus(ctx: Ctx, raw: Record<string, unknown>, p: ExternalIPPool): void {
  const st = ctx.map(raw['status'], 'status');
  const usage = st ? ctx.map(st['usage'], 'status.usage') : undefined;
  if (!usage) return;
  const total = ctx.int(usage['total'], 'status.usage.total');
  const used = ctx.int(usage['used'], 'status.usage.used');
  if (total === undefined || used === undefined) return;
  if (total < 0 || used < 0 || used > total)
    ctx.error('status.usage', `Invalid value: used ${used} of ${total}: must be 0 ≤ used ≤ total`);
  p.status = { usage: { total, used } };
}

function checkController(ctx: Ctx, v: unknown): ControllerState | null {
  if (v === null || v === undefined) return null;
  const m = ctx.map(v, 'controller');
  if (!m) return null;
  const allocations: Allocation[] = [];
  const l = ctx.list(m['allocations'], 'controller.allocations');
  l?.forEach((a, i) => {
    const p = `controller.allocations[${i}]`;
    const x = ctx.map(a, p);
    if (!x) return;
    const egress = ctx.str(x['egress'], `${p}.egress`);
    const pool = ctx.str(x['pool'], `${p}.pool`);
    const ip = ctx.str(x['ip'], `${p}.ip`);
    const auto = ctx.bool(x['auto'], `${p}.auto`);
    if (ip !== undefined && !parseIP(ip)) ctx.error(`${p}.ip`, `Invalid value: "${ip}": not an IP address`);
    if (egress !== undefined && pool !== undefined && ip !== undefined && auto !== undefined)
      allocations.push({ egress, pool, ip, auto });
  });
  const poolRanges: Record<string, string[]> = {};
  const r = ctx.map(m['poolRanges'], 'controller.poolRanges');
  for (const [k, x] of Object.entries(r ?? {})) {
    if (dns1123SubdomainErrors(k).length > 0) {
      ctx.error('controller.poolRanges', `Invalid value: "${k}": not a pool name`);
      continue;
    }
    const s = ctx.strList(x, `controller.poolRanges[${k}]`);
    if (s) poolRanges[k] = s;
  }
  return { allocations, poolRanges };
}

/** Builds the state from checked objects (state.ts owns the state's containers). */
export type SnapshotBuilder = (
  objects: readonly AnyObject[],
  generation: number,
  controller: ControllerState | null,
) => ClusterState;

/**
 * What a long-running reader (an agent's watchStore) keeps from the last snapshot it accepted: each object decoded
 * from its stored JSON text. An object whose text did not change is not decoded again, and the webhooks are not
 * run again on an Egress whose pool did not change either (nor on the pools when none changed); the cross-object
 * rules always run on the whole set. Objects of a state are never modified in place, so sharing them is safe.
 * `npm run bench -- '^store/'` (2 611 objects, same run): 80 µs per stored object without it, 32 µs with it when
 * nothing changed, JSON.parse alone 4 µs — most of the rest is the cross-object rules, which `egress apply` runs
 * too.
 */
export class SnapshotCache {
  objects = new Map<string, AnyObject>();
}

/**
 * A cluster state from the parsed JSON of objects.json, or the first problem found. Checks the snapshot's shape,
 * decodes every object as `egress apply` does, runs the webhooks and the cross-object rules on the whole set.
 */
export function checkSnapshot(v: unknown, build: SnapshotBuilder, cache?: SnapshotCache): Checked<ClusterState> {
  if (!isMap(v) || v['kind'] !== 'StoreSnapshot') return { error: 'not a StoreSnapshot' };
  if (v['apiVersion'] !== ENGINE_API) return { error: `apiVersion must be ${ENGINE_API}` };
  const generation = v['generation'];
  if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0)
    return { error: 'generation must be a whole number' };
  if (!Array.isArray(v['objects'])) return { error: 'objects must be an array' };
  const problems: Problem[] = [];
  const raws = v['objects'] as unknown[];
  const objects: AnyObject[] = [];
  const index = new Map<string, number>(); // object key → its index in objects[] (for messages)
  const known = new Set<AnyObject>(); // objects taken from the cache: checked before, unchanged
  const next = new Map<string, AnyObject>();
  // Where an object is, for messages (objects[i]): no lines in a stored file.
  const where = (i: number | undefined): Source | null =>
    i === undefined ? null : { file: OBJECTS, doc: i + 1, lineOf: () => 1 };
  let config: AnyObject | null = null;
  raws.forEach((raw, i) => {
    const text = cache ? JSON.stringify(raw) : '';
    let o = cache?.objects.get(text);
    if (o) known.add(o);
    else {
      const doc = docFromValue(raw, OBJECTS, i + 1);
      const d = decodeDoc(doc, problems);
      if (!d || !isMap(raw)) return;
      o = d.object;
      const ctx = new Ctx(problems, doc, o.kind, displayName(o));
      restoreMeta(ctx, raw, o);
      if (o.kind === 'Egress') restoreEgressStatus(ctx, raw, o);
      if (o.kind === 'ExternalIPPool') restorePoolStatus(ctx, raw, o);
    }
    const key = keyOf(o);
    const fail = (path: string, msg: string) => new Ctx(problems, where(i), o.kind, displayName(o)).error(path, msg);
    if (index.has(key)) return fail('metadata.name', `${o.kind} ${displayName(o)} is stored twice`);
    if (o.kind === 'AgentConfig' || o.kind === 'ConfigMap') {
      if (config) return fail('', `a second agent configuration (the first is ${keyOf(config)})`);
      config = o;
    }
    index.set(key, i);
    objects.push(o);
    if (cache) next.set(text, o);
  });
  const controller = checkController(new Ctx(problems, null), v['controller']);
  const bad = firstError(problems);
  if (bad) return { error: bad };

  const state = build(objects, generation, controller);
  const ctxFor = (o: AnyObject) => new Ctx(problems, where(index.get(keyOf(o))), o.kind, displayName(o));
  const pools = [...state.pools.values()];
  if (!pools.every((p) => known.has(p))) for (const p of pools) poolWebhook(ctxFor(p), p, null, pools);
  for (const e of state.egresses.values()) {
    const pool = e.spec.externalIPPool ? state.pools.get(e.spec.externalIPPool) : undefined;
    if (!known.has(e) || (pool && !known.has(pool))) egressWebhook(ctxFor(e), e, null, state.pools);
  }
  if (!firstError(problems)) crossCheck(state, ctxFor, () => false);
  const err = firstError(problems);
  if (err) return { error: err };
  if (cache) cache.objects = next;
  return { value: state };
}

function checkEntry(ctx: Ctx, v: unknown, path: string): NodeStatusEntry | undefined {
  const m = ctx.map(v, path);
  if (!m) return undefined;
  const uid = ctx.str(m['uid'], `${path}.uid`);
  const egressNode = ctx.str(m['egressNode'], `${path}.egressNode`);
  const egressIP = ctx.str(m['egressIP'], `${path}.egressIP`);
  const conditions = checkConditions(ctx, m['conditions'], `${path}.conditions`);
  const updatedAt = m['updatedAt'];
  if (!validTime(updatedAt)) ctx.error(`${path}.updatedAt`, `Invalid value: must be a time`);
  if (uid === undefined || egressNode === undefined || egressIP === undefined || !conditions || !validTime(updatedAt))
    return undefined;
  return { uid, egressNode, egressIP, conditions, updatedAt };
}

/** A Node status file's parsed JSON, checked; `name` is the file's name (`<node>.json`). */
export function checkNodeStatus(v: unknown, name: string): Checked<NodeStatusFile> {
  const problems: Problem[] = [];
  const ctx = new Ctx(problems, null);
  if (!isMap(v) || v['kind'] !== 'NodeStatus') return { error: 'not a NodeStatus' };
  if (v['apiVersion'] !== ENGINE_API) return { error: `apiVersion must be ${ENGINE_API}` };
  const node = ctx.str(v['node'], 'node');
  if (node !== undefined && `${node}.json` !== name) ctx.error('node', `"${node}" does not match the file name`);
  const gen = ctx.int(v['observedGeneration'], 'observedGeneration');
  if (gen !== undefined && gen < 0) ctx.error('observedGeneration', `Invalid value: ${gen}`);
  if (!validTime(v['updatedAt'])) ctx.error('updatedAt', 'Invalid value: must be a time');
  const egresses: Record<string, NodeStatusEntry> = {};
  const em = ctx.map(v['egresses'], 'egresses');
  for (const [k, x] of Object.entries(em ?? {})) {
    // Egress names are DNS subdomains: this also keeps "__proto__" and friends out of the record.
    if (dns1123SubdomainErrors(k).length > 0) {
      ctx.error('egresses', `Invalid value: "${k}": not an Egress name`);
      continue;
    }
    const e = checkEntry(ctx, x, `egresses[${k}]`);
    if (e) egresses[k] = e;
  }
  const hosted = ctx.strList(v['hosted'], 'hosted');
  const err = firstError(problems);
  if (err || node === undefined || gen === undefined || !hosted || !em) return { error: err ?? 'invalid' };
  return {
    value: {
      apiVersion: ENGINE_API,
      kind: 'NodeStatus',
      node,
      observedGeneration: gen,
      updatedAt: v['updatedAt'] as string,
      egresses,
      hosted,
    },
  };
}

/** One events.jsonl line's parsed JSON, checked. */
export function checkEvent(v: unknown): Checked<EgressEvent> {
  if (!isMap(v)) return { error: 'not an object' };
  const { time, type, reason, egress, node, ip, message } = v;
  if (!validTime(time)) return { error: 'time is not a time' };
  if (type !== 'Normal' && type !== 'Warning') return { error: 'type must be Normal or Warning' };
  if (reason !== 'IPAssigned' && reason !== 'IPUnassigned')
    return { error: 'reason must be IPAssigned or IPUnassigned' };
  for (const [k, x] of Object.entries({ egress, node, ip, message }))
    if (typeof x !== 'string') return { error: `${k} must be a string` };
  return {
    value: {
      time,
      type,
      reason,
      egress: egress as string,
      node: node as string,
      ip: ip as string,
      message: message as string,
    },
  };
}
