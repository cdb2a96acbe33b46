/**
 * uplink-out6: IPv6 packets leaving on the uplink. The next hop is the destination itself when it is a known
 * neighbour of the segment, else the segment's IPv6 router; its MAC comes from the static neighbours of the
 * configuration (`NodeDatapathConfig6.neighbors`: NDP resolution on the uplink is not built yet, so an unknown
 * next hop is a counted drop). The packet's new connection (`b.flow[i]`) is confirmed when it leaves, as
 * uplink-out does for IPv4, and aborted when it is dropped; the Ethernet header (type 0x86dd) goes in front.
 * Specification: docs/ipv6.md §2.c; docs/architecture.md §1 (the uplink port). Cases:
 * test/stages/cases/uplink-out6.cases.ts.
 * Exits: `out` (to the uplink port), `drop`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, ipv6 } from '../wire/index.js';
import type { NodeState } from './state.js';

const NAMES = ['drop-no-ipv6', 'drop-no-neighbor', 'drop-ct-clash'] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'drop'] as const;
const X = exitIndex(EXITS);

export class UplinkOut6 implements Stage {
  readonly name = 'uplink-out6';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const t6 = t.v6;
    const v = st.v;
    const c = this.counters.v;
    const ct = st.ct6.ct;
    const macHi = ethernet.macHi16(t.mac);
    const macLo = ethernet.macLo32(t.mac);
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const f = b.flow[i]!;
      if (t6 === null) {
        if (f >= 0) ct.abort(f >> 1);
        b.next[i] = X.drop;
        c[C['drop-no-ipv6']]!++;
        continue;
      }
      let e = t6.neigh.get(v.getInt32(o + 24), v.getInt32(o + 28), v.getInt32(o + 32), v.getInt32(o + 36), -1);
      if (e < 0 && t6.hasGateway) {
        const g = t6.gateway;
        e = t6.neigh.get(g[0]!, g[1]!, g[2]!, g[3]!, -1);
      }
      if (e < 0) {
        if (f >= 0) ct.abort(f >> 1);
        b.next[i] = X.drop;
        c[C['drop-no-neighbor']]!++;
        continue;
      }
      if (f >= 0 && !ct.confirm(f >> 1)) {
        b.next[i] = X.drop;
        c[C['drop-ct-clash']]!++;
        continue;
      }
      const eo = o - ethernet.HEADER_LEN;
      ethernet.writeHeader(v, eo, t6.neighMacHi[e]!, t6.neighMacLo[e]!, macHi, macLo, ipv6.ETHERTYPE);
      b.off[i] = eo;
      b.len[i] = ethernet.HEADER_LEN + ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
      b.next[i] = X.out;
    }
    return n;
  }
}
