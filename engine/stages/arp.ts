/**
 * arp: ARP on the uplink (RFC 826). Answers requests for the addresses this node owns now (its transport IP
 * and the Egress IPs it hosts: a userspace engine must always answer, docs/semantics.md §3, since no kernel does)
 * and only those. What an ARP frame may change is limited (docs/segment-security.md#arp-and-the-neighbour-table):
 * - SPA is an address this node owns, from another MAC: a conflict, counted `conflict-node-ip` or
 *   `conflict-egress-ip` and noted for the agent's log (`st.arpClaims`); nothing changes, ownership never follows
 *   ARP (it follows membership, docs/semantics.md §2.4).
 * - SPA is another member's node IP: never learned (its MAC comes from its heartbeats, peer-pins.ts); counted
 *   `member` when the MAC is its pinned one, `spoof-member-ip` when it is another, `member-unpinned` before the
 *   first heartbeat.
 * - SPA is an Egress IP hosted elsewhere that local pods tunnel to: learned only from a member's pinned MAC (the
 *   new owner's gratuitous ARP after failover), otherwise `spoof-egress-ip`.
 * - Anything else: a request for us creates or updates an entry, any other ARP (the reply to our request, which
 *   finds the entry we created when asking, a gratuitous ARP, another node's request) updates an existing entry
 *   only (RFC 826's merge rule; Linux arp_accept=0). Entries created from requests are capped
 *   (neighbor.ts): `learn-replaced` when the oldest such entry made room, `learn-refused` when none could.
 * VLANs (docs/semantics.md §3.1): an Egress IP of a VLAN pool is answered for only in frames tagged with its VLAN
 * (the reply keeps the tag), the node IP only untagged (`other-vlan` otherwise); what a frame teaches the
 * neighbour table is on the frame's VLAN, and an entry on another VLAN is not changed (`other-vlan`).
 * Specification: docs/semantics.md §3 (announcing and answering), §3.1; RFC 826. Cases: test/stages/cases/arp.cases.ts.
 * Exits: `reply` (to the uplink port), `done` (consumed: the pipeline frees it).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { arp, ethernet, verdict } from '../wire/index.js';
import { OWN_EGRESS, OWN_NODE } from './config.js';
import { verdictReasons } from './drop-reasons.js';
import { L_CREATED, L_NONE, L_OTHER_VLAN, L_PINNED, L_REFUSED, L_REPLACED, L_UPDATED } from './neighbor.js';
import type { NodeState } from './state.js';

export const ARP_COUNTERS = [
  'replied',
  'learned',
  'updated',
  'ignored',
  'held',
  'conflict-node-ip',
  'conflict-egress-ip',
  'member',
  'member-unpinned',
  'spoof-member-ip',
  'spoof-egress-ip',
  'learn-replaced',
  'learn-refused',
  'other-vlan',
  'drop-truncated',
  'drop-bad',
] as const;
/** The counters of claims the agent logs (once per interval, engine/agent/node-runner.ts). */
export const ARP_CLAIM_COUNTERS = [
  'conflict-node-ip',
  'conflict-egress-ip',
  'spoof-member-ip',
  'spoof-egress-ip',
] as const;
const C = counterIndex(ARP_COUNTERS);
const EXITS = ['reply', 'done'] as const;
const X = exitIndex(EXITS);
const ARP_DROP = verdictReasons(C, { [verdict.TRUNCATED]: 'drop-truncated' }, 'drop-bad');

export class Arp implements Stage {
  readonly name = 'arp';
  readonly exits = EXITS;
  readonly counters = new Counters(ARP_COUNTERS);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const v = st.v;
    const c = this.counters.v;
    const neigh = st.neigh;
    const pins = st.pins;
    const claims = st.arpClaims;
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
      const ownSpa = t.owned.get(spa, 0);
      if (ownSpa !== 0) {
        if (shaHi !== macHi || shaLo !== macLo) {
          const reason = ownSpa === OWN_NODE ? C['conflict-node-ip'] : C['conflict-egress-ip'];
          c[reason]!++;
          claims.note(reason, spa, shaHi, shaLo);
        }
        continue;
      }
      const f = b.off[i]!;
      // The frame's VLAN: uplink-ingress passes untagged frames and frames with one tag of a hosted VLAN.
      const vid = o - f === ethernet.TAGGED_HEADER_LEN ? v.getUint16(f + 14) & ethernet.VID_MASK : 0;
      let own = t.owned.get(tpa, 0);
      if (own !== 0 && (vid !== 0 || t.egressVlanSlot.size > 0) && t.vlanOf(tpa) !== vid) {
        c[C['other-vlan']]!++;
        own = 0;
      }
      if (own === OWN_EGRESS && st.holdEgress) {
        c[C.held]!++;
        continue;
      }
      const forUs = own !== 0;
      let learn = spa !== 0;
      if (t.nodeByIp.get(spa, -1) >= 0) {
        const m = pins.match(spa, shaHi, shaLo);
        const reason = m > 0 ? C.member : m < 0 ? C['member-unpinned'] : C['spoof-member-ip'];
        c[reason]!++;
        if (m === 0) claims.note(reason, spa, shaHi, shaLo);
        learn = false;
      } else if (t.remoteEgress.get(spa, 0) !== 0 && !pins.isMemberMac(shaHi, shaLo)) {
        c[C['spoof-egress-ip']]!++;
        claims.note(C['spoof-egress-ip'], spa, shaHi, shaLo);
        learn = false;
      }
      if (learn) {
        // Linux with arp_accept=0: a request for us creates an entry; anything else (a reply to our request,
        // which finds the INCOMPLETE entry, a gratuitous ARP) only updates an existing one. An unsolicited reply
        // for an unknown address is not learned.
        const l = neigh.learnFromArp(spa, shaHi, shaLo, st.now, op === arp.OP_REQUEST && forUs, vid);
        if (l === L_UPDATED) c[C.updated]!++;
        else if (l === L_CREATED) c[C.learned]!++;
        else if (l === L_REPLACED) {
          c[C.learned]!++;
          c[C['learn-replaced']]!++;
        } else if (l === L_REFUSED) c[C['learn-refused']]!++;
        else if (l === L_PINNED)
          c[C.member]!++; // a pinned entry of an address that is no member now (cold)
        else if (l === L_OTHER_VLAN) c[C['other-vlan']]!++;
        else if (l === L_NONE && op === arp.OP_REPLY && neigh.heard !== null)
          neigh.heard.note(spa, 0, 0, 0, shaHi, shaLo, vid, st.now); // kept for a worker of a set (neighbor.ts)
      }
      if (op === arp.OP_REQUEST && forUs && spa !== tpa) {
        // Turn the request into the reply in place; Ethernet: back to the requester, from us, the EtherType (and
        // the VLAN tag, if any) as they are.
        arp.replyInPlace(v, o, macHi, macLo);
        b.len[i] = o - f + arp.PACKET_LEN;
        ethernet.setDst(v, f, shaHi, shaLo);
        ethernet.setSrc(v, f, macHi, macLo);
        b.next[i] = X.reply;
        c[C.replied]!++;
        continue;
      }
      c[C.ignored]!++;
    }
    return n;
  }
}

/**
 * The last claim of each kind the arp stage saw (address and MAC), for the agent's once-per-interval log line.
 * Plain numbers, written per conflicting frame; read on the control path.
 */
export class ArpClaims {
  readonly ip = new Int32Array(ARP_COUNTERS.length);
  readonly macHi = new Int32Array(ARP_COUNTERS.length);
  readonly macLo = new Int32Array(ARP_COUNTERS.length);

  note(counter: number, ip: number, hi16: number, lo32: number): void {
    this.ip[counter] = ip;
    this.macHi[counter] = hi16;
    this.macLo[counter] = lo32;
  }

  /** The last claim counted under `name` (cold path). */
  last(name: (typeof ARP_COUNTERS)[number]): { ip: number; macHi: number; macLo: number } {
    const k = C[name];
    return { ip: this.ip[k]!, macHi: this.macHi[k]!, macLo: this.macLo[k]! };
  }
}
