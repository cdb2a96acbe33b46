/**
 * Streaming pcap reader (draft-ietf-opsawg-pcap; the layout is drawn in format.ts). Both byte orders, µs and
 * ns timestamps, any link type (exposed as `linkType`). Checks per record: captured length within the
 * snaplen (a zero or oversized snaplen in the header means MAX_SNAPLEN) and not above the original length.
 */
import { CaptureError } from './error.js';
import {
  MAX_SNAPLEN,
  PCAP_FILE_HEADER_LEN,
  PCAP_MAGIC_MODIFIED,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_RECORD_HEADER_LEN,
  PCAP_VERSION_MAJOR,
} from './format.js';
import { CaptureReader, type ReaderOptions } from './reader.js';
import type { FileSource } from './source.js';

const HDR = PCAP_RECORD_HEADER_LEN;

export class PcapReader extends CaptureReader {
  readonly format = 'pcap' as const;
  /** Byte order of the file. */
  readonly littleEndian: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  /** Largest captured length a record may have. */
  private readonly maxCap: number;
  /** Fraction units per second (1e6 or 1e9) and nanoseconds per unit (1000 or 1). */
  private readonly fracPerSec: number;
  private readonly nsPerFrac: number;

  constructor(src: FileSource, opts: ReaderOptions = {}) {
    super(src, opts);
    const path = src.path;
    if (!src.ensure(PCAP_FILE_HEADER_LEN)) {
      if (src.available === 0) throw new CaptureError(path, 0, 'empty file: no pcap header');
      throw new CaptureError(path, 0, 'truncated pcap file header', ` (need 24 bytes, ${src.available} left)`);
    }
    const p = src.pos;
    const dv = src.dv;
    const mle = dv.getUint32(p, true);
    const mbe = dv.getUint32(p, false);
    let le: boolean;
    if (mle === PCAP_MAGIC_US || mle === PCAP_MAGIC_NS) le = true;
    else if (mbe === PCAP_MAGIC_US || mbe === PCAP_MAGIC_NS) le = false;
    else if (mle === PCAP_MAGIC_MODIFIED || mbe === PCAP_MAGIC_MODIFIED)
      throw new CaptureError(path, 0, 'unsupported "modified pcap" magic');
    else throw new CaptureError(path, 0, 'bad magic', `: 0x${hex8(mbe)} is neither pcap nor pcapng`);
    this.littleEndian = le;
    this.nanos = dv.getUint32(p, le) === PCAP_MAGIC_NS;
    this.fracPerSec = this.nanos ? 1e9 : 1e6;
    this.nsPerFrac = this.nanos ? 1 : 1000;
    this.versionMajor = dv.getUint16(p + 4, le);
    this.versionMinor = dv.getUint16(p + 6, le);
    if (this.versionMajor !== PCAP_VERSION_MAJOR || this.versionMinor > 4)
      throw new CaptureError(path, 4, `unsupported pcap version ${this.versionMajor}.${this.versionMinor}`);
    this.snaplen = dv.getUint32(p + 16, le);
    this.maxCap = this.snaplen === 0 || this.snaplen > MAX_SNAPLEN ? MAX_SNAPLEN : this.snaplen;
    // LinkType is the low 16 bits; the top bits carry the FCS length, which we do not use.
    this.linkType = dv.getUint32(p + 20, le) & 0xffff;
    src.pos = p + PCAP_FILE_HEADER_LEN;
  }

  protected step(): boolean {
    const s = this.src;
    if (s.end - s.pos < HDR && !s.ensure(HDR)) {
      const left = s.available;
      if (left === 0) return false;
      return this.truncated(s.offsetOf(s.pos), 'record header', HDR, left);
    }
    let p = s.pos;
    const at = s.offsetOf(p);
    const le = this.littleEndian;
    let dv = s.dv;
    const cap = dv.getUint32(p + 8, le);
    const orig = dv.getUint32(p + 12, le);
    if (cap > this.maxCap) {
      throw new CaptureError(
        this.path,
        at,
        'record',
        cap > MAX_SNAPLEN
          ? ` claims ${cap} captured bytes, more than the limit ${MAX_SNAPLEN}`
          : ` claims ${cap} captured bytes, more than the snaplen ${this.snaplen}`,
      );
    }
    if (cap > orig)
      throw new CaptureError(this.path, at, 'record', ` claims ${cap} captured bytes of a ${orig}-byte packet`);
    if (s.end - p < HDR + cap) {
      if (!s.ensure(HDR + cap)) return this.truncated(at, 'record', HDR + cap, s.available);
      p = s.pos;
      dv = s.dv;
    }
    let sec = dv.getUint32(p, le);
    let frac = dv.getUint32(p + 4, le);
    if (frac >= this.fracPerSec) {
      // Not produced by libpcap; carry the excess into the seconds rather than report nanoseconds ≥ 1e9.
      sec += Math.floor(frac / this.fracPerSec);
      frac %= this.fracPerSec;
    }
    s.pos = p + HDR + cap;
    this.off = p + HDR;
    this.len = cap;
    this.origLen = orig;
    this.tsSec = sec;
    this.tsNsec = frac * this.nsPerFrac;
    this.byteOffset = at;
    return true;
  }

  protected restart(): void {
    this.src.seek(PCAP_FILE_HEADER_LEN);
  }
}

export function hex8(x: number): string {
  return (x >>> 0).toString(16).padStart(8, '0');
}
