/**
 * Build information for `egress version` (and `egress --version`): the package version, the git commit of the
 * checkout the command runs from (read from .git without running git; "unknown" outside a checkout), Node.js,
 * V8 and the platform.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  readonly version: string;
  readonly commit: string;
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
}

/** The package's directory: the nearest parent with package.json (dist/cli/ when built, cli/ under vitest). */
const ROOT = (() => {
  let d = fileURLToPath(new URL('.', import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
})();

export function packageVersion(root = ROOT): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

const read = (p: string): string | null => {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
};

/** The commit HEAD names in the git checkout at `root` (a worktree's `.git` file followed), or null. */
export function gitCommit(root = ROOT): string | null {
  let gitDir = join(root, '.git');
  if (!existsSync(gitDir)) return null;
  if (statSync(gitDir).isFile()) {
    const m = /^gitdir: (.+)$/m.exec(read(gitDir) ?? '');
    if (!m) return null;
    gitDir = resolve(root, m[1]!);
  }
  const head = read(join(gitDir, 'HEAD'));
  if (!head) return null;
  if (/^[0-9a-f]{40}$/.test(head)) return head;
  const ref = /^ref: (.+)$/.exec(head)?.[1];
  if (!ref) return null;
  const common = read(join(gitDir, 'commondir'));
  const dirs = [gitDir, ...(common ? [resolve(gitDir, common)] : [])];
  for (const d of dirs) {
    const v = read(join(d, ref));
    if (v && /^[0-9a-f]{40}$/.test(v)) return v;
    const packed = read(join(d, 'packed-refs'));
    const line = packed?.split('\n').find((l) => l.endsWith(` ${ref}`));
    if (line) return line.slice(0, 40);
  }
  return null;
}

export function buildInfo(): BuildInfo {
  return {
    version: packageVersion(),
    commit: gitCommit() ?? 'unknown',
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}/${process.arch}`,
  };
}

/** `egress version`'s text (also in a support bundle's version.txt). */
export function buildInfoText(b: BuildInfo): string {
  return [
    `egress-engine ${b.version}`,
    `commit:   ${b.commit}`,
    `node:     ${b.node} (v8 ${b.v8})`,
    `platform: ${b.platform}`,
  ].join('\n');
}
