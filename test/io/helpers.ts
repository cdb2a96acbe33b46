/**
 * Test helpers for engine/io, written from the specs (draft-ietf-opsawg-pcap, -pcapng) and independent of
 * the code under test: hex fixtures, a pcapng block builder, and tshark as an outside oracle.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Bytes from hex with spaces, newlines and `#` comments allowed. */
export function hex(s: string): Uint8Array {
  const clean = s
    .split('\n')
    .map((l) => l.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (clean.length % 2 !== 0) throw new Error(`hex: odd length`);
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A fresh temporary directory and its remover. */
export function tempDir(): { dir: string; path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'egr-io-'));
  return { dir, path: (n) => join(dir, n), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

/**
 * What tshark says about each packet of a file: wire length, captured length, epoch time. Records that are
 * not packets (tshark lists pcapng custom blocks as frames with no encapsulation) are left out.
 */
export interface TsharkFrame {
  len: number;
  capLen: number;
  sec: number;
  /** Fraction as nanoseconds (tshark prints 9 digits). */
  nsec: number;
  linkType: string;
}

export function tsharkFrames(file: string): TsharkFrame[] {
  const out = execFileSync(
    'tshark',
    [
      '-r',
      file,
      '-T',
      'fields',
      '-E',
      'separator=,',
      '-e',
      'frame.len',
      '-e',
      'frame.cap_len',
      '-e',
      'frame.time_epoch',
      '-e',
      'frame.encap_type',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return out
    .split('\n')
    .filter((l) => l.trim() !== '' && l.split(',')[3] !== '')
    .map((l) => {
      const [len, capLen, t, enc] = l.split(',');
      const [s, f = '0'] = t!.split('.');
      return {
        len: Number(len),
        capLen: Number(capLen),
        sec: Number(s),
        nsec: Number(f.padEnd(9, '0').slice(0, 9)),
        linkType: enc!,
      };
    });
}

/** The raw bytes of each frame as tshark sees them, in hex (`frame_raw` of `-T json -x`). */
export function tsharkBytes(file: string): string[] {
  const out = execFileSync('tshark', ['-r', file, '-T', 'json', '-x'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  });
  const frames = JSON.parse(out) as Array<{ _source: { layers: { frame_raw: [string, ...unknown[]] } } }>;
  return frames.map((f) => f._source.layers.frame_raw[0]);
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/**
 * pcapng blocks, built field by field from the spec: `Block Type | Block Total Length | Body | Block Total
 * Length`, body padded to 32 bits, options as `code(16) len(16) value padded`.
 */
export class Ng {
  constructor(readonly le: boolean) {}

  private u32(n: number): Uint8Array {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n >>> 0, this.le);
    return b;
  }
  private u16(n: number): Uint8Array {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, n, this.le);
    return b;
  }
  private pad(b: Uint8Array): Uint8Array {
    return concat(b, new Uint8Array((4 - (b.length % 4)) % 4));
  }

  /** One option (padded) — pass `[]` bodies to omit. */
  opt(code: number, value: Uint8Array): Uint8Array {
    return concat(this.u16(code), this.u16(value.length), this.pad(value));
  }
  endOpt(): Uint8Array {
    return concat(this.u16(0), this.u16(0));
  }

  /** A block with the given type and body; `lenDelta`/`trailer` let tests break the lengths. */
  block(type: number, body: Uint8Array, o: { lenDelta?: number; trailer?: number } = {}): Uint8Array {
    const b = this.pad(body);
    const len = 12 + b.length + (o.lenDelta ?? 0);
    return concat(this.u32(type), this.u32(len), b, this.u32(o.trailer ?? len));
  }

  shb(options: Uint8Array = new Uint8Array(0), version: [number, number] = [1, 0]): Uint8Array {
    const bom = new Uint8Array(4);
    new DataView(bom.buffer).setUint32(0, 0x1a2b3c4d, this.le);
    const seclen = new Uint8Array(8).fill(0xff); // -1: not specified
    return this.block(0x0a0d0d0a, concat(bom, this.u16(version[0]), this.u16(version[1]), seclen, options));
  }

  idb(linkType: number, snaplen: number, options: Uint8Array = new Uint8Array(0)): Uint8Array {
    return this.block(1, concat(this.u16(linkType), this.u16(0), this.u32(snaplen), options));
  }

  /** Enhanced Packet Block; `ts` in interface units as a BigInt. */
  epb(ifId: number, ts: bigint, data: Uint8Array, origLen = data.length, capLen = data.length): Uint8Array {
    return this.block(
      6,
      concat(
        this.u32(ifId),
        this.u32(Number(ts >> 32n)),
        this.u32(Number(ts & 0xffffffffn)),
        this.u32(capLen),
        this.u32(origLen),
        this.pad(data),
      ),
    );
  }

  /** Obsolete Packet Block: 16-bit interface id and drops count. */
  pb(ifId: number, ts: bigint, data: Uint8Array, origLen = data.length): Uint8Array {
    return this.block(
      2,
      concat(
        this.u16(ifId),
        this.u16(0),
        this.u32(Number(ts >> 32n)),
        this.u32(Number(ts & 0xffffffffn)),
        this.u32(data.length),
        this.u32(origLen),
        this.pad(data),
      ),
    );
  }

  spb(data: Uint8Array, origLen = data.length): Uint8Array {
    return this.block(3, concat(this.u32(origLen), this.pad(data)));
  }

  /** Interface Statistics Block for interface 0 (skipped by readers that do not use it). */
  isb(): Uint8Array {
    return this.block(5, concat(this.u32(0), this.u32(0), this.u32(0)));
  }

  /** Name Resolution Block with one IPv4 record and nrb_record_end. */
  nrb(): Uint8Array {
    const name = new TextEncoder().encode('host.example\0');
    const rec = concat(this.u16(1), this.u16(4 + name.length), new Uint8Array([198, 18, 0, 1]), this.pad(name));
    return this.block(4, concat(rec, this.u16(0), this.u16(0)));
  }

  /** Custom Block (PEN 32473, the documentation enterprise number). */
  custom(): Uint8Array {
    return this.block(0x00000bad, concat(this.u32(32473), new TextEncoder().encode('custom data!')));
  }
}

/** `tsresol` option value byte. */
export function tsresol(n: number, pow2 = false): Uint8Array {
  return new Uint8Array([(pow2 ? 0x80 : 0) | n]);
}

/** A signed 64-bit option value (if_tsoffset). */
export function i64(n: bigint, le: boolean): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, n, le);
  return b;
}

/** Split units-since-epoch into (sec, nsec) with BigInt: the reference the reader is checked against. */
export function refTs(ts: bigint, unitsPerSec: bigint, offset = 0n): { sec: number; nsec: number } {
  const sec = ts / unitsPerSec + offset;
  const nsec = ((ts % unitsPerSec) * 1_000_000_000n) / unitsPerSec;
  return { sec: Number(sec), nsec: Number(nsec) };
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Byte equality that stays fast on large arrays (vitest's deep equality walks element by element). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
