/**
 * Bad IPv6 input on a dual-stack replay never throws: seeded mutations of the dual-stack golden's raw packets
 * and of cluster-addrs6.pcap's Ethernet frames (with IPv6 --map-addr rules active, so `Mapping.apply6` meets
 * them too) — bytes flipped mostly in the headers, Next Header values of every extension header, Payload Length
 * off, packets cut short — are each accounted for in exactly one input category, and the run ends normally.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { readCaptureFile, writeCaptureFile } from '../../engine/io/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DUAL = join(ROOT, 'captures/replay/dual-stack/cluster.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'egress-fuzz6-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** mulberry32: a small seeded PRNG (the same mutations on every run). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NEXT_HEADERS = [0, 6, 17, 43, 44, 58, 59, 60, 135, 253];

/** `n` mutations of the packets `base`, whose IPv6 header starts at `l3`. */
function mutate(base: Uint8Array[], l3: number, n: number, seed: number): Uint8Array[] {
  const r = prng(seed);
  const pick = (k: number) => Math.floor(r() * k);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const src = base[pick(base.length)]!;
    let p = Uint8Array.from(src);
    const kind = pick(6);
    if (kind === 0)
      p[l3 + 6] = NEXT_HEADERS[pick(NEXT_HEADERS.length)]!; // Next Header
    else if (kind === 1) {
      const pl = (p[l3 + 4]! << 8) | p[l3 + 5]!; // Payload Length off by a little or a lot
      const x = Math.max(0, Math.min(0xffff, pl + [-9, -1, 1, 8, 300, -pl][pick(6)]!));
      p[l3 + 4] = x >> 8;
      p[l3 + 5] = x & 0xff;
    } else if (kind === 2)
      p = p.slice(0, pick(p.length)); // cut short
    else if (kind === 3 && p.length > l3 + 48)
      p[l3 + 40 + pick(8)] = pick(256); // the first upper or extension bytes
    else for (let k = 1 + pick(4); k > 0; k--) p[pick(Math.min(p.length, l3 + 64))] = pick(256); // header bytes
    out.push(p);
  }
  return out;
}

async function replay(input: string, ...extra: string[]): Promise<{ status: number; dir: string }> {
  const dir = join(tmp, `o${input.length}-${extra.length}`);
  const [log, error] = [console.log, console.error];
  console.log = () => {};
  console.error = () => {};
  try {
    const status = await main(['replay', '--manifests', DUAL, '--in', input, '--out', dir, '--quiet', ...extra]);
    return { status, dir };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

function addsUp(dir: string, packets: number): Record<string, unknown> {
  const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
    input: Record<string, number> & { skipped: { total: number }; undeliverable: { total: number } };
  };
  const i = s.input;
  expect(i['packets']).toBe(packets);
  expect(i['fromPods']! + i['fromOutside']! + i['rawFrames']! + i.skipped.total + i.undeliverable.total).toBe(packets);
  return i;
}

describe('mutated IPv6 input on a dual-stack replay', () => {
  it('raw IPv6 packets (the dual-stack golden mutated): all accounted, no exception', async () => {
    const base = readCaptureFile(join(ROOT, 'captures/replay/dual-stack/in.pcap'))
      .records.map((x) => x.data)
      .filter((d) => d[0]! >> 4 === 6);
    const pkts = [...base, ...mutate(base, 0, 2000, 6)];
    const file = join(tmp, 'raw6.pcap');
    writeCaptureFile(file, {
      linkType: 101,
      records: pkts.map((data, k) => ({ data, tsSec: 1767225600 + Math.floor(k / 1000), tsNsec: (k % 1000) * 1e6 })),
    });
    const r = await replay(file, '--reflect');
    expect(r.status).toBe(0);
    const i = addsUp(r.dir, pkts.length);
    expect(i['fromPods']).toBeGreaterThan(base.length);
  });

  it('Ethernet frames with IPv6 --map-addr rules (cluster-addrs6 mutated): all accounted, no exception', async () => {
    const base = readCaptureFile(join(ROOT, 'captures/replay-input/cluster-addrs6.pcap')).records.map((x) => x.data);
    const pkts = [...base, ...mutate(base, 14, 2000, 66)];
    const file = join(tmp, 'eth6.pcap');
    writeCaptureFile(file, {
      linkType: 1,
      records: pkts.map((data, k) => ({ data, tsSec: 1767225600 + Math.floor(k / 1000), tsNsec: (k % 1000) * 1e6 })),
    });
    const r = await replay(
      file,
      '--reflect',
      '--map-addr',
      'fd00:10:244:1::/64=2001:2:0:101::/64',
      '--map-addr',
      '2001:db8::34/128=2001:2::64/128',
      '--map-addr',
      '2001:db8:1::50/128=2001:2::fd/128',
    );
    expect(r.status).toBe(0);
    const i = addsUp(r.dir, pkts.length);
    expect(i['mapped']).toBeGreaterThan(base.length);
    expect(i['fromPods']).toBeGreaterThan(3);
  });
});
