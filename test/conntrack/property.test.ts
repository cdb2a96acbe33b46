/**
 * Properties over many connections:
 * - 1 M random connections through create → snat → confirm, many of them sharing one egress IP and one
 *   destination (that group is pushed into exhaustion): no reply tuple is ever shared, every reply maps back to
 *   its origin, and each binding decision matches an independent model of Linux's rule (reuse the source's
 *   newest binding if free, else keep the port if free, else a free port of the port's class); only the
 *   overloaded group ever exhausts. (It starts refusing at about 60 % overall use, not 100 %: kept ports fill the
 *   ephemeral block 32768–60999 solid, and Linux's search tries runs of consecutive ports from random offsets,
 *   so it fails whenever all five runs start inside that block — the same in the kernel, see README.)
 * - Random operation sequences (create, snat, confirm, abort, update, remove, expire) keep the table
 *   consistent: every live connection is found in both directions, nothing else is.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CT_EXISTS, ConnTable, SNAT_EXHAUSTED, SNAT_OK, UPDATE_RECREATE } from '../../conntrack/index.js';
import { ACK, ICMP, SYN, TCP, UDP, ip, at } from './helpers.js';

const NATS = [ip('198.19.0.1'), ip('198.19.0.2'), ip('198.19.0.3'), ip('198.19.0.4')];
const DSTS = Array.from({ length: 8 }, (_, i) => ip(`198.18.0.${10 + i}`));
const PROTOS = [TCP, UDP, ICMP];

/** Deterministic generator (xorshift32), independent of the table's PRNG. */
function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

function classOf(proto: number, sport: number): [number, number] {
  if (proto === ICMP) return [0, 65535];
  if (sport < 512) return [1, 511];
  if (sport < 1024) return [600, 1023];
  return [1024, 65535];
}

describe('1 M connections', () => {
  it('never share a reply tuple, map every reply back, and bind like Linux would', () => {
    const N = 1_000_000;
    const HOT_EVERY = 14; // every 14th connection (71 429) goes to one group that has only 64512 ports
    const t = new ConnTable({ seed: 2024, maxConnections: N + 1000 });
    const next = rng(77);
    // Independent model: taken reply tuples and the newest binding per (source, sport, proto, egress IP).
    const taken = new Set<number>();
    const newest = new Map<number, number>();
    const groupUsed = new Map<number, number>();
    const conns = new Int32Array(N);
    const fails: string[] = [];
    const check = (ok: boolean, what: () => string): void => {
      if (!ok && fails.length < 10) fails.push(what());
    };
    const hotGroup = ((0 * 4 + 0) * 65536 + 443) * 3 + 0;
    let live = 0;
    let exhausted = 0;
    let reused = 0;
    let kept = 0;
    let remapped = 0;
    const replyKey = (dstIdx: number, natIdx: number, dport: number, port: number, protoIdx: number): number =>
      (((dstIdx * 4 + natIdx) * 65536 + dport) * 65536 + port) * 3 + protoIdx;
    const groupKey = (dstIdx: number, natIdx: number, dport: number, protoIdx: number): number =>
      ((dstIdx * 4 + natIdx) * 65536 + dport) * 3 + protoIdx;
    let hotTried = 0;
    let firstExhaustFill = -1;
    for (let k = 0; k < N; k++) {
      const hot = k % HOT_EVERY === 0;
      if (hot) hotTried++;
      const natIdx = hot ? 0 : next() & 3;
      const dstIdx = hot ? 0 : next() & 7;
      const protoIdx = hot ? 0 : next() % 3;
      const proto = PROTOS[protoIdx]!;
      const pod = 0x0af40000 | (next() & 0xffff) | 0; // 10.244.0.0/16
      // Mostly Linux ephemeral ports, some privileged ones to exercise the classes.
      const r = next();
      let sport = r % 100 === 0 ? 1 + (r % 1023) : 32768 + (r % 28232);
      let dport = hot ? 443 : [80, 443][next() & 1]!;
      if (proto === ICMP) dport = sport = 1 + (r % 65535);
      const c = at(t, 0).create(
        pod,
        DSTS[dstIdx]!,
        sport,
        dport,
        proto,
        proto === TCP ? SYN : proto === ICMP ? 8 : 0,
        60,
      );
      if (c === CT_EXISTS) continue; // the generator repeated an original tuple
      check(c >= 0, () => `create ${k}: ${c}`);
      const nat = NATS[natIdx]!;
      const modelDport = proto === ICMP ? 0 : dport;
      const gk = groupKey(dstIdx, natIdx, modelDport, protoIdx);
      const srcKey = ((pod >>> 0) * 65536 + sport) * 3 + protoIdx;
      const prior = newest.get(srcKey * 4 + natIdx);
      const res = t.snat(c, nat);
      if (res === SNAT_EXHAUSTED) {
        exhausted++;
        const [lo, hi] = classOf(proto, sport);
        const fill = (groupUsed.get(gk) ?? 0) / (hi - lo + 1);
        check(gk === hotGroup && fill > 0.5, () => `exhausted at fill ${fill} in group ${gk}`);
        if (firstExhaustFill < 0) firstExhaustFill = fill;
        check(t.abort(c), () => `abort ${c}`);
        continue;
      }
      check(res === SNAT_OK && at(t, 0).confirm(c), () => `snat/confirm ${k}: ${res}`);
      const port = t.natPort(c);
      const key = replyKey(dstIdx, natIdx, modelDport, port, protoIdx);
      const free = (p: number): boolean => !taken.has(replyKey(dstIdx, natIdx, modelDport, p, protoIdx));
      if (prior !== undefined && free(prior)) {
        check(port === prior, () => `${k}: expected reuse of ${prior}, got ${port}`);
        reused++;
      } else if (free(sport)) {
        check(port === sport, () => `${k}: expected kept ${sport}, got ${port}`);
        kept++;
      } else {
        const [lo, hi] = classOf(proto, sport);
        check(port >= lo && port <= hi && free(port), () => `${k}: remapped ${sport} to ${port}`);
        remapped++;
      }
      taken.add(key);
      newest.set(srcKey * 4 + natIdx, port);
      groupUsed.set(gk, (groupUsed.get(gk) ?? 0) + 1);
      conns[live++] = c;
    }
    expect(fails).toEqual([]);
    console.log(
      `1M property: live=${live} kept=${kept} remapped=${remapped} reused=${reused} exhausted=${exhausted} ` +
        `(hot group: ${hotTried} tried, first refusal at ${(firstExhaustFill * 100).toFixed(1)} % of 64512, ` +
        `${groupUsed.get(hotGroup) ?? 0} bound in the end, all port classes)`,
    );
    expect(live).toBeGreaterThan(N - 40_000);
    expect(exhausted).toBeGreaterThan(hotTried - 64512 - 1);
    expect(remapped).toBeGreaterThan(100_000);
    expect(kept).toBeGreaterThan(500_000);
    expect(reused).toBeGreaterThan(0);
    expect(t.counter('snat-exhausted')).toBe(exhausted);
    expect(t.size).toBe(live);

    // Every connection is found from both sides and translates back to its origin; no reply tuple is shared.
    const keys = new Float64Array(live);
    for (let i = 0; i < live; i++) {
      const c = conns[i]!;
      const proto = t.proto(c);
      const o = t.lookup(t.origSrc(c), t.origDst(c), t.origSport(c), t.origDport(c), proto);
      check(o === c << 1, () => `orig of ${c}: ${o}`);
      const rp = proto === ICMP ? t.natPort(c) : t.origDport(c);
      const v = t.lookup(t.origDst(c), t.natIp(c), rp, t.natPort(c), proto);
      check(v === ((c << 1) | 1), () => `reply of ${c}: ${v}`);
      check(t.rewriteAddr(c, 1) === t.origSrc(c) && t.rewritePort(c, 1) === t.origSport(c), () => `back ${c}`);
      keys[i] = replyKey(
        DSTS.indexOf(t.origDst(c)),
        NATS.indexOf(t.natIp(c)),
        proto === ICMP ? 0 : t.origDport(c),
        t.natPort(c),
        PROTOS.indexOf(proto),
      );
    }
    expect(fails).toEqual([]);
    keys.sort();
    let dup = 0;
    for (let i = 1; i < live; i++) if (keys[i] === keys[i - 1]) dup++;
    expect(dup).toBe(0);
  }, 120_000);
});

describe('random operation sequences', () => {
  type Op =
    | { k: 'create'; src: number; sport: number; proto: number; nat: boolean }
    | { k: 'confirm' | 'abort' | 'remove'; i: number }
    | { k: 'update'; i: number; dir: number; flags: number; dt: number }
    | { k: 'expire'; dt: number; budget: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      k: fc.constant('create' as const),
      src: fc.integer({ min: 1, max: 6 }),
      sport: fc.integer({ min: 1, max: 4 }),
      proto: fc.constantFrom(TCP, UDP, ICMP),
      nat: fc.boolean(),
    }),
    fc.record({ k: fc.constantFrom('confirm' as const, 'abort' as const, 'remove' as const), i: fc.nat(40) }),
    fc.record({
      k: fc.constant('update' as const),
      i: fc.nat(40),
      dir: fc.integer({ min: 0, max: 1 }),
      flags: fc.constantFrom(SYN, SYN | ACK, ACK, 0x11, 0x04, 0, 8),
      dt: fc.integer({ min: 0, max: 40_000 }),
    }),
    fc.record({ k: fc.constant('expire' as const), dt: fc.integer({ min: 0, max: 200_000 }), budget: fc.nat(50) }),
  );

  it('keep the table consistent with what is live', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        // Few tuples and a tiny port range so collisions, exhaustion and early drop all happen.
        const t = new ConnTable({ seed: 1, maxConnections: 12, reserve: 64, portRange: [1, 6], earlyDropWindow: 8 });
        const made: number[] = [];
        let now = 0;
        for (const o of ops) {
          if (o.k === 'create') {
            const flags = o.proto === TCP ? SYN : o.proto === ICMP ? 8 : 0;
            const c = at(t, now).create(
              ip(`198.18.1.${o.src}`),
              ip('198.18.0.1'),
              o.sport,
              o.proto === ICMP ? o.sport : 80,
              o.proto,
              flags,
              60,
            );
            if (c >= 0) {
              made.push(c);
              if (o.nat && t.snat(c, ip('198.19.0.1')) !== SNAT_OK) t.abort(c);
            }
          } else if (o.k === 'update') {
            const c = made[o.i % Math.max(1, made.length)];
            now += o.dt;
            if (c !== undefined && t.isLive(c) && at(t, now).update(c, o.dir, o.flags, 40) === UPDATE_RECREATE) {
              expect(t.isLive(c)).toBe(false);
            }
          } else if (o.k === 'expire') {
            now += o.dt;
            at(t, now).expire(o.budget);
            made.length = 0; // records may be reused now: forget indices, as the datapath does after a burst
          } else {
            const c = made[o.i % Math.max(1, made.length)];
            if (c !== undefined) t[o.k](c);
          }
          expect(t.selfCheck()).toBeNull();
          expect(t.size).toBeLessThanOrEqual(12);
        }
        // Every live connection is reachable from both of its tuples (confirmed) or its original (unconfirmed).
        for (let c = 0; c < t.recordCount; c++) {
          if (!t.isLive(c)) continue;
          expect(t.lookup(t.origSrc(c), t.origDst(c), t.origSport(c), t.origDport(c), t.proto(c))).toBe(c << 1);
          if (t.isConfirmed(c)) {
            expect(t.lookup(t.replySrc(c), t.replyDst(c), t.replySport(c), t.replyDport(c), t.proto(c))).toBe(
              (c << 1) | 1,
            );
          }
        }
      }),
      { numRuns: 300, seed: 4242 },
    );
  });
});
