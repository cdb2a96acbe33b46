/**
 * Replication (conntrack/replicate.ts): a connection exported from one table and imported into another (another
 * seed, so another hash layout and other port offsets) is translated the same way in both directions, keeps its
 * state, and holds its binding so no new connection can take its port.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConnTable,
  exportReplica,
  exportReplicas,
  importReplica,
  ImportCounts,
  IMPORT_CLASH,
  IMPORT_EXPIRED,
  IMPORT_FULL,
  IMPORT_INSTALLED,
  IMPORT_REFRESHED,
  TCP_ESTABLISHED,
  UPDATE_ACCEPT,
} from '../../conntrack/index.js';
import { ACK, at, ICMP, ip, SYN, TCP, UDP } from './helpers.js';
import { establish, seg, translation } from './replica-helpers.js';

const EGRESS = ip('198.18.0.50');

describe('replication', () => {
  it('export → import gives the same translation both ways (property)', () => {
    const conn = fc.record({
      pod: fc.integer({ min: 1, max: 30 }),
      dst: fc.integer({ min: 1, max: 4 }),
      sport: fc.integer({ min: 1024, max: 1100 }),
      dport: fc.constantFrom(53, 80, 443),
      proto: fc.constantFrom(TCP, UDP, ICMP),
    });
    fc.assert(
      fc.property(fc.array(conn, { minLength: 1, maxLength: 60 }), fc.integer(), (conns, seed) => {
        const a = new ConnTable({ seed, maxConnections: 256 });
        const b = new ConnTable({ seed: seed ^ 0x1234567, maxConnections: 256 });
        const made: Array<[number, number, number, number, number]> = [];
        for (const x of conns) {
          const src = ip(`10.10.1.${x.pod}`);
          const dst = ip(`198.18.1.${x.dst}`);
          if (a.lookup(src, dst, x.sport, x.proto === ICMP ? x.sport : x.dport, x.proto) >= 0) continue;
          establish(a, src, dst, x.sport, x.dport, x.proto, 1000);
          made.push([src, dst, x.sport, x.dport, x.proto]);
        }
        a.setTime(5000);
        b.setTime(90_000); // another clock: times travel as remaining timeout and age
        const counts = new ImportCounts();
        for (const r of exportReplicas(a, new Set([EGRESS]))) counts.add(importReplica(b, r));
        expect(counts.get('installed')).toBe(made.length);
        expect(b.selfCheck()).toBeNull();
        for (const m of made) {
          expect(translation(b, ...m)).toEqual(translation(a, ...m));
          const ca = a.lookup(m[0], m[1], m[2], m[4] === ICMP ? m[2] : m[3], m[4]) >> 1;
          const cb = b.lookup(m[0], m[1], m[2], m[4] === ICMP ? m[2] : m[3], m[4]) >> 1;
          expect(b.expiresAt(cb) - b.time).toBe(a.expiresAt(ca) - a.time);
          expect(b.time - b.createdAt(cb)).toBe(a.time - a.createdAt(ca));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('the binding is reserved: a new connection cannot take its port', () => {
    const a = new ConnTable({ seed: 1 });
    const b = new ConnTable({ seed: 2 });
    const dst = ip('198.18.1.1');
    const c = establish(a, ip('10.10.1.5'), dst, 40000, 80, TCP, 0);
    expect(a.natPort(c)).toBe(40000); // the source port kept
    expect(importReplica(b, exportReplica(a, c)!)).toBe(IMPORT_INSTALLED);
    // Another pod with the same source port to the same destination: port 40000 of the egress IP is taken.
    b.setTime(10);
    const n = b.create(ip('10.10.2.7'), dst, 40000, 80, TCP, SYN, 60);
    expect(b.snat(n, EGRESS)).toBe(0);
    expect(b.natPort(n)).not.toBe(40000);
    expect(b.confirm(n)).toBe(true);
    expect(b.selfCheck()).toBeNull();
  });

  it('refreshes a connection it has, refuses a clash and an expired replica, counts a full table', () => {
    const a = new ConnTable({ seed: 1 });
    const dst = ip('198.18.1.1');
    const c = establish(a, ip('10.10.1.5'), dst, 40000, 80, TCP, 0);
    const r = exportReplica(a, c)!;
    const b = new ConnTable({ seed: 2, maxConnections: 1, reserve: 0 });
    expect(importReplica(b, r)).toBe(IMPORT_INSTALLED);
    expect(importReplica(b, { ...r, timeoutMs: 10_000 })).toBe(IMPORT_REFRESHED);
    const cb = b.lookup(r.src, r.dst, r.sport, r.dport, TCP) >> 1;
    expect(b.expiresAt(cb)).toBe(b.time + 10_000);
    expect(importReplica(b, { ...r, natPort: 41000 })).toBe(IMPORT_CLASH); // same tuple, another binding
    expect(importReplica(b, { ...r, timeoutMs: 0, sport: 1 })).toBe(IMPORT_EXPIRED);
    const before = b.counter('refused-full');
    expect(importReplica(b, { ...r, sport: 40001, natPort: 40001 })).toBe(IMPORT_FULL); // the only slot is assured
    expect(b.counter('refused-full')).toBe(before + 1);
    expect(b.size).toBe(1);
    expect(b.selfCheck()).toBeNull();
  });

  it('an installed TCP connection goes on: in-window data is accepted, state is ESTABLISHED and assured', () => {
    const a = new ConnTable({ seed: 1 });
    const b = new ConnTable({ seed: 2 });
    const src = ip('10.10.1.5');
    const dst = ip('198.18.1.1');
    const c = establish(a, src, dst, 40000, 80, TCP, 0);
    importReplica(b, exportReplica(a, c)!);
    const v = b.lookup(src, dst, 40000, 80, TCP);
    const cb = v >> 1;
    expect([b.state(cb), b.isAssured(cb), b.seenReply(cb)]).toEqual([TCP_ESTABLISHED, true, true]);
    at(b, 100);
    expect(seg(b, 1101, 5001, 502, 100).update(cb, 0, ACK, 152)).toBe(UPDATE_ACCEPT);
    // Far ahead of the replicated window (the sync lagged the traffic): accepted liberally, counted.
    const lib = b.counter('tcp-window-liberal');
    expect(seg(b, 5001 + 3_000_000, 1201, 509, 100).update(cb, 1, ACK, 152)).toBe(UPDATE_ACCEPT);
    expect(b.counter('tcp-window-liberal')).toBe(lib + 1);
    // Without `liberal`, the same segment against the replicated window is out of window.
    const strict = new ConnTable({ seed: 3 });
    importReplica(strict, exportReplica(a, c)!, false);
    const cs = strict.lookup(src, dst, 40000, 80, TCP) >> 1;
    expect(seg(strict, 5001 + 3_000_000, 1201, 509, 100).update(cs, 1, ACK, 152)).toBe(2); // UPDATE_INVALID
  });
});
