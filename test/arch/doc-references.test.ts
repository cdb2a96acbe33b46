/**
 * The documentation lives in the repository (issue 19 item 4): no file cites a design document that is not in it,
 * and every repository path that README.md, docs/, the other Markdown files and the code comments name exists
 * (a file with an extension, or a directory written with a trailing slash; Markdown links relative to their
 * file). Paths of other projects (Antrea's sources, wireguard-go) are listed below with where they are from.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SELF = relative(ROOT, import.meta.filename);
const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && existsSync(join(ROOT, f)))
  .filter((f) => /\.(md|ts|js|mjs|cjs|c|cc|h|py|sh|ya?ml|gyp)$|^\.ci\/run$/.test(f))
  .filter((f) => f !== 'package-lock.json');

/** Paths of other projects that the text names as theirs. */
const EXTERNAL: Readonly<Record<string, string>> = {
  'docs/egress.md': "Antrea's Egress documentation",
  'test/e2e/egress_test.go': "Antrea's Egress e2e test",
  'tun/offload_linux.go': "wireguard-go's TUN offload",
  'bench/e2e/c/NAME.c': 'a pattern (NAME = a program of bench/e2e/c/)',
};

/** Names of documents that are not part of the repository, and the directory they came from (built so that this
 * file does not match itself). */
const FOREIGN = ['ARCHITECTURE', 'STYLE', 'PLATFORM']
  .map((n) => `${n}.md`)
  .concat(['EGRESS' + '-SPEC', '../' + 'shared']);

describe('documentation references', () => {
  it('reads the repository', () => {
    expect(files).toContain('README.md');
    expect(files.filter((f) => f.startsWith('docs/')).length).toBeGreaterThan(5);
  });

  it('no file cites a document outside the repository', () => {
    const bad: string[] = [];
    for (const f of files) {
      if (f === SELF) continue;
      const lines = readFileSync(join(ROOT, f), 'utf8').split('\n');
      lines.forEach((l, i) => {
        for (const n of FOREIGN) if (l.includes(n)) bad.push(`${f}:${i + 1}: ${n}`);
      });
    }
    expect(bad).toEqual([]);
  });

  it('every repository path named in docs, Markdown and code comments exists', () => {
    const path = /(?<![\w./-])((?:docs|examples|captures|bench|cli|engine|tun|test|bin|\.ci)\/[\w./-]*[\w/])/g;
    const bad: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(ROOT, f), 'utf8');
      const lines = text.split('\n');
      lines.forEach((l, i) => {
        for (const m of l.matchAll(path)) {
          const p = m[1]!.replace(/\.$/, '');
          if (!/\.[a-z]+$/i.test(p) && !p.endsWith('/')) continue; // a word like engine/policy, not a file
          if (p in EXTERNAL || existsSync(join(ROOT, p))) continue;
          bad.push(`${f}:${i + 1}: ${p}`);
        }
        if (f.endsWith('.md'))
          for (const m of l.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
            const target = m[1]!;
            if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
            if (!existsSync(join(ROOT, dirname(f), target))) bad.push(`${f}:${i + 1}: link ${target}`);
          }
      });
    }
    expect(bad).toEqual([]);
  });
});
