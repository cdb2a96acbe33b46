/**
 * The slot array: the connection table's open-addressed hash (Linux's conntrack hash, gVisor's `buckets`).
 * `Int32Array` of `[hash, conn << 1 | dir]` pairs (-1 = empty), a power of two ≥ 2 × records / maxLoad, linear
 * probing, backward-shift deletion (no tombstones). The full 32-bit hash is kept so probes compare it before
 * touching a record, and deletion finds each entry's home slot without rehashing. Two entries per connection
 * (original, reply); the hash ignores the direction, so a packet needs one hash whichever entry it hits.
 *
 * Free functions over the table's state (state.ts): the callers are one class, so every call site is
 * monomorphic and the small ones inline. The probe itself is `CtState.probe` (state.ts): it is `find`'s hot
 * path, and a method of the one class inlines behind a map check where an imported function adds a load and a
 * hole check per lookup.
 */
import { hsip4 } from './hash.js';
import * as record from './record.js';
import type { CtState } from './state.js';

// Module-local copies of record.ts constants: V8 folds these, an imported binding is a load per use (record.ts).
const M_PROTO = record.M_PROTO;
const R_META = record.R_META;
const STRIDE = record.STRIDE;
const TUPLE = record.TUPLE;

/** Hash of a connection's tuple in direction `dir`, from its record. */
export function hashDir(s: CtState, c: number, dir: number): number {
  const rec = s.rec;
  const r = c * STRIDE + dir * TUPLE;
  return hsip4(s.k0, s.k1, rec[r]!, rec[r + 1]!, rec[r + 2]!, rec[c * STRIDE + R_META]! & M_PROTO);
}

/** Insert entry `v` (`conn << 1 | dir`) whose hash is `h` at the first empty slot of its probe run. */
export function insertEntry(s: CtState, h: number, v: number): void {
  const slots = s.slots;
  const mask = s.mask;
  let i = h & mask;
  while (slots[(i << 1) | 1]! >= 0) i = (i + 1) & mask;
  slots[i << 1] = h;
  slots[(i << 1) | 1] = v;
  s.entries++;
  s.inserts++;
}

/** Remove entry `v` whose hash is `h`, shifting the rest of its probe run back (no tombstones). */
export function removeEntry(s: CtState, h: number, v: number): void {
  const slots = s.slots;
  const mask = s.mask;
  let i = h & mask;
  for (;;) {
    const x = slots[(i << 1) | 1]!;
    if (x === v) break;
    if (x < 0) return; // not present (cannot happen for a consistent table)
    i = (i + 1) & mask;
  }
  let j = i;
  for (;;) {
    j = (j + 1) & mask;
    const vj = slots[(j << 1) | 1]!;
    if (vj < 0) break;
    const hj = slots[j << 1]!;
    // The entry at j may fill the hole at i unless its home slot lies cyclically in (i, j].
    if (((j - (hj & mask)) & mask) >= ((j - i) & mask)) {
      slots[i << 1] = hj;
      slots[(i << 1) | 1] = vj;
      i = j;
    }
  }
  slots[i << 1] = 0;
  slots[(i << 1) | 1] = -1;
  s.entries--;
}

/**
 * Look up a burst of keys in one pass (docs/style.md practice 4): all hashes and home-slot loads first, then
 * the records, then the rest, so the cache misses of different keys overlap (tables larger than ~2 MB; a
 * cache-resident table is probed key by key). `out[i]` gets `conn << 1 | dir` or -1. Returns the number of hits.
 */
export function lookupBurst(
  s: CtState,
  src: Int32Array,
  dst: Int32Array,
  ports: Int32Array,
  proto: Uint8Array,
  n: number,
  out: Int32Array,
): number {
  const hs = s.scratch;
  const k0 = s.k0;
  const k1 = s.k1;
  const slots = s.slots;
  const rec = s.rec;
  const mask = s.mask;
  let hits = 0;
  if (!s.burstPasses) {
    // Cache-resident table: nothing to overlap, the plain loop is faster.
    for (let j = 0; j < n; j++) {
      const v = s.probe(hsip4(k0, k1, src[j]!, dst[j]!, ports[j]!, proto[j]!), src[j]!, dst[j]!, ports[j]!, proto[j]!);
      out[j] = v;
      if (v >= 0) hits++;
    }
    return hits;
  }
  for (let base = 0; base < n; base += hs.length) {
    const m = Math.min(hs.length, n - base);
    // Pass 1: hash every key and load its home slot. The loads are independent, so their cache misses overlap.
    for (let i = 0; i < m; i++) {
      const j = base + i;
      const h = hsip4(k0, k1, src[j]!, dst[j]!, ports[j]!, proto[j]!);
      hs[i] = h;
      out[j] = slots[((h & mask) << 1) | 1]!;
    }
    // Pass 2: resolve keys found in their home slot (most hits at this load). The record loads of successive
    // keys are again independent; keys that need a longer probe are left for pass 3.
    for (let i = 0; i < m; i++) {
      const j = base + i;
      const v = out[j]!;
      if (v < 0) continue;
      const h = hs[i]!;
      if (slots[(h & mask) << 1] === h) {
        const c = v >> 1;
        const r = c * STRIDE + (v & 1) * TUPLE;
        if (
          rec[r] === src[j] &&
          rec[r + 1] === dst[j] &&
          rec[r + 2] === ports[j] &&
          (rec[c * STRIDE + R_META]! & M_PROTO) === proto[j]
        ) {
          hits++;
          continue;
        }
      }
      out[j] = -2;
    }
    // Pass 3: full probe for the rest.
    for (let i = 0; i < m; i++) {
      const j = base + i;
      if (out[j] !== -2) continue;
      const v = s.probe(hs[i]!, src[j]!, dst[j]!, ports[j]!, proto[j]!);
      out[j] = v;
      if (v >= 0) hits++;
    }
  }
  return hits;
}
