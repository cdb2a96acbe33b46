/**
 * The README agrees with the commands: the kubectl examples block runs (each line exits 0 on the reference
 * cluster), every `egress CMD … --flag` the README writes is a flag of that command's --help, and the demo's
 * length is the same in the README and in `egress demo --help`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commands } from '../../cli/commands/index.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'egress.js');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'egr-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The lines of the sh block after `<!-- readme-examples: NAME -->`. */
function examples(name: string): string[] {
  const at = README.indexOf(`<!-- readme-examples: ${name} -->`);
  expect(at, `README has a readme-examples: ${name} block`).toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(README.slice(at))!;
  return block[1]!.split('\n').filter((l) => l.trim() !== '');
}

describe('README', () => {
  it('the kubectl examples run on the reference cluster', () => {
    const lines = examples('kubectl');
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      expect(line).toMatch(/^egress /);
      const r = spawnSync('bash', ['-c', `egress() { node ${BIN} "$@"; }\n${line}`], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, EGRESS_STATE_DIR: dir },
      });
      expect(r.status, `${line}\n${r.stderr}`).toBe(0);
      if (!line.includes('>')) expect(r.stdout, line).not.toBe('');
    }
  });

  it("every flag written after `egress CMD` is one of that command's flags", async () => {
    const usage = new Map<string, string>();
    for (const c of commands) usage.set(c.name, (await c.load()).usage);
    const bad: string[] = [];
    const spans = [
      ...[...README.matchAll(/```(?:sh|bash)?\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n')),
      ...[...README.replace(/```[\s\S]*?```/g, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!),
    ];
    for (const span of spans)
      for (const m of span.matchAll(/(?:^|[\s(;&|])(?:npx )?egress ([a-z]+)((?:(?! -- )[^;&|#])*)/g)) {
        const cmd = m[1]!;
        const help = usage.get(cmd);
        if (!help) continue; // prose ("the egress node")
        for (const f of m[2]!.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b/g))
          if (f[1] !== '--help' && !new RegExp(`(?<![\\w-])${f[1]}(?![\\w-])`).test(help))
            bad.push(`egress ${cmd} ${f[1]} (in "${span.trim()}")`);
      }
    expect(bad).toEqual([]);
  });

  it("the demo's length is the same in the README and in egress demo --help", async () => {
    const demo = await commands.find((c) => c.name === 'demo')!.load();
    const help = /Takes about (\d+) seconds/.exec(demo.usage)?.[1];
    const readme = /What `egress demo` prints \(about (\d+) seconds/.exec(README)?.[1];
    expect(help).toBeDefined();
    expect(readme).toBe(help);
    expect(demo.summary).toContain(`~${help} s`);
  });
});
