/**
 * Corrupt and truncated captures: every truncation point of a small pcap and pcapng, bad magic and versions,
 * bad block lengths, lengths beyond the snaplen, random bytes and random mutations. Each must end in a
 * CaptureError that names the file and a byte offset (or read cleanly): never another exception, never a hang.
 */
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureError, openCapture, readCaptureFile, type ReaderOptions } from '../../engine/io/index.js';
import { Ng, concat, hex, i64, tempDir, tsresol } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.remove());
let seq = 0;

function file(bytes: Uint8Array, ext = 'bin'): string {
  const p = tmp.path(`c${seq++}.${ext}`);
  writeFileSync(p, bytes);
  return p;
}

/** Read everything; return the record count or the error (anything but CaptureError fails the test). */
function readAll(
  bytes: Uint8Array,
  opts: ReaderOptions = {},
): { n: number; err: CaptureError | null; warning: string | null } {
  const p = file(bytes);
  let r;
  try {
    r = openCapture(p, opts);
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    expectNamed(e, p);
    return { n: 0, err: e, warning: null };
  }
  try {
    let n = 0;
    while (r.advance()) {
      n++;
      if (n > 1e6) throw new Error('reader does not terminate');
    }
    return { n, err: null, warning: r.warning };
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    expectNamed(e, p);
    // a failed reader keeps failing the same way
    expect(() => r.advance()).toThrow(e);
    return { n: -1, err: e, warning: null };
  } finally {
    r.close();
  }
}

function expectNamed(e: CaptureError, p: string): void {
  expect(e.offset).toBeTypeOf('number');
  expect(e.message.startsWith(`${p}: `)).toBe(true);
  expect(e.message).toContain(`at byte ${e.offset}`);
}

const PCAP = hex(`
  d4 c3 b2 a1 02 00 04 00 00 00 00 00 00 00 00 00 00 04 00 00 01 00 00 00
  01 00 00 00 02 00 00 00 0a 00 00 00 0a 00 00 00 00 01 02 03 04 05 06 07 08 09
  03 00 00 00 04 00 00 00 00 00 00 00 00 00 00 00
  05 00 00 00 06 00 00 00 05 00 00 00 3c 00 00 00 aa bb cc dd ee
`);
/** Record boundaries of PCAP: after the header and after each record. */
const PCAP_BOUNDS = [24, 24 + 26, 24 + 26 + 16, 24 + 26 + 16 + 21];

describe('truncation at every byte', () => {
  it('pcap', () => {
    expect(PCAP.length).toBe(PCAP_BOUNDS.at(-1));
    for (let L = 0; L < PCAP.length; L++) {
      const cut = PCAP.subarray(0, L);
      const strict = readAll(cut);
      const complete = PCAP_BOUNDS.filter((b) => b <= L).length - 1; // records wholly present
      if (PCAP_BOUNDS.includes(L)) {
        expect(strict, `L=${L}`).toEqual({ n: complete, err: null, warning: null });
        continue;
      }
      expect(strict.err, `L=${L}`).toBeInstanceOf(CaptureError);
      const start = L < 24 ? 0 : PCAP_BOUNDS.filter((b) => b <= L).at(-1)!;
      expect(strict.err!.offset, `L=${L}`).toBe(start);
      expect(strict.err!.message).toMatch(L === 0 ? /empty file/ : /truncated/);
      const loose = readAll(cut, { tolerateTruncation: true });
      if (L < 24) expect(loose.err, `L=${L}`).toBeInstanceOf(CaptureError);
      else {
        expect(loose.n, `L=${L}`).toBe(complete);
        expect(loose.warning).toMatch(
          new RegExp(
            `truncated record(?: header)? at byte ${start} \\(need \\d+ bytes, ${L - start} left\\); ignoring`,
          ),
        );
      }
    }
  });

  it('the message of the brief: truncated record header, bytes needed and left', () => {
    const { err } = readAll(PCAP.subarray(0, 24 + 26 + 7));
    expect(err!.message).toMatch(/: truncated record header at byte 50 \(need 16 bytes, 7 left\)$/);
  });

  it('pcapng', () => {
    const ng = new Ng(true);
    const blocks = [
      ng.shb(),
      ng.idb(1, 0, concat(ng.opt(9, tsresol(9)), ng.endOpt())),
      ng.epb(0, 5n, hex('0102030405')),
      ng.nrb(),
      ng.epb(0, 6n, hex('')),
      ng.isb(),
      ng.spb(hex('aabbcc')),
    ];
    const whole = concat(...blocks);
    const bounds = [0];
    for (const b of blocks) bounds.push(bounds.at(-1)! + b.length);
    const isPacket = [false, false, true, false, true, false, true];
    for (let L = 0; L < whole.length; L++) {
      const cut = whole.subarray(0, L);
      const i = bounds.filter((b) => b <= L).length - 1; // blocks wholly present
      const packets = isPacket.slice(0, i).filter(Boolean).length;
      const strict = readAll(cut);
      if (bounds.includes(L) && L > 0) {
        expect(strict, `L=${L}`).toEqual({ n: packets, err: null, warning: null });
        continue;
      }
      expect(strict.err, `L=${L}`).toBeInstanceOf(CaptureError);
      expect(strict.err!.offset, `L=${L}`).toBe(bounds[i]);
      const loose = readAll(cut, { tolerateTruncation: true });
      if (L < bounds[1]!) expect(loose.err, `L=${L}: a cut section header is an error`).toBeInstanceOf(CaptureError);
      else {
        expect(loose.err, `L=${L}`).toBeNull();
        expect(loose.n, `L=${L}`).toBe(packets);
        expect(loose.warning).toMatch(/truncated .* at byte \d+ \(need \d+ bytes, \d+ left\)/);
      }
    }
  });
});

describe('bad headers and lengths', () => {
  const pcapHeader = (magic: string, ver = '02 00 04 00', snap = '00 00 04 00') =>
    hex(`${magic} ${ver} 00000000 00000000 ${snap} 01000000`);
  const rec = (cap: number, orig: number) => {
    const b = new Uint8Array(16 + Math.min(cap, 64));
    const dv = new DataView(b.buffer);
    dv.setUint32(8, cap, true);
    dv.setUint32(12, orig, true);
    return b;
  };

  const cases: Array<[string, Uint8Array, RegExp, number]> = [
    [
      'bad magic',
      hex('12345678 00000000 00000000 00000000 00000000 00000000'),
      /bad magic at byte 0: 0x12345678 is neither/,
      0,
    ],
    ['modified pcap', pcapHeader('34 cd b2 a1'), /modified pcap/, 0],
    ['pcap version 3.0', pcapHeader('d4 c3 b2 a1', '03 00 00 00'), /unsupported pcap version 3\.0 at byte 4$/, 4],
    [
      'caplen > snaplen',
      concat(pcapHeader('d4 c3 b2 a1', undefined, '40 00 00 00'), rec(65, 100)),
      /record at byte 24 claims 65 captured bytes, more than the snaplen 64/,
      24,
    ],
    [
      'caplen > 256 KiB with snaplen 0',
      concat(pcapHeader('d4 c3 b2 a1', undefined, '00 00 00 00'), rec(262145, 262145)),
      /more than the limit 262144/,
      24,
    ],
    [
      'caplen > origlen',
      concat(pcapHeader('d4 c3 b2 a1'), rec(10, 9)),
      /claims 10 captured bytes of a 9-byte packet/,
      24,
    ],
    ['empty', new Uint8Array(0), /empty file/, 0],
  ];
  for (const [name, bytes, re, off] of cases) {
    it(`pcap: ${name}`, () => {
      const { err } = readAll(bytes);
      expect(err).toBeInstanceOf(CaptureError);
      expect(err!.message).toMatch(re);
      expect(err!.offset).toBe(off);
    });
  }

  const ng = new Ng(true);
  const be = new Ng(false);
  const head = concat(ng.shb(), ng.idb(1, 100));
  const at = head.length;
  const ngCases: Array<[string, Uint8Array, RegExp, number]> = [
    [
      'block length not a multiple of 4',
      concat(head, ng.block(6, new Uint8Array(24), { lenDelta: 2, trailer: 38 })),
      /enhanced packet block at byte \d+ has a bad total length 38/,
      at,
    ],
    [
      'block length below 12',
      concat(head, ng.block(5, new Uint8Array(0), { lenDelta: -4, trailer: 8 })),
      /has a bad total length 8 \(must be a multiple of 4 and at least 12\)/,
      at,
    ],
    [
      'EPB shorter than its fixed fields',
      concat(head, ng.block(6, new Uint8Array(16))),
      /bad total length 28 .*at least 32/,
      at,
    ],
    [
      'trailing length differs',
      concat(head, ng.block(6, new Uint8Array(20), { trailer: 36 })),
      /trailing total length 36 that differs from its leading one 32/,
      at,
    ],
    [
      'trailing length differs, skipped block',
      concat(head, ng.block(0x99, new Uint8Array(20), { trailer: 4 })),
      /block \(type 0x00000099\) at byte \d+ has a trailing total length 4/,
      at,
    ],
    [
      'bad byte-order magic',
      hex('0a0d0d0a 1c000000 11223344 01000000 ffffffffffffffff 1c000000'),
      /bad byte-order magic 0x44332211 in the section header at byte 8$/,
      8,
    ],
    ['pcapng version 2.0', ng.shb(new Uint8Array(0), [2, 0]), /unsupported pcapng version 2\.0 at byte 12$/, 12],
    [
      'block longer than 4 MiB',
      concat(head, ng.block(6, new Uint8Array(20), { lenDelta: 5 * 1024 * 1024, trailer: 0 })),
      /claims \d+ bytes, more than the limit 4194304/,
      at,
    ],
    [
      'EPB caplen beyond the block',
      concat(head, ng.epb(0, 0n, hex('01020304'), 4, 9)),
      /claims 9 captured bytes but holds at most 4/,
      at,
    ],
    [
      'EPB caplen beyond the snaplen',
      concat(head, ng.epb(0, 0n, new Uint8Array(104))),
      /claims 104 captured bytes, more than its interface's snaplen 100/,
      at,
    ],
    [
      'EPB caplen > origlen',
      concat(head, ng.epb(0, 0n, new Uint8Array(8), 7)),
      /claims 8 captured bytes of a 7-byte packet/,
      at,
    ],
    ['unknown interface', concat(head, ng.epb(3, 0n, hex('00'))), /names interface 3, but its section has 1/, at],
    [
      'SPB without interface',
      concat(ng.shb(), ng.spb(hex('00'))),
      /simple packet block at byte 28 names interface 0, but its section has 0/,
      28,
    ],
    [
      'IDB option past its block',
      concat(ng.shb(), ng.block(1, hex('0100 0000 00000000 0900 3000 06000000'))),
      /bad option at byte 44 \(code 9, length 48, past the end of its block\)/,
      44,
    ],
    [
      'if_tsresol of 2 bytes',
      concat(ng.shb(), ng.idb(1, 0, concat(ng.opt(9, hex('0606')), ng.endOpt()))),
      /bad option at byte 44 \(code 9, length 2\) \(if_tsresol must be 1 byte\)/,
      44,
    ],
    [
      'if_tsoffset of 4 bytes',
      concat(be.shb(), be.idb(1, 0, concat(be.opt(14, i64(1n, false).subarray(4)), be.endOpt()))),
      /if_tsoffset must be 8 bytes/,
      44,
    ],
    [
      'SHB option past its block',
      ng.block(0x0a0d0d0a, hex('4d3c2b1a 0100 0000 ffffffffffffffff 0400 ff00')),
      /bad option at byte 24/,
      24,
    ],
  ];
  for (const [name, bytes, re, off] of ngCases) {
    it(`pcapng: ${name}`, () => {
      const { err } = readAll(bytes);
      expect(err).toBeInstanceOf(CaptureError);
      expect(err!.message).toMatch(re);
      expect(err!.offset).toBe(off);
    });
  }
});

describe('random input', () => {
  const ng = new Ng(true);
  const validNg = concat(
    ng.shb(),
    ng.idb(1, 0, concat(ng.opt(9, tsresol(9)), ng.endOpt())),
    ng.epb(0, 1700000000_000000001n, hex('0102030405060708')),
    ng.isb(),
    ng.epb(0, 2n, hex('aa')),
  );
  const prefixes = [new Uint8Array(0), PCAP.subarray(0, 24), new Ng(true).shb(), new Ng(false).shb(), hex('0a0d0d0a')];

  it('random bytes behind every kind of header: clean read or CaptureError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...prefixes),
        fc.uint8Array({ maxLength: 600 }),
        fc.constantFrom(16, 64, 1 << 20),
        (prefix, tail, bufferSize) => {
          const r = readAll(concat(prefix, tail), { bufferSize });
          if (r.err) expect(r.err.offset).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 1500, seed: 42 },
    );
  });

  it('random mutations of valid files: clean read or CaptureError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(PCAP, validNg),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (base, flips, tolerate) => {
          const b = base.slice();
          for (const [i, v] of flips) b[i % b.length] = v;
          readAll(b, { tolerateTruncation: tolerate, bufferSize: 32 });
        },
      ),
      { numRuns: 3000, seed: 7 },
    );
  });

  it('readCaptureFile wraps the same errors', () => {
    expect(() => readCaptureFile(file(hex('d4c3b2a1 0200 0400')))).toThrow(CaptureError);
  });
});
