/**
 * A simulated host on the replay segment: an external host (a `kind: ExternalHost` of the manifests, a source
 * address of the input capture, or the segment's default gateway acting as a router). It has its own ARP
 * cache with Linux's rules that matter for Egress failover (a request for its address or a reply creates an
 * entry; any ARP from a known address, gratuitous ARP included, updates it: net/ipv4/arp.c `arp_process`),
 * resolves next hops with ARP (queueing packets meanwhile, at most `PENDING_PER_HOP` per next hop, for at most
 * `ARP_WAIT_MS`), and with `reflect` answers what the cluster sends it: UDP echoed with addresses and ports
 * swapped, ICMP echo request → echo reply, TCP SYN → SYN-ACK, SYN-ACK, data or FIN → ACK. A router (the
 * gateway) also takes packets for any off-segment address and answers for that address. A host on a VLAN (`vlan`:
 * the gateway of an ExternalIPPool with `subnetInfo.vlan`, docs/semantics.md §3.1) sends and takes only frames
 * 802.1Q-tagged with it, as a VLAN sub-interface does; the others only untagged frames. A host with an IPv6
 * address speaks NDP instead of ARP for it (`sendSlot6`, `ndpIn`: Linux's neighbour rules), routes the Nodes'
 * IPv6 pod CIDRs via their IPv6 addresses and reflects IPv6 as IPv4 (`reflect6Into`). When the run ends, what
 * still waits for ARP or NDP is counted `unresolved-at-end` (`abandonPending`).
 *
 * Only frames from a node's uplink are answered: two external hosts reflecting each other's UDP would echo for
 * ever, so what one outside host sends another is received and counted (`from-outside`), not answered.
 *
 * Hot path (reception and reflection): packets are read and written in slab slots through the slab's DataView;
 * an answer is built in a slot of its own and queued on the switch. Nothing is allocated per packet except on
 * an ARP miss (the waiting list of a next hop) and for ARP changes (logged with strings: rare by nature).
 */
import type { Slab } from '../packet/index.js';
import { arp, ethernet, icmp, icmpv6, ipv4, ipv6, ndp, tcp, udp } from '../wire/index.js';
import { Counts6, Ip6Map, wordsToString } from '../stages/tables6.js';
import type { SegmentEndpoint, SimSwitch } from './sim-switch.js';
import { maskInt32 } from '../policy/index.js';

export interface HostRoute {
  addr: number;
  len: number;
  via: number;
}

/** An IPv6 route: prefix `addr`/`len` via the neighbour `via` (addresses as four int32 words). */
export interface HostRoute6 {
  addr: readonly number[];
  len: number;
  via: readonly number[];
}

export interface SimHostOptions {
  name: string;
  ip: number;
  mac: Uint8Array;
  /** The segment's subnet. */
  subnet: { addr: number; len: number };
  /** Routes for off-segment destinations (pod CIDRs via their node, default via the gateway). */
  routes?: HostRoute[];
  reflect?: boolean;
  /** Take packets for any off-segment destination (the segment's router). */
  router?: boolean;
  /** Interface MTU (the segment's): larger packets are not sent (`too-big`). Default 1500. */
  mtu?: number;
  /** VLAN id of the host's interface (0 or absent: untagged). */
  vlan?: number;
  /** The host's IPv6 address (16 bytes; absent: no IPv6). */
  ip6?: Uint8Array | null;
  /**
   * IPv6 routes (the Nodes' IPv6 pod CIDRs via each Node's IPv6 address); any other IPv6 destination is on-link
   * (there is no IPv6 router).
   */
  routes6?: HostRoute6[];
}

export interface ArpChange {
  host: string;
  ip: number;
  mac: string;
  /** Previous MAC, or null for a new entry. */
  was: string | null;
}

export const HOST_COUNTERS = [
  'received',
  'reflected',
  'from-outside',
  'not-answered',
  'arp-requests',
  'arp-replies',
  'unreachable',
  'too-big',
  'arp-queue-full',
  'arp-timeout',
  'no-buffer',
  'ndp-solicits',
  'ndp-adverts',
  'unresolved-at-end',
] as const;
export type HostCounter = (typeof HOST_COUNTERS)[number];
/** Host counters that are packets lost (the others count what happened). */
export const HOST_LOSSES = [
  'unreachable',
  'too-big',
  'arp-queue-full',
  'arp-timeout',
  'no-buffer',
  'unresolved-at-end',
] as const;
const H = {
  received: 0,
  reflected: 1,
  fromOutside: 2,
  notAnswered: 3,
  arpRequests: 4,
  arpReplies: 5,
  unreachable: 6,
  tooBig: 7,
  arpQueueFull: 8,
  arpTimeout: 9,
  noBuffer: 10,
  ndpSolicits: 11,
  ndpAdverts: 12,
  unresolvedAtEnd: 13,
} as const;
/** IPv6 neighbour entries a host keeps (past it, packets to new neighbours are `arp-queue-full`). */
const NEIGH6_MAX = 256;
/** MAC of an IPv6 neighbour entry still INCOMPLETE (resolution under way). */
const INCOMPLETE = -1;

export const PENDING_PER_HOP = 64;
const PENDING_HOPS = 256;
const ARP_WAIT_MS = 3000;

export class SimHost implements SegmentEndpoint {
  readonly name: string;
  readonly ip: number;
  readonly mac: Uint8Array;
  readonly mtu: number;
  /** VLAN id (0: untagged); `hl` the length of the Ethernet header it writes and expects. */
  readonly vlan: number;
  private readonly hl: number;
  up = true;
  /** IPv4 address → MAC (hi16 · 2^32 + lo32, exact in a double). */
  readonly arpCache = new Map<number, number>();
  /** Slots of IPv4 packets (at the slot's start) waiting for ARP, per next hop, and since when. */
  private readonly pending = new Map<number, { since: number; slots: number[] }>();
  readonly routes: HostRoute[];
  readonly reflect: boolean;
  readonly router: boolean;
  readonly counters = new Float64Array(HOST_COUNTERS.length);
  /** Packets received per source address (at most 256 addresses; for the report), but the current run's. */
  private readonly sources = new Map<number, number>();
  /** The source of the last packets received and how many in a row (counted into `sources` when it changes). */
  private runSrc = 0;
  private runN = 0;
  onArpChange: ((c: ArpChange) => void) | null = null;
  readonly index: number;
  private readonly subnetAddr: number;
  private readonly subnetMask: number;
  private readonly macHi: number;
  private readonly macLo: number;
  private readonly slab: Slab;
  private readonly dv: DataView;
  /** The last next hop found in `arpCache` and its MAC (0: none; forgotten whenever the cache changes). */
  private lastNh = 0;
  private lastMac = 0;
  /** IPv6 address (null: none) and its four words. */
  readonly ip6: Uint8Array | null;
  private readonly w0: number;
  private readonly w1: number;
  private readonly w2: number;
  private readonly w3: number;
  /** IPv6 neighbour cache: address → entry; per entry its address (4 words) and MAC (INCOMPLETE while resolving). */
  private readonly neigh6 = new Ip6Map(NEIGH6_MAX);
  private readonly neigh6Ip = new Int32Array(NEIGH6_MAX * 4);
  private readonly neigh6Mac = new Float64Array(NEIGH6_MAX);
  private neigh6Count = 0;
  /** Slots of IPv6 packets waiting for NDP, per neighbour entry, and since when. */
  private readonly pending6 = new Map<number, { since: number; slots: number[] }>();
  /** The last IPv6 destination sent to and its next hop's entry (-1: none; forgotten whenever the cache changes). */
  private lastE6 = -1;
  private lastD0 = 0;
  private lastD1 = 0;
  private lastD2 = 0;
  private lastD3 = 0;
  /** IPv6 routes, longest prefix first, 12 words each: prefix, mask, next hop. */
  private readonly routes6: Int32Array;
  /** Packets received per IPv6 source (at most 256 sources): addresses (4 words each) and counts. */
  private readonly src6 = new Counts6(256);
  /** Called when an IPv6 neighbour entry gets or changes its MAC (cold: NDP). */
  onNdpChange: ((c: { host: string; ip: string; mac: string; was: string | null }) => void) | null = null;
  /** A 16-byte scratch address (the target of a solicitation). */
  private readonly scratch6 = new Uint8Array(16);

  constructor(
    private readonly sw: SimSwitch,
    o: SimHostOptions,
  ) {
    this.name = o.name;
    this.ip = o.ip | 0;
    this.mac = o.mac;
    this.macHi = ethernet.macHi16(o.mac);
    this.macLo = ethernet.macLo32(o.mac);
    this.mtu = o.mtu ?? 1500;
    this.vlan = o.vlan ?? 0;
    this.hl = this.vlan === 0 ? ethernet.HEADER_LEN : ethernet.TAGGED_HEADER_LEN;
    this.subnetMask = maskInt32(o.subnet.len);
    this.subnetAddr = o.subnet.addr & this.subnetMask;
    this.routes = (o.routes ?? []).slice().sort((a, b) => b.len - a.len);
    this.reflect = o.reflect ?? false;
    this.router = o.router ?? false;
    this.slab = sw.slab;
    this.dv = sw.slab.dv;
    this.ip6 = o.ip6 ? Uint8Array.from(o.ip6) : null;
    const w = this.ip6 ? ipv6.addrWords(this.ip6) : [0, 0, 0, 0];
    this.w0 = w[0]!;
    this.w1 = w[1]!;
    this.w2 = w[2]!;
    this.w3 = w[3]!;
    const r6 = (o.routes6 ?? []).slice().sort((a, b) => b.len - a.len);
    this.routes6 = new Int32Array(r6.length * 12);
    r6.forEach((r, i) => {
      const m = [0, 1, 2, 3].map((k) => (r.len >= 32 * (k + 1) ? -1 : r.len <= 32 * k ? 0 : maskInt32(r.len - 32 * k)));
      for (let k = 0; k < 4; k++) {
        this.routes6[i * 12 + k] = r.addr[k]! & m[k]!;
        this.routes6[i * 12 + 4 + k] = m[k]!;
        this.routes6[i * 12 + 8 + k] = r.via[k]!;
      }
    });
    this.index = sw.attach(this);
  }

  /** Packets received per IPv6 source address (text), in order of their first packet (cold path). */
  get bySource6(): ReadonlyMap<string, number> {
    return this.src6.toMap();
  }

  /** The IPv6 neighbour cache: address text → MAC text, null while INCOMPLETE (cold path). */
  neighbors6(): Array<{ ip: string; mac: string | null }> {
    const out: Array<{ ip: string; mac: string | null }> = [];
    for (let e = 0; e < this.neigh6Count; e++) {
      const m = this.neigh6Mac[e]!;
      out.push({ ip: wordsToString(this.neigh6Ip, e), mac: m === INCOMPLETE ? null : macText(m) });
    }
    return out;
  }

  /** Packets received per source address, at most 256 addresses in order of their first packet (cold path). */
  get bySource(): ReadonlyMap<number, number> {
    this.endRun();
    return this.sources;
  }

  private endRun(): void {
    if (this.runN === 0) return;
    const m = this.sources;
    const seen = m.get(this.runSrc);
    if (seen !== undefined) m.set(this.runSrc, seen + this.runN);
    else if (m.size < 256) m.set(this.runSrc, this.runN);
    this.runN = 0;
  }

  /** Counters by name (cold path). */
  stats(): Record<HostCounter, number> {
    const out = {} as Record<HostCounter, number>;
    HOST_COUNTERS.forEach((n, i) => (out[n] = this.counters[i]!));
    return out;
  }

  /** Whether packets wait for ARP (the replay ticks such hosts). */
  get waiting(): boolean {
    return this.pending.size > 0 || this.pending6.size > 0;
  }

  private onSegment(a: number): boolean {
    return (a & this.subnetMask) === this.subnetAddr;
  }

  /** Next hop for a destination, or 0 when unreachable. */
  nextHop(dst: number): number {
    if (this.onSegment(dst)) return dst;
    for (const r of this.routes) if ((dst & maskInt32(r.len)) === (r.addr & maskInt32(r.len))) return r.via;
    return 0;
  }

  /**
   * Send the IPv4 packet held by `slot` (at `slab.start(slot)`, `len` bytes) through this host's stack; the
   * host takes the slot (queued on the switch, waiting for ARP, or freed with a counted drop).
   */
  sendSlot(slot: number, len: number): void {
    const slab = this.slab;
    const o = slab.start(slot);
    if (len > this.mtu) {
      this.counters[H.tooBig]!++;
      slab.free(slot);
      return;
    }
    const nh = this.nextHop(ipv4.dst(this.dv, o));
    if (nh === 0) {
      this.counters[H.unreachable]!++;
      slab.free(slot);
      return;
    }
    if (nh === this.lastNh) {
      this.emitTo(slot, len, this.lastMac);
      return;
    }
    const mac = this.arpCache.get(nh);
    if (mac !== undefined) {
      this.lastNh = nh;
      this.lastMac = mac;
      this.emitTo(slot, len, mac);
      return;
    }
    this.park(nh, slot);
  }

  private park(nh: number, slot: number): void {
    const q = this.pending.get(nh);
    if (q) {
      if (q.slots.length < PENDING_PER_HOP) q.slots.push(slot);
      else {
        this.counters[H.arpQueueFull]!++;
        this.slab.free(slot);
      }
      return;
    }
    if (this.pending.size >= PENDING_HOPS) {
      this.counters[H.arpQueueFull]!++;
      this.slab.free(slot);
      return;
    }
    this.pending.set(nh, { since: this.sw.now, slots: [slot] });
    this.arpRequest(nh);
  }

  /** Drop packets that waited for ARP longer than ARP_WAIT_MS (Linux gives up after its probes too). */
  tick(now: number): void {
    for (const [nh, q] of this.pending) {
      if (now - q.since < ARP_WAIT_MS) continue;
      for (const s of q.slots) this.slab.free(s);
      this.counters[H.arpTimeout]! += q.slots.length;
      this.pending.delete(nh);
    }
    for (const [e, q] of this.pending6) {
      if (now - q.since < ARP_WAIT_MS) continue;
      for (const s of q.slots) this.slab.free(s);
      this.counters[H.arpTimeout]! += q.slots.length;
      this.pending6.delete(e);
    }
  }

  /**
   * The run is over: packets still waiting for ARP or NDP will never leave; free them and count them
   * (`unresolved-at-end`), so that every input packet is somewhere in the accounting.
   */
  abandonPending(): void {
    for (const q of [...this.pending.values(), ...this.pending6.values()]) {
      for (const s of q.slots) this.slab.free(s);
      this.counters[H.unresolvedAtEnd]! += q.slots.length;
    }
    this.pending.clear();
    this.pending6.clear();
  }

  /** Write the Ethernet header in front of the packet and queue it on the switch. */
  private emitTo(slot: number, len: number, mac: number): void {
    const eo = this.slab.start(slot) - this.hl;
    const hi = Math.floor(mac / 4294967296);
    this.header(eo, hi, (mac - hi * 4294967296) | 0, ethernet.ETHERTYPE_IPV4);
    this.sw.send(this.index, slot, eo, len + this.hl);
  }

  /** The Ethernet header at `o` from this host, tagged with its VLAN when it has one. */
  private header(o: number, dstHi: number, dstLo: number, type: number): void {
    if (this.vlan === 0) ethernet.writeHeader(this.dv, o, dstHi, dstLo, this.macHi, this.macLo, type);
    else ethernet.writeTaggedHeader(this.dv, o, dstHi, dstLo, this.macHi, this.macLo, this.vlan, type);
  }

  private arpRequest(target: number): void {
    const s = this.slab.alloc();
    if (s < 0) {
      this.counters[H.noBuffer]!++;
      return;
    }
    const o = this.slab.start(s);
    this.header(o, 0xffff, -1, ethernet.ETHERTYPE_ARP);
    arp.emitRequest(this.dv, o + this.hl, this.mac, this.ip, target);
    this.counters[H.arpRequests]!++;
    this.sw.send(this.index, s, o, this.hl + arp.PACKET_LEN);
  }

  private learn(ip: number, hi: number, lo: number, create: boolean): void {
    const mac = hi * 4294967296 + (lo >>> 0);
    const old = this.arpCache.get(ip);
    if (old === undefined && !create) return;
    if (old !== mac) {
      this.arpCache.set(ip, mac);
      this.lastNh = 0;
      this.onArpChange?.({
        host: this.name,
        ip,
        mac: macText(mac),
        was: old === undefined ? null : macText(old),
      });
    }
    const q = this.pending.get(ip);
    if (q) {
      this.pending.delete(ip);
      for (const s of q.slots) this.emitTo(s, ipv4.totalLen(this.dv, this.slab.start(s)), mac);
    }
  }

  deliver(u8: Uint8Array, off: number, len: number, from: number): boolean {
    this.receive(u8, off, len, from, -1);
    return true;
  }

  /**
   * A unicast frame for this host, with its slot (the switch's `give`): a reflected answer is written over the
   * packet in the same slot (nothing allocated or copied) when its IPv4 header starts at the slot's start, as
   * the nodes send it; otherwise as `deliver`, and the slot is freed.
   */
  take(slot: number, off: number, len: number, from: number): boolean {
    if (!this.receive(this.slab.u8, off, len, from, slot)) this.slab.free(slot);
    return true;
  }

  /** Receive a frame; with `slot` ≥ 0 (the frame's own) an answer may reuse it: returns whether it did. */
  private receive(u8: Uint8Array, off: number, len: number, from: number, slot: number): boolean {
    if (len < ethernet.HEADER_LEN) return false;
    const v = this.dv;
    const toUs = ethernet.dstEquals(v, off, this.macHi, this.macLo);
    // Broadcast, and IPv6 multicast (33:33:..., NDP to solicited-node and all-nodes groups) for a host with IPv6.
    if (!toUs && !ethernet.isBroadcast(v, off) && !(this.ip6 !== null && u8[off] === 0x33 && u8[off + 1] === 0x33))
      return false;
    let type = ethernet.ethertype(v, off);
    const hl = this.hl;
    if (this.vlan !== 0) {
      // Only frames tagged with our VLAN (a sub-interface); untagged frames are another interface's.
      if (type !== ethernet.ETHERTYPE_VLAN || len < hl || (v.getUint16(off + 14) & ethernet.VID_MASK) !== this.vlan)
        return false;
      type = v.getUint16(off + 16);
    }
    const o = off + hl;
    if (type === ethernet.ETHERTYPE_ARP) {
      if (arp.check(v, o, len - hl) !== 0) return false;
      const spa = arp.spa(v, o);
      const tpa = arp.tpa(v, o);
      const shaHi = (u8[o + 8]! << 8) | u8[o + 9]!;
      const shaLo = (u8[o + 10]! << 24) | (u8[o + 11]! << 16) | (u8[o + 12]! << 8) | u8[o + 13]!;
      const forUs = tpa === this.ip;
      const op = arp.op(v, o);
      if (this.ip === 0) return false; // an IPv6-only host
      if (spa !== 0 && spa !== this.ip) this.learn(spa, shaHi, shaLo, op === arp.OP_REPLY ? toUs : forUs);
      if (op === arp.OP_REQUEST && forUs && spa !== tpa) this.arpReply(u8, o, spa);
      return false;
    }
    if (type === ethernet.ETHERTYPE_IPV6) return this.receive6(u8, v, off, o, len - hl, toUs, from, slot);
    if (type !== ethernet.ETHERTYPE_IPV4 || !toUs) return false;
    if (ipv4.check(v, o, len - hl, true) !== 0) return false;
    const dst = ipv4.dst(v, o);
    if (dst !== this.ip && !(this.router && !this.onSegment(dst))) return false;
    this.counters[H.received]!++;
    const src = ipv4.src(v, o);
    if (src !== this.runSrc || this.runN === 0) {
      this.endRun();
      this.runSrc = src;
    }
    this.runN++;
    if (!this.reflect) return false;
    if (!this.sw.fromNode(from)) {
      this.counters[H.fromOutside]!++;
      return false;
    }
    const inPlace = slot >= 0 && o === this.slab.start(slot);
    const s = inPlace ? slot : this.slab.alloc();
    if (s < 0) {
      this.counters[H.noBuffer]!++;
      return false;
    }
    const n = reflectInto(u8, v, o, this.slab.start(s));
    if (n === 0) {
      this.counters[H.notAnswered]!++;
      if (!inPlace) this.slab.free(s);
      return false;
    }
    this.counters[H.reflected]!++;
    this.sendSlot(s, n);
    return inPlace;
  }

  /**
   * Send the IPv6 packet held by `slot` (at `slab.start(slot)`, `len` bytes) to its next hop (a route's
   * neighbour, else the destination: on-link), its MAC from the neighbour cache or resolved with a Neighbor
   * Solicitation (RFC 4861 §7.2.2; the packet waits, as for ARP). The host takes the slot.
   */
  sendSlot6(slot: number, len: number): void {
    const slab = this.slab;
    const v = this.dv;
    const o = slab.start(slot);
    if (len > this.mtu) {
      this.counters[H.tooBig]!++;
      slab.free(slot);
      return;
    }
    if (this.ip6 === null || v.getUint8(o + 24) === 0xff) {
      this.counters[H.unreachable]!++;
      slab.free(slot);
      return;
    }
    const d0 = v.getInt32(o + 24);
    const d1 = v.getInt32(o + 28);
    const d2 = v.getInt32(o + 32);
    const d3 = v.getInt32(o + 36);
    if (this.lastE6 >= 0 && d0 === this.lastD0 && d1 === this.lastD1 && d2 === this.lastD2 && d3 === this.lastD3) {
      this.emitTo6(slot, len, this.neigh6Mac[this.lastE6]!);
      return;
    }
    // The next hop: a route's neighbour, else the destination itself (on-link).
    let n0 = d0;
    let n1 = d1;
    let n2 = d2;
    let n3 = d3;
    const rt = this.routes6;
    for (let k = 0; k < rt.length; k += 12)
      if (
        (d0 & rt[k + 4]!) === rt[k] &&
        (d1 & rt[k + 5]!) === rt[k + 1] &&
        (d2 & rt[k + 6]!) === rt[k + 2] &&
        (d3 & rt[k + 7]!) === rt[k + 3]
      ) {
        n0 = rt[k + 8]!;
        n1 = rt[k + 9]!;
        n2 = rt[k + 10]!;
        n3 = rt[k + 11]!;
        break;
      }
    let e = this.neigh6.get(n0, n1, n2, n3);
    if (e >= 0 && this.neigh6Mac[e] !== INCOMPLETE) {
      this.lastE6 = e;
      this.lastD0 = d0;
      this.lastD1 = d1;
      this.lastD2 = d2;
      this.lastD3 = d3;
      this.emitTo6(slot, len, this.neigh6Mac[e]!);
      return;
    }
    if (e < 0) {
      if (this.neigh6Count >= NEIGH6_MAX) {
        this.counters[H.arpQueueFull]!++;
        slab.free(slot);
        return;
      }
      e = this.addEntry6(n0, n1, n2, n3);
    }
    const q = this.pending6.get(e);
    if (q) {
      if (q.slots.length < PENDING_PER_HOP) q.slots.push(slot);
      else {
        this.counters[H.arpQueueFull]!++;
        slab.free(slot);
      }
      return;
    }
    this.pending6.set(e, { since: this.sw.now, slots: [slot] });
    this.solicit(e);
  }

  private addEntry6(a0: number, a1: number, a2: number, a3: number): number {
    const e = this.neigh6Count++;
    this.neigh6.set(a0, a1, a2, a3, e);
    this.neigh6Ip[e * 4] = a0;
    this.neigh6Ip[e * 4 + 1] = a1;
    this.neigh6Ip[e * 4 + 2] = a2;
    this.neigh6Ip[e * 4 + 3] = a3;
    this.neigh6Mac[e] = INCOMPLETE;
    return e;
  }

  /** The Neighbor Solicitation for entry `e`'s address (an ARP miss's cost: the builder allocates a little). */
  private solicit(e: number): void {
    const s = this.slab.alloc();
    if (s < 0) {
      this.counters[H.noBuffer]!++;
      return;
    }
    const t = this.scratch6;
    for (let i = 0; i < 4; i++) {
      const w = this.neigh6Ip[e * 4 + i]!;
      t[i * 4] = w >>> 24;
      t[i * 4 + 1] = (w >>> 16) & 0xff;
      t[i * 4 + 2] = (w >>> 8) & 0xff;
      t[i * 4 + 3] = w & 0xff;
    }
    const o = this.slab.start(s);
    const n = ndp.emitSolicitFrame(this.dv, o, this.mac, this.ip6!, t);
    this.counters[H.ndpSolicits]!++;
    this.sw.send(this.index, s, o, n);
  }

  /** Write the Ethernet header (type IPv6) in front of the packet and queue it on the switch. */
  private emitTo6(slot: number, len: number, mac: number): void {
    const eo = this.slab.start(slot) - this.hl;
    const hi = Math.floor(mac / 4294967296);
    this.header(eo, hi, (mac - hi * 4294967296) | 0, ethernet.ETHERTYPE_IPV6);
    this.sw.send(this.index, slot, eo, len + this.hl);
  }

  /**
   * Learn `mac` (hi16, lo32) for the IPv6 address a0..a3 (Linux's rules, RFC 4861 §7.2.3, §7.2.5): `create` makes
   * an entry (an NS from the address); an existing MAC changes only with `override`; an INCOMPLETE entry is
   * resolved and its waiting packets leave.
   */
  private learn6(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    hi: number,
    lo: number,
    create: boolean,
    override: boolean,
  ): void {
    let e = this.neigh6.get(a0, a1, a2, a3);
    if (e < 0) {
      if (!create || this.neigh6Count >= NEIGH6_MAX) return;
      e = this.addEntry6(a0, a1, a2, a3);
    }
    const mac = hi * 4294967296 + (lo >>> 0);
    const old = this.neigh6Mac[e]!;
    if (old === mac || (old !== INCOMPLETE && !override)) return;
    this.neigh6Mac[e] = mac;
    this.lastE6 = -1;
    this.onNdpChange?.({
      host: this.name,
      ip: wordsToString(this.neigh6Ip, e),
      mac: macText(mac),
      was: old === INCOMPLETE ? null : macText(old),
    });
    const q = this.pending6.get(e);
    if (q) {
      this.pending6.delete(e);
      for (const s of q.slots) this.emitTo6(s, ipv6.HEADER_LEN + ipv6.payloadLen(this.dv, this.slab.start(s)), mac);
    }
  }

  /** An IPv6 packet at `o` (`len` bytes after the Ethernet header at `eth`): NDP, or a packet for this host. */
  private receive6(
    u8: Uint8Array,
    v: DataView,
    eth: number,
    o: number,
    len: number,
    toUs: boolean,
    from: number,
    slot: number,
  ): boolean {
    if (this.ip6 === null || ipv6.check(v, o, len) !== 0) return false;
    const total = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
    const r = ipv6.walk(v, o, total);
    if (r < 0) return false;
    const l4 = ipv6.walkL4Offset(o, r);
    const l4len = o + total - l4;
    if (
      ipv6.walkProto(r) === icmpv6.PROTO &&
      !ipv6.walkIsFragment(r) &&
      l4len >= icmpv6.HEADER_LEN &&
      ndp.isNdp(v.getUint8(l4))
    ) {
      this.ndpIn(v, eth, o, l4, l4len);
      return false;
    }
    if (!toUs || !this.isMine(v, o + 24)) return false;
    this.counters[H.received]!++;
    this.src6.add(v.getInt32(o + 8), v.getInt32(o + 12), v.getInt32(o + 16), v.getInt32(o + 20));
    if (!this.reflect) return false;
    if (!this.sw.fromNode(from)) {
      this.counters[H.fromOutside]!++;
      return false;
    }
    const inPlace = slot >= 0 && o === this.slab.start(slot);
    const s = inPlace ? slot : this.slab.alloc();
    if (s < 0) {
      this.counters[H.noBuffer]!++;
      return false;
    }
    const n = reflect6Into(u8, v, o, this.slab.start(s));
    if (n === 0) {
      this.counters[H.notAnswered]!++;
      if (!inPlace) this.slab.free(s);
      return false;
    }
    this.counters[H.reflected]!++;
    this.sendSlot6(s, n);
    return inPlace;
  }

  private isMine(v: DataView, p: number): boolean {
    return (
      v.getInt32(p) === this.w0 &&
      v.getInt32(p + 4) === this.w1 &&
      v.getInt32(p + 8) === this.w2 &&
      v.getInt32(p + 12) === this.w3
    );
  }

  /**
   * Neighbor Discovery (RFC 4861 §7.2): a valid NS for this host's address is answered with a solicited NA and
   * its source link-layer address learned (§7.2.3); an NA updates an entry that exists (§7.2.5: never creates
   * one), resolving an INCOMPLETE one, changing a known MAC only with the Override flag. The rest is ignored.
   */
  private ndpIn(v: DataView, eth: number, ip: number, m: number, len: number): void {
    if (ndp.check(v, ip, m, len) !== 0 || !icmpv6.checksumOk(v, ip, m, len)) return;
    const type = v.getUint8(m);
    const t = ndp.targetOffset(m);
    if (type === ndp.TYPE_NEIGHBOR_SOLICIT) {
      if (!this.isMine(v, t)) return;
      const sl = ndp.llaOption(v, m, len, ndp.OPT_SOURCE_LLA);
      if (sl >= 0 && !ipv6.isUnspecified(v, ip + 8))
        this.learn6(
          v.getInt32(ip + 8),
          v.getInt32(ip + 12),
          v.getInt32(ip + 16),
          v.getInt32(ip + 20),
          ndp.llaHi16(v, sl),
          ndp.llaLo32(v, sl),
          true,
          true,
        );
      const s = this.slab.alloc();
      if (s < 0) {
        this.counters[H.noBuffer]!++;
        return;
      }
      const o = this.slab.start(s);
      const n = ndp.emitSolicitedAdvertFrame(this.dv, o, this.mac, v, eth, ip, m, len);
      this.counters[H.ndpAdverts]!++;
      this.sw.send(this.index, s, o, n);
      return;
    }
    if (type !== ndp.TYPE_NEIGHBOR_ADVERT) return;
    const tl = ndp.llaOption(v, m, len, ndp.OPT_TARGET_LLA);
    if (tl < 0) return;
    const override = (ndp.naFlags(v, m) & ndp.FLAG_OVERRIDE) !== 0;
    this.learn6(
      v.getInt32(t),
      v.getInt32(t + 4),
      v.getInt32(t + 8),
      v.getInt32(t + 12),
      ndp.llaHi16(v, tl),
      ndp.llaLo32(v, tl),
      false,
      override,
    );
  }

  private arpReply(u8: Uint8Array, req: number, spa: number): void {
    const s = this.slab.alloc();
    if (s < 0) {
      this.counters[H.noBuffer]!++;
      return;
    }
    const o = this.slab.start(s);
    const v = this.dv;
    // Ethernet to the requester (its SHA), ARP reply with our MAC and address, THA/TPA the requester's.
    const hi = (u8[req + 8]! << 8) | u8[req + 9]!;
    const lo = (u8[req + 10]! << 24) | (u8[req + 11]! << 16) | (u8[req + 12]! << 8) | u8[req + 13]!;
    this.header(o, hi, lo, ethernet.ETHERTYPE_ARP);
    // RFC 826 reply: htype 1, ptype IPv4, hlen 6, plen 4, op 2, SHA/SPA ours, THA/TPA the requester's.
    const a = o + this.hl;
    v.setUint16(a, 1);
    v.setUint16(a + 2, ethernet.ETHERTYPE_IPV4);
    v.setUint8(a + 4, 6);
    v.setUint8(a + 5, 4);
    v.setUint16(a + 6, arp.OP_REPLY);
    v.setUint16(a + 8, this.macHi);
    v.setInt32(a + 10, this.macLo);
    v.setInt32(a + 14, this.ip);
    v.setUint16(a + 18, hi);
    v.setInt32(a + 20, lo);
    v.setInt32(a + 24, spa);
    this.counters[H.arpReplies]!++;
    this.sw.send(this.index, s, o, this.hl + arp.PACKET_LEN);
  }
}

/** Text of the `i`-th address of a table of 4-word IPv6 addresses (cold). */
function macText(mac: number): string {
  const hi = Math.floor(mac / 4294967296);
  return ethernet.macToString(ethernet.macFromInts(hi, (mac - hi * 4294967296) | 0));
}

/** An IPv4 header without options at `o`: TOS 0, DF, TTL 64, checksum computed. */
function writeHeader(v: DataView, o: number, id: number, proto: number, src: number, dst: number, total: number): void {
  v.setUint8(o, 0x45);
  v.setUint8(o + 1, 0);
  v.setUint16(o + 2, total);
  v.setUint16(o + 4, id);
  v.setUint16(o + 6, ipv4.FLAG_DF);
  v.setUint8(o + 8, 64);
  v.setUint8(o + 9, proto);
  v.setInt32(o + 12, src);
  v.setInt32(o + 16, dst);
  ipv4.fillChecksum(v, o);
}

/**
 * Write at `out` the answer a reflecting host sends to the IPv4 packet at `o` (`u8` and `v` view the same
 * bytes), and return
 * its length, or 0 for none: UDP echoed back (addresses and ports swapped, same payload); ICMP echo
 * request → echo reply; TCP SYN → SYN-ACK (ISN derived from the ports), TCP SYN-ACK, data or FIN → ACK.
 * The answer has no IP options and TTL 64; its IP, ICMP and TCP checksums are computed in full, the UDP one
 * kept (see below; the host does not verify it, so a wrong one is echoed wrong). `out` has room for the answer
 * (a slot: as long as the packet). `out` may be `o` (the answer written over the packet): every field is read
 * before anything is written, and the payload moves with `copyWithin`.
 */
export function reflectInto(u8: Uint8Array, v: DataView, o: number, out: number): number {
  if (ipv4.isFragment(v, o)) return 0;
  const hl = ipv4.headerLen(v, o);
  const tl = ipv4.totalLen(v, o);
  const proto = ipv4.proto(v, o);
  const src = ipv4.src(v, o);
  const dst = ipv4.dst(v, o);
  const l4 = o + hl;
  const l4len = tl - hl;
  const u = out + ipv4.HEADER_LEN;
  if (proto === ipv4.PROTO_UDP) {
    if (udp.check(v, l4, l4len) !== 0) return 0;
    const sport = udp.srcPort(v, l4);
    const dport = udp.dstPort(v, l4);
    const id = ipv4.id(v, o);
    if (u !== l4) u8.copyWithin(u, l4, l4 + l4len);
    writeHeader(v, out, id, proto, dst, src, ipv4.HEADER_LEN + l4len);
    // The UDP checksum stays valid as it is: swapping the addresses (pseudo-header) and the ports only reorders
    // the words of the one's-complement sum (RFC 1071: the sum is commutative). A zero checksum stays "none".
    udp.setSrcPort(v, u, dport);
    udp.setDstPort(v, u, sport);
    return ipv4.HEADER_LEN + l4len;
  }
  if (proto === ipv4.PROTO_ICMP) {
    if (icmp.check(v, l4, l4len) !== 0 || icmp.type(v, l4) !== icmp.TYPE_ECHO_REQUEST) return 0;
    const id = ipv4.id(v, o);
    if (u !== l4) u8.copyWithin(u, l4, l4 + l4len);
    writeHeader(v, out, id, proto, dst, src, ipv4.HEADER_LEN + l4len);
    icmp.setType(v, u, icmp.TYPE_ECHO_REPLY);
    icmp.fillChecksum(v, u, l4len);
    return ipv4.HEADER_LEN + l4len;
  }
  if (proto === ipv4.PROTO_TCP) {
    if (!tcpAnswer(v, l4, l4len, src)) return 0;
    const sport = tcp.srcPort(v, l4);
    const dport = tcp.dstPort(v, l4);
    writeHeader(v, out, ipv4.id(v, o), proto, dst, src, ipv4.HEADER_LEN + tcp.HEADER_LEN);
    writeTcpAnswer(v, u, sport, dport);
    tcp.fillChecksum(v, out, u);
    return ipv4.HEADER_LEN + tcp.HEADER_LEN;
  }
  return 0;
}

/** The TCP answer `tcpAnswer` chose: flags, sequence and acknowledgment numbers. */
const TCP_ANSWER = new Int32Array(3);

/**
 * The answer a reflecting host gives to the TCP segment at `l4` (`l4len` bytes), into TCP_ANSWER, or false for
 * none (a bad header, a RST, a bare ACK): a SYN gets a SYN-ACK (its sequence number a hash of the ports and
 * `salt`, the source address's last word), a SYN-ACK to a connection this host opened an ACK completing the
 * handshake, data or a FIN an ACK of it.
 */
function tcpAnswer(v: DataView, l4: number, l4len: number, salt: number): boolean {
  if (tcp.check(v, l4, l4len) !== 0) return false;
  const flags = tcp.flags(v, l4);
  if (flags & tcp.RST) return false;
  const dataLen = l4len - tcp.headerLen(v, l4);
  const seq = tcp.seq(v, l4);
  const a = TCP_ANSWER;
  if (flags & tcp.SYN && !(flags & tcp.ACK)) {
    a[0] = tcp.SYN | tcp.ACK;
    a[1] = (Math.imul(tcp.srcPort(v, l4) * 65536 + tcp.dstPort(v, l4), 0x9e3779b1) ^ salt) | 0;
    a[2] = (seq + 1) | 0;
  } else if (flags & tcp.SYN) {
    a[0] = tcp.ACK;
    a[1] = tcp.ack(v, l4);
    a[2] = (seq + 1) | 0;
  } else if (dataLen > 0 || flags & tcp.FIN) {
    a[0] = tcp.ACK;
    a[1] = tcp.ack(v, l4);
    a[2] = (seq + dataLen + (flags & tcp.FIN ? 1 : 0)) | 0;
  } else return false;
  return true;
}

/** The 20-byte TCP header of TCP_ANSWER at `u`, ports swapped, window 65535, checksum 0 (the caller fills it). */
function writeTcpAnswer(v: DataView, u: number, sport: number, dport: number): void {
  v.setUint16(u, dport);
  v.setUint16(u + 2, sport);
  v.setInt32(u + 4, TCP_ANSWER[1]!);
  v.setInt32(u + 8, TCP_ANSWER[2]!);
  tcp.setDataOffset(v, u, 5);
  tcp.setFlags(v, u, TCP_ANSWER[0]!);
  tcp.setWindow(v, u, 65535);
  tcp.setChecksumField(v, u, 0);
  tcp.setUrgent(v, u, 0);
}

/** An IPv6 header at `o`: traffic class and flow label 0, Hop Limit 64, addresses `src`/`dst` as words. */
function writeHeader6(
  v: DataView,
  o: number,
  nh: number,
  payload: number,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  d0: number,
  d1: number,
  d2: number,
  d3: number,
): void {
  ipv6.setVersionTcFl(v, o, 0, 0);
  ipv6.setPayloadLen(v, o, payload);
  ipv6.setNextHeader(v, o, nh);
  ipv6.setHopLimit(v, o, 64);
  ipv6.setSrcWords(v, o, s0, s1, s2, s3);
  ipv6.setDstWords(v, o, d0, d1, d2, d3);
}

/**
 * `reflectInto` for IPv6: the answer to the IPv6 packet at `o` written at `out` (may be `o`), its length or 0
 * for none. UDP echoed (addresses and ports swapped: the checksum stays valid, the pseudo-header's words are
 * only reordered), ICMPv6 echo request → echo reply, TCP as for IPv4; the answer has no extension headers and
 * Hop Limit 64. Fragments are not answered.
 */
export function reflect6Into(u8: Uint8Array, v: DataView, o: number, out: number): number {
  const total = ipv6.HEADER_LEN + ipv6.payloadLen(v, o);
  const r = ipv6.walk(v, o, total);
  if (r < 0 || ipv6.walkIsFragment(r)) return 0;
  const proto = ipv6.walkProto(r);
  const l4 = ipv6.walkL4Offset(o, r);
  const l4len = o + total - l4;
  const s0 = v.getInt32(o + 8);
  const s1 = v.getInt32(o + 12);
  const s2 = v.getInt32(o + 16);
  const s3 = v.getInt32(o + 20);
  const d0 = v.getInt32(o + 24);
  const d1 = v.getInt32(o + 28);
  const d2 = v.getInt32(o + 32);
  const d3 = v.getInt32(o + 36);
  const u = out + ipv6.HEADER_LEN;
  if (proto === ipv6.NH_UDP) {
    if (udp.check(v, l4, l4len) !== 0) return 0;
    const sport = udp.srcPort(v, l4);
    const dport = udp.dstPort(v, l4);
    if (u !== l4) u8.copyWithin(u, l4, l4 + l4len);
    writeHeader6(v, out, proto, l4len, d0, d1, d2, d3, s0, s1, s2, s3);
    udp.setSrcPort(v, u, dport);
    udp.setDstPort(v, u, sport);
    return ipv6.HEADER_LEN + l4len;
  }
  if (proto === ipv6.NH_ICMPV6) {
    if (icmpv6.check(v, l4, l4len) !== 0 || v.getUint8(l4) !== icmpv6.TYPE_ECHO_REQUEST) return 0;
    if (u !== l4) u8.copyWithin(u, l4, l4 + l4len);
    writeHeader6(v, out, proto, l4len, d0, d1, d2, d3, s0, s1, s2, s3);
    icmpv6.setType(v, u, icmpv6.TYPE_ECHO_REPLY);
    icmpv6.fillChecksum(v, out, u, l4len);
    return ipv6.HEADER_LEN + l4len;
  }
  if (proto === ipv6.NH_TCP) {
    if (!tcpAnswer(v, l4, l4len, s3)) return 0;
    const sport = tcp.srcPort(v, l4);
    const dport = tcp.dstPort(v, l4);
    writeHeader6(v, out, proto, tcp.HEADER_LEN, d0, d1, d2, d3, s0, s1, s2, s3);
    writeTcpAnswer(v, u, sport, dport);
    tcp.fillChecksum6(v, out, u);
    return ipv6.HEADER_LEN + tcp.HEADER_LEN;
  }
  return 0;
}
