/**
 * `openCapture(path)`: sniff the magic number and return the pcap or pcapng reader; `readCaptureFile` and
 * `writeCaptureFile`: whole-file conveniences for tests and small files (each record copied), built on the
 * streaming reader and writer.
 */
import { CaptureError } from './error.js';
import { BT_SHB, DEFAULT_SNAPLEN } from './format.js';
import { PcapReader } from './pcap-reader.js';
import { PcapngReader } from './pcapng-reader.js';
import type { CaptureReader, CaptureRecord, ReaderOptions } from './reader.js';
import { FileSource } from './source.js';
import { createCaptureWriter } from './writer.js';

/** Open a pcap or pcapng file for streaming reads (the format is told by the magic number). */
export function openCapture(path: string, opts: ReaderOptions = {}): CaptureReader {
  const src = new FileSource(path, opts);
  try {
    if (!src.ensure(4)) {
      if (src.available === 0) throw new CaptureError(path, 0, 'empty file: no capture file header');
      throw new CaptureError(path, 0, 'truncated capture file header', ` (need 4 bytes, ${src.available} left)`);
    }
    if (src.dv.getUint32(src.pos, false) === BT_SHB) return new PcapngReader(src, opts);
    return new PcapReader(src, opts);
  } catch (e) {
    src.close();
    throw e;
  }
}

/** A whole capture in memory. */
export interface CaptureFile {
  format: 'pcap' | 'pcapng';
  /** The file's link type (pcapng: the first interface's; -1 when there is none). */
  linkType: number;
  /** True when timestamps are finer than microseconds (pcapng: the first interface's). */
  nanos: boolean;
  /** The file's snaplen (pcapng: the first interface's, 0 = none). */
  snaplen: number;
  records: CaptureRecord[];
}

/** Read a whole capture, copying each packet: tests and small files only. Throws CaptureError. */
export function readCaptureFile(path: string, opts: ReaderOptions = {}): CaptureFile {
  const r = openCapture(path, opts);
  try {
    const out: CaptureFile = {
      format: r.format,
      linkType: r.linkType,
      nanos: r.nanos,
      snaplen: r.snaplen,
      records: [],
    };
    while (r.advance()) {
      out.records.push({
        data: r.buf.slice(r.off, r.off + r.len),
        origLen: r.origLen,
        tsSec: r.tsSec,
        tsNsec: r.tsNsec,
        linkType: r.linkType,
      });
    }
    return out;
  } finally {
    r.close();
  }
}

export interface WriteCaptureOptions {
  linkType: number;
  records: Array<{ data: Uint8Array; tsSec?: number; tsNsec?: number; origLen?: number }>;
  /** Nanosecond timestamps (default microseconds; nanoseconds are truncated to µs then). */
  nanos?: boolean;
  /** Default 262144; longer records are truncated, their original length kept. */
  snaplen?: number;
  bigEndian?: boolean;
  /** Default pcap. */
  format?: 'pcap' | 'pcapng';
}

/** Write a whole capture file. Throws CaptureError on I/O failure, RangeError on bad arguments. */
export function writeCaptureFile(path: string, opts: WriteCaptureOptions): void {
  const w = createCaptureWriter(path, {
    linkType: opts.linkType,
    snaplen: opts.snaplen ?? DEFAULT_SNAPLEN,
    nanos: opts.nanos ?? false,
    bigEndian: opts.bigEndian ?? false,
    format: opts.format ?? 'pcap',
  });
  try {
    for (const rec of opts.records) {
      w.write(rec.data, rec.tsSec ?? 0, rec.tsNsec ?? 0, rec.origLen ?? rec.data.length);
    }
  } finally {
    w.close();
  }
}
