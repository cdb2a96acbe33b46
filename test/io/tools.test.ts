/**
 * Files written by the real tools: conversions of our pcaps by editcap (pcapng, nanosecond pcap, snaplen),
 * tcpdump (-r/-w, expected byte-identical), text2pcap, and a live capture by tcpdump (pcap) and dumpcap
 * (pcapng, the Wireshark default) on the loopback of a network namespace made for the test. Every file is
 * read by our reader and compared with what tshark reports about the same file.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  readCaptureFile,
  writeCaptureFile,
  type CaptureFile,
} from '../../engine/io/index.js';
import { isRoot, prng, randomBytes, sameBytes, tempDir, toHex, tsharkBytes, tsharkFrames } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

/** Our reading of a file must match tshark's, frame by frame: lengths, times, bytes. */
function expectSameAsTshark(path: string, f: CaptureFile): void {
  const t = tsharkFrames(path);
  expect(t.map((x) => [x.len, x.capLen, x.sec, x.nsec])).toEqual(
    f.records.map((r) => [r.origLen, r.data.length, r.tsSec, r.tsNsec]),
  );
  expect(tsharkBytes(path)).toEqual(f.records.map((r) => toHex(r.data)));
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Ethernet frames of assorted sizes with µs-unaligned ns timestamps. */
function sample(): Array<{ data: Uint8Array; tsSec: number; tsNsec: number }> {
  const rand = prng(11);
  return [14, 60, 61, 200, 1514, 9014, 65000].map((n, i) => {
    const data = randomBytes(rand, n);
    data[12] = 0x88; // an ethertype tshark will not try to reassemble across frames
    data[13] = 0xb5;
    return { data, tsSec: 1700000000 + i * 3600, tsNsec: (i * 123_456_789) % 1e9 };
  });
}

describe('files converted by editcap, tcpdump and text2pcap', () => {
  const recs = sample();
  let src = '';
  let ours: CaptureFile;
  beforeAll(() => {
    src = tmp.path('ours.pcap');
    writeCaptureFile(src, { linkType: LINKTYPE_ETHERNET, records: recs, nanos: true });
    ours = readCaptureFile(src);
  });

  it('our nanosecond pcap agrees with tshark', () => {
    expectSameAsTshark(src, ours);
  });

  it('editcap -F pcapng (SHB and IDB with options, Wireshark style)', () => {
    const out = tmp.path('editcap.pcapng');
    run('editcap', ['-F', 'pcapng', src, out]);
    const f = readCaptureFile(out);
    expect([f.format, f.linkType, f.nanos]).toEqual(['pcapng', LINKTYPE_ETHERNET, true]);
    expect(f.records.map((r) => [toHex(r.data), r.origLen, r.tsSec, r.tsNsec])).toEqual(
      ours.records.map((r) => [toHex(r.data), r.origLen, r.tsSec, r.tsNsec]),
    );
    expectSameAsTshark(out, f);
  });

  it('editcap -F pcap (microseconds) and -F nsecpcap', () => {
    const us = tmp.path('editcap-us.pcap');
    run('editcap', ['-F', 'pcap', src, us]);
    const a = readCaptureFile(us);
    expect(a.nanos).toBe(false);
    expect(a.records.map((r) => r.tsNsec)).toEqual(recs.map((r) => Math.floor(r.tsNsec / 1000) * 1000));
    expectSameAsTshark(us, a);
    const ns = tmp.path('editcap-ns.pcap');
    run('editcap', ['-F', 'nsecpcap', us, ns]);
    const b = readCaptureFile(ns);
    expect([b.format, b.nanos]).toEqual(['pcap', true]);
    expectSameAsTshark(ns, b);
  });

  it('editcap -s 100 (snaplen): captured lengths cut, original lengths kept', () => {
    for (const [fmt, name] of [
      ['pcap', 'snap.pcap'],
      ['pcapng', 'snap.pcapng'],
    ] as const) {
      const out = tmp.path(name);
      run('editcap', ['-F', fmt, '-s', '100', src, out]);
      const f = readCaptureFile(out);
      expect(f.records.map((r) => [r.data.length, r.origLen])).toEqual(
        recs.map((r) => [Math.min(100, r.data.length), r.data.length]),
      );
      expectSameAsTshark(out, f);
    }
  });

  it('tcpdump -r ours -w copy writes the very same bytes (µs and ns)', () => {
    const us = tmp.path('ours-us.pcap');
    writeCaptureFile(us, { linkType: LINKTYPE_ETHERNET, records: recs });
    const out = tmp.path('tcpdump-copy.pcap');
    run('tcpdump', ['-Z', 'root', '-r', us, '-w', out]);
    expect(sameBytes(readFileSync(out), readFileSync(us))).toBe(true);
    const outNs = tmp.path('tcpdump-copy-ns.pcap');
    run('tcpdump', ['-Z', 'root', '--time-stamp-precision', 'nano', '-r', src, '-w', outNs]);
    expect(sameBytes(readFileSync(outNs), readFileSync(src))).toBe(true);
  });

  it('tcpdump rewrites our big-endian pcap in its own byte order, same records', () => {
    const be = tmp.path('ours-be.pcap');
    writeCaptureFile(be, { linkType: LINKTYPE_ETHERNET, records: recs, bigEndian: true, snaplen: 65535 });
    const out = tmp.path('tcpdump-from-be.pcap');
    run('tcpdump', ['-Z', 'root', '-r', be, '-w', out]);
    const a = readCaptureFile(be);
    const b = readCaptureFile(out);
    expect(readFileSync(be).readUInt32BE(0)).toBe(0xa1b2c3d4);
    expect(readFileSync(out).readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(b.snaplen).toBe(65535);
    expect(b.records).toEqual(a.records);
    expectSameAsTshark(out, b);
  });

  it('text2pcap output (pcapng with comment and application options), RAW and Ethernet', () => {
    const ip = '45 00 00 1c 00 01 00 00 40 11 00 00 c6 12 00 01 c6 12 00 02 00 35 00 35 00 08 00 00';
    writeFileSync(tmp.path('dump.txt'), `0000  ${ip.slice(0, 47)}\n0010  ${ip.slice(48)}\n`);
    const raw = tmp.path('t2p-raw.pcapng');
    run('text2pcap', ['-q', '-l', String(LINKTYPE_RAW), tmp.path('dump.txt'), raw]);
    const f = readCaptureFile(raw);
    expect([f.format, f.linkType]).toEqual(['pcapng', LINKTYPE_RAW]);
    expect(f.records.map((r) => toHex(r.data))).toEqual([ip.replace(/ /g, '')]);
    expectSameAsTshark(raw, f);
    const eth = tmp.path('t2p-eth.pcap');
    run('text2pcap', ['-q', '-F', 'pcap', '-e', '0x800', tmp.path('dump.txt'), eth]);
    const g = readCaptureFile(eth);
    expect([g.format, g.linkType]).toEqual(['pcap', LINKTYPE_ETHERNET]);
    // a dummy Ethernet header (ethertype 0x0800), the packet, zero padding to the 60-byte minimum frame
    const d = g.records[0]!.data;
    expect([
      d.length,
      toHex(d.subarray(12, 14)),
      toHex(d.subarray(14, 42)),
      d.subarray(42).every((b) => b === 0),
    ]).toEqual([60, '0800', ip.replace(/ /g, ''), true]);
    expectSameAsTshark(eth, g);
  });
});

const NS = `egr-io-${process.pid}`;
if (!isRoot) console.warn('test/io/tools: live capture skipped: needs root for a network namespace');

describe.skipIf(!isRoot)('live capture on the loopback of a namespace', () => {
  const procs: ChildProcess[] = [];
  beforeAll(() => {
    run('ip', ['netns', 'add', NS]);
    run('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  });
  afterAll(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    try {
      run('ip', ['netns', 'del', NS]);
    } catch {
      // already gone
    }
  });

  /** Start a capture tool in the namespace; resolves once its stderr shows `ready`. */
  function capture(args: string[], ready: RegExp): Promise<{ done: Promise<number> }> {
    return new Promise((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', NS, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      procs.push(p);
      let err = '';
      const done = new Promise<number>((res) => p.on('exit', (code) => res(code ?? -1)));
      const timer = setTimeout(() => reject(new Error(`${args[0]} not ready: ${err}`)), 10_000);
      p.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (ready.test(err)) {
          clearTimeout(timer);
          resolve({ done });
        }
      });
      p.on('error', reject);
    });
  }

  it('tcpdump (pcap) and dumpcap (pcapng) files read like tshark reads them', async () => {
    const sizes = [0, 1, 100, 1472, 8000, 30000];
    const pcap = tmp.path('live.pcap');
    const pcapng = tmp.path('live.pcapng');
    const filter = 'udp port 9999';
    const n = String(sizes.length);
    const td = await capture(
      ['tcpdump', '-Z', 'root', '-U', '-n', '-i', 'lo', '-c', n, '-w', pcap, filter],
      /listening on lo/,
    );
    const dc = await capture(['dumpcap', '-i', 'lo', '-c', n, '-f', filter, '-w', pcapng], /Capturing on/);
    await new Promise((r) => setTimeout(r, 300));
    const py = [
      'import socket, sys',
      'r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 9999))',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      `for n in ${JSON.stringify(sizes)}:`,
      '    s.sendto((b"egr-io-%d|" % n + b"x" * n)[:n], ("127.0.0.1", 9999)); r.recv(65536)',
    ].join('\n');
    run('ip', ['netns', 'exec', NS, '/usr/bin/python3', '-c', py]);
    const timeout = new Promise<number>((r) => setTimeout(() => r(-99), 15_000));
    expect(await Promise.race([td.done, timeout])).toBe(0);
    expect(await Promise.race([dc.done, timeout])).toBe(0);

    const a = readCaptureFile(pcap);
    const b = readCaptureFile(pcapng);
    expect([a.format, a.linkType, b.format, b.linkType]).toEqual([
      'pcap',
      LINKTYPE_ETHERNET,
      'pcapng',
      LINKTYPE_ETHERNET,
    ]);
    expectSameAsTshark(pcap, a);
    expectSameAsTshark(pcapng, b);
    // Both tools saw the same packets; their UDP payloads are what python sent (Ethernet 14 + IPv4 20 + UDP 8).
    expect(b.records.map((r) => toHex(r.data))).toEqual(a.records.map((r) => toHex(r.data)));
    const payloads = a.records.map((r) => new TextDecoder().decode(r.data.subarray(42)));
    expect(payloads).toEqual(sizes.map((s) => `egr-io-${s}|${'x'.repeat(s)}`.slice(0, s)));
    expect(a.records.map((r) => r.origLen)).toEqual(sizes.map((s) => 42 + s));
    // timestamps: within the last minute, non-decreasing
    const now = Date.now() / 1000;
    for (const f of [a, b]) {
      const t = f.records.map((r) => r.tsSec + r.tsNsec / 1e9);
      expect(t.every((x, i) => x > now - 60 && x <= now + 1 && (i === 0 || x >= t[i - 1]!))).toBe(true);
    }
  }, 40_000);
});
