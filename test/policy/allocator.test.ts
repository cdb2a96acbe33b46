/** IP allocation from pools (docs/semantics.md §1.2 "Allocatable set", §2.1), expectations from Antrea's e2e tests. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatIP, parseIP, poolAllocator } from '../../engine/policy/index.js';
import type { ExternalIPPool, IPRange } from '../../engine/policy/index.js';

function pool(ipRanges: IPRange[], subnetInfo?: ExternalIPPool['spec']['subnetInfo']): ExternalIPPool {
  const spec: ExternalIPPool['spec'] = { ipRanges, nodeSelector: {} };
  if (subnetInfo) spec.subnetInfo = subnetInfo;
  return {
    apiVersion: 'crd.antrea.io/v1beta1',
    kind: 'ExternalIPPool',
    metadata: {
      name: 'p',
      labels: {},
      annotations: {},
      uid: '',
      creationTimestamp: '',
      generation: 1,
      resourceVersion: '',
    },
    spec,
    status: { usage: { total: 0, used: 0 } },
  };
}

function drain(a: ReturnType<typeof poolAllocator>): string[] {
  const out: string[] = [];
  for (;;) {
    const r = a.allocateNext();
    if (typeof r === 'string') return out;
    out.push(formatIP(r));
  }
}

describe('allocator', () => {
  it('/30: first IP .1, total 2, never the network or broadcast address', () => {
    const a = poolAllocator(pool([{ cidr: '169.254.100.0/30' }]));
    expect(a.total).toBe(2);
    expect(drain(a)).toEqual(['169.254.100.1', '169.254.100.2']);
    expect(a.used).toBe(2);
    expect(a.allocateNext()).toBe('cannot allocate IP in any range');
  });

  it('IPv6 /124: total 15, first IP ::aaa1, the last address is allocatable', () => {
    const a = poolAllocator(pool([{ cidr: '2021:1::aaa0/124' }]));
    expect(a.total).toBe(15);
    const all = drain(a);
    expect(all[0]).toBe('2021:1::aaa1');
    expect(all[14]).toBe('2021:1::aaaf');
    expect(all.length).toBe(15);
  });

  it('/28 gives 14, /31 and /32 give 0', () => {
    expect(poolAllocator(pool([{ cidr: '10.0.0.0/28' }])).total).toBe(14);
    expect(poolAllocator(pool([{ cidr: '10.0.0.0/31' }])).total).toBe(0);
    expect(poolAllocator(pool([{ cidr: '10.0.0.0/32' }])).total).toBe(0);
    expect(drain(poolAllocator(pool([{ cidr: '10.0.0.0/31' }])))).toEqual([]);
  });

  it('start-end ranges hold both ends; ranges are used in spec order', () => {
    const a = poolAllocator(pool([{ start: '169.254.101.10', end: '169.254.101.11' }, { cidr: '10.0.0.0/30' }]));
    expect(a.total).toBe(4);
    expect(drain(a)).toEqual(['169.254.101.10', '169.254.101.11', '10.0.0.1', '10.0.0.2']);
  });

  it('hands out the lowest free IP after a release', () => {
    const a = poolAllocator(pool([{ start: '10.0.0.1', end: '10.0.0.5' }]));
    drain(a);
    expect(a.release(parseIP('10.0.0.3')!)).toBe(true);
    expect(a.release(parseIP('10.0.0.3')!)).toBe(false);
    expect(formatIP(a.allocateNext() as never)).toBe('10.0.0.3');
  });

  it('pins IPs: inside a range, not reserved, not taken', () => {
    const a = poolAllocator(pool([{ cidr: '10.0.0.0/29' }]));
    expect(a.allocateIP(parseIP('10.0.0.3')!)).toBeNull();
    expect(a.allocateIP(parseIP('10.0.0.3')!)).toBe('cannot allocate IP 10.0.0.3 in any range');
    expect(a.allocateIP(parseIP('10.0.0.7')!)).toBe('cannot allocate IP 10.0.0.7 in any range'); // broadcast
    expect(a.allocateIP(parseIP('10.0.0.0')!)).toBe('cannot allocate IP 10.0.0.0 in any range'); // network
    expect(formatIP(a.allocateNext() as never)).toBe('10.0.0.1');
    expect(formatIP(a.allocateNext() as never)).toBe('10.0.0.2');
    expect(formatIP(a.allocateNext() as never)).toBe('10.0.0.4');
  });

  it("Has (the webhook's range check) includes the IPv4 broadcast address but not the network address", () => {
    const a = poolAllocator(pool([{ cidr: '10.0.0.0/30' }]));
    expect(a.has(parseIP('10.0.0.3')!)).toBe(true);
    expect(a.has(parseIP('10.0.0.0')!)).toBe(false);
    expect(a.has(parseIP('10.0.0.4')!)).toBe(false);
  });

  it('reserves the subnetInfo gateway when it is inside a range (Antrea #7868: it hands it out)', () => {
    const a = poolAllocator(pool([{ cidr: '10.10.0.0/29' }], { gateway: '10.10.0.1', prefixLength: 24 }));
    expect(a.total).toBe(5); // 6 host addresses − the gateway
    expect(drain(a)[0]).toBe('10.10.0.2');
  });

  it('caps each range at 65,536 addresses', () => {
    const a = poolAllocator(pool([{ cidr: '10.0.0.0/8' }]));
    expect(a.total).toBe(65536);
    const b = poolAllocator(pool([{ start: '10.0.0.0', end: '10.255.255.255' }]));
    expect(b.total).toBe(65536);
  });

  it('keeps the allocator order of existing ranges and appends new ones', () => {
    const p = pool([{ cidr: '10.0.1.0/30' }, { cidr: '10.0.0.0/30' }]);
    const a = poolAllocator(p, ['10.0.0.0/30', '10.0.1.0/30']);
    expect(a.ranges.map((r) => r.name)).toEqual(['10.0.0.0/30', '10.0.1.0/30']);
    expect(formatIP(a.allocateNext() as never)).toBe('10.0.0.1');
  });

  it('always hands out the lowest free, unreserved IP, whatever came before (a model: scan from the start)', () => {
    // 10.0.0.0/28: offsets 0..13 are .1-.14 (.15 is the broadcast), .5 reserved as the subnetInfo gateway.
    const op = fc.oneof(
      fc.record({ t: fc.constant('next' as const) }),
      fc.record({ t: fc.constantFrom('pin' as const, 'release' as const), host: fc.integer({ min: 0, max: 15 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const a = poolAllocator(pool([{ cidr: '10.0.0.0/28' }], { gateway: '10.0.0.5', prefixLength: 24 }));
        const taken = new Set<number>();
        for (const o of ops) {
          if (o.t === 'next') {
            let want: number | null = null;
            for (let h = 1; h <= 14 && want === null; h++) if (h !== 5 && !taken.has(h)) want = h;
            const got = a.allocateNext();
            expect(typeof got === 'string' ? null : formatIP(got)).toBe(want === null ? null : `10.0.0.${want}`);
            if (want !== null) taken.add(want);
          } else if (o.t === 'pin') {
            const ok = o.host >= 1 && o.host <= 14 && o.host !== 5 && !taken.has(o.host);
            expect(a.allocateIP(parseIP(`10.0.0.${o.host}`)!) === null).toBe(ok);
            if (ok) taken.add(o.host);
          } else {
            expect(a.release(parseIP(`10.0.0.${o.host}`)!)).toBe(taken.delete(o.host));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
