/**
 * Streaming pcapng reader (draft-ietf-opsawg-pcapng).
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +---------------------------------------------------------------+
 *   0 |                          Block Type                           |
 *     +---------------------------------------------------------------+
 *   4 |                      Block Total Length                       |
 *     +---------------------------------------------------------------+
 *   8 /                          Block Body                           /
 *     +---------------------------------------------------------------+
 *     |                      Block Total Length                       |
 *     +---------------------------------------------------------------+
 *
 * Section Header Block body: Byte-Order Magic 0x1A2B3C4D (32), Major 1 (16), Minor 0 (16), Section Length
 * (64, -1 = unknown), options. Every section has its own byte order and its own interface numbering.
 * Interface Description Block body: LinkType (16), Reserved (16), SnapLen (32, 0 = none), options
 * (if_tsresol: 1 byte, MSB 0 → 10^-n s, MSB 1 → 2^-n s, default 10^-6; if_tsoffset: seconds added).
 * Enhanced Packet Block body: Interface ID (32), Timestamp upper (32), lower (32), Captured Length (32),
 * Original Length (32), data padded to 32 bits, options. Packet Block (obsolete): the same with a 16-bit
 * Interface ID and a 16-bit Drops Count. Simple Packet Block: Original Length (32), data; interface 0; the
 * captured length is min(original length, interface 0's snaplen, what the block holds); no timestamp (0).
 * Other blocks (NRB, ISB, DSB, custom, unknown) are skipped by length without being loaded.
 *
 * Every block: total length a multiple of 4, at least the type's minimum, the trailing copy equal to the
 * leading one; a CaptureError names the block's offset otherwise.
 *
 * Timestamps are 64-bit counts of interface units; they become (seconds, nanoseconds) exactly without BigInt
 * for 10^-n (n ≤ 9) and 2^-n (n ≤ 32) units, which covers every real writer; BigInt beyond that (allocating,
 * for exotic resolutions only).
 */
import { CaptureError } from './error.js';
import {
  BLOCK_MIN_LEN,
  BT_EPB,
  BT_IDB,
  BT_PB,
  BT_SHB,
  BT_SPB,
  EPB_MIN_LEN,
  IDB_MIN_LEN,
  MAX_BLOCK_LEN,
  MAX_SNAPLEN,
  OPT_ENDOFOPT,
  OPT_IF_TSOFFSET,
  OPT_IF_NAME,
  OPT_IF_TSRESOL,
  PB_MIN_LEN,
  PCAPNG_BOM,
  PCAPNG_VERSION_MAJOR,
  SHB_MIN_LEN,
  SPB_MIN_LEN,
} from './format.js';
import { hex8 } from './pcap-reader.js';
import { CaptureReader, type ReaderOptions } from './reader.js';
import type { FileSource } from './source.js';

const TWO32 = 4294967296;
/** Timestamp conversion kinds. */
const TS_DECIMAL = 0;
const TS_POW2 = 1;
const TS_BIGINT = 2;

/** An interface of the current section, as its IDB described it. */
export interface InterfaceInfo {
  readonly linkType: number;
  /** 0 = no limit. */
  readonly snaplen: number;
  /** if_tsresol byte (6 when absent). */
  readonly tsresol: number;
  /** if_tsoffset in seconds (0 when absent). */
  readonly tsoffset: number;
  /** if_name, or '' when absent. */
  readonly name: string;
  /** Timestamp units per second (as a number; exact up to 2^53). */
  readonly unitsPerSec: number;
}

interface Iface extends InterfaceInfo {
  kind: number;
  /** TS_DECIMAL: units per second (10^n); TS_POW2: 2^n. */
  div: number;
  /** TS_DECIMAL: nanoseconds per unit (10^(9-n)). */
  nsPerUnit: number;
  /** TS_POW2: n. */
  log2: number;
  /** TS_BIGINT: units per second. */
  units: bigint;
}

export class PcapngReader extends CaptureReader {
  readonly format = 'pcapng' as const;
  /** Byte order of the current section. */
  littleEndian = true;
  /** Sections seen so far. */
  sections = 0;
  private ifaces: Iface[] = [];

  constructor(src: FileSource, opts: ReaderOptions = {}) {
    super(src, opts);
    this.prime();
  }

  /** The interfaces of the current section (cold path). */
  get interfaces(): readonly InterfaceInfo[] {
    return this.ifaces;
  }

  /**
   * Read the section header and the blocks after it up to the first interface (or the first packet), so
   * that `linkType`, `snaplen` and `nanos` describe the file before the first record is read.
   */
  private prime(): void {
    const s = this.src;
    if (!s.ensure(BLOCK_MIN_LEN)) {
      if (s.available === 0) throw new CaptureError(this.path, 0, 'empty file: no pcapng section header');
      throw new CaptureError(this.path, 0, 'truncated section header block', ` (need 28 bytes, ${s.available} left)`);
    }
    while (this.ifaces.length === 0) {
      if (this.sections > 0) {
        if (!s.ensure(BLOCK_MIN_LEN)) break;
        const t = s.dv.getUint32(s.pos, this.littleEndian);
        if (t === BT_EPB || t === BT_SPB || t === BT_PB) break;
      }
      if (this.readBlock() !== OTHER) break;
    }
    const first = this.ifaces[0];
    if (first) {
      this.linkType = first.linkType;
      this.snaplen = first.snaplen;
      this.nanos = first.unitsPerSec > 1e6;
    }
  }

  protected step(): boolean {
    for (;;) {
      const r = this.readBlock();
      if (r !== OTHER) return r === PACKET;
    }
  }

  protected restart(): void {
    this.src.seek(0);
    this.sections = 0;
    this.littleEndian = true;
    this.ifaces = [];
    this.prime();
  }

  /** Read one block: END at a clean end of file (or a tolerated truncation), PACKET with the fields set, OTHER. */
  private readBlock(): number {
    const s = this.src;
    if (s.end - s.pos < BLOCK_MIN_LEN && !s.ensure(BLOCK_MIN_LEN)) {
      const left = s.available;
      if (left === 0) return END;
      return this.cut(s.offsetOf(s.pos), 'block header', BLOCK_MIN_LEN, left);
    }
    let p = s.pos;
    let dv = s.dv;
    const at = s.offsetOf(p);
    const type = dv.getUint32(p, this.littleEndian);
    if (type === BT_SHB) {
      const bom = dv.getUint32(p + 8, true);
      if (bom === PCAPNG_BOM) this.littleEndian = true;
      else if (bom === 0x4d3c2b1a) this.littleEndian = false;
      else throw new CaptureError(this.path, at + 8, `bad byte-order magic 0x${hex8(bom)} in the section header`);
    } else if (this.sections === 0) {
      throw new CaptureError(this.path, at, 'block', ` (type 0x${hex8(type)}) comes before any section header`);
    }
    const le = this.littleEndian;
    const len = dv.getUint32(p + 4, le);
    const min = minLength(type);
    if (len % 4 !== 0 || len < min)
      throw new CaptureError(
        this.path,
        at,
        blockName(type),
        ` has a bad total length ${len} (must be a multiple of 4 and at least ${min})`,
      );
    if (min === BLOCK_MIN_LEN) {
      // A block we do not interpret: skip it by length without loading it, then check its trailer.
      if (!s.skip(len - 4) || !s.ensure(4)) {
        return this.cut(at, blockName(type), len, s.offsetOf(s.end) - at);
      }
      const trail = s.dv.getUint32(s.pos, le);
      if (trail !== len) throw this.trailerError(at, type, len, trail);
      s.pos += 4;
      return OTHER;
    }
    if (len > MAX_BLOCK_LEN)
      throw new CaptureError(
        this.path,
        at,
        blockName(type),
        ` claims ${len} bytes, more than the limit ${MAX_BLOCK_LEN}`,
      );
    if (s.end - p < len) {
      if (!s.ensure(len)) return this.cut(at, blockName(type), len, s.available);
      p = s.pos;
      dv = s.dv;
    }
    const trail = dv.getUint32(p + len - 4, le);
    if (trail !== len) throw this.trailerError(at, type, len, trail);
    s.pos = p + len;
    switch (type) {
      case BT_SHB:
        this.readShb(dv, p, at, len);
        return OTHER;
      case BT_IDB:
        this.readIdb(dv, p, len);
        return OTHER;
      case BT_EPB:
        return this.readPacket(dv, p, at, len, dv.getUint32(p + 8, le), type);
      case BT_PB:
        return this.readPacket(dv, p, at, len, dv.getUint16(p + 8, le), type);
      default:
        return this.readSpb(dv, p, at, len);
    }
  }

  /**
   * The file ends inside a block: `truncated()` (an error, or a tolerated tail) — except inside the first
   * section header, which is always an error (as a truncated pcap file header is).
   */
  private cut(at: number, what: string, need: number, left: number): number {
    if (this.sections === 0)
      throw new CaptureError(this.path, at, `truncated ${what}`, ` (need ${need} bytes, ${left} left)`);
    this.truncated(at, what, need, left);
    return END;
  }

  private readShb(dv: DataView, p: number, at: number, len: number): void {
    const le = this.littleEndian;
    const major = dv.getUint16(p + 12, le);
    const minor = dv.getUint16(p + 14, le);
    if (major !== PCAPNG_VERSION_MAJOR || minor > 2)
      throw new CaptureError(this.path, at + 12, `unsupported pcapng version ${major}.${minor}`);
    this.checkOptions(dv, p + 24, p + len - 4);
    this.sections++;
    this.ifaces = [];
  }

  private readIdb(dv: DataView, p: number, len: number): void {
    const le = this.littleEndian;
    const linkType = dv.getUint16(p + 8, le);
    const snaplen = dv.getUint32(p + 12, le);
    let tsresol = 6;
    let tsoffset = 0;
    let name = '';
    const end = p + len - 4;
    let o = p + 16;
    while (o + 4 <= end) {
      const code = dv.getUint16(o, le);
      const olen = dv.getUint16(o + 2, le);
      if (code === OPT_ENDOFOPT) break;
      const v = o + 4;
      if (v + olen > end) throw this.optionError(o, code, olen);
      if (code === OPT_IF_TSRESOL) {
        if (olen !== 1) throw this.optionError(o, code, olen, ' (if_tsresol must be 1 byte)');
        tsresol = dv.getUint8(v);
      } else if (code === OPT_IF_TSOFFSET) {
        if (olen !== 8) throw this.optionError(o, code, olen, ' (if_tsoffset must be 8 bytes)');
        tsoffset = le
          ? dv.getInt32(v + 4, true) * TWO32 + dv.getUint32(v, true)
          : dv.getInt32(v, false) * TWO32 + dv.getUint32(v + 4, false);
      } else if (code === OPT_IF_NAME) {
        name = new TextDecoder().decode(new Uint8Array(dv.buffer, v, olen));
      }
      o = v + ((olen + 3) & ~3);
    }
    const n = tsresol & 0x7f;
    const pow2 = (tsresol & 0x80) !== 0;
    const ifc: Iface = {
      linkType,
      snaplen,
      tsresol,
      tsoffset,
      name,
      unitsPerSec: pow2 ? 2 ** n : 10 ** n,
      kind: pow2 ? (n <= 32 ? TS_POW2 : TS_BIGINT) : n <= 9 ? TS_DECIMAL : TS_BIGINT,
      div: pow2 ? 2 ** n : 10 ** n,
      nsPerUnit: n <= 9 ? 10 ** (9 - n) : 0,
      log2: n,
      units: pow2 ? 1n << BigInt(n) : 10n ** BigInt(n),
    };
    this.ifaces.push(ifc);
  }

  /** Options of a block we do not interpret beyond their framing: check that they stay inside it. */
  private checkOptions(dv: DataView, o: number, end: number): void {
    const le = this.littleEndian;
    while (o + 4 <= end) {
      const code = dv.getUint16(o, le);
      const olen = dv.getUint16(o + 2, le);
      if (code === OPT_ENDOFOPT) return;
      if (o + 4 + olen > end) throw this.optionError(o, code, olen);
      o += 4 + ((olen + 3) & ~3);
    }
  }

  private readPacket(dv: DataView, p: number, at: number, len: number, id: number, type: number): number {
    const le = this.littleEndian;
    const ifc = this.iface(id, at, type);
    const cap = dv.getUint32(p + 20, le);
    const orig = dv.getUint32(p + 24, le);
    if (cap > len - EPB_MIN_LEN)
      throw new CaptureError(
        this.path,
        at,
        blockName(type),
        ` claims ${cap} captured bytes but holds at most ${len - EPB_MIN_LEN}`,
      );
    this.checkCap(at, type, cap, orig, ifc);
    // Passed as int32 (`| 0`): a uint32 above 2^31 crossing a call that is not inlined would be boxed.
    this.timestamp(ifc, dv.getUint32(p + 12, le) | 0, dv.getUint32(p + 16, le) | 0);
    this.off = p + 28;
    this.len = cap;
    this.origLen = orig;
    this.ifIndex = id;
    this.linkType = ifc.linkType;
    this.byteOffset = at;
    return PACKET;
  }

  private readSpb(dv: DataView, p: number, at: number, len: number): number {
    const ifc = this.iface(0, at, BT_SPB);
    const orig = dv.getUint32(p + 8, this.littleEndian);
    let cap = orig;
    if (ifc.snaplen !== 0 && cap > ifc.snaplen) cap = ifc.snaplen;
    if (cap > len - SPB_MIN_LEN) cap = len - SPB_MIN_LEN;
    if (cap > MAX_SNAPLEN)
      throw new CaptureError(
        this.path,
        at,
        blockName(BT_SPB),
        ` holds ${cap} bytes, more than the limit ${MAX_SNAPLEN}`,
      );
    this.tsSec = 0;
    this.tsNsec = 0;
    this.off = p + 12;
    this.len = cap;
    this.origLen = orig;
    this.ifIndex = 0;
    this.linkType = ifc.linkType;
    this.byteOffset = at;
    return PACKET;
  }

  private iface(id: number, at: number, type: number): Iface {
    const ifc = this.ifaces[id];
    if (ifc === undefined)
      throw new CaptureError(
        this.path,
        at,
        blockName(type),
        ` names interface ${id}, but its section has ${this.ifaces.length}`,
      );
    return ifc;
  }

  private checkCap(at: number, type: number, cap: number, orig: number, ifc: Iface): void {
    if (cap > MAX_SNAPLEN)
      throw new CaptureError(
        this.path,
        at,
        blockName(type),
        ` claims ${cap} captured bytes, more than the limit ${MAX_SNAPLEN}`,
      );
    if (ifc.snaplen !== 0 && cap > ifc.snaplen)
      throw new CaptureError(
        this.path,
        at,
        blockName(type),
        ` claims ${cap} captured bytes, more than its interface's snaplen ${ifc.snaplen}`,
      );
    if (cap > orig)
      throw new CaptureError(this.path, at, blockName(type), ` claims ${cap} captured bytes of a ${orig}-byte packet`);
  }

  /** Units since the epoch (hi·2^32 + lo, both given as int32) → tsSec, tsNsec, exactly. */
  private timestamp(ifc: Iface, hi32: number, lo32: number): void {
    const hi = hi32 >>> 0;
    const lo = lo32 >>> 0;
    let sec: number;
    let ns: number;
    if (ifc.kind === TS_DECIMAL) {
      const d = ifc.div;
      let rem: number;
      if (d >= 1e6) {
        // µs, ns and between (every real writer): one approximate division, then the exact remainder.
        // t = hi·2^32 + lo rounds by at most 2^10 as a double, so q is floor(t/d) ± 1 (d ≥ 10^6). With
        // q = qh·2^16 + ql: t - q·d = (hi·2^16 - qh·d)·2^16 + lo - ql·d, where qh·d ≈ t/2^16 < 2^48 and
        // every term and partial sum stays below 2^53, so the remainder is exact; one step corrects q.
        let q = Math.floor((hi * TWO32 + lo) / d);
        const qh = Math.floor(q / 65536);
        const ql = q - qh * 65536;
        rem = (hi * 65536 - qh * d) * 65536 + lo - ql * d;
        while (rem < 0) {
          q--;
          rem += d;
        }
        while (rem >= d) {
          q++;
          rem -= d;
        }
        sec = q;
      } else if (hi < 0x100000) {
        // hi·2^32 + lo < 2^52: exact as a double, and q·d ≤ x + d stays below 2^53 in divmod.
        sec = divmod(hi * TWO32 + lo, d);
        rem = dmRem;
      } else {
        // Long division in base 2^16: every partial dividend is below d·2^16 < 10^6·2^16 < 2^53.
        let q = divmod(hi >>> 16, d);
        q = q * 65536 + divmod(dmRem * 65536 + (hi & 0xffff), d);
        q = q * 65536 + divmod(dmRem * 65536 + (lo >>> 16), d);
        sec = q * 65536 + divmod(dmRem * 65536 + (lo & 0xffff), d);
        rem = dmRem;
      }
      ns = rem * ifc.nsPerUnit;
    } else if (ifc.kind === TS_POW2) {
      const d = ifc.div;
      const frac = lo % d;
      sec = hi * (TWO32 / d) + (lo - frac) / d;
      // frac·10^9 / 2^n = frac·1953125 / 2^(n-9); frac·1953125 < 2^32·1953125 < 2^53 stays exact.
      const x = frac * 1953125;
      if (ifc.log2 >= 9) {
        const q = 2 ** (ifc.log2 - 9);
        ns = (x - (x % q)) / q;
      } else ns = x * 2 ** (9 - ifc.log2);
    } else {
      const t = (BigInt(hi) << 32n) | BigInt(lo);
      sec = Number(t / ifc.units);
      ns = Number(((t % ifc.units) * 1_000_000_000n) / ifc.units);
    }
    this.tsSec = sec + ifc.tsoffset;
    this.tsNsec = ns;
  }

  private trailerError(at: number, type: number, len: number, trail: number): CaptureError {
    return new CaptureError(
      this.path,
      at,
      blockName(type),
      ` has a trailing total length ${trail} that differs from its leading one ${len}`,
    );
  }

  private optionError(o: number, code: number, olen: number, why = ''): CaptureError {
    return new CaptureError(
      this.path,
      this.src.offsetOf(o),
      'bad option',
      ` (code ${code}, length ${olen}${why ? '' : ', past the end of its block'})${why}`,
    );
  }
}

const END = 0;
const PACKET = 1;
const OTHER = 2;

/** Remainder of the last `divmod` (module scope: no allocation for a second result). */
let dmRem = 0;

/**
 * floor(x / d) for integers 0 ≤ x, 0 < d with x + d < 2^53, remainder in `dmRem`, exactly. The division is
 * correctly rounded, so floor is at most one too large (when x/d rounds up to an integer), never too small;
 * x - q·d is exact (both below 2^53) and negative exactly in that case. Cheaper than `%` (fmod) on doubles.
 */
function divmod(x: number, d: number): number {
  let q = Math.floor(x / d);
  let r = x - q * d;
  if (r < 0) {
    q--;
    r += d;
  }
  dmRem = r;
  return q;
}

function minLength(type: number): number {
  switch (type) {
    case BT_SHB:
      return SHB_MIN_LEN;
    case BT_IDB:
      return IDB_MIN_LEN;
    case BT_EPB:
      return EPB_MIN_LEN;
    case BT_PB:
      return PB_MIN_LEN;
    case BT_SPB:
      return SPB_MIN_LEN;
    default:
      return BLOCK_MIN_LEN;
  }
}

function blockName(type: number): string {
  switch (type) {
    case BT_SHB:
      return 'section header block';
    case BT_IDB:
      return 'interface description block';
    case BT_EPB:
      return 'enhanced packet block';
    case BT_PB:
      return 'packet block';
    case BT_SPB:
      return 'simple packet block';
    default:
      return `block (type 0x${hex8(type)})`;
  }
}
