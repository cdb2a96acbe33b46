/**
 * The Geneve checks geneve-decap (IPv4 outer) and tunnel6-decap (IPv6 outer) share once the outer headers have
 * passed (docs/semantics.md §5, receiving; docs/tunnel-auth.md): not OAM, no critical option we do not know
 * (without tunnel authentication: none at all; with it, only the authentication option), protocol Transparent
 * Ethernet Bridging, VNI 0; with tunnel authentication the option present with our key id, a sequence number
 * inside the peer's replay window and a good tag, and only then the sequence number recorded.
 */
import { geneve, geneveAuth } from '../wire/index.js';
import { SEQ_NO_ROOM, SEQ_OK, type TunnelAuth } from './tunnel-auth.js';

/** The refusals of `checkGeneve`: its return value is 1 + the index of the reason here. */
export const GENEVE_CHECK_DROPS = [
  'drop-oam',
  'drop-critical-option',
  'drop-unsupported',
  'drop-vni',
  'drop-auth-missing',
  'drop-auth-key',
  'drop-auth-no-window',
  'drop-auth-replay',
  'drop-auth-bad',
] as const;
const R = Object.fromEntries(GENEVE_CHECK_DROPS.map((n, i) => [n, i + 1])) as Record<
  (typeof GENEVE_CHECK_DROPS)[number],
  number
>;

/** `checkGeneve`'s return value → the stage's counter index (`c[t[r]!]!++`), built once per stage. */
export function geneveCheckCounters(C: { readonly [K in (typeof GENEVE_CHECK_DROPS)[number]]: number }): Uint8Array {
  const t = new Uint8Array(GENEVE_CHECK_DROPS.length + 1);
  GENEVE_CHECK_DROPS.forEach((n, i) => (t[i + 1] = C[n]));
  return t;
}

/**
 * The Geneve header at `g` (its outer IP header at `ol3`, IPv6 when `outer6`) after the outer checks: 0 when
 * it passes, else 1 + the index of its reason in GENEVE_CHECK_DROPS. `peer` keys the replay window (the outer
 * IPv4 source, or the IPv6 peer's transport key).
 */
export function checkGeneve(
  v: DataView,
  g: number,
  ol3: number,
  auth: TunnelAuth | null,
  peer: number,
  outer6: boolean,
): number {
  if (geneve.oam(v, g)) return R['drop-oam'];
  const ap = auth === null ? -1 : geneveAuth.findOption(v, g);
  if (auth === null ? geneve.critical(v, g) || geneve.hasCriticalOption(v, g) : ap === -2)
    return R['drop-critical-option'];
  if (geneve.protocol(v, g) !== geneve.PROTO_TEB) return R['drop-unsupported'];
  if (geneve.vni(v, g) !== 0) return R['drop-vni'];
  if (auth === null) return 0;
  if (ap < 0) return R['drop-auth-missing'];
  if (geneveAuth.keyId(v, ap) !== auth.keyId) return R['drop-auth-key'];
  const hi = geneveAuth.seqHi(v, ap);
  const lo = geneveAuth.seqLo(v, ap);
  const w = auth.check(peer, hi, lo);
  if (w !== SEQ_OK) return w === SEQ_NO_ROOM ? R['drop-auth-no-window'] : R['drop-auth-replay'];
  const len = v.getUint16(g - 4) - 8;
  if (!(outer6 ? geneveAuth.verify6(auth.key, v, ol3, g, len, ap) : geneveAuth.verify(auth.key, v, ol3, g, len, ap)))
    return R['drop-auth-bad'];
  auth.accept(peer, hi, lo);
  return 0;
}
