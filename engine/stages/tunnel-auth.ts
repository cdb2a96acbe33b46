/**
 * Per-packet Geneve authentication state of one node (docs/tunnel-auth.md): the tunnel subkey, this sender's
 * sequence number, and one anti-replay window per peer (RFC 4303 §3.4.3, kept as RFC 6479's ring of 32-bit
 * blocks so that advancing clears whole words instead of shifting a bitmap).
 *
 * Window: a 1024-bit ring, 32 blocks of 32 bits indexed by bits 5..9 of the sequence number. The block being
 * filled at the top shares the ring, so a packet up to REPLAY_WINDOW (992) below the highest accepted one is
 * still judged by its bit; anything older is a replay. A sequence number is 64 bits, kept as two uint32 halves.
 * The window moves only after the tag verified (`accept`), so forged packets cannot advance it.
 *
 * The sender starts at `epochMs × 2^20` (epochMs: its heartbeat incarnation, wall-clock milliseconds, strictly
 * above any earlier one on that node), so its numbers keep growing across restarts unless it sent more than 2^20
 * packets per millisecond of uptime. Typed arrays, nothing allocated after construction.
 */
import { siphash } from '../wire/index.js';
import { Int32Map } from './tables.js';

/** What the agent hands the datapath when tunnel authentication is on. */
export interface TunnelAuthConfig {
  /** The 16-byte tunnel subkey derived from the cluster key (engine/cluster tunnelAuthKey). */
  key: Uint8Array;
  /** The cluster key's id, carried in every option. */
  keyId: number;
  /** Start of this sender's sequence numbers, in ms (its heartbeat incarnation). */
  epochMs: number;
  /** Peers with a window (default 4096, as the peer pins). */
  peers?: number;
}

/** Packets below the highest accepted one that are still judged by their bit. */
export const REPLAY_WINDOW = 992;
const BLOCKS = 32;
const TWO32 = 4294967296;

/** `accept` / `check` verdicts. */
export const SEQ_OK = 0;
export const SEQ_REPLAY = 1;
export const SEQ_NO_ROOM = 2;

export class TunnelAuth {
  readonly key: siphash.SipKey;
  /** The key id as an int32 (compared with `geneveAuth.keyId`). */
  readonly keyId: number;
  /**
   * Next sequence number to send, as int32 halves (reinterpret with `>>> 0`): values that are passed to calls
   * and stored in fields stay int32, since a uint32 above 2^31 − 1 is boxed as a heap number (16 bytes) whenever
   * it crosses a call V8 does not inline.
   */
  seqHi: number;
  seqLo: number;
  private readonly byIp: Int32Map;
  private readonly topHi: Int32Array;
  private readonly topLo: Int32Array;
  private readonly bits: Int32Array;
  private n = 0;
  readonly capacity: number;

  constructor(c: TunnelAuthConfig) {
    this.key = siphash.sipKey(c.key);
    this.keyId = c.keyId | 0;
    // epochMs × 2^20 as two halves: hi = floor(epochMs / 2^12), lo = (epochMs mod 2^12) << 20, then + 1.
    const ms = Math.max(0, Math.floor(c.epochMs));
    this.seqHi = Math.floor(ms / 4096) | 0;
    this.seqLo = ((ms % 4096) * 1048576 + 1) | 0;
    this.capacity = c.peers ?? 4096;
    this.byIp = new Int32Map(this.capacity);
    this.topHi = new Int32Array(this.capacity);
    this.topLo = new Int32Array(this.capacity);
    this.bits = new Int32Array(this.capacity * BLOCKS);
  }

  /** Advance the send sequence by one (call after using seqHi/seqLo). */
  next(): void {
    const lo = (this.seqLo + 1) | 0;
    if (lo === 0) this.seqHi = (this.seqHi + 1) | 0;
    this.seqLo = lo;
  }

  /** The window index of `peer`, created on first use; -1 when every window is taken. */
  private window(peer: number): number {
    let e = this.byIp.get(peer | 0, -1);
    if (e < 0) {
      if (this.n >= this.capacity) return -1;
      e = this.n++;
      this.byIp.set(peer | 0, e);
    }
    return e;
  }

  /**
   * Is (`hi`, `lo`) new for `peer`? SEQ_OK, SEQ_REPLAY (seen, or older than the window), or SEQ_NO_ROOM (no
   * window left for a new peer). Changes nothing but the peer's slot allocation.
   */
  check(peer: number, hi: number, lo: number): number {
    const e = this.window(peer);
    if (e < 0) return SEQ_NO_ROOM;
    const th = this.topHi[e]! >>> 0;
    const tl = this.topLo[e]! >>> 0;
    hi >>>= 0;
    lo >>>= 0;
    if ((hi | lo) === 0) return SEQ_REPLAY; // never sent: the window's initial top
    if (hi > th || (hi === th && lo > tl)) return SEQ_OK;
    const d = hi === th ? tl - lo : th - hi === 1 ? tl + TWO32 - lo : Infinity;
    if (d >= REPLAY_WINDOW) return SEQ_REPLAY;
    const w = e * BLOCKS + ((lo >>> 5) & (BLOCKS - 1));
    return (this.bits[w]! & (1 << (lo & 31))) !== 0 ? SEQ_REPLAY : SEQ_OK;
  }

  /** Record (`hi`, `lo`) from `peer` after its tag verified and `check` said SEQ_OK. */
  accept(peer: number, hi: number, lo: number): void {
    const e = this.byIp.get(peer | 0, -1);
    if (e < 0) return;
    const th = this.topHi[e]! >>> 0;
    const tl = this.topLo[e]! >>> 0;
    hi >>>= 0;
    lo >>>= 0;
    const base = e * BLOCKS;
    if (hi > th || (hi === th && lo > tl)) {
      // Blocks entered between the old top's block and the new one are cleared (all of them past 32).
      const d = hi === th ? lo - tl : hi - th === 1 ? lo + TWO32 - tl : Infinity;
      const steps = Math.min(BLOCKS, Math.floor(((tl & 31) + d) / 32));
      for (let k = 1; k <= steps; k++) this.bits[base + (((tl >>> 5) + k) & (BLOCKS - 1))] = 0;
      this.topHi[e] = hi | 0;
      this.topLo[e] = lo | 0;
    }
    this.bits[base + ((lo >>> 5) & (BLOCKS - 1))]! |= 1 << (lo & 31);
  }

  /** Peers with a window. */
  get peers(): number {
    return this.n;
  }
}
