/**
 * The cluster-state reducer: apply or delete a set of objects atomically, then run the controller.
 *
 * `applyDocs(prev, docs, now)` decodes every document, checks the set (no duplicates, one agent configuration),
 * builds the state it would produce, runs Antrea's webhooks on every created or changed Egress and ExternalIPPool and
 * the cross-object rules on the result, and only then — when no error was found anywhere — reconciles the
 * controller (allocation) on it. One bad document changes nothing. The order of documents does not matter: an Egress
 * may come before the pool it names.
 *
 * Object metadata is managed here: `uid` (new for every creation), `creationTimestamp` (first apply; an applied
 * value is ignored, as the API server does), `generation` (+1 on every content change), `resourceVersion` (the
 * store generation of the last change). Applying replaces an object's content (labels, annotations, spec, and the
 * v1 kinds' status fields we model), except that an Egress whose manifest omits `egressIP` keeps the IP the
 * controller allocated to it, as long as it names the same pool (kubectl's three-way merge keeps it too, because the
 * user never set it). Status written by the controller is kept.
 *
 * Everything is a pure function of (previous state, documents, now).
 */
import { createHash } from 'node:crypto';
import { reconcileController } from './controller.js';
import type { ControllerChange } from './controller.js';
import { docFromValue } from './manifest.js';
import type { ManifestDoc } from './manifest.js';
import {
  BUILTIN_NAMESPACES,
  ENGINE_API,
  KINDS,
  cmp,
  displayName,
  emptyState,
  keyOf,
  objectKey,
  rfc3339,
} from './model.js';
import type {
  AgentConfig,
  AnyObject,
  ClusterState,
  ConfigMap,
  ControllerState,
  Egress,
  ExternalHost,
  ExternalIPPool,
  Kind,
  Namespace,
  Node,
  Pod,
} from './model.js';
import { Ctx, errorsOf, formatProblem } from './problems.js';
import type { Problem, Source } from './problems.js';
import { crossCheck, decodeDoc, egressWebhook, poolWebhook } from './validate.js';
import { checkSnapshot } from './store/check.js';
import type { SnapshotCache } from './store/check.js';

export type Action = 'created' | 'configured' | 'unchanged' | 'deleted';

export interface Change {
  readonly kind: Kind;
  /** `name`, or `namespace/name` for Pods and ConfigMaps. */
  readonly name: string;
  readonly action: Action;
  /** Why, for cascaded deletions. */
  readonly note?: string;
}

export interface ApplyResult {
  /** False when an error was found; `state` is then `prev`. */
  readonly ok: boolean;
  readonly state: ClusterState;
  /** Errors and warnings, in document order. */
  readonly problems: readonly Problem[];
  readonly changes: readonly Change[];
  readonly controller: readonly ControllerChange[];
  /** True when the state differs from `prev` (something must be written). */
  readonly changed: boolean;
}

/** Plural resource names, for "not found" messages as the API server words them. */
export const PLURAL: Record<Kind, string> = {
  Egress: 'egresses.crd.antrea.io',
  ExternalIPPool: 'externalippools.crd.antrea.io',
  Node: 'nodes',
  Namespace: 'namespaces',
  Pod: 'pods',
  ConfigMap: 'configmaps',
  AgentConfig: 'agentconfigs.egress-engine',
  ExternalHost: 'externalhosts.egress-engine',
};

interface MutableState {
  generation: number;
  egresses: Map<string, Egress>;
  pools: Map<string, ExternalIPPool>;
  nodes: Map<string, Node>;
  namespaces: Map<string, Namespace>;
  pods: Map<string, Pod>;
  externalHosts: Map<string, ExternalHost>;
  config: AgentConfig | ConfigMap | null;
  controller: ControllerState | null;
}

function mutable(s: ClusterState): MutableState {
  return {
    generation: s.generation,
    egresses: new Map(s.egresses),
    pools: new Map(s.pools),
    nodes: new Map(s.nodes),
    namespaces: new Map(s.namespaces),
    pods: new Map(s.pods),
    externalHosts: new Map(s.externalHosts),
    config: s.config,
    controller: s.controller,
  };
}

/** The stored object with a key, if any. */
export function getObject(s: ClusterState, kind: Kind, name: string, namespace?: string): AnyObject | undefined {
  switch (kind) {
    case 'Egress':
      return s.egresses.get(name);
    case 'ExternalIPPool':
      return s.pools.get(name);
    case 'Node':
      return s.nodes.get(name);
    case 'Namespace':
      return s.namespaces.get(name);
    case 'Pod':
      return s.pods.get(`${namespace ?? 'default'}/${name}`);
    case 'ExternalHost':
      return s.externalHosts.get(name);
    case 'AgentConfig':
    case 'ConfigMap':
      return s.config && keyOf(s.config) === objectKey(kind, name, namespace) ? s.config : undefined;
  }
}

function put(s: MutableState, o: AnyObject): void {
  switch (o.kind) {
    case 'Egress':
      s.egresses.set(o.metadata.name, o);
      break;
    case 'ExternalIPPool':
      s.pools.set(o.metadata.name, o);
      break;
    case 'Node':
      s.nodes.set(o.metadata.name, o);
      break;
    case 'Namespace':
      s.namespaces.set(o.metadata.name, o);
      break;
    case 'Pod':
      s.pods.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
      break;
    case 'ExternalHost':
      s.externalHosts.set(o.metadata.name, o);
      break;
    case 'AgentConfig':
    case 'ConfigMap':
      s.config = o;
      break;
  }
}

function remove(s: MutableState, o: AnyObject): void {
  switch (o.kind) {
    case 'Egress':
      s.egresses.delete(o.metadata.name);
      break;
    case 'ExternalIPPool':
      s.pools.delete(o.metadata.name);
      break;
    case 'Node':
      s.nodes.delete(o.metadata.name);
      break;
    case 'Namespace':
      s.namespaces.delete(o.metadata.name);
      break;
    case 'Pod':
      s.pods.delete(`${o.metadata.namespace}/${o.metadata.name}`);
      break;
    case 'ExternalHost':
      s.externalHosts.delete(o.metadata.name);
      break;
    case 'AgentConfig':
    case 'ConfigMap':
      s.config = null;
      break;
  }
}

/** JSON with sorted keys: equal content gives equal text whatever the key order. */
export function canonicalJSON(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => cmp(a, b)))
      : x,
  );
}

/** What "changed" means for an object: everything but the managed metadata and the controller-written status. */
function contentOf(o: AnyObject): string {
  const { uid: _u, creationTimestamp: _c, generation: _g, resourceVersion: _r, ...meta } = o.metadata;
  const rest: Record<string, unknown> = { ...o, metadata: meta };
  if (o.kind === 'Egress' || o.kind === 'ExternalIPPool') delete rest['status'];
  return canonicalJSON(rest);
}

/** A uid: deterministic from the object's key and the store generation that creates it. */
function makeUID(key: string, generation: number): string {
  const h = createHash('sha256').update(`${key}@${generation}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function finishMeta<T extends AnyObject>(o: T, old: T | undefined, gen: number, now: Date, changed: boolean): T {
  o.metadata.uid = old?.metadata.uid ?? makeUID(keyOf(o), gen);
  o.metadata.creationTimestamp = old?.metadata.creationTimestamp ?? rfc3339(now);
  o.metadata.generation = old ? old.metadata.generation + (changed ? 1 : 0) : 1;
  o.metadata.resourceVersion = changed || !old ? String(gen) : old.metadata.resourceVersion;
  return o;
}

/**
 * Apply a set of documents. `parseProblems` (YAML errors of the files) make the whole set fail too, so a file with
 * a syntax error changes nothing.
 */
export function applyDocs(
  prev: ClusterState,
  docs: readonly ManifestDoc[],
  now: Date,
  parseProblems: readonly Problem[] = [],
): ApplyResult {
  const problems: Problem[] = [...parseProblems];
  // Decode every document; keep going with the valid ones so one run reports as many errors as possible
  // (cross-object rules only run when every document decoded, to avoid errors that are echoes of another).
  const decoded = docs.map((d) => decodeDoc(d, problems)).filter((d): d is NonNullable<typeof d> => d !== null);
  const decodeFailed = errorsOf(problems).length > 0;
  const fail = (): ApplyResult => ({ ok: false, state: prev, problems, changes: [], controller: [], changed: false });

  const gen = prev.generation + 1;
  const next = mutable(prev);
  const sources = new Map<string, Source>();
  const changes: Change[] = [];
  const changedKeys = new Set<string>();
  let configKey: string | null = null;
  for (const d of decoded) {
    const o = d.object;
    const key = keyOf(o);
    const ctx = new Ctx(problems, d.source, o.kind, displayName(o));
    const dup = sources.get(key);
    if (dup) {
      ctx.error(
        'metadata.name',
        `${o.kind} ${displayName(o)} is defined twice in the set (also ${dup.file}:${dup.lineOf('')})`,
      );
      continue;
    }
    sources.set(key, d.source);
    if (o.kind === 'AgentConfig' || o.kind === 'ConfigMap') {
      if (configKey !== null) {
        ctx.error(
          '',
          `only one agent configuration (AgentConfig or antrea-config ConfigMap) is allowed; the set already has ${configKey}`,
        );
        continue;
      }
      configKey = key;
      if (prev.config && keyOf(prev.config) !== key) {
        ctx.error('', `the agent configuration is already given by ${keyOf(prev.config)}: delete it first`);
        continue;
      }
    }
    const old = getObject(prev, o.kind, o.metadata.name, o.metadata.namespace);
    if (o.kind === 'Egress' && old && old.kind === 'Egress') keepAllocatedIP(o, old, prev);
    if (old) {
      if (o.kind === 'Egress') o.status = (old as Egress).status;
      if (o.kind === 'ExternalIPPool') o.status = (old as ExternalIPPool).status;
    }
    const changed = !old || contentOf(old) !== contentOf(o);
    finishMeta(o, old, gen, now, changed);
    put(next, old && !changed ? old : o);
    changes.push({
      kind: o.kind,
      name: displayName(o),
      action: !old ? 'created' : changed ? 'configured' : 'unchanged',
    });
    if (changed) changedKeys.add(key);
  }

  // Webhooks on created and changed Egresses and pools.
  const ctxFor = (o: AnyObject): Ctx => new Ctx(problems, sources.get(keyOf(o)) ?? null, o.kind, displayName(o));
  const changedPools: ExternalIPPool[] = [];
  for (const d of decoded) {
    const o = d.object;
    if (!changedKeys.has(keyOf(o))) continue;
    if (o.kind === 'ExternalIPPool') {
      const others = [...next.pools.values()].filter((p) => !changedKeys.has(keyOf(p)) || changedPools.includes(p));
      poolWebhook(ctxFor(o), o, (prev.pools.get(o.metadata.name) as ExternalIPPool | undefined) ?? null, others);
      changedPools.push(o);
    }
  }
  for (const d of decoded) {
    const o = d.object;
    if (o.kind === 'Egress' && changedKeys.has(keyOf(o)))
      egressWebhook(ctxFor(o), o, prev.egresses.get(o.metadata.name) ?? null, next.pools);
  }
  if (decodeFailed || errorsOf(problems).length > 0) return fail();
  const candidate: ClusterState = { ...next, generation: gen };
  crossCheck(candidate, ctxFor, (o) => sources.has(keyOf(o)));
  if (errorsOf(problems).length > 0) return fail();

  if (changedKeys.size === 0 && prev.controller !== null) {
    return { ok: true, state: prev, problems, changes, controller: [], changed: false };
  }
  const r = reconcileController(candidate, now);
  return { ok: true, state: r.state, problems, changes, controller: r.changes, changed: true };
}

/** Keep the controller-allocated IP of an Egress whose manifest omits egressIP and keeps its pool. */
function keepAllocatedIP(next: Egress, old: Egress, prev: ClusterState): void {
  if (next.spec.egressIP !== undefined || !old.spec.egressIP) return;
  if (!next.spec.externalIPPool || next.spec.externalIPPool !== old.spec.externalIPPool) return;
  const a = prev.controller?.allocations.find((x) => x.egress === old.metadata.name);
  if (a && a.auto && a.pool === next.spec.externalIPPool) next.spec = { ...next.spec, egressIP: old.spec.egressIP };
}

/** Apply plain objects (tests, code): each becomes a document without line information. */
export function applyObjects(prev: ClusterState, objects: readonly unknown[], now: Date): ApplyResult {
  return applyDocs(
    prev,
    objects.map((o, i) => docFromValue(structuredClone(o), '<objects>', i + 1)),
    now,
  );
}

export interface DeleteTarget {
  readonly kind: Kind;
  readonly name: string;
  readonly namespace?: string;
  /** The document that named it (delete -f), for messages. */
  readonly source?: Source;
}

/**
 * Delete a set of objects atomically. Deleting a Namespace deletes its Pods; deleting a Node deletes the Pods bound
 * to it (the API server's namespace controller and Pod garbage collector do the same). Built-in Namespaces cannot
 * be deleted. A target that does not exist is an error unless `ignoreNotFound`.
 */
export function deleteObjects(
  prev: ClusterState,
  targets: readonly DeleteTarget[],
  now: Date,
  opts: { ignoreNotFound?: boolean } = {},
): ApplyResult {
  const problems: Problem[] = [];
  const next = mutable(prev);
  const changes: Change[] = [];
  const gone = new Set<string>();
  const fail = (): ApplyResult => ({ ok: false, state: prev, problems, changes: [], controller: [], changed: false });
  for (const t of targets) {
    const ctx = t.source
      ? new Ctx(problems, t.source, t.kind, t.namespace ? `${t.namespace}/${t.name}` : t.name)
      : new Ctx(problems, null);
    const o = getObject(prev, t.kind, t.name, t.namespace);
    if (t.kind === 'Namespace' && BUILTIN_NAMESPACES.includes(t.name)) {
      ctx.error('', `namespaces "${t.name}" is forbidden: this namespace may not be deleted`);
      continue;
    }
    if (!o) {
      if (!opts.ignoreNotFound) ctx.error('', `${PLURAL[t.kind]} "${t.name}" not found`);
      continue;
    }
    if (gone.has(keyOf(o))) continue;
    gone.add(keyOf(o));
    remove(next, o);
    changes.push({ kind: o.kind, name: displayName(o), action: 'deleted' });
  }
  if (errorsOf(problems).length > 0) return fail();
  for (const p of [...next.pods.values()].sort((a, b) => cmp(keyOf(a), keyOf(b)))) {
    const nsGone = gone.has(objectKey('Namespace', p.metadata.namespace));
    const nodeGone = p.spec.nodeName !== undefined && gone.has(objectKey('Node', p.spec.nodeName));
    if (!nsGone && !nodeGone) continue;
    remove(next, p);
    changes.push({
      kind: 'Pod',
      name: displayName(p),
      action: 'deleted',
      note: nsGone ? `Namespace ${p.metadata.namespace} deleted` : `Node ${p.spec.nodeName} deleted`,
    });
  }
  if (changes.length === 0) return { ok: true, state: prev, problems, changes, controller: [], changed: false };
  const candidate: ClusterState = { ...next, generation: prev.generation + 1 };
  crossCheck(
    candidate,
    (o) => new Ctx(problems, null, o.kind, displayName(o)),
    () => false,
  );
  if (errorsOf(problems).length > 0) return fail();
  const r = reconcileController(candidate, now);
  return { ok: true, state: r.state, problems, changes, controller: r.changes, changed: true };
}

// --- snapshots ---------------------------------------------------------------------------------------------------

/** The JSON form of a state (objects.json in the state directory). */
export interface Snapshot {
  apiVersion: typeof ENGINE_API;
  kind: 'StoreSnapshot';
  generation: number;
  updatedAt: string;
  objects: AnyObject[];
  controller: ControllerState | null;
}

export function toSnapshot(state: ClusterState, now: Date): Snapshot {
  const objects: AnyObject[] = [];
  if (state.config) objects.push(state.config);
  for (const kind of KINDS) {
    if (kind === 'AgentConfig' || kind === 'ConfigMap') continue;
    const m: ReadonlyMap<string, AnyObject> =
      kind === 'Egress'
        ? state.egresses
        : kind === 'ExternalIPPool'
          ? state.pools
          : kind === 'Node'
            ? state.nodes
            : kind === 'Namespace'
              ? state.namespaces
              : kind === 'Pod'
                ? state.pods
                : state.externalHosts;
    objects.push(...[...m.values()].sort((a, b) => cmp(keyOf(a), keyOf(b))));
  }
  return {
    apiVersion: ENGINE_API,
    kind: 'StoreSnapshot',
    generation: state.generation,
    updatedAt: now.toISOString(),
    objects,
    controller: state.controller,
  };
}

/**
 * A state from a snapshot's JSON value, validated as `egress apply` validates manifests (store/check.ts); an error
 * text (one line) otherwise. `cache`: what an earlier call accepted, to skip objects that did not change.
 */
export function fromSnapshot(v: unknown, cache?: SnapshotCache): { state: ClusterState } | { error: string } {
  const build = (objects: readonly AnyObject[], generation: number, controller: ControllerState | null) => {
    const s = mutable(emptyState());
    for (const o of objects) put(s, o);
    return { ...s, generation, controller };
  };
  const r = checkSnapshot(v, build, cache);
  return 'error' in r ? r : { state: r.value };
}

/** One line per problem. */
export function formatProblems(ps: readonly Problem[]): string[] {
  return ps.map(formatProblem);
}
