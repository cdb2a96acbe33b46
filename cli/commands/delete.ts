/** `egress delete`: remove objects named by manifests or by kind and name, atomically. */
import * as policy from '../../engine/policy/index.js';
import {
  STATE_DIR_OPTION,
  STORE_USAGE,
  boolOpt,
  listOpt,
  parseCommandArgs,
  stringOpt,
  takeOptionalValue,
} from '../args.js';
import type { Command } from '../command.js';
import { UsageError, UserError } from '../errors.js';
import { kindOf } from '../kinds.js';
import { failOnErrors, loadManifests } from '../manifest-files.js';
import { storeOf } from '../state-dir.js';

const usage = `usage: egress delete -f FILE|DIR|- [-f ...] [options]
       egress delete KIND NAME [NAME...] [options]

Delete objects from the state directory, as one atomic set: if one of them does not exist, nothing is deleted
(unless --ignore-not-found). Deleting a Namespace deletes its Pods; deleting a Node deletes the Pods bound to it.
Deleting an Egress releases its IP; deleting an ExternalIPPool clears the egressIP of the Egresses using it (as
Antrea does; a warning names them, and their status says IPAllocated=False until a pool of that name exists again).

KIND: egress (eg), externalippool (eip), node, namespace (ns), pod (po), externalhost, agentconfig, configmap.
Pods are named namespace/name, or name with -n NAMESPACE (default "default").

options:
  -f, --filename FILE|DIR|-  delete the objects these manifests name; repeatable
  -R, --recursive            with a directory, its subdirectories' files too
  -n, --namespace NS         namespace of the Pods named without one
      --ignore-not-found     do not fail on objects that do not exist
      --dry-run[=server]     show what would be deleted (read from the store), write nothing
      --dry-run=client       list the objects named, without reading the store
      --dry-run=none         delete (the default)
      --state-dir DIR        state directory (see egress apply --help)
      --insecure-state-dir   use a state directory other users own or can write
${STORE_USAGE}
  -h, --help                 this text`;

export const del: Command = {
  name: 'delete',
  summary: 'delete objects by manifest (-f) or by kind and name (atomically)',
  usage,
  async run(argv0) {
    const { argv, value: mode } = takeOptionalValue(argv0, 'dry-run', ['none', 'client', 'server'], 'server');
    const args = parseCommandArgs(argv, {
      filename: { type: 'string', short: 'f', multiple: true },
      recursive: { type: 'boolean', short: 'R' },
      namespace: { type: 'string', short: 'n' },
      'ignore-not-found': { type: 'boolean' },
      ...STATE_DIR_OPTION,
    });
    const files = listOpt(args, 'filename');
    const ns = stringOpt(args, 'namespace') ?? 'default';
    const targets: policy.DeleteTarget[] = [];
    if (files.length > 0) {
      if (args.positionals.length > 0) throw new UsageError('give either -f or KIND NAME, not both');
      const loaded = loadManifests(files, { recursive: boolOpt(args, 'recursive') });
      failOnErrors(loaded.problems, 'nothing deleted');
      const problems: policy.Problem[] = [];
      for (const d of loaded.docs) {
        const v = d.value as Record<string, unknown> | null;
        const ctx = new policy.Ctx(problems, d);
        const kind = v && typeof v === 'object' ? v['kind'] : undefined;
        const meta = v && typeof v === 'object' ? (v['metadata'] as Record<string, unknown> | undefined) : undefined;
        const name = meta && typeof meta['name'] === 'string' ? meta['name'] : undefined;
        if (typeof kind !== 'string' || !policy.KINDS.includes(kind as policy.Kind) || name === undefined) {
          ctx.error('', 'cannot tell which object this document names (kind and metadata.name)');
          continue;
        }
        const t: { kind: policy.Kind; name: string; namespace?: string; source: policy.Source } = {
          kind: kind as policy.Kind,
          name,
          source: d,
        };
        if (kind === 'Pod' || kind === 'ConfigMap')
          t.namespace = typeof meta!['namespace'] === 'string' ? (meta!['namespace'] as string) : 'default';
        targets.push(t);
      }
      failOnErrors(problems, 'nothing deleted');
    } else {
      const [word, ...names] = args.positionals;
      if (!word) throw new UsageError('KIND NAME or -f FILE is required');
      if (names.length === 0) throw new UsageError(`a name is required (egress delete ${word} NAME)`);
      const kind = kindOf(word);
      for (const n of names) {
        if (kind === 'Pod' || kind === 'ConfigMap') {
          const [a, b] = n.includes('/') ? (n.split('/', 2) as [string, string]) : [ns, n];
          targets.push({ kind, name: b, namespace: a });
        } else targets.push({ kind, name: n });
      }
    }
    if (mode === 'client') {
      for (const t of targets)
        console.log(
          `${policy.RESOURCE[t.kind]} "${t.namespace ? `${t.namespace}/${t.name}` : t.name}" deleted (dry run)`,
        );
      return 0;
    }
    const dryRun = mode === 'server';
    const st = storeOf(args);
    let orphans: string[] = [];
    let result: ReturnType<typeof policy.deleteObjects>;
    try {
      result = await st.update((state) => {
        const r = policy.deleteObjects(state, targets, new Date(), {
          ignoreNotFound: boolOpt(args, 'ignore-not-found'),
        });
        orphans = r.ok ? orphanedEgresses(state, r) : [];
        return { state: r.state, write: r.ok && r.changed && !dryRun, result: r };
      });
    } finally {
      st.close();
    }
    for (const w of failOnErrors(result.problems, 'nothing deleted'))
      console.error(`Warning: ${policy.formatProblem(w)}`);
    for (const w of orphans) console.error(`Warning: ${w}`);
    if (result.changes.length === 0 && targets.length > 0 && !boolOpt(args, 'ignore-not-found'))
      throw new UserError('nothing to delete');
    const suffix = dryRun ? ' (server dry run)' : '';
    for (const c of result.changes)
      console.log(`${policy.RESOURCE[c.kind]} "${c.name}" deleted${c.note ? ` (${c.note})` : ''}${suffix}`);
    return 0;
  },
};

/**
 * One line per deleted ExternalIPPool that Egresses still name. As in Antrea (`pkg/controller/egress/controller.go`
 * `syncEgressIP`), the delete is allowed: the controller clears their egressIP and sets IPAllocated=False
 * "ExternalIPPool X does not exist"; their Pods leave with their Node's IP until a pool of that name exists again.
 */
function orphanedEgresses(prev: policy.ClusterState, r: policy.ApplyResult): string[] {
  const lines: string[] = [];
  for (const c of r.changes) {
    if (c.kind !== 'ExternalIPPool') continue;
    const users = [...r.state.egresses.values()]
      .filter((e) => e.spec.externalIPPool === c.name)
      .map((e) => e.metadata.name)
      .sort();
    if (users.length === 0) continue;
    const had = users.map((n) => {
      const ip = prev.egresses.get(n)?.spec.egressIP;
      return ip ? `${n} (${ip})` : n;
    });
    lines.push(
      `ExternalIPPool ${c.name} is still used by ${users.length === 1 ? 'Egress' : 'Egresses'} ${had.join(', ')}: ${
        users.length === 1 ? 'it loses its' : 'they lose their'
      } egress IP (IPAllocated=False) and ${users.length === 1 ? 'its' : 'their'} Pods leave with their Node's IP until the pool exists again`,
    );
  }
  return lines;
}
