/**
 * The UDP-tunnel GSO encoding of tun/src/vnet.cc, without devices or root: the native writer and reader work on
 * any file descriptor, so a FIFO stands in for the TAP. Expected bytes are built here by hand: the 24-byte struct
 * virtio_net_hdr_v1_hash_tunnel from its layout in include/uapi/linux/virtio_net.h (flags u8, gso_type u8,
 * hdr_len, gso_size, csum_start, csum_offset, num_buffers u16, hash_value u32, hash_report u16, padding u16,
 * outer_th_offset u16, inner_nh_offset u16; x86 order), the frames from RFC 791/768/8926/793 field positions and
 * an RFC 1071 checksum written in this file.
 * 1. A Geneve-encapsulated TCP super-packet written with hdrSize 24: one write, that header, outer and inner
 *    lengths set for the whole super-packet, the inner TCP checksum left as the pseudo-header sum, UDP checksum 0.
 * 2. The same with hdrSize 10 (no tunnel GSO): cut here into gso_size segments with zero headers.
 * 3. Reading a tunnel super-packet (hdrSize 24, TAP): the probe is the real first segment (every length and
 *    checksum right), the meta row says where the inner packet is and how long the whole is.
 * 4. Reading a plain TCP super-packet from a TAP (Ethernet first): the probe starts at offset 14.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Slab } from '../../engine/index.js';
import { addonAvailable, loadAddon } from '../../tun/addon.js';

const skip =
  process.platform !== 'linux' || !addonAvailable()
    ? 'needs Linux and the tun addon'
    : endianness() !== 'LE'
      ? 'the expected headers are little-endian (x86)'
      : null;
if (skip) console.warn(`test/tun/vnet-tunnel.test.ts skipped: ${skip}`);

// ---- hand-built packets --------------------------------------------------------------------------------------

/** RFC 1071 sum of big-endian 16-bit words (not folded). */
function sum16(b: Uint8Array, from = 0, to = b.length): number {
  let s = 0;
  for (let i = from; i < to; i += 2) s += (b[i]! << 8) | (i + 1 < to ? b[i + 1]! : 0);
  return s;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
const be16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const put16 = (b: Uint8Array, at: number, v: number) => {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
};
const le16 = (v: number) => [v & 0xff, v >> 8];

const MAC_A = [2, 0, 0, 0, 0, 1];
const MAC_B = [2, 0, 0, 0, 0, 2];
const OUTER_SRC = [198, 18, 2, 12];
const OUTER_DST = [198, 18, 2, 13];
const INNER_SRC = [198, 19, 22, 10];
const INNER_DST = [198, 18, 2, 100];

function ipv4(total: number, id: number, proto: number, src: number[], dst: number[]): number[] {
  const h = new Uint8Array([
    0x45,
    0,
    total >> 8,
    total & 0xff,
    id >> 8,
    id & 0xff,
    0x40,
    0,
    64,
    proto,
    0,
    0,
    ...src,
    ...dst,
  ]);
  put16(h, 10, ~fold(sum16(h)) & 0xffff);
  return [...h];
}
const tcp = (seq: number, flags: number) => [
  0x9c,
  0x40,
  0x1f,
  0x90, // ports 40000 -> 8080
  (seq >>> 24) & 0xff,
  (seq >>> 16) & 0xff,
  (seq >>> 8) & 0xff,
  seq & 0xff,
  0,
  0,
  0x07,
  0xd0, // ack 2000
  0x50,
  flags,
  0x10,
  0x00, // data offset 5, flags, window 4096
  0,
  0,
  0,
  0, // checksum, urgent
];
const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);

/**
 * Eth / IPv4 / UDP 6081 / Geneve / Eth / IPv4 / TCP for an inner packet of `inner` IP bytes (lengths as given:
 * the caller decides whether they describe the probe or the whole super-packet); headers only, 104 bytes.
 */
function geneveHeaders(inner: number, outerTotal: number, tcpCsum: number): Uint8Array {
  const f = new Uint8Array([
    ...MAC_B,
    ...MAC_A,
    0x08,
    0x00,
    ...ipv4(outerTotal, 0x1234, 17, OUTER_SRC, OUTER_DST),
    0xc3,
    0x50,
    0x17,
    0xc1,
    (outerTotal - 20) >> 8,
    (outerTotal - 20) & 0xff,
    0,
    0, // UDP 50000 -> 6081, csum 0
    0,
    0,
    0x65,
    0x58,
    0,
    0,
    0,
    0, // Geneve: no options, protocol 0x6558 (Ethernet), VNI 0
    ...MAC_B,
    ...MAC_A,
    0x08,
    0x00,
    ...ipv4(inner, 0x0100, 6, INNER_SRC, INNER_DST),
    ...tcp(1000, 0x18),
  ]);
  put16(f, 64 + 40 - 4, tcpCsum);
  return f;
}

/** The pseudo-header sum of the inner TCP for `tcpLen` bytes (RFC 793), folded, not complemented. */
const pseudo = (tcpLen: number) => fold(sum16(Uint8Array.from([...INNER_SRC, ...INNER_DST])) + 6 + tcpLen);

/** A valid full IPv4 header checksum / TCP checksum check: the sum over the covered bytes folds to 0xffff. */
function ipOk(f: Uint8Array, at: number): boolean {
  return fold(sum16(f, at, at + 20)) === 0xffff;
}
function tcpOk(f: Uint8Array, l3: number): boolean {
  const total = be16(f, l3 + 2);
  return fold(pseudo(total - 20) + sum16(f, l3 + 20, l3 + total)) === 0xffff;
}

/** The 24-byte header by hand. */
function tunnelHdr(o: {
  flags: number;
  type: number;
  hdrLen: number;
  mss: number;
  start: number;
  off: number;
  outerTh: number;
  innerNh: number;
}): number[] {
  return [
    o.flags,
    o.type,
    ...le16(o.hdrLen),
    ...le16(o.mss),
    ...le16(o.start),
    ...le16(o.off),
    0,
    0, // num_buffers
    0,
    0,
    0,
    0, // hash_value
    0,
    0, // hash_report
    0,
    0, // padding
    ...le16(o.outerTh),
    ...le16(o.innerNh),
  ];
}

// ---- the FIFO --------------------------------------------------------------------------------------------------

describe.skipIf(skip !== null)('UDP-tunnel GSO vnet headers (tun/src/vnet.cc on a FIFO)', () => {
  let dir = '';
  let fd = -1;
  const addon = skip === null ? loadAddon() : null!;
  const slab = new Slab({ slots: 4 });
  const jumbo = new ArrayBuffer(65536);
  const MSS = 1398;
  const HEAD = 1000; // payload bytes in the slot; the rest in jumbo
  const TAIL = 5000;
  const P = HEAD + TAIL;
  const pay = payload(P);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egr-vnet-'));
    const r = spawnSync('mkfifo', [join(dir, 'f')]);
    expect(r.status).toBe(0);
    fd = openSync(join(dir, 'f'), constants.O_RDWR | constants.O_NONBLOCK);
  });
  afterAll(() => {
    if (fd >= 0) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Everything in the FIFO now. */
  function drain(): Uint8Array {
    const out: number[] = [];
    const buf = Buffer.alloc(65536);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw e;
      }
      if (n <= 0) break;
      out.push(...buf.subarray(0, n));
    }
    return Uint8Array.from(out);
  }

  /** Writes the super-packet (headers + HEAD in slot 0, TAIL in jumbo) with `hdrSize`; returns [written, info]. */
  function writeSuper(hdrSize: number): [number, Float64Array] {
    const off = slab.start(0);
    const f = geneveHeaders(0, 0, 0); // lengths and checksums are the writer's to set
    slab.u8.set(f, off);
    slab.u8.set(pay.subarray(0, HEAD), off + 104);
    new Uint8Array(jumbo).set(pay.subarray(HEAD), 0);
    const meta = new Int32Array([1, MSS, 64, 40, off + 104, HEAD, 0, TAIL]);
    const info = new Float64Array(5);
    const w = addon.writeBurstVnet(
      fd,
      slab.buffer,
      Int32Array.of(off),
      Int32Array.of(104 + HEAD),
      1,
      info,
      meta,
      jumbo,
      hdrSize,
    );
    return [w, info];
  }

  it('writes a Geneve TCP super-packet whole with the 24-byte tunnel header', () => {
    const [w, info] = writeSuper(24);
    expect(w).toBe(1);
    expect(info[0]).toBe(0); // failed
    expect(info[3]).toBe(0); // no software segments
    expect(info[4]).toBe(1); // one tunnel super-packet
    const got = drain();
    expect(got.length).toBe(24 + 104 + P);
    expect([...got.subarray(0, 24)]).toEqual(
      tunnelHdr({ flags: 1, type: 0x21, hdrLen: 104, mss: MSS, start: 84, off: 16, outerTh: 34, innerNh: 64 }),
    );
    const f = got.subarray(24);
    const want = geneveHeaders(40 + P, 104 - 14 + P, pseudo(20 + P));
    expect(Buffer.from(f.subarray(0, 104)).toString('hex')).toBe(Buffer.from(want).toString('hex'));
    expect(Buffer.compare(f.subarray(104), pay)).toBe(0);
  });

  it('without tunnel GSO (10-byte header) cuts it into gso_size segments, each complete', () => {
    const [w, info] = writeSuper(10);
    expect(w).toBe(1);
    const n = Math.ceil(P / MSS);
    expect(info[3]).toBe(n);
    expect(info[4]).toBe(0);
    const got = drain();
    let at = 0;
    const data: number[] = [];
    for (let k = 0; k < n; k++) {
      expect([...got.subarray(at, at + 10)]).toEqual(new Array(10).fill(0));
      const f = got.subarray(at + 10);
      const outer = be16(f, 16);
      const seg = Math.min(MSS, P - k * MSS);
      expect(outer).toBe(20 + 8 + 8 + 14 + 40 + seg);
      expect(ipOk(f, 14)).toBe(true);
      expect(be16(f, 38)).toBe(outer - 20); // UDP length
      expect(be16(f, 40)).toBe(0); // UDP checksum
      expect(be16(f, 66)).toBe(40 + seg);
      expect(ipOk(f, 64)).toBe(true);
      expect(tcpOk(f, 64)).toBe(true);
      expect(((f[88]! << 24) | (f[89]! << 16) | (f[90]! << 8) | f[91]!) >>> 0).toBe(1000 + k * MSS); // seq
      expect(f[64 + 33]).toBe(k + 1 < n ? 0x10 : 0x18); // PSH on the last segment only
      data.push(...f.subarray(104, 104 + seg));
      at += 10 + 14 + outer;
    }
    expect(at).toBe(got.length);
    expect(Buffer.compare(Uint8Array.from(data), pay)).toBe(0);
  });

  /** Reads one packet written to the FIFO as `bytes` with readBurstVnet(hdrSize 24, tap). */
  function readOne(bytes: Uint8Array) {
    expect(writeSync(fd, bytes)).toBe(bytes.length);
    const offs = Int32Array.of(slab.start(1));
    const lens = new Int32Array(1);
    const info = new Float64Array(4);
    const meta = new Int32Array(8);
    const r = addon.readBurstVnet(
      fd,
      slab.buffer,
      offs,
      lens,
      1,
      slab.mtu,
      info,
      meta,
      jumbo,
      Int32Array.of(0),
      65536,
      24,
      true,
    );
    return { r, len: lens[0]!, meta: [...meta], info, frame: slab.u8.subarray(offs[0]!, offs[0]! + lens[0]!) };
  }

  it('reads a tunnel super-packet as its first segment, the inner packet located', () => {
    const total = 40 + P;
    const frame = new Uint8Array([...geneveHeaders(total, 104 - 14 + P, pseudo(20 + P)), ...pay]);
    const hdr = tunnelHdr({
      flags: 1,
      type: 0x21,
      hdrLen: 104,
      mss: MSS,
      start: 84,
      off: 16,
      outerTh: 34,
      innerNh: 64,
    });
    const got = readOne(Uint8Array.from([...hdr, ...frame]));
    expect(got.r).toBe(1);
    expect(got.info[3]).toBe(0);
    const inSlot = slab.mtu;
    expect(got.meta).toEqual([0x21, MSS, 40, total, inSlot - 64, frame.length - inSlot, 0, 64]);
    expect(got.len).toBe(104 + MSS);
    const f = got.frame;
    expect(be16(f, 16)).toBe(104 - 14 + MSS);
    expect(ipOk(f, 14)).toBe(true);
    expect(be16(f, 38)).toBe(104 - 34 + MSS);
    expect(be16(f, 40)).toBe(0);
    expect(be16(f, 66)).toBe(40 + MSS);
    expect(ipOk(f, 64)).toBe(true);
    expect(tcpOk(f, 64)).toBe(true);
    expect(Buffer.compare(f.subarray(104), pay.subarray(0, MSS))).toBe(0);
  });

  it('reads a plain TCP super-packet from a TAP: the probe after the Ethernet header', () => {
    const total = 40 + P;
    const head = new Uint8Array([
      ...MAC_B,
      ...MAC_A,
      0x08,
      0x00,
      ...ipv4(total, 0x0100, 6, INNER_SRC, INNER_DST),
      ...tcp(1000, 0x18),
    ]);
    put16(head, 14 + 36, pseudo(20 + P));
    const hdr = tunnelHdr({ flags: 1, type: 1, hdrLen: 54, mss: MSS, start: 34, off: 16, outerTh: 0, innerNh: 0 });
    const got = readOne(Uint8Array.from([...hdr, ...head, ...pay]));
    expect(got.r).toBe(1);
    expect(got.meta[0]).toBe(1);
    expect(got.meta[2]).toBe(40);
    expect(got.meta[3]).toBe(total);
    expect(got.meta[7]).toBe(14);
    expect(got.len).toBe(14 + 40 + MSS);
    expect(be16(got.frame, 16)).toBe(40 + MSS);
    expect(ipOk(got.frame, 14)).toBe(true);
    expect(tcpOk(got.frame, 14)).toBe(true);
  });
});
