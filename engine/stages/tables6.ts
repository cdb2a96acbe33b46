/**
 * Lookup tables keyed by IPv6 addresses, for the IPv6 stages: the 128-bit counterparts of `Int32Map` and
 * `PrefixTable` (tables.ts). An address is four int32 words as `ipv6.srcWord`/`dstWord` read them (network
 * order), so a lookup reads the packet's words and allocates nothing. Built on the control path.
 */
import { ipv6 } from '../wire/index.js';

/** Hash of a 128-bit key into `32 - shift` bits (the words mixed, then Fibonacci hashing). */
function slotOf6(a0: number, a1: number, a2: number, a3: number, shift: number): number {
  let h = Math.imul(a0 ^ (a0 >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ a1 ^ (a1 >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ a2 ^ (a2 >>> 16), 0x85ebca6b);
  h ^= a3 ^ (a3 >>> 15);
  return Math.imul(h ^ (h >>> 16), 0x9e3779b1) >>> shift;
}

/**
 * A fixed-size open-addressing map from IPv6 address to int32, linear probing, at most half full. `get` returns
 * `missing` (default -1) for an absent key; `delete` shifts later entries back (no tombstones), for the IPv6
 * neighbour table (neighbor6.ts), the one map that changes between configurations.
 */
export class Ip6Map {
  private readonly keys: Int32Array;
  private readonly vals: Int32Array;
  private readonly used: Uint8Array;
  private readonly shift: number;
  private readonly mask: number;
  size = 0;

  constructor(capacity: number) {
    let cap = 16;
    while (cap < capacity * 2) cap <<= 1;
    this.keys = new Int32Array(cap * 4);
    this.vals = new Int32Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
  }

  get(a0: number, a1: number, a2: number, a3: number, missing = -1): number {
    const keys = this.keys;
    const used = this.used;
    let i = slotOf6(a0, a1, a2, a3, this.shift);
    while (used[i] === 1) {
      const k = i << 2;
      if (keys[k] === a0 && keys[k + 1] === a1 && keys[k + 2] === a2 && keys[k + 3] === a3) return this.vals[i]!;
      i = (i + 1) & this.mask;
    }
    return missing;
  }

  /** Set (or replace) a key; throws past the capacity given to the constructor. */
  set(a0: number, a1: number, a2: number, a3: number, val: number): void {
    let i = slotOf6(a0, a1, a2, a3, this.shift);
    while (this.used[i] === 1) {
      const k = i << 2;
      if (this.keys[k] === a0 && this.keys[k + 1] === a1 && this.keys[k + 2] === a2 && this.keys[k + 3] === a3) {
        this.vals[i] = val;
        return;
      }
      i = (i + 1) & this.mask;
    }
    if ((this.size + 1) * 2 > this.used.length) throw new RangeError('Ip6Map: over capacity');
    this.used[i] = 1;
    const k = i << 2;
    this.keys[k] = a0;
    this.keys[k + 1] = a1;
    this.keys[k + 2] = a2;
    this.keys[k + 3] = a3;
    this.vals[i] = val;
    this.size++;
  }

  /** Remove a key; false when it is absent. */
  delete(a0: number, a1: number, a2: number, a3: number): boolean {
    const keys = this.keys;
    const used = this.used;
    const mask = this.mask;
    let i = slotOf6(a0, a1, a2, a3, this.shift);
    for (;;) {
      if (used[i] !== 1) return false;
      const k = i << 2;
      if (keys[k] === a0 && keys[k + 1] === a1 && keys[k + 2] === a2 && keys[k + 3] === a3) break;
      i = (i + 1) & mask;
    }
    // Backward shift: a later entry of the probe run moves into the hole unless its home is cyclically in (i, j].
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (used[j] !== 1) break;
      const kj = j << 2;
      const home = slotOf6(keys[kj]!, keys[kj + 1]!, keys[kj + 2]!, keys[kj + 3]!, this.shift);
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        const ki = i << 2;
        keys[ki] = keys[kj]!;
        keys[ki + 1] = keys[kj + 1]!;
        keys[ki + 2] = keys[kj + 2]!;
        keys[ki + 3] = keys[kj + 3]!;
        this.vals[i] = this.vals[j]!;
        i = j;
      }
    }
    used[i] = 0;
    this.size--;
    return true;
  }
}

/** The four int32 words of IPv6 text (RFC 4291), or null. */
export function words6(text: string): [number, number, number, number] | null {
  const a = ipv6.parseAddr(text);
  return a ? ipv6.addrWords(a) : null;
}

/** The mask word `w` (0..3) of a prefix length 0..128. */
export function maskWord6(len: number, w: number): number {
  const bits = len - 32 * w;
  return bits >= 32 ? -1 : bits <= 0 ? 0 : (0xffffffff << (32 - bits)) | 0;
}

/** `addr/len` text to its masked words and length, or null. */
export function parsePrefix6(text: string): { w: [number, number, number, number]; len: number } | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const w = words6(text.slice(0, slash));
  const len = Number(text.slice(slash + 1));
  if (!w || !Number.isInteger(len) || len < 0 || len > 128) return null;
  return {
    w: [w[0] & maskWord6(len, 0), w[1] & maskWord6(len, 1), w[2] & maskWord6(len, 2), w[3] & maskWord6(len, 3)],
    len,
  };
}

/**
 * Longest-prefix match over IPv6 prefixes: one Ip6Map per distinct prefix length, probed longest first (a
 * cluster has few lengths: the pod CIDRs' /64 or /80, /128 for pods and owned addresses, the service CIDR).
 */
export class Prefix6Table {
  private readonly masks: Int32Array;
  private readonly maps: readonly Ip6Map[];

  /** Build from `[words, len, value]` entries; a later duplicate prefix replaces an earlier one. */
  constructor(entries: ReadonlyArray<readonly [w: readonly number[], len: number, value: number]> = []) {
    const byLen = new Map<number, Array<readonly [readonly number[], number]>>();
    for (const [w, len, value] of entries) {
      if (!Number.isInteger(len) || len < 0 || len > 128) throw new RangeError(`prefix length ${len}`);
      let l = byLen.get(len);
      if (!l) byLen.set(len, (l = []));
      l.push([w, value]);
    }
    const lens = [...byLen.keys()].sort((a, b) => b - a);
    this.masks = new Int32Array(lens.length * 4);
    this.maps = lens.map((len, k) => {
      for (let w = 0; w < 4; w++) this.masks[k * 4 + w] = maskWord6(len, w);
      const list = byLen.get(len)!;
      const m = new Ip6Map(list.length);
      const mk = (w: readonly number[], i: number) => w[i]! & maskWord6(len, i);
      for (const [w, value] of list) m.set(mk(w, 0), mk(w, 1), mk(w, 2), mk(w, 3), value);
      return m;
    });
  }

  /** Value of the longest prefix holding the address, or `missing`. Values must not be -1. */
  lookup(a0: number, a1: number, a2: number, a3: number, missing = -1): number {
    const masks = this.masks;
    const maps = this.maps;
    for (let k = 0; k < maps.length; k++) {
      const m = k << 2;
      const v = maps[k]!.get(a0 & masks[m]!, a1 & masks[m + 1]!, a2 & masks[m + 2]!, a3 & masks[m + 3]!, -1);
      if (v !== -1) return v;
    }
    return missing;
  }
}

/** RFC 5952 text of address `i` of `w` (four words each, as `ipv6.srcWord` reads them; cold path). */
export function wordsToString(w: Int32Array, i: number): string {
  const v = new DataView(new ArrayBuffer(16));
  for (let k = 0; k < 4; k++) v.setInt32(k * 4, w[i * 4 + k]!);
  return ipv6.addrToString(v, 0);
}

/**
 * Packets counted per IPv6 address, for the first `capacity` addresses seen (later ones are not told apart): an
 * `Ip6Map` to the address's slot, its words and its count in typed arrays, so counting allocates nothing.
 */
export class Counts6 {
  private readonly slot: Ip6Map;
  private readonly words: Int32Array;
  private readonly n: Float64Array;
  private count = 0;

  constructor(readonly capacity: number) {
    this.slot = new Ip6Map(capacity);
    this.words = new Int32Array(capacity * 4);
    this.n = new Float64Array(capacity);
  }

  /** One packet from the address a0..a3. */
  add(a0: number, a1: number, a2: number, a3: number): void {
    let i = this.slot.get(a0, a1, a2, a3);
    if (i < 0) {
      if (this.count >= this.capacity) return;
      i = this.count++;
      this.slot.set(a0, a1, a2, a3, i);
      const w = this.words;
      w[i * 4] = a0;
      w[i * 4 + 1] = a1;
      w[i * 4 + 2] = a2;
      w[i * 4 + 3] = a3;
    }
    this.n[i]!++;
  }

  /** Address text → packets, in order of each address's first packet (cold path). */
  toMap(): Map<string, number> {
    const m = new Map<string, number>();
    for (let i = 0; i < this.count; i++) m.set(wordsToString(this.words, i), this.n[i]!);
    return m;
  }
}
