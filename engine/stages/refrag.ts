/**
 * Refragmentation (RFC 791 §3.2; Linux `ip_do_fragment`'s slow path): a packet without DF larger than the MTU
 * of the way it takes is cut into fragments of at most `mtu` bytes, the first in its own slot, the rest in new
 * slots appended to the burst and the selection with the same exit. A fragment is cut like a whole datagram
 * (offsets continue from its own, the last piece keeps its MF). Later pieces carry only the options with the
 * copy flag; the others become NOPs, as Linux's `ip_options_fragment` does, so every header keeps its length.
 */
import type { Burst } from '../packet/index.js';
import { ipv4 } from '../wire/index.js';

/** Fragments the IPv4 packet at `l3` becomes at `mtu` (1 when it fits). */
export function piecesAt(v: DataView, l3: number, mtu: number): number {
  const hl = ipv4.headerLen(v, l3);
  const plen = ipv4.totalLen(v, l3) - hl;
  const chunk = (mtu - hl) & ~7;
  return Math.ceil(plen / chunk);
}

/** Room in the burst and the slab for `pieces - 1` new packets. */
export function roomFor(b: Burst, pieces: number): boolean {
  return b.room >= pieces - 1 && b.slab.available >= pieces - 1;
}

/**
 * Cut packet i (IPv4 at `b.l3[i]`, `b.len[i]` = the bytes before it + its total length) to `mtu`; the caller
 * checked `roomFor(b, piecesAt(...))`. Returns the new selection length.
 */
export function refragment(b: Burst, sel: Int32Array, n: number, i: number, mtu: number): number {
  const v = b.slab.dv;
  const u8 = b.slab.u8;
  const o = b.l3[i]!;
  const hl = ipv4.headerLen(v, o);
  const plen = ipv4.totalLen(v, o) - hl;
  const chunk = (mtu - hl) & ~7;
  const ff = ipv4.flagsFrag(v, o);
  const base8 = ff & ipv4.FRAG_OFFSET_MASK;
  const flags = ff & ~ipv4.FRAG_OFFSET_MASK & ~ipv4.FLAG_MF;
  const pre = o - b.off[i]!;
  for (let from = chunk; from < plen; from += chunk) {
    const len = plen - from < chunk ? plen - from : chunk;
    const j = b.alloc(0);
    const oj = b.off[j]! + pre;
    u8.copyWithin(b.off[j]!, b.off[i]!, o + hl);
    u8.copyWithin(oj + hl, o + hl + from, o + hl + from + len);
    if (hl > ipv4.HEADER_LEN) nopUncopied(u8, oj + ipv4.HEADER_LEN, oj + hl);
    ipv4.setTotalLen(v, oj, hl + len);
    const last = from + len >= plen;
    ipv4.setFlagsFrag(v, oj, flags | (base8 + (from >> 3)) | (last ? ff & ipv4.FLAG_MF : ipv4.FLAG_MF));
    ipv4.fillChecksum(v, oj);
    b.len[j] = pre + hl + len;
    b.l3[j] = oj;
    b.flow[j] = -1;
    b.meta[j] = b.meta[i]!;
    b.port[j] = b.port[i]!;
    b.oport[j] = b.oport[i]!;
    b.tsSec[j] = b.tsSec[i]!;
    b.tsNsec[j] = b.tsNsec[i]!;
    b.next[j] = b.next[i]!;
    sel[n++] = j;
  }
  ipv4.setTotalLen(v, o, hl + chunk);
  ipv4.setFlagsFrag(v, o, flags | base8 | ipv4.FLAG_MF);
  ipv4.fillChecksum(v, o);
  b.len[i] = pre + hl + chunk;
  return n;
}

/** Options without the copy flag (RFC 791: type bit 0x80) become NOPs; EOL ends the list. */
function nopUncopied(u8: Uint8Array, q: number, end: number): void {
  while (q < end) {
    const type = u8[q]!;
    if (type === 0) return;
    if (type === 1) {
      q++;
      continue;
    }
    const len = q + 1 < end ? u8[q + 1]! : 1;
    const l = len < 2 ? end - q : len;
    if ((type & 0x80) === 0) u8.fill(1, q, q + l > end ? end : q + l);
    q += l;
  }
}
