/**
 * tun/netdev: argument checks (no root) and the iproute2 helpers on a namespace of ours (root): namespaces,
 * veth, bridge, MTU, txqueuelen, addresses, routes, commands inside a namespace, and one-line errors that carry
 * `ip`'s own complaint. Nothing outside namespaces named egr-…<pid> is touched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netdev, NetdevError } from '../../tun/index.js';
import { skipReason, udpListen } from './support.js';

function thrown(f: () => unknown): NetdevError {
  try {
    f();
  } catch (e) {
    return e as NetdevError;
  }
  throw new Error('expected an error');
}

describe('netdev argument checks (no root needed: refused before ip runs)', () => {
  it('refuses bad interface and namespace names', () => {
    expect(thrown(() => netdev.setUp('eth0; reboot')).code).toBe('EINVAL');
    expect(thrown(() => netdev.addNetns('../etc')).message).toMatch(/^invalid namespace name "..\/etc"/);
    expect(thrown(() => netdev.moveToNetns('egr0', '-all')).message).toMatch(/^invalid namespace name "-all"/);
    expect(thrown(() => netdev.addVeth('a', 'b'.repeat(16))).code).toBe('EINVAL');
    expect(thrown(() => netdev.ip(['link'], { netns: 'bad ns' })).code).toBe('EINVAL');
  });

  it('refuses bad addresses, prefixes, MTUs and sysctl keys', () => {
    expect(thrown(() => netdev.addAddress('egr0', '198.18.0.1')).message).toBe(
      'invalid address "198.18.0.1": expected ADDRESS/PREFIXLEN',
    );
    expect(thrown(() => netdev.addAddress('egr0', '198.18.0.1/33')).code).toBe('EINVAL');
    expect(thrown(() => netdev.addAddress('egr0', '198.18.0.1/30', { peer: 'x' })).code).toBe('EINVAL');
    expect(thrown(() => netdev.addRoute('default', {})).message).toBe('route default: give a device or a gateway');
    expect(thrown(() => netdev.addRoute('198.18.0.0/15', { via: '198.18.0.300' })).code).toBe('EINVAL');
    expect(thrown(() => netdev.setMtu('egr0', 67)).message).toBe('invalid MTU 67: expected 68..65535');
    expect(thrown(() => netdev.setMtu('egr0', 1500.5)).code).toBe('EINVAL');
    expect(thrown(() => netdev.sysctl('net.ipv4.ip_forward; x', 1)).code).toBe('EINVAL');
    expect(thrown(() => netdev.setMac('egr0', '02:00:00:00:00')).code).toBe('EINVAL');
  });

  it('netnsCommand builds an argument vector for spawn (no shell)', () => {
    expect(netdev.netnsCommand('egr-x', '/bin/echo', ['a b', '$HOME'])).toEqual([
      'ip',
      ['netns', 'exec', 'egr-x', '/bin/echo', 'a b', '$HOME'],
    ]);
  });
});

const reason = skipReason();
if (reason) console.warn(`test/tun/netdev.test.ts (device part) skipped: ${reason}`);

const pid = process.pid;
const A = `egr-nda-${pid}`;
const B = `egr-ndb-${pid}`;

describe.skipIf(reason !== null)('netdev on namespaces of ours (root)', () => {
  beforeAll(() => {
    netdev.addNetns(A);
    netdev.addNetns(B);
  });

  afterAll(() => {
    netdev.deleteNetns(A, { ifExists: true });
    netdev.deleteNetns(B, { ifExists: true });
    const left = netdev.listNetns().filter((n) => n === A || n === B);
    expect(left).toEqual([]);
    expect(netdev.listLinks().filter((l) => l.ifname.startsWith('egr') && l.ifname.endsWith(String(pid)))).toEqual([]);
  });

  it('lists the namespaces it created; deleting a missing one with ifExists is quiet', () => {
    expect(netdev.listNetns()).toEqual(expect.arrayContaining([A, B]));
    netdev.deleteNetns(`egr-none-${pid}`.slice(0, 15), { ifExists: true });
    expect(thrown(() => netdev.deleteNetns(`egr-none-${pid}`.slice(0, 15))).code).toBe('EIPROUTE');
  });

  it('veth across namespaces, a bridge, MTU, txqueuelen, MAC, addresses and a route; traffic flows', async () => {
    const va = `egva${pid}`;
    const vb = `egvb${pid}`;
    const br = `egbr${pid}`;
    netdev.addVeth(va, vb, { netns: A, peerNetns: B });
    netdev.addBridge(br, { netns: B });
    netdev.setMaster(vb, br, { netns: B });
    netdev.setMtu(va, 1400, { netns: A });
    netdev.setMtu(vb, 1400, { netns: B });
    netdev.setTxQueueLen(va, 5000, { netns: A });
    netdev.setMac(va, '02:00:00:00:00:01', { netns: A });
    for (const [d, ns] of [
      [va, A],
      ['lo', A],
      [vb, B],
      [br, B],
    ] as const)
      netdev.setUp(d, { netns: ns });
    netdev.addAddress(va, '198.18.1.1/30', { netns: A });
    netdev.addAddress(br, '198.18.1.2/30', { netns: B });
    netdev.addAddress(br, '198.18.2.1/32', { netns: B });
    netdev.addRoute('198.18.2.1/32', { via: '198.18.1.2', netns: A });

    const la = netdev.getLink(va, { netns: A })!;
    expect(la.mtu).toBe(1400);
    expect(la.txqlen).toBe(5000);
    expect(la.address).toBe('02:00:00:00:00:01');
    expect(netdev.getLink(vb, { netns: B })!.flags).toContain('UP');
    expect(netdev.linkExists(va)).toBe(false); // nothing in the root namespace
    expect(netdev.ip(['-4', 'route', 'show', '198.18.2.1'], { netns: A })).toMatch(
      /^198\.18\.2\.1 via 198\.18\.1\.2 dev/,
    );

    // The path works: UDP from A through the route, received by a socket in B.
    const listener = await udpListen(B, '198.18.2.1', 6000);
    netdev.netnsExec(A, '/bin/bash', ['-c', 'echo -n via-route > /dev/udp/198.18.2.1/6000']);
    expect(await listener.done).toEqual({ data: 'via-route', from: ['198.18.1.1', expect.any(Number)] });
    netdev.deleteLink(va, { netns: A });
    expect(netdev.linkExists(vb, { netns: B })).toBe(false); // a veth pair goes together
    netdev.deleteLink(br, { netns: B });
    netdev.deleteLink(br, { netns: B, ifExists: true });
  });

  it('runs commands inside a namespace, with stdin, and reports their failure on one line', () => {
    expect(netdev.netnsExec(A, '/bin/cat', [], { input: 'in-netns' })).toBe('in-netns');
    expect(netdev.netnsExec(A, '/usr/bin/readlink', ['/proc/self/ns/net'])).not.toBe(
      netdev.netnsExec(B, '/usr/bin/readlink', ['/proc/self/ns/net']),
    );
    netdev.sysctl('net.ipv4.ip_forward', 1, { netns: A });
    expect(netdev.netnsExec(A, '/bin/cat', ['/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1');
    const e = thrown(() => netdev.netnsExec(A, '/bin/sh', ['-c', 'echo boom >&2; exit 3']));
    expect(e.message).toBe(`ip netns exec ${A} /bin/sh -c echo boom >&2; exit 3: boom`);
  });

  it("an ip failure is one line with ip's complaint", () => {
    const e = thrown(() => netdev.setUp(`egrno${pid}`, { netns: A }));
    expect(e).toBeInstanceOf(NetdevError);
    expect(e.code).toBe('EIPROUTE');
    expect(e.message).toBe(`ip -n ${A} link set dev egrno${pid} up: Cannot find device "egrno${pid}"`);
    expect(e.message).not.toMatch(/\n/);
    expect(netdev.getLink(`egrno${pid}`, { netns: A })).toBeNull();
  });
});
