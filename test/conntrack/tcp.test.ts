/**
 * TCP state tracking: every (state, direction, flag class) transition against Linux's `tcp_conntracks` table
 * (net/netfilter/nf_conntrack_proto_tcp.c, transcribed here independently of conntrack/proto.ts), plus the
 * rules `nf_conntrack_tcp_packet` adds around it: reopen from TIME_WAIT/CLOSE, RST before any reply kills the
 * connection, SYN retransmissions do not refresh, simultaneous open, ASSURED, and the timeout of each state.
 */
import { describe, expect, it } from 'vitest';
import {
  type ConnTable,
  DEFAULT_TIMEOUTS,
  TCP_STATE_NAMES,
  UPDATE_ACCEPT,
  UPDATE_IGNORE,
  UPDATE_INVALID,
  UPDATE_RECREATE,
} from '../../conntrack/index.js';
import { ACK, FIN, PSH, RST, SYN, TCP, ip, table, at } from './helpers.js';

type St = 'NONE' | 'SS' | 'SR' | 'ES' | 'FW' | 'CW' | 'LA' | 'TW' | 'CL' | 'S2';
const STATES: St[] = ['NONE', 'SS', 'SR', 'ES', 'FW', 'CW', 'LA', 'TW', 'CL', 'S2'];
const NAME: Record<St, string> = {
  NONE: 'NONE',
  SS: 'SYN_SENT',
  SR: 'SYN_RECV',
  ES: 'ESTABLISHED',
  FW: 'FIN_WAIT',
  CW: 'CLOSE_WAIT',
  LA: 'LAST_ACK',
  TW: 'TIME_WAIT',
  CL: 'CLOSE',
  S2: 'SYN_SENT2',
};
type Cls = 'syn' | 'synack' | 'fin' | 'ack' | 'rst' | 'none';
const FLAGS: Record<Cls, number> = {
  syn: SYN,
  synack: SYN | ACK,
  fin: FIN | ACK,
  ack: ACK | PSH,
  rst: RST | ACK,
  none: 0,
};

// Linux tcp_conntracks[dir][class][state]; columns sNO sSS sSR sES sFW sCW sLA sTW sCL sS2.
const LINUX: Record<'orig' | 'reply', Record<Cls, string>> = {
  orig: {
    syn: 'SS SS IG IG IG IG IG SS SS S2',
    synack: 'IV IV SR IV IV IV IV IV IV SR',
    fin: 'IV IV FW FW LA LA LA TW CL IV',
    ack: 'ES IV ES ES CW CW TW TW CL IV',
    rst: 'IV CL CL CL CL CL CL CL CL CL',
    none: 'IV IV IV IV IV IV IV IV IV IV',
  },
  reply: {
    syn: 'IV S2 IV IV IV IV IV SS IV S2',
    synack: 'IV SR IG IG IG IG IG IG IG SR',
    fin: 'IV IV FW FW LA LA LA TW CL IV',
    ack: 'IV IG SR ES CW CW TW TW CL IG',
    rst: 'IV CL CL CL CL CL CL CL CL CL',
    none: 'IV IV IV IV IV IV IV IV IV IV',
  },
};

const T = DEFAULT_TIMEOUTS;
const TIMEOUT_S: Record<St, number> = {
  NONE: 0,
  SS: T.tcpSynSent,
  SR: T.tcpSynRecv,
  ES: T.tcpEstablished,
  FW: T.tcpFinWait,
  CW: T.tcpCloseWait,
  LA: T.tcpLastAck,
  TW: T.tcpTimeWait,
  CL: T.tcpClose,
  S2: T.tcpSynSent,
};

const A = ip('10.244.1.5');
const B = ip('198.18.0.100');

/** Packets (direction, flags) that lead from nothing to each state. */
const PATH: Record<Exclude<St, 'NONE'>, Array<[0 | 1, number]>> = {
  SS: [[0, SYN]],
  S2: [
    [0, SYN],
    [1, SYN],
  ],
  SR: [
    [0, SYN],
    [1, SYN | ACK],
  ],
  ES: [
    [0, SYN],
    [1, SYN | ACK],
    [0, ACK],
  ],
  FW: [
    [0, SYN],
    [1, SYN | ACK],
    [0, ACK],
    [0, FIN | ACK],
  ],
  CW: [
    [0, SYN],
    [1, SYN | ACK],
    [0, ACK],
    [0, FIN | ACK],
    [1, ACK],
  ],
  LA: [
    [0, SYN],
    [1, SYN | ACK],
    [0, ACK],
    [0, FIN | ACK],
    [1, FIN | ACK],
  ],
  TW: [
    [0, SYN],
    [1, SYN | ACK],
    [0, ACK],
    [0, FIN | ACK],
    [1, FIN | ACK],
    [0, ACK],
  ],
  CL: [
    [0, SYN],
    [1, SYN | ACK],
    [0, ACK],
    [0, RST],
  ],
};

function stateName(t: ConnTable, c: number): string {
  return TCP_STATE_NAMES[t.state(c)]!;
}

/** A confirmed connection driven to `s`; returns [table, conn, now]. */
function reach(s: Exclude<St, 'NONE'>): [ConnTable, number, number] {
  const t = table();
  let now = 1000;
  const [first, ...rest] = PATH[s];
  const c = at(t, now).create(A, B, 40000, 80, TCP, first![1], 60);
  expect(c).toBeGreaterThanOrEqual(0);
  expect(at(t, now).confirm(c)).toBe(true);
  for (const [dir, f] of rest) {
    now += 10;
    expect(at(t, now).update(c, dir, f, 52)).toBe(UPDATE_ACCEPT);
  }
  expect(stateName(t, c)).toBe(NAME[s]);
  return [t, c, now];
}

describe('TCP transitions: every state × direction × flag class', () => {
  it('opens only with SYN (SYN_SENT) or, loosely, with ACK (ESTABLISHED): the sNO column', () => {
    for (const cls of Object.keys(FLAGS) as Cls[]) {
      const t = table();
      const want = LINUX.orig[cls].split(' ')[0];
      const c = at(t, 0).create(A, B, 40000, 80, TCP, FLAGS[cls], 60);
      if (want === 'IV') expect(c, cls).toBeLessThan(0);
      else expect(stateName(t, c), cls).toBe(NAME[want as St]);
    }
  });

  for (const from of STATES.filter((s): s is Exclude<St, 'NONE'> => s !== 'NONE')) {
    for (const dirName of ['orig', 'reply'] as const) {
      for (const cls of Object.keys(FLAGS) as Cls[]) {
        const linux = LINUX[dirName][cls].split(' ')[STATES.indexOf(from)]!;
        it(`${NAME[from]} + ${dirName} ${cls} → ${linux}`, () => {
          const [t, c, before] = reach(from);
          const dir = dirName === 'orig' ? 0 : 1;
          const now = before + 1000;
          const expiryBefore = t.expiresAt(c);
          const r = at(t, now).update(c, dir, FLAGS[cls], 40);
          if (linux === 'IV') {
            expect(r).toBe(UPDATE_INVALID);
            expect(stateName(t, c)).toBe(NAME[from]);
            expect(t.expiresAt(c)).toBe(expiryBefore);
            return;
          }
          if (linux === 'IG') {
            expect(r).toBe(UPDATE_IGNORE);
            expect(stateName(t, c)).toBe(NAME[from]);
            expect(t.expiresAt(c)).toBe(expiryBefore);
            return;
          }
          if (linux === 'SS' && (from === 'TW' || from === 'CL')) {
            // Reopen: TIME_WAIT always saw a FIN (CLOSE_INIT); CLOSE here came from an RST of the original side,
            // so only an original-direction SYN reopens it, a reply SYN would be ignored (and is sIV anyway).
            expect(r).toBe(UPDATE_RECREATE);
            expect(t.lookup(A, B, 40000, 80, TCP)).toBe(-1);
            expect(t.counter('tcp-reopen')).toBe(1);
            return;
          }
          if (from === 'SS' && cls === 'rst') {
            // Only the original side has spoken: an RST kills the connection at once (packet accepted).
            expect(r).toBe(UPDATE_ACCEPT);
            expect(t.isLive(c)).toBe(false);
            expect(t.lookup(A, B, 40000, 80, TCP)).toBe(-1);
            return;
          }
          expect(r).toBe(UPDATE_ACCEPT);
          expect(stateName(t, c)).toBe(NAME[linux as St]);
          if (from === 'SS' && cls === 'syn') {
            // Any SYN while only SYN_SENT was seen (retransmission, or the peer's simultaneous-open SYN) leaves
            // the timeout alone (Linux: "do not renew timeout on SYN retransmit").
            expect(t.expiresAt(c)).toBe(expiryBefore);
          } else {
            const want = cls === 'rst' ? T.tcpClose : TIMEOUT_S[linux as St];
            expect(t.expiresAt(c) - now).toBe(want * 1000);
          }
        });
      }
    }
  }
});

describe('TCP lifecycle rules', () => {
  it('a full handshake becomes ESTABLISHED and ASSURED on the third packet', () => {
    const t = table();
    const c = at(t, 0).create(A, B, 40000, 80, TCP, SYN, 60);
    at(t, 0).confirm(c);
    expect(t.isAssured(c)).toBe(false);
    expect(t.seenReply(c)).toBe(false);
    at(t, 10).update(c, 1, SYN | ACK, 60);
    expect(stateName(t, c)).toBe('SYN_RECV');
    expect(t.seenReply(c)).toBe(true);
    expect(t.isAssured(c)).toBe(false);
    expect(t.expiresAt(c)).toBe(10 + 60_000);
    at(t, 20).update(c, 0, ACK, 52);
    expect(stateName(t, c)).toBe('ESTABLISHED');
    expect(t.isAssured(c)).toBe(true);
    expect(t.expiresAt(c)).toBe(20 + 432_000_000);
  });

  it('a connection picked up mid-stream (failover) is ESTABLISHED with the unacknowledged timeout until a reply', () => {
    const t = table();
    const c = at(t, 0).create(A, B, 40000, 80, TCP, ACK | PSH, 1500);
    at(t, 0).confirm(c);
    expect(stateName(t, c)).toBe('ESTABLISHED');
    expect(t.expiresAt(c)).toBe(300_000);
    expect(t.isAssured(c)).toBe(false);
    at(t, 10).update(c, 1, ACK, 52); // reply: SEEN_REPLY now, not assured yet (old state ES but reply not seen before)
    expect(t.expiresAt(c)).toBe(300_010);
    at(t, 20).update(c, 0, ACK, 52);
    expect(t.isAssured(c)).toBe(true);
    expect(t.expiresAt(c)).toBe(20 + 432_000_000);
  });

  it('simultaneous open: SYN, SYN, SYN/ACK, ACK from the reply side reaches ESTABLISHED', () => {
    const t = table();
    const c = at(t, 0).create(A, B, 40000, 80, TCP, SYN, 60);
    at(t, 0).confirm(c);
    at(t, 1).update(c, 1, SYN, 60);
    expect(stateName(t, c)).toBe('SYN_SENT2');
    at(t, 2).update(c, 0, SYN | ACK, 60);
    expect(stateName(t, c)).toBe('SYN_RECV');
    at(t, 3).update(c, 1, ACK, 52);
    expect(stateName(t, c)).toBe('ESTABLISHED');
  });

  it('closes: FIN_WAIT → LAST_ACK → TIME_WAIT, then expires after 120 s', () => {
    const [t, c, now] = reach('ES');
    at(t, now + 1).update(c, 1, FIN | ACK, 52);
    expect(stateName(t, c)).toBe('FIN_WAIT');
    at(t, now + 2).update(c, 0, FIN | ACK, 52);
    expect(stateName(t, c)).toBe('LAST_ACK');
    at(t, now + 3).update(c, 1, ACK, 52);
    expect(stateName(t, c)).toBe('TIME_WAIT');
    expect(t.expiresAt(c)).toBe(now + 3 + 120_000);
    expect(at(t, now + 3 + 119_999).expire(1 << 20)).toBe(0);
    expect(at(t, now + 3 + 120_000).expire(1 << 20)).toBe(1);
    expect(t.lookup(A, B, 40000, 80, TCP)).toBe(-1);
  });

  it('RST on an established connection: CLOSE with the 10 s timeout, and the reply side cannot reopen it', () => {
    const [t, c, now] = reach('ES');
    expect(at(t, now + 1).update(c, 1, RST, 40)).toBe(UPDATE_ACCEPT);
    expect(stateName(t, c)).toBe('CLOSE');
    expect(t.expiresAt(c)).toBe(now + 1 + 10_000);
    // The RST came from the reply side; a new SYN from the original side is ignored (Linux: no CLOSE_INIT and
    // last_dir differs), the old entry stays until it times out.
    expect(at(t, now + 2).update(c, 0, SYN, 60)).toBe(UPDATE_IGNORE);
    expect(at(t, now + 3).update(c, 1, SYN, 60)).toBe(UPDATE_INVALID);
  });

  it('a SYN after TIME_WAIT reopens: the old connection goes and the packet starts a new one', () => {
    const [t, c, now] = reach('TW');
    expect(at(t, now + 1).update(c, 0, SYN, 60)).toBe(UPDATE_RECREATE);
    expect(t.isLive(c)).toBe(false);
    const d = at(t, now + 1).create(A, B, 40000, 80, TCP, SYN, 60);
    expect(d).toBeGreaterThanOrEqual(0);
    expect(stateName(t, d)).toBe('SYN_SENT');
  });

  it('a reply RST to a SYN (port closed) deletes the connection immediately', () => {
    const t = table();
    const c = at(t, 0).create(A, B, 40000, 81, TCP, SYN, 60);
    at(t, 0).confirm(c);
    expect(at(t, 1).update(c, 1, RST | ACK, 40)).toBe(UPDATE_ACCEPT);
    expect(t.lookup(A, B, 40000, 81, TCP)).toBe(-1);
    expect(t.counter('killed')).toBe(1);
    // the record is intact for this packet's translation until the next expire()
    expect(t.origSport(c)).toBe(40000);
    expect(t.packets(c, 1)).toBe(1);
  });

  it('configurable timeouts apply per state', () => {
    const t = table({ timeouts: { tcpEstablished: 3600, tcpSynSent: 5 } });
    const c = at(t, 0).create(A, B, 40000, 80, TCP, SYN, 60);
    expect(t.expiresAt(c)).toBe(5000);
    at(t, 0).confirm(c);
    at(t, 1).update(c, 1, SYN | ACK, 60);
    at(t, 2).update(c, 0, ACK, 52);
    expect(t.expiresAt(c)).toBe(2 + 3_600_000);
  });
});
