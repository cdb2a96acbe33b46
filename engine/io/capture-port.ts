/**
 * Capture files as Ports (Snabb `PcapReader`/`PcapWriter` apps, smoltcp `PcapWriter<D>`):
 *
 * - `CaptureReaderPort`: `recv` fills a burst from a capture, one record per slab slot (bytes copied to the
 *   slot's headroom, timestamp and port id set). A record longer than the slab's mtu is a counted drop
 *   (`oversize`), as is one whose link type differs from the file's first (`linktype`; RAW, IPV4 and IPV6
 *   count as one kind). A corrupt file ends the port: `done`, `error` holds the CaptureError, `corrupt` counts
 *   it; `recv` does not throw.
 * - `CaptureWriterPort`: `send` writes every packet of the burst with its timestamp (original length = the
 *   packet's length). A failed write is kept in `error` and counted, never thrown.
 * - `RecordingPort(inner, writer)`: wraps any Port and records what it receives and/or sends (a pcap tap).
 *
 * None of them allocates per packet: reads copy through the reader's stage (`CaptureReader.copyTo`), writes
 * pass slot views made once per slab (`slotViews`).
 */
import type { Port } from '../graph/index.js';
import { Counters, counterIndex } from '../graph/index.js';
import type { Burst, Slab } from '../packet/index.js';
import { DEFAULT_BURST } from '../packet/index.js';
import { slotViews } from './copy.js';
import { CaptureError } from './error.js';
import { isRawIp } from './format.js';
import { openCapture } from './open.js';
import type { CaptureReader, ReaderOptions } from './reader.js';
import type { CaptureWriter } from './writer.js';

export const READER_PORT_COUNTERS = [
  'packets',
  'bytes',
  'oversize',
  'linktype',
  'snapped',
  'corrupt',
  'tx-discard',
] as const;
const RX = counterIndex(READER_PORT_COUNTERS);

export const WRITER_PORT_COUNTERS = [
  'packets',
  'bytes',
  'snapped',
  'bad-timestamp',
  'bad-packet',
  'write-error',
] as const;
const TX = counterIndex(WRITER_PORT_COUNTERS);

export interface CapturePortOptions {
  /** Port name (default `pcap:<path>`). */
  name?: string;
  /** Value written to `burst.port[i]` for received packets (default 0). */
  portId?: number;
  /** Largest number of packets per recv/send (default DEFAULT_BURST). */
  batchSize?: number;
}

function batchOf(opts: CapturePortOptions): number {
  const b = opts.batchSize ?? DEFAULT_BURST;
  if (!Number.isInteger(b) || b < 1 || b > 4096)
    throw new RangeError(`capture port: batchSize must be 1..4096, got ${b}`);
  return b;
}

export class CaptureReaderPort implements Port {
  readonly name: string;
  readonly batchSize: number;
  readonly portId: number;
  /** Link type of the packets this port delivers (the file's first). */
  linkType: number;
  readonly counters = new Counters(READER_PORT_COUNTERS);
  /** True once the capture is exhausted, failed, or the port is closed. */
  done = false;
  /** The CaptureError that ended the capture early, or null. */
  error: CaptureError | null = null;
  private rawIp: boolean;

  constructor(
    readonly reader: CaptureReader,
    opts: CapturePortOptions = {},
  ) {
    this.name = opts.name ?? `pcap:${reader.path}`;
    this.portId = opts.portId ?? 0;
    this.batchSize = batchOf(opts);
    this.linkType = reader.linkType;
    this.rawIp = isRawIp(this.linkType);
  }

  /** Open `path` (pcap or pcapng) as a port. Throws CaptureError when the file cannot be opened or its header is bad. */
  static open(path: string, opts: CapturePortOptions & ReaderOptions = {}): CaptureReaderPort {
    return new CaptureReaderPort(openCapture(path, opts), opts);
  }

  recv(burst: Burst): number {
    if (this.done) return 0;
    const r = this.reader;
    const slab = burst.slab;
    const u8 = slab.u8;
    const mtu = slab.mtu;
    const v = this.counters.v;
    let want = burst.capacity - burst.count;
    if (want > this.batchSize) want = this.batchSize;
    let got = 0;
    try {
      while (got < want && slab.available > 0) {
        if (!r.advance()) {
          this.done = true;
          break;
        }
        const len = r.len;
        if (len > mtu) {
          v[RX.oversize]++;
          continue;
        }
        const lt = r.linkType;
        if (lt !== this.linkType) {
          if (this.linkType === -1) {
            this.linkType = lt;
            this.rawIp = isRawIp(lt);
          } else if (!(this.rawIp && isRawIp(lt))) {
            v[RX.linktype]++;
            continue;
          }
        }
        const j = burst.alloc(len); // cannot fail: room and a free slot were checked
        r.copyTo(u8, burst.off[j]!, mtu);
        burst.port[j] = this.portId;
        burst.tsSec[j] = r.tsSec;
        burst.tsNsec[j] = r.tsNsec;
        if (len < r.origLen) v[RX.snapped]++;
        v[RX.packets]++;
        v[RX.bytes] += len;
        got++;
      }
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
      this.error = e;
      this.done = true;
      v[RX.corrupt]++;
    }
    return got;
  }

  /** Start the capture again from its first record (regular files); clears `done` and `error`. */
  rewind(): void {
    this.reader.rewind();
    this.done = false;
    this.error = null;
  }

  /** A capture reader transmits nothing: packets sent to it are counted (`tx-discard`) and ignored. */
  send(burst: Burst): void {
    this.counters.v[RX['tx-discard']] += burst.count;
  }

  close(): void {
    this.done = true;
    this.reader.close();
  }
}

export class CaptureWriterPort implements Port {
  readonly name: string;
  readonly batchSize: number;
  readonly counters = new Counters(WRITER_PORT_COUNTERS);
  /** The CaptureError that stopped the writing (disk full, ...), or null. */
  error: CaptureError | null = null;
  private slab: Slab | null = null;
  private views: Uint8Array[] = [];
  private closed = false;

  constructor(
    readonly writer: CaptureWriter,
    opts: Omit<CapturePortOptions, 'portId'> = {},
  ) {
    this.name = opts.name ?? `pcap:${writer.path}`;
    this.batchSize = batchOf(opts);
  }

  /** A writer port receives nothing. */
  recv(_burst: Burst): number {
    return 0;
  }

  send(burst: Burst): void {
    this.writeRange(burst, 0, burst.count);
  }

  /** Write packets `from .. to-1` of `burst` (used by RecordingPort for the packets a recv appended). */
  writeRange(burst: Burst, from: number, to: number): void {
    const v = this.counters.v;
    if (this.error || this.closed) {
      v[TX['write-error']] += to - from;
      return;
    }
    const slab = burst.slab;
    if (slab !== this.slab) {
      this.slab = slab;
      this.views = slotViews(slab);
    }
    const views = this.views;
    const slotSize = slab.slotSize;
    const w = this.writer;
    const snaplen = w.snaplen;
    const maxSec = w.maxSec;
    for (let i = from; i < to; i++) {
      const slot = burst.slot[i]!;
      const len = burst.len[i]!;
      const rel = burst.off[i]! - slot * slotSize;
      if (rel < 0 || len < 0 || rel + len > slotSize || slot < 0 || slot >= views.length) {
        v[TX['bad-packet']]++;
        continue;
      }
      const sec = burst.tsSec[i]!;
      const ns = burst.tsNsec[i]!;
      if (!(sec >= 0 && sec <= maxSec && Math.floor(sec) === sec && ns < 1e9)) {
        v[TX['bad-timestamp']]++;
        continue;
      }
      try {
        w.writeChunk(views[slot]!, rel, len, sec, ns, len);
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        this.error = e;
        v[TX['write-error']] += to - i;
        return;
      }
      if (len > snaplen) v[TX.snapped]++;
      v[TX.packets]++;
      v[TX.bytes] += len;
    }
  }

  /** Flush the writer (say, between replay steps); a failure lands in `error`. */
  flush(): void {
    if (this.error || this.closed) return;
    try {
      this.writer.flush();
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
      this.error = e;
    }
  }

  /** Flush and close the file; idempotent. A failure lands in `error`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.writer.close();
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
      this.error ??= e;
    }
  }
}

/** Which direction a RecordingPort records. */
export type RecordDirection = 'rx' | 'tx' | 'both';

/**
 * Wraps a Port and writes what passes through it to a capture: packets received by `recv` (after the inner
 * port fills them) and/or packets given to `send` (before the inner port transmits them).
 */
export class RecordingPort implements Port {
  readonly name: string;
  readonly batchSize: number;
  /** The writer port doing the recording (its counters and `error`). */
  readonly recorder: CaptureWriterPort;
  private readonly rx: boolean;
  private readonly tx: boolean;

  constructor(
    readonly inner: Port,
    writer: CaptureWriter,
    direction: RecordDirection = 'both',
  ) {
    this.name = inner.name;
    this.batchSize = inner.batchSize;
    this.recorder = new CaptureWriterPort(writer, { name: `record:${inner.name}` });
    this.rx = direction !== 'tx';
    this.tx = direction !== 'rx';
  }

  recv(burst: Burst): number {
    const before = burst.count;
    const n = this.inner.recv(burst);
    if (this.rx && n > 0) this.recorder.writeRange(burst, before, before + n);
    return n;
  }

  send(burst: Burst): void {
    if (this.tx) this.recorder.writeRange(burst, 0, burst.count);
    this.inner.send(burst);
  }

  close(): void {
    try {
      this.inner.close();
    } finally {
      this.recorder.close();
    }
  }
}
