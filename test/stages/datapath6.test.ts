/**
 * A dual-stack node's datapath on in-memory ports (docs/ipv6.md §2): node-a of the stage tests with its IPv6
 * side (cases/base6.ts). Inputs and expected outputs are built with scapy, independently of engine/wire, and
 * compared byte for byte; tshark then checks every checksum of the IPv6 packets the node sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { Slab } from '../../engine/index.js';
import { writeCaptureFile } from '../../engine/io/index.js';
import type { NodeDatapathConfig } from '../../engine/stages/index.js';
import { baseConfig, HOST_MAC, ip, NODE_MAC, OTHER_MAC, PEER_MAC } from '../support/node-config.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { ListPort } from '../support/list-port.js';
import { CHECKSUM_PREFS, checksumVerdictLines, hasTshark } from '../support/tshark.js';
import { base6, ROUTER_MAC } from './cases/base6.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const S = (...exprs: string[]) => scapyBytes(exprs);
const WEB1 = '2001:2:0:a1::5';
const EXT = '2001:2::100';

/** What scapy reads in an ICMPv6 error (given as hex, raw IPv6): its first ICMPv6 layer and the quoted packet. */
const ICMP6_FIELDS = `
def fields(h):
    p = IPv6(bytes.fromhex(h))
    e = p[[l for l in p.layers() if l.__name__.startswith('ICMPv6')][0]]
    d = {'layer': e.__class__.__name__, 'type': e.type, 'code': e.code, 'src': p.src, 'dst': p.dst, 'len': len(p)}
    if hasattr(e, 'mtu'): d['mtu'] = e.mtu
    d.update(qsrc=p[IPerror6].src, qdst=p[IPerror6].dst)
    if p.haslayer(UDPerror): d.update(qsport=p[UDPerror].sport, qdport=p[UDPerror].dport)
    return json.dumps(d).encode()
`;

/** Decode each hex packet with scapy (ICMP6_FIELDS). */
function decode(pkts: readonly string[]): Record<string, unknown>[] {
  return scapyBytes(
    pkts.map((h) => `fields('${h}')`),
    ICMP6_FIELDS,
  ).map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as Record<string, unknown>);
}

/** Everything the node sent, for tshark: uplink frames and pod packets (raw IP). */
const sentUplink: Uint8Array[] = [];
const sentPods: Uint8Array[] = [];

function build(cfg: NodeDatapathConfig = { ...baseConfig(), v6: base6() }) {
  const slab = new Slab({ slots: 512 });
  const dp = new NodeDatapath(slab, cfg, { conntrack: { seed: 7 } });
  const uplink = new ListPort('uplink');
  dp.attachUplink(uplink);
  dp.attachControl(new ListPort('control'));
  const pods = [new ListPort('web-1'), new ListPort('other'), new ListPort('web-2')];
  for (const p of pods) dp.pods.add(p);
  let now = 1000;
  return {
    slab,
    dp,
    fromPod: (p: number, ...pkts: Uint8Array[]) => {
      pods[p]!.queue.push(...pkts);
      dp.pollPod(p, now++);
    },
    fromUplink: (...frames: Uint8Array[]) => {
      uplink.queue.push(...frames);
      dp.pollUplink(now++);
    },
    up: () => {
      const out = uplink.sent.splice(0);
      sentUplink.push(...out);
      return out.map(hex);
    },
    pod: (p: number) => {
      const out = pods[p]!.sent.splice(0);
      sentPods.push(...out);
      return out.map(hex);
    },
  };
}

describe.skipIf(!hasScapy())('dual-stack node datapath (scapy-built packets)', () => {
  it('SNAT66s a pod to its IPv6 egress IP and un-SNATs the reply (UDP, TCP behind an extension header, ICMPv6 echo)', () => {
    const { slab, dp, fromPod, fromUplink, up, pod } = build();
    const flows = [
      ['UDP(sport=40000, dport=53)/b"query"', 'UDP(sport=53, dport=40000)/b"answer"'],
      [
        "IPv6ExtHdrDestOpt()/TCP(sport=41000, dport=443, flags='S', seq=1000)",
        "TCP(sport=443, dport=41000, flags='SA', seq=5000, ack=1001)",
      ],
      ["ICMPv6EchoRequest(id=7, seq=1, data=b'ping')", "ICMPv6EchoReply(id=7, seq=1, data=b'ping')"],
    ];
    for (const [req, rep] of flows) {
      const [p, out, reply, delivered] = S(
        `IPv6(src='${WEB1}', dst='${EXT}')/${req}`,
        `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/${req}`,
        `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2::253')/${rep}`,
        `IPv6(src='${EXT}', dst='${WEB1}', hlim=63)/${rep}`,
      );
      fromPod(0, p!);
      expect(up()).toEqual([hex(out!)]);
      fromUplink(reply!);
      expect(pod(0)).toEqual([hex(delivered!)]);
    }
    const snap = dp.pipeline.snapshot();
    expect(snap['pod-ingress6']!.counters['egress-local']).toBe(3);
    expect(snap['snat6']!.counters['new']).toBe(3);
    expect(snap['unsnat6']!.counters['un-snat']).toBe(3);
    expect(dp.state.ct6.ct.size).toBe(3);
    expect(dp.state.ct.size).toBe(0); // the IPv4 table saw nothing
    expect(slab.available).toBe(slab.slots);
  });

  it('masquerades a pod without an IPv6 Egress to the node IPv6 address, via the router off the segment', () => {
    const { fromPod, fromUplink, up, pod } = build();
    const [p, out, reply, delivered] = S(
      "IPv6(src='2001:2:0:a1::6', dst='2001:2:ff::1')/UDP(sport=5000, dport=123)/b'ntp'",
      `Ether(dst='${ROUTER_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::11', dst='2001:2:ff::1', hlim=63)/UDP(sport=5000, dport=123)/b'ntp'`,
      `Ether(dst='${NODE_MAC}', src='${ROUTER_MAC}')/IPv6(src='2001:2:ff::1', dst='2001:2::11', hlim=60)/UDP(sport=123, dport=5000)/b'time'`,
      "IPv6(src='2001:2:ff::1', dst='2001:2:0:a1::6', hlim=59)/UDP(sport=123, dport=5000)/b'time'",
    );
    fromPod(1, p!);
    expect(up()).toEqual([hex(out!)]);
    fromUplink(reply!);
    expect(pod(1)).toEqual([hex(delivered!)]);
  });

  it('NDP on the uplink: a packet to an unknown neighbour is held, an NS goes out, the NA releases it; NS for owned addresses answered', () => {
    const { dp, fromPod, fromUplink, up } = build({ ...baseConfig(), v6: { ...base6(), segment: '2001:2::/64' } });
    const HOST2 = '2001:2::101';
    const [p, ns, na, out, ask, answer, p2] = S(
      `IPv6(src='${WEB1}', dst='${HOST2}')/UDP(sport=40000, dport=53)/b'query'`,
      `Ether(dst='33:33:ff:00:01:01', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='ff02::1:ff00:101', hlim=255)/ICMPv6ND_NS(tgt='${HOST2}')/ICMPv6NDOptSrcLLAddr(lladdr='${NODE_MAC}')`,
      `Ether(dst='${NODE_MAC}', src='${OTHER_MAC}')/IPv6(src='${HOST2}', dst='2001:2::253', hlim=255)/ICMPv6ND_NA(tgt='${HOST2}', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${OTHER_MAC}')`,
      `Ether(dst='${OTHER_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${HOST2}', hlim=63)/UDP(sport=40000, dport=53)/b'query'`,
      `Ether(dst='33:33:ff:00:02:53', src='${OTHER_MAC}')/IPv6(src='${HOST2}', dst='ff02::1:ff00:253', hlim=255)/ICMPv6ND_NS(tgt='2001:2::253')/ICMPv6NDOptSrcLLAddr(lladdr='${OTHER_MAC}')`,
      `Ether(dst='${OTHER_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${HOST2}', hlim=255)/ICMPv6ND_NA(tgt='2001:2::253', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${NODE_MAC}')`,
      `IPv6(src='${WEB1}', dst='2001:2::102')/UDP(sport=40001, dport=53)/b'query'`,
    );
    fromPod(0, p!);
    expect(up()).toEqual([hex(ns!)]);
    fromUplink(na!);
    dp.tick(2000);
    expect(up()).toEqual([hex(out!)]);
    fromUplink(ask!);
    expect(up()).toEqual([hex(answer!)]);
    // Unanswered: three NS a second apart, then the packet is a counted drop and its connection is gone.
    fromPod(0, p2!);
    for (let t = 3000; t <= 7000; t += 1001) dp.tick(t);
    expect(up().length).toBe(3);
    const snap = dp.pipeline.snapshot();
    expect(snap['uplink-out6']!.counters).toMatchObject({
      parked: 2,
      released: 1,
      'ndp-solicit': 4,
      'drop-ndp-timeout': 1,
    });
    expect(snap['ndp']!.counters).toMatchObject({ resolved: 1, replied: 1, updated: 1 });
    expect(dp.state.ct6.ct.size).toBe(1);
  });

  it('delivers IPv6 between local pods untranslated and tunnels the IPv6 of a pod whose Egress is on node-c', () => {
    const { dp, fromPod, up, pod } = build();
    dp.pinPeer(ip('198.18.0.13'), 0x0200, 0x0000000c); // node-c's MAC, from its heartbeats
    const [local, remote] = S(
      `IPv6(src='${WEB1}', dst='2001:2:0:a1::6')/UDP(sport=1, dport=2)/b'hi'`,
      `IPv6(src='2001:2:0:a1::7', dst='${EXT}')/UDP(sport=40000, dport=53)/b'query'`,
    );
    fromPod(0, local!);
    expect(pod(1)).toEqual([hex(local!)]);
    fromPod(2, remote!);
    const [frame] = up();
    // The outer UDP source port is the flow hash's (implementation-defined entropy): taken from the frame.
    const sport = parseInt(frame!.slice(68, 72), 16);
    const [want] = S(
      `Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.0.13', flags='DF', ttl=64, id=0)/UDP(sport=${sport}, dport=6081, chksum=0)/GENEVE(proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${NODE_MAC}', type=0x86dd)/IPv6(src='2001:2:0:a1::7', dst='${EXT}')/UDP(sport=40000, dport=53)/b'query'`,
    );
    expect(frame).toBe(hex(want!));
  });

  it('keeps IPv4 as it was on a dual-stack node, and drops IPv6 on a node without an IPv6 side', () => {
    const dual = build();
    const [arp] = S(
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${HOST_MAC}')/ARP(op=1, hwsrc='${HOST_MAC}', psrc='198.18.0.100', pdst='198.18.0.11')`,
    );
    dual.fromUplink(arp!);
    dual.up();
    const [p4, out4] = S(
      "IP(src='10.244.1.5', dst='198.18.0.100', id=7)/UDP(sport=40000, dport=53)/b'query'",
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.253', dst='198.18.0.100', id=7, ttl=63)/UDP(sport=40000, dport=53)/b'query'`,
    );
    dual.fromPod(0, p4!);
    expect(dual.up()).toEqual([hex(out4!)]);
    const v4only = build(baseConfig());
    const [p6, f6] = S(
      `IPv6(src='${WEB1}', dst='${EXT}')/UDP(sport=40000, dport=53)`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2::253')/UDP(sport=53, dport=40000)`,
    );
    v4only.fromPod(0, p6!);
    v4only.fromUplink(f6!);
    const snap = v4only.dp.pipeline.snapshot();
    expect(snap['pod-ingress']!.counters['drop-not-ipv4']).toBe(1);
    expect(snap['uplink-ingress']!.counters['drop-ipv6']).toBe(1);
    expect(v4only.up()).toEqual([]);
  });

  it('accepts a TCP connection from outside to a pod IPv6 address: SYN-ACK and data leave un-NATed; forged packets are counted drops', () => {
    const { dp, fromPod, fromUplink, up, pod } = build();
    const tcp = (sport: number, dport: number, flags: string, seq: number, ack = 0, data = '') =>
      `TCP(sport=${sport}, dport=${dport}, flags='${flags}', seq=${seq}, ack=${ack}, window=8192)${data}`;
    const fromExt = (l4: string, hlim = 64) =>
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='${WEB1}', hlim=${hlim})/${l4}`;
    const toPod = (l4: string) => `IPv6(src='${EXT}', dst='${WEB1}', hlim=63)/${l4}`;
    const fromWeb = (l4: string, hlim = 64) => `IPv6(src='${WEB1}', dst='${EXT}', hlim=${hlim})/${l4}`;
    const onWire = (l4: string) => `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/${fromWeb(l4, 63)}`;
    const syn = tcp(5000, 80, 'S', 1000);
    const synAck = tcp(80, 5000, 'SA', 7000, 1001);
    const ack = tcp(5000, 80, 'A', 1001, 7001, "/b'GET /'");
    const data = tcp(80, 5000, 'PA', 7001, 1006, "/b'200 OK'");
    const [synIn, synPod, saPod, saOut, ackIn, ackPod, dataPod, dataOut] = S(
      fromExt(syn),
      toPod(syn),
      fromWeb(synAck),
      onWire(synAck),
      fromExt(ack),
      toPod(ack),
      fromWeb(data),
      onWire(data),
    );
    fromUplink(synIn!);
    expect(pod(0)).toEqual([hex(synPod!)]);
    fromPod(0, saPod!);
    expect(up()).toEqual([hex(saOut!)]); // from the pod address, not the pod's egress IP 2001:2::253
    fromUplink(ackIn!);
    expect(pod(0)).toEqual([hex(ackPod!)]);
    fromPod(0, dataPod!);
    expect(up()).toEqual([hex(dataOut!)]);

    // The pod's own flow through SNAT66, then forged packets at the pod address: none reaches the pod.
    const [q, qOut, forged, ackOnly, again, againOut] = S(
      fromWeb("UDP(sport=40000, dport=53)/b'query'"),
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'query'`,
      fromExt("UDP(sport=53, dport=40000)/b'forged'"),
      fromExt(tcp(6000, 81, 'A', 1, 1)),
      fromWeb("UDP(sport=40000, dport=53)/b'again'"),
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/UDP(sport=40000, dport=53)/b'again'`,
    );
    fromPod(0, q!);
    expect(up()).toEqual([hex(qOut!)]);
    fromUplink(forged!, ackOnly!);
    expect(pod(0)).toEqual([]);
    fromPod(0, again!);
    expect(up()).toEqual([hex(againOut!)]); // still SNATed: the forged packet opened nothing
    const snap = dp.pipeline.snapshot();
    expect(snap['unsnat6']!.counters['to-pod-address']).toBe(4);
    expect(snap['inbound6']!.counters).toMatchObject({
      new: 1,
      established: 1,
      'drop-snat-flow': 1,
      'drop-ct-invalid': 1,
    });
    expect(snap['pod-ingress6']!.counters['reply-no-nat']).toBe(2);
    expect(snap['snat6']!.counters['new']).toBe(1);
    expect(dp.state.ctIn6.ct.size).toBe(1);
    expect(dp.state.ct6.ct.size).toBe(1);
    expect(dp.state.ctIn.size).toBe(0); // the IPv4 tables saw nothing
  });

  it('ICMPv6 errors about a connection a pod accepted: a router error reaches the pod, the pod error leaves un-NATed; an oversized packet to the pod gets Packet Too Big', () => {
    const { slab, dp, fromPod, fromUplink, up, pod } = build();
    const syn = "TCP(sport=5000, dport=80, flags='S', seq=1000)";
    const synAck = "TCP(sport=80, dport=5000, flags='SA', seq=7000, ack=1001)";
    const routerErr = `ICMPv6DestUnreach(code=1)/IPv6(src='${WEB1}', dst='${EXT}', hlim=63)/${synAck}`;
    const podErr = `ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${WEB1}', hlim=63)/TCP(sport=5000, dport=80, flags='A', seq=1001, ack=7001)`;
    // UDP: tshark checks a quoted TCP checksum over the 1192 bytes quoted, and calls every truncated one bad.
    const big = `IPv6(src='${EXT}', dst='${WEB1}')/UDP(sport=5000, dport=80)/(b'y'*1420)`;
    const [synIn, saPod, errIn, errPod, podErrIn, podErrOut, bigIn] = S(
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='${WEB1}')/${syn}`,
      `IPv6(src='${WEB1}', dst='${EXT}')/${synAck}`,
      `Ether(dst='${NODE_MAC}', src='${ROUTER_MAC}')/IPv6(src='2001:2::1', dst='${WEB1}')/${routerErr}`,
      `IPv6(src='2001:2::1', dst='${WEB1}', hlim=63)/${routerErr}`,
      `IPv6(src='${WEB1}', dst='${EXT}')/${podErr}`,
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IPv6(src='${WEB1}', dst='${EXT}', hlim=63)/${podErr}`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/${big}`,
    );
    fromUplink(synIn!);
    expect(pod(0)).toHaveLength(1);
    fromPod(0, saPod!);
    expect(up()).toHaveLength(1);
    fromUplink(errIn!);
    expect(pod(0)).toEqual([hex(errPod!)]); // un-NATed: the pod's own address was the quote's source all along
    fromPod(0, podErrIn!);
    expect(up()).toEqual([hex(podErrOut!)]); // from the pod address, not through its Egress
    fromUplink(bigIn!);
    expect(pod(0)).toEqual([]);
    const [ptb] = decode(up().map((h) => h.slice(28))); // without the Ethernet header
    expect(ptb).toMatchObject({
      layer: 'ICMPv6PacketTooBig',
      src: '2001:2::11',
      dst: EXT,
      mtu: 1450,
      len: 1280,
      qsrc: EXT,
      qdst: WEB1,
    });
    const snap = dp.pipeline.snapshot();
    expect(snap['inbound6']!.counters).toMatchObject({
      new: 1,
      related: 1,
      'drop-too-big': 1,
      'icmp-packet-too-big': 1,
    });
    expect(snap['pod-ingress6']!.counters).toMatchObject({ 'reply-no-nat': 1, 'related-no-nat': 1 });
    expect(dp.state.ct6.ct.size).toBe(0); // nothing went through SNAT66
    expect(slab.available).toBe(slab.slots);
  });

  it('answers a pod oversized packet with Packet Too Big (pod MTU) and Hop Limit 1 with Time Exceeded, as scapy decodes them', () => {
    const { slab, fromPod, up, pod } = build();
    const [big, last] = S(
      `IPv6(src='${WEB1}', dst='${EXT}')/UDP(sport=40000, dport=53)/(b'z'*1500)`,
      `IPv6(src='${WEB1}', dst='${EXT}', hlim=1)/UDP(sport=40000, dport=53)/b'query'`,
    );
    fromPod(0, big!, last!);
    expect(up()).toEqual([]);
    const got = pod(0);
    expect(got).toHaveLength(2);
    const [ptb, te] = decode(got);
    // From the pod gateway (the first address of node-a's IPv6 pod CIDR), quoting 1232 bytes: 1280 in all.
    expect(ptb).toMatchObject({
      layer: 'ICMPv6PacketTooBig',
      src: '2001:2:0:a1::1',
      dst: WEB1,
      mtu: 1450,
      len: 1280,
      qsrc: WEB1,
      qdst: EXT,
      qsport: 40000,
      qdport: 53,
    });
    expect(te).toMatchObject({ layer: 'ICMPv6TimeExceeded', code: 0, src: '2001:2:0:a1::1', dst: WEB1, qdst: EXT });
    expect(slab.available).toBe(slab.slots);
  });

  it("answers a node-b pod's tunnelled packet above the uplink MTU with Packet Too Big back through the tunnel", () => {
    const { slab, dp, fromUplink, up } = build();
    dp.pinPeer(ip('198.18.0.12'), 0x0200, 0x0000000b); // node-b's MAC, from its heartbeats
    // node-b's pod 2001:2:0:a2::9 (Egress 2001:2::253, hosted here) sends 1501 bytes: node-b's uplink MTU is larger.
    const inner = `IPv6(src='2001:2:0:a2::9', dst='${EXT}')/UDP(sport=40000, dport=53)/Raw(b'x' * 1453)`;
    const [frame] = S(
      `Ether(dst='${NODE_MAC}', src='02:00:00:00:00:0b')/IP(src='198.18.0.12', dst='198.18.0.11', flags='DF')/UDP(sport=50000, dport=6081, chksum=0)/GENEVE(proto=0x6558)/Ether(dst='${NODE_MAC}', src='aa:bb:cc:dd:ee:ff', type=0x86dd)/${inner}`,
    );
    fromUplink(frame!);
    const out = up();
    expect(out).toHaveLength(1); // the error, and not the packet
    const sport = parseInt(out[0]!.slice(68, 72), 16);
    const [want] = S(
      `Ether(dst='02:00:00:00:00:0b', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.0.12', flags='DF', ttl=64, id=0)/UDP(sport=${sport}, dport=6081, chksum=0)/GENEVE(proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${NODE_MAC}', type=0x86dd)/IPv6(src='2001:2:0:a1::1', dst='2001:2:0:a2::9')/ICMPv6PacketTooBig(mtu=1500)/bytes(${inner})[:1232]`,
    );
    expect(out[0]).toBe(hex(want!));
    expect(dp.pipeline.snapshot()['snat6']!.counters).toMatchObject({ 'drop-too-big': 1, 'icmp-packet-too-big': 1 });
    expect(slab.available).toBe(slab.slots);
  });

  it('un-NATs an outside ICMPv6 error about a SNAT66 flow to the pod, and SNATs the pod error about a reply', () => {
    const { slab, dp, fromPod, fromUplink, up, pod } = build();
    const Q = "UDP(sport=40000, dport=53)/(b'q'*1300)";
    const R = "UDP(sport=53, dport=40000)/b'answer'";
    const [query, ptb, delivered, reply, unreach, sent] = S(
      `IPv6(src='${WEB1}', dst='${EXT}')/${Q}`,
      // The router cannot forward the SNATed query (1348 bytes) on a 1280-byte link.
      `Ether(dst='${NODE_MAC}', src='${ROUTER_MAC}')/IPv6(src='2001:2::1', dst='2001:2::253')/ICMPv6PacketTooBig(mtu=1280)/bytes(IPv6(src='2001:2::253', dst='${EXT}', hlim=62)/${Q})[:1232]`,
      `IPv6(src='2001:2::1', dst='${WEB1}', hlim=63)/ICMPv6PacketTooBig(mtu=1280)/bytes(IPv6(src='${WEB1}', dst='${EXT}', hlim=62)/${Q})[:1232]`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2::253')/${R}`,
      `IPv6(src='${WEB1}', dst='${EXT}')/ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${WEB1}', hlim=63)/${R}`,
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${EXT}', hlim=63)/ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='2001:2::253', hlim=63)/${R}`,
    );
    fromPod(0, query!);
    expect(up()).toHaveLength(1);
    fromUplink(ptb!);
    const got = pod(0);
    expect(got).toEqual([hex(delivered!)]);
    expect(decode(got)[0]).toMatchObject({
      layer: 'ICMPv6PacketTooBig',
      mtu: 1280,
      qsrc: WEB1,
      qsport: 40000,
    });
    fromUplink(reply!);
    expect(pod(0)).toHaveLength(1);
    fromPod(0, unreach!);
    expect(up()).toEqual([hex(sent!)]);
    const snap = dp.pipeline.snapshot();
    expect(snap['unsnat6']!.counters['related']).toBe(1);
    expect(snap['snat6']!.counters['related']).toBe(1);
    expect(dp.state.ct6.ct.size).toBe(1); // no connection made for an error
    expect(slab.available).toBe(slab.slots);
  });

  it('answers echo requests to its IPv6 addresses, from the segment and from a pod; a reply too large for the pod gets Packet Too Big', () => {
    const { fromPod, fromUplink, up, pod } = build();
    const [ping, pong, podPing, podPong, query, big, ptb] = S(
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2::253')/ICMPv6EchoRequest(id=9, seq=1, data=b'ping')`,
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${EXT}')/ICMPv6EchoReply(id=9, seq=1, data=b'ping')`,
      `IPv6(src='${WEB1}', dst='2001:2::11')/ICMPv6EchoRequest(id=3, seq=2)`,
      `IPv6(src='2001:2::11', dst='${WEB1}')/ICMPv6EchoReply(id=3, seq=2)`,
      `IPv6(src='${WEB1}', dst='${EXT}')/UDP(sport=40001, dport=53)/b'query'`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2::253')/UDP(sport=53, dport=40001)/(b'a'*1440)`,
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/IPv6(src='2001:2::253', dst='${EXT}')/ICMPv6PacketTooBig(mtu=1450)/bytes(IPv6(src='${EXT}', dst='2001:2::253')/UDP(sport=53, dport=40001)/(b'a'*1440))[:1232]`,
    );
    fromUplink(ping!);
    expect(up()).toEqual([hex(pong!)]);
    fromPod(0, podPing!);
    expect(pod(0)).toEqual([hex(podPong!)]);
    fromPod(0, query!);
    up();
    fromUplink(big!);
    expect(up()).toEqual([hex(ptb!)]);
    expect(pod(0)).toEqual([]);
  });

  it('mutated IPv6 packets from pods, the uplink and the tunnel: counted drops or deliveries, never an exception or a leak', () => {
    const { slab, dp, fromPod, fromUplink } = build();
    dp.pinPeer(ip('198.18.0.12'), 0x0200, 0x0000000c);
    const seeds = S(
      `IPv6(src='${WEB1}', dst='${EXT}')/IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/UDP(sport=40000, dport=53)/b'query'`,
      `IPv6(src='${WEB1}', dst='${EXT}')/TCP(sport=41000, dport=443, flags='S')`,
      `IPv6(src='${WEB1}', dst='${EXT}')/ICMPv6EchoRequest(id=7, seq=1)`,
      `IPv6(src='fe80::5', dst='ff02::2', hlim=255)/ICMPv6ND_RS()`,
      `IPv6(src='${WEB1}', dst='${EXT}')/ICMPv6DestUnreach(code=4)/IPv6(src='${EXT}', dst='${WEB1}')/IPv6ExtHdrDestOpt()/UDP(sport=53, dport=40000)/b'answer'`,
      `IPv6(src='${WEB1}', dst='2001:2::11')/ICMPv6EchoRequest(id=3, seq=1)`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2::253')/UDP(sport=53, dport=40000)/b'answer'`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='${WEB1}')/TCP(sport=5000, dport=80, flags='S')`,
      `Ether(dst='${NODE_MAC}', src='${ROUTER_MAC}')/IPv6(src='2001:2::1', dst='2001:2::253')/ICMPv6PacketTooBig(mtu=1280)/IPv6(src='2001:2::253', dst='${EXT}')/TCP(sport=41000, dport=443, flags='S')`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${EXT}', dst='2001:2::253')/ICMPv6EchoRequest(id=9, seq=1)`,
      `Ether(dst='${NODE_MAC}', src='${PEER_MAC}')/IP(src='198.18.0.12', dst='198.18.0.11', flags='DF')/UDP(sport=5555, dport=6081, chksum=0)/GENEVE(proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${PEER_MAC}')/IPv6(src='2001:2:0:a2::9', dst='${EXT}')/IPv6ExtHdrFragment(m=1)/UDP(sport=1, dport=2)/b'x'`,
      `Ether(dst='33:33:ff:00:00:11', src='${HOST_MAC}')/IPv6(src='2001:2::102', dst='ff02::1:ff00:11', hlim=255)/ICMPv6ND_NS(tgt='2001:2::11')/ICMPv6NDOptSrcLLAddr(lladdr='${HOST_MAC}')`,
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='2001:2::102', dst='2001:2::11', hlim=255)/ICMPv6ND_NA(tgt='2001:2::102', R=0, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr='${HOST_MAC}')`,
    );
    let x = 2463534242;
    const rnd = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    // The connections the mutants may hit: the seeds once, unmutated.
    const POD_SEEDS = 6; // the first six come from pods, the rest from the uplink
    for (const [k, p] of seeds.entries()) {
      if (k < POD_SEEDS) fromPod(0, p);
      else fromUplink(p);
    }
    for (let i = 0; i < 3000; i++) {
      const seed = seeds[rnd() % seeds.length]!;
      const p = Uint8Array.from(
        seed.subarray(0, Math.max(1, seed.length - (rnd() % 3 === 0 ? rnd() % seed.length : 0))),
      );
      for (let m = 1 + (rnd() % 4); m > 0; m--) p[rnd() % p.length] = rnd() & 0xff;
      if (seeds.indexOf(seed) < POD_SEEDS) fromPod(rnd() % 3, p);
      else fromUplink(p);
    }
    for (let t = 0; t < 5; t++) dp.tick(1_000_000 + t * 10_000);
    const snap = dp.pipeline.snapshot();
    const drops = Object.values(snap).reduce(
      (n, st) => n + Object.entries(st.counters).reduce((a, [k, v]) => a + (k.startsWith('drop') ? v : 0), 0),
      0,
    );
    expect(drops).toBeGreaterThan(1000);
    expect(snap['pod-ingress6']!.counters).toMatchObject({ 'drop-spoofed': expect.any(Number) });
    expect(Object.values(snap['inbound6']!.counters).reduce((a, v) => a + v, 0)).toBeGreaterThan(10); // reached
    // The error and echo paths were reached by the mutants too.
    expect(snap['snat6']!.counters['related']).toBeGreaterThan(0);
    expect(snap['unsnat6']!.counters['related']).toBeGreaterThan(0);
    expect(snap['icmp-local6']!.counters['echo-reply']).toBeGreaterThan(0);
    expect(slab.available).toBe(slab.slots);
  });

  it.skipIf(!hasTshark())('tshark: every checksum of the IPv6 packets the node sent is good', () => {
    expect(sentUplink.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'egr-datapath6-'));
    try {
      const upFile = join(dir, 'uplink.pcap');
      const podFile = join(dir, 'pods.pcap');
      writeCaptureFile(upFile, { linkType: 1, records: sentUplink.map((data, i) => ({ data, tsSec: i })) });
      writeCaptureFile(podFile, { linkType: 101, records: sentPods.map((data, i) => ({ data, tsSec: i })) });
      const lines = [...checksumVerdictLines(upFile, CHECKSUM_PREFS), ...checksumVerdictLines(podFile, CHECKSUM_PREFS)];
      const bad = lines.filter((l) => !/: (Good|Not present|Unverified)$/.test(l));
      expect(bad).toEqual([]);
      expect(lines.filter((l) => /(udp|tcp|icmp): Good$/.test(l)).length).toBeGreaterThanOrEqual(8);
      // The ICMPv6 errors the node built or translated, and the packets they quote (translated ones included).
      expect(lines.filter((l) => /icmp: Good$/.test(l)).length).toBeGreaterThanOrEqual(6);
      expect(lines.filter((l) => /udp \(quoted\): Good$/.test(l)).length).toBeGreaterThanOrEqual(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
