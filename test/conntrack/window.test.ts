/**
 * TCP window tracking (conntrack/tcp-window.ts, Linux `tcp_in_window`) at the table's API: segments described
 * in `table.seg` by hand (sequence numbers chosen here, expected verdicts from RFC 793/7323 reasoning), window
 * scaling only when both SYNs carry the option, be_liberal, the flag check, resynchronisation after an ignored
 * SYN, and the per-host limit's bookkeeping.
 */
import { describe, expect, it } from 'vitest';
import {
  CT_INVALID,
  CT_LIMIT,
  type ConnTable,
  SEG_ACK,
  SEG_DATA,
  SEG_OPT_WSCALE,
  SEG_OPTS,
  SEG_SEQ,
  SEG_SET,
  SEG_WIN,
  TCP_ESTABLISHED,
  TCP_SYN_RECV,
  UPDATE_ACCEPT,
  UPDATE_IGNORE,
  UPDATE_INVALID,
} from '../../conntrack/index.js';
import { ACK, FIN, PSH, RST, SYN, TCP, UDP, at, ip, table } from './helpers.js';

const A = ip('10.244.1.5');
const B = ip('198.18.0.100');

function seg(t: ConnTable, seq: number, ack: number, win: number, data = 0, opts = 0): ConnTable {
  t.seg[SEG_SEQ] = seq | 0;
  t.seg[SEG_ACK] = ack | 0;
  t.seg[SEG_WIN] = win;
  t.seg[SEG_DATA] = data;
  t.seg[SEG_OPTS] = opts;
  t.seg[SEG_SET] = 1;
  return t;
}

/** SYN (client ISN 1000), SYN/ACK (server ISN 5000), ACK; window options as given. */
function open3(t: ConnTable, cOpts: number, sOpts: number, cWin = 502): number {
  // The client's SYN advertises 1000 bytes (SYN windows are never scaled), so the unscaled 502 that follows
  // leaves no room for Linux's "sender overshoots the window" allowance either.
  const c = seg(at(t, 0), 1000, 0, 1000, 0, cOpts).create(A, B, 40000, 80, TCP, SYN, 60);
  expect(c).toBeGreaterThanOrEqual(0);
  expect(t.confirm(c)).toBe(true);
  expect(seg(t, 5000, 1001, 65160, 0, sOpts).update(c, 1, SYN | ACK, 60)).toBe(UPDATE_ACCEPT);
  expect(seg(t, 1001, 5001, cWin).update(c, 0, ACK, 52)).toBe(UPDATE_ACCEPT);
  expect(t.state(c)).toBe(TCP_ESTABLISHED);
  return c;
}

describe('TCP window tracking', () => {
  it('scales the window when both SYNs carry the option: 60 000 bytes ahead fit 502 << 7, not 502', () => {
    const ws7 = SEG_OPT_WSCALE | 7;
    const t = table();
    const c = open3(t, ws7, ws7);
    expect(t.tcpWindow(c, 0)[4]).toBe(7);
    // The server sends 60 000 bytes starting 1000 bytes ahead: inside 502 × 128 = 64 256 from 5001.
    expect(seg(t, 5001 + 1000, 1001, 509, 59_000).update(c, 1, ACK | PSH, 59_040)).toBe(UPDATE_ACCEPT);

    // Only the client sent the option: no scaling either way (RFC 7323 §2.2), the same segment is out.
    const u = table();
    const d = open3(u, ws7, 0);
    expect(u.tcpWindow(d, 0)[4]).toBe(0);
    expect(seg(u, 5001 + 1000, 1001, 509, 59_000).update(d, 1, ACK | PSH, 59_040)).toBe(UPDATE_INVALID);
    expect(u.counter('tcp-out-of-window')).toBe(1);
  });

  it('refuses an ACK for data never sent and passes it with tcpLiberal (counted, window unchanged)', () => {
    const t = table();
    const c = open3(t, 0, 0);
    expect(seg(t, 5001, 1001 + 70_000, 509).update(c, 1, ACK, 40)).toBe(UPDATE_INVALID);
    const l = table({ tcpLiberal: true });
    const d = open3(l, 0, 0);
    const before = l.tcpWindow(d, 1);
    expect(seg(l, 5001, 1001 + 70_000, 509).update(d, 1, ACK, 40)).toBe(UPDATE_ACCEPT);
    expect(l.counter('tcp-window-liberal')).toBe(1);
    expect(l.tcpWindow(d, 1)).toEqual(before);
  });

  it('accepts a FIN in order and the last ACK; refuses flag combinations Linux refuses, for any state', () => {
    const t = table();
    const c = open3(t, 0, 0);
    for (const f of [FIN | SYN | RST | PSH | ACK | 0x20, SYN | FIN, 0, FIN, SYN | RST])
      expect(seg(t, 1001, 5001, 502).update(c, 0, f, 40)).toBe(UPDATE_INVALID);
    expect(t.counter('tcp-invalid-flags')).toBe(5);
    expect(seg(at(t, 1), 1001, 5001, 502).update(c, 0, FIN | ACK, 40)).toBe(UPDATE_ACCEPT);
    expect(seg(t, 5001, 1002, 509).update(c, 1, FIN | ACK, 40)).toBe(UPDATE_ACCEPT);
    expect(seg(t, 1002, 5002, 502).update(c, 0, ACK, 40)).toBe(UPDATE_ACCEPT);
    // A new connection cannot start with an invalid combination either.
    expect(seg(t, 1, 0, 100).create(A, B, 40001, 80, TCP, SYN | FIN, 40)).toBe(CT_INVALID);
  });

  it('resynchronises when a SYN/ACK answers a SYN it ignored (the endpoints restarted, the entry did not)', () => {
    const t = table();
    const c = open3(t, 0, 0);
    // The client reuses the port with a new ISN: ignored in ESTABLISHED, annotated.
    expect(seg(at(t, 10), 900_000, 0, 64240).update(c, 0, SYN, 60)).toBe(UPDATE_IGNORE);
    // The server's SYN/ACK acknowledges it: back in sync, SYN_RECV, then the ACK establishes it.
    expect(seg(t, 77_000, 900_001, 65160).update(c, 1, SYN | ACK, 60)).toBe(UPDATE_ACCEPT);
    expect(t.state(c)).toBe(TCP_SYN_RECV);
    expect(t.counter('tcp-resync')).toBe(1);
    expect(seg(t, 900_001, 77_001, 502).update(c, 0, ACK, 52)).toBe(UPDATE_ACCEPT);
    expect(t.state(c)).toBe(TCP_ESTABLISHED);
  });

  it('tcpLoose false: only a SYN opens a connection', () => {
    const t = table({ tcpLoose: false });
    expect(seg(at(t, 0), 1, 1, 100).create(A, B, 40000, 80, TCP, ACK, 40)).toBe(CT_INVALID);
    expect(seg(t, 1, 0, 100).create(A, B, 40000, 80, TCP, SYN, 40)).toBeGreaterThanOrEqual(0);
  });
});

describe('per-host limit', () => {
  it('counts live connections per source, refuses beyond it, and frees the count on abort, remove and expiry', () => {
    const t = table({ perHostLimit: 3, maxConnections: 16 });
    const made: number[] = [];
    for (let p = 0; p < 5; p++) made.push(at(t, 0).create(A, B, 1000 + p, 53, UDP, 0, 40));
    expect(made.slice(3)).toEqual([CT_LIMIT, CT_LIMIT]);
    expect(t.counter('refused-per-host')).toBe(2);
    expect(t.hostConnections(A)).toBe(3);
    // Another source is not affected.
    expect(t.create(ip('10.244.1.6'), B, 1000, 53, UDP, 0, 40)).toBeGreaterThanOrEqual(0);
    expect(t.abort(made[0]!)).toBe(true);
    expect(t.hostConnections(A)).toBe(2);
    t.confirm(made[1]!);
    expect(t.remove(made[1]!)).toBe(true);
    expect(t.hostConnections(A)).toBe(1);
    t.confirm(made[2]!);
    at(t, 31_000).expire(t.recordCount);
    expect(t.hostConnections(A)).toBe(0);
    expect(t.create(A, B, 2000, 53, UDP, 0, 40)).toBeGreaterThanOrEqual(0);
    expect(t.selfCheck()).toBeNull();
  });
});
