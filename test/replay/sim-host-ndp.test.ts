/**
 * A simulated host's IPv6 Neighbor Discovery (engine/agent/sim-host.ts), frame by frame on a switch with one
 * node-side probe port, against frames built by scapy: the solicited NA it answers an NS for its address with
 * (flags, target, target LLA option, checksum), the NA to all-nodes for a DAD probe, silence for an NS of another
 * address or an invalid one, the NS it sends to resolve a neighbour (solicited-node group and its 33:33:ff MAC),
 * the packets that waited leaving once the NA comes, and the neighbour cache's rules (RFC 4861 §7.2.3, §7.2.5 as
 * Linux's ndisc_recv_na applies them): an NA never creates an entry, resolves an INCOMPLETE one whatever its
 * Override flag, changes a known MAC only with Override; an NS with a source LLA creates or overrides the entry.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { SimHost } from '../../engine/agent/sim-host.js';
import { SimSwitch, type SegmentEndpoint } from '../../engine/agent/sim-switch.js';
import { Slab } from '../../engine/packet/index.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const HOST = '2001:2::64';
const HOST_MAC = '02:ee:00:00:00:64';
const NODE = '2001:2::12:3456'; // low 24 bits 12:34:56: solicited-node ff02::1:ff12:3456, MAC 33:33:ff:12:34:56
const NODE_MAC = '02:0e:c6:12:00:0c';
const OTHER_MAC = '02:0e:c6:12:00:0d';
const THIRD = '2001:2::13';
const THIRD_MAC = '02:0e:c6:12:00:aa';
const POD = '2001:2:0:101::10'; // in the node's IPv6 pod CIDR, reached through the node (a route)

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const mac = (s: string): Uint8Array => Uint8Array.from(s.split(':').map((x) => parseInt(x, 16)));

// Frames into the host (from the probe) and the frames expected out of it, all by scapy.
const NA = (tgt: string, tmac: string, flags: string, extra = ''): string =>
  `Ether(dst='${HOST_MAC}', src='${tmac}')/IPv6(src='${tgt}', dst='${HOST}', hlim=255)/` +
  `ICMPv6ND_NA(tgt='${tgt}', ${flags})/ICMPv6NDOptDstLLAddr(lladdr='${tmac}')${extra}`;
const DATA = (dst: string, n: number): string =>
  `IPv6(src='${HOST}', dst='${dst}')/UDP(sport=9, dport=${40000 + n})/b'd${n}'`;
const EXPR = {
  nsForHost: `Ether(dst='33:33:ff:00:00:64', src='${NODE_MAC}')/IPv6(src='${NODE}', dst='ff02::1:ff00:64', hlim=255)/ICMPv6ND_NS(tgt='${HOST}')/ICMPv6NDOptSrcLLAddr(lladdr='${NODE_MAC}')`,
  naForNode: `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IPv6(src='${HOST}', dst='${NODE}', hlim=255)/ICMPv6ND_NA(R=0, S=1, O=1, tgt='${HOST}')/ICMPv6NDOptDstLLAddr(lladdr='${HOST_MAC}')`,
  naForNodeNewMac: `Ether(dst='${OTHER_MAC}', src='${HOST_MAC}')/IPv6(src='${HOST}', dst='${NODE}', hlim=255)/ICMPv6ND_NA(R=0, S=1, O=1, tgt='${HOST}')/ICMPv6NDOptDstLLAddr(lladdr='${HOST_MAC}')`,
  nsDad: `Ether(dst='33:33:ff:00:00:64', src='${NODE_MAC}')/IPv6(src='::', dst='ff02::1:ff00:64', hlim=255)/ICMPv6ND_NS(tgt='${HOST}')`,
  naDad: `Ether(dst='33:33:00:00:00:01', src='${HOST_MAC}')/IPv6(src='${HOST}', dst='ff02::1', hlim=255)/ICMPv6ND_NA(R=0, S=0, O=1, tgt='${HOST}')/ICMPv6NDOptDstLLAddr(lladdr='${HOST_MAC}')`,
  nsOther: `Ether(dst='33:33:ff:00:00:65', src='${NODE_MAC}')/IPv6(src='${NODE}', dst='ff02::1:ff00:65', hlim=255)/ICMPv6ND_NS(tgt='2001:2::65')/ICMPv6NDOptSrcLLAddr(lladdr='${NODE_MAC}')`,
  nsHop64: `Ether(dst='33:33:ff:00:00:64', src='${NODE_MAC}')/IPv6(src='${NODE}', dst='ff02::1:ff00:64', hlim=64)/ICMPv6ND_NS(tgt='${HOST}')/ICMPv6NDOptSrcLLAddr(lladdr='${NODE_MAC}')`,
  nsBadSum: `Ether(dst='33:33:ff:00:00:64', src='${NODE_MAC}')/IPv6(src='${NODE}', dst='ff02::1:ff00:64', hlim=255)/ICMPv6ND_NS(tgt='${HOST}', cksum=0x1234)/ICMPv6NDOptSrcLLAddr(lladdr='${NODE_MAC}')`,
  nsForHostNewMac: `Ether(dst='33:33:ff:00:00:64', src='${OTHER_MAC}')/IPv6(src='${NODE}', dst='ff02::1:ff00:64', hlim=255)/ICMPv6ND_NS(tgt='${HOST}')/ICMPv6NDOptSrcLLAddr(lladdr='${OTHER_MAC}')`,
  nsToNode: `Ether(dst='33:33:ff:12:34:56', src='${HOST_MAC}')/IPv6(src='${HOST}', dst='ff02::1:ff12:3456', hlim=255)/ICMPv6ND_NS(tgt='${NODE}')/ICMPv6NDOptSrcLLAddr(lladdr='${HOST_MAC}')`,
  nsToThird: `Ether(dst='33:33:ff:00:00:13', src='${HOST_MAC}')/IPv6(src='${HOST}', dst='ff02::1:ff00:13', hlim=255)/ICMPv6ND_NS(tgt='${THIRD}')/ICMPv6NDOptSrcLLAddr(lladdr='${HOST_MAC}')`,
  naSolicited: NA(NODE, NODE_MAC, 'R=0, S=1, O=1'),
  naNoOverride: NA(NODE, OTHER_MAC, 'R=0, S=1, O=0'),
  naOverride: NA(NODE, OTHER_MAC, 'R=0, S=0, O=1')
    .replace(`dst='${HOST}'`, "dst='ff02::1'")
    .replace(`dst='${HOST_MAC}'`, "dst='33:33:00:00:00:01'"),
  naUnknown: NA('2001:2::77', OTHER_MAC, 'R=0, S=0, O=1'),
  naThirdNoOverride: NA(THIRD, THIRD_MAC, 'R=0, S=1, O=0'),
  naThirdNoLla: `Ether(dst='${HOST_MAC}', src='${THIRD_MAC}')/IPv6(src='${THIRD}', dst='${HOST}', hlim=255)/ICMPv6ND_NA(tgt='${THIRD}', R=0, S=1, O=1)`,
  naBadSum: NA(NODE, OTHER_MAC, 'R=0, S=1, O=1, cksum=0x4321'),
  data0: DATA(NODE, 0),
  data1: DATA(NODE, 1),
  data2: DATA(NODE, 2),
  data3: DATA(THIRD, 3),
  dataPod: DATA(POD, 4),
  outPod: `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/${DATA(POD, 4)}`,
  out0: `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/${DATA(NODE, 0)}`,
  out1: `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/${DATA(NODE, 1)}`,
  out2Other: `Ether(dst='${OTHER_MAC}', src='${HOST_MAC}')/${DATA(NODE, 2)}`,
  out2Node: `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/${DATA(NODE, 2)}`,
  out3: `Ether(dst='${THIRD_MAC}', src='${HOST_MAC}')/${DATA(THIRD, 3)}`,
} as const;
type Name = keyof typeof EXPR;

describe.skipIf(!hasScapy())('sim-host IPv6 neighbour discovery, byte for byte against scapy', () => {
  const names = Object.keys(EXPR) as Name[];
  const built = scapyBytes(names.map((n) => EXPR[n]));
  const F = Object.fromEntries(names.map((n, i) => [n, built[i]!])) as Record<Name, Uint8Array>;

  let slab: Slab;
  let sw: SimSwitch;
  let host: SimHost;
  let probe: number;
  let got: Uint8Array[];
  let changes: Array<{ ip: string; mac: string; was: string | null }>;

  const words = (hex: string): number[] => [0, 8, 16, 24].map((i) => parseInt(hex.slice(i, i + 8), 16) | 0);

  beforeEach(() => {
    slab = new Slab({ slots: 64 });
    sw = new SimSwitch(slab);
    got = [];
    const ep: SegmentEndpoint = {
      name: 'probe',
      up: true,
      mtu: 0,
      deliver(u8, off, len) {
        got.push(u8.slice(off, off + len));
        return true;
      },
    };
    probe = sw.attach(ep, true);
    host = new SimHost(sw, {
      name: 'h6',
      ip: 0,
      mac: mac(HOST_MAC),
      subnet: { addr: 0, len: 32 },
      ip6: Uint8Array.from(Buffer.from('20010002000000000000000000000064', 'hex')),
      reflect: true,
      // 2001:2:0:101::/64 via the node (2001:2::12:3456).
      routes6: [
        { addr: words('20010002000001010000000000000000'), len: 64, via: words('20010002000000000000000000123456') },
      ],
    });
    changes = [];
    host.onNdpChange = (c) => changes.push({ ip: c.ip, mac: c.mac, was: c.was });
  });

  /** A frame from the probe's port, forwarded; returns what the probe received meanwhile. */
  function inject(name: Name): string[] {
    const f = F[name];
    const s = slab.alloc();
    const o = slab.start(s);
    slab.u8.set(f, o);
    sw.send(probe, s, o, f.length);
    return drain();
  }
  /** The host sends an IPv6 packet (as replay hands it one); returns what the probe received meanwhile. */
  function send(name: Name): string[] {
    const p = F[name];
    const s = slab.alloc();
    slab.u8.set(p, slab.start(s));
    host.sendSlot6(s, p.length);
    return drain();
  }
  function drain(): string[] {
    got = [];
    sw.drain();
    return got.map(hex);
  }
  const want = (...n: Name[]): string[] => n.map((k) => hex(F[k]));
  const cache = (): Record<string, string | null> => Object.fromEntries(host.neighbors6().map((e) => [e.ip, e.mac]));

  it('answers an NS for its address with a solicited NA and learns the source LLA', () => {
    expect(inject('nsForHost')).toEqual(want('naForNode'));
    expect(cache()).toEqual({ [NODE]: NODE_MAC });
    expect(host.stats()['ndp-adverts']).toBe(1);
    // Learned from the NS: the host's packet to the node leaves at once, no NS of its own.
    expect(send('data0')).toEqual(want('out0'));
    expect(host.stats()['ndp-solicits']).toBe(0);
    expect(slab.available).toBe(64);
  });

  it('answers a DAD probe (source ::) with an NA to all-nodes, S clear, and learns nothing', () => {
    expect(inject('nsDad')).toEqual(want('naDad'));
    expect(cache()).toEqual({});
  });

  it('ignores an NS for another address, with Hop Limit 64, or with a bad checksum', () => {
    for (const n of ['nsOther', 'nsHop64', 'nsBadSum'] as const) expect(inject(n), n).toEqual([]);
    expect(cache()).toEqual({});
    expect(host.stats()['ndp-adverts']).toBe(0);
    expect(slab.available).toBe(64);
  });

  it('resolves with an NS to the solicited-node group; the packets that waited leave on the NA', () => {
    expect(send('data0')).toEqual(want('nsToNode'));
    expect(cache()).toEqual({ [NODE]: null }); // INCOMPLETE
    expect(send('data1')).toEqual([]); // queued behind the same resolution: no second NS
    expect(host.stats()['ndp-solicits']).toBe(1);
    expect(host.waiting).toBe(true);
    expect(inject('naSolicited')).toEqual(want('out0', 'out1'));
    expect(host.waiting).toBe(false);
    expect(cache()).toEqual({ [NODE]: NODE_MAC });
    expect(changes).toEqual([{ ip: NODE, mac: NODE_MAC, was: null }]);
    expect(slab.available).toBe(64);
  });

  it('changes a known MAC only with Override; never creates an entry from an NA', () => {
    send('data0');
    inject('naSolicited');
    // Override clear, another MAC: the entry keeps its MAC (Linux: the entry goes STALE, the address stays).
    expect(inject('naNoOverride')).toEqual([]);
    expect(send('data2')).toEqual(want('out2Node'));
    // A bad checksum is no NA at all.
    inject('naBadSum');
    expect(cache()).toEqual({ [NODE]: NODE_MAC });
    // Override set (an unsolicited NA to all-nodes, as a takeover sends): the MAC changes.
    inject('naOverride');
    expect(cache()).toEqual({ [NODE]: OTHER_MAC });
    expect(send('data2')).toEqual(want('out2Other'));
    // An NA for an address the host has no entry for creates none.
    inject('naUnknown');
    expect(cache()).toEqual({ [NODE]: OTHER_MAC });
    expect(changes).toEqual([
      { ip: NODE, mac: NODE_MAC, was: null },
      { ip: NODE, mac: OTHER_MAC, was: NODE_MAC },
    ]);
  });

  it('an NS with a source LLA overrides a known MAC', () => {
    inject('nsForHost');
    expect(inject('nsForHostNewMac')).toEqual(want('naForNodeNewMac'));
    expect(cache()).toEqual({ [NODE]: OTHER_MAC });
  });

  it("a routed destination (a pod CIDR) resolves the route's node, not the destination", () => {
    expect(send('dataPod')).toEqual(want('nsToNode'));
    expect(cache()).toEqual({ [NODE]: null });
    expect(inject('naSolicited')).toEqual(want('outPod'));
    // Then on-link destinations still resolve themselves, and the routed one leaves at once.
    expect(send('dataPod')).toEqual(want('outPod'));
    expect(send('data3')).toEqual(want('nsToThird'));
    expect(cache()).toEqual({ [NODE]: NODE_MAC, [THIRD]: null });
  });

  it('an INCOMPLETE entry is resolved by an NA without Override, not by one without a target LLA', () => {
    expect(send('data3')).toEqual(want('nsToThird'));
    expect(inject('naThirdNoLla')).toEqual([]);
    expect(cache()).toEqual({ [THIRD]: null });
    expect(inject('naThirdNoOverride')).toEqual(want('out3'));
    expect(cache()).toEqual({ [THIRD]: THIRD_MAC });
  });
});
