/** `egress version`: build information (version, commit, Node.js), as `kubectl version --client`. */
import { parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { buildInfo, buildInfoText } from '../build-info.js';
import { parseOutput, printData, refuseFormat } from '../formats.js';

const usage = `usage: egress version [-o json|yaml]

Print the build information: egress-engine's version, the git commit of the checkout it runs from ("unknown"
outside a git checkout), Node.js and V8 versions, platform. (\`egress -V\` prints the version alone.)

options:
  -o, --output FORMAT   json or yaml (also jsonpath=TEMPLATE)
  -h, --help            this text`;

export const versionCommand: Command = {
  name: 'version',
  summary: 'print the version, commit and Node.js version (-o json|yaml)',
  usage,
  run(argv) {
    const args = parseCommandArgs(argv, { output: { type: 'string', short: 'o' } });
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const f = parseOutput(stringOpt(args, 'output'));
    refuseFormat(f, 'version', ['table', 'json', 'yaml', 'jsonpath']);
    const b = buildInfo();
    if (!printData(f, b, [])) console.log(buildInfoText(b));
    return Promise.resolve(0);
  },
};
