/**
 * docs/architecture.md §6: a stage file is the unit of specification. Every file of engine/stages/ that defines
 * a Stage opens with a header naming its specification (`Specification:` with documents of this repository and,
 * for docs/semantics.md, sections that exist there), its case table (`Cases:`, an existing file), then `Exits:`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const STAGES = join(ROOT, 'engine/stages');

/** Section numbers of a markdown file's headings (`## 4. Datapath` → 4, `### 4.h ICMP…` → 4.h). */
function sections(file: string): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync(join(ROOT, file), 'utf8').split('\n')) {
    const m = /^#{2,4} ([0-9]+(?:\.[0-9a-z]+)?)\.? /.exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}

const stageFiles = readdirSync(STAGES)
  .filter((f) => f.endsWith('.ts'))
  .filter((f) => /implements Stage\b/.test(readFileSync(join(STAGES, f), 'utf8')));

describe('stage file headers', () => {
  it('finds the stages', () => {
    expect(stageFiles.length).toBeGreaterThanOrEqual(14);
  });

  for (const f of stageFiles) {
    it(`${f} names its specification, case table and exits`, () => {
      const src = readFileSync(join(STAGES, f), 'utf8');
      expect(src.startsWith('/**'), 'opens with a header comment').toBe(true);
      const header = src
        .slice(3, src.indexOf('*/'))
        .split('\n')
        .map((l) => l.replace(/^\s*\* ?/, ''))
        .join(' ');
      const spec = /Specification: (.*?) Cases: (\S+?)\.? +Exits:/.exec(header);
      expect(spec, 'Specification: … Cases: … Exits:, in that order').not.toBeNull();
      const [, text, cases] = spec!;
      expect(existsSync(join(ROOT, cases!)), `case table ${cases}`).toBe(true);
      const docs = [...text!.matchAll(/((?:docs|conntrack)\/[\w./-]+\.md)/g)].map((m) => m[1]!);
      expect(docs.length, 'names at least one document of the repository').toBeGreaterThan(0);
      for (const d of docs) expect(existsSync(join(ROOT, d)), d).toBe(true);
      // Each §n after a document is a heading of that document.
      for (const m of text!.matchAll(/((?:docs|conntrack)\/[\w./-]+\.md)((?:(?!(?:docs|conntrack)\/)[^;])*)/g)) {
        const have = sections(m[1]!);
        for (const s of m[2]!.matchAll(/§([0-9]+(?:\.[0-9a-z]+)?)/g)) {
          expect(have.has(s[1]!), `${m[1]} §${s[1]}`).toBe(true);
        }
      }
    });
  }
});
