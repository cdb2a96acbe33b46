/**
 * Antrea's validating webhooks, with their wording: `pkg/controller/egress/validate.go` (Egress) and
 * `pkg/controller/externalippool/validate.go` with `pkg/controller/validation/ippool.go` (ExternalIPPool). They run
 * on created and changed objects only (state.ts), as the API server calls them on CREATE and UPDATE.
 */
import { poolAllocator } from '../allocator.js';
import type { PoolAllocator } from '../allocator.js';
import { compareIP, formatIP, parseCIDR, parseIP, prefixBounds, prefixContains } from '../ip.js';
import type { IP, Prefix } from '../ip.js';
import type { Egress, ExternalIPPool, IPRange } from '../model.js';
import { Ctx, joinPath } from '../problems.js';
import { METER_MAX_KBIT, quantityError, quantityKbit } from '../quantity.js';

/** Antrea's Egress webhook (CREATE compares against an empty Egress). */
export function egressWebhook(
  ctx: Ctx,
  next: Egress,
  old: Egress | null,
  pools: ReadonlyMap<string, ExternalIPPool>,
): void {
  const s = next.spec;
  if (s.egressIPs && s.egressIPs.length > 0) return ctx.error('spec.egressIPs', 'spec.egressIPs is not supported yet');
  if (s.externalIPPools && s.externalIPPools.length > 0)
    return ctx.error('spec.externalIPPools', 'spec.externalIPPools is not supported yet');
  if (s.bandwidth) {
    const re = quantityError(s.bandwidth.rate);
    if (re)
      return ctx.error(
        'spec.bandwidth.rate',
        `Rate ${s.bandwidth.rate} in Egress ${next.metadata.name} is invalid: ${re}`,
      );
    const be = quantityError(s.bandwidth.burst);
    if (be)
      return ctx.error(
        'spec.bandwidth.burst',
        `Burst ${s.bandwidth.burst} in Egress ${next.metadata.name} is invalid: ${be}`,
      );
    const me = meterError(s.bandwidth.rate, s.bandwidth.burst);
    if (me)
      return ctx.error(
        `spec.bandwidth.${me.field}`,
        `${me.field === 'rate' ? 'Rate' : 'Burst'} ${s.bandwidth[me.field]} in Egress ${next.metadata.name} is invalid: ${me.why}`,
      );
  }
  const oldIP = old?.spec.egressIP ?? '';
  const oldPool = old?.spec.externalIPPool ?? '';
  if ((s.egressIP ?? '') === oldIP && (s.externalIPPool ?? '') === oldPool) return;
  if (!s.egressIP || !s.externalIPPool) return;
  const ip = parseIP(s.egressIP);
  if (!ip) return ctx.error('spec.egressIP', `IP ${s.egressIP} is not valid`);
  const pool = pools.get(s.externalIPPool);
  if (!pool) return ctx.error('spec.externalIPPool', `ExternalIPPool ${s.externalIPPool} does not exist`);
  if (!poolWindow(pool).has(ip)) return ctx.error('spec.egressIP', `IP ${s.egressIP} is not within the IP range`);
}

/**
 * What a meter cannot express (our refusal; Antrea's webhook only parses the quantities and its agent would
 * install a meter that drops everything or overflows): a rate below 1 kbit/s (the meter's unit), a bucket smaller
 * than one 1514-byte frame (12 112 bits: whole kbit, so 13k) that would never pass a full-size packet, or either
 * above the meter's 32-bit kbit count.
 */
function meterError(rate: string, burst: string): { field: 'rate' | 'burst'; why: string } | null {
  const max = `${METER_MAX_KBIT}k`;
  const r = quantityKbit(rate);
  if (r < 1n) return { field: 'rate', why: 'below 1k: a meter counts whole kbit/s' };
  if (r > METER_MAX_KBIT) return { field: 'rate', why: `above ${max}: a meter's rate is a 32-bit count of kbit/s` };
  const b = quantityKbit(burst);
  if (b < 13n)
    return { field: 'burst', why: 'below 13k: the bucket must hold one 1514-byte frame (12 112 bits) in whole kbit' };
  if (b > METER_MAX_KBIT) return { field: 'burst', why: `above ${max}: a meter's burst is a 32-bit count of kbit` };
  return null;
}

/**
 * A pool's allocator for `has` only (never allocated from), built once per ranges array: a set with thousands of
 * pinned Egresses asks it once per Egress, and building one parses every range.
 */
const windows = new WeakMap<readonly IPRange[], PoolAllocator>();
function poolWindow(pool: ExternalIPPool): PoolAllocator {
  let w = windows.get(pool.spec.ipRanges);
  if (!w) windows.set(pool.spec.ipRanges, (w = poolAllocator(pool)));
  return w;
}

export interface NormalizedRange {
  start: IP;
  end: IP;
  origin: string;
  index: number;
}

function normalizeRange(ctx: Ctx, r: IPRange, index: number): NormalizedRange | null {
  const path = joinPath('spec.ipRanges', index);
  if (r.cidr !== undefined) {
    const p = parseCIDR(r.cidr);
    if (!p) {
      ctx.error(path, `invalid cidr ${r.cidr}`);
      return null;
    }
    const [a, b] = prefixBounds(p);
    return {
      start: { family: p.family, value: a },
      end: { family: p.family, value: b },
      origin: `range [${r.cidr}]`,
      index,
    };
  }
  const start = parseIP(r.start);
  if (!start) {
    ctx.error(path, `invalid start ip address ${r.start}`);
    return null;
  }
  const end = parseIP(r.end);
  if (!end) {
    ctx.error(path, `invalid end ip address ${r.end}`);
    return null;
  }
  if (start.family !== end.family) {
    ctx.error(path, `range start ${r.start} and range end ${r.end} should belong to same family`);
    return null;
  }
  if (compareIP(start, end) > 0) {
    ctx.error(path, `range start ${r.start} should not be greater than range end ${r.end}`);
    return null;
  }
  return { start, end, origin: `range [${r.start}-${r.end}]`, index };
}

function overlaps(a: NormalizedRange, b: NormalizedRange): boolean {
  return a.start.family === b.start.family && compareIP(a.start, b.end) <= 0 && compareIP(a.end, b.start) >= 0;
}

/** Ranges of a pool as the webhook normalizes them (errors dropped: the pool was validated). */
export function normalizedRanges(pool: ExternalIPPool): NormalizedRange[] {
  return [...rangesOf(pool)];
}

/** Per ranges array (never changed once decoded): the pool webhook reads every other pool's for each new pool. */
const normalized = new WeakMap<readonly IPRange[], readonly NormalizedRange[]>();
function rangesOf(pool: ExternalIPPool): readonly NormalizedRange[] {
  let n = normalized.get(pool.spec.ipRanges);
  if (!n) {
    const scratch = new Ctx([], null);
    n = pool.spec.ipRanges.map((r, i) => normalizeRange(scratch, r, i)).filter((x): x is NormalizedRange => !!x);
    normalized.set(pool.spec.ipRanges, n);
  }
  return n;
}

/**
 * Antrea's ExternalIPPool webhook: ranges parse, same family, start ≤ end, inside subnetInfo, no overlap inside the
 * pool or with any range of `others`; on UPDATE, no existing range removed or changed.
 */
export function poolWebhook(
  ctx: Ctx,
  next: ExternalIPPool,
  old: ExternalIPPool | null,
  others: readonly ExternalIPPool[],
): void {
  const si = next.spec.subnetInfo;
  let subnet: Prefix | null = null;
  if (si) {
    const gw = parseIP(si.gateway);
    if (!gw) return ctx.error('spec.subnetInfo.gateway', `invalid gateway address ${si.gateway}`);
    const max = gw.family === 4 ? 32 : 128;
    if (si.prefixLength <= 0 || si.prefixLength >= max)
      return ctx.error('spec.subnetInfo.prefixLength', `invalid prefixLength ${si.prefixLength}`);
    subnet = parseCIDR(`${formatIP(gw)}/${si.prefixLength}`);
  }
  const current: NormalizedRange[] = [];
  for (let i = 0; i < next.spec.ipRanges.length; i++) {
    const cur = normalizeRange(ctx, next.spec.ipRanges[i]!, i);
    if (!cur) return;
    const path = joinPath('spec.ipRanges', i);
    if (subnet && !(prefixContains(subnet, cur.start) && prefixContains(subnet, cur.end)))
      return ctx.error(path, `${cur.origin} must be a strict subset of the subnet ${si!.gateway}/${si!.prefixLength}`);
    for (const ex of current) {
      if (overlaps(cur, ex)) return ctx.error(path, `${cur.origin} overlaps with ${ex.origin}`);
    }
    current.push(cur);
  }
  // Other pools only once the pool's own ranges are valid, as Antrea's validateNoOverlappingRanges runs after them.
  for (let i = 0; i < current.length; i++) {
    for (const other of others) {
      if (other.metadata.name === next.metadata.name) continue;
      for (const ex of rangesOf(other)) {
        if (overlaps(current[i]!, ex))
          return ctx.error(
            joinPath('spec.ipRanges', i),
            `${current[i]!.origin} overlaps with ${ex.origin} of ExternalIPPool ${other.metadata.name}`,
          );
      }
    }
  }
  if (old) {
    const rangeText = (r: IPRange) => r.cidr ?? `${r.start}-${r.end}`;
    const now = new Set(next.spec.ipRanges.map(rangeText));
    const removed = [...new Set(old.spec.ipRanges.map(rangeText))].filter((x) => !now.has(x)).sort();
    if (removed.length > 0)
      ctx.error('spec.ipRanges', `existing IPRanges [${removed.join(' ')}] cannot be updated or deleted`);
  }
}
