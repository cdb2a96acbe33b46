/**
 * A simulated host on the replay segment: an external host (a `kind: ExternalHost` of the manifests, a source
 * address of the input capture, or the segment's default gateway acting as a router). It has its own ARP
 * cache with Linux's rules that matter for Egress failover (a request for its address or a reply creates an
 * entry; any ARP from a known address, gratuitous ARP included, updates it), resolves next hops with ARP
 * (queueing packets meanwhile), and with `reflect` answers what it receives: UDP echoed with addresses and
 * ports swapped, ICMP echo request → echo reply, TCP SYN → SYN-ACK, SYN-ACK, data or FIN → ACK. A router (the
 * gateway) also takes packets for any off-segment address and answers for that address.
 * Cold path: this is a test-bed model, it allocates freely.
 */
import { arp, ethernet, icmp, ipv4, tcp, udp } from '../wire/index.js';
import type { SegmentEndpoint, SimSwitch } from './sim-switch.js';

export interface HostRoute {
  addr: number;
  len: number;
  via: number;
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
}

export interface ArpChange {
  host: string;
  ip: number;
  mac: string;
  /** Previous MAC, or null for a new entry. */
  was: string | null;
}

const mask = (len: number) => (len === 0 ? 0 : (0xffffffff << (32 - len)) | 0);

export class SimHost implements SegmentEndpoint {
  readonly name: string;
  readonly ip: number;
  readonly mac: Uint8Array;
  up = true;
  readonly arpCache = new Map<number, Uint8Array>();
  /** Packets waiting for ARP, per next hop. */
  private readonly pending = new Map<number, Uint8Array[]>();
  readonly routes: HostRoute[];
  readonly reflect: boolean;
  readonly router: boolean;
  readonly stats = { received: 0, reflected: 0, arpRequests: 0, arpReplies: 0, unreachable: 0 };
  onArpChange: ((c: ArpChange) => void) | null = null;
  private readonly index: number;
  private readonly subnet: { addr: number; len: number };

  constructor(
    private readonly sw: SimSwitch,
    o: SimHostOptions,
  ) {
    this.name = o.name;
    this.ip = o.ip | 0;
    this.mac = o.mac;
    this.subnet = o.subnet;
    this.routes = (o.routes ?? []).slice().sort((a, b) => b.len - a.len);
    this.reflect = o.reflect ?? false;
    this.router = o.router ?? false;
    this.index = sw.attach(this);
  }

  private onSegment(a: number): boolean {
    const m = mask(this.subnet.len);
    return (a & m) === (this.subnet.addr & m);
  }

  /** Next hop for a destination, or 0 when unreachable. */
  nextHop(dst: number): number {
    if (this.onSegment(dst)) return dst;
    for (const r of this.routes) if ((dst & mask(r.len)) === (r.addr & mask(r.len))) return r.via;
    return 0;
  }

  /** Send an IPv4 packet (bytes of the IP packet) through this host's stack. */
  sendIp(pkt: Uint8Array): void {
    const v = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
    const nh = this.nextHop(ipv4.dst(v, 0));
    if (nh === 0) {
      this.stats.unreachable++;
      return;
    }
    const mac = this.arpCache.get(nh);
    if (mac) {
      this.sendFrame(this.frame(mac, ethernet.ETHERTYPE_IPV4, pkt));
      return;
    }
    const q = this.pending.get(nh);
    if (q) {
      if (q.length < 64) q.push(pkt);
      return;
    }
    this.pending.set(nh, [pkt]);
    this.arpRequest(nh);
  }

  /** Put a whole frame on the segment as this host. */
  sendFrame(frame: Uint8Array): void {
    if (this.up) this.sw.forward(this.index, frame, 0, frame.length);
  }

  private frame(dst: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
    const f = new Uint8Array(ethernet.HEADER_LEN + payload.length);
    f.set(dst, 0);
    f.set(this.mac, 6);
    f[12] = type >>> 8;
    f[13] = type & 0xff;
    f.set(payload, ethernet.HEADER_LEN);
    return f;
  }

  private arpRequest(target: number): void {
    const p = new Uint8Array(arp.PACKET_LEN);
    arp.emitRequest(new DataView(p.buffer), 0, this.mac, this.ip, target);
    this.stats.arpRequests++;
    this.sendFrame(this.frame(ethernet.BROADCAST, ethernet.ETHERTYPE_ARP, p));
  }

  private learn(ip: number, mac: Uint8Array, create: boolean): void {
    const old = this.arpCache.get(ip);
    if (!old && !create) return;
    if (!old || !sameMac(old, mac)) {
      this.arpCache.set(ip, mac);
      this.onArpChange?.({
        host: this.name,
        ip,
        mac: ethernet.macToString(mac),
        was: old ? ethernet.macToString(old) : null,
      });
    }
    const q = this.pending.get(ip);
    if (q) {
      this.pending.delete(ip);
      for (const p of q) this.sendFrame(this.frame(mac, ethernet.ETHERTYPE_IPV4, p));
    }
  }

  deliver(bytes: Uint8Array, off: number, len: number): void {
    if (len < ethernet.HEADER_LEN) return;
    const f = bytes.slice(off, off + len);
    const v = new DataView(f.buffer);
    const toUs = sameMac(f.subarray(0, 6), this.mac);
    if (!toUs && !ethernet.isBroadcast(v, 0)) return;
    const type = ethernet.ethertype(v, 0);
    if (type === ethernet.ETHERTYPE_ARP) {
      const o = ethernet.HEADER_LEN;
      if (arp.check(v, o, len - o) !== 0) return;
      const spa = arp.spa(v, o);
      const tpa = arp.tpa(v, o);
      const sha = f.slice(o + 8, o + 14);
      const forUs = tpa === this.ip;
      const op = arp.op(v, o);
      if (spa !== 0 && spa !== this.ip) this.learn(spa, sha, op === arp.OP_REPLY ? toUs : forUs);
      if (op === arp.OP_REQUEST && forUs && spa !== tpa) {
        const p = new Uint8Array(arp.PACKET_LEN);
        arp.emitReply(new DataView(p.buffer), 0, this.mac, this.ip, sha, spa);
        this.stats.arpReplies++;
        this.sendFrame(this.frame(sha, ethernet.ETHERTYPE_ARP, p));
      }
      return;
    }
    if (type !== ethernet.ETHERTYPE_IPV4 || !toUs) return;
    const o = ethernet.HEADER_LEN;
    if (ipv4.check(v, o, len - o, true) !== 0) return;
    const dst = ipv4.dst(v, o);
    if (dst !== this.ip && !(this.router && !this.onSegment(dst))) return;
    this.stats.received++;
    if (!this.reflect) return;
    const answer = reflectPacket(f.subarray(o, o + ipv4.totalLen(v, o)));
    if (answer) {
      this.stats.reflected++;
      this.sendIp(answer);
    }
  }
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The answer a reflecting host sends to an IPv4 packet, or null: UDP echoed back (addresses and ports
 * swapped, same payload); ICMP echo request → echo reply; TCP SYN → SYN-ACK (ISN derived from the ports),
 * TCP SYN-ACK, data or FIN → ACK. The answer's TTL is 64 and every checksum is computed in full.
 */
export function reflectPacket(pkt: Uint8Array): Uint8Array | null {
  const v = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  if (ipv4.isFragment(v, 0)) return null;
  const hl = ipv4.headerLen(v, 0);
  const tl = ipv4.totalLen(v, 0);
  const proto = ipv4.proto(v, 0);
  const src = ipv4.src(v, 0);
  const dst = ipv4.dst(v, 0);
  const l4len = tl - hl;
  const header = (payloadLen: number) => {
    const out = new Uint8Array(ipv4.HEADER_LEN + payloadLen);
    const ov = new DataView(out.buffer);
    ipv4.emit(
      {
        tos: 0,
        id: ipv4.id(v, 0),
        flagsFrag: ipv4.FLAG_DF,
        ttl: 64,
        proto,
        src: dst,
        dst: src,
        options: new Uint8Array(0),
        payloadLen,
      },
      ov,
      0,
    );
    return { out, ov };
  };
  if (proto === ipv4.PROTO_UDP) {
    if (udp.check(v, hl, l4len) !== 0) return null;
    const { out, ov } = header(l4len);
    out.set(pkt.subarray(hl, tl), ipv4.HEADER_LEN);
    const u = ipv4.HEADER_LEN;
    udp.setSrcPort(ov, u, udp.dstPort(v, hl));
    udp.setDstPort(ov, u, udp.srcPort(v, hl));
    udp.fillChecksum(ov, 0, u);
    return out;
  }
  if (proto === ipv4.PROTO_ICMP) {
    if (icmp.check(v, hl, l4len) !== 0 || icmp.type(v, hl) !== icmp.TYPE_ECHO_REQUEST) return null;
    const { out, ov } = header(l4len);
    out.set(pkt.subarray(hl, tl), ipv4.HEADER_LEN);
    icmp.setType(ov, ipv4.HEADER_LEN, icmp.TYPE_ECHO_REPLY);
    icmp.fillChecksum(ov, ipv4.HEADER_LEN, l4len);
    return out;
  }
  if (proto === ipv4.PROTO_TCP) {
    if (tcp.check(v, hl, l4len) !== 0) return null;
    const flags = tcp.flags(v, hl);
    if (flags & tcp.RST) return null;
    const dataLen = l4len - tcp.headerLen(v, hl);
    const seq = tcp.seq(v, hl);
    let rflags: number;
    let rseq: number;
    let rack: number;
    const isn = (Math.imul(tcp.srcPort(v, hl) * 65536 + tcp.dstPort(v, hl), 0x9e3779b1) ^ src) | 0;
    if (flags & tcp.SYN && !(flags & tcp.ACK)) {
      rflags = tcp.SYN | tcp.ACK;
      rseq = isn;
      rack = (seq + 1) | 0;
    } else if (flags & tcp.SYN) {
      // A SYN-ACK to a connection this host opened: complete the handshake.
      rflags = tcp.ACK;
      rseq = tcp.ack(v, hl);
      rack = (seq + 1) | 0;
    } else if (dataLen > 0 || flags & tcp.FIN) {
      rflags = tcp.ACK;
      rseq = tcp.ack(v, hl);
      rack = (seq + dataLen + (flags & tcp.FIN ? 1 : 0)) | 0;
    } else return null;
    const { out, ov } = header(tcp.HEADER_LEN);
    tcp.emit(
      {
        srcPort: tcp.dstPort(v, hl),
        dstPort: tcp.srcPort(v, hl),
        seq: rseq,
        ack: rack,
        flags: rflags,
        window: 65535,
        urgent: 0,
        options: new Uint8Array(0),
        payloadLen: 0,
      },
      ov,
      ipv4.HEADER_LEN,
    );
    tcp.fillChecksum(ov, 0, ipv4.HEADER_LEN);
    return out;
  }
  return null;
}
