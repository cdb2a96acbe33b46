/**
 * The connection table: a flat open-addressing hash over typed arrays with two entries per connection
 * (original and reply direction), connection state in one cache-line record per connection, SNAT bindings,
 * incremental expiry and early drop. Behaviour follows Linux nf_conntrack and nf_nat; the README of this folder lists
 * every place where it does not and why.
 *
 * Memory layout (one table serves one address family; IPv4 here):
 *
 *   slots   Int32Array[2 × S]   per slot: [hash, value]; value = conn << 1 | dir, -1 = empty. S is a power of two
 *                               ≥ 2 × maxConnections / maxLoad. Linear probing, backward-shift deletion (no
 *                               tombstones). The full 32-bit hash is kept so probes compare it before touching
 *                               a record, and deletion finds each entry's home slot without rehashing.
 *   records ArrayBuffer, 64 bytes (one cache line) per connection, seen as Int32/Uint32/Float64 arrays:
 *             words 0-5   orig src, orig dst, orig sport<<16|dport, reply src, reply dst, reply sport<<16|dport
 *             word  6     meta: proto | TCP state << 8 | flags
 *             word  7     mark (opaque 32-bit tag)
 *             f64   4     expiry (absolute ms)
 *             f64   5, 6  bytes, original / reply direction
 *             words 14,15 packets, original / reply direction (uint32)
 *           Everything a packet touches after its lookup is on that one line (Linux `struct nf_conn` does the
 *           same), so lookup + update + translation cost two cache misses: the slot line and the record line.
 *   born    Float64Array        creation time (ms), read only by the UDP 2 s stream rule and dumps
 *   link, prev  Int32Array      by-source chains (NAT `nf_nat_bysource`); `link` also threads free lists
 *   bsSlots Int32Array          by-source index: (orig src, sport, proto) → newest bound connection + 1
 *
 * IPv6 later: a second table with 4-word addresses. The tuples take 2 × (4 + 4 + 1) = 18 words instead of 6, so
 * the record grows to 128 bytes; the hash takes 9 words (HalfSipHash extends word by word); the API grows
 * `find6` reading the addresses from an Int32Array at an offset. Nothing in the slot array, the connection index, the free lists
 * or the expiry scan depends on the address width. Linux (and OVS zones 65520/65510) also keep the families
 * apart in practice.
 *
 * Threading: single-threaded per table. Time: the caller sets it with `setTime(ms)` (monotonic, any epoch), once
 * per burst or per packet; nothing here reads a clock, so a replay with a fixed `seed` is deterministic. Time is
 * table state rather than a parameter because a double passed to a call V8 does not inline is boxed — 16 bytes
 * per packet — while a Float64Array cell is read without allocating, whatever the clock's magnitude.
 */
import { hsip4, Prng } from './hash.js';
import { HostCounts } from './host-count.js';
import {
  DEFAULT_TIMEOUTS,
  DIR_REPLY,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  PROTO_ICMP,
  PROTO_TCP,
  PROTO_UDP,
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
  UDP_STREAM_AFTER_MS,
  tcpFlagClass,
  type Timeouts,
} from './proto.js';
import {
  RST_INVALID,
  RST_KEEP,
  SEG_SET,
  SEG_WORDS,
  SEG_ACK,
  TW_IGNORE,
  TW_INVALID,
  TW_LIBERAL,
  TW_STRIDE,
  tcpInWindow,
  tcpRstCheck,
  tcpValidFlags,
  twAdopt,
  twClear,
  twLastEnd,
  twNew,
  twNoteIgnored,
  twDirection,
  twResync,
} from './tcp-window.js';

// ---- record layout ----------------------------------------------------------------------------------------
const STRIDE = 16; // int32 words per record (64 bytes)
const FSTRIDE = 8; // float64 words per record
const R_OSRC = 0;
const R_ODST = 1;
const R_OPORTS = 2;
const R_RSRC = 3;
const R_RDST = 4;
const R_RPORTS = 5;
const R_META = 6;
const R_MARK = 7;
const R_PKTS = 14; // + dir
const F_EXPIRY = 4; // float64 index within the record
const F_BYTES = 5; // + dir

// meta word: proto in bits 0-7, TCP state in bits 8-11, flags above
const M_STATE = 0xf << 8;
const F_ALLOC = 1 << 12; // record in use
const F_CONFIRMED = 1 << 13; // first packet emitted (Linux IPS_CONFIRMED)
const F_SEEN_REPLY = 1 << 14; // a reply-direction packet was accepted (IPS_SEEN_REPLY)
const F_ASSURED = 1 << 15; // never early-dropped (IPS_ASSURED)
const F_SNAT = 1 << 16; // reply tuple differs from the inverted original: packets are translated (IPS_SRC_NAT)
const F_NAT_DONE = 1 << 17; // a binding was chosen (IPS_SRC_NAT_DONE)
const F_REPLY_IN = 1 << 18; // the reply entry is in the slot array
const F_DYING = 1 << 19; // out of the slot array; record released at the next expire() (IPS_DYING)
const F_BYSRC = 1 << 20; // linked in the by-source index
const F_CLOSE_INIT = 1 << 21; // a FIN started the close (IP_CT_TCP_FLAG_CLOSE_INIT, either direction)
const F_SIMOPEN = 1 << 22; // simultaneous open (IP_CT_TCP_SIMULTANEOUS_OPEN)
const F_LAST_DIR = 1 << 23; // direction of the last TCP segment (ct->proto.tcp.last_dir)
const M_LAST_SHIFT = 24; // flag class of the last TCP segment, 3 bits (ct->proto.tcp.last_index)
const M_LAST = 7 << M_LAST_SHIFT;

// ---- results ----------------------------------------------------------------------------------------------
/** `create` refused: the table is full and nothing in the early-drop window could be evicted. */
export const CT_FULL = -1;
/** `create` refused: the tuple is already in the table (an earlier packet of the burst created it): `lookup`. */
export const CT_EXISTS = -2;
/** `create` refused: this packet cannot open a connection (TCP without SYN or ACK, ICMP other than echo request). */
export const CT_INVALID = -3;
/** `create` refused: the per-host limit (`perHostLimit`) is reached for this connection's source (or destination). */
export const CT_LIMIT = -4;

/** `update`: packet accepted, state advanced and timeout refreshed. */
export const UPDATE_ACCEPT = 0;
/** `update`: packet passes but leaves the state alone (Linux `sIG`: may be valid, we may be out of sync). */
export const UPDATE_IGNORE = 1;
/** `update`: packet is invalid for the state (Linux `sIV`); nothing changed. The datapath counts and drops it. */
export const UPDATE_INVALID = 2;
/** `update`: the connection is gone (timed out, killed, TCP reopen from TIME_WAIT/CLOSE): handle as a new one. */
export const UPDATE_RECREATE = 3;

/** `snat`: bound; read `natPort(conn)` for the port chosen. */
export const SNAT_OK = 0;
/** `snat`: no free reply tuple for (egress IP, destination, destination port, protocol). Drop and `abort`. */
export const SNAT_EXHAUSTED = 1;
/** `snat`: the connection is not a live unconfirmed one without a binding. */
export const SNAT_INVALID = 2;
/** `snat` mode flag: choose a random port for every connection (iptables `--random-fully`, Antrea `snatFullyRandomPorts`). */
export const SNAT_RANDOM_FULLY = 1;

/** Counter names, in index order (`counters[i]`). */
export const CT_COUNTER_NAMES = [
  'created',
  'confirmed',
  'aborted',
  'refused-full',
  'create-exists',
  'create-invalid',
  'early-drop',
  'expired',
  'killed',
  'recreate',
  'confirm-clash',
  'update-ignored',
  'update-invalid',
  'tcp-reopen',
  'snat-port-preserved',
  'snat-port-remapped',
  'snat-source-mapped',
  'snat-exhausted',
  'snat-invalid',
  'snat-probes',
  'related-hit',
  'related-miss',
  'refused-per-host',
  'tcp-invalid-flags',
  'tcp-out-of-window',
  'tcp-window-liberal',
  'tcp-rst-invalid',
  'tcp-rst-in-window',
  'tcp-resync',
] as const;
export type CtCounterName = (typeof CT_COUNTER_NAMES)[number];
const K_CREATED = 0;
const K_CONFIRMED = 1;
const K_ABORTED = 2;
const K_REFUSED_FULL = 3;
const K_CREATE_EXISTS = 4;
const K_CREATE_INVALID = 5;
const K_EARLY_DROP = 6;
const K_EXPIRED = 7;
const K_KILLED = 8;
const K_RECREATE = 9;
const K_CONFIRM_CLASH = 10;
const K_UPDATE_IGNORED = 11;
const K_UPDATE_INVALID = 12;
const K_TCP_REOPEN = 13;
const K_SNAT_PRESERVED = 14;
const K_SNAT_REMAPPED = 15;
const K_SNAT_SOURCE_MAPPED = 16;
const K_SNAT_EXHAUSTED = 17;
const K_SNAT_INVALID = 18;
const K_SNAT_PROBES = 19;
const K_RELATED_HIT = 20;
const K_RELATED_MISS = 21;
const K_REFUSED_PER_HOST = 22;
const K_TCP_INVALID_FLAGS = 23;
const K_TCP_OUT_OF_WINDOW = 24;
const K_TCP_WINDOW_LIBERAL = 25;
const K_TCP_RST_INVALID = 26;
const K_TCP_RST_IN_WINDOW = 27;
const K_TCP_RESYNC = 28;

/** Ports word of an ICMP echo tuple: the identifier plays both ports, so the word is the same in both directions. */
export function icmpPorts(id: number): number {
  return (id << 16) | (id & 0xffff) | 0;
}

/** Ports word of a TCP/UDP tuple (the first 32 bits of the L4 header, as `DataView.getInt32` reads them). */
export function packPorts(sport: number, dport: number): number {
  return (sport << 16) | (dport & 0xffff) | 0;
}

export interface ConnTableOptions {
  /** Connections the table holds before it evicts or refuses (Linux `nf_conntrack_max`). Default 65536. */
  maxConnections?: number;
  /** Maximum slot occupancy at `maxConnections` (two entries each); the slot count is the next power of two. Default 0.75. */
  maxLoad?: number;
  /**
   * Fixed seed: hash key, port offsets and random-fully choices all derive from it, so a replay is
   * byte-identical run to run. Omit in production: the key and the port offsets then come from the CSPRNG.
   */
  seed?: number;
  /** Timeouts in seconds; missing ones keep Linux's defaults (`DEFAULT_TIMEOUTS`). */
  timeouts?: Partial<Timeouts>;
  /**
   * SNAT port (and ICMP id) range `[min, max]`, like `snat to IP:min-max`. Omitted: Linux's behaviour without a
   * range — keep the source port when free, else pick from its class: 1–511, 600–1023 or 1024–65535 (ICMP ids 0–65535).
   */
  portRange?: readonly [number, number];
  /** Slots scanned for an early-drop victim around the new key's home slot. Default 32 (≈ Linux's 8 buckets). */
  earlyDropWindow?: number;
  /** Largest burst `lookupBurst` handles in one pass (longer ones are chunked). Default 256. */
  burst?: number;
  /**
   * Spare records for connections killed during a burst, released at the next `expire()`. Default 1024. When they
   * run out before `expire()` runs, `create` refuses (counted as refused-full).
   */
  reserve?: number;
  /**
   * Accept TCP segments outside the tracked window (Linux `nf_conntrack_tcp_be_liberal`): they pass without
   * updating it (counted as tcp-window-liberal). Flag and RST rules still apply. Default false.
   */
  tcpLiberal?: boolean;
  /**
   * Pick up TCP connections from a packet other than a SYN (Linux `nf_conntrack_tcp_loose`, default true). Such
   * connections are window-checked liberally, as in Linux. False: only a SYN opens a TCP connection.
   */
  tcpLoose?: boolean;
  /**
   * At most this many live connections per host address (the original source, or the original destination with
   * `perHostSide: 1`); `create` answers CT_LIMIT beyond it (counted as refused-per-host). 0 (default): no limit.
   */
  perHostLimit?: number;
  /** Which address `perHostLimit` counts: 0 the original source (default), 1 the original destination. */
  perHostSide?: 0 | 1;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Swap the halves of a ports word: the inverse tuple's ports. */
function swapPorts(ports: number): number {
  return (ports << 16) | (ports >>> 16) | 0;
}

function isPortProto(proto: number): boolean {
  return proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_ICMP;
}

/**
 * Connection table. Results come back as numbers: `conn << 1 | dir` from lookups, a connection index or a
 * negative `CT_*` code from `create`, `UPDATE_*` and `SNAT_*` codes; per-connection fields are read with
 * accessors. Nothing on the packet path allocates.
 */
export class ConnTable {
  /** Capacity in connections (live ones; killed ones awaiting release use the reserve). */
  readonly maxConnections: number;
  /** Number of hash slots (a power of two). */
  readonly slotCount: number;
  /** Records allocated: `maxConnections + reserve`. Connection indices are below this. */
  readonly recordCount: number;
  /** Counter values, indexed like `CT_COUNTER_NAMES`. */
  readonly counters: Float64Array;
  /** True when built with a fixed seed (deterministic). */
  readonly deterministic: boolean;
  /** SNAT range when one was configured (`portRange`), else -1. */
  readonly portMin: number;
  readonly portMax: number;

  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly rec: Int32Array;
  private readonly recF: Float64Array;
  private readonly recU: Uint32Array;
  private readonly born: Float64Array;
  private readonly link: Int32Array;
  private readonly prev: Int32Array;
  private readonly bsSlots: Int32Array;
  private readonly bsMask: number;
  private readonly scratch: Int32Array;
  /** Exhaustion per (egress IP, destination, destination port | proto << 16): 4 words per slot, count in word 3. */
  private readonly exhausted: Int32Array;
  private readonly k0: number;
  private readonly k1: number;
  private readonly prng: Prng;
  private readonly tcpT: Float64Array;
  private readonly tUdp: number;
  private readonly tUdpStream: number;
  private readonly tIcmp: number;
  private readonly tGeneric: number;
  private readonly tUnack: number;
  private readonly tClose: number;
  private readonly dropWindow: number;
  private readonly rangeSpecified: boolean;
  /** TCP window state, `TW_STRIDE` words per record (tcp-window.ts). */
  private readonly tw: Int32Array;
  private readonly liberal: boolean;
  private readonly loose: boolean;
  /** Per-host limit: live connections per address (host-count.ts); null when there is no limit. */
  private readonly hosts: HostCounts | null;
  /** Word of the record holding the counted address (R_OSRC or R_ODST). */
  private readonly hostWord: number;
  /** The per-host limit, 0 for none. */
  readonly perHostLimit: number;
  /**
   * The TCP segment of the next `create`/`update` (tcp-window.ts `SEG_*`): sequence, acknowledgment, window,
   * payload length, SYN options, and `SEG_SET` = 1. The datapath fills it per TCP packet; `update` clears
   * `SEG_SET` after use. A TCP packet passed without it is tracked by flags only (tests of the state table).
   */
  readonly seg = new Int32Array(SEG_WORDS);
  /** Slots and records exceed ~2 MB: the burst lookup's separate passes pay off (cache misses overlap). */
  private readonly burstPasses: boolean;

  /** The current time in ms (`setTime`), one cell so reading it never allocates. */
  private readonly clock = new Float64Array(1);
  private live = 0;
  private entries = 0;
  private freeHead = 0;
  private pendingHead = -1;
  private cursor = 0;

  constructor(opts: ConnTableOptions = {}) {
    const max = Math.floor(opts.maxConnections ?? 65536);
    if (!(max >= 1 && max <= 1 << 26)) throw new RangeError(`conntrack: maxConnections must be 1..${1 << 26}`);
    const maxLoad = opts.maxLoad ?? 0.75;
    if (!(maxLoad > 0 && maxLoad <= 0.9)) throw new RangeError('conntrack: maxLoad must be in (0, 0.9]');
    const reserve = Math.floor(opts.reserve ?? 1024);
    if (!(reserve >= 0)) throw new RangeError('conntrack: reserve must be >= 0');
    this.maxConnections = max;
    this.recordCount = max + reserve;
    const slotCount = nextPow2(Math.ceil((2 * this.recordCount) / maxLoad));
    this.slotCount = slotCount;
    this.mask = slotCount - 1;
    this.slots = new Int32Array(2 * slotCount).fill(-1);
    const records = new ArrayBuffer(4 * STRIDE * this.recordCount);
    this.rec = new Int32Array(records);
    this.recF = new Float64Array(records);
    this.recU = new Uint32Array(records);
    this.born = new Float64Array(this.recordCount);
    this.link = new Int32Array(this.recordCount);
    this.prev = new Int32Array(this.recordCount);
    // One entry per distinct bound source at most, so the same occupancy ceiling as the main table.
    const bsCount = nextPow2(Math.ceil(this.recordCount / maxLoad));
    this.bsSlots = new Int32Array(bsCount);
    this.bsMask = bsCount - 1;
    this.scratch = new Int32Array(Math.max(1, Math.floor(opts.burst ?? 256)));
    this.exhausted = new Int32Array(4 * 1024);
    this.counters = new Float64Array(CT_COUNTER_NAMES.length);
    this.dropWindow = Math.max(1, Math.floor(opts.earlyDropWindow ?? 32));
    this.burstPasses = this.slots.byteLength + this.rec.byteLength > 2 << 20;
    this.tw = new Int32Array(TW_STRIDE * this.recordCount);
    this.liberal = opts.tcpLiberal === true;
    this.loose = opts.tcpLoose !== false;
    const lim = Math.floor(opts.perHostLimit ?? 0);
    if (!(lim >= 0 && lim <= max)) throw new RangeError(`conntrack: perHostLimit must be 0..${max}`);
    this.perHostLimit = lim;
    this.hostWord = opts.perHostSide === 1 ? R_ODST : R_OSRC;

    if (opts.seed !== undefined) {
      this.deterministic = true;
      const keys = new Prng(opts.seed ^ 0x5eed5eed);
      this.k0 = keys.i32();
      this.k1 = keys.i32();
      this.prng = new Prng(opts.seed);
    } else {
      this.deterministic = false;
      const k = new Int32Array(2);
      globalThis.crypto.getRandomValues(k);
      this.k0 = k[0]!;
      this.k1 = k[1]!;
      this.prng = new Prng(null);
    }
    this.hosts = lim > 0 ? new HostCounts(this.k0, this.k1, nextPow2(Math.ceil(this.recordCount / maxLoad))) : null;

    const t: Timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    for (const [name, v] of Object.entries(t)) {
      if (!(typeof v === 'number' && v >= 0 && Number.isFinite(v)))
        throw new RangeError(`conntrack: timeout ${name} must be >= 0 seconds`);
    }
    const ms = 1000;
    this.tcpT = Float64Array.from([
      t.tcpSynSent, // NONE (never kept: the first packet moves the state)
      t.tcpSynSent,
      t.tcpSynRecv,
      t.tcpEstablished,
      t.tcpFinWait,
      t.tcpCloseWait,
      t.tcpLastAck,
      t.tcpTimeWait,
      t.tcpClose,
      t.tcpSynSent, // SYN_SENT2 uses the SYN_SENT timeout (Linux TCP_CONNTRACK_SYN_SENT2 = 2 min)
    ]).map((s) => s * ms);
    this.tUdp = t.udp * ms;
    this.tUdpStream = t.udpStream * ms;
    this.tIcmp = t.icmp * ms;
    this.tGeneric = t.generic * ms;
    this.tUnack = t.tcpUnack * ms;
    this.tClose = t.tcpClose * ms;

    if (opts.portRange) {
      const [lo, hi] = opts.portRange;
      if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi <= 65535 && lo <= hi)) {
        throw new RangeError('conntrack: portRange must be [min, max] with 0 <= min <= max <= 65535');
      }
      this.rangeSpecified = true;
      this.portMin = lo;
      this.portMax = hi;
    } else {
      this.rangeSpecified = false;
      this.portMin = -1;
      this.portMax = -1;
    }
    this.resetRecords();
  }

  private resetRecords(): void {
    const n = this.recordCount;
    for (let i = 0; i < n; i++) this.link[i] = i + 1 < n ? i + 1 : -1;
    this.freeHead = n > 0 ? 0 : -1;
    this.pendingHead = -1;
    this.cursor = 0;
    this.live = 0;
    this.entries = 0;
  }

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

  // ---- hashing and the slot array -------------------------------------------------------------------------

  /** Seeded hash of a tuple; the direction is not part of it, so one packet needs one hash whichever entry it hits. */
  hash(src: number, dst: number, ports: number, proto: number): number {
    return hsip4(this.k0, this.k1, src, dst, ports, proto);
  }

  private hashDir(c: number, dir: number): number {
    const rec = this.rec;
    const r = c * STRIDE + dir * 3;
    return hsip4(this.k0, this.k1, rec[r]!, rec[r + 1]!, rec[r + 2]!, rec[c * STRIDE + R_META]! & 0xff);
  }

  /** Probe for a tuple whose hash is known: `conn << 1 | dir` or -1. */
  private probe(h: number, src: number, dst: number, ports: number, proto: number): number {
    const slots = this.slots;
    const rec = this.rec;
    const mask = this.mask;
    let i = h & mask;
    for (;;) {
      const v = slots[(i << 1) | 1]!;
      if (v < 0) return -1;
      if (slots[i << 1] === h) {
        const c = v >> 1;
        const r = c * STRIDE + (v & 1) * 3;
        if (
          rec[r] === src &&
          rec[r + 1] === dst &&
          rec[r + 2] === ports &&
          (rec[c * STRIDE + R_META]! & 0xff) === proto
        ) {
          return v;
        }
      }
      i = (i + 1) & mask;
    }
  }

  private insertEntry(h: number, v: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    while (slots[(i << 1) | 1]! >= 0) i = (i + 1) & mask;
    slots[i << 1] = h;
    slots[(i << 1) | 1] = v;
    this.entries++;
  }

  /** Remove entry `v` whose hash is `h`, shifting the rest of its probe run back (no tombstones). */
  private removeEntry(h: number, v: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    for (;;) {
      const x = slots[(i << 1) | 1]!;
      if (x === v) break;
      if (x < 0) return; // not present (cannot happen for a consistent table)
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const vj = slots[(j << 1) | 1]!;
      if (vj < 0) break;
      const hj = slots[j << 1]!;
      // The entry at j may fill the hole at i unless its home slot lies cyclically in (i, j].
      if (((j - (hj & mask)) & mask) >= ((j - i) & mask)) {
        slots[i << 1] = hj;
        slots[(i << 1) | 1] = vj;
        i = j;
      }
    }
    slots[i << 1] = 0;
    slots[(i << 1) | 1] = -1;
    this.entries--;
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
   * Look up a burst of keys in one pass (STYLE practice 11): all hashes and home-slot loads first, then the records,
   * then the rest, so the cache misses of different keys overlap (tables larger than ~2 MB; a cache-resident table
   * is probed key by key). `out[i]` gets `conn << 1 | dir` or -1. Returns the number of hits.
   */
  lookupBurst(
    src: Int32Array,
    dst: Int32Array,
    ports: Int32Array,
    proto: Uint8Array,
    n: number,
    out: Int32Array,
  ): number {
    const hs = this.scratch;
    const k0 = this.k0;
    const k1 = this.k1;
    const slots = this.slots;
    const rec = this.rec;
    const mask = this.mask;
    let hits = 0;
    if (!this.burstPasses) {
      // Cache-resident table: nothing to overlap, the plain loop is faster.
      for (let j = 0; j < n; j++) {
        const v = this.probe(
          hsip4(k0, k1, src[j]!, dst[j]!, ports[j]!, proto[j]!),
          src[j]!,
          dst[j]!,
          ports[j]!,
          proto[j]!,
        );
        out[j] = v;
        if (v >= 0) hits++;
      }
      return hits;
    }
    for (let base = 0; base < n; base += hs.length) {
      const m = Math.min(hs.length, n - base);
      // Pass 1: hash every key and load its home slot. The loads are independent, so their cache misses overlap.
      for (let i = 0; i < m; i++) {
        const j = base + i;
        const h = hsip4(k0, k1, src[j]!, dst[j]!, ports[j]!, proto[j]!);
        hs[i] = h;
        out[j] = slots[((h & mask) << 1) | 1]!;
      }
      // Pass 2: resolve keys found in their home slot (most hits at this load). The record loads of successive
      // keys are again independent; keys that need a longer probe are left for pass 3.
      for (let i = 0; i < m; i++) {
        const j = base + i;
        const v = out[j]!;
        if (v < 0) continue;
        const h = hs[i]!;
        if (slots[(h & mask) << 1] === h) {
          const c = v >> 1;
          const r = c * STRIDE + (v & 1) * 3;
          if (
            rec[r] === src[j] &&
            rec[r + 1] === dst[j] &&
            rec[r + 2] === ports[j] &&
            (rec[c * STRIDE + R_META]! & 0xff) === proto[j]
          ) {
            hits++;
            continue;
          }
        }
        out[j] = -2;
      }
      // Pass 3: full probe for the rest.
      for (let i = 0; i < m; i++) {
        const j = base + i;
        if (out[j] !== -2) continue;
        const v = this.probe(hs[i]!, src[j]!, dst[j]!, ports[j]!, proto[j]!);
        out[j] = v;
        if (v >= 0) hits++;
      }
    }
    return hits;
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
    rec[r + R_META] = (proto & 0xff) | F_ALLOC;
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
    this.insertEntry(h, c << 1);
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
      const h = this.hashDir(c, 1);
      if (!this.tupleFree(h, rec[b + R_RSRC]!, rec[b + R_RDST]!, rec[b + R_RPORTS]!, m & 0xff, c)) {
        this.counters[K_CONFIRM_CLASH]!++;
        this.kill(c);
        return false;
      }
      this.insertEntry(h, (c << 1) | 1);
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

  /** Take a connection out of the slot array and the by-source index; release its record at the next expire(). */
  private kill(c: number): void {
    const m = this.unlink(c);
    if (m === 0) return;
    this.rec[c * STRIDE + R_META] = m | F_DYING;
    this.link[c] = this.pendingHead;
    this.pendingHead = c;
  }

  /** Remove the entries of a live record; returns its meta word without the index flags (0 if not live). */
  private unlink(c: number): number {
    const m = this.rec[c * STRIDE + R_META]!;
    if ((m & (F_ALLOC | F_DYING)) !== F_ALLOC) return 0;
    this.removeEntry(this.hashDir(c, 0), c << 1);
    if (m & F_REPLY_IN) this.removeEntry(this.hashDir(c, 1), (c << 1) | 1);
    if (m & F_BYSRC) this.bsUnlink(c);
    if (this.hosts !== null) this.hosts.add(this.rec[c * STRIDE + this.hostWord]!, -1);
    this.live--;
    return m & ~(F_REPLY_IN | F_BYSRC);
  }

  private release(c: number): void {
    this.rec[c * STRIDE + R_META] = 0;
    this.link[c] = this.freeHead;
    this.freeHead = c;
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
    const proto = m & 0xff;
    let timeout: number;
    if (proto === PROTO_TCP) return this.tcpPacket(c, dir, flags, len);
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

  /**
   * Linux `nf_conntrack_tcp_packet`: the flag check, the transition table, the RST rules and the sequence/window
   * check (tcp-window.ts) when the caller described the segment in `seg`; by flags alone otherwise.
   */
  private tcpPacket(c: number, dir: number, flags: number, len: number): number {
    const rec = this.rec;
    const seg = this.seg;
    const tracked = seg[SEG_SET] === 1;
    seg[SEG_SET] = 0;
    const r = c * STRIDE + R_META;
    let m = rec[r]!;
    if (!tcpValidFlags(flags)) {
      this.counters[K_TCP_INVALID_FLAGS]!++;
      this.counters[K_UPDATE_INVALID]!++;
      return UPDATE_INVALID;
    }
    let old = (m >> 8) & 0xf;
    const idx = tcpFlagClass(flags);
    let nw = TCP_TRANSITIONS[dir * 60 + idx * 10 + old]!;
    const lastDir = (m >> 23) & 1;
    const lastIdx = (m >> M_LAST_SHIFT) & 7;
    if (nw === TCP_SYN_SENT && old >= TCP_TIME_WAIT) {
      // SYN on TIME_WAIT/CLOSE: reopen when the old connection was closed (FIN seen) or aborted by an RST from
      // the same side; otherwise ignore it.
      if ((m & F_CLOSE_INIT) !== 0 || (lastDir === dir && lastIdx === TCP_RST_SET)) {
        this.kill(c);
        this.counters[K_TCP_REOPEN]!++;
        this.counters[K_RECREATE]!++;
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
        seg[SEG_ACK] === twLastEnd(this.tw, c)
      ) {
        // This SYN/ACK acknowledges a SYN we ignored: both ends are in sync and we are not. Start over from the
        // ignored SYN (Linux: "We get in sync from the previously annotated values").
        twResync(this.tw, c, dir);
        old = TCP_SYN_SENT;
        nw = TCP_SYN_RECV;
        this.counters[K_TCP_RESYNC]!++;
      } else {
        if (tracked) twNoteIgnored(this.tw, c, flags, seg);
        m = (m & ~(F_LAST_DIR | M_LAST)) | (dir << 23) | (idx << M_LAST_SHIFT);
        if (dir === DIR_REPLY) m |= F_SEEN_REPLY;
        rec[r] = m;
        this.counters[K_UPDATE_IGNORED]!++;
        return UPDATE_IGNORE;
      }
    }
    if (nw === TCP_INVALID) {
      this.counters[K_UPDATE_INVALID]!++;
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
          this.tw,
          c,
          dir,
          seg,
          old === TCP_ESTABLISHED && (m & F_ASSURED) !== 0,
          lastIdx === TCP_SYN_SET,
          lastIdx === TCP_ACK_SET && lastDir === dir,
        );
        if (v === RST_INVALID) {
          this.counters[K_TCP_RST_INVALID]!++;
          this.counters[K_UPDATE_INVALID]!++;
          return UPDATE_INVALID;
        }
        if (v === RST_KEEP) {
          // In the window but not exact: the endpoint answers with a challenge ACK (RFC 5961 §3.2); keep the state.
          nw = old;
          keep = true;
        }
      }
      const w = tcpInWindow(this.tw, c, dir, flags, old, seg, this.liberal);
      if (w === TW_INVALID) {
        this.counters[K_TCP_OUT_OF_WINDOW]!++;
        this.counters[K_UPDATE_INVALID]!++;
        return UPDATE_INVALID;
      }
      if (w === TW_IGNORE) {
        this.counters[K_UPDATE_IGNORED]!++;
        return UPDATE_IGNORE;
      }
      if (w === TW_LIBERAL) this.counters[K_TCP_WINDOW_LIBERAL]!++;
      if (keep) this.counters[K_TCP_RST_IN_WINDOW]!++;
    }
    m = (m & ~(F_LAST_DIR | M_LAST | M_STATE)) | (dir << 23) | (idx << M_LAST_SHIFT) | (nw << 8);
    if (old !== nw && nw === TCP_FIN_WAIT) m |= F_CLOSE_INIT;
    let timeout = idx === TCP_RST_SET && nw === TCP_CLOSE ? this.tClose : this.tcpT[nw]!;
    if ((m & F_SEEN_REPLY) === 0) {
      if (idx === TCP_RST_SET && nw === TCP_CLOSE) {
        // "If only reply is a RST, we can consider ourselves not to have an established connection" (Linux):
        // the connection goes now; the packet passes and its record stays readable until expire().
        rec[r] = m;
        this.recF[c * FSTRIDE + F_BYTES + dir] += len;
        rec[c * STRIDE + R_PKTS + dir]++;
        this.kill(c);
        this.counters[K_KILLED]!++;
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
      if (nw === TCP_ESTABLISHED && timeout > this.tUnack) timeout = this.tUnack;
    } else if ((m & F_ASSURED) === 0 && (old === TCP_SYN_RECV || old === TCP_ESTABLISHED) && nw === TCP_ESTABLISHED) {
      m |= F_ASSURED;
    }
    if (dir === DIR_REPLY) m |= F_SEEN_REPLY;
    rec[r] = m;
    const f = c * FSTRIDE;
    this.recF[f + F_EXPIRY] = this.clock[0]! + timeout;
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
    natIp |= 0;
    const rec = this.rec;
    const b = c * STRIDE;
    const m = rec[b + R_META]!;
    const C = this.counters;
    if ((m & (F_ALLOC | F_DYING | F_CONFIRMED | F_NAT_DONE)) !== F_ALLOC) {
      C[K_SNAT_INVALID]!++;
      return SNAT_INVALID;
    }
    const proto = m & 0xff;
    const src = rec[b + R_OSRC]!;
    const sport = rec[b + R_OPORTS]! >>> 16;
    if (!isPortProto(proto)) {
      // No port to change (Linux leaves such tuples alone): bind the address if that reply tuple is free.
      if (this.tryBind(c, natIp, 0)) {
        C[K_SNAT_PRESERVED]!++;
        return SNAT_OK;
      }
      return this.exhaust(c, natIp);
    }
    if ((mode & SNAT_RANDOM_FULLY) === 0) {
      if (src === natIp && this.inRange(sport)) {
        // Already inside the range: no translation if the tuple is unique.
        if (this.tryBind(c, natIp, sport)) {
          C[K_SNAT_PRESERVED]!++;
          return SNAT_OK;
        }
      } else {
        const p = this.bsMapping(src, sport, proto, natIp);
        if (p >= 0 && this.tryBind(c, natIp, p)) {
          C[p === sport ? K_SNAT_PRESERVED : K_SNAT_SOURCE_MAPPED]!++;
          return SNAT_OK;
        }
      }
      if (this.inRange(sport) && this.tryBind(c, natIp, sport)) {
        C[K_SNAT_PRESERVED]!++;
        return SNAT_OK;
      }
    }
    let min: number;
    let size: number;
    if (this.rangeSpecified) {
      min = this.portMin;
      size = this.portMax - this.portMin + 1;
    } else if (proto === PROTO_ICMP) {
      min = 0;
      size = 65536;
    } else if (sport < 512) {
      min = 1;
      size = 511;
    } else if (sport < 1024) {
      min = 600;
      size = 424;
    } else {
      min = 1024;
      size = 64512;
    }
    // Linux: `u16 off = get_random_u16()`, candidate `min + off % range_size`, `off++` (16-bit wrap).
    let off = this.prng.u16();
    let attempts = size < 128 ? size : 128;
    for (;;) {
      for (let i = 0; i < attempts; i++) {
        const port = min + (off % size);
        off = (off + 1) & 0xffff;
        if (this.tryBind(c, natIp, port)) {
          C[port === sport ? K_SNAT_PRESERVED : K_SNAT_REMAPPED]!++;
          return SNAT_OK;
        }
      }
      if (attempts >= size || attempts < 16) break;
      attempts >>= 1;
      off = this.prng.u16();
    }
    return this.exhaust(c, natIp);
  }

  private inRange(port: number): boolean {
    return !this.rangeSpecified || (port >= this.portMin && port <= this.portMax);
  }

  /** Reply tuple free? A timed-out holder is reaped on the way (Linux `nf_conntrack_tuple_taken` gc). */
  private tupleFree(h: number, src: number, dst: number, ports: number, proto: number, self: number): boolean {
    for (;;) {
      const v = this.probe(h, src, dst, ports, proto);
      if (v < 0) return true;
      const o = v >> 1;
      if (o === self) return false;
      const om = this.rec[o * STRIDE + R_META]!;
      if ((om & F_CONFIRMED) !== 0 && this.recF[o * FSTRIDE + F_EXPIRY]! <= this.clock[0]!) {
        this.kill(o);
        this.counters[K_EXPIRED]!++;
        continue;
      }
      return false;
    }
  }

  /** Try reply tuple (orig dst, natIp, orig dport, port); on success write it, reserve it and index the source. */
  private tryBind(c: number, natIp: number, port: number): boolean {
    const rec = this.rec;
    const b = c * STRIDE;
    const m = rec[b + R_META]!;
    const proto = m & 0xff;
    const rsrc = rec[b + R_ODST]!;
    const oports = rec[b + R_OPORTS]!;
    let rports: number;
    if (proto === PROTO_ICMP) rports = (port << 16) | port | 0;
    else if (proto === PROTO_TCP || proto === PROTO_UDP) rports = (oports << 16) | port | 0;
    else rports = swapPorts(oports);
    const h = hsip4(this.k0, this.k1, rsrc, natIp, rports, proto);
    this.counters[K_SNAT_PROBES]!++;
    if (!this.tupleFree(h, rsrc, natIp, rports, proto, c)) return false;
    rec[b + R_RSRC] = rsrc;
    rec[b + R_RDST] = natIp;
    rec[b + R_RPORTS] = rports;
    this.insertEntry(h, (c << 1) | 1);
    let nm = m | F_NAT_DONE | F_REPLY_IN;
    if (natIp !== rec[b + R_OSRC] || rports !== swapPorts(oports)) nm |= F_SNAT;
    rec[b + R_META] = nm;
    if (isPortProto(proto)) this.bsLink(c);
    return true;
  }

  private exhaust(c: number, natIp: number): number {
    this.counters[K_SNAT_EXHAUSTED]!++;
    const rec = this.rec;
    const b = c * STRIDE;
    const dst = rec[b + R_ODST]!;
    const proto = rec[b + R_META]! & 0xff;
    // ICMP has no destination port: its ids are per (egress IP, destination).
    const key2 = (proto << 16) | (proto === PROTO_ICMP ? 0 : rec[b + R_OPORTS]! & 0xffff);
    const ex = this.exhausted;
    const n = ex.length >> 2;
    let i = hsip4(this.k0, this.k1, natIp, dst, key2, 0x65786821) & (n - 1);
    for (let k = 0; k < n; k++, i = (i + 1) & (n - 1)) {
      const o = i << 2;
      if (ex[o + 3] === 0) {
        ex[o] = natIp;
        ex[o + 1] = dst;
        ex[o + 2] = key2;
        ex[o + 3] = 1;
        break;
      }
      if (ex[o] === natIp && ex[o + 1] === dst && ex[o + 2] === key2) {
        ex[o + 3] = ex[o + 3]! + 1;
        break;
      }
    }
    return SNAT_EXHAUSTED;
  }

  // ---- by-source index (Linux nf_nat_bysource) ------------------------------------------------------------

  private bsHash(src: number, sport: number, proto: number): number {
    return hsip4(this.k0 ^ 0x62737263, this.k1, src, sport, proto, 0x6e617420);
  }

  private bsHashOf(c: number): number {
    const r = c * STRIDE;
    return this.bsHash(this.rec[r + R_OSRC]!, this.rec[r + R_OPORTS]! >>> 16, this.rec[r + R_META]! & 0xff);
  }

  /** Newest bound connection with this original (source, source port, proto), or -1. */
  private bsHead(src: number, sport: number, proto: number): number {
    const bs = this.bsSlots;
    const rec = this.rec;
    const mask = this.bsMask;
    let i = this.bsHash(src, sport, proto) & mask;
    for (;;) {
      const e = bs[i]!;
      if (e === 0) return -1;
      const r = (e - 1) * STRIDE;
      if (rec[r + R_OSRC] === src && rec[r + R_OPORTS]! >>> 16 === sport && (rec[r + R_META]! & 0xff) === proto)
        return e - 1;
      i = (i + 1) & mask;
    }
  }

  /** Port of the newest binding of this source to `natIp` that lies in the range, or -1 (`find_appropriate_src`). */
  private bsMapping(src: number, sport: number, proto: number, natIp: number): number {
    const rec = this.rec;
    for (let x = this.bsHead(src, sport, proto); x >= 0; x = this.link[x]!) {
      const r = x * STRIDE;
      if (rec[r + R_RDST] === natIp) {
        const p = rec[r + R_RPORTS]! & 0xffff;
        if (this.inRange(p)) return p;
      }
    }
    return -1;
  }

  private bsLink(c: number): void {
    const bs = this.bsSlots;
    const rec = this.rec;
    const mask = this.bsMask;
    const r = c * STRIDE;
    const src = rec[r + R_OSRC]!;
    const sport = rec[r + R_OPORTS]! >>> 16;
    const proto = rec[r + R_META]! & 0xff;
    let i = this.bsHash(src, sport, proto) & mask;
    this.prev[c] = -1;
    for (;;) {
      const e = bs[i]!;
      if (e === 0) {
        bs[i] = c + 1;
        this.link[c] = -1;
        break;
      }
      const q = (e - 1) * STRIDE;
      if (rec[q + R_OSRC] === src && rec[q + R_OPORTS]! >>> 16 === sport && (rec[q + R_META]! & 0xff) === proto) {
        bs[i] = c + 1; // newest first, like hlist_add_head
        this.link[c] = e - 1;
        this.prev[e - 1] = c;
        break;
      }
      i = (i + 1) & mask;
    }
    rec[r + R_META] = rec[r + R_META]! | F_BYSRC;
  }

  private bsUnlink(c: number): void {
    const p = this.prev[c]!;
    const n = this.link[c]!;
    if (p >= 0) {
      this.link[p] = n;
      if (n >= 0) this.prev[n] = p;
      return;
    }
    const bs = this.bsSlots;
    const mask = this.bsMask;
    let i = this.bsHashOf(c) & mask;
    while (bs[i] !== c + 1) {
      if (bs[i] === 0) return; // not indexed (cannot happen for a consistent table)
      i = (i + 1) & mask;
    }
    if (n >= 0) {
      bs[i] = n + 1;
      this.prev[n] = -1;
      return;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = bs[j]!;
      if (e === 0) break;
      if (((j - (this.bsHashOf(e - 1) & mask)) & mask) >= ((j - i) & mask)) {
        bs[i] = e;
        i = j;
      }
    }
    bs[i] = 0;
  }

  // ---- per-connection fields ------------------------------------------------------------------------------

  /** IP protocol number. */
  proto(c: number): number {
    return this.rec[c * STRIDE + R_META]! & 0xff;
  }
  /** TCP state (`TCP_*` of proto.ts); 0 for other protocols. */
  state(c: number): number {
    return (this.rec[c * STRIDE + R_META]! >> 8) & 0xf;
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
    const out: Array<[number, number, number, number, number]> = [];
    const ex = this.exhausted;
    for (let o = 0; o < ex.length; o += 4) {
      if (ex[o + 3] !== 0) out.push([ex[o]!, ex[o + 1]!, ex[o + 2]! & 0xffff, (ex[o + 2]! >>> 16) & 0xff, ex[o + 3]!]);
    }
    return out;
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
      const h = this.hashDir(c, dir);
      if (slots[i << 1] !== h) return `slot ${i}: stored hash differs from record ${c}/${dir}`;
      // reachable from its home slot without crossing an empty slot
      for (let j = h & this.mask; j !== i; j = (j + 1) & this.mask) {
        if (slots[(j << 1) | 1]! < 0) return `slot ${i}: unreachable from home ${h & this.mask}`;
      }
      if (seen.has(v)) return `entry ${c}/${dir} twice`;
      seen.set(v, i);
      const r = c * STRIDE + dir * 3;
      const hit = this.probe(h, rec[r]!, rec[r + 1]!, rec[r + 2]!, rec[c * STRIDE + R_META]! & 0xff);
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
        let x = this.bsHead(rec[c * STRIDE + R_OSRC]!, rec[c * STRIDE + R_OPORTS]! >>> 16, m & 0xff);
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
    if (this.probe(h0, src, dst, ports, proto) >= 0 || !this.tupleFree(h1, dst, natIp, rports, proto, -1))
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
    this.insertEntry(h0, c << 1);
    this.insertEntry(h1, (c << 1) | 1);
    if (isPortProto(proto)) this.bsLink(c);
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
