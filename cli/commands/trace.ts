/** `egress trace POD DEST[:PORT]`: one synthetic packet through the cluster's datapaths in memory (cli/trace.ts). */
import { STATE_DIR_OPTION, STORE_USAGE, parseCommandArgs, stringOpt } from '../args.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { parseOutput, printData, refuseFormat } from '../formats.js';
import { storeOf } from '../state-dir.js';
import { parseDest, trace } from '../trace.js';
import type { Proto } from '../trace.js';

const usage = `usage: egress trace POD DEST[:PORT] [--proto tcp|udp|icmp] [-o json|yaml] [--state-dir DIR]

Trace one packet, as Antrea's Traceflow does, without touching a running cluster: the cluster of the store's
state is built in memory as \`egress replay\` builds it (every Node's compiled datapath with every Node alive,
the segment, the external hosts), and a synthetic packet from POD (namespace/name) to DEST is put in: a TCP
SYN to PORT (default 80), a UDP datagram to PORT (default 53) or an ICMP echo request. It prints, for each Node
the packet went through, every stage exit it took and the counters it moved (drops by reason); the frames it
put on the segment (the Geneve hop to the egress Node, ARP, the packet that leaves); what a Pod received; and
the source IP the packet left the cluster with (the egress IP, or its Node's IP) and the Node it left by.

options:
      --proto P         tcp (default), udp or icmp
  -o, --output FORMAT   json or yaml (also jsonpath=TEMPLATE)
      --state-dir DIR   state directory (see egress apply --help)
      --insecure-state-dir
                        use a state directory other users own or can write
${STORE_USAGE}
  -h, --help            this text`;

export const traceCommand: Command = {
  name: 'trace',
  summary: "trace a synthetic packet from a Pod through the Nodes' datapaths in memory (Traceflow)",
  usage,
  async run(argv) {
    const args = parseCommandArgs(argv, {
      proto: { type: 'string' },
      output: { type: 'string', short: 'o' },
      ...STATE_DIR_OPTION,
    });
    const [pod, destText, extra] = args.positionals;
    if (!pod || !destText)
      throw new UsageError('POD and DEST are required (egress trace prod/web-a 198.18.0.100:8080)');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const proto = (stringOpt(args, 'proto') ?? 'tcp') as Proto;
    if (!['tcp', 'udp', 'icmp'].includes(proto)) throw new UsageError(`--proto ${proto}: tcp, udp or icmp`);
    const f = parseOutput(stringOpt(args, 'output'));
    refuseFormat(f, 'trace', ['table', 'json', 'yaml', 'jsonpath']);
    const { dest, port } = parseDest(destText, proto);
    const st = storeOf(args);
    let state;
    try {
      state = (await st.load()).state;
    } finally {
      st.close();
    }
    const r = trace(state, { pod, dest, port, proto });
    if (printData(f, r, [])) return 0;
    const lines = [`packet: ${r.packet}`];
    for (const n of r.nodes) {
      lines.push(`node ${n.node}:`, `  stages: ${n.exits.join(' → ')}`);
      if (n.counters.length) lines.push(`  counters: ${n.counters.join(', ')}`);
    }
    lines.push('segment:');
    for (const s of r.segment) lines.push(`  from ${s.from}: ${s.frame}`);
    if (r.segment.length === 0) lines.push('  <nothing>');
    for (const d of r.delivered) lines.push(`delivered to pod ${d.pod}: ${d.packet}`);
    for (const d of r.drops) lines.push(`dropped on ${d.node} by ${d.stage}: ${d.reason}`);
    lines.push(
      r.egress
        ? `result: leaves the cluster from ${r.egress.ip} by node ${r.egress.node}`
        : r.delivered.length
          ? 'result: delivered inside the cluster'
          : 'result: does not leave the cluster',
    );
    console.log(lines.join('\n'));
    return 0;
  },
};
