/**
 * engine/io: packets per second through the capture reader (alone and via CaptureReaderPort into bursts,
 * freeing them), the capture writer port (to /dev/null, so the figure is the engine's cost plus a write(2)
 * per MiB, not the disk's), and a MemoryPort wire. Inputs are ~20 MB pcaps generated once per run in
 * os.tmpdir() and deleted at exit; the reader rewinds at the end of the file. `ops` = packets per call.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CaptureReaderPort,
  CaptureWriterPort,
  MemoryPort,
  PcapWriter,
  PcapngWriter,
  openCapture,
  type CaptureReader,
} from '../../engine/io/index.js';
import { Burst, Slab } from '../../engine/packet/index.js';
import type { BenchCase, Suite } from '../harness.js';

const FILE_BYTES = 20 * 1024 * 1024;
const N = 4096;
let sink = 0;

const files = new Map<string, string>();
process.on('exit', () => {
  for (const f of files.values()) rmSync(f, { force: true });
});

/** A ~20 MB capture of `len`-byte frames (generated on first use). */
function capture(format: 'pcap' | 'pcapng', len: number): string {
  const key = `${format}/${len}`;
  let p = files.get(key);
  if (p) return p;
  p = join(tmpdir(), `egr-io-bench-${process.pid}-${len}.${format}`);
  const W = format === 'pcap' ? PcapWriter : PcapngWriter;
  const w = new W(p, { linkType: 1, nanos: true });
  const frame = new Uint8Array(len);
  for (let i = 0; w.offset < FILE_BYTES; i++) {
    frame[0] = i;
    w.writeChunk(frame, 0, len, 1700000000 + (i >>> 16), i & 0xffff, len);
  }
  w.close();
  files.set(key, p);
  return p;
}

function readerCase(format: 'pcap' | 'pcapng', len: number): BenchCase {
  let r: CaptureReader | null = null;
  return {
    name: `reader.advance/${format}/${len}`,
    ops: N,
    setup: () => {
      r ??= openCapture(capture(format, len));
    },
    fn: () => {
      const rd = r!;
      let s = 0;
      for (let i = 0; i < N; i++) {
        if (!rd.advance()) {
          rd.rewind();
          rd.advance();
        }
        s += rd.len;
      }
      sink ^= s;
    },
  };
}

function readPortCase(format: 'pcap' | 'pcapng', len: number): BenchCase {
  let port: CaptureReaderPort | null = null;
  const slab = new Slab({ slots: 256 });
  const burst = new Burst(slab, 64);
  return {
    name: `read-port/${format}/${len}`,
    ops: N,
    setup: () => {
      port ??= CaptureReaderPort.open(capture(format, len));
    },
    fn: () => {
      const p = port!;
      let moved = 0;
      while (moved < N) {
        const n = p.recv(burst);
        if (n === 0 && p.done) p.rewind();
        moved += n;
        sink ^= burst.len[0]!;
        burst.freeAll();
      }
    },
  };
}

function writePortCase(format: 'pcap' | 'pcapng', len: number): BenchCase {
  const slab = new Slab({ slots: 64 });
  const burst = new Burst(slab, 64);
  for (let i = 0; i < 64; i++) {
    const j = burst.alloc(len);
    burst.tsSec[j] = 1700000000;
    burst.tsNsec[j] = i * 1000;
  }
  let port: CaptureWriterPort | null = null;
  return {
    name: `write-port/${format}/${len}`,
    ops: N,
    setup: () => {
      const W = format === 'pcap' ? PcapWriter : PcapngWriter;
      port ??= new CaptureWriterPort(new W('/dev/null', { linkType: 1, nanos: true }));
    },
    fn: () => {
      for (let i = 0; i < N / 64; i++) port!.send(burst);
    },
    facts: () => ({ written: port!.counters.get('packets'), errors: port!.counters.get('write-error') }),
  };
}

/** MemoryPort wire a → b (the simulated switch's path): send a burst, receive it on the other side, free. */
function memoryCase(len: number, shared: boolean): BenchCase {
  const sa = new Slab({ slots: 512 });
  const sb = shared ? sa : new Slab({ slots: 512 });
  const a = new MemoryPort({ name: 'a', slab: sa, capacity: 256 });
  const b = new MemoryPort({ name: 'b', slab: sb, capacity: 256 });
  MemoryPort.link(a, b);
  const out = new Burst(sa, 64);
  for (let i = 0; i < 64; i++) out.alloc(len);
  const inb = new Burst(sb, 64);
  return {
    name: `memory-link/${shared ? 'same-slab' : 'two-slabs'}/${len}`,
    ops: N,
    fn: () => {
      for (let i = 0; i < N / 64; i++) {
        a.send(out);
        b.recv(inb);
        sink ^= inb.len[63]!;
        inb.freeAll();
      }
    },
  };
}

const cases: BenchCase[] = [];
for (const len of [64, 1500]) {
  cases.push(readerCase('pcap', len), readPortCase('pcap', len), readPortCase('pcapng', len));
  cases.push(writePortCase('pcap', len), writePortCase('pcapng', len));
  cases.push(memoryCase(len, true), memoryCase(len, false));
}

const suite: Suite = { name: 'io', cases };
export default suite;
export const _sink = () => sink;
