/**
 * A Burst is a batch of packets as a struct of typed arrays (VPP frames, wireguard-go `bufs/sizes`,
 * Snabb links). Its size is fixed at start-up; nothing is allocated per packet.
 *
 * Per packet i < count:
 * - `slot[i]`  the slab slot that owns the bytes (-1 once a port kept it: `keep`),
 * - `off[i]`   absolute offset of the first byte of the packet in the slab,
 * - `len[i]`   length in bytes,
 * - `next[i]`  the exit a stage chose (a small integer declared by the stage),
 * - `flow[i]`  a per-packet word for stages (flow hash, conntrack reference, ...),
 * - `l3[i]`    offset of the IPv4 header (absolute; -1 when not parsed yet),
 * - `port[i]`  index of the port the packet arrived on,
 * - `meta[i]`  a second per-packet word for stages (egress-IP index, neighbour, ...),
 * - `oport[i]` the output port inside a port group (a pod's port) chosen by the stage that routes to a group,
 * - `tsSec[i]`, `tsNsec[i]` capture/arrival timestamp.
 */
import type { Slab } from './slab.js';

export const DEFAULT_BURST = 64;

export class Burst {
  readonly capacity: number;
  count = 0;
  readonly slot: Int32Array;
  readonly off: Int32Array;
  readonly len: Int32Array;
  readonly next: Uint8Array;
  readonly flow: Int32Array;
  readonly l3: Int32Array;
  readonly port: Uint16Array;
  readonly meta: Int32Array;
  readonly oport: Uint16Array;
  readonly tsSec: Float64Array;
  readonly tsNsec: Uint32Array;

  constructor(
    readonly slab: Slab,
    capacity: number = DEFAULT_BURST,
  ) {
    if (!Number.isInteger(capacity) || capacity <= 0 || capacity > 4096)
      throw new RangeError(`burst: capacity must be 1..4096, got ${capacity}`);
    this.capacity = capacity;
    this.slot = new Int32Array(capacity);
    this.off = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
    this.next = new Uint8Array(capacity);
    this.flow = new Int32Array(capacity);
    this.l3 = new Int32Array(capacity);
    this.port = new Uint16Array(capacity);
    this.meta = new Int32Array(capacity);
    this.oport = new Uint16Array(capacity);
    this.tsSec = new Float64Array(capacity);
    this.tsNsec = new Uint32Array(capacity);
  }

  /** Free slots left in this burst. */
  get room(): number {
    return this.capacity - this.count;
  }

  /** Append packet `i` of `src` (metadata only; the bytes stay in the slab). Caller checks room. */
  push(src: Burst, i: number): void {
    const j = this.count++;
    this.slot[j] = src.slot[i]!;
    this.off[j] = src.off[i]!;
    this.len[j] = src.len[i]!;
    this.next[j] = 0;
    this.flow[j] = src.flow[i]!;
    this.l3[j] = src.l3[i]!;
    this.port[j] = src.port[i]!;
    this.meta[j] = src.meta[i]!;
    this.oport[j] = src.oport[i]!;
    this.tsSec[j] = src.tsSec[i]!;
    this.tsNsec[j] = src.tsNsec[i]!;
  }

  /**
   * Append packet `i` of `src` for a port to send: only what ports read (slot, offset, length, timestamp); the
   * stage metadata is left stale. Caller checks room.
   */
  pushOut(src: Burst, i: number): void {
    const j = this.count++;
    this.slot[j] = src.slot[i]!;
    this.off[j] = src.off[i]!;
    this.len[j] = src.len[i]!;
    this.tsSec[j] = src.tsSec[i]!;
    this.tsNsec[j] = src.tsNsec[i]!;
  }

  /**
   * Allocate a slot and append an empty packet starting at the headroom; returns its index or -1 when the
   * burst is full or the slab is exhausted.
   */
  alloc(len: number): number {
    if (this.count >= this.capacity) return -1;
    const s = this.slab.alloc();
    if (s < 0) return -1;
    const j = this.count++;
    this.slot[j] = s;
    this.off[j] = this.slab.start(s);
    this.len[j] = len;
    this.next[j] = 0;
    this.flow[j] = 0;
    this.l3[j] = -1;
    this.port[j] = 0;
    this.meta[j] = 0;
    this.oport[j] = 0;
    this.tsSec[j] = 0;
    this.tsNsec[j] = 0;
    return j;
  }

  /** Free every packet's slot (but those a port kept) and empty the burst. */
  freeAll(): void {
    const slab = this.slab;
    for (let i = 0; i < this.count; i++) {
      const s = this.slot[i]!;
      if (s >= 0) slab.free(s);
    }
    this.count = 0;
  }

  /** The slot of packet i changed owner (a port's `send` kept it): `freeAll` leaves it alone. */
  keep(i: number): void {
    this.slot[i] = -1;
  }

  /** Empty the burst without freeing slots (their ownership moved elsewhere). */
  clear(): void {
    this.count = 0;
  }

  /** Copy of packet i's bytes (cold path). */
  bytes(i: number): Uint8Array {
    return this.slab.copy(this.off[i]!, this.len[i]!);
  }
}
