/**
 * ARP and the neighbour table against a hostile segment (docs/segment-security.md#arp-and-the-neighbour-table):
 * a member's node IP ↔ MAC comes only from its authenticated heartbeats (pinned), never from ARP; ARP for a
 * remote Egress IP is believed from a member's MAC only; claims on addresses this node owns are counted by
 * reason and change nothing; entries created from unsolicited ARP are capped. Frames are built with scapy,
 * independently of engine/wire; each rule has a control case (the same frame from the right MAC works).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { ARP_CLAIM_LOG_MS, NodeRunner } from '../../engine/agent/node-runner.js';
import { cluster, io, policy, Slab, wire } from '../../engine/index.js';
import { EGRESS_LOCAL, EGRESS_REMOTE, NeighborTable, type NodeDatapathConfig } from '../../engine/stages/index.js';
import { mustApply } from '../policy/helpers.js';
import { ListPort } from '../support/list-port.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';
import { baseConfig } from '../support/node-config.js';

const ip = (s: string) => wire.ipv4.parseAddr(s)!;
const mac = (s: string) => wire.ethernet.parseMac(s)!;
const hi = (s: string) => wire.ethernet.macHi16(mac(s));
const lo = (s: string) => wire.ethernet.macLo32(mac(s));
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

const NODE_MAC = '02:00:00:00:00:0b';
const PEER_MAC = '02:00:00:00:00:0c';
const HOST_MAC = '02:00:00:00:00:64';
const ATTACKER_MAC = '02:00:00:00:00:66';

function config(): NodeDatapathConfig {
  return {
    ...baseConfig(), // node-a as every stage test has it; the pods and peers below are this file's
    pods: [
      { key: 'prod/web-1', ip: ip('10.244.1.5'), port: 0, egress: EGRESS_LOCAL, egressIp: ip('198.18.0.253') },
      { key: 'staging/web-2', ip: ip('10.244.1.7'), port: 1, egress: EGRESS_REMOTE, egressIp: ip('198.18.0.254') },
    ],
    nodes: [
      { name: 'node-a', ip: ip('198.18.0.11'), podCidr: { addr: ip('10.244.1.0'), len: 24 } },
      { name: 'node-b', ip: ip('198.18.0.12'), podCidr: { addr: ip('10.244.2.0'), len: 24 } },
    ],
    bypass: [],
    egressIps: [ip('198.18.0.253')],
  };
}

function build() {
  const slab = new Slab({ slots: 512 });
  const dp = new NodeDatapath(slab, config(), { conntrack: { seed: 7 }, controlPort: 10351 });
  const uplink = new ListPort('uplink');
  const control = new ListPort('control');
  dp.attachUplink(uplink);
  dp.attachControl(control);
  const pods = [new ListPort('web-1'), new ListPort('web-2')];
  for (const p of pods) dp.pods.add(p);
  return { slab, dp, uplink, control, pods };
}

const S = (...exprs: string[]) => scapyBytes(exprs);
const arpCounters = (dp: NodeDatapath) => dp.pipeline.snapshot()['arp']!.counters;
const outCounters = (dp: NodeDatapath) => dp.pipeline.snapshot()['uplink-out']!.counters;
const entry = (dp: NodeDatapath, addr: string) => dp.state.neigh.dump(0).find((e) => e.ip === ip(addr));
const garp = (from: string, addr: string, op = 1) =>
  `Ether(dst='ff:ff:ff:ff:ff:ff', src='${from}')/ARP(op=${op}, hwsrc='${from}', psrc='${addr}', hwdst='ff:ff:ff:ff:ff:ff', pdst='${addr}')`;
const ask = (from: string, addr: string, target = '198.18.0.11') =>
  `Ether(dst='ff:ff:ff:ff:ff:ff', src='${from}')/ARP(op=1, hwsrc='${from}', psrc='${addr}', pdst='${target}')`;
/** node-a's heartbeat datagram to node-b (any payload: uplink-out does not read it). */
const HEARTBEAT =
  "IP(src='198.18.0.11', dst='198.18.0.12', tos=0xc0, flags='DF', id=0)/UDP(sport=10351, dport=10351)/b'hb'";

describe.skipIf(!hasScapy())('arp and the neighbour table (scapy-built frames)', () => {
  beforeAll(() => {
    if (!hasScapy()) console.log('skipped: /usr/bin/python3 has no scapy (apt-get install python3-scapy)');
  });

  it('a member IP is never learned from ARP; its first heartbeat goes to broadcast, then to the pinned MAC', () => {
    const { dp, uplink, control } = build();
    // node-b's own ARP, and a forged one, before any heartbeat: neither creates nor moves an entry.
    uplink.queue.push(...S(ask(PEER_MAC, '198.18.0.12'), garp(ATTACKER_MAC, '198.18.0.12')));
    dp.pollUplink(0);
    expect(arpCounters(dp)).toMatchObject({ 'member-unpinned': 2, replied: 1 });
    expect(entry(dp, '198.18.0.12')).toBeUndefined();
    uplink.sent.length = 0;
    const [hb, hbBroadcast, hbUnicast] = S(
      HEARTBEAT,
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${NODE_MAC}')/${HEARTBEAT}`,
      `Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/${HEARTBEAT}`,
    );
    control.queue.push(hb!);
    dp.pollControl(1);
    expect(uplink.sent.map(hex)).toEqual([hex(hbBroadcast!)]); // no ARP request for a member
    expect(outCounters(dp)).toMatchObject({ 'first-contact': 1 });
    expect(outCounters(dp)['arp-request'] ?? 0).toBe(0);
    // node-b's authenticated heartbeat arrived from PEER_MAC (node-runner calls pinPeer): pinned.
    dp.pinPeer(ip('198.18.0.12'), hi(PEER_MAC), lo(PEER_MAC));
    control.queue.push(hb!);
    dp.pollControl(2);
    expect(uplink.sent.map(hex)).toEqual([hex(hbBroadcast!), hex(hbUnicast!)]);
    expect(entry(dp, '198.18.0.12')).toMatchObject({ macHi: hi(PEER_MAC), macLo: lo(PEER_MAC), state: 'pinned' });
    // A forged GARP, a forged reply and a forged request for us claiming node-b: counted, the pin stands.
    uplink.queue.push(
      ...S(
        garp(ATTACKER_MAC, '198.18.0.12'),
        garp(ATTACKER_MAC, '198.18.0.12', 2),
        ask(ATTACKER_MAC, '198.18.0.12'),
        ask(PEER_MAC, '198.18.0.12'),
      ),
    );
    dp.pollUplink(3);
    expect(arpCounters(dp)).toMatchObject({ 'spoof-member-ip': 3, member: 1 });
    expect(entry(dp, '198.18.0.12')).toMatchObject({ macHi: hi(PEER_MAC), macLo: lo(PEER_MAC), state: 'pinned' });
    // Pinned entries are never re-probed, however old.
    uplink.sent.length = 0;
    control.queue.push(hb!);
    dp.pollControl(3_600_000);
    expect(uplink.sent.map(hex)).toEqual([hex(hbUnicast!)]);
  });

  it('packets to an unpinned member wait for its pin (no ARP request) and leave when it comes', () => {
    const { dp, uplink, pods } = build();
    const [ping, out] = S(
      "IP(src='10.244.1.5', dst='198.18.0.12')/ICMP(type=8, id=1, seq=1)",
      `Ether(dst='${PEER_MAC}', src='${NODE_MAC}')/IP(src='198.18.0.11', dst='198.18.0.12', ttl=63)/ICMP(type=8, id=1, seq=1)`,
    );
    pods[0]!.queue.push(ping!);
    dp.pollPod(0, 0);
    expect(uplink.sent.length).toBe(0);
    expect(outCounters(dp)).toMatchObject({ parked: 1 });
    dp.pinPeer(ip('198.18.0.12'), hi(PEER_MAC), lo(PEER_MAC));
    dp.tick(1);
    expect(uplink.sent.map(hex)).toEqual([hex(out!)]);
    expect(outCounters(dp)).toMatchObject({ released: 1, sent: 1 });
    expect(outCounters(dp)['arp-request'] ?? 0).toBe(0);
  });

  it('claims on owned addresses are counted by reason and change nothing; the owner still answers', () => {
    const { dp, uplink } = build();
    uplink.queue.push(...S(garp(ATTACKER_MAC, '198.18.0.253'), garp(ATTACKER_MAC, '198.18.0.11', 2)));
    dp.pollUplink(0);
    expect(arpCounters(dp)).toMatchObject({ 'conflict-egress-ip': 1, 'conflict-node-ip': 1 });
    expect(dp.state.arpClaims.last('conflict-egress-ip')).toEqual({
      ip: ip('198.18.0.253'),
      macHi: hi(ATTACKER_MAC),
      macLo: lo(ATTACKER_MAC),
    });
    expect(dp.state.tables.owned.get(ip('198.18.0.253'), 0)).not.toBe(0);
    const [who, answer] = S(
      ask(HOST_MAC, '198.18.0.100', '198.18.0.253'),
      `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')/ARP(op=2, hwsrc='${NODE_MAC}', psrc='198.18.0.253', hwdst='${HOST_MAC}', pdst='198.18.0.100')`,
    );
    uplink.queue.push(who!);
    dp.pollUplink(1);
    expect(uplink.sent.map(hex)).toEqual([hex(answer!)]);
  });

  it('ARP for a remote Egress IP is learned from a member MAC only (the new owner), never from another', () => {
    const { dp, uplink } = build();
    dp.pinPeer(ip('198.18.0.12'), hi(PEER_MAC), lo(PEER_MAC));
    // The entry exists (web-2 tunnels to .254): a host's reply created it as our request's answer would.
    uplink.queue.push(...S(ask(PEER_MAC, '198.18.0.254')));
    dp.pollUplink(0);
    expect(entry(dp, '198.18.0.254')).toMatchObject({ macLo: lo(PEER_MAC) });
    uplink.queue.push(...S(garp(ATTACKER_MAC, '198.18.0.254'), garp(ATTACKER_MAC, '198.18.0.254', 2)));
    dp.pollUplink(1);
    expect(arpCounters(dp)).toMatchObject({ 'spoof-egress-ip': 2 });
    expect(entry(dp, '198.18.0.254')).toMatchObject({ macLo: lo(PEER_MAC) });
    // Control: a GARP from another member (after failover) moves it.
    dp.pinPeer(ip('198.18.0.12'), hi('02:00:00:00:00:0d'), lo('02:00:00:00:00:0d'));
    uplink.queue.push(...S(garp('02:00:00:00:00:0d', '198.18.0.254')));
    dp.pollUplink(2);
    expect(entry(dp, '198.18.0.254')).toMatchObject({ macLo: lo('02:00:00:00:00:0d') });
    // The old MAC is no member's any more.
    uplink.queue.push(...S(garp(PEER_MAC, '198.18.0.254')));
    dp.pollUplink(3);
    expect(arpCounters(dp)).toMatchObject({ 'spoof-egress-ip': 3 });
  });

  it('an entry ARP made for an address before it became a remote egress IP is dropped unless a member said it', () => {
    const { dp, uplink } = build();
    const cfg = config();
    const before = {
      ...cfg,
      pods: cfg.pods.map((p) => (p.egress === EGRESS_REMOTE ? { ...p, egress: 0 as const, egressIp: 0 } : p)),
    };
    dp.state.configure(before);
    // While no local pod tunnels to .254, a request for us from .254 creates an ordinary entry.
    uplink.queue.push(...S(ask(ATTACKER_MAC, '198.18.0.254')));
    dp.pollUplink(0);
    expect(entry(dp, '198.18.0.254')).toMatchObject({ macLo: lo(ATTACKER_MAC) });
    // web-2 now tunnels to .254: the attacker's entry goes, so the next packet asks (and believes members only).
    dp.state.configure(cfg);
    expect(entry(dp, '198.18.0.254')).toBeUndefined();
    // Control: an entry a member's MAC made survives the same change.
    dp.state.configure(before);
    dp.pinPeer(ip('198.18.0.12'), hi(PEER_MAC), lo(PEER_MAC));
    uplink.queue.push(...S(ask(PEER_MAC, '198.18.0.254')));
    dp.pollUplink(1);
    dp.state.configure(cfg);
    expect(entry(dp, '198.18.0.254')).toMatchObject({ macLo: lo(PEER_MAC) });
  });

  it('a storm of 1 000 senders asking for us: at most a quarter of the table, pinned and used entries kept', () => {
    const { dp, uplink, pods } = build();
    dp.pinPeer(ip('198.18.0.12'), hi(PEER_MAC), lo(PEER_MAC));
    // An entry this node uses (the host web-1's traffic goes to).
    const [req, reply] = S(
      "IP(src='10.244.1.5', dst='198.18.0.100')/UDP(sport=1, dport=2)",
      `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/ARP(op=2, hwsrc='${HOST_MAC}', psrc='198.18.0.100', hwdst='${NODE_MAC}', pdst='198.18.0.253')`,
    );
    pods[0]!.queue.push(req!);
    dp.pollPod(0, 0);
    uplink.queue.push(reply!);
    dp.pollUplink(0);
    const frames = scapyBytes(
      Array.from({ length: 1000 }, (_, k) =>
        ask(`02:66:00:00:${hx(k >> 8)}:${hx(k & 255)}`, `198.18.${4 + (k >> 8)}.${k & 255}`),
      ),
    );
    for (let k = 0; k < frames.length; k += 64) {
      uplink.queue.push(...frames.slice(k, k + 64));
      dp.pollUplink(1 + k);
    }
    const c = arpCounters(dp);
    expect(c['learned']).toBe(1000);
    expect(c['learn-replaced']).toBe(1000 - 256);
    expect(c['replied']).toBe(1000); // every one is still answered
    const n = dp.state.neigh;
    expect(n.unconfirmedCount).toBe(256);
    const all = n.dump(2000);
    expect(all.length).toBe(256 + 2);
    expect(all.find((e) => e.ip === ip('198.18.0.12'))).toMatchObject({ state: 'pinned', macLo: lo(PEER_MAC) });
    expect(all.find((e) => e.ip === ip('198.18.0.100'))).toMatchObject({ macLo: lo(HOST_MAC) });
    // The survivors are the newest 256 senders.
    const kept = all.filter((e) => e.ip >>> 24 === 198 && ((e.ip >>> 16) & 255) === 18 && ((e.ip >>> 8) & 255) >= 4);
    expect(kept.map((e) => e.ip).sort((a, b) => a - b)[0]).toBe(ip('198.18.6.232')); // sender 744
  });
});

const hx = (x: number) => x.toString(16).padStart(2, '0');

describe('NeighborTable rules', () => {
  it('unsolicited entries never evict what this node made; past the cap the oldest unsolicited one goes', () => {
    const n = new NeighborTable({ entries: 8, unsolicited: 2 });
    for (let k = 0; k < 6; k++) expect(n.create(100 + k, 0)).toBeGreaterThanOrEqual(0);
    // Two free entries: the first two unsolicited take them, the third replaces the oldest.
    expect(n.learnFromArp(200, 0, 1, 1, true)).toBe(1);
    expect(n.learnFromArp(201, 0, 2, 2, true)).toBe(1);
    expect(n.learnFromArp(202, 0, 3, 3, true)).toBe(2);
    expect(n.find(200)).toBe(-1);
    // Used by this node: confirmed, it no longer counts as unsolicited and is never replaced by ARP.
    n.confirm(n.find(201));
    expect(n.unconfirmedCount).toBe(1);
    expect(n.learnFromArp(203, 0, 4, 4, true)).toBe(2); // replaces 202
    expect(n.find(201)).toBeGreaterThanOrEqual(0);
    expect(n.find(202)).toBe(-1);
    // The table is full (6 own + 201 + 203) and none of them is unsolicited any more: refused.
    n.confirm(n.find(203));
    expect(n.learnFromArp(204, 0, 5, 5, true)).toBe(3);
    expect(n.find(204)).toBe(-1);
  });

  it('pinned entries are never evicted by this node\u2019s own misses either', () => {
    const n = new NeighborTable({ entries: 2 });
    n.pin(1, 0, 1, 0);
    n.create(2, 0);
    expect(n.create(3, 1)).toBeGreaterThanOrEqual(0); // evicts 2, not the pin
    expect(n.find(1)).toBeGreaterThanOrEqual(0);
    expect(n.find(2)).toBe(-1);
    expect(n.learnFromArp(1, 0, 9, 2, true)).toBe(4); // L_PINNED
    n.unpin(1);
    expect(n.learnFromArp(1, 0, 9, 2, false)).toBe(0); // an ordinary entry again
  });
});

describe('NodeRunner: conflicting ARP is logged once per interval, ownership unchanged', () => {
  const REF = join(import.meta.dirname, '../../examples/reference/cluster.yaml');

  it.skipIf(!hasScapy())('one line at the first claim, then at most one per interval, with counts', () => {
    const parsed = policy.parseManifests(readFileSync(REF, 'utf8'), REF);
    const state = mustApply(
      policy.emptyState(),
      parsed.docs.map((d) => d.value),
    );
    const slab = new Slab({ slots: 256 });
    const uplink = new io.MemoryPort({ name: 'uplink', slab });
    const statuses = new Map<string, policy.NodeStatusFile>();
    const lines: Array<{ t: number; msg: string; fields: Record<string, unknown> | undefined }> = [];
    let now = 0;
    const runner = new NodeRunner({
      name: 'node-a',
      state,
      slab,
      uplink,
      key: cluster.makeKey(new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff)),
      incarnation: 1,
      now: 0,
      status: { files: () => statuses.values(), write: (f) => statuses.set(f.node, f), events: () => {} },
      pods: { open: (p) => new io.MemoryPort({ name: p.key, slab }), close: (_k, p) => p.close() },
      log: (level, msg, fields) => {
        if (msg.startsWith('ARP')) lines.push({ t: now, msg: `${level}: ${msg}`, fields });
      },
    });
    const step = (to: number) => {
      for (; now < to; now += 10) {
        runner.agent.datapath.pollUplink(now);
        runner.tick(now);
        uplink.takeSent();
      }
    };
    step(3000); // alone: node-a settles and hosts what the ring gives it
    const hosted = runner.control.hosted().slice();
    expect(hosted.length).toBeGreaterThan(0);
    const owned = wire.ipv4.addrToString(hosted[0]!);
    const [claim] = S(garp(ATTACKER_MAC, owned));
    const at = [3000, 3500, 9000, 20000];
    for (const t of at) {
      step(t);
      uplink.inject(claim!);
      step(t + 10);
    }
    step(40000);
    expect(runner.control.hosted()).toEqual(hosted);
    // 3500 and 9000 are reported together at 13000; 20000 waits for the interval after that line.
    expect(lines.map((l) => l.t)).toEqual([3000, 3000 + ARP_CLAIM_LOG_MS, 3000 + 2 * ARP_CLAIM_LOG_MS]);
    expect(lines[0]!.msg).toBe(
      'warn: ARP from the segment claimed addresses it does not own; ignored, ownership unchanged',
    );
    expect(lines.map((l) => (l.fields!['conflict-egress-ip'] as { frames: number }).frames)).toEqual([1, 2, 1]);
    expect(lines[0]!.fields!['conflict-egress-ip']).toEqual({ frames: 1, last: `${owned} from ${ATTACKER_MAC}` });
  });
});
