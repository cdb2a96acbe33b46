/**
 * Streaming: a ~200 MB capture is written and read back (record by record, then through the port into
 * bursts) while the process's resident memory stays far below the file size: the reader and writer hold
 * one buffer, not the file.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CaptureError,
  CaptureReaderPort,
  PcapWriter,
  PcapngWriter,
  openCapture,
  readCaptureFile,
  writeCaptureFile,
} from '../../engine/io/index.js';
import { Burst, Slab } from '../../engine/packet/index.js';
import { prng, randomBytes, sameBytes, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

const TARGET = 200 * 1024 * 1024;
const LIMIT = 32 * 1024 * 1024;

describe('streaming a ~200 MB capture', () => {
  for (const format of ['pcap', 'pcapng'] as const) {
    it(`${format}: RSS grows by far less than the file size`, () => {
      const p = tmp.path(`big.${format}`);
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));

      const frame = new Uint8Array(1514);
      const dv = new DataView(frame.buffer);
      const W = format === 'pcap' ? PcapWriter : PcapngWriter;
      const w = new W(p, { linkType: 1, nanos: true });
      let n = 0;
      let sum = 0;
      while (w.offset < TARGET) {
        dv.setUint32(0, n);
        dv.setUint32(1510, n ^ 0x5a5a5a5a);
        const len = 60 + (n % 1455);
        w.writeChunk(frame, 0, len, 1700000000 + (n >>> 10), n % 1e9, len);
        sum += len;
        n++;
        if ((n & 0xfff) === 0) sample();
      }
      w.close();
      expect(statSync(p).size).toBeGreaterThan(TARGET);

      // record by record
      const r = openCapture(p);
      let m = 0;
      let got = 0;
      while (r.advance()) {
        const v = new DataView(r.buf.buffer, r.off, 4);
        if (v.getUint32(0) !== m || r.len !== 60 + (m % 1455)) throw new Error(`record ${m} differs`);
        got += r.len;
        m++;
        if ((m & 0xfff) === 0) sample();
      }
      r.close();
      expect([m, got]).toEqual([n, sum]);

      // through the port into bursts (freeing them)
      const slab = new Slab({ slots: 256 });
      const burst = new Burst(slab, 64);
      const port = CaptureReaderPort.open(p);
      let k = 0;
      let calls = 0;
      for (;;) {
        const c = port.recv(burst);
        k += c;
        burst.freeAll();
        if (c === 0 && port.done) break;
        if ((++calls & 0xff) === 0) sample();
      }
      port.close();
      expect([k, port.error]).toEqual([n, null]);
      sample();
      const growth = peak - rss0;
      console.log(
        `${format}: ${(statSync(p).size / 1048576).toFixed(0)} MB, ${n} records, RSS growth ${(growth / 1048576).toFixed(1)} MB`,
      );
      expect(growth).toBeLessThan(LIMIT);
    }, 60_000);
  }
});

describe('non-seekable input', () => {
  for (const format of ['pcap', 'pcapng'] as const) {
    it(`${format} through a FIFO (as from \`tcpdump -w - |\`) reads the same records; rewind is refused`, async () => {
      const src = tmp.path(`fifo-src.${format}`);
      const rand = prng(13);
      const records = Array.from({ length: 3000 }, (_, i) => ({
        data: randomBytes(rand, 1 + ((i * 7919) % 3000)),
        tsSec: i,
      }));
      writeCaptureFile(src, { linkType: 1, records, format });
      const fifo = tmp.path(`in-${format}.fifo`);
      execFileSync('mkfifo', [fifo]);
      const cat = spawn('sh', ['-c', 'cat "$0" > "$1"', src, fifo], { stdio: 'ignore' });
      const exited = new Promise((r) => cat.on('exit', r));
      const r = openCapture(fifo, { bufferSize: 4096 });
      let n = 0;
      const want = readCaptureFile(src).records;
      while (r.advance()) {
        if (!sameBytes(r.record.data, want[n]!.data) || r.tsSec !== n) throw new Error(`record ${n} differs`);
        n++;
      }
      expect(n).toBe(3000);
      expect(() => r.rewind()).toThrow(CaptureError);
      r.close();
      await exited;
      expect(readFileSync(src).length).toBeGreaterThan(0);
    });
  }
});
