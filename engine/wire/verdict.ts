/**
 * Verdicts returned by every `check()` in engine/wire. A check never throws: it returns one of these codes,
 * and a stage turns a non-OK verdict into a counted drop named after it.
 */
export const OK = 0;
/** Fewer bytes than the header (or the length a field announces) needs. */
export const TRUNCATED = 1;
/** A version field with an unexpected value (IPv4 version != 4, Geneve version != 0). */
export const BAD_VERSION = 2;
/** A header-length field below the minimum or beyond the bytes available (IPv4 IHL, TCP data offset, Geneve opt len). */
export const BAD_HEADER_LEN = 3;
/** A total-length field that is inconsistent with the header or larger than the bytes available. */
export const BAD_TOTAL_LEN = 4;
/** A checksum that does not verify. */
export const BAD_CHECKSUM = 5;
/** A field value the protocol forbids (ARP hardware/protocol sizes, option TLV overrun). */
export const BAD_FIELD = 6;
/** Well formed but not something this engine handles (an IPv4 fragment where a whole datagram is needed). */
export const UNSUPPORTED = 7;
/** An IPv6 extension-header chain longer than the walker's limits (headers or bytes; RFC 8504 §5.3). */
export const CHAIN_TOO_LONG = 8;
/** An IPv6 Hop-by-Hop Options header anywhere but right after the IPv6 header (RFC 8200 §4.3). */
export const HOP_BY_HOP_NOT_FIRST = 9;
/** An IPv6 Next Header value that is neither an extension header nor an upper layer the engine knows. */
export const UNKNOWN_NEXT_HEADER = 10;
/** An NDP message whose IPv6 Hop Limit is not 255, so it may come from off-link (RFC 4861 §6.1, §7.1). */
export const BAD_HOP_LIMIT = 11;

/** Names indexed by verdict code, used for drop counters (`truncated`, `bad-header-len`, ...). */
export const VERDICT_NAMES = [
  'ok',
  'truncated',
  'bad-version',
  'bad-header-len',
  'bad-total-len',
  'bad-checksum',
  'bad-field',
  'unsupported',
  'chain-too-long',
  'hop-by-hop-not-first',
  'unknown-next-header',
  'bad-hop-limit',
] as const;

export type Verdict = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11;

/** Name of a verdict code. */
export function verdictName(v: number): string {
  return VERDICT_NAMES[v] ?? `verdict-${v}`;
}
