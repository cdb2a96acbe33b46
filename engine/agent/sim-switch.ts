/**
 * A simulated L2 segment for replay: a learning switch whose ports are node uplinks (SwitchPort, an engine
 * Port) and simulated hosts. Deterministic: frames are delivered in the order they are sent, to the port the
 * destination MAC was learned on, or flooded (broadcast, multicast, unknown unicast) to every other port in
 * attachment order. Every frame is shown to the `tap` (the segment capture) with the simulation time.
 * A port that is down (a failed node) neither sends nor receives: frames for it are counted and dropped.
 */
import { Counters, counterIndex, type Port } from '../graph/index.js';
import { MemoryPort } from '../io/index.js';
import type { Burst, Slab } from '../packet/index.js';

export const SWITCH_COUNTERS = ['frames', 'flooded', 'unicast', 'to-down-port', 'queue-full', 'runt'] as const;
const C = counterIndex(SWITCH_COUNTERS);

/** What sits on a switch port. */
export interface SegmentEndpoint {
  readonly name: string;
  /** Whether the endpoint takes frames now. */
  up: boolean;
  /** Deliver a frame (the switch owns `bytes` only for the call: copy to keep). */
  deliver(bytes: Uint8Array, off: number, len: number): void;
}

export type SegmentTap = (bytes: Uint8Array, off: number, len: number) => void;

export class SimSwitch {
  readonly counters = new Counters(SWITCH_COUNTERS);
  private readonly endpoints: SegmentEndpoint[] = [];
  /** MAC (as a 12-hex-digit string; cold path) → endpoint index. */
  private readonly fdb = new Map<string, number>();
  tap: SegmentTap | null = null;

  attach(ep: SegmentEndpoint): number {
    this.endpoints.push(ep);
    return this.endpoints.length - 1;
  }

  /** Forget learned MACs (e.g. after a topology change); learning resumes with the next frames. */
  flushFdb(): void {
    this.fdb.clear();
  }

  /** A frame sent by endpoint `from`. */
  forward(from: number, bytes: Uint8Array, off: number, len: number): void {
    const c = this.counters.v;
    if (len < 14) {
      c[C.runt]!++;
      return;
    }
    c[C.frames]!++;
    this.tap?.(bytes, off, len);
    const src = macKey(bytes, off + 6);
    if ((bytes[off + 6]! & 1) === 0) this.fdb.set(src, from);
    const group = (bytes[off]! & 1) === 1;
    const to = group ? undefined : this.fdb.get(macKey(bytes, off));
    if (to !== undefined) {
      if (to === from) return; // the switch does not send a frame back where it came from
      c[C.unicast]!++;
      this.deliverTo(to, bytes, off, len);
      return;
    }
    c[C.flooded]!++;
    for (let i = 0; i < this.endpoints.length; i++) if (i !== from) this.deliverTo(i, bytes, off, len);
  }

  private deliverTo(i: number, bytes: Uint8Array, off: number, len: number): void {
    const ep = this.endpoints[i]!;
    if (!ep.up) {
      this.counters.v[C['to-down-port']]!++;
      return;
    }
    ep.deliver(bytes, off, len);
  }
}

function macKey(b: Uint8Array, o: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (b[o + i]! + 0x100).toString(16).slice(1);
  return s;
}

/**
 * A node's uplink on the simulated segment: an engine Port. `send` forwards each frame to the switch;
 * frames the switch delivers wait in a bounded queue (a MemoryPort) until `recv`.
 */
export class SwitchPort implements Port, SegmentEndpoint {
  readonly batchSize: number;
  up = true;
  private readonly rx: MemoryPort;
  private readonly index: number;

  constructor(
    readonly name: string,
    private readonly sw: SimSwitch,
    slab: Slab,
    opts: { capacity?: number; batchSize?: number } = {},
  ) {
    this.batchSize = opts.batchSize ?? 64;
    this.rx = new MemoryPort({ name, slab, capacity: opts.capacity ?? 4096, batchSize: this.batchSize });
    this.index = sw.attach(this);
  }

  /** Frames waiting to be received. */
  get queued(): number {
    return this.rx.queued;
  }

  deliver(bytes: Uint8Array, off: number, len: number): void {
    if (!this.rx.injectFrom(bytes, off, len)) this.sw.counters.v[C['queue-full']]!++;
  }

  recv(burst: Burst): number {
    return this.rx.recv(burst);
  }

  send(burst: Burst): void {
    if (!this.up) return;
    const u8 = burst.slab.u8;
    for (let i = 0; i < burst.count; i++) this.sw.forward(this.index, u8, burst.off[i]!, burst.len[i]!);
  }

  close(): void {
    this.rx.close();
  }
}
