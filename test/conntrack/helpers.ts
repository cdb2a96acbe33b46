/** Test helpers for conntrack: addresses written as text, packets as small records. */
import { ConnTable, type ConnTableOptions } from '../../conntrack/index.js';

/** Int32 of a dotted quad, computed here (independently of conntrack's own parser). */
export function ip(s: string): number {
  const p = s.split('.').map((x) => Number.parseInt(x, 10));
  if (p.length !== 4 || p.some((x) => !(x >= 0 && x <= 255))) throw new Error(`bad address ${s}`);
  return (p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]! | 0;
}

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

/** Set the table's time and return it: `at(t, 10).update(c, 1, SYN | ACK, 60)` reads "at 10 ms, update". */
export function at(t: ConnTable, now: number): ConnTable {
  t.setTime(now);
  return t;
}

export function table(opts: ConnTableOptions = {}): ConnTable {
  return new ConnTable({ seed: 7, ...opts });
}

/** Create, SNAT (optional) and confirm one connection; throws if any step fails. */
export function open(
  t: ConnTable,
  src: string,
  dst: string,
  sport: number,
  dport: number,
  proto: number,
  now = 0,
  natIp?: string,
): number {
  const flags = proto === TCP ? SYN : proto === ICMP ? 8 : 0;
  const c = at(t, now).create(ip(src), ip(dst), sport, dport, proto, flags, 60);
  if (c < 0) throw new Error(`create failed: ${c}`);
  if (natIp !== undefined) {
    const r = t.snat(c, ip(natIp));
    if (r !== 0) throw new Error(`snat failed: ${r}`);
  }
  if (!at(t, now).confirm(c)) throw new Error('confirm failed');
  return c;
}
