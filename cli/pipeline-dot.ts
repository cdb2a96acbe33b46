/** `egress get pipeline`, `egress replay`: the node datapath graph (engine/agent/datapath.ts) as Graphviz dot. */
import { DATAPATH_LINKS } from '../engine/agent/datapath.js';

/** The datapath graph of every node, as Graphviz dot (`egress get pipeline | dot -Tsvg > pipeline.svg`). */
export function pipelineDot(): string {
  const lines = [
    'digraph "egress-engine node datapath" {',
    '  rankdir=LR;',
    '  node [shape=box, fontname="monospace"];',
    '  "drop" [shape=octagon];',
    '  "sink" [shape=point];',
  ];
  for (const l of DATAPATH_LINKS) {
    const m = /^(\S+)\s*->\s*(\S+)$/.exec(l)!;
    const from = m[1]!;
    const to = m[2]!;
    if (from.startsWith('in:')) {
      lines.push(`  "port:${from.slice(3)}" [shape=ellipse];`, `  "port:${from.slice(3)}" -> "${to}";`);
      continue;
    }
    const dot = from.lastIndexOf('.');
    if (to === 'consumed') continue;
    const target = to.startsWith('out:') ? `port:${to.slice(4)}` : to;
    if (to.startsWith('out:')) lines.push(`  "${target}" [shape=ellipse];`);
    lines.push(`  "${from.slice(0, dot)}" -> "${target}" [label="${from.slice(dot + 1)}"];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
