/**
 * Observability of a connection table (cold paths; these allocate): `dump` as plain objects for JSON,
 * `formatConntrack` as `conntrack -L` text (libnetfilter_conntrack's default format, with accounting on), and
 * `snatUsage`, how close each egress IP and each destination is to SNAT port exhaustion.
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

/** Confirmed live connections as plain objects, in table order. `now` in ms, as everywhere. */
export function dump(t: ConnTable, now: number = t.time): ConnDump[] {
  const out: ConnDump[] = [];
  for (let c = 0; c < t.recordCount; c++) {
    if (!t.isLive(c) || !t.isConfirmed(c)) continue;
    const proto = t.proto(c);
    out.push({
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
    });
  }
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

/**
 * Per egress IP: connections and ports in use, and per (destination, port, protocol) how much of the port range
 * is taken — the figure that tells how close a destination is to exhaustion (a port is unique per destination,
 * so exhaustion is per destination, not per egress IP). Egress IPs and destinations sorted fullest first.
 */
export function snatUsage(t: ConnTable): EgressIpUsage[] {
  const rangeFor = (proto: number): number =>
    t.portMin >= 0 ? t.portMax - t.portMin + 1 : proto === PROTO_ICMP ? 65536 : 64512;
  interface Acc {
    natIp: number;
    connections: Map<string, number>;
    ports: Map<string, Set<number>>;
    dests: Map<string, DestinationUsage>;
  }
  const byIp = new Map<number, Acc>();
  const acc = (ip: number): Acc => {
    let a = byIp.get(ip);
    if (!a) {
      a = { natIp: ip, connections: new Map(), ports: new Map(), dests: new Map() };
      byIp.set(ip, a);
    }
    return a;
  };
  const dest = (a: Acc, dst: number, dport: number, proto: number): DestinationUsage => {
    const key = `${dst}|${dport}|${proto}`;
    let d = a.dests.get(key);
    if (!d) {
      d = {
        dst: formatAddr(dst),
        dport,
        proto: protoName(proto),
        used: 0,
        rangeSize: rangeFor(proto),
        fullness: 0,
        exhausted: 0,
      };
      a.dests.set(key, d);
    }
    return d;
  };
  for (let c = 0; c < t.recordCount; c++) {
    if (!t.isLive(c) || !t.isSnat(c)) continue;
    const proto = t.proto(c);
    const name = protoName(proto);
    const a = acc(t.natIp(c));
    a.connections.set(name, (a.connections.get(name) ?? 0) + 1);
    let ps = a.ports.get(name);
    if (!ps) a.ports.set(name, (ps = new Set()));
    ps.add(t.natPort(c));
    dest(a, t.origDst(c), proto === PROTO_ICMP ? 0 : t.origDport(c), proto).used++;
  }
  for (const [ip, dst, dport, proto, n] of t.exhaustion()) dest(acc(ip), dst, dport, proto).exhausted += n;
  const out: EgressIpUsage[] = [];
  for (const a of byIp.values()) {
    const destinations = [...a.dests.values()];
    for (const d of destinations) d.fullness = d.used / d.rangeSize;
    destinations.sort((x, y) => y.fullness - x.fullness || y.exhausted - x.exhausted);
    out.push({
      natIp: formatAddr(a.natIp),
      connections: Object.fromEntries(a.connections),
      distinctPorts: Object.fromEntries([...a.ports].map(([k, v]) => [k, v.size])),
      maxFullness: destinations.length ? destinations[0]!.fullness : 0,
      destinations,
    });
  }
  out.sort((x, y) => y.maxFullness - x.maxFullness);
  return out;
}
