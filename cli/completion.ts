/**
 * Shell completion scripts (`egress completion bash|zsh|fish`): the commands, each command's flags, the kinds of
 * get/describe/delete and, for a name after a kind, the names `egress get KIND -o name` prints (the store the
 * environment names: $EGRESS_STORE / $EGRESS_STATE_DIR). The lists here are checked against the command index
 * and every command's --help by test/cli/kubectl-conventions.test.ts.
 */

/** The flags of every store command (STATE_DIR_OPTION). */
const STORE_FLAGS = [
  '--insecure-state-dir',
  '--state-dir',
  '--store',
  '--etcd-cacert',
  '--etcd-cert',
  '--etcd-key',
  '--etcd-prefix',
  '--etcd-user-file',
];
const DRY_RUN_FLAGS = ['--dry-run', '--dry-run=client', '--dry-run=server', '--dry-run=none'];

export const COMPLETION_COMMANDS: Readonly<Record<string, { summary: string; flags: readonly string[] }>> = {
  demo: {
    summary: 'the reference scenario end to end (root)',
    flags: ['--etcd', '--ipv6', '--keep', '--manifests', '--state-dir'],
  },
  init: { summary: 'create the state directory and the cluster key', flags: ['--insecure-state-dir', '--state-dir'] },
  apply: {
    summary: 'apply manifests (atomically)',
    flags: [...DRY_RUN_FLAGS, '--filename', '--recursive', ...STORE_FLAGS],
  },
  delete: {
    summary: 'delete objects (atomically)',
    flags: [...DRY_RUN_FLAGS, '--filename', '--recursive', '--ignore-not-found', '--namespace', ...STORE_FLAGS],
  },
  get: {
    summary: 'list objects (kubectl columns, -o ...)',
    flags: [
      '--output',
      '--namespace',
      '--all-namespaces',
      '--selector',
      '--sort-by',
      '--no-headers',
      '--watch',
      ...STORE_FLAGS,
    ],
  },
  describe: {
    summary: 'show one object in detail: status, conditions, pods, node, events',
    flags: ['--namespace', ...STORE_FLAGS],
  },
  trace: { summary: 'trace a synthetic packet from a Pod (Traceflow)', flags: ['--proto', '--output', ...STORE_FLAGS] },
  supportbundle: { summary: 'collect state, counters, logs into one tar.gz', flags: ['--out', ...STORE_FLAGS] },
  replay: {
    summary: 'run a whole cluster over a pcap without root',
    flags: [
      '--manifests',
      '--in',
      '--out',
      '--reflect',
      '--timeline',
      '--map-addr',
      '--map-pod',
      '--pcapng',
      '--quiet',
      '--verbose',
      '--strict',
      '--drops',
      '--top',
      '--detect-ms',
      '--warmup-ms',
      '--undeliverable-max',
      '--conntrack-dump',
      '--conntrack-tcp-strict',
      '--conn-sync',
    ],
  },
  agent: {
    summary: "run one node's agent (root)",
    flags: [
      '--node',
      '--bridge',
      '--conn-sync',
      '--segment-netns',
      '--key-file',
      '--tunnel-auth',
      '--metrics-port',
      '--metrics-address',
      '--log-level',
      '--batch',
      '--budget',
      '--round',
      '--queue-len',
      '--offload',
      '--io',
      '--workers',
      '--tunnel-gso',
      '--conntrack-max',
      '--conntrack-max-per-pod',
      '--conntrack-tcp-liberal',
      '--dead-after-ms',
      '--heartbeat-interval-ms',
      ...STORE_FLAGS,
    ],
  },
  testbed: {
    summary: 'the cluster in network namespaces (root)',
    flags: [
      '--manifests',
      '--conn-sync',
      '--metrics-port-base',
      '--etcd',
      '--store',
      '--etcd-prefix',
      '--etcd-cacert',
      '--etcd-cert',
      '--etcd-key',
      '--etcd-user-file',
      '--insecure-state-dir',
      '--json',
      '--out',
      '--count',
      '--duration',
      '--filter',
      '--state-dir',
    ],
  },
  version: { summary: 'version, commit and Node.js version', flags: ['--output'] },
  completion: { summary: 'shell completion script (bash, zsh, fish)', flags: [] },
};

export const TESTBED_SUBCOMMANDS = ['up', 'status', 'exec', 'fail', 'restore', 'restart', 'capture', 'down'];
export const COMPLETION_KINDS = [
  'egress',
  'eg',
  'externalippool',
  'eip',
  'nodes',
  'no',
  'pods',
  'po',
  'namespaces',
  'ns',
  'externalhosts',
  'agentconfigs',
  'configmaps',
  'cm',
];
/** Words `egress get` takes besides the kinds. */
export const GET_EXTRA = ['events', 'view', 'counters', 'pipeline'];
export const OUTPUT_FORMATS = ['wide', 'json', 'yaml', 'name', 'jsonpath=', 'custom-columns='];
const FILE_FLAGS = [
  '-f',
  '--filename',
  '--state-dir',
  '--manifests',
  '--in',
  '--out',
  '--timeline',
  '--key-file',
  '--etcd-cacert',
  '--etcd-cert',
  '--etcd-key',
  '--etcd-user-file',
];

const SHORT: Readonly<Record<string, string>> = {
  '--output': '-o',
  '--namespace': '-n',
  '--all-namespaces': '-A',
  '--selector': '-l',
  '--watch': '-w',
  '--filename': '-f',
  '--recursive': '-R',
  '--verbose': '-v',
  '--quiet': '-q',
};

function flagsOf(cmd: string): string[] {
  const fl = COMPLETION_COMMANDS[cmd]!.flags;
  return [...fl, ...fl.map((f) => SHORT[f]).filter((s): s is string => !!s), '--help'];
}

export function bashCompletion(): string {
  const cases = Object.keys(COMPLETION_COMMANDS)
    .map((c) => `      ${c}) flags="${flagsOf(c).join(' ')}" ;;`)
    .join('\n');
  return `# bash completion for egress: source <(egress completion bash)
_egress() {
  local cur prev cmd flags kind i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd="\${COMP_WORDS[1]}"
  COMPREPLY=()
  if [[ \${COMP_CWORD} -eq 1 ]]; then
    COMPREPLY=( $(compgen -W "${Object.keys(COMPLETION_COMMANDS).join(' ')} --help --version" -- "\${cur}") )
    return 0
  fi
  case "\${prev}" in
    -o|--output) compopt -o nospace 2>/dev/null; COMPREPLY=( $(compgen -W "${OUTPUT_FORMATS.join(' ')}" -- "\${cur}") ); return 0 ;;
    ${FILE_FLAGS.join('|')}) compopt -o default 2>/dev/null; COMPREPLY=( $(compgen -f -- "\${cur}") ); return 0 ;;
    -n|--namespace) COMPREPLY=( $(compgen -W "$(egress get namespaces -o 'jsonpath={.items[*].metadata.name}' 2>/dev/null)" -- "\${cur}") ); return 0 ;;
  esac
  if [[ "\${cur}" == -* ]]; then
    case "\${cmd}" in
${cases}
      *) flags="--help" ;;
    esac
    COMPREPLY=( $(compgen -W "\${flags}" -- "\${cur}") )
    return 0
  fi
  case "\${cmd}" in
    get|describe|delete)
      kind=""
      for (( i=2; i<COMP_CWORD; i++ )); do
        case "\${COMP_WORDS[i]}" in
          -o|--output|-n|--namespace|-l|--selector|--sort-by|-f|--filename|--state-dir|--store) (( i++ )) ;;
          -*) ;;
          *) kind="\${COMP_WORDS[i]}"; break ;;
        esac
      done
      if [[ -z "\${kind}" ]]; then
        if [[ "\${cmd}" == get ]]; then flags="${[...COMPLETION_KINDS, ...GET_EXTRA].join(' ')}"; else flags="${COMPLETION_KINDS.join(' ')}"; fi
        COMPREPLY=( $(compgen -W "\${flags}" -- "\${cur}") )
      elif [[ "\${kind}" == view || "\${kind}" == counters ]]; then
        COMPREPLY=( $(compgen -W "$(egress get nodes -o 'jsonpath={.items[*].metadata.name}' 2>/dev/null)" -- "\${cur}") )
      else
        COMPREPLY=( $(compgen -W "$(egress get "\${kind}" -o name 2>/dev/null | sed 's|^[^/]*/||')" -- "\${cur}") )
      fi ;;
    testbed)
      [[ \${COMP_CWORD} -eq 2 ]] && COMPREPLY=( $(compgen -W "${TESTBED_SUBCOMMANDS.join(' ')}" -- "\${cur}") ) ;;
    completion)
      [[ \${COMP_CWORD} -eq 2 ]] && COMPREPLY=( $(compgen -W "bash zsh fish" -- "\${cur}") ) ;;
    *) compopt -o default 2>/dev/null; COMPREPLY=( $(compgen -f -- "\${cur}") ) ;;
  esac
  return 0
}
complete -F _egress egress
`;
}

/** zsh: the bash function through zsh's bashcompinit (as many CLIs ship it). */
export function zshCompletion(): string {
  return `#compdef egress
# zsh completion for egress: source <(egress completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion().replace(/^# bash completion.*\n/, '')}`;
}

export function fishCompletion(): string {
  const q = (s: string) => `'${s.replace(/'/g, "\\'")}'`;
  const lines = ['# fish completion for egress: egress completion fish | source', 'complete -c egress -f'];
  for (const [c, { summary }] of Object.entries(COMPLETION_COMMANDS))
    lines.push(`complete -c egress -n __fish_use_subcommand -a ${c} -d ${q(summary)}`);
  for (const c of Object.keys(COMPLETION_COMMANDS))
    for (const f of flagsOf(c)) {
      if (!f.startsWith('--') || f.includes('=')) continue;
      const short = SHORT[f];
      lines.push(
        `complete -c egress -n '__fish_seen_subcommand_from ${c}' -l ${f.slice(2)}${short ? ` -s ${short.slice(1)}` : ''}${
          f === '--output' ? ` -xa ${q(OUTPUT_FORMATS.join(' '))}` : FILE_FLAGS.includes(f) ? ' -rF' : ''
        }`,
      );
    }
  lines.push(
    `complete -c egress -n '__fish_seen_subcommand_from get' -a ${q([...COMPLETION_KINDS, ...GET_EXTRA].join(' '))}`,
    `complete -c egress -n '__fish_seen_subcommand_from describe delete' -a ${q(COMPLETION_KINDS.join(' '))}`,
    `complete -c egress -n '__fish_seen_subcommand_from testbed' -a ${q(TESTBED_SUBCOMMANDS.join(' '))}`,
    `complete -c egress -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'`,
  );
  return lines.join('\n') + '\n';
}
