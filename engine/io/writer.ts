/**
 * Streaming capture writers: pcap (µs or ns, either byte order) and pcapng (one section, one interface,
 * Enhanced Packet Blocks). Records go into one fixed buffer written to the file with `fs.writeSync` when it
 * is full, on `flush()` and on `close()`; nothing is allocated per record.
 *
 * `writeChunk(chunk, rel, len, ...)` takes the packet as `chunk[rel .. rel+len)` where `chunk` is a view
 * made once (a slab slot): the writer copies the whole chunk to a stage at the front of its buffer and moves
 * the packet into place with `copyWithin`, so no view is created per packet (see source.ts for the figures).
 * A record longer than the snaplen is truncated to it; its original length is kept.
 */
import * as fs from 'node:fs';
import { CaptureError, sysMessage } from './error.js';
import {
  BT_EPB,
  BT_IDB,
  BT_SHB,
  DEFAULT_BUFFER_SIZE,
  DEFAULT_SNAPLEN,
  MAX_SNAPLEN,
  OPT_IF_TSRESOL,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_VERSION_MAJOR,
  PCAP_VERSION_MINOR,
  PCAPNG_BOM,
} from './format.js';

/** Bytes reserved before the output window for staging chunks (a slab slot of up to this size). */
const STAGE_LEN = 65536;
const TWO32 = 4294967296;

export interface WriterOptions {
  /** LINKTYPE_* of every packet. */
  linkType: number;
  /** Longer packets are truncated to this many bytes (default 262144, at most 262144). */
  snaplen?: number;
  /** Nanosecond timestamps (pcap ns magic; pcapng if_tsresol 9). Default: microseconds. */
  nanos?: boolean;
  /** Big-endian file (default little-endian). */
  bigEndian?: boolean;
  /** Output buffer size in bytes (default 1 MiB, at least 64). */
  bufferSize?: number;
}

export abstract class CaptureWriter {
  abstract readonly format: 'pcap' | 'pcapng';
  readonly path: string;
  readonly linkType: number;
  readonly snaplen: number;
  readonly nanos: boolean;
  readonly littleEndian: boolean;
  /** Largest tsSec accepted (timestamps are 0 ≤ tsSec ≤ maxSec, integer; 0 ≤ tsNsec < 1e9, integer). */
  readonly maxSec = 0xffffffff;
  /** Records written. */
  count = 0;
  /** Records truncated to the snaplen. */
  snapped = 0;

  protected readonly u8: Uint8Array;
  protected readonly dv: DataView;
  /** Next free index in `u8` (the window starts at STAGE_LEN). */
  protected p = STAGE_LEN;
  private fd: number;
  /** File bytes written by flushes so far. */
  private flushed = 0;
  private failed: CaptureError | null = null;

  constructor(path: string, opts: WriterOptions) {
    const snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > MAX_SNAPLEN)
      throw new RangeError(`capture writer: snaplen must be 1..${MAX_SNAPLEN}, got ${snaplen}`);
    if (!Number.isInteger(opts.linkType) || opts.linkType < 0 || opts.linkType > 0xffff)
      throw new RangeError(`capture writer: linkType must be 0..65535, got ${opts.linkType}`);
    const size = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
    if (!Number.isInteger(size) || size < 64) throw new RangeError(`capture writer: bufferSize must be at least 64`);
    this.path = path;
    this.linkType = opts.linkType;
    this.snaplen = snaplen;
    this.nanos = opts.nanos ?? false;
    this.littleEndian = !opts.bigEndian;
    this.u8 = new Uint8Array(STAGE_LEN + size);
    this.dv = new DataView(this.u8.buffer);
    try {
      this.fd = fs.openSync(path, 'w');
    } catch (e) {
      throw new CaptureError(path, undefined, 'cannot create', `: ${sysMessage(e)}`);
    }
  }

  /** File offset the next record will start at. */
  get offset(): number {
    return this.flushed + this.p - STAGE_LEN;
  }

  /** Write one packet (`data` whole). */
  write(data: Uint8Array, tsSec = 0, tsNsec = 0, origLen = data.length): void {
    this.writeChunk(data, 0, data.length, tsSec, tsNsec, origLen);
  }

  /**
   * Write the packet `chunk[rel .. rel+len)` (hot path: pass a view made once, such as a slab slot, not a
   * fresh subarray). `origLen` ≥ len is the length on the wire.
   */
  writeChunk(chunk: Uint8Array, rel: number, len: number, tsSec: number, tsNsec: number, origLen: number): void {
    if (this.failed) throw this.failed;
    if (this.fd < 0) throw new Error(`capture writer: ${this.path} is closed`);
    if (!(rel >= 0 && len >= 0 && rel + len <= chunk.length))
      throw new RangeError(`capture writer: packet ${rel}+${len} outside a ${chunk.length}-byte chunk`);
    if (!(origLen >= len && origLen <= 0xffffffff))
      throw new RangeError(`capture writer: original length ${origLen} below the captured ${len}`);
    if (!(tsSec >>> 0 === tsSec && tsNsec >>> 0 === tsNsec && tsNsec < 1e9))
      throw new RangeError(`capture writer: bad timestamp ${tsSec}.${tsNsec}`);
    let cap = len;
    if (cap > this.snaplen) {
      cap = this.snaplen;
      this.snapped++;
    }
    this.record(chunk, rel, cap, tsSec, tsNsec, origLen);
    this.count++;
  }

  /** Format one record: header at `reserve()`, data via `put()`. */
  protected abstract record(chunk: Uint8Array, rel: number, cap: number, sec: number, ns: number, orig: number): void;

  /**
   * Make `n` bytes free at `p`; false when `n` is larger than the window (the caller writes the packet data
   * with `direct` between two smaller reservations).
   */
  protected reserve(n: number): boolean {
    if (this.p + n <= this.u8.length) return true;
    this.flush();
    return STAGE_LEN + n <= this.u8.length;
  }

  /** Copy `chunk[rel .. rel+len)` to `u8[at ..)`. */
  protected put(chunk: Uint8Array, rel: number, len: number, at: number): void {
    const u8 = this.u8;
    if (rel === 0 && len === chunk.length) u8.set(chunk, at);
    else if (chunk.length <= STAGE_LEN) {
      u8.set(chunk, 0);
      u8.copyWithin(at, rel, rel + len);
    } else u8.set(chunk.subarray(rel, rel + len), at);
  }

  /** Write `chunk[rel .. rel+len)` straight to the file (after a flush). */
  protected direct(chunk: Uint8Array, rel: number, len: number): void {
    this.flush();
    this.writeAll(chunk, rel, len);
    this.flushed += len;
  }

  /** Write the buffered records to the file. */
  flush(): void {
    if (this.failed) throw this.failed;
    const n = this.p - STAGE_LEN;
    if (n === 0 || this.fd < 0) return;
    this.writeAll(this.u8, STAGE_LEN, n);
    this.flushed += n;
    this.p = STAGE_LEN;
  }

  private writeAll(src: Uint8Array, off: number, len: number): void {
    try {
      while (len > 0) {
        const w = fs.writeSync(this.fd, src, off, len);
        off += w;
        len -= w;
      }
    } catch (e) {
      this.failed = new CaptureError(this.path, this.flushed, 'write failed', `: ${sysMessage(e)}`);
      throw this.failed;
    }
  }

  /** Flush and close the file; idempotent. Throws CaptureError when the final write fails. */
  close(): void {
    if (this.fd < 0) return;
    try {
      if (!this.failed) this.flush();
    } finally {
      try {
        fs.closeSync(this.fd);
      } catch (e) {
        this.failed ??= new CaptureError(this.path, undefined, 'close failed', `: ${sysMessage(e)}`);
      }
      this.fd = -1;
    }
    if (this.failed) throw this.failed;
  }

  /** The write error that stopped this writer, if any. */
  get error(): CaptureError | null {
    return this.failed;
  }
}

/** pcap writer: 24-byte file header, then a 16-byte header and the captured bytes per record. */
export class PcapWriter extends CaptureWriter {
  readonly format = 'pcap' as const;

  constructor(path: string, opts: WriterOptions) {
    super(path, opts);
    const dv = this.dv;
    const le = this.littleEndian;
    const p = this.p;
    dv.setUint32(p, this.nanos ? PCAP_MAGIC_NS : PCAP_MAGIC_US, le);
    dv.setUint16(p + 4, PCAP_VERSION_MAJOR, le);
    dv.setUint16(p + 6, PCAP_VERSION_MINOR, le);
    dv.setUint32(p + 8, 0, le); // Reserved1 (was thiszone)
    dv.setUint32(p + 12, 0, le); // Reserved2 (was sigfigs)
    dv.setUint32(p + 16, this.snaplen, le);
    dv.setUint32(p + 20, this.linkType, le);
    this.p = p + 24;
  }

  protected record(chunk: Uint8Array, rel: number, cap: number, sec: number, ns: number, orig: number): void {
    const le = this.littleEndian;
    const fits = this.reserve(16 + cap);
    if (!fits) this.reserve(16);
    const dv = this.dv;
    const p = this.p;
    dv.setUint32(p, sec, le);
    dv.setUint32(p + 4, this.nanos ? ns : (ns / 1000) | 0, le);
    dv.setUint32(p + 8, cap, le);
    dv.setUint32(p + 12, orig, le);
    if (fits) {
      this.put(chunk, rel, cap, p + 16);
      this.p = p + 16 + cap;
    } else {
      this.p = p + 16;
      this.direct(chunk, rel, cap);
    }
  }
}

/**
 * pcapng writer: a Section Header Block (no options, section length -1), one Interface Description Block
 * (if_tsresol 9 when `nanos`), then one Enhanced Packet Block per record on interface 0.
 */
export class PcapngWriter extends CaptureWriter {
  readonly format = 'pcapng' as const;
  private readonly unitsPerSec: number;

  constructor(path: string, opts: WriterOptions) {
    super(path, opts);
    this.unitsPerSec = this.nanos ? 1e9 : 1e6;
    const dv = this.dv;
    const le = this.littleEndian;
    let p = this.p;
    // SHB: type, length 28, BOM, version 1.0, section length -1, length.
    dv.setUint32(p, BT_SHB, le);
    dv.setUint32(p + 4, 28, le);
    dv.setUint32(p + 8, PCAPNG_BOM, le);
    dv.setUint16(p + 12, 1, le);
    dv.setUint16(p + 14, 0, le);
    dv.setInt32(p + 16, -1, le);
    dv.setInt32(p + 20, -1, le);
    dv.setUint32(p + 24, 28, le);
    p += 28;
    // IDB: type, length, linktype, reserved, snaplen, [if_tsresol 9, opt_endofopt], length.
    const idbLen = this.nanos ? 32 : 20;
    dv.setUint32(p, BT_IDB, le);
    dv.setUint32(p + 4, idbLen, le);
    dv.setUint16(p + 8, this.linkType, le);
    dv.setUint16(p + 10, 0, le);
    dv.setUint32(p + 12, this.snaplen, le);
    if (this.nanos) {
      dv.setUint16(p + 16, OPT_IF_TSRESOL, le);
      dv.setUint16(p + 18, 1, le);
      dv.setUint32(p + 20, 0, le);
      dv.setUint8(p + 20, 9);
      dv.setUint32(p + 24, 0, le); // opt_endofopt
    }
    dv.setUint32(p + idbLen - 4, idbLen, le);
    this.p = p + idbLen;
  }

  protected record(chunk: Uint8Array, rel: number, cap: number, sec: number, ns: number, orig: number): void {
    const le = this.littleEndian;
    const pad = (4 - (cap & 3)) & 3;
    const blockLen = 32 + cap + pad;
    const fits = this.reserve(blockLen);
    if (!fits) this.reserve(28);
    // Units since the epoch, t = sec·M + units(ns), split into 32-bit halves exactly (sec < 2^32, M ≤ 10^9):
    // sec = sh·2^16 + sl; A = sh·M < 2^46; B = sl·M + u < 2^47; t = A·2^16 + B = ah·2^32 + (al·2^16 + B).
    // x & 0xffff and x >>> 0 are x mod 2^16 and x mod 2^32 for any integral double x < 2^53 (ToInt32 and
    // ToUint32 reduce modulo 2^32 exactly), and far cheaper than % (fmod).
    const M = this.unitsPerSec;
    const u = this.nanos ? ns : (ns / 1000) | 0;
    const sl = sec & 0xffff;
    const A = ((sec - sl) / 65536) * M;
    const B = sl * M + u;
    const al = A & 0xffff;
    const C = al * 65536 + B;
    const lo = C >>> 0;
    const hi = (A - al) / 65536 + (C - lo) / TWO32;
    const dv = this.dv;
    let p = this.p;
    dv.setUint32(p, BT_EPB, le);
    dv.setUint32(p + 4, blockLen, le);
    dv.setUint32(p + 8, 0, le);
    dv.setUint32(p + 12, hi, le);
    dv.setUint32(p + 16, lo, le);
    dv.setUint32(p + 20, cap, le);
    dv.setUint32(p + 24, orig, le);
    if (fits) {
      this.put(chunk, rel, cap, p + 28);
      p += 28 + cap;
    } else {
      this.p = p + 28;
      this.direct(chunk, rel, cap);
      this.reserve(pad + 4);
      p = this.p;
    }
    for (let i = 0; i < pad; i++) this.u8[p + i] = 0;
    dv.setUint32(p + pad, blockLen, le);
    this.p = p + pad + 4;
  }
}

/** Create a pcap (default) or pcapng writer. */
export function createCaptureWriter(path: string, opts: WriterOptions & { format?: 'pcap' | 'pcapng' }): CaptureWriter {
  return opts.format === 'pcapng' ? new PcapngWriter(path, opts) : new PcapWriter(path, opts);
}
