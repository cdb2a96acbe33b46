/**
 * The rate meters (engine/stages/meter.ts) by hand-computed token counts: a bucket of `burst` kbit × 1000 bits,
 * `rate` bits per ms, (IP length + 14) × 8 bits per packet. The stage-level behaviour is a row of the snat case
 * table; this checks what a reconfiguration does to the buckets.
 */
import { describe, expect, it } from 'vitest';
import { RateMeters } from '../../engine/stages/index.js';

const A = 0x0a000001;
const B = 0x0a000002;
const meters = (m: Array<[number, number, number]>) =>
  new Map(m.map(([ip, r, b]) => [ip, { rateKbps: r, burstKbps: b }]));

describe('rate meters', () => {
  it('start full, police at the bucket, refill with time, never above the burst', () => {
    const m = new RateMeters();
    m.configure(meters([[A, 8, 16]]), 0); // 8 bits/ms, 16 000 bits
    expect(m.take(A, 1986, 0)).toBe(true); // 2000 bytes = 16 000 bits: the whole bucket
    expect(m.take(A, 0, 0)).toBe(false); // 112 bits > 0 left
    expect(m.take(A, 0, 13)).toBe(false); // 104 bits after 13 ms
    expect(m.take(A, 0, 14)).toBe(true); // 112 after 14 ms, 0 left
    expect(m.take(A, 1986, 1_000_000)).toBe(true); // a long idle refills to the burst only
    expect(m.take(A, 0, 1_000_000)).toBe(false);
    expect(m.take(B, 65535, 0)).toBe(true); // no meter: never policed
  });

  it('a reconfiguration keeps an IP its tokens (capped at the new burst), drops removed IPs, starts new ones full', () => {
    const m = new RateMeters();
    m.configure(meters([[A, 1000, 100]]), 0);
    expect(m.take(A, 5000 - 14, 0)).toBe(true); // 40 000 bits taken: 60 000 left
    m.configure(
      meters([
        [A, 1000, 50],
        [B, 1, 13],
      ]),
      0,
    );
    expect(m.snapshot()).toEqual([
      { ip: A, rateKbps: 1000, burstKbit: 50, tokensBits: 50_000 },
      { ip: B, rateKbps: 1, burstKbit: 13, tokensBits: 13_000 },
    ]);
    // +10 ms under the old meter before the change: 10 000 bits more, but that bucket held only 50 000
    m.configure(meters([[A, 1000, 100]]), 10);
    expect(m.snapshot()).toEqual([{ ip: A, rateKbps: 1000, burstKbit: 100, tokensBits: 50_000 }]);
    expect(m.take(A, 0, 15)).toBe(true); // +5 ms under the new one: 55 000 − 112
    expect(m.snapshot()[0]!.tokensBits).toBe(55_000 - 112);
    expect(m.take(B, 0, 10)).toBe(true);
    m.configure(undefined, 20);
    expect(m.size).toBe(0);
  });
});
