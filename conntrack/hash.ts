/**
 * Seeded hashing and pseudo-random numbers for the connection table.
 *
 * `hsip4` is HalfSipHash-1-3 (Aumasson & Bernstein; the kernel's `hsiphash` on 32-bit machines) over four
 * 32-bit words with a 64-bit secret key. The table hashes every tuple with it, so an attacker who does not
 * know the key cannot choose tuples that land in one probe run (the reason Linux moved nf_conntrack from
 * jhash to siphash). Four message words, one compression round each, a length block and three
 * finalization rounds: about 12 ns on the reference machine, which buys hash-flooding resistance for a
 * quarter of the lookup budget.
 *
 * `Prng` draws the SNAT port offsets. With a fixed seed it is splitmix32 (deterministic, for replay); with no
 * seed it serves 16-bit values from the platform CSPRNG, refilled 2048 at a time into a buffer allocated
 * once (predictable NAT ports help off-path attackers, RFC 6056 §3).
 */

/** 32-bit rotate left. */
function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

/**
 * HalfSipHash-1-3 of the words `a, b, c, d` (16 bytes) under the key `(k0, k1)`. Returns an int32.
 * Word order is part of the key: callers hash tuples as `(src, dst, sport<<16|dport, proto)`.
 */
// prettier-ignore
export function hsip4(k0: number, k1: number, a: number, b: number, c: number, d: number): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = 0x6c796765 ^ k0;
  let v3 = 0x74656462 ^ k1;
  // m = a
  v3 ^= a;
  v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2;
  v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0;
  v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; v2 = rotl(v2, 16);
  v0 ^= a;
  // m = b
  v3 ^= b;
  v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2;
  v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0;
  v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; v2 = rotl(v2, 16);
  v0 ^= b;
  // m = c
  v3 ^= c;
  v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2;
  v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0;
  v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; v2 = rotl(v2, 16);
  v0 ^= c;
  // m = d
  v3 ^= d;
  v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2;
  v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0;
  v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; v2 = rotl(v2, 16);
  v0 ^= d;
  // final block: message length 16 in the top byte, no tail bytes
  const f = 16 << 24;
  v3 ^= f;
  v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2;
  v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0;
  v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; v2 = rotl(v2, 16);
  v0 ^= f;
  // finalization: 3 rounds
  v2 ^= 0xff;
  v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2;
  v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0;
  v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; v2 = rotl(v2, 16);
  v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2;
  v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0;
  v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; v2 = rotl(v2, 16);
  v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2;
  v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0;
  v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; // (v2 = rotl(v2, 16): unused by the output)
  return v1 ^ v3;
}

/** splitmix32 step: returns the next state (the caller keeps it) — see `Prng`. */
function splitmixOut(s: number): number {
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

/** Random 16-bit values: deterministic (seeded splitmix32) or from the platform CSPRNG. */
export class Prng {
  private s: number;
  private readonly pool: Uint16Array | null;
  private pos = 0;

  /** `seed` given: deterministic sequence. `null`: CSPRNG (crypto.getRandomValues into a reused buffer). */
  constructor(seed: number | null) {
    if (seed === null) {
      this.s = 0;
      this.pool = new Uint16Array(2048);
      this.pos = this.pool.length;
    } else {
      this.s = seed | 0;
      this.pool = null;
    }
  }

  /** Next value in 0..65535. */
  u16(): number {
    const p = this.pool;
    if (p === null) {
      this.s = (this.s + 0x9e3779b9) | 0;
      return splitmixOut(this.s) >>> 16;
    }
    if (this.pos >= p.length) {
      globalThis.crypto.getRandomValues(p);
      this.pos = 0;
    }
    return p[this.pos++]!;
  }

  /** Next int32 (setup paths: hash keys). */
  i32(): number {
    return (this.u16() << 16) | this.u16() | 0;
  }
}
