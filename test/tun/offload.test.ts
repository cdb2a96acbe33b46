/**
 * GSO offloads of TUN/TAP ports (tun/offload.ts, tun/src/vnet.cc) on real devices (root only).
 *
 * 1. TCP through a relay that SNATs like the engine: a client in namespace P sends 4 MiB through its TUN A (vnet
 *    header, TSO), the test reads super-packets from A as probes, rewrites the source address of each probe
 *    (wire/tcp.snat, on the probe only) and writes to TUN B (vnet) in namespace Q, which forwards to a plain
 *    TUN C: the kernel there segments and computes every checksum from the partial one we wrote, and the test
 *    relays C's segments to namespace R's plain TUN D, where the server's kernel verifies them. The server must
 *    receive every byte (sha256) from the SNAT address, A must have read super-packets and B written them whole.
 * 2. Software segmentation: a UDP GSO send (UDP_SEGMENT) read from A as one probe is wrapped in a Geneve-like
 *    frame and sent to a vnet TAP; scapy, sniffing in the TAP's namespace, checks every segment (outer IPv4
 *    length and checksum, inner IPv4 and UDP checksums) and the payload.
 * Everything is named egr…<pid> and removed in afterAll.
 */
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Burst, Slab, wire } from '../../engine/index.js';
import { netdev, POD_OFFLOADS, TapPort, TunPort } from '../../tun/index.js';
import { PY, skipReason } from './support.js';

const reason = skipReason();
if (reason) console.warn(`test/tun/offload.test.ts skipped: ${reason}`);

const pid = process.pid;
const P = `egr-op-${pid}`;
const Q = `egr-oq-${pid}`;
const R = `egr-or-${pid}`;
const S = `egr-os-${pid}`;
const P_IP = '198.18.210.1';
const X_IP = '198.18.212.1'; // the "egress IP" the relay SNATs to
const R_IP = '198.18.213.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A child process in a namespace whose stdout we collect; `ready` resolves on its first line. */
function start(ns: string, code: string) {
  const [file, args] = netdev.netnsCommand(ns, PY, ['-c', code]);
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((res) => child.on('exit', (s) => res(s ?? -1)));
  return {
    child,
    exited,
    out: () => out,
    err: () => err,
    async ready(ms = 5000) {
      const t = Date.now() + ms;
      while (!out.includes('\n')) {
        if (Date.now() > t || child.exitCode !== null) throw new Error(`${ns}: not ready: ${err}`);
        await sleep(10);
      }
    },
  };
}

describe.skipIf(reason !== null)('GSO offloads on TUN/TAP ports (root)', () => {
  const slab = new Slab({ slots: 2048 });
  const ports: Array<TunPort | TapPort> = [];
  let A: TunPort;

  beforeAll(() => {
    for (const ns of [P, Q, R, S]) {
      netdev.addNetns(ns);
      netdev.sysctl('net.ipv6.conf.all.disable_ipv6', 1, { netns: ns });
      netdev.sysctl('net.ipv6.conf.default.disable_ipv6', 1, { netns: ns });
      netdev.setUp('lo', { netns: ns });
    }
    A = new TunPort('eth0', { netns: P, vnetHdr: true, offload: POD_OFFLOADS });
    ports.push(A);
    netdev.addAddress('eth0', `${P_IP}/32`, { netns: P });
    netdev.setUp('eth0', { netns: P });
    netdev.addRoute('default', { dev: 'eth0', netns: P });
  });

  afterAll(() => {
    for (const p of ports) p.close();
    for (const ns of [P, Q, R, S]) netdev.deleteNetns(ns, { ifExists: true });
    expect(netdev.listNetns().filter((n) => n.endsWith(`-${pid}`) && n.startsWith('egr-o'))).toEqual([]);
  });

  it('TCP through a SNAT relay: super-packets read whole, written whole, segmented by the kernel with valid checksums', async () => {
    const B = new TunPort('tb', { netns: Q, vnetHdr: true });
    const C = new TunPort('tc', { netns: Q });
    const D = new TunPort('eth0', { netns: R });
    ports.push(B, C, D);
    netdev.sysctl('net.ipv4.ip_forward', 1, { netns: Q });
    for (const d of ['tb', 'tc']) netdev.setUp(d, { netns: Q });
    netdev.addRoute(`${X_IP}/32`, { dev: 'tb', netns: Q });
    netdev.addRoute(`${R_IP}/32`, { dev: 'tc', netns: Q });
    netdev.addAddress('eth0', `${R_IP}/32`, { netns: R });
    netdev.setUp('eth0', { netns: R });
    netdev.addRoute('default', { dev: 'eth0', netns: R });

    const v = slab.dv;
    const p = wire.ipv4.parseAddr(P_IP)!;
    const x = wire.ipv4.parseAddr(X_IP)!;
    const relay = (from: TunPort, to: TunPort, rewrite: ((l3: number) => void) | null) => {
      const b = new Burst(slab, 64);
      from.onReadable(() => {
        for (let k = 0; k < 64; k++) {
          if (from.recv(b) === 0) break;
          if (rewrite) for (let i = 0; i < b.count; i++) rewrite(b.off[i]!);
          to.send(b);
          b.freeAll();
        }
      });
    };
    const l4 = (l3: number) => l3 + ((v.getUint8(l3) & 0x0f) << 2);
    const isTcp = (l3: number) => v.getUint8(l3) >> 4 === 4 && v.getUint8(l3 + 9) === 6;
    relay(A, B, (l3) => {
      if (isTcp(l3) && wire.ipv4.src(v, l3) === p) wire.tcp.snat(v, l3, l4(l3), x, v.getUint16(l4(l3)));
    });
    relay(B, A, (l3) => {
      if (isTcp(l3) && wire.ipv4.dst(v, l3) === x) wire.tcp.dnat(v, l3, l4(l3), p, v.getUint16(l4(l3) + 2));
    });
    relay(C, D, null);
    relay(D, C, null);

    const server = start(
      R,
      [
        'import socket, hashlib',
        's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
        `s.bind((${JSON.stringify(R_IP)}, 5001)); s.listen(1); s.settimeout(20)`,
        'print("ready", flush=True)',
        'c, a = s.accept(); c.settimeout(20); h = hashlib.sha256(); n = 0',
        'while True:',
        '    d = c.recv(1 << 20)',
        '    if not d: break',
        '    h.update(d); n += len(d)',
        'print(n, h.hexdigest(), a[0], flush=True)',
      ].join('\n'),
    );
    await server.ready();
    const client = start(
      P,
      [
        'import socket, hashlib, random',
        'data = random.Random(8).randbytes(4 << 20)',
        `c = socket.create_connection((${JSON.stringify(R_IP)}, 5001), timeout=20)`,
        'c.sendall(data); c.close()',
        'print(len(data), hashlib.sha256(data).hexdigest(), flush=True)',
      ].join('\n'),
    );
    const [cs, ss] = await Promise.all([client.exited, server.exited]);
    for (const port of [A, B, C, D]) port.onReadable(null);
    expect(cs, client.err()).toBe(0);
    expect(ss, server.err()).toBe(0);
    const [sent, sentHash] = client.out().trim().split(' ');
    const [got, gotHash, peer] = server.out().trim().split('\n').pop()!.split(' ');
    expect(got).toBe(sent);
    expect(gotHash).toBe(sentHash);
    expect(peer).toBe(X_IP); // the relay's SNAT, carried by every segment the kernel cut from our writes
    const a = A.counters.snapshot();
    const b = B.counters.snapshot();
    expect(a['rx-gso']).toBeGreaterThan(0);
    expect(a['rx-bad-vnet']).toBe(0);
    expect(b['tx-gso']).toBeGreaterThan(0);
    expect(b['tx-gso-lost']).toBe(0);
    expect(b['tx-gso-segments']).toBe(0); // plain IPv4 on a TUN: always written whole
    // Fewer reads than segments: 4 MiB is ~2900 segments of 1448 bytes.
    expect(a.rx).toBeLessThan(2900);
  }, 60_000);

  it('a UDP GSO send read as one probe, encapsulated, is segmented in software with valid checksums', async () => {
    const E = new TapPort('eth0', { netns: S, vnetHdr: true });
    ports.push(E);
    netdev.setUp('eth0', { netns: S });
    const sniff = start(
      S,
      [
        'import sys',
        'from scapy.all import sniff, Ether',
        'pk = sniff(iface="eth0", count=6, timeout=8, lfilter=lambda p: p.haslayer("UDP") and p["UDP"].dport == 6081,',
        '           started_callback=lambda: print("ready", flush=True))',
        'for p in pk: print(bytes(p).hex(), flush=True)',
      ].join('\n'),
    );
    await sniff.ready();
    const b = new Burst(slab, 64);
    const got = new Promise<void>((res) =>
      A.onReadable(() => {
        while (A.recv(b) > 0) {
          /* collect */
        }
        for (let i = 0; i < b.count; i++)
          if (slab.dv.getUint8(b.off[i]! + 9) === 17 && slab.dv.getUint16(b.off[i]! + 22) === 7000) return res();
        b.freeAll();
      }),
    );
    const data = Buffer.alloc(5500);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    const r = spawnSync('ip', [
      'netns',
      'exec',
      P,
      PY,
      '-c',
      [
        'import socket',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        's.setsockopt(socket.IPPROTO_UDP, 103, 1000)  # UDP_SEGMENT',
        `s.sendto(bytes.fromhex(${JSON.stringify(data.toString('hex'))}), (${JSON.stringify(R_IP)}, 7000))`,
      ].join('\n'),
    ]);
    expect(r.status, String(r.stderr)).toBe(0);
    await got;
    A.onReadable(null);
    const i = [...Array(b.count).keys()].find((k) => slab.dv.getUint16(b.off[k]! + 22) === 7000)!;
    expect(b.len[i]).toBe(20 + 8 + 1000); // the probe: the first segment
    // Wrap the probe: Ethernet / IPv4 / UDP 6081 / Geneve / Ethernet, written by hand (RFC 8926 §3.4 layout).
    const outer = Buffer.from(
      '0202000000020202000000010800' + // Ethernet: dst, src, IPv4
        '45000000000040004011' +
        '0000' +
        'c612d601' +
        'c612d602' + // IPv4 198.18.214.1 -> .2, UDP, DF
        '3039' +
        '17c1' +
        '0000' +
        '0000' + // UDP 12345 -> 6081, length and checksum left to the writer
        '0000655800000000' + // Geneve: no options, protocol 0x6558 (Ethernet), VNI 0
        '0202000000040202000000030800', // inner Ethernet
      'hex',
    );
    expect(outer.length).toBe(64);
    const off = b.off[i]! - 64;
    slab.u8.set(outer, off);
    const out = new Burst(slab, 4);
    out.count = 1;
    out.slot[0] = b.slot[i]!;
    out.off[0] = off;
    out.len[0] = b.len[i]! + 64;
    E.send(out);
    b.freeAll();
    expect(await sniff.exited, sniff.err()).toBe(0);
    const e = E.counters.snapshot();
    expect(e['tx-gso']).toBe(1);
    expect(e['tx-gso-segments']).toBe(6);
    const frames = sniff.out().trim().split('\n').slice(1);
    expect(frames).toHaveLength(6);
    // scapy recomputes each checksum; the payloads must rebuild the datagram.
    const check = spawnSync(
      PY,
      [
        '-c',
        [
          'import sys',
          'from scapy.all import Ether, IP, UDP',
          'pay = b""',
          'for h in sys.stdin.read().split():',
          '    f = bytes.fromhex(h)',
          '    o = IP(f[14:64]); c = o.chksum; del o.chksum; assert IP(bytes(o)).chksum == c, "outer IP checksum"',
          '    assert o.len == len(f) - 14, "outer length"',
          '    i = IP(f[64:]); ic = i.chksum; uc = i[UDP].chksum',
          '    del i.chksum; del i[UDP].chksum; j = IP(bytes(i))',
          '    assert j.chksum == ic and j[UDP].chksum == uc, "inner checksums"',
          '    assert j.src == "198.18.210.1" and j[UDP].dport == 7000',
          '    pay += bytes(j[UDP].payload)',
          'sys.stdout.write(pay.hex())',
        ].join('\n'),
      ],
      { input: frames.join('\n'), encoding: 'utf8' },
    );
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toBe(data.toString('hex'));
  }, 30_000);
});
