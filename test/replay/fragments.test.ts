/**
 * The `fragments` replay scenario (captures/replay/fragments/, docs/semantics.md §4.i) read back with tshark, which
 * reassembles IPv4 fragments itself: web-a's and web-b's 3000-byte datagrams (web-b's fragments in reverse order)
 * leave node-c as the egress IP, each reassembling to its whole UDP datagram with a good checksum; showip's
 * 4000-byte answer, cut to the pod MTU on node-c, reaches web-a whole; the teardrop, the tiny and offset-1 TCP
 * fragments and the duplicate are counted drops. The golden test compares the same outputs byte for byte.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKSUM_PREFS, hasTshark } from '../support/tshark.js';
import { fields, replay, SCENARIOS } from './scenarios.js';

const tmp = mkdtempSync(join(tmpdir(), 'egress-replay-frag-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!hasTshark())('replay: IPv4 fragments through the Egress', () => {
  it('SNATs fragmented datagrams (in order or not), delivers a fragmented answer cut to the pod MTU, drops attacks', async () => {
    const s = SCENARIOS.find((x) => x.name === 'fragments')!;
    const out = join(tmp, 'fragments');
    await replay(s, out);
    const names = ['ip.src', 'ip.dst', 'udp.srcport', 'udp.length', 'udp.checksum.status', 'ip.fragment.count'];
    // On the segment, outside the tunnel: whole datagrams once tshark has put their fragments together.
    expect(fields(join(out, 'segment.pcap'), 'udp.dstport==9 and !geneve', names, CHECKSUM_PREFS)).toEqual([
      ['198.18.0.253', '198.18.0.100', '40200', '2980', '1', '3'],
      ['198.18.0.253', '198.18.0.100', '40201', '2980', '1', '3'],
      ['198.18.0.253', '198.18.0.100', '40202', '48', '1', '2'],
    ]);
    // web-a gets showip's 4000-byte answer whole: five pieces (two 1500-byte fragments cut in two, the last one).
    expect(fields(join(out, 'pods.pcap'), 'udp', names, CHECKSUM_PREFS)).toEqual([
      ['198.18.0.100', '198.19.1.10', '9', '4000', '1', '5'],
    ]);
    const sum = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { drops: { datapath: object } };
    expect(sum.drops.datapath).toEqual({
      total: 5,
      'node-a/defrag.tiny': 1,
      'node-a/defrag.overlap': 1,
      'node-a/defrag.duplicate': 1,
      'node-c/defrag.overlap': 2,
    });
  });
});
