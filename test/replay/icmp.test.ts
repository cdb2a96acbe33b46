/**
 * The `icmp` replay scenario (captures/replay/icmp/, docs/semantics.md §4.h) read back with tshark: errors from
 * outside reach the pods behind the tunnel with their quotes un-NATed, a pod's port unreachable leaves with its
 * quote SNATed, a DF datagram too big for the tunnel is answered with fragmentation needed (MTU 1450) from the
 * egress IP, errors of no connection are counted drops, and no frame outside Geneve carries a pod address.
 * The golden test compares the same outputs byte for byte; this one says what they mean.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasTshark } from '../support/tshark.js';
import { fields, replay, SCENARIOS } from './scenarios.js';

const tmp = mkdtempSync(join(tmpdir(), 'egress-replay-icmp-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!hasTshark())('replay: ICMP errors through the NAT', () => {
  it('un-NATs errors to pods behind the tunnel, SNATs a pod’s error, sends frag-needed, drops the unmatched', async () => {
    const s = SCENARIOS.find((x) => x.name === 'icmp')!;
    const out = join(tmp, 'icmp');
    await replay(s, out);
    const errs = fields(join(out, 'pods.pcap'), 'icmp', ['ip.src', 'ip.dst', 'icmp.type', 'icmp.mtu', 'udp.srcport']);
    // Outer then quoted addresses; the quoted source is the pod again, with its own port.
    expect(errs).toEqual([
      ['198.18.0.1,198.19.1.10', '198.19.1.10,198.18.0.100', '3', '1400', '40100'],
      ['198.18.0.1,198.19.2.10', '198.19.2.10,198.18.0.100', '11', '', ''],
    ]);
    const seg = join(out, 'segment.pcap');
    // Frames on the wire outside the tunnel (not UDP 6081): the pods' addresses appear nowhere, quoted or not.
    const bare = fields(seg, 'ip and not udp.port==6081', ['ip.src', 'ip.dst']).flat().join(',');
    expect(bare).not.toMatch(/198\.19\./);
    // ICMP sent by the egress IP (the outer source: ip.src lists outer, then quoted).
    const fromEgress = fields(seg, 'icmp and not udp.port==6081', [
      'ip.src',
      'ip.dst',
      'icmp.type',
      'icmp.code',
      'icmp.mtu',
      'udp.dstport',
    ])
      .filter((r) => r[0]!.startsWith('198.18.0.253,'))
      .map((r) => r.slice(1));
    expect(fromEgress).toEqual([
      ['198.18.0.100,198.18.0.253', '3', '3', '', '40100'], // web-a's port unreachable, quote SNATed
      ['198.18.0.100,198.18.0.253', '3', '4', '1450', '40100'], // the 1480-byte DF datagram
    ]);
    const sum = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { drops: { datapath: object } };
    expect(sum.drops.datapath).toEqual({
      total: 3,
      'node-c/snat.related-no-conntrack': 1,
      'node-c/unsnat.related-no-conntrack': 1,
      'node-c/unsnat.too-big': 1,
    });
  });
});
