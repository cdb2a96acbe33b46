/**
 * Neighbours shared between the datapath workers of one agent (docs/agent.md "Workers"), both families: the ARP
 * table (`NeighborTable`) and the IPv6 one (`NeighborTable6`, NDP). The kernel steers the uplink's ARP frames and
 * the Neighbor Advertisements of one router or host to one queue each (their flow hash has no ports), so the
 * worker that hears an answer is often not the one that asked:
 *
 * - **Solicitations.** Each datapath scans its tables every housekeeping round (cold path, a few entries) and
 *   passes on the addresses it is resolving (an INCOMPLETE entry with packets parked on it, once each); the main
 *   thread relays them and every other worker makes an INCOMPLETE entry of its own (`create`, no packets, no
 *   request sent), so the answer, wherever it lands, updates an entry (ARP's and NDP's rule: an answer only
 *   updates an entry that exists, Linux arp_accept=0) instead of being ignored. An answer that comes before the
 *   message (a host on the segment answers in microseconds, the relay takes a housekeeping round) is kept by the
 *   worker that heard it for one probe interval (`NeighborOptions.heard`, HeardAnswers) and learned when the
 *   message comes: an answer to a request this node sent, as if it had reached the asker.
 * - **Answers.** What a table learned (a new MAC at once, a refresh at most once a second) is passed on the same
 *   way; the others learn it as if from ARP or NDP (`learn`: pinned entries — peers, static IPv6 neighbours — are
 *   not changed) and the asker releases its parked packets. What arrives from another worker is not passed back.
 *
 * An address travels as number[]: one word (IPv4) or four (IPv6, network order as `ipv6.dstWord` reads it), with
 * the entry's VLAN.
 */
import {
  N_INCOMPLETE,
  N_REACHABLE,
  type NeighborCore,
  type NeighborTable,
  type NeighborTable6,
} from '../../engine/stages/index.js';

/** A refreshed (same MAC) entry is passed on at most this often, so the others' copies do not go stale. */
export const NEIGHBOR_REFRESH_MS = 1000;
/** An entry updated within this many ms counts as just refreshed. */
const FRESH_MS = 100;

/** One learned neighbour: address words, MAC, VLAN. */
export interface NeighborRow {
  addr: number[];
  macHi: number;
  macLo: number;
  vlan: number;
}

/** The address side of one family's table. */
interface Keys {
  readonly table: NeighborCore;
  addr(e: number): number[];
  find(a: readonly number[]): number;
  create(a: readonly number[], now: number, vlan: number): number;
  learn(a: readonly number[], macHi: number, macLo: number, now: number): void;
}

function keys4(t: NeighborTable): Keys {
  return {
    table: t,
    addr: (e) => [t.ip[e]!],
    find: (a) => t.find(a[0]!),
    create: (a, now, vlan) => t.create(a[0]!, now, vlan),
    learn: (a, hi, lo, now) => void t.learn(a[0]!, hi, lo, now, true),
  };
}

function keys6(t: NeighborTable6): Keys {
  const scratch = new DataView(new ArrayBuffer(16));
  return {
    table: t,
    addr: (e) => [t.addr[e * 4]!, t.addr[e * 4 + 1]!, t.addr[e * 4 + 2]!, t.addr[e * 4 + 3]!],
    find: (a) => t.find(a[0]!, a[1]!, a[2]!, a[3]!),
    create: (a, now, vlan) => t.create(a[0]!, a[1]!, a[2]!, a[3]!, now, vlan),
    learn: (a, hi, lo, now) => {
      for (let i = 0; i < 4; i++) scratch.setInt32(i * 4, a[i]!);
      t.learn(scratch, 0, hi, lo, now, true);
    },
  };
}

export class NeighborShare {
  /** A table learned (or refreshed) a neighbour. */
  onLearned: ((row: NeighborRow) => void) | null = null;
  /** A table started resolving an address. */
  onSolicit: ((addr: number[], vlan: number) => void) | null = null;
  private readonly k: Keys;
  private readonly known = new Map<string, number>();
  private readonly sent = new Map<string, number>();
  private readonly asked = new Set<string>();

  constructor(table: NeighborTable | NeighborTable6, family: 4 | 6 = 4) {
    this.k = family === 4 ? keys4(table as NeighborTable) : keys6(table as NeighborTable6);
  }

  /** Everything resolved now (a new worker's start). */
  rows(): NeighborRow[] {
    const t = this.k.table;
    const out: NeighborRow[] = [];
    for (let e = 0; e < t.state.length; e++)
      if (t.state[e] === N_REACHABLE && t.pinned[e] !== 1)
        out.push({ addr: this.k.addr(e), macHi: t.macHi[e]!, macLo: t.macLo[e]!, vlan: t.vlan[e]! });
    return out;
  }

  /** Pass on what this table learned, and the addresses it started resolving, since the last scan. */
  scan(now: number): void {
    const t = this.k.table;
    for (const key of this.asked) {
      const e = this.k.find(key.split(',').map(Number));
      if (e < 0 || t.state[e] !== N_INCOMPLETE) this.asked.delete(key);
    }
    for (let e = 0; e < t.state.length; e++) {
      const st = t.state[e];
      if (st === N_INCOMPLETE) {
        if (this.onSolicit === null || t.queued(e) === 0) continue;
        const a = this.k.addr(e);
        const key = a.join(',');
        if (this.asked.has(key)) continue;
        this.asked.add(key);
        this.onSolicit(a, t.vlan[e]!);
        continue;
      }
      if (st !== N_REACHABLE || t.pinned[e] === 1 || this.onLearned === null) continue;
      const age = now - t.updated[e]!;
      if (age >= t.staleMs) continue;
      const a = this.k.addr(e);
      const key = a.join(',');
      const mac = t.macHi[e]! * 0x1_0000_0000 + (t.macLo[e]! >>> 0);
      const fresh = age < FRESH_MS && now - (this.sent.get(key) ?? -Infinity) >= NEIGHBOR_REFRESH_MS;
      if (this.known.get(key) === mac && !fresh) continue;
      this.known.set(key, mac);
      this.sent.set(key, now);
      this.onLearned({ addr: a, macHi: t.macHi[e]!, macLo: t.macLo[e]!, vlan: t.vlan[e]! });
    }
  }

  /** Learn what another worker heard (not passed back). */
  apply(row: NeighborRow, now: number): void {
    const key = row.addr.join(',');
    this.known.set(key, row.macHi * 0x1_0000_0000 + (row.macLo >>> 0));
    this.sent.set(key, now);
    if (this.k.find(row.addr) < 0) this.k.create(row.addr, now, row.vlan);
    this.k.learn(row.addr, row.macHi, row.macLo, now);
  }

  /**
   * Another worker is resolving `addr`: an INCOMPLETE entry here for its answer to update (none is sent), or, when
   * the answer came here before this message (`HeardAnswers`, within a probe interval), the answer learned at once,
   * which the next scan passes on.
   */
  want(addr: readonly number[], vlan: number, now: number): void {
    let e = this.k.find(addr);
    if (e < 0) e = this.k.create(addr, now, vlan);
    if (e < 0 || this.k.table.state[e] !== N_INCOMPLETE) return;
    const mac = this.k.table.heard?.find(addr, vlan, now) ?? null;
    if (mac !== null) this.k.learn(addr, mac[0], mac[1], now);
  }
}
