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
  OPT_COMMENT,
  OPT_EPB_FLAGS,
  OPT_IF_NAME,
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
  /** pcapng: the name of interface 0 (`if_name`); none by default. */
  ifName?: string;
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
    this.check(chunk, rel, len, tsSec, tsNsec, origLen);
    let cap = len;
    if (cap > this.snaplen) {
      cap = this.snaplen;
      this.snapped++;
    }
    this.record(chunk, rel, cap, tsSec, tsNsec, origLen);
    this.count++;
  }

  protected check(chunk: Uint8Array, rel: number, len: number, tsSec: number, tsNsec: number, origLen: number): void {
    if (this.failed) throw this.failed;
    if (this.fd < 0) throw new Error(`capture writer: ${this.path} is closed`);
    if (!(rel >= 0 && len >= 0 && rel + len <= chunk.length))
      throw new RangeError(`capture writer: packet ${rel}+${len} outside a ${chunk.length}-byte chunk`);
    if (!(origLen >= len && origLen <= 0xffffffff))
      throw new RangeError(`capture writer: original length ${origLen} below the captured ${len}`);
    if (!(tsSec >>> 0 === tsSec && tsNsec >>> 0 === tsNsec && tsNsec < 1e9))
      throw new RangeError(`capture writer: bad timestamp ${tsSec}.${tsNsec}`);
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
    // A staged view (copy.ts StageViews: a power of two ≥ len) is set whole when it fits: the bytes past `len`
    // land where the next record goes and are overwritten.
    if (rel === 0 && (len === chunk.length || at + chunk.length <= u8.length)) u8.set(chunk, at);
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
  /** Interfaces described so far (the constructor writes interface 0). */
  interfaces = 1;

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
    this.p = p;
    // Interface 0: IDB with if_name when given and if_tsresol 9 when `nanos`.
    this.interfaces = 0;
    this.addInterface(opts.ifName ?? '');
  }

  protected record(chunk: Uint8Array, rel: number, cap: number, sec: number, ns: number, orig: number): void {
    this.epb(0, chunk, rel, cap, sec, ns, orig, 0, null);
  }

  /**
   * Add an interface (an Interface Description Block with `if_name`, and `if_tsresol` 9 when `nanos`); returns
   * its id for `writeOn`. The first interface (id 0) is the one the constructor wrote.
   */
  addInterface(name: string, linkType = this.linkType): number {
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff)
      throw new RangeError(`capture writer: linkType must be 0..65535, got ${linkType}`);
    const nameBytes = new TextEncoder().encode(name);
    const opts = (this.nanos ? 8 : 0) + (nameBytes.length ? 4 + ((nameBytes.length + 3) & ~3) : 0);
    const len = 20 + opts + (opts ? 4 : 0);
    if (!this.reserve(len)) throw new RangeError(`capture writer: interface name too long`);
    const dv = this.dv;
    const le = this.littleEndian;
    let p = this.p;
    dv.setUint32(p, BT_IDB, le);
    dv.setUint32(p + 4, len, le);
    dv.setUint16(p + 8, linkType, le);
    dv.setUint16(p + 10, 0, le);
    dv.setUint32(p + 12, this.snaplen, le);
    p += 16;
    if (nameBytes.length) {
      dv.setUint16(p, OPT_IF_NAME, le);
      dv.setUint16(p + 2, nameBytes.length, le);
      this.u8.fill(0, p + 4, p + 4 + ((nameBytes.length + 3) & ~3));
      this.u8.set(nameBytes, p + 4);
      p += 4 + ((nameBytes.length + 3) & ~3);
    }
    if (this.nanos) {
      dv.setUint16(p, OPT_IF_TSRESOL, le);
      dv.setUint16(p + 2, 1, le);
      dv.setUint32(p + 4, 0, le);
      dv.setUint8(p + 4, 9);
      p += 8;
    }
    if (opts) {
      dv.setUint32(p, 0, le); // opt_endofopt
      p += 4;
    }
    dv.setUint32(p, len, le);
    this.p = p + 4;
    return this.interfaces++;
  }

  /**
   * Write the packet `chunk[rel .. rel+len)` on interface `iface` with `epb_flags` (`flags`: bits 0-1 the
   * direction, EPB_INBOUND or EPB_OUTBOUND; 0 for none) and an optional `opt_comment` (cold: encodes a string).
   */
  writeOn(
    iface: number,
    chunk: Uint8Array,
    rel: number,
    len: number,
    tsSec: number,
    tsNsec: number,
    flags: number,
    comment: string | null = null,
  ): void {
    if (!(iface >= 0 && iface < this.interfaces)) throw new RangeError(`capture writer: no interface ${iface}`);
    this.check(chunk, rel, len, tsSec, tsNsec, len);
    let cap = len;
    if (cap > this.snaplen) {
      cap = this.snaplen;
      this.snapped++;
    }
    this.epb(iface, chunk, rel, cap, tsSec, tsNsec, len, flags, comment);
    this.count++;
  }

  private epb(
    iface: number,
    chunk: Uint8Array,
    rel: number,
    cap: number,
    sec: number,
    ns: number,
    orig: number,
    flags: number,
    comment: string | null,
  ): void {
    const le = this.littleEndian;
    const pad = (4 - (cap & 3)) & 3;
    const text = comment ? new TextEncoder().encode(comment.length > 16000 ? comment.slice(0, 16000) : comment) : null;
    const optLen = (flags ? 8 : 0) + (text ? 4 + ((text.length + 3) & ~3) : 0);
    const blockLen = 32 + cap + pad + optLen + (optLen ? 4 : 0);
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
    dv.setUint32(p + 8, iface, le);
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
      this.reserve(pad + optLen + 8);
      p = this.p;
    }
    for (let i = 0; i < pad; i++) this.u8[p + i] = 0;
    p += pad;
    if (optLen) {
      if (flags) {
        dv.setUint16(p, OPT_EPB_FLAGS, le);
        dv.setUint16(p + 2, 4, le);
        dv.setUint32(p + 4, flags, le);
        p += 8;
      }
      if (text) {
        dv.setUint16(p, OPT_COMMENT, le);
        dv.setUint16(p + 2, text.length, le);
        const padded = (text.length + 3) & ~3;
        this.u8.fill(0, p + 4, p + 4 + padded);
        this.u8.set(text, p + 4);
        p += 4 + padded;
      }
      dv.setUint32(p, 0, le); // opt_endofopt
      p += 4;
    }
    dv.setUint32(p, blockLen, le);
    this.p = p + 4;
  }
}

/** Create a pcap (default) or pcapng writer. */
export function createCaptureWriter(path: string, opts: WriterOptions & { format?: 'pcap' | 'pcapng' }): CaptureWriter {
  return opts.format === 'pcapng' ? new PcapngWriter(path, opts) : new PcapWriter(path, opts);
}
