/**
 * The list of sub-commands, in the order `egress --help` shows them. Each entry loads its module on first use, so
 * `egress --help` (and any one command) loads only what it runs: start-up is not the sum of every command's
 * imports. An entry's summary is the module's own (test/cli/command-imports.test.ts checks they agree).
 */
import type { CommandEntry } from '../command.js';

export const commands: readonly CommandEntry[] = [
  {
    name: 'demo',
    summary: 'the reference scenario end to end: egress IPs per namespace, then failover (root, ~2 s)',
    load: async () => (await import('./demo.js')).demoCommand,
  },
  {
    name: 'init',
    summary: 'create the state directory (0700) and the cluster key (0600), or check them',
    load: async () => (await import('./init.js')).init,
  },
  {
    name: 'apply',
    summary: 'apply Egress, ExternalIPPool, Node, Namespace, Pod, AgentConfig... manifests (atomically)',
    load: async () => (await import('./apply.js')).apply,
  },
  {
    name: 'delete',
    summary: 'delete objects by manifest (-f) or by kind and name (atomically)',
    load: async () => (await import('./delete.js')).del,
  },
  {
    name: 'get',
    summary: 'list Egresses, ExternalIPPools, Nodes, Pods, events... (kubectl columns, -o wide|yaml|json)',
    load: async () => (await import('./get.js')).get,
  },
  {
    name: 'describe',
    summary: 'show objects in detail: status, conditions, which Node and why, Pods, SNAT use, events',
    load: async () => (await import('./describe.js')).describeCommand,
  },
  {
    name: 'trace',
    summary: "trace a synthetic packet from a Pod through the Nodes' datapaths in memory (Traceflow)",
    load: async () => (await import('./trace.js')).traceCommand,
  },
  {
    name: 'supportbundle',
    summary: 'collect objects, statuses, events, views, counters, logs and the version into one tar.gz',
    load: async () => (await import('./supportbundle.js')).supportbundleCommand,
  },
  {
    name: 'replay',
    summary: 'run a whole cluster over a pcap without root (pcap in → pcaps + summary out)',
    load: async () => (await import('./replay.js')).replayCommand,
  },
  {
    name: 'agent',
    summary: "run one node's agent on TUN/TAP devices (root)",
    load: async () => (await import('./agent.js')).agentCommand,
  },
  {
    name: 'testbed',
    summary: 'build the cluster in network namespaces, run commands in it, fail nodes, capture (root)',
    load: async () => (await import('./testbed.js')).testbedCommand,
  },
  {
    name: 'version',
    summary: 'print the version, commit and Node.js version (-o json|yaml)',
    load: async () => (await import('./version.js')).versionCommand,
  },
  {
    name: 'completion',
    summary: 'print a shell completion script (bash, zsh, fish)',
    load: async () => (await import('./completion.js')).completionCommand,
  },
];
