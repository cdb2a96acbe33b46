/**
 * Connections for the replication tests (conntrack/replicate.ts and the agent's restart snapshot): a SNATed
 * connection brought to its steady state, and what a packet of each direction becomes.
 */
import { expect } from 'vitest';
import * as ct from '../../conntrack/index.js';
import type { ConnTable } from '../../conntrack/index.js';
import { ACK, ICMP, ip, SYN, TCP } from './helpers.js';

export function seg(t: ConnTable, seq: number, ackNo: number, win: number, data = 0): ConnTable {
  t.seg[ct.SEG_SEQ] = seq | 0;
  t.seg[ct.SEG_ACK] = ackNo | 0;
  t.seg[ct.SEG_WIN] = win;
  t.seg[ct.SEG_DATA] = data;
  t.seg[ct.SEG_OPTS] = 0;
  t.seg[ct.SEG_SET] = 1;
  return t;
}

/** A SNATed connection brought to its steady state: TCP with a tracked three-way handshake and data, UDP/ICMP with a reply. */
export function establish(
  t: ConnTable,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  proto: number,
  now: number,
  natIp = ip('198.18.0.50'),
): number {
  t.setTime(now);
  let c: number;
  if (proto === TCP) c = seg(t, 1000, 0, 64240).create(src, dst, sport, dport, TCP, SYN, 60);
  else c = t.create(src, dst, sport, dport, proto, proto === ICMP ? 8 : 0, 60);
  expect(c).toBeGreaterThanOrEqual(0);
  expect(t.snat(c, natIp)).toBe(0);
  expect(t.confirm(c)).toBe(true);
  if (proto === TCP) {
    expect(seg(t, 5000, 1001, 65160).update(c, 1, SYN | ACK, 60)).toBe(ct.UPDATE_ACCEPT);
    expect(seg(t, 1001, 5001, 502).update(c, 0, ACK, 52)).toBe(ct.UPDATE_ACCEPT);
    expect(seg(t, 1001, 5001, 502, 100).update(c, 0, ACK, 152)).toBe(ct.UPDATE_ACCEPT);
    expect(seg(t, 5001, 1101, 509).update(c, 1, ACK, 52)).toBe(ct.UPDATE_ACCEPT);
  } else {
    expect(t.update(c, 1, 0, 60)).toBe(ct.UPDATE_ACCEPT); // ICMP: echo reply (type 0)
  }
  return c;
}

/** What a packet of each direction becomes: [dir, new address, new port] for the original and the reply tuple. */
export function translation(t: ConnTable, src: number, dst: number, sport: number, dport: number, proto: number) {
  const v0 = proto === ICMP ? t.lookup(src, dst, sport, sport, proto) : t.lookup(src, dst, sport, dport, proto);
  if (v0 < 0) return null;
  const c = v0 >> 1;
  const natPort = t.natPort(c);
  const v1 =
    proto === ICMP
      ? t.lookup(dst, t.natIp(c), natPort, natPort, proto)
      : t.lookup(dst, t.natIp(c), dport, natPort, proto);
  if (v1 < 0 || v1 >> 1 !== c) return null;
  return {
    orig: [v0 & 1, t.rewriteAddr(c, 0), t.rewritePort(c, 0)],
    reply: [v1 & 1, t.rewriteAddr(c, 1), t.rewritePort(c, 1)],
    state: t.state(c),
    assured: t.isAssured(c),
    seenReply: t.seenReply(c),
    snat: t.isSnat(c),
  };
}
