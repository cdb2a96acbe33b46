/**
 * The replay timeline: node failures and recoveries and manifest changes at packet times, so failover and
 * policy changes are testable without root.
 *
 *     - at: 1.5                 # seconds after the first packet of the input capture
 *       fail: node-b            # the node stops: no packets in or out, no control plane (a frozen agent)
 *     - at: 4
 *       restore: node-b
 *     - at: 2
 *       apply: |                # manifest documents, as `egress apply` takes them
 *         apiVersion: crd.antrea.io/v1beta1
 *         kind: Egress
 *         ...
 *     - at: 3
 *       applyFile: more.yaml    # a manifest file in the timeline file's directory (or below it)
 *     - at: 5
 *       delete: [{kind: Egress, name: egress-prod}]
 *
 * The whole timeline is checked before any packet is processed: unknown keys, unknown nodes, bad times, and
 * manifest changes that would be refused (they are applied in order to a copy of the initial state).
 */
import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  applyDocs,
  deleteObjects,
  formatProblems,
  KINDS,
  MAX_ALIAS_COUNT,
  manifestSizeLimit,
  parseManifests,
  readManifestFile,
  type ClusterState,
  type DeleteTarget,
  type Kind,
  type ManifestDoc,
  type Problem,
} from '../policy/index.js';

export type TimelineAction =
  | { kind: 'fail'; node: string }
  | { kind: 'restore'; node: string }
  | { kind: 'apply'; docs: readonly ManifestDoc[]; problems: readonly Problem[]; label: string }
  | { kind: 'delete'; targets: readonly DeleteTarget[] };

export interface TimelineEvent {
  /** Seconds after the first input packet. */
  at: number;
  action: TimelineAction;
  /** Position in the file (1-based), for messages. */
  index: number;
}

export class TimelineError extends Error {
  override readonly name = 'TimelineError';
}

const KEYS = new Set(['at', 'fail', 'restore', 'apply', 'applyFile', 'delete']);

/** One line for a file-system error, without the path Node appends (the caller names the file). */
function sysMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/, \w+ '.*'$/, '').split('\n')[0]!;
}

/**
 * The file an `applyFile` names, which must lie inside the timeline's directory (after resolving symbolic
 * links): a timeline cannot make replay read files elsewhere, and nothing of a refused file is shown.
 */
function confined(timeline: string, name: string, where: string): string {
  let dir: string;
  let target: string;
  try {
    dir = realpathSync(dirname(resolve(timeline)));
    target = realpathSync(resolve(dir, name));
  } catch (e) {
    throw new TimelineError(`${where}: applyFile ${name}: ${sysMessage(e)}`);
  }
  const rel = relative(dir, target);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    throw new TimelineError(`${where}: applyFile ${name} is outside the timeline's directory ${dir}`);
  return target;
}

/** Parse and check a timeline against the initial state; events come back sorted by time (stable). */
export function loadTimeline(path: string, initial: ClusterState, now: Date): TimelineEvent[] {
  const r = readManifestFile(path);
  if ('error' in r) throw new TimelineError(r.error);
  return parseTimeline(r.text, path, initial, now);
}

export function parseTimeline(text: string, file: string, initial: ClusterState, now: Date): TimelineEvent[] {
  let raw: unknown;
  if (text.length > manifestSizeLimit())
    throw new TimelineError(`${file}: more than the ${manifestSizeLimit()}-byte limit for a manifest`);
  try {
    raw = parseYaml(text, { maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // The YAML library's message names the line and column; its first line only (the rest quotes the text).
    if (e instanceof ReferenceError)
      throw new TimelineError(`${file}: refused: aliases expand too much (${e.message}); an alias bomb?`);
    throw new TimelineError(`${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || raw === undefined) return [];
  if (!Array.isArray(raw)) throw new TimelineError(`${file}: a timeline is a YAML list of events (- at: SECONDS, ...)`);
  const events: TimelineEvent[] = [];
  raw.forEach((item: unknown, i) => {
    const where = `${file}: event ${i + 1}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new TimelineError(`${where}: must be a mapping`);
    const o = item as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!KEYS.has(k)) throw new TimelineError(`${where}: unknown key "${k}" (known: ${[...KEYS].join(', ')})`);
    const at = o['at'];
    if (typeof at !== 'number' || !Number.isFinite(at) || at < 0)
      throw new TimelineError(`${where}: "at" must be a number of seconds ≥ 0`);
    const actions = ['fail', 'restore', 'apply', 'applyFile', 'delete'].filter((k) => o[k] !== undefined);
    if (actions.length !== 1)
      throw new TimelineError(`${where}: needs exactly one of fail, restore, apply, applyFile, delete`);
    const k = actions[0]!;
    const v = o[k];
    let action: TimelineAction;
    if (k === 'fail' || k === 'restore') {
      if (typeof v !== 'string') throw new TimelineError(`${where}: "${k}" takes a node name`);
      action = { kind: k, node: v };
    } else if (k === 'apply' || k === 'applyFile') {
      if (typeof v !== 'string')
        throw new TimelineError(`${where}: "${k}" takes ${k === 'apply' ? 'YAML text' : 'a file path'}`);
      let docText = v;
      let label = `${file} event ${i + 1}`;
      if (k === 'applyFile') {
        const p = confined(file, v, where);
        const r = readManifestFile(p);
        if ('error' in r) throw new TimelineError(`${where}: ${r.error}`);
        docText = r.text;
        label = p;
      }
      const parsed = parseManifests(docText, label);
      action = { kind: 'apply', docs: parsed.docs, problems: parsed.problems, label };
    } else {
      const list = Array.isArray(v) ? v : [v];
      const targets: DeleteTarget[] = list.map((t: unknown) => {
        const x = t as Record<string, unknown>;
        if (typeof x !== 'object' || x === null || typeof x['kind'] !== 'string' || typeof x['name'] !== 'string')
          throw new TimelineError(`${where}: delete takes {kind, name[, namespace]} items`);
        if (!KINDS.includes(x['kind'] as Kind)) throw new TimelineError(`${where}: unknown kind ${x['kind']}`);
        const tgt: DeleteTarget =
          typeof x['namespace'] === 'string'
            ? { kind: x['kind'] as Kind, name: x['name'], namespace: x['namespace'] }
            : { kind: x['kind'] as Kind, name: x['name'] };
        return tgt;
      });
      action = { kind: 'delete', targets };
    }
    events.push({ at, action, index: i + 1 });
  });
  events.sort((a, b) => a.at - b.at || a.index - b.index);
  // Dry run in order: node names must exist, manifest changes must be accepted.
  let state = initial;
  const down = new Set<string>();
  for (const e of events) {
    const where = `${file}: event ${e.index}`;
    const a = e.action;
    if (a.kind === 'fail' || a.kind === 'restore') {
      if (!state.nodes.has(a.node)) throw new TimelineError(`${where}: no Node named ${a.node}`);
      if (a.kind === 'fail' && down.has(a.node)) throw new TimelineError(`${where}: ${a.node} has already failed`);
      if (a.kind === 'restore' && !down.has(a.node)) throw new TimelineError(`${where}: ${a.node} has not failed`);
      if (a.kind === 'fail') down.add(a.node);
      else down.delete(a.node);
    } else {
      const r = a.kind === 'apply' ? applyDocs(state, a.docs, now, a.problems) : deleteObjects(state, a.targets, now);
      if (!r.ok) {
        const lines = formatProblems(r.problems.filter((p) => p.severity === 'error'));
        throw new TimelineError(`${where}: refused:${lines.length === 1 ? ' ' : '\n  '}${lines.join('\n  ')}`);
      }
      state = r.state;
    }
  }
  return events;
}
