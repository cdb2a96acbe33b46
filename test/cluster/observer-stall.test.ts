/**
 * Membership never declares a peer dead because the observer stalled (issue 11): a peer's silence is judged only
 * over the time the observer ran. Two Memberships exchange heartbeats by hand on an injected clock; the observer
 * `a` is stalled (one 2 s gap, then a run of late timers), and the datagrams `b` sent meanwhile are handed to `a`
 * only after `a`'s overdue tick (the worst order). Then `b` really stops: `a` declares it dead, after the stalls.
 */
import { describe, expect, it } from 'vitest';
import { Membership, type MembershipEvent } from '../../engine/cluster/index.js';
import { ipOf, TEST_KEY } from './sim.js';

const INTERVAL = 50;
const DEAD_AFTER = 500;

function pair(): { a: Membership; b: Membership } {
  const cfg = (self: string, peer: string) => ({
    self: { name: self, ip: ipOf(self === 'a' ? 1 : 2) },
    peers: [{ name: peer, ip: ipOf(peer === 'a' ? 1 : 2) }],
    key: TEST_KEY,
    incarnation: 1,
    intervalMs: INTERVAL,
    deadAfterMs: DEAD_AFTER,
  });
  return { a: new Membership(cfg('a', 'b'), 0), b: new Membership(cfg('b', 'a'), 0) };
}

describe('membership: the observer stalls, the peer does not', () => {
  it('a 2 s stall and a run of late timers: no death; a real silence: death, in that order', () => {
    const { a, b } = pair();
    const log: Array<{ t: number; what: string }> = [];
    const note = (t: number, evs: readonly MembershipEvent[]) => {
      for (const e of evs) log.push({ t, what: e.type === 'dead' ? `dead ${e.node}` : e.type });
    };
    let bRuns = true;
    /** b's heartbeats not yet handed to a (a's loop has not read them). */
    const queued: Uint8Array[] = [];
    const bStep = (t: number) => {
      if (!bRuns) return;
      const r = b.tick(t);
      for (const o of r.send) queued.push(o.payload);
    };
    const aTick = (t: number) => {
      const r = a.tick(t);
      note(t, r.events);
      for (const o of r.send) b.receive(ipOf(1), o.payload, t);
    };
    const aDrain = (t: number) => {
      for (const p of queued.splice(0)) note(t, a.receive(ipOf(2), p, t).events);
    };
    // b runs every 10 ms throughout; a observes at its own (possibly late) times, tick before drain.
    let t = 0;
    const advanceB = (to: number) => {
      for (; t < to; t += 10) bStep(t);
    };
    const aAt = (time: number) => {
      advanceB(time);
      aTick(time);
      aDrain(time);
    };
    for (let s = 0; s <= 1000; s += 10) aAt(s); // both settled
    expect([...a.alive()].sort()).toEqual(['a', 'b']);
    // 1. The observer's loop blocks for 2 s (b keeps sending; a sees it all only afterwards).
    aAt(3000);
    log.push({ t: 3000, what: 'after 2 s stall' });
    // 2. Late timers for 3 s: every call 190 ms after the last (under the pause threshold), and a's loop reads the
    //    uplink only every third call, so 570 ms pass between two batches of b's heartbeats.
    let s = 3000;
    for (let k = 1; k <= 16; k++) {
      s += 190;
      advanceB(s);
      aTick(s);
      if (k % 3 === 0) aDrain(s);
    }
    aDrain(s);
    log.push({ t: s, what: 'after late timers' });
    expect([...a.alive()].sort()).toEqual(['a', 'b']);
    // 3. b really stops; a runs normally and declares it dead, DEAD_AFTER after b's last heartbeat at the earliest.
    bRuns = false;
    const stopAt = s;
    for (let u = s + 10; u <= s + 2000; u += 10) aAt(u);
    const deaths = log.filter((l) => l.what === 'dead b');
    expect(log.map((l) => l.what).filter((w) => w.startsWith('dead') || w.startsWith('after'))).toEqual([
      'after 2 s stall',
      'after late timers',
      'dead b',
    ]);
    expect(deaths[0]!.t).toBeGreaterThanOrEqual(stopAt + DEAD_AFTER - 10);
    expect(deaths[0]!.t).toBeLessThanOrEqual(stopAt + DEAD_AFTER + 2 * INTERVAL);
    expect(a.alive().has('b')).toBe(false);
  });

  it('late calls: only the time up to lateAfterMs of each gap counts; on-time calls count in full', () => {
    // Settle a and b, then give a nothing from b: 3 late calls (190 ms apart) are 570 ms of wall time but
    // 3 × lateAfterMs = 300 ms of observer time: no death. 6 on-time calls 100 ms apart (600 ms): death.
    const run = (gap: number, calls: number): string[] => {
      const { a, b } = pair();
      for (let t = 0; t <= 1000; t += 10) {
        for (const o of a.tick(t).send) b.receive(ipOf(1), o.payload, t);
        for (const o of b.tick(t).send) a.receive(ipOf(2), o.payload, t);
      }
      const dead: string[] = [];
      let t = 1000;
      for (let k = 0; k < calls; k++) {
        t += gap;
        for (const e of a.tick(t).events) if (e.type === 'dead' || e.type === 'paused') dead.push(e.type);
      }
      return dead;
    };
    expect(pair().a.lateAfterMs).toBe(2 * INTERVAL);
    expect(run(190, 3)).toEqual([]);
    expect(run(100, 6)).toEqual(['dead']);
  });
});
