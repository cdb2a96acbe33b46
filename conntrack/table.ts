/**
 * The connection table's facade: `ConnTable`, the one class the datapath holds (contract: conntrack/index.ts).
 * A flat open-addressing hash over typed arrays with two entries per connection (original and reply
 * direction), connection state in one cache-line record per connection, SNAT bindings, incremental expiry and
 * early drop. Behaviour follows Linux nf_conntrack and nf_nat; the README of this folder lists every place where
 * it does not and why.
 *
 * Here: lookups, the lifecycle (create, confirm, abort, remove, expire, early drop), UDP/ICMP/generic tracking,
 * the per-connection accessors and the cold checks. Along Linux's seams, the rest is beside it:
 *   state.ts    the arrays and scalars (one object of fixed shape, the base class), removal core, probe
 *   record.ts   record layout, meta flags, counter indices and result codes, derived from lists of names
 *   slots.ts    the open-addressed hash: insert, backward-shift delete, burst lookup
 *   tcp.ts      TCP tracking (`nf_conntrack_tcp_packet`) beside proto.ts's transition table and tcp-window.ts
 *   nat.ts      SNAT binding and port choice, the by-source index (`nf_nat_core.c`)
 *
 * Threading: single-threaded per table. Time: the caller sets it with `setTime(ms)` (monotonic, any epoch), once
 * per burst or per packet; nothing here reads a clock, so a replay with a fixed `seed` is deterministic. Time is
 * table state rather than a parameter because a double passed to a call V8 does not inline is boxed — 16 bytes
 * per packet — while a Float64Array cell is read without allocating, whatever the clock's magnitude.
 *
 * IPv6 later: a second table with 4-word addresses. The tuples take 2 × (4 + 4 + 1) = 18 words instead of 6, so
 * the record grows to 128 bytes; the hash takes 9 words (HalfSipHash extends word by word); the API grows
 * `find6` reading the addresses from an Int32Array at an offset. Nothing in the slot array, the connection index,
 * the free lists or the expiry scan depends on the address width. Linux (and OVS zones 65520/65510) also keep the
 * families apart in practice.
 */
import { hsip4 } from './hash.js';
import { bsHead, bsLink, exhaustion, isPortProto, snat, tupleFree } from './nat.js';
import {
  DIR_REPLY,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  PROTO_ICMP,
  PROTO_TCP,
  PROTO_UDP,
  TCP_INVALID,
  TCP_SYN_SET,
  TCP_TRANSITIONS,
  UDP_STREAM_AFTER_MS,
  tcpFlagClass,
} from './proto.js';
import * as record from './record.js';
import { CT_COUNTER_NAMES, swapPorts, type CtCounterName } from './record.js';
import { hashDir, insertEntry, lookupBurst } from './slots.js';
import { CtState } from './state.js';
import { tcpPacket } from './tcp.js';
import { SEG_SET, TW_STRIDE, tcpValidFlags, twAdopt, twClear, twDirection, twNew } from './tcp-window.js';

// Module-local copies of record.ts constants: V8 folds these, an imported binding is a load per use (record.ts).
const CT_EXISTS = record.CT_EXISTS;
const CT_FULL = record.CT_FULL;
const CT_INVALID = record.CT_INVALID;
const CT_LIMIT = record.CT_LIMIT;
const F_ALLOC = record.F_ALLOC;
const F_ASSURED = record.F_ASSURED;
const F_CLOSE_INIT = record.F_CLOSE_INIT;
const F_LAST_DIR = record.F_LAST_DIR;
const F_SIMOPEN = record.F_SIMOPEN;
const M_LAST = record.M_LAST;
const F_BYSRC = record.F_BYSRC;
const F_BYTES = record.F_BYTES;
const F_CONFIRMED = record.F_CONFIRMED;
const F_DYING = record.F_DYING;
const F_EXPIRY = record.F_EXPIRY;
const F_NAT_DONE = record.F_NAT_DONE;
const F_REPLY_IN = record.F_REPLY_IN;
const F_SEEN_REPLY = record.F_SEEN_REPLY;
const F_SNAT = record.F_SNAT;
const FSTRIDE = record.FSTRIDE;
const K_ABORTED = record.K_ABORTED;
const K_CONFIRM_CLASH = record.K_CONFIRM_CLASH;
const K_CONFIRMED = record.K_CONFIRMED;
const K_CREATE_EXISTS = record.K_CREATE_EXISTS;
const K_CREATE_INVALID = record.K_CREATE_INVALID;
const K_CREATED = record.K_CREATED;
const K_EARLY_DROP = record.K_EARLY_DROP;
const K_EXPIRED = record.K_EXPIRED;
const K_KILLED = record.K_KILLED;
const K_RECREATE = record.K_RECREATE;
const K_REFUSED_FULL = record.K_REFUSED_FULL;
const K_REFUSED_PER_HOST = record.K_REFUSED_PER_HOST;
const K_RELATED_HIT = record.K_RELATED_HIT;
const K_RELATED_MISS = record.K_RELATED_MISS;
const K_TCP_INVALID_FLAGS = record.K_TCP_INVALID_FLAGS;
const K_UPDATE_INVALID = record.K_UPDATE_INVALID;
const M_PROTO = record.M_PROTO;
const M_STATE = record.M_STATE;
const M_STATE_SHIFT = record.M_STATE_SHIFT;
const R_MARK = record.R_MARK;
const R_META = record.R_META;
const R_ODST = record.R_ODST;
const R_OPORTS = record.R_OPORTS;
const R_OSRC = record.R_OSRC;
const R_PKTS = record.R_PKTS;
const R_RDST = record.R_RDST;
const R_RPORTS = record.R_RPORTS;
const R_RSRC = record.R_RSRC;
const STRIDE = record.STRIDE;
const TUPLE = record.TUPLE;
const UPDATE_ACCEPT = record.UPDATE_ACCEPT;
const UPDATE_INVALID = record.UPDATE_INVALID;
const UPDATE_RECREATE = record.UPDATE_RECREATE;

/**
 * Connection table. Results come back as numbers: `conn << 1 | dir` from lookups, a connection index or a
 * negative `CT_*` code from `create`, `UPDATE_*` and `SNAT_*` codes; per-connection fields are read with
 * accessors. Nothing on the packet path allocates.
 */
export class ConnTable extends CtState {
  /** Forget every connection (keeps counters and configuration). O(table size). */
  clear(): void {
    this.slots.fill(-1);
    this.rec.fill(0);
    this.bsSlots.fill(0);
    this.hosts?.clear();
    this.exhausted.fill(0);
    this.resetRecords();
  }

  // ---- sizes ----------------------------------------------------------------------------------------------

  /** Live connections (confirmed or not, not dying). */
  get size(): number {
    return this.live;
  }

  /**
   * Whether `lookupBurst` can beat one `find` per packet: the table is large enough for separate passes and its
   * live connections (a slot line and a record line each, ~128 bytes) reach `burstMinLive` (default 16384,
   * ~2 MB of cache). Below that every
   * lookup hits the cache and the burst pass is pure overhead (measured in the pipeline bench, 1 k flows).
   */
  get burstPays(): boolean {
    return this.burstPasses && this.live >= this.burstMinLive;
  }

  /** Hash entries in the slot array (two per confirmed connection). */
  get entryCount(): number {
    return this.entries;
  }

  /** Bytes held by the table's typed arrays. */
  memoryBytes(): number {
    return (
      this.slots.byteLength +
      this.rec.byteLength +
      this.born.byteLength +
      this.link.byteLength +
      this.prev.byteLength +
      this.bsSlots.byteLength +
      this.scratch.byteLength +
      this.exhausted.byteLength +
      this.tw.byteLength +
      (this.hosts?.byteLength ?? 0) +
      this.counters.byteLength +
      this.tcpT.byteLength
    );
  }

  // ---- hashing and lookups --------------------------------------------------------------------------------

  /** Seeded hash of a tuple; the direction is not part of it, so one packet needs one hash whichever entry it hits. */
  hash(src: number, dst: number, ports: number, proto: number): number {
    return hsip4(this.k0, this.k1, src, dst, ports, proto);
  }

  // ---- time -----------------------------------------------------------------------------------------------

  /** Set the current time (ms, monotonic, any epoch). Call once per burst (or per packet in replay). */
  setTime(now: number): void {
    this.clock[0] = now;
  }

  /** The time last set. */
  get time(): number {
    return this.clock[0]!;
  }

  // ---- lookups --------------------------------------------------------------------------------------------

  /**
   * Find the connection a packet belongs to: `conn << 1 | dir` (dir 0 = original, 1 = reply) or -1. ICMP echo:
   * pass the identifier as both ports. Unconfirmed connections (created earlier in the same burst) are found too.
   */
  lookup(src: number, dst: number, sport: number, dport: number, proto: number): number {
    const ports = (sport << 16) | (dport & 0xffff) | 0;
    return this.probe(hsip4(this.k0, this.k1, src | 0, dst | 0, ports, proto), src | 0, dst | 0, ports, proto);
  }

  /** `lookup` with the ports already packed (`packPorts`, `icmpPorts`, or `getInt32` of the L4 header's first word). */
  find(src: number, dst: number, ports: number, proto: number): number {
    return this.probe(hsip4(this.k0, this.k1, src, dst, ports, proto), src, dst, ports, proto);
  }

  /**
   * Look up a burst of keys in one pass (slots.ts `lookupBurst`): the cache misses of different keys overlap on
   * tables larger than ~2 MB. `out[i]` gets `conn << 1 | dir` or -1. Returns the number of hits.
   */
  lookupBurst(
    src: Int32Array,
    dst: Int32Array,
    ports: Int32Array,
    proto: Uint8Array,
    n: number,
    out: Int32Array,
  ): number {
    return lookupBurst(this, src, dst, ports, proto, n, out);
  }

  /**
   * ICMP error (destination unreachable, time exceeded, fragmentation needed) quoting a packet with this tuple:
   * the connection it belongs to, as `conn << 1 | dir` where `dir` is the direction of the *error* (the quoted
   * packet travelled the other way), or -1. Like Linux `icmp_error_message`, the quoted tuple is inverted and
   * looked up. The datapath translates a related packet like a packet of direction `dir` (outer source for
   * dir 0, outer destination for dir 1) and the quoted header the opposite way (quoted destination for dir 0,
   * quoted source for dir 1), with `rewriteAddr`/`rewritePort`. Quoted ICMP echo: pass the id as both ports.
   */
  lookupRelated(quotedSrc: number, quotedDst: number, quotedSport: number, quotedDport: number, proto: number): number {
    const v = this.lookup(quotedDst, quotedSrc, quotedDport, quotedSport, proto);
    this.counters[v >= 0 ? K_RELATED_HIT : K_RELATED_MISS]!++;
    return v;
  }

  // ---- lifecycle ------------------------------------------------------------------------------------------

  /**
   * New connection for a packet that missed: returns its index (unconfirmed: only its original-direction entry is
   * in the table until `confirm` or `abort`; one a caller forgets is reaped by `expire` after its timeout) or
   * `CT_FULL`, `CT_EXISTS`, `CT_INVALID`. The packet itself is
   * processed (state, timeout, accounting): do not `update` it again. `flags`: TCP header flags for TCP, ICMP type
   * for ICMP, ignored otherwise. `len`: bytes to account (IP total length, as Linux).
   */
  create(src: number, dst: number, sport: number, dport: number, proto: number, flags: number, len: number): number {
    src |= 0;
    dst |= 0;
    const C = this.counters;
    if (proto === PROTO_TCP) {
      if (!tcpValidFlags(flags)) {
        this.seg[SEG_SET] = 0;
        C[K_TCP_INVALID_FLAGS]!++;
        C[K_CREATE_INVALID]!++;
        return CT_INVALID;
      }
      const cls = tcpFlagClass(flags);
      if (TCP_TRANSITIONS[cls * 10]! >= TCP_INVALID || (!this.loose && cls !== TCP_SYN_SET)) {
        this.seg[SEG_SET] = 0;
        C[K_CREATE_INVALID]!++;
        return CT_INVALID;
      }
    } else if (proto === PROTO_ICMP && flags !== ICMP_ECHO_REQUEST) {
      C[K_CREATE_INVALID]!++;
      return CT_INVALID;
    }
    const ports = (sport << 16) | (dport & 0xffff) | 0;
    const h = hsip4(this.k0, this.k1, src, dst, ports, proto);
    if (this.probe(h, src, dst, ports, proto) >= 0) {
      C[K_CREATE_EXISTS]!++;
      return CT_EXISTS;
    }
    if (this.perHostLimit > 0 && this.hostConnections(this.hostWord === R_OSRC ? src : dst) >= this.perHostLimit) {
      this.seg[SEG_SET] = 0;
      C[K_REFUSED_PER_HOST]!++;
      return CT_LIMIT;
    }
    if (this.live >= this.maxConnections && !this.earlyDrop(h)) {
      this.seg[SEG_SET] = 0;
      C[K_REFUSED_FULL]!++;
      return CT_FULL;
    }
    const c = this.freeHead;
    if (c < 0) {
      this.seg[SEG_SET] = 0;
      C[K_REFUSED_FULL]!++;
      return CT_FULL;
    }
    this.freeHead = this.link[c]!;
    this.live++;
    const rec = this.rec;
    const r = c * STRIDE;
    rec[r + R_OSRC] = src;
    rec[r + R_ODST] = dst;
    rec[r + R_OPORTS] = ports;
    rec[r + R_RSRC] = dst;
    rec[r + R_RDST] = src;
    rec[r + R_RPORTS] = swapPorts(ports);
    rec[r + R_META] = (proto & M_PROTO) | F_ALLOC;
    rec[r + R_MARK] = 0;
    rec[r + R_PKTS] = 0;
    rec[r + R_PKTS + 1] = 0;
    const f = c * FSTRIDE;
    const now = this.clock[0]!;
    this.recF[f + F_EXPIRY] = now;
    this.recF[f + F_BYTES] = 0;
    this.recF[f + F_BYTES + 1] = 0;
    this.born[c] = now;
    this.link[c] = -1;
    this.prev[c] = -1;
    insertEntry(this, h, c << 1);
    if (this.hosts !== null) this.hosts.add(rec[r + this.hostWord]!, 1);
    if (proto === PROTO_TCP) {
      if (this.seg[SEG_SET] === 1) twNew(this.tw, c, flags, this.seg);
      else twClear(this.tw, c);
    }
    C[K_CREATED]!++;
    this.update(c, 0, flags, len);
    return c;
  }

  /**
   * The connection's first packet is being emitted: insert the reply entry (unless `snat` already reserved it)
   * and mark it confirmed. Returns false when the connection is gone or its reply tuple clashes with another
   * connection (Linux drops the packet then); the connection is discarded in that case. Idempotent.
   */
  confirm(c: number): boolean {
    const rec = this.rec;
    const r = c * STRIDE + R_META;
    let m = rec[r]!;
    if ((m & (F_ALLOC | F_DYING)) !== F_ALLOC) return false;
    if (m & F_CONFIRMED) return true;
    if ((m & F_REPLY_IN) === 0) {
      const b = c * STRIDE;
      const h = hashDir(this, c, 1);
      if (!tupleFree(this, h, rec[b + R_RSRC]!, rec[b + R_RDST]!, rec[b + R_RPORTS]!, m & M_PROTO, c)) {
        this.counters[K_CONFIRM_CLASH]!++;
        this.kill(c);
        return false;
      }
      insertEntry(this, h, (c << 1) | 1);
      m |= F_REPLY_IN;
    }
    rec[r] = m | F_CONFIRMED;
    this.counters[K_CONFIRMED]!++;
    return true;
  }

  /**
   * The first packet was dropped: discard an unconfirmed connection and its reservation. No-op (false) for a
   * confirmed one, so within a burst call `confirm` for emitted packets before `abort` for dropped ones.
   */
  abort(c: number): boolean {
    const m = this.rec[c * STRIDE + R_META]!;
    if ((m & (F_ALLOC | F_DYING | F_CONFIRMED)) !== F_ALLOC) return false;
    this.kill(c);
    this.counters[K_ABORTED]!++;
    return true;
  }

  /** Remove a connection now (control plane: flush). Its record stays readable until the next `expire()`. */
  remove(c: number): boolean {
    const m = this.rec[c * STRIDE + R_META]!;
    if ((m & (F_ALLOC | F_DYING)) !== F_ALLOC) return false;
    this.kill(c);
    this.counters[K_KILLED]!++;
    return true;
  }

  /**
   * Incremental expiry (gVisor `reapUnused` style): examine at most `budget` records from a rotating cursor and
   * remove those whose timeout passed. Also releases the records of connections killed since the last call, so
   * call it between bursts, never inside one. Returns the number of connections expired.
   */
  expire(budget: number): number {
    const now = this.clock[0]!;
    let p = this.pendingHead;
    while (p >= 0) {
      const n = this.link[p]!;
      this.release(p);
      p = n;
    }
    this.pendingHead = -1;
    const rec = this.rec;
    const recF = this.recF;
    const cap = this.recordCount;
    let cur = this.cursor;
    let reaped = 0;
    const steps = Math.min(Math.max(0, Math.floor(budget)), cap);
    for (let k = 0; k < steps; k++) {
      const m = rec[cur * STRIDE + R_META]!;
      if ((m & (F_ALLOC | F_DYING)) === F_ALLOC && recF[cur * FSTRIDE + F_EXPIRY]! <= now) {
        this.unlink(cur);
        this.release(cur);
        reaped++;
      }
      cur = cur + 1 === cap ? 0 : cur + 1;
    }
    this.cursor = cur;
    this.counters[K_EXPIRED]! += reaped;
    return reaped;
  }

  /**
   * Table full: evict from the window of slots around the new key's home slot (Linux `early_drop`). A timed-out
   * connection there is reaped first; otherwise the unassured confirmed connection closest to its timeout goes.
   * Unconfirmed connections belong to packets in flight and are never chosen.
   */
  private earlyDrop(h: number): boolean {
    const now = this.clock[0]!;
    const slots = this.slots;
    const rec = this.rec;
    const recF = this.recF;
    const mask = this.mask;
    let victim = -1;
    let best = Infinity;
    let timedOut = false;
    for (let k = 0, i = h & mask; k < this.dropWindow; k++, i = (i + 1) & mask) {
      const v = slots[(i << 1) | 1]!;
      if (v < 0) continue;
      const c = v >> 1;
      const m = rec[c * STRIDE + R_META]!;
      if ((m & F_CONFIRMED) === 0) continue;
      const e = recF[c * FSTRIDE + F_EXPIRY]!;
      if (e <= now) {
        victim = c;
        timedOut = true;
        break;
      }
      if ((m & F_ASSURED) === 0 && e < best) {
        best = e;
        victim = c;
      }
    }
    if (victim < 0) return false;
    this.kill(victim);
    this.counters[timedOut ? K_EXPIRED : K_EARLY_DROP]!++;
    return true;
  }

  // ---- per-packet state -----------------------------------------------------------------------------------

  /**
   * Advance a connection with a packet of direction `dir`: TCP by flags (Linux's transition table), UDP
   * unreplied → replied → assured, ICMP echo request/reply (`flags` = ICMP type), anything else generic.
   * Returns `UPDATE_ACCEPT`, `UPDATE_IGNORE`, `UPDATE_INVALID` or `UPDATE_RECREATE` (timed out or killed:
   * create a new connection for this packet). Accounting counts accepted packets only, as Linux.
   */
  update(c: number, dir: number, flags: number, len: number): number {
    const now = this.clock[0]!;
    const rec = this.rec;
    const r = c * STRIDE + R_META;
    let m = rec[r]!;
    if ((m & (F_ALLOC | F_DYING)) !== F_ALLOC) {
      this.counters[K_RECREATE]!++;
      return UPDATE_RECREATE;
    }
    if ((m & F_CONFIRMED) !== 0 && this.recF[c * FSTRIDE + F_EXPIRY]! <= now) {
      this.kill(c);
      this.counters[K_EXPIRED]!++;
      this.counters[K_RECREATE]!++;
      return UPDATE_RECREATE;
    }
    const proto = m & M_PROTO;
    let timeout: number;
    if (proto === PROTO_TCP) return tcpPacket(this, c, dir, flags, len);
    if (proto === PROTO_UDP) {
      timeout = this.tUdp;
      if ((m & F_SEEN_REPLY) !== 0 && ((m & F_ASSURED) !== 0 || now > this.born[c]! + UDP_STREAM_AFTER_MS)) {
        // Traffic both ways and still active after 2 s: a stream (Linux nf_conntrack_udp_packet).
        timeout = this.tUdpStream;
        m |= F_ASSURED;
      }
    } else if (proto === PROTO_ICMP) {
      if (flags !== (dir === DIR_REPLY ? ICMP_ECHO_REPLY : ICMP_ECHO_REQUEST)) {
        this.counters[K_UPDATE_INVALID]!++;
        return UPDATE_INVALID;
      }
      timeout = this.tIcmp;
    } else {
      timeout = this.tGeneric;
    }
    if (dir === DIR_REPLY) m |= F_SEEN_REPLY;
    rec[r] = m;
    const f = c * FSTRIDE;
    this.recF[f + F_EXPIRY] = now + timeout;
    this.recF[f + F_BYTES + dir] += len;
    rec[c * STRIDE + R_PKTS + dir]++;
    return UPDATE_ACCEPT;
  }

  /** TCP window state of one direction: [td_end, td_maxend, td_maxwin, td_maxack, scale] (tests, dumps). */
  tcpWindow(c: number, dir: number): [number, number, number, number, number] {
    return twDirection(this.tw, c, dir);
  }

  // ---- per-host limit ---------------------------------------------------------------------------------------

  /** Live connections counted for `addr` by the per-host limit (0 when there is no limit). */
  hostConnections(addr: number): number {
    return this.hosts === null ? 0 : this.hosts.count(addr);
  }

  // ---- SNAT -----------------------------------------------------------------------------------------------

  /**
   * Bind an unconfirmed connection to the egress address `natIp` (Linux `nf_nat_setup_info` for SNAT with a
   * single address), reserving its reply tuple at once so that no two connections can ever share one:
   *  1. unless random-fully: reuse the binding of the newest connection from the same (source, source port,
   *     proto) to `natIp` if that tuple is free (endpoint-independent mapping, `find_appropriate_src`), then keep
   *     the source port if free;
   *  2. otherwise search the range from a random offset, 128 attempts, then 64, 32, 16, 8 from new offsets
   *     (`nf_nat_l4proto_unique_tuple`).
   * Returns `SNAT_OK`, `SNAT_EXHAUSTED` or `SNAT_INVALID`. `mode`: 0 or `SNAT_RANDOM_FULLY`.
   */
  snat(c: number, natIp: number, mode = 0): number {
    return snat(this, c, natIp | 0, mode);
  }

  // ---- per-connection fields ------------------------------------------------------------------------------

  /** IP protocol number. */
  proto(c: number): number {
    return this.rec[c * STRIDE + R_META]! & M_PROTO;
  }
  /** TCP state (`TCP_*` of proto.ts); 0 for other protocols. */
  state(c: number): number {
    return (this.rec[c * STRIDE + R_META]! & M_STATE) >> M_STATE_SHIFT;
  }
  /** Record in use and not dying. */
  isLive(c: number): boolean {
    return (this.rec[c * STRIDE + R_META]! & (F_ALLOC | F_DYING)) === F_ALLOC;
  }
  isConfirmed(c: number): boolean {
    return (this.rec[c * STRIDE + R_META]! & F_CONFIRMED) !== 0;
  }
  isAssured(c: number): boolean {
    return (this.rec[c * STRIDE + R_META]! & F_ASSURED) !== 0;
  }
  seenReply(c: number): boolean {
    return (this.rec[c * STRIDE + R_META]! & F_SEEN_REPLY) !== 0;
  }
  /** Packets of this connection are translated (the reply tuple is not the inverted original). */
  isSnat(c: number): boolean {
    return (this.rec[c * STRIDE + R_META]! & F_SNAT) !== 0;
  }
  /** `snat` chose a binding (possibly the identity). */
  isNatBound(c: number): boolean {
    return (this.rec[c * STRIDE + R_META]! & F_NAT_DONE) !== 0;
  }
  isDying(c: number): boolean {
    return (this.rec[c * STRIDE + R_META]! & F_DYING) !== 0;
  }
  origSrc(c: number): number {
    return this.rec[c * STRIDE + R_OSRC]!;
  }
  origDst(c: number): number {
    return this.rec[c * STRIDE + R_ODST]!;
  }
  origSport(c: number): number {
    return this.rec[c * STRIDE + R_OPORTS]! >>> 16;
  }
  origDport(c: number): number {
    return this.rec[c * STRIDE + R_OPORTS]! & 0xffff;
  }
  replySrc(c: number): number {
    return this.rec[c * STRIDE + R_RSRC]!;
  }
  replyDst(c: number): number {
    return this.rec[c * STRIDE + R_RDST]!;
  }
  replySport(c: number): number {
    return this.rec[c * STRIDE + R_RPORTS]! >>> 16;
  }
  replyDport(c: number): number {
    return this.rec[c * STRIDE + R_RPORTS]! & 0xffff;
  }
  /** Egress address of a SNAT binding (the reply tuple's destination). */
  natIp(c: number): number {
    return this.rec[c * STRIDE + R_RDST]!;
  }
  /** Port (ICMP: id) of a SNAT binding (the reply tuple's destination port). */
  natPort(c: number): number {
    return this.rec[c * STRIDE + R_RPORTS]! & 0xffff;
  }
  /**
   * Address to write into a packet of direction `dir`: the new source for dir 0 (the egress IP), the new
   * destination for dir 1 (the original source). Only meaningful when `isSnat(c)`.
   */
  rewriteAddr(c: number, dir: number): number {
    return this.rec[c * STRIDE + (dir === 0 ? R_RDST : R_OSRC)]!;
  }
  /** Port (ICMP: id) to write, paired with `rewriteAddr`: new source port for dir 0, new destination port for dir 1. */
  rewritePort(c: number, dir: number): number {
    return dir === 0 ? this.rec[c * STRIDE + R_RPORTS]! & 0xffff : this.rec[c * STRIDE + R_OPORTS]! >>> 16;
  }
  /** Opaque 32-bit tag the datapath may set (conntrack mark; e.g. the egress IP's index). */
  mark(c: number): number {
    return this.rec[c * STRIDE + R_MARK]!;
  }
  setMark(c: number, v: number): void {
    this.rec[c * STRIDE + R_MARK] = v | 0;
  }
  /** Absolute expiry time (ms). */
  expiresAt(c: number): number {
    return this.recF[c * FSTRIDE + F_EXPIRY]!;
  }
  /** Creation time (ms). */
  createdAt(c: number): number {
    return this.born[c]!;
  }
  packets(c: number, dir: number): number {
    return this.recU[c * STRIDE + R_PKTS + dir]!;
  }
  bytes(c: number, dir: number): number {
    return this.recF[c * FSTRIDE + F_BYTES + dir]!;
  }

  /** Counter by name (cold path). */
  counter(name: CtCounterName): number {
    return this.counters[CT_COUNTER_NAMES.indexOf(name)]!;
  }

  /** All counters by name, in declaration order. */
  counterSnapshot(): Record<CtCounterName, number> {
    const out = {} as Record<CtCounterName, number>;
    CT_COUNTER_NAMES.forEach((n, i) => (out[n] = this.counters[i]!));
    return out;
  }

  /** Exhaustion records: `[natIp, dst, dport, proto, count]` per (egress IP, destination, port, protocol). */
  exhaustion(): Array<[number, number, number, number, number]> {
    return exhaustion(this);
  }

  /**
   * Cold consistency check for tests: every entry names a live record whose tuple hashes to it, every live
   * record's entries are present exactly once, and no two entries share a tuple. Returns a description of the
   * first problem, or null.
   */
  selfCheck(): string | null {
    const slots = this.slots;
    const rec = this.rec;
    let count = 0;
    const seen = new Map<number, number>();
    for (let i = 0; i < this.slotCount; i++) {
      const v = slots[(i << 1) | 1]!;
      if (v < 0) continue;
      count++;
      const c = v >> 1;
      const dir = v & 1;
      if (!this.isLive(c)) return `slot ${i}: entry for dead record ${c}`;
      const h = hashDir(this, c, dir);
      if (slots[i << 1] !== h) return `slot ${i}: stored hash differs from record ${c}/${dir}`;
      // reachable from its home slot without crossing an empty slot
      for (let j = h & this.mask; j !== i; j = (j + 1) & this.mask) {
        if (slots[(j << 1) | 1]! < 0) return `slot ${i}: unreachable from home ${h & this.mask}`;
      }
      if (seen.has(v)) return `entry ${c}/${dir} twice`;
      seen.set(v, i);
      const r = c * STRIDE + dir * TUPLE;
      const hit = this.probe(h, rec[r]!, rec[r + 1]!, rec[r + 2]!, rec[c * STRIDE + R_META]! & M_PROTO);
      if (hit !== v) return `tuple of ${c}/${dir} resolves to ${hit}: shared tuple`;
    }
    if (count !== this.entries) return `entry count ${count} != ${this.entries}`;
    let live = 0;
    for (let c = 0; c < this.recordCount; c++) {
      if (!this.isLive(c)) continue;
      live++;
      if (!seen.has(c << 1)) return `record ${c}: original entry missing`;
      const m = rec[c * STRIDE + R_META]!;
      if (((m & F_REPLY_IN) !== 0) !== seen.has((c << 1) | 1)) return `record ${c}: reply entry flag mismatch`;
      if ((m & F_CONFIRMED) !== 0 && (m & F_REPLY_IN) === 0) return `record ${c}: confirmed without reply entry`;
      if ((m & F_BYSRC) !== 0) {
        let x = bsHead(this, rec[c * STRIDE + R_OSRC]!, rec[c * STRIDE + R_OPORTS]! >>> 16, m & M_PROTO);
        while (x >= 0 && x !== c) x = this.link[x]!;
        if (x !== c) return `record ${c}: not in its by-source chain`;
      }
    }
    if (live !== this.live) return `live count ${live} != ${this.live}`;
    return null;
  }

  // --- replication (issue 15) ---
  // The few internals conntrack/replicate.ts needs to export a connection's state and to install one replicated
  // from another node (docs/conntrack-sync.md). Nothing here runs on the packet path.

  /** The state-machine flags replication carries (seen-reply, assured, close-init, simopen, last dir/index), 16 bits. */
  replicaFlags(c: number): number {
    const carry = F_SEEN_REPLY | F_ASSURED | F_CLOSE_INIT | F_SIMOPEN | F_LAST_DIR | M_LAST;
    return (this.rec[c * STRIDE + R_META]! & carry) >>> 14;
  }

  /** Copy connection `c`'s TCP window words (`TW_STRIDE`) into `out` at `o`. */
  replicaWindow(c: number, out: Int32Array, o = 0): void {
    out.set(this.tw.subarray(c * TW_STRIDE, (c + 1) * TW_STRIDE), o);
  }

  /**
   * Install a confirmed connection with its SNAT binding as another node tracked it: both entries in the table and
   * the binding reserved (no new connection can take its reply tuple), state and flags as given (`replicaFlags`),
   * expiry and creation time absolute (ms, this table's clock). Returns the connection, or CT_FULL (nothing
   * evictable: counted as refused-full), CT_EXISTS (its original or reply tuple is taken), CT_INVALID (fields).
   */
  adopt(
    src: number,
    dst: number,
    ports: number,
    proto: number,
    natIp: number,
    natPort: number,
    state: number,
    flags: number,
    expiresAt: number,
    bornAt: number,
    window: Int32Array | null,
    liberal: boolean,
  ): number {
    src |= 0;
    dst |= 0;
    natIp |= 0;
    const carry = F_SEEN_REPLY | F_ASSURED | F_CLOSE_INIT | F_SIMOPEN | F_LAST_DIR | M_LAST;
    if (proto < 0 || proto > 255 || state < 0 || state > 9 || (proto !== PROTO_TCP && state !== 0)) return CT_INVALID;
    let rports: number;
    if (proto === PROTO_ICMP) rports = (natPort << 16) | (natPort & 0xffff) | 0;
    else if (proto === PROTO_TCP || proto === PROTO_UDP) rports = (ports << 16) | (natPort & 0xffff) | 0;
    else rports = swapPorts(ports);
    const h0 = hsip4(this.k0, this.k1, src, dst, ports, proto);
    const h1 = hsip4(this.k0, this.k1, dst, natIp, rports, proto);
    if (this.probe(h0, src, dst, ports, proto) >= 0 || !tupleFree(this, h1, dst, natIp, rports, proto, -1))
      return CT_EXISTS;
    if (this.live >= this.maxConnections && !this.earlyDrop(h0)) {
      this.counters[K_REFUSED_FULL]!++;
      return CT_FULL;
    }
    const c = this.freeHead;
    if (c < 0) {
      this.counters[K_REFUSED_FULL]!++;
      return CT_FULL;
    }
    this.freeHead = this.link[c]!;
    this.live++;
    const rec = this.rec;
    const r = c * STRIDE;
    rec[r + R_OSRC] = src;
    rec[r + R_ODST] = dst;
    rec[r + R_OPORTS] = ports;
    rec[r + R_RSRC] = dst;
    rec[r + R_RDST] = natIp;
    rec[r + R_RPORTS] = rports;
    let m = (proto & 0xff) | F_ALLOC | F_CONFIRMED | F_NAT_DONE | F_REPLY_IN | (state << 8) | ((flags << 14) & carry);
    if (natIp !== src || rports !== swapPorts(ports)) m |= F_SNAT;
    rec[r + R_META] = m;
    rec[r + R_MARK] = 0;
    rec[r + R_PKTS] = 0;
    rec[r + R_PKTS + 1] = 0;
    const f = c * FSTRIDE;
    this.recF[f + F_EXPIRY] = expiresAt;
    this.recF[f + F_BYTES] = 0;
    this.recF[f + F_BYTES + 1] = 0;
    this.born[c] = bornAt;
    this.link[c] = -1;
    this.prev[c] = -1;
    insertEntry(this, h0, c << 1);
    insertEntry(this, h1, (c << 1) | 1);
    if (isPortProto(proto)) bsLink(this, c);
    if (this.hosts !== null) this.hosts.add(rec[r + this.hostWord]!, 1);
    if (proto === PROTO_TCP) twAdopt(this.tw, c, window, liberal);
    return c;
  }

  /** Refresh a live connection from a newer replica of it (same tuples): state, flags, expiry, window. */
  readopt(
    c: number,
    state: number,
    flags: number,
    expiresAt: number,
    window: Int32Array | null,
    liberal: boolean,
  ): void {
    const carry = F_SEEN_REPLY | F_ASSURED | F_CLOSE_INIT | F_SIMOPEN | F_LAST_DIR | M_LAST;
    const r = c * STRIDE + R_META;
    const m = this.rec[r]!;
    if ((m & (F_ALLOC | F_DYING)) !== F_ALLOC) return;
    const p = m & 0xff;
    this.rec[r] = (m & ~(carry | M_STATE)) | (p === PROTO_TCP ? (state & 0xf) << 8 : 0) | ((flags << 14) & carry);
    this.recF[c * FSTRIDE + F_EXPIRY] = expiresAt;
    if (p === PROTO_TCP) twAdopt(this.tw, c, window, liberal);
  }
}
