/** `egress get`: list stored objects with kubectl's columns, or print them in any -o format; --watch follows them. */
import { STATE_DIR_OPTION, STORE_USAGE, boolOpt, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { parseOutput, printData, refuseFormat } from '../formats.js';
import { runDirOf, stateDirOf, storeOf } from '../state-dir.js';
import { printCounters, readRunFile } from '../agent/report.js';
import { listObjects, watchObjects } from '../listing.js';
import type { ListOptions } from '../listing.js';
import { parseSelectorArg } from '../selector-arg.js';

const usage = `usage: egress get KIND[,KIND...] [NAME...] [-o FORMAT] [-n NS | -A] [-l SELECTOR] [--sort-by PATH]
                  [--no-headers] [-w] [--state-dir DIR]
       egress get events
       egress get view NODE
       egress get counters NODE
       egress get pipeline

List objects of the store, as kubectl does.

KIND (short name)  columns
  egress (eg)      NAME EGRESSIP AGE NODE              (wide: + EXTERNALIPPOOL PODS CONDITIONS)
  externalippool   NAME TOTAL USED AGE                 (wide: + RANGES NODESELECTOR)
  (eip)
  node (no)        NAME STATUS INTERNAL-IP POD-CIDR EGRESS-IPS AGE   (wide: + MAX-EGRESS-IPS REASON)
  pod (po)         NAMESPACE NAME IP NODE AGE          (wide: + EGRESS EGRESSIP EGRESSNODE)
  namespace (ns)   NAME STATUS AGE
  externalhost     NAME ADDRESS AGE                    (wide: + COMMAND)
  agentconfig, configmap (cm)   NAME AGE
  events (ev)      LAST SEEN TYPE REASON OBJECT MESSAGE
  view NODE        the compiled datapath view of a Node (-o json|yaml: all of it, IPs as text)
  counters NODE    what the running agent of NODE reports every second: packets per stage exit, drops by
                   reason, ports, conntrack, SNAT port use, neighbours (-o json|yaml: the whole report)
  pipeline         the datapath graph of a node as Graphviz dot (pipe it to \`dot -Tsvg\`; -o json: its links)

Several kinds (egress get eg,eip) print one table per kind, names prefixed by the kind; -o json|yaml one List.
An Egress's status (EGRESSIP, NODE, conditions) is what the Node agents wrote in the store. Before any agent has
reported, it is the control plane's prediction with every Node alive, and a note on stderr says so (in -o
yaml/json: annotation egress-engine.io/status-source: predicted). A Node's STATUS is what the agents running on
this host report (their run files in <state-dir>/run/, written every second): Ready when one of them sees it
alive, NotReady when they report and none does, Unknown when no agent reports here; EGRESS-IPS are the IPs its
agent hosts (else what its status in the store says). Pods and ConfigMaps of every namespace are listed unless
-n (without -n this tool has no current namespace: it lists all, as -A).

options:
  -o, --output FORMAT   wide, json, yaml, name, jsonpath=TEMPLATE, jsonpath-as-json=PATH,
                        custom-columns=HEADER:PATH[,HEADER:PATH...]  (kubectl's JSONPath; a format a listing
                        cannot print is refused)
  -n, --namespace NS    only Pods and ConfigMaps of NS (and no NAMESPACE column)
  -A, --all-namespaces  every namespace (the default here)
  -l, --selector SEL    only objects whose labels match: k=v, k!=v, k in (a,b), k notin (a,b), k, !k
      --sort-by PATH    order by a JSONPath of each object (e.g. .metadata.creationTimestamp, .status.egressIP)
      --no-headers      no header line
  -w, --watch           after the listing, print each object that is added, changes or is deleted (the store's
                        watch, and the agents' statuses every second) until interrupted
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
      'all-namespaces': { type: 'boolean', short: 'A' },
      selector: { type: 'string', short: 'l' },
      'sort-by': { type: 'string' },
      'no-headers': { type: 'boolean' },
      watch: { type: 'boolean', short: 'w' },
      ...STATE_DIR_OPTION,
    });
    const [word, ...names] = args.positionals;
    if (!word) throw new UsageError('KIND is required (egress, externalippool, nodes, pods, events...)');
    const format = parseOutput(stringOpt(args, 'output'));
    const namespace = stringOpt(args, 'namespace');
    if (namespace !== undefined && boolOpt(args, 'all-namespaces'))
      throw new UsageError('-n and -A (--all-namespaces) do not go together');
    const sel = stringOpt(args, 'selector');
    const sortBy = stringOpt(args, 'sort-by');
    if (sortBy !== undefined) parseOutput(`jsonpath=${sortBy}`); // a malformed path is a usage error now
    if (word.toLowerCase() === 'counters') {
      // run files are local to the host the agent runs on: always the state directory
      refuseFormat(format, 'get counters', ['table', 'json', 'yaml', 'jsonpath']);
      const { dir, insecure } = stateDirOf(args);
      if (format.kind === 'table') return printCounters(dir, names[0], '', insecure);
      if (!names[0]) throw new UsageError('egress get counters NODE');
      const v = readRunFile(dir, names[0], insecure);
      printData(format, v, []);
      return 0;
    }
    const st = storeOf(args);
    const opts: ListOptions = {
      format,
      namespace,
      selector: sel === undefined ? undefined : parseSelectorArg(sel),
      noHeaders: boolOpt(args, 'no-headers'),
      sortBy,
      runDir: runDirOf(args, st),
    };
    try {
      if (boolOpt(args, 'watch')) return await watchObjects(st, word, names, opts);
      return await listObjects(st, word, names, opts, new Date());
    } finally {
      st.close();
    }
  },
};
