/** Strict argument parsing for sub-commands: an unknown or malformed flag is a one-line UsageError. */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | string[] | boolean[] | undefined>>;
  readonly positionals: string[];
}

export function parseCommandArgs(argv: string[], options: OptionSpec): ParsedArgs {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as ParsedArgs['values'], positionals: r.positionals };
  } catch (e) {
    const err = e as { code?: string; message: string };
    const m = /'(-[^']*?)(?: <value>)?'/.exec(err.message);
    const flag = m ? m[1] : '';
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${flag}`);
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`option ${flag} needs a value`);
    throw new UsageError(err.message.split('\n')[0]!);
  }
}

export function stringOpt(p: ParsedArgs, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function listOpt(p: ParsedArgs, name: string): string[] {
  const v = p.values[name];
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

export function boolOpt(p: ParsedArgs, name: string): boolean {
  return p.values[name] === true;
}

/** Options every store command takes. */
export const STATE_DIR_OPTION: OptionSpec = {
  'state-dir': { type: 'string' },
  'insecure-state-dir': { type: 'boolean' },
  store: { type: 'string' },
  'etcd-prefix': { type: 'string' },
  'etcd-cacert': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-user-file': { type: 'string' },
};

/** --help lines of the store options (STATE_DIR_OPTION), for every store command. */
export const STORE_USAGE = `      --store URL            the cluster's store: dir:PATH (the state directory, as --state-dir) or
                             etcd://host:port[,host:port...] (etcds:// for TLS); default $EGRESS_STORE, else dir:
      --etcd-prefix P        key prefix in etcd (default /egress-engine/)
      --etcd-cacert FILE     CA certificate of etcd's server certificates (etcds://)
      --etcd-cert FILE       client certificate, --etcd-key FILE its key (etcd client certificate auth)
      --etcd-user-file FILE  etcd user and password, "user:password" on the file's first line`;

/**
 * A flag whose value is optional and given with `=` only (kubectl's `--dry-run[=client|server]`): takes every
 * `--NAME` and `--NAME=VALUE` out of `argv` (before any `--`). Returns the last value (`bare` for `--NAME`), or
 * undefined when the flag is absent; a value not in `allowed` is a UsageError.
 */
export function takeOptionalValue(
  argv: string[],
  name: string,
  allowed: readonly string[],
  bare: string,
): { argv: string[]; value: string | undefined } {
  const rest: string[] = [];
  let value: string | undefined;
  let passthrough = false;
  for (const a of argv) {
    if (passthrough || a === '--') {
      passthrough = true;
      rest.push(a);
    } else if (a === `--${name}`) value = bare;
    else if (a.startsWith(`--${name}=`)) {
      value = a.slice(name.length + 3);
      if (!allowed.includes(value))
        throw new UsageError(`--${name}=${value}: use ${allowed.map((v) => `--${name}=${v}`).join(', ')}`);
    } else rest.push(a);
  }
  return { argv: rest, value };
}
