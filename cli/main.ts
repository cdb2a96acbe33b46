/**
 * cli/: the `egress` command, the composition root. It is the only place that imports both the engine and
 * tun/: it hands the agent real devices or simulated ports.
 */
import type { CommandEntry } from './command.js';
import { UsageError, UserError } from './errors.js';
import { commands } from './commands/index.js';

export function topUsage(list: readonly CommandEntry[]): string {
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    'egress: Kubernetes-style Egress as a userspace packet engine (Antrea semantics)',
    '',
    'usage: egress <command> [options]',
    '',
    'commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --help. The state directory is --state-dir DIR or $EGRESS_STATE_DIR.',
  ].join('\n');
}

/** Run the CLI; returns the process exit status. Never throws. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(topUsage(commands));
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    console.log((await import('./build-info.js')).packageVersion());
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    console.error(`egress: unknown command "${name}" (see egress --help)`);
    return 2;
  }
  const cmd = await entry.load();
  const own = rest.indexOf('--') < 0 ? rest : rest.slice(0, rest.indexOf('--')); // after `--`: another program's
  if (own.includes('--help') || own.includes('-h')) {
    console.log(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`egress ${cmd.name}: ${e.message} (see egress ${cmd.name} --help)`);
      return 2;
    }
    if (e instanceof UserError || (await isStoreError(e))) {
      // A store problem (locked, corrupt, insecure, full) is the user's to fix: one line, no stack.
      console.error(`egress ${cmd.name}: ${(e as Error).message}`);
      return 1;
    }
    const err = e as { code?: string; message?: string };
    if (err && typeof err.code === 'string' && typeof err.message === 'string') {
      // Node system errors (ENOENT, EACCES, ...) are the user's environment, not a bug: one line.
      console.error(`egress ${cmd.name}: ${err.message}`);
      return 1;
    }
    console.error(`egress ${cmd.name}: internal error: ${(e as Error)?.stack ?? String(e)}`);
    return 70;
  }
}

/** A store problem (policy.store.StoreError); the store module is loaded only when a command failed. */
async function isStoreError(e: unknown): Promise<boolean> {
  const { StoreError } = await import('../engine/policy/store/store.js');
  return e instanceof StoreError;
}
