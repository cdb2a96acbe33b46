/**
 * What the agent's main thread and its datapath workers (`egress agent --workers N`, docs/agent.md "Workers")
 * say to each other. Everything here is structured-clone data: configurations, fds, SharedArrayBuffers of the
 * handoff rings; no packet crosses a message (packets cross the rings).
 */
import type { DatapathOptions } from '../../engine/agent/datapath.js';
import type { NodeDatapathConfig } from '../../engine/stages/index.js';
import type { NeighborRow } from './worker-neighbors.js';

/** `workerData` of worker `index` (1..count-1; the main thread is worker 0). */
export interface WorkerInit {
  index: number;
  count: number;
  node: string;
  slabSlots: number;
  batch: number;
  budget: number;
  tickMs: number;
  expireBudget: number;
  /** The datapath options with `conntrack.portShards = [count, index]`; no functions. */
  options: DatapathOptions;
  config: NodeDatapathConfig;
  uplink: { fd: number; ifname: string };
  pods: Array<{ key: string; member: number; fd: number; ifname: string }>;
  /** rings[from][to]: the SharedArrayBuffer of the ring from worker `from` to worker `to` (null on the diagonal). */
  rings: Array<Array<SharedArrayBuffer | null>>;
  /** Already known neighbours (ARP, NDP) and pinned peers. */
  neighbors: { 4: NeighborRow[]; 6: NeighborRow[] };
  pins: Array<[number, number, number]>;
  holdEgress: boolean;
}

export type ToWorker =
  | { type: 'config'; config: NodeDatapathConfig }
  | { type: 'pod-add'; key: string; member: number; fd: number; ifname: string }
  | { type: 'pod-remove'; key: string; member: number }
  | { type: 'pin'; ip: number; macHi: number; macLo: number }
  | { type: 'neighbor'; family: 4 | 6; row: NeighborRow }
  | { type: 'solicit'; family: 4 | 6; addr: number[]; vlan: number }
  | { type: 'hold'; hold: boolean }
  | { type: 'stop' };

/** A worker's counters, every report interval. */
export interface WorkerCounters {
  index: number;
  stages: Record<string, { exits: Record<string, number>; counters: Record<string, number> }>;
  conntrack: { size: number; counters: Record<string, number> };
  ports: { uplink: Record<string, number>; handoff: Record<string, number> };
  runtime: { wakeups: number; polls: number; packets: number; ticks: number };
}

export type FromWorker =
  | { type: 'ready'; index: number }
  | { type: 'control'; src: number; sport: number; payload: Uint8Array; macHi: number; macLo: number }
  | { type: 'neighbor'; index: number; family: 4 | 6; row: NeighborRow }
  | { type: 'solicit'; index: number; family: 4 | 6; addr: number[]; vlan: number }
  | { type: 'pod-closed'; index: number; key: string }
  | { type: 'counters'; counters: WorkerCounters }
  | { type: 'fault'; index: number; where: string; message: string; stack: string }
  | { type: 'stopped'; index: number };
