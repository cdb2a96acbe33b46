/**
 * FileSource: a capture file read through one fixed buffer with `fs.readSync`, so a file of any size costs
 * the buffer and nothing more. The readers parse in place: `u8`/`dv` view the whole buffer, `pos` is the
 * first unread byte and `end` one past the last valid one; `ensure(n)` makes `n` bytes readable at `pos`
 * (moving the unread tail to the front and refilling; growing only for a block larger than the window, up to
 * a limit the caller enforces beforehand).
 *
 * Buffer layout: `[stage (STAGE_LEN bytes) | window (bufferSize bytes, file data)]`. The stage serves
 * `copyTo`, which copies a range of the window into another ArrayBuffer without creating a view per call:
 * `copyWithin` moves the bytes to the stage (same buffer, no view needed), then `set` copies one of a few
 * views made once over the stage (the smallest power of two ≥ the length, or exactly the destination's room)
 * into the destination. The destination may receive up to `room` bytes; the bytes past `len` are scratch.
 * A view made per packet (`subarray`) would allocate ~96 bytes per packet; a byte loop costs 1 µs per
 * 1500 bytes; this costs about what `subarray` + `set` does, without the allocation.
 */
import * as fs from 'node:fs';
import { StageViews } from './copy.js';
import { CaptureError, sysMessage } from './error.js';
import { DEFAULT_BUFFER_SIZE, MAX_SNAPLEN } from './format.js';

/** Bytes reserved before the window for `copyTo` (a whole record fits). */
export const STAGE_LEN = MAX_SNAPLEN;

export interface SourceOptions {
  /** Window size in bytes (default 1 MiB, at least 16). */
  bufferSize?: number;
  /** Largest window the source may grow to for one oversized block (default: bufferSize or 4 MiB, whichever is larger). */
  maxWindow?: number;
}

export class FileSource {
  /** The file as the caller named it (for messages). */
  readonly path: string;
  /** The whole buffer (stage + window); replaced when the window grows. */
  u8: Uint8Array;
  /** DataView over `u8`. */
  dv: DataView;
  /** Index in `u8` of the first unread byte. */
  pos = STAGE_LEN;
  /** Index in `u8` one past the last byte read from the file. */
  end = STAGE_LEN;
  /** The file offset of `u8[i]` is `i + delta`. */
  delta = -STAGE_LEN;
  private fd: number;
  private readonly seekable: boolean;
  /** File offset of the next read (seekable files; others read sequentially). */
  private filePos = 0;
  private eof = false;
  private readonly maxWindow: number;
  private views: StageViews;

  constructor(path: string, opts: SourceOptions = {}) {
    this.path = path;
    const size = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
    if (!Number.isInteger(size) || size < 16) throw new RangeError(`capture reader: bufferSize must be at least 16`);
    this.maxWindow = Math.max(size, opts.maxWindow ?? 4 * 1024 * 1024);
    try {
      this.fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new CaptureError(path, undefined, 'cannot open', `: ${sysMessage(e)}`);
    }
    try {
      this.seekable = fs.fstatSync(this.fd).isFile();
    } catch (e) {
      fs.closeSync(this.fd);
      throw new CaptureError(path, undefined, 'cannot stat', `: ${sysMessage(e)}`);
    }
    this.u8 = new Uint8Array(STAGE_LEN + size);
    this.dv = new DataView(this.u8.buffer);
    this.views = new StageViews(this.u8, 0, STAGE_LEN);
  }

  /** File offset of buffer index `i`. */
  offsetOf(i: number): number {
    return i + this.delta;
  }

  /** Bytes readable at `pos` without touching the file. */
  get available(): number {
    return this.end - this.pos;
  }

  /** True once a read returned end of file. */
  get atEof(): boolean {
    return this.eof;
  }

  /**
   * Make `n` bytes readable at `pos` (`pos` may move: re-read it after). Returns false at end of file with
   * fewer than `n` bytes left (`available` says how many). `n` must not exceed the maximum window.
   */
  ensure(n: number): boolean {
    if (this.end - this.pos >= n) return true;
    return this.fill(n);
  }

  private fill(n: number): boolean {
    const u8 = this.u8;
    if (this.pos + n > u8.length) {
      if (STAGE_LEN + n > u8.length) this.grow(n);
      else if (this.pos !== STAGE_LEN) {
        u8.copyWithin(STAGE_LEN, this.pos, this.end);
        const shift = this.pos - STAGE_LEN;
        this.delta += shift;
        this.end -= shift;
        this.pos = STAGE_LEN;
      }
    }
    while (this.end - this.pos < n) {
      if (this.eof) return false;
      const r = this.read(this.end, this.u8.length - this.end);
      if (r === 0) {
        this.eof = true;
        return false;
      }
      this.end += r;
    }
    return true;
  }

  private grow(n: number): void {
    if (n > this.maxWindow)
      throw new RangeError(`capture reader: ${n} bytes exceed the window limit ${this.maxWindow}`);
    const win = Math.min(this.maxWindow, Math.max(n, 2 * (this.u8.length - STAGE_LEN)));
    const next = new Uint8Array(STAGE_LEN + win);
    next.set(this.u8.subarray(this.pos, this.end), STAGE_LEN);
    this.delta += this.pos - STAGE_LEN;
    this.end = STAGE_LEN + (this.end - this.pos);
    this.pos = STAGE_LEN;
    this.u8 = next;
    this.dv = new DataView(next.buffer);
    this.views = new StageViews(next, 0, STAGE_LEN);
  }

  private read(at: number, len: number): number {
    try {
      const r = fs.readSync(this.fd, this.u8, at, len, this.seekable ? this.filePos : null);
      this.filePos += r;
      return r;
    } catch (e) {
      throw new CaptureError(this.path, this.offsetOf(at), 'read failed', `: ${sysMessage(e)}`);
    }
  }

  /** Consume `n` bytes (reading and discarding what is not buffered). Returns false at end of file first. */
  skip(n: number): boolean {
    const have = this.end - this.pos;
    if (have >= n) {
      this.pos += n;
      return true;
    }
    n -= have;
    this.delta += this.end - STAGE_LEN;
    this.pos = this.end = STAGE_LEN;
    while (n > 0) {
      if (this.eof) return false;
      const r = this.read(STAGE_LEN, this.u8.length - STAGE_LEN);
      if (r === 0) {
        this.eof = true;
        return false;
      }
      if (r <= n) {
        n -= r;
        this.delta += r;
      } else {
        this.pos = STAGE_LEN + n;
        this.end = STAGE_LEN + r;
        n = 0;
      }
    }
    return true;
  }

  /** Start reading again at file offset `off` (regular files only). */
  seek(off: number): void {
    if (!this.seekable) throw new CaptureError(this.path, undefined, 'cannot rewind', ': not a regular file');
    this.pos = this.end = STAGE_LEN;
    this.delta = off - STAGE_LEN;
    this.filePos = off;
    this.eof = false;
  }

  /**
   * Copy `u8[off .. off+len)` to `dst[dstOff ..)` without allocating. Up to `room` bytes of `dst` from
   * `dstOff` may be written (clamped to the end of `dst`); `len` must not exceed that.
   */
  copyTo(off: number, len: number, dst: Uint8Array, dstOff: number, room: number): void {
    if (len === 0) return;
    const max = dst.length - dstOff;
    if (room > max) room = max;
    if (room > STAGE_LEN) room = STAGE_LEN;
    if (len > room) throw new RangeError(`capture reader: ${len} bytes do not fit in ${room}`);
    this.u8.copyWithin(0, off, off + len);
    dst.set(this.views.pick(len, room), dstOff);
  }

  /** Close the file; idempotent. */
  close(): void {
    if (this.fd >= 0) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // closing a read-only descriptor cannot lose data; nothing useful to report
      }
      this.fd = -1;
    }
  }
}
