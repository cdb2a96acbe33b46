/**
 * Fixtures of captures/wire/: the pcap frames (read with engine/io's reader) with scapy's field values from
 * the JSON Lines sidecar (<name>.jsonl) that captures/gen/wire_fixtures.py wrote next to each pcap.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readCaptureFile } from '../../engine/io/index.js';
import { parseAddr } from '../../engine/wire/ipv4.js';
import { parseAddr as parseAddr6 } from '../../engine/wire/ipv6.js';
import { parseMac } from '../../engine/wire/ethernet.js';

export const WIRE_DIR = resolve(import.meta.dirname, '../../captures/wire');

export type FieldValue = string | number | null | { [k: string]: unknown }[];

export interface Layer {
  /** scapy class name: Ether, Dot1Q, ARP, IP, IPerror, UDP, TCP, ICMP, GENEVE, IPv6, ICMPv6ND_NS, Raw ... */
  layer: string;
  /** Offset of the layer in the frame. */
  offset: number;
  fields: Record<string, FieldValue>;
}

export interface Frame {
  file: string;
  index: number;
  /** The frame's bytes (a fresh buffer of exactly the frame's length). */
  bytes: Uint8Array;
  view: DataView;
  len: number;
  layers: Layer[];
}

export const FIXTURE_FILES = [
  'eth-ipv4-udp.pcap',
  'eth-ipv4-tcp.pcap',
  'ipv4-options-tcp.pcap',
  'vlan-tagged.pcap',
  'arp-request.pcap',
  'garp.pcap',
  'icmp-echo.pcap',
  'icmp-frag-needed.pcap',
  'icmp-errors.pcap',
  'geneve-udp.pcap',
  'geneve-options.pcap',
  'ip-fragment.pcap',
  'eth-ipv6-udp-tcp.pcap',
  'ipv6-ext.pcap',
  'ipv6-ext-bad.pcap',
  'icmpv6-echo.pcap',
  'icmpv6-errors.pcap',
  'ndp.pcap',
  'geneve-ipv6.pcap',
] as const;

const cache = new Map<string, Frame[]>();

/** The frames of one fixture pcap with scapy's values; checks the sidecar matches the pcap. */
export function load(file: string): Frame[] {
  const hit = cache.get(file);
  if (hit) return hit;
  const cap = readCaptureFile(resolve(WIRE_DIR, file));
  // Sidecar: JSON Lines, a header line then one packet per line.
  const lines = readFileSync(resolve(WIRE_DIR, file.replace(/\.pcap$/, '.jsonl')), 'utf8')
    .trim()
    .split('\n');
  const head = JSON.parse(lines[0]!) as { pcap: string; packets: number };
  const side = { packets: lines.slice(1).map((l) => JSON.parse(l) as { len: number; layers: Layer[] }) };
  if (head.pcap !== file || head.packets !== side.packets.length)
    throw new Error(`${file}: sidecar header does not match`);
  if (cap.linkType !== 1) throw new Error(`${file}: link type ${cap.linkType}, expected 1 (Ethernet)`);
  if (cap.records.length !== side.packets.length)
    throw new Error(`${file}: ${cap.records.length} frames but ${side.packets.length} in the sidecar`);
  const frames = cap.records.map((r, index) => {
    const p = side.packets[index]!;
    if (r.data.length !== p.len) throw new Error(`${file}#${index}: ${r.data.length} bytes, sidecar says ${p.len}`);
    const bytes = new Uint8Array(r.data); // own buffer: reads past the end throw
    return { file, index, bytes, view: new DataView(bytes.buffer), len: bytes.length, layers: p.layers };
  });
  cache.set(file, frames);
  return frames;
}

/** Every frame of every fixture. */
export function allFrames(): Frame[] {
  return FIXTURE_FILES.flatMap((f) => load(f));
}

/** The `nth` layer called `name` in a frame, or undefined. */
export function findLayer(f: Frame, name: string, nth = 0): Layer | undefined {
  return f.layers.filter((l) => l.layer === name)[nth];
}

/** Like findLayer but throws when absent. */
export function layer(f: Frame, name: string, nth = 0): Layer {
  const l = findLayer(f, name, nth);
  if (!l) throw new Error(`${f.file}#${f.index}: no ${name} layer #${nth}`);
  return l;
}

/** Numeric field. */
export function num(l: Layer, field: string): number {
  const v = l.fields[field];
  if (typeof v !== 'number') throw new Error(`${l.layer}.${field} is not a number: ${JSON.stringify(v)}`);
  return v;
}

/** String field. */
export function str(l: Layer, field: string): string {
  const v = l.fields[field];
  if (typeof v !== 'string') throw new Error(`${l.layer}.${field} is not a string: ${JSON.stringify(v)}`);
  return v;
}

/** Dotted quad → int32 (throws on bad text). */
export function addr(s: string): number {
  const a = parseAddr(s);
  if (a === null) throw new Error(`bad address ${s}`);
  return a;
}

/** IPv6 text → 16 bytes (throws on bad text). */
export function addr6(s: string): Uint8Array {
  const a = parseAddr6(s);
  if (!a) throw new Error(`bad IPv6 address ${s}`);
  return a;
}

/** MAC text → 6 bytes (throws on bad text). */
export function mac(s: string): Uint8Array {
  const m = parseMac(s);
  if (!m) throw new Error(`bad MAC ${s}`);
  return m;
}

/** Hex text → bytes. */
export function hexBytes(h: string): Uint8Array {
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

/** A buffer of `n` bytes pre-filled with 0xa5 (smoltcp's construct tests: unwritten bytes show up). */
export function a5(n: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(n).fill(0xa5);
  return { bytes, view: new DataView(bytes.buffer) };
}

/** Hex dump for readable failures. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Deterministic PRNG (mulberry32) for seeded random tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random bytes from a seeded PRNG. */
export function randomBytes(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

/** Reference RFC 1071 checksum, byte by byte (independent of engine/wire/checksum.ts). */
export function refChecksum(b: Uint8Array, start = 0, end = b.length, initial = 0): number {
  let s = initial;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}
