/**
 * The IPv6 side of the stage tests' node-a (docs/ipv6.md §2), addresses from 2001:2::/48 (RFC 5180): node-a
 * 2001:2::11 hosting the IPv6 egress IP 2001:2::253; pods 2001:2:0:a1::5 (port 0, Egress here), ::6 (port 1, no
 * Egress), ::7 (port 2, Egress 2001:2::254 on node-c 198.18.0.13); pod CIDRs 2001:2:0:a1::/64 (node-a), a2
 * (node-b), a3 (node-c); serviceCIDRv6 2001:2:0:96::/112; the router 2001:2::1 and the host 2001:2::100 as static
 * neighbours.
 */
import {
  EGRESS_LOCAL,
  EGRESS_NONE,
  EGRESS_REMOTE,
  fold6,
  type Ct6,
  type NodeDatapathConfig,
  type NodeDatapathConfig6,
  type NodeState,
} from '../../../engine/stages/index.js';
import { words6 } from '../../../engine/stages/tables6.js';
import { baseConfig, HOST_MAC, ip, mac } from '../../support/node-config.js';

export const ROUTER_MAC = '02:00:00:00:00:01';

export function base6(): NodeDatapathConfig6 {
  return {
    nodeIp: '2001:2::11',
    pods: [
      {
        key: 'prod/web-1',
        ip: '2001:2:0:a1::5',
        port: 0,
        egress: EGRESS_LOCAL,
        egressIp: '2001:2::253',
        egressNodeIp: 0,
      },
      { key: 'default/other', ip: '2001:2:0:a1::6', port: 1, egress: EGRESS_NONE, egressIp: null, egressNodeIp: 0 },
      {
        key: 'staging/web-2',
        ip: '2001:2:0:a1::7',
        port: 2,
        egress: EGRESS_REMOTE,
        egressIp: '2001:2::254',
        egressNodeIp: ip('198.18.0.13'),
      },
    ],
    podCidrs: [
      { cidr: '2001:2:0:a1::/64', nodeIp: ip('198.18.0.11') },
      { cidr: '2001:2:0:a2::/64', nodeIp: ip('198.18.0.12') },
      { cidr: '2001:2:0:a3::/64', nodeIp: ip('198.18.0.13') },
    ],
    nodeIps: ['2001:2::11', '2001:2::12', '2001:2::13'],
    bypass: ['2001:2:0:96::/112'],
    egressIps: ['2001:2::253'],
    remotePods: [{ ip: '2001:2:0:a2::9', egressIp: '2001:2::253' }],
    gateway: '2001:2::1',
    neighbors: [
      { ip: '2001:2::1', mac: mac(ROUTER_MAC) },
      { ip: '2001:2::100', mac: mac(HOST_MAC) },
    ],
  };
}

/** The row configuration of a dual-stack node-a (`v6` replaced by `over` fields). */
export function dual(over: Partial<NodeDatapathConfig6> = {}): Partial<NodeDatapathConfig> {
  return { v6: { ...base6(), ...over } };
}

export { baseConfig };

const PROTO6 = { tcp: 6, udp: 17, icmp: 1 } as const;
const FIRST6 = { tcp: 0x02, udp: 0, icmp: 8 } as const;

/**
 * A confirmed IPv6 connection `src:sport → dst:dport` in the node's IPv6 table (ICMPv6 echo: `sport` is the
 * identifier), SNATed to `natIp` when given; `recorded` replaces the full destination kept beside the record (a
 * stand-in clash). Returns its index.
 */
export function connection6(
  st: NodeState,
  proto: keyof typeof PROTO6,
  src: string,
  sport: number,
  dst: string,
  dport: number,
  natIp?: string,
  recorded?: string,
): number {
  return track6(st.ct6, proto, src, sport, dst, dport, natIp, recorded);
}

/**
 * A connection a pod accepted over IPv6, `src:sport → dst:dport` (dst the pod), in the table of accepted IPv6
 * connections (`ctIn6`, no NAT); `recorded` as for connection6.
 */
export function accepted6(
  st: NodeState,
  proto: keyof typeof PROTO6,
  src: string,
  sport: number,
  dst: string,
  dport: number,
  recorded?: string,
): number {
  return track6(st.ctIn6, proto, src, sport, dst, dport, undefined, recorded);
}

function track6(
  t: Ct6,
  proto: keyof typeof PROTO6,
  src: string,
  sport: number,
  dst: string,
  dport: number,
  natIp?: string,
  recorded?: string,
): number {
  const s = words6(src)!;
  const d = words6(dst)!;
  const ct = t.ct;
  const c = ct.create(
    fold6(...s),
    fold6(...d),
    sport,
    proto === 'icmp' ? sport : dport,
    PROTO6[proto],
    FIRST6[proto],
    60,
  );
  if (c < 0) throw new Error(`setup: create returned ${c}`);
  if (natIp !== undefined && ct.snat(c, fold6(...words6(natIp)!), 0) !== 0) throw new Error('setup: snat failed');
  if (!ct.confirm(c)) throw new Error('setup: confirm failed');
  t.addr.set([...s, ...words6(recorded ?? dst)!], c * 8);
  return c;
}

/** Resolve the IPv6 neighbour `addr` at `macText` in the node's IPv6 neighbour table (as an NA would). */
export function neighbour6(st: NodeState, addr: string, macText: string): void {
  const w = words6(addr)!;
  const v = new DataView(new ArrayBuffer(16));
  w.forEach((x, i) => v.setInt32(i * 4, x));
  const m = mac(macText);
  st.neigh6.learn(v, 0, (m[0]! << 8) | m[1]!, (m[2]! << 24) | (m[3]! << 16) | (m[4]! << 8) | m[5]!, st.now, true);
}

/**
 * node-a on an IPv6 underlay (docs/ipv6.md §2.l): base6 with the segment 2001:2::/64 and the nodes' IPv6
 * addresses as their transport addresses, each under its IPv4 address of baseConfig as its transport key (any
 * int32 not 0 works as a key; these keep the IPv4 tables and the pins helper of the IPv4 rows).
 */
export function underlay6(over: Partial<NodeDatapathConfig6> = {}): Partial<NodeDatapathConfig> {
  return {
    v6: {
      ...base6(),
      segment: '2001:2::/64',
      underlay: {
        self: '2001:2::11',
        nodes: [
          { key: ip('198.18.0.11'), ip: '2001:2::11' },
          { key: ip('198.18.0.12'), ip: '2001:2::12' },
          { key: ip('198.18.0.13'), ip: '2001:2::13' },
        ],
      },
      ...over,
    },
  };
}
