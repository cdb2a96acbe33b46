/**
 * CaptureReader: the interface common to the pcap and pcapng readers. Records are read one at a time into
 * fields of the reader (`off`, `len`, `origLen`, `tsSec`, `tsNsec`, `linkType`, `byteOffset`): the bytes stay
 * in the reader's buffer (`buf[off .. off+len)`), valid until the next `advance()`. Nothing is allocated per
 * record; `copyTo` copies a record into a slab without creating a view. `next()` returns a reused record
 * object whose `data` getter makes a view (convenient, one small allocation per access).
 */
import { CaptureError } from './error.js';
import type { FileSource, SourceOptions } from './source.js';

/** One packet of a capture file. */
export interface CaptureRecord {
  /** The captured bytes (`caplen` of them). */
  data: Uint8Array;
  /** Length of the packet on the wire (≥ data.length when the capture was snapped). */
  origLen: number;
  /** Timestamp: seconds since the epoch. */
  tsSec: number;
  /** Timestamp: nanoseconds within the second (0 ≤ tsNsec < 1e9). */
  tsNsec: number;
  /** LINKTYPE_* of the packet (pcapng: its interface's). */
  linkType: number;
}

export interface ReaderOptions extends SourceOptions {
  /**
   * A file that ends inside a record (a capture cut short) ends the reading with a warning instead of a
   * CaptureError, as tcpdump does. Only the tail can be truncated: corruption elsewhere still throws.
   */
  tolerateTruncation?: boolean;
  /** Called with the warning when a truncated tail is tolerated (it is also kept in `warning`). */
  onWarning?: (message: string) => void;
}

export abstract class CaptureReader {
  abstract readonly format: 'pcap' | 'pcapng';
  /** The file as the caller named it. */
  readonly path: string;
  /**
   * LINKTYPE_* of the current record; before the first record, the file's (pcapng: the first interface's,
   * -1 when the file has none).
   */
  linkType = -1;
  /** Snapshot length of the file (pcapng: of the first interface; 0 means unlimited). */
  snaplen = 0;
  /** True when timestamps are finer than microseconds (pcap ns magic; pcapng first interface's if_tsresol). */
  nanos = false;
  /** Current record: offset of its first byte in `buf`. */
  off = 0;
  /** Current record: captured length. */
  len = 0;
  /** Current record: original (wire) length. */
  origLen = 0;
  /** Current record: timestamp seconds. */
  tsSec = 0;
  /** Current record: timestamp nanoseconds within the second. */
  tsNsec = 0;
  /** Current record: interface index within its pcapng section (0 for pcap). */
  ifIndex = 0;
  /** Current record: file offset of its record header or block. */
  byteOffset = 0;
  /** Records read so far. */
  count = 0;
  /** The warning of a tolerated truncated tail, or null. */
  warning: string | null = null;
  /** The reused object `next()` returns. */
  readonly record: CaptureRecord;

  protected readonly src: FileSource;
  protected readonly tolerate: boolean;
  private readonly onWarning: ((message: string) => void) | undefined;
  private done = false;
  private failed: CaptureError | null = null;

  constructor(src: FileSource, opts: ReaderOptions) {
    this.src = src;
    this.path = src.path;
    this.tolerate = opts.tolerateTruncation ?? false;
    this.onWarning = opts.onWarning;
    this.record = new RecordView(this);
  }

  /** The reader's buffer; the current record is `buf[off .. off+len)`. Replaced when the buffer grows. */
  get buf(): Uint8Array {
    return this.src.u8;
  }

  /**
   * Read the next record into the reader's fields; false at the end of the file. Throws CaptureError on a
   * corrupt file (and again on every later call).
   */
  advance(): boolean {
    if (this.done) return false;
    if (this.failed) throw this.failed;
    try {
      if (this.step()) {
        this.count++;
        return true;
      }
      this.done = true;
      return false;
    } catch (e) {
      if (e instanceof CaptureError) this.failed = e;
      throw e;
    }
  }

  /** The next record (a reused object, valid until the next call), or null at the end of the file. */
  next(): CaptureRecord | null {
    return this.advance() ? this.record : null;
  }

  /**
   * Copy the current record's bytes to `dst[dstOff ..)` without allocating; bytes of `dst` up to
   * `dstOff + room` may be overwritten (scratch past `len`). `len` must fit in `room`.
   */
  copyTo(dst: Uint8Array, dstOff: number, room: number): void {
    this.src.copyTo(this.off, this.len, dst, dstOff, room);
  }

  /** Start again at the first record (regular files only). */
  rewind(): void {
    this.restart(); // throws CaptureError for input that cannot seek, leaving the reader as it was
    this.done = false;
    this.failed = null;
    this.warning = null;
    this.count = 0;
  }

  /** Close the file; idempotent. */
  close(): void {
    this.done = true;
    this.src.close();
  }

  /** Read one record into the fields; false at a clean end of file. */
  protected abstract step(): boolean;
  /** Re-position at the first record after `rewind()`. */
  protected abstract restart(): void;

  /**
   * The file ends inside `what` (starting at file offset `at`, `need` bytes long, `left` present): a
   * CaptureError, or with `tolerateTruncation` a warning and the end of the file.
   */
  protected truncated(at: number, what: string, need: number, left: number): false {
    const e = new CaptureError(this.path, at, `truncated ${what}`, ` (need ${need} bytes, ${left} left)`);
    if (!this.tolerate) throw e;
    this.warning = `${e.message}; ignoring the truncated tail`;
    this.onWarning?.(this.warning);
    return false;
  }
}

class RecordView implements CaptureRecord {
  constructor(private readonly r: CaptureReader) {}
  get data(): Uint8Array {
    return this.r.buf.subarray(this.r.off, this.r.off + this.r.len);
  }
  get origLen(): number {
    return this.r.origLen;
  }
  get tsSec(): number {
    return this.r.tsSec;
  }
  get tsNsec(): number {
    return this.r.tsNsec;
  }
  get linkType(): number {
    return this.r.linkType;
  }
}
