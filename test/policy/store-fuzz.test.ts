/**
 * Fuzzer for the store's files (issue 11): mutated objects.json, Node status files and events.jsonl lines go
 * through every reader — loadState, readNodeStatuses, readEvents, watchStore — which never throw anything but a
 * one-line StoreError. What a reader accepts is safe for its consumers: the control plane of every Node (syncNode,
 * mergeStatus) runs on it without throwing. An agent's state changes only when the file is accepted.
 *
 * Mutations start from real files (the reference scenario, its Nodes' status files and events) and are applied at
 * random paths: a value replaced by arbitrary JSON (or a value of another path), a key deleted, an array element
 * duplicated, or the text truncated or one byte changed. Seeded (EGRESS_FUZZ_SEED overrides), so a failure names
 * its seed and path and can be replayed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { T0, at, mustApply } from './helpers.js';

const { store } = policy;
const SEED = Number(process.env['EGRESS_FUZZ_SEED'] ?? 20260301);
const REF = join(import.meta.dirname, '../../examples/reference/cluster.yaml');
const dir = mkdtempSync(join(tmpdir(), 'egr-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const reference = mustApply(
  policy.emptyState(),
  policy.parseManifests(readFileSync(REF, 'utf8'), REF).docs.map((d) => d.value),
);
const sim = new policy.ClusterSim(reference);
sim.settle(at(1));
const goodStatus = [...sim.files().values()];
store.saveState(dir, reference, T0);
const goodObjects = readFileSync(join(dir, 'objects.json'), 'utf8');
const goodEvents = policy
  .transitionEvents('node-a', new Map(), new Map([['egress-prod-web', '198.18.0.253']]), T0.toISOString())
  .concat(policy.transitionEvents('node-c', new Map([['egress-x', '198.18.0.254']]), new Map(), at(2).toISOString()));

type Path = (string | number)[];

/** Every path of a JSON value (the root included). */
function paths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function get(v: unknown, p: Path): unknown {
  return p.reduce<unknown>((x, k) => (x as Record<string | number, unknown>)?.[k], v);
}

type Mutation =
  | { op: 'set'; at: number; value: unknown }
  | { op: 'copy'; at: number; from: number }
  | { op: 'delete'; at: number }
  | { op: 'dup'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({
    op: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.constantFrom(null, '', 0, -1, 1.5, true, [], {}, 'x', '198.18.0.11', '__proto__', '2020-13-45T99:00Z'),
  }),
  fc.record({ op: fc.constant('copy' as const), at: fc.nat(), from: fc.nat() }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat() }),
);

/** Apply mutations to a copy of `v`; returns the copy and where each one landed (for failure messages). */
function mutate(v: unknown, ms: readonly Mutation[]): { value: unknown; where: string[] } {
  let root: unknown = structuredClone(v);
  const where: string[] = [];
  for (const m of ms) {
    const ps = paths(root);
    const p = ps[m.at % ps.length]!;
    where.push(`${m.op} ${p.join('.')}`);
    const value =
      m.op === 'set' ? m.value : m.op === 'copy' ? structuredClone(get(root, ps[m.from % ps.length]!)) : undefined;
    if (p.length === 0) {
      if (m.op === 'set' || m.op === 'copy') root = value;
      continue;
    }
    const parent = get(root, p.slice(0, -1)) as Record<string | number, unknown> | unknown[];
    const key = p[p.length - 1]!;
    if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete (parent as Record<string, unknown>)[key];
    } else if (m.op === 'dup') {
      if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(parent[key as number]));
    } else (parent as Record<string | number, unknown>)[key] = value;
  }
  return { value: root, where };
}

/** A text-level corruption: truncated, or one byte replaced. */
const textDamage = fc.oneof(
  fc.record({ cut: fc.nat() }),
  fc.record({ pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);
function damage(text: string, d: { cut: number } | { pos: number; byte: number }): string {
  const b = Buffer.from(text);
  if ('cut' in d) return b.subarray(0, d.cut % b.length).toString('latin1');
  b[d.pos % b.length] = d.byte;
  return b.toString('latin1');
}

/** Run `f`; it may return or throw a one-line StoreError, nothing else. */
function onlyStoreErrors<T>(f: () => T): T | null {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof store.StoreError)) throw e;
    expect(e.message).not.toContain('\n');
    return null;
  }
}

/** What consumers do with an accepted state: every Node's control-plane step, the merged and predicted status. */
function consume(state: policy.ClusterState, files: readonly policy.NodeStatusFile[]): void {
  policy.mergeStatus(state, files);
  policy.predictStatus(state, T0);
  const all = new Set(state.nodes.keys());
  for (const node of state.nodes.keys()) {
    const r = policy.syncNode({ state, node, membership: all, now: T0, current: policy.mergeStatus(state, files) });
    policy.syncNode({ state, node, membership: new Set([node]), now: at(1), memory: r.memory });
  }
  expect(policy.toSnapshot(state, T0).generation).toBe(state.generation);
}

describe('store fuzzer', () => {
  it('objects.json: mutated values never throw but StoreError; accepted states run every Node (400 cases)', () => {
    const snap = JSON.parse(goodObjects);
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const { value } = mutate(snap, ms);
        writeFileSync(join(dir, 'objects.json'), JSON.stringify(value) ?? 'undefined');
        const st = onlyStoreErrors(() => store.loadState(dir));
        if (st) {
          accepted++;
          consume(st, goodStatus);
        }
      }),
      { numRuns: 400, seed: SEED },
    );
    // Some mutations keep the snapshot valid (a label value changed...): the property is not vacuous.
    expect(accepted).toBeGreaterThan(10);
  });

  it('objects.json: truncated or byte-damaged text never throws but StoreError (300 cases)', () => {
    fc.assert(
      fc.property(textDamage, (d) => {
        writeFileSync(join(dir, 'objects.json'), damage(goodObjects, d));
        const st = onlyStoreErrors(() => store.loadState(dir));
        if (st) consume(st, goodStatus);
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it('status files: mutated files are skipped (never thrown); what is read merges and syncs (400 cases)', () => {
    let skipped = 0;
    fc.assert(
      fc.property(
        fc.nat({ max: goodStatus.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        fc.option(textDamage),
        (which, ms, dmg) => {
          for (const g of goodStatus)
            writeFileSync(join(dir, 'status', `${g.node}.json`), JSON.stringify(g), { mode: 0o600 });
          const f = goodStatus[which]!;
          const text = JSON.stringify(mutate(f, ms).value) ?? 'null';
          writeFileSync(join(dir, 'status', `${f.node}.json`), dmg ? damage(text, dmg) : text);
          const health = new store.StoreHealth();
          const read = store.readNodeStatuses(dir, { health });
          if (read.length < goodStatus.length) skipped++;
          expect(health.snapshot().problems.status).toBe(goodStatus.length - read.length);
          for (const r of read)
            expect(store.checkNodeStatus(JSON.parse(JSON.stringify(r)), `${r.node}.json`)).toEqual({ value: r });
          consume(reference, read);
        },
      ),
      { numRuns: 400, seed: SEED },
    );
    expect(skipped).toBeGreaterThan(100);
  });

  it('events.jsonl: mutated lines are skipped with one problem, never thrown (300 cases)', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 2 }), fc.option(textDamage), (ms, dmg) => {
        const lines = goodEvents.map((e) => JSON.stringify(e));
        const bad = JSON.stringify(mutate(goodEvents[0], ms).value) ?? 'null';
        const line = dmg ? damage(bad, dmg).replace(/\n/g, ' ') : bad;
        lines.splice(1, 0, line);
        writeFileSync(join(dir, 'events.jsonl'), lines.join('\n') + '\n');
        const seen: string[] = [];
        const evs = store.readEvents(dir, { health: new store.StoreHealth((p) => seen.push(p.message)) });
        for (const e of evs) expect(store.checkEvent(JSON.parse(JSON.stringify(e)))).toEqual({ value: e });
        expect(evs.length).toBeGreaterThanOrEqual(goodEvents.length);
        expect(seen.length).toBe(evs.length === goodEvents.length && line.trim() !== '' ? 1 : 0);
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it('watchStore: an agent takes accepted files only, and keeps the last good state otherwise (40 cases)', async () => {
    store.saveState(dir, reference, T0);
    const seen: number[] = [];
    const w = store.watchStore(dir, (s) => seen.push(s.generation), { intervalMs: 5 });
    try {
      await until(() => seen.length === 1);
      const snap = JSON.parse(goodObjects);
      const accepted = new Set<number>([snap.generation]);
      let generation = snap.generation;
      for (const ms of fc.sample(fc.array(mutation, { minLength: 1, maxLength: 2 }), { numRuns: 40, seed: SEED })) {
        // A mutated file (with a new generation, so taking it would show), then a good one after it.
        const value = mutate(snap, ms).value as Record<string, unknown>;
        if (value && typeof value === 'object' && !Array.isArray(value)) value['generation'] = ++generation;
        store.atomicWrite(join(dir, 'objects.json'), JSON.stringify(value) ?? 'null');
        if (onlyStoreErrors(() => store.loadState(dir)) !== null) accepted.add(generation);
        await new Promise((r) => setTimeout(r, 15));
        store.atomicWrite(join(dir, 'objects.json'), JSON.stringify({ ...snap, generation: ++generation }));
        accepted.add(generation);
        const want = generation;
        await until(() => seen.includes(want));
        expect(seen[seen.length - 1]).toBe(want);
      }
      expect(seen.filter((g) => !accepted.has(g))).toEqual([]);
    } finally {
      w.close();
    }
  });
});

async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 5));
}
