/**
 * The standby's typed-array cache of replicated connections (engine/agent/replica-cache.ts), against a plain Map
 * model of what it must hold: random puts, removals and purges over a small tuple space (so probes collide and
 * backward-shift deletion runs over long clusters), a bounded capacity, and takeover into a connection table.
 */
import { describe, expect, it } from 'vitest';
import { ConnTable, exportReplicas, IMPORT_CLASH, IMPORT_INSTALLED, TCP_ESTABLISHED } from '../../conntrack/index.js';
import { ReplicaCache } from '../../engine/agent/replica-cache.js';

const ip = (s: string) => s.split('.').reduce((a, x) => (a << 8) | Number(x), 0) | 0;
const EGRESS = ip('198.18.0.253');
const OTHER = ip('198.18.0.254');

interface Model {
  natIp: number;
  natPort: number;
  state: number;
  expiresAt: number;
}

/** Deterministic generator (tests only). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('ReplicaCache', () => {
  it('holds exactly what a Map model holds through random puts, removals and purges, never more than its capacity', () => {
    const cap = 100;
    const c = new ReplicaCache(cap, 7);
    const bytes = c.bytes;
    const m = new Map<string, Model>();
    const r = rng(42);
    let full = 0;
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      now += 1;
      const src = ip('198.19.1.0') + Math.floor(r() * 16);
      const sport = 1000 + Math.floor(r() * 20);
      const proto = r() < 0.5 ? 6 : 17;
      const ports = (sport << 16) | 53;
      const k = `${src},${ports},${proto}`;
      const op = r();
      if (op < 0.7) {
        const natPort = Math.floor(r() * 65536);
        const state = proto === 6 ? TCP_ESTABLISHED : 0;
        const exp = now + 1 + Math.floor(r() * 500);
        const ok = c.put(src, ip('198.18.0.100'), ports, proto, EGRESS, natPort, state, 0, exp, now, 0, null, -1);
        if (!m.has(k) && m.size >= cap) {
          expect(ok).toBe(false);
          full++;
        } else {
          expect(ok).toBe(true);
          m.set(k, { natIp: EGRESS, natPort, state, expiresAt: exp });
        }
      } else if (op < 0.95) {
        expect(c.remove(src, ip('198.18.0.100'), ports, proto)).toBe(m.delete(k));
      } else {
        let gone = 0;
        for (const [key, e] of m)
          if (e.expiresAt <= now) {
            m.delete(key);
            gone++;
          }
        expect(c.purge(now)).toBe(gone);
      }
      expect(c.size).toBe(m.size);
    }
    expect(full).toBeGreaterThan(0);
    expect(c.countFor(EGRESS)).toBe(m.size);
    expect(c.bytes).toBe(bytes);
    // Takeover installs exactly the model's connections with their bindings.
    const t = new ConnTable({ seed: 3, maxConnections: 1024 });
    t.setTime(now);
    const results: number[] = [];
    c.takeover(t, new Set([EGRESS]), now, (res) => results.push(res));
    const live = [...m.values()].filter((e) => e.expiresAt > now).length;
    expect(results).toHaveLength(m.size);
    // random ports can give two connections one binding: the second is a clash, nothing else may happen
    expect(results.filter((x) => x !== IMPORT_INSTALLED && x !== -1 && x !== IMPORT_CLASH)).toEqual([]);
    expect(results.filter((x) => x === -1)).toHaveLength(m.size - live);
    const got = exportReplicas(t, new Set([EGRESS]));
    const installed = results.filter((x) => x === IMPORT_INSTALLED).length;
    expect(got).toHaveLength(installed);
    for (const g of got) {
      const e = m.get(`${g.src},${(g.sport << 16) | g.dport},${g.proto}`)!;
      expect(e).toBeDefined();
      expect(g.natPort).toBe(e.natPort);
      expect(g.timeoutMs).toBe(e.expiresAt - now);
    }
    expect(c.size).toBe(0);
  });

  it('takeover takes only the given IPs, ages timeouts by the time since reception, and carries the TCP window', () => {
    const c = new ReplicaCache(16, 1);
    const w = new DataView(new ArrayBuffer(48));
    for (let k = 0; k < 12; k++) w.setInt32(4 * k, 100 + k);
    const ports = (40000 << 16) | 8080;
    expect(
      c.put(
        ip('198.19.1.10'),
        ip('198.18.0.100'),
        ports,
        6,
        EGRESS,
        40001,
        TCP_ESTABLISHED,
        0,
        10_000,
        1000,
        500,
        w,
        0,
      ),
    ).toBe(true);
    expect(c.put(ip('198.19.1.11'), ip('198.18.0.100'), ports, 17, OTHER, 40000, 0, 0, 10_000, 1000, 0, null, -1)).toBe(
      true,
    );
    const t = new ConnTable({ seed: 3, maxConnections: 64 });
    t.setTime(4000);
    const res: number[] = [];
    c.takeover(t, new Set([EGRESS]), 4000, (r) => res.push(r));
    expect(res).toEqual([IMPORT_INSTALLED]);
    expect(c.size).toBe(1);
    expect(c.countFor(OTHER)).toBe(1);
    const [r] = exportReplicas(t);
    expect(r).toMatchObject({ src: ip('198.19.1.10'), sport: 40000, dport: 8080, natIp: EGRESS, natPort: 40001 });
    expect(r!.timeoutMs).toBe(6000);
    expect(r!.ageMs).toBe(500 + 3000);
    expect([...r!.window!].slice(0, 4)).toEqual([100, 101, 102, 103]);
  });
});
