/**
 * MemoryPort: an in-memory Port with a bounded FIFO of received packets (wireguard-go `ChannelTUN`, gVisor
 * `link/channel`, smoltcp `Loopback`), for tests and for the simulated L2 switch.
 *
 * - Packets enter the queue by `inject(bytes, ts)` (tests), `injectFrom(u8, off, len, ts)` (allocation-free
 *   from a view of the same slab) or from a connected peer's `send` (a wire between two ports:
 *   `MemoryPort.link(a, b)`); each is copied into a slot of the port's own slab at its headroom.
 *   A full queue or an exhausted slab is a counted drop (`queue-full`, `no-slot`), as is a packet longer than
 *   the slab's mtu (`oversize`).
 * - `recv(burst)` drains the queue in order. When the burst uses the port's slab the slots change owner
 *   (nothing is copied); otherwise the bytes are copied into the burst's slab.
 * - `send(burst)` delivers to the peer's queue when one is connected, else to `onSend(data, tsSec, tsNsec)`
 *   when given (a copy), else to the `sent` list (copies; `takeSent()` drains it). Only the peer path is
 *   allocation-free; the others are for tests.
 */
import type { Port } from '../graph/index.js';
import { Counters, counterIndex } from '../graph/index.js';
import type { Burst, Slab } from '../packet/index.js';
import { DEFAULT_BURST } from '../packet/index.js';
import { Stager, slotViews } from './copy.js';

export const MEMORY_PORT_COUNTERS = ['rx', 'tx', 'queued', 'queue-full', 'no-slot', 'oversize'] as const;
const C = counterIndex(MEMORY_PORT_COUNTERS);

/** A packet a MemoryPort sent (without peer or callback). */
export interface SentPacket {
  data: Uint8Array;
  tsSec: number;
  tsNsec: number;
}

export interface MemoryPortOptions {
  name: string;
  /** Slab holding queued packets. */
  slab: Slab;
  /** Most packets the queue holds (default 1024). */
  capacity?: number;
  /** Largest number of packets per recv (default DEFAULT_BURST). */
  batchSize?: number;
  /** Value written to `burst.port[i]` for received packets (default 0). */
  portId?: number;
  /** Where `send` delivers when no peer is connected (a copy per packet). */
  onSend?: (data: Uint8Array, tsSec: number, tsNsec: number) => void;
}

export class MemoryPort implements Port {
  readonly name: string;
  readonly batchSize: number;
  readonly portId: number;
  readonly slab: Slab;
  /** Queue bound. */
  readonly capacity: number;
  readonly counters = new Counters(MEMORY_PORT_COUNTERS);
  /** Packets sent with neither peer nor callback, oldest first. */
  sent: SentPacket[] = [];
  /** The port `send` delivers to, or null. */
  peer: MemoryPort | null = null;
  private readonly onSend: ((data: Uint8Array, tsSec: number, tsNsec: number) => void) | undefined;
  private readonly qSlot: Int32Array;
  private readonly qLen: Int32Array;
  /** Offset of each queued packet in the slab (its slot's start unless adopted at another offset). */
  private readonly qOff: Int32Array;
  private readonly qSec: Float64Array;
  private readonly qNsec: Uint32Array;
  private head = 0;
  private size = 0;
  private stager: Stager | null = null;

  constructor(opts: MemoryPortOptions) {
    const cap = opts.capacity ?? 1024;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`memory port: capacity must be a positive integer`);
    const b = opts.batchSize ?? DEFAULT_BURST;
    if (!Number.isInteger(b) || b < 1 || b > 4096) throw new RangeError(`memory port: batchSize must be 1..4096`);
    this.name = opts.name;
    this.slab = opts.slab;
    this.capacity = cap;
    this.batchSize = b;
    this.portId = opts.portId ?? 0;
    this.onSend = opts.onSend;
    this.qSlot = new Int32Array(cap);
    this.qLen = new Int32Array(cap);
    this.qOff = new Int32Array(cap);
    this.qSec = new Float64Array(cap);
    this.qNsec = new Uint32Array(cap);
  }

  /** Connect `a.send → b`'s queue and `b.send → a`'s queue (a point-to-point wire). */
  static link(a: MemoryPort, b: MemoryPort): void {
    a.peer = b;
    b.peer = a;
  }

  /** Packets waiting for `recv`. */
  get queued(): number {
    return this.size;
  }

  /** Queue a copy of `bytes` as a received packet; false (and a counted drop) when it cannot be queued. */
  inject(bytes: Uint8Array, tsSec = 0, tsNsec = 0): boolean {
    const s = this.reserve(bytes.length);
    if (s < 0) return false;
    this.slab.u8.set(bytes, this.slab.start(s));
    this.commit(s, bytes.length, tsSec, tsNsec);
    return true;
  }

  /**
   * Queue a copy of `src[off .. off+len)`. Allocation-free when `src` views this port's slab (one
   * `copyWithin`); otherwise a view is made for the copy.
   */
  injectFrom(src: Uint8Array, off: number, len: number, tsSec = 0, tsNsec = 0): boolean {
    if (!(off >= 0 && len >= 0 && off + len <= src.length))
      throw new RangeError(`memory port: ${off}+${len} outside a ${src.length}-byte array`);
    const s = this.reserve(len);
    if (s < 0) return false;
    const u8 = this.slab.u8;
    const at = this.slab.start(s);
    if (src.buffer === u8.buffer) u8.copyWithin(at, src.byteOffset + off, src.byteOffset + off + len);
    else u8.set(src.subarray(off, off + len), at);
    this.commit(s, len, tsSec, tsNsec);
    return true;
  }

  /**
   * Queue the packet a caller already wrote into `slot` of this port's slab, at `slab.start(slot)`, `len`
   * bytes: the port takes the slot (nothing copied). False when it cannot be queued (a counted drop; the slot
   * is freed).
   */
  adopt(slot: number, len: number, tsSec = 0, tsNsec = 0): boolean {
    return this.adoptAt(slot, this.slab.start(slot), len, tsSec, tsNsec);
  }

  /**
   * `adopt` for a packet at any offset `off` inside `slot` (a frame whose headers were pushed or pulled);
   * `recv` hands it out at that offset.
   */
  adoptAt(slot: number, off: number, len: number, tsSec = 0, tsNsec = 0): boolean {
    const v = this.counters.v;
    if (len > this.slab.mtu || this.size === this.capacity) {
      v[len > this.slab.mtu ? C.oversize : C['queue-full']]++;
      this.slab.free(slot);
      return false;
    }
    this.commit(slot, len, tsSec, tsNsec, off);
    return true;
  }

  /** Queue a copy of packet `i` of `burst` (what a peer's send does). */
  enqueue(burst: Burst, i: number): boolean {
    const len = burst.len[i]!;
    const s = this.reserve(len);
    if (s < 0) return false;
    const src = burst.slab;
    const dst = this.slab;
    const off = burst.off[i]!;
    if (src === dst) dst.u8.copyWithin(dst.start(s), off, off + len);
    else {
      const slot = burst.slot[i]!;
      this.stage().copy(slotViews(src)[slot]!, off - src.base(slot), len, dst.u8, dst.start(s), dst.mtu);
    }
    this.commit(s, len, burst.tsSec[i]!, burst.tsNsec[i]!);
    return true;
  }

  private reserve(len: number): number {
    const v = this.counters.v;
    if (len > this.slab.mtu) {
      v[C.oversize]++;
      return -1;
    }
    if (this.size === this.capacity) {
      v[C['queue-full']]++;
      return -1;
    }
    const s = this.slab.alloc();
    if (s < 0) v[C['no-slot']]++;
    return s;
  }

  private commit(s: number, len: number, tsSec: number, tsNsec: number, off = this.slab.start(s)): void {
    let t = this.head + this.size;
    if (t >= this.capacity) t -= this.capacity;
    this.qSlot[t] = s;
    this.qLen[t] = len;
    this.qOff[t] = off;
    this.qSec[t] = tsSec;
    this.qNsec[t] = tsNsec;
    this.size++;
    this.counters.v[C.queued]++;
  }

  recv(burst: Burst): number {
    let want = burst.capacity - burst.count;
    if (want > this.batchSize) want = this.batchSize;
    const own = this.slab;
    const bs = burst.slab;
    const same = bs === own;
    const views = same ? null : slotViews(own);
    const v = this.counters.v;
    let got = 0;
    while (got < want && this.size > 0) {
      const h = this.head;
      const s = this.qSlot[h]!;
      const len = this.qLen[h]!;
      let j: number;
      if (same) {
        j = burst.count++;
        burst.slot[j] = s;
        burst.off[j] = this.qOff[h]!;
        burst.len[j] = len;
        burst.next[j] = 0;
        burst.flow[j] = 0;
        burst.l3[j] = -1;
        burst.meta[j] = 0;
      } else if (len > bs.mtu) {
        // The burst's slab cannot hold it: a counted drop rather than a queue blocked for ever.
        v[C.oversize]++;
        j = -1;
      } else {
        j = burst.alloc(len);
        if (j < 0) break; // the burst's slab is exhausted: leave the rest queued
        this.stage().copy(views![s]!, this.qOff[h]! - own.base(s), len, bs.u8, burst.off[j]!, bs.mtu);
      }
      if (j >= 0) {
        burst.port[j] = this.portId;
        burst.tsSec[j] = this.qSec[h]!;
        burst.tsNsec[j] = this.qNsec[h]!;
        got++;
      }
      if (!same) own.free(s);
      this.head = h + 1 === this.capacity ? 0 : h + 1;
      this.size--;
    }
    v[C.rx] += got;
    return got;
  }

  send(burst: Burst): void {
    const n = burst.count;
    this.counters.v[C.tx] += n;
    const peer = this.peer;
    if (peer) {
      for (let i = 0; i < n; i++) peer.enqueue(burst, i);
    } else if (this.onSend) {
      for (let i = 0; i < n; i++) this.onSend(burst.bytes(i), burst.tsSec[i]!, burst.tsNsec[i]!);
    } else {
      for (let i = 0; i < n; i++)
        this.sent.push({ data: burst.bytes(i), tsSec: burst.tsSec[i]!, tsNsec: burst.tsNsec[i]! });
    }
  }

  /** The packets sent so far (without peer or callback), emptying the list. */
  takeSent(): SentPacket[] {
    const out = this.sent;
    this.sent = [];
    return out;
  }

  /** Free the queued packets' slots (the `sent` list stays readable); idempotent. */
  close(): void {
    let h = this.head;
    for (let k = 0; k < this.size; k++) {
      this.slab.free(this.qSlot[h]!);
      if (++h === this.capacity) h = 0;
    }
    this.head = 0;
    this.size = 0;
  }

  private stage(): Stager {
    return (this.stager ??= new Stager(Math.max(65536, 1 << Math.ceil(Math.log2(this.slab.slotSize)))));
  }
}
