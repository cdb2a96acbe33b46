/**
 * Where the embedded store lives. Every command that reads or writes it (apply, delete, get, and the agent) resolves
 * it here, in this order:
 *
 * 1. `--state-dir DIR`;
 * 2. `$EGRESS_STATE_DIR`;
 * 3. as root: `/var/lib/egress-engine` (FHS: variable state of a system service);
 * 4. otherwise `$XDG_STATE_HOME/egress-engine`, or `~/.local/state/egress-engine` (XDG Base Directory spec).
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

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

function currentUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}
