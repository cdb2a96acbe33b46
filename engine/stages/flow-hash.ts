/**
 * A stable hash of an IPv4 packet's flow (addresses, protocol, and the first L4 word for TCP/UDP/ICMP), used for
 * the Geneve outer source port (flow entropy for ECMP and RSS, docs/semantics.md §5); a fragment hashes
 * its addresses and protocol only, so every fragment of a datagram takes one path. Not seeded: peers only need it
 * stable per flow. murmur3's finaliser over the xor-folded words.
 */
export function flowHash(v: DataView, l3: number): number {
  const proto = v.getUint8(l3 + 9);
  let h = v.getInt32(l3 + 12) ^ Math.imul(v.getInt32(l3 + 16), 0x85ebca6b) ^ proto;
  // Fragments of one datagram share one hash: only the first carries the L4 word.
  if ((proto === 6 || proto === 17 || proto === 1) && (v.getUint16(l3 + 6) & 0x3fff) === 0) {
    const l4 = l3 + ((v.getUint8(l3) & 0x0f) << 2);
    h ^= Math.imul(v.getInt32(l4 + (proto === 1 ? 4 : 0)), 0xc2b2ae35);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}
