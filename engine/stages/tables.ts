/**
 * Lookup tables the stages read per packet: built on the control path, read on the hot path without
 * allocating. Keys are int32 IPv4 addresses.
 */
import { maskInt32 } from '../policy/index.js';

/** Multiplicative hash of an int32 key into `mask + 1` buckets (Fibonacci hashing). */
function slotOf(key: number, shift: number): number {
  return Math.imul(key ^ (key >>> 16), 0x9e3779b1) >>> shift;
}

/**
 * Open-addressing map int32 → int32 with linear probing. Capacity is a power of two at most half full;
 * `get` returns `missing` (default -1) for absent keys. Deletion uses backward shift, so no tombstones.
 */
export class Int32Map {
  private keys: Int32Array;
  private vals: Int32Array;
  private used: Uint8Array;
  private shift: number;
  private mask: number;
  size = 0;

  constructor(initial = 16) {
    let cap = 16;
    while (cap < initial * 2) cap <<= 1;
    this.keys = new Int32Array(cap);
    this.vals = new Int32Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
  }

  get(key: number, missing = -1): number {
    const keys = this.keys;
    const used = this.used;
    const mask = this.mask;
    let i = slotOf(key, this.shift);
    while (used[i] === 1) {
      if (keys[i] === key) return this.vals[i]!;
      i = (i + 1) & mask;
    }
    return missing;
  }

  has(key: number): boolean {
    return this.getSlot(key) >= 0;
  }

  private getSlot(key: number): number {
    let i = slotOf(key, this.shift);
    while (this.used[i] === 1) {
      if (this.keys[i] === key) return i;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  set(key: number, val: number): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    let i = slotOf(key, this.shift);
    while (this.used[i] === 1) {
      if (this.keys[i] === key) {
        this.vals[i] = val;
        return;
      }
      i = (i + 1) & this.mask;
    }
    this.used[i] = 1;
    this.keys[i] = key;
    this.vals[i] = val;
    this.size++;
  }

  delete(key: number): boolean {
    let i = this.getSlot(key);
    if (i < 0) return false;
    const mask = this.mask;
    // Backward-shift deletion: move later entries of the probe run into the hole when their home allows it.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (this.used[j] !== 1) break;
      const home = slotOf(this.keys[j]!, this.shift);
      // Entry j may move to i if its home is not cyclically within (i, j].
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        this.keys[i] = this.keys[j]!;
        this.vals[i] = this.vals[j]!;
        i = j;
      }
    }
    this.used[i] = 0;
    this.size--;
    return true;
  }

  clear(): void {
    this.used.fill(0);
    this.size = 0;
  }

  /** Entries as [key, value] pairs (cold path). */
  entries(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.keys.length; i++) if (this.used[i] === 1) out.push([this.keys[i]!, this.vals[i]!]);
    return out;
  }

  private grow(): void {
    const old = this.entries();
    const cap = this.keys.length * 2;
    this.keys = new Int32Array(cap);
    this.vals = new Int32Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.size = 0;
    for (const [k, v] of old) this.set(k, v);
  }
}

/**
 * Longest-prefix match over IPv4 prefixes: one Int32Map per distinct prefix length, probed longest first.
 * Networks have few distinct lengths (pod CIDRs share one), so a lookup is a handful of probes.
 */
export class PrefixTable {
  private lens: Int32Array = new Int32Array(0);
  private masks: Int32Array = new Int32Array(0);
  private maps: Int32Map[] = [];

  /** Build from `[addr, len, value]` entries; a later duplicate prefix replaces an earlier one. */
  constructor(entries: ReadonlyArray<readonly [addr: number, len: number, value: number]> = []) {
    const byLen = new Map<number, Int32Map>();
    for (const [addr, len, value] of entries) {
      if (!Number.isInteger(len) || len < 0 || len > 32) throw new RangeError(`prefix length ${len}`);
      let m = byLen.get(len);
      if (!m) byLen.set(len, (m = new Int32Map()));
      m.set(addr & maskInt32(len), value);
    }
    const lens = [...byLen.keys()].sort((a, b) => b - a);
    this.lens = Int32Array.from(lens);
    this.masks = Int32Array.from(lens.map(maskInt32));
    this.maps = lens.map((l) => byLen.get(l)!);
  }

  /** Value of the longest prefix holding `addr`, or `missing`. Values must not be -1 (the internal miss mark). */
  lookup(addr: number, missing = -1): number {
    const masks = this.masks;
    for (let k = 0; k < masks.length; k++) {
      const v = this.maps[k]!.get(addr & masks[k]!, -1);
      if (v !== -1) return v;
    }
    return missing;
  }

  get size(): number {
    return this.maps.reduce((n, m) => n + m.size, 0);
  }

  /** Prefix lengths present, longest first. */
  lengths(): number[] {
    return [...this.lens];
  }
}
