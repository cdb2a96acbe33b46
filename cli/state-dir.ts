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
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import * as policy from '../engine/policy/index.js';
import { boolOpt, stringOpt } from './args.js';
import type { ParsedArgs } from './args.js';
import { UsageError } from './errors.js';

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

export const STORE_ENV = 'EGRESS_STORE';

/**
 * The cluster's store of a command's arguments: `--store URL`, else `$EGRESS_STORE`, else the state directory
 * (`--state-dir`, `$EGRESS_STATE_DIR`, the default). `dir:PATH` is the state directory PATH; `etcd://…` and
 * `etcds://…` are etcd (docs/store.md). `--store` and `--state-dir` together are a usage error.
 */
export function storeOf(
  args: ParsedArgs,
  opts: { create?: boolean } = {},
  env: NodeJS.ProcessEnv = process.env,
): policy.store.Store {
  const flag = stringOpt(args, 'store');
  if (flag !== undefined && stringOpt(args, 'state-dir') !== undefined)
    throw new UsageError('--store and --state-dir are two ways to say the same thing: give one');
  const url = flag || (stringOpt(args, 'state-dir') === undefined ? env[STORE_ENV] : undefined) || '';
  if (url === '' || url.startsWith('dir:')) {
    const sd =
      url === ''
        ? stateDirOf(args, opts)
        : stateDirOf({ ...args, values: { ...args.values, 'state-dir': url.slice(4) } }, opts);
    return new policy.store.DirStore(sd.dir, { insecure: sd.insecure });
  }
  if (!/^etcd(s|\+unix)?:\/\//.test(url))
    throw new UsageError(`--store ${url}: use dir:PATH or etcd://host:port[,host:port...]`);
  const tls: { cacert?: string; cert?: string; key?: string } = {};
  const ca = stringOpt(args, 'etcd-cacert');
  const cert = stringOpt(args, 'etcd-cert');
  const key = stringOpt(args, 'etcd-key');
  if (ca) tls.cacert = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (!!cert !== !!key) throw new UsageError('--etcd-cert and --etcd-key go together');
  let auth: { user: string; password: string } | undefined;
  const userFile = stringOpt(args, 'etcd-user-file');
  if (userFile) {
    let line: string;
    try {
      line = (readFileSync(userFile, 'utf8').split('\n')[0] ?? '').trim();
    } catch (e) {
      throw new policy.store.StoreError(`cannot read --etcd-user-file ${userFile}: ${(e as Error).message}`);
    }
    const i = line.indexOf(':');
    if (i <= 0) throw new policy.store.StoreError(`${userFile}: the first line must be user:password`);
    auth = { user: line.slice(0, i), password: line.slice(i + 1) };
  }
  const prefix = stringOpt(args, 'etcd-prefix');
  try {
    return new policy.store.EtcdStore(url, {
      ...(prefix ? { prefix } : {}),
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
      ...(auth ? { auth } : {}),
    });
  } catch (e) {
    if (e instanceof policy.store.EtcdError) throw new policy.store.StoreError(e.message);
    throw e;
  }
}

function currentUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}

/**
 * Where this host's agents write their run files (`<state-dir>/run/`, read for Node STATUS and SNAT use): the
 * store's directory for a dir: store, else the state directory of the arguments; undefined when that is unusable.
 */
export function runDirOf(args: ParsedArgs, st: policy.store.Store): StateDir | undefined {
  if (st instanceof policy.store.DirStore) return { dir: st.dir, insecure: boolOpt(args, 'insecure-state-dir') };
  try {
    return stateDirOf(args);
  } catch {
    return undefined;
  }
}
