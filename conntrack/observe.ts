/**
 * Observability of a connection table (cold paths; these allocate): `dump` as plain objects for JSON,
 * `formatConntrack` as `conntrack -L` text (libnetfilter_conntrack's default format, with accounting on), and
 * `snatUsage`, how close each egress IP and each destination is to SNAT port exhaustion. `dump` and `snatUsage`
 * walk the whole table in one call; `TableSurvey` gives both (a bounded sample of entries) from a walk cut into
 * bounded slices, for a running agent whose event loop must never stall (issue 11).
 */
import {
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  PROTO_ICMP,
  PROTO_TCP,
  PROTO_UDP,
  TCP_STATE_NAMES,
  protoName,
} from './proto.js';
import type { ConnTable } from './table.js';

/** Dotted quad of an int32 IPv4 address. */
export function formatAddr(a: number): string {
  return `${(a >>> 24) & 0xff}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** Int32 of a dotted quad (throws on anything else; configuration and tests only). */
export function parseAddr(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) throw new RangeError(`not an IPv4 address: ${s}`);
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) throw new RangeError(`not an IPv4 address: ${s}`);
  return (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]! | 0;
}

/** One direction of a connection. For ICMP, `sport`/`dport` are absent and `type`/`code`/`id` present. */
export interface TupleDump {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  type?: number;
  code?: number;
  id?: number;
  packets: number;
  bytes: number;
}

/** One connection, as `dump` returns it (JSON-ready). */
export interface ConnDump {
  /** Connection index in the table. */
  id: number;
  proto: string;
  protoNum: number;
  /** TCP state name; null for other protocols. */
  state: string | null;
  /** Seconds until it times out (floor, as `conntrack -L`). */
  timeout: number;
  orig: TupleDump;
  reply: TupleDump;
  /** SNAT binding when packets are translated: the egress address and port (ICMP: id). */
  nat: { ip: string; port: number } | null;
  unreplied: boolean;
  assured: boolean;
  mark: number;
}

function tupleDump(t: ConnTable, c: number, dir: number, proto: number): TupleDump {
  const src = dir === 0 ? t.origSrc(c) : t.replySrc(c);
  const dst = dir === 0 ? t.origDst(c) : t.replyDst(c);
  const sport = dir === 0 ? t.origSport(c) : t.replySport(c);
  const dport = dir === 0 ? t.origDport(c) : t.replyDport(c);
  const base = { src: formatAddr(src), dst: formatAddr(dst) };
  const acct = { packets: t.packets(c, dir), bytes: t.bytes(c, dir) };
  if (proto === PROTO_ICMP) {
    return { ...base, type: dir === 0 ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY, code: 0, id: sport, ...acct };
  }
  if (proto === PROTO_TCP || proto === PROTO_UDP) return { ...base, sport, dport, ...acct };
  return { ...base, ...acct };
}

function dumpOne(t: ConnTable, c: number, now: number): ConnDump {
  const proto = t.proto(c);
  return {
    id: c,
    proto: protoName(proto),
    protoNum: proto,
    state: proto === PROTO_TCP ? TCP_STATE_NAMES[t.state(c)]! : null,
    timeout: Math.max(0, Math.floor((t.expiresAt(c) - now) / 1000)),
    orig: tupleDump(t, c, 0, proto),
    reply: tupleDump(t, c, 1, proto),
    nat: t.isSnat(c) ? { ip: formatAddr(t.natIp(c)), port: t.natPort(c) } : null,
    unreplied: !t.seenReply(c),
    assured: t.isAssured(c),
    mark: t.mark(c) >>> 0,
  };
}

/**
 * Confirmed live connections as plain objects, in table order. `now` in ms, as everywhere. One walk of the whole
 * table (≈ 15 µs per connection): on a running agent use TableSurvey.
 */
export function dump(t: ConnTable, now: number = t.time): ConnDump[] {
  const out: ConnDump[] = [];
  for (let c = 0; c < t.recordCount; c++) if (t.isLive(c) && t.isConfirmed(c)) out.push(dumpOne(t, c, now));
  return out;
}

/** The connections `ids` (indices of live entries, e.g. a selection made with the table's accessors), as `dump`. */
export function dumpSome(t: ConnTable, ids: ArrayLike<number>, now: number = t.time): ConnDump[] {
  const out: ConnDump[] = [];
  for (let k = 0; k < ids.length; k++) out.push(dumpOne(t, ids[k]!, now));
  return out;
}

function tupleText(x: TupleDump): string {
  const l4 =
    x.id !== undefined
      ? `type=${x.type} code=${x.code} id=${x.id} `
      : x.sport !== undefined
        ? `sport=${x.sport} dport=${x.dport} `
        : '';
  return `src=${x.src} dst=${x.dst} ${l4}packets=${x.packets} bytes=${x.bytes} `;
}

/**
 * `conntrack -L` lines (libnetfilter_conntrack `__snprintf_conntrack_default`, accounting enabled):
 * `tcp      6 431999 ESTABLISHED src=… dst=… sport=… dport=… packets=… bytes=… [UNREPLIED] src=… … [ASSURED] mark=0 use=1`.
 */
export function formatConntrack(entries: readonly ConnDump[]): string {
  return entries
    .map((e) => {
      let s = `${e.proto.padEnd(8)} ${e.protoNum} ${e.timeout} `;
      if (e.state !== null) s += `${e.state} `;
      s += tupleText(e.orig);
      if (e.unreplied) s += '[UNREPLIED] ';
      s += tupleText(e.reply);
      if (e.assured) s += '[ASSURED] ';
      s += `mark=${e.mark} use=1`;
      return s;
    })
    .join('\n');
}

/** SNAT usage toward one (destination, port, protocol) from one egress IP. */
export interface DestinationUsage {
  dst: string;
  /** Destination port; 0 for ICMP (ids are shared per destination). */
  dport: number;
  proto: string;
  /** Connections bound (each holds one egress port toward this destination). */
  used: number;
  /** Ports a connection may get here: the configured range, or 64512 (1024–65535; ICMP ids 65536). */
  rangeSize: number;
  /** used / rangeSize. */
  fullness: number;
  /** SNAT refusals counted for this destination (exhaustion). */
  exhausted: number;
}

/** SNAT usage of one egress IP. */
export interface EgressIpUsage {
  natIp: string;
  /** Translated connections per protocol name. */
  connections: Record<string, number>;
  /** Distinct egress ports in use per protocol name (across destinations). */
  distinctPorts: Record<string, number>;
  /** The fullest destination's fullness. */
  maxFullness: number;
  /** Per destination, fullest first. */
  destinations: DestinationUsage[];
}

/** One (destination, port, protocol) while accumulating: its counts and when it was first met. */
interface DestAcc {
  dst: number;
  dport: number;
  proto: number;
  used: number;
  exhausted: number;
  seq: number;
}

/** One egress IP while accumulating; numbers only (no string keys per connection). */
interface IpAcc {
  natIp: number;
  /** Connections per protocol number, in first-seen order. */
  connections: Map<number, number>;
  /** Egress ports in use per protocol: a 65 536-bit map and its population. */
  ports: Map<number, { bits: Uint8Array; n: number }>;
  /** Destinations: by address, then by `dport << 8 | proto`. */
  dests: Map<number, Map<number, DestAcc>>;
}

/**
 * `snatUsage` built one connection at a time, so a walk over the table can be cut into slices (TableSurvey).
 * Per connection it costs a few map lookups on numbers and one bit set: no strings, no per-connection objects.
 */
export class SnatAccumulator {
  private readonly byIp = new Map<number, IpAcc>();
  private seq = 0;

  private acc(ip: number): IpAcc {
    let a = this.byIp.get(ip);
    if (!a) {
      a = { natIp: ip, connections: new Map(), ports: new Map(), dests: new Map() };
      this.byIp.set(ip, a);
    }
    return a;
  }

  private dest(a: IpAcc, dst: number, dport: number, proto: number): DestAcc {
    let m = a.dests.get(dst);
    if (!m) a.dests.set(dst, (m = new Map()));
    const k = (dport << 8) | proto;
    let d = m.get(k);
    if (!d) m.set(k, (d = { dst, dport, proto, used: 0, exhausted: 0, seq: this.seq++ }));
    return d;
  }

  /** Count connection `c` of `t` when it is live and translated. */
  add(t: ConnTable, c: number): void {
    if (t.isLive(c)) this.addLive(t, c);
  }

  /** `add` for a connection known to be live. */
  addLive(t: ConnTable, c: number): void {
    if (!t.isSnat(c)) return;
    const proto = t.proto(c);
    const a = this.acc(t.natIp(c));
    a.connections.set(proto, (a.connections.get(proto) ?? 0) + 1);
    let ps = a.ports.get(proto);
    if (!ps) a.ports.set(proto, (ps = { bits: new Uint8Array(8192), n: 0 }));
    const port = t.natPort(c);
    const bit = 1 << (port & 7);
    if ((ps.bits[port >> 3]! & bit) === 0) {
      ps.bits[port >> 3]! |= bit;
      ps.n++;
    }
    this.dest(a, t.origDst(c), proto === PROTO_ICMP ? 0 : t.origDport(c), proto).used++;
  }

  /** The usage of everything added, with the table's exhaustion records (bounded: 1 024 slots). */
  finish(t: ConnTable): EgressIpUsage[] {
    const rangeFor = (proto: number): number =>
      t.portMin >= 0 ? t.portMax - t.portMin + 1 : proto === PROTO_ICMP ? 65536 : 64512;
    for (const [ip, dst, dport, proto, n] of t.exhaustion()) this.dest(this.acc(ip), dst, dport, proto).exhausted += n;
    const out: EgressIpUsage[] = [];
    for (const a of this.byIp.values()) {
      const all: DestAcc[] = [];
      for (const m of a.dests.values()) for (const d of m.values()) all.push(d);
      all.sort((x, y) => x.seq - y.seq);
      const destinations: DestinationUsage[] = all.map((d) => {
        const rangeSize = rangeFor(d.proto);
        return {
          dst: formatAddr(d.dst),
          dport: d.dport,
          proto: protoName(d.proto),
          used: d.used,
          rangeSize,
          fullness: d.used / rangeSize,
          exhausted: d.exhausted,
        };
      });
      destinations.sort((x, y) => y.fullness - x.fullness || y.exhausted - x.exhausted);
      out.push({
        natIp: formatAddr(a.natIp),
        connections: Object.fromEntries([...a.connections].map(([p, n]) => [protoName(p), n])),
        distinctPorts: Object.fromEntries([...a.ports].map(([p, v]) => [protoName(p), v.n])),
        maxFullness: destinations.length ? destinations[0]!.fullness : 0,
        destinations,
      });
    }
    out.sort((x, y) => y.maxFullness - x.maxFullness);
    return out;
  }
}

/**
 * Per egress IP: connections and ports in use, and per (destination, port, protocol) how much of the port range
 * is taken — the figure that tells how close a destination is to exhaustion (a port is unique per destination,
 * so exhaustion is per destination, not per egress IP). Egress IPs and destinations sorted fullest first.
 * One walk of the whole table: on a running agent use TableSurvey, which cuts it into slices.
 */
export function snatUsage(t: ConnTable): EgressIpUsage[] {
  const acc = new SnatAccumulator();
  for (let c = 0; c < t.recordCount; c++) acc.add(t, c);
  return acc.finish(t);
}

/** What one finished pass of a TableSurvey saw. */
export interface SurveyPass {
  /** The first `sample` confirmed connections met, in table order (`dump`'s objects). */
  entries: ConnDump[];
  /** Confirmed live connections met in the pass. */
  confirmed: number;
  /** SNAT usage of the connections met (snatUsage's result). */
  snat: EgressIpUsage[];
  /** Slices the pass took. */
  slices: number;
}

export interface SurveyOptions {
  /** Connections kept as objects per pass (default 256). */
  sample?: number;
  /** Records visited per slice at most (default 8192: a few µs of work for free records). */
  sliceRecords?: number;
  /** Live connections accounted per slice at most (default 1024). */
  sliceLive?: number;
  /** Connections turned into objects per slice at most (default 32). */
  sliceDumps?: number;
}

/**
 * A walk over a table cut into bounded slices: `step` visits at most `sliceRecords` records, accounts at most
 * `sliceLive` live connections and builds at most `sliceDumps` objects, then returns; the caller runs the next
 * slice later (between datapath rounds), so no call holds the event loop for a whole table (issue 11). A pass
 * is not an atomic snapshot: a connection created or removed behind the cursor during the pass is missed or
 * counted as it was, like `conntrack -L` on a busy kernel table.
 */
export class TableSurvey {
  readonly sample: number;
  readonly sliceRecords: number;
  readonly sliceLive: number;
  readonly sliceDumps: number;
  /** The last finished pass, or null before the first one ends. */
  last: SurveyPass | null = null;
  /** Passes finished. */
  passes = 0;
  private cursor = -1;
  private acc = new SnatAccumulator();
  private entries: ConnDump[] = [];
  private confirmed = 0;
  private slices = 0;

  constructor(
    readonly table: ConnTable,
    o: SurveyOptions = {},
  ) {
    this.sample = o.sample ?? 256;
    this.sliceRecords = Math.max(1, o.sliceRecords ?? 8192);
    this.sliceLive = Math.max(1, o.sliceLive ?? 1024);
    this.sliceDumps = Math.max(1, o.sliceDumps ?? 32);
  }

  /** Whether a pass is under way. */
  get running(): boolean {
    return this.cursor >= 0;
  }

  /** Begin a pass (no-op while one runs). */
  start(): void {
    if (this.cursor >= 0) return;
    this.cursor = 0;
    this.acc = new SnatAccumulator();
    this.entries = [];
    this.confirmed = 0;
    this.slices = 0;
  }

  /** One slice of the running pass (`now` in ms for the timeouts); true when this slice ended the pass. */
  step(now: number): boolean {
    if (this.cursor < 0) return false;
    const t = this.table;
    const end = Math.min(t.recordCount, this.cursor + this.sliceRecords);
    let live = 0;
    let dumps = 0;
    let c = this.cursor;
    for (; c < end && live < this.sliceLive && dumps < this.sliceDumps; c++) {
      if (!t.isLive(c)) continue;
      live++;
      this.acc.addLive(t, c);
      if (!t.isConfirmed(c)) continue;
      this.confirmed++;
      if (this.entries.length < this.sample) {
        this.entries.push(dumpOne(t, c, now));
        dumps++;
      }
    }
    this.slices++;
    if (c < t.recordCount) {
      this.cursor = c;
      return false;
    }
    this.last = {
      entries: this.entries,
      confirmed: this.confirmed,
      snat: this.acc.finish(t),
      slices: this.slices,
    };
    this.passes++;
    this.cursor = -1;
    return true;
  }
}
