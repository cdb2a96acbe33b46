/**
 * unsnat: packets from the segment to an address this node owns that are not Geneve or control traffic:
 * replies of SNATed connections, found by their reply tuple and translated back to the pod's address and
 * port (docs/semantics.md §4.c); ICMP errors quoting a SNATed packet (related: the outer destination and the quoted
 * source are translated, with every checksum updated); ICMP echo requests to the node's own addresses go to
 * the local responder. The translated packet goes to the pod: `to-pod` when it is local, `to-remote` (Geneve
 * with the pod's node transport IP as outer destination, `b.meta`) when it lives on another node.
 * The TTL is decremented (the node forwards the packet).
 * Exits: `to-pod`, `to-remote`, `local`, `drop`.
 */
import { UPDATE_INVALID, type ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { icmp, ipv4 } from '../wire/index.js';
import type { DatapathTables } from './config.js';
import { ctFlags, portsWord, rewriteDst, tcpSegment } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = [
  'reply',
  'related',
  'to-local',
  'drop-no-conntrack',
  'drop-orig-direction',
  'drop-ct-invalid',
  'drop-ttl-exceeded',
  'drop-related-bad',
  'drop-no-route',
] as const;
const C = counterIndex(NAMES);
const X_TO_POD = 0;
const X_TO_REMOTE = 1;
const X_LOCAL = 2;
const X_DROP = 3;

export class Unsnat implements Stage {
  readonly name = 'unsnat';
  readonly exits = ['to-pod', 'to-remote', 'local', 'drop'] as const;
  readonly counters = new Counters(NAMES);
  private readonly ct: ConnTable;

  constructor(private readonly st: NodeState) {
    this.ct = st.ct;
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const ct = this.ct;
    const c = this.counters.v;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const proto = ipv4.proto(v, o);
      const l4 = o + ipv4.headerLen(v, o);
      if (proto === ipv4.PROTO_ICMP && icmp.isError(icmp.type(v, l4))) {
        b.next[i] = this.related(b, i, t);
        continue;
      }
      const ref = ct.find(ipv4.src(v, o), ipv4.dst(v, o), portsWord(v, o, proto), proto);
      if (ref < 0) {
        if (proto === ipv4.PROTO_ICMP && icmp.type(v, l4) === icmp.TYPE_ECHO_REQUEST) {
          b.next[i] = X_LOCAL;
          c[C['to-local']]!++;
        } else {
          b.next[i] = X_DROP;
          c[C['drop-no-conntrack']]!++;
        }
        continue;
      }
      if ((ref & 1) === 0) {
        b.next[i] = X_DROP;
        c[C['drop-orig-direction']]!++;
        continue;
      }
      const conn = ref >> 1;
      if (proto === ipv4.PROTO_TCP) tcpSegment(v, o, ct.seg);
      if (ct.update(conn, 1, ctFlags(v, o, proto), ipv4.totalLen(v, o)) === UPDATE_INVALID) {
        b.next[i] = X_DROP;
        c[C['drop-ct-invalid']]!++;
        continue;
      }
      if (ipv4.ttl(v, o) <= 1) {
        b.next[i] = X_DROP;
        c[C['drop-ttl-exceeded']]!++;
        continue;
      }
      if (ct.isSnat(conn)) rewriteDst(v, o, proto, ct.rewriteAddr(conn, 1), ct.rewritePort(conn, 1));
      ipv4.decTtlCsum(v, o);
      b.flow[i] = ref;
      c[C.reply]!++;
      b.next[i] = this.route(b, i, t, ipv4.dst(v, o));
    }
    return n;
  }

  /** An ICMP error about a packet of a tracked connection: translate outer destination and quoted source. */
  private related(b: Burst, i: number, t: DatapathTables): number {
    const v = this.st.v;
    const ct = this.ct;
    const o = b.l3[i]!;
    const l4 = o + ipv4.headerLen(v, o);
    const len = ipv4.totalLen(v, o) - (l4 - o);
    const q = icmp.quotedOffset(l4);
    // ip-local ran icmp.check, which validated the quoted header (checkQuoted).
    const qproto = ipv4.proto(v, q);
    const ql4 = q + ipv4.headerLen(v, q);
    let ports: number;
    if (qproto === ipv4.PROTO_TCP || qproto === ipv4.PROTO_UDP) ports = v.getInt32(ql4);
    else if (qproto === ipv4.PROTO_ICMP && icmp.type(v, ql4) === icmp.TYPE_ECHO_REQUEST) {
      const id = icmp.echoId(v, ql4);
      ports = (id << 16) | id;
    } else {
      this.counters.v[C['drop-related-bad']]!++;
      return X_DROP;
    }
    const ref = ct.lookupRelated(ipv4.src(v, q), ipv4.dst(v, q), ports >>> 16, ports & 0xffff, qproto);
    if (ref < 0 || (ref & 1) === 0) {
      this.counters.v[C['drop-no-conntrack']]!++;
      return X_DROP;
    }
    if (ipv4.ttl(v, o) <= 1) {
      this.counters.v[C['drop-ttl-exceeded']]!++;
      return X_DROP;
    }
    const conn = ref >> 1;
    if (ct.isSnat(conn)) {
      const addr = ct.rewriteAddr(conn, 1);
      const port = ct.rewritePort(conn, 1);
      ipv4.setDstCsum(v, o, addr);
      icmp.setQuotedSrcCsum(v, l4, len, addr);
      if (qproto === ipv4.PROTO_ICMP) icmp.setQuotedEchoIdCsum(v, l4, len, port);
      else icmp.setQuotedSrcPortCsum(v, l4, len, port);
    }
    ipv4.decTtlCsum(v, o);
    this.counters.v[C.related]!++;
    return this.route(b, i, t, ipv4.dst(v, o));
  }

  private route(b: Burst, i: number, t: DatapathTables, dst: number): number {
    const pod = t.podByIp.get(dst, -1);
    if (pod >= 0) {
      // Pod ports carry L3 packets: drop the Ethernet header.
      const o = b.l3[i]!;
      b.off[i] = o;
      b.len[i] = ipv4.totalLen(this.st.v, o);
      b.oport[i] = t.podPort[pod]!;
      return X_TO_POD;
    }
    const node = t.podCidrs.lookup(dst, -1);
    if (node >= 0 && node !== t.localNode) {
      b.meta[i] = t.nodeIpOf[node]!;
      return X_TO_REMOTE;
    }
    this.counters.v[C['drop-no-route']]!++;
    return X_DROP;
  }
}
