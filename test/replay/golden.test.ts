/**
 * Replay golden tests (Snabb lwaftr style): captures/replay/<scenario>/in.pcap (made with scapy by
 * captures/gen/replay_inputs.py) through `egress replay`, outputs compared byte for byte with
 * captures/replay/<scenario>/expected/ (the captures, summary.json and the text report). `UPDATE_GOLDEN=1 npx vitest run test/replay` rewrites the expectations
 * (review the diff of summary.json before committing). tshark decodes every frame the engine emitted and every
 * packet pods received, and must find every IPv4/UDP/TCP/ICMP checksum good.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAP, replay, SCENARIOS } from './scenarios.js';
import { readCaptureFile } from '../../engine/io/index.js';
import { CHECKSUM_PREFS, findAll, hasTshark, tsharkPackets } from '../support/tshark.js';

const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const OUTPUTS = ['segment.pcap', 'pods.pcap', 'summary.json', 'report.md'];

/**
 * An output as compared: summary.json without `meta.run` (wall-clock time and rate, which differ between runs),
 * written back in the replay's own format (JSON, two-space indent, final newline).
 */
function comparable(dir: string, f: string): Buffer {
  const b = readFileSync(join(dir, f));
  if (f !== 'summary.json') return b;
  const j = JSON.parse(b.toString('utf8')) as { meta?: { run?: unknown } };
  if (j.meta) delete j.meta.run;
  return Buffer.from(JSON.stringify(j, null, 2) + '\n');
}

const tmp = mkdtempSync(join(tmpdir(), 'egress-replay-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every checksum status tshark reports in the frames (1-based index) selected by `keep`. */
function checksumStatuses(file: string, keep: (frame: number) => boolean): string[] {
  const out: string[] = [];
  for (const [i, l] of tsharkPackets(file, CHECKSUM_PREFS).entries()) {
    if (!keep(i + 1)) continue;
    // An ICMP error quoting a datagram cut short (header + 8 bytes, RFC 792): tshark cannot verify the quoted
    // UDP/TCP checksum (status 2, unverified); the outer, ICMP and quoted IPv4 checksums it still checks.
    const cut = ['3', '11', '12'].includes(findAll(l, 'icmp.type')[0] ?? '');
    for (const f of [
      'ip.checksum.status',
      'udp.checksum.status',
      'tcp.checksum.status',
      'icmp.checksum.status',
      'icmpv6.checksum.status',
    ])
      out.push(...findAll(l, f).flatMap((v) => (cut && v === '2' && f !== 'ip.checksum.status' ? [] : [`${f}=${v}`])));
  }
  return out;
}

describe('replay golden captures', () => {
  for (const s of SCENARIOS) {
    it(`${s.name}: outputs equal the committed expectations, and a second run is byte-identical`, async () => {
      const a = join(tmp, `${s.name}-1`);
      const b = join(tmp, `${s.name}-2`);
      await replay(s, a);
      await replay(s, b);
      for (const f of OUTPUTS)
        expect(comparable(b, f), `${s.name}/${f} differs between two runs`).toEqual(comparable(a, f));
      const exp = join(CAP, s.name, 'expected');
      if (UPDATE) {
        mkdirSync(exp, { recursive: true });
        for (const f of OUTPUTS) writeFileSync(join(exp, f), comparable(a, f));
      }
      for (const f of OUTPUTS) {
        expect(existsSync(join(exp, f)), `missing ${exp}/${f}: run UPDATE_GOLDEN=1`).toBe(true);
        if (f === 'summary.json')
          expect(JSON.parse(comparable(a, f).toString('utf8'))).toEqual(JSON.parse(readFileSync(join(exp, f), 'utf8')));
        expect(comparable(a, f).equals(readFileSync(join(exp, f))), `${s.name}/${f} differs from the expectation`).toBe(
          true,
        );
      }
      // Every input packet is in exactly one category of the accounting.
      const sum = JSON.parse(readFileSync(join(a, 'summary.json'), 'utf8')) as {
        input: Record<string, number | { total: number }>;
      };
      const i = sum.input;
      const total = (k: string) => (typeof i[k] === 'object' ? (i[k] as { total: number }).total : (i[k] as number));
      expect(
        total('fromPods') + total('fromOutside') + total('rawFrames') + total('skipped') + total('undeliverable'),
        `${s.name}: input categories add up to the packet count`,
      ).toBe(total('packets'));
    });
  }

  it.skipIf(!hasTshark())('tshark finds every checksum good in what the engine emitted and pods received', () => {
    let checked = 0;
    for (const s of SCENARIOS) {
      const out = join(tmp, `${s.name}-1`);
      // Frames a node sent (source MAC 02:0e:…), except input frames put on the segment as they were (some carry a
      // node's MAC and are malformed on purpose). Hosts relay input packets, possibly bad ones, so they are not ours
      // to check here.
      const input = new Set(
        readCaptureFile(join(CAP, s.name, 'in.pcap')).records.map((r) => Buffer.from(r.data).toString('hex')),
      );
      const frames = readCaptureFile(join(out, 'segment.pcap')).records.map((r) => Buffer.from(r.data).toString('hex'));
      const emitted = (n: number) => frames[n - 1]!.startsWith('020e', 12) && !input.has(frames[n - 1]!);
      const seg = checksumStatuses(join(out, 'segment.pcap'), emitted);
      const pods = checksumStatuses(join(out, 'pods.pcap'), () => true);
      // Good (1) everywhere; "not present" (3) only for UDP checksum 0 (Geneve outer headers, RFC 8926 §3.3).
      const bad = [...seg, ...pods].filter((x) => !x.endsWith('=1') && x !== 'udp.checksum.status=3');
      expect(bad, `${s.name}: checksums tshark did not find good`).toEqual([]);
      checked += seg.length + pods.length;
    }
    console.log(`tshark verified ${checked} checksums in the replay outputs: all good`);
    expect(checked).toBeGreaterThan(100);
  });
});
