/**
 * Dumps: JSON-ready objects, `conntrack -L` text (expected lines written by hand from libnetfilter_conntrack's
 * `__snprintf_conntrack_default`: "%-8s %u " protocol, timeout, TCP state, tuple, counters, [UNREPLIED], reply
 * tuple, counters, [ASSURED], mark, use), and SNAT usage per egress IP and destination.
 */
import { describe, expect, it } from 'vitest';
import { dump, formatAddr, formatConntrack, parseAddr, snatUsage } from '../../conntrack/index.js';
import { ACK, ICMP, SYN, TCP, UDP, ip, table, at } from './helpers.js';

describe('addresses', () => {
  it('format and parse int32 addresses, high bit included', () => {
    expect(formatAddr(ip('198.18.0.100'))).toBe('198.18.0.100');
    expect(formatAddr(ip('255.0.0.1'))).toBe('255.0.0.1');
    expect(parseAddr('10.244.1.5')).toBe(ip('10.244.1.5'));
    expect(() => parseAddr('10.244.1.256')).toThrow(/not an IPv4 address/);
  });
});

describe('dump and formatConntrack', () => {
  it('prints an assured SNATed TCP connection and an unreplied one like conntrack -L', () => {
    const t = table();
    const a = at(t, 0).create(ip('10.244.1.5'), ip('198.18.0.100'), 40000, 80, TCP, SYN, 60);
    t.snat(a, ip('198.18.0.201'));
    at(t, 0).confirm(a);
    at(t, 10).update(a, 1, SYN | ACK, 60);
    at(t, 20).update(a, 0, ACK, 52);
    at(t, 30).update(a, 0, ACK, 68);
    at(t, 40).update(a, 1, ACK, 60);
    const b = at(t, 500).create(ip('10.244.1.6'), ip('198.18.0.53'), 5353, 53, UDP, 0, 71);
    at(t, 500).confirm(b);
    const lines = formatConntrack(dump(t, 1000)).split('\n');
    expect(lines).toEqual([
      'tcp      6 431999 ESTABLISHED src=10.244.1.5 dst=198.18.0.100 sport=40000 dport=80 packets=3 bytes=180 ' +
        'src=198.18.0.100 dst=198.18.0.201 sport=80 dport=40000 packets=2 bytes=120 [ASSURED] mark=0 use=1',
      'udp      17 29 src=10.244.1.6 dst=198.18.0.53 sport=5353 dport=53 packets=1 bytes=71 [UNREPLIED] ' +
        'src=198.18.0.53 dst=10.244.1.6 sport=53 dport=5353 packets=0 bytes=0 mark=0 use=1',
    ]);
  });

  it('prints ICMP with type, code and id, and the translated id in the reply tuple', () => {
    const t = table();
    const a = at(t, 0).create(ip('10.244.1.5'), ip('198.18.0.1'), 7, 7, ICMP, 8, 84);
    t.snat(a, ip('198.19.0.1'));
    at(t, 0).confirm(a);
    const b = at(t, 0).create(ip('10.244.1.6'), ip('198.18.0.1'), 7, 7, ICMP, 8, 84);
    t.snat(b, ip('198.19.0.1'));
    at(t, 0).confirm(b);
    t.setMark(b, 3);
    const id = t.natPort(b);
    const [, second] = formatConntrack(dump(t, 0)).split('\n');
    expect(second).toBe(
      'icmp     1 30 src=10.244.1.6 dst=198.18.0.1 type=8 code=0 id=7 packets=1 bytes=84 [UNREPLIED] ' +
        `src=198.18.0.1 dst=198.19.0.1 type=0 code=0 id=${id} packets=0 bytes=0 mark=3 use=1`,
    );
  });

  it('JSON: state, both tuples, NAT binding, timeout left, counters; unconfirmed and dead connections are not listed', () => {
    const t = table();
    const a = at(t, 0).create(ip('10.244.1.5'), ip('198.18.0.100'), 40000, 80, TCP, SYN, 60);
    t.snat(a, ip('198.18.0.201'));
    at(t, 0).confirm(a);
    const b = at(t, 0).create(ip('10.244.1.5'), ip('198.18.0.100'), 40001, 80, TCP, SYN, 60); // in flight
    const c = at(t, 0).create(ip('10.244.1.5'), ip('198.18.0.100'), 40002, 80, TCP, SYN, 60);
    at(t, 0).confirm(c);
    t.remove(c);
    const d = dump(t, 60_500);
    expect(d).toHaveLength(1);
    expect(JSON.parse(JSON.stringify(d[0]))).toEqual({
      id: a,
      proto: 'tcp',
      protoNum: 6,
      state: 'SYN_SENT',
      timeout: 59,
      orig: { src: '10.244.1.5', dst: '198.18.0.100', sport: 40000, dport: 80, packets: 1, bytes: 60 },
      reply: { src: '198.18.0.100', dst: '198.18.0.201', sport: 80, dport: 40000, packets: 0, bytes: 0 },
      nat: { ip: '198.18.0.201', port: 40000 },
      unreplied: true,
      assured: false,
      mark: 0,
    });
    expect(b).toBeGreaterThanOrEqual(0);
  });
});

describe('snatUsage', () => {
  it('reports per egress IP and per destination how full the port space is, fullest first', () => {
    const t = table({ portRange: [10000, 10099] });
    const open = (src: string, dst: string, dport: number, nat: string, proto = TCP): void => {
      const c = at(t, 0).create(ip(src), ip(dst), 40000, dport, proto, proto === TCP ? SYN : 0, 60);
      expect(t.snat(c, ip(nat))).toBe(0);
      at(t, 0).confirm(c);
    };
    for (let i = 1; i <= 30; i++) open(`10.244.1.${i}`, '198.18.0.1', 443, '198.19.0.1');
    for (let i = 1; i <= 10; i++) open(`10.244.1.${i}`, '198.18.0.2', 443, '198.19.0.1');
    for (let i = 1; i <= 5; i++) open(`10.244.1.${i}`, '198.18.0.1', 53, '198.19.0.1', UDP);
    for (let i = 1; i <= 60; i++) open(`10.244.2.${i}`, '198.18.0.1', 443, '198.19.0.2');
    const u = snatUsage(t);
    expect(u.map((x) => [x.natIp, x.maxFullness])).toEqual([
      ['198.19.0.2', 0.6],
      ['198.19.0.1', 0.3],
    ]);
    const first = u[1]!;
    expect(first.connections).toEqual({ tcp: 40, udp: 5 });
    expect(first.distinctPorts).toEqual({ tcp: 30, udp: 5 });
    expect(first.destinations.map((d) => [d.dst, d.dport, d.proto, d.used, d.rangeSize])).toEqual([
      ['198.18.0.1', 443, 'tcp', 30, 100],
      ['198.18.0.2', 443, 'tcp', 10, 100],
      ['198.18.0.1', 53, 'udp', 5, 100],
    ]);
  });

  it('uses the default range sizes (64512 ports, 65536 ICMP ids) without a configured range', () => {
    const t = table();
    const c = at(t, 0).create(ip('10.244.1.1'), ip('198.18.0.1'), 9, 9, ICMP, 8, 84);
    t.snat(c, ip('198.19.0.1'));
    at(t, 0).confirm(c);
    const d = at(t, 0).create(ip('10.244.1.1'), ip('198.18.0.1'), 5000, 80, TCP, SYN, 60);
    t.snat(d, ip('198.19.0.1'));
    at(t, 0).confirm(d);
    const u = snatUsage(t);
    expect(u[0]!.destinations.map((x) => [x.proto, x.dport, x.rangeSize])).toEqual([
      ['tcp', 80, 64512],
      ['icmp', 0, 65536],
    ]);
  });
});
