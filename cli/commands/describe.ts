/** `egress describe KIND [NAME...]`: one object in detail (cli/describe.ts), as `kubectl describe`. */
import { STATE_DIR_OPTION, STORE_USAGE, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { describeObjects } from '../describe.js';
import { runDirOf, storeOf } from '../state-dir.js';

const usage = `usage: egress describe KIND [NAME...] [-n NS] [--state-dir DIR]

Show objects in detail, as kubectl describe does (every object of KIND without a NAME).

  egress (eg)          spec; status (egress IP and Node, as the agents report it or predicted); conditions;
                       which Node hosts the IP and why (the pool's Nodes, those alive, where the IP hashes on
                       the pool's consistent-hash ring, a skipped first choice); its Pods and the path each
                       takes (SNAT on its own Node, Geneve to the egress Node, or another Egress wins); the SNAT
                       use of the IP from the hosting agent's run file (connections, fullest port range) when
                       it runs on this host; its events
  node (no)            addresses, STATUS and why, egress IPs hosted, pools selecting it, Egresses, Pods
  pod (po)             IP, Node, the Egress it leaves by and how, other Egresses selecting it
  externalippool (eip) ranges, node selector, usage, Nodes (with STATUS), Egresses and their IPs
  others               labels, annotations, spec

options:
  -n, --namespace NS    namespace of the Pods named without one (default "default")
      --state-dir DIR   state directory (see egress apply --help)
      --insecure-state-dir
                        use a state directory other users own or can write
${STORE_USAGE}
  -h, --help            this text`;

export const describeCommand: Command = {
  name: 'describe',
  summary: 'show objects in detail: status, conditions, which Node and why, Pods, SNAT use, events',
  usage,
  async run(argv) {
    const args = parseCommandArgs(argv, {
      namespace: { type: 'string', short: 'n' },
      ...STATE_DIR_OPTION,
    });
    const [word, ...names] = args.positionals;
    if (!word) throw new UsageError('KIND is required (egress, externalippool, node, pod...)');
    const st = storeOf(args);
    try {
      return await describeObjects(st, word, names, {
        format: { kind: 'table' },
        namespace: stringOpt(args, 'namespace'),
        runDir: runDirOf(args, st),
      });
    } finally {
      st.close();
    }
  },
};
