/**
 * engine/wire/checksum.ts: differential test of the RFC 1071 sum against a byte-by-byte reference written here,
 * at every length 0..9001 and several alignments; property tests that RFC 1624 incremental updates (update16,
 * update32 and the protocols' checksum-aware setters) equal a full recomputation after random rewrites,
 * including the UDP zero-checksum rule.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as csum from '../../engine/wire/checksum.js';
import * as icmp from '../../engine/wire/icmp.js';
import * as ipv4 from '../../engine/wire/ipv4.js';
import * as tcp from '../../engine/wire/tcp.js';
import * as udp from '../../engine/wire/udp.js';
import { randomBytes, rng } from './fixtures.js';

/** The reference: RFC 1071 §4.1 byte by byte, odd byte padded with zero, carries folded at the end. */
function reference(b: Uint8Array, start: number, len: number, initial = 0): number {
  let s = initial;
  for (let i = 0; i < len; i += 2) {
    const hi = b[start + i]!;
    const lo = i + 1 < len ? b[start + i + 1]! : 0;
    s += (hi << 8) | lo;
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

describe('RFC 1071 checksum vs a byte-by-byte reference', () => {
  const MAX = 9001;
  const r = rng(0x1071);
  const data = randomBytes(r, MAX + 8);
  const view = new DataView(data.buffer);

  for (const off of [0, 1, 2, 3]) {
    it(`agrees at every length 0..${MAX} at offset ${off} (seeded random data)`, () => {
      let mismatches = 0;
      let first = '';
      for (let len = 0; len <= MAX; len++) {
        const got = csum.checksum(view, off, len);
        const want = reference(data, off, len);
        if (got !== want) {
          mismatches++;
          if (!first) first = `len ${len}: got ${got.toString(16)} want ${want.toString(16)}`;
        }
      }
      expect(first).toBe('');
      expect(mismatches).toBe(0);
    });
  }

  it('agrees on all-0xff and all-zero data (largest and smallest sums, carries beyond 2^32)', () => {
    const ff = new Uint8Array(MAX + 1).fill(0xff);
    const zz = new Uint8Array(MAX + 1);
    for (let len = 0; len <= MAX; len += 97) {
      expect(csum.checksum(new DataView(ff.buffer), 0, len)).toBe(reference(ff, 0, len));
      expect(csum.checksum(new DataView(zz.buffer), 0, len)).toBe(reference(zz, 0, len));
    }
    // The largest sums: all-ones data of every length up to 64 KiB (sum keeps an integer accumulator).
    const big = new Uint8Array(65536).fill(0xff);
    for (const len of [9000, 65535, 65536])
      expect(csum.checksum(new DataView(big.buffer), 0, len)).toBe(reference(big, 0, len));
    expect(csum.finish(csum.sum(new DataView(ff.buffer), 0, 9000))).toBe(0);
  });

  it('folds a 32-bit word sum of 0x1_ffff_ffff correctly (one reduction leaves exactly 2^32)', () => {
    // Words ffffffff ffffffff 00000001 sum to 2^33 - 1; the 16-bit words ffff×4 + 0001 fold to 0x0001.
    const b = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
    const v = new DataView(b.buffer);
    expect(csum.fold(csum.sum(v, 0, 12))).toBe(1);
    // A caller's float64 sum of 32-bit words (2^33 − 1 here) folds the same.
    expect(csum.fold(2 ** 33 - 1)).toBe(1);
    expect(csum.checksum(v, 0, 12)).toBe(reference(b, 0, 12));
    expect(csum.checksum(v, 0, 12)).toBe(0xfffe);
    // Every k·2^32 + (2^32 − j) with 1 ≤ j ≤ k: the first reduction gives 2^32 + (k − j).
    for (let k = 1; k < 3000; k += 7) {
      for (const j of [1, k]) {
        const s = k * 2 ** 32 + (2 ** 32 - j);
        expect(csum.fold(s)).toBe(((s - 1) % 0xffff) + 1); // one's complement: the representative in 1..0xffff
      }
    }
  });

  it('agrees with an initial (pseudo-header) sum', () => {
    for (let i = 0; i < 2000; i++) {
      const len = (r() * 1600) | 0;
      const init = (r() * 0x3ffff) | 0;
      expect(csum.checksum(view, 1, len, init)).toBe(reference(data, 1, len, init));
    }
  });

  it('matches RFC 1071 §3 worked example (00 01 f2 03 f4 f5 f6 f7 sums to ddf2)', () => {
    const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(csum.fold(csum.sum(new DataView(b.buffer), 0, 8))).toBe(0xddf2);
    expect(csum.checksum(new DataView(b.buffer), 0, 8)).toBe(~0xddf2 & 0xffff);
  });

  it('pseudoHeaderSum equals summing the 12 pseudo-header bytes', () => {
    for (let i = 0; i < 1000; i++) {
      const src = (r() * 2 ** 32) | 0;
      const dst = (r() * 2 ** 32) | 0;
      const proto = (r() * 256) | 0;
      const len = (r() * 65536) | 0;
      const ph = new Uint8Array(12);
      const pv = new DataView(ph.buffer);
      pv.setInt32(0, src);
      pv.setInt32(4, dst);
      pv.setUint8(9, proto);
      pv.setUint16(10, len);
      expect(csum.finish(csum.pseudoHeaderSum(src, dst, proto, len))).toBe(reference(ph, 0, 12));
    }
  });
});

describe('RFC 1624 incremental update equals full recomputation', () => {
  it('update16 / update32 over random 16-bit word rewrites', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8, maxLength: 64 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffff }), fc.boolean()), {
          minLength: 1,
          maxLength: 20,
        }),
        (init, rewrites) => {
          const b = new Uint8Array(init.length + (init.length & 1) + 2);
          b.set(init, 2); // checksum field at 0..1, data after
          const v = new DataView(b.buffer);
          v.setUint16(0, 0);
          v.setUint16(0, reference(b, 0, b.length));
          for (const [pos, val, wide] of rewrites) {
            const words = (b.length - 2) >> 1;
            if (wide && words >= 2) {
              const w = 1 + (pos % (words - 1));
              const old = v.getInt32(w * 2);
              const nu = (val * 0x10001) ^ pos;
              v.setInt32(w * 2, nu);
              v.setUint16(0, csum.update32(v.getUint16(0), old, nu | 0));
            } else {
              const w = 1 + (pos % words);
              const old = v.getUint16(w * 2);
              v.setUint16(w * 2, val);
              v.setUint16(0, csum.update16(v.getUint16(0), old, val));
            }
            const field = v.getUint16(0);
            v.setUint16(0, 0);
            const full = reference(b, 0, b.length);
            v.setUint16(0, field);
            if (field !== full) return false;
          }
          return true;
        },
      ),
      { seed: 1624, numRuns: 2000 },
    );
  });

  /** A 20-byte IPv4 header + UDP or TCP segment with random payload, checksums filled by the reference. */
  function packet(proto: number, payload: Uint8Array, src: number, dst: number, zeroUdp: boolean) {
    const l4hl = proto === 17 ? 8 : 20;
    const len = 20 + l4hl + payload.length;
    const b = new Uint8Array(len);
    const v = new DataView(b.buffer);
    v.setUint8(0, 0x45);
    v.setUint16(2, len);
    v.setUint16(4, 0x1234);
    v.setUint8(8, 64);
    v.setUint8(9, proto);
    v.setInt32(12, src);
    v.setInt32(16, dst);
    v.setUint16(10, reference(b, 0, 20));
    v.setUint16(20, 1111);
    v.setUint16(22, 2222);
    if (proto === 17) v.setUint16(24, l4hl + payload.length);
    else {
      v.setInt32(24, 0x01020304);
      v.setUint8(32, 0x50);
      v.setUint8(33, 0x18);
      v.setUint16(34, 1000);
    }
    b.set(payload, 20 + l4hl);
    fillL4(b, proto, zeroUdp);
    return b;
  }

  function l4Full(b: Uint8Array, proto: number): number {
    const v = new DataView(b.buffer);
    const ph = new Uint8Array(12 + b.length - 20);
    ph.set(b.subarray(12, 20), 0);
    ph[9] = proto;
    new DataView(ph.buffer).setUint16(10, b.length - 20);
    ph.set(b.subarray(20), 12);
    const cOff = proto === 17 ? 6 : 16;
    ph[12 + cOff] = 0;
    ph[12 + cOff + 1] = 0;
    const c = reference(ph, 0, ph.length);
    void v;
    return proto === 17 && c === 0 ? 0xffff : c;
  }

  function fillL4(b: Uint8Array, proto: number, zeroUdp: boolean) {
    const v = new DataView(b.buffer);
    const cOff = proto === 17 ? 26 : 36;
    v.setUint16(cOff, zeroUdp ? 0 : l4Full(b, proto));
  }

  function ipFull(b: Uint8Array): number {
    const h = b.slice(0, 20);
    h[10] = h[11] = 0;
    return reference(h, 0, 20);
  }

  const op = fc.oneof(
    fc.record({ k: fc.constant('src' as const), a: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }),
    fc.record({ k: fc.constant('dst' as const), a: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }),
    fc.record({ k: fc.constant('sport' as const), a: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ k: fc.constant('dport' as const), a: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({
      k: fc.constant('snat' as const),
      a: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      p: fc.integer({ min: 0, max: 0xffff }),
    }),
    fc.record({
      k: fc.constant('dnat' as const),
      a: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      p: fc.integer({ min: 0, max: 0xffff }),
    }),
    fc.record({ k: fc.constant('ttl' as const) }),
  );
  type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

  function apply(b: Uint8Array, proto: number, o: Op) {
    const v = new DataView(b.buffer);
    const L = proto === 17 ? udp : tcp;
    switch (o.k) {
      case 'src': {
        const old = ipv4.src(v, 0);
        ipv4.setSrcCsum(v, 0, o.a);
        L.updateChecksumForAddr(v, 20, old, o.a);
        break;
      }
      case 'dst': {
        const old = ipv4.dst(v, 0);
        ipv4.setDstCsum(v, 0, o.a);
        L.updateChecksumForAddr(v, 20, old, o.a);
        break;
      }
      case 'sport':
        L.setSrcPortCsum(v, 20, o.a);
        break;
      case 'dport':
        L.setDstPortCsum(v, 20, o.a);
        break;
      case 'snat':
        L.snat(v, 0, 20, o.a, o.p);
        break;
      case 'dnat':
        L.dnat(v, 0, 20, o.a, o.p);
        break;
      case 'ttl':
        if (ipv4.ttl(v, 0) > 1) ipv4.decTtlCsum(v, 0);
        break;
    }
  }

  for (const [name, proto, zero] of [
    ['UDP', 17, false],
    ['UDP with checksum 0 (none generated)', 17, true],
    ['TCP', 6, false],
  ] as const) {
    it(`${name}: IPv4 and L4 setters keep both checksums equal to a full recomputation`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 0, maxLength: 64 }),
          fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
          fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
          fc.array(op, { minLength: 1, maxLength: 12 }),
          (payload, src, dst, ops) => {
            const b = packet(proto, payload, src, dst, zero);
            const v = new DataView(b.buffer);
            const cOff = proto === 17 ? 26 : 36;
            for (const o of ops) {
              apply(b, proto, o);
              if (v.getUint16(10) !== ipFull(b)) return false;
              const want = zero ? 0 : l4Full(b, proto);
              if (v.getUint16(cOff) !== want) return false;
            }
            return true;
          },
        ),
        { seed: 768 + proto + (zero ? 1 : 0), numRuns: 1500 },
      );
    });
  }

  it('UDP: a rewrite whose result is checksum 0 writes 0xffff (RFC 768), and recomputation agrees', () => {
    // Search deterministically for a source port that makes the one's complement sum 0xffff.
    const b = packet(17, new Uint8Array([1, 2, 3, 4, 5]), 0xc6120001 | 0, 0xc6120064 | 0, false);
    const v = new DataView(b.buffer);
    let hits = 0;
    for (let p = 0; p <= 0xffff; p++) {
      udp.setSrcPortCsum(v, 20, p);
      const field = v.getUint16(26);
      expect(field).not.toBe(0);
      if (field === 0xffff) {
        hits++;
        expect(l4Full(b, 17)).toBe(0xffff); // the full computation gives 0 too, transmitted as 0xffff
      }
    }
    expect(hits).toBeGreaterThan(0);
  });

  it('UDP: the sender-generated-no-checksum field stays 0 through every setter', () => {
    const b = packet(17, new Uint8Array([9, 9]), 1, 2, true);
    const v = new DataView(b.buffer);
    udp.setSrcPortCsum(v, 20, 5);
    udp.setDstPortCsum(v, 20, 6);
    udp.updateChecksumForAddr(v, 20, 1, 7);
    udp.snat(v, 0, 20, 8, 9);
    udp.dnat(v, 0, 20, 10, 11);
    expect(udp.checksumField(v, 20)).toBe(0);
    expect(udp.checksumOk(v, 0, 20)).toBe(true);
    expect(ipv4.checksumOk(v, 0)).toBe(true);
  });

  it('ICMP echo: setEchoIdCsum equals a full recomputation', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 10 }),
        (data, ids) => {
          const b = new Uint8Array(8 + data.length);
          const v = new DataView(b.buffer);
          b[0] = 8;
          b.set(data, 8);
          v.setUint16(2, reference(b, 0, b.length));
          for (const id of ids) {
            icmp.setEchoIdCsum(v, 0, id);
            const field = v.getUint16(2);
            v.setUint16(2, 0);
            const full = reference(b, 0, b.length);
            v.setUint16(2, field);
            if (field !== full || !icmp.checksumOk(v, 0, b.length)) return false;
          }
          return true;
        },
      ),
      { seed: 792, numRuns: 1000 },
    );
  });
});
