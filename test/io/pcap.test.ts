/**
 * pcap reader and writer against hand-written fixtures (draft-ietf-opsawg-pcap §4 file header, §5 record),
 * both byte orders and both timestamp units, and write → read round trips (fast-check) including snaplen
 * truncation, small buffers (refill, compaction and growth paths) and the allocation-free copy.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CaptureError,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  PcapWriter,
  openCapture,
  readCaptureFile,
  writeCaptureFile,
} from '../../engine/io/index.js';
import { Stager } from '../../engine/io/copy.js';
import { hex, prng, randomBytes, sameBytes, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

/** Little-endian, microseconds, Ethernet, snaplen 65535, two records. */
const LE_US = hex(`
  d4 c3 b2 a1   # magic 0xA1B2C3D4 read little-endian: LE file, µs
  02 00 04 00   # version 2.4
  00 00 00 00   # reserved1
  00 00 00 00   # reserved2
  ff ff 00 00   # snaplen 65535
  01 00 00 00   # LinkType 1 (ETHERNET), FCS bits 0
  # record 1
  00 10 5e 5f   # ts sec 1600000000 (0x5F5E1000)
  40 e2 01 00   # ts µs 123456 (0x0001E240)
  04 00 00 00   # captured length 4
  0a 00 00 00   # original length 10
  de ad be ef
  # record 2
  01 10 5e 5f   # 1600000001
  3f 42 0f 00   # 999999 µs
  00 00 00 00   # captured length 0
  00 00 00 00   # original length 0
`);

/** Big-endian, nanoseconds, RAW, snaplen 262144, one 20-byte IPv4 header. */
const BE_NS = hex(`
  a1 b2 3c 4d   # magic 0xA1B23C4D read big-endian: BE file, ns
  00 02 00 04   # version 2.4
  00 00 00 00 00 00 00 00
  00 04 00 00   # snaplen 262144
  00 00 00 65   # LinkType 101 (RAW)
  5f 5e 10 00   # 1600000000
  3b 9a c9 ff   # 999999999 ns
  00 00 00 14   # 20
  00 00 00 28   # 40
  45 00 00 28 00 01 00 00 40 11 00 00 c6 12 00 01 c6 12 00 02
`);

/** Little-endian, nanoseconds; big-endian, microseconds (the two other combinations). */
const LE_NS = hex(`
  4d 3c b2 a1  02 00 04 00  00 00 00 00  00 00 00 00  00 00 01 00  65 00 00 00
  ff ff ff ff  15 cd 5b 07  02 00 00 00  02 00 00 00  ab cd   # 4294967295 s, 123456789 ns
`);
const BE_US = hex(`
  a1 b2 c3 d4  00 02 00 04  00 00 00 00  00 00 00 00  00 00 00 60  00 00 00 01
  00 00 00 00  00 00 00 01  00 00 00 03  00 00 00 60  01 02 03   # 0 s 1 µs, 3 of 96 bytes
`);

function file(name: string, bytes: Uint8Array): string {
  const p = tmp.path(name);
  writeFileSync(p, bytes);
  return p;
}

describe('pcap reader: hand-written fixtures', () => {
  it('little-endian µs Ethernet', () => {
    const r = openCapture(file('le-us.pcap', LE_US));
    expect([r.format, r.linkType, r.snaplen, r.nanos]).toEqual(['pcap', LINKTYPE_ETHERNET, 65535, false]);
    expect(r.advance()).toBe(true);
    expect([r.tsSec, r.tsNsec, r.len, r.origLen, r.byteOffset]).toEqual([1600000000, 123456000, 4, 10, 24]);
    expect(Array.from(r.buf.subarray(r.off, r.off + r.len))).toEqual([0xde, 0xad, 0xbe, 0xef]);
    const rec = r.next()!;
    expect([rec.tsSec, rec.tsNsec, rec.data.length, rec.origLen, r.byteOffset]).toEqual([
      1600000001, 999999000, 0, 0, 44,
    ]);
    expect(r.next()).toBeNull();
    expect(r.next()).toBeNull();
    expect(r.count).toBe(2);
    r.close();
  });

  it('big-endian ns RAW', () => {
    const f = readCaptureFile(file('be-ns.pcap', BE_NS));
    expect([f.format, f.linkType, f.snaplen, f.nanos]).toEqual(['pcap', LINKTYPE_RAW, 262144, true]);
    expect(f.records).toHaveLength(1);
    const r = f.records[0]!;
    expect([r.tsSec, r.tsNsec, r.origLen, r.linkType]).toEqual([1600000000, 999999999, 40, LINKTYPE_RAW]);
    expect(r.data).toEqual(BE_NS.subarray(40));
  });

  it('little-endian ns and big-endian µs', () => {
    const a = readCaptureFile(file('le-ns.pcap', LE_NS));
    expect([a.nanos, a.snaplen, a.linkType]).toEqual([true, 65536, 101]);
    expect(a.records.map((r) => [r.tsSec, r.tsNsec, Array.from(r.data), r.origLen])).toEqual([
      [4294967295, 123456789, [0xab, 0xcd], 2],
    ]);
    const b = readCaptureFile(file('be-us.pcap', BE_US));
    expect([b.nanos, b.snaplen, b.linkType]).toEqual([false, 96, 1]);
    expect(b.records.map((r) => [r.tsSec, r.tsNsec, Array.from(r.data), r.origLen])).toEqual([
      [0, 1000, [1, 2, 3], 96],
    ]);
  });

  it('rewind starts again at the first record', () => {
    const r = openCapture(file('rw.pcap', LE_US));
    while (r.advance());
    r.rewind();
    expect(r.advance()).toBe(true);
    expect(r.tsSec).toBe(1600000000);
    r.close();
  });

  it('an unopenable file is a CaptureError naming it', () => {
    expect(() => openCapture(tmp.path('missing.pcap'))).toThrow(CaptureError);
    expect(() => openCapture(tmp.path('missing.pcap'))).toThrow(/missing\.pcap: cannot open: ENOENT/);
    expect(() => readCaptureFile(tmp.dir)).toThrow(CaptureError); // a directory: EISDIR on read
  });
});

describe('pcap writer: byte-exact output', () => {
  it('writes the little-endian µs fixture', () => {
    const p = tmp.path('w-le-us.pcap');
    writeCaptureFile(p, {
      linkType: LINKTYPE_ETHERNET,
      snaplen: 65535,
      records: [
        { data: hex('deadbeef'), tsSec: 1600000000, tsNsec: 123456789, origLen: 10 }, // ns truncated to µs
        { data: new Uint8Array(0), tsSec: 1600000001, tsNsec: 999999999 },
      ],
    });
    expect(new Uint8Array(readFileSync(p))).toEqual(LE_US);
  });

  it('writes the big-endian ns fixture', () => {
    const p = tmp.path('w-be-ns.pcap');
    writeCaptureFile(p, {
      linkType: LINKTYPE_RAW,
      nanos: true,
      bigEndian: true,
      records: [{ data: BE_NS.subarray(40), tsSec: 1600000000, tsNsec: 999999999, origLen: 40 }],
    });
    expect(new Uint8Array(readFileSync(p))).toEqual(BE_NS);
  });

  it('truncates to the snaplen and keeps the original length', () => {
    const p = tmp.path('snap.pcap');
    const data = Uint8Array.from({ length: 200 }, (_, i) => i);
    writeCaptureFile(p, { linkType: 1, snaplen: 64, records: [{ data }, { data: data.subarray(0, 10) }] });
    const f = readCaptureFile(p);
    expect(f.snaplen).toBe(64);
    expect(f.records.map((r) => [r.data.length, r.origLen])).toEqual([
      [64, 200],
      [10, 10],
    ]);
    expect(f.records[0]!.data).toEqual(data.subarray(0, 64));
  });

  it('rejects bad arguments with RangeError', () => {
    const w = new PcapWriter(tmp.path('bad.pcap'), { linkType: 1 });
    expect(() => w.write(new Uint8Array(4), -1)).toThrow(RangeError);
    expect(() => w.write(new Uint8Array(4), 1.5)).toThrow(RangeError);
    expect(() => w.write(new Uint8Array(4), 0, 1e9)).toThrow(RangeError);
    expect(() => w.write(new Uint8Array(4), 0, 0, 3)).toThrow(RangeError);
    w.close();
    w.close(); // idempotent
    expect(() => new PcapWriter(tmp.path('bad2.pcap'), { linkType: 1, snaplen: 0 })).toThrow(RangeError);
    expect(() => new PcapWriter(tmp.path('no/such/dir.pcap'), { linkType: 1 })).toThrow(CaptureError);
  });
});

interface Rec {
  data: Uint8Array;
  tsSec: number;
  tsNsec: number;
  extra: number;
}

const recArb: fc.Arbitrary<Rec> = fc.record({
  data: fc.uint8Array({ minLength: 0, maxLength: 3000 }),
  tsSec: fc.integer({ min: 0, max: 0xffffffff }),
  tsNsec: fc.integer({ min: 0, max: 999_999_999 }),
  extra: fc.integer({ min: 0, max: 100 }),
});

describe('write → read round trips', () => {
  it('any records, format, byte order, unit, snaplen and buffer sizes', () => {
    let n = 0;
    fc.assert(
      fc.property(
        fc.array(recArb, { maxLength: 30 }),
        fc.constantFrom('pcap' as const, 'pcapng' as const),
        fc.boolean(),
        fc.boolean(),
        fc.option(fc.integer({ min: 1, max: 4000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 16, max: 5000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 64, max: 5000 }), { nil: undefined }),
        (recs, format, nanos, bigEndian, snaplen, readBuf, writeBuf) => {
          const p = tmp.path(`rt-${n++}.${format}`);
          const w =
            format === 'pcap'
              ? new PcapWriter(p, {
                  linkType: 1,
                  nanos,
                  bigEndian,
                  ...(snaplen !== undefined && { snaplen }),
                  ...(writeBuf !== undefined && { bufferSize: writeBuf }),
                })
              : undefined;
          if (w) {
            for (const r of recs) w.write(r.data, r.tsSec, r.tsNsec, r.data.length + r.extra);
            w.close();
          } else {
            writeCaptureFile(p, {
              linkType: 1,
              format,
              nanos,
              bigEndian,
              ...(snaplen !== undefined && { snaplen }),
              records: recs.map((r) => ({
                data: r.data,
                tsSec: r.tsSec,
                tsNsec: r.tsNsec,
                origLen: r.data.length + r.extra,
              })),
            });
          }
          const snap = snaplen ?? 262144;
          const got = readCaptureFile(p, readBuf !== undefined ? { bufferSize: readBuf } : {});
          expect(got.format).toBe(format);
          expect(got.nanos).toBe(nanos);
          expect(got.snaplen).toBe(snap);
          expect(got.records.length).toBe(recs.length);
          got.records.forEach((g, i) => {
            const r = recs[i]!;
            expect(g.data).toEqual(r.data.subarray(0, Math.min(snap, r.data.length)));
            expect(g.origLen).toBe(r.data.length + r.extra);
            expect(g.tsSec).toBe(r.tsSec);
            expect(g.tsNsec).toBe(nanos ? r.tsNsec : Math.floor(r.tsNsec / 1000) * 1000);
          });
        },
      ),
      { numRuns: 150, seed: 0x10 },
    );
  });

  it('records larger than the read buffer make it grow; larger than the write buffer go straight out', () => {
    const rand = prng(7);
    const recs = Array.from({ length: 50 }, (_, i) => ({
      data: randomBytes(rand, i % 7 === 0 ? 200_000 : 1 + i * 97),
    }));
    for (const format of ['pcap', 'pcapng'] as const) {
      const p = tmp.path(`big.${format}`);
      writeCaptureFile(p, { linkType: 1, records: recs, format });
      for (const bufferSize of [16, 1000, 1 << 20]) {
        const got = readCaptureFile(p, { bufferSize });
        expect(got.records.length).toBe(recs.length);
        got.records.forEach((g, i) => expect(sameBytes(g.data, recs[i]!.data), `record ${i}`).toBe(true));
      }
    }
  });
});

describe('copying out without views', () => {
  it('reader.copyTo writes the record and never past dstOff + room', () => {
    const rand = prng(3);
    const lens = [0, 1, 63, 64, 65, 127, 128, 500, 1024, 1500, 1919, 1920, 2047, 2048, 2049, 9000];
    const p = tmp.path('copy.pcap');
    const recs = lens.map((l) => ({ data: randomBytes(rand, l) }));
    writeCaptureFile(p, { linkType: 1, records: recs });
    const r = openCapture(p, { bufferSize: 4096 });
    const dst = new Uint8Array(20000);
    for (const rec of recs) {
      expect(r.advance()).toBe(true);
      for (const extra of [0, 1, 5, 100, 3000]) {
        const room = rec.data.length + extra;
        dst.fill(0xa5);
        r.copyTo(dst, 300, room);
        expect(dst.subarray(300, 300 + rec.data.length)).toEqual(rec.data);
        expect(dst.subarray(0, 300).every((b) => b === 0xa5)).toBe(true);
        expect(dst.subarray(300 + room).every((b) => b === 0xa5)).toBe(true);
      }
      // room beyond the end of dst is clamped to it
      r.copyTo(dst, dst.length - rec.data.length, 1 << 20);
      expect(dst.subarray(dst.length - rec.data.length)).toEqual(rec.data);
    }
    r.close();
  });

  it('Stager.copy writes chunk[rel..rel+len) and never past dstOff + room', () => {
    const rand = prng(5);
    const st = new Stager(4096);
    const chunk = randomBytes(rand, 2048);
    const dst = new Uint8Array(8192);
    for (let t = 0; t < 500; t++) {
      const rel = (rand() * 2048) | 0;
      const len = (rand() * (2048 - rel)) | 0;
      const room = len + ((rand() * 3000) | 0);
      const off = (rand() * (8192 - len)) | 0;
      dst.fill(0x5a);
      st.copy(chunk, rel, len, dst, off, room);
      expect(dst.subarray(off, off + len)).toEqual(chunk.subarray(rel, rel + len));
      expect(dst.subarray(0, off).every((b) => b === 0x5a)).toBe(true);
      expect(dst.subarray(Math.min(8192, off + room)).every((b) => b === 0x5a)).toBe(true);
    }
  });
});
