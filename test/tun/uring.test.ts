/**
 * The io_uring backend of TunPort beyond what test/tun/tun-port.test.ts runs for both backends (root only):
 * a queue longer than the ring's provided buffers arrives whole and in order, readiness stops once the queue is
 * drained and comes back with the next packet (the ring's eventfd is cleared without losing a wake-up), a port
 * whose device vanishes goes down as with read/write, closing the port releases the device (the ring's read
 * held its file), and vnet ports are refused in one line. Everything is named egr…<pid> and removed afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Burst, Slab } from '../../engine/index.js';
import { netdev, TunError, TunPort, uringBuilt } from '../../tun/index.js';
import { pushBytes, skipReason, udpSend } from './support.js';

const base = skipReason();
const reason = base ?? (uringBuilt() ? null : 'the TUN/TAP addon was built without liburing');
if (reason) console.warn(`test/tun/uring.test.ts skipped: ${reason}`);

const pid = process.pid;
const NS = `egr-tur-${pid}`;
const NS_GONE = `egr-tug2-${pid}`;
const TUN = `egru${pid}`;
const GONE = `egrv${pid}`;
const SHORT = `egrw${pid}`;
const ADDR = '198.18.0.1';
const PEER = '198.18.0.2';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(reason !== null)('TunPort with io uring (root)', () => {
  const ports: TunPort[] = [];
  const keep = (p: TunPort): TunPort => (ports.push(p), p);
  let tun: TunPort;

  afterAll(() => {
    for (const p of ports) p.close();
    netdev.deleteNetns(NS, { ifExists: true });
    netdev.deleteNetns(NS_GONE, { ifExists: true });
    for (const l of [TUN, GONE, SHORT]) netdev.deleteLink(l, { ifExists: true });
    expect(netdev.listNetns().filter((n) => n === NS || n === NS_GONE)).toEqual([]);
  });

  it('opens with io uring; a queue longer than its provided buffers (256) arrives whole and in order', async () => {
    netdev.addNetns(NS);
    netdev.sysctl('net.ipv6.conf.default.disable_ipv6', 1, { netns: NS });
    netdev.sysctl('net.ipv6.conf.all.disable_ipv6', 1, { netns: NS });
    tun = keep(new TunPort(TUN, { io: 'uring' }));
    expect(tun.io).toBe('uring');
    netdev.moveToNetns(TUN, NS);
    netdev.setTxQueueLen(TUN, 2000, { netns: NS });
    netdev.addAddress(TUN, `${ADDR}/30`, { netns: NS });
    netdev.setUp(TUN, { netns: NS });
    const sends: [string, string, number][] = [];
    for (let i = 0; i < 600; i++) sends.push([`q-${i}`, PEER, 20000 + i]);
    udpSend(NS, [ADDR, 5555], sends);
    await sleep(50);
    const slab = new Slab({ slots: 64 });
    const burst = new Burst(slab, 8);
    const ports: number[] = [];
    const rx0 = tun.counters.get('rx');
    for (let n = tun.recv(burst); n > 0; n = tun.recv(burst)) {
      for (let i = 0; i < burst.count; i++) ports.push(slab.dv.getUint16(burst.off[i]! + 22));
      burst.freeAll();
    }
    expect(ports).toEqual(sends.map((s) => s[2]));
    expect(tun.counters.get('rx') - rx0).toBe(600);
    expect(tun.counters.get('rx-error')).toBe(0);
    expect(slab.available).toBe(64);
  });

  it('readiness: no callbacks once the queue is drained, one again when a packet arrives', async () => {
    const slab = new Slab({ slots: 64 });
    const burst = new Burst(slab, 64);
    let calls = 0;
    const got: number[] = [];
    tun.onReadable(() => {
      calls++;
      while (tun.recv(burst) > 0) {
        for (let i = 0; i < burst.count; i++) got.push(slab.dv.getUint16(burst.off[i]! + 22));
        burst.freeAll();
      }
    });
    await sleep(100); // whatever wake-up was pending has run
    const idle0 = calls;
    await sleep(200);
    expect(calls, 'no callbacks while nothing arrives').toBe(idle0);
    udpSend(NS, [ADDR, 5555], [['wake', PEER, 30001]]);
    for (let t = 0; t < 300 && !got.includes(30001); t++) await sleep(10);
    expect(got).toContain(30001);
    expect(calls).toBeGreaterThan(idle0);
    const after = calls;
    await sleep(200);
    expect(calls, 'quiet again after the drain').toBe(after);
    tun.onReadable(null);
  });

  it('a port whose device vanishes goes down (EDEVGONE) from the callback; sends are counted tx-error', async () => {
    netdev.addNetns(NS_GONE);
    const p = keep(new TunPort(GONE, { io: 'uring' }));
    netdev.moveToNetns(GONE, NS_GONE);
    netdev.setUp(GONE, { netns: NS_GONE });
    const slab = new Slab({ slots: 8 });
    const burst = new Burst(slab, 8);
    let calls = 0;
    let sawDown = 0;
    p.onReadable(() => {
      calls++;
      while (p.recv(burst) > 0) burst.freeAll();
      if (p.down !== null && sawDown === 0) sawDown = calls;
    });
    netdev.deleteNetns(NS_GONE);
    for (let t = 0; t < 300 && p.down === null; t++) await sleep(10);
    expect(p.down).toBeInstanceOf(TunError);
    expect(p.down!.code).toBe('EDEVGONE');
    expect(p.down!.message).toMatch(new RegExp(`^tun:${GONE}: device ${GONE} is gone`));
    expect(sawDown).toBe(calls);
    expect(p.recv(burst)).toBe(0);
    expect(slab.available).toBe(8);
    pushBytes(burst, new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1]));
    p.send(burst);
    burst.freeAll();
    expect(p.counters.get('tx-error')).toBe(1);
    const callsAtDown = calls;
    await sleep(50);
    expect(calls, 'no callbacks after down').toBe(callsAtDown);
  });

  it('close releases the device: it goes away with the port, as with read/write', () => {
    const p = new TunPort(SHORT, { io: 'uring' });
    expect(netdev.linkExists(SHORT)).toBe(true);
    p.onReadable(() => {});
    p.close();
    expect(netdev.linkExists(SHORT)).toBe(false);
    p.close(); // idempotent
  });

  it('vnet (offload) ports take read/write only: one line', () => {
    let err: unknown;
    try {
      keep(new TunPort(SHORT, { io: 'uring', vnetHdr: true }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TunError);
    expect((err as TunError).message).toBe('io_uring I/O does not take vnet (offload) ports yet: use io rw');
    expect(netdev.linkExists(SHORT)).toBe(false);
  });
});
