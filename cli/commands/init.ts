/** `egress init`: create the state directory (0700) and the cluster key, or check existing ones. */
import { join } from 'node:path';
import { cluster, policy } from '../../engine/index.js';
import { STATE_DIR_OPTION, parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { stateDirOf } from '../state-dir.js';

const usage = `usage: egress init [--state-dir DIR] [--insecure-state-dir]

Prepare a state directory: create it (mode 0700) unless it exists, refuse one that another user owns or can
write (whoever writes it controls the cluster), and create the agents' shared cluster key
<state-dir>/cluster.key (32 random bytes, mode 0600) unless there is one; an existing key is checked as the
agent checks it (owner, mode 0600 or stricter, not weak). \`egress apply\` does the same on first use, so init
is optional: it lets you copy the key to the other hosts before anything is applied.

options:
      --state-dir DIR        state directory (see egress apply --help)
      --insecure-state-dir   use a state directory other users own or can write
  -h, --help                 this text`;

export const init: Command = {
  name: 'init',
  summary: 'create the state directory (0700) and the cluster key (0600), or check them',
  usage,
  async run(argv) {
    const args = parseCommandArgs(argv, { ...STATE_DIR_OPTION });
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const { dir, insecure } = stateDirOf(args, { create: true });
    policy.store.ensureStore(dir, { insecure });
    const keyPath = join(dir, policy.store.KEY_FILE);
    const created = policy.store.ensureClusterKey(dir, { insecure });
    const key = cluster.loadKeyFile(keyPath);
    if (!key.ok) throw new UserError(`${key.error}; remove it and run egress init again to create a new one`);
    console.log(`state directory ${dir}: ready (only its owner can write it)`);
    console.log(
      created
        ? `cluster key ${keyPath}: created (32 random bytes, mode 0600; copy it to every host running an agent)`
        : `cluster key ${keyPath}: present and usable`,
    );
    return 0;
  },
};
