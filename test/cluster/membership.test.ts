/**
 * Membership in simulated time (test/cluster/sim.ts): 3 nodes on a lossless or lossy LAN, freezes, restarts,
 * partitions, forged and replayed datagrams. Detection-time tables are printed.
 */
import { describe, expect, it } from 'vitest';
import {
  encodeHeartbeat,
  makeKey,
  Membership,
  membershipConfigProblem,
  verdictName,
  type MembershipConfig,
  type MembershipEvent,
} from '../../engine/cluster/index.js';
import { ipOf, SimNet, stats, TEST_KEY } from './sim.js';

const ABC = ['a', 'b', 'c'] as const;
const INTERVAL = 50;
const DEAD_AFTER = 500;

function aliveOf(net: SimNet, n: string): string[] {
  return [...net.node(n).alive()].sort();
}

function deadEvents(net: SimNet, observer?: string): { node: string; dead: string; at: number; reason: string }[] {
  return net.events(observer, 'dead').map((e) => ({
    node: e.node,
    dead: (e.ev as { node: string }).node,
    at: e.ev.at,
    reason: (e.ev as { reason: string }).reason,
  }));
}

/** A started, settled 3-node cluster. */
function started(opts: Partial<ConstructorParameters<typeof SimNet>[0]> = {}): SimNet {
  const net = new SimNet({ names: ABC, ...opts });
  net.run(1000);
  return net;
}

describe('membership: start', () => {
  it('three nodes confirm each other, settle within a few intervals and agree on the view', () => {
    const net = new SimNet({ names: ABC, seed: 3 });
    net.run(1000);
    for (const n of ABC) {
      const m = net.node(n);
      expect(aliveOf(net, n)).toEqual(['a', 'b', 'c']);
      expect(m.peers().map((p) => p.state)).toEqual(['alive', 'alive']);
      expect(m.peers().every((p) => p.seesMe)).toBe(true);
      expect(m.converged()).toBe(true);
      const settled = net.events(n, 'settled');
      expect(settled.length).toBe(1);
      expect(settled[0]!.ev).toMatchObject({ reason: 'acked' });
      expect(settled[0]!.ev.at - 10_000).toBeLessThanOrEqual(3 * INTERVAL + 20);
      // Only the handshake's first datagrams lack the echo; nothing is rejected.
      const c = m.counters.snapshot();
      expect(c['rx-unconfirmed']).toBeLessThanOrEqual(2);
      expect(c['rx-ok']).toBeGreaterThan(30);
      for (const k of Object.keys(c))
        if (k.startsWith('rx-') && !['rx-ok', 'rx-unconfirmed'].includes(k)) expect(c[k], k).toBe(0);
      // 20 heartbeats per second per peer.
      expect(c['tx-heartbeats']).toBeGreaterThanOrEqual(2 * 20);
      expect(c['tx-heartbeats']).toBeLessThanOrEqual(2 * 21);
    }
    expect(net.events(undefined, 'dead')).toEqual([]);
    expect(net.events(undefined, 'revived-by')).toEqual([]);
  });

  it('a peer that never starts is dead after the grace period, and the others settle by timeout', () => {
    const net = new SimNet({ names: ABC, seed: 4 });
    net.freeze('c');
    net.run(1000);
    expect(aliveOf(net, 'a')).toEqual(['a', 'b']);
    const d = deadEvents(net, 'a');
    expect(d).toHaveLength(1);
    expect(d[0]!.at - 10_000).toBeGreaterThanOrEqual(DEAD_AFTER);
    expect(d[0]!.at - 10_000).toBeLessThan(DEAD_AFTER + 10 + 1);
    const s = net.events('a', 'settled');
    expect(s).toHaveLength(1);
    expect(s[0]!.ev.at - 10_000).toBeGreaterThanOrEqual(DEAD_AFTER); // waits for c until its grace ends
    expect(s[0]!.ev.at - 10_000).toBeLessThan(DEAD_AFTER + 10 + 1);
  });

  it('is deterministic: the same seed gives the same event log', () => {
    const run = () => {
      const net = new SimNet({ names: ABC, seed: 9, loss: 0.2 });
      net.run(500);
      net.freeze('b');
      net.run(2000);
      net.unfreeze('b');
      net.run(500);
      return JSON.stringify(net.log);
    };
    expect(run()).toBe(run());
  });
});

describe('membership: freeze and resume', () => {
  for (const tickMs of [10, INTERVAL]) {
    it(`the others mark a frozen node dead deadAfter..deadAfter+interval after its last heartbeat (tick ${tickMs} ms)`, () => {
      const net = started({ seed: 5, tickMs });
      const t0 = net.now + 7;
      net.runUntil(t0);
      net.freeze('c');
      net.run(3000);
      for (const o of ['a', 'b']) {
        const d = deadEvents(net, o);
        expect(d).toEqual([{ node: o, dead: 'c', at: d[0]!.at, reason: 'silent' }]);
        const since = d[0]!.at - net.lastSent.get(`c>${o}`)!;
        expect(since).toBeGreaterThanOrEqual(DEAD_AFTER);
        expect(since).toBeLessThanOrEqual(DEAD_AFTER + INTERVAL);
        expect(aliveOf(net, o)).toEqual(['a', 'b']);
      }
      // Resume: alive again within one interval, no flapping anywhere.
      const resumeAt = net.now;
      net.unfreeze('c');
      net.run(1000);
      for (const o of ['a', 'b']) {
        const back = net.events(o, 'alive');
        expect(back).toHaveLength(1);
        expect(back[0]!.ev.at - resumeAt).toBeLessThanOrEqual(INTERVAL);
        expect(aliveOf(net, o)).toEqual(['a', 'b', 'c']);
      }
      expect(deadEvents(net, 'c')).toEqual([]);
      const paused = net.events('c', 'paused');
      expect(paused).toHaveLength(1);
      expect((paused[0]!.ev as { gapMs: number }).gapMs).toBeGreaterThanOrEqual(3000);
      // c learns that a and b had declared it dead (re-announce its IPs), then settles.
      expect(
        net
          .events('c', 'revived-by')
          .map((e) => (e.ev as { node: string }).node)
          .sort(),
      ).toEqual(['a', 'b']);
      const settled = net.events('c', 'settled');
      expect(settled).toHaveLength(2); // at start, and after the pause
      expect(settled[1]!.ev).toMatchObject({ reason: 'acked' });
      expect(settled[1]!.ev.at).toBeGreaterThan(resumeAt);
      expect(settled[1]!.ev.at - resumeAt).toBeLessThanOrEqual(3 * INTERVAL);
      // a and b were never dropped by c: they do not re-announce.
      expect(net.events('a', 'revived-by')).toEqual([]);
      expect(net.events('b', 'revived-by')).toEqual([]);
      for (const n of ABC) expect(net.node(n).converged()).toBe(true);
    });
  }

  it('a long freeze with the socket backlog delivered after the first tick does not flap the frozen node', () => {
    const net = started({ seed: 6, frozenInbox: 'queue' });
    net.freeze('a');
    net.run(10_000);
    net.unfreeze('a');
    net.run(1000);
    expect(deadEvents(net, 'a')).toEqual([]);
    expect(net.events('a', 'alive')).toEqual([]);
    expect(aliveOf(net, 'a')).toEqual(['a', 'b', 'c']);
    expect(net.node('a').counters.get('rx-ok')).toBeGreaterThan(0);
  });

  it('a short stall of the event loop (GC, 300 ms) is a pause, not a reason to kill peers', () => {
    const net = started({ seed: 12, frozenInbox: 'queue' });
    // b is silent 450 ms before a stalls for 300 ms: without the pause rule a would kill b on its first tick.
    net.freeze('b');
    net.run(450);
    net.freeze('a');
    net.unfreeze('b');
    net.run(300);
    net.unfreeze('a');
    net.run(500);
    expect(deadEvents(net, 'a')).toEqual([]);
    expect(net.events('a', 'paused')).toHaveLength(1);
    expect(deadEvents(net, 'c')).toEqual([]); // 450 ms < 500 ms
  });
});

describe('membership: loss', () => {
  it('1 in 3 heartbeats lost (seeded, 20 runs × 30 s) causes no false death with the defaults', () => {
    const rows: string[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const net = new SimNet({ names: ABC, seed, loss: 1 / 3 });
      net.run(30_000);
      expect(deadEvents(net), `seed ${seed}`).toEqual([]);
      const p = net.node('a').peers()[0]!;
      if (seed <= 3) rows.push(`seed ${seed}: a←b loss estimate ${p.loss.toFixed(3)}, timeout ${p.timeoutMs} ms`);
      for (const n of ABC) expect(aliveOf(net, n)).toEqual(['a', 'b', 'c']);
    }
    console.log(`[cluster] 1/3 loss, 20 × 30 s, 3 nodes: 0 false deaths\n  ${rows.join('\n  ')}`);
  });

  it('with 100 ms / 500 ms and no adaptation the same loss flaps; adaptation alone fixes that too', () => {
    const fixed = new SimNet({ names: ABC, seed: 1, loss: 1 / 3, config: { intervalMs: 100, maxDeadAfterMs: 500 } });
    fixed.run(60_000);
    const adaptive = new SimNet({ names: ABC, seed: 1, loss: 1 / 3, config: { intervalMs: 100 } });
    adaptive.run(60_000);
    console.log(
      `[cluster] 1/3 loss, 60 s, interval 100: fixed 500 ms timeout → ${deadEvents(fixed).length} false deaths; adaptive → ${deadEvents(adaptive).length}`,
    );
    expect(deadEvents(fixed).length).toBeGreaterThan(5);
    expect(deadEvents(adaptive).length).toBeLessThan(deadEvents(fixed).length / 5);
  });
});

describe('membership: forged, replayed and misaddressed heartbeats', () => {
  it('count and change nothing', () => {
    const net = started({ seed: 7 });
    const a = net.node('a');
    const before = JSON.stringify(a.peers());
    const fromB = net.wire.filter((d) => d.from === 'b' && d.to === 'a');
    const fromBtoC = net.wire.find((d) => d.from === 'b' && d.to === 'c')!;
    const last = fromB[fromB.length - 1]!;
    const wrongKey = makeKey(new Uint8Array(32).map((_, i) => 255 - i));
    const forge = (over: object, key = TEST_KEY) =>
      encodeHeartbeat(
        {
          flags: 1,
          revivals: 0,
          incarnation: a.peers()[0]!.incarnation,
          counter: 1e9,
          echo: a.incarnation,
          dstIp: ipOf(0),
          intervalMs: 50,
          viewSize: 3,
          viewDigest: 0,
          name: 'b',
          ...over,
        },
        key,
      );
    const cases: [string, number, Uint8Array][] = [
      ['unknown-key', ipOf(1), forge({}, wrongKey)],
      [
        'bad-mac',
        ipOf(1),
        (() => {
          const p = forge({});
          p[20] ^= 1;
          return p;
        })(),
      ],
      ['replayed', ipOf(1), last.payload],
      ['replayed', ipOf(1), fromB[3]!.payload],
      ['stale-incarnation', ipOf(1), forge({ incarnation: 5 })],
      ['wrong-source', ipOf(2), forge({})], // claims b, comes from c's IP
      ['wrong-destination', ipOf(1), fromBtoC.payload], // b→c datagram replayed to a
      ['unknown-node', ipOf(7), forge({ name: 'mallory' })],
      ['from-self', ipOf(0), forge({ name: 'a' })],
      ['truncated', ipOf(1), last.payload.subarray(0, 30)],
      ['bad-magic', ipOf(1), new Uint8Array(100)],
    ];
    for (const [want, src, payload] of cases) {
      const r = net.inject('a', src, payload);
      expect(verdictName(r.verdict), want).toBe(want);
      expect(r.events).toEqual([]);
    }
    expect(JSON.stringify(a.peers())).toBe(before);
    const c = a.counters.snapshot();
    expect(c['rx-replayed']).toBe(2);
    expect(c['rx-unknown-key'] + c['rx-bad-mac'] + c['rx-wrong-source'] + c['rx-wrong-destination']).toBe(4);
  });

  it('forged heartbeats cannot keep a dead node alive', () => {
    const net = started({ seed: 8 });
    net.freeze('c');
    const forged = encodeHeartbeat(
      {
        flags: 1,
        revivals: 0,
        incarnation: 9e12,
        counter: 1,
        echo: net.node('a').incarnation,
        dstIp: ipOf(0),
        intervalMs: 50,
        viewSize: 3,
        viewDigest: 0,
        name: 'c',
      },
      makeKey(new Uint8Array(32).fill(7).map((v, i) => v + i)),
    );
    for (let i = 0; i < 20; i++) {
      net.run(50);
      expect(net.inject('a', ipOf(2), forged).verdict).not.toBe(0);
    }
    expect(aliveOf(net, 'a')).toEqual(['a', 'b']);
  });

  it('datagrams recorded before a receiver restarts cannot be replayed into it (echo of its incarnation)', () => {
    const net = started({ seed: 10 });
    const recorded = net.wire.filter((d) => d.from === 'b' && d.to === 'a');
    net.freeze('b'); // b is gone for good
    net.restart('a'); // a forgets every counter
    for (const d of recorded) {
      const r = net.inject('a', d.srcIp, d.payload);
      expect(['unconfirmed', 'replayed', 'stale-incarnation']).toContain(verdictName(r.verdict));
    }
    net.run(1500);
    expect(aliveOf(net, 'a')).toEqual(['a', 'c']);
    expect(net.node('a').counters.get('rx-unconfirmed')).toBeGreaterThan(0);
    expect(net.node('a').counters.get('rx-ok')).toBeGreaterThan(0); // c still confirms
  });
});

describe('membership: restart, leave, peer set', () => {
  it('a peer that restarts (new incarnation) stays alive and is confirmed again within two intervals', () => {
    const net = started({ seed: 13 });
    net.restart('b');
    const t = net.now;
    net.run(2000);
    expect(deadEvents(net)).toEqual([]);
    const pb = net
      .node('a')
      .peers()
      .find((p) => p.name === 'b')!;
    expect(pb.state).toBe('alive');
    expect(pb.lastHeardAt).toBeGreaterThan(t + 1500);
    const s = net.events('b', 'settled').filter((e) => e.ev.at >= t);
    expect(s).toHaveLength(1);
    expect(s[0]!.ev.at - t).toBeLessThanOrEqual(3 * INTERVAL + 10);
  });

  it('a node that leaves is dead at once for the others', () => {
    const net = started({ seed: 14 });
    const out = net.node('c').leave(net.now);
    for (const o of out) net.inject(o.node, ipOf(2), o.payload);
    for (const o of ['a', 'b']) {
      expect(deadEvents(net, o)).toEqual([{ node: o, dead: 'c', at: net.now, reason: 'left' }]);
    }
    net.run(2000);
    expect(net.events('a', 'alive')).toEqual([]); // c sends nothing after leave
    expect(net.node('c').counters.get('tx-leaves')).toBe(2);
  });

  it('setPeers: an added node joins when it speaks, a removed one leaves the view', () => {
    const m = new Membership({ self: { name: 'a', ip: ipOf(0) }, peers: [], key: TEST_KEY, incarnation: 100 }, 0);
    expect(m.tick(0).events).toMatchObject([{ type: 'settled', reason: 'acked' }]);
    expect(m.setPeers([{ name: 'd', ip: ipOf(3) }], 10)).toEqual([]);
    expect([...m.alive()]).toEqual(['a']); // not alive until heard
    const hb = (counter: number, echo: number) =>
      encodeHeartbeat(
        {
          flags: 0,
          revivals: 0,
          incarnation: 7,
          counter,
          echo,
          dstIp: ipOf(0),
          intervalMs: 50,
          viewSize: 1,
          viewDigest: 0,
          name: 'd',
        },
        TEST_KEY,
      );
    expect(verdictName(m.receive(ipOf(3), hb(1, 0), 20).verdict)).toBe('unconfirmed');
    const r = m.receive(ipOf(3), hb(2, 100), 30);
    expect(verdictName(r.verdict)).toBe('ok');
    expect(r.events).toEqual([{ type: 'alive', node: 'd', at: 30 }]);
    expect([...m.alive()].sort()).toEqual(['a', 'd']);
    expect(m.setPeers([], 40)).toMatchObject([{ type: 'dead', node: 'd', reason: 'removed' }]);
    expect([...m.alive()]).toEqual(['a']);
  });
});

describe('membership: partition', () => {
  it('A | BC, then heal: each side keeps its own view, then all views converge and both sides re-announce', () => {
    const net = started({ seed: 15 });
    net.partition(['a'], ['b', 'c']);
    net.run(2000);
    expect(aliveOf(net, 'a')).toEqual(['a']);
    expect(aliveOf(net, 'b')).toEqual(['b', 'c']);
    expect(aliveOf(net, 'c')).toEqual(['b', 'c']);
    expect(net.node('a').view().digest).not.toBe(net.node('b').view().digest);
    expect(net.node('b').converged()).toBe(true); // b and c agree with each other
    const healAt = net.now;
    net.heal();
    net.run(3 * INTERVAL + 10);
    const digests = new Set(ABC.map((n) => net.node(n).view().digest));
    expect(digests.size).toBe(1);
    for (const n of ABC) {
      expect(aliveOf(net, n)).toEqual(['a', 'b', 'c']);
      expect(net.node(n).converged()).toBe(true);
    }
    const revived = (n: string) =>
      net
        .events(n, 'revived-by')
        .filter((e) => e.ev.at >= healAt)
        .map((e) => (e.ev as { node: string }).node)
        .sort();
    expect(revived('a')).toEqual(['b', 'c']);
    expect(revived('b')).toEqual(['a']);
    expect(revived('c')).toEqual(['a']);
  });

  it('asymmetric loss (a → b cut): b drops a, a is told so (dropped-by), and learns when b takes it back', () => {
    const net = started({ seed: 16 });
    net.block('a', 'b');
    net.run(1000);
    expect(aliveOf(net, 'b')).toEqual(['b', 'c']);
    expect(aliveOf(net, 'a')).toEqual(['a', 'b', 'c']);
    expect(net.events('a', 'dropped-by').map((e) => (e.ev as { node: string }).node)).toEqual(['b']);
    net.heal();
    net.run(200);
    expect(net.events('a', 'revived-by').map((e) => (e.ev as { node: string }).node)).toEqual(['b']);
  });
});

describe('membership: config and clock', () => {
  const base: MembershipConfig = { self: { name: 'a', ip: ipOf(0) }, peers: [], key: TEST_KEY, incarnation: 1 };
  it('rejects unusable settings with one clear line', () => {
    expect(membershipConfigProblem(base)).toBeNull();
    expect(membershipConfigProblem({ ...base, intervalMs: 100, deadAfterMs: 200 })).toBe(
      'dead-after (200 ms) must be more than twice the heartbeat interval (100 ms)',
    );
    expect(membershipConfigProblem({ ...base, deadAfterMs: 600, maxDeadAfterMs: 500 })).toMatch(/max dead-after/);
    expect(membershipConfigProblem({ ...base, incarnation: 0 })).toMatch(/incarnation/);
    expect(membershipConfigProblem({ ...base, self: { name: '', ip: 1 } })).toMatch(/node name/);
    expect(membershipConfigProblem({ ...base, key: { id: 1, key: new Uint8Array(8) } })).toMatch(/at least 16/);
    expect(() => new Membership({ ...base, intervalMs: 300 }, 0)).toThrow(/membership: dead-after/);
  });

  it('a clock going backwards (or NaN) is clamped, not a pause or a death', () => {
    const m = new Membership({ ...base, peers: [{ name: 'b', ip: ipOf(1) }] }, 1000);
    const ev: MembershipEvent[] = [];
    ev.push(...m.tick(1000).events, ...m.tick(900).events, ...m.tick(NaN).events, ...m.tick(1100).events);
    expect(ev.filter((e) => e.type === 'paused' || e.type === 'dead')).toEqual([]);
    expect(m.nextDueAt()).toBeGreaterThan(1100);
  });
});

describe('membership: detection time table', () => {
  it('prints failure detection over 20 seeded runs (lossless, and 1 in 3 lost)', () => {
    const lines: string[] = [];
    for (const loss of [0, 1 / 3]) {
      const sinceLast: number[] = [];
      const sinceFreeze: number[] = [];
      const back: number[] = [];
      for (let seed = 100; seed < 120; seed++) {
        const net = new SimNet({ names: ABC, seed, loss });
        net.run(loss ? 20_000 : 1000); // loss: let the estimate warm up
        net.run(Math.floor((seed * 7919) % 97));
        const frozeAt = net.now;
        net.freeze('c');
        net.run(3000);
        const d = deadEvents(net).filter((e) => e.dead === 'c');
        expect(d.map((e) => e.node).sort(), `seed ${seed}`).toEqual(['a', 'b']);
        const all = Math.max(...d.map((e) => e.at)); // the moment every node agrees
        sinceFreeze.push(all - frozeAt);
        for (const e of d) sinceLast.push(e.at - net.lastSent.get(`c>${e.node}`)!);
        const resumeAt = net.now;
        net.unfreeze('c');
        net.run(2000);
        const al = net.events(undefined, 'alive').filter((e) => (e.ev as { node: string }).node === 'c');
        expect(al).toHaveLength(2);
        back.push(Math.max(...al.map((e) => e.ev.at)) - resumeAt);
        if (!loss) for (const x of sinceLast) expect(x).toBeGreaterThanOrEqual(DEAD_AFTER);
      }
      const f = (s: { min: number; median: number; max: number }) => `${s.min} / ${s.median} / ${s.max}`;
      lines.push(
        `loss ${loss ? '1/3' : '0  '} | dead after last heartbeat ${f(stats(sinceLast))} | all agree after freeze ${f(stats(sinceFreeze))} | alive again after resume ${f(stats(back))}`,
      );
      if (!loss) {
        expect(stats(sinceFreeze).median).toBeLessThanOrEqual(DEAD_AFTER + INTERVAL);
        expect(stats(back).max).toBeLessThanOrEqual(INTERVAL);
      } else {
        expect(stats(sinceFreeze).max).toBeLessThanOrEqual(1000 + INTERVAL);
      }
    }
    console.log(
      `[cluster] detection (ms, min / median / max, 20 runs, 3 nodes, interval 50, deadAfter 500, tick 10):\n  ${lines.join('\n  ')}`,
    );
  });
});
