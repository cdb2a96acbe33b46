/** `egress apply`: validate a set of manifests as a whole and store it atomically; the controller allocates. */
import * as policy from '../../engine/policy/index.js';
import { STATE_DIR_OPTION, boolOpt, listOpt, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { failOnErrors, loadManifests } from '../manifest-files.js';
import { resolveStateDir } from '../state-dir.js';

const usage = `usage: egress apply -f FILE|DIR|- [-f ...] [--dry-run] [--state-dir DIR]

Apply manifests to the state directory. All documents of all files form one set: it is validated as a whole
(schemas, Antrea's webhook rules, references between objects) and stored atomically, or not at all when any
document is wrong. Then the controller allocates Egress IPs (lowest free IP of the pool) and writes
spec.egressIP, the IPAllocated condition and the pools' usage.

Kinds (multi-document YAML or JSON, Kubernetes form):
  crd.antrea.io/v1beta1   Egress, ExternalIPPool (v1alpha2 accepted)
  v1                      Node, Namespace, Pod, ConfigMap (antrea-config with antrea-agent.conf)
  egress-engine/v1alpha1  AgentConfig, ExternalHost

options:
  -f, --filename FILE|DIR|-  manifest file, directory (its .yaml/.yml/.json files) or - for stdin; repeatable
      --dry-run              validate and show what would change, write nothing
      --state-dir DIR        state directory (default: $EGRESS_STATE_DIR, else /var/lib/egress-engine as root,
                             else $XDG_STATE_HOME/egress-engine or ~/.local/state/egress-engine)
  -h, --help                 this text`;

export const apply: Command = {
  name: 'apply',
  summary: 'apply Egress, ExternalIPPool, Node, Namespace, Pod, AgentConfig... manifests (atomically)',
  usage,
  async run(argv) {
    const args = parseCommandArgs(argv, {
      filename: { type: 'string', short: 'f', multiple: true },
      'dry-run': { type: 'boolean' },
      ...STATE_DIR_OPTION,
    });
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const files = listOpt(args, 'filename');
    if (files.length === 0) throw new UsageError('-f FILE|DIR|- is required');
    const dryRun = boolOpt(args, 'dry-run');
    const dir = resolveStateDir(stringOpt(args, 'state-dir'));
    const loaded = loadManifests(files);
    const result = await policy.store.updateState(dir, (state) => {
      const r = policy.applyDocs(state, loaded.docs, new Date(), loaded.problems);
      return { state: r.state, write: r.ok && r.changed && !dryRun, result: r };
    });
    const warnings = failOnErrors(result.problems, 'nothing applied');
    for (const w of warnings) console.error(`Warning: ${policy.formatProblem(w)}`);
    const suffix = dryRun ? ' (dry run)' : '';
    for (const c of result.changes) console.log(`${policy.RESOURCE[c.kind]}/${c.name} ${c.action}${suffix}`);
    for (const c of result.controller) {
      if (c.action === 'error')
        console.error(`Warning: Egress ${c.egress}: ${policy.MSG_ALLOCATION_ERROR}: ${c.message}`);
    }
    return 0;
  },
};
