/**
 * The cluster state as etcd keys, one per object (docs/store.md "Keys on etcd"): reading a set of keys back into a
 * validated ClusterState, and the one transaction that turns one state into the next. Pure functions over what was
 * read; etcd.ts does the I/O.
 *
 *     <prefix>state/generation      {"generation": N, "updatedAt": "…"}: written by every apply and delete
 *     <prefix>state/controller      the controller's bookkeeping (ControllerState: allocations, pool ranges)
 *     <prefix>state/objects/<key>   one object, `<Kind>/<name>` or `<Kind>/<namespace>/<name>` (model.ts keyOf)
 *
 * The keys are put together into the value objects.json would hold and go through the same checks
 * (state.ts fromSnapshot): a store on etcd accepts exactly what the state directory accepts.
 */
import { ENGINE_API, emptyState, keyOf, objectKey } from '../model.js';
import type { AnyObject, ClusterState, Kind } from '../model.js';
import { fromSnapshot, toSnapshot } from '../state.js';
import type { SnapshotCache } from './check.js';
import type { Compare, KV, Op } from './etcd-client.js';
import { StoreError } from './fsutil.js';

export const STATE_DIR = 'state/';
export const GENERATION_KEY = 'state/generation';
export const CONTROLLER_KEY = 'state/controller';
export const OBJECTS_DIR = 'state/objects/';

/** What to do about a bad key, in its message. */
export const RECOVER_KEY =
  'delete it (etcdctl del KEY) or every state key (etcdctl del --prefix PREFIXstate/), then apply the manifests again';

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One key as read: its text, parsed JSON (or why not), and mod revision (for the transaction's compares). */
export interface StateEntry {
  readonly text: string;
  readonly value: unknown;
  readonly error: string | null;
  readonly mod: number;
}

/** The state keys of one prefix as last read (a range, or a range followed by watch events). */
export class StateKeys {
  /** Key without the prefix → entry. */
  readonly entries = new Map<string, StateEntry>();

  constructor(readonly prefix: string) {}

  /** Set from a watch event or a range result; keys outside `<prefix>state/` are ignored (false). */
  put(kv: KV): boolean {
    if (!kv.key.startsWith(this.prefix + STATE_DIR)) return false;
    const text = kv.value.toString('utf8');
    let value: unknown;
    let error: string | null = null;
    try {
      value = JSON.parse(text);
    } catch (e) {
      const m = String((e as Error)?.message ?? e);
      error = m.length > 160 ? `${m.slice(0, 160)}…` : m;
    }
    this.entries.set(kv.key.slice(this.prefix.length), { text, value, error, mod: kv.modRevision });
    return true;
  }

  delete(key: string): boolean {
    if (!key.startsWith(this.prefix + STATE_DIR)) return false;
    return this.entries.delete(key.slice(this.prefix.length));
  }

  static of(prefix: string, kvs: readonly KV[]): StateKeys {
    const k = new StateKeys(prefix);
    for (const kv of kvs) k.put(kv);
    return k;
  }

  /**
   * The ClusterState these keys hold, validated as objects.json is; StoreError (one line naming the key) when it
   * is not usable. No keys at all: the empty state.
   */
  decode(url: string, cache?: SnapshotCache): ClusterState {
    if (this.entries.size === 0) return emptyState();
    const where = (k: string) => `${url} key ${this.prefix}${k}`;
    const recover = RECOVER_KEY.replace('PREFIX', this.prefix);
    const parsed = (k: string): unknown => {
      const e = this.entries.get(k)!;
      if (e.error !== null) throw new StoreError(`${where(k)} is not valid JSON (${e.error}): ${recover}`);
      return e.value;
    };
    if (!this.entries.has(GENERATION_KEY))
      throw new StoreError(`${where(GENERATION_KEY)} is missing (${this.entries.size} other state keys): ${recover}`);
    const g = parsed(GENERATION_KEY);
    const generation = isMap(g) ? g['generation'] : undefined;
    if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0)
      throw new StoreError(`${where(GENERATION_KEY)}: generation must be a whole number; ${recover}`);
    const controller = this.entries.has(CONTROLLER_KEY) ? parsed(CONTROLLER_KEY) : null;
    const keys: string[] = [];
    const objects: unknown[] = [];
    for (const k of [...this.entries.keys()].sort()) {
      if (k === GENERATION_KEY || k === CONTROLLER_KEY) continue;
      if (!k.startsWith(OBJECTS_DIR)) throw new StoreError(`${where(k)} is not a key of the store; ${recover}`);
      const v = parsed(k);
      const m = isMap(v) && isMap(v['metadata']) ? v['metadata'] : null;
      const kind = isMap(v) ? v['kind'] : undefined;
      const name = m?.['name'];
      const ns = m?.['namespace'];
      const want =
        typeof kind === 'string' && typeof name === 'string'
          ? OBJECTS_DIR + objectKey(kind as Kind, name, typeof ns === 'string' ? ns : undefined)
          : null;
      if (want !== k)
        throw new StoreError(
          `${where(k)} holds ${want ? want.slice(OBJECTS_DIR.length) : 'no object with a kind and a name'}; ${recover}`,
        );
      keys.push(k);
      objects.push(v);
    }
    const r = fromSnapshot({ apiVersion: ENGINE_API, kind: 'StoreSnapshot', generation, objects, controller }, cache);
    if ('error' in r) {
      // name the key rather than the position in the assembled list
      const msg = r.error.replace(/^objects\[(\d+)\]/, (all, i: string) => {
        const k = keys[Number(i)];
        return k ? `key ${this.prefix}${k}` : all;
      });
      throw new StoreError(`${url} ${this.prefix}${STATE_DIR} is not a valid store state: ${msg}; ${recover}`);
    }
    return r.state;
  }
}

/** The etcd key of an object (without the prefix). */
export function objectStateKey(o: AnyObject): string {
  return OBJECTS_DIR + keyOf(o);
}

export interface StateTxn {
  readonly compare: Compare[];
  readonly success: Op[];
  /** Object keys written or deleted (the generation not counted). */
  readonly changedObjects: number;
}

/**
 * The one transaction that takes the store from `prev` (as read into `read`) to `next`: put every object whose
 * content changed, delete every object that is gone, put the controller when it changed and the generation always;
 * compare the mod revision read of every key it touches (a key that was absent: create revision 0), so a
 * concurrent writer makes it fail instead of being overwritten.
 */
export function stateTxn(read: StateKeys, prev: ClusterState, next: ClusterState, now: Date): StateTxn {
  const p = read.prefix;
  const compare: Compare[] = [];
  const success: Op[] = [];
  const guard = (k: string) => {
    const e = read.entries.get(k);
    compare.push(
      e
        ? { key: p + k, target: 'MOD', result: 'EQUAL', modRevision: e.mod }
        : { key: p + k, target: 'CREATE', result: 'EQUAL', createRevision: 0 },
    );
  };
  const before = new Map<string, AnyObject>();
  for (const o of toSnapshot(prev, now).objects) before.set(objectStateKey(o), o);
  let changedObjects = 0;
  const after = new Set<string>();
  for (const o of toSnapshot(next, now).objects) {
    const k = objectStateKey(o);
    after.add(k);
    const old = before.get(k);
    if (old === o) continue;
    const text = JSON.stringify(o);
    if (old && read.entries.has(k) && JSON.stringify(old) === text) continue;
    guard(k);
    success.push({ put: { key: p + k, value: text } });
    changedObjects++;
  }
  for (const k of read.entries.keys()) {
    if (!k.startsWith(OBJECTS_DIR) || after.has(k)) continue;
    guard(k);
    success.push({ del: { key: p + k } });
    changedObjects++;
  }
  const ctl = next.controller === null ? null : JSON.stringify(next.controller);
  const hadCtl = read.entries.has(CONTROLLER_KEY);
  if (ctl === null ? hadCtl : !hadCtl || JSON.stringify(prev.controller) !== ctl) {
    guard(CONTROLLER_KEY);
    success.push(
      ctl === null ? { del: { key: p + CONTROLLER_KEY } } : { put: { key: p + CONTROLLER_KEY, value: ctl } },
    );
  }
  guard(GENERATION_KEY);
  success.push({
    put: {
      key: p + GENERATION_KEY,
      value: JSON.stringify({ generation: next.generation, updatedAt: now.toISOString() }),
    },
  });
  return { compare, success, changedObjects };
}
