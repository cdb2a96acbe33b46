/**
 * Opening TUN/TAP devices (root only): the one-line errors a user meets (name in use, wrong kind, name too long,
 * no clone device, no CAP_NET_ADMIN — the last one really provoked as user `nobody`), multi-queue devices, the
 * device's lifetime (it goes with its last fd), and a port whose device vanishes (its namespace is deleted).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Burst, Slab } from '../../engine/index.js';
import { addonPath, loadAddon, openError } from '../../tun/addon.js';
import { netdev, TapPort, TunError, TunPort } from '../../tun/index.js';
import { pushBytes, skipReason } from './support.js';

const reason = skipReason();
if (reason) console.warn(`test/tun/open.test.ts skipped: ${reason}`);
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
if (!reason && !hasSetpriv)
  console.warn('test/tun/open.test.ts: the EPERM-as-nobody case is skipped: no setpriv (util-linux)');

const pid = process.pid;
const BUSY = `egrb${pid}`;
const MQ = `egrm${pid}`;
const GONE = `egrg${pid}`;
const NS_GONE = `egr-tug-${pid}`;
/** Root-namespace links this file may create (all down, no addresses, no routes). */
const ROOT_LINKS = [BUSY, MQ, `egrd${pid}`];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function thrown(f: () => unknown): TunError {
  try {
    f();
  } catch (e) {
    return e as TunError;
  }
  throw new Error('expected an error');
}

describe.skipIf(reason !== null)('opening TUN/TAP devices (root)', () => {
  const ports: (TunPort | TapPort)[] = [];
  const keep = <P extends TunPort | TapPort>(p: P): P => (ports.push(p), p);
  let tmp = '';

  afterAll(() => {
    for (const p of ports) p.close();
    netdev.deleteNetns(NS_GONE, { ifExists: true });
    for (const l of ROOT_LINKS) netdev.deleteLink(l, { ifExists: true });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    expect(netdev.listNetns()).not.toContain(NS_GONE);
    const left = netdev.listLinks().filter((l) => ROOT_LINKS.includes(l.ifname) || l.ifname === GONE);
    expect(left.map((l) => l.ifname)).toEqual([]);
  });

  it('a name already in use is one EBUSY line, whether creating exclusively or attaching', () => {
    const first = keep(new TunPort(BUSY));
    expect(netdev.linkExists(BUSY)).toBe(true);
    for (const exclusive of [true, false]) {
      const e = thrown(() => keep(new TunPort(BUSY, { exclusive })));
      expect(e).toBeInstanceOf(TunError);
      expect(e.code).toBe('EBUSY');
      expect(e.message).toBe(`interface ${BUSY} is already in use`);
    }
    // Exclusive creation refuses any existing interface, not only TUN devices.
    expect(thrown(() => keep(new TapPort('lo'))).message).toBe('interface lo is already in use');
    first.close();
    first.close(); // idempotent
    expect(netdev.linkExists(BUSY), 'the device goes away with its last fd').toBe(false);
  });

  it('multi-queue: one device, several fds; a single-queue or TAP attach to it names the mismatch', () => {
    const qs = TunPort.openQueues(MQ, 3).map(keep);
    expect(qs.map((q) => q.ifname)).toEqual([MQ, MQ, MQ]);
    expect(qs.map((q) => q.name)).toEqual([`tun:${MQ}`, `tun:${MQ}#1`, `tun:${MQ}#2`]);
    expect(new Set(qs.map((q) => q.fileDescriptor)).size).toBe(3);
    expect(netdev.listLinks().filter((l) => l.ifname === MQ)).toHaveLength(1);
    const single = thrown(() => keep(new TunPort(MQ, { exclusive: false })));
    expect(single.code).toBe('EINVAL');
    expect(single.message).toBe(`interface ${MQ} exists and is not a single-queue TUN device`);
    const asTap = thrown(() => keep(new TapPort(MQ, { exclusive: false, multiQueue: true })));
    expect(asTap.message).toBe(`interface ${MQ} exists and is not a multi-queue TAP device`);
    const more = keep(new TunPort(MQ, { multiQueue: true, exclusive: false }));
    expect(more.ifname).toBe(MQ);
    qs[0]!.close();
    qs[1]!.close();
    expect(netdev.linkExists(MQ), 'still open on two queues').toBe(true);
    qs[2]!.close();
    more.close();
    expect(netdev.linkExists(MQ)).toBe(false);
  });

  it('a %d template gets the name the kernel picked', () => {
    const p = keep(new TunPort(`egrd${pid}`.slice(0, 12) + '%d'));
    expect(p.ifname).toMatch(new RegExp(`^${`egrd${pid}`.slice(0, 12)}\\d+$`));
    ROOT_LINKS.push(p.ifname);
    expect(netdev.linkExists(p.ifname)).toBe(true);
    p.close();
  });

  it('bad names are refused before any system call, and the kernel limit is mapped too', () => {
    for (const bad of ['egr-name-too-long', '', '-x', 'a b', 'a/b']) {
      const e = thrown(() => keep(new TunPort(bad)));
      expect(e.code, bad).toBe('EINVAL');
      expect(e.message).toMatch(/^invalid interface name ".*": use 1-15 characters/);
    }
    // The addon itself refuses a name the kernel would truncate (ENAMETOOLONG), mapped to one line.
    const raw = thrown(() =>
      loadAddon().open('a'.repeat(16), {
        tap: false,
        multiQueue: false,
        vnetHdr: false,
        exclusive: true,
        devicePath: '/dev/net/tun',
      }),
    ) as unknown as { errno: number; syscall: string };
    const ctx = { name: 'a'.repeat(16), tap: false, multiQueue: false, devicePath: '/dev/net/tun' };
    expect(openError(raw.errno, raw.syscall, ctx).message).toBe(
      `interface name "${'a'.repeat(16)}" is longer than 15 characters`,
    );
  });

  it('no clone device: ENOTUN with what to do', () => {
    const e = thrown(() => keep(new TunPort('egrx0', { devicePath: '/nonexistent/net/tun' })));
    expect(e.code).toBe('ENOTUN');
    expect(e.message).toBe('no /nonexistent/net/tun: load the tun module or run where TUN devices exist');
  });

  it.skipIf(!hasSetpriv)(
    'without CAP_NET_ADMIN (as nobody): EPERM, whether /dev/net/tun is closed to the user or open to all',
    () => {
      tmp = mkdtempSync(join(tmpdir(), 'egr-tun-'));
      try {
        chmodSync(tmp, 0o755);
        copyFileSync(addonPath()!, join(tmp, 'tun.node'));
        // A private clone-device node open to everyone: open(2) succeeds, TUNSETIFF needs the capability.
        execFileSync('mknod', ['-m', '666', join(tmp, 'tun'), 'c', '10', '200']);
        const script = (devicePath: string) =>
          `const t = require(${JSON.stringify(join(tmp, 'tun.node'))});
           try { t.open('egrnb${pid}', { devicePath: ${JSON.stringify(devicePath)} }); console.log('{"opened":true}'); }
           catch (e) { console.log(JSON.stringify({ errno: e.errno, syscall: e.syscall })); }`;
        const asNobody = (devicePath: string) =>
          JSON.parse(
            execFileSync(
              'setpriv',
              [
                '--reuid=65534',
                '--regid=65534',
                '--clear-groups',
                '--inh-caps=-all',
                process.execPath,
                '-e',
                script(devicePath),
              ],
              { encoding: 'utf8', cwd: tmp },
            ),
          ) as { errno: number; syscall: string };
        const ctx = { name: `egrnb${pid}`, tap: false, multiQueue: false, devicePath: '/dev/net/tun' };
        const closed = asNobody('/dev/net/tun'); // mode 0600 root: open(2) fails with EACCES
        expect(closed).toEqual({ errno: 13, syscall: 'open' });
        expect(openError(closed.errno, closed.syscall, ctx).message).toBe(
          'opening a TUN device needs CAP_NET_ADMIN (run as root)',
        );
        const open = asNobody(join(tmp, 'tun'));
        expect(open).toEqual({ errno: 1, syscall: 'TUNSETIFF' }); // EPERM from the kernel's capability check
        expect(openError(open.errno, open.syscall, ctx).code).toBe('EPERM');
        expect(netdev.linkExists(`egrnb${pid}`)).toBe(false);
      } finally {
        rmSync(tmp, { recursive: true, force: true }); // the world-open device node goes at once
      }
    },
  );

  it('a port whose device vanishes (namespace deleted) goes down: last callback, no reads, sends counted', async () => {
    netdev.addNetns(NS_GONE);
    const p = keep(new TunPort(GONE));
    netdev.moveToNetns(GONE, NS_GONE);
    netdev.setUp(GONE, { netns: NS_GONE });
    const slab = new Slab({ slots: 8 });
    const burst = new Burst(slab, 8);
    let calls = 0;
    let sawDown = 0;
    p.onReadable(() => {
      calls++;
      while (p.recv(burst) > 0) burst.freeAll(); // a consumer drains (IPv6 chatter may arrive first)
      if (p.down !== null && sawDown === 0) sawDown = calls;
    });
    netdev.deleteNetns(NS_GONE);
    for (let t = 0; t < 300 && p.down === null; t++) await sleep(10);
    expect(p.down).toBeInstanceOf(TunError);
    expect(p.down!.code).toBe('EDEVGONE');
    expect(p.down!.message).toMatch(new RegExp(`^tun:${GONE}: device ${GONE} is gone`));
    expect(sawDown, 'the callback ran once more with the port down').toBe(calls);
    expect(p.recv(burst)).toBe(0);
    expect(slab.available).toBe(8);
    pushBytes(burst, new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1]));
    p.send(burst);
    burst.freeAll();
    expect(p.counters.get('tx-error')).toBe(1);
    const callsAtDown = calls;
    await sleep(50);
    expect(calls, 'no callbacks after down').toBe(callsAtDown);
    p.close();
  });
});
