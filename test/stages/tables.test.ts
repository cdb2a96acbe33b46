import { describe, expect, it } from 'vitest';
import { maskInt32 } from '../../engine/policy/index.js';
import { Int32Map, PrefixTable } from '../../engine/stages/tables.js';

/** Seeded xorshift32 so the random test is reproducible. */
function rng(seed: number) {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x | 0;
  };
}

describe('Int32Map', () => {
  it('agrees with a Map under random inserts, updates and deletes (backward-shift deletion)', () => {
    const r = rng(42);
    const m = new Int32Map(4);
    const ref = new Map<number, number>();
    for (let step = 0; step < 50_000; step++) {
      const key = r() & 0x3ff; // small key space: many collisions and deletes
      const op = r() & 3;
      if (op === 0) {
        expect(m.delete(key)).toBe(ref.delete(key));
      } else {
        const v = r() & 0x7fffffff;
        m.set(key, v);
        ref.set(key, v);
      }
      if (step % 997 === 0) {
        expect(m.size).toBe(ref.size);
        for (let k = 0; k < 0x400; k++) expect(m.get(k)).toBe(ref.get(k) ?? -1);
      }
    }
    expect(m.entries().sort((a, b) => a[0] - b[0])).toEqual([...ref.entries()].sort((a, b) => a[0] - b[0]));
  });

  it('handles negative int32 keys (addresses above 128.0.0.0)', () => {
    const m = new Int32Map();
    m.set(0xc6120001 | 0, 7);
    expect(m.get(0xc6120001 | 0)).toBe(7);
    expect(m.has(0xc6120001 | 0)).toBe(true);
    expect(m.get(0x46120001)).toBe(-1);
  });
});

describe('PrefixTable', () => {
  const ip = (s: string) => s.split('.').reduce((a, p) => (a << 8) | Number(p), 0) | 0;
  it('returns the longest matching prefix', () => {
    const t = new PrefixTable([
      [ip('10.0.0.0'), 8, 1],
      [ip('10.244.1.0'), 24, 2],
      [ip('10.244.1.128'), 25, 3],
      [ip('198.18.0.11'), 32, 4],
      [0, 0, 9],
    ]);
    expect(t.lookup(ip('10.1.2.3'))).toBe(1);
    expect(t.lookup(ip('10.244.1.5'))).toBe(2);
    expect(t.lookup(ip('10.244.1.200'))).toBe(3);
    expect(t.lookup(ip('198.18.0.11'))).toBe(4);
    expect(t.lookup(ip('198.18.0.12'))).toBe(9);
    expect(t.lengths()).toEqual([32, 25, 24, 8, 0]);
    expect(new PrefixTable([[ip('10.0.0.0'), 8, 1]]).lookup(ip('11.0.0.1'))).toBe(-1);
  });
  it('masks host bits of entries', () => {
    expect(new PrefixTable([[ip('10.244.1.77'), 24, 5]]).lookup(ip('10.244.1.1'))).toBe(5);
    expect(maskInt32(24)).toBe(ip('255.255.255.0'));
    expect(maskInt32(0)).toBe(0);
    expect(maskInt32(32)).toBe(-1);
  });
});
