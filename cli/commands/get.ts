/** `egress get`: list stored objects with kubectl's columns, or print them as YAML/JSON. */
import { STATE_DIR_OPTION, STORE_USAGE, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { stateDirOf, storeOf } from '../state-dir.js';
import { printCounters } from '../agent/report.js';
import { listObjects } from '../listing.js';

const usage = `usage: egress get KIND [NAME...] [-o wide|yaml|json|name] [-n NAMESPACE] [--state-dir DIR]
       egress get events
       egress get view NODE
       egress get counters NODE [-o json]
       egress get pipeline

List objects of the state directory.

KIND              columns
  egress (eg)     NAME EGRESSIP AGE NODE              (wide: + EXTERNALIPPOOL PODS CONDITIONS)
  externalippool  NAME TOTAL USED AGE                 (wide: + RANGES NODESELECTOR)
  (eip)
  node (no)       NAME INTERNAL-IP POD-CIDR AGE       (wide: + EGRESS-IPS MAX-EGRESS-IPS)
  pod (po)        NAMESPACE NAME IP NODE AGE          (wide: + EGRESS EGRESSIP EGRESSNODE)
  namespace (ns)  NAME STATUS AGE
  externalhost    NAME ADDRESS AGE                    (wide: + COMMAND)
  events (ev)     LAST SEEN TYPE REASON OBJECT MESSAGE
  view NODE       the compiled datapath view of a Node (-o json for all of it)
  counters NODE   what the running agent of NODE reports every second: packets per stage exit, drops by
                  reason, ports, conntrack, SNAT port use, neighbours (-o json: the whole report)
  pipeline        the datapath graph of a node as Graphviz dot (pipe it to \`dot -Tsvg\`)

An Egress's status (EGRESSIP, NODE, conditions) is what the Node agents wrote in the state directory. Before any
agent has reported, it is the control plane's prediction with every Node alive, and a note on stderr says so
(in -o yaml/json: annotation egress-engine.io/status-source: predicted).

options:
  -o, --output FORMAT   wide, yaml, json or name
  -n, --namespace NS    only Pods of this namespace
      --state-dir DIR   state directory (see egress apply --help)
      --insecure-state-dir
                        use a state directory other users own or can write
${STORE_USAGE}
  -h, --help            this text

A Node status file or events line that is not valid is skipped with a warning; an invalid objects.json is an
error (one line).`;

export const get: Command = {
  name: 'get',
  summary: 'list Egresses, ExternalIPPools, Nodes, Pods, events... (kubectl columns, -o wide|yaml|json)',
  usage,
  async run(argv) {
    const args = parseCommandArgs(argv, {
      output: { type: 'string', short: 'o' },
      namespace: { type: 'string', short: 'n' },
      ...STATE_DIR_OPTION,
    });
    const [word, ...names] = args.positionals;
    if (!word) throw new UsageError('KIND is required (egress, externalippool, nodes, pods, events...)');
    const output = stringOpt(args, 'output') ?? '';
    if (!['', 'wide', 'yaml', 'json', 'name'].includes(output))
      throw new UsageError(`unknown output format "${output}" (wide, yaml, json, name)`);
    const nsFilter = stringOpt(args, 'namespace');
    const now = new Date();
    if (word.toLowerCase() === 'counters') {
      // run files are local to the host the agent runs on: always the state directory
      const { dir, insecure } = stateDirOf(args);
      return printCounters(dir, names[0], output, insecure);
    }
    const st = storeOf(args);
    try {
      return await listObjects(st, word, names, output, nsFilter, now);
    } finally {
      st.close();
    }
  },
};
