/**
 * Copying packet bytes between two ArrayBuffers without allocating. `dst.set(src.subarray(a, b), o)` makes a
 * view per packet (~96 bytes of garbage each); instead every view used here is made once:
 *
 * - `slotViews(slab)`: one view per slab slot (`[base, base + slotSize)`), cached per slab; a packet is
 *   then `(slotView, rel = off - base, len)`.
 * - `StageViews`: views over a stage area, one per power of two (64 … max) plus one of the destination's
 *   room; bytes moved to the stage with `copyWithin` (same buffer, no view) then go out with one `set` of the
 *   smallest view that holds them and fits the destination's room. The destination receives up to `room`
 *   bytes; those past `len` are scratch.
 * - `Stager`: a scratch buffer that copies `chunk[rel .. rel+len)` (chunk = a slot view) to any
 *   destination: `set` the chunk into scratch, `copyWithin` to the stage, `set` a stage view out.
 */
import type { Slab } from '../packet/index.js';

const MIN_LOG2 = 6;

export class StageViews {
  private readonly classes: Uint8Array[] = [];
  private roomView: Uint8Array;
  private roomLen = -1;

  /** Views over `u8[base .. base + max)`; `max` is a power of two ≥ 64. */
  constructor(
    private readonly u8: Uint8Array,
    private readonly base: number,
    readonly max: number,
  ) {
    for (let k = 0; 1 << k <= max; k++) this.classes.push(u8.subarray(base, base + (1 << Math.max(k, MIN_LOG2))));
    this.roomView = this.classes[MIN_LOG2]!;
  }

  /**
   * A view of `u8[base .. base+n)` with `len ≤ n ≤ room`: the smallest power of two ≥ len when it fits in
   * `room`, else exactly `room` (a view made once per distinct room). Requires `len ≤ room ≤ max`.
   */
  pick(len: number, room: number): Uint8Array {
    const k = len <= 1 << MIN_LOG2 ? MIN_LOG2 : 32 - Math.clz32(len - 1);
    if (1 << k <= room) return this.classes[k]!;
    if (this.roomLen !== room) {
      this.roomView = this.u8.subarray(this.base, this.base + room);
      this.roomLen = room;
    }
    return this.roomView;
  }
}

const slotViewCache = new WeakMap<Slab, Uint8Array[]>();

/** One view per slot of `slab` (`[base, base + slotSize)`), made on first use and cached. */
export function slotViews(slab: Slab): Uint8Array[] {
  let v = slotViewCache.get(slab);
  if (!v) {
    v = new Array<Uint8Array>(slab.slots);
    for (let s = 0; s < slab.slots; s++) v[s] = slab.u8.subarray(slab.base(s), slab.base(s) + slab.slotSize);
    slotViewCache.set(slab, v);
  }
  return v;
}

/** Copies `chunk[rel .. rel+len)` into another buffer through a private scratch area (see the file comment). */
export class Stager {
  private readonly u8: Uint8Array;
  private readonly views: StageViews;

  /** `maxChunk`: the largest chunk (slot size) staged; a power of two ≥ 64. Larger chunks fall back to a view. */
  constructor(readonly maxChunk = 65536) {
    this.u8 = new Uint8Array(2 * maxChunk);
    this.views = new StageViews(this.u8, maxChunk, maxChunk);
  }

  /**
   * Copy `chunk[rel .. rel+len)` to `dst[dstOff ..)`, overwriting at most `room` bytes of `dst` (clamped to
   * its end). `len` must fit in `room`.
   */
  copy(chunk: Uint8Array, rel: number, len: number, dst: Uint8Array, dstOff: number, room: number): void {
    if (len === 0) return;
    const max = dst.length - dstOff;
    if (room > max) room = max;
    if (len > room) throw new RangeError(`stager: ${len} bytes do not fit in ${room}`);
    if (chunk.length > this.maxChunk) {
      dst.set(chunk.subarray(rel, rel + len), dstOff);
      return;
    }
    if (room > this.maxChunk) room = this.maxChunk;
    const u8 = this.u8;
    u8.set(chunk, 0);
    u8.copyWithin(this.maxChunk, rel, rel + len);
    dst.set(this.views.pick(len, room), dstOff);
  }
}
