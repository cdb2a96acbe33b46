/**
 * ICMP errors through the NAT (docs/semantics.md §4.c, §4.h), on one node's datapath with in-memory ports:
 * (a) errors from outside about SNATed packets are un-NATed (outer destination, quoted source address and port,
 * every checksum) and delivered to the pod, locally or through the tunnel; (b) replies larger than the pod MTU
 * get fragmentation needed back to their sender (DF) or are cut to the pod MTU; (c) errors a pod sends about a packet
 * of a SNATed connection are SNATed with their quote, those about a connection the pod accepted leave un-NATed.
 * Malformed quotes and quotes of no connection are counted drops, and nothing leaves with the pod's address.
 * Inputs and expected outputs are built with scapy, independently of engine/wire, and compared byte for byte;
 * tshark then verifies the outer and quoted checksums of everything the node sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { Slab, wire } from '../../engine/index.js';
import { writeCaptureFile } from '../../engine/io/index.js';
import { EGRESS_LOCAL, EGRESS_NONE, EGRESS_REMOTE, type NodeDatapathConfig } from '../../engine/stages/index.js';
import { ListPort } from '../support/list-port.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { CHECKSUM_PREFS, checksumVerdictLines, hasTshark } from '../support/tshark.js';
import { baseConfig } from '../support/node-config.js';

const ip = (s: string) => wire.ipv4.parseAddr(s)!;
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const u16 = (u: Uint8Array, o: number) => (u[o]! << 8) | u[o + 1]!;

const NODE_MAC = '02:00:00:00:00:0b';
const HOST_MAC = '02:00:00:00:00:64';
const ROUTER_MAC = '02:00:00:00:00:01';
const PEER_MAC = '02:00:00:00:00:0c';
const HOST = '198.18.0.100';
const ROUTER = '198.18.0.1';
const EGRESS = '198.18.0.253';

function config(): NodeDatapathConfig {
  return {
    ...baseConfig(), // node-a as every stage test has it; the pods and peers below are this file's
    pods: [
      { key: 'prod/web-1', ip: ip('10.244.1.5'), port: 0, egress: EGRESS_LOCAL, egressIp: ip(EGRESS) },
      { key: 'default/server', ip: ip('10.244.1.6'), port: 1, egress: EGRESS_NONE, egressIp: 0 },
      { key: 'staging/web-2', ip: ip('10.244.1.7'), port: 2, egress: EGRESS_REMOTE, egressIp: ip('198.18.0.254') },
      { key: 'prod/web-3', ip: ip('10.244.1.8'), port: 3, egress: EGRESS_LOCAL, egressIp: ip(EGRESS) },
    ],
    nodes: [
      { name: 'node-a', ip: ip('198.18.0.11'), podCidr: { addr: ip('10.244.1.0'), len: 24 } },
      { name: 'node-b', ip: ip('198.18.0.12'), podCidr: { addr: ip('10.244.2.0'), len: 24 } },
    ],
    bypass: [{ addr: ip('10.96.0.0'), len: 12 }],
    egressIps: [ip(EGRESS)],
  };
}

/** Everything the node sent in these tests, for tshark: uplink frames (Ethernet) and pod packets (raw IPv4). */
const sentUplink: Uint8Array[] = [];
const sentPods: Uint8Array[] = [];

function build() {
  const slab = new Slab({ slots: 512 });
  const dp = new NodeDatapath(slab, config(), { conntrack: { seed: 7 } });
  const uplink = new ListPort('uplink');
  dp.attachUplink(uplink);
  dp.attachControl(new ListPort('control'));
  const pods = [new ListPort('web-1'), new ListPort('server'), new ListPort('web-2'), new ListPort('web-3')];
  for (const p of pods) dp.pods.add(p);
  // Neighbours announce themselves (a request for the node IP creates an entry), so nothing waits for ARP.
  const asks = S(
    ...[
      [HOST, HOST_MAC],
      [ROUTER, ROUTER_MAC],
      ['198.18.0.12', PEER_MAC],
    ].map(
      ([a, m]) => `Ether(dst='ff:ff:ff:ff:ff:ff', src='${m}')/ARP(op=1, hwsrc='${m}', psrc='${a}', pdst='198.18.0.11')`,
    ),
  );
  uplink.queue.push(...asks);
  dp.pollUplink(0);
  uplink.sent.length = 0;
  let now = 1;
  const fromPod = (p: number, ...pkts: Uint8Array[]) => {
    pods[p]!.queue.push(...pkts);
    dp.pollPod(p, now++);
  };
  const fromUplink = (...frames: Uint8Array[]) => {
    uplink.queue.push(...frames);
    dp.pollUplink(now++);
  };
  /** Take (and record for tshark) what a port sent since the last call. */
  const take = (p: ListPort, into: Uint8Array[]) => {
    const out = p.sent.splice(0);
    into.push(...out);
    return out.map(hex);
  };
  return {
    slab,
    dp,
    fromPod,
    fromUplink,
    up: () => take(uplink, sentUplink),
    pod: (p: number) => take(pods[p]!, sentPods),
    counters: (stage: string) => dp.pipeline.snapshot()[stage]!.counters,
  };
}

const S = (...exprs: string[]) => scapyBytes(exprs);
const ETH_IN = (src = ROUTER_MAC) => `Ether(dst='${NODE_MAC}', src='${src}')`;
const ETH_OUT = (dst = HOST_MAC) => `Ether(dst='${dst}', src='${NODE_MAC}')`;

describe.skipIf(!hasScapy())('ICMP errors through the NAT (scapy-built packets)', () => {
  it('un-NATs errors about SNATed UDP, TCP and echo for a local pod: outer destination, quoted source and port, every checksum', () => {
    const { slab, fromPod, fromUplink, up, pod, counters } = build();
    // web-3 takes port 40000 on the Egress IP first, so web-1's flow from port 40000 is moved to another port.
    const [first, query, syn, ping] = S(
      `IP(src='10.244.1.8', dst='${HOST}', id=1)/UDP(sport=40000, dport=53)/b'first'`,
      `IP(src='10.244.1.5', dst='${HOST}', id=7)/UDP(sport=40000, dport=53)/b'query'`,
      `IP(src='10.244.1.5', dst='${HOST}', id=8)/TCP(sport=41000, dport=80, flags='S', seq=1000)`,
      `IP(src='10.244.1.5', dst='${HOST}', id=9)/ICMP(type=8, id=77, seq=1)/b'ping'`,
    );
    fromPod(3, first!);
    fromPod(0, query!, syn!, ping!);
    const out = up();
    expect(out.length).toBe(4);
    const port = u16(Buffer.from(out[1]!, 'hex'), 34);
    expect(port).not.toBe(40000);
    const Q_UDP = (src: string, sport: number) =>
      `IP(src='${src}', dst='${HOST}', id=7, ttl=63)/UDP(sport=${sport}, dport=53)/b'query'`;
    const Q_TCP = (src: string) =>
      `IP(src='${src}', dst='${HOST}', id=8, ttl=63)/TCP(sport=41000, dport=80, flags='S', seq=1000)`;
    const Q_ECHO = (src: string) => `IP(src='${src}', dst='${HOST}', id=9, ttl=63)/ICMP(type=8, id=77, seq=1)/b'ping'`;
    const ERR = (dst: string, ttl: number, icmp: string, quote: string) =>
      `IP(src='${ROUTER}', dst='${dst}', ttl=${ttl})/ICMP(${icmp})/${quote}`;
    const FN = 'type=3, code=4, nexthopmtu=1400';
    const TE = 'type=11, code=0';
    const HU = 'type=3, code=1';
    const [wire1, egressQuery, e1, d1, e2, d2, e3, d3, e4, d4] = S(
      `${ETH_OUT()}/${Q_UDP(EGRESS, port)}`,
      // The quoted packet is the one that left; the fragmentation-needed quotes it whole.
      Q_UDP(EGRESS, port),
      `${ETH_IN()}/${ERR(EGRESS, 60, FN, Q_UDP(EGRESS, port))}`,
      ERR('10.244.1.5', 59, FN, Q_UDP('10.244.1.5', 40000)),
      // Time exceeded quoting the TCP header and 8 bytes (RFC 792): the TCP checksum is not quoted.
      `${ETH_IN()}/${ERR(EGRESS, 60, TE, `Raw(bytes(${Q_TCP(EGRESS)})[:28])`)}`,
      ERR('10.244.1.5', 59, TE, `Raw(bytes(${Q_TCP('10.244.1.5')})[:28])`),
      // ... and the whole TCP header (RFC 1812): the quoted TCP checksum is updated too.
      `${ETH_IN()}/${ERR(EGRESS, 60, TE, Q_TCP(EGRESS))}`,
      ERR('10.244.1.5', 59, TE, Q_TCP('10.244.1.5')),
      `${ETH_IN()}/${ERR(EGRESS, 60, HU, Q_ECHO(EGRESS))}`,
      ERR('10.244.1.5', 59, HU, Q_ECHO('10.244.1.5')),
    );
    expect(out[1]).toBe(hex(wire1!));
    expect(hex(egressQuery!)).toBe(out[1]!.slice(28));
    fromUplink(e1!, e2!, e3!, e4!);
    expect(pod(0)).toEqual([d1, d2, d3, d4].map((x) => hex(x!)));
    expect(up()).toEqual([]);
    expect(counters('unsnat')).toMatchObject({ related: 4 });
    expect(slab.available).toBe(slab.slots);
  });

  it('SNATs the quote of an error a pod sends about a reply; one about a flow the pod accepted leaves un-NATed', () => {
    const { fromPod, fromUplink, up, pod, counters } = build();
    const [first, query] = S(
      `IP(src='10.244.1.8', dst='${HOST}')/UDP(sport=40000, dport=53)/b'first'`,
      `IP(src='10.244.1.5', dst='${HOST}')/UDP(sport=40000, dport=53)/b'query'`,
    );
    fromPod(3, first!);
    fromPod(0, query!);
    const port = u16(Buffer.from(up()[1]!, 'hex'), 34);
    const REPLY = (dst: string, dport: number, ttl = 64) =>
      `IP(src='${HOST}', dst='${dst}', id=9, ttl=${ttl})/UDP(sport=53, dport=${dport})/b'answer'`;
    const [reply, delivered, unreach, unreachOut, toServer, serverUnreach, serverUnreachOut] = S(
      `${ETH_IN(HOST_MAC)}/${REPLY(EGRESS, port)}`,
      REPLY('10.244.1.5', 40000, 63),
      // web-1 closed its socket: port unreachable about the reply, quoting it whole (as Linux does).
      `IP(src='10.244.1.5', dst='${HOST}', tos=0xc0, id=33)/ICMP(type=3, code=3)/${REPLY('10.244.1.5', 40000, 63)}`,
      `${ETH_OUT()}/IP(src='${EGRESS}', dst='${HOST}', tos=0xc0, id=33, ttl=63)/ICMP(type=3, code=3)/${REPLY(EGRESS, port, 63)}`,
      // The outside reaches the server pod directly (routable pod addresses): the pod accepted the flow.
      `${ETH_IN(HOST_MAC)}/IP(src='${HOST}', dst='10.244.1.6', id=5)/UDP(sport=5000, dport=8080)/b'hello'`,
      `IP(src='10.244.1.6', dst='${HOST}', tos=0xc0, id=34)/ICMP(type=3, code=3)/IP(src='${HOST}', dst='10.244.1.6', id=5, ttl=63)/UDP(sport=5000, dport=8080)/b'hello'`,
      `${ETH_OUT()}/IP(src='10.244.1.6', dst='${HOST}', tos=0xc0, id=34)/ICMP(type=3, code=3)/IP(src='${HOST}', dst='10.244.1.6', id=5, ttl=63)/UDP(sport=5000, dport=8080)/b'hello'`,
    );
    fromUplink(reply!);
    expect(pod(0)).toEqual([hex(delivered!)]);
    fromPod(0, unreach!);
    expect(up()).toEqual([hex(unreachOut!)]);
    expect(counters('snat')).toMatchObject({ related: 1 });
    fromUplink(toServer!);
    expect(pod(1).length).toBe(1);
    fromPod(1, serverUnreach!);
    expect(up()).toEqual([hex(serverUnreachOut!)]);
    expect(counters('classify')).toMatchObject({ 'related-no-nat': 1 });
    // The server answers; a router's error about the answer reaches it un-NATed; a DF packet above its MTU
    // gets fragmentation needed from the node IP, one without DF is cut to it.
    const ANSWER = `IP(src='10.244.1.6', dst='${HOST}', id=6)/UDP(sport=8080, dport=5000)/b'hi'`;
    const BIG = (df: boolean) =>
      `IP(src='${HOST}', dst='10.244.1.6', id=11${df ? ", flags='DF'" : ''})/UDP(sport=5000, dport=8080)/(b'b'*1472)`;
    const CUT = (k: number) =>
      `fragment(IP(src='${HOST}', dst='10.244.1.6', id=11, ttl=63)/UDP(sport=5000, dport=8080)/(b'b'*1472), fragsize=1424)[${k}]`;
    const [answer, answerOut, routerErr, routerErrDelivered, big, bigNoDf, fragNeeded, cut0, cut1] = S(
      ANSWER,
      `${ETH_OUT()}/${ANSWER}`,
      `${ETH_IN()}/IP(src='${ROUTER}', dst='10.244.1.6', ttl=50)/ICMP(type=11, code=0)/${ANSWER}`,
      `IP(src='${ROUTER}', dst='10.244.1.6', ttl=49)/ICMP(type=11, code=0)/${ANSWER}`,
      `${ETH_IN(HOST_MAC)}/${BIG(true)}`,
      `${ETH_IN(HOST_MAC)}/${BIG(false)}`,
      `${ETH_OUT()}/IP(src='198.18.0.11', dst='${HOST}', tos=0xc0, id=0, ttl=64)/ICMP(type=3, code=4, nexthopmtu=1450)/Raw(bytes(${BIG(true)})[:28])`,
      CUT(0),
      CUT(1),
    );
    fromPod(1, answer!);
    expect(up()).toEqual([hex(answerOut!)]);
    fromUplink(routerErr!, big!, bigNoDf!);
    // Without DF the packet is cut to the pod MTU (docs/semantics.md §4.i).
    expect(pod(1)).toEqual([hex(routerErrDelivered!), hex(cut0!), hex(cut1!)]);
    expect(up()).toEqual([hex(fragNeeded!)]);
    expect(counters('inbound')).toMatchObject({
      new: 1,
      related: 1,
      established: 1,
      'drop-too-big': 1,
      'icmp-frag-needed': 1,
      refragmented: 1,
    });
  });

  it('sends fragmentation-needed (pod MTU) to the sender of a DF reply too big for the pod; counts the rest', () => {
    const { slab, fromPod, fromUplink, up, pod, counters } = build();
    const [query] = S(`IP(src='10.244.1.5', dst='${HOST}')/UDP(sport=40000, dport=53)/b'query'`);
    fromPod(0, query!);
    up();
    const BIG = (size: number, df: boolean) =>
      `IP(src='${HOST}', dst='${EGRESS}', id=${size}${df ? ", flags='DF'" : ''})/UDP(sport=53, dport=40000)/(b'z'*${size - 28})`;
    const CUT = (k: number) =>
      `fragment(IP(src='${HOST}', dst='10.244.1.5', id=1480, ttl=63)/UDP(sport=53, dport=40000)/(b'z'*1452), fragsize=1424)[${k}]`;
    const [big, bigNoDf, fits, fitsDelivered, cut0, cut1, fragNeeded] = S(
      `${ETH_IN(HOST_MAC)}/${BIG(1451, true)}`,
      `${ETH_IN(HOST_MAC)}/${BIG(1480, false)}`,
      `${ETH_IN(HOST_MAC)}/${BIG(1450, true)}`,
      `IP(src='${HOST}', dst='10.244.1.5', id=1450, flags='DF', ttl=63)/UDP(sport=53, dport=40000)/(b'z'*1422)`,
      CUT(0),
      CUT(1),
      // From the address the reply was sent to, quoting it as it arrived: the pod's address never leaves.
      `${ETH_OUT()}/IP(src='${EGRESS}', dst='${HOST}', tos=0xc0, id=0, ttl=64)/ICMP(type=3, code=4, nexthopmtu=1450)/Raw(bytes(${BIG(1451, true)})[:28])`,
    );
    fromUplink(big!, bigNoDf!, fits!);
    expect(up()).toEqual([hex(fragNeeded!)]);
    // Without DF the reply is cut to the pod MTU (its second piece follows the packets of its burst).
    expect(pod(0)).toEqual([hex(cut0!), hex(fitsDelivered!), hex(cut1!)]);
    expect(counters('unsnat')).toMatchObject({ reply: 2, 'drop-too-big': 1, 'icmp-frag-needed': 1, refragmented: 1 });
    expect(slab.available).toBe(slab.slots);
  });

  it('un-NATs an error for a pod on another node into the tunnel, SNATs that pod’s tunnelled error, and sends frag-needed for it', () => {
    const { dp, fromUplink, up, counters } = build();
    dp.pinPeer(ip('198.18.0.12'), 0x0200, 0x0000000c);
    const GENEVE_IN = (inner: string) =>
      `Ether(dst='${NODE_MAC}', src='${PEER_MAC}')/IP(src='198.18.0.12', dst='${EGRESS}', flags='DF')/UDP(sport=5555, dport=6081, chksum=0)/GENEVE(vni=0, proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${PEER_MAC}')/${inner}`;
    const GENEVE_OUT = (sport: number, inner: string) =>
      `Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.0.12', flags='DF', ttl=64, id=0)/UDP(sport=${sport}, dport=6081, chksum=0)/GENEVE(vni=0, proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${NODE_MAC}')/${inner}`;
    const Q = (src: string) => `IP(src='${src}', dst='${HOST}', ttl=63)/UDP(sport=1234, dport=9)/b'x'`;
    const REPLY = (dst: string, ttl = 64) =>
      `IP(src='${HOST}', dst='${dst}', ttl=${ttl})/UDP(sport=9, dport=1234)/b'y'`;
    const [tunneled, out, err, reply, podUnreach, podUnreachOut, big, fragNeeded] = S(
      GENEVE_IN(`IP(src='10.244.2.9', dst='${HOST}')/UDP(sport=1234, dport=9)/b'x'`),
      `${ETH_OUT()}/${Q(EGRESS)}`,
      `${ETH_IN()}/IP(src='${ROUTER}', dst='${EGRESS}', ttl=60)/ICMP(type=11, code=0)/${Q(EGRESS)}`,
      `${ETH_IN(HOST_MAC)}/${REPLY(EGRESS)}`,
      GENEVE_IN(`IP(src='10.244.2.9', dst='${HOST}', tos=0xc0, id=3)/ICMP(type=3, code=3)/${REPLY('10.244.2.9', 63)}`),
      `${ETH_OUT()}/IP(src='${EGRESS}', dst='${HOST}', tos=0xc0, id=3, ttl=63)/ICMP(type=3, code=3)/${REPLY(EGRESS, 63)}`,
      `${ETH_IN(HOST_MAC)}/IP(src='${HOST}', dst='${EGRESS}', flags='DF')/UDP(sport=9, dport=1234)/(b'y'*1472)`,
      `${ETH_OUT()}/IP(src='${EGRESS}', dst='${HOST}', tos=0xc0, id=0, ttl=64)/ICMP(type=3, code=4, nexthopmtu=1450)/Raw(bytes(IP(src='${HOST}', dst='${EGRESS}', flags='DF')/UDP(sport=9, dport=1234)/(b'y'*1472))[:28])`,
    );
    fromUplink(tunneled!);
    expect(up()).toEqual([hex(out!)]);
    fromUplink(err!);
    const back = up();
    expect(back.length).toBe(1);
    const sport = u16(Buffer.from(back[0]!, 'hex'), 34);
    const [expected] = S(
      GENEVE_OUT(sport, `IP(src='${ROUTER}', dst='10.244.2.9', ttl=59)/ICMP(type=11, code=0)/${Q('10.244.2.9')}`),
    );
    expect(back[0]).toBe(hex(expected!));
    fromUplink(reply!);
    expect(up().length).toBe(1); // the reply, tunnelled to node-b
    fromUplink(podUnreach!);
    expect(up()).toEqual([hex(podUnreachOut!)]);
    fromUplink(big!);
    expect(up()).toEqual([hex(fragNeeded!)]);
    // node-b (a larger MTU) tunnels a 1510-byte DF packet: more than the uplink takes once SNATed; web on node-b
    // gets fragmentation needed with the uplink MTU from this node's pod gateway, through the tunnel.
    const JUMBO = `IP(src='10.244.2.9', dst='${HOST}', id=12, flags='DF')/UDP(sport=1235, dport=9)/(b'j'*1482)`;
    const [jumbo] = S(GENEVE_IN(JUMBO));
    fromUplink(jumbo!);
    const fn = up();
    expect(fn.length).toBe(1);
    const [fnExpected] = S(
      GENEVE_OUT(
        u16(Buffer.from(fn[0]!, 'hex'), 34),
        `IP(src='10.244.1.1', dst='10.244.2.9', tos=0xc0, id=0, ttl=64)/ICMP(type=3, code=4, nexthopmtu=1500)/Raw(bytes(${JUMBO})[:28])`,
      ),
    );
    expect(fn[0]).toBe(hex(fnExpected!));
    expect(counters('unsnat')).toMatchObject({ related: 1, reply: 1, 'icmp-frag-needed': 1, 'drop-too-big': 1 });
    expect(counters('snat')).toMatchObject({ new: 1, related: 1, 'drop-too-big': 1, 'icmp-frag-needed': 1 });
    expect(counters('geneve-encap')['drop-too-big'] ?? 0).toBe(0);
  });

  it('drops malformed quotes and quotes of no connection by reason; nothing leaves with the pod address', () => {
    const { slab, fromPod, fromUplink, up, pod, counters } = build();
    const [query] = S(`IP(src='10.244.1.5', dst='${HOST}')/UDP(sport=40000, dport=53)/b'query'`);
    fromPod(0, query!);
    up();
    const E = (quote: string, dst = EGRESS) =>
      `${ETH_IN()}/IP(src='${ROUTER}', dst='${dst}')/ICMP(type=3, code=1)/${quote}`;
    const QIP = `IP(src='${EGRESS}', dst='${HOST}', ttl=63)`;
    const inputs = S(
      E(`${QIP.replace(')', ', proto=47)')}/Raw(b'\\x00'*8)`), // GRE: no tuple
      E(`${QIP.replace(')', ', frag=100)')}/Raw(b'\\x00'*8)`), // not the first fragment
      E(`${QIP}/UDP(sport=40001, dport=53)`), // no such connection
      E(`${QIP}/ICMP(type=13, id=40000)`), // timestamp: not tracked
      E(`IP(src='198.18.0.11', dst='${HOST}', ttl=63)/UDP(sport=40000, dport=53)`), // quoted source ≠ outer destination
      E(`Raw(bytes(${QIP}/UDP(sport=40000, dport=53))[:24])`), // header + 4 bytes
      E(`Raw(b'\\x65' + bytes(${QIP}/UDP(sport=40000, dport=53))[1:])`), // quoted version 6
    );
    fromUplink(...inputs);
    expect(counters('unsnat')).toMatchObject({
      related: 0,
      'drop-related-untracked': 3,
      'drop-related-no-conntrack': 1,
      'drop-related-mismatch': 1,
    });
    expect(counters('ip-local')).toMatchObject({ 'drop-l4-truncated': 1, 'drop-l4-bad': 1 });
    const podErrors = S(
      // An error about a packet web-1 never received, and one quoting an unsupported protocol.
      `IP(src='10.244.1.5', dst='${HOST}')/ICMP(type=3, code=3)/IP(src='${HOST}', dst='10.244.1.5')/UDP(sport=53, dport=1234)`,
      `IP(src='10.244.1.5', dst='${HOST}')/ICMP(type=3, code=3)/IP(src='${HOST}', dst='10.244.1.5', proto=47)/Raw(b'\\x00'*8)`,
      `IP(src='10.244.1.5', dst='${HOST}')/ICMP(type=3, code=3)/IP(src='198.18.0.99', dst='10.244.1.5')/UDP(sport=53, dport=40000)`,
    );
    fromPod(0, ...podErrors);
    expect(counters('snat')).toMatchObject({
      related: 0,
      'drop-related-no-conntrack': 1,
      'drop-related-untracked': 1,
      'drop-related-mismatch': 1,
    });
    expect(up()).toEqual([]);
    expect(pod(0)).toEqual([]);
    expect(slab.available).toBe(slab.slots);
  });

  it.skipIf(!hasTshark())('tshark: every outer and quoted checksum of what the node sent is good', () => {
    expect(sentUplink.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'egr-icmp-nat-'));
    try {
      const upFile = join(dir, 'uplink.pcap');
      const podFile = join(dir, 'pods.pcap');
      writeCaptureFile(upFile, { linkType: 1, records: sentUplink.map((data, i) => ({ data, tsSec: i })) });
      writeCaptureFile(podFile, { linkType: 101, records: sentPods.map((data, i) => ({ data, tsSec: i })) });
      const lines = [...checksumVerdictLines(upFile, CHECKSUM_PREFS), ...checksumVerdictLines(podFile, CHECKSUM_PREFS)];
      console.log(`tshark verdicts:\n  ${lines.join('\n  ')}`);
      const bad = lines.filter((l) => !/: (Good|Not present|Unverified)$/.test(l));
      expect(bad).toEqual([]);
      expect(lines.filter((l) => /quoted\): Good$/.test(l)).length).toBeGreaterThan(0);
      expect(lines.some((l) => /^#\d+ icmp: Good$/.test(l))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
