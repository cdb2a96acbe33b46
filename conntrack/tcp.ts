/**
 * TCP connection tracking: Linux `nf_conntrack_tcp_packet` (net/netfilter/nf_conntrack_proto_tcp.c) over one
 * record — the flag check, the transition table (`TCP_TRANSITIONS`, proto.ts), the reopen / ignore / resync /
 * RST rules, and the sequence and window check (tcp-window.ts) when the caller described the segment in `seg`;
 * by flags alone otherwise. The table's `update` (table.ts) calls `tcpPacket` after the lookup and the expiry
 * check, as Linux does after `nf_conntrack_in` found the connection.
 */
import {
  DIR_REPLY,
  TCP_ACK_SET,
  TCP_CLOSE,
  TCP_ESTABLISHED,
  TCP_FIN_WAIT,
  TCP_IGNORE,
  TCP_INVALID,
  TCP_RST_SET,
  TCP_SYN_RECV,
  TCP_SYN_SENT,
  TCP_SYN_SENT2,
  TCP_SYN_SET,
  TCP_SYNACK_SET,
  TCP_TIME_WAIT,
  TCP_TRANSITIONS,
  tcpFlagClass,
} from './proto.js';
import * as record from './record.js';
import type { CtState } from './state.js';
import {
  RST_INVALID,
  RST_KEEP,
  SEG_ACK,
  SEG_SET,
  TW_IGNORE,
  TW_INVALID,
  TW_LIBERAL,
  tcpInWindow,
  tcpRstCheck,
  tcpValidFlags,
  twLastEnd,
  twNoteIgnored,
  twResync,
} from './tcp-window.js';

// Module-local copies of record.ts constants: V8 folds these, an imported binding is a load per use (record.ts).
const F_ASSURED = record.F_ASSURED;
const F_BYTES = record.F_BYTES;
const F_CLOSE_INIT = record.F_CLOSE_INIT;
const F_EXPIRY = record.F_EXPIRY;
const F_LAST_DIR = record.F_LAST_DIR;
const F_SEEN_REPLY = record.F_SEEN_REPLY;
const F_SIMOPEN = record.F_SIMOPEN;
const FSTRIDE = record.FSTRIDE;
const K_KILLED = record.K_KILLED;
const K_RECREATE = record.K_RECREATE;
const K_TCP_INVALID_FLAGS = record.K_TCP_INVALID_FLAGS;
const K_TCP_OUT_OF_WINDOW = record.K_TCP_OUT_OF_WINDOW;
const K_TCP_REOPEN = record.K_TCP_REOPEN;
const K_TCP_RESYNC = record.K_TCP_RESYNC;
const K_TCP_RST_IN_WINDOW = record.K_TCP_RST_IN_WINDOW;
const K_TCP_RST_INVALID = record.K_TCP_RST_INVALID;
const K_TCP_WINDOW_LIBERAL = record.K_TCP_WINDOW_LIBERAL;
const K_UPDATE_IGNORED = record.K_UPDATE_IGNORED;
const K_UPDATE_INVALID = record.K_UPDATE_INVALID;
const M_LAST = record.M_LAST;
const M_LAST_DIR_SHIFT = record.M_LAST_DIR_SHIFT;
const M_LAST_SHIFT = record.M_LAST_SHIFT;
const M_STATE = record.M_STATE;
const M_STATE_SHIFT = record.M_STATE_SHIFT;
const R_META = record.R_META;
const R_PKTS = record.R_PKTS;
const STRIDE = record.STRIDE;
const UPDATE_ACCEPT = record.UPDATE_ACCEPT;
const UPDATE_IGNORE = record.UPDATE_IGNORE;
const UPDATE_INVALID = record.UPDATE_INVALID;
const UPDATE_RECREATE = record.UPDATE_RECREATE;

/**
 * A TCP packet of direction `dir` on live connection `c` (not timed out): `UPDATE_*`. `flags` are the TCP
 * header's flags, `len` the IP total length (accounted when accepted).
 */
export function tcpPacket(s: CtState, c: number, dir: number, flags: number, len: number): number {
  const rec = s.rec;
  const seg = s.seg;
  const C = s.counters;
  const tracked = seg[SEG_SET] === 1;
  seg[SEG_SET] = 0;
  const r = c * STRIDE + R_META;
  let m = rec[r]!;
  if (!tcpValidFlags(flags)) {
    C[K_TCP_INVALID_FLAGS]!++;
    C[K_UPDATE_INVALID]!++;
    return UPDATE_INVALID;
  }
  let old = (m & M_STATE) >> M_STATE_SHIFT;
  const idx = tcpFlagClass(flags);
  let nw = TCP_TRANSITIONS[dir * 60 + idx * 10 + old]!;
  const lastDir = (m >> M_LAST_DIR_SHIFT) & 1;
  const lastIdx = (m >> M_LAST_SHIFT) & 7;
  if (nw === TCP_SYN_SENT && old >= TCP_TIME_WAIT) {
    // SYN on TIME_WAIT/CLOSE: reopen when the old connection was closed (FIN seen) or aborted by an RST from
    // the same side; otherwise ignore it.
    if ((m & F_CLOSE_INIT) !== 0 || (lastDir === dir && lastIdx === TCP_RST_SET)) {
      s.kill(c);
      C[K_TCP_REOPEN]!++;
      C[K_RECREATE]!++;
      return UPDATE_RECREATE;
    }
    nw = TCP_IGNORE;
  }
  if (nw === TCP_IGNORE) {
    if (
      tracked &&
      idx === TCP_SYNACK_SET &&
      lastIdx === TCP_SYN_SET &&
      lastDir !== dir &&
      seg[SEG_ACK] === twLastEnd(s.tw, c)
    ) {
      // This SYN/ACK acknowledges a SYN we ignored: both ends are in sync and we are not. Start over from the
      // ignored SYN (Linux: "We get in sync from the previously annotated values").
      twResync(s.tw, c, dir);
      old = TCP_SYN_SENT;
      nw = TCP_SYN_RECV;
      C[K_TCP_RESYNC]!++;
    } else {
      if (tracked) twNoteIgnored(s.tw, c, flags, seg);
      m = (m & ~(F_LAST_DIR | M_LAST)) | (dir << M_LAST_DIR_SHIFT) | (idx << M_LAST_SHIFT);
      if (dir === DIR_REPLY) m |= F_SEEN_REPLY;
      rec[r] = m;
      C[K_UPDATE_IGNORED]!++;
      return UPDATE_IGNORE;
    }
  }
  if (nw === TCP_INVALID) {
    C[K_UPDATE_INVALID]!++;
    return UPDATE_INVALID;
  }
  if (nw === TCP_SYN_SENT2) {
    m |= F_SIMOPEN;
  } else if (nw === TCP_SYN_RECV && dir === DIR_REPLY && idx === TCP_ACK_SET && (m & F_SIMOPEN) !== 0) {
    nw = TCP_ESTABLISHED;
  }
  if (tracked) {
    let keep = false;
    if (nw === TCP_CLOSE && idx === TCP_RST_SET) {
      const v = tcpRstCheck(
        s.tw,
        c,
        dir,
        seg,
        old === TCP_ESTABLISHED && (m & F_ASSURED) !== 0,
        lastIdx === TCP_SYN_SET,
        lastIdx === TCP_ACK_SET && lastDir === dir,
      );
      if (v === RST_INVALID) {
        C[K_TCP_RST_INVALID]!++;
        C[K_UPDATE_INVALID]!++;
        return UPDATE_INVALID;
      }
      if (v === RST_KEEP) {
        // In the window but not exact: the endpoint answers with a challenge ACK (RFC 5961 §3.2); keep the state.
        nw = old;
        keep = true;
      }
    }
    const w = tcpInWindow(s.tw, c, dir, flags, old, seg, s.liberal);
    if (w === TW_INVALID) {
      C[K_TCP_OUT_OF_WINDOW]!++;
      C[K_UPDATE_INVALID]!++;
      return UPDATE_INVALID;
    }
    if (w === TW_IGNORE) {
      C[K_UPDATE_IGNORED]!++;
      return UPDATE_IGNORE;
    }
    if (w === TW_LIBERAL) C[K_TCP_WINDOW_LIBERAL]!++;
    if (keep) C[K_TCP_RST_IN_WINDOW]!++;
  }
  m =
    (m & ~(F_LAST_DIR | M_LAST | M_STATE)) | (dir << M_LAST_DIR_SHIFT) | (idx << M_LAST_SHIFT) | (nw << M_STATE_SHIFT);
  if (old !== nw && nw === TCP_FIN_WAIT) m |= F_CLOSE_INIT;
  let timeout = idx === TCP_RST_SET && nw === TCP_CLOSE ? s.tClose : s.tcpT[nw]!;
  if ((m & F_SEEN_REPLY) === 0) {
    if (idx === TCP_RST_SET && nw === TCP_CLOSE) {
      // "If only reply is a RST, we can consider ourselves not to have an established connection" (Linux):
      // the connection goes now; the packet passes and its record stays readable until expire().
      rec[r] = m;
      s.recF[c * FSTRIDE + F_BYTES + dir] += len;
      rec[c * STRIDE + R_PKTS + dir]++;
      s.kill(c);
      C[K_KILLED]!++;
      return UPDATE_ACCEPT;
    }
    if (idx === TCP_SYN_SET && old === TCP_SYN_SENT) {
      // A SYN (retransmitted, or the peer's in a simultaneous open) before any reply does not renew the timeout:
      // port reuse could keep the entry alive forever. The packet is still accepted, so a reply counts as seen.
      if (dir === DIR_REPLY) m |= F_SEEN_REPLY;
      rec[r] = m;
      return UPDATE_ACCEPT;
    }
    // Picked up mid-stream (loose): no reply yet, so cap ESTABLISHED at the unacknowledged timeout.
    if (nw === TCP_ESTABLISHED && timeout > s.tUnack) timeout = s.tUnack;
  } else if ((m & F_ASSURED) === 0 && (old === TCP_SYN_RECV || old === TCP_ESTABLISHED) && nw === TCP_ESTABLISHED) {
    m |= F_ASSURED;
  }
  if (dir === DIR_REPLY) m |= F_SEEN_REPLY;
  rec[r] = m;
  const f = c * FSTRIDE;
  s.recF[f + F_EXPIRY] = s.clock[0]! + timeout;
  s.recF[f + F_BYTES + dir] += len;
  rec[c * STRIDE + R_PKTS + dir]++;
  return UPDATE_ACCEPT;
}
