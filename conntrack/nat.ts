/**
 * NAT binding and port choice: Linux `nf_nat_setup_info` for SNAT to one address, `get_unique_tuple`,
 * `nf_nat_l4proto_unique_tuple` and `nf_conntrack_tuple_taken` (net/netfilter/nf_nat_core.c), and the
 * by-source index `nf_nat_bysource` that gives endpoint-independent mapping (`find_appropriate_src`).
 *
 * The chosen reply tuple is inserted at bind time (Linux inserts it at confirm and drops on a clash with a racing
 * CPU; one table is single-threaded here), so the "tuple taken" check sees every other connection, confirmed or
 * not, and no two connections ever share a reply tuple. Exhaustion is recorded per (egress IP, destination,
 * destination port, protocol) for `snatUsage` (observe.ts).
 *
 * By-source index: `bsSlots` (open addressing, value = conn + 1, 0 empty) maps (orig src, sport, proto) to the
 * newest bound connection; `link`/`prev` chain the older ones, newest first (`hlist_add_head`).
 */
import { hsip4 } from './hash.js';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP } from './proto.js';
import * as record from './record.js';
import { swapPorts } from './record.js';
import { insertEntry } from './slots.js';
import type { CtState } from './state.js';

// Module-local copies of record.ts constants: V8 folds these, an imported binding is a load per use (record.ts).
const F_ALLOC = record.F_ALLOC;
const F_BYSRC = record.F_BYSRC;
const F_CONFIRMED = record.F_CONFIRMED;
const F_DYING = record.F_DYING;
const F_EXPIRY = record.F_EXPIRY;
const F_NAT_DONE = record.F_NAT_DONE;
const F_REPLY_IN = record.F_REPLY_IN;
const F_SNAT = record.F_SNAT;
const FSTRIDE = record.FSTRIDE;
const K_EXPIRED = record.K_EXPIRED;
const K_SNAT_EXHAUSTED = record.K_SNAT_EXHAUSTED;
const K_SNAT_INVALID = record.K_SNAT_INVALID;
const K_SNAT_PRESERVED = record.K_SNAT_PRESERVED;
const K_SNAT_PROBES = record.K_SNAT_PROBES;
const K_SNAT_REMAPPED = record.K_SNAT_REMAPPED;
const K_SNAT_SOURCE_MAPPED = record.K_SNAT_SOURCE_MAPPED;
const M_PROTO = record.M_PROTO;
const R_META = record.R_META;
const R_ODST = record.R_ODST;
const R_OPORTS = record.R_OPORTS;
const R_OSRC = record.R_OSRC;
const R_RDST = record.R_RDST;
const R_RPORTS = record.R_RPORTS;
const R_RSRC = record.R_RSRC;
const SNAT_EXHAUSTED = record.SNAT_EXHAUSTED;
const SNAT_INVALID = record.SNAT_INVALID;
const SNAT_OK = record.SNAT_OK;
const SNAT_RANDOM_FULLY = record.SNAT_RANDOM_FULLY;
const STRIDE = record.STRIDE;

/** Protocols with ports (ICMP echo: the identifier) that SNAT may change. */
export function isPortProto(proto: number): boolean {
  return proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_ICMP;
}

/**
 * Bind unconfirmed connection `c` to egress address `natIp`, reserving its reply tuple (see ConnTable.snat):
 * `SNAT_OK`, `SNAT_EXHAUSTED` or `SNAT_INVALID`.
 */
export function snat(s: CtState, c: number, natIp: number, mode: number): number {
  const rec = s.rec;
  const b = c * STRIDE;
  const m = rec[b + R_META]!;
  const C = s.counters;
  if ((m & (F_ALLOC | F_DYING | F_CONFIRMED | F_NAT_DONE)) !== F_ALLOC) {
    C[K_SNAT_INVALID]!++;
    return SNAT_INVALID;
  }
  const proto = m & M_PROTO;
  const src = rec[b + R_OSRC]!;
  const sport = rec[b + R_OPORTS]! >>> 16;
  if (!isPortProto(proto)) {
    // No port to change (Linux leaves such tuples alone): bind the address if that reply tuple is free.
    if (tryBind(s, c, natIp, 0)) {
      C[K_SNAT_PRESERVED]!++;
      return SNAT_OK;
    }
    return exhaust(s, c, natIp);
  }
  if ((mode & SNAT_RANDOM_FULLY) === 0) {
    if (src === natIp && inRange(s, sport)) {
      // Already inside the range: no translation if the tuple is unique.
      if (tryBind(s, c, natIp, sport)) {
        C[K_SNAT_PRESERVED]!++;
        return SNAT_OK;
      }
    } else {
      const p = bsMapping(s, src, sport, proto, natIp);
      if (p >= 0 && tryBind(s, c, natIp, p)) {
        C[p === sport ? K_SNAT_PRESERVED : K_SNAT_SOURCE_MAPPED]!++;
        return SNAT_OK;
      }
    }
    if (inRange(s, sport) && tryBind(s, c, natIp, sport)) {
      C[K_SNAT_PRESERVED]!++;
      return SNAT_OK;
    }
  }
  let min: number;
  let size: number;
  if (s.rangeSpecified) {
    min = s.portMin;
    size = s.portMax - s.portMin + 1;
  } else if (proto === PROTO_ICMP) {
    min = 0;
    size = 65536;
  } else if (sport < 512) {
    min = 1;
    size = 511;
  } else if (sport < 1024) {
    min = 600;
    size = 424;
  } else {
    min = 1024;
    size = 64512;
  }
  // Linux: `u16 off = get_random_u16()`, candidate `min + off % range_size`, `off++` (16-bit wrap). A worker of a
  // partitioned set moves each candidate up to its next own port and steps by the shard count.
  const sc = s.shardCount;
  const si = s.shardIndex;
  const end = min + size;
  let off = s.prng.u16();
  let attempts = size < 128 ? size : 128;
  for (;;) {
    for (let i = 0; i < attempts; i++) {
      let port = min + (off % size);
      if (sc === 1) off = (off + 1) & 0xffff;
      else {
        off = (off + sc) & 0xffff;
        port += (si - (port % sc) + sc) % sc;
        if (port >= end) continue;
      }
      if (tryBind(s, c, natIp, port)) {
        C[port === sport ? K_SNAT_PRESERVED : K_SNAT_REMAPPED]!++;
        return SNAT_OK;
      }
    }
    if (attempts >= size || attempts < 16) break;
    attempts >>= 1;
    off = s.prng.u16();
  }
  return exhaust(s, c, natIp);
}

function inRange(s: CtState, port: number): boolean {
  return (!s.rangeSpecified || (port >= s.portMin && port <= s.portMax)) && ownPort(s, port);
}

/** The port (or ICMP id) is in this table's SNAT partition (`portShards`). */
function ownPort(s: CtState, port: number): boolean {
  return s.shardCount === 1 || port % s.shardCount === s.shardIndex;
}

/** The worker of a set of `count` whose SNAT partition holds `port` (ConnTableOptions.portShards). */
export function portOwner(port: number, count: number): number {
  return port % count;
}

/** Reply tuple free? A timed-out holder is reaped on the way (Linux `nf_conntrack_tuple_taken` gc). */
export function tupleFree(
  s: CtState,
  h: number,
  src: number,
  dst: number,
  ports: number,
  proto: number,
  self: number,
): boolean {
  for (;;) {
    const v = s.probe(h, src, dst, ports, proto);
    if (v < 0) return true;
    const o = v >> 1;
    if (o === self) return false;
    const om = s.rec[o * STRIDE + R_META]!;
    if ((om & F_CONFIRMED) !== 0 && s.recF[o * FSTRIDE + F_EXPIRY]! <= s.clock[0]!) {
      s.kill(o);
      s.counters[K_EXPIRED]!++;
      continue;
    }
    return false;
  }
}

/** Try reply tuple (orig dst, natIp, orig dport, port); on success write it, reserve it and index the source. */
function tryBind(s: CtState, c: number, natIp: number, port: number): boolean {
  const rec = s.rec;
  const b = c * STRIDE;
  const m = rec[b + R_META]!;
  const proto = m & M_PROTO;
  const rsrc = rec[b + R_ODST]!;
  const oports = rec[b + R_OPORTS]!;
  let rports: number;
  if (proto === PROTO_ICMP) rports = (port << 16) | port | 0;
  else if (proto === PROTO_TCP || proto === PROTO_UDP) rports = (oports << 16) | port | 0;
  else rports = swapPorts(oports);
  const h = hsip4(s.k0, s.k1, rsrc, natIp, rports, proto);
  s.counters[K_SNAT_PROBES]!++;
  if (!tupleFree(s, h, rsrc, natIp, rports, proto, c)) return false;
  rec[b + R_RSRC] = rsrc;
  rec[b + R_RDST] = natIp;
  rec[b + R_RPORTS] = rports;
  insertEntry(s, h, (c << 1) | 1);
  let nm = m | F_NAT_DONE | F_REPLY_IN;
  if (natIp !== rec[b + R_OSRC] || rports !== swapPorts(oports)) nm |= F_SNAT;
  rec[b + R_META] = nm;
  if (isPortProto(proto)) bsLink(s, c);
  return true;
}

/** Count a refused binding, per (egress IP, destination, destination port, proto) for `snatUsage`. */
function exhaust(s: CtState, c: number, natIp: number): number {
  s.counters[K_SNAT_EXHAUSTED]!++;
  const rec = s.rec;
  const b = c * STRIDE;
  const dst = rec[b + R_ODST]!;
  const proto = rec[b + R_META]! & M_PROTO;
  // ICMP has no destination port: its ids are per (egress IP, destination).
  const key2 = (proto << 16) | (proto === PROTO_ICMP ? 0 : rec[b + R_OPORTS]! & 0xffff);
  const ex = s.exhausted;
  const n = ex.length >> 2;
  let i = hsip4(s.k0, s.k1, natIp, dst, key2, 0x65786821) & (n - 1);
  for (let k = 0; k < n; k++, i = (i + 1) & (n - 1)) {
    const o = i << 2;
    if (ex[o + 3] === 0) {
      ex[o] = natIp;
      ex[o + 1] = dst;
      ex[o + 2] = key2;
      ex[o + 3] = 1;
      break;
    }
    if (ex[o] === natIp && ex[o + 1] === dst && ex[o + 2] === key2) {
      ex[o + 3] = ex[o + 3]! + 1;
      break;
    }
  }
  return SNAT_EXHAUSTED;
}

/** Exhaustion records: `[natIp, dst, dport, proto, count]` per (egress IP, destination, port, protocol). */
export function exhaustion(s: CtState): Array<[number, number, number, number, number]> {
  const out: Array<[number, number, number, number, number]> = [];
  const ex = s.exhausted;
  for (let o = 0; o < ex.length; o += 4) {
    if (ex[o + 3] !== 0) out.push([ex[o]!, ex[o + 1]!, ex[o + 2]! & 0xffff, (ex[o + 2]! >>> 16) & 0xff, ex[o + 3]!]);
  }
  return out;
}

// ---- by-source index (Linux nf_nat_bysource) --------------------------------------------------------------

function bsHash(s: CtState, src: number, sport: number, proto: number): number {
  return hsip4(s.k0 ^ 0x62737263, s.k1, src, sport, proto, 0x6e617420);
}

function bsHashOf(s: CtState, c: number): number {
  const r = c * STRIDE;
  return bsHash(s, s.rec[r + R_OSRC]!, s.rec[r + R_OPORTS]! >>> 16, s.rec[r + R_META]! & M_PROTO);
}

/** Newest bound connection with this original (source, source port, proto), or -1. */
export function bsHead(s: CtState, src: number, sport: number, proto: number): number {
  const bs = s.bsSlots;
  const rec = s.rec;
  const mask = s.bsMask;
  let i = bsHash(s, src, sport, proto) & mask;
  for (;;) {
    const e = bs[i]!;
    if (e === 0) return -1;
    const r = (e - 1) * STRIDE;
    if (rec[r + R_OSRC] === src && rec[r + R_OPORTS]! >>> 16 === sport && (rec[r + R_META]! & M_PROTO) === proto)
      return e - 1;
    i = (i + 1) & mask;
  }
}

/** Port of the newest binding of this source to `natIp` that lies in the range, or -1 (`find_appropriate_src`). */
function bsMapping(s: CtState, src: number, sport: number, proto: number, natIp: number): number {
  const rec = s.rec;
  for (let x = bsHead(s, src, sport, proto); x >= 0; x = s.link[x]!) {
    const r = x * STRIDE;
    if (rec[r + R_RDST] === natIp) {
      const p = rec[r + R_RPORTS]! & 0xffff;
      if (inRange(s, p)) return p;
    }
  }
  return -1;
}

/** Index bound connection `c` by its original (source, source port, proto), newest first. */
export function bsLink(s: CtState, c: number): void {
  const bs = s.bsSlots;
  const rec = s.rec;
  const mask = s.bsMask;
  const r = c * STRIDE;
  const src = rec[r + R_OSRC]!;
  const sport = rec[r + R_OPORTS]! >>> 16;
  const proto = rec[r + R_META]! & M_PROTO;
  let i = bsHash(s, src, sport, proto) & mask;
  s.prev[c] = -1;
  for (;;) {
    const e = bs[i]!;
    if (e === 0) {
      bs[i] = c + 1;
      s.link[c] = -1;
      break;
    }
    const q = (e - 1) * STRIDE;
    if (rec[q + R_OSRC] === src && rec[q + R_OPORTS]! >>> 16 === sport && (rec[q + R_META]! & M_PROTO) === proto) {
      bs[i] = c + 1; // newest first, like hlist_add_head
      s.link[c] = e - 1;
      s.prev[e - 1] = c;
      break;
    }
    i = (i + 1) & mask;
  }
  rec[r + R_META] = rec[r + R_META]! | F_BYSRC;
}

/** Take connection `c` out of its by-source chain (and the index, when it headed the chain). */
export function bsUnlink(s: CtState, c: number): void {
  const p = s.prev[c]!;
  const n = s.link[c]!;
  if (p >= 0) {
    s.link[p] = n;
    if (n >= 0) s.prev[n] = p;
    return;
  }
  const bs = s.bsSlots;
  const mask = s.bsMask;
  let i = bsHashOf(s, c) & mask;
  while (bs[i] !== c + 1) {
    if (bs[i] === 0) return; // not indexed (cannot happen for a consistent table)
    i = (i + 1) & mask;
  }
  if (n >= 0) {
    bs[i] = n + 1;
    s.prev[n] = -1;
    return;
  }
  let j = i;
  for (;;) {
    j = (j + 1) & mask;
    const e = bs[j]!;
    if (e === 0) break;
    if (((j - (bsHashOf(s, e - 1) & mask)) & mask) >= ((j - i) & mask)) {
      bs[i] = e;
      i = j;
    }
  }
  bs[i] = 0;
}
