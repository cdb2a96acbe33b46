/**
 * uplink-out6 rows (engine/stages/uplink-out6.ts; docs/ipv6.md §2.c): IPv6 packets leaving node-a (base6.ts)
 * on the uplink; the next hop's MAC comes from the static neighbours.
 */
import { fold6, UplinkOut6 } from '../../../engine/stages/index.js';
import { words6 } from '../../../engine/stages/tables6.js';
import { connection6, dual, ROUTER_MAC } from './base6.js';
import { HOST_MAC, NODE_MAC, type CaseTable, type Row } from './harness.js';

const PKT = (dst: string) => `IPv6(src='2001:2::253', dst='${dst}', hlim=63)/UDP(sport=40000, dport=53)/b'q'`;
const d = dual();
const row = (r: Row): Row => ({ config: d, ...r });

export const cases: CaseTable = {
  stage: (st) => new UplinkOut6(st),
  l3: 0,
  rows: [
    row({
      name: 'to a static neighbour of the segment: its MAC, EtherType IPv6',
      input: [PKT('2001:2::100')],
      counters: {},
      expect: { out: [`Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/${PKT('2001:2::100')}`] },
    }),
    row({
      name: 'to an address off the segment: the router MAC',
      input: [PKT('2001:2:ff::1')],
      counters: {},
      expect: { out: [`Ether(dst='${ROUTER_MAC}', src='${NODE_MAC}')/${PKT('2001:2:ff::1')}`] },
    }),
    {
      name: 'a node without an IPv6 side: drop-no-ipv6',
      input: [PKT('2001:2::100')],
      counters: { 'drop-no-ipv6': 1 },
    },
    {
      name: 'no router and no neighbour entry for the destination (NDP not built): drop-no-neighbor',
      config: dual({ gateway: null }),
      input: [PKT('2001:2:ff::1')],
      counters: { 'drop-no-neighbor': 1 },
    },
    row({
      name: 'a new connection whose reply tuple another connection holds: drop-ct-clash',
      setup: (st) => {
        connection6(st, 'udp', '2001:2:0:a1::5', 40000, '2001:2::100', 53, '2001:2::253');
        // Unconfirmed [2001:2::253]:40000 → [2001:2::100]:53: its reply tuple is the SNATed query's.
        const c = st.ct6.ct.create(
          fold6(...words6('2001:2::253')!),
          fold6(...words6('2001:2::100')!),
          40000,
          53,
          17,
          0,
          48,
        );
        if (c !== 1) throw new Error(`setup: create returned ${c}`);
      },
      input: [{ pkt: PKT('2001:2::100'), flow: 1 << 1 }],
      counters: { 'drop-ct-clash': 1 },
    }),
  ],
};
