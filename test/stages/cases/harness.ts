/**
 * Case tables for the stages (Snabb lwaftr's `TEST_DATA`, wireguard-go's table-driven tests): each
 * `<stage>.cases.ts` here exports rows of {name, tables/config, input packets, expected counters, optionally
 * expected packets per exit}; test/stages/stage-cases.test.ts runs every row through a one-stage pipeline and
 * compares what left each exit with `golden/<stage>.json` (`UPDATE_GOLDEN=1` rewrites it for review).
 *
 * The pipeline of a row is the stage under test plus one recording stage per exit (`exit-<name>`), so a row sees
 * the bytes and the burst metadata (`l3`, `meta`, `oport`, `flow`) each packet carries out of the stage; exits
 * the stage declares as keeping the packet (uplink-out's `held`) are wired to `consumed`. Input packets are
 * written into the round burst as the stage's predecessor would leave them (`b.l3`, `b.meta`, `b.port`, ...).
 * Packets are scapy expressions (built by /usr/bin/python3, independently of engine/wire) or hand-written bytes.
 */
import { ConnTable } from '../../../conntrack/index.js';
import { Pipeline, type Stage } from '../../../engine/graph/index.js';
import { Slab, type Burst } from '../../../engine/packet/index.js';
import { NodeState, type NodeDatapathConfig, type NodeStateOptions } from '../../../engine/stages/index.js';
import { ethernet, ipv4 } from '../../../engine/wire/index.js';
import { baseConfig, HOST_MAC, ip, mac, NODE_MAC } from '../../support/node-config.js';

export { baseConfig, CONTROL_PORT, HOST_MAC, ip, NODE_MAC, OTHER_MAC, PEER_MAC } from '../../support/node-config.js';

/** A packet: a scapy expression (evaluated with `from scapy.all import *`) or hand-written bytes. */
export type Pkt = string | Uint8Array;

/** One input packet and the burst fields its predecessor stage would have set. */
export interface Input {
  pkt: Pkt;
  /** Offset of the IPv4 header from the packet's start; -1 for none. Default: the case table's `l3`. */
  l3?: number;
  /** `b.meta`: the pod index (classify), the NAT address (snat), the outer destination (geneve-encap). */
  meta?: number;
  /** `b.port`: the input port or pod port member (pod-ingress). */
  port?: number;
  /** `b.flow`: the packet's connection reference (uplink-out confirms it); default -1. */
  flow?: number;
  /** `b.oport`: the output port member an earlier stage chose (inbound6: the pod's); default 0. */
  oport?: number;
  /** Bytes of headroom before the packet in its slot (default: the slab's headroom). */
  headroom?: number;
}

/** A round: optional state changes, then the inputs (none: a round with no packet, where stages release). */
export interface Step {
  /** Milliseconds (the round's clock); default: the previous step's time + 1, the first at 1000. */
  at?: number;
  setup?: (st: NodeState) => void;
  input?: ReadonlyArray<Input | Pkt>;
}

export interface Row {
  name: string;
  /** Fields replacing those of `baseConfig()` (the stage's tables). */
  config?: Partial<NodeDatapathConfig>;
  /** Options of the node state (conntrack size, neighbour limits, control port). */
  state?: NodeStateOptions;
  /** Slab slots (default 64): a small slab makes allocation of generated packets fail. */
  slots?: number;
  /** State before the first round: neighbours, connections, pins (helpers below). */
  setup?: (st: NodeState) => void;
  /** The packets of a single round, or `steps` for several. */
  input?: ReadonlyArray<Input | Pkt>;
  steps?: readonly Step[];
  /** The stage's non-zero counters after the row, written by hand (the row fails when they differ). */
  counters: Readonly<Record<string, number>>;
  /** Expected packets per exit, built independently (scapy); compared in order, byte for byte. */
  expect?: Readonly<Record<string, readonly Pkt[]>>;
}

export interface CaseTable {
  /** The stage under test, built on the row's node state. */
  stage: (st: NodeState) => Stage;
  /** Default IPv4 header offset of inputs: 14 for Ethernet frames from the uplink, 0 for L3 packets. */
  l3: number;
  /** Exits wired to `consumed` (the stage keeps the packet). */
  consumed?: readonly string[];
  rows: readonly Row[];
}

/** A packet as it left an exit: its bytes (hex) and the burst fields the next stage reads. */
export interface OutPacket {
  hex: string;
  l3: number;
  meta: number | string;
  oport: number;
  flow: number;
}

export interface Outcome {
  /** Non-zero counters of the stage. */
  counters: Record<string, number>;
  /** Packets per exit (exits no packet took are left out). */
  exits: Record<string, OutPacket[]>;
}

/** Metadata as written in goldens: an address-sized value as a dotted quad (NAT address, outer destination). */
function metaText(m: number): number | string {
  return m >>> 0 > 0xffffff ? ipv4.addrToString(m) : m;
}

/** Records what reaches one exit; its packets then go to `sink`. */
class Recorder implements Stage {
  readonly exits = ['done'] as const;
  readonly got: OutPacket[] = [];
  constructor(readonly name: string) {}
  process(b: Burst, sel: Int32Array, n: number): number {
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      const off = b.off[i]!;
      this.got.push({
        hex: Buffer.from(b.bytes(i)).toString('hex'),
        l3: b.l3[i]! < 0 ? -1 : b.l3[i]! - off,
        meta: metaText(b.meta[i]!),
        oport: b.oport[i]!,
        flow: b.flow[i]!,
      });
      b.next[i] = 0;
    }
    return n;
  }
}

/** The name of a table's stage (its file is `<name>.cases.ts`). */
export function stageName(table: CaseTable): string {
  return table.stage(new NodeState(new Slab({ slots: 4 }), baseConfig())).name;
}

/** Run one row through a one-stage pipeline; `bytes` resolves the row's packets. */
export function runRow(table: CaseTable, row: Row, bytes: (p: Pkt) => Uint8Array): Outcome {
  const slab = new Slab({ slots: row.slots ?? 64 });
  const st = new NodeState(slab, { ...baseConfig(), ...row.config }, { conntrack: { seed: 7 }, ...row.state });
  const stage = table.stage(st);
  const consumed = new Set(table.consumed ?? []);
  const recorders = new Map<string, Recorder>();
  const links = [`in:in -> ${stage.name}`];
  for (const e of stage.exits) {
    if (consumed.has(e)) {
      links.push(`${stage.name}.${e} -> consumed`);
      continue;
    }
    const r = new Recorder(`exit-${e}`);
    recorders.set(e, r);
    links.push(`${stage.name}.${e} -> ${r.name}`, `${r.name}.done -> sink`);
  }
  const p = new Pipeline(slab, { stages: [stage, ...recorders.values()], ports: ['in'], links, burst: 64 });
  st.setNow(1000);
  row.setup?.(st);
  const steps: readonly Step[] = row.steps ?? [{ input: row.input ?? [] }];
  let now = 999;
  for (const s of steps) {
    now = s.at ?? now + 1;
    st.setNow(now);
    s.setup?.(st);
    const b = p.round;
    const from = b.count;
    for (const x of s.input ?? []) {
      const inp: Input = typeof x === 'string' || x instanceof Uint8Array ? { pkt: x } : x;
      const data = bytes(inp.pkt);
      const j = b.alloc(data.length);
      if (j < 0) throw new Error(`${row.name}: no slot for an input packet (raise slots)`);
      if (inp.headroom !== undefined) b.off[j] = slab.base(b.slot[j]!) + inp.headroom;
      slab.u8.set(data, b.off[j]!);
      const l3 = inp.l3 ?? table.l3;
      b.l3[j] = l3 < 0 ? -1 : b.off[j]! + l3;
      b.meta[j] = inp.meta ?? 0;
      b.port[j] = inp.port ?? 0;
      b.flow[j] = inp.flow ?? -1;
      b.oport[j] = inp.oport ?? 0;
    }
    p.enqueue('in', from);
    p.run();
  }
  const counters: Record<string, number> = {};
  for (const [k, v] of Object.entries(stage.counters?.snapshot() ?? {})) if (v !== 0) counters[k] = v;
  const exits: Record<string, OutPacket[]> = {};
  for (const [e, r] of recorders) if (r.got.length > 0) exits[e] = r.got;
  return { counters, exits };
}

// ---- state helpers for rows' `setup` ------------------------------------------------------------------------

const PROTO = { tcp: ipv4.PROTO_TCP, udp: ipv4.PROTO_UDP, icmp: ipv4.PROTO_ICMP } as const;
/** conntrack `flags` of a connection's first packet: TCP SYN, ICMP echo request, 0 for UDP. */
const FIRST = { tcp: 0x02, udp: 0, icmp: 8 } as const;

/**
 * A confirmed connection `src:sport → dst:dport` in `ct` (ICMP echo: `sport` is the identifier), SNATed to
 * `natIp` when given; returns its index.
 */
export function connection(
  ct: ConnTable,
  proto: keyof typeof PROTO,
  src: string,
  sport: number,
  dst: string,
  dport: number,
  natIp?: string,
): number {
  const c = ct.create(ip(src), ip(dst), sport, proto === 'icmp' ? sport : dport, PROTO[proto], FIRST[proto], 60);
  if (c < 0) throw new Error(`setup: create returned ${c}`);
  if (natIp !== undefined && ct.snat(c, ip(natIp), 0) !== 0) throw new Error('setup: snat failed');
  if (!ct.confirm(c)) throw new Error('setup: confirm failed');
  return c;
}

/** A resolved neighbour (learned from an ARP request for us), on VLAN `vlan` (0: untagged). */
export function neighbour(st: NodeState, addr: string, m: string, vlan = 0): void {
  const b = mac(m);
  st.neigh.learn(ip(addr), ethernet.macHi16(b), ethernet.macLo32(b), st.now, true, vlan);
}

/** A hosted Egress IP of a pool on VLAN 10: subnet 198.18.10.0/24, gateway 198.18.10.1 (MAC `GW_MAC`). */
export const VLAN_EGRESS = '198.18.10.2';
export const VLAN_GW = '198.18.10.1';
export const GW_MAC = '02:00:00:00:00:01';
/** Config fields of a row on a node that also hosts `VLAN_EGRESS` on VLAN 10. */
export function vlanConfig(): Partial<NodeDatapathConfig> {
  return {
    egressIps: [ip('198.18.0.253'), ip(VLAN_EGRESS)],
    egressVlans: new Map([[ip(VLAN_EGRESS), { vlan: 10, gateway: ip(VLAN_GW), prefixLength: 24 }]]),
  };
}

/** Pin a peer's IP to a MAC, as its authenticated heartbeats would. */
export function pin(st: NodeState, addr: string, m: string): void {
  const b = mac(m);
  st.pins.pin(ip(addr), ethernet.macHi16(b), ethernet.macLo32(b));
}

/** scapy: an Ethernet frame from the host (or `src` MAC) to the node MAC around `l3`. */
export const eth = (l3: string, src = HOST_MAC, dst = NODE_MAC): string => `Ether(dst='${dst}', src='${src}')/${l3}`;
