/**
 * Geneve tunnel authentication through two real node datapaths (docs/tunnel-auth.md): node-b's pod sends to
 * node-a's pod over Geneve; node-a accepts only packets with a valid tag and a new sequence number. Pod packets and
 * the forged frames are built with scapy; every refused packet is a counted drop by reason, and each case has a
 * control that the genuine packet is delivered (so the test can fail). Also: the anti-replay window on its own.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { cluster, Slab, wire } from '../../engine/index.js';
import {
  EGRESS_NONE,
  REPLAY_WINDOW,
  TunnelAuth,
  type NodeDatapathConfig,
  type TunnelAuthConfig,
} from '../../engine/stages/index.js';
import { ListPort } from '../support/list-port.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const ip = (s: string) => wire.ipv4.parseAddr(s)!;
const mac = (s: string) => wire.ethernet.parseMac(s)!;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const NODES = {
  'node-a': { ip: '198.18.0.11', mac: '02:00:00:00:00:0b', cidr: '10.244.1.0', pod: '10.244.1.5' },
  'node-b': { ip: '198.18.0.12', mac: '02:00:00:00:00:0c', cidr: '10.244.2.0', pod: '10.244.2.5' },
} as const;
type NodeName = keyof typeof NODES;

function config(name: NodeName): NodeDatapathConfig {
  const me = NODES[name];
  return {
    nodeName: name,
    nodeIp: ip(me.ip),
    mac: mac(me.mac),
    uplinkMtu: 1500,
    transport: { addr: ip('198.18.0.0'), len: 24 },
    gateway: 0,
    tunnelPort: 6081,
    podCidr: { addr: ip(me.cidr), len: 24 },
    pods: [{ key: `default/${name}-pod`, ip: ip(me.pod), port: 0, egress: EGRESS_NONE, egressIp: 0 }],
    nodes: Object.entries(NODES).map(([n, x]) => ({ name: n, ip: ip(x.ip), podCidr: { addr: ip(x.cidr), len: 24 } })),
    bypass: [],
    egressIps: [],
  };
}

const KEY = cluster.makeKey(new Uint8Array(randomBytes(32)));
const authOf = (key: cluster.HeartbeatKey, epochMs = 1_700_000_000_000): TunnelAuthConfig => ({
  key: cluster.tunnelAuthKey(key),
  keyId: key.id,
  epochMs,
});

/** A node's datapath with its peer resolved (an ARP request from it) and pinned (as its heartbeats would). */
function node(name: NodeName, auth: TunnelAuthConfig | null) {
  const peer = name === 'node-a' ? NODES['node-b'] : NODES['node-a'];
  const me = NODES[name];
  const slab = new Slab({ slots: 2048 });
  const dp = new NodeDatapath(slab, config(name), { conntrack: { seed: 3 }, tunnelAuth: auth });
  const uplink = new ListPort('uplink');
  const pod = new ListPort('pod');
  dp.attachUplink(uplink);
  dp.attachControl(new ListPort('control'));
  dp.pods.add(pod);
  uplink.queue.push(
    ...scapyBytes([
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${peer.mac}')/ARP(op=1, hwsrc='${peer.mac}', psrc='${peer.ip}', pdst='${me.ip}')`,
    ]),
  );
  dp.pollUplink(0);
  uplink.sent.length = 0;
  const m = mac(peer.mac);
  dp.pinPeer(ip(peer.ip), (m[0]! << 8) | m[1]!, (m[2]! << 24) | (m[3]! << 16) | (m[4]! << 8) | m[5]! | 0);
  return { dp, uplink, pod, slab };
}

/** `n` UDP packets from node-b's pod to node-a's pod (payload byte k, source port 1000 + k), built by scapy. */
const podPackets = (n: number, from = 0, size = 32, ipArgs = '') =>
  scapyBytes(
    Array.from(
      { length: n },
      (_, k) =>
        `IP(src='10.244.2.5', dst='10.244.1.5', id=${from + k}${ipArgs})/UDP(sport=${1000 + from + k}, dport=7)/Raw(bytes([${(from + k) & 0xff}])*${size})`,
    ),
  );

/** Node-b encapsulates `pkts`; returns the Geneve frames it put on the uplink. */
function send(b: ReturnType<typeof node>, pkts: Uint8Array[]): Uint8Array[] {
  b.pod.queue.push(...pkts);
  while (b.pod.queue.length > 0) b.dp.pollPod(0, 1);
  const out = b.uplink.sent.splice(0);
  expect(out.length).toBe(pkts.length);
  return out;
}

function deliver(a: ReturnType<typeof node>, frames: Uint8Array[]): number {
  const before = a.pod.sent.length;
  a.uplink.queue.push(...frames.map((f) => Uint8Array.from(f)));
  while (a.uplink.queue.length > 0) a.dp.pollUplink(2);
  return a.pod.sent.length - before;
}

const decap = (a: ReturnType<typeof node>) => a.dp.pipeline.snapshot()['geneve-decap']!.counters;

describe.skipIf(!hasScapy())('tunnel authentication between two node datapaths', () => {
  it('round trip: tagged frames carry the option, the peer delivers the inner packets unchanged', () => {
    const a = node('node-a', authOf(KEY));
    const b = node('node-b', authOf(KEY));
    const pkts = podPackets(5);
    const frames = send(b, pkts);
    for (const f of frames) {
      // outer Ethernet 14 + IPv4 20 + UDP 8, Geneve: Opt Len 6 words, C bit; the option: fff0 / 0x81 / 5 words
      expect(hex(f.subarray(42, 44))).toBe('0640');
      expect(hex(f.subarray(50, 58))).toBe('fff08105' + (KEY.id >>> 0).toString(16).padStart(8, '0'));
      expect(f.length).toBe(pkts[0]!.length + 88);
    }
    // sequence numbers: consecutive, starting at the epoch × 2^20 + 1
    const seqs = frames.map((f) => Buffer.from(f).readBigUInt64BE(58));
    expect(seqs[0]).toBe(1_700_000_000_000n * 1048576n + 1n);
    expect(seqs.map((s) => s - seqs[0]!)).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(deliver(a, frames)).toBe(5);
    expect(a.pod.sent.map(hex)).toEqual(pkts.map(hex));
    const c = decap(a);
    expect(c['to-pod']).toBe(5);
    expect(Object.keys(c).filter((k) => k.startsWith('drop') && c[k]! > 0)).toEqual([]);
  });

  it('replayed frames are counted drop-auth-replay; reordering inside the window is accepted', () => {
    const a = node('node-a', authOf(KEY));
    const b = node('node-b', authOf(KEY));
    const frames = send(b, podPackets(4));
    expect(deliver(a, [frames[2]!, frames[0]!, frames[3]!, frames[1]!])).toBe(4);
    expect(deliver(a, frames)).toBe(0);
    expect(decap(a)).toMatchObject({ 'to-pod': 4, 'drop-auth-replay': 4 });
  });

  it('a frame older than the window is a replay even if never seen', () => {
    const a = node('node-a', authOf(KEY));
    const b = node('node-b', authOf(KEY));
    const first = send(b, podPackets(1));
    const many = send(b, podPackets(REPLAY_WINDOW + 1, 1, 1));
    expect(deliver(a, many)).toBe(REPLAY_WINDOW + 1);
    expect(deliver(a, first)).toBe(0);
    expect(decap(a)).toMatchObject({ 'drop-auth-replay': 1 });
  });

  it('tampered frames are counted drop-auth-bad and do not move the window; the genuine one still passes', () => {
    const a = node('node-a', authOf(KEY));
    const b = node('node-b', authOf(KEY));
    const [f] = send(b, podPackets(1));
    const payload = Uint8Array.from(f!);
    payload[payload.length - 1]! ^= 1; // inner payload
    const innerDst = Uint8Array.from(f!);
    innerDst[88 + 19]! ^= 1; // inner IPv4 destination (its checksum is not fixed: the tag is checked first)
    const seq = Uint8Array.from(f!);
    seq[58]! ^= 0x40; // a far higher sequence number: would move the window if believed
    const tagged = Uint8Array.from(f!);
    tagged[66]! ^= 0x80; // the tag itself
    expect(deliver(a, [payload, innerDst, seq, tagged])).toBe(0);
    expect(decap(a)).toMatchObject({ 'drop-auth-bad': 4 });
    expect(deliver(a, [f!])).toBe(1);
    expect(decap(a)).toMatchObject({ 'drop-auth-bad': 4, 'to-pod': 1 });
  });

  it('forged by scapy: no option → drop-auth-missing; option with a made-up tag → drop-auth-bad', () => {
    const a = node('node-a', authOf(KEY));
    const head = `Ether(dst='${NODES['node-a'].mac}', src='${NODES['node-b'].mac}')/IP(src='198.18.0.12', dst='198.18.0.11', flags='DF')/UDP(sport=5555, dport=6081, chksum=0)`;
    const inner = `Ether(dst='aa:bb:cc:dd:ee:ff', src='${NODES['node-b'].mac}')/IP(src='10.244.2.5', dst='10.244.1.5')/UDP(sport=1, dport=7)/b'forged'`;
    const opt = `GeneveOptions(classid=0xfff0, type=0x81, length=5, data=struct.pack('>IQ', ${KEY.id >>> 0}, 2**62) + bytes(8))`;
    const [plain, forged] = scapyBytes(
      [`${head}/GENEVE(proto=0x6558)/${inner}`, `${head}/GENEVE(critical=1, proto=0x6558, options=[${opt}])/${inner}`],
      'import struct',
    );
    expect(deliver(a, [plain!, forged!])).toBe(0);
    expect(decap(a)).toMatchObject({ 'drop-auth-missing': 1, 'drop-auth-bad': 1 });
    // control: the same plain frame is delivered by a node without tunnel authentication
    const open = node('node-a', null);
    expect(deliver(open, [plain!])).toBe(1);
  });

  it('another cluster key: drop-auth-key', () => {
    const a = node('node-a', authOf(KEY));
    const other = cluster.makeKey(new Uint8Array(randomBytes(32)));
    const b = node('node-b', authOf(other));
    expect(deliver(a, send(b, podPackets(2)))).toBe(0);
    expect(decap(a)).toMatchObject({ 'drop-auth-key': 2 });
  });

  it('nodes that disagree drop each other’s tunnel traffic, counted on the receiver', () => {
    const aOff = node('node-a', null);
    const bOn = node('node-b', authOf(KEY));
    expect(deliver(aOff, send(bOn, podPackets(3)))).toBe(0);
    expect(decap(aOff)).toMatchObject({ 'drop-critical-option': 3 });
    const aOn = node('node-a', authOf(KEY));
    const bOff = node('node-b', null);
    expect(deliver(aOn, send(bOff, podPackets(3)))).toBe(0);
    expect(decap(aOn)).toMatchObject({ 'drop-auth-missing': 3 });
  });

  it('MTU: the pod limit is the uplink MTU − 74; a larger packet gets ICMP fragmentation-needed with 1426', () => {
    const b = node('node-b', authOf(KEY));
    const a = node('node-a', authOf(KEY));
    const fits = podPackets(1, 0, 1426 - 28);
    const frames = send(b, fits);
    expect(frames[0]!.length).toBe(1500 + 14);
    expect(Buffer.from(frames[0]!).readUInt16BE(16)).toBe(1500); // outer IPv4 Total Length
    expect(deliver(a, frames)).toBe(1);
    const [big] = podPackets(1, 1, 1427 - 28, ", flags='DF'");
    b.pod.queue.push(big!);
    b.dp.pollPod(0, 3);
    expect(b.uplink.sent.length).toBe(0);
    expect(b.pod.sent.length).toBe(1);
    const icmp = b.pod.sent[0]!;
    expect(icmp[9]).toBe(1); // ICMP
    expect([icmp[20], icmp[21]]).toEqual([3, 4]); // destination unreachable, fragmentation needed
    expect(Buffer.from(icmp).readUInt16BE(26)).toBe(1426); // next-hop MTU
    expect(b.dp.pipeline.snapshot()['pod-ingress']!.counters['drop-too-big']).toBe(1);
  });
});

describe('anti-replay window (RFC 4303 §3.4.3, RFC 6479 ring)', () => {
  const peer = ip('198.18.0.12');
  const fresh = () => new TunnelAuth({ key: new Uint8Array(16), keyId: 1, epochMs: 0 });
  const take = (w: TunnelAuth, hi: number, lo: number) => {
    const r = w.check(peer, hi, lo);
    if (r === 0) w.accept(peer, hi, lo);
    return r;
  };

  it('accepts each number once, in any order inside the window, and never 0', () => {
    const w = fresh();
    expect(take(w, 0, 0)).toBe(1);
    const seen = [5, 3, 4, 5, 3, 1000, 11, 10, 1000 - REPLAY_WINDOW + 1, 1000 - REPLAY_WINDOW].map((x) =>
      take(w, 0, x),
    );
    expect(seen).toEqual([0, 0, 0, 1, 1, 0, 0, 0, 0, 1]);
    expect(take(w, 0, 1000)).toBe(1);
  });

  it('crosses the 32-bit boundary of the low half', () => {
    const w = fresh();
    expect(take(w, 0, 0xfffffff0)).toBe(0);
    expect(take(w, 1, 5)).toBe(0);
    expect(take(w, 0, 0xfffffff0)).toBe(1);
    expect(take(w, 0, 0xfffffff8)).toBe(0); // 21 below the top: inside the window, not seen yet
    expect(take(w, 0, 0xfffffff8)).toBe(1);
    expect(take(w, 0, 5)).toBe(1); // 2^32 below
  });

  it('a jump far ahead clears the whole ring: old bits do not alias', () => {
    const w = fresh();
    for (let x = 1; x <= 64; x++) expect(take(w, 0, x)).toBe(0);
    expect(take(w, 0, 1 + 1024 * 7)).toBe(0);
    // numbers just below the new top whose ring positions held old bits are new
    expect(take(w, 0, 1024 * 7 - 10)).toBe(0);
    expect(take(w, 0, 1024 * 7 - 60)).toBe(0);
  });

  it('the sender counts from epochMs × 2^20 + 1 and carries into the high half', () => {
    const t = new TunnelAuth({ key: new Uint8Array(16), keyId: 1, epochMs: 1_700_000_000_123 });
    const v = BigInt(t.seqHi >>> 0) * 2n ** 32n + BigInt(t.seqLo >>> 0);
    expect(v).toBe(1_700_000_000_123n * 2n ** 20n + 1n);
    t.seqLo = -1; // 0xffffffff
    const hi = t.seqHi;
    t.next();
    expect([t.seqHi, t.seqLo]).toEqual([hi + 1, 0]);
  });
});
