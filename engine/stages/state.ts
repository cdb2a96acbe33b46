/**
 * State one node's stages share: the compiled tables (swapped as one reference), the clock of the current
 * round, the connection table and the neighbour table. The agent owns it and sets `now` before each round.
 */
import { ConnTable, SNAT_RANDOM_FULLY, type ConnTableOptions } from '../../conntrack/index.js';
import type { Slab } from '../packet/index.js';
import { DatapathTables, type NodeDatapathConfig } from './config.js';
import { NeighborTable, type NeighborOptions } from './neighbor.js';
import { PeerPins } from './peer-pins.js';

export interface NodeStateOptions {
  /**
   * The table of connections this node translates: `maxConnections` (`--conntrack-max`), `perHostLimit` per pod
   * source address (`--conntrack-max-per-pod`, also applied to the inbound table by destination pod),
   * `tcpLiberal` (`--conntrack-tcp-liberal`, both tables).
   */
  conntrack?: ConnTableOptions;
  /** Size of the table of connections pods accept (default 16384). */
  inboundConnections?: number;
  neighbor?: NeighborOptions;
  /** UDP port of control traffic to the node IP (heartbeats); 0 for none. */
  controlPort?: number;
  /** SNAT every new connection to a random port (Antrea `snatFullyRandomPorts`). */
  snatFullyRandom?: boolean;
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
  readonly neigh: NeighborTable;
  /** Peer IP ↔ MAC bindings learned from authenticated heartbeats (peer-pins.ts). */
  readonly pins = new PeerPins();
  readonly slab: Slab;
  readonly v: DataView;
  readonly u8: Uint8Array;
  controlPort: number;
  snatMode: number;
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
    this.tables = new DatapathTables(config, 0);
    const cto = opts.conntrack ?? {};
    this.ct = new ConnTable(cto);
    const seed = cto.seed;
    // Connections pods accept: opened by a SYN only (a forged ACK must not create one, docs/conntrack-security.md),
    // the per-pod limit counted on the destination (the pod), the same TCP window policy as the main table.
    this.ctIn = new ConnTable({
      maxConnections: opts.inboundConnections ?? 16384,
      tcpLoose: false,
      ...(cto.tcpLiberal ? { tcpLiberal: true } : {}),
      ...(cto.perHostLimit ? { perHostLimit: Math.min(cto.perHostLimit, opts.inboundConnections ?? 16384) } : {}),
      perHostSide: 1,
      ...(seed !== undefined ? { seed: seed + 1 } : {}),
    });
    this.neigh = new NeighborTable(opts.neighbor ?? {});
    this.controlPort = opts.controlPort ?? 0;
    this.snatMode = opts.snatFullyRandom ? SNAT_RANDOM_FULLY : 0;
  }

  /** Set the time of the round (ms): the stages' clock and the connection table's. */
  setNow(now: number): void {
    this.now = now;
    this.ct.setTime(now);
    this.ctIn.setTime(now);
  }

  /** Compile a new configuration and swap it in (between rounds). */
  configure(config: NodeDatapathConfig): DatapathTables {
    this.tables = new DatapathTables(config, ++this.generation);
    return this.tables;
  }
}
