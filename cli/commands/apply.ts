/** `egress apply`: validate a set of manifests as a whole and store it atomically; the controller allocates. */
import * as policy from '../../engine/policy/index.js';
import { join } from 'node:path';
import { STATE_DIR_OPTION, STORE_USAGE, boolOpt, listOpt, parseCommandArgs, takeOptionalValue } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { failOnErrors, loadManifests } from '../manifest-files.js';
import { storeOf } from '../state-dir.js';

const usage = `usage: egress apply -f FILE|DIR|- [-f ...] [-R] [--dry-run[=server|client]] [--state-dir DIR]

Apply manifests to the state directory. All documents of all files form one set: it is validated as a whole
(schemas, Antrea's webhook rules, references between objects) and stored atomically, or not at all when any
document is wrong. Then the controller allocates Egress IPs (lowest free IP of the pool) and writes
spec.egressIP, the IPAllocated condition and the pools' usage. The first apply also creates the agents' shared
cluster key, <state-dir>/cluster.key (32 random bytes, mode 0600).

The state directory is created 0700; one that another user owns or can write is refused (whoever writes it
controls the cluster) unless --insecure-state-dir. A manifest file is at most 8 MiB (EGRESS_MAX_MANIFEST_BYTES
raises it); YAML aliases that expand too much (an alias bomb) are refused.

Kinds (multi-document YAML or JSON, Kubernetes form):
  crd.antrea.io/v1beta1   Egress, ExternalIPPool (v1alpha2 accepted)
  v1                      Node, Namespace, Pod, ConfigMap (antrea-config with antrea-agent.conf)
  egress-engine/v1alpha1  AgentConfig, ExternalHost

options:
  -f, --filename FILE|DIR|-  manifest file, directory (its .yaml/.yml/.json files) or - for stdin; repeatable
  -R, --recursive            with a directory, its subdirectories' files too
      --dry-run[=server]     validate against the store and show what would change ("configured",
                             "unchanged"...), write nothing: "(server dry run)"
      --dry-run=client       validate the set alone, as if the store were empty (no store read; references to
                             objects that are only in the store are errors), write nothing: "(dry run)"
      --dry-run=none         apply (the default)
      --state-dir DIR        state directory (default: $EGRESS_STATE_DIR, else /var/lib/egress-engine as root,
                             else $XDG_STATE_HOME/egress-engine or ~/.local/state/egress-engine)
      --insecure-state-dir   use a state directory (and files) other users own or can write
${STORE_USAGE}
  -h, --help                 this text`;

export const apply: Command = {
  name: 'apply',
  summary: 'apply Egress, ExternalIPPool, Node, Namespace, Pod, AgentConfig... manifests (atomically)',
  usage,
  async run(argv0) {
    const { argv, value: mode } = takeOptionalValue(argv0, 'dry-run', ['none', 'client', 'server'], 'server');
    const args = parseCommandArgs(argv, {
      filename: { type: 'string', short: 'f', multiple: true },
      recursive: { type: 'boolean', short: 'R' },
      ...STATE_DIR_OPTION,
    });
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const files = listOpt(args, 'filename');
    if (files.length === 0) throw new UsageError('-f FILE|DIR|- is required');
    const dryRun = mode === 'client' || mode === 'server';
    const loaded = loadManifests(files, { recursive: boolOpt(args, 'recursive') });
    if (mode === 'client') {
      const r = policy.applyDocs(policy.emptyState(), loaded.docs, new Date(), loaded.problems);
      for (const w of failOnErrors(r.problems, 'dry run')) console.error(`Warning: ${policy.formatProblem(w)}`);
      for (const c of r.changes) console.log(`${policy.RESOURCE[c.kind]}/${c.name} ${c.action} (dry run)`);
      return 0;
    }
    const st = storeOf(args);
    let result: policy.ApplyResult;
    try {
      result = await st.update((state) => {
        const r = policy.applyDocs(state, loaded.docs, new Date(), loaded.problems);
        return { state: r.state, write: r.ok && r.changed && !dryRun, result: r };
      });
      const warnings = failOnErrors(result.problems, 'nothing applied');
      if (!dryRun && (await st.ensureClusterKey()))
        console.error(
          st instanceof policy.store.DirStore
            ? `note: created the cluster key ${join(st.dir, policy.store.KEY_FILE)} (32 random bytes, mode 0600): the agents of this state directory share it`
            : `note: created the cluster key in ${st.url} (32 random bytes): the agents of this store share it`,
        );
      for (const w of warnings) console.error(`Warning: ${policy.formatProblem(w)}`);
    } finally {
      st.close();
    }
    const suffix = dryRun ? ' (server dry run)' : '';
    for (const c of result.changes) console.log(`${policy.RESOURCE[c.kind]}/${c.name} ${c.action}${suffix}`);
    for (const c of result.controller) {
      if (c.action === 'error')
        console.error(`Warning: Egress ${c.egress}: ${policy.MSG_ALLOCATION_ERROR}: ${c.message}`);
    }
    return 0;
  },
};
