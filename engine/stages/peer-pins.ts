/**
 * Peer link bindings learned from authenticated heartbeats (docs/semantics.md §5, receiving): node transport IP →
 * uplink MAC (hi 16 bits, lo 32 bits). Only the agent's membership, after an HMAC'd heartbeat passed every
 * check (docs/semantics.md §2.4), calls `pin`, with the Ethernet source of the frame that carried it. Geneve
 * decapsulation accepts a tunnel packet only when its outer source IP and source MAC equal a pinned pair.
 * Typed arrays, no allocation after construction.
 */
import { Int32Map } from './tables.js';

export class PeerPins {
  private readonly byIp: Int32Map;
  private readonly hi: Int32Array;
  private readonly lo: Int32Array;
  private n = 0;
  /** Times a pinned MAC changed (a peer's NIC was replaced or a heartbeat came through another path). */
  changes = 0;

  constructor(readonly capacity = 4096) {
    this.byIp = new Int32Map(capacity);
    this.hi = new Int32Array(capacity);
    this.lo = new Int32Array(capacity);
  }

  /** Pin `ip` to the MAC (hi16, lo32); false when the table is full. */
  pin(ip: number, hi16: number, lo32: number): boolean {
    let e = this.byIp.get(ip | 0, -1);
    if (e < 0) {
      if (this.n >= this.capacity) return false;
      e = this.n++;
      this.byIp.set(ip | 0, e);
    } else if (this.hi[e] !== (hi16 | 0) || this.lo[e] !== (lo32 | 0)) this.changes++;
    this.hi[e] = hi16 | 0;
    this.lo[e] = lo32 | 0;
    return true;
  }

  /** 1 when `ip` is pinned to this MAC, 0 when pinned to another, -1 when not pinned. */
  match(ip: number, hi16: number, lo32: number): number {
    const e = this.byIp.get(ip | 0, -1);
    if (e < 0) return -1;
    return this.hi[e] === (hi16 | 0) && this.lo[e] === (lo32 | 0) ? 1 : 0;
  }

  /** The pinned MAC of `ip` as [hi16, lo32], or null (cold path). */
  get(ip: number): [number, number] | null {
    const e = this.byIp.get(ip | 0, -1);
    return e < 0 ? null : [this.hi[e]!, this.lo[e]!];
  }

  get size(): number {
    return this.n;
  }
}
