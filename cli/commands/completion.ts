/** `egress completion bash|zsh|fish`: a shell completion script on stdout (cli/completion.ts). */
import { parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { bashCompletion, fishCompletion, zshCompletion } from '../completion.js';

const usage = `usage: egress completion bash|zsh|fish

Print a completion script for the shell: commands, flags, kinds, -o formats, and the names of objects of the
store (what \`egress get KIND -o name\` prints with the environment's $EGRESS_STORE / $EGRESS_STATE_DIR).

  bash   source <(egress completion bash)      (or save it in /etc/bash_completion.d/egress)
  zsh    source <(egress completion zsh)       (uses zsh's bashcompinit)
  fish   egress completion fish | source       (or save it in ~/.config/fish/completions/egress.fish)

options:
  -h, --help   this text`;

export const completionCommand: Command = {
  name: 'completion',
  summary: 'print a shell completion script (bash, zsh, fish)',
  usage,
  run(argv) {
    const args = parseCommandArgs(argv, {});
    const [shell, extra] = args.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const script = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion }[shell ?? ''];
    if (!script)
      throw new UsageError(
        shell ? `unknown shell "${shell}" (bash, zsh, fish)` : 'a shell is required (bash, zsh, fish)',
      );
    process.stdout.write(script());
    return Promise.resolve(0);
  },
};
