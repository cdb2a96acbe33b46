/**
 * State one node's stages share: the compiled tables (swapped as one reference), the clock of the current
 * round, the connection table and the neighbour table. The agent owns it and sets `now` before each round.
 */
import { ConnTable, SNAT_RANDOM_FULLY, type ConnTableOptions } from '../../conntrack/index.js';
import type { Slab } from '../packet/index.js';
import { ArpClaims } from './arp.js';
import { geneve, geneveAuth } from '../wire/index.js';
import { DatapathTables, type NodeDatapathConfig } from './config.js';
import { Ct6 } from './ct6.js';
import type { FragmentOptions } from './defrag.js';
import { RateMeters } from './meter.js';
import { ErrorRateLimit } from './error-limit.js';
import { N_REACHABLE, NeighborTable, type NeighborOptions } from './neighbor.js';
import { NeighborTable6 } from './neighbor6.js';
import { PeerPins } from './peer-pins.js';
import { TunnelAuth, type TunnelAuthConfig } from './tunnel-auth.js';

export interface NodeStateOptions {
  /**
   * The table of connections this node translates: `maxConnections` (`--conntrack-max`), `perHostLimit` per pod
   * source address (`--conntrack-max-per-pod`, also applied to the inbound table by destination pod),
   * `tcpLiberal` (`--conntrack-tcp-liberal`, both tables).
   */
  conntrack?: ConnTableOptions;
  /** Size of the table of connections pods accept (default 16384), and of its IPv6 counterpart. */
  inboundConnections?: number;
  /** Size of the IPv6 connection table (ct6.ts; default 16384); its other options are `conntrack`'s. */
  ipv6Connections?: number;
  neighbor?: NeighborOptions;
  /** The IPv6 neighbour table (neighbor6.ts); default: `neighbor`'s options. */
  neighbor6?: NeighborOptions;
  /** UDP port of control traffic to the node IP (heartbeats); 0 for none. */
  controlPort?: number;
  /** SNAT every new connection to a random port (Antrea `snatFullyRandomPorts`). */
  snatFullyRandom?: boolean;
  /**
   * Per-packet Geneve authentication (docs/tunnel-auth.md); absent or null: off. Every node must agree: a
   * mismatch is a counted drop on both sides.
   */
  tunnelAuth?: TunnelAuthConfig | null;
  /** Sizes and timeout of the IPv4 reassembly table (defrag.ts). */
  fragments?: FragmentOptions;
  /** The rate limit on Time Exceeded errors (error-limit.ts): per second (default 1000) and burst (default 50). */
  icmpErrors?: { perSecond?: number; burst?: number };
}

/**
 * Handler of a control datagram: source address and port, payload bytes at `off` of `u8` (valid during the call),
 * and the Ethernet source MAC of the frame (hi 16, lo 32 bits; 0, 0 when it came from no Ethernet frame).
 */
export type ControlHandler = (
  srcIp: number,
  srcPort: number,
  u8: Uint8Array,
  off: number,
  len: number,
  macHi: number,
  macLo: number,
) => void;

export class NodeState {
  tables: DatapathTables;
  /** Milliseconds; the time of the round being processed. */
  now = 0;
  /** Connections this node translates (SNAT to the node IP or a hosted egress IP). */
  readonly ct: ConnTable;
  /**
   * Connections local pods accept from the segment, tracked without NAT (kept apart so that classify, which
   * must recognise their reply direction, pays a lookup only when there is any).
   */
  readonly ctIn: ConnTable;
  /** IPv6 connections this node translates (SNAT66), in a table of their own (ct6.ts). */
  readonly ct6: Ct6;
  /** IPv6 connections local pods accept from the segment, without NAT (ctIn's IPv6 counterpart, inbound6.ts). */
  readonly ctIn6: Ct6;
  readonly neigh: NeighborTable;
  /** IPv6 neighbours of the uplink (NDP, neighbor6.ts); the static ones of the configuration pinned. */
  readonly neigh6: NeighborTable6;
  /** The static IPv6 neighbours pinned now (4 words + MAC hi, lo each), to unpin those a new configuration drops. */
  private static6: number[][] = [];
  /** Peer IP ↔ MAC bindings learned from authenticated heartbeats (peer-pins.ts). */
  readonly pins = new PeerPins();
  /** Members of an IPv6 underlay pinned in `neigh6`: transport key → its IPv6 transport address (4 words). */
  private readonly pinned6 = new Map<number, number[]>();
  /** Rate meters of hosted egress IPs with `spec.bandwidth` (meter.ts), kept across reconfigurations. */
  readonly meters = new RateMeters();
  /** The rate limit on the ICMP and ICMPv6 errors this node originates (error-limit.ts). */
  readonly errorLimit: ErrorRateLimit;
  /** The last conflicting ARP claim of each kind (arp.ts), for the agent's log. */
  readonly arpClaims = new ArpClaims();
  readonly slab: Slab;
  readonly v: DataView;
  readonly u8: Uint8Array;
  controlPort: number;
  snatMode: number;
  /** Geneve authentication (null: off). */
  readonly tunnelAuth: TunnelAuth | null;
  /** Outer headers a tunnelled packet gets: 50, or 74 with tunnel authentication (its MTU check and pod MTU). */
  readonly tunnelOverhead: number;
  /** The reassembly table's sizes (defrag.ts reads them once). */
  readonly fragments: FragmentOptions;
  onControl: ControlHandler | null = null;
  /**
   * Do not answer ARP for hosted egress IPs (the node address still is): set while this agent may have been
   * frozen and its peers may own its IPs now, until membership has settled again.
   */
  holdEgress = false;
  private generation = 0;

  constructor(slab: Slab, config: NodeDatapathConfig, opts: NodeStateOptions = {}) {
    this.slab = slab;
    this.v = slab.dv;
    this.u8 = slab.u8;
    this.tunnelAuth = opts.tunnelAuth ? new TunnelAuth(opts.tunnelAuth) : null;
    this.tunnelOverhead = this.tunnelAuth ? geneveAuth.OVERHEAD : geneve.OVERHEAD;
    this.tables = new DatapathTables(config, 0, this.tunnelOverhead);
    this.meters.configure(config.egressMeters, this.now);
    const cto = opts.conntrack ?? {};
    this.ct = new ConnTable(cto);
    const seed = cto.seed;
    // Connections pods accept: opened by a SYN only (a forged ACK must not create one, docs/conntrack-security.md),
    // the per-pod limit counted on the destination (the pod), the same TCP window policy as the main table.
    const inbound = (k: number): ConnTableOptions => ({
      maxConnections: opts.inboundConnections ?? 16384,
      tcpLoose: false,
      ...(cto.tcpLiberal ? { tcpLiberal: true } : {}),
      ...(cto.perHostLimit ? { perHostLimit: Math.min(cto.perHostLimit, opts.inboundConnections ?? 16384) } : {}),
      perHostSide: 1,
      ...(seed !== undefined ? { seed: seed + k } : {}),
    });
    this.ctIn = new ConnTable(inbound(1));
    this.ctIn6 = new Ct6(inbound(3));
    const max6 = opts.ipv6Connections ?? 16384;
    this.ct6 = new Ct6({
      ...cto,
      maxConnections: max6,
      ...(cto.perHostLimit ? { perHostLimit: Math.min(cto.perHostLimit, max6) } : {}),
      ...(seed !== undefined ? { seed: seed + 2 } : {}),
    });
    // A worker of a set keeps the answers it hears for addresses another worker resolves (NeighborOptions.heard).
    const heard = this.ct.shardCount > 1 ? { heard: 16 } : {};
    this.neigh = new NeighborTable({ ...heard, ...opts.neighbor });
    this.neigh6 = new NeighborTable6({ ...heard, ...(opts.neighbor6 ?? opts.neighbor) });
    this.syncStatic6();
    this.controlPort = opts.controlPort ?? 0;
    this.errorLimit = new ErrorRateLimit(opts.icmpErrors?.perSecond, opts.icmpErrors?.burst);
    this.snatMode = opts.snatFullyRandom ? SNAT_RANDOM_FULLY : 0;
    this.fragments = opts.fragments ?? {};
  }

  /** Set the time of the round (ms): the stages' clock and the connection table's. */
  setNow(now: number): void {
    this.now = now;
    this.ct.setTime(now);
    this.ctIn.setTime(now);
    this.ct6.ct.setTime(now);
    this.ctIn6.ct.setTime(now);
  }

  /** Compile a new configuration and swap it in (between rounds). */
  configure(config: NodeDatapathConfig): DatapathTables {
    this.tables = new DatapathTables(config, ++this.generation, this.tunnelOverhead);
    this.meters.configure(config.egressMeters, this.now);
    this.reconcilePins();
    this.syncStatic6();
    return this.tables;
  }

  /**
   * Pin the static IPv6 neighbours of the configuration (`NodeDatapathConfig6.neighbors`) in `neigh6`, and unpin
   * those it no longer has: they stay as ordinary entries, re-probed when stale (cold path).
   */
  private syncStatic6(): void {
    const t6 = this.tables.v6;
    const want: number[][] = [];
    if (t6 !== null)
      for (let e = 0; e < t6.neighMacHi.length; e++)
        want.push([...t6.neighIp.subarray(e * 4, e * 4 + 4), t6.neighMacHi[e]!, t6.neighMacLo[e]!]);
    const same = (a: number[], b: number[]) => a.every((x, i) => x === b[i]);
    for (const o of this.static6) if (!want.some((w) => same(w, o))) this.neigh6.unpin(o[0]!, o[1]!, o[2]!, o[3]!);
    for (const w of want) this.neigh6.pin(w[0]!, w[1]!, w[2]!, w[3]!, w[4]!, w[5]!, this.now);
    this.static6 = want;
  }

  /**
   * A member's authenticated heartbeat came from MAC (hi16, lo32): pin its node IP to it for Geneve
   * decapsulation and in the neighbour table (docs/segment-security.md#peer-pins). Not for this node's own IP
   * nor for an address that is no member's.
   */
  pinPeer(ip: number, hi16: number, lo32: number): void {
    const t = this.tables;
    if ((ip | 0) === t.nodeIp || t.nodeByIp.get(ip | 0, -1) < 0) return;
    if (!this.pins.pin(ip, hi16, lo32)) return;
    const a = this.transport6(ip);
    // Over an IPv6 underlay the member's entry is its transport address's in the IPv6 neighbour table.
    if (a === null) this.neigh.pin(ip | 0, hi16 | 0, lo32 | 0, this.now);
    else {
      this.neigh6.pin(a[0]!, a[1]!, a[2]!, a[3]!, hi16 | 0, lo32 | 0, this.now);
      this.pinned6.set(ip | 0, a);
    }
  }

  /** The IPv6 transport address (4 words) of the member with transport key `key`, null without one (cold). */
  private transport6(key: number): number[] | null {
    const t6 = this.tables.v6;
    const e = t6 === null || !t6.underlay ? -1 : t6.transportIndex.get(key | 0, -1);
    return e < 0 ? null : Array.from(t6!.transportAddr.subarray(e * 4, e * 4 + 4));
  }

  /**
   * After a configuration change: a node that left the cluster loses its pin (its address is an ordinary
   * neighbour again); a member's address that is not pinned yet keeps nothing ARP said about it, nor does a
   * remote egress IP unless a member's MAC said it (cold path).
   */
  private reconcilePins(): void {
    const t = this.tables;
    for (const ip of this.pins.ips())
      if (ip === t.nodeIp || t.nodeByIp.get(ip, -1) < 0) {
        this.pins.unpin(ip);
        this.neigh.unpin(ip);
      }
    // IPv6 underlay entries: unpinned when the member left or its transport address changed.
    for (const [key, a] of [...this.pinned6]) {
      const now6 = this.pins.entry(key) >= 0 ? this.transport6(key) : null;
      if (now6 === null || now6.some((x, q) => x !== a[q])) {
        this.neigh6.unpin(a[0]!, a[1]!, a[2]!, a[3]!);
        this.pinned6.delete(key);
        if (now6 !== null) this.pins.unpin(key); // pinned again by its next heartbeat
      }
    }
    for (let i = 0; i < t.nodeIpOf.length; i++) {
      const ip = t.nodeIpOf[i]!;
      if (i === t.localNode || this.pins.match(ip, 0, 0) >= 0) continue;
      const a = this.transport6(ip);
      if (a === null) this.neigh.forget(ip);
      else this.neigh6.forget(a[0]!, a[1]!, a[2]!, a[3]!);
    }
    // An egress IP local pods now tunnel to: an entry ARP made before it was one is kept only if a member said it.
    const n = this.neigh;
    for (const [ip] of t.remoteEgress.entries()) {
      const e = n.find(ip);
      if (e >= 0 && n.state[e] === N_REACHABLE && !this.pins.isMemberMac(n.macHi[e]!, n.macLo[e]!)) n.forget(ip);
    }
  }
}
