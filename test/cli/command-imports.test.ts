/**
 * Commands are leaves (docs/architecture.md §2): a file of cli/commands/ imports shared cli modules (printers,
 * listing, kinds, agent report), never another command, the command index or the dispatcher.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const DIR = new URL('../../cli/commands/', import.meta.url);

describe('cli/commands', () => {
  it('no command imports another command, the command index or main', () => {
    const bad: string[] = [];
    const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      if (f === 'index.ts') continue; // the list of commands
      const src = readFileSync(new URL(f, DIR), 'utf8');
      for (const m of src.matchAll(/from '([^']+)'/g)) {
        const spec = m[1]!;
        if (spec.startsWith('./') || spec === '../main.js') bad.push(`${f} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('lazy command loading', () => {
  it('the dispatcher and the command index import no command module and nothing of engine/ up front', () => {
    const staticImports = (file: string) =>
      [
        ...readFileSync(new URL(file, import.meta.url), 'utf8').matchAll(/^import (?!type )[^;]*? from '([^']+)'/gms),
      ].map((m) => m[1]!);
    expect(staticImports('../../cli/commands/index.ts')).toEqual([]);
    const main = staticImports('../../cli/main.ts');
    expect(main.filter((s) => s.includes('engine/') || (s.includes('commands/') && !s.endsWith('/index.js')))).toEqual(
      [],
    );
  });

  it("each entry's summary is its module's, and the module is the command of that name", async () => {
    const { commands } = await import('../../cli/commands/index.js');
    for (const e of commands) {
      const c = await e.load();
      expect({ name: c.name, summary: c.summary }).toEqual({ name: e.name, summary: e.summary });
    }
  });
});
