/**
 * pcapng reader against fixtures built from draft-ietf-opsawg-pcapng: a hex fixture per byte order, blocks
 * from the spec-driven builder in helpers.ts (SHB, IDB with if_tsresol/if_tsoffset, EPB, SPB, PB, NRB, ISB,
 * custom), several sections with different byte orders, every timestamp resolution family, and tshark as a
 * second reader of the same bytes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CaptureError,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_RAW,
  PcapngReader,
  PcapngWriter,
  openCapture,
  readCaptureFile,
} from '../../engine/io/index.js';
import { Ng, concat, hex, i64, prng, refTs, tempDir, toHex, tsharkBytes, tsharkFrames, tsresol } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

function file(name: string, ...blocks: Uint8Array[]): string {
  const p = tmp.path(name);
  writeFileSync(p, concat(...blocks));
  return p;
}

/** SHB + IDB + EPB, little-endian, µs (no if_tsresol), snaplen 262144. */
const LE_MIN = hex(`
  0a 0d 0d 0a  1c 00 00 00   # SHB, total length 28
  4d 3c 2b 1a                # byte-order magic 0x1A2B3C4D read little-endian
  01 00 00 00                # version 1.0
  ff ff ff ff ff ff ff ff    # section length -1 (unspecified)
  1c 00 00 00                # total length again
  01 00 00 00  14 00 00 00   # IDB, total length 20
  01 00 00 00                # LinkType 1, reserved 0
  00 00 04 00                # SnapLen 262144
  14 00 00 00
  06 00 00 00  24 00 00 00   # EPB, total length 36
  00 00 00 00                # interface 0
  31 af 05 00  40 e2 a5 07   # timestamp 1600000000123456 µs = 0x0005AF31_07A5E240 (upper, lower)
  04 00 00 00  0a 00 00 00   # captured 4, original 10
  de ad be ef                # data (already 32-bit aligned)
  24 00 00 00
`);

/** The same structure big-endian with if_tsresol = 9 (ns) and a 3-byte packet (1 byte of padding). */
const BE_NS = hex(`
  0a 0d 0d 0a  00 00 00 1c  1a 2b 3c 4d  00 01 00 00  ff ff ff ff ff ff ff ff  00 00 00 1c
  00 00 00 01  00 00 00 20   # IDB, 32 bytes
  00 65 00 00  00 00 ff ff   # LinkType 101, SnapLen 65535
  00 09 00 01  09 00 00 00   # if_tsresol (9), length 1, value 9, 3 bytes padding
  00 00 00 00                # opt_endofopt
  00 00 00 20
  00 00 00 06  00 00 00 24
  00 00 00 00
  16 34 57 86  14 3a c9 ff   # 1600000000_999999999 ns
  00 00 00 03  00 00 00 03
  01 02 03 00                # 3 bytes + 1 padding
  00 00 00 24
`);

describe('pcapng reader: hex fixtures', () => {
  it('little-endian minimal file', () => {
    const r = openCapture(file('le-min.pcapng', LE_MIN));
    expect(r).toBeInstanceOf(PcapngReader);
    expect([r.format, r.linkType, r.snaplen, r.nanos]).toEqual(['pcapng', LINKTYPE_ETHERNET, 262144, false]);
    expect(r.advance()).toBe(true);
    expect([r.tsSec, r.tsNsec, r.len, r.origLen, r.byteOffset, r.ifIndex]).toEqual([
      1600000000, 123456000, 4, 10, 48, 0,
    ]);
    expect(toHex(r.record.data)).toBe('deadbeef');
    expect(r.advance()).toBe(false);
    r.close();
  });

  it('big-endian, if_tsresol 9, padded data', () => {
    const f = readCaptureFile(file('be-ns.pcapng', BE_NS));
    expect([f.format, f.linkType, f.snaplen, f.nanos]).toEqual(['pcapng', LINKTYPE_RAW, 65535, true]);
    expect(f.records.map((r) => [r.tsSec, r.tsNsec, toHex(r.data), r.origLen])).toEqual([
      [1600000000, 999999999, '010203', 3],
    ]);
  });

  it('tshark reads the fixtures the same way', () => {
    for (const [name, bytes] of [
      ['t-le.pcapng', LE_MIN],
      ['t-be.pcapng', BE_NS],
    ] as const) {
      const p = file(name, bytes);
      const mine = readCaptureFile(p).records;
      const theirs = tsharkFrames(p);
      expect(theirs.map((t) => [t.sec, t.nsec, t.len, t.capLen])).toEqual(
        mine.map((m) => [m.tsSec, m.tsNsec, m.origLen, m.data.length]),
      );
    }
  });
});

describe('pcapng writer: byte-exact output', () => {
  it('writes the little-endian minimal fixture', () => {
    const p = tmp.path('w.pcapng');
    const w = new PcapngWriter(p, { linkType: 1 });
    w.write(hex('deadbeef'), 1600000000, 123456999, 10);
    w.close();
    expect(toHex(readFileSync(p))).toBe(toHex(LE_MIN));
  });

  it('writes the big-endian ns fixture', () => {
    const p = tmp.path('w-be.pcapng');
    const w = new PcapngWriter(p, { linkType: 101, snaplen: 65535, nanos: true, bigEndian: true });
    w.write(hex('010203'), 1600000000, 999999999);
    w.close();
    expect(toHex(readFileSync(p))).toBe(toHex(BE_NS));
  });
});

describe('pcapng writer: 64-bit timestamps split exactly', () => {
  it('timestamps one unit either side of a 2^32 boundary (where a double sum would round)', () => {
    const p = tmp.path('w-split.pcapng');
    const w = new PcapngWriter(p, { linkType: 1, nanos: true });
    const units: bigint[] = [];
    for (const k of [400_000_000n, 401_234_567n, 4_294_967_295n / 1000n]) {
      for (const d of [-1n, 0n, 1n]) units.push(k * (1n << 32n) + d);
    }
    for (const t of units) w.write(hex('00'), Number(t / 1_000_000_000n), Number(t % 1_000_000_000n));
    w.close();
    // the raw EPB timestamp fields, read back by hand (block layout: 28 + 20 bytes of headers, EPB upper at +12)
    const bytes = readFileSync(p);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let o = 28 + 32;
    for (const t of units) {
      const got = (BigInt(dv.getUint32(o + 12, true)) << 32n) | BigInt(dv.getUint32(o + 16, true));
      expect(got).toBe(t);
      o += dv.getUint32(o + 4, true);
    }
    expect(tsharkFrames(p).map((f) => BigInt(f.sec) * 1_000_000_000n + BigInt(f.nsec))).toEqual(units);
  });
});

describe('pcapng reader: every block type, both byte orders', () => {
  for (const le of [true, false]) {
    it(`${le ? 'little' : 'big'}-endian: SHB options, NRB/ISB/custom skipped, EPB/PB/SPB read`, () => {
      const ng = new Ng(le);
      const d1 = hex('00112233445566778899aabbccddeeff01');
      const d2 = hex('c0ffee');
      const d3 = hex('0102030405060708090a');
      const shbOpts = concat(ng.opt(4, new TextEncoder().encode('egress-engine test')), ng.endOpt()); // shb_userappl
      const idbOpts = concat(ng.opt(2, new TextEncoder().encode('lo')), ng.opt(9, tsresol(6)), ng.endOpt());
      const p = file(
        `all-${le}.pcapng`,
        ng.shb(shbOpts),
        ng.nrb(),
        ng.idb(LINKTYPE_ETHERNET, 8, idbOpts), // snaplen 8: the SPB is cut to it
        ng.custom(),
        ng.epb(0, 1700000000_000001n, d1.subarray(0, 8), d1.length),
        ng.isb(),
        ng.pb(0, 1700000000_500000n, d2),
        ng.spb(d3.subarray(0, 8), d3.length),
      );
      const r = openCapture(p) as PcapngReader;
      expect(r.interfaces.map((i) => [i.linkType, i.snaplen, i.name, i.tsresol])).toEqual([[1, 8, 'lo', 6]]);
      const got: unknown[] = [];
      while (r.advance())
        got.push([r.tsSec, r.tsNsec, toHex(r.buf.subarray(r.off, r.off + r.len)), r.origLen, r.linkType]);
      expect(got).toEqual([
        [1700000000, 1000, toHex(d1.subarray(0, 8)), 17, 1],
        [1700000000, 500000000, 'c0ffee', 3, 1],
        [0, 0, toHex(d3.subarray(0, 8)), 10, 1], // SPB: no timestamp, captured = min(original, snaplen)
      ]);
      expect(r.sections).toBe(1);
      r.close();
      // tshark agrees on lengths and times (it reads the obsolete PB and the SPB too)
      expect(tsharkFrames(p).map((t) => [t.sec, t.nsec, t.len, t.capLen])).toEqual([
        [1700000000, 1000, 17, 8],
        [1700000000, 500000000, 3, 3],
        [0, 0, 10, 8],
      ]);
    });
  }

  it('several sections with their own byte order and interface numbering', () => {
    const a = new Ng(true);
    const b = new Ng(false);
    const p = file(
      'sections.pcapng',
      a.shb(),
      a.idb(LINKTYPE_ETHERNET, 0),
      a.idb(LINKTYPE_RAW, 0, concat(a.opt(9, tsresol(9)), a.endOpt())),
      a.epb(1, 5_000000001n, hex('45')),
      a.epb(0, 6_000001n, hex('ff')),
      b.shb(),
      b.idb(LINKTYPE_IPV4, 0, concat(b.opt(9, tsresol(3)), b.endOpt())),
      b.epb(0, 7_001n, hex('4500')),
    );
    const f = readCaptureFile(p);
    expect(f.linkType).toBe(LINKTYPE_ETHERNET);
    expect(f.records.map((r) => [r.linkType, r.tsSec, r.tsNsec, toHex(r.data)])).toEqual([
      [LINKTYPE_RAW, 5, 1, '45'],
      [LINKTYPE_ETHERNET, 6, 1000, 'ff'],
      [LINKTYPE_IPV4, 7, 1_000_000, '4500'],
    ]);
    expect(tsharkFrames(p).map((t) => [t.sec, t.nsec])).toEqual([
      [5, 1],
      [6, 1000],
      [7, 1_000_000],
    ]);
    // interface 1 of the first section does not exist in the second
    const bad = file(
      'sections-bad.pcapng',
      a.shb(),
      a.idb(1, 0),
      a.idb(1, 0),
      b.shb(),
      b.idb(1, 0),
      b.epb(1, 0n, hex('00')),
    );
    expect(() => readCaptureFile(bad)).toThrow(
      /enhanced packet block at byte \d+ names interface 1, but its section has 1/,
    );
  });
});

describe('pcapng timestamps: every resolution family, exact', () => {
  // (if_tsresol byte, units per second, timestamps in units) — values chosen to hit each conversion path:
  // decimal below 2^53, decimal long division, powers of two ≤ 32, and BigInt beyond.
  const cases: Array<{ name: string; res: Uint8Array | null; units: bigint; ts: bigint[] }> = [
    { name: 'default 10^-6', res: null, units: 1_000_000n, ts: [0n, 1n, 1700000000_123456n, 0xffffffff_ffffffffn] },
    {
      name: '10^-9',
      res: tsresol(9),
      units: 1_000_000_000n,
      ts: [
        1700000000_999999999n,
        999_999_999n,
        0xffffffff_ffffffffn,
        0x001fffff_ffffffffn,
        0x000fffff_ffffffffn,
        0x00100000_00000000n,
        0x000fffff_c4653600n,
      ],
    },
    {
      name: '10^-3',
      res: tsresol(3),
      units: 1000n,
      ts: [1700000000_999n, 0xfedcba98_76543210n, 0x000fffff_ffffffffn, 0x00100000_00000000n],
    },
    {
      name: '10^-7',
      res: tsresol(7),
      units: 10_000_000n,
      ts: [17000000000_000001n, 0xffffffff_ffffffffn, 0x80000000_00000000n],
    },
    { name: '10^0', res: tsresol(0), units: 1n, ts: [1700000000n] },
    { name: '10^-12', res: tsresol(12), units: 1_000_000_000_000n, ts: [17000000_123456789012n, 0xffffffff_ffffffffn] },
    { name: '2^-10', res: tsresol(10, true), units: 1024n, ts: [1700000000n * 1024n + 1023n, 0xffffffff_ffffffffn] },
    { name: '2^-5', res: tsresol(5, true), units: 32n, ts: [1700000000n * 32n + 31n] },
    {
      name: '2^-30',
      res: tsresol(30, true),
      units: 1n << 30n,
      ts: [(1700000000n << 30n) + 123456789n, (1n << 30n) - 1n],
    },
    {
      name: '2^-32',
      res: tsresol(32, true),
      units: 1n << 32n,
      ts: [(1700000000n << 32n) + 0xffffffffn, 0x12345678_9abcdef0n],
    },
    { name: '2^-40', res: tsresol(40, true), units: 1n << 40n, ts: [(1000n << 40n) + 123456789n] },
  ];
  for (const c of cases) {
    for (const le of [true, false]) {
      it(`${c.name} ${le ? 'LE' : 'BE'}`, () => {
        const ng = new Ng(le);
        const opts = c.res ? concat(ng.opt(9, c.res), ng.endOpt()) : new Uint8Array(0);
        const p = file(
          `ts-${c.name}-${le}.pcapng`,
          ng.shb(),
          ng.idb(1, 0, opts),
          ...c.ts.map((t) => ng.epb(0, t, hex('00'))),
        );
        const f = readCaptureFile(p);
        expect(f.records.map((r) => [r.tsSec, r.tsNsec])).toEqual(c.ts.map((t) => Object.values(refTs(t, c.units))));
        expect(f.nanos).toBe(c.units > 1_000_000n);
      });
    }
  }

  it('random 64-bit timestamps in every conversion path match BigInt', () => {
    const rand = prng(99);
    const u32 = () => BigInt((rand() * 2 ** 32) >>> 0);
    for (const [res, pow2] of [
      [6, false],
      [9, false],
      [7, false],
      [3, false],
      [0, false],
      [10, true],
      [20, true],
      [32, true],
      [12, false],
      [45, true],
    ] as const) {
      const units = pow2 ? 1n << BigInt(res) : 10n ** BigInt(res);
      const ts = Array.from({ length: 400 }, (_, i) => {
        const hi = i % 4 === 0 ? u32() & 0xfffffn : u32(); // both sides of the 2^52 fast path
        return (hi << 32n) | u32();
      });
      const ng = new Ng(res % 2 === 0);
      const p = file(
        `ts-random-${res}-${pow2}.pcapng`,
        ng.shb(),
        ng.idb(1, 0, concat(ng.opt(9, tsresol(res, pow2)), ng.endOpt())),
        ...ts.map((t) => ng.epb(0, t, hex('00'))),
      );
      const got = readCaptureFile(p).records.map((r) => [r.tsSec, r.tsNsec]);
      const want = ts.map((t) => Object.values(refTs(t, units)));
      expect(got, `tsresol ${pow2 ? '2' : '10'}^-${res}`).toEqual(want);
    }
  });

  it('timestamps a few units from a multiple of the unit, where the double sum rounds across it', () => {
    // Near 2^63 a double has a spacing of 2048 units: k·10^9 ± 2 rounds below or above k·10^9 for many k.
    for (const [res, units] of [
      [9, 1_000_000_000n],
      [6, 1_000_000n],
    ] as const) {
      const ts: bigint[] = [];
      for (let j = 0n; j < 64n; j++) {
        const k = (1n << 63n) / units + j * 7n;
        for (const r of [-2n, -1n, 0n, 1n, 2n]) ts.push(k * units + r);
      }
      const ng = new Ng(true);
      const p = file(
        `ts-edges-${res}.pcapng`,
        ng.shb(),
        ng.idb(1, 0, concat(ng.opt(9, tsresol(res)), ng.endOpt())),
        ...ts.map((t) => ng.epb(0, t, hex('00'))),
      );
      expect(readCaptureFile(p).records.map((r) => [r.tsSec, r.tsNsec])).toEqual(
        ts.map((t) => Object.values(refTs(t, units))),
      );
    }
  });

  it('if_tsoffset is added in seconds, negative too', () => {
    for (const le of [true, false]) {
      const ng = new Ng(le);
      const p = file(
        `tsoff-${le}.pcapng`,
        ng.shb(),
        ng.idb(1, 0, concat(ng.opt(14, i64(1_000_000_000n, le)), ng.endOpt())),
        ng.idb(1, 0, concat(ng.opt(14, i64(-5n, le)), ng.opt(9, tsresol(9)), ng.endOpt())),
        ng.epb(0, 700000000_000001n, hex('00')),
        ng.epb(1, 10_000000007n, hex('00')),
      );
      expect(readCaptureFile(p).records.map((r) => [r.tsSec, r.tsNsec])).toEqual([
        [1700000000, 1000],
        [5, 7],
      ]);
    }
  });
});

describe('pcapng round trips through tshark', () => {
  it('our big-endian pcapng is read identically by tshark (bytes and times)', () => {
    const p = tmp.path('ours-be.pcapng');
    const w = new PcapngWriter(p, { linkType: 1, nanos: true, bigEndian: true, snaplen: 100 });
    const frames = [hex('ffffffffffff0200000000010806'), new Uint8Array(150).fill(7), hex('01')];
    frames.forEach((d, i) => w.write(d, 1700000000 + i, i * 333_333_333));
    w.close();
    expect(tsharkBytes(p)).toEqual(frames.map((d) => toHex(d.subarray(0, 100))));
    expect(tsharkFrames(p).map((t) => [t.sec, t.nsec, t.len, t.capLen])).toEqual(
      frames.map((d, i) => [1700000000 + i, i * 333_333_333, d.length, Math.min(100, d.length)]),
    );
  });

  it('rewind re-reads the section header and interfaces', () => {
    const ng = new Ng(false);
    const p = file(
      'rewind.pcapng',
      ng.shb(),
      ng.idb(1, 0),
      ng.epb(0, 1n, hex('aa')),
      ng.shb(),
      ng.idb(101, 0),
      ng.epb(0, 2n, hex('bb')),
    );
    const r = openCapture(p);
    while (r.advance());
    expect(r.linkType).toBe(101);
    r.rewind();
    expect(r.advance()).toBe(true);
    expect([r.linkType, r.tsNsec, toHex(r.record.data)]).toEqual([1, 1000, 'aa']);
    r.close();
  });

  it('a file without interfaces has linkType -1 and no records', () => {
    const f = readCaptureFile(file('noif.pcapng', new Ng(true).shb(), new Ng(true).isb()));
    expect([f.linkType, f.records.length]).toEqual([-1, 0]);
  });

  it('an EPB before any IDB is a CaptureError', () => {
    const ng = new Ng(true);
    expect(() => readCaptureFile(file('noidb.pcapng', ng.shb(), ng.epb(0, 0n, hex('00'))))).toThrow(CaptureError);
  });
});
