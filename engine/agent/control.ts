/**
 * One node's control plane over time: the policy layer's `syncNode` (schedule, hosted egress IPs, status,
 * events, compiled view) plus the ownership rules membership needs, shared by the agent process and replay:
 *
 * - Nothing is claimed before the first `settled` of membership (`ready`): a starting agent has not heard its
 *   peers yet. Until then the datapath gets the view with every egress IP withheld.
 * - Break before make between live nodes: an IP this node gains from another node that is still alive (a
 *   nodeSelector change, a resumed node taking its IP back) is withheld for `handoverMs`, so the previous owner,
 *   which sees the same change at about the same time, has stopped answering ARP before this node starts. An IP
 *   gained from a dead node (failover) is taken at once.
 * - A newly hosted IP is announced with exactly one gratuitous ARP when it is taken (an IPv6 egress IP with one
 *   unsolicited Neighbor Advertisement, `announce6`, by the same rules); `forceAnnounce` (membership
 *   `settled` or `revived-by`: peers may have announced our IPs meanwhile) announces every hosted IP once more,
 *   as does syncNode's own rule (the merged status still names another node).
 * Pure apart from the clock the caller passes (`now`, monotonic ms; `wall`, the date written into status and
 * events, by default `now` read as epoch ms as in replay): the agent calls `step` on every store or membership
 * change and at `wakeAt`.
 */
import {
  syncNode,
  type ClusterState,
  type EgressEvent,
  type EgressStatus,
  type NodeMemory,
  type NodeStatusFile,
  type PolicyView,
} from '../policy/index.js';
import { ipv4, ipv6 } from '../wire/index.js';

export interface ControlStep {
  view: PolicyView;
  /** Egress IPs (int32) the view places here that the datapath must not host yet. */
  withhold: number[];
  /** Egress IPs (int32) to announce with one gratuitous ARP now. */
  announce: number[];
  /** IPv6 egress IPs (canonical text) to announce with one unsolicited Neighbor Advertisement now. */
  announce6: string[];
  status: NodeStatusFile;
  statusChanged: boolean;
  events: readonly EgressEvent[];
  /** When to call `step` again (pending handovers), or null. */
  wakeAt: number | null;
}

export class NodeControl {
  /** Set when membership first settled: before, nothing is claimed. */
  ready = false;
  private memory: NodeMemory | null = null;
  /** IPs the datapath hosts now (int32). */
  private readonly hosting = new Set<number>();
  /** IPv6 egress IPs the datapath hosts now (canonical text). */
  private readonly hosting6 = new Set<string>();
  /** IPs gained from a live node: not hosted before this time (ms). */
  private readonly pending = new Map<number, number>();
  private lastView: PolicyView | null = null;

  constructor(
    readonly node: string,
    private readonly handoverMs = 100,
  ) {}

  step(
    state: ClusterState,
    membership: ReadonlySet<string>,
    current: ReadonlyMap<string, EgressStatus> | null,
    now: number,
    forceAnnounce = false,
    wall: Date = new Date(Math.round(now)),
  ): ControlStep {
    const date = wall;
    if (!this.ready) {
      // Compile what the node would do, but keep no memory (no events, no status) and host nothing.
      const r = syncNode({ state, node: this.node, membership, now: date, memory: null, current });
      this.lastView = r.view;
      return {
        view: r.view,
        withhold: r.view.localEgressIps.map((l) => l.ip),
        announce: [],
        announce6: [],
        status: r.status,
        statusChanged: false,
        events: [],
        wakeAt: null,
      };
    }
    const r = syncNode({ state, node: this.node, membership, now: date, memory: this.memory, current });
    this.memory = r.memory;
    // Who had each IP before: what this node last computed, and what the merged status says (after a pause our
    // own last view is stale: another node may have taken the IP meanwhile).
    const prevOwner = new Map<number, string>(this.lastView?.egressIpOwner ?? []);
    for (const st of current?.values() ?? []) {
      const ip = st.egressIP ? ipv4.parseAddr(st.egressIP) : null;
      if (ip !== null && st.egressNode && st.egressNode !== this.node) prevOwner.set(ip, st.egressNode);
    }
    const want = new Set(r.view.localEgressIps.map((l) => l.ip));
    const announce = new Set<number>();
    for (const ip of [...this.hosting]) if (!want.has(ip)) this.hosting.delete(ip);
    for (const ip of [...this.pending.keys()]) if (!want.has(ip)) this.pending.delete(ip);
    for (const ip of want) {
      if (this.hosting.has(ip)) continue;
      const due = this.pending.get(ip);
      if (due !== undefined) {
        if (due <= now) {
          this.pending.delete(ip);
          this.hosting.add(ip);
          announce.add(ip);
        }
        continue;
      }
      const before = prevOwner.get(ip);
      if (before !== undefined && before !== this.node && membership.has(before)) {
        this.pending.set(ip, now + this.handoverMs);
        continue;
      }
      this.hosting.add(ip);
      announce.add(ip);
    }
    for (const text of r.announce) {
      const ip = ipv4.parseAddr(text);
      if (ip !== null && this.hosting.has(ip)) announce.add(ip);
    }
    if (forceAnnounce) for (const ip of this.hosting) announce.add(ip);
    // IPv6 egress IPs: announced when newly hosted, when the merged status still names another node (syncNode's
    // `announce`), and all again on `forceAnnounce`. No handover delay: the IPv6 side hosts what the view places.
    const want6 = new Set(r.view.v6.localEgressIps.map((l) => l.ip));
    const announce6 = new Set<string>();
    for (const ip of [...this.hosting6]) if (!want6.has(ip)) this.hosting6.delete(ip);
    for (const ip of want6)
      if (!this.hosting6.has(ip)) {
        this.hosting6.add(ip);
        announce6.add(ip);
      }
    for (const text of r.announce) {
      const a = text.includes(':') ? ipv6.parseAddr(text) : null;
      const c = a ? ipv6.addrBytesToString(a) : null;
      if (c !== null && want6.has(c)) announce6.add(c);
    }
    if (forceAnnounce) for (const ip of this.hosting6) announce6.add(ip);
    this.lastView = r.view;
    const wake = this.pending.size ? Math.min(...this.pending.values()) : null;
    return {
      view: r.view,
      withhold: [...this.pending.keys()],
      announce: [...announce].sort((a, b) => (a >>> 0) - (b >>> 0)),
      announce6: [...announce6].sort(),
      status: r.status,
      statusChanged: r.statusChanged,
      events: r.events,
      wakeAt: wake,
    };
  }

  /** IPs the datapath hosts now. */
  hosted(): number[] {
    return [...this.hosting].sort((a, b) => (a >>> 0) - (b >>> 0));
  }
}
