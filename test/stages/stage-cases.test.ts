/**
 * The stages' case tables (test/stages/cases/<stage>.cases.ts, see cases/harness.ts): every row runs through a
 * one-stage pipeline; its stage counters must equal the row's hand-written `counters`, its `expect` packets
 * (scapy-built) must leave the named exits, and everything that left every exit must equal
 * cases/golden/<stage>.json (`UPDATE_GOLDEN=1 npx vitest run test/stages/stage-cases.test.ts` rewrites the
 * goldens: review the diff). Last, every drop counter of every stage of the node datapath must be counted by at
 * least one row, so a new drop reason without a row fails here.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { Slab } from '../../engine/packet/index.js';
import { baseConfig, runRow, stageName, type CaseTable, type Outcome, type Pkt } from './cases/harness.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const DIR = new URL('./cases/', import.meta.url);
const GOLDEN = new URL('./golden/', DIR);

const tables = new Map<string, CaseTable>();
for (const f of readdirSync(DIR)
  .filter((f) => f.endsWith('.cases.ts'))
  .sort())
  tables.set(f.slice(0, -'.cases.ts'.length), ((await import(new URL(f, DIR).href)) as { cases: CaseTable }).cases);

/** Every scapy expression of every table, built in one Python run. */
function buildPackets(): Map<string, Uint8Array> {
  const exprs = new Set<string>();
  const add = (p: Pkt) => typeof p === 'string' && exprs.add(p);
  for (const t of tables.values())
    for (const r of t.rows) {
      for (const s of r.steps ?? [{ input: r.input ?? [] }])
        for (const x of s.input ?? []) add(typeof x === 'string' || x instanceof Uint8Array ? x : x.pkt);
      for (const ps of Object.values(r.expect ?? {})) ps.forEach(add);
    }
  const list = [...exprs];
  const out = scapyBytes(list);
  return new Map(list.map((e, i) => [e, out[i]!]));
}

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
/** Outcomes by stage name, then row name (the coverage test reads them). */
const seen = new Map<string, Map<string, Outcome>>();

describe.skipIf(!hasScapy())('stage case tables (scapy-built packets)', () => {
  const packets = hasScapy() ? buildPackets() : new Map<string, Uint8Array>();
  const bytes = (p: Pkt) => (typeof p === 'string' ? packets.get(p)! : p);

  afterAll(() => {
    if (!UPDATE) return;
    mkdirSync(GOLDEN, { recursive: true });
    // Rows that ran replace theirs; the others (a `-t` filter) keep what the file had; gone rows are dropped.
    for (const [name, rows] of seen) {
      const file = new URL(`${name}.json`, GOLDEN);
      const had = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, Outcome>) : {};
      const out: Record<string, Outcome> = {};
      for (const r of tables.get(name)!.rows) {
        const o = rows.get(r.name) ?? had[r.name];
        if (o !== undefined) out[r.name] = o;
      }
      writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
    }
  });

  for (const [file, table] of tables) {
    describe(file, () => {
      const goldenFile = new URL(`${file}.json`, GOLDEN);
      const golden = existsSync(goldenFile)
        ? (JSON.parse(readFileSync(goldenFile, 'utf8')) as Record<string, Outcome>)
        : {};
      const names = table.rows.map((r) => r.name);
      it('row names are unique, the file is named after its stage', () => {
        expect(new Set(names).size).toBe(names.length);
        expect(stageName(table)).toBe(file);
      });
      for (const row of table.rows) {
        it(row.name, () => {
          const got = runRow(table, row, bytes);
          if (!seen.has(file)) seen.set(file, new Map());
          seen.get(file)!.set(row.name, got);
          expect(got.counters, 'counters').toEqual(row.counters);
          for (const [exit, want] of Object.entries(row.expect ?? {}))
            expect(
              (got.exits[exit] ?? []).map((o) => o.hex),
              `exit ${exit}`,
            ).toEqual(want.map((p) => hex(bytes(p))));
          if (!UPDATE) {
            expect(golden[row.name], `no golden for this row: run UPDATE_GOLDEN=1`).toBeDefined();
            expect(got).toEqual(golden[row.name]);
          }
        });
      }
    });
  }

  it('every drop counter of every stage of the node datapath has a row', () => {
    const dp = new NodeDatapath(new Slab({ slots: 64 }), baseConfig(), {});
    const missing: string[] = [];
    for (const s of dp.pipeline.stages) {
      const drops = (s.counters?.names ?? []).filter((n) => n.startsWith('drop-'));
      const rows = seen.get(s.name);
      if (!tables.has(s.name)) {
        missing.push(`${s.name}: no case table (test/stages/cases/${s.name}.cases.ts)`);
        continue;
      }
      for (const d of drops)
        if (![...(rows?.values() ?? [])].some((o) => (o.counters[d] ?? 0) > 0)) missing.push(`${s.name}: ${d}`);
    }
    expect(missing.join('\n'), 'drop counters no row counts').toBe('');
  });
});
