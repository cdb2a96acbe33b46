/**
 * `egress trace` against `egress replay` for the same packet: the packet is built by scapy (independently of
 * cli/trace.ts's builder), put in a one-record pcap (LINKTYPE_RAW) and replayed over the reference cluster; the
 * frame that leaves for the destination in replay's segment.pcap must have the source IP and sender MAC that
 * trace reports. Cases: a Pod whose egress IP is on another Node (Geneve, SNAT there), one on the egress Node
 * (local SNAT), one no Egress selects (its Node's IP), and ICMP and UDP.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as policy from '../../engine/policy/index.js';
import { trace } from '../../cli/trace.js';
import type { Proto } from '../../cli/trace.js';
import { runMain } from '../support/cli-run.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const REF = join(ROOT, 'examples', 'reference', 'cluster.yaml');
const dir = mkdtempSync(join(tmpdir(), 'egr-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let state: policy.ClusterState;

beforeAll(async () => {
  expect((await runMain(['apply', '-f', REF, '--state-dir', join(dir, 'state')])).code).toBe(0);
  state = (await new policy.store.DirStore(join(dir, 'state')).load()).state;
});

/** A pcap (LINKTYPE_RAW) holding `packet` once. */
function pcapOf(packet: Uint8Array): Buffer {
  const h = Buffer.alloc(24 + 16);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(65535, 16);
  h.writeUInt32LE(101, 20);
  h.writeUInt32LE(1, 24);
  h.writeUInt32LE(packet.length, 32);
  h.writeUInt32LE(packet.length, 36);
  return Buffer.concat([h, packet]);
}

/** Source IP and MAC of the frames of an Ethernet pcap that carry IPv4 to `dest` (not encapsulated). */
function framesTo(pcap: Buffer, dest: string): { ip: string; mac: string }[] {
  const out: { ip: string; mac: string }[] = [];
  for (let o = 24; o + 16 <= pcap.length;) {
    const len = pcap.readUInt32LE(o + 8);
    const f = pcap.subarray(o + 16, o + 16 + len);
    o += 16 + len;
    if (f.length < 34 || f.readUInt16BE(12) !== 0x0800) continue;
    if ([...f.subarray(30, 34)].join('.') !== dest) continue;
    out.push({
      ip: [...f.subarray(26, 30)].join('.'),
      mac: [...f.subarray(6, 12)].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    });
  }
  return out;
}

const cases: { pod: string; src: string; dest: string; port: number; proto: Proto; scapy: string; want: string }[] = [
  {
    pod: 'prod/web-a',
    src: '198.19.1.10',
    dest: '198.18.0.100',
    port: 8080,
    proto: 'tcp',
    scapy: "TCP(sport=40000, dport=8080, flags='S', seq=1000, window=64240)",
    want: '198.18.0.253',
  },
  {
    pod: 'staging/web-d',
    src: '198.19.1.11',
    dest: '198.18.0.100',
    port: 53,
    proto: 'udp',
    scapy: "UDP(sport=40000, dport=53)/Raw(b'\\0' * 8)",
    want: '198.18.0.254',
  },
  {
    pod: 'dev/tools',
    src: '198.19.2.11',
    dest: '198.18.0.100',
    port: 0,
    proto: 'icmp',
    scapy: "ICMP(type=8, id=0x4567, seq=1)/Raw(b'\\0' * 8)",
    want: '198.18.0.12',
  },
];

describe.skipIf(!hasScapy())('egress trace agrees with egress replay', () => {
  for (const c of cases)
    it(`${c.pod} → ${c.dest} ${c.proto}: leaves from ${c.want}`, async () => {
      const t = trace(state, { pod: c.pod, dest: c.dest, port: c.port, proto: c.proto });
      expect(t.egress?.ip).toBe(c.want);
      const [pkt] = scapyBytes([`IP(src='${c.src}', dst='${c.dest}', id=0x1234, flags='DF', ttl=64)/${c.scapy}`]);
      const inPcap = join(dir, `${c.proto}.pcap`);
      writeFileSync(inPcap, pcapOf(pkt!));
      const out = join(dir, `out-${c.proto}`);
      const r = await runMain(['replay', '--manifests', REF, '--in', inPcap, '--out', out, '--quiet']);
      expect(r.code, r.err).toBe(0);
      const left = framesTo(readFileSync(join(out, 'segment.pcap')), c.dest);
      expect(left).toHaveLength(1);
      expect(left[0]!.ip).toBe(t.egress!.ip);
      // the sender: the MAC of the frame trace reports leaving from its Node
      const last = t.segment.filter((s) => s.from === t.egress!.node).at(-1)!;
      expect(last.frame.startsWith(`${left[0]!.mac} > `), last.frame).toBe(true);
      expect(t.drops).toEqual([]);
    });

  it('a packet to another Pod is delivered to it, not SNATed', () => {
    const t = trace(state, { pod: 'prod/web-a', dest: '198.19.3.10', port: 80, proto: 'tcp' });
    expect(t.egress).toBeNull();
    expect(t.delivered.map((d) => d.pod)).toEqual(['staging/web-c']);
    expect(t.delivered[0]!.packet).toMatch(/^198\.19\.1\.10\.40000 > 198\.19\.3\.10\.80: TCP \[S\]/);
  });
});

describe('egress trace arguments', () => {
  it('bad input is one line and status 2 (1 for a Pod that does not exist)', async () => {
    const sd = ['--state-dir', join(dir, 'state')];
    const cases: [string[], number, RegExp][] = [
      [['trace', 'prod/web-a'], 2, /POD and DEST are required/],
      [['trace', 'prod/web-a', '198.18.0.100:99999'], 2, /port 99999/],
      [['trace', 'prod/web-a', 'example.com'], 2, /an IPv4 address/],
      [['trace', 'prod/web-a', '198.18.0.100:7', '--proto', 'icmp'], 2, /icmp has no port/],
      [['trace', 'prod/web-a', '198.18.0.100', '--proto', 'sctp'], 2, /--proto sctp/],
      [['trace', 'prod/nope', '198.18.0.100'], 1, /pods "prod\/nope" not found/],
    ];
    for (const [argv, code, re] of cases) {
      const r = await runMain([...argv, ...sd]);
      expect([r.code, r.err.split('\n').length], argv.join(' ')).toEqual([code, 1]);
      expect(r.err).toMatch(re);
    }
  });
});
