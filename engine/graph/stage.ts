/**
 * Stage: one step of the datapath (VPP graph node, Click element, Snabb app).
 *
 * A stage receives a selection of packets of the round's burst (`sel[0..n)` holds packet indices into `b`),
 * writes one of its declared exits into `b.next[i]` for each, and returns. It never calls another stage and
 * never throws on packet content: malformed input leaves through an exit wired to `drop`, with the reason
 * counted by the stage's own counters. The pipeline then moves every packet to the target of its exit in
 * bulk (VPP `nexts[]` + `vlib_buffer_enqueue_to_next`).
 *
 * A stage that generates packets (an ARP reply in a new slot, an ICMP error) appends them to `b` with
 * `b.alloc()` (checking `b.room`), appends their indices to `sel` and returns the new count.
 * A stage that keeps packets for later (a neighbour queue) sends them to an exit wired to `consumed`: it now
 * owns their slots; it gives them back through `release`, called at the start of every round.
 */
import type { Burst } from '../packet/index.js';
import { nameIndex, type Counters } from './counters.js';

export interface Stage {
  /** Kebab-case name, unique in a pipeline (`geneve-encap`). */
  readonly name: string;
  /** Exit names; `b.next[i] = k` sends packet i to exit `exits[k]`. */
  readonly exits: readonly string[];
  /** The stage's own counters, drop reasons included (`drop-truncated`, ...). */
  readonly counters?: Counters;
  /** Decide an exit for each selected packet; returns the selection length (more when packets were generated). */
  process(b: Burst, sel: Int32Array, n: number): number;
  /**
   * Optional: packets the stage held and now releases. Called before `process` in every round even when no
   * packet reached the stage; it appends packets to `b` (re-owning their slots) and their indices to `sel`
   * after the first `n`, and returns the new count. Released packets then go through `process` like the rest.
   */
  release?(b: Burst, sel: Int32Array, n: number): number;
}

/**
 * Exit name → index record from a stage's `as const` exit list, so the list is the one source of truth for
 * both `Stage.exits` and the `b.next[i]` values (`const X = exitIndex(EXITS); b.next[i] = X.drop`).
 */
export const exitIndex = nameIndex;
