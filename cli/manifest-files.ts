/**
 * `-f FILE|DIR|-` for apply and delete: files are read in the order given; a directory contributes its `.yaml`,
 * `.yml` and `.json` files in name order (with `-R`, those of its subdirectories too, depth first in name order),
 * as kubectl does; `-` is standard input. Each file is at
 * most 8 MiB (`EGRESS_MAX_MANIFEST_BYTES`) and YAML aliases are limited (engine/policy/manifest.ts).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as policy from '../engine/policy/index.js';
import { UserError } from './errors.js';

export interface LoadedManifests {
  readonly docs: policy.ManifestDoc[];
  readonly problems: policy.Problem[];
  readonly files: string[];
}

const EXT = /\.(ya?ml|json)$/;

function expand(arg: string, recursive: boolean): string[] {
  if (arg === '-') return ['-'];
  let st;
  try {
    st = statSync(arg);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT' ? `the path "${arg}" does not exist` : `cannot read "${arg}": ${(e as Error).message}`,
    );
  }
  if (!st.isDirectory()) return [arg];
  const files = filesOf(arg, recursive);
  if (files.length === 0)
    throw new UserError(`no .yaml, .yml or .json file in directory "${arg}"${recursive ? ' or below' : ''}`);
  return files;
}

function filesOf(dir: string, recursive: boolean): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  )) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (recursive) out.push(...filesOf(p, true));
    } else if (EXT.test(e.name)) out.push(p);
  }
  return out;
}

/** A file's text, within the manifest size limit (policy.readManifestFile). */
function readText(file: string): string {
  const r = policy.readManifestFile(file);
  if ('error' in r) throw new UserError(r.error);
  return r.text;
}

/** Read and parse every manifest named by the -f arguments. */
export function loadManifests(args: readonly string[], opts: { recursive?: boolean } = {}): LoadedManifests {
  if (args.length === 0) throw new UserError('no manifest given (-f FILE|DIR|-)');
  const files = args.flatMap((a) => expand(a, opts.recursive ?? false));
  const docs: policy.ManifestDoc[] = [];
  const problems: policy.Problem[] = [];
  for (const f of files) {
    const r = policy.parseManifests(readText(f), f);
    docs.push(...r.docs);
    problems.push(...r.problems);
  }
  return { docs, problems, files };
}

/** Throw one UserError listing every error (one line each); return the warnings. */
export function failOnErrors(problems: readonly policy.Problem[], what: string): policy.Problem[] {
  const errors = policy.errorsOf(problems);
  if (errors.length === 0) return policy.warningsOf(problems);
  const lines = errors.map(policy.formatProblem);
  if (lines.length === 1) throw new UserError(`${lines[0]} (${what})`);
  throw new UserError(`${lines.length} errors (${what}):\n  ${lines.join('\n  ')}`);
}
