/**
 * defrag: IPv4 fragments, before conntrack, for the three ways a fragment reaches NAT: from a local pod
 * (pod-ingress, before classify and SNAT), tunnelled by a pod on another node (geneve-decap, before SNAT) and
 * from the segment to an egress IP, the node IP or a local pod (uplink-ingress, before un-SNAT or inbound).
 * Virtual reassembly (VPP's shallow virtual reassembly), not Linux's full one: every fragment keeps its own slot
 * and goes on as it came; a table keyed by (source, destination, protocol, IP ID) remembers the first
 * fragment's L4 ports word, and each later fragment leaves with it in `b.flow`, so classify, snat, unsnat and
 * inbound look it up as its datagram and translate only its IP header (the first fragment's L4 checksum is
 * updated incrementally: the pseudo-header change is known without the rest of the datagram). A fragment that
 * arrives before its first fragment waits here (exit `held`, bounded in count) and leaves right after it.
 * The table checks what full reassembly would: the datagram's fragments must not overlap (`drop-overlap`, the
 * teardrop attack; RFC 1858's overlapping fragment and RFC 3128's offset-1 rule are the case of a later
 * fragment reaching into the transport header); after one overlap every later fragment of that datagram is
 * dropped too; an exact copy is `drop-duplicate`; a first fragment must hold the whole transport header
 * (`drop-tiny`, RFC 1858 §3.1); at most 64 fragments a datagram (`drop-too-many`), no byte past 65 535
 * (`drop-too-long`), every fragment but the last a multiple of 8 bytes (`drop-bad-length`). A datagram's entry
 * lives until all its bytes passed or for the timeout (30 s, Linux `ipfrag_time`): fragments still waiting
 * then are `drop-timeout`. The table is fixed at start (1024 datagrams, 256 waiting fragments by default): a
 * new datagram when it is full evicts the oldest (`evicted`; its waiting fragments `drop-evicted`), so a flood
 * of fragments that never complete cannot lock out datagrams that do; whole packets never come here.
 * Fragmented ICMP errors (`drop-icmp-error`), protocols other than TCP/UDP/ICMP (`drop-unsupported-proto`) and
 * fragments from a pod to the node's own addresses (`drop-to-local`: the responder answers whole echoes only)
 * are dropped.
 * Specification: docs/fragments.md; docs/semantics.md §4.i; RFC 791, RFC 815, RFC 1858, RFC 3128. Cases:
 * test/stages/cases/defrag.cases.ts.
 * Exits: `pod` (to classify), `tunnel` (to snat), `unsnat`, `inbound`, `held` (waits for its first fragment),
 * `drop`.
 */
import { counterIndex, Counters, exitIndex, type Stage } from '../graph/index.js';
import type { Burst, Slab } from '../packet/index.js';
import { icmp, ipv4 } from '../wire/index.js';
import { FRAG_FROM_POD, FRAG_FROM_TUNNEL, portsWord } from './l4.js';
import type { NodeState } from './state.js';

/** Sizes of the reassembly table (NodeStateOptions.fragments). */
export interface FragmentOptions {
  /** Datagrams tracked at once (default 1024). */
  datagrams?: number;
  /** Fragments waiting for their first fragment, all datagrams together (default 256). */
  waiting?: number;
  /** Milliseconds a datagram's entry lives after its first fragment to arrive (default 30 000). */
  timeoutMs?: number;
}

/** Fragments one datagram may have (FreeBSD's `maxfragsperpacket` is 16; 64 KiB at a 1500-byte MTU is 45). */
export const MAX_FRAGMENTS = 64;

const NAMES = [
  'fragments',
  'datagrams',
  'completed',
  'held',
  'released',
  'expired',
  'evicted',
  'drop-unsupported-proto',
  'drop-to-local',
  'drop-bad-length',
  'drop-too-long',
  'drop-tiny',
  'drop-icmp-error',
  'drop-overlap',
  'drop-duplicate',
  'drop-too-many',
  'drop-queue-full',
  'drop-timeout',
  'drop-evicted',
] as const;
const C = counterIndex(NAMES);
const EXITS = ['pod', 'tunnel', 'unsnat', 'inbound', 'held', 'drop'] as const;
const X = exitIndex(EXITS);

const F_FIRST = 1;
const F_LAST = 2;
const F_BAD = 4;

export class Defrag implements Stage {
  readonly name = 'defrag';
  readonly exits = EXITS;
  readonly counters = new Counters(NAMES);
  private readonly slab: Slab;
  private readonly timeout: number;
  private readonly mask: number;
  private readonly seed: number;
  // Datagram entries (index e < cap).
  private readonly bucket: Int32Array;
  private readonly chain: Int32Array;
  private readonly kSrc: Int32Array;
  private readonly kDst: Int32Array;
  /** IP ID << 8 | protocol. */
  private readonly kIdp: Int32Array;
  private readonly flags: Uint8Array;
  private readonly ports: Int32Array;
  /** Payload end announced by the last fragment (when F_LAST). */
  private readonly end: Int32Array;
  /** Payload bytes seen (fragments never overlap, so this reaches `end` exactly when the datagram is whole). */
  private readonly covered: Int32Array;
  private readonly deadline: Float64Array;
  private readonly nRanges: Uint8Array;
  private readonly rStart: Uint16Array;
  private readonly rEnd: Uint16Array;
  /** Age list: oldest first (deadlines are in that order too: one timeout from creation). */
  private readonly older: Int32Array;
  private readonly newer: Int32Array;
  private oldest = -1;
  private newest = -1;
  private readonly freeE: Int32Array;
  private freeTop: number;
  private live = 0;
  // Waiting fragments (index p < waiting), a FIFO list per entry.
  private readonly wHead: Int32Array;
  private readonly wTail: Int32Array;
  private readonly wCount: Uint8Array;
  private readonly pNext: Int32Array;
  private readonly pSlot: Int32Array;
  private readonly pOff: Int32Array;
  private readonly pLen: Int32Array;
  private readonly pL3: Int32Array;
  private readonly pMeta: Int32Array;
  private readonly pPort: Uint16Array;
  private readonly pOrigin: Uint8Array;
  private readonly pTsSec: Float64Array;
  private readonly pTsNsec: Uint32Array;
  private pFree = -1;
  /** Entries whose waiting fragments could not all be released into a full burst: released next round. */
  private readonly ready: Int32Array;
  private readyN = 0;
  /** The selection positions `release` filled this round (already decided: `process` passes over them). */
  private relFrom = 0;
  private relTo = 0;

  constructor(private readonly st: NodeState) {
    const o = st.fragments;
    this.slab = st.slab;
    const cap = o.datagrams ?? 1024;
    const waiting = o.waiting ?? 256;
    if (!Number.isInteger(cap) || cap < 1 || cap > 1 << 20) throw new RangeError(`defrag: datagrams must be 1..2^20`);
    if (!Number.isInteger(waiting) || waiting < 0) throw new RangeError(`defrag: waiting must be a count`);
    this.timeout = o.timeoutMs ?? 30_000;
    let nb = 1;
    while (nb < cap * 2) nb <<= 1;
    this.mask = nb - 1;
    this.seed = (Math.random() * 0x100000000) | 0;
    this.bucket = new Int32Array(nb).fill(-1);
    this.chain = new Int32Array(cap);
    this.kSrc = new Int32Array(cap);
    this.kDst = new Int32Array(cap);
    this.kIdp = new Int32Array(cap);
    this.flags = new Uint8Array(cap);
    this.ports = new Int32Array(cap);
    this.end = new Int32Array(cap);
    this.covered = new Int32Array(cap);
    this.deadline = new Float64Array(cap);
    this.nRanges = new Uint8Array(cap);
    this.rStart = new Uint16Array(cap * MAX_FRAGMENTS);
    this.rEnd = new Uint16Array(cap * MAX_FRAGMENTS);
    this.older = new Int32Array(cap);
    this.newer = new Int32Array(cap);
    this.freeE = new Int32Array(cap);
    for (let e = 0; e < cap; e++) this.freeE[e] = cap - 1 - e;
    this.freeTop = cap;
    this.wHead = new Int32Array(cap).fill(-1);
    this.wTail = new Int32Array(cap).fill(-1);
    this.wCount = new Uint8Array(cap);
    this.pNext = new Int32Array(waiting);
    this.pSlot = new Int32Array(waiting);
    this.pOff = new Int32Array(waiting);
    this.pLen = new Int32Array(waiting);
    this.pL3 = new Int32Array(waiting);
    this.pMeta = new Int32Array(waiting);
    this.pPort = new Uint16Array(waiting);
    this.pOrigin = new Uint8Array(waiting);
    this.pTsSec = new Float64Array(waiting);
    this.pTsNsec = new Uint32Array(waiting);
    for (let p = waiting - 1; p >= 0; p--) {
      this.pNext[p] = this.pFree;
      this.pFree = p;
    }
    this.ready = new Int32Array(cap);
  }

  /** Datagrams tracked now (tests, counters). */
  get size(): number {
    return this.live;
  }

  /** Expire entries past their deadline, then release what a full burst left waiting. */
  release(b: Burst, sel: Int32Array, n: number): number {
    const now = this.st.now;
    const n0 = n;
    while (this.oldest >= 0 && this.deadline[this.oldest]! <= now) {
      const e = this.oldest;
      this.counters.v[C.expired]!++;
      this.dropWaiting(e, C['drop-timeout']);
      this.remove(e);
    }
    while (this.readyN > 0 && b.count < b.capacity) {
      const e = this.ready[this.readyN - 1]!;
      n = this.releaseWaiting(b, sel, n, e);
      if (this.wCount[e] !== 0) break;
      this.readyN--;
      this.maybeComplete(e);
    }
    this.relFrom = n0;
    this.relTo = n;
    return n;
  }

  process(b: Burst, sel: Int32Array, n: number): number {
    const v = this.st.v;
    const t = this.st.tables;
    const c = this.counters.v;
    // Fragments `release` appended have their exits already.
    const count = this.relTo === n && this.relTo > this.relFrom ? this.relFrom : n;
    this.relFrom = this.relTo = 0;
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const o = b.l3[i]!;
      const origin = b.flow[i]!;
      b.flow[i] = -1;
      c[C.fragments]!++;
      const ff = v.getUint16(o + 6);
      const start = (ff & ipv4.FRAG_OFFSET_MASK) << 3;
      const more = (ff & ipv4.FLAG_MF) !== 0;
      const hl = ipv4.headerLen(v, o);
      const plen = ipv4.totalLen(v, o) - hl;
      const proto = ipv4.proto(v, o);
      const dst = ipv4.dst(v, o);
      if (proto !== ipv4.PROTO_UDP && proto !== ipv4.PROTO_TCP && proto !== ipv4.PROTO_ICMP) {
        b.next[i] = X.drop;
        c[C['drop-unsupported-proto']]!++;
        continue;
      }
      if (origin === FRAG_FROM_POD && t.owned.get(dst, 0) !== 0) {
        b.next[i] = X.drop;
        c[C['drop-to-local']]!++;
        continue;
      }
      if (plen <= 0 || (more && (plen & 7) !== 0)) {
        b.next[i] = X.drop;
        c[C['drop-bad-length']]!++;
        continue;
      }
      const end = start + plen;
      if (hl + end > 65535) {
        b.next[i] = X.drop;
        c[C['drop-too-long']]!++;
        continue;
      }
      const l4min = proto === ipv4.PROTO_TCP ? 20 : 8;
      if (start === 0) {
        // RFC 1858 §3.1: the first fragment holds the whole transport header (TCP: its data offset too).
        const l4 = o + hl;
        const need = proto === ipv4.PROTO_TCP && plen >= 20 ? (v.getUint8(l4 + 12) >>> 4) << 2 : l4min;
        if (plen < need || need < l4min) {
          b.next[i] = X.drop;
          c[C['drop-tiny']]!++;
          continue;
        }
        if (proto === ipv4.PROTO_ICMP && icmp.isError(v.getUint8(l4))) {
          b.next[i] = X.drop;
          c[C['drop-icmp-error']]!++;
          continue;
        }
      } else if (start < l4min) {
        // A later fragment that would rewrite the transport header (RFC 3128's offset 1 for TCP).
        b.next[i] = X.drop;
        c[C['drop-overlap']]!++;
        continue;
      }
      const src = ipv4.src(v, o);
      const idp = (ipv4.id(v, o) << 8) | proto;
      let e = this.find(src, dst, idp);
      if (e < 0) e = this.create(src, dst, idp);
      const fl = this.flags[e]!;
      if ((fl & F_BAD) !== 0) {
        b.next[i] = X.drop;
        c[C['drop-overlap']]!++;
        continue;
      }
      const r = this.overlaps(e, start, end, more);
      if (r !== 0) {
        b.next[i] = X.drop;
        if (r === 1) c[C['drop-duplicate']]!++;
        else {
          c[C['drop-overlap']]!++;
          this.poison(e);
        }
        continue;
      }
      if (this.nRanges[e]! >= MAX_FRAGMENTS) {
        b.next[i] = X.drop;
        c[C['drop-too-many']]!++;
        this.poison(e);
        continue;
      }
      const first = start === 0;
      if (!first && (fl & F_FIRST) === 0) {
        // Before its first fragment: wait for it, if there is room.
        const p = this.pFree;
        if (p < 0 || this.wCount[e]! >= MAX_FRAGMENTS) {
          b.next[i] = X.drop;
          c[C['drop-queue-full']]!++;
          continue;
        }
        this.addRange(e, start, end, more);
        this.park(e, p, b, i, origin);
        b.next[i] = X.held;
        c[C.held]!++;
        continue;
      }
      this.addRange(e, start, end, more);
      if (first) {
        this.ports[e] = portsWord(v, o, proto);
        this.flags[e] = fl | F_FIRST;
      } else b.flow[i] = this.ports[e]!;
      b.next[i] = this.exitOf(origin, dst);
      if (first && this.wCount[e] !== 0) {
        n = this.releaseWaiting(b, sel, n, e);
        if (this.wCount[e] !== 0) {
          this.ready[this.readyN++] = e;
          continue;
        }
      }
      this.maybeComplete(e);
    }
    return n;
  }

  private exitOf(origin: number, dst: number): number {
    if (origin === FRAG_FROM_POD) return X.pod;
    if (origin === FRAG_FROM_TUNNEL) return X.tunnel;
    return this.st.tables.owned.get(dst, 0) !== 0 ? X.unsnat : X.inbound;
  }

  private hash(src: number, dst: number, idp: number): number {
    let h = src ^ Math.imul(dst, 0x85ebca6b) ^ Math.imul(idp, 0xc2b2ae35) ^ this.seed;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return h & this.mask;
  }

  private find(src: number, dst: number, idp: number): number {
    let e = this.bucket[this.hash(src, dst, idp)]!;
    while (e >= 0) {
      if (this.kSrc[e] === src && this.kDst[e] === dst && this.kIdp[e] === idp) return e;
      e = this.chain[e]!;
    }
    return -1;
  }

  private create(src: number, dst: number, idp: number): number {
    if (this.freeTop === 0) {
      // Full: the oldest datagram makes room (a flood of incomplete ones cannot keep new ones out).
      const old = this.oldest;
      this.counters.v[C.evicted]!++;
      this.dropWaiting(old, C['drop-evicted']);
      this.remove(old);
    }
    const e = this.freeE[--this.freeTop]!;
    this.live++;
    this.counters.v[C.datagrams]!++;
    this.kSrc[e] = src;
    this.kDst[e] = dst;
    this.kIdp[e] = idp;
    this.flags[e] = 0;
    this.ports[e] = 0;
    this.end[e] = 0;
    this.covered[e] = 0;
    this.nRanges[e] = 0;
    this.deadline[e] = this.st.now + this.timeout;
    const h = this.hash(src, dst, idp);
    this.chain[e] = this.bucket[h]!;
    this.bucket[h] = e;
    this.older[e] = this.newest;
    this.newer[e] = -1;
    if (this.newest >= 0) this.newer[this.newest] = e;
    else this.oldest = e;
    this.newest = e;
    return e;
  }

  private remove(e: number): void {
    const h = this.hash(this.kSrc[e]!, this.kDst[e]!, this.kIdp[e]!);
    let x = this.bucket[h]!;
    if (x === e) this.bucket[h] = this.chain[e]!;
    else {
      while (this.chain[x] !== e) x = this.chain[x]!;
      this.chain[x] = this.chain[e]!;
    }
    const a = this.older[e]!;
    const z = this.newer[e]!;
    if (a >= 0) this.newer[a] = z;
    else this.oldest = z;
    if (z >= 0) this.older[z] = a;
    else this.newest = a;
    for (let r = 0; r < this.readyN; r++)
      if (this.ready[r] === e) {
        this.ready[r] = this.ready[--this.readyN]!;
        break;
      }
    this.freeE[this.freeTop++] = e;
    this.live--;
  }

  /** 0: new bytes; 1: an exact copy of a fragment seen; 2: overlaps one, or contradicts the datagram's end. */
  private overlaps(e: number, start: number, end: number, more: boolean): number {
    const base = e * MAX_FRAGMENTS;
    const nr = this.nRanges[e]!;
    const fl = this.flags[e]!;
    for (let r = 0; r < nr; r++) {
      const s = this.rStart[base + r]!;
      const z = this.rEnd[base + r]!;
      if (s === start && z === end) return 1;
      if (start < z && end > s) return 2;
      if (!more && z > end) return 2; // a fragment seen lies past this last one
    }
    if ((fl & F_LAST) !== 0 && (more ? end > this.end[e]! : end !== this.end[e]!)) return 2;
    return 0;
  }

  private addRange(e: number, start: number, end: number, more: boolean): void {
    const r = e * MAX_FRAGMENTS + this.nRanges[e]!++;
    this.rStart[r] = start;
    this.rEnd[r] = end;
    this.covered[e] += end - start;
    if (!more) {
      this.flags[e] |= F_LAST;
      this.end[e] = end;
    }
  }

  /** After an overlap: drop the datagram's waiting fragments; every later fragment of it is dropped too. */
  private poison(e: number): void {
    this.flags[e] |= F_BAD;
    this.dropWaiting(e, C['drop-overlap']);
  }

  /** The datagram passed whole: forget it (a copy of one of its fragments later starts a new entry). */
  private maybeComplete(e: number): void {
    const fl = this.flags[e]!;
    if ((fl & (F_FIRST | F_LAST)) === (F_FIRST | F_LAST) && this.covered[e] === this.end[e] && this.wCount[e] === 0) {
      this.counters.v[C.completed]!++;
      this.remove(e);
    }
  }

  private park(e: number, p: number, b: Burst, i: number, origin: number): void {
    this.pFree = this.pNext[p]!;
    this.pNext[p] = -1;
    this.pSlot[p] = b.slot[i]!;
    this.pOff[p] = b.off[i]!;
    this.pLen[p] = b.len[i]!;
    this.pL3[p] = b.l3[i]!;
    this.pMeta[p] = b.meta[i]!;
    this.pPort[p] = b.port[i]!;
    this.pOrigin[p] = origin;
    this.pTsSec[p] = b.tsSec[i]!;
    this.pTsNsec[p] = b.tsNsec[i]!;
    if (this.wTail[e]! >= 0) this.pNext[this.wTail[e]!] = p;
    else this.wHead[e] = p;
    this.wTail[e] = p;
    this.wCount[e]!++;
  }

  private unpark(e: number): number {
    const p = this.wHead[e]!;
    this.wHead[e] = this.pNext[p]!;
    if (this.wHead[e]! < 0) this.wTail[e] = -1;
    this.wCount[e]!--;
    this.pNext[p] = this.pFree;
    this.pFree = p;
    return p;
  }

  /** Append entry e's waiting fragments to the burst (as far as it has room), each with the datagram's ports. */
  private releaseWaiting(b: Burst, sel: Int32Array, n: number, e: number): number {
    const v = this.st.v;
    while (this.wCount[e]! > 0 && b.count < b.capacity) {
      const p = this.unpark(e);
      const j = b.count++;
      b.slot[j] = this.pSlot[p]!;
      b.off[j] = this.pOff[p]!;
      b.len[j] = this.pLen[p]!;
      b.l3[j] = this.pL3[p]!;
      b.meta[j] = this.pMeta[p]!;
      b.port[j] = this.pPort[p]!;
      b.oport[j] = 0;
      b.tsSec[j] = this.pTsSec[p]!;
      b.tsNsec[j] = this.pTsNsec[p]!;
      b.flow[j] = this.ports[e]!;
      b.next[j] = this.exitOf(this.pOrigin[p]!, ipv4.dst(v, this.pL3[p]!));
      sel[n++] = j;
      this.counters.v[C.released]!++;
    }
    return n;
  }

  private dropWaiting(e: number, reason: number): void {
    while (this.wCount[e]! > 0) {
      const p = this.unpark(e);
      this.slab.free(this.pSlot[p]!);
      this.counters.v[reason]!++;
    }
  }
}
