/**
 * IP addresses and prefixes for the control plane.
 *
 * Two representations:
 * - `IP` ({ family, value: bigint }) for validation and allocation, where IPv6 matters (an ExternalIPPool may be
 *   IPv6 even while the datapath is IPv4). Parsing is strict like Go's `net.ParseIP` / `netip.ParseAddr`: dotted
 *   quads without leading zeros, RFC 4291 IPv6 text without zone.
 * - int32 (`x | 0`) for IPv4 in the compiled datapath view (see view.ts), where the hot path must not box numbers.
 *
 * Canonical text (`formatIP`) follows Go's `net.IP.String()`: dotted quad for IPv4, RFC 5952 for IPv6 (lowercase,
 * no leading zeros, the longest run of two or more zero groups compressed, the first one on a tie). The controller
 * writes allocated IPs in this form, as Antrea does.
 */

export type Family = 4 | 6;

export interface IP {
  readonly family: Family;
  /** Numeric value: 0..2^32-1 for IPv4, 0..2^128-1 for IPv6. */
  readonly value: bigint;
}

export interface Prefix {
  readonly family: Family;
  /** Network address (host bits cleared). */
  readonly addr: bigint;
  readonly len: number;
}

export const BITS: Record<Family, number> = { 4: 32, 6: 128 };

const DEC_OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parse a dotted-quad IPv4 address to a uint32 number, or null. */
export function parseIPv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!DEC_OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v;
}

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** Parse RFC 4291 IPv6 text (no zone, optional trailing dotted IPv4) to a bigint, or null. */
export function parseIPv6(s: string): bigint | null {
  if (s.length < 2 || s.length > 45 || s.includes('%')) return null;
  const dbl = s.indexOf('::');
  if (dbl !== -1 && s.indexOf('::', dbl + 1) !== -1) return null;
  const groups: number[] = [];
  const parseSide = (side: string, allowV4: boolean): number[] | null => {
    if (side === '') return [];
    const parts = side.split(':');
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (allowV4 && i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (v4 === null) return null;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
        continue;
      }
      if (!HEX_GROUP.test(p)) return null;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  if (dbl === -1) {
    const all = parseSide(s, true);
    if (all === null || all.length !== 8) return null;
    groups.push(...all);
  } else {
    const head = parseSide(s.slice(0, dbl), false);
    const tail = parseSide(s.slice(dbl + 2), true);
    if (head === null || tail === null) return null;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups.push(...head, ...new Array<number>(missing).fill(0), ...tail);
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/** Parse an IPv4 or IPv6 address (Go `net.ParseIP` strictness), or null. */
export function parseIP(s: unknown): IP | null {
  if (typeof s !== 'string') return null;
  if (s.includes(':')) {
    const v = parseIPv6(s);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseIPv4(s);
  return v === null ? null : { family: 4, value: BigInt(v) };
}

/** Format an IPv4 uint32/int32 as a dotted quad. */
export function formatIPv4(v: number): string {
  const u = v >>> 0;
  return `${u >>> 24}.${(u >>> 16) & 255}.${(u >>> 8) & 255}.${u & 255}`;
}

/** RFC 5952 text of an IPv6 value. */
export function formatIPv6(v: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Canonical text of an address (Go `net.IP.String()` form). */
export function formatIP(ip: IP): string {
  return ip.family === 4 ? formatIPv4(Number(ip.value)) : formatIPv6(ip.value);
}

/** Canonical text of an address given as text, or the text itself when it does not parse. */
export function canonicalIP(s: string): string {
  const ip = parseIP(s);
  return ip ? formatIP(ip) : s;
}

export function ipEquals(a: IP, b: IP): boolean {
  return a.family === b.family && a.value === b.value;
}

/** -1, 0, 1 (IPv4 sorts before IPv6). */
export function compareIP(a: IP, b: IP): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

function maskOf(family: Family, len: number): bigint {
  const bits = BITS[family];
  const all = (1n << BigInt(bits)) - 1n;
  return len === 0 ? 0n : (all >> BigInt(bits - len)) << BigInt(bits - len);
}

/** Parse "addr/len" (Go `net.ParseCIDR` strictness; host bits are cleared like `Masked()`), or null. */
export function parseCIDR(s: unknown): Prefix | null {
  if (typeof s !== 'string') return null;
  const slash = s.indexOf('/');
  if (slash === -1) return null;
  const ip = parseIP(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return null;
  const len = Number(lenText);
  if (len > BITS[ip.family]) return null;
  return { family: ip.family, addr: ip.value & maskOf(ip.family, len), len };
}

/** The address part of "addr/len" without masking (for interface addresses such as ExternalHost.spec.address). */
export function parseInterfaceAddress(s: unknown): { ip: IP; prefix: Prefix } | null {
  const p = parseCIDR(s);
  if (!p) return null;
  const ip = parseIP((s as string).slice(0, (s as string).indexOf('/')))!;
  return { ip, prefix: p };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIP({ family: p.family, value: p.addr })}/${p.len}`;
}

/** First and last address of a prefix. */
export function prefixBounds(p: Prefix): [bigint, bigint] {
  const size = 1n << BigInt(BITS[p.family] - p.len);
  return [p.addr, p.addr + size - 1n];
}

export function prefixContains(p: Prefix, ip: IP): boolean {
  return p.family === ip.family && (ip.value & maskOf(p.family, p.len)) === p.addr;
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  const [a0, a1] = prefixBounds(a);
  const [b0, b1] = prefixBounds(b);
  return a0 <= b1 && b0 <= a1;
}

// --- int32 IPv4 helpers for the compiled view -------------------------------------------------------------------

/** IPv4 text to int32 (`x | 0`), or null. */
export function ipv4ToInt32(s: string): number | null {
  const v = parseIPv4(s);
  return v === null ? null : v | 0;
}

/** Netmask of a prefix length as int32 (`/0` → 0, `/32` → -1). */
export function maskInt32(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) | 0;
}

/** An IPv4 prefix as int32 address (masked), length and mask. */
export interface Prefix4 {
  readonly addr: number;
  readonly len: number;
  readonly mask: number;
}

/** IPv4 CIDR text to a Prefix4, or null (also null for IPv6). */
export function parsePrefix4(s: string): Prefix4 | null {
  const p = parseCIDR(s);
  if (!p || p.family !== 4) return null;
  return { addr: Number(p.addr) | 0, len: p.len, mask: maskInt32(p.len) };
}

export function formatPrefix4(p: Prefix4): string {
  return `${formatIPv4(p.addr)}/${p.len}`;
}

/** True when the int32 address is inside the prefix. */
export function prefix4Contains(p: Prefix4, ip: number): boolean {
  return (ip & p.mask) === p.addr;
}
