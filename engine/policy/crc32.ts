/**
 * CRC-32 as Go's `hash/crc32.ChecksumIEEE` computes it (the IEEE 802.3 polynomial, reflected 0xedb88320, initial
 * value and final xor 0xffffffff; the same function as zlib's `crc32`). Antrea's consistent hash ring hashes with it,
 * so ours must be bit-exact to pick the same Egress Node for the same names and IPs. Node 20 has no `zlib.crc32`.
 */

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32/IEEE of a byte range, as an unsigned 32-bit number. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const encoder = new TextEncoder();

/** CRC-32/IEEE of a string's UTF-8 bytes (Go's `[]byte(s)`). */
export function crc32String(s: string): number {
  return crc32(encoder.encode(s));
}
