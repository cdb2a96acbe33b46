/**
 * The pipeline: stages and ports wired by a spec that is data (Snabb `config.link`, Click's language), checked
 * when it is built, printable as Graphviz dot.
 *
 * Spec lines:
 *   `in:NAME -> stage`          packets received on input NAME (a port or a port group) enter `stage`
 *   `stage.exit -> stage2`      an exit leads to another stage
 *   `stage.exit -> out:NAME`    an exit leads to an output port or port group
 *   `stage.exit -> drop`        the pipeline frees the packet (the stage counted why)
 *   `stage.exit -> sink`        the pipeline frees the packet: it was consumed normally (an ARP reply learned)
 *   `stage.exit -> consumed`    the stage kept the packet (see Stage.release)
 * A port group (`group:NAME` in `inputs`/`outputs`) is a set of ports that grows and shrinks at run time (one
 * TUN per local pod); a stage that routes to a group writes the member index into `b.oport[i]`.
 *
 * Execution (one *round*): received packets sit in the round burst; stages run once each in topological order
 * over the selection their predecessors gave them; an exit's target gets the packet's index appended (a
 * stage), the packet appended to its output burst (a port), or the slot freed (drop). Output bursts are sent
 * at the end of the round, one `send` per port per round. Nothing is allocated per packet.
 */
import { Burst, type Slab } from '../packet/index.js';
import { Counters, counterIndex } from './counters.js';
import type { Port } from './port.js';
import type { Stage } from './stage.js';

export interface PipelineSpec {
  stages: readonly Stage[];
  /** Port names used in `in:` / `out:` lines (single ports). */
  ports: readonly string[];
  /** Port group names used in `in:` / `out:` lines. */
  groups?: readonly string[];
  links: readonly string[];
  /** Round burst capacity (packets received per round plus room for generated ones). Default 256. */
  burst?: number;
}

const PIPELINE_COUNTERS = ['rounds', 'rx', 'tx', 'drop', 'sink', 'no-port'] as const;
const C = counterIndex(PIPELINE_COUNTERS);

const T_STAGE = 0;
const T_PORT = 1;
const T_GROUP = 2;
const T_DROP = 3;
const T_CONSUMED = 4;
const T_SINK = 5;

/**
 * Watches a pipeline's drops (replay writes them to drops.pcapng): `before(s)` runs just before stage `s`
 * processes a selection, `drop(s, b, i)` for each packet of it that takes an exit to `drop`, before its slot is
 * freed. Off (null) by default: one test per stage and round.
 */
export interface DropTracer {
  before(stage: number): void;
  drop(stage: number, b: Burst, i: number): void;
}

/** A port group: ports indexed by a small integer (`b.oport[i]`); empty entries are counted drops. */
export class PortGroup {
  readonly ports: (Port | null)[] = [];
  readonly out: (Burst | null)[] = [];
  constructor(
    readonly name: string,
    private readonly slab: Slab,
    private readonly outCap: number,
  ) {}

  /** Add a port; returns its index (the value stages write into `b.oport`). Reuses free indices. */
  add(port: Port): number {
    let i = this.ports.indexOf(null);
    if (i < 0) i = this.ports.length;
    this.ports[i] = port;
    this.out[i] = new Burst(this.slab, this.outCap);
    return i;
  }

  /**
   * Put a port at index `i` (a datapath worker mirrors the main thread's indices: a pod's member is the same in
   * every worker); a port already there is replaced, its pending output freed.
   */
  set(i: number, port: Port): void {
    if (!(Number.isInteger(i) && i >= 0 && i < 65536)) throw new RangeError(`port group ${this.name}: index ${i}`);
    while (this.ports.length < i) {
      this.ports.push(null);
      this.out.push(null);
    }
    this.out[i]?.freeAll();
    this.ports[i] = port;
    this.out[i] = new Burst(this.slab, this.outCap);
  }

  /** Remove port `i` (its pending output is freed). */
  remove(i: number): void {
    const ob = this.out[i];
    if (ob) ob.freeAll();
    this.ports[i] = null;
    this.out[i] = null;
  }
}

/** An input resolved by `Pipeline.input`. */
export interface InputHandle {
  readonly name: string;
  /** Index of the stage its packets enter. */
  readonly stage: number;
  /** Index of the single port, or -1 for a group. */
  readonly port: number;
  readonly group: PortGroup | null;
}

export class PipelineError extends Error {
  override readonly name = 'PipelineError';
}

export class Pipeline {
  readonly slab: Slab;
  readonly stages: readonly Stage[];
  /** The round burst: everything received this round and everything generated from it. */
  readonly round: Burst;
  /** Per stage: packets per exit (`exitCounts[s][e]`). */
  readonly exitCounts: Float64Array[];
  /** Pipeline-level counters. */
  readonly counters = new Counters(PIPELINE_COUNTERS);
  /** Sees every drop when set (see DropTracer). */
  tracer: DropTracer | null = null;

  private readonly order: number[];
  private readonly sel: Int32Array[];
  /** All stages' selections in one buffer (`sel[s]` views it at s × cap), so a burst moves with copyWithin. */
  private readonly selFlat: Int32Array;
  private readonly cap: number;
  private readonly selN: Int32Array;
  private readonly targetKind: Uint8Array[];
  private readonly targetIdx: Int32Array[];
  private readonly portNames: readonly string[];
  private readonly portObjs: (Port | null)[];
  private readonly portOut: Burst[];
  private readonly groups: PortGroup[];
  private readonly inputTarget = new Map<string, number>();

  constructor(slab: Slab, spec: PipelineSpec) {
    this.slab = slab;
    const cap = spec.burst ?? 256;
    this.round = new Burst(slab, cap);
    this.stages = spec.stages;
    const names = new Map<string, number>();
    spec.stages.forEach((s, i) => {
      if (names.has(s.name)) throw new PipelineError(`pipeline: two stages named ${s.name}`);
      if (s.exits.length === 0 || s.exits.length > 255)
        throw new PipelineError(`pipeline: stage ${s.name} needs 1..255 exits`);
      names.set(s.name, i);
    });
    this.portNames = spec.ports;
    const groupNames = spec.groups ?? [];
    const allOut = new Set([...spec.ports.map((p) => `port:${p}`), ...groupNames.map((g) => `group:${g}`)]);
    if (allOut.size !== spec.ports.length + groupNames.length)
      throw new PipelineError('pipeline: duplicate port or group name');
    this.portObjs = spec.ports.map(() => null);
    this.portOut = spec.ports.map(() => new Burst(slab, cap));
    this.groups = groupNames.map((g) => new PortGroup(g, slab, cap));
    this.targetKind = spec.stages.map((s) => new Uint8Array(s.exits.length).fill(255));
    this.targetIdx = spec.stages.map((s) => new Int32Array(s.exits.length).fill(-1));
    this.exitCounts = spec.stages.map((s) => new Float64Array(s.exits.length));
    this.cap = cap;
    this.selFlat = new Int32Array(spec.stages.length * cap);
    this.sel = spec.stages.map((_, s) => this.selFlat.subarray(s * cap, (s + 1) * cap));
    this.selN = new Int32Array(spec.stages.length);

    const edges: Array<[number, number]> = [];
    const entries: number[] = [];
    for (const raw of spec.links) {
      const m = /^\s*(\S+)\s*->\s*(\S+)\s*$/.exec(raw);
      if (!m) throw new PipelineError(`pipeline: cannot parse link "${raw}" (want "a.exit -> b")`);
      const [, from, to] = m as unknown as [string, string, string];
      if (from.startsWith('in:')) {
        const input = from.slice(3);
        if (!spec.ports.includes(input) && !groupNames.includes(input))
          throw new PipelineError(`pipeline: "${raw}": no port or group named ${input}`);
        const t = names.get(to);
        if (t === undefined) throw new PipelineError(`pipeline: "${raw}": no stage named ${to}`);
        if (this.inputTarget.has(input)) throw new PipelineError(`pipeline: input ${input} linked twice`);
        this.inputTarget.set(input, t);
        entries.push(t);
        continue;
      }
      const dot = from.lastIndexOf('.');
      if (dot < 0) throw new PipelineError(`pipeline: "${raw}": the source must be stage.exit`);
      const sName = from.slice(0, dot);
      const exit = from.slice(dot + 1);
      const s = names.get(sName);
      if (s === undefined) throw new PipelineError(`pipeline: "${raw}": no stage named ${sName}`);
      const e = spec.stages[s]!.exits.indexOf(exit);
      if (e < 0)
        throw new PipelineError(
          `pipeline: "${raw}": stage ${sName} has no exit ${exit} (exits: ${spec.stages[s]!.exits.join(', ')})`,
        );
      if (this.targetKind[s]![e] !== 255) throw new PipelineError(`pipeline: exit ${from} linked twice`);
      if (to === 'drop') this.setTarget(s, e, T_DROP, 0);
      else if (to === 'consumed') this.setTarget(s, e, T_CONSUMED, 0);
      else if (to === 'sink') this.setTarget(s, e, T_SINK, 0);
      else if (to.startsWith('out:')) {
        const o = to.slice(4);
        const p = spec.ports.indexOf(o);
        const g = groupNames.indexOf(o);
        if (p >= 0) this.setTarget(s, e, T_PORT, p);
        else if (g >= 0) this.setTarget(s, e, T_GROUP, g);
        else throw new PipelineError(`pipeline: "${raw}": no port or group named ${o}`);
      } else {
        const t = names.get(to);
        if (t === undefined) throw new PipelineError(`pipeline: "${raw}": no stage named ${to}`);
        if (t === s) throw new PipelineError(`pipeline: "${raw}": a stage cannot feed itself`);
        this.setTarget(s, e, T_STAGE, t);
        edges.push([s, t]);
      }
    }
    spec.stages.forEach((st, s) =>
      st.exits.forEach((x, e) => {
        if (this.targetKind[s]![e] === 255) throw new PipelineError(`pipeline: exit ${st.name}.${x} is not linked`);
      }),
    );
    this.order = topoOrder(spec.stages.length, edges, spec.stages);
    // Reachability from inputs and from stages that release held packets.
    const seen = new Set<number>();
    const stack = [...entries, ...spec.stages.flatMap((st, i) => (st.release ? [i] : []))];
    while (stack.length) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      for (const [a, b] of edges) if (a === s) stack.push(b);
    }
    spec.stages.forEach((st, i) => {
      if (!seen.has(i)) throw new PipelineError(`pipeline: stage ${st.name} is unreachable from any input`);
    });
  }

  private setTarget(s: number, e: number, kind: number, idx: number): void {
    this.targetKind[s]![e] = kind;
    this.targetIdx[s]![e] = idx;
  }

  /** Attach the Port for a single-port name from the spec. */
  attach(name: string, port: Port): void {
    const i = this.portNames.indexOf(name);
    if (i < 0) throw new PipelineError(`pipeline: no port named ${name}`);
    this.portObjs[i] = port;
  }

  /** The port group by name. */
  group(name: string): PortGroup {
    const g = this.groups.find((x) => x.name === name);
    if (!g) throw new PipelineError(`pipeline: no group named ${name}`);
    return g;
  }

  /** Stage index by name (setup time). */
  stageIndex(name: string): number {
    const i = this.stages.findIndex((s) => s.name === name);
    if (i < 0) throw new PipelineError(`pipeline: no stage named ${name}`);
    return i;
  }

  /** Resolve an input once (setup time): a handle `pollInput` takes without any lookup by name. */
  input(name: string): InputHandle {
    const t = this.inputTarget.get(name);
    if (t === undefined) throw new PipelineError(`pipeline: ${name} is not an input`);
    const p = this.portNames.indexOf(name);
    return p >= 0 ? { name, stage: t, port: p, group: null } : { name, stage: t, port: -1, group: this.group(name) };
  }

  /**
   * Receive from a single port (or group member `member`) and run one round. Returns the number of packets
   * received (0 when nothing was ready; the round still runs so held packets can be released).
   */
  poll(input: string, member = -1): number {
    return this.pollInput(this.input(input), member);
  }

  /** `poll` with a resolved input (the per-burst path). */
  pollInput(h: InputHandle, member = -1): number {
    let port: Port | null;
    let portId: number;
    if (h.group === null) {
      portId = h.port;
      port = this.portObjs[portId] ?? null;
    } else {
      port = h.group.ports[member] ?? null;
      portId = member;
    }
    if (!port) throw new PipelineError(`pipeline: nothing attached to ${h.name}${member >= 0 ? `[${member}]` : ''}`);
    const t = h.stage;
    const b = this.round;
    const before = b.count;
    const got = port.recv(b);
    const sel = this.sel[t]!;
    let n = this.selN[t]!;
    const end = before + got;
    const ports = b.port;
    for (let i = before; i < end; i++) {
      ports[i] = portId;
      sel[n++] = i;
    }
    this.selN[t] = n;
    this.counters.v[C.rx] += got;
    this.run();
    return got;
  }

  /**
   * Enqueue packets already appended to the round burst (indices from..round.count-1) at an input's stage
   * without running; call `run()` after. Used by drivers that build packets themselves (replay, control plane).
   */
  enqueue(input: string, from: number): void {
    const t = this.inputTarget.get(input);
    if (t === undefined) throw new PipelineError(`pipeline: ${input} is not an input`);
    const sel = this.sel[t]!;
    let n = this.selN[t]!;
    for (let i = from; i < this.round.count; i++) sel[n++] = i;
    this.selN[t] = n;
    this.counters.v[C.rx] += this.round.count - from;
  }

  /** Run one round over whatever is enqueued (and whatever stages release), then flush outputs. */
  run(): void {
    const b = this.round;
    const order = this.order;
    this.counters.v[C.rounds]++;
    for (let k = 0; k < order.length; k++) {
      const s = order[k]!;
      const st = this.stages[s]!;
      const sel = this.sel[s]!;
      let n = this.selN[s]!;
      if (st.release) n = st.release(b, sel, n);
      if (n === 0) continue;
      this.selN[s] = 0;
      this.tracer?.before(s);
      n = st.process(b, sel, n);
      this.dispatch(s, sel, n);
    }
    this.flush();
    b.count = 0;
  }

  private dispatch(s: number, sel: Int32Array, n: number): void {
    const b = this.round;
    const kinds = this.targetKind[s]!;
    const idxs = this.targetIdx[s]!;
    const counts = this.exitCounts[s]!;
    const next = b.next;
    const sels = this.sel;
    const selN = this.selN;
    // The common case: every packet of the selection takes the same exit to a stage. Then the selection moves
    // in one copy (the pipeline's own buffer, no allocation).
    const e0 = next[sel[0]!]!;
    let same = kinds[e0] === T_STAGE;
    for (let k = 1; same && k < n; k++) same = next[sel[k]!] === e0;
    if (same) {
      const t = idxs[e0]!;
      const cap = this.cap;
      this.selFlat.copyWithin(t * cap + selN[t]!, s * cap, s * cap + n);
      selN[t] += n;
      counts[e0] += n;
      return;
    }
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const e = next[i]!;
      counts[e]!++;
      const kind = kinds[e];
      const t = idxs[e]!;
      if (kind === T_STAGE) {
        sels[t]![selN[t]!++] = i;
      } else if (kind === T_PORT) {
        const ob = this.portOut[t]!;
        if (ob.count === ob.capacity) this.sendPort(t);
        ob.pushOut(b, i);
      } else if (kind === T_GROUP) {
        const g = this.groups[t]!;
        const m = b.oport[i]!;
        const ob = g.out[m];
        if (!ob) {
          this.counters.v[C['no-port']]++;
          this.slab.free(b.slot[i]!);
          continue;
        }
        if (ob.count === ob.capacity) this.sendBurst(g.ports[m]!, ob);
        ob.pushOut(b, i);
      } else if (kind === T_DROP) {
        this.counters.v[C.drop]++;
        this.tracer?.drop(s, b, i);
        this.slab.free(b.slot[i]!);
      } else if (kind === T_SINK) {
        this.counters.v[C.sink]++;
        this.slab.free(b.slot[i]!);
      }
      // T_CONSUMED: the stage owns the slot now.
    }
  }

  private sendPort(p: number): void {
    const port = this.portObjs[p];
    const ob = this.portOut[p]!;
    if (!port) {
      this.counters.v[C['no-port']] += ob.count;
      ob.freeAll();
      return;
    }
    this.sendBurst(port, ob);
  }

  private sendBurst(port: Port, ob: Burst): void {
    this.counters.v[C.tx] += ob.count;
    port.send(ob);
    ob.freeAll();
  }

  /** Send every non-empty output burst. */
  flush(): void {
    for (let p = 0; p < this.portOut.length; p++) if (this.portOut[p]!.count > 0) this.sendPort(p);
    for (const g of this.groups)
      for (let m = 0; m < g.out.length; m++) {
        const ob = g.out[m];
        if (ob && ob.count > 0) this.sendBurst(g.ports[m]!, ob);
      }
  }

  /** Per-stage exit counts and counters (cold path). */
  snapshot(): Record<string, { exits: Record<string, number>; counters: Record<string, number> }> {
    const out: Record<string, { exits: Record<string, number>; counters: Record<string, number> }> = {};
    this.stages.forEach((st, s) => {
      const exits: Record<string, number> = {};
      st.exits.forEach((x, e) => (exits[x] = this.exitCounts[s]![e]!));
      out[st.name] = { exits, counters: st.counters ? st.counters.snapshot() : {} };
    });
    out['pipeline'] = { exits: {}, counters: this.counters.snapshot() };
    return out;
  }

  /** Graphviz dot of the wiring. */
  toDot(title = 'pipeline'): string {
    const q = (x: string) => JSON.stringify(x);
    const lines = [`digraph ${q(title)} {`, '  rankdir=LR;', '  node [shape=box, fontname="monospace"];'];
    for (const p of this.portNames) lines.push(`  ${q('port:' + p)} [shape=ellipse, label=${q(p)}];`);
    for (const g of this.groups)
      lines.push(`  ${q('group:' + g.name)} [shape=ellipse, peripheries=2, label=${q(g.name)}];`);
    lines.push('  "drop" [shape=octagon];');
    lines.push('  "sink" [shape=point];');
    for (const [input, t] of this.inputTarget) {
      const node = this.portNames.includes(input) ? 'port:' + input : 'group:' + input;
      lines.push(`  ${q(node)} -> ${q(this.stages[t]!.name)};`);
    }
    this.stages.forEach((st, s) =>
      st.exits.forEach((x, e) => {
        const kind = this.targetKind[s]![e];
        const t = this.targetIdx[s]![e]!;
        let to: string;
        if (kind === T_STAGE) to = this.stages[t]!.name;
        else if (kind === T_PORT) to = 'port:' + this.portNames[t]!;
        else if (kind === T_GROUP) to = 'group:' + this.groups[t]!.name;
        else if (kind === T_DROP) to = 'drop';
        else if (kind === T_SINK) to = 'sink';
        else return; // consumed: held inside the stage
        lines.push(`  ${q(st.name)} -> ${q(to)} [label=${q(x)}];`);
      }),
    );
    lines.push('}');
    return lines.join('\n') + '\n';
  }
}

function topoOrder(n: number, edges: Array<[number, number]>, stages: readonly Stage[]): number[] {
  const indeg = new Array<number>(n).fill(0);
  for (const [, b] of edges) indeg[b]!++;
  const ready: number[] = [];
  for (let i = 0; i < n; i++) if (indeg[i] === 0) ready.push(i);
  const out: number[] = [];
  while (ready.length) {
    const s = ready.shift()!;
    out.push(s);
    for (const [a, b] of edges) if (a === s && --indeg[b]! === 0) ready.push(b);
  }
  if (out.length !== n) {
    const cyc = stages.filter((_, i) => !out.includes(i)).map((s) => s.name);
    throw new PipelineError(`pipeline: the stages ${cyc.join(', ')} form a cycle`);
  }
  return out;
}
