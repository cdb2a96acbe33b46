/**
 * HandoffRing / HandoffPort: packets from one datapath worker to another through a SharedArrayBuffer (VPP's
 * handoff queues between workers): a single-producer single-consumer ring of fixed slots, one per ordered pair
 * of workers, for the few packets the device's flow steering delivered to a worker that does not own their
 * connection (the SNAT port partition says who does, conntrack `portOwner`).
 *
 * Layout of the shared buffer: an Int32 header (`HEAD` packets written, `TAIL` packets read, `SEQ` bumped once
 * per burst sent, `FULL` packets refused because the ring was full), then `slots` lengths (Int32), then `slots`
 * payloads of `slotSize` bytes. The producer owns HEAD and the payloads between TAIL and HEAD + slots; the
 * consumer owns TAIL; both are published with Atomics (release on store, acquire on load), so a payload is
 * complete before its HEAD is seen.
 *
 * Notification once per burst: `send` copies the whole burst in, publishes HEAD once, bumps SEQ and calls
 * `Atomics.notify` once. The receiving worker's event loop waits on SEQ with `Atomics.waitAsync` (no thread is
 * blocked) and drains the ring from its callback (`onReadable`, the same contract as a TUN port's readiness).
 * A full ring is a counted drop (`ring-full`, here and in the shared FULL word), never a wait: a stalled worker
 * must not stall the others.
 */
import { Counters, counterIndex, type Port } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { slotViews, Stager } from './copy.js';

export const HANDOFF_PORT_COUNTERS = ['rx', 'tx', 'ring-full', 'oversize'] as const;
const C = counterIndex(HANDOFF_PORT_COUNTERS);

/** `Atomics.waitAsync` (ES2024; Node 16+ has it, the project's lib setting predates it). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

const HEAD = 0;
const TAIL = 1;
const SEQ = 2;
const FULL = 3;
const HEADER_WORDS = 16; // one 64-byte line

export interface HandoffRingOptions {
  /** Packets the ring holds (a power of two; default 1024). */
  slots?: number;
  /** Bytes per packet slot (default 2048, the engine's slab slot). */
  slotSize?: number;
}

/** One direction between two workers: its SharedArrayBuffer is what both sides are given. */
export class HandoffRing {
  readonly sab: SharedArrayBuffer;
  readonly slots: number;
  readonly slotSize: number;
  readonly ctl: Int32Array;
  readonly lens: Int32Array;
  readonly data: Uint8Array;
  /** One view per ring slot, made once (copies allocate nothing per packet: copy.ts). */
  readonly slotView: Uint8Array[];

  constructor(sabOrOpts: SharedArrayBuffer | HandoffRingOptions = {}) {
    if (sabOrOpts instanceof SharedArrayBuffer) {
      const sab = sabOrOpts;
      const hdr = new Int32Array(sab, 0, HEADER_WORDS);
      this.slots = hdr[4]!;
      this.slotSize = hdr[5]!;
      this.sab = sab;
    } else {
      const slots = sabOrOpts.slots ?? 1024;
      const slotSize = sabOrOpts.slotSize ?? 2048;
      if (!(Number.isInteger(slots) && slots >= 2 && slots <= 1 << 20 && (slots & (slots - 1)) === 0))
        throw new RangeError(`handoff ring: slots must be a power of two from 2 to ${1 << 20}, got ${slots}`);
      if (!(Number.isInteger(slotSize) && slotSize >= 64 && slotSize % 8 === 0 && slotSize <= 65536))
        throw new RangeError(`handoff ring: slotSize must be a multiple of 8 from 64 to 65536, got ${slotSize}`);
      this.sab = new SharedArrayBuffer(HEADER_WORDS * 4 + slots * 4 + slots * slotSize);
      this.slots = slots;
      this.slotSize = slotSize;
      const hdr = new Int32Array(this.sab, 0, HEADER_WORDS);
      hdr[4] = slots;
      hdr[5] = slotSize;
    }
    this.ctl = new Int32Array(this.sab, 0, HEADER_WORDS);
    this.lens = new Int32Array(this.sab, HEADER_WORDS * 4, this.slots);
    this.data = new Uint8Array(this.sab, HEADER_WORDS * 4 + this.slots * 4, this.slots * this.slotSize);
    this.slotView = [];
    for (let k = 0; k < this.slots; k++)
      this.slotView.push(this.data.subarray(k * this.slotSize, (k + 1) * this.slotSize));
  }

  /** Packets waiting to be read. */
  get queued(): number {
    return (Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) | 0;
  }

  /** Packets refused since creation because the ring was full (both sides see it). */
  get full(): number {
    return Atomics.load(this.ctl, FULL);
  }

  /** Bursts sent so far (the notification word). */
  get seq(): number {
    return Atomics.load(this.ctl, SEQ);
  }
}

export interface HandoffPortOptions {
  name: string;
  /** The ring this port sends into (to another worker); null when it only receives. */
  tx: HandoffRing | null;
  /** The ring this port receives from (from another worker); null when it only sends. */
  rx: HandoffRing | null;
  batchSize?: number;
  /** Value written to `burst.port[i]` for received packets (default 0). */
  portId?: number;
}

/** The two ends a worker holds toward one peer worker: `send` into `tx`, `recv` from `rx`. */
export class HandoffPort implements Port {
  readonly name: string;
  readonly batchSize: number;
  readonly counters = new Counters(HANDOFF_PORT_COUNTERS);
  private readonly tx: HandoffRing | null;
  private readonly rx: HandoffRing | null;
  private readonly portId: number;
  private waiting = false;
  private cb: (() => void) | null = null;
  private closed = false;
  private readonly stager = new Stager(65536);

  constructor(o: HandoffPortOptions) {
    this.name = o.name;
    this.tx = o.tx;
    this.rx = o.rx;
    this.batchSize = o.batchSize ?? 256;
    this.portId = o.portId ?? 0;
  }

  /** Copy the burst into the peer's ring; publish and notify once. */
  send(burst: Burst): void {
    const r = this.tx;
    const n = burst.count;
    if (r === null || n === 0) return;
    const v = this.counters.v;
    const ctl = r.ctl;
    const mask = r.slots - 1;
    const size = r.slotSize;
    const tail = Atomics.load(ctl, TAIL);
    let head = ctl[HEAD]!; // ours
    const slab = burst.slab;
    const views = slotViews(slab);
    const stager = this.stager;
    let sent = 0;
    let refused = 0;
    for (let i = 0; i < n; i++) {
      const len = burst.len[i]!;
      if (len > size) {
        v[C.oversize]++;
        continue;
      }
      if (((head - tail) | 0) >= r.slots) {
        refused++;
        continue;
      }
      const k = head & mask;
      const slot = burst.slot[i]!;
      stager.copy(views[slot]!, burst.off[i]! - slab.base(slot), len, r.data, k * size, size);
      r.lens[k] = len;
      head = (head + 1) | 0;
      sent++;
    }
    if (refused > 0) {
      v[C['ring-full']] += refused;
      Atomics.add(ctl, FULL, refused);
    }
    if (sent === 0) return;
    v[C.tx] += sent;
    Atomics.store(ctl, HEAD, head);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
  }

  recv(burst: Burst): number {
    const r = this.rx;
    if (r === null) return 0;
    const ctl = r.ctl;
    const head = Atomics.load(ctl, HEAD);
    let tail = ctl[TAIL]!; // ours
    let want = (head - tail) | 0;
    if (want === 0) return 0;
    let room = burst.capacity - burst.count;
    if (room > this.batchSize) room = this.batchSize;
    if (want > room) want = room;
    const mask = r.slots - 1;
    const dst = burst.slab.u8;
    const mtu = burst.slab.mtu;
    let got = 0;
    for (let k = 0; k < want; k++) {
      const s = tail & mask;
      const len = r.lens[s]!;
      if (len > mtu) {
        this.counters.v[C.oversize]++;
        tail = (tail + 1) | 0;
        continue;
      }
      const j = burst.alloc(len);
      if (j < 0) break; // the slab is exhausted: the rest stays in the ring
      this.stager.copy(r.slotView[s]!, 0, len, dst, burst.off[j]!, mtu);
      burst.port[j] = this.portId;
      tail = (tail + 1) | 0;
      got++;
    }
    Atomics.store(ctl, TAIL, tail);
    this.counters.v[C.rx] += got;
    return got;
  }

  /**
   * Calls `cb` after each notification from the sending worker (and once at once when packets are already
   * waiting); `null` stops. Waits with `Atomics.waitAsync`: the event loop stays free.
   */
  onReadable(cb: (() => void) | null): void {
    this.cb = cb;
    if (cb !== null) this.arm();
  }

  private arm(): void {
    const r = this.rx;
    if (r === null || this.waiting || this.cb === null || this.closed) return;
    const seen = Atomics.load(r.ctl, SEQ);
    if (r.queued > 0) {
      queueMicrotask(() => this.fire());
      return;
    }
    const w = waitAsync(r.ctl, SEQ, seen);
    this.waiting = true;
    if (!w.async) {
      this.waiting = false;
      queueMicrotask(() => this.fire());
      return;
    }
    void w.value.then(() => {
      this.waiting = false;
      this.fire();
    });
  }

  private fire(): void {
    if (this.closed || this.cb === null) return;
    // setImmediate: the drain runs as its own macrotask, beside the device ports' callbacks.
    setImmediate(() => {
      if (this.closed || this.cb === null) return;
      this.cb();
      this.arm();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = null;
    // Wake our pending waitAsync so it does not hold the event loop; it finds the port closed.
    if (this.waiting && this.rx !== null) Atomics.notify(this.rx.ctl, SEQ);
  }
}
