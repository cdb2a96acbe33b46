/**
 * local-out: IPv4 packets the node itself sends (control-plane datagrams such as membership heartbeats), on
 * their way to uplink-out: the header must pass `ipv4.check` (a bug there is counted, not sent), `b.l3` is set
 * and no connection is attached (the engine's own traffic is not tracked).
 * An IPv6 datagram (a heartbeat over the IPv6 underlay, docs/ipv6.md §2.l) must pass `ipv6.check` and goes to
 * uplink-out6.
 * Specification: docs/semantics.md §2.4 (heartbeats). Cases: test/stages/cases/local-out.cases.ts.
 * Exits: `out` (to uplink-out), `drop`, `ipv6` (to uplink-out6).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv4, ipv6, verdict } from '../wire/index.js';
import type { NodeState } from './state.js';

const NAMES = ['sent', 'sent-ipv6', 'drop-malformed'] as const;
const C = counterIndex(NAMES);
const EXITS = ['out', 'drop', 'ipv6'] as const;
const X = exitIndex(EXITS);

export class LocalOut implements Stage {
  readonly name = 'local-out';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const v = this.st.v;
    const c = this.counters.v;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.off[i]!;
      b.l3[i] = o;
      b.flow[i] = -1;
      if (b.len[i]! > 0 && v.getUint8(o) >>> 4 === 6) {
        if (ipv6.check(v, o, b.len[i]!) !== verdict.OK) {
          b.next[i] = X.drop;
          c[C['drop-malformed']]!++;
          continue;
        }
        b.next[i] = X.ipv6;
        c[C['sent-ipv6']]!++;
        continue;
      }
      if (ipv4.check(v, o, b.len[i]!) !== verdict.OK) {
        b.next[i] = X.drop;
        c[C['drop-malformed']]!++;
        continue;
      }
      b.next[i] = X.out;
      c[C.sent]!++;
    }
    return n;
  }
}
