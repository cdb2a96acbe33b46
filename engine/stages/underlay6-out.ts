/**
 * underlay6-out: the link layer of the IPv6 underlay (docs/ipv6.md §2.h): Geneve from tunnel6-encap and the
 * node's own IPv6 datagrams (heartbeats, from local-out) to another member's IPv6 transport address. As over IPv4
 * (uplink-out, docs/segment-security.md#arp-and-the-neighbour-table), a member's transport address is never
 * resolved through the segment: its MAC is the one pinned from its authenticated heartbeats (peer-pins.ts).
 * Until the first one arrives, this node's heartbeats to it go to the Ethernet broadcast address
 * (`first-contact`; the member's answer pins it) and tunnelled packets are `drop-unpinned-peer`. A destination that
 * is no member's transport address is `drop-not-member`. The Ethernet header (type 0x86dd) goes in front.
 * NDP resolution for everything else is uplink-out6's.
 * Specification: docs/ipv6.md §2.h; docs/segment-security.md#peer-pins. Cases:
 * test/stages/cases/underlay6-out.cases.ts.
 * Exits: `out` (to the uplink port), `drop`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, ipv6 } from '../wire/index.js';
import type { NodeState } from './state.js';

const NAMES = ['sent', 'first-contact', 'drop-not-member', 'drop-unpinned-peer'] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'drop'] as const;
const X = exitIndex(EXITS);

export class Underlay6Out implements Stage {
  readonly name = 'underlay6-out';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const t6 = t.v6;
    const v = st.v;
    const c = this.counters.v;
    const pins = st.pins;
    const macHi = ethernet.macHi16(t.mac);
    const macLo = ethernet.macLo32(t.mac);
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const key =
        t6 === null || !t6.underlay
          ? 0
          : t6.transportKeyOf.get(v.getInt32(o + 24), v.getInt32(o + 28), v.getInt32(o + 32), v.getInt32(o + 36), 0);
      if (key === 0 || key === t.nodeIp) {
        b.next[i] = X.drop;
        c[C['drop-not-member']]!++;
        continue;
      }
      const e = pins.entry(key);
      const eo = o - ethernet.HEADER_LEN;
      if (e >= 0) {
        ethernet.writeHeader(v, eo, pins.macHiAt(e), pins.macLoAt(e), macHi, macLo, ipv6.ETHERTYPE);
        c[C.sent]!++;
      } else if (this.isHeartbeat(v, o)) {
        ethernet.writeHeader(v, eo, 0xffff, -1, macHi, macLo, ipv6.ETHERTYPE);
        c[C['first-contact']]!++;
      } else {
        b.next[i] = X.drop;
        c[C['drop-unpinned-peer']]!++;
        continue;
      }
      b.off[i] = eo;
      b.len[i] = ethernet.HEADER_LEN + ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
      b.next[i] = X.out;
    }
    return n;
  }

  /** UDP to the control port from this node's transport address (cold: unpinned peers only). */
  private isHeartbeat(v: DataView, o: number): boolean {
    const t6 = this.st.tables.v6!;
    const port = this.st.controlPort;
    if (port === 0 || v.getUint8(o + 6) !== ipv6.NH_UDP || ipv6.payloadLen(v, o) < 8) return false;
    for (let q = 0; q < 4; q++) if (v.getInt32(o + 8 + q * 4) !== t6.transportIp[q]) return false;
    return v.getUint16(o + ipv6.HEADER_LEN + 2) === port;
  }
}
