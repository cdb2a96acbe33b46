/**
 * classify: where a local pod's packet goes (docs/semantics.md §4.0 and §4.d), in this order:
 * 1. to an address this node owns (node IP, hosted Egress IPs)        → `local`      (ICMP echo responder)
 * 2. to a local pod                                                   → `local-pod`  (never NATed)
 * 3. to another node's pod CIDR                                       → `remote-pod` (Geneve to that node, never NATed)
 *    (to this node's pod CIDR but no such pod                         → drop)
 * 4. a reply-direction packet of a connection the pod accepted        → `no-nat`     (Antrea's `-rpl` rule, issue #3362)
 *    (an ICMP error quoting a packet of such a connection: the same, docs/semantics.md §4.h)
 *    — never a packet that opens a connection (TCP SYN, ICMP echo request), one of a flow the SNAT table tracks,
 *    or a TCP segment the inbound connection does not accept (a pod's challenge ACK to a forged SYN): those go
 *    on to 5/6 and count `reply-refused`, so a forged inbound packet cannot make a pod's flow skip its SNAT
 * 5. to a bypass destination (node IPs, service CIDR, exceptCIDRs)    → `snat` to the node IP (normal node masquerade)
 * 6. the pod's Egress: none → `snat` to the node IP; hosted here → `snat` to the Egress IP;
 *    hosted elsewhere → `tunnel` (Geneve with the Egress IP as outer destination).
 * Limited broadcast, multicast and 0/8 destinations are dropped. `b.meta[i]` carries the NAT address (snat)
 * or the outer destination (remote-pod, tunnel); `b.oport[i]` the pod port (local-pod). Connections pods
 * accept are tracked in their own table (`ctIn`), looked up only when it holds any. A later fragment (from
 * defrag, its datagram's ports word in `b.flow`) is classified as its datagram: looked up with that word, never
 * updating a connection, and it keeps the word in `b.flow` for snat (docs/semantics.md §4.i).
 * Specification: docs/semantics.md §4.0 (what a pod's packet is eligible for), §4.d, §4.i. Cases:
 * test/stages/cases/classify.cases.ts.
 * Exits: `local-pod`, `remote-pod`, `snat`, `tunnel`, `no-nat`, `local`, `drop`.
 */
import { UPDATE_ACCEPT, UPDATE_INVALID, type ConnTable } from '../../conntrack/index.js';
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ipv4 } from '../wire/index.js';
import { acceptedReply } from './accepted.js';
import { DST_LOCAL_POD, DST_OWN_CIDR, DST_OWNED, DST_REMOTE_CIDR, EGRESS_LOCAL, EGRESS_NONE } from './config.js';
import { relatedRef, isIcmpError } from './icmp-nat.js';
import { ctFlags, laterFragment, portsWord, tcpSegment } from './l4.js';
import type { NodeState } from './state.js';

const NAMES = [
  'to-local',
  'to-local-pod',
  'to-remote-pod',
  'reply-no-nat',
  'bypass',
  'node-snat',
  'egress-local',
  'egress-remote',
  'drop-no-such-pod',
  'drop-bad-destination',
  'drop-ct-invalid',
  'related-no-nat',
  'reply-refused',
] as const;
const C = counterIndex(NAMES);

const EXITS = ['local-pod', 'remote-pod', 'snat', 'tunnel', 'no-nat', 'local', 'drop'] as const;
const X = exitIndex(EXITS);

export class Classify implements Stage {
  readonly name = 'classify';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly ct: ConnTable;

  constructor(private readonly st: NodeState) {
    this.ct = st.ctIn;
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const c = this.counters.v;
    const ct = this.ct;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const dst = ipv4.dst(v, o);
      // A later fragment's ports word (defrag), taken out of `b.flow`: no other packet has one here.
      const later = laterFragment(v, o);
      let fw = -1;
      if (later) {
        fw = b.flow[i]!;
        b.flow[i] = -1;
      }
      const top = dst >>> 24;
      if (top === 0 || top >= 224) {
        b.next[i] = X.drop;
        c[C['drop-bad-destination']]!++;
        continue;
      }
      const d = t.dstClass.lookup(dst, -1);
      if (d >= 0) {
        const cls = d >>> 24;
        const idx = d & 0xffffff;
        if (cls === DST_OWNED) {
          b.next[i] = X.local;
          c[C['to-local']]!++;
          continue;
        }
        if (cls === DST_LOCAL_POD) {
          b.oport[i] = t.podPort[idx]!;
          b.next[i] = X['local-pod'];
          c[C['to-local-pod']]!++;
          continue;
        }
        if (cls === DST_REMOTE_CIDR) {
          b.meta[i] = t.nodeIpOf[idx]!;
          b.next[i] = X['remote-pod'];
          c[C['to-remote-pod']]!++;
          continue;
        }
        if (cls === DST_OWN_CIDR) {
          b.next[i] = X.drop;
          c[C['drop-no-such-pod']]!++;
          continue;
        }
      }
      const src = ipv4.src(v, o);
      b.flow[i] = -1;
      if (ct.size > 0) {
        const proto = ipv4.proto(v, o);
        if (later) {
          // As its datagram went: the first fragment updated the connection.
          const ref = ct.find(src, dst, fw, proto);
          if (ref >= 0 && (ref & 1) === 1 && this.st.ct.find(src, dst, fw, proto) < 0) {
            b.next[i] = X['no-nat'];
            c[C['reply-no-nat']]!++;
            continue;
          }
        } else if (isIcmpError(v, o)) {
          // An error about a packet of a connection the pod accepted goes out as that connection's replies do.
          const rel = relatedRef(ct, v, o, o + ipv4.headerLen(v, o));
          if (rel >= 0 && (rel & 1) === 1) {
            b.next[i] = X['no-nat'];
            c[C['related-no-nat']]!++;
            continue;
          }
        } else {
          const ports = portsWord(v, o, proto);
          const ref = ct.find(src, dst, ports, proto);
          if (ref >= 0 && (ref & 1) === 1) {
            if (proto === ipv4.PROTO_TCP) tcpSegment(v, o, ct.seg, st.slab.tcpTail[b.slot[i]!]!);
            // A flow the pod opened through SNAT stays there whatever arrived at its own address.
            const snatFlow = st.ct.size > 0 && st.ct.find(src, dst, ports, proto) >= 0;
            const r = acceptedReply(ct, ref >> 1, proto, ctFlags(v, o, proto), ipv4.totalLen(v, o), snatFlow);
            if (r === UPDATE_INVALID) {
              b.next[i] = X.drop;
              c[C['drop-ct-invalid']]!++;
              continue;
            }
            if (r === UPDATE_ACCEPT) {
              b.next[i] = X['no-nat'];
              c[C['reply-no-nat']]!++;
              continue;
            }
            c[C['reply-refused']]!++;
          }
        }
      }
      if (d >= 0) {
        // DST_BYPASS: node IPs, service CIDR, exceptCIDRs leave with the node IP.
        b.meta[i] = t.nodeIp;
        b.next[i] = X.snat;
        if (later) b.flow[i] = fw;
        c[C.bypass]!++;
        continue;
      }
      const p = b.meta[i]!; // the sender's pod index, from pod-ingress
      const kind = t.podEgress[p]!;
      if (kind === EGRESS_NONE) {
        b.meta[i] = t.nodeIp;
        b.next[i] = X.snat;
        c[C['node-snat']]!++;
      } else if (kind === EGRESS_LOCAL) {
        b.meta[i] = t.podEgressIp[p]!;
        b.next[i] = X.snat;
        c[C['egress-local']]!++;
      } else {
        b.meta[i] = t.podEgressIp[p]!;
        b.next[i] = X.tunnel;
        c[C['egress-remote']]!++;
      }
      if (later && b.next[i] === X.snat) b.flow[i] = fw;
    }
    return n;
  }
}
