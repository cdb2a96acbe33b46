/**
 * arp: ARP on the uplink (RFC 826). Answers requests for the addresses this node owns now (its transport IP
 * and the Egress IPs it hosts: a userspace engine must always answer, docs/semantics.md §3, since no kernel does)
 * and only those; learns neighbours: a request for us creates or updates an entry, any other ARP (the reply
 * to our request, which finds the entry we created when asking, a gratuitous ARP after failover, another
 * node's request) updates an existing entry only (RFC 826's merge rule; Linux arp_accept=0). An ARP claiming an
 * address this node owns from another MAC is counted as a conflict (split brain, docs/semantics.md §2.5).
 * Specification: docs/semantics.md §3 (announcing and answering); RFC 826. Cases: test/stages/cases/arp.cases.ts.
 * Exits: `reply` (to the uplink port), `done` (consumed: the pipeline frees it).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { arp, ethernet, verdict } from '../wire/index.js';
import { OWN_EGRESS } from './config.js';
import { verdictReasons } from './drop-reasons.js';
import type { NodeState } from './state.js';

const NAMES = ['replied', 'learned', 'updated', 'ignored', 'conflict', 'held', 'drop-truncated', 'drop-bad'] as const;
const C = counterIndex(NAMES);
const EXITS = ['reply', 'done'] as const;
const X = exitIndex(EXITS);
const ARP_DROP = verdictReasons(C, { [verdict.TRUNCATED]: 'drop-truncated' }, 'drop-bad');

export class Arp implements Stage {
  readonly name = 'arp';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const c = this.counters.v;
    const neigh = st.neigh;
    const macHi = ethernet.macHi16(t.mac);
    const macLo = ethernet.macLo32(t.mac);
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      b.next[i] = X.done;
      const r = arp.check(v, o, b.len[i]! - (o - b.off[i]!));
      if (r !== verdict.OK) {
        c[ARP_DROP[r]!]!++;
        continue;
      }
      const op = arp.op(v, o);
      const spa = arp.spa(v, o);
      const tpa = arp.tpa(v, o);
      const shaHi = arp.shaHi16(v, o);
      const shaLo = arp.shaLo32(v, o);
      if (t.owned.get(spa, 0) !== 0) {
        if (shaHi !== macHi || shaLo !== macLo) c[C.conflict]!++;
        continue;
      }
      const own = t.owned.get(tpa, 0);
      if (own === OWN_EGRESS && st.holdEgress) {
        c[C.held]!++;
        continue;
      }
      const forUs = own !== 0;
      if (spa !== 0) {
        // Linux with arp_accept=0: a request for us creates an entry; anything else (a reply to our request,
        // which finds the INCOMPLETE entry, a gratuitous ARP) only updates an existing one. An unsolicited reply
        // for an unknown address is not learned.
        const create = op === arp.OP_REQUEST && forUs;
        const e = neigh.learn(spa, shaHi, shaLo, st.now, create);
        if (e >= 0) c[create ? C.learned : C.updated]!++;
      }
      if (op === arp.OP_REQUEST && forUs && spa !== tpa) {
        // Turn the request into the reply in place; Ethernet: back to the requester, from us.
        // uplink-ingress accepts untagged frames only, so the Ethernet header is right before the ARP packet.
        arp.replyInPlace(v, o, macHi, macLo);
        b.off[i] = o - ethernet.HEADER_LEN;
        b.len[i] = ethernet.HEADER_LEN + arp.PACKET_LEN;
        ethernet.writeHeader(v, b.off[i]!, shaHi, shaLo, macHi, macLo, ethernet.ETHERTYPE_ARP);
        b.next[i] = X.reply;
        c[C.replied]!++;
        continue;
      }
      c[C.ignored]!++;
    }
    return n;
  }
}
