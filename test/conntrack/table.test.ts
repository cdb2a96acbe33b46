/**
 * The table itself: lookups in both directions, the unconfirmed → confirmed lifecycle (a dropped first packet
 * leaves nothing), deletion without tombstones, capacity with early drop and counted refusal, incremental
 * expiry, the burst lookup, seeding, and the hash against the kernel's HalfSipHash-1-3 test vector.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CT_EXISTS,
  CT_FULL,
  CT_INVALID,
  ConnTable,
  UPDATE_ACCEPT,
  UPDATE_RECREATE,
  hsip4,
  packPorts,
} from '../../conntrack/index.js';
import { ACK, FIN, ICMP, RST, SYN, TCP, UDP, ip, open, table, at } from './helpers.js';

describe('hash', () => {
  it('is HalfSipHash-1-3 (kernel hsiphash on 32-bit): lib/siphash_kunit.c vector 16', () => {
    // Key bytes 00..07, message bytes 00..0f, read as little-endian words; expected 0x8b31d501.
    expect(hsip4(0x03020100, 0x07060504, 0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c) >>> 0).toBe(0x8b31d501);
  });

  it('depends on the seed, and a fixed seed is reproducible', () => {
    const a = new ConnTable({ seed: 1, maxConnections: 16 });
    const b = new ConnTable({ seed: 1, maxConnections: 16 });
    const c = new ConnTable({ seed: 2, maxConnections: 16 });
    const d = new ConnTable({ maxConnections: 16 });
    const k = [ip('10.0.0.1'), ip('198.18.0.1'), packPorts(1234, 80), TCP] as const;
    expect(a.hash(...k)).toBe(b.hash(...k));
    expect(a.hash(...k)).not.toBe(c.hash(...k));
    expect(d.deterministic).toBe(false);
    expect(a.deterministic).toBe(true);
  });
});

describe('lookup and lifecycle', () => {
  it('finds both directions of a confirmed connection and nothing else', () => {
    const t = table();
    const c = open(t, '10.244.1.5', '198.18.0.100', 40000, 80, TCP);
    expect(t.lookup(ip('10.244.1.5'), ip('198.18.0.100'), 40000, 80, TCP)).toBe(c << 1);
    expect(t.lookup(ip('198.18.0.100'), ip('10.244.1.5'), 80, 40000, TCP)).toBe((c << 1) | 1);
    // every field of the key matters
    expect(t.lookup(ip('10.244.1.5'), ip('198.18.0.100'), 40000, 80, UDP)).toBe(-1);
    expect(t.lookup(ip('10.244.1.5'), ip('198.18.0.100'), 40001, 80, TCP)).toBe(-1);
    expect(t.lookup(ip('10.244.1.5'), ip('198.18.0.100'), 40000, 81, TCP)).toBe(-1);
    expect(t.lookup(ip('10.244.1.6'), ip('198.18.0.100'), 40000, 80, TCP)).toBe(-1);
    expect(t.lookup(ip('10.244.1.5'), ip('198.18.0.101'), 40000, 80, TCP)).toBe(-1);
    expect(t.find(ip('10.244.1.5'), ip('198.18.0.100'), packPorts(40000, 80), TCP)).toBe(c << 1);
    expect(t.size).toBe(1);
    expect(t.entryCount).toBe(2);
    expect(t.selfCheck()).toBeNull();
  });

  it('keeps an unconfirmed connection out of the reply direction until confirm', () => {
    const t = table();
    const c = at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 53, UDP, 0, 60);
    expect(c).toBeGreaterThanOrEqual(0);
    expect(t.isConfirmed(c)).toBe(false);
    expect(t.lookup(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 53, UDP)).toBe(c << 1); // later packets of the burst
    expect(t.lookup(ip('198.18.0.1'), ip('10.0.0.1'), 53, 1000, UDP)).toBe(-1);
    expect(at(t, 0).confirm(c)).toBe(true);
    expect(at(t, 0).confirm(c)).toBe(true); // idempotent
    expect(t.lookup(ip('198.18.0.1'), ip('10.0.0.1'), 53, 1000, UDP)).toBe((c << 1) | 1);
    expect(t.counter('created')).toBe(1);
    expect(t.counter('confirmed')).toBe(1);
  });

  it('leaves no entry for a dropped first packet (abort), even after SNAT reserved a reply tuple', () => {
    const t = table();
    const c = at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 80, TCP, SYN, 60);
    expect(t.snat(c, ip('198.19.0.1'))).toBe(0);
    expect(t.lookup(ip('198.18.0.1'), ip('198.19.0.1'), 80, 1000, TCP)).toBe((c << 1) | 1);
    expect(t.abort(c)).toBe(true);
    expect(t.lookup(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 80, TCP)).toBe(-1);
    expect(t.lookup(ip('198.18.0.1'), ip('198.19.0.1'), 80, 1000, TCP)).toBe(-1);
    expect(t.size).toBe(0);
    expect(t.entryCount).toBe(0);
    expect(at(t, 0).confirm(c)).toBe(false); // too late
    expect(t.abort(c)).toBe(false);
    expect(t.counter('aborted')).toBe(1);
    expect(t.selfCheck()).toBeNull();
  });

  it('does not abort a confirmed connection', () => {
    const t = table();
    const c = open(t, '10.0.0.1', '198.18.0.1', 1000, 80, TCP);
    expect(t.abort(c)).toBe(false);
    expect(t.lookup(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 80, TCP)).toBe(c << 1);
  });

  it('answers CT_EXISTS for a tuple already present in either direction', () => {
    const t = table();
    const c = at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 80, TCP, SYN, 60);
    expect(at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 80, TCP, SYN, 60)).toBe(CT_EXISTS);
    at(t, 0).confirm(c);
    expect(at(t, 0).create(ip('198.18.0.1'), ip('10.0.0.1'), 80, 1000, TCP, SYN, 60)).toBe(CT_EXISTS);
    expect(t.counter('create-exists')).toBe(2);
  });

  it('refuses packets that cannot open a connection (CT_INVALID)', () => {
    const t = table();
    for (const f of [FIN, RST, SYN | ACK, 0, FIN | ACK]) {
      expect(at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 80, TCP, f, 40)).toBe(CT_INVALID);
    }
    expect(at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 7, 7, ICMP, 0, 84)).toBe(CT_INVALID); // echo reply
    expect(at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 7, 7, ICMP, 3, 84)).toBe(CT_INVALID); // unreachable
    expect(t.size).toBe(0);
    expect(t.counter('create-invalid')).toBe(7);
  });

  it('tracks any other IP protocol generically (no ports, 600 s)', () => {
    const t = table();
    const c = at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 0, 0, 47, 0, 100);
    expect(at(t, 0).confirm(c)).toBe(true);
    expect(t.expiresAt(c)).toBe(600_000);
    expect(t.lookup(ip('198.18.0.1'), ip('10.0.0.1'), 0, 0, 47)).toBe((c << 1) | 1);
    expect(at(t, 10).update(c, 1, 0, 100)).toBe(UPDATE_ACCEPT);
    expect(t.seenReply(c)).toBe(true);
  });

  it('counts packets and bytes per direction', () => {
    const t = table();
    const c = at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 53, UDP, 0, 70);
    at(t, 0).confirm(c);
    at(t, 1).update(c, 1, 0, 120);
    at(t, 2).update(c, 0, 0, 80);
    at(t, 3).update(c, 1, 0, 500);
    expect([t.packets(c, 0), t.bytes(c, 0), t.packets(c, 1), t.bytes(c, 1)]).toEqual([2, 150, 2, 620]);
  });

  it('keeps a mark per connection', () => {
    const t = table();
    const c = open(t, '10.0.0.1', '198.18.0.1', 1000, 80, TCP);
    expect(t.mark(c)).toBe(0);
    t.setMark(c, 0xdeadbeef);
    expect(t.mark(c) >>> 0).toBe(0xdeadbeef);
  });
});

describe('deletion, capacity and expiry', () => {
  it('deletes without tombstones: a random create/delete churn keeps every probe run intact', () => {
    // A tiny slot array (maxLoad 0.9) and many rounds force long runs that wrap around the array end.
    const t = new ConnTable({ seed: 3, maxConnections: 24, maxLoad: 0.9, reserve: 0 });
    expect(t.slotCount).toBe(64);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 39 })), { maxLength: 400 }), (ops) => {
        t.clear();
        const live = new Map<number, number>(); // key → conn
        for (const [add, k] of ops) {
          if (add && !live.has(k) && t.size < 24) {
            const c = at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 1000 + k, 80, UDP, 0, 60);
            expect(c).toBeGreaterThanOrEqual(0);
            expect(at(t, 0).confirm(c)).toBe(true);
            live.set(k, c);
          } else if (!add && live.has(k)) {
            expect(t.remove(live.get(k)!)).toBe(true);
            live.delete(k);
          }
          at(t, 0).expire(0); // release removed records
        }
        expect(t.selfCheck()).toBeNull();
        for (let k = 0; k < 40; k++) {
          const v = t.lookup(ip('10.0.0.1'), ip('198.18.0.1'), 1000 + k, 80, UDP);
          const w = t.lookup(ip('198.18.0.1'), ip('10.0.0.1'), 80, 1000 + k, UDP);
          if (live.has(k)) {
            expect(v).toBe(live.get(k)! << 1);
            expect(w).toBe((live.get(k)! << 1) | 1);
          } else {
            expect(v).toBe(-1);
            expect(w).toBe(-1);
          }
        }
        expect(t.entryCount).toBe(2 * live.size);
      }),
      { numRuns: 200, seed: 11 },
    );
  });

  it('refuses a new connection when full and nothing can be evicted (all assured)', () => {
    const t = table({ maxConnections: 4, earlyDropWindow: 1 << 20 });
    for (let i = 0; i < 4; i++) {
      const c = open(t, '10.0.0.1', '198.18.0.1', 1000 + i, 80, TCP);
      at(t, 1).update(c, 1, SYN | ACK, 60);
      at(t, 2).update(c, 0, ACK, 52);
      expect(t.isAssured(c)).toBe(true);
    }
    expect(at(t, 3).create(ip('10.0.0.2'), ip('198.18.0.1'), 5000, 80, TCP, SYN, 60)).toBe(CT_FULL);
    expect(t.counter('refused-full')).toBe(1);
    expect(t.counter('early-drop')).toBe(0);
    expect(t.size).toBe(4);
  });

  it('early-drops the unassured connection closest to its timeout when full', () => {
    const t = table({ maxConnections: 3, earlyDropWindow: 1 << 20 });
    const a = open(t, '10.0.0.1', '198.18.0.1', 1000, 53, UDP, 0); // expires at 30 s
    const b = open(t, '10.0.0.1', '198.18.0.1', 1001, 53, UDP, 5000); // 35 s
    const s = open(t, '10.0.0.1', '198.18.0.1', 1002, 80, TCP, 0);
    at(t, 1).update(s, 1, SYN | ACK, 60);
    at(t, 2).update(s, 0, ACK, 52); // assured
    const c = at(t, 6000).create(ip('10.0.0.2'), ip('198.18.0.1'), 2000, 53, UDP, 0, 60);
    expect(c).toBeGreaterThanOrEqual(0);
    expect(t.counter('early-drop')).toBe(1);
    expect(t.isLive(a)).toBe(false);
    expect(t.isLive(b)).toBe(true);
    expect(t.isLive(s)).toBe(true);
    expect(t.lookup(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 53, UDP)).toBe(-1);
    expect(t.selfCheck()).toBeNull();
  });

  it('reaps a timed-out connection instead of evicting a live one when full', () => {
    const t = table({ maxConnections: 2, earlyDropWindow: 1 << 20 });
    open(t, '10.0.0.1', '198.18.0.1', 1000, 53, UDP, 0); // expires at 30 s
    open(t, '10.0.0.1', '198.18.0.1', 1001, 53, UDP, 20_000); // 50 s
    expect(at(t, 40_000).create(ip('10.0.0.2'), ip('198.18.0.1'), 2000, 53, UDP, 0, 60)).toBeGreaterThanOrEqual(0);
    expect(t.counter('expired')).toBe(1);
    expect(t.counter('early-drop')).toBe(0);
  });

  it('only evicts within the window around the new key (Linux early_drop is local too)', () => {
    const t = table({ maxConnections: 64, earlyDropWindow: 1 });
    for (let i = 0; i < 64; i++) open(t, '10.0.0.1', '198.18.0.1', 1000 + i, 53, UDP, 0);
    // With a one-slot window the home slot of the new key must hold an unassured entry to evict; over many keys
    // both outcomes occur, and a refusal never evicts anything.
    let refused = 0;
    let evicted = 0;
    for (let k = 0; k < 200; k++) {
      const before = t.size;
      const c = at(t, 1).create(ip('10.9.0.1'), ip('198.18.0.2'), 3000 + k, 53, UDP, 0, 60);
      if (c === CT_FULL) {
        refused++;
        expect(t.size).toBe(before);
      } else {
        evicted++;
        at(t, 1).confirm(c);
        at(t, 1).expire(0);
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(evicted).toBeGreaterThan(0);
    expect(t.selfCheck()).toBeNull();
  });

  it('expires incrementally: at most `budget` records per call, cursor wraps', () => {
    const t = table({ maxConnections: 100, reserve: 0 });
    for (let i = 0; i < 100; i++) open(t, '10.0.0.1', '198.18.0.1', 1000 + i, 53, UDP, 0);
    expect(at(t, 29_999).expire(1000)).toBe(0); // not yet
    expect(at(t, 30_000).expire(10)).toBe(10); // timeout reached: exactly the budget
    expect(t.size).toBe(90);
    let total = 10;
    let calls = 1;
    while (t.size > 0) {
      total += at(t, 30_000).expire(25);
      calls++;
      expect(calls).toBeLessThan(10);
    }
    expect(total).toBe(100);
    expect(t.counter('expired')).toBe(100);
    expect(t.entryCount).toBe(0);
    expect(t.lookup(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 53, UDP)).toBe(-1);
  });

  it('treats a timed-out but not yet reaped connection as gone (UPDATE_RECREATE)', () => {
    const t = table();
    const c = open(t, '10.0.0.1', '198.18.0.1', 1000, 53, UDP, 0);
    const v = t.lookup(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 53, UDP);
    expect(v).toBe(c << 1);
    expect(at(t, 30_000).update(c, 0, 0, 60)).toBe(UPDATE_RECREATE);
    expect(t.lookup(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 53, UDP)).toBe(-1);
    // its record stays readable until the next expire(), then is reused
    expect(t.origSport(c)).toBe(1000);
    expect(at(t, 30_001).update(c, 0, 0, 60)).toBe(UPDATE_RECREATE);
    at(t, 30_001).expire(0);
    const d = at(t, 30_001).create(ip('10.0.0.1'), ip('198.18.0.1'), 1000, 53, UDP, 0, 60);
    expect(d).toBeGreaterThanOrEqual(0);
  });

  it('keeps killed records until expire() and refuses only when the reserve runs out', () => {
    const t = table({ maxConnections: 2, reserve: 1, earlyDropWindow: 1 << 20 });
    const a = open(t, '10.0.0.1', '198.18.0.1', 1, 53, UDP, 0);
    open(t, '10.0.0.1', '198.18.0.1', 2, 53, UDP, 0);
    t.remove(a);
    expect(at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 3, 53, UDP, 0, 60)).toBeGreaterThanOrEqual(0); // uses the reserve
    const b = t.lookup(ip('10.0.0.1'), ip('198.18.0.1'), 2, 53, UDP) >> 1;
    t.remove(b);
    // a live slot is free but no record until expire() releases the killed ones
    expect(at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 4, 53, UDP, 0, 60)).toBe(CT_FULL);
    at(t, 0).expire(0);
    expect(at(t, 0).create(ip('10.0.0.1'), ip('198.18.0.1'), 4, 53, UDP, 0, 60)).toBeGreaterThanOrEqual(0);
  });
});

describe('lookupBurst', () => {
  // 3000 connections fit in cache (probed key by key); 40000 exceed 2 MB (separate passes).
  it.each([3000, 40000])('gives the same answers as lookup at %i connections, hits, misses, long runs', (n) => {
    const t = new ConnTable({ seed: 5, maxConnections: n + 1000, maxLoad: 0.9 });
    for (let i = 0; i < n; i++)
      open(t, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, '198.18.0.1', 1000 + (i % 50000), 80, TCP);
    const len = 700; // more than one scratch chunk (256)
    const src = new Int32Array(len);
    const dst = new Int32Array(len);
    const ports = new Int32Array(len);
    const proto = new Uint8Array(len);
    for (let k = 0; k < len; k++) {
      const i = (k * 7919) % (n + n / 10); // some beyond n: misses
      const rev = k % 3 === 0;
      const a = ip(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
      src[k] = rev ? ip('198.18.0.1') : a;
      dst[k] = rev ? a : ip('198.18.0.1');
      ports[k] = rev ? packPorts(80, 1000 + (i % 50000)) : packPorts(1000 + (i % 50000), 80);
      proto[k] = k % 50 === 0 ? UDP : TCP;
    }
    const out = new Int32Array(len);
    const hits = t.lookupBurst(src, dst, ports, proto, len, out);
    let expectHits = 0;
    for (let k = 0; k < len; k++) {
      const v = t.find(src[k]!, dst[k]!, ports[k]!, proto[k]!);
      expect(out[k]).toBe(v);
      if (v >= 0) expectHits++;
    }
    expect(hits).toBe(expectHits);
    expect(hits).toBeGreaterThan(400);
    expect(hits).toBeLessThan(len);
  });
});

describe('tuples with equal hashes', () => {
  /** Two tuples differing only in `field` whose 32-bit hashes are equal (birthday search, ~2^16 tries). */
  function collision(t: ConnTable, field: 0 | 1 | 2): [number[], number[]] {
    const base = [ip('10.244.1.5'), ip('198.18.0.100'), packPorts(40000, 80)];
    const seen = new Map<number, number>();
    for (let i = 1; i < 1 << 22; i++) {
      const k = base.slice();
      k[field] = (k[field]! ^ Math.imul(i, 0x9e3779b1)) | 0;
      const h = t.hash(k[0]!, k[1]!, k[2]!, TCP);
      const j = seen.get(h);
      if (j !== undefined) {
        const other = base.slice();
        other[field] = (other[field]! ^ Math.imul(j, 0x9e3779b1)) | 0;
        return [other, k];
      }
      seen.set(h, i);
    }
    throw new Error('no collision found');
  }

  it.each([
    [3000, 0],
    [3000, 1],
    [3000, 2],
    [40000, 0],
    [40000, 1],
    [40000, 2],
  ] as const)('are told apart by the full key (%i connections, field %i)', (n, field) => {
    const t = new ConnTable({ seed: 21, maxConnections: n });
    const [a, b] = collision(t, field);
    expect(t.hash(a[0]!, a[1]!, a[2]!, TCP)).toBe(t.hash(b[0]!, b[1]!, b[2]!, TCP));
    const c = at(t, 0).create(a[0]!, a[1]!, a[2]! >>> 16, a[2]! & 0xffff, TCP, SYN, 60);
    at(t, 0).confirm(c);
    expect(t.find(a[0]!, a[1]!, a[2]!, TCP)).toBe(c << 1);
    expect(t.find(b[0]!, b[1]!, b[2]!, TCP)).toBe(-1);
    const out = new Int32Array(2);
    const hits = t.lookupBurst(
      Int32Array.of(a[0]!, b[0]!),
      Int32Array.of(a[1]!, b[1]!),
      Int32Array.of(a[2]!, b[2]!),
      Uint8Array.of(TCP, TCP),
      2,
      out,
    );
    expect([hits, out[0], out[1]]).toEqual([1, c << 1, -1]);
    // and both can live side by side
    const d = at(t, 0).create(b[0]!, b[1]!, b[2]! >>> 16, b[2]! & 0xffff, TCP, SYN, 60);
    expect(d).toBeGreaterThanOrEqual(0);
    at(t, 0).confirm(d);
    expect(t.find(b[0]!, b[1]!, b[2]!, TCP)).toBe(d << 1);
    t.lookupBurst(
      Int32Array.of(b[0]!, a[0]!),
      Int32Array.of(b[1]!, a[1]!),
      Int32Array.of(b[2]!, a[2]!),
      Uint8Array.of(TCP, TCP),
      2,
      out,
    );
    expect([out[0], out[1]]).toEqual([d << 1, c << 1]);
    expect(t.selfCheck()).toBeNull();
  });
});

describe('configuration', () => {
  it('rejects impossible options with one clear error', () => {
    expect(() => new ConnTable({ maxConnections: 0 })).toThrow(/maxConnections/);
    expect(() => new ConnTable({ maxLoad: 1 })).toThrow(/maxLoad/);
    expect(() => new ConnTable({ portRange: [2000, 1000] })).toThrow(/portRange/);
    expect(() => new ConnTable({ timeouts: { udp: -1 } })).toThrow(/udp/);
  });

  it('sizes the slot array as a power of two at or under the maximum load', () => {
    const t = new ConnTable({ maxConnections: 1000, reserve: 24, maxLoad: 0.75 });
    expect(t.slotCount).toBe(4096); // 2 × 1024 / 0.75 = 2731 → 4096
    expect(t.recordCount).toBe(1024);
    expect(t.memoryBytes()).toBeGreaterThan(0);
  });
});
