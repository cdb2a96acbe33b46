/**
 * snat: source NAT through the connection table, like iptables `SNAT --to <ip>` / MASQUERADE (docs/semantics.md
 * §4.a): the NAT address is in `b.meta[i]` (the node IP for node masquerade, an Egress IP hosted here for
 * Egress). An established connection keeps its binding (the kernel does not re-NAT a tracked connection when
 * the rules change) unless its address is no longer owned by this node, in which case the connection is
 * removed and the packet starts a new one. A new connection is created unconfirmed and bound to a port
 * (kept when free, see conntrack/); uplink-out confirms it when the packet actually leaves. The node routes
 * the packet, so its TTL is decremented (RFC 1812), with the incremental checksum update.
 * Exits: `out` (to uplink-out), `drop`.
 */
import { CT_FULL, CT_LIMIT, SNAT_OK, UPDATE_INVALID, UPDATE_RECREATE, type ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv4 } from '../wire/index.js';
import { ctFlags, portsWord, rewriteSrc, tcpSegment } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = [
  'new',
  'established',
  'rebound',
  'drop-ct-full',
  'drop-ct-invalid',
  'drop-snat-exhausted',
  'drop-reply-direction',
  'drop-ttl-exceeded',
  'drop-ct-limit',
] as const;
const C = counterIndex(NAMES);

const X_OUT = 0;
const X_DROP = 1;

export class Snat implements Stage {
  readonly name = 'snat';
  readonly exits = ['out', 'drop'] as const;
  readonly counters = new Counters(NAMES);
  private readonly ct: ConnTable;

  constructor(private readonly st: NodeState) {
    this.ct = st.ct;
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const v = st.v;
    const ct = this.ct;
    const c = this.counters.v;
    const owned = st.tables.owned;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      if (ipv4.ttl(v, o) <= 1) {
        b.next[i] = X_DROP;
        c[C['drop-ttl-exceeded']]!++;
        continue;
      }
      const src = ipv4.src(v, o);
      const dst = ipv4.dst(v, o);
      const proto = ipv4.proto(v, o);
      const ports = portsWord(v, o, proto);
      const len = ipv4.totalLen(v, o);
      const flags = ctFlags(v, o, proto);
      const tcp = proto === ipv4.PROTO_TCP;
      const ref = ct.find(src, dst, ports, proto);
      let conn = -1;
      if (ref >= 0) {
        if ((ref & 1) === 1) {
          b.next[i] = X_DROP;
          c[C['drop-reply-direction']]!++;
          continue;
        }
        conn = ref >> 1;
        if (ct.isNatBound(conn) && ct.natIp(conn) !== b.meta[i] && owned.get(ct.natIp(conn), 0) === 0) {
          // Bound to an address this node no longer has: replies would not come back here.
          ct.remove(conn);
          conn = -1;
          c[C.rebound]!++;
        } else {
          if (tcp) tcpSegment(v, o, ct.seg);
          const u = ct.update(conn, 0, flags, len);
          if (u === UPDATE_INVALID) {
            b.next[i] = X_DROP;
            c[C['drop-ct-invalid']]!++;
            continue;
          }
          if (u === UPDATE_RECREATE) {
            ct.remove(conn);
            conn = -1;
          } else c[C.established]!++;
        }
      }
      if (conn < 0) {
        if (tcp) tcpSegment(v, o, ct.seg);
        conn = ct.create(src, dst, ports >>> 16, ports & 0xffff, proto, flags, len);
        if (conn < 0) {
          b.next[i] = X_DROP;
          c[conn === CT_FULL ? C['drop-ct-full'] : conn === CT_LIMIT ? C['drop-ct-limit'] : C['drop-ct-invalid']]!++;
          continue;
        }
        if (ct.snat(conn, b.meta[i]!, st.snatMode) !== SNAT_OK) {
          ct.abort(conn);
          b.next[i] = X_DROP;
          c[C['drop-snat-exhausted']]!++;
          continue;
        }
        c[C.new]!++;
      }
      b.flow[i] = conn << 1;
      if (ct.isSnat(conn)) rewriteSrc(v, o, proto, ct.rewriteAddr(conn, 0), ct.rewritePort(conn, 0));
      ipv4.decTtlCsum(v, o);
      b.next[i] = X_OUT;
    }
    return n;
  }
}
