/**
 * Capture and memory Ports (engine/graph Port contract): capture → bursts → capture is byte-identical (pcap
 * and pcapng, also a tcpdump-written file), drops are counted (oversize, link type, bad timestamps, full
 * queues, exhausted slabs), corrupt input and failed writes end in `error` rather than an exception, and the
 * recording tap writes what passes.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CaptureError,
  CaptureReaderPort,
  CaptureWriterPort,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_RAW,
  MemoryPort,
  PcapWriter,
  RecordingPort,
  createCaptureWriter,
  openCapture,
  readCaptureFile,
  writeCaptureFile,
  type CaptureReader,
} from '../../engine/io/index.js';
import { Burst, Slab } from '../../engine/packet/index.js';
import { Ng, concat, hex, prng, randomBytes, sameBytes, tempDir, toHex } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

function frames(n: number, seed: number, maxLen = 1514): Array<{ data: Uint8Array; tsSec: number; tsNsec: number }> {
  const rand = prng(seed);
  return Array.from({ length: n }, (_, i) => ({
    data: randomBytes(rand, 14 + ((rand() * (maxLen - 13)) | 0)),
    tsSec: 1700000000 + i,
    tsNsec: (i * 987_654_321) % 1e9,
  }));
}

/** Pump a reader port into a writer port through one burst until the capture is done; returns packets moved. */
function pump(rx: CaptureReaderPort, tx: CaptureWriterPort, burst: Burst): number {
  let moved = 0;
  for (let guard = 0; guard < 1e6; guard++) {
    const n = rx.recv(burst);
    tx.send(burst);
    burst.freeAll();
    moved += n;
    if (n === 0 && rx.done) return moved;
  }
  throw new Error('pump does not terminate');
}

function copyThroughPorts(
  src: string,
  dst: string,
  slab: Slab,
  burstSize: number,
): { moved: number; reader: CaptureReader } {
  const rx = CaptureReaderPort.open(src, { portId: 3 });
  const r = rx.reader;
  const w = createCaptureWriter(dst, {
    format: r.format,
    linkType: r.linkType,
    snaplen: r.snaplen || 262144,
    nanos: r.nanos,
  });
  const tx = new CaptureWriterPort(w);
  const moved = pump(rx, tx, new Burst(slab, burstSize));
  rx.close();
  tx.close();
  expect(rx.error).toBeNull();
  expect(tx.error).toBeNull();
  expect(slab.available).toBe(slab.slots); // every slot came back
  return { moved, reader: r };
}

describe('CaptureReaderPort → burst → CaptureWriterPort', () => {
  for (const [format, nanos] of [
    ['pcap', false],
    ['pcap', true],
    ['pcapng', false],
    ['pcapng', true],
  ] as const) {
    it(`${format} ${nanos ? 'ns' : 'µs'}: byte-identical`, () => {
      const src = tmp.path(`in-${nanos}.${format}`);
      const recs = frames(500, 1);
      writeCaptureFile(src, { linkType: LINKTYPE_ETHERNET, records: recs, nanos, format });
      for (const [slots, burstSize] of [
        [256, 64],
        [5, 64], // fewer free slots than the burst holds: recv stops at the slab, nothing is lost
        [64, 1],
      ] as const) {
        const dst = tmp.path(`out-${nanos}-${slots}-${burstSize}.${format}`);
        const { moved } = copyThroughPorts(src, dst, new Slab({ slots }), burstSize);
        expect(moved).toBe(500);
        expect(sameBytes(readFileSync(dst), readFileSync(src))).toBe(true);
      }
    });
  }

  it('a pcap written by tcpdump comes out byte-identical', () => {
    const ours = tmp.path('for-tcpdump.pcap');
    writeCaptureFile(ours, { linkType: LINKTYPE_ETHERNET, records: frames(100, 2) });
    const theirs = tmp.path('by-tcpdump.pcap');
    execFileSync('tcpdump', ['-Z', 'root', '-r', ours, '-w', theirs], { stdio: 'ignore' });
    const out = tmp.path('by-tcpdump-out.pcap');
    copyThroughPorts(theirs, out, new Slab({ slots: 128 }), 32);
    expect(sameBytes(readFileSync(out), readFileSync(theirs))).toBe(true);
    execFileSync('cmp', [theirs, out]);
  });

  it('sets slot, offset at the headroom, length, port id, timestamp; l3 unset', () => {
    const src = tmp.path('fields.pcap');
    const recs = frames(3, 3);
    writeCaptureFile(src, { linkType: LINKTYPE_ETHERNET, records: recs, nanos: true });
    const slab = new Slab({ slots: 8 });
    const b = new Burst(slab, 8);
    const rx = CaptureReaderPort.open(src, { portId: 7, name: 'in' });
    expect(rx.recv(b)).toBe(3);
    expect(rx.recv(b)).toBe(0);
    expect(rx.done).toBe(true);
    for (let i = 0; i < 3; i++) {
      expect(b.off[i]).toBe(slab.start(b.slot[i]!));
      expect([b.len[i], b.port[i], b.l3[i], b.tsSec[i], b.tsNsec[i]]).toEqual([
        recs[i]!.data.length,
        7,
        -1,
        recs[i]!.tsSec,
        recs[i]!.tsNsec,
      ]);
      expect(toHex(b.bytes(i))).toBe(toHex(recs[i]!.data));
    }
    expect(rx.counters.snapshot()).toMatchObject({
      packets: 3,
      bytes: recs.reduce((n, r) => n + r.data.length, 0),
      oversize: 0,
    });
    rx.send(b);
    expect(rx.counters.get('tx-discard')).toBe(3);
    rx.close();
    rx.close();
  });

  it('counts records longer than the slab mtu as oversize and snapped records as snapped', () => {
    const src = tmp.path('oversize.pcap');
    const lens = [60, 128, 129, 1500, 100];
    writeCaptureFile(src, {
      linkType: 1,
      snaplen: 1000,
      records: lens.map((n) => ({ data: new Uint8Array(n).fill(n & 0xff) })),
    });
    const slab = new Slab({ slots: 4, slotSize: 256, headroom: 128 }); // mtu 128
    const b = new Burst(slab, 8);
    const rx = CaptureReaderPort.open(src);
    expect(rx.recv(b)).toBe(3);
    expect(Array.from(b.len.subarray(0, 3))).toEqual([60, 128, 100]);
    expect(rx.counters.snapshot()).toMatchObject({ packets: 3, oversize: 2, snapped: 0 });
    rx.close();
    // snapped: captured shorter than the original
    const snap = tmp.path('snapped.pcap');
    writeCaptureFile(snap, {
      linkType: 1,
      snaplen: 64,
      records: [{ data: new Uint8Array(100) }, { data: new Uint8Array(10) }],
    });
    const rx2 = CaptureReaderPort.open(snap);
    expect(rx2.recv(new Burst(new Slab({ slots: 4 }), 4))).toBe(2);
    expect(rx2.counters.get('snapped')).toBe(1);
    rx2.close();
  });

  it('drops packets of another link type; RAW and IPV4 count as one kind', () => {
    const ng = new Ng(true);
    const p = tmp.path('mixed.pcapng');
    writeFileSync(
      p,
      concat(
        ng.shb(),
        ng.idb(LINKTYPE_RAW, 0),
        ng.idb(LINKTYPE_ETHERNET, 0),
        ng.idb(LINKTYPE_IPV4, 0),
        ng.epb(0, 1n, hex('45000014')),
        ng.epb(1, 2n, hex('ffffffffffff')),
        ng.epb(2, 3n, hex('45000015')),
      ),
    );
    const rx = CaptureReaderPort.open(p);
    expect(rx.linkType).toBe(LINKTYPE_RAW);
    const b = new Burst(new Slab({ slots: 8 }), 8);
    expect(rx.recv(b)).toBe(2);
    expect([toHex(b.bytes(0)), toHex(b.bytes(1))]).toEqual(['45000014', '45000015']);
    expect(rx.counters.get('linktype')).toBe(1);
    rx.close();
  });

  it('a corrupt file ends the port with its CaptureError, the packets before it delivered', () => {
    const src = tmp.path('corrupt.pcap');
    writeCaptureFile(src, { linkType: 1, records: frames(5, 4, 100) });
    const bytes = readFileSync(src);
    const r3 = openCapture(src);
    for (let i = 0; i < 3; i++) r3.advance();
    const at = r3.byteOffset; // the third record
    r3.close();
    bytes.writeUInt32LE(1_000_000, at + 8); // its captured length, beyond the snaplen
    writeFileSync(src, bytes);
    const rx = CaptureReaderPort.open(src);
    const b = new Burst(new Slab({ slots: 16 }), 16);
    expect(rx.recv(b)).toBe(2);
    expect(rx.done).toBe(true);
    expect(rx.error).toBeInstanceOf(CaptureError);
    expect(rx.error!.offset).toBe(at);
    expect(rx.counters.get('corrupt')).toBe(1);
    expect(rx.recv(b)).toBe(0);
    rx.close();
  });

  it('tolerates a truncated tail when asked', () => {
    const src = tmp.path('trunc.pcap');
    writeCaptureFile(src, { linkType: 1, records: frames(4, 5, 200) });
    const bytes = readFileSync(src);
    writeFileSync(src, bytes.subarray(0, bytes.length - 3));
    const warnings: string[] = [];
    const rx = CaptureReaderPort.open(src, { tolerateTruncation: true, onWarning: (m) => warnings.push(m) });
    const b = new Burst(new Slab({ slots: 16 }), 16);
    expect(rx.recv(b)).toBe(3);
    expect([rx.done, rx.error]).toEqual([true, null]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /truncated record at byte \d+ \(need \d+ bytes, \d+ left\); ignoring the truncated tail/,
    );
    rx.close();
  });
});

describe('CaptureWriterPort', () => {
  it('counts bad timestamps and packets outside their slot; writes the rest', () => {
    const slab = new Slab({ slots: 8 });
    const b = new Burst(slab, 8);
    for (let i = 0; i < 5; i++) {
      const j = b.alloc(10);
      slab.u8.fill(i + 1, b.off[j]!, b.off[j]! + 10);
      b.tsSec[j] = 100 + i;
    }
    b.tsSec[1] = -1;
    b.tsSec[2] = 2 ** 32;
    b.tsSec[3] = 1.5;
    const p = tmp.path('wp.pcap');
    const tx = new CaptureWriterPort(new PcapWriter(p, { linkType: 1 }));
    tx.send(b);
    b.off[0] = slab.base(b.slot[0]!) + slab.slotSize - 4; // 10 bytes from here cross into the next slot
    tx.send(b);
    tx.close();
    expect(tx.counters.snapshot()).toMatchObject({ packets: 3, 'bad-timestamp': 6, 'bad-packet': 1, 'write-error': 0 });
    expect(readCaptureFile(p).records.map((r) => [r.tsSec, r.data[0]])).toEqual([
      [100, 1],
      [104, 5],
      [104, 5],
    ]);
    b.freeAll();
  });

  it('a failed write (disk full) lands in error and counters; send and close do not throw', () => {
    const tx = new CaptureWriterPort(new PcapWriter('/dev/full', { linkType: 1, bufferSize: 64 }));
    const slab = new Slab({ slots: 4 });
    const b = new Burst(slab, 4);
    for (let i = 0; i < 4; i++) b.alloc(100);
    tx.send(b); // records larger than the 64-byte buffer go out at once: ENOSPC
    tx.send(b);
    tx.close();
    expect(tx.error).toBeInstanceOf(CaptureError);
    expect(tx.error!.message).toMatch(/^\/dev\/full: write failed at byte 0: ENOSPC/);
    expect(tx.counters.get('write-error')).toBe(8);
    b.freeAll();
  });
});

describe('MemoryPort', () => {
  it('bounded queue: drops counted, order and timestamps kept, slots handed over', () => {
    const slab = new Slab({ slots: 16 });
    const m = new MemoryPort({ name: 'mem', slab, capacity: 4, portId: 9 });
    for (let i = 0; i < 6; i++) expect(m.inject(new Uint8Array([i, i, i]), 10 + i, i)).toBe(i < 4);
    expect(m.queued).toBe(4);
    expect(m.counters.snapshot()).toMatchObject({ queued: 4, 'queue-full': 2 });
    expect(slab.available).toBe(12);
    const b = new Burst(slab, 3);
    expect(m.recv(b)).toBe(3);
    expect(m.recv(b)).toBe(0); // burst full
    expect(Array.from({ length: 3 }, (_, i) => [b.bytes(i)[0], b.tsSec[i], b.tsNsec[i], b.port[i], b.l3[i]])).toEqual([
      [0, 10, 0, 9, -1],
      [1, 11, 1, 9, -1],
      [2, 12, 2, 9, -1],
    ]);
    expect(slab.available).toBe(12); // same slab: slots changed owner, nothing copied or allocated
    b.freeAll();
    expect(m.inject(new Uint8Array([7]))).toBe(true); // room again; wraps around the ring
    expect(m.recv(b)).toBe(2);
    expect([b.bytes(0)[0], b.bytes(1)[0]]).toEqual([3, 7]);
    b.freeAll();
    expect(slab.available).toBe(16);
    expect(m.counters.get('rx')).toBe(5);
  });

  it('injectFrom copies a range of a slab view (or of any array)', () => {
    const slab = new Slab({ slots: 4 });
    const m = new MemoryPort({ name: 'm', slab });
    const b = new Burst(slab, 4);
    const j = b.alloc(6);
    slab.u8.set([1, 2, 3, 4, 5, 6], b.off[j]!);
    expect(m.injectFrom(slab.u8, b.off[j]! + 1, 4, 8, 9)).toBe(true); // same slab: copyWithin
    expect(m.injectFrom(new Uint8Array([9, 8, 7]), 1, 2)).toBe(true); // another buffer
    expect(() => m.injectFrom(slab.u8, slab.u8.length - 2, 4)).toThrow(RangeError);
    b.freeAll();
    expect(m.recv(b)).toBe(2);
    expect([toHex(b.bytes(0)), b.tsSec[0], b.tsNsec[0], toHex(b.bytes(1))]).toEqual(['02030405', 8, 9, '0807']);
    b.freeAll();
  });

  it('counts an exhausted slab and oversize packets', () => {
    const slab = new Slab({ slots: 2, slotSize: 256, headroom: 128 });
    const m = new MemoryPort({ name: 'm', slab });
    expect(m.inject(new Uint8Array(129))).toBe(false);
    expect(m.inject(new Uint8Array(128))).toBe(true);
    expect(m.inject(new Uint8Array(1))).toBe(true);
    expect(m.inject(new Uint8Array(1))).toBe(false);
    expect(m.counters.snapshot()).toMatchObject({ oversize: 1, 'no-slot': 1, queued: 2 });
    m.close();
    expect(slab.available).toBe(2); // close freed the queued slots
    m.close();
  });

  it('recv into a burst of another slab copies the bytes', () => {
    const own = new Slab({ slots: 4 });
    const other = new Slab({ slots: 4, slotSize: 4096, headroom: 256 });
    const m = new MemoryPort({ name: 'm', slab: own });
    const data = randomBytes(prng(9), 1500);
    m.inject(data, 5, 6);
    const b = new Burst(other, 4);
    other.u8.fill(0xee);
    expect(m.recv(b)).toBe(1);
    expect(b.off[0]).toBe(other.start(b.slot[0]!));
    expect(sameBytes(b.bytes(0), data)).toBe(true);
    expect(own.available).toBe(4);
    // a burst slab too small for a queued packet: counted, not blocking the queue
    const tiny = new Slab({ slots: 4, slotSize: 256, headroom: 128 });
    m.inject(data);
    m.inject(data.subarray(0, 10));
    const t = new Burst(tiny, 4);
    expect(m.recv(t)).toBe(1);
    expect(t.len[0]).toBe(10);
    expect(m.counters.get('oversize')).toBe(1);
  });

  it('link(a, b): what a sends, b receives (same slab and across slabs); callback and list outputs', () => {
    for (const shared of [true, false]) {
      const sa = new Slab({ slots: 8 });
      const sb = shared ? sa : new Slab({ slots: 8 });
      const a = new MemoryPort({ name: 'a', slab: sa });
      const c = new MemoryPort({ name: 'b', slab: sb, capacity: 2 });
      MemoryPort.link(a, c);
      const out = new Burst(sa, 4);
      for (let i = 0; i < 3; i++) {
        const j = out.alloc(4);
        sa.u8.set([i, 1, 2, 3], out.off[j]!);
        out.tsSec[j] = i;
      }
      out.off[2]! -= 20; // a packet not at the headroom (an encapsulation moved it back)
      sa.u8.set([2, 1, 2, 3], out.off[2]!);
      a.send(out);
      out.freeAll();
      expect(c.counters.snapshot()).toMatchObject({ queued: 2, 'queue-full': 1 });
      const inb = new Burst(sb, 4);
      expect(c.recv(inb)).toBe(2);
      expect([toHex(inb.bytes(0)), toHex(inb.bytes(1)), inb.tsSec[1]]).toEqual(['00010203', '01010203', 1]);
      inb.freeAll();
      expect(sa.available + (shared ? 0 : sb.available)).toBe(shared ? 8 : 16);
    }
    const slab = new Slab({ slots: 4 });
    const seen: string[] = [];
    const cb = new MemoryPort({ name: 'cb', slab, onSend: (d, s) => seen.push(`${toHex(d)}@${s}`) });
    const list = new MemoryPort({ name: 'list', slab });
    const b = new Burst(slab, 2);
    slab.u8.set([0xab], b.off[b.alloc(1)]!);
    b.tsSec[0] = 42;
    cb.send(b);
    list.send(b);
    expect(seen).toEqual(['ab@42']);
    expect(list.takeSent().map((p) => [toHex(p.data), p.tsSec])).toEqual([['ab', 42]]);
    expect(list.takeSent()).toEqual([]);
    b.freeAll();
  });
});

describe('RecordingPort', () => {
  it('records what the inner port receives and what is sent through it', () => {
    const slab = new Slab({ slots: 16 });
    const inner = new MemoryPort({ name: 'pod', slab });
    const p = tmp.path('tap.pcap');
    const rec = new RecordingPort(inner, new PcapWriter(p, { linkType: LINKTYPE_RAW, nanos: true }));
    expect(rec.name).toBe('pod');
    inner.inject(hex('450000aa'), 1, 1);
    inner.inject(hex('450000bb'), 2, 2);
    const b = new Burst(slab, 8);
    expect(rec.recv(b)).toBe(2);
    expect(rec.recv(b)).toBe(0);
    b.tsSec[0] = 3;
    rec.send(b);
    b.freeAll();
    rec.close();
    expect(readCaptureFile(p).records.map((r) => [toHex(r.data), r.tsSec, r.tsNsec])).toEqual([
      ['450000aa', 1, 1],
      ['450000bb', 2, 2],
      ['450000aa', 3, 1],
      ['450000bb', 2, 2],
    ]);
    expect(inner.takeSent()).toHaveLength(2);
    expect(rec.recorder.counters.get('packets')).toBe(4);
    // direction filter
    const q = tmp.path('tap-tx.pcap');
    const inner2 = new MemoryPort({ name: 'x', slab });
    const rec2 = new RecordingPort(inner2, new PcapWriter(q, { linkType: 1 }), 'tx');
    inner2.inject(hex('01'));
    expect(rec2.recv(b)).toBe(1);
    rec2.send(b);
    b.freeAll();
    rec2.close();
    expect(readCaptureFile(q).records).toHaveLength(1);
  });
});
