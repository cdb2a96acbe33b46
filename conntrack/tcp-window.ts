/**
 * TCP sequence and window tracking: Linux `tcp_in_window` (net/netfilter/nf_conntrack_proto_tcp.c), its flag
 * check (`tcp_valid_flags`) and the RST rules of `nf_conntrack_tcp_packet` (RFC 5961 §3.2 spirit: an RST closes
 * only with the exact sequence number; one inside the window passes without changing the state, so the endpoint
 * can answer it with a challenge ACK; one outside is invalid). The transition table is in proto.ts; the table
 * (table.ts) calls these between the table lookup and the state change, as Linux does.
 *
 * The segment travels in `seg`, an Int32Array the caller fills before `create`/`update` of a TCP packet (the
 * table owns it; `SEG_*` indices). Numbers, not bytes: this layer still sees no packets, and an Int32Array cell
 * is never boxed, where a sequence number above 2^30 passed as an argument can be.
 *
 * Per connection, `TW_STRIDE` int32 words in one side array (`tw`), at `conn * TW_STRIDE`:
 *   per direction d at d * 5: td_end, td_maxend, td_maxwin, td_maxack, flags (scale | option bits below)
 *   word 10  last_end (end of the last segment: RST trains, resync after an ignored SYN)
 *   word 11  last_win (16 bits) | last_wscale << 16 | last option flags << 20 (of an ignored SYN)
 * Sequence numbers are uint32 kept as int32; comparisons are modulo 2^32 (`before`/`after`).
 */

// ---- segment descriptor (filled by the caller) ---------------------------------------------------------
/** Sequence number. */
export const SEG_SEQ = 0;
/** Acknowledgment number. */
export const SEG_ACK = 1;
/** Window field, unscaled (16 bits). */
export const SEG_WIN = 2;
/** Payload bytes (IP total length − IP header − TCP header). */
export const SEG_DATA = 3;
/** Options of a SYN: window scale shift (0-14) | SEG_OPT_WSCALE | SEG_OPT_SACK_PERM; 0 for other segments. */
export const SEG_OPTS = 4;
/** 1 when the fields above describe the packet being passed; the table clears it after use. */
export const SEG_SET = 5;
export const SEG_WORDS = 6;
export const SEG_OPT_WSCALE = 0x100;
export const SEG_OPT_SACK_PERM = 0x200;

// ---- per-connection state ------------------------------------------------------------------------------
export const TW_STRIDE = 12;
const W_END = 0;
const W_MAXEND = 1;
const W_MAXWIN = 2;
const W_MAXACK = 3;
const W_FLAGS = 4;
const W_LAST_END = 10;
const W_LAST_WIN = 11;

// flags word of a direction (Linux IP_CT_TCP_FLAG_*; the scale sits in bits 0-3)
const TF_SCALE = 0x0f;
const TF_WSCALE = 0x100; // IP_CT_TCP_FLAG_WINDOW_SCALE
const TF_SACK_PERM = 0x200; // IP_CT_TCP_FLAG_SACK_PERM
const TF_MAXACK_SET = 0x400; // IP_CT_TCP_FLAG_MAXACK_SET
const TF_LIBERAL = 0x800; // IP_CT_TCP_FLAG_BE_LIBERAL (connections picked up mid-stream)

/** Linux MAXACKWINCONST: the smallest window of acknowledgments accepted below td_end. */
const MAXACKWINCONST = 66000;

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

/** `tcp_in_window` results (Linux `enum nf_ct_tcp_action`). */
export const TW_ACCEPT = 0;
/** Pass without updating the window (Linux NFCT_TCP_IGNORE: "ignored ACK under lower bound"). */
export const TW_IGNORE = 1;
export const TW_INVALID = 2;
/** Out of the window, accepted without a window update because the sender's direction is liberal. */
export const TW_LIBERAL = 3;

/** a before b, modulo 2^32 (Linux `before()`). */
function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
/** a after b, modulo 2^32. */
function after(a: number, b: number): boolean {
  return ((b - a) | 0) < 0;
}

// prettier-ignore
/**
 * Linux `tcp_valid_flags`, indexed by the flag byte without PSH, ECE, CWR: SYN, SYN|URG, SYN|ACK, RST,
 * RST|ACK, FIN|ACK, FIN|ACK|URG, ACK, ACK|URG. Everything else (Xmas, SYN|FIN, null, FIN alone, SYN|RST) is
 * invalid for any state.
 */
const VALID_FLAGS = (() => {
  const t = new Uint8Array(64);
  for (const f of [0x02, 0x22, 0x12, 0x04, 0x14, 0x11, 0x31, 0x10, 0x30]) t[f] = 1;
  return t;
})();

/** The flag byte is a combination Linux accepts at all (`tcp_error`: "invalid tcp flag combination"). */
export function tcpValidFlags(flags: number): boolean {
  return VALID_FLAGS[flags & 0x37] === 1;
}

/** Sequence number plus segment length: SYN and FIN count one each (Linux `segment_seq_plus_len`). */
function segEnd(seg: Int32Array, flags: number): number {
  return (seg[SEG_SEQ]! + seg[SEG_DATA]! + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)) | 0;
}

/** Window options of a SYN into a direction's flags word (Linux `tcp_options`). */
function optFlags(opts: number): number {
  let f = 0;
  if (opts & SEG_OPT_SACK_PERM) f |= TF_SACK_PERM;
  if (opts & SEG_OPT_WSCALE) f |= TF_WSCALE | Math.min(opts & 0xff, 14);
  return f;
}

/**
 * First packet of a connection (Linux `tcp_new`): a SYN initialises the original direction from the segment;
 * a packet picked up mid-stream (loose) starts a window from it and marks both directions liberal, as Linux
 * does ("we assume SACK and liberal window checking to handle window scaling").
 */
export function twNew(tw: Int32Array, c: number, flags: number, seg: Int32Array): void {
  const b = c * TW_STRIDE;
  tw.fill(0, b, b + TW_STRIDE);
  const end = segEnd(seg, flags);
  const win = seg[SEG_WIN]! & 0xffff;
  tw[b + W_END] = end;
  tw[b + W_MAXWIN] = win === 0 ? 1 : win;
  if (flags & SYN) {
    tw[b + W_MAXEND] = end;
    tw[b + W_FLAGS] = optFlags(seg[SEG_OPTS]!);
  } else {
    tw[b + W_MAXEND] = (end + (win === 0 ? 1 : win)) | 0;
    tw[b + W_FLAGS] = TF_SACK_PERM | TF_LIBERAL;
    tw[b + 5 + W_FLAGS] = TF_SACK_PERM | TF_LIBERAL;
  }
}

/** Forget the window state of a connection that is not tracked by sequence (created without a segment). */
export function twClear(tw: Int32Array, c: number): void {
  const b = c * TW_STRIDE;
  tw.fill(0, b, b + TW_STRIDE);
  tw[b + W_FLAGS] = TF_LIBERAL;
  tw[b + 5 + W_FLAGS] = TF_LIBERAL;
}

/**
 * The sequence and window check of a segment of direction `dir` in TCP state `state` (1 = SYN_SENT, 2 =
 * SYN_RECV as in proto.ts), and the window update when it passes — Linux `tcp_in_window` without NAT sequence
 * offsets (no helpers mangle payloads here) and without SACK blocks (the highest SACKed byte is taken as the
 * ACK; Linux reads the SACK option, which only ever raises it). `liberal`: the table-wide be_liberal. Returns
 * TW_ACCEPT, TW_IGNORE, TW_INVALID, or TW_LIBERAL (out of the window but passed by be_liberal, or because the
 * connection was picked up mid-stream: the window is not updated, as in Linux).
 */
export function tcpInWindow(
  tw: Int32Array,
  c: number,
  dir: number,
  flags: number,
  state: number,
  seg: Int32Array,
  liberal: boolean,
): number {
  const base = c * TW_STRIDE;
  const s = base + dir * 5; // sender
  const r = base + (dir ^ 1) * 5; // receiver
  let seq = seg[SEG_SEQ]!;
  let ack = seg[SEG_ACK]!;
  let win = seg[SEG_WIN]! & 0xffff;
  let end = segEnd(seg, flags);

  if (tw[s + W_MAXWIN] === 0) {
    if (flags & SYN) {
      // SYN/ACK answering the SYN, or the peer's SYN of a simultaneous open.
      tw[s + W_END] = end;
      tw[s + W_MAXEND] = end;
      tw[s + W_MAXWIN] = win === 0 ? 1 : win;
      tw[s + W_FLAGS] = (tw[s + W_FLAGS]! & TF_LIBERAL) | optFlags(seg[SEG_OPTS]!);
      // RFC 7323: window scaling only when both sides sent the option.
      if (!(tw[s + W_FLAGS]! & TF_WSCALE && tw[r + W_FLAGS]! & TF_WSCALE)) {
        tw[s + W_FLAGS] = tw[s + W_FLAGS]! & ~TF_SCALE;
        tw[r + W_FLAGS] = tw[r + W_FLAGS]! & ~TF_SCALE;
      }
      if (!(flags & ACK)) return TW_ACCEPT; // simultaneous open
    } else {
      // The middle of a connection whose start we missed: take the window from this packet.
      tw[s + W_END] = end;
      const swin = (win << (tw[s + W_FLAGS]! & TF_SCALE)) | 0;
      tw[s + W_MAXWIN] = swin === 0 ? 1 : swin;
      tw[s + W_MAXEND] = (end + tw[s + W_MAXWIN]!) | 0;
      if (tw[r + W_MAXWIN] === 0) {
        // Nothing seen the other way yet: let the checks below pass until it is.
        tw[r + W_END] = ack;
        tw[r + W_MAXEND] = ack;
      } else if (ack === ((tw[r + W_END]! + 1) | 0)) {
        tw[r + W_END] = ack; // likely the answer to a keepalive
      }
    }
  } else if (flags & SYN && after(end, tw[s + W_END]!) && (state === 1 || state === 2)) {
    // A retransmitted SYN (or SYN/ACK) with a new sequence number: re-initialise this direction (RFC 793).
    tw[s + W_END] = end;
    tw[s + W_MAXEND] = end;
    tw[s + W_MAXWIN] = win === 0 ? 1 : win;
    tw[s + W_FLAGS] = (tw[s + W_FLAGS]! & TF_LIBERAL) | optFlags(seg[SEG_OPTS]!);
  } else if (flags & SYN && dir === 1 && state === 1) {
    // SYN/ACK answering the SYN after a direction was initialised by something else.
    tw[s + W_END] = end;
    tw[s + W_MAXEND] = end;
    tw[s + W_MAXWIN] = win === 0 ? 1 : win;
    tw[s + W_FLAGS] = (tw[s + W_FLAGS]! & TF_LIBERAL) | optFlags(seg[SEG_OPTS]!);
  }

  if (!(flags & ACK)) {
    ack = tw[r + W_END]!; // no ACK: pretend it acknowledges what the receiver sent
  } else if ((flags & (ACK | RST)) === (ACK | RST) && ack === 0) {
    ack = tw[r + W_END]!; // broken stacks: RST with ACK set and a zero acknowledgment
  }
  if (flags & RST && seq === 0 && state === 1) {
    seq = tw[s + W_END]!; // RST answering a SYN
    end = seq;
  }

  const sMaxwin = tw[s + W_MAXWIN]!;
  const rMaxwin = tw[r + W_MAXWIN]!;
  const rEnd = tw[r + W_END]!;
  const maxAckWin = (sMaxwin >>> 0 > MAXACKWINCONST ? sMaxwin : MAXACKWINCONST) | 0;
  let seqOk = before(seq, (tw[s + W_MAXEND]! + 1) | 0);
  if (!seqOk) {
    // Some stacks send more than the receive window allows; accept the overshoot when everything else fits.
    const overshot = (end - tw[s + W_MAXEND]! + 1) | 0;
    const ackOk = after(ack, (rEnd - maxAckWin - 1) | 0);
    const inRecvWin = rMaxwin !== 0 && after(end, (tw[s + W_END]! - rMaxwin - 1) | 0);
    if (inRecvWin && ackOk && overshot >>> 0 <= rMaxwin >>> 0 && before(ack, (rEnd + 1) | 0)) {
      tw[s + W_MAXEND] = (tw[s + W_MAXEND]! + overshot) | 0;
      seqOk = true;
    }
  }
  const senderLiberal = liberal || (tw[s + W_FLAGS]! & TF_LIBERAL) !== 0;
  if (!seqOk) return senderLiberal ? TW_LIBERAL : TW_INVALID; // SEQ is over the upper bound
  if (!before(ack, (rEnd + 1) | 0)) return senderLiberal ? TW_LIBERAL : TW_INVALID; // ACKs data not seen yet
  if (rMaxwin !== 0 && !after(end, (tw[s + W_END]! - rMaxwin - 1) | 0)) return senderLiberal ? TW_LIBERAL : TW_INVALID; // SEQ under the lower bound: already acknowledged data
  if (!after(ack, (rEnd - maxAckWin - 1) | 0)) return senderLiberal ? TW_LIBERAL : TW_IGNORE; // overly delayed ACK

  if (!(flags & SYN)) win = (win << (tw[s + W_FLAGS]! & TF_SCALE)) | 0;
  // Update the sender.
  if (sMaxwin >>> 0 < win >>> 0) tw[s + W_MAXWIN] = win;
  if (after(end, tw[s + W_END]!)) tw[s + W_END] = end;
  if (flags & ACK) {
    const sf = tw[s + W_FLAGS]!;
    if (!(sf & TF_MAXACK_SET)) {
      tw[s + W_MAXACK] = ack;
      tw[s + W_FLAGS] = sf | TF_MAXACK_SET;
    } else if (after(ack, tw[s + W_MAXACK]!)) tw[s + W_MAXACK] = ack;
  }
  // Update the receiver.
  if (tw[r + W_MAXWIN] !== 0 && after(end, tw[s + W_MAXEND]!))
    tw[r + W_MAXWIN] = (tw[r + W_MAXWIN]! + (end - tw[s + W_MAXEND]!)) | 0;
  if (after((ack + win) | 0, (tw[r + W_MAXEND]! - 1) | 0)) {
    tw[r + W_MAXEND] = (ack + win) | 0;
    if (win === 0) tw[r + W_MAXEND] = (tw[r + W_MAXEND]! + 1) | 0;
  }
  tw[base + W_LAST_END] = end;
  return TW_ACCEPT;
}

/** RST verdicts of `tcpRstCheck`. */
export const RST_CLOSE = 0;
/** In the window but not the exact sequence number: pass, keep the state (the endpoint sends a challenge ACK). */
export const RST_KEEP = 1;
export const RST_INVALID = 2;

/**
 * The RST rules of `nf_conntrack_tcp_packet` (state CLOSE after an RST), before the window check: once the
 * receiver has acknowledged something, an RST below its highest acknowledgment is invalid; in ESTABLISHED (or
 * later) an RST closes only with exactly that sequence number, or as the end of a train of data just sent
 * that way; otherwise it passes and the connection stays as it was. `established`: state ≥ ESTABLISHED.
 * `lastWasSyn` / `lastDir` / `lastAckClass`: the table's record of the previous segment.
 */
export function tcpRstCheck(
  tw: Int32Array,
  c: number,
  dir: number,
  seg: Int32Array,
  established: boolean,
  lastWasSyn: boolean,
  lastAckSameDir: boolean,
): number {
  const base = c * TW_STRIDE;
  const r = base + (dir ^ 1) * 5;
  if (!(tw[r + W_FLAGS]! & TF_MAXACK_SET) || lastWasSyn) return RST_CLOSE;
  const seq = seg[SEG_SEQ]!;
  if (seq === 0 && !established) return RST_CLOSE; // most likely the answer to a SYN we let through
  const maxack = tw[r + W_MAXACK]!;
  if (before(seq, maxack)) return RST_INVALID;
  if (!established || seq === maxack) return RST_CLOSE;
  if (lastAckSameDir && seq === tw[base + W_LAST_END]) return RST_CLOSE; // data then RST from the same side
  return RST_KEEP;
}

/**
 * An ignored SYN in the original direction (Linux: "our connection entry may be out of sync"): remember its
 * end, window and options, so a SYN/ACK acknowledging it can resynchronise the connection (`twResync`).
 */
export function twNoteIgnored(tw: Int32Array, c: number, flags: number, seg: Int32Array): void {
  const base = c * TW_STRIDE;
  tw[base + W_LAST_END] = segEnd(seg, flags);
  const o = flags & SYN ? optFlags(seg[SEG_OPTS]!) : 0;
  tw[base + W_LAST_WIN] = (seg[SEG_WIN]! & 0xffff) | ((o & TF_SCALE) << 16) | ((o >> 8) << 20);
}

/** End of the last segment noted (ignored SYN, or the last one that passed the window check). */
export function twLastEnd(tw: Int32Array, c: number): number {
  return tw[c * TW_STRIDE + W_LAST_END]!;
}

/**
 * A SYN/ACK of direction `dir` acknowledges the SYN of the other direction that was ignored: both ends are in
 * sync and we are not. Take the ignored SYN's values for its direction and start this one afresh (Linux
 * "b) This SYN/ACK acknowledges a SYN that we earlier ignored as invalid").
 */
export function twResync(tw: Int32Array, c: number, dir: number): void {
  const base = c * TW_STRIDE;
  const o = base + (dir ^ 1) * 5;
  const lw = tw[base + W_LAST_WIN]!;
  const win = lw & 0xffff;
  tw[o + W_END] = tw[base + W_LAST_END]!;
  tw[o + W_MAXEND] = tw[base + W_LAST_END]!;
  tw[o + W_MAXWIN] = win === 0 ? 1 : win;
  tw[o + W_MAXACK] = 0;
  tw[o + W_FLAGS] = ((lw >> 16) & TF_SCALE) | (((lw >>> 20) & 0x3) << 8);
  tw.fill(0, base + dir * 5, base + dir * 5 + 5);
}

/** Window state of one direction, for dumps and tests: [td_end, td_maxend, td_maxwin, td_maxack, scale]. */
export function twDirection(tw: Int32Array, c: number, dir: number): [number, number, number, number, number] {
  const o = c * TW_STRIDE + dir * 5;
  return [
    tw[o + W_END]! >>> 0,
    tw[o + W_MAXEND]! >>> 0,
    tw[o + W_MAXWIN]! >>> 0,
    tw[o + W_MAXACK]! >>> 0,
    tw[o + W_FLAGS]! & TF_SCALE,
  ];
}

/**
 * Install replicated window words (`TW_STRIDE`, from another node's table) for connection `c`; with `liberal`,
 * both directions are window-checked liberally from now on, as a connection picked up mid-stream: the replica
 * lags the real window by the sync delay (docs/conntrack-sync.md).
 */
export function twAdopt(tw: Int32Array, c: number, words: Int32Array | null, liberal: boolean): void {
  const b = c * TW_STRIDE;
  if (words === null) {
    twClear(tw, c);
    return;
  }
  for (let k = 0; k < TW_STRIDE; k++) tw[b + k] = words[k]! | 0;
  if (liberal) {
    tw[b + W_FLAGS] = tw[b + W_FLAGS]! | TF_LIBERAL;
    tw[b + 5 + W_FLAGS] = tw[b + 5 + W_FLAGS]! | TF_LIBERAL;
  }
}
