/**
 * SNAT bindings, against Linux nf_nat (get_unique_tuple / nf_nat_l4proto_unique_tuple): the source port is
 * kept when the reply tuple is free; a collision picks a port of the same class (1–511, 600–1023, 1024–65535;
 * ICMP ids 0–65535) or of the configured range; an earlier binding of the same source socket is reused
 * (find_appropriate_src); random-fully picks every port at random; exhaustion is a counted refusal per
 * (egress IP, destination, port, protocol); a fixed seed makes every choice reproducible.
 */
import { describe, expect, it } from 'vitest';
import {
  ConnTable,
  SNAT_EXHAUSTED,
  SNAT_INVALID,
  SNAT_OK,
  SNAT_RANDOM_FULLY,
  snatUsage,
} from '../../conntrack/index.js';
import { ICMP, SYN, TCP, UDP, ip, open, table, at } from './helpers.js';

const NAT = '198.19.0.1';
const SRV = '198.18.0.100';

function snatOne(t: ConnTable, src: string, sport: number, dport: number, proto = UDP, mode = 0, dst = SRV): number {
  const c = at(t, 0).create(ip(src), ip(dst), sport, dport, proto, proto === TCP ? SYN : proto === ICMP ? 8 : 0, 60);
  expect(c).toBeGreaterThanOrEqual(0);
  const r = t.snat(c, ip(NAT), mode);
  if (r !== SNAT_OK) return -r;
  expect(at(t, 0).confirm(c)).toBe(true);
  return c;
}

describe('port preservation and collisions', () => {
  it('keeps the source port when the reply tuple is free, remaps on collision, replies map back', () => {
    const t = table();
    const a = snatOne(t, '198.18.1.1', 5000, 7000);
    const b = snatOne(t, '198.18.1.2', 5000, 7000);
    expect(t.natPort(a)).toBe(5000);
    expect(t.isSnat(a)).toBe(true); // address translated even though the port is kept
    const pb = t.natPort(b);
    expect(pb).not.toBe(5000);
    expect(pb).toBeGreaterThanOrEqual(1024);
    expect(pb).toBeLessThanOrEqual(65535);
    // Replies: server → egress IP on each port reach the right connection and translate back.
    const ra = t.lookup(ip(SRV), ip(NAT), 7000, 5000, UDP);
    const rb = t.lookup(ip(SRV), ip(NAT), 7000, pb, UDP);
    expect(ra).toBe((a << 1) | 1);
    expect(rb).toBe((b << 1) | 1);
    expect([t.rewriteAddr(b, 1), t.rewritePort(b, 1)]).toEqual([ip('198.18.1.2'), 5000]);
    expect([t.rewriteAddr(b, 0), t.rewritePort(b, 0)]).toEqual([ip(NAT), pb]);
    expect(t.counter('snat-port-preserved')).toBe(1);
    expect(t.counter('snat-port-remapped')).toBe(1);
  });

  it('the same source port toward another destination port is free again', () => {
    const t = table();
    snatOne(t, '198.18.1.1', 5000, 7000);
    const c = snatOne(t, '198.18.1.2', 5000, 7001);
    expect(t.natPort(c)).toBe(5000);
    const d = snatOne(t, '198.18.1.2', 5000, 7000, TCP); // other protocol: separate space
    expect(t.natPort(d)).toBe(5000);
  });

  it('privileged source ports stay in their class: <512 → 1–511, 512–1023 → 600–1023', () => {
    const t = table();
    for (const [sport, lo, hi] of [
      [80, 1, 511],
      [511, 1, 511],
      [700, 600, 1023],
      [520, 600, 1023],
      [1023, 600, 1023],
      [1024, 1024, 65535],
    ] as const) {
      const a = snatOne(t, '198.18.1.1', sport, 7000);
      expect(t.natPort(a)).toBe(sport);
      for (let k = 2; k < 6; k++) {
        const b = snatOne(t, `198.18.1.${k}`, sport, 7000);
        const p = t.natPort(b);
        expect(p, `sport ${sport}`).toBeGreaterThanOrEqual(lo);
        expect(p, `sport ${sport}`).toBeLessThanOrEqual(hi);
        expect(p).not.toBe(sport);
      }
    }
    expect(t.selfCheck()).toBeNull();
  });

  it('ICMP echo ids collide and remap like ports, over 0–65535', () => {
    const t = table();
    const a = snatOne(t, '198.18.1.1', 4242, 4242, ICMP);
    const b = snatOne(t, '198.18.1.2', 4242, 4242, ICMP);
    expect(t.natPort(a)).toBe(4242);
    expect(t.natPort(b)).not.toBe(4242);
  });

  it('does not translate a source that already is the egress address when its tuple is free', () => {
    const t = table();
    const c = snatOne(t, NAT, 5000, 7000);
    expect(t.isSnat(c)).toBe(false);
    expect(t.isNatBound(c)).toBe(true);
  });
});

describe('endpoint-independent reuse (Linux find_appropriate_src)', () => {
  it("a source socket's second connection reuses its remapped port", () => {
    const t = table();
    snatOne(t, '198.18.1.1', 5000, 7000); // keeps 5000
    const b = snatOne(t, '198.18.1.2', 5000, 7000); // remapped to R
    const r = t.natPort(b);
    const b2 = snatOne(t, '198.18.1.2', 5000, 7001); // same socket, new destination: R again, not 5000
    expect(t.natPort(b2)).toBe(r);
    expect(t.counter('snat-source-mapped')).toBe(1);
    const c = snatOne(t, '198.18.1.4', 5000, 7001); // another source: 5000 is free toward 7001
    expect(t.natPort(c)).toBe(5000);
  });

  it('after the newest binding goes, the older one of the same source is used', () => {
    const t = table();
    snatOne(t, '198.18.1.1', 5000, 7000);
    const b = snatOne(t, '198.18.1.2', 5000, 7000);
    const r = t.natPort(b);
    const b2 = snatOne(t, '198.18.1.2', 5000, 7001);
    t.remove(b2);
    at(t, 0).expire(0);
    const b3 = snatOne(t, '198.18.1.2', 5000, 7002);
    expect(t.natPort(b3)).toBe(r);
    t.remove(b);
    t.remove(b3);
    at(t, 0).expire(0);
    const b4 = snatOne(t, '198.18.1.2', 5000, 7003); // no binding left: back to the source port
    expect(t.natPort(b4)).toBe(5000);
    expect(t.selfCheck()).toBeNull();
  });

  it('falls back to the normal search when the reused tuple is taken', () => {
    const t = table();
    snatOne(t, '198.18.1.1', 5000, 7000);
    const b = snatOne(t, '198.18.1.2', 5000, 7000);
    const r = t.natPort(b);
    snatOne(t, '198.18.1.3', r, 7001); // takes R toward 7001
    const b2 = snatOne(t, '198.18.1.2', 5000, 7001);
    expect(t.natPort(b2)).not.toBe(r);
    expect(t.natPort(b2)).toBe(5000); // then the source port, free toward 7001
  });
});

describe('configured range, random-fully, exhaustion', () => {
  it('with a range, ports outside it are remapped into it even when free (Linux PROTO_SPECIFIED)', () => {
    const t = table({ portRange: [20000, 20099] });
    const a = snatOne(t, '198.18.1.1', 5000, 7000);
    expect(t.natPort(a)).toBeGreaterThanOrEqual(20000);
    expect(t.natPort(a)).toBeLessThanOrEqual(20099);
    const b = snatOne(t, '198.18.1.1', 20050, 7001);
    expect(t.natPort(b)).toBe(20050);
    const i = snatOne(t, '198.18.1.1', 3, 3, ICMP);
    expect(t.natPort(i)).toBeGreaterThanOrEqual(20000);
  });

  it('exhausts per (egress IP, destination, port, protocol) and counts it', () => {
    const t = table({ portRange: [2000, 2009] });
    const seen = new Set<number>();
    for (let k = 1; k <= 10; k++) seen.add(t.natPort(snatOne(t, `198.18.1.${k}`, 40000, 7000)));
    expect(seen.size).toBe(10);
    expect(snatOne(t, '198.18.1.11', 40000, 7000)).toBe(-SNAT_EXHAUSTED);
    expect(snatOne(t, '198.18.1.12', 40000, 7000)).toBe(-SNAT_EXHAUSTED);
    expect(t.counter('snat-exhausted')).toBe(2);
    // other destination port, other server, other protocol: free again
    expect(snatOne(t, '198.18.1.11', 40000, 7001)).toBeGreaterThanOrEqual(0);
    expect(snatOne(t, '198.18.1.11', 40000, 7000, UDP, 0, '198.18.0.101')).toBeGreaterThanOrEqual(0);
    expect(snatOne(t, '198.18.1.11', 40000, 7000, TCP)).toBeGreaterThanOrEqual(0);
    const u = snatUsage(t);
    expect(u).toHaveLength(1);
    const d = u[0]!.destinations[0]!;
    expect([d.dst, d.dport, d.proto, d.used, d.rangeSize, d.fullness, d.exhausted]).toEqual([
      SRV,
      7000,
      'udp',
      10,
      10,
      1,
      2,
    ]);
    // the refused connection is still unconfirmed: abort leaves nothing
    const c = at(t, 0).create(ip('198.18.1.13'), ip(SRV), 40000, 7000, UDP, 0, 60);
    expect(t.snat(c, ip(NAT))).toBe(SNAT_EXHAUSTED);
    expect(t.abort(c)).toBe(true);
    expect(t.selfCheck()).toBeNull();
  });

  it('searches exactly 128+64+32+16+8 candidates before refusing (nf_nat_l4proto_unique_tuple)', () => {
    const t = new ConnTable({ seed: 1, portRange: [1000, 1299] });
    for (let p = 1000; p < 1300; p++) snatOne(t, '198.18.1.1', p, 7000);
    const before = t.counter('snat-probes');
    expect(snatOne(t, '198.18.1.2', 1000, 7000)).toBe(-SNAT_EXHAUSTED);
    expect(t.counter('snat-probes') - before).toBe(1 + 248); // the source port, then the capped search
    // A range no larger than the first round is searched once, completely.
    const s = new ConnTable({ seed: 1, portRange: [1000, 1099] });
    for (let p = 1000; p < 1100; p++) snatOne(s, '198.18.1.1', p, 7000);
    const b2 = s.counter('snat-probes');
    expect(snatOne(s, '198.18.1.2', 1000, 7000)).toBe(-SNAT_EXHAUSTED);
    expect(s.counter('snat-probes') - b2).toBe(1 + 100);
  });

  it('gives up after 128+64+32+16+8 probes like Linux, even with a free port left in a big range', () => {
    // 300 ports, 299 taken: a search that starts far from the free one misses it.
    let ok = 0;
    let refused = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const t = new ConnTable({ seed, portRange: [1000, 1299] });
      for (let p = 1000; p < 1299; p++) snatOne(t, '198.18.1.1', p, 7000);
      const r = snatOne(t, '198.18.1.2', 1000, 7000);
      if (r >= 0) {
        ok++;
        expect(t.natPort(r)).toBe(1299);
      } else refused++;
    }
    expect(ok).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('random-fully remaps even free ports, uniformly over the class, and never shares a tuple', () => {
    const t = table();
    const ports = new Set<number>();
    let kept = 0;
    for (let k = 0; k < 2000; k++) {
      const c = snatOne(t, `198.18.${1 + (k >> 8)}.${k & 255}`, 30000, 7000, UDP, SNAT_RANDOM_FULLY);
      const p = t.natPort(c);
      if (p === 30000) kept++;
      expect(p).toBeGreaterThanOrEqual(1024);
      ports.add(p);
    }
    expect(ports.size).toBe(2000);
    expect(kept).toBeLessThanOrEqual(1);
    const low = [...ports].filter((p) => p < 1024 + 64512 / 2).length;
    expect(low).toBeGreaterThan(850); // about half below the middle of the range
    expect(low).toBeLessThan(1150);
    const priv = snatOne(t, '198.18.9.1', 80, 7000, UDP, SNAT_RANDOM_FULLY);
    expect(t.natPort(priv)).toBeLessThanOrEqual(511);
  });

  it('is reproducible with a fixed seed (replay), including random-fully', () => {
    const run = (seed: number): number[] => {
      const t = new ConnTable({ seed });
      const out: number[] = [];
      for (let k = 0; k < 50; k++) out.push(t.natPort(snatOne(t, `198.18.1.${k}`, 6000, 7000, UDP, k % 2)));
      return out;
    };
    expect(run(9)).toEqual(run(9));
    expect(run(9)).not.toEqual(run(10));
  });

  it('reaps a timed-out holder of the wanted tuple instead of remapping', () => {
    const t = table();
    const a = snatOne(t, '198.18.1.1', 5000, 7000); // expires at 30 s (UDP)
    const c = at(t, 31_000).create(ip('198.18.1.2'), ip(SRV), 5000, 7000, UDP, 0, 60);
    expect(t.snat(c, ip(NAT))).toBe(SNAT_OK);
    expect(t.natPort(c)).toBe(5000);
    expect(t.isLive(a)).toBe(false);
    expect(t.counter('expired')).toBe(1);
  });

  it('refuses to bind twice or after confirm (SNAT_INVALID)', () => {
    const t = table();
    const c = at(t, 0).create(ip('198.18.1.1'), ip(SRV), 5000, 7000, UDP, 0, 60);
    expect(t.snat(c, ip(NAT))).toBe(SNAT_OK);
    expect(t.snat(c, ip(NAT))).toBe(SNAT_INVALID);
    at(t, 0).confirm(c);
    const d = open(t, '198.18.1.2', SRV, 5000, 7000, UDP);
    expect(t.snat(d, ip(NAT))).toBe(SNAT_INVALID);
    expect(t.counter('snat-invalid')).toBe(2);
  });

  it('a connection without SNAT whose reply tuple is taken is refused at confirm (Linux: clash, drop)', () => {
    const t = table();
    snatOne(t, '198.18.1.1', 5000, 7000); // reply tuple SRV:7000 → NAT:5000
    // A connection from the egress address itself with the same ports, not translated: same reply tuple.
    const c = at(t, 0).create(ip(NAT), ip(SRV), 5000, 7000, UDP, 0, 60);
    expect(c).toBeGreaterThanOrEqual(0);
    expect(at(t, 0).confirm(c)).toBe(false);
    expect(t.counter('confirm-clash')).toBe(1);
    expect(t.lookup(ip(NAT), ip(SRV), 5000, 7000, UDP)).toBe(-1);
    expect(t.selfCheck()).toBeNull();
  });
});
