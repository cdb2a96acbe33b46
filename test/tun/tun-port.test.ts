/**
 * TunPort and TapPort on real devices (root only). A TUN and a TAP are opened in the root namespace and their
 * links moved into a namespace of ours — the fd stays with this process, as a pod port's does. Packets the
 * namespace's kernel sends must arrive byte-for-byte as scapy builds them; packets we write must reach sockets
 * in the namespace. Everything created is named egr…<pid> and removed in afterAll, even after a failure.
 * Every case runs once per I/O backend (`io`: read/write, then io_uring when the addon was built with it).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Burst, Slab } from '../../engine/index.js';
import { netdev, TapPort, TunPort, uringBuilt, type TunIo } from '../../tun/index.js';
import { fromHex, hex, pushBytes, scapyHex, skipReason, udpListen, udpSend, waitForPacket } from './support.js';

const reason = skipReason();
if (reason) console.warn(`test/tun/tun-port.test.ts skipped: ${reason}`);
const IOS: TunIo[] = reason === null && uringBuilt() ? ['rw', 'uring'] : ['rw'];
if (reason === null && IOS.length === 1)
  console.warn('test/tun/tun-port.test.ts: io uring cases skipped: the addon was built without liburing');

const pid = process.pid;
const NS = `egr-tun-${pid}`;
const TUN = `egrt${pid}`;
const TAP = `egrp${pid}`;
const TUN_ADDR = '198.18.0.1';
const TUN_PEER = '198.18.0.2';
const TAP_ADDR = '198.18.0.9';
const TAP_NEIGH = '198.18.0.10';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** IPv4/UDP (IHL 5) to `dport`? Read with the RFC 791/768 offsets, independently of engine/wire. */
function isUdpTo(dport: number) {
  return (b: Uint8Array) => b.length >= 28 && b[0] === 0x45 && b[9] === 17 && ((b[22]! << 8) | b[23]!) === dport;
}

describe.skipIf(reason !== null).each(IOS)('TunPort / TapPort with links in a namespace, io %s (root)', (io) => {
  let tun: TunPort;
  let tap: TapPort;
  let tapMac = '';
  const slab = new Slab({ slots: 512 });

  beforeAll(() => {
    netdev.addNetns(NS);
    // No IPv6 chatter (router solicitations, MLD): the counts below are exact.
    netdev.sysctl('net.ipv6.conf.default.disable_ipv6', 1, { netns: NS });
    netdev.sysctl('net.ipv6.conf.all.disable_ipv6', 1, { netns: NS });
    netdev.setUp('lo', { netns: NS });
    tun = new TunPort(TUN, { portIndex: 7, io });
    netdev.moveToNetns(TUN, NS);
    netdev.addAddress(TUN, `${TUN_ADDR}/30`, { netns: NS });
    netdev.setUp(TUN, { netns: NS });
    tap = new TapPort(TAP, { portIndex: 3, io });
    netdev.moveToNetns(TAP, NS);
    netdev.addAddress(TAP, `${TAP_ADDR}/30`, { netns: NS });
    netdev.setUp(TAP, { netns: NS });
    tapMac = netdev.getLink(TAP, { netns: NS })!.address!;
  });

  afterAll(() => {
    tun?.close();
    tap?.close();
    netdev.deleteNetns(NS, { ifExists: true });
    expect(netdev.listNetns()).not.toContain(NS);
    for (const l of [TUN, TAP]) expect(netdev.linkExists(l), `${l} left in the root namespace`).toBe(false);
  });

  it('opens the TUN non-blocking under the asked name; its link moved into the namespace, the fd stayed here', () => {
    expect(tun.ifname).toBe(TUN);
    expect(tun.io).toBe(io);
    if (io === 'uring') {
      // A ring beside the device's fd (its multishot read holds the device's file).
      const fds = readdirSync('/proc/self/fd').map((f) => {
        try {
          return readlinkSync(`/proc/self/fd/${f}`);
        } catch {
          return '';
        }
      });
      expect(fds).toContain('anon_inode:[io_uring]');
    }
    expect(tun.name).toBe(`tun:${TUN}`);
    expect(tun.kind).toBe('tun');
    const fdinfo = readFileSync(`/proc/self/fdinfo/${tun.fileDescriptor}`, 'utf8');
    const flags = parseInt(/flags:\s+([0-7]+)/.exec(fdinfo)![1]!, 8);
    expect(flags & 0o4000, 'O_NONBLOCK').toBe(0o4000);
    expect(netdev.linkExists(TUN)).toBe(false);
    const link = netdev.getLink(TUN, { netns: NS })!;
    expect(link.link_type).toBe('none'); // layer 3: no MAC
    expect(link.flags).toContain('UP');
    expect(netdev.getLink(TAP, { netns: NS })!.link_type).toBe('ether');
  });

  it('recv (readiness-driven): a UDP datagram sent in the namespace is the IPv4 packet scapy builds', async () => {
    const burst = new Burst(slab, 64);
    const wait = waitForPacket(tun, burst, isUdpTo(9999));
    udpSend(NS, [TUN_ADDR, 5555], [['hello-egr', TUN_PEER, 9999]]);
    const got = (await wait).find(isUdpTo(9999))!;
    // The kernel picks the IP ID and DF; everything else is fixed by what the socket sent.
    const id = (got[4]! << 8) | got[5]!;
    const df = got[6]! & 0x40 ? "'DF'" : '0';
    const [want] = scapyHex([
      `IP(src='${TUN_ADDR}', dst='${TUN_PEER}', id=${id}, flags=${df}, ttl=64)/UDP(sport=5555, dport=9999)/Raw(b'hello-egr')`,
    ]);
    expect(hex(got)).toBe(want);
    expect(slab.available).toBe(slab.slots);
  });

  it('recv fills the burst: slot at the headroom, len, l3 = off for IPv4, port index, arrival time', async () => {
    const burst = new Burst(slab, 64);
    udpSend(NS, [TUN_ADDR, 5555], [['meta', TUN_PEER, 9998]]);
    let n = 0;
    for (let t = 0; t < 100 && n === 0; t++) {
      n = tun.recv(burst);
      if (n === 0) await sleep(10);
    }
    expect(n).toBe(1);
    expect(burst.count).toBe(1);
    expect(burst.off[0]).toBe(slab.start(burst.slot[0]!));
    expect(burst.len[0]).toBe(20 + 8 + 4);
    expect(burst.l3[0]).toBe(burst.off[0]);
    expect(burst.port[0]).toBe(7);
    expect(burst.next[0]).toBe(0);
    expect(Math.abs(burst.tsSec[0]! - Date.now() / 1000)).toBeLessThan(5);
    expect(burst.tsNsec[0]).toBeLessThan(1e9);
    burst.freeAll();
  });

  it('one native crossing drains the queue up to the burst room (8, 8, 4, then EAGAIN)', async () => {
    const sends: [string, string, number][] = [];
    for (let i = 0; i < 20; i++) sends.push([`pkt-${i}`, TUN_PEER, 10000 + i]);
    udpSend(NS, [TUN_ADDR, 5555], sends);
    await sleep(50);
    const small = new Burst(slab, 8);
    const bursts0 = tun.counters.get('rx-bursts');
    const rx0 = tun.counters.get('rx');
    const counts: number[] = [];
    const ports: number[] = [];
    for (let k = 0; k < 4; k++) {
      counts.push(tun.recv(small));
      for (let i = 0; i < small.count; i++) ports.push(slab.dv.getUint16(small.off[i]! + 22));
      small.freeAll();
    }
    expect(counts).toEqual([8, 8, 4, 0]);
    expect(ports).toEqual(sends.map((s) => s[2])); // in order, none lost
    expect(tun.counters.get('rx-bursts') - bursts0).toBe(4);
    expect(tun.counters.get('rx') - rx0).toBe(20);
    expect(slab.available).toBe(slab.slots);
  });

  it('a packet that fills a slot (maybe cut short) is dropped and counted (rx-truncated); one byte less arrives', async () => {
    const tiny = new Slab({ slots: 8, slotSize: 256 }); // 128 bytes after the headroom
    expect(tiny.mtu).toBe(128);
    const burst = new Burst(tiny, 8);
    // IPv4 (20) + UDP (8) + payload: 300, 128 and 127 bytes.
    udpSend(
      NS,
      [TUN_ADDR, 5555],
      [
        ['x'.repeat(272), TUN_PEER, 9997],
        ['y'.repeat(100), TUN_PEER, 9997],
        ['z'.repeat(99), TUN_PEER, 9997],
      ],
    );
    await sleep(50);
    const t0 = tun.counters.get('rx-truncated');
    expect(tun.recv(burst)).toBe(1);
    expect(burst.len[0]).toBe(127);
    expect(tiny.u8[burst.off[0]! + 28]).toBe(0x7a); // 'z'
    expect(tun.counters.get('rx-truncated') - t0).toBe(2);
    burst.freeAll();
    expect(tiny.available).toBe(8);
  });

  it('an exhausted slab leaves packets in the kernel queue (rx-no-slot), nothing is lost', async () => {
    const one = new Slab({ slots: 1 });
    const burst = new Burst(one, 4);
    const held = one.alloc();
    udpSend(NS, [TUN_ADDR, 5555], [['later', TUN_PEER, 9996]]);
    await sleep(50);
    const c0 = tun.counters.get('rx-no-slot');
    expect(tun.recv(burst)).toBe(0);
    expect(tun.counters.get('rx-no-slot') - c0).toBe(1);
    one.free(held);
    expect(tun.recv(burst)).toBe(1);
    expect(burst.len[0]).toBe(20 + 8 + 5);
    burst.freeAll();
  });

  it('send: a crafted IPv4/UDP packet reaches a socket in the namespace; a malformed one is a counted tx-error', async () => {
    const [good] = scapyHex([
      `IP(src='${TUN_PEER}', dst='${TUN_ADDR}', id=1, ttl=64)/UDP(sport=4444, dport=7777)/Raw(b'from-engine')`,
    ]);
    const listener = await udpListen(NS, TUN_ADDR, 7777);
    const burst = new Burst(slab, 8);
    pushBytes(burst, new Uint8Array(20)); // version 0: the kernel refuses it (EINVAL)
    pushBytes(burst, fromHex(good!));
    const before = tun.counters.snapshot();
    tun.send(burst);
    burst.freeAll();
    const after = tun.counters.snapshot();
    expect(after.tx! - before.tx!).toBe(1);
    expect(after['tx-bytes']! - before['tx-bytes']!).toBe(good!.length / 2);
    expect(after['tx-error']! - before['tx-error']!).toBe(1);
    expect(after['tx-bursts']! - before['tx-bursts']!).toBe(1);
    expect(tun.lastErrno).toBe(22); // EINVAL
    expect(tun.down).toBeNull();
    expect(await listener.done).toEqual({ data: 'from-engine', from: [TUN_PEER, 4444] });
  });

  it('send splits a burst larger than batchSize into batchSize crossings', async () => {
    const port = tun;
    const big = new Burst(slab, 150);
    const [pkt] = scapyHex([`IP(src='${TUN_PEER}', dst='${TUN_ADDR}', id=3)/UDP(sport=4444, dport=7779)/Raw(b'n')`]);
    for (let i = 0; i < 150; i++) pushBytes(big, fromHex(pkt!));
    const before = port.counters.snapshot();
    port.send(big);
    big.freeAll();
    const after = port.counters.snapshot();
    expect(after.tx! - before.tx!).toBe(150);
    expect(after['tx-bursts']! - before['tx-bursts']!).toBe(3); // 64 + 64 + 22
  });

  it('TAP recv: the kernel ARP request for a neighbour is the frame scapy builds', async () => {
    const burst = new Burst(slab, 64);
    const isArp = (b: Uint8Array) => b.length >= 42 && b[12] === 0x08 && b[13] === 0x06;
    const wait = waitForPacket(tap, burst, isArp);
    udpSend(NS, [TAP_ADDR, 5556], [['arp-me', TAP_NEIGH, 9999]]); // needs the neighbour's MAC first
    const got = (await wait).find(isArp)!;
    const [want] = scapyHex([
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${tapMac}')/ARP(op=1, hwsrc='${tapMac}', psrc='${TAP_ADDR}', hwdst='00:00:00:00:00:00', pdst='${TAP_NEIGH}')`,
    ]);
    expect(hex(got)).toBe(want);
    expect(tap.counters.get('rx')).toBeGreaterThanOrEqual(1);
  });

  it('TAP recv leaves l3 unset (-1) and stamps the port index', async () => {
    const burst = new Burst(slab, 64);
    udpSend(NS, [TAP_ADDR, 5556], [['again', TAP_NEIGH, 9999]]);
    let n = 0;
    for (let t = 0; t < 100 && n === 0; t++) {
      n = tap.recv(burst);
      if (n === 0) await sleep(10);
    }
    expect(n).toBeGreaterThan(0);
    for (let i = 0; i < burst.count; i++) {
      expect(burst.l3[i]).toBe(-1);
      expect(burst.port[i]).toBe(3);
    }
    burst.freeAll();
  });

  it('TAP send: an Ethernet/IPv4/UDP frame addressed to the TAP reaches a socket in the namespace', async () => {
    const [frame] = scapyHex([
      `Ether(dst='${tapMac}', src='02:00:00:00:00:0a')/IP(src='${TAP_NEIGH}', dst='${TAP_ADDR}', id=2, ttl=64)/UDP(sport=4445, dport=7778)/Raw(b'from-engine-l2')`,
    ]);
    const listener = await udpListen(NS, TAP_ADDR, 7778);
    const burst = new Burst(slab, 8);
    pushBytes(burst, fromHex(frame!));
    tap.send(burst);
    burst.freeAll();
    expect(tap.counters.get('tx')).toBe(1);
    expect(await listener.done).toEqual({ data: 'from-engine-l2', from: [TAP_NEIGH, 4445] });
  });

  it('a write while the link is down is a counted tx-error (EIO); the port is not down and works again after up', async () => {
    const [pkt] = scapyHex([
      `IP(src='${TUN_PEER}', dst='${TUN_ADDR}', id=4)/UDP(sport=4444, dport=7780)/Raw(b'up-again')`,
    ]);
    const burst = new Burst(slab, 8);
    pushBytes(burst, fromHex(pkt!));
    netdev.setDown(TUN, { netns: NS });
    const e0 = tun.counters.get('tx-error');
    tun.send(burst);
    expect(tun.counters.get('tx-error') - e0).toBe(1);
    expect(tun.lastErrno).toBe(5); // EIO
    expect(tun.down).toBeNull();
    netdev.setUp(TUN, { netns: NS });
    const listener = await udpListen(NS, TUN_ADDR, 7780);
    tun.send(burst);
    burst.freeAll();
    expect((await listener.done).data).toBe('up-again');
  });

  it('onReadable(null) stops the callbacks', async () => {
    let calls = 0;
    tun.onReadable(() => calls++);
    tun.onReadable(null);
    udpSend(NS, [TUN_ADDR, 5555], [['quiet', TUN_PEER, 9995]]);
    await sleep(100);
    expect(calls).toBe(0);
    // Still queued (behind ICMP port-unreachables the namespace sent for the earlier tests' datagrams).
    const burst = new Burst(slab, 64);
    const seen: Uint8Array[] = [];
    while (tun.recv(burst) > 0) {
      for (let i = 0; i < burst.count; i++) seen.push(burst.bytes(i));
      burst.freeAll();
    }
    expect(seen.filter(isUdpTo(9995))).toHaveLength(1);
  });
});
