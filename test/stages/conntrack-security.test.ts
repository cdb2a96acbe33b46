/**
 * Connection tracking against an attacker on the segment (issue 11 finding 8, docs/conntrack-security.md): TCP
 * window tracking (blind RSTs, out-of-window and invalid-flag segments), the inbound table never redirecting a
 * pod's flow around its SNAT, source-routed packets, and the per-pod connection limit. Packets are built with
 * scapy, independently of engine/wire; every attack has a control case that a well-formed packet goes through,
 * so each test can fail.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { NodeDatapath, type DatapathOptions } from '../../engine/agent/datapath.js';
import { Slab, wire } from '../../engine/index.js';
import { TCP_CLOSE, TCP_ESTABLISHED } from '../../conntrack/index.js';
import { EGRESS_LOCAL, EGRESS_NONE, EGRESS_REMOTE, type NodeDatapathConfig } from '../../engine/stages/index.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { ListPort } from '../support/list-port.js';
import { baseConfig } from '../support/node-config.js';

const ip = (s: string) => wire.ipv4.parseAddr(s)!;
const mac = (s: string) => wire.ethernet.parseMac(s)!;

const NODE_MAC = '02:00:00:00:00:0b';
const HOST_MAC = '02:00:00:00:00:64';
const PEER_MAC = '02:00:00:00:00:0c';
const HOST = '198.18.0.100';
const EGRESS_IP = '198.18.0.253';
const WEB = '10.244.1.5'; // Egress hosted here: SNAT to EGRESS_IP
const OTHER = '10.244.1.6'; // no Egress: SNAT to the node IP; also a server pod
const REMOTE = '10.244.1.7'; // Egress hosted on node-b: Geneve to 198.18.0.254

function config(): NodeDatapathConfig {
  return {
    ...baseConfig(), // node-a as every stage test has it; the pods and peers below are this file's
    pods: [
      { key: 'prod/web-1', ip: ip(WEB), port: 0, egress: EGRESS_LOCAL, egressIp: ip(EGRESS_IP) },
      { key: 'default/other', ip: ip(OTHER), port: 1, egress: EGRESS_NONE, egressIp: 0 },
      { key: 'prod/remote', ip: ip(REMOTE), port: 2, egress: EGRESS_REMOTE, egressIp: ip('198.18.0.254') },
    ],
    nodes: [
      { name: 'node-a', ip: ip('198.18.0.11'), podCidr: { addr: ip('10.244.1.0'), len: 24 } },
      { name: 'node-b', ip: ip('198.18.0.12'), podCidr: { addr: ip('10.244.2.0'), len: 24 } },
    ],
    bypass: [{ addr: ip('10.96.0.0'), len: 12 }],
    egressIps: [ip(EGRESS_IP)],
  };
}

const S = (...exprs: string[]) => scapyBytes(exprs);

function build(opts: DatapathOptions = {}) {
  const slab = new Slab({ slots: 512 });
  const dp = new NodeDatapath(slab, config(), { ...opts, conntrack: { seed: 7, ...opts.conntrack } });
  const uplink = new ListPort('uplink');
  dp.attachUplink(uplink);
  dp.attachControl(new ListPort('control'));
  const pods = [new ListPort('web-1'), new ListPort('other'), new ListPort('remote')];
  for (const p of pods) dp.pods.add(p);
  // node-b's heartbeats pin its MAC; only then is its ARP for the Egress IP it hosts believed (docs/segment-security.md).
  const pm = mac(PEER_MAC);
  dp.pinPeer(ip('198.18.0.12'), (pm[0]! << 8) | pm[1]!, (pm[2]! << 24) | (pm[3]! << 16) | (pm[4]! << 8) | pm[5]! | 0);
  uplink.queue.push(
    ...S(
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${HOST_MAC}')/ARP(op=1, hwsrc='${HOST_MAC}', psrc='${HOST}', pdst='198.18.0.11')`,
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${PEER_MAC}')/ARP(op=1, hwsrc='${PEER_MAC}', psrc='198.18.0.254', pdst='198.18.0.11')`,
    ),
  );
  dp.pollUplink(0);
  uplink.sent.length = 0;
  const clock = { now: 1 };
  /** Feed scapy expressions: `pod:N <expr>` from pod N (raw IP), anything else a frame from the segment. */
  const feed = (...items: string[]) => {
    const ms = items.map((it) => /^pod:(\d) (.*)$/s.exec(it));
    const all = S(...items.map((it, k) => (ms[k] ? ms[k][2]! : `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/${it}`)));
    for (const [k, m] of ms.entries()) {
      const bytes = all[k];
      if (m) {
        pods[Number(m[1])]!.queue.push(bytes!);
        dp.pollPod(Number(m[1]), clock.now++);
      } else {
        uplink.queue.push(bytes!);
        dp.pollUplink(clock.now++);
      }
    }
  };
  const counters = (stage: string) => dp.pipeline.snapshot()[stage]!.counters;
  return { dp, clock, uplink, pods, feed, counters, ct: dp.state.ct, ctIn: dp.state.ctIn };
}

/** Source address of an Ethernet/IPv4 frame (or of a raw IPv4 packet with l3 = 0). */
const srcOf = (b: Uint8Array, l3 = 14) => `${b[l3 + 12]}.${b[l3 + 13]}.${b[l3 + 14]}.${b[l3 + 15]}`;
const isGeneve = (b: Uint8Array) => b[14 + 9] === 17 && ((b[14 + 22]! << 8) | b[14 + 23]!) === 6081;
const tcpFlagsOf = (b: Uint8Array, l3 = 0) => b[l3 + ((b[l3]! & 0x0f) << 2) + 13]!;

const SYN_OPTS = "options=[('MSS', 1460), ('SAckOK', b''), ('WScale', 7)]";
/** Pod web-1 (port `sport`) and the host open a connection through SNAT; 16 bytes up, 20 down, all acknowledged. */
function handshake(feed: (...x: string[]) => void, sport: number): void {
  feed(
    `pod:0 IP(src='${WEB}', dst='${HOST}')/TCP(sport=${sport}, dport=80, flags='S', seq=1000, window=64240, ${SYN_OPTS})`,
    `IP(src='${HOST}', dst='${EGRESS_IP}')/TCP(sport=80, dport=${sport}, flags='SA', seq=5000, ack=1001, window=65160, ${SYN_OPTS})`,
    `pod:0 IP(src='${WEB}', dst='${HOST}')/TCP(sport=${sport}, dport=80, flags='A', seq=1001, ack=5001, window=502)`,
    `pod:0 IP(src='${WEB}', dst='${HOST}')/TCP(sport=${sport}, dport=80, flags='PA', seq=1001, ack=5001, window=502)/Raw(b'GET / HTTP/1.0\\r\\n\\r\\n'[:16])`,
    `IP(src='${HOST}', dst='${EGRESS_IP}')/TCP(sport=80, dport=${sport}, flags='PA', seq=5001, ack=1017, window=509)/Raw(b'x' * 20)`,
    `pod:0 IP(src='${WEB}', dst='${HOST}')/TCP(sport=${sport}, dport=80, flags='A', seq=1017, ack=5021, window=502)`,
  );
}
/** `n` UDP flows from pod `pod` (port index `port`) to the host, source ports from `sport0`. */
const flows = (pod: string, sport0: number, n: number, port = 0) =>
  Array.from(
    { length: n },
    (_, k) => `pod:${port} IP(src='${pod}', dst='${HOST}')/UDP(sport=${sport0 + k}, dport=53)/b'q'`,
  );
/** RFC 1071 checksum, written here independently of engine/wire. */
function csum(b: Uint8Array, o: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i += 2) s += (b[o + i]! << 8) | (b[o + i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Host → OTHER, UDP 1 → 9, IHL 6 with option bytes 07 28 04 00 (Record Route, length 40: runs past the header). */
function badOptionsFrame(): Uint8Array {
  const f = new Uint8Array(14 + 24 + 8 + 1);
  f.set([0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x64, 0x08, 0x00]);
  const l3 = 14;
  f.set([0x46, 0, 0, 33, 0, 1, 0, 0, 64, 17, 0, 0, 198, 18, 0, 100, 10, 244, 1, 6, 0x07, 0x28, 0x04, 0x00], l3);
  const c = csum(f, l3, 24);
  f[l3 + 10] = c >>> 8;
  f[l3 + 11] = c & 0xff;
  f.set([0, 1, 0, 9, 0, 9, 0, 0, 0x6d], l3 + 24);
  return f;
}

/** A segment from the host to web-1's connection on `sport` through the egress IP. */
const fromHost = (sport: number, tcp: string, payload = '') =>
  `IP(src='${HOST}', dst='${EGRESS_IP}')/TCP(sport=80, dport=${sport}, ${tcp})${payload}`;

describe.skipIf(!hasScapy())('conntrack against a segment attacker (scapy-built packets)', () => {
  beforeAll(() => {
    if (!hasScapy()) console.log('skipped: /usr/bin/python3 has no scapy (apt-get install python3-scapy)');
  });

  it('a blind RST leaves an established connection ESTABLISHED; only the exact sequence number closes it', () => {
    const { pods, feed, counters, ct } = build();
    handshake(feed, 40000);
    const conn = ct.lookup(ip(WEB), ip(HOST), 40000, 80, 6) >> 1;
    expect(conn).toBeGreaterThanOrEqual(0);
    expect(ct.state(conn)).toBe(TCP_ESTABLISHED);
    expect(pods[0]!.sent.length).toBe(2); // SYN/ACK and the data
    // Blind RSTs: far ahead of the window, below what the pod acknowledged, with and without ACK.
    feed(
      fromHost(40000, `flags='R', seq=0x12345678`),
      fromHost(40000, `flags='RA', seq=0x9abcdef0, ack=1017`),
      fromHost(40000, `flags='R', seq=100`),
    );
    expect(ct.state(conn)).toBe(TCP_ESTABLISHED);
    expect(pods[0]!.sent.length).toBe(2);
    expect(counters('unsnat')).toMatchObject({ 'drop-ct-invalid': 3 });
    // 0x12345678 is past the window; 0x9abcdef0 is more than 2^31 ahead, so modulo 2^32 it is behind the pod's
    // acknowledgment, like 100: RSTs below what the receiver acknowledged are invalid before any window check.
    expect(ct.counter('tcp-out-of-window')).toBe(1);
    expect(ct.counter('tcp-rst-invalid')).toBe(2);
    // In the window but not exact (RFC 5961 §3.2): the pod gets it (and would send a challenge ACK), state kept.
    feed(fromHost(40000, `flags='R', seq=${5021 + 1000}`));
    expect(pods[0]!.sent.length).toBe(3);
    expect(ct.state(conn)).toBe(TCP_ESTABLISHED);
    expect(ct.counter('tcp-rst-in-window')).toBe(1);
    // Control: the exact RST (the pod's next expected byte) closes it.
    feed(fromHost(40000, `flags='R', seq=5021`));
    expect(pods[0]!.sent.length).toBe(4);
    expect(ct.state(conn)).toBe(TCP_CLOSE);
  });

  it('144 out-of-window and invalid-flag segments are dropped and counted; an in-window one is delivered', () => {
    const { pods, feed, counters, ct } = build();
    handshake(feed, 40001);
    const before = pods[0]!.sent.length;
    const bad: string[] = [];
    for (let k = 0; k < 48; k++) {
      // beyond what the pod's window allows (it advertised 502 << 7 = 64256 bytes from 5021)
      bad.push(fromHost(40001, `flags='PA', seq=${5021 + 200000 + 10 * k}, ack=1017, window=509`, "/Raw(b'z' * 10)"));
      // acknowledging data the pod never sent
      bad.push(fromHost(40001, `flags='A', seq=5021, ack=${1017 + 100000 + k}, window=509`));
      // invalid flag combinations: Xmas, SYN+FIN, none
      bad.push(fromHost(40001, `flags=${["'FSRPAU'", "'SF'", '0'][k % 3]}, seq=5021, ack=1017, window=509`));
    }
    feed(...bad);
    expect(pods[0]!.sent.length).toBe(before);
    expect(counters('unsnat')['drop-ct-invalid']).toBe(144);
    expect(ct.counter('tcp-out-of-window')).toBe(96);
    expect(ct.counter('tcp-invalid-flags')).toBe(48);
    // A pod cannot open a connection with an invalid combination either.
    feed(`pod:0 IP(src='${WEB}', dst='${HOST}')/TCP(sport=40002, dport=80, flags='FSPU', seq=7)`);
    expect(counters('snat')['drop-ct-invalid']).toBe(1);
    expect(ct.counter('tcp-invalid-flags')).toBe(49);
    // Control: in-window data with a valid acknowledgment reaches the pod.
    feed(fromHost(40001, `flags='PA', seq=5021, ack=1017, window=509`, "/Raw(b'y' * 10)"));
    expect(pods[0]!.sent.length).toBe(before + 1);
  });

  it('with --conntrack-tcp-liberal the out-of-window segment passes (counted), the blind RST still does not close', () => {
    const { pods, feed, ct } = build({ conntrack: { tcpLiberal: true } });
    handshake(feed, 40003);
    const conn = ct.lookup(ip(WEB), ip(HOST), 40003, 80, 6) >> 1;
    const before = pods[0]!.sent.length;
    feed(fromHost(40003, `flags='PA', seq=${5021 + 200000}, ack=1017, window=509`, "/Raw(b'z' * 10)"));
    expect(pods[0]!.sent.length).toBe(before + 1);
    expect(ct.counter('tcp-window-liberal')).toBe(1);
    feed(fromHost(40003, `flags='R', seq=0x12345678`));
    expect(ct.state(conn)).toBe(TCP_ESTABLISHED);
  });

  it('a forged inbound packet does not make a pod flow leave with its pod IP (SNAT and Geneve paths)', () => {
    const { uplink, pods, feed, counters } = build();
    // (a) An established UDP flow through SNAT; the attacker sends its inverse to the pod's own address.
    feed(`pod:0 IP(src='${WEB}', dst='${HOST}')/UDP(sport=40010, dport=53)/b'q1'`);
    feed(`IP(src='${HOST}', dst='${WEB}')/UDP(sport=53, dport=40010)/b'forged'`);
    expect(counters('inbound')['drop-snat-flow']).toBe(1);
    expect(pods[0]!.sent.length).toBe(0);
    feed(`pod:0 IP(src='${WEB}', dst='${HOST}')/UDP(sport=40010, dport=53)/b'q2'`);
    // (b) A forged SYN to a port the pod then opens a connection from: the pod's SYN is its own.
    feed(`IP(src='${HOST}', dst='${WEB}')/TCP(sport=80, dport=40011, flags='S', seq=77)`);
    feed(`pod:0 IP(src='${WEB}', dst='${HOST}')/TCP(sport=40011, dport=80, flags='S', seq=1000, window=64240)`);
    const out = uplink.sent.filter((f) => f[12] === 0x08 && f[13] === 0x00);
    expect(out.map((f) => srcOf(f))).toEqual([EGRESS_IP, EGRESS_IP, EGRESS_IP]);

    // (c) A pod whose Egress is on node-b (no SNAT entry here): a forged SYN, then the pod's segments of its
    // tunnelled flow (and its challenge ACK) still go in Geneve; a forged ACK opens nothing (no loose pickup).
    uplink.sent.length = 0;
    feed(`IP(src='${HOST}', dst='${REMOTE}')/TCP(sport=443, dport=40012, flags='S', seq=77)`);
    expect(pods[2]!.sent.length).toBe(1); // delivered: to the pod it is a SYN like any other
    feed(
      `pod:2 IP(src='${REMOTE}', dst='${HOST}')/TCP(sport=40012, dport=443, flags='A', seq=9000, ack=3000)`,
      `pod:2 IP(src='${REMOTE}', dst='${HOST}')/TCP(sport=40012, dport=443, flags='PA', seq=9000, ack=3000)/b'data'`,
      `pod:2 IP(src='${REMOTE}', dst='${HOST}')/TCP(sport=40012, dport=443, flags='FA', seq=9004, ack=3000)`,
    );
    feed(`IP(src='${HOST}', dst='${REMOTE}')/TCP(sport=443, dport=40013, flags='A', seq=3000, ack=9000)`);
    expect(counters('inbound')['drop-ct-invalid']).toBe(1);
    feed(`pod:2 IP(src='${REMOTE}', dst='${HOST}')/TCP(sport=40013, dport=443, flags='A', seq=9000, ack=3000)`);
    const frames = uplink.sent.filter((f) => f[12] === 0x08 && f[13] === 0x00);
    expect(frames.length).toBe(4);
    expect(frames.every(isGeneve)).toBe(true);
    expect(counters('classify')['reply-refused']).toBe(4); // the SYN of (b) and the three of (c) on 40012
    expect(counters('classify')['reply-no-nat'] ?? 0).toBe(0);

    // Control: a server pod answering a real inbound connection still replies un-NATed (Antrea's -rpl rule).
    uplink.sent.length = 0;
    feed(
      `IP(src='${HOST}', dst='${OTHER}')/TCP(sport=50000, dport=8080, flags='S', seq=100, window=64240)`,
      `pod:1 IP(src='${OTHER}', dst='${HOST}')/TCP(sport=8080, dport=50000, flags='SA', seq=800, ack=101, window=64240)`,
    );
    expect(pods[1]!.sent.length).toBe(1);
    const reply = uplink.sent.filter((f) => f[12] === 0x08 && f[13] === 0x00);
    expect(reply.map((f) => srcOf(f))).toEqual([OTHER]);
    expect(tcpFlagsOf(reply[0]!, 14)).toBe(0x12);
    expect(counters('classify')['reply-no-nat']).toBe(1);
  });

  it('LSRR and SSRR are dropped and counted from the segment, from pods and inside Geneve; Record Route passes', () => {
    const { dp, uplink, pods, feed, counters } = build();
    feed(
      `IP(src='${HOST}', dst='${OTHER}', options=[IPOption_LSRR(routers=['198.18.0.11'])])/UDP(sport=1, dport=9)/b'l'`,
      `IP(src='${HOST}', dst='${OTHER}', options=[IPOption_SSRR(routers=['198.18.0.11'])])/UDP(sport=1, dport=9)/b's'`,
      `IP(src='${HOST}', dst='${OTHER}', options=[IPOption_RR()])/UDP(sport=1, dport=9)/b'r'`,
    );
    expect(counters('uplink-ingress')['drop-source-route']).toBe(2);
    expect(pods[1]!.sent.length).toBe(1);
    feed(
      `pod:1 IP(src='${OTHER}', dst='${HOST}', options=[IPOption_LSRR(routers=['198.18.0.99'])])/UDP(sport=2, dport=9)/b'l'`,
      `pod:1 IP(src='${OTHER}', dst='${HOST}', options=[IPOption_RR()])/UDP(sport=2, dport=9)/b'r'`,
    );
    expect(counters('pod-ingress')['drop-source-route']).toBe(1);
    expect(uplink.sent.filter((f) => f[12] === 0x08).length).toBe(1);
    // A malformed option list (Record Route claiming 40 bytes in a 4-byte option area), written by hand.
    uplink.queue.push(badOptionsFrame());
    dp.pollUplink(100);
    expect(counters('uplink-ingress')['drop-ip-bad-options']).toBe(1);
    expect(pods[1]!.sent.length).toBe(1);
    // Inside Geneve from a pinned peer: the inner source route is dropped, the same packet without it SNATed.
    const m = mac(PEER_MAC);
    dp.pinPeer(ip('198.18.0.12'), (m[0]! << 8) | m[1]!, (m[2]! << 24) | (m[3]! << 16) | (m[4]! << 8) | m[5]! | 0);
    const tun = (opts: string) =>
      `Ether(dst='${NODE_MAC}', src='${PEER_MAC}')/IP(src='198.18.0.12', dst='${EGRESS_IP}', flags='DF')/UDP(sport=5555, dport=6081, chksum=0)/GENEVE(vni=0, proto=0x6558)/Ether(dst='aa:bb:cc:dd:ee:ff', src='${PEER_MAC}')/IP(src='10.244.2.5', dst='${HOST}'${opts})/UDP(sport=3, dport=9)/b'g'`;
    uplink.queue.push(...S(tun(", options=[IPOption_LSRR(routers=['198.18.0.99'])]"), tun('')));
    uplink.sent.length = 0;
    dp.pollUplink(101);
    expect(counters('geneve-decap')).toMatchObject({ 'drop-inner-source-route': 1, 'to-snat': 1 });
    expect(uplink.sent.map((f) => srcOf(f))).toEqual([EGRESS_IP]);
  });

  it('the per-pod limit keeps one pod from taking the table; its count falls as connections go', () => {
    // Control first: without a limit one pod takes what it asks for.
    const free = build({ conntrack: { maxConnections: 64 } });
    free.feed(...flows(WEB, 41000, 20));
    expect(free.counters('snat').new).toBe(20);

    const { dp, clock, feed, counters, ct, ctIn, pods } = build({ conntrack: { maxConnections: 64, perHostLimit: 8 } });
    feed(...flows(WEB, 41000, 20));
    expect(counters('snat')).toMatchObject({ new: 8, 'drop-ct-limit': 12 });
    expect(ct.counter('refused-per-host')).toBe(12);
    expect(ct.hostConnections(ip(WEB))).toBe(8);
    feed(...flows(OTHER, 42000, 8, 1));
    expect(counters('snat')).toMatchObject({ new: 16, 'drop-ct-limit': 12 });
    // Inbound, counted per destination pod: 10 sources to one server pod, 8 get in.
    feed(
      ...Array.from(
        { length: 10 },
        (_, k) => `IP(src='198.18.0.${150 + k}', dst='${OTHER}')/TCP(sport=50000, dport=8080, flags='S', seq=1)`,
      ),
    );
    expect(counters('inbound')).toMatchObject({ new: 8, 'drop-ct-limit': 2 });
    expect(pods[1]!.sent.length).toBe(8);
    expect(ctIn.hostConnections(ip(OTHER))).toBe(8);
    // When the pod's connections time out (UDP unreplied: 30 s), it may open new ones again.
    clock.now = 31_000;
    dp.tick(clock.now, ct.recordCount);
    expect(ct.hostConnections(ip(WEB))).toBe(0);
    feed(`pod:0 IP(src='${WEB}', dst='${HOST}')/UDP(sport=43000, dport=53)/b'q'`);
    expect(ct.hostConnections(ip(WEB))).toBe(1);
    expect(ct.selfCheck()).toBeNull();
  });
});
