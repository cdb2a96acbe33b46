/**
 * Peer link bindings learned from authenticated heartbeats (docs/segment-security.md#peer-pins): node transport IP →
 * uplink MAC (hi 16 bits, lo 32 bits). Only the agent's membership, after an HMAC'd heartbeat passed every
 * check (docs/semantics.md §2.4), calls `pin`, with the Ethernet source of the frame that carried it. Geneve
 * decapsulation accepts a tunnel packet only when its outer source IP and source MAC equal a pinned pair; the
 * neighbour table holds the same pair as a pinned entry (neighbor.ts), and the arp stage believes an ARP claim
 * for a remote Egress IP only from a pinned member MAC (`isMemberMac`).
 * Typed arrays, no allocation after construction; `unpin` and a MAC change rebuild the MAC index (cold).
 */
import { Int32Map } from './tables.js';

/** A 32-bit key of a MAC for the reverse index (equal MACs, equal keys; a collision is checked). */
function macKey(hi16: number, lo32: number): number {
  return (lo32 ^ Math.imul(hi16, 0x9e3779b1)) | 0;
}

export class PeerPins {
  private readonly byIp: Int32Map;
  private readonly ipOf: Int32Array;
  private readonly hi: Int32Array;
  private readonly lo: Int32Array;
  /** MAC key → entry; `collided` when two pinned MACs share a key (then `isMemberMac` scans). */
  private byMac: Int32Map;
  private collided = false;
  private n = 0;
  /** Times a pinned MAC changed (a peer's NIC was replaced or a heartbeat came through another path). */
  changes = 0;

  constructor(readonly capacity = 4096) {
    this.byIp = new Int32Map(capacity);
    this.byMac = new Int32Map(capacity);
    this.ipOf = new Int32Array(capacity);
    this.hi = new Int32Array(capacity);
    this.lo = new Int32Array(capacity);
  }

  /** Pin `ip` to the MAC (hi16, lo32); false when the table is full. */
  pin(ip: number, hi16: number, lo32: number): boolean {
    let e = this.byIp.get(ip | 0, -1);
    if (e >= 0) {
      if (this.hi[e] === (hi16 | 0) && this.lo[e] === (lo32 | 0)) return true;
      this.changes++;
      this.hi[e] = hi16 | 0;
      this.lo[e] = lo32 | 0;
      this.reindex();
      return true;
    }
    if (this.n >= this.capacity) return false;
    e = this.n++;
    this.byIp.set(ip | 0, e);
    this.ipOf[e] = ip | 0;
    this.hi[e] = hi16 | 0;
    this.lo[e] = lo32 | 0;
    this.index(e);
    return true;
  }

  /** Remove the pin of `ip` (the node left the cluster); true when there was one. */
  unpin(ip: number): boolean {
    const e = this.byIp.get(ip | 0, -1);
    if (e < 0) return false;
    const last = --this.n;
    this.byIp.delete(ip | 0);
    if (e !== last) {
      this.ipOf[e] = this.ipOf[last]!;
      this.hi[e] = this.hi[last]!;
      this.lo[e] = this.lo[last]!;
      this.byIp.set(this.ipOf[e]!, e);
    }
    this.reindex();
    return true;
  }

  /** 1 when `ip` is pinned to this MAC, 0 when pinned to another, -1 when not pinned. */
  match(ip: number, hi16: number, lo32: number): number {
    const e = this.byIp.get(ip | 0, -1);
    if (e < 0) return -1;
    return this.hi[e] === (hi16 | 0) && this.lo[e] === (lo32 | 0) ? 1 : 0;
  }

  /** The entry of `ip` (for `macHiAt`, `macLoAt`), -1 when it is not pinned. */
  entry(ip: number): number {
    return this.byIp.get(ip | 0, -1);
  }
  /** The pinned MAC of an `entry`, high 16 and low 32 bits. */
  macHiAt(e: number): number {
    return this.hi[e]!;
  }
  macLoAt(e: number): number {
    return this.lo[e]!;
  }

  /** True when some member is pinned to this MAC. */
  isMemberMac(hi16: number, lo32: number): boolean {
    const e = this.byMac.get(macKey(hi16, lo32), -1);
    if (e >= 0 && this.hi[e] === (hi16 | 0) && this.lo[e] === (lo32 | 0)) return true;
    if (!this.collided) return false;
    for (let k = 0; k < this.n; k++) if (this.hi[k] === (hi16 | 0) && this.lo[k] === (lo32 | 0)) return true;
    return false;
  }

  /** The pinned MAC of `ip` as [hi16, lo32], or null (cold path). */
  get(ip: number): [number, number] | null {
    const e = this.byIp.get(ip | 0, -1);
    return e < 0 ? null : [this.hi[e]!, this.lo[e]!];
  }

  /** Pinned addresses (cold path). */
  ips(): number[] {
    return Array.from(this.ipOf.subarray(0, this.n));
  }

  get size(): number {
    return this.n;
  }

  private index(e: number): void {
    const k = macKey(this.hi[e]!, this.lo[e]!);
    const other = this.byMac.get(k, -1);
    if (other >= 0 && other !== e && (this.hi[other] !== this.hi[e] || this.lo[other] !== this.lo[e]))
      this.collided = true;
    else this.byMac.set(k, e);
  }

  private reindex(): void {
    this.byMac = new Int32Map(this.capacity);
    this.collided = false;
    for (let e = 0; e < this.n; e++) this.index(e);
  }
}
