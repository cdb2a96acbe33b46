/**
 * Port: where packets enter and leave the engine. TUN, TAP, pcap files, in-memory channels and the simulated
 * L2 switch all implement it, so one pipeline runs over any of them (Snabb apps, smoltcp `phy::Device`,
 * wireguard-go `tun.Device`).
 */
import type { Burst } from '../packet/index.js';

export interface Port {
  /** Name for logs and counters (`pod:prod/web-1`, `uplink`, `pcap:in.pcap`). */
  readonly name: string;
  /** Largest number of packets one recv or send moves; fixed for the port's lifetime. */
  readonly batchSize: number;
  /**
   * Append up to `min(burst.room, batchSize)` received packets to `burst`, each in a slot of `burst.slab`
   * starting at the slot's headroom; returns how many were appended (0 when nothing is ready).
   * Sets `off`, `len`, `slot`, `port` (unset fields are zeroed, `l3` = -1) and, when known, the timestamp.
   */
  recv(burst: Burst): number;
  /**
   * Transmit packets 0..burst.count-1 of `burst`. The port does not free the slots: the caller does after
   * send returns (`burst.freeAll()`), except those the port kept with `burst.keep(i)` (a simulated wire that
   * hands the slot on). A packet that cannot be sent is counted by the port, never thrown.
   */
  send(burst: Burst): void;
  /** Release the port's resources; idempotent. */
  close(): void;
}
