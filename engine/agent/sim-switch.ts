/**
 * A simulated L2 segment for replay: a learning switch whose ports are node uplinks (SwitchPort, an engine
 * Port), simulated hosts and the capture's own input. Deterministic: frames are delivered in the order they
 * are sent, to the port the destination MAC was learned on, or flooded (broadcast, multicast, unknown unicast)
 * to every other port in attachment order. Every frame is shown to the `tap` (the segment capture).
 *
 * Like a Linux bridge (net/bridge/br_forward.c, `is_skb_forwardable`), a frame longer than the receiving port's
 * MTU (plus the Ethernet header and its VLAN tags) is not delivered (`over-mtu`), and a port that is down (a
 * failed node) takes nothing (`to-down-port`).
 *
 * Delivery never recurses: a port that answers (a host's reflection, an ARP reply) queues its frame with
 * `send`, and `drain()` forwards the queue in order. Each settle of the cluster drains at most `loopLimit`
 * frames (a reflection loop between external hosts can only be built from hostile input; the rest is dropped
 * and counted `loop-limit`).
 *
 * Hot path: frames live in slots of the replay's slab; the forwarding table is an open-addressed table of
 * 48-bit MACs in typed arrays; nothing is allocated per frame.
 */
import { Counters, counterIndex, type Port } from '../graph/index.js';
import { MemoryPort } from '../io/index.js';
import type { Burst, Slab } from '../packet/index.js';

export const SWITCH_COUNTERS = [
  'frames',
  'flooded',
  'unicast',
  'to-down-port',
  'control-to-down-port',
  'queue-full',
  'over-mtu',
  'runt',
  'loop-limit',
] as const;
const C = counterIndex(SWITCH_COUNTERS);
/**
 * The counters that are frames the segment could not deliver (the others count frames seen). Heartbeats to a
 * failed node (`control-to-down-port`) are not: membership expects them to go unanswered.
 */
export const SWITCH_LOSSES = ['to-down-port', 'queue-full', 'over-mtu', 'runt', 'loop-limit'] as const;

/** What sits on a switch port. */
export interface SegmentEndpoint {
  readonly name: string;
  /** Whether the endpoint takes frames now. */
  up: boolean;
  /** Largest IP packet the endpoint takes (its interface MTU); 0: no limit. */
  readonly mtu: number;
  /**
   * Deliver a frame at `u8[off .. off+len)` (the switch owns the bytes only for the call: copy to keep) sent
   * by endpoint `from` at the switch's `now`; false when it could not be taken (counted `queue-full`). Must not
   * forward synchronously: answers go through `SimSwitch.send`.
   */
  deliver(u8: Uint8Array, off: number, len: number, from: number): boolean;
  /**
   * Optional: take the frame with its slot (nothing copied), sent by endpoint `from`; the endpoint owns `slot`
   * from then on, delivered or not. Returns whether it was taken in (false: dropped for lack of room, counted
   * as `queue-full`).
   */
  take?(slot: number, off: number, len: number, from: number): boolean;
}

/** Called for every frame the segment carries, sent by endpoint `from` (`slot` of the slab holds it at `off`). */
export type SegmentTap = (slot: number, off: number, len: number, from: number) => void;
/** Called for every frame an endpoint that asked for it (`watch`) takes. */
export type DeliveryTap = (slot: number, off: number, len: number, to: number) => void;

const FDB_SIZE = 1 << 12; // power of two; a segment with more MACs than 3/4 of this floods the rest
const EMPTY = -1;

export class SimSwitch {
  readonly counters = new Counters(SWITCH_COUNTERS);
  readonly slab: Slab;
  private readonly endpoints: SegmentEndpoint[] = [];
  /** Endpoints that are node uplinks (hosts answer only their frames: no reflection between outsiders). */
  private isNode = new Uint8Array(16);
  // Forwarding table: MAC (hi16, lo32) → endpoint, linear probing.
  private readonly fdbHi = new Int32Array(FDB_SIZE).fill(EMPTY);
  private readonly fdbLo = new Int32Array(FDB_SIZE);
  private readonly fdbEp = new Int32Array(FDB_SIZE);
  private fdbUsed = 0;
  /** The last source learned (skips re-learning a sender's run of frames). */
  private lastSrcHi = -1;
  private lastSrcLo = 0;
  private lastSrcEp = -1;
  /** The last destination looked up (forgotten whenever the table changes). */
  private lastDstHi = -1;
  private lastDstLo = 0;
  private lastDstEp = -1;
  // The queue of frames sent by endpoints and not forwarded yet: slot, offset, length, sender, time.
  private readonly qSlot: Int32Array;
  private readonly qOff: Int32Array;
  private readonly qLen: Int32Array;
  private readonly qFrom: Int32Array;
  private qHead = 0;
  private qSize = 0;
  /** Slot of the frame being forwarded (for the delivery tap). */
  private cur = -1;
  /** Frames forwarded since the last `resetBudget`. */
  private spent = 0;
  loopLimit = 1 << 20;
  /** Simulation time (ms) of what is sent now (`setNow`), and as seconds and nanoseconds. */
  now = 0;
  nowSec = 0;
  nowNsec = 0;
  tap: SegmentTap | null = null;
  rxTap: DeliveryTap | null = null;

  /** UDP destination port of the cluster's own control traffic (heartbeats), told apart when lost. */
  private readonly controlPort: number;

  constructor(slab: Slab, controlPort = -1, queueLen = 8192) {
    this.slab = slab;
    this.controlPort = controlPort;
    this.qSlot = new Int32Array(queueLen);
    this.qOff = new Int32Array(queueLen);
    this.qLen = new Int32Array(queueLen);
    this.qFrom = new Int32Array(queueLen);
  }

  attach(ep: SegmentEndpoint, node = false): number {
    const i = this.endpoints.push(ep) - 1;
    if (i >= this.isNode.length) {
      const grown = new Uint8Array(this.isNode.length * 2);
      grown.set(this.isNode);
      this.isNode = grown;
    }
    this.isNode[i] = node ? 1 : 0;
    return i;
  }

  /** Set the simulation time of what is sent from now on (before each settle). */
  setNow(t: number): void {
    if (t === this.now) return;
    this.now = t;
    const sec = Math.floor(t / 1000);
    this.nowSec = sec;
    this.nowNsec = Math.round((t - sec * 1000) * 1e6);
  }

  /** Whether endpoint `i` is a node's uplink. */
  fromNode(i: number): boolean {
    return this.isNode[i] === 1;
  }

  /** Frames queued for forwarding. */
  get queued(): number {
    return this.qSize;
  }

  /** Forget learned MACs (e.g. after a topology change); learning resumes with the next frames. */
  flushFdb(): void {
    this.fdbHi.fill(EMPTY);
    this.fdbUsed = 0;
    this.lastSrcHi = -1;
    this.lastDstHi = -1;
  }

  /** A new settle of the cluster: the loop budget starts again. */
  resetBudget(): void {
    this.spent = 0;
  }

  /**
   * Queue a frame sent by endpoint `from` now: the switch takes `slot` (a slab slot holding the frame at
   * `off`, `len` bytes) and frees it once forwarded. A full queue is a counted drop.
   */
  send(from: number, slot: number, off: number, len: number): void {
    if (this.qSize === this.qSlot.length) {
      this.counters.v[C['queue-full']]!++;
      this.slab.free(slot);
      return;
    }
    let t = this.qHead + this.qSize;
    if (t >= this.qSlot.length) t -= this.qSlot.length;
    this.qSlot[t] = slot;
    this.qOff[t] = off;
    this.qLen[t] = len;
    this.qFrom[t] = from;
    this.qSize++;
  }

  /** Forward every queued frame (and what their delivery queues) in order; false when there was none. */
  drain(): boolean {
    if (this.qSize === 0) return false;
    const slab = this.slab;
    while (this.qSize > 0) {
      const h = this.qHead;
      const slot = this.qSlot[h]!;
      this.qHead = h + 1 === this.qSlot.length ? 0 : h + 1;
      this.qSize--;
      if (++this.spent > this.loopLimit) {
        this.counters.v[C['loop-limit']]!++;
        slab.free(slot);
      } else if (!this.forward(this.qFrom[h]!, slot, this.qOff[h]!, this.qLen[h]!, true)) slab.free(slot);
    }
    return true;
  }

  /**
   * Forward a frame sent by endpoint `from` now. With `give`, a frame for a single endpoint that can `take` it
   * moves there with its slot: returns true when the slot was given away (else the caller keeps it).
   */
  forward(from: number, slot: number, off: number, len: number, give: boolean): boolean {
    this.cur = slot;
    const c = this.counters.v;
    if (len < 14) {
      c[C.runt]!++;
      return false;
    }
    c[C.frames]!++;
    this.tap?.(slot, off, len, from);
    const u8 = this.slab.u8;
    const dv = this.slab.dv;
    const srcHi = dv.getUint16(off + 6);
    const srcLo = dv.getInt32(off + 8);
    // Most frames in a row come from the same sender: learn only what changed.
    if ((srcHi & 0x100) === 0 && (srcHi !== this.lastSrcHi || srcLo !== this.lastSrcLo || from !== this.lastSrcEp)) {
      this.learn(srcHi, srcLo, from);
      this.lastSrcHi = srcHi;
      this.lastSrcLo = srcLo;
      this.lastSrcEp = from;
    }
    let to = -1;
    if ((u8[off]! & 1) === 0) {
      const hi = dv.getUint16(off);
      const lo = dv.getInt32(off + 2);
      if (hi === this.lastDstHi && lo === this.lastDstLo) to = this.lastDstEp;
      else {
        to = this.lookup(hi, lo);
        this.lastDstHi = hi;
        this.lastDstLo = lo;
        this.lastDstEp = to;
      }
    }
    if (to >= 0) {
      if (to === from) return false; // the switch does not send a frame back where it came from
      c[C.unicast]!++;
      const ep = this.endpoints[to]!;
      if (give && ep.take !== undefined && ep.up && (ep.mtu === 0 || len <= ep.mtu + 14)) {
        if (this.rxTap && this.isNode[to] === 1) this.rxTap(slot, off, len, to);
        if (!ep.take(slot, off, len, from)) c[C['queue-full']]!++;
        return true;
      }
      this.deliverTo(to, from, u8, off, len);
      return false;
    }
    c[C.flooded]!++;
    const eps = this.endpoints.length;
    for (let i = 0; i < eps; i++) if (i !== from) this.deliverTo(i, from, u8, off, len);
    return false;
  }

  private deliverTo(i: number, from: number, u8: Uint8Array, off: number, len: number): void {
    const ep = this.endpoints[i]!;
    if (!ep.up) {
      this.counters.v[this.isControl(u8, off, len) ? C['control-to-down-port'] : C['to-down-port']]!++;
      return;
    }
    if (ep.mtu > 0 && len > ep.mtu + 14 && len > ep.mtu + 14 + tagBytes(u8, off, len)) {
      this.counters.v[C['over-mtu']]!++;
      return;
    }
    if (!ep.deliver(u8, off, len, from)) this.counters.v[C['queue-full']]!++;
    else if (this.rxTap && this.isNode[i] === 1) this.rxTap(this.cur, off, len, i);
  }

  /** An untagged IPv4/UDP frame to the control port. */
  private isControl(u8: Uint8Array, off: number, len: number): boolean {
    if (len < 42 || u8[off + 12] !== 0x08 || u8[off + 13] !== 0 || u8[off + 23] !== 17) return false;
    const l4 = off + 14 + (u8[off + 14]! & 0xf) * 4;
    return l4 + 4 <= off + len && ((u8[l4 + 2]! << 8) | u8[l4 + 3]!) === this.controlPort;
  }

  private slotOf(hi: number, lo: number): number {
    return (Math.imul(lo ^ (hi << 16) ^ hi, 0x9e3779b1) >>> 20) & (FDB_SIZE - 1);
  }

  private learn(hi: number, lo: number, ep: number): void {
    this.lastDstHi = -1;
    for (let s = this.slotOf(hi, lo), k = 0; k < FDB_SIZE; k++, s = (s + 1) & (FDB_SIZE - 1)) {
      const h = this.fdbHi[s]!;
      if (h === EMPTY) {
        if (this.fdbUsed >= (FDB_SIZE * 3) >> 2) return; // full: the rest is flooded
        this.fdbHi[s] = hi;
        this.fdbLo[s] = lo;
        this.fdbEp[s] = ep;
        this.fdbUsed++;
        return;
      }
      if (h === hi && this.fdbLo[s] === lo) {
        this.fdbEp[s] = ep;
        return;
      }
    }
  }

  private lookup(hi: number, lo: number): number {
    for (let s = this.slotOf(hi, lo), k = 0; k < FDB_SIZE; k++, s = (s + 1) & (FDB_SIZE - 1)) {
      const h = this.fdbHi[s]!;
      if (h === EMPTY) return -1;
      if (h === hi && this.fdbLo[s] === lo) return this.fdbEp[s]!;
    }
    return -1;
  }
}

/** Bytes of 802.1Q/802.1ad tags after the MACs (a tagged frame may be that much longer than the MTU). */
function tagBytes(u8: Uint8Array, off: number, len: number): number {
  let n = 0;
  for (let p = off + 12; p + 4 <= off + len && n < 8; p += 4) {
    const t = (u8[p]! << 8) | u8[p + 1]!;
    if (t !== 0x8100 && t !== 0x88a8) break;
    n += 4;
  }
  return n;
}

/**
 * A node's uplink on the simulated segment: an engine Port (the simulated NIC). `send` hands each frame to
 * the switch at once (a copy into a slot of its own); frames the switch delivers wait in a bounded queue
 * (a MemoryPort) until `recv`.
 */
export class SwitchPort implements Port, SegmentEndpoint {
  readonly batchSize: number;
  up = true;
  readonly index: number;
  private readonly rx: MemoryPort;

  constructor(
    readonly name: string,
    private readonly sw: SimSwitch,
    readonly mtu: number,
    opts: { capacity?: number; batchSize?: number } = {},
  ) {
    this.batchSize = opts.batchSize ?? 64;
    this.rx = new MemoryPort({ name, slab: sw.slab, capacity: opts.capacity ?? 4096, batchSize: this.batchSize });
    this.index = sw.attach(this, true);
  }

  /** Frames waiting to be received. */
  get queued(): number {
    return this.rx.queued;
  }

  /** The receive queue's counters (drops when the node does not keep up). */
  get rxCounters(): MemoryPort['counters'] {
    return this.rx.counters;
  }

  deliver(u8: Uint8Array, off: number, len: number): boolean {
    return this.rx.injectFrom(u8, off, len, this.sw.nowSec, this.sw.nowNsec);
  }

  take(slot: number, off: number, len: number): boolean {
    return this.rx.adoptAt(slot, off, len, this.sw.nowSec, this.sw.nowNsec);
  }

  recv(burst: Burst): number {
    return this.rx.recv(burst);
  }

  /**
   * Forward each frame. A frame the switch hands to one endpoint moves with its slot (`burst.keep`: the
   * pipeline does not free it), so nothing is copied.
   */
  send(burst: Burst): void {
    if (!this.up) return;
    const sw = this.sw;
    const slot = burst.slot;
    const off = burst.off;
    const len = burst.len;
    for (let i = 0; i < burst.count; i++) if (sw.forward(this.index, slot[i]!, off[i]!, len[i]!, true)) burst.keep(i);
  }

  close(): void {
    this.rx.close();
  }
}
