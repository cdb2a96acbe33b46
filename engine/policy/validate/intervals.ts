/**
 * Address intervals (pool ranges, Pod CIDRs) with "which contain this address" and "which overlap this interval"
 * in O(log n + hits): the cross-object rules ask these for every Pod, Egress and range, so a set of 10 000 Pods
 * and 20 000 Egresses must not compare every pair.
 *
 * Intervals are kept per family, sorted by start, with the running maximum of their ends: a query binary-searches
 * the last interval starting at or before its end, then walks back while an earlier interval can still reach it.
 * Valid sets have disjoint intervals (one step back); overlapping ones (a rule reports them) are still all found.
 */
import type { Family, IP } from '../ip.js';

interface Entry<T> {
  readonly start: bigint;
  readonly end: bigint;
  readonly value: T;
}

export class IntervalIndex<T> {
  private readonly byFamily = new Map<Family, { entries: Entry<T>[]; maxEnd: bigint[] }>();
  private sealed = false;

  /** Add [start, end] (inclusive). All adds come before the first query. */
  add(family: Family, start: bigint, end: bigint, value: T): void {
    if (this.sealed) throw new Error('IntervalIndex: add after a query');
    let f = this.byFamily.get(family);
    if (!f) this.byFamily.set(family, (f = { entries: [], maxEnd: [] }));
    f.entries.push({ start, end, value });
  }

  private seal(): void {
    if (this.sealed) return;
    this.sealed = true;
    for (const f of this.byFamily.values()) {
      f.entries.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      let m = -1n;
      f.maxEnd = f.entries.map((e) => (m = e.end > m ? e.end : m));
    }
  }

  /** Values of the intervals overlapping [start, end], in address order. */
  overlapping(family: Family, start: bigint, end: bigint): T[] {
    this.seal();
    const f = this.byFamily.get(family);
    if (!f) return [];
    // Last entry with entry.start <= end.
    let lo = 0;
    let hi = f.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f.entries[mid]!.start <= end) lo = mid + 1;
      else hi = mid;
    }
    const hits: { i: number; v: T }[] = [];
    for (let i = lo - 1; i >= 0 && f.maxEnd[i]! >= start; i--) {
      if (f.entries[i]!.end >= start) hits.push({ i, v: f.entries[i]!.value });
    }
    return hits.length <= 1 ? hits.map((h) => h.v) : hits.sort((a, b) => a.i - b.i).map((h) => h.v);
  }

  /** Values of the intervals containing `ip`. */
  containing(ip: IP): T[] {
    return this.overlapping(ip.family, ip.value, ip.value);
  }
}
