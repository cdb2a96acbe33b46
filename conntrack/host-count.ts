/**
 * Live connections per host address, for the per-host limit (`perHostLimit`, the agent's
 * `--conntrack-max-per-pod`; iptables `connlimit` / nft `ct count` per address): open addressing over one
 * Int32Array of `[address, count]` pairs, a keyed hash of the address (the table's HalfSipHash key), backward-shift
 * deletion when a count reaches 0, so no tombstones. The table adds 1 on `create` and subtracts 1 wherever a
 * connection leaves the slot array (abort, kill, expiry, early drop), so the count is of live connections.
 */
import { hsip4 } from './hash.js';

export class HostCounts {
  private readonly hs: Int32Array;
  private readonly mask: number;
  private readonly k0: number;
  private readonly k1: number;

  /** `slots` must be a power of two larger than the number of distinct addresses it will hold. */
  constructor(k0: number, k1: number, slots: number) {
    this.hs = new Int32Array(2 * slots);
    this.mask = slots - 1;
    this.k0 = k0 ^ 0x686f7374;
    this.k1 = k1;
  }

  get byteLength(): number {
    return this.hs.byteLength;
  }

  clear(): void {
    this.hs.fill(0);
  }

  /** Live connections counted for `addr`. */
  count(addr: number): number {
    const hs = this.hs;
    const mask = this.mask;
    for (let i = hsip4(this.k0, this.k1, addr | 0, 0, 0, 0) & mask; ; i = (i + 1) & mask) {
      const n = hs[(i << 1) | 1]!;
      if (n === 0) return 0;
      if (hs[i << 1] === (addr | 0)) return n;
    }
  }

  /** Add `d` (±1) to the count of `addr`; a count that reaches 0 leaves the table. */
  add(addr: number, d: number): void {
    const hs = this.hs;
    const mask = this.mask;
    let i = hsip4(this.k0, this.k1, addr, 0, 0, 0) & mask;
    for (;;) {
      const n = hs[(i << 1) | 1]!;
      if (n === 0) {
        if (d > 0) {
          hs[i << 1] = addr;
          hs[(i << 1) | 1] = d;
        }
        return;
      }
      if (hs[i << 1] === addr) break;
      i = (i + 1) & mask;
    }
    const n = hs[(i << 1) | 1]! + d;
    if (n > 0) {
      hs[(i << 1) | 1] = n;
      return;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (hs[(j << 1) | 1] === 0) break;
      const home = hsip4(this.k0, this.k1, hs[j << 1]!, 0, 0, 0) & mask;
      // The entry at j may fill the hole at i unless its home slot lies cyclically in (i, j].
      if (((j - home) & mask) >= ((j - i) & mask)) {
        hs[i << 1] = hs[j << 1]!;
        hs[(i << 1) | 1] = hs[(j << 1) | 1]!;
        i = j;
      }
    }
    hs[i << 1] = 0;
    hs[(i << 1) | 1] = 0;
  }
}
