/**
 * `egress replay` on the captures people have (issue 13): link types, address mapping, accounting, the bad
 * inputs that used to crash or mislead, and the outputs read back with tshark (independent of our parsers).
 * Fixtures: captures/replay-input/ (made with scapy by captures/gen/replay_linktypes.py).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { Mapping, MappingError, parseMapAddr } from '../../engine/agent/replay-input.js';
import { ipv4 } from '../../engine/wire/index.js';
import { writeCaptureFile } from '../../engine/io/index.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { CHECKSUM_PREFS, hasTshark } from '../support/tshark.js';
import { fields } from './scenarios.js';

const ROOT = resolve(import.meta.dirname, '../..');
const IN = join(ROOT, 'captures/replay-input');
const REF = join(ROOT, 'examples/reference/cluster.yaml');
const DUAL = join(ROOT, 'captures/replay/dual-stack/cluster.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'egress-inputs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  status: number;
  out: string;
  err: string;
  dir: string;
}

let runs = 0;
async function run(input: string, ...extra: string[]): Promise<Run> {
  return runWith(REF, input, ...extra);
}
async function runWith(manifests: string, input: string, ...extra: string[]): Promise<Run> {
  const dir = join(tmp, `o${runs++}`);
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const status = await main(['replay', '--manifests', manifests, '--in', input, '--out', dir, '--quiet', ...extra]);
    return { status, out: out.join('\n'), err: err.join('\n'), dir };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

interface Summary {
  input: {
    packets: number;
    fromPods: number;
    fromOutside: number;
    rawFrames: number;
    skipped: Record<string, number>;
    undeliverable: Record<string, number>;
    examples: Record<string, { packet: number; what: string }>;
    timeClamped?: number;
    idleGaps?: number;
    mapped?: number;
  };
  drops: { datapath: Record<string, number>; delivery: Record<string, number> };
  hosts: Record<string, { counters: Record<string, number> }>;
  nodes: Record<string, { stages: Record<string, { counters: Record<string, number> }> }>;
}
const summaryOf = (r: Run) => JSON.parse(readFileSync(join(r.dir, 'summary.json'), 'utf8')) as Summary;

/** Every input packet in one category. */
function addsUp(s: Summary): void {
  const i = s.input;
  expect(i.fromPods + i.fromOutside + i.rawFrames + i.skipped['total']! + i.undeliverable['total']!).toBe(i.packets);
}

describe('replay reads the link types people capture with', () => {
  for (const f of ['sll.pcap', 'sll2.pcap']) {
    it(`${f} (tcpdump -i any): pod packets in, the host's own output skipped, IPv6 counted`, async () => {
      const r = await run(join(IN, f));
      expect(r.status).toBe(0);
      const s = summaryOf(r);
      addsUp(s);
      expect(s.input).toMatchObject({ packets: 7, fromPods: 2, fromOutside: 1, rawFrames: 0 });
      expect(s.input.skipped).toEqual({ total: 3, outgoing: 2, 'cooked-arp': 1 });
      expect(s.input.undeliverable).toEqual({ total: 1, ipv6: 1 });
      expect(r.out).toMatch(/1 undeliverable \(ipv6 1\)/);
      expect(r.out).toMatch(/ipv6 1: IPv6 .*e\.g\. packet 6/);
      // The capture's reply (from outside, to the egress IP) reaches web-a un-SNATed: tshark, not our parser.
      if (hasTshark())
        expect(fields(join(r.dir, 'pods.pcap'), 'udp', ['ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport'])).toEqual([
          ['198.18.0.100', '198.19.1.10', '9', '40000'],
        ]);
    });
  }

  it('a real tcpdump -i any inside prod/web-a on the test bed (SLL2): the outside sees 198.18.0.253, as there', async () => {
    // captures/replay-input/testbed-any.pcap: curl to showip:8080 (which answered "198.18.0.253") and two pings;
    // in the pod's namespace its own packets are "outgoing", the answers "incoming" to the pod.
    const r = await run(join(IN, 'testbed-any.pcap'), '--reflect');
    expect(r.status).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input).toMatchObject({ packets: 14, fromPods: 7, fromOutside: 0 });
    expect(s.input.skipped).toEqual({ total: 7, 'to-pod': 7 });
    if (!hasTshark()) return;
    const srcs = fields(join(r.dir, 'segment.pcap'), 'ip.dst==198.18.0.100 && !geneve', ['ip.src']).map((x) => x[0]);
    expect(srcs.length).toBe(7);
    expect(new Set(srcs)).toEqual(new Set(['198.18.0.253']));
    // The pod gets the SYN-ACK and both echo replies back.
    expect(fields(join(r.dir, 'pods.pcap'), 'tcp.flags.syn==1 || icmp.type==0', ['ip.src']).length).toBe(3);
  });

  it('NULL (BSD loopback) and a pcapng with an Ethernet and a RAW interface', async () => {
    const a = summaryOf(await run(join(IN, 'null.pcap'), '--reflect'));
    expect(a.input).toMatchObject({ packets: 1, fromPods: 1 });
    const r = await run(join(IN, 'two-links.pcapng'), '--reflect');
    const b = summaryOf(r);
    addsUp(b);
    expect(b.input).toMatchObject({ packets: 2, fromPods: 2 });
    if (hasTshark())
      expect(
        fields(join(r.dir, 'pods.pcap'), 'udp.srcport==9', ['ip.dst', 'udp.dstport'])
          .map((x) => x.join(' '))
          .sort(),
      ).toEqual(['198.19.1.10 40010', '198.19.2.10 40011']);
  });

  it('refuses an unsupported link type by name before any packet, and writes nothing', async () => {
    const r = await run(join(IN, 'ieee802-11.pcap'));
    expect(r.status).toBe(1);
    expect(r.err.split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/link type 105 \(IEEE802_11\), which replay cannot read/);
    expect(existsSync(r.dir)).toBe(false);
  });

  it('refuses a pcapng packet naming an interface that does not exist, naming the offset', async () => {
    const blk = (type: number, body: Buffer) => {
      const pad = Buffer.alloc((4 - (body.length % 4)) % 4);
      const n = 12 + body.length + pad.length;
      const h = Buffer.alloc(8);
      h.writeUInt32LE(type, 0);
      h.writeUInt32LE(n, 4);
      const t = Buffer.alloc(4);
      t.writeUInt32LE(n, 0);
      return Buffer.concat([h, body, pad, t]);
    };
    const shb = Buffer.alloc(16);
    shb.writeUInt32LE(0x1a2b3c4d, 0);
    shb.writeUInt16LE(1, 4);
    shb.writeBigInt64LE(-1n, 8);
    const idb = Buffer.alloc(8);
    idb.writeUInt16LE(1, 0);
    const epb = Buffer.alloc(20 + 20);
    epb.writeUInt32LE(3, 0); // interface 3 of a section with one
    epb.writeUInt32LE(20, 12);
    epb.writeUInt32LE(20, 16);
    const file = join(tmp, 'bad-iface.pcapng');
    const pre = Buffer.concat([blk(0x0a0d0d0a, shb), blk(1, idb)]);
    writeFileSync(file, Buffer.concat([pre, blk(6, epb)]));
    const r = await run(file);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(new RegExp(`names interface 3, but its section has 1.*|byte ${pre.length}`));
    expect(r.err).toMatch(new RegExp(`byte ${pre.length}`));
    expect(existsSync(r.dir)).toBe(false);
  });
});

describe('address mapping (--map-addr, --map-pod)', () => {
  it('without a mapping, says that no packet came from a pod and suggests the flag', async () => {
    const r = await run(join(IN, 'cluster-addrs.pcap'));
    expect(r.status).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input.fromPods).toBe(0);
    expect(s.input.undeliverable).toEqual({ total: 4, 'no-route': 4 });
    // The pod candidate suggested is the capture's private address, not the outside server.
    expect(r.out).toMatch(/no packet came from a Pod of the manifests/);
    expect(r.out).toMatch(/--map-pod 10\.244\.1\.5=prod\/web-a/);
  });

  it("maps both directions: the pod sends, the capture's replies to the egress IP reach it, checksums good", async () => {
    const r = await run(
      join(IN, 'cluster-addrs.pcap'),
      '--map-pod',
      '10.244.1.5=prod/web-a',
      '--map-addr',
      '203.0.113.34/32=198.18.0.34/32',
      '--map-addr',
      '172.18.0.50/32=198.18.0.253/32',
    );
    expect(r.status).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input).toMatchObject({ fromPods: 2, fromOutside: 2, mapped: 4 });
    expect(r.out).not.toMatch(/no packet came from a Pod/);
    if (!hasTshark()) return;
    // What the outside saw: the pod's queries SNATed to prod's egress IP, to the mapped server.
    expect(fields(join(r.dir, 'segment.pcap'), 'udp.dstport==7 && !geneve', ['ip.src', 'ip.dst'])).toEqual([
      ['198.18.0.253', '198.18.0.34'],
      ['198.18.0.253', '198.18.0.34'],
    ]);
    // The capture's answers (203.0.113.34 → the real egress IP 172.18.0.50) arrive at the pod, un-SNATed, as
    // 198.18.0.34 → 198.19.1.10.
    const got = fields(
      join(r.dir, 'pods.pcap'),
      'udp',
      ['ip.src', 'ip.dst', 'udp.srcport', 'ip.checksum.status', 'udp.checksum.status'],
      CHECKSUM_PREFS,
    );
    expect(got).toEqual([
      ['198.18.0.34', '198.19.1.10', '7', '1', '1'],
      ['198.18.0.34', '198.19.1.10', '7', '1', '1'],
    ]);
  });

  it('round trips: unmap(map(a)) = a, host part kept, addresses outside the rules unchanged', () => {
    const m = new Mapping([parseMapAddr('10.244.0.0/16=198.19.0.0/16'), parseMapAddr('203.0.113.0/24=198.18.0.0/24')]);
    for (const a of ['10.244.1.5', '10.244.255.254', '203.0.113.34', '8.8.8.8']) {
      const x = ipv4.parseAddr(a)!;
      expect(ipv4.addrToString(m.unmap(m.map(x)))).toBe(a);
    }
    expect(ipv4.addrToString(m.map(ipv4.parseAddr('10.244.1.5')!))).toBe('198.19.1.5');
    expect(ipv4.addrToString(m.map(ipv4.parseAddr('8.8.8.8')!))).toBe('8.8.8.8');
  });

  it('refuses overlaps and syntax errors with one line, exit 2', async () => {
    expect(
      () => new Mapping([parseMapAddr('10.0.0.0/8=198.18.0.0/8'), parseMapAddr('10.1.0.0/16=198.19.0.0/16')]),
    ).toThrow(MappingError);
    for (const [flag, msg] of [
      ['10.0.0.0/8', /expected FROM_CIDR=TO_CIDR/],
      ['10.0.0.0/8=198.19.0.0/16', /differ in length/],
      ['10.0.0.1/8=198.0.0.0/8', /host bits set/],
      ['300.0.0.0/8=198.0.0.0/8', /not an IPv4 or IPv6 address/],
      ['fd00::/64=198.19.0.0/16', /IPv6 onto IPv4; both sides must be of one family/],
      ['fd00::/64=2001:2::/48', /differ in length/],
      ['fd00::1/64=2001:2::/64', /host bits set \(the network is fd00::\/64\)/],
      ['fd00::/129=2001:2::/129', /not an IPv4 or IPv6 address/],
      ['fd00:::1/128=2001:2::1/128', /not an IPv4 or IPv6 address/],
    ] as const) {
      const r = await run(join(IN, 'cluster-addrs.pcap'), '--map-addr', flag);
      expect(r.status, flag).toBe(2);
      expect(r.err, flag).toMatch(msg);
      expect(existsSync(r.dir)).toBe(false);
    }
    const overlap = await run(
      join(IN, 'cluster-addrs.pcap'),
      '--map-addr',
      '10.244.0.0/16=198.19.0.0/16',
      '--map-pod',
      '10.244.1.5=prod/web-a',
    );
    expect(overlap.status).toBe(2);
    expect(overlap.err).toMatch(/--map-pod 10\.244\.1\.5=prod\/web-a overlaps --map-addr 10\.244\.0\.0\/16/);
    const noPod = await run(join(IN, 'cluster-addrs.pcap'), '--map-pod', '10.244.1.5=prod/nope');
    expect(noPod.status).toBe(1);
    expect(noPod.err).toMatch(/no Pod prod\/nope/);
  });
});

describe('IPv6 address mapping (--map-addr, --map-pod over IPv6)', () => {
  const CA6 = join(IN, 'cluster-addrs6.pcap');
  const MAP = ['--map-addr', '2001:db8::34/128=2001:2::64/128', '--map-addr', '2001:db8:1::50/128=2001:2::fd/128'];

  it('round trips over IPv6: prefix kept, host part kept, unmapped addresses and IPv4 rules apart', () => {
    const m = new Mapping([
      parseMapAddr('fd00:10:244::/48=2001:2:1::/48'),
      parseMapAddr('2001:db8::34/128=2001:2::64/128'),
      parseMapAddr('10.244.0.0/16=198.19.0.0/16'),
    ]);
    expect(m.map6('fd00:10:244:1::10')).toBe('2001:2:1:1::10');
    expect(m.map6('fd00:10:244:ffff:1:2:3:4')).toBe('2001:2:1:ffff:1:2:3:4');
    expect(m.map6('2001:db8::34')).toBe('2001:2::64');
    expect(m.map6('2001:db8::35')).toBe('2001:db8::35');
    for (const a of ['fd00:10:244:1::10', '2001:db8::34', 'fe80::1']) expect(m.unmap6(m.map6(a))).toBe(a);
    expect(ipv4.addrToString(m.map(ipv4.parseAddr('10.244.1.5')!))).toBe('198.19.1.5');
    // Overlaps are per family: an IPv6 rule never overlaps an IPv4 one.
    expect(() => new Mapping([parseMapAddr('fd00::/16=2001::/16'), parseMapAddr('fd00:1::/32=2002::/32')])).toThrow(
      /overlaps .* \(source prefixes\)/,
    );
    expect(() => new Mapping([parseMapAddr('fd00::/16=2001::/16'), parseMapAddr('fd01::/16=2001::/16')])).toThrow(
      /target prefixes/,
    );
  });

  it('without a mapping: undeliverable off the prefix, and the hint names the IPv6 pod candidate and its /64', async () => {
    const r = await runWith(DUAL, CA6);
    expect(r.status).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input.undeliverable).toEqual({ total: 6, 'no-route-ipv6': 6 });
    expect(r.out).toMatch(/no packet came from a Pod of the manifests/);
    expect(r.out).toMatch(/most frequent other sources: 2001:db8::34 \(3\), fd00:10:244:1::10 \(3\)/);
    expect(r.out).toMatch(
      /For IPv6: --map-pod fd00:10:244:1::10=prod\/web-a or --map-addr fd00:10:244:1::\/64=2001:2:0:101::\/64\./,
    );
    expect(r.out).not.toMatch(/--map-pod 10\./);
  });

  for (const [how, flags] of [
    ['--map-addr with a /64', ['--map-addr', 'fd00:10:244:1::/64=2001:2:0:101::/64']],
    ['--map-pod', ['--map-pod', 'fd00:10:244:1::10=prod/web-a']],
  ] as const)
    it(`${how}: the pod's UDP, TCP and ICMPv6 leave as the IPv6 egress IP, the answers reach it, checksums good`, async () => {
      const r = await runWith(DUAL, CA6, ...flags, ...MAP);
      expect(r.status, r.err).toBe(0);
      const s = summaryOf(r);
      addsUp(s);
      expect(s.input).toMatchObject({ packets: 6, fromPods: 3, fromOutside: 3, mapped: 6 });
      expect(s.input.undeliverable).toEqual({ total: 0 });
      expect(s.drops.datapath).toEqual({ total: 0 });
      if (!hasTshark()) return;
      // What the outside saw (not the Geneve copies): web-a's three packets SNATed to 2001:2::fd, to the host.
      expect(
        fields(
          join(r.dir, 'segment.pcap'),
          '!geneve && !icmpv6.nd.ns.target_address && !icmpv6.nd.na.target_address && ipv6.src==2001:2::fd',
          ['ipv6.dst', 'ipv6.nxt'],
        ),
      ).toEqual([
        ['2001:2::64', '17'],
        ['2001:2::64', '6'],
        ['2001:2::64', '58'],
      ]);
      // The capture's answers to the real egress IP reach the pod un-SNATed, with good checksums.
      expect(
        fields(
          join(r.dir, 'pods.pcap'),
          'ipv6',
          ['ipv6.src', 'ipv6.dst', 'ipv6.nxt', 'udp.checksum.status', 'tcp.checksum.status', 'icmpv6.checksum.status'],
          CHECKSUM_PREFS,
        ),
      ).toEqual([
        ['2001:2::64', '2001:2:0:101::10', '17', '1', '', ''],
        ['2001:2::64', '2001:2:0:101::10', '6', '', '1', ''],
        ['2001:2::64', '2001:2:0:101::10', '58', '', '', '1'],
      ]);
    });

  it('an IPv6 --map-pod needs a Pod with an IPv6 address; a bad address is a usage error', async () => {
    const noV6 = await run(CA6, '--map-pod', 'fd00:10:244:1::10=prod/web-a');
    expect(noV6.status).toBe(1);
    expect(noV6.err).toMatch(/Pod prod\/web-a has no IPv6 address/);
    const bad = await runWith(DUAL, CA6, '--map-pod', 'fd00:::10=prod/web-a');
    expect(bad.status).toBe(2);
    expect(bad.err).toMatch(/expected IP=NAMESPACE\/POD/);
    const overlap = await runWith(
      DUAL,
      CA6,
      '--map-addr',
      'fd00:10:244:1::/64=2001:2:0:101::/64',
      '--map-pod',
      'fd00:10:244:1::10=prod/web-a',
    );
    expect(overlap.status).toBe(2);
    expect(overlap.err).toMatch(/--map-pod fd00:10:244:1::10=prod\/web-a overlaps --map-addr fd00:10:244:1::\/64/);
  });

  it("a capture inside an IPv6 pod (SLL2): its outgoing packets are the pod's, what it received skipped", async () => {
    const r = await runWith(
      DUAL,
      join(IN, 'pod6-any.pcap'),
      '--reflect',
      '--map-addr',
      'fd00:10:244:1::/64=2001:2:0:101::/64',
      ...MAP,
    );
    expect(r.status, r.err).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input).toMatchObject({ packets: 4, fromPods: 2, fromOutside: 0 });
    expect(s.input.skipped).toEqual({ total: 2, 'to-pod': 2 });
    if (!hasTshark()) return;
    // The host's reflections come back to the pod: UDP echoed and an echo reply.
    expect(fields(join(r.dir, 'pods.pcap'), 'ipv6', ['ipv6.src', 'ipv6.dst', 'ipv6.nxt'])).toEqual([
      ['2001:2::64', '2001:2:0:101::10', '17'],
      ['2001:2::64', '2001:2:0:101::10', '58'],
    ]);
  });
});

describe.skipIf(!hasScapy())('an IPv6 host of the segment to a pod address', () => {
  it("an ExternalHost with spec.ipv6Address (examples/dual-stack's showip) is one host of both families", async () => {
    const pkts = scapyBytes([
      "IPv6(src='2001:2:0:1::10', dst='2001:2::100')/UDP(sport=40000, dport=9)/b'web-a v6'",
      "IP(src='198.19.1.10', dst='198.18.0.100')/UDP(sport=40000, dport=9)/b'web-a v4'",
      "IPv6(src='2001:2:0:2::10', dst='2001:2::100')/ICMPv6EchoRequest(id=5, seq=1, data=b'ping6')",
    ]);
    const file = join(tmp, 'showip6.pcap');
    writeCaptureFile(file, {
      linkType: 101,
      records: pkts.map((data, k) => ({ data, tsSec: 1767225600, tsNsec: k * 10_000_000 })),
    });
    const r = await runWith(join(ROOT, 'examples/dual-stack/cluster.yaml'), file, '--reflect');
    expect(r.status, r.err).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input).toMatchObject({ packets: 3, fromPods: 3 });
    expect(Object.keys(s.hosts)).toEqual(['showip']);
    expect(s.hosts['showip']).toMatchObject({
      ip: '198.18.0.100',
      ip6: '2001:2::100',
      mac: '02:ee:c6:12:00:64',
      counters: { received: 3, reflected: 3, 'ndp-adverts': 1 },
    });
    if (!hasTshark()) return;
    expect(fields(join(r.dir, 'pods.pcap'), 'ip || ipv6', ['ip.src', 'ipv6.src'])).toEqual([
      ['', '2001:2::100'],
      ['198.18.0.100', ''],
      ['', '2001:2::100'],
    ]);
  });

  it('what waits for ARP or NDP when the run ends is a counted loss (host.unresolved-at-end), not lost unseen', async () => {
    const pkts = scapyBytes([
      "IPv6(src='2001:2::64', dst='2001:2::99')/UDP(sport=9, dport=9)/b'nobody'",
      "IPv6(src='2001:2::64', dst='2001:2::99')/UDP(sport=9, dport=9)/b'nobody again'",
      "IP(src='198.18.0.100', dst='198.18.0.77')/UDP(sport=9, dport=9)/b'nobody v4'",
    ]);
    const file = join(tmp, 'unresolved.pcap');
    writeCaptureFile(file, {
      linkType: 101,
      records: pkts.map((data, k) => ({ data, tsSec: 1767225600, tsNsec: k * 10_000_000 })),
    });
    const r = await runWith(DUAL, file);
    expect(r.status, r.err).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input).toMatchObject({ packets: 3, fromOutside: 3 });
    expect(s.drops.delivery).toEqual({ total: 3, 'host.unresolved-at-end': 3 });
    expect(r.out).toMatch(/3 not delivered by the simulated segment/);
  });

  it("goes through the pod's Node (its IPv6 pod CIDR route), resolved with NDP, and reaches the pod", async () => {
    const pkts = scapyBytes([
      "IPv6(src='2001:2::64', dst='2001:2:0:101::10')/UDP(sport=9, dport=40000)/b'to web-a'",
      "IPv6(src='2001:2::64', dst='2001:2:0:102::10')/TCP(sport=5555, dport=80, flags='S', seq=1)",
    ]);
    const file = join(tmp, 'to-pod6.pcap');
    writeCaptureFile(file, {
      linkType: 101,
      records: pkts.map((data, k) => ({ data, tsSec: 1767225600, tsNsec: k * 10_000_000 })),
    });
    const r = await runWith(DUAL, file);
    expect(r.status, r.err).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input).toMatchObject({ packets: 2, fromOutside: 2 });
    expect(s.drops.datapath).toEqual({ total: 0 });
    if (!hasTshark()) return;
    // The host solicits node-a's and node-b's IPv6 addresses (the routes' next hops), not the pods'.
    expect(
      fields(join(r.dir, 'segment.pcap'), 'icmpv6.type==135 && ipv6.src==2001:2::64', ['icmpv6.nd.ns.target_address']),
    ).toEqual([['2001:2::11'], ['2001:2::12']]);
    expect(fields(join(r.dir, 'pods.pcap'), 'ipv6', ['ipv6.src', 'ipv6.dst', 'ipv6.nxt'])).toEqual([
      ['2001:2::64', '2001:2:0:101::10', '17'],
      ['2001:2::64', '2001:2:0:102::10', '6'],
    ]);
  });
});

describe('bad input ends as counted drops, bounded work and one-line errors', () => {
  it('--reflect with UDP between two outside hosts: received, not echoed for ever', async () => {
    const r = await run(join(IN, 'loop.pcap'), '--reflect');
    expect(r.status).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input.fromOutside).toBe(2);
    expect(s.hosts['showip']!.counters).toMatchObject({ received: 1, 'from-outside': 1 });
    expect(s.hosts['host-198.18.0.101']!.counters).toMatchObject({ received: 1, 'from-outside': 1 });
    expect(s.hosts['showip']!.counters['reflected']).toBeUndefined();
  });

  it('600 s and 122-day gaps are skipped, a 2106 timestamp clamped and counted', async () => {
    const r = await run(join(IN, 'gaps.pcap'), '--reflect');
    expect(r.status).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input).toMatchObject({ fromPods: 5, idleGaps: 2, timeClamped: 1 });
    if (!hasTshark()) return;
    // Every pod got its answer, at the input's own times (the clamped one at the previous packet's).
    const t = fields(join(r.dir, 'pods.pcap'), 'udp', ['frame.time_epoch']).map((x) => x[0]);
    expect(t).toEqual([
      '1767225600.000000000',
      '1767226200.000000000',
      '1777767000.000000000',
      '1777767000.000000000',
      '1777767001.000000000',
    ]);
  });

  it('MTU: jumbo and over-MTU frames counted, pods get nothing above 1450, nodes send nothing above 1514', async () => {
    const r = await run(join(IN, 'mtu.pcap'), '--reflect');
    expect(r.status).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input.undeliverable).toEqual({ total: 2, 'over-mtu': 1, oversize: 1 });
    expect(s.drops.delivery).toEqual({ total: 1, 'segment.over-mtu': 1 });
    expect(s.drops.datapath).toMatchObject({ 'node-a/pod-ingress.too-big': 2 });
    // The 1468-byte answer without DF is cut to the pod MTU on node-c (docs/semantics.md §4.i), not dropped.
    expect(s.drops.datapath['node-c/unsnat.too-big']).toBeUndefined();
    expect(s.nodes['node-c']!.stages['unsnat']!.counters['refragmented']).toBe(1);
    expect(JSON.stringify(s.drops)).not.toMatch(/queue-full/);
    if (!hasTshark()) return;
    const pods = fields(join(r.dir, 'pods.pcap'), 'ip', ['ip.len', '_ws.col.Info']);
    // ip.len of the outer header (an ICMP error also shows the quoted one's).
    expect(Math.max(...pods.map((p) => Number(p[0]!.split(',')[0])))).toBeLessThanOrEqual(1450);
    expect(pods.some((p) => /Fragmentation needed/.test(p[1]!))).toBe(true); // the DF one, RFC 1191
    const fromNodes = fields(join(r.dir, 'segment.pcap'), 'eth.src[0:2]==02:0e', ['frame.len']);
    expect(Math.max(...fromNodes.map((p) => Number(p[0])))).toBeLessThanOrEqual(1514);
  });

  it('a jumbo segment (MTU 9000): the 9042-byte frame fits a buffer and is refused by the segment instead', async () => {
    const jumbo = join(tmp, 'jumbo.yaml');
    writeFileSync(
      jumbo,
      readFileSync(REF, 'utf8').replace('transportInterfaceMTU: 1500', 'transportInterfaceMTU: 9000'),
    );
    const r = await run(join(IN, 'mtu.pcap'), '--reflect', '--manifests', jumbo);
    expect(r.status).toBe(0);
    const s = summaryOf(r);
    addsUp(s);
    expect(s.input.undeliverable['oversize']).toBeUndefined();
    expect(s.drops.delivery['segment.over-mtu']).toBe(1); // 9028 bytes of IP on a 9000 segment
  });

  it('--strict: exit 3 when anything is undeliverable; --undeliverable-max raises the bar', async () => {
    expect((await run(join(IN, 'sll.pcap'), '--strict')).status).toBe(3);
    expect((await run(join(IN, 'sll.pcap'), '--strict', '--undeliverable-max', '0.2')).status).toBe(0);
    expect((await run(join(IN, 'sll.pcap'), '--undeliverable-max', '2')).status).toBe(2);
  });

  it('a capture corrupt in the middle: one line naming the byte, no output directory', async () => {
    const good = readFileSync(join(IN, 'sll.pcap'));
    const bad = Buffer.from(good);
    bad.writeUInt32LE(0x7fffffff, 24 + 8); // first record claims 2 GiB captured
    writeFileSync(join(tmp, 'corrupt.pcap'), bad);
    const r = await run(join(tmp, 'corrupt.pcap'));
    expect(r.status).toBe(1);
    expect(r.err.split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/corrupt\.pcap: .* at byte 24/);
    expect(existsSync(r.dir)).toBe(false);
  });

  it('a capture cut short: replayed up to the cut, with a warning on the terminal and in summary.json', async () => {
    const good = readFileSync(join(IN, 'sll.pcap'));
    writeFileSync(join(tmp, 'cut.pcap'), good.subarray(0, good.length - 10));
    const r = await run(join(tmp, 'cut.pcap'));
    expect(r.status).toBe(0);
    expect(r.err).toMatch(/warning: .*cut\.pcap: truncated .* at byte \d+.*ignoring the truncated tail/);
    const s = summaryOf(r) as Summary & { meta: { input: { warning?: string } } };
    expect(s.meta.input.warning).toMatch(/truncated/);
    expect(s.input.packets).toBe(6);
    addsUp(s);
  });

  it('does not replace an --out directory holding files it did not write', async () => {
    const dir = join(tmp, 'foreign');
    mkdirSync(dir);
    writeFileSync(join(dir, 'thesis.tex'), 'mine');
    const log = console.log;
    const err: string[] = [];
    const error = console.error;
    console.log = () => {};
    console.error = (...a: unknown[]) => void err.push(a.join(' '));
    try {
      const status = await main(['replay', '--manifests', REF, '--in', join(IN, 'sll.pcap'), '--out', dir, '--quiet']);
      expect(status).toBe(1);
    } finally {
      console.log = log;
      console.error = error;
    }
    expect(err.join('\n')).toMatch(/holds files replay did not write \(thesis\.tex\)/);
    expect(readFileSync(join(dir, 'thesis.tex'), 'utf8')).toBe('mine');
    expect(existsSync(join(dir, 'summary.json'))).toBe(false);
  });

  it("a timeline's applyFile stays inside the timeline's directory and never shows the file", async () => {
    const dir = join(tmp, 'tl');
    mkdirSync(dir);
    writeFileSync(join(tmp, 'secret.yaml'), 'password: hunter2\n');
    symlinkSync(join(tmp, 'secret.yaml'), join(dir, 'link.yaml'));
    for (const target of ['../secret.yaml', 'link.yaml', '/etc/hostname']) {
      writeFileSync(join(dir, 't.yaml'), `- at: 0.1\n  applyFile: ${target}\n`);
      const r = await run(join(IN, 'sll.pcap'), '--timeline', join(dir, 't.yaml'));
      expect(r.status, target).toBe(1);
      expect(r.err, target).toMatch(/outside the timeline's directory/);
      expect(r.err).not.toMatch(/hunter2/);
    }
  });
});

describe.skipIf(!hasTshark())('outputs tshark reads', () => {
  it('capture.pcapng: interfaces per uplink and pod with directions; drops.pcapng: reason comments', async () => {
    const a = await run(join(IN, 'mtu.pcap'), '--reflect', '--pcapng', '--drops');
    const b = await run(join(IN, 'mtu.pcap'), '--reflect', '--pcapng', '--drops');
    for (const f of ['segment.pcap', 'pods.pcap', 'capture.pcapng', 'drops.pcapng'])
      expect(readFileSync(join(a.dir, f)).equals(readFileSync(join(b.dir, f))), `${f} differs between runs`).toBe(true);
    const ifs = new Set(fields(join(a.dir, 'capture.pcapng'), '', ['frame.interface_name']).map((x) => x[0]));
    expect([...ifs].sort()).toEqual(
      ['pod:prod/web-a', 'segment', 'uplink:node-a', 'uplink:node-b', 'uplink:node-c'].sort(),
    );
    // web-a's own packets are outbound on its interface, what it received inbound (epb_flags direction).
    const dirs = fields(join(a.dir, 'capture.pcapng'), 'frame.interface_name=="pod:prod/web-a"', [
      'frame.packet_flags_direction',
    ]).map((x) => x[0]);
    expect(new Set(dirs)).toEqual(new Set(['0x00000001', '0x00000002']));
    const comments = fields(join(a.dir, 'drops.pcapng'), 'frame.comment', ['frame.comment']).map((x) => x[0]);
    expect(comments.sort()).toEqual(['node-a pod-ingress too-big', 'node-a pod-ingress too-big'].sort());
  });
});

describe.skipIf(!hasTshark())('the text report (report.md) and timeline.svg (failover scenario)', () => {
  it("names the failover gap from the node's failure to the new owner's GARP, with the packets lost in it", async () => {
    const cap = join(ROOT, 'captures/replay/failover');
    const r = await run(join(cap, 'in.pcap'), '--reflect', '--timeline', join(cap, 'timeline.yaml'), '-v');
    expect(r.status).toBe(0);
    const report = readFileSync(join(r.dir, 'report.md'), 'utf8');
    expect(r.out).toContain(report.split('\n')[0]!); // -v prints it
    // The new owner announced 198.18.0.253 with a GARP (tshark, in input time relative to the first packet).
    const t0 = Number(fields(join(cap, 'in.pcap'), 'frame.number==1', ['frame.time_epoch'])[0]![0]);
    const garps = fields(
      join(r.dir, 'segment.pcap'),
      'arp.src.proto_ipv4==198.18.0.253 && arp.dst.proto_ipv4==198.18.0.253 && eth.src==02:0e:c6:12:00:0b',
      ['frame.time_epoch'],
    ).map((x) => Math.round((Number(x[0]) - t0) * 1000) / 1000);
    expect(garps.length).toBe(1);
    const m = /198\.18\.0\.253: no owner from 0\.3 s to ([\d.]+) s \((\d+) ms\); (\d+) packets lost/.exec(report);
    expect(m, report).not.toBeNull();
    expect(Number(m![1])).toBe(garps[0]);
    expect(Number(m![2])).toBe(Math.round((garps[0]! - 0.3) * 1000));
    // Lost: every prod pod packet the input has in the gap (node-c held the egress IP), and at most the two sent
    // at the instant the new owner took over.
    const inGap = fields(join(cap, 'in.pcap'), '', ['frame.time_relative', 'ip.src']).filter(
      ([t, src]) => Number(t) >= 0.3 && Number(t) < garps[0]! && /^198\.19\.(1|2)\.10$/.test(src!),
    ).length;
    expect(inGap).toBe(20);
    expect(Number(m![3])).toBeGreaterThanOrEqual(inGap);
    expect(Number(m![3])).toBeLessThanOrEqual(inGap + 2);
    // Heartbeats to the failed node are not counted as lost packets.
    const s = summaryOf(r);
    expect(s.drops.delivery['segment.to-down-port']).toBeLessThanOrEqual(inGap + 4);
    const svg = readFileSync(join(r.dir, 'timeline.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toContain('198.18.0.253 none 0.3–');
    expect(svg).toContain('node-c failed 0.3–1.6 s');
    expect(svg.trim().endsWith('</svg>')).toBe(true);
  });
});
