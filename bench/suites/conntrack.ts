/**
 * Connection table benchmarks: lookup hit and miss at 1 k, 100 k and 1 M connections (scalar `find` and
 * `lookupBurst` over bursts of 256), a `Map<string, number>` baseline for the 1 k hit case, new connections at
 * steady state (create + snat + confirm, with incremental expiry keeping 100 k live), the reaper's scan rate,
 * and, as facts, the bytes of typed arrays per connection at 1 M and the pure setup / expiry rates.
 *
 * Keys are read in a random order prepared beforehand into contiguous arrays (as a burst's parsed keys are), so
 * the table is accessed at random and the key stream sequentially. Half the keys are original-direction tuples,
 * half reply tuples after SNAT (4 egress IPs, 64 destinations, TCP/UDP).
 */
import {
  ConnTable,
  SEG_ACK,
  SEG_DATA,
  SEG_OPTS,
  SEG_SEQ,
  SEG_SET,
  SEG_WIN,
  SNAT_OK,
  TCP_ACK,
  TCP_SYN,
  UPDATE_ACCEPT,
  formatAddr,
  packPorts,
} from '../../conntrack/index.js';
import type { BenchCase, Suite } from '../harness.js';

const OPS = 4096;
const STREAM = 1 << 16;
const BURST = 256;
let sink = 0;

/** xorshift32, for reproducible key sets. */
function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

const EGRESS = [0xc6130001 | 0, 0xc6130002 | 0, 0xc6130003 | 0, 0xc6130004 | 0]; // 198.19.0.1-4

interface Loaded {
  t: ConnTable;
  /** Hit stream (random order, half reply direction). */
  src: Int32Array;
  dst: Int32Array;
  ports: Int32Array;
  proto: Uint8Array;
  /** Miss stream: same shape, tuples that are not in the table. */
  msrc: Int32Array;
  mdst: Int32Array;
  mports: Int32Array;
  mproto: Uint8Array;
  /** The hit stream as strings, for the Map baseline. */
  strings: string[] | null;
}

/** A table holding `n` SNATed connections, and key streams over it. */
function load(n: number, withStrings: boolean): Loaded {
  const t = new ConnTable({ maxConnections: n, seed: 12345 });
  const next = rng(n);
  const conns = new Int32Array(n);
  let k = 0;
  while (k < n) {
    const pod = 0x0af40000 | (next() & 0xffff) | 0; // 10.244.0.0/16
    const dst = 0xc6120000 | (next() & 0x3f) | 0; // 198.18.0.0/26
    const udp = (next() & 3) === 0;
    const c = t.create(pod, dst, 32768 + (next() % 28232), udp ? 53 : 443, udp ? 17 : 6, udp ? 0 : TCP_SYN, 60);
    if (c < 0) continue;
    if (t.snat(c, EGRESS[next() & 3]!) !== SNAT_OK || !t.confirm(c)) {
      t.abort(c);
      t.expire(0);
      continue;
    }
    conns[k++] = c;
  }
  const mk = () => ({
    src: new Int32Array(STREAM),
    dst: new Int32Array(STREAM),
    ports: new Int32Array(STREAM),
    proto: new Uint8Array(STREAM),
  });
  const hit = mk();
  const miss = mk();
  const strings: string[] = [];
  for (let i = 0; i < STREAM; i++) {
    const c = conns[next() % n]!;
    if (i & 1) {
      hit.src[i] = t.replySrc(c);
      hit.dst[i] = t.replyDst(c);
      hit.ports[i] = packPorts(t.replySport(c), t.replyDport(c));
    } else {
      hit.src[i] = t.origSrc(c);
      hit.dst[i] = t.origDst(c);
      hit.ports[i] = packPorts(t.origSport(c), t.origDport(c));
    }
    hit.proto[i] = t.proto(c);
    miss.src[i] = 0x0a000000 | (next() & 0xffffff) | 0; // 10/8 outside the pod range's ports
    miss.dst[i] = hit.dst[i]!;
    miss.ports[i] = packPorts(1 + (next() % 1023), 443);
    miss.proto[i] = 6;
    if (withStrings) {
      strings.push(`${hit.src[i]},${hit.dst[i]},${hit.ports[i]! >>> 16},${hit.ports[i]! & 0xffff},${hit.proto[i]}`);
    }
  }
  return {
    t,
    ...hit,
    msrc: miss.src,
    mdst: miss.dst,
    mports: miss.ports,
    mproto: miss.proto,
    strings: withStrings ? strings : null,
  };
}

const tables = new Map<number, Loaded>();
function get(n: number): Loaded {
  let l = tables.get(n);
  if (!l) {
    // One large table at a time keeps the process within memory and the caches honest.
    for (const key of [...tables.keys()]) if (key !== n) tables.delete(key);
    l = load(n, n <= 1000);
    tables.set(n, l);
  }
  return l;
}

const SIZES: Array<[string, number]> = [
  ['1k', 1000],
  ['100k', 100_000],
  ['1M', 1_000_000],
];

function lookupCases(label: string, n: number): BenchCase[] {
  let off = 0;
  let l: Loaded | undefined;
  const out = new Int32Array(BURST);
  const setup = (): void => {
    l = get(n);
  };
  const scalar = (hit: boolean): BenchCase => ({
    name: `lookup-${hit ? 'hit' : 'miss'}/${label}`,
    ops: OPS,
    setup,
    ...(hit && n === 1000 ? { baseline: 'conntrack/map-baseline-hit/1k' } : {}),
    fn: () => {
      const x = l!;
      const t = x.t;
      const src = hit ? x.src : x.msrc;
      const dst = hit ? x.dst : x.mdst;
      const ports = hit ? x.ports : x.mports;
      const proto = hit ? x.proto : x.mproto;
      let s = 0;
      const o = off;
      for (let i = 0; i < OPS; i++) s += t.find(src[o + i]!, dst[o + i]!, ports[o + i]!, proto[o + i]!);
      off = (o + OPS) & (STREAM - 1);
      sink ^= s;
    },
    ...(hit && n === 1_000_000
      ? { facts: () => ({ bytesPerConn: (l!.t.memoryBytes() / l!.t.size).toFixed(1), conns: l!.t.size }) }
      : {}),
  });
  // The burst's own key arrays, filled per burst as a parse stage would (the copy is timed with the lookups).
  const bs = new Int32Array(BURST);
  const bd = new Int32Array(BURST);
  const bp = new Int32Array(BURST);
  const bq = new Uint8Array(BURST);
  const burst = (hit: boolean): BenchCase => ({
    name: `lookup-burst-${hit ? 'hit' : 'miss'}/${label}`,
    ops: OPS,
    setup,
    baseline: `conntrack/lookup-${hit ? 'hit' : 'miss'}/${label}`,
    fn: () => {
      const x = l!;
      const t = x.t;
      const src = hit ? x.src : x.msrc;
      const dst = hit ? x.dst : x.mdst;
      const ports = hit ? x.ports : x.mports;
      const proto = hit ? x.proto : x.mproto;
      let s = 0;
      const o = off;
      for (let b = 0; b < OPS; b += BURST) {
        for (let i = 0; i < BURST; i++) {
          const j = o + b + i;
          bs[i] = src[j]!;
          bd[i] = dst[j]!;
          bp[i] = ports[j]!;
          bq[i] = proto[j]!;
        }
        s += t.lookupBurst(bs, bd, bp, bq, BURST, out);
      }
      off = (o + OPS) & (STREAM - 1);
      sink ^= s;
    },
  });
  return [scalar(true), burst(true), scalar(false), burst(false)];
}

/** String-keyed Map, what the typed-array table replaces (allocates a key string per lookup). */
function mapBaseline(): BenchCase {
  const map = new Map<string, number>();
  let l: Loaded | undefined;
  let off = 0;
  return {
    name: 'map-baseline-hit/1k',
    ops: OPS,
    setup: () => {
      l = get(1000);
      map.clear();
      for (let i = 0; i < STREAM; i++) map.set(l.strings![i]!, i);
    },
    fn: () => {
      const x = l!;
      let s = 0;
      const o = off;
      for (let i = 0; i < OPS; i++) {
        const j = o + i;
        const key = `${x.src[j]},${x.dst[j]},${x.ports[j]! >>> 16},${x.ports[j]! & 0xffff},${x.proto[j]}`;
        s += map.get(key) ?? -1;
      }
      off = (o + OPS) & (STREAM - 1);
      sink ^= s;
    },
  };
}

/**
 * Steady state: every call opens OPS new connections (create + snat + confirm) and runs the incremental reaper,
 * which removes about as many, so about `LIVE` stay live (UDP, 30 s timeout).
 */
function newConnSteady(LIVE: number, label: string, withFacts: boolean): BenchCase {
  const t = new ConnTable({ maxConnections: 4 * LIVE, seed: 9 });
  const step = (30_000 * OPS) / LIVE;
  const budget = Math.ceil((t.recordCount * OPS) / LIVE) + 64;
  // The clock is read once per burst of packets, as the datapath does (epoch-sized ms, not a small integer).
  const clock = Float64Array.of(1.7e12 + 0.25);
  let port = 0;
  let pod = 0;
  return {
    name: `new-conn/steady-${label}`,
    ops: OPS,
    fn: () => {
      clock[0] = clock[0]! + step;
      t.setTime(clock[0]!); // once per batch, as the datapath does per burst
      for (let i = 0; i < OPS; i++) {
        port = port === 28231 ? 0 : port + 1;
        if (port === 0) pod = (pod + 1) & 0xffff;
        const c = t.create(0x0af40000 | pod | 0, 0xc6120064 | 0, 32768 + port, 53, 17, 0, 80);
        if (c >= 0) {
          if (t.snat(c, EGRESS[i & 3]!) === SNAT_OK) t.confirm(c);
          else t.abort(c);
        }
      }
      t.expire(budget);
    },
    facts: () => ({ live: t.size, refused: t.counter('refused-full'), ...(withFacts ? fillAndReap() : {}) }),
  };
}

/** Pure rates, timed by hand (medians of 3): fill an empty 1 M table, then reap all of it. */
function fillAndReap(): Record<string, string> {
  const N = 1_000_000;
  const setups: number[] = [];
  const reaps: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = new ConnTable({ maxConnections: N, seed: r + 1 });
    const next = rng(r + 7);
    let made = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const c = t.create(
        0x0af40000 | (next() & 0xffff) | 0,
        0xc6120000 | (i & 63) | 0,
        32768 + (next() % 28232),
        443,
        6,
        TCP_SYN,
        60,
      );
      if (c < 0) continue;
      if (t.snat(c, EGRESS[i & 3]!) === SNAT_OK && t.confirm(c)) made++;
      else t.abort(c);
    }
    const t1 = process.hrtime.bigint();
    t.setTime(1e12);
    const reaped = t.expire(t.recordCount);
    const t2 = process.hrtime.bigint();
    setups.push(made / (Number(t1 - t0) / 1e9));
    reaps.push(reaped / (Number(t2 - t1) / 1e9));
  }
  const med = (a: number[]): number => a.sort((x, y) => x - y)[1]!;
  return {
    setupPerSec1M: `${(med(setups) / 1e6).toFixed(2)}M`,
    reapPerSec1M: `${(med(reaps) / 1e6).toFixed(2)}M`,
  };
}

/** The reaper's scan: records examined per second when nothing has timed out (1 M live connections). */
function expireScan(): BenchCase {
  let l: Loaded | undefined;
  return {
    name: 'expire-scan/1M',
    ops: 65536,
    setup: () => {
      l = get(1_000_000);
    },
    fn: () => {
      sink ^= l!.t.expire(65536);
    },
  };
}

/**
 * Established TCP connections (1 k, handshake done): per operation one segment, alternating 100 bytes of data
 * from the client and the server's ACK of it, through `update` — with the segment described (window tracking,
 * tcp-window.ts) or by flags alone (the state table only), to show what the window check costs per packet.
 */
function tcpEstablished(window: boolean): BenchCase {
  const N = 1024;
  const t = new ConnTable({ maxConnections: 4 * N, seed: 3 });
  const seg = t.seg;
  const conns = new Int32Array(N);
  const cEnd = new Int32Array(N); // client's next sequence number
  const sEnd = new Int32Array(N);
  const describe = (seq: number, ack: number, data: number, opts = 0) => {
    seg[SEG_SEQ] = seq;
    seg[SEG_ACK] = ack;
    seg[SEG_WIN] = 65535;
    seg[SEG_DATA] = data;
    seg[SEG_OPTS] = opts;
    seg[SEG_SET] = 1;
  };
  for (let i = 0; i < N; i++) {
    const isn = Math.imul(i + 1, 0x9e3779b1) | 0;
    const ssn = Math.imul(i + 7, 0x85ebca6b) | 0;
    describe(isn, 0, 0);
    const c = t.create(0x0af40000 | i | 0, 0xc6120064 | 0, 40000 + i, 443, 6, TCP_SYN, 60);
    if (c < 0 || t.snat(c, EGRESS[i & 3]!) !== SNAT_OK || !t.confirm(c)) throw new Error('bench setup');
    describe(ssn, (isn + 1) | 0, 0);
    t.update(c, 1, TCP_SYN | TCP_ACK, 60);
    describe((isn + 1) | 0, (ssn + 1) | 0, 0);
    if (t.update(c, 0, TCP_ACK, 52) !== UPDATE_ACCEPT) throw new Error('bench setup');
    conns[i] = c;
    cEnd[i] = (isn + 1) | 0;
    sEnd[i] = (ssn + 1) | 0;
  }
  let k = 0;
  return {
    name: `tcp-established/${window ? 'window' : 'flags-only'}/1k`,
    ops: OPS,
    ...(window ? { baseline: 'conntrack/tcp-established/flags-only/1k' } : {}),
    fn: () => {
      for (let i = 0; i < OPS; i += 2) {
        k = (k + 1) & (N - 1);
        const c = conns[k]!;
        if (window) describe(cEnd[k]!, sEnd[k]!, 100);
        sink ^= t.update(c, 0, TCP_ACK, 152);
        cEnd[k] = (cEnd[k]! + 100) | 0;
        if (window) describe(sEnd[k]!, cEnd[k]!, 0);
        sink ^= t.update(c, 1, TCP_ACK, 52);
      }
    },
    facts: () => ({ invalid: t.counter('update-invalid'), outOfWindow: t.counter('tcp-out-of-window') }),
  };
}

const suite: Suite = {
  name: 'conntrack',
  cases: [
    tcpEstablished(false),
    tcpEstablished(true),
    mapBaseline(),
    ...SIZES.flatMap(([label, n]) => lookupCases(label, n)),
    expireScan(),
    newConnSteady(10_000, '10k', false),
    newConnSteady(100_000, '100k', true),
  ],
};
export default suite;
export const _sink = (): string => `${sink}${formatAddr(0)}`;
