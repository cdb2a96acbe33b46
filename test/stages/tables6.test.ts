/**
 * The 128-bit tables of the IPv6 stages (engine/stages/tables6.ts) against a reference written with BigInt:
 * longest-prefix match over prefixes of many lengths (word boundaries included), and the map's lookups.
 */
import { describe, expect, it } from 'vitest';
import { Ip6Map, Prefix6Table } from '../../engine/stages/index.js';
import { parsePrefix6, words6 } from '../../engine/stages/tables6.js';

const big = (w: readonly number[]) => w.reduce((a, x) => (a << 32n) | BigInt(x >>> 0), 0n);
const mask = (len: number) => (len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len));
const wordsOf = (v: bigint) => [0, 1, 2, 3].map((i) => Number((v >> BigInt(96 - 32 * i)) & 0xffffffffn) | 0);

/** A deterministic PRNG (xorshift32) so the test is the same every run. */
function rng(seed: number) {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

describe('IPv6 tables', () => {
  it('parses prefixes and masks them', () => {
    expect(parsePrefix6('2001:2:0:a1::5/64')).toEqual({ w: words6('2001:2:0:a1::')!, len: 64 });
    expect(parsePrefix6('2001:2::ffff/126')!.w).toEqual(words6('2001:2::fffc'));
    expect(parsePrefix6('2001:2::/129')).toBeNull();
    expect(parsePrefix6('10.0.0.0/8')).toBeNull();
  });

  it('longest-prefix match equals the BigInt reference over random prefixes and addresses', () => {
    const r = rng(12345);
    const base = big(words6('2001:2::')!);
    const lens = [0, 16, 31, 32, 33, 48, 63, 64, 65, 80, 96, 112, 127, 128];
    const entries: Array<[number[], number, number]> = [];
    for (let i = 0; i < 300; i++) {
      const len = lens[r() % lens.length]!;
      const a = (base | (BigInt(r()) << 64n) | (BigInt(r()) << 32n) | BigInt(r() & 0xff)) & mask(len);
      entries.push([wordsOf(a), len, i]);
    }
    const t = new Prefix6Table(entries);
    const ref = (a: bigint) => {
      let best = -1;
      let bestLen = -1;
      for (const [w, len, v] of entries) {
        if ((a & mask(len)) === big(w) && len >= bestLen) {
          best = len > bestLen ? v : Math.max(best, v); // a later duplicate replaces an earlier one
          bestLen = len;
        }
      }
      return best;
    };
    for (let i = 0; i < 2000; i++) {
      const e = entries[r() % entries.length]!;
      // An address inside a known prefix with random host bits, or a random one.
      const a = i % 2 === 0 ? big(e[0]) | (BigInt(r()) & ~mask(e[1]) & 0xffffffffn) : base | BigInt(r());
      const w = wordsOf(a);
      expect(t.lookup(w[0]!, w[1]!, w[2]!, w[3]!, -1)).toBe(ref(a));
    }
  });

  it('the map finds what was set and nothing else', () => {
    const m = new Ip6Map(100);
    const r = rng(7);
    const keys = Array.from({ length: 100 }, () => [r() | 0, r() | 0, r() | 0, r() | 0]);
    keys.forEach((k, i) => m.set(k[0]!, k[1]!, k[2]!, k[3]!, i));
    keys.forEach((k, i) => expect(m.get(k[0]!, k[1]!, k[2]!, k[3]!)).toBe(i));
    expect(m.get(keys[0]![0]!, keys[0]![1]!, keys[0]![2]!, keys[0]![3]! ^ 1)).toBe(-1);
    expect(m.size).toBe(100);
  });
});
