/**
 * The SNAT port partition of a worker set (ConnTableOptions.portShards, VPP's port-per-thread rule): a table of
 * shard k of n binds only ports p with p % n === k (ICMP ids too), keeps a source port only when it is its own,
 * exhausts its own share and nothing more; two shards never bind the same reply tuple, and `portOwner` names the
 * shard of every port it bound.
 */
import { describe, expect, it } from 'vitest';
import { ConnTable, portOwner, SNAT_EXHAUSTED, SNAT_OK } from '../../conntrack/index.js';
import { at, ICMP, ip, SYN, TCP, UDP } from './helpers.js';

const NAT = '198.19.0.1';
const SRV = '198.18.0.100';

function bind(t: ConnTable, src: string, sport: number, dport: number, proto = UDP): number {
  const flags = proto === TCP ? SYN : proto === ICMP ? 8 : 0;
  const c = at(t, 0).create(ip(src), ip(SRV), sport, dport, proto, flags, 60);
  expect(c).toBeGreaterThanOrEqual(0);
  const r = t.snat(c, ip(NAT));
  if (r !== SNAT_OK) {
    t.abort(c);
    return -r;
  }
  expect(at(t, 0).confirm(c)).toBe(true);
  return t.natPort(c);
}

describe('SNAT port partition', () => {
  it('each of two shards binds only its own ports, for UDP, TCP and ICMP ids', () => {
    for (const shard of [0, 1]) {
      const t = new ConnTable({ seed: 3, portShards: [2, shard] });
      // own source ports first (kept), then the other shard's (remapped into this one's)
      for (const mine of [true, false])
        for (let k = 0; k < 300; k++) {
          const sport = 20000 + 2 * k + (mine ? shard : 1 - shard);
          for (const proto of [UDP, TCP, ICMP]) {
            const p = bind(t, `198.18.1.${1 + (k % 200)}`, sport, 7000, proto);
            expect(p).toBeGreaterThanOrEqual(0);
            expect(p % 2).toBe(shard);
            expect(portOwner(p, 2)).toBe(shard);
            if (mine) expect(p).toBe(sport);
          }
        }
      expect(t.selfCheck()).toBeNull();
    }
  });

  it('three shards: ports of the configured range, own residue only, within the range', () => {
    const t = new ConnTable({ seed: 5, portShards: [3, 2], portRange: [30000, 30029] });
    const seen = new Set<number>();
    for (let k = 1; k <= 10; k++) seen.add(bind(t, `198.18.1.${k}`, 40000, 7000));
    expect([...seen].sort()).toEqual([30002, 30005, 30008, 30011, 30014, 30017, 30020, 30023, 30026, 30029]);
    // the shard's share of the range (10 of 30 ports) is exhausted; the other shards' ports are not taken
    expect(bind(t, '198.18.1.11', 40000, 7000)).toBe(-SNAT_EXHAUSTED);
  });

  it('two shards together never bind one reply tuple twice, and every reply finds its shard by port', () => {
    const a = new ConnTable({ seed: 1, portShards: [2, 0] });
    const b = new ConnTable({ seed: 2, portShards: [2, 1] });
    const used = new Set<number>();
    for (let k = 0; k < 2000; k++) {
      const t = k % 3 === 0 ? b : a; // uneven split of flows between the workers
      const p = bind(t, `198.18.${1 + (k >> 8)}.${k & 0xff}`, 5000, 7000);
      expect(used.has(p)).toBe(false);
      used.add(p);
      const owner = portOwner(p, 2) === 0 ? a : b;
      expect(owner).toBe(t);
      expect(owner.lookup(ip(SRV), ip(NAT), 7000, p, UDP)).toBeGreaterThanOrEqual(0);
    }
  });

  it('one shard (the default) is the unpartitioned table; bad partitions are refused', () => {
    const t = new ConnTable({ seed: 3 });
    expect(bind(t, '198.18.1.1', 20001, 7000)).toBe(20001);
    expect(() => new ConnTable({ portShards: [2, 2] })).toThrow(RangeError);
    expect(() => new ConnTable({ portShards: [0, 0] })).toThrow(RangeError);
  });
});
