/**
 * CRC-32 and Antrea's consistent hash ring, bit-exact: expectations come from Python's zlib.crc32 and a Python ring
 * walk written from docs/semantics.md §2.2 (test/policy/python.ts).
 */
import { describe, expect, it } from 'vitest';
import { HashRing, crc32, crc32String, REPLICAS } from '../../engine/policy/index.js';
import { pyCrc32, pyRingGet } from './python.js';

describe('crc32 (IEEE, as Go crc32.ChecksumIEEE / zlib.crc32)', () => {
  it('matches the standard check value', () => {
    // CRC-32/ISO-HDLC check value of "123456789" (Greg Cook's catalogue).
    expect(crc32String('123456789')).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });

  it('matches zlib.crc32 on names, IPs and odd strings', () => {
    const strings = [
      '',
      'a',
      '0node-a',
      '49node-c',
      '198.18.0.253',
      '169.254.100.1',
      '2021:1::aaa1',
      'kind-worker2',
      'nöde-ü', // UTF-8 bytes, as Go's []byte(string)
      'x'.repeat(1000),
    ];
    for (let i = 0; i < 50; i++) strings.push(`${i}node${i * 7919}`);
    expect(strings.map(crc32String)).toEqual(pyCrc32(strings));
  });
});

describe('hash ring', () => {
  const members = ['node-a', 'node-b', 'node-c'];

  it('has 50 replicas per Node, sorted by hash', () => {
    const r = new HashRing(members);
    expect(REPLICAS).toBe(50);
    expect(r.hashes.length).toBe(150);
    for (let i = 1; i < r.hashes.length; i++) expect(r.hashes[i]!).toBeGreaterThan(r.hashes[i - 1]!);
    expect(r.hashes[0]).toBe(
      Math.min(...members.flatMap((n) => [...Array(50).keys()].map((i) => crc32String(`${i}${n}`)))),
    );
  });

  it('chooses the same Node as the Python ring for many keys', () => {
    const keys = [...Array(300).keys()].map((i) => `10.${i >> 8}.${i & 255}.${(i * 37) & 255}`);
    keys.push('', '198.18.0.253', '198.18.0.254', '2021:1::aaa1', '2021:1:0::aaa1');
    const r = new HashRing(members);
    expect(keys.map((k) => r.get(k))).toEqual(pyRingGet(members, keys));
    // Every Node gets some keys: the walk really depends on the key.
    expect(new Set(keys.map((k) => r.get(k))).size).toBe(3);
  });

  it('skips filtered Nodes walking upward with wrap-around, like the Python walk', () => {
    const many = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const keys = [...Array(100).keys()].map((i) => `172.16.${i}.1`);
    const r = new HashRing(many);
    for (const reject of [['n1'], ['n2', 'n4'], ['n1', 'n2', 'n3', 'n4']]) {
      const got = keys.map((k) => r.get(k, (n) => !reject.includes(n)));
      expect(got).toEqual(pyRingGet(many, keys, reject));
      for (const g of got) expect(reject).not.toContain(g);
    }
  });

  it('wraps to the smallest replica for a key above every replica hash', () => {
    const r = new HashRing(members);
    const max = r.hashes[r.hashes.length - 1]!;
    // Find a key whose CRC is above the largest replica.
    let key = '';
    for (let i = 0; i < 1e6; i++) {
      if (crc32String(`k${i}`) > max) {
        key = `k${i}`;
        break;
      }
    }
    expect(key).not.toBe('');
    expect(r.get(key)).toBe(r.nodes[r.owners[0]!]);
    expect(pyRingGet(members, [key])).toEqual([r.get(key)]);
  });

  it('returns "" when empty or when every Node is rejected', () => {
    expect(new HashRing([]).get('1.2.3.4')).toBe('');
    expect(new HashRing(members).get('1.2.3.4', () => false)).toBe('');
  });

  it('does not depend on the order Nodes are given in', () => {
    const a = new HashRing(['c', 'a', 'b']);
    const b = new HashRing(['a', 'b', 'c', 'a']);
    expect([...a.hashes]).toEqual([...b.hashes]);
    expect(a.get('10.0.0.1')).toBe(b.get('10.0.0.1'));
  });
});
