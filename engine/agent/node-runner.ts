/**
 * A whole node: datapath (NodeAgent), control plane (NodeControl) and membership (heartbeats through the
 * datapath), driven by a clock the caller advances. The agent process runs one on real devices; replay runs one
 * per node on simulated ports in simulated time, so failover in replay is the same mechanism as on devices.
 *
 * Heartbeats leave as UDP datagrams from the node IP to each peer's node IP, port 10351, through the control
 * input (so they take the datapath's neighbour resolution) and arrive through control-in; received datagrams
 * are queued and handed to membership at the next `tick` (never in the middle of a datapath round, since a
 * membership change reconfigures the datapath). On an IPv6 underlay (docs/ipv6.md §2.l) they are UDP over IPv6
 * between the transport addresses; membership knows each node by its 32-bit transport key either way.
 */
import type { Port } from '../graph/index.js';
import {
  heartbeat,
  HEARTBEAT_PORT,
  isSyncPayload,
  Membership,
  tunnelAuthKey,
  type HeartbeatKey,
  type MembershipEvent,
} from '../cluster/index.js';
import { MemoryPort } from '../io/index.js';
import type { Slab } from '../packet/index.js';
import {
  mergeStatus,
  nodeTransportIP,
  nodeTransportIPv6,
  nodeTransportKey,
  type ClusterState,
  type EgressEvent,
  type EgressStatus,
  type NodeStatusFile,
} from '../policy/index.js';
import { ARP_CLAIM_COUNTERS, type NodeDatapathConfig } from '../stages/index.js';
import { ethernet, ipv4, ipv6, udp } from '../wire/index.js';
import { ConnSync, type ConnSyncOptions } from './conn-sync.js';
import { NodeControl } from './control.js';
import type { DatapathOptions } from './datapath.js';
import { macFor, NodeAgent, type PodPortFactory } from './node-agent.js';

/** Where a node reads the merged status and writes its own (the store's files, or memory in replay). */
export interface StatusStore {
  files(): Iterable<NodeStatusFile>;
  write(file: NodeStatusFile): void;
  events(events: readonly EgressEvent[]): void;
}

export type RunnerLog = (
  level: 'debug' | 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

export interface NodeRunnerOptions {
  name: string;
  state: ClusterState;
  slab: Slab;
  uplink: Port;
  pods: PodPortFactory;
  onPodPort?: (key: string, member: number, port: Port, added: boolean) => void;
  /** Told of every datapath configuration (NodeAgentOptions.onConfigure). */
  onConfigure?: (config: NodeDatapathConfig) => void;
  key: HeartbeatKey;
  incarnation: number;
  now: number;
  status: StatusStore;
  /** Heartbeat interval (default 50 ms) and failure timeout (default 500 ms). */
  intervalMs?: number;
  deadAfterMs?: number;
  /** Break-before-make delay for an IP taken from a live node (default 2 intervals). */
  handoverMs?: number;
  datapath?: DatapathOptions;
  /**
   * Per-packet Geneve authentication (docs/tunnel-auth.md): `siphash` tags every tunnelled packet with
   * SipHash-2-4 under a subkey of the cluster key and checks peers' tags and sequence numbers; `off` (default)
   * sends and accepts plain Geneve. Every node must agree.
   */
  tunnelAuth?: TunnelAuthMode;
  log?: RunnerLog;
  /** The date for status and events at monotonic time `now` (default: `now` is epoch ms, as in replay). */
  wall?: (now: number) => Date;
  /**
   * The incarnation to rejoin with after this Node was deleted and re-added (default: the last one + 1); it must
   * grow, or peers take the new heartbeats for replays.
   */
  nextIncarnation?: (last: number) => number;
  /**
   * Connection-state replication to each hosted egress IP's standby, and takeover with state
   * (docs/conntrack-sync.md): true or tuning options; off by default.
   */
  connSync?: boolean | Partial<Omit<ConnSyncOptions, 'self' | 'selfIp' | 'incarnation' | 'key' | 'table'>>;
}

/** Conflicting ARP claims are logged at most once per this interval (docs/segment-security.md#conflicting-arp). */
export const ARP_CLAIM_LOG_MS = 10_000;

/** `--tunnel-auth` values. */
export const TUNNEL_AUTH_MODES = ['off', 'siphash'] as const;
export type TunnelAuthMode = (typeof TUNNEL_AUTH_MODES)[number];

export class NodeRunner {
  readonly name: string;
  readonly agent: NodeAgent;
  /** Replaced when the Node is re-added after a delete (a fresh control plane and membership). */
  control: NodeControl;
  membership: Membership;
  /** Connection-state replication (null when off). Replaced with the membership when the Node rejoins. */
  sync: ConnSync | null = null;
  /**
   * This Node is not in the manifests (deleted while the agent runs): the runner hosts no egress IP, has left the
   * membership (peers were told at once), sends no heartbeats, and keeps the datapath running with the last pods
   * (docs/agent.md). A later state with the Node rejoins with a new incarnation.
   */
  detached = false;
  state: ClusterState;
  /** Membership events so far (for logs and the replay summary). */
  readonly history: Array<MembershipEvent & { self: string }> = [];
  private readonly controlPort: MemoryPort;
  private readonly rx: Array<{ src: number; payload: Uint8Array; macHi: number; macLo: number }> = [];
  private readonly status: StatusStore;
  private readonly log: RunnerLog;
  private wakeAt: number | null = null;
  private readonly nodeIp: number;
  /** This node's IPv6 transport address (null: the underlay is IPv4) and every node's, by transport key. */
  private readonly self6: Uint8Array | null;
  private addrs6: Map<number, Uint8Array>;
  private readonly wall: (now: number) => Date;
  private readonly opts: NodeRunnerOptions;
  /** Claim counters as last logged, and when the next line may be written. */
  private readonly claimsLogged: Record<string, number> = {};
  private claimsTotal = 0;
  private claimsLogAt = -Infinity;

  constructor(o: NodeRunnerOptions) {
    this.opts = o;
    this.name = o.name;
    this.state = o.state;
    this.status = o.status;
    this.log = o.log ?? (() => {});
    this.wall = o.wall ?? ((now) => new Date(Math.round(now)));
    const self = o.state.nodes.get(o.name);
    const ip = self ? nodeTransportKey(self) : null;
    if (ip === null) throw new Error(`Node ${o.name} has no transport address`);
    this.nodeIp = ip;
    const t6 = self ? nodeTransportIPv6(self) : null;
    this.self6 = t6 === null ? null : ipv6.parseAddr(t6);
    this.addrs6 = transportAddrs6(o.state);
    this.membership = this.newMembership(o.state, o.incarnation, o.now);
    this.control = this.newControl();
    const first = this.control.step(o.state, this.membership.alive(), this.current(), o.now, false, this.wall(o.now));
    this.controlPort = new MemoryPort({ name: `control:${o.name}`, slab: o.slab });
    this.agent = new NodeAgent({
      name: o.name,
      slab: o.slab,
      mac: macFor('node', ip),
      uplink: o.uplink,
      control: this.controlPort,
      view: first.view,
      withhold: first.withhold,
      pods: o.pods,
      ...(o.onPodPort ? { onPodPort: o.onPodPort } : {}),
      ...(o.onConfigure ? { onConfigure: o.onConfigure } : {}),
      ...(o.datapath ?? {}),
      ...(o.tunnelAuth === 'siphash'
        ? { tunnelAuth: { key: tunnelAuthKey(o.key), keyId: o.key.id, epochMs: o.incarnation } }
        : {}),
      controlPort: HEARTBEAT_PORT,
      snatFullyRandom: first.view.node?.snatFullyRandomPorts ?? false,
    });
    this.agent.datapath.state.now = o.now;
    this.sync = this.newSync();
    this.agent.datapath.state.onControl = (src, _sport, u8, off, len, macHi, macLo) => {
      if (this.rx.length < 4096) this.rx.push({ src, payload: u8.slice(off, off + len), macHi, macLo });
    };
  }

  private newMembership(state: ClusterState, incarnation: number, now: number): Membership {
    return new Membership(
      {
        self: { name: this.name, ip: this.nodeIp },
        peers: this.peers(state),
        key: this.opts.key,
        incarnation,
        intervalMs: this.opts.intervalMs ?? 50,
        deadAfterMs: this.opts.deadAfterMs ?? 500,
      },
      now,
    );
  }

  private newSync(): ConnSync | null {
    const o = this.opts.connSync;
    if (!o) return null;
    const s = new ConnSync({
      ...(o === true ? {} : o),
      self: this.name,
      selfIp: this.nodeIp,
      incarnation: this.membership.incarnation,
      key: this.opts.key,
      table: this.agent.datapath.state.ct,
    });
    s.echoOf = (ip) => this.membership.peers().find((p) => p.ip === ip)?.incarnation ?? 0;
    return s;
  }

  /** Inbound packets to a hosted egress IP that found no connection (unsnat `drop-no-conntrack`). */
  private noConntrackDrops(): number {
    const p = this.agent.datapath.pipeline;
    return p.stages[p.stageIndex('unsnat')]?.counters?.get('drop-no-conntrack') ?? 0;
  }

  private newControl(): NodeControl {
    return new NodeControl(this.name, this.opts.handoverMs ?? 2 * (this.opts.intervalMs ?? 50));
  }

  private peers(state: ClusterState): Array<{ name: string; ip: number }> {
    const out: Array<{ name: string; ip: number }> = [];
    for (const n of [...state.nodes.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
      if (n.metadata.name === this.name) continue;
      const ip = nodeTransportKey(n);
      if (ip !== null) out.push({ name: n.metadata.name, ip });
    }
    return out;
  }

  private current(): ReadonlyMap<string, EgressStatus> {
    return mergeStatus(this.state, this.status.files());
  }

  /** The applied objects changed. */
  setState(state: ClusterState, now: number): void {
    this.state = state;
    this.addrs6 = transportAddrs6(state);
    if (!state.nodes.has(this.name)) {
      if (!this.detached) this.detach(now);
      return;
    }
    if (this.detached) {
      this.rejoin(state, now);
      return;
    }
    this.handle(this.membership.setPeers(this.peers(state), now), now, true);
  }

  /**
   * This Node was deleted: tell the peers (a LEAVING heartbeat: they drop us at once and take over our egress
   * IPs), stop hosting and announcing, keep the pods' ports and the datapath's counters.
   */
  private detach(now: number): void {
    this.detached = true;
    this.log('warn', 'this Node was deleted from the manifests: egress IPs released, membership left', {
      released: this.control.hosted().map(ipv4.addrToString),
    });
    this.send(this.membership.leave(now), now);
    const v = this.agent.view;
    const view = { ...v, localEgressIps: [], localEgressIpSet: new Set<number>() };
    this.agent.apply(view, [], now, []);
    this.agent.datapath.state.holdEgress = true;
    this.control = this.newControl(); // hosts nothing, not ready
    this.wakeAt = null;
    this.rx.length = 0;
  }

  /** The Node is back: a fresh membership (a new incarnation, unsettled) and control plane, as at start. */
  private rejoin(state: ClusterState, now: number): void {
    const self = state.nodes.get(this.name);
    const t = self ? nodeTransportKey(self) : null;
    if (t === null || t !== this.nodeIp) {
      this.log('warn', 'this Node is back with another transport address: restart the agent to use it', {
        transportIp: self ? (nodeTransportIP(self) ?? nodeTransportIPv6(self)) : null,
      });
      return;
    }
    const last = this.membership.incarnation;
    const next = this.opts.nextIncarnation?.(last) ?? last + 1;
    this.membership = this.newMembership(state, Math.max(next, last + 1), now);
    this.control = this.newControl();
    this.sync = this.newSync();
    this.detached = false;
    this.log('info', 'this Node is back in the manifests: rejoining', { incarnation: this.membership.incarnation });
    this.resync(now);
  }

  /** Housekeeping: received heartbeats, heartbeats due, membership timeouts, pending handovers. */
  tick(now: number): void {
    if (this.detached) {
      this.rx.length = 0; // not a member: heartbeats to us are not answered
      return;
    }
    const events: MembershipEvent[] = [];
    for (const m of this.rx.splice(0)) {
      if (isSyncPayload(m.payload)) {
        this.sync?.receive(m.src, m.payload, now);
        continue;
      }
      const r = this.membership.receive(m.src, m.payload, now);
      // Authentic and fresh (HMAC, key, source IP, destination, replay counters all checked): pin the sender's
      // link binding for Geneve decapsulation and the neighbour table (docs/segment-security.md#peer-pins).
      if ((r.verdict === heartbeat.OK || r.verdict === heartbeat.UNCONFIRMED) && (m.macHi !== 0 || m.macLo !== 0))
        this.agent.datapath.pinPeer(m.src, m.macHi, m.macLo);
      events.push(...r.events);
    }
    const t = this.membership.tick(now);
    events.push(...t.events);
    if (t.send.length) this.send(t.send, now);
    const due = this.wakeAt !== null && this.wakeAt <= now;
    this.handle(events, now, due);
    if (this.sync) {
      const out = this.sync.tick(now, this.noConntrackDrops());
      out.push(...this.sync.urgent.splice(0));
      if (out.length) this.send(out, now);
    }
    if (now >= this.claimsLogAt) this.logArpClaims(now);
  }

  /**
   * One line for the conflicting ARP claims counted since the last line (at most one per ARP_CLAIM_LOG_MS):
   * how many of each kind and the last address and MAC of each. Ownership is not changed by them.
   */
  private logArpClaims(now: number): void {
    const dp = this.agent.datapath;
    const arp = dp.pipeline.stages[dp.pipeline.stageIndex('arp')]!.counters;
    if (!arp) return;
    let total = 0;
    for (const k of ARP_CLAIM_COUNTERS) total += arp.get(k);
    if (total === this.claimsTotal) return;
    const fields: Record<string, unknown> = {};
    for (const k of ARP_CLAIM_COUNTERS) {
      const d = arp.get(k) - (this.claimsLogged[k] ?? 0);
      if (d <= 0) continue;
      const last = dp.state.arpClaims.last(k);
      const mac = ethernet.macToString(ethernet.macFromInts(last.macHi, last.macLo));
      fields[k] = { frames: d, last: `${ipv4.addrToString(last.ip)} from ${mac}` };
      this.claimsLogged[k] = arp.get(k);
    }
    this.claimsTotal = total;
    this.claimsLogAt = now + ARP_CLAIM_LOG_MS;
    this.log('warn', 'ARP from the segment claimed addresses it does not own; ignored, ownership unchanged', fields);
  }

  private send(out: ReadonlyArray<{ dstIp: number; payload: Uint8Array }>, now: number): void {
    // One datapath round per burst of the control port (a full transfer can be many datagrams).
    const step = this.controlPort.batchSize;
    let i = 0;
    do {
      for (const o of out.slice(i, i + step)) {
        if (this.self6 === null) this.controlPort.inject(datagram(this.nodeIp, o.dstIp, o.payload));
        else {
          const dst = this.addrs6.get(o.dstIp);
          if (dst) this.controlPort.inject(datagram6(this.self6, dst, o.payload));
        }
      }
      this.agent.datapath.pollControl(now);
      i += step;
    } while (i < out.length);
  }

  private handle(events: readonly MembershipEvent[], now: number, resync: boolean): void {
    let force = false;
    for (const e of events) {
      this.history.push({ ...e, self: this.name });
      this.log(e.type === 'dead' ? 'warn' : 'info', `membership: ${describe(e)}`, { event: e.type });
      switch (e.type) {
        case 'alive':
        case 'dead':
          resync = true;
          break;
        case 'paused':
          this.agent.datapath.state.holdEgress = true;
          break;
        case 'settled':
          this.control.ready = true;
          this.agent.datapath.state.holdEgress = false;
          resync = true;
          force = true;
          break;
        case 'revived-by':
          resync = true;
          force = true;
          break;
        default:
          break;
      }
    }
    if (resync) this.resync(now, force);
  }

  /** Run the control plane and hand the datapath the result. */
  resync(now: number, forceAnnounce = false): void {
    if (this.detached) return;
    const s = this.control.step(
      this.state,
      this.membership.alive(),
      this.current(),
      now,
      forceAnnounce,
      this.wall(now),
    );
    if (s.statusChanged) this.status.write(s.status);
    if (s.events.length) {
      this.status.events(s.events);
      for (const e of s.events) this.log('info', e.message, { reason: e.reason, egress: e.egress, ip: e.ip });
    }
    // Takeover with state: the replicated connections of the IPs announced now are installed before the
    // gratuitous ARP goes out and before the datapath answers ARP for them.
    this.sync?.takeover(s.announce, now, this.noConntrackDrops());
    const { added, removed } = this.agent.apply(s.view, s.announce, now, s.withhold, s.announce6);
    this.wakeAt = s.wakeAt;
    if (this.sync) {
      this.sync.update(this.state, this.membership.alive(), this.control.hosted(), now);
      const urgent = this.sync.urgent.splice(0);
      if (urgent.length) this.send(urgent, now);
    }
    if (s.announce.length || s.announce6.length || added.length || removed.length || s.withhold.length)
      this.log('info', 'datapath reconfigured', {
        hosted: this.control.hosted().map(ipv4.addrToString),
        withheld: s.withhold.map(ipv4.addrToString),
        announced: [...s.announce.map(ipv4.addrToString), ...s.announce6],
        podsAdded: added,
        podsRemoved: removed,
      });
  }

  /** Graceful stop: tell the peers at once (membership `leave`). */
  leave(now: number): void {
    if (this.detached) return;
    // Hand the connections to the standbys first: they take the IPs over as soon as the LEAVING heartbeat lands.
    const handed = this.sync?.handOver(now) ?? [];
    if (handed.length) this.send(handed, now);
    this.send(this.membership.leave(now), now);
  }
}

function describe(e: MembershipEvent): string {
  switch (e.type) {
    case 'alive':
      return `${e.node} is alive`;
    case 'dead':
      return `${e.node} is dead (${e.reason}${e.reason === 'silent' ? `, silent ${Math.round(e.silentMs)} ms` : ''})`;
    case 'revived-by':
      return `${e.node} holds us alive again`;
    case 'dropped-by':
      return `${e.node} no longer holds us alive`;
    case 'paused':
      return `this agent was stalled for ${Math.round(e.gapMs)} ms: not answering for egress IPs until membership settles`;
    case 'settled':
      return `membership settled (${e.reason})`;
  }
}

/** Every Node's IPv6 transport address by its transport key (docs/ipv6.md §2.l). */
function transportAddrs6(state: ClusterState): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const n of state.nodes.values()) {
    const t6 = nodeTransportIPv6(n);
    const a = t6 === null ? null : ipv6.parseAddr(t6);
    if (a) out.set(nodeTransportKey(n)!, a);
  }
  return out;
}

/**
 * An IPv6/UDP datagram from `src`:10351 to `dst`:10351 (16-byte addresses) carrying `payload`: Traffic Class 0xc0
 * as the IPv4 heartbeats' TOS, Hop Limit 64, the UDP checksum (mandatory over IPv6).
 */
export function datagram6(src: Uint8Array, dst: Uint8Array, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(48 + payload.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, (6 << 28) | (0xc0 << 20));
  v.setUint16(4, 8 + payload.length);
  v.setUint8(6, ipv6.NH_UDP);
  v.setUint8(7, 64);
  p.set(src, 8);
  p.set(dst, 24);
  udp.emit({ srcPort: HEARTBEAT_PORT, dstPort: HEARTBEAT_PORT, payloadLen: payload.length }, v, 40);
  p.set(payload, 48);
  udp.fillChecksum6(v, 0, 40);
  return p;
}

/** An IPv4/UDP datagram from `src`:10351 to `dst`:10351 carrying `payload`, with its checksums. */
export function datagram(src: number, dst: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(28 + payload.length);
  const v = new DataView(p.buffer);
  ipv4.emit(
    {
      tos: 0xc0,
      id: 0,
      flagsFrag: ipv4.FLAG_DF,
      ttl: 64,
      proto: ipv4.PROTO_UDP,
      src,
      dst,
      options: new Uint8Array(0),
      payloadLen: 8 + payload.length,
    },
    v,
    0,
  );
  udp.emit({ srcPort: HEARTBEAT_PORT, dstPort: HEARTBEAT_PORT, payloadLen: payload.length }, v, 20);
  p.set(payload, 28);
  udp.fillChecksum(v, 0, 20);
  return p;
}
