/**
 * Whole-datapath throughput of one node, in memory (issue 5): packets/s through the real pipeline of
 * engine/agent NodeDatapath, from a generator port to a discarding uplink, for
 *
 * - `encap`     pod → pod-ingress → classify → geneve-encap → uplink-out          (source node, remote Egress IP)
 * - `snat`      pod → pod-ingress → classify → snat → uplink-out                   (pod on the Egress node)
 * - `decap-snat` Geneve to a hosted Egress IP → uplink-ingress → ip-local → geneve-decap → snat → uplink-out
 * - `reply`     external reply → uplink-ingress → ip-local → unsnat → geneve-encap → uplink-out (remote pod)
 * - `unsnat`    external reply → uplink-ingress → ip-local → unsnat → the pod's port (local pod)
 *
 * and their IPv6 counterparts on a dual-stack node (docs/ipv6.md §2), each with the IPv4 case as baseline (ratio
 * = IPv6 pps / IPv4 pps, same run): `encap6` (pod-ingress → pod-ingress6 → geneve-encap6 → uplink-out), `snat6`
 * (pod-ingress → pod-ingress6 → snat6 → uplink-out6), `unsnat6` (uplink-ingress → unsnat6 → the pod's port);
 * `encap6-u6`, encap6 over the IPv6 underlay (docs/ipv6.md §2.l: pod-ingress → pod-ingress6 → geneve-encap6 →
 * tunnel6-encap → uplink-out6, the outer UDP checksum computed), its baseline `encap6` of the same run;
 *
 * and, with tunnel authentication on (docs/tunnel-auth.md: SipHash-2-4 tag, sequence number, anti-replay window),
 * `encap+auth`, `decap-snat+auth` and `reply+auth`, each with its authentication-off case as baseline (ratio = pps
 * with auth / pps without, same run). The generator of `decap-snat+auth` seals every frame it yields as the
 * sending peer would (one tag per packet, on top of the receiver's check): `gen+seal` measures that generator
 * alone, so the receiver's share is the difference of the two ns/packet figures;
 *
 * and `snat-frag`: the `snat` path for UDP datagrams of 3868 bytes that the pod sends in three fragments (1444 +
 * 1444 + 1020 bytes: defrag, then classify and snat per fragment, the first creating or finding the connection and
 * the later ones its datagram's), measured per datagram (21 a burst of 63 fragments), its baseline the whole
 * 1500-byte `snat` packet of the same run (ratio = datagrams/s over packets/s: 1/3 would mean a fragment costs what
 * a whole packet does);
 *
 * at 64/512/1500-byte packets (the pod-side IP packet's total length) and 1 k / 100 k flows (UDP source ports over a ring; every
 * conntrack entry exists before timing), bursts of 64. `gen/<size>` is the generator alone (copy the template
 * and set the flow's port): each case reports its ratio to it, and `facts` give the per-stage ns/packet of an
 * instrumented run. Allocation per packet is measured by the harness (B/op).
 */
import { NodeDatapath } from '../../engine/agent/datapath.js';
import type { Port, Stage } from '../../engine/graph/index.js';
import { Burst, Slab } from '../../engine/packet/index.js';
import {
  EGRESS_LOCAL,
  EGRESS_REMOTE,
  TunnelAuth,
  type NodeDatapathConfig,
  type TunnelAuthConfig,
} from '../../engine/stages/index.js';
import { checksum, ethernet, geneve, geneveAuth, ipv4, ipv6, udp } from '../../engine/wire/index.js';
import { ConnSync } from '../../engine/agent/conn-sync.js';
import { makeKey } from '../../engine/cluster/index.js';
import type { BenchCase, Suite } from '../harness.js';
import { referenceState } from './conn-sync.js';

const ip = (s: string) => ipv4.parseAddr(s)!;
const NODE_MAC = new Uint8Array([2, 0x0e, 198, 18, 0, 11]);
const PEER_MAC = new Uint8Array([2, 0x0e, 198, 18, 0, 12]);
const EXT_MAC = new Uint8Array([2, 0xee, 198, 18, 0, 100]);
const EXT = ip('198.18.0.100');
const LOCAL_POD = ip('198.19.1.10');
const REMOTE_POD = ip('198.19.1.11');
const PEER_POD = ip('198.19.2.10');
const EGRESS_HERE = ip('198.18.0.253');
const EGRESS_THERE = ip('198.18.0.254');
const LOCAL_POD6 = '2001:2:0:1::10';
const REMOTE_POD6 = '2001:2:0:1::11';
const EXT6 = '2001:2::100';
const EGRESS_HERE6 = '2001:2::253';
const BURST = 64;
/** One cluster's tunnel subkey for every authenticated case (the sender's and the receiver's). */
const AUTH_KEY = Uint8Array.from({ length: 16 }, (_, i) => (i * 73 + 11) & 0xff);
const AUTH: TunnelAuthConfig = { key: AUTH_KEY, keyId: 0x5eed, epochMs: 1_700_000_000_000 };

/** `auth`: the uplink MTU grows by the option's 24 bytes, so a 1500-byte pod packet still fits the tunnel. */
/**
 * `metered`: the local egress IP has a rate meter (an Egress's spec.bandwidth) too large to drop anything, so the
 * case measures what the meter costs per packet.
 */
function config(auth = false, metered = false, underlay6 = false): NodeDatapathConfig {
  const c = config4(auth, metered);
  if (!underlay6) return c;
  // The IPv6 underlay: the nodes' IPv6 addresses are their transport addresses, under their IPv4 ones as keys;
  // the uplink MTU leaves the 1500-byte pod packet room for the 70-byte IPv6 outer headers.
  return {
    ...c,
    uplinkMtu: c.uplinkMtu + geneve.OVERHEAD6 - geneve.OVERHEAD,
    v6: {
      ...c.v6!,
      segment: '2001:2::/64',
      underlay: {
        self: '2001:2::11',
        nodes: [
          { key: ip('198.18.0.11'), ip: '2001:2::11' },
          { key: ip('198.18.0.12'), ip: '2001:2::12' },
        ],
      },
    },
  };
}

function config4(auth: boolean, metered: boolean): NodeDatapathConfig {
  return {
    ...(metered ? { egressMeters: new Map([[EGRESS_HERE, { rateKbps: 0xffffffff, burstKbps: 0xffffffff }]]) } : {}),
    nodeName: 'a',
    nodeIp: ip('198.18.0.11'),
    mac: NODE_MAC,
    uplinkMtu: auth ? 1500 + geneveAuth.OVERHEAD : 1500 + geneve.OVERHEAD,
    transport: { addr: ip('198.18.0.0'), len: 24 },
    gateway: 0,
    tunnelPort: 6081,
    podCidr: { addr: ip('198.19.1.0'), len: 24 },
    pods: [
      { key: 'p/local', ip: LOCAL_POD, port: 0, egress: EGRESS_LOCAL, egressIp: EGRESS_HERE },
      { key: 'p/remote', ip: REMOTE_POD, port: 1, egress: EGRESS_REMOTE, egressIp: EGRESS_THERE },
    ],
    nodes: [
      { name: 'a', ip: ip('198.18.0.11'), podCidr: { addr: ip('198.19.1.0'), len: 24 } },
      { name: 'b', ip: ip('198.18.0.12'), podCidr: { addr: ip('198.19.2.0'), len: 24 } },
    ],
    bypass: [{ addr: ip('198.19.64.0'), len: 20 }],
    egressIps: [EGRESS_HERE],
    v6: {
      nodeIp: '2001:2::11',
      pods: [
        { key: 'p/local', ip: LOCAL_POD6, port: 0, egress: EGRESS_LOCAL, egressIp: EGRESS_HERE6, egressNodeIp: 0 },
        {
          key: 'p/remote',
          ip: REMOTE_POD6,
          port: 1,
          egress: EGRESS_REMOTE,
          egressIp: '2001:2::254',
          egressNodeIp: ip('198.18.0.12'),
        },
      ],
      podCidrs: [
        { cidr: '2001:2:0:1::/64', nodeIp: ip('198.18.0.11') },
        { cidr: '2001:2:0:2::/64', nodeIp: ip('198.18.0.12') },
      ],
      nodeIps: ['2001:2::11', '2001:2::12'],
      bypass: [],
      egressIps: [EGRESS_HERE6],
      remotePods: [],
      gateway: null,
      neighbors: [{ ip: EXT6, mac: EXT_MAC }],
    },
  };
}

/** A port that yields copies of a template, the flow's UDP source port set with an incremental checksum. */
class GenPort implements Port {
  readonly name = 'gen';
  readonly batchSize = BURST;
  flows = 1;
  private f = 0;
  /** Template bytes live in their own slot of the same slab (copyWithin allocates nothing). */
  tplOff = 0;
  tplLen = 0;
  /** Offset of the UDP header to patch inside the template, and its original port and checksum. */
  portAt = 0;
  portIsDst = false;
  private basePort = 0;
  private baseCsum = 0;
  /** Seal every yielded Geneve frame (authentication option right after the base header) as this sender. */
  sealer: TunnelAuth | null = null;
  constructor(private readonly slab: Slab) {}

  load(frame: Uint8Array, udpAt: number, dstPort: boolean): void {
    const s = this.slab.alloc();
    this.tplOff = this.slab.start(s);
    this.tplLen = frame.length;
    this.slab.u8.set(frame, this.tplOff);
    this.portAt = udpAt;
    this.portIsDst = dstPort;
    const v = this.slab.dv;
    this.basePort = v.getUint16(this.tplOff + udpAt + (dstPort ? 2 : 0));
    this.baseCsum = v.getUint16(this.tplOff + udpAt + 6);
  }

  recv(b: Burst): number {
    const slab = this.slab;
    const u8 = slab.u8;
    const v = slab.dv;
    const len = this.tplLen;
    const room = Math.min(b.room, BURST);
    let n = 0;
    for (; n < room; n++) {
      const s = slab.alloc();
      if (s < 0) break;
      const j = b.count++;
      const o = slab.start(s);
      u8.copyWithin(o, this.tplOff, this.tplOff + len);
      const port = (this.basePort + this.f) & 0xffff;
      const pa = o + this.portAt + (this.portIsDst ? 2 : 0);
      v.setUint16(pa, port);
      v.setUint16(o + this.portAt + 6, checksum.udpNonZero(checksum.update16(this.baseCsum, this.basePort, port)));
      if (++this.f === this.flows) this.f = 0;
      const sealer = this.sealer;
      if (sealer !== null) {
        geneveAuth.seal(sealer.key, v, o + 14, o + 42, len - 42, o + 50, sealer.seqHi, sealer.seqLo);
        sealer.next();
      }
      b.slot[j] = s;
      b.off[j] = o;
      b.len[j] = len;
      b.l3[j] = -1;
      b.port[j] = 0;
      b.flow[j] = 0;
      b.meta[j] = 0;
      b.oport[j] = 0;
      b.next[j] = 0;
    }
    return n;
  }
  send(): void {}
  close(): void {}
}

/**
 * A port that yields whole datagrams as three fragments each (templates cut from one UDP datagram): the IP ID is
 * new for every datagram, the first fragment's UDP source port is the flow's (its checksum, over the whole
 * datagram, updated incrementally as a sender's would be).
 */
class FragGenPort implements Port {
  readonly name = 'frag-gen';
  readonly batchSize = BURST;
  flows = 1;
  private f = 0;
  private id = 0;
  private readonly tplOff: number[] = [];
  private readonly tplLen: number[] = [];
  private basePort = 0;
  private baseCsum = 0;
  constructor(private readonly slab: Slab) {}

  load(datagram: Uint8Array, chunk: number): void {
    const v0 = new DataView(datagram.buffer);
    const l4 = datagram.subarray(20);
    for (let at = 0; at < l4.length; at += chunk) {
      const len = Math.min(chunk, l4.length - at);
      const f = new Uint8Array(20 + len);
      f.set(datagram.subarray(0, 20), 0);
      f.set(l4.subarray(at, at + len), 20);
      const v = new DataView(f.buffer);
      v.setUint16(2, 20 + len);
      v.setUint16(6, (at >> 3) | (at + len < l4.length ? ipv4.FLAG_MF : 0));
      ipv4.fillChecksum(v, 0);
      const s = this.slab.alloc();
      this.tplOff.push(this.slab.start(s));
      this.tplLen.push(f.length);
      this.slab.u8.set(f, this.slab.start(s));
    }
    this.basePort = v0.getUint16(20);
    this.baseCsum = v0.getUint16(26);
  }

  recv(b: Burst): number {
    const slab = this.slab;
    const u8 = slab.u8;
    const v = slab.dv;
    const pieces = this.tplOff.length;
    let n = 0;
    while (n + pieces <= Math.min(b.room, BURST)) {
      const port = (this.basePort + this.f) & 0xffff;
      if (++this.f === this.flows) this.f = 0;
      const id = (this.id = (this.id + 1) & 0xffff);
      for (let k = 0; k < pieces; k++) {
        const s = slab.alloc();
        if (s < 0) return n;
        const j = b.count++;
        const o = slab.start(s);
        const len = this.tplLen[k]!;
        u8.copyWithin(o, this.tplOff[k]!, this.tplOff[k]! + len);
        v.setUint16(o + 10, checksum.update16(v.getUint16(o + 10), v.getUint16(o + 4), id));
        v.setUint16(o + 4, id);
        if (k === 0) {
          v.setUint16(o + 20, port);
          v.setUint16(o + 26, checksum.udpNonZero(checksum.update16(this.baseCsum, this.basePort, port)));
        }
        b.slot[j] = s;
        b.off[j] = o;
        b.len[j] = len;
        b.l3[j] = -1;
        b.port[j] = 0;
        b.flow[j] = 0;
        b.meta[j] = 0;
        b.oport[j] = 0;
        b.next[j] = 0;
        n++;
      }
    }
    return n;
  }
  send(): void {}
  close(): void {}
}

/** The uplink: counts and discards. */
class Sink implements Port {
  readonly name = 'sink';
  readonly batchSize = BURST;
  packets = 0;
  recv(): number {
    return 0;
  }
  send(b: Burst): void {
    this.packets += b.count;
  }
  close(): void {}
}

function udpPacket(src: number, dst: number, sport: number, dport: number, total: number): Uint8Array {
  const p = new Uint8Array(total);
  const v = new DataView(p.buffer);
  ipv4.emit(
    { tos: 0, id: 1, flagsFrag: 0, ttl: 64, proto: 17, src, dst, options: new Uint8Array(0), payloadLen: total - 20 },
    v,
    0,
  );
  udp.emit({ srcPort: sport, dstPort: dport, payloadLen: total - 28 }, v, 20);
  for (let i = 28; i < total; i++) p[i] = i & 0xff;
  udp.fillChecksum(v, 0, 20);
  return p;
}

/** An IPv6 UDP packet of `total` bytes (40-byte header, no extension header). */
function udpPacket6(src: string, dst: string, sport: number, dport: number, total: number): Uint8Array {
  const p = new Uint8Array(total);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, total - 40);
  p[6] = 17;
  p[7] = 64;
  p.set(ipv6.parseAddr(src)!, 8);
  p.set(ipv6.parseAddr(dst)!, 24);
  udp.emit({ srcPort: sport, dstPort: dport, payloadLen: total - 48 }, v, 40);
  for (let i = 48; i < total; i++) p[i] = i & 0xff;
  udp.fillChecksum6(v, 0, 40);
  return p;
}

function frame(dstMac: Uint8Array, srcMac: Uint8Array, pkt: Uint8Array, type = 0x0800): Uint8Array {
  const f = new Uint8Array(14 + pkt.length);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  f.set(pkt, 14);
  return f;
}

function geneveFrame(inner: Uint8Array, auth: boolean): Uint8Array {
  const tpl = geneve.buildTemplate({
    srcMac: PEER_MAC,
    dstMac: NODE_MAC,
    srcIp: ip('198.18.0.12'),
    dstIp: EGRESS_HERE,
    vni: 0,
    ...(auth ? { options: geneveAuth.optionBytes(AUTH.keyId), critical: true } : {}),
  });
  const buf = new Uint8Array(256 + inner.length);
  buf.set(inner, 128);
  const v = new DataView(buf.buffer);
  const start = geneve.encap(v, 128, inner.length, tpl, 4242);
  return buf.slice(start, 128 + inner.length);
}

type PathName =
  | 'encap'
  | 'snat'
  | 'decap-snat'
  | 'reply'
  | 'unsnat'
  | 'encap6'
  | 'encap6-u6'
  | 'snat6'
  | 'unsnat6'
  | 'gen'
  | 'gen+seal'
  | 'snat-frag';

interface Rig {
  dp: NodeDatapath | null;
  gen: GenPort | FragGenPort;
  sink: Sink;
  input: 'pods' | 'uplink';
  member: number;
  now: number;
}

/** A datapath primed for one path: neighbours resolved, every conntrack entry of the flow set created. */
function rig(
  path: PathName,
  size: number,
  flows: number,
  auth = false,
  metered = false,
  udpTimeoutS: number | null = null,
): Rig {
  const slab = new Slab({ slots: 4096 });
  const gen = new GenPort(slab);
  const sink = new Sink();
  const tunOff = 14 + (auth ? geneveAuth.OVERHEAD : geneve.OVERHEAD) + 20; // inner UDP header in a Geneve frame
  if (path === 'gen') {
    gen.load(udpPacket(LOCAL_POD, EXT, 1024, 9, size), 20, false);
    gen.flows = flows;
    return { dp: null, gen, sink, input: 'pods', member: 0, now: 0 };
  }
  if (path === 'gen+seal') {
    const inner = frame(geneve.GLOBAL_VIRTUAL_MAC, PEER_MAC, udpPacket(PEER_POD, EXT, 1024, 9, size));
    gen.load(geneveFrame(inner, true), tunOff, false);
    gen.flows = flows;
    gen.sealer = new TunnelAuth(AUTH);
    return { dp: null, gen, sink, input: 'uplink', member: 0, now: 0 };
  }
  const fgen = new FragGenPort(slab);
  const dp = new NodeDatapath(slab, config(auth, metered, path === 'encap6-u6'), {
    conntrack: { seed: 1, maxConnections: 262144, ...(udpTimeoutS !== null ? { timeouts: { udp: udpTimeoutS } } : {}) },
    ipv6Connections: 262144,
    neighbor: { staleMs: 1e12 },
    tunnelAuth: auth ? AUTH : null,
  });
  // The peer's IP and MAC pinned, as its authenticated heartbeats would (geneve-decap accepts nothing else).
  dp.pinPeer(ip('198.18.0.12'), ethernet.macHi16(PEER_MAC), ethernet.macLo32(PEER_MAC));
  if (auth) gen.sealer = new TunnelAuth(AUTH);
  dp.attachUplink(sink);
  const idle = new Sink();
  const own = path === 'snat' || path === 'snat6' || path === 'unsnat' || path === 'unsnat6';
  dp.pods.add(own ? gen : path === 'snat-frag' ? fgen : idle);
  dp.pods.add(path === 'encap' || path === 'encap6' || path === 'encap6-u6' ? gen : idle);
  const neigh = dp.state.neigh;
  for (const [addr, mac] of [
    [EXT, EXT_MAC],
    [EGRESS_THERE, PEER_MAC],
    [ip('198.18.0.12'), PEER_MAC],
  ] as const) {
    neigh.create(addr, 0);
    neigh.learn(addr, ethernet.macHi16(mac), ethernet.macLo32(mac), 0, false);
  }
  // node-b's heartbeats would pin its Geneve source (geneve-decap drops unpinned peers).
  dp.pinPeer(ip('198.18.0.12'), ethernet.macHi16(PEER_MAC), ethernet.macLo32(PEER_MAC));
  const r: Rig = { dp, gen, sink, input: 'pods', member: 0, now: 1 };
  if (path === 'encap') {
    gen.load(udpPacket(REMOTE_POD, EXT, 1024, 9, size), 20, false);
    r.member = 1;
  } else if (path === 'snat') {
    gen.load(udpPacket(LOCAL_POD, EXT, 1024, 9, size), 20, false);
  } else if (path === 'encap6' || path === 'encap6-u6') {
    gen.load(udpPacket6(REMOTE_POD6, EXT6, 1024, 9, size), 40, false);
    r.member = 1;
  } else if (path === 'snat6') {
    gen.load(udpPacket6(LOCAL_POD6, EXT6, 1024, 9, size), 40, false);
  } else if (path === 'unsnat' || path === 'unsnat6') {
    // Replies to the local pod: its connections are made through the SNAT path first (ports kept).
    const v6 = path === 'unsnat6';
    gen.load(
      v6 ? udpPacket6(LOCAL_POD6, EXT6, 1024, 9, size) : udpPacket(LOCAL_POD, EXT, 1024, 9, size),
      v6 ? 40 : 20,
      false,
    );
    gen.flows = flows;
    for (let k = 0; k < Math.ceil(flows / BURST); k++) dp.pollPod(0, 1);
    gen.load(
      v6
        ? frame(NODE_MAC, EXT_MAC, udpPacket6(EXT6, EGRESS_HERE6, 9, 1024, size), 0x86dd)
        : frame(NODE_MAC, EXT_MAC, udpPacket(EXT, EGRESS_HERE, 9, 1024, size)),
      14 + (v6 ? 40 : 20),
      true,
    );
    r.input = 'uplink';
  } else if (path === 'snat-frag') {
    fgen.load(udpPacket(LOCAL_POD, EXT, 1024, 9, 3868), 1424);
    fgen.flows = flows;
    r.gen = fgen;
  } else if (path === 'decap-snat') {
    const inner = frame(geneve.GLOBAL_VIRTUAL_MAC, PEER_MAC, udpPacket(PEER_POD, EXT, 1024, 9, size));
    gen.load(geneveFrame(inner, auth), tunOff, false);
    r.input = 'uplink';
  } else {
    // Replies to the remote node's pod: its connections are made through the decap-snat path first.
    const inner = frame(geneve.GLOBAL_VIRTUAL_MAC, PEER_MAC, udpPacket(PEER_POD, EXT, 1024, 9, size));
    gen.load(geneveFrame(inner, auth), tunOff, false);
    gen.flows = flows;
    dp.attachUplink(gen);
    for (let k = 0; k < Math.ceil(flows / BURST); k++) dp.pollUplink(1);
    gen.sealer = null; // the replies come from outside
    gen.load(frame(NODE_MAC, EXT_MAC, udpPacket(EXT, EGRESS_HERE, 9, 1024, size)), 14 + 20, true);
    dp.attachUplink(sink);
    r.input = 'uplink';
  }
  r.gen.flows = flows;
  if (r.input === 'uplink') {
    const upl: Port = {
      name: 'uplink',
      batchSize: BURST,
      recv: (b) => gen.recv(b),
      send: (b) => sink.send(b),
      close() {},
    };
    dp.attachUplink(upl);
  }
  // Prime: one pass over every flow creates the conntrack entries (the timed runs are steady state).
  for (let k = 0; k < Math.ceil(flows / BURST) + 1; k++) poll(r);
  return r;
}

function poll(r: Rig): number {
  const dp = r.dp!;
  return r.input === 'pods' ? dp.pollPod(r.member, r.now) : dp.pollUplink(r.now);
}

/** Per-stage ns/packet of `rounds` instrumented rounds. */
function breakdown(r: Rig, rounds: number): Record<string, string> {
  const p = r.dp!.pipeline;
  const stages = p.stages as Stage[];
  const acc = new Float64Array(stages.length);
  const cnt = new Float64Array(stages.length);
  const orig = stages.map((s) => s.process.bind(s));
  stages.forEach((s, k) => {
    (s as { process: Stage['process'] }).process = (b, sel, n) => {
      const t0 = performance.now();
      const m = orig[k]!(b, sel, n);
      acc[k] += performance.now() - t0;
      cnt[k] += n;
      return m;
    };
  });
  for (let i = 0; i < rounds; i++) poll(r);
  stages.forEach((s, k) => ((s as { process: Stage['process'] }).process = orig[k]!));
  const out: Record<string, string> = {};
  stages.forEach((s, k) => {
    if (cnt[k]! > 0) out[s.name] = ((acc[k]! * 1e6) / cnt[k]!).toFixed(1) + 'ns';
  });
  return out;
}

const cases: BenchCase[] = [];
for (const size of [64, 512, 1500]) {
  for (const flows of [1000, 100_000]) {
    const tag = `${size}B/${flows === 1000 ? '1k' : '100k'}`;
    let g: Rig | null = null;
    cases.push({
      name: `gen/${tag}`,
      ops: BURST,
      setup: () => (g = rig('gen', size, flows)),
      fn: () => {
        const b = burstFor(g!.gen);
        g!.gen.recv(b);
        b.freeAll();
      },
    });
    let sg: Rig | null = null;
    cases.push({
      name: `gen+seal/${tag}`,
      ops: BURST,
      baseline: `pipeline/gen/${tag}`,
      setup: () => (sg = rig('gen+seal', size, flows)),
      fn: () => {
        const b = burstFor(sg!.gen);
        sg!.gen.recv(b);
        b.freeAll();
      },
    });
    const paths = [
      ['encap', false, false],
      ['snat', false, false],
      ['snat', false, true],
      ['decap-snat', false, false],
      ['decap-snat', false, true],
      ['reply', false, false],
      ['encap', true, false],
      ['decap-snat', true, false],
      ['reply', true, false],
      ['unsnat', false, false],
      ['encap6', false, false],
      ['encap6-u6', false, false],
      ['snat6', false, false],
      ['unsnat6', false, false],
    ] as const;
    /** IPv6 cases: ratio to the IPv4 case of the same path, same run (docs/ipv6.md §2). */
    const v4of: Partial<Record<PathName, PathName>> = {
      encap6: 'encap',
      'encap6-u6': 'encap6', // the IPv6 underlay against the IPv4 one, IPv6 inner both
      snat6: 'snat',
      unsnat6: 'unsnat',
    };
    for (const [path, auth, metered] of paths) {
      let r: Rig | null = null;
      cases.push({
        name: `${path}${auth ? '+auth' : ''}${metered ? '+meter' : ''}/${tag}`,
        ops: BURST,
        baseline:
          auth || metered
            ? `pipeline/${path}/${tag}`
            : v4of[path]
              ? `pipeline/${v4of[path]}/${tag}`
              : `pipeline/gen/${tag}`,
        setup: () => (r = rig(path, size, flows, auth, metered)),
        fn: () => {
          if (poll(r!) !== BURST) throw new Error(`${path}: short burst`);
        },
        facts: () => {
          const out = r!.sink.packets;
          const f: Record<string, string | number> = { ...breakdown(r!, 200) };
          const drops = r!.dp!.pipeline.counters.get('drop');
          if (drops) {
            f['drops'] = drops;
            for (const [stage, x] of Object.entries(r!.dp!.pipeline.snapshot()))
              for (const [k, n] of Object.entries(x.counters))
                if (k.startsWith('drop') && n > 0) f[`${stage}.${k}`] = n;
          }
          f['out'] = out > 0 ? 'ok' : 'none';
          return f;
        },
      });
    }
    if (size === 1500) {
      let r: Rig | null = null;
      cases.push({
        name: `snat-frag/3868B/${flows === 1000 ? '1k' : '100k'}`,
        ops: Math.floor(BURST / 3),
        baseline: `pipeline/snat/${tag}`,
        setup: () => (r = rig('snat-frag', size, flows)),
        fn: () => {
          if (poll(r!) !== 3 * Math.floor(BURST / 3)) throw new Error('snat-frag: short burst');
        },
        facts: () => {
          const c = r!.dp!.pipeline.snapshot();
          return {
            ...breakdown(r!, 200),
            'defrag.completed': c['defrag']!.counters['completed']!,
            'snat.fragment': c['snat']!.counters['fragment']!,
            drops: r!.dp!.pipeline.counters.get('drop'),
          };
        },
      });
    }
  }
}

/**
 * Sync on vs off (docs/conntrack-sync.md), 64-byte packets through `snat` (the path whose connections are
 * replicated), with the agent's housekeeping: every 10 ms of wall-clock time, as the agent's timer, the datapath's
 * round (expiry) and, in the `+sync` rows, `ConnSync.tick` (scan 8192 records, export, encode, HMAC; the messages
 * are counted, not sent: the send syscall is left out). `+tick` is the baseline of `+tick+sync`, same run. The
 * refresh interval is 1 s instead of the agent's 5 s, so that established connections are refreshed within the
 * timed seconds, at five times the agent's rate: an upper bound of the steady state.
 * `snat+tick` is established traffic (1 k / 100 k flows, every connection replicated before timing: the steady
 * state); `snat-new+tick` makes every packet a new connection (60 000 source ports over a ring, a UDP timeout of
 * 20 ms: each port's connection has timed out when the ring comes back to it), the worst case for sync.
 */
interface TickRig extends Rig {
  sync: ConnSync | null;
  nextTick: number;
  syncBytes: number;
  t0: number;
}

function tickRig(flows: number, newConns: boolean, withSync: boolean): TickRig {
  const r = rig('snat', 64, flows, false, false, newConns ? 0.02 : null) as TickRig;
  r.sync = null;
  r.nextTick = 0;
  r.syncBytes = 0;
  r.t0 = performance.now();
  if (withSync) {
    const ct = r.dp!.state.ct;
    const s = new ConnSync({
      self: 'node-c',
      selfIp: ip('198.18.0.13'),
      incarnation: 10,
      key: SYNC_KEY,
      table: ct,
      refreshMs: SYNC_REFRESH_MS,
    });
    s.echoOf = () => 10;
    s.update(referenceState(), new Set(['node-a', 'node-b', 'node-c']), [EGRESS_HERE], 0);
    r.sync = s;
    // Steady state: every connection of the established set sent once before timing.
    const now = performance.now() - r.t0 + 1;
    for (let k = 0; k < 4 * Math.ceil(ct.recordCount / 8192) + 64; k++) s.tick(now);
  }
  return r;
}

function tickPoll(r: TickRig): number {
  const now = performance.now() - r.t0 + 1;
  r.now = now;
  if (now >= r.nextTick) {
    r.nextTick = now + 10;
    r.dp!.tick(now, 4096);
    if (r.sync) for (const m of r.sync.tick(now)) r.syncBytes += m.payload.length;
  }
  return poll(r);
}

const SYNC_REFRESH_MS = 1000;
const SYNC_KEY = makeKey(new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff));
for (const [kind, flows, tag] of [
  ['snat', 1000, '64B/1k'],
  ['snat', 100_000, '64B/100k'],
  ['snat-new', 60_000, '64B/60k'],
] as const) {
  for (const withSync of [false, true]) {
    let r: TickRig | null = null;
    let t1 = 0;
    cases.push({
      name: `${kind}+tick${withSync ? '+sync' : ''}/${tag}`,
      ops: BURST,
      baseline: withSync ? `pipeline/${kind}+tick/${tag}` : `pipeline/gen/64B/${flows === 1000 ? '1k' : '100k'}`,
      setup: () => {
        r = tickRig(flows, kind === 'snat-new', withSync);
        t1 = performance.now();
      },
      fn: () => {
        if (tickPoll(r!) !== BURST) throw new Error(`${kind}: short burst`);
      },
      facts: () => {
        const ct = r!.dp!.state.ct;
        const secs = (performance.now() - t1) / 1000;
        const f: Record<string, string | number> = {
          created: ct.counterSnapshot()['created'] ?? 0,
          live: ct.size,
        };
        if (r!.sync) {
          const s = r!.sync.snapshot();
          f['replicated'] = s['replicated']!;
          f['recordsSent'] = s['records-sent']!;
          f['removalsSent'] = s['removals-sent']!;
          f['syncKBps'] = (r!.syncBytes / 1024 / secs).toFixed(0);
          f['droppedQueueFull'] = s['dropped-queue-full']!;
        }
        return f;
      },
    });
  }
}

const bursts = new WeakMap<GenPort | FragGenPort, Burst>();
function burstFor(g: GenPort | FragGenPort): Burst {
  let b = bursts.get(g);
  if (!b) bursts.set(g, (b = new Burst((g as unknown as { slab: Slab }).slab, BURST)));
  return b;
}

const suite: Suite = { name: 'pipeline', cases };
export default suite;
