/**
 * Where the embedded store lives. Every command that reads or writes it (apply, delete, get, and the agent) resolves
 * it here, in this order:
 *
 * 1. `--state-dir DIR`;
 * 2. `$EGRESS_STATE_DIR`;
 * 3. as root: `/var/lib/egress-engine` (FHS: variable state of a system service);
 * 4. otherwise `$XDG_STATE_HOME/egress-engine`, or `~/.local/state/egress-engine` (XDG Base Directory spec).
 *
 * Whoever can write the state directory controls the cluster (agents run as root and follow it), so it must be
 * owned by the user running the command and writable by nobody else; `--insecure-state-dir` skips that check
 * (docs/security.md).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import * as policy from '../engine/policy/index.js';
import { boolOpt, stringOpt } from './args.js';
import type { ParsedArgs } from './args.js';

export const STATE_DIR_ENV = 'EGRESS_STATE_DIR';
export const ROOT_STATE_DIR = '/var/lib/egress-engine';

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, uid: number | null = currentUid()): string {
  if (uid === 0) return ROOT_STATE_DIR;
  const xdg = env['XDG_STATE_HOME'];
  if (xdg && xdg.startsWith('/')) return join(xdg, 'egress-engine');
  return join(env['HOME'] || homedir(), '.local', 'state', 'egress-engine');
}

/** The state directory for a command: the flag, else the environment, else the default. Absolute. */
export function resolveStateDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return resolve(flag);
  const fromEnv = env[STATE_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return defaultStateDir(env);
}

export interface StateDir {
  readonly dir: string;
  /** `--insecure-state-dir`: no owner and mode checks of the directory and its files. */
  readonly insecure: boolean;
}

/**
 * The state directory of a command's arguments (STATE_DIR_OPTION). An existing directory is checked at once
 * (policy.store.checkStateDir: a StoreError, one line, exit 1); `create` makes a missing one (0700).
 */
export function stateDirOf(args: ParsedArgs, opts: { create?: boolean } = {}): StateDir {
  const dir = resolveStateDir(stringOpt(args, 'state-dir'));
  const insecure = boolOpt(args, 'insecure-state-dir');
  if (opts.create || existsSync(dir)) policy.store.checkStateDir(dir, { insecure, create: opts.create ?? false });
  return { dir, insecure };
}

function currentUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}
