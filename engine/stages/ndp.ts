/**
 * ndp: Neighbor Discovery from the uplink (RFC 4861), IPv6's counterpart of the arp stage. uplink-ingress hands
 * on an IPv6 frame whose Next Header is ICMPv6 with an NDP type (133..137), for this node's MAC, broadcast or an
 * IPv6 multicast MAC (33:33:..., the solicited-node groups). The message must pass `ipv6.check`, `ndp.check`
 * (Hop Limit 255, code 0, options of length > 0, target not multicast, the DAD rules) and its ICMPv6 checksum.
 * What a message may do is limited as ARP is (docs/segment-security.md#ndp-and-the-ipv6-neighbour-table):
 * - A Neighbor Solicitation is answered (`ndp.emitSolicitedAdvertFrame`, Solicited and Override set) only for an
 *   address this node owns now: its IPv6 address, a hosted IPv6 egress IP (not while `holdEgress`: `held`).
 *   One for any other target is `drop-not-owned`. Its source, with a source link-layer address option, creates or
 *   updates the neighbour entry (neighbor6.ts; created entries are unconfirmed and capped: `learn-replaced`,
 *   `learn-refused`). A DAD probe (source ::) for an owned address is answered to all-nodes (`dad-conflict`).
 * - A Neighbor Advertisement only updates an existing entry: it resolves an INCOMPLETE one (`resolved`; one
 *   without a target link-layer address option is `drop-no-lla`, §7.2.5); a REACHABLE entry changes MAC only
 *   with the Override flag (`no-override` otherwise); without the Solicited flag the Override flag is needed
 *   for any change. An NA for an address without an entry is `drop-na-unknown`: unsolicited advertisements
 *   never create entries. Pinned (static) entries never change (`pinned`).
 * - A message from, or an NA for, an address this node owns with another MAC is a conflict
 *   (`conflict-node-ip`, `conflict-egress-ip`); nothing changes. This node's own frames coming back are `own`.
 * - On an IPv6 underlay (docs/ipv6.md §2.l) a member's transport address is never learned from NDP (its entry is
 *   pinned from its heartbeats, docs/segment-security.md#peer-pins), as the arp stage treats a member's node IP:
 *   an NA for it, or an NS from it, counts `member` when the MAC is its pinned one, `spoof-member-ip` when it is
 *   another, `member-unpinned` before its first heartbeat; an NS from it is still answered.
 * - Router Solicitations, Router Advertisements and Redirects are `drop-router-message`: the node takes its
 *   router from its configuration, never from the segment.
 * - No IPv6 address of this node is on a VLAN: NDP in a tagged frame is `other-vlan`.
 * Malformed messages are counted drops by reason; nothing throws.
 * Specification: docs/ipv6.md §2.c; docs/segment-security.md#ndp-and-the-ipv6-neighbour-table; RFC 4861 §7.
 * Cases: test/stages/cases/ndp.cases.ts.
 * Exits: `reply` (to the uplink port), `done` (consumed: the pipeline frees it).
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst } from '../packet/index.js';
import { ethernet, icmpv6, ipv6, ndp, verdict } from '../wire/index.js';
import { OWN_NODE } from './config.js';
import { verdictReasons } from './drop-reasons.js';
import { L_CREATED, L_OTHER_VLAN, L_PINNED, L_REFUSED, L_REPLACED, L_UPDATED, N_INCOMPLETE } from './neighbor.js';
import type { NodeState } from './state.js';

const NAMES = [
  'replied',
  'learned',
  'resolved',
  'updated',
  'no-override',
  'own',
  'held',
  'pinned',
  'dad-conflict',
  'learn-replaced',
  'learn-refused',
  'conflict-node-ip',
  'conflict-egress-ip',
  'member',
  'member-unpinned',
  'spoof-member-ip',
  'other-vlan',
  'drop-not-owned',
  'drop-na-unknown',
  'drop-no-lla',
  'drop-router-message',
  'drop-no-ipv6',
  'drop-truncated',
  'drop-hop-limit',
  'drop-bad-checksum',
  'drop-bad',
  'drop-no-buffer',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['reply', 'done'] as const;
const X = exitIndex(EXITS);
const NDP_DROP = verdictReasons(
  C,
  { [verdict.TRUNCATED]: 'drop-truncated', [verdict.BAD_HOP_LIMIT]: 'drop-hop-limit' },
  'drop-bad',
);

export class Ndp implements Stage {
  readonly name = 'ndp';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);

  constructor(private readonly st: NodeState) {}

  process(b: Burst, sel: Int32Array, n: number): number {
    const st = this.st;
    const t = st.tables;
    const t6 = t.v6;
    const v = st.v;
    const c = this.counters.v;
    const neigh = st.neigh6;
    const macHi = ethernet.macHi16(t.mac);
    const macLo = ethernet.macLo32(t.mac);
    const count = n;
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const f = b.off[i]!;
      b.next[i] = X.done;
      if (t6 === null) {
        c[C['drop-no-ipv6']]!++;
        continue;
      }
      if (ipv6.check(v, o, f + b.len[i]! - o) !== verdict.OK) {
        c[C['drop-truncated']]!++;
        continue;
      }
      const m = o + ipv6.HEADER_LEN;
      const mlen = ipv6.payloadLen(v, o);
      if (ipv6.nextHeader(v, o) !== ipv6.NH_ICMPV6 || ipv6.isMulticast(v, o + 8)) {
        c[C['drop-bad']]!++;
        continue;
      }
      const r = ndp.check(v, o, m, mlen);
      if (r !== verdict.OK) {
        c[NDP_DROP[r]!]!++;
        continue;
      }
      if (!icmpv6.checksumOk(v, o, m, mlen)) {
        c[C['drop-bad-checksum']]!++;
        continue;
      }
      if (o - f !== ethernet.HEADER_LEN) {
        c[C['other-vlan']]!++;
        continue;
      }
      const type = v.getUint8(m);
      if (type !== ndp.TYPE_NEIGHBOR_SOLICIT && type !== ndp.TYPE_NEIGHBOR_ADVERT) {
        c[C['drop-router-message']]!++;
        continue;
      }
      const p = ndp.targetOffset(m);
      const t0 = v.getInt32(p);
      const t1 = v.getInt32(p + 4);
      const t2 = v.getInt32(p + 8);
      const t3 = v.getInt32(p + 12);
      const own = t6.owned.get(t0, t1, t2, t3, 0);
      if (type === ndp.TYPE_NEIGHBOR_ADVERT) {
        const tl = ndp.llaOption(v, m, mlen, ndp.OPT_TARGET_LLA);
        const hi = tl >= 0 ? ndp.llaHi16(v, tl) : ethernet.srcHi16(v, f);
        const lo = tl >= 0 ? ndp.llaLo32(v, tl) : ethernet.srcLo32(v, f);
        if (own !== 0) {
          if (hi === macHi && lo === macLo) c[C.own]!++;
          else c[own === OWN_NODE ? C['conflict-node-ip'] : C['conflict-egress-ip']]!++;
          continue;
        }
        if (t6.underlay && this.member(t0, t1, t2, t3, hi, lo)) continue;
        const e = neigh.find(t0, t1, t2, t3);
        if (e < 0) {
          // Kept (not learned) by a worker of a set: another worker may be resolving the address (neighbor.ts).
          if (neigh.heard !== null && (ndp.naFlags(v, m) & ndp.FLAG_SOLICITED) !== 0)
            neigh.heard.note(t0, t1, t2, t3, hi, lo, 0, st.now);
          c[C['drop-na-unknown']]!++;
          continue;
        }
        if (neigh.pinned[e] === 1) {
          c[C.pinned]!++;
          continue;
        }
        const incomplete = neigh.state[e] === N_INCOMPLETE;
        if (tl < 0) {
          // Nothing to learn; an INCOMPLETE entry needs the address (§7.2.5).
          c[incomplete ? C['drop-no-lla'] : C['no-override']]!++;
          continue;
        }
        const fl = ndp.naFlags(v, m);
        const override = (fl & ndp.FLAG_OVERRIDE) !== 0;
        const solicited = (fl & ndp.FLAG_SOLICITED) !== 0;
        const same = neigh.macHi[e] === hi && neigh.macLo[e] === lo;
        // Solicited: resolves an INCOMPLETE entry, refreshes a known one, changes its MAC only with Override.
        // Unsolicited: only with Override (the announcement of a takeover), never creating an entry.
        if (!override && (!solicited || (!incomplete && !same))) {
          c[C['no-override']]!++;
          continue;
        }
        const l = neigh.learnFromNdp(t0, t1, t2, t3, hi, lo, st.now, false, 0);
        if (l === L_UPDATED) c[incomplete ? C.resolved : C.updated]!++;
        else if (l === L_PINNED) c[C.pinned]!++;
        else if (l === L_OTHER_VLAN) c[C['other-vlan']]!++;
        continue;
      }
      // Neighbor Solicitation.
      if (own === 0) {
        c[C['drop-not-owned']]!++;
        continue;
      }
      const dad = ipv6.isUnspecified(v, o + 8);
      if (!dad) {
        const sl = ndp.llaOption(v, m, mlen, ndp.OPT_SOURCE_LLA);
        const hi = sl >= 0 ? ndp.llaHi16(v, sl) : ethernet.srcHi16(v, f);
        const lo = sl >= 0 ? ndp.llaLo32(v, sl) : ethernet.srcLo32(v, f);
        const s0 = v.getInt32(o + 8);
        const s1 = v.getInt32(o + 12);
        const s2 = v.getInt32(o + 16);
        const s3 = v.getInt32(o + 20);
        const ownSrc = t6.owned.get(s0, s1, s2, s3, 0);
        if (ownSrc !== 0) {
          if (hi === macHi && lo === macLo) c[C.own]!++;
          else c[ownSrc === OWN_NODE ? C['conflict-node-ip'] : C['conflict-egress-ip']]!++;
          continue;
        }
        if (sl >= 0 && !ipv6.isLinkLocal(v, o + 8) && !(t6.underlay && this.member(s0, s1, s2, s3, hi, lo))) {
          // An NS for us with the asker's address creates or updates its entry (§7.2.3), capped as ARP is.
          const l = neigh.learnFromNdp(s0, s1, s2, s3, hi, lo, st.now, true, 0);
          if (l === L_UPDATED) c[C.updated]!++;
          else if (l === L_CREATED) c[C.learned]!++;
          else if (l === L_REPLACED) {
            c[C.learned]!++;
            c[C['learn-replaced']]!++;
          } else if (l === L_REFUSED) c[C['learn-refused']]!++;
          else if (l === L_PINNED) c[C.pinned]!++;
          else if (l === L_OTHER_VLAN) c[C['other-vlan']]!++;
        }
      } else c[C['dad-conflict']]!++;
      if (own !== OWN_NODE && st.holdEgress) {
        c[C.held]!++;
        continue;
      }
      const j = b.alloc(ndp.FRAME_LEN);
      if (j < 0) {
        c[C['drop-no-buffer']]!++;
        continue;
      }
      ndp.emitSolicitedAdvertFrame(v, b.off[j]!, t.mac, v, f, o, m, mlen);
      b.flow[j] = -1;
      b.l3[j] = b.off[j]! + ethernet.HEADER_LEN;
      b.next[j] = X.reply;
      sel[n++] = j;
      c[C.replied]!++;
    }
    return n;
  }

  /**
   * True (and counted) when the address is a member's IPv6 transport address: `member` with its pinned MAC,
   * `spoof-member-ip` with another, `member-unpinned` before its first heartbeat (only an IPv6 underlay calls it).
   */
  private member(a0: number, a1: number, a2: number, a3: number, hi: number, lo: number): boolean {
    const key = this.st.tables.v6!.transportKeyOf.get(a0, a1, a2, a3, 0);
    if (key === 0) return false;
    const m = this.st.pins.match(key, hi, lo);
    this.counters.v[m > 0 ? C.member : m < 0 ? C['member-unpinned'] : C['spoof-member-ip']]!++;
    return true;
  }
}
