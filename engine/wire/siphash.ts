/**
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed 64-bit MAC with a
 * 128-bit key, here over bytes of a DataView without allocating. It authenticates Geneve packets
 * (geneve-auth.ts, docs/tunnel-auth.md), where it replaces HMAC-SHA256: `createHmac` allocates an object and a
 * digest Buffer per call and crosses into C++ twice; measured in bench/suites/tunnel-auth.ts.
 *
 * The message is one 8-byte block given as two words (`pre0`, `pre1`: the little-endian words of its bytes 0..3
 * and 4..7) followed by `len` bytes at `off`, so a caller can prepend fields that are not contiguous with the
 * rest (the outer IPv4 addresses) without copying. Algorithm (the paper's §2, 64-bit words little-endian):
 *
 *     v0 = k0 ^ 0x736f6d6570736575   v1 = k1 ^ 0x646f72616e646f6d
 *     v2 = k0 ^ 0x6c7967656e657261   v3 = k1 ^ 0x7465646279746573
 *     per 8-byte block m: v3 ^= m; 2 × SipRound; v0 ^= m
 *     last block = remaining bytes | (total length mod 256) << 56, compressed likewise
 *     v2 ^= 0xff; 4 × SipRound; tag = v0 ^ v1 ^ v2 ^ v3
 *
 * JavaScript has no 64-bit integer arithmetic short of BigInt (which allocates), so every 64-bit word is a pair
 * of int32 locals (hi, lo), a rotation by 32 is a swap, and an addition's carry is computed without a branch,
 * `((a & b) | ((a | b) & ~sum)) >>> 31` (Hacker's Delight §2-16): with `(sum >>> 0) < (a >>> 0) ? 1 : 0` instead,
 * half the carries mispredict and the whole MAC ran 2.2× slower (measured: 1500 bytes 7.4 µs against 3.3 µs, 64
 * bytes 0.46 against 0.21 µs, same process, Node 20). The tag is
 * left in `tag.hi` / `tag.lo` (int32) of the module's result object, so nothing is returned boxed. SipRound is
 * written out in both loops (compression, finalization): its eight words are locals, and a function could only
 * hand them back through memory.
 */

/** A 128-bit SipHash key as four int32 words: k0 = (k0hi, k0lo), k1 = (k1hi, k1lo), from little-endian bytes. */
export interface SipKey {
  readonly k0hi: number;
  readonly k0lo: number;
  readonly k1hi: number;
  readonly k1lo: number;
}

/** The 16 key bytes as a SipKey (cold path). */
export function sipKey(key: Uint8Array): SipKey {
  if (key.length !== 16) throw new RangeError('siphash: the key is 16 bytes');
  const v = new DataView(key.buffer, key.byteOffset, 16);
  return {
    k0lo: v.getInt32(0, true),
    k0hi: v.getInt32(4, true),
    k1lo: v.getInt32(8, true),
    k1hi: v.getInt32(12, true),
  };
}

/** The last tag computed: `hi` is the little-endian tag's bytes 4..7 as an int32, `lo` bytes 0..3. */
export const tag = { hi: 0, lo: 0 };

/**
 * SipHash-2-4 of the 8 bytes (`pre0`, `pre1`) followed by `len` bytes of `v` at `off`; the tag goes to `tag`.
 * Reads only [off, off + len).
 */
export function siphash24(k: SipKey, pre0: number, pre1: number, v: DataView, off: number, len: number): void {
  let v0h = k.k0hi ^ 0x736f6d65;
  let v0l = k.k0lo ^ 0x70736575;
  let v1h = k.k1hi ^ 0x646f7261;
  let v1l = k.k1lo ^ 0x6e646f6d;
  let v2h = k.k0hi ^ 0x6c796765;
  let v2l = k.k0lo ^ 0x6e657261;
  let v3h = k.k1hi ^ 0x74656462;
  let v3l = k.k1lo ^ 0x79746573;
  const total = 8 + len;
  const full = len >>> 3; // whole blocks after the prefix block
  const end = off + len;
  let t: number;
  let s: number;
  for (let blk = -1; blk <= full; blk++) {
    let ml: number;
    let mh: number;
    if (blk < 0) {
      ml = pre0 | 0;
      mh = pre1 | 0;
    } else if (blk < full) {
      const p = off + (blk << 3);
      ml = v.getInt32(p, true);
      mh = v.getInt32(p + 4, true);
    } else {
      // The last block: 0..7 remaining bytes, little-endian, and the total length mod 256 in the top byte.
      const p = off + (blk << 3);
      ml = 0;
      mh = (total & 0xff) << 24;
      const r = end - p;
      if (r > 0) ml = v.getUint8(p);
      if (r > 1) ml |= v.getUint8(p + 1) << 8;
      if (r > 2) ml |= v.getUint8(p + 2) << 16;
      if (r > 3) ml |= v.getUint8(p + 3) << 24;
      if (r > 4) mh |= v.getUint8(p + 4);
      if (r > 5) mh |= v.getUint8(p + 5) << 8;
      if (r > 6) mh |= v.getUint8(p + 6) << 16;
    }
    v3h ^= mh;
    v3l ^= ml;
    for (let r = 0; r < 2; r++) {
      // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
      s = (v0l + v1l) | 0;
      v0h = (v0h + v1h + (((v0l & v1l) | ((v0l | v1l) & ~s)) >>> 31)) | 0;
      v0l = s;
      t = (v1h << 13) | (v1l >>> 19);
      v1l = (v1l << 13) | (v1h >>> 19);
      v1h = t ^ v0h;
      v1l ^= v0l;
      t = v0h;
      v0h = v0l;
      v0l = t;
      // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
      s = (v2l + v3l) | 0;
      v2h = (v2h + v3h + (((v2l & v3l) | ((v2l | v3l) & ~s)) >>> 31)) | 0;
      v2l = s;
      t = (v3h << 16) | (v3l >>> 16);
      v3l = (v3l << 16) | (v3h >>> 16);
      v3h = t ^ v2h;
      v3l ^= v2l;
      // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
      s = (v0l + v3l) | 0;
      v0h = (v0h + v3h + (((v0l & v3l) | ((v0l | v3l) & ~s)) >>> 31)) | 0;
      v0l = s;
      t = (v3h << 21) | (v3l >>> 11);
      v3l = (v3l << 21) | (v3h >>> 11);
      v3h = t ^ v0h;
      v3l ^= v0l;
      // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
      s = (v2l + v1l) | 0;
      v2h = (v2h + v1h + (((v2l & v1l) | ((v2l | v1l) & ~s)) >>> 31)) | 0;
      v2l = s;
      t = (v1h << 17) | (v1l >>> 15);
      v1l = (v1l << 17) | (v1h >>> 15);
      v1h = t ^ v2h;
      v1l ^= v2l;
      t = v2h;
      v2h = v2l;
      v2l = t;
    }
    v0h ^= mh;
    v0l ^= ml;
  }
  v2l ^= 0xff;
  for (let r = 0; r < 4; r++) {
    s = (v0l + v1l) | 0;
    v0h = (v0h + v1h + (((v0l & v1l) | ((v0l | v1l) & ~s)) >>> 31)) | 0;
    v0l = s;
    t = (v1h << 13) | (v1l >>> 19);
    v1l = (v1l << 13) | (v1h >>> 19);
    v1h = t ^ v0h;
    v1l ^= v0l;
    t = v0h;
    v0h = v0l;
    v0l = t;
    s = (v2l + v3l) | 0;
    v2h = (v2h + v3h + (((v2l & v3l) | ((v2l | v3l) & ~s)) >>> 31)) | 0;
    v2l = s;
    t = (v3h << 16) | (v3l >>> 16);
    v3l = (v3l << 16) | (v3h >>> 16);
    v3h = t ^ v2h;
    v3l ^= v2l;
    s = (v0l + v3l) | 0;
    v0h = (v0h + v3h + (((v0l & v3l) | ((v0l | v3l) & ~s)) >>> 31)) | 0;
    v0l = s;
    t = (v3h << 21) | (v3l >>> 11);
    v3l = (v3l << 21) | (v3h >>> 11);
    v3h = t ^ v0h;
    v3l ^= v0l;
    s = (v2l + v1l) | 0;
    v2h = (v2h + v1h + (((v2l & v1l) | ((v2l | v1l) & ~s)) >>> 31)) | 0;
    v2l = s;
    t = (v1h << 17) | (v1l >>> 15);
    v1l = (v1l << 17) | (v1h >>> 15);
    v1h = t ^ v2h;
    v1l ^= v2l;
    t = v2h;
    v2h = v2l;
    v2l = t;
  }
  tag.hi = v0h ^ v1h ^ v2h ^ v3h;
  tag.lo = v0l ^ v1l ^ v2l ^ v3l;
}
