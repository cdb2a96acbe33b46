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
