/**
 * Packet memory: one ArrayBuffer cut into fixed-size slots.
 *
 * A packet is `(slot, off, len)` where `off` is an absolute byte offset into the slab (so wire accessors
 * take `(view, off)` without adding a slot base). Every slot starts with `headroom` free bytes so that an
 * encapsulation can move `off` back and write its outer headers in place (VPP `pre_data`, Snabb headroom,
 * wireguard-go `offset`). Free slots are kept on an Int32Array stack: alloc and free are O(1) and allocate
 * nothing.
 */

/** Default slot size: 2 KiB holds a 1500-byte frame, the 50-byte Geneve overhead and the headroom. */
export const DEFAULT_SLOT_SIZE = 2048;
/** Default headroom: outer Ethernet + IPv4 + UDP + Geneve is 50 bytes before options; 128 leaves room. */
export const DEFAULT_HEADROOM = 128;

export interface SlabOptions {
  /** Number of slots. */
  slots: number;
  /** Bytes per slot, a multiple of 64 (default 2048). */
  slotSize?: number;
  /** Bytes kept free at the start of each slot (default 128, at least 128). */
  headroom?: number;
}

export class Slab {
  readonly buffer: ArrayBuffer;
  /** Byte view of the whole slab. */
  readonly u8: Uint8Array;
  /** DataView of the whole slab: wire accessors read big-endian fields through it. */
  readonly dv: DataView;
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;
  /** Largest packet a slot holds when it starts at the headroom. */
  readonly mtu: number;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  /** 1 when the slot is allocated: catches double frees in tests without costing the hot path much. */
  private readonly inUse: Uint8Array;
  /**
   * Per slot: TCP payload bytes its packet stands for beyond its own. 0, except for a GSO probe (tun/offload.ts:
   * the first segment of a super-packet whose rest waits outside the slab), which connection tracking counts as
   * the whole super-packet. Set by the port that read the packet, cleared when the slot is freed.
   */
  readonly tcpTail: Int32Array;

  constructor(opts: SlabOptions) {
    const slotSize = opts.slotSize ?? DEFAULT_SLOT_SIZE;
    const headroom = opts.headroom ?? DEFAULT_HEADROOM;
    if (!Number.isInteger(opts.slots) || opts.slots <= 0)
      throw new RangeError(`slab: slots must be a positive integer`);
    if (!Number.isInteger(slotSize) || slotSize % 64 !== 0 || slotSize < 256)
      throw new RangeError(`slab: slotSize must be a multiple of 64 and at least 256, got ${slotSize}`);
    if (!Number.isInteger(headroom) || headroom < 128 || headroom >= slotSize)
      throw new RangeError(`slab: headroom must be at least 128 and less than the slot size, got ${headroom}`);
    if (opts.slots * slotSize > 2 ** 31 - 1)
      throw new RangeError(`slab: ${opts.slots} x ${slotSize} bytes is too large`);
    this.slots = opts.slots;
    this.slotSize = slotSize;
    this.headroom = headroom;
    this.mtu = slotSize - headroom;
    this.buffer = new ArrayBuffer(opts.slots * slotSize);
    this.u8 = new Uint8Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.freeStack = new Int32Array(opts.slots);
    this.inUse = new Uint8Array(opts.slots);
    this.tcpTail = new Int32Array(opts.slots);
    // Hand out low slots first (warmer in cache when the engine is idle).
    for (let i = 0; i < opts.slots; i++) this.freeStack[i] = opts.slots - 1 - i;
    this.freeTop = opts.slots;
  }

  /** Number of free slots. */
  get available(): number {
    return this.freeTop;
  }

  /** Take a slot; returns -1 when the slab is exhausted (the caller counts a drop). */
  alloc(): number {
    if (this.freeTop === 0) return -1;
    const s = this.freeStack[--this.freeTop]!;
    this.inUse[s] = 1;
    return s;
  }

  /** Return a slot. Freeing a slot twice throws: that is a bug in the engine, not bad input. */
  free(slot: number): void {
    if (this.inUse[slot] !== 1) throw new Error(`slab: slot ${slot} freed twice or never allocated`);
    this.inUse[slot] = 0;
    this.tcpTail[slot] = 0;
    this.freeStack[this.freeTop++] = slot;
  }

  /** Absolute offset of the first byte of a slot. */
  base(slot: number): number {
    return slot * this.slotSize;
  }

  /** Absolute offset where a freshly received packet starts (slot base + headroom). */
  start(slot: number): number {
    return slot * this.slotSize + this.headroom;
  }

  /** A copy of a packet's bytes (cold path: tests, logs). */
  copy(off: number, len: number): Uint8Array {
    return this.u8.slice(off, off + len);
  }
}
