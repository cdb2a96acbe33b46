/**
 * Whole-cluster replay throughput (issue 13): input packets per second through `Replay` (engine/agent/replay.ts)
 * over the reference cluster (examples/reference: 3 nodes, two Egresses, five pods), with `--reflect`: every
 * pod packet goes through its node's datapath (local SNAT, or Geneve to the egress node, decap and SNAT there),
 * the simulated segment, the reflecting external host (showip), and back through un-SNAT (and Geneve) to the pod.
 * Input: UDP from the five pods round-robin, 18-byte payload, source ports over a ring of 1 k or 100 k flows,
 * 1 µs apart (1 M packets/s of input time), built in the replay's slab (no reader, no output files: the
 * simulation alone). Every case reports its ratio to `pipeline/encap/64B/1k` (one node's encap path, a pipeline
 * round of 64 packets) measured in the same run: `npm run bench -- replay` (the harness runs the baseline too).
 * Memory: heap after the run and the connection-table size (`facts`); bounded by flows, not packets. `facts` also
 * give the process's CPU time per input packet over the timed calls (`cpuNsPerPacket`): on a shared, loaded
 * machine it moves less than packets/s. `stageShare` is the share of the nodes' pipeline stages in an
 * instrumented pass after the timed run (`stageShare` below), `stageNsPerPacket` that share of the CPU time: the
 * datapaths' own cost per input packet, which bounds the ratio to encap from above (encap ns/op divided by it)
 * however fast the simulation around them gets.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Replay } from '../../engine/agent/replay.js';
import { applyDocs, emptyState, parseManifests } from '../../engine/policy/index.js';
import { ipv4, udp } from '../../engine/wire/index.js';
import type { Stage } from '../../engine/graph/index.js';
import type { BenchCase, Suite } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const PODS = ['198.19.1.10', '198.19.2.10', '198.19.3.10', '198.19.1.11', '198.19.2.11'].map((s) => ipv4.parseAddr(s)!);
const SHOWIP = ipv4.parseAddr('198.18.0.100')!;
const OPS = 4096;
const PKT_LEN = 20 + 8 + 18;
const T0 = 1767225600;

interface Rig {
  replay: Replay;
  /** Offset in the slab of each pod's template packet. */
  tpl: number[];
  flows: number;
  i: number;
  ns: number;
  /** CPU time (µs, this process) and input packets of the timed calls: a figure a loaded machine disturbs less. */
  cpuUs: number;
  timed: number;
}

function rig(flows: number): Rig {
  const text = readFileSync(resolve(ROOT, 'examples/reference/cluster.yaml'), 'utf8');
  const parsed = parseManifests(text, 'cluster.yaml');
  const applied = applyDocs(emptyState(), parsed.docs, new Date(T0 * 1000), parsed.problems);
  if (!applied.ok) throw new Error('reference manifests refused');
  const replay = new Replay({ state: applied.state, reflect: true });
  const slab = replay.slab;
  const v = slab.dv;
  const tpl = PODS.map((src, k) => {
    const o = slab.start(slab.alloc());
    ipv4.emit(
      {
        tos: 0,
        id: k,
        flagsFrag: ipv4.FLAG_DF,
        ttl: 64,
        proto: 17,
        src,
        dst: SHOWIP,
        options: new Uint8Array(0),
        payloadLen: 26,
      },
      v,
      o,
    );
    udp.emit({ srcPort: 10000, dstPort: 9, payloadLen: 18 }, v, o + 20);
    udp.fillChecksum(v, o, o + 20);
    return o;
  });
  const r: Rig = { replay, tpl, flows, i: 0, ns: 0, cpuUs: 0, timed: 0 };
  // Warm up: one pass over every flow (connections exist before timing).
  for (let n = 0; n < Math.max(flows, 20_000); n += OPS) feed(r, OPS);
  return r;
}

/**
 * Share of the time spent in the nodes' pipeline stages (their `process` calls: the datapaths' own work), over
 * `calls` instrumented calls of `feed` after the timed run; the rest is the simulation around them (input
 * decoding, pod ports, the switch, the hosts, the settle loop) and the pipelines' dispatch between stages. Wall
 * clock on both sides of the quotient, so the load of the machine cancels out for the most part; each stage call
 * adds two clock reads (about one stage call per two input packets).
 */
function stageShare(r: Rig, calls: number): number {
  let inStages = 0;
  const restore: Array<() => void> = [];
  for (const rt of r.replay.cluster.nodes)
    for (const st of rt.runner.agent.datapath.pipeline.stages as Stage[]) {
      const orig = st.process;
      const bound = orig.bind(st);
      (st as { process: Stage['process'] }).process = (b, sel, n) => {
        const t0 = performance.now();
        const m = bound(b, sel, n);
        inStages += performance.now() - t0;
        return m;
      };
      restore.push(() => ((st as { process: Stage['process'] }).process = orig));
    }
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) feed(r, OPS);
  const total = performance.now() - t0;
  for (const f of restore) f();
  return inStages / total;
}

function feed(r: Rig, n: number): void {
  const slab = r.replay.slab;
  const v = slab.dv;
  for (let k = 0; k < n; k++) {
    const f = r.i++ % r.flows;
    const o = r.tpl[f % PODS.length]!;
    udp.setSrcPortCsum(v, o + 20, 10000 + Math.floor(f / PODS.length));
    r.ns += 1000;
    r.replay.feed(slab.u8, o, PKT_LEN, PKT_LEN, 101, T0 + Math.floor(r.ns / 1e9), r.ns % 1e9);
  }
}

const cases: BenchCase[] = [];
for (const flows of [1000, 100_000]) {
  let r: Rig | null = null;
  cases.push({
    name: `reflect/${flows === 1000 ? '1k' : '100k'}`,
    ops: OPS,
    baseline: 'pipeline/encap/64B/1k',
    setup: () => (r = rig(flows)),
    fn: () => {
      const u = process.cpuUsage();
      feed(r!, OPS);
      const d = process.cpuUsage(u);
      r!.cpuUs += d.user + d.system;
      r!.timed += OPS;
    },
    facts: () => {
      const cpuNs = (r!.cpuUs * 1000) / r!.timed;
      const share = stageShare(r!, 40);
      const c = r!.replay.cluster;
      const ct = c.nodes.reduce((a, rt) => a + rt.runner.agent.datapath.state.ct.size, 0);
      const toPods = c.pods.reduce((a, p) => a + (p.counters.get('received') ?? 0), 0);
      const rounds = c.nodes.reduce((a, rt) => a + rt.runner.agent.datapath.pipeline.counters.get('rounds'), 0);
      return {
        packets: r!.replay.input.packets,
        toPods,
        conns: ct,
        roundsPerPacket: (rounds / r!.replay.input.packets).toFixed(3),
        cpuNsPerPacket: Math.round(cpuNs),
        stageShare: share.toFixed(2),
        stageNsPerPacket: Math.round(share * cpuNs),
        heapMB: Math.round(process.memoryUsage().heapUsed / 1e6),
      };
    },
  });
}

const suite: Suite = { name: 'replay', cases };
export default suite;
