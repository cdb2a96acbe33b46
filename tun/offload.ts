/**
 * GSO super-packets between TUN/TAP ports opened with `vnetHdr` (tun/src/vnet.cc has the native half).
 *
 * A pod TUN with TUNSETOFFLOAD(TSO4 | USO) hands over a TCP (or UDP-GSO) send of up to 64 KiB in one read. The
 * engine's packets are ~2 KiB slab slots, so the super-packet is split where it lands: its head in the slot, the
 * rest in this table's *jumbo ring*, and the head is turned into a real first segment, the *probe*, which goes
 * through the pipeline like any packet (spoofguard, classify, SNAT with conntrack, neighbour, Ethernet). The
 * port that sends the probe looks it up here by slot and writes the whole super-packet with the probe's
 * rewritten headers (one GSO write, or segments when the probe was encapsulated and the device takes no tunnel
 * GSO). So the datapath's semantics (every decision, every counter) are the probe's, and 44 segments cost one
 * read and one write; connection tracking counts the probe as its whole super-packet (`Slab.tcpTail`), since the
 * receiver acknowledges all of it.
 *
 * Tunnel GSO (Linux 6.17+, TapPort `tunnelGso`): the uplink TAP with a 24-byte vnet header and
 * TUNSETOFFLOAD(`UPLINK_OFFLOADS`) takes a Geneve frame around a super-packet in one write (the kernel cuts inner
 * and outer headers alike) and hands over the ones another node wrote, and plain TCP super-packets from the
 * segment, whole (on the bridge nothing segments them: the receiving TAP has the feature). Read, such a frame
 * becomes a probe too: outer and inner lengths and checksums of its first segment, recorded at the inner IPv4
 * header, so after decapsulation (which only moves `off`) and SNAT the egress node writes a plain TCP GSO
 * super-packet; the reverse direction (plain super-packet in, Geneve out) is the same table entry seen the
 * other way.
 *
 * The table is per slab (ports that share a slab share it) and indexed by slot. An entry is only trusted when
 * the packet sent from that slot still is the probe: same IPv4 header position, IP identification and TCP
 * sequence number as when it was read, and a jumbo area not reused since (a probe held longer than the ring
 * turns over — a neighbour queue — is sent as its first segment alone, counted `tx-gso-lost`). Entries are
 * cleared when used and when a vnet port reads a new packet into the slot.
 */
import type { Slab } from '../engine/index.js';

/**
 * TUNSETOFFLOAD flags (linux/if_tun.h; USO needs both USO4 and USO6; the UDP-tunnel ones are Linux 6.17+ and need
 * a plain GSO flag with them).
 */
export const TUN_F = {
  CSUM: 0x01,
  TSO4: 0x02,
  TSO6: 0x04,
  TSO_ECN: 0x08,
  USO4: 0x20,
  USO6: 0x40,
  UDP_TUNNEL_GSO: 0x80,
  UDP_TUNNEL_GSO_CSUM: 0x100,
} as const;

/** What a pod TUN asks for with offloads on: partial checksums, TCP and UDP segmentation offload. */
export const POD_OFFLOADS = TUN_F.CSUM | TUN_F.TSO4 | TUN_F.TSO6 | TUN_F.TSO_ECN | TUN_F.USO4 | TUN_F.USO6;

/**
 * What an uplink TAP asks for with tunnel GSO: partial checksums, IPv4 TSO (plain TCP super-packets from the
 * segment, the reverse direction) and UDP-tunnel GSO (Geneve super-packets whole, both ways). No outer UDP checksum
 * offload: the engine's Geneve carries none. IPv6 and UDP GSO stay segmented by the kernel (the probe path is IPv4).
 */
export const UPLINK_OFFLOADS = TUN_F.CSUM | TUN_F.TSO4 | TUN_F.TSO_ECN | TUN_F.UDP_TUNNEL_GSO;

/** vnet header sizes: struct virtio_net_hdr, and struct virtio_net_hdr_v1_hash_tunnel (TUNSETVNETHDRSZ). */
export const VNET_HDR = 10;
export const VNET_HDR_TUNNEL = 24;

/** gso_type values and bits (linux/virtio_net.h) the TypeScript side looks at. */
export const GSO_TCPV4 = 1;
export const GSO_TUNNEL_V4 = 0x20;

/** Bytes of a super-packet past its slot: 64 KiB holds any IPv4 packet's tail. */
export const JUMBO_SIZE = 65536;
/** Jumbo areas in the ring (8 MiB): a probe must be sent before this many more reads of vnet ports. */
export const JUMBO_RING = 128;
/** Int32s per packet in the native meta arrays (vnet.cc). */
export const META = 8;

const tables = new WeakMap<Slab, GsoTable>();

export class GsoTable {
  readonly jumbo: ArrayBuffer;
  /** Times each jumbo area was handed to a read (a probe remembers the generation it got). */
  private readonly jumboGen: Int32Array;
  private cursor = 0;
  // Per slot:
  readonly type: Uint8Array;
  private readonly gsoSize: Uint16Array;
  private readonly hlen: Uint16Array;
  private readonly l3: Int32Array;
  private readonly inSlot: Int32Array;
  private readonly tailLen: Int32Array;
  private readonly jumboIdx: Int32Array;
  private readonly gen: Int32Array;
  private readonly ipId: Uint16Array;
  private readonly seq: Int32Array;
  private readonly dv: DataView;

  private constructor(slab: Slab) {
    this.jumbo = new ArrayBuffer(JUMBO_SIZE * JUMBO_RING);
    this.jumboGen = new Int32Array(JUMBO_RING);
    const n = slab.slots;
    this.type = new Uint8Array(n);
    this.gsoSize = new Uint16Array(n);
    this.hlen = new Uint16Array(n);
    this.l3 = new Int32Array(n);
    this.inSlot = new Int32Array(n);
    this.tailLen = new Int32Array(n);
    this.jumboIdx = new Int32Array(n);
    this.gen = new Int32Array(n);
    this.ipId = new Uint16Array(n);
    this.seq = new Int32Array(n);
    this.dv = slab.dv;
  }

  /** The table of a slab (created on first use). */
  static of(slab: Slab): GsoTable {
    let t = tables.get(slab);
    if (!t) {
      t = new GsoTable(slab);
      tables.set(slab, t);
    }
    return t;
  }

  /** Jumbo areas for the next `n` reads: byte offsets into `out[0..n)`; returns the first area's index. */
  reserve(n: number, out: Int32Array): number {
    const first = this.cursor;
    let j = first;
    for (let i = 0; i < n; i++) {
      this.jumboGen[j]!++;
      out[i] = j * JUMBO_SIZE;
      j = j + 1 === JUMBO_RING ? 0 : j + 1;
    }
    this.cursor = j;
    return first;
  }

  /**
   * Records the probe in `slot` (the IPv4 header of its segmented packet at `l3`: inside Geneve for a tunnel
   * super-packet), read with meta row `m` into jumbo area `jumbo`. The type kept is the inner one: the writer
   * adds the tunnel bit when the frame it sends is encapsulated.
   */
  record(slot: number, l3: number, meta: Int32Array, m: number, jumbo: number): void {
    const dv = this.dv;
    this.type[slot] = meta[m]! & ~GSO_TUNNEL_V4;
    this.gsoSize[slot] = meta[m + 1]!;
    this.hlen[slot] = meta[m + 2]!;
    this.inSlot[slot] = meta[m + 4]!;
    this.tailLen[slot] = meta[m + 5]!;
    this.l3[slot] = l3;
    this.jumboIdx[slot] = jumbo;
    this.gen[slot] = this.jumboGen[jumbo]!;
    this.ipId[slot] = dv.getUint16(l3 + 4);
    const ihl = (dv.getUint8(l3) & 0x0f) << 2;
    this.seq[slot] = dv.getUint8(l3 + 9) === 6 ? dv.getInt32(l3 + ihl + 4) : 0;
  }

  clear(slot: number): void {
    this.type[slot] = 0;
  }

  /**
   * If the frame at [off, off+len) in `slot` is the probe recorded there, fills the writer's meta row `m` and
   * returns 1; 0 when there is no entry; -1 when there was one but the tail is gone (a held probe overtaken by
   * the ring). The entry is cleared either way.
   */
  take(slot: number, off: number, len: number, meta: Int32Array, m: number): number {
    const type = this.type[slot]!;
    if (type === 0) return 0;
    this.type[slot] = 0;
    const l3 = this.l3[slot]!;
    const hlen = this.hlen[slot]!;
    const dv = this.dv;
    if (l3 < off || l3 + hlen > off + len) return 0;
    if (dv.getUint16(l3 + 4) !== this.ipId[slot]) return 0;
    const ihl = (dv.getUint8(l3) & 0x0f) << 2;
    if (dv.getUint8(l3 + 9) === 6 && dv.getInt32(l3 + ihl + 4) !== this.seq[slot]) return 0;
    const j = this.jumboIdx[slot]!;
    if (this.jumboGen[j] !== this.gen[slot]) return -1;
    meta[m] = type;
    meta[m + 1] = this.gsoSize[slot]!;
    meta[m + 2] = l3 - off;
    meta[m + 3] = hlen;
    meta[m + 4] = l3 + hlen;
    meta[m + 5] = this.inSlot[slot]! - hlen;
    meta[m + 6] = j * JUMBO_SIZE;
    meta[m + 7] = this.tailLen[slot]!;
    return 1;
  }
}
