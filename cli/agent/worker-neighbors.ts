/**
 * Neighbours shared between the datapath workers of one agent (docs/agent.md "Workers"). The kernel steers
 * every ARP frame of the uplink to one queue (its flow hash has no ports), so only one worker hears the answers
 * to everyone's requests: each datapath scans its neighbour table every housekeeping round (cold path, a few
 * entries) and passes on what it learned, a new MAC at once and a refreshed one at most once a second, which the
 * main thread relays to the others. What arrives from another worker is learned as if from ARP (`learn`; pinned
 * peers are not changed) and is not passed back.
 */
import type { NeighborTable } from '../../engine/stages/index.js';

/** A refreshed (same MAC) entry is passed on at most this often, so the others' copies do not go stale. */
export const NEIGHBOR_REFRESH_MS = 1000;
/** An entry updated within this many ms counts as just refreshed. */
const FRESH_MS = 100;

export class NeighborShare {
  onLearned: ((ip: number, macHi: number, macLo: number) => void) | null = null;
  private readonly known = new Map<number, number>();
  private readonly sent = new Map<number, number>();

  constructor(private readonly table: NeighborTable) {}

  /** Everything resolved now, as (ip, macHi, macLo) rows (a new worker's start). */
  rows(now: number): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    for (const e of this.table.dump(now))
      if (e.state === 'reachable' || e.state === 'stale') out.push([e.ip, e.macHi, e.macLo]);
    return out;
  }

  /** Pass on what this table learned since the last scan. */
  scan(now: number): void {
    const cb = this.onLearned;
    if (cb === null) return;
    for (const e of this.table.dump(now)) {
      if (e.state !== 'reachable') continue;
      const key = e.macHi * 0x1_0000_0000 + (e.macLo >>> 0);
      const fresh = e.ageMs < FRESH_MS && now - (this.sent.get(e.ip) ?? -Infinity) >= NEIGHBOR_REFRESH_MS;
      if (this.known.get(e.ip) === key && !fresh) continue;
      this.known.set(e.ip, key);
      this.sent.set(e.ip, now);
      cb(e.ip, e.macHi, e.macLo);
    }
  }

  /** Learn what another worker heard (not passed back). */
  apply(ip: number, macHi: number, macLo: number, now: number): void {
    this.known.set(ip, macHi * 0x1_0000_0000 + (macLo >>> 0));
    this.sent.set(ip, now);
    this.table.learn(ip, macHi, macLo, now, true);
  }
}
