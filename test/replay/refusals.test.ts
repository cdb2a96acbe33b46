/**
 * `egress replay` refuses a bad manifest, timeline, capture or flag with one clear message before any packet
 * is processed (nothing is written).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { CAP } from './scenarios.js';

const tmp = mkdtempSync(join(tmpdir(), 'egress-refuse-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const REF = join(CAP, '..', '..', 'examples', 'reference', 'cluster.yaml');
const IN = join(CAP, 'reference', 'in.pcap');

async function run(args: string[]): Promise<{ status: number; err: string }> {
  const lines: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = () => {};
  console.error = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { status: await main(['replay', ...args, '--quiet']), err: lines.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

describe('replay refuses bad input before processing any packet', () => {
  const cases: Array<[string, () => string[], RegExp, number]> = [
    [
      'a timeline naming an unknown node',
      () => {
        writeFileSync(join(tmp, 't1.yaml'), '- at: 0.1\n  fail: node-z\n');
        return ['--timeline', join(tmp, 't1.yaml')];
      },
      /event 1: no Node named node-z/,
      1,
    ],
    [
      'a timeline with an unknown key',
      () => {
        writeFileSync(join(tmp, 't2.yaml'), '- at: 0.1\n  freeze: node-a\n');
        return ['--timeline', join(tmp, 't2.yaml')];
      },
      /unknown key "freeze"/,
      1,
    ],
    [
      'a timeline whose manifest change would be refused',
      () => {
        writeFileSync(
          join(tmp, 't3.yaml'),
          '- at: 1\n  apply: |\n    apiVersion: crd.antrea.io/v1beta1\n    kind: Egress\n    metadata: {name: x}\n    spec: {appliedTo: {}, externalIPPools: [a]}\n',
        );
        return ['--timeline', join(tmp, 't3.yaml')];
      },
      /refused:[\s\S]*spec.externalIPPools is not supported yet/,
      1,
    ],
    ['a negative detection time', () => ['--detect-ms', '-5'], /--detect-ms/, 2],
  ];
  for (const [what, extra, msg, code] of cases) {
    it(what, async () => {
      const out = join(tmp, what.replace(/\W+/g, '-'));
      const r = await run(['--manifests', REF, '--in', IN, '--out', out, ...extra()]);
      expect(r.status).toBe(code);
      expect(r.err).toMatch(msg);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('a manifest set with an error', async () => {
    writeFileSync(
      join(tmp, 'bad.yaml'),
      'apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus: {addresses: [{type: InternalIP, address: 300.1.1.1}]}\n',
    );
    const out = join(tmp, 'o-bad');
    const r = await run(['--manifests', join(tmp, 'bad.yaml'), '--in', IN, '--out', out]);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:\d+/);
    expect(existsSync(out)).toBe(false);
  });

  it('a corrupt capture: the byte offset is named', async () => {
    // A pcap header (snaplen 65535, Ethernet), then a record header claiming 100000 captured bytes.
    writeFileSync(
      join(tmp, 'corrupt.pcap'),
      Buffer.from(
        'd4c3b2a1020004000000000000000000ffff000001000000' + '00000000' + '00000000' + 'a0860100' + 'a0860100',
        'hex',
      ),
    );
    const out = join(tmp, 'o-corrupt');
    const r = await run(['--manifests', REF, '--in', join(tmp, 'corrupt.pcap'), '--out', out]);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/corrupt\.pcap.*byte \d+/);
  });
});
