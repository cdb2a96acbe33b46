/**
 * Two datapath workers of one node (docs/agent.md "Workers") on in-memory ports: each owns half of the SNAT
 * ports (conntrack portShards), 200 UDP flows from a pod are split between them, and every reply is delivered
 * to the wrong worker's uplink queue first (flow steering at its worst): steer hands the other worker's replies
 * through the handoff ring, and every reply reaches the pod un-NATed, byte for byte as scapy builds it. The same
 * for IPv6 on a dual-stack node (SNAT66 to the IPv6 egress IP, base6.ts): 200 UDP flows and 20 ICMPv6 echo
 * flows, every reply and every Packet Too Big about a flow first on the wrong worker.
 */
import { describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { HandoffPort, HandoffRing } from '../../engine/io/index.js';
import { Slab } from '../../engine/packet/index.js';
import type { NodeDatapathConfig } from '../../engine/stages/index.js';
import { base6 } from '../stages/cases/base6.js';
import { baseConfig, HOST_MAC, ip, NODE_MAC } from '../support/node-config.js';
import { ListPort } from '../support/list-port.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const HOST = '198.18.0.100';
const EIP = '198.18.0.253';
const POD = '10.244.1.5';
const FLOWS = 200;

function worker(index: number, config: NodeDatapathConfig = baseConfig()) {
  const slab = new Slab({ slots: 1024 });
  const dp = new NodeDatapath(slab, config, { conntrack: { seed: 11 + index, portShards: [2, index] } });
  const uplink = new ListPort(`uplink#${index}`, 256);
  dp.attachUplink(uplink);
  dp.attachControl(new ListPort('control'));
  const pods = [new ListPort('web-1', 256), new ListPort('other'), new ListPort('web-2')];
  for (const p of pods) dp.pods.add(p);
  const [hi, lo] = [0x0200, 0x00000064]; // HOST_MAC
  dp.state.neigh.learn(ip(HOST), hi, lo, 0, true);
  return { slab, dp, uplink, pod: pods[0]! };
}

/** Two workers joined by handoff rings. */
function pair(config?: NodeDatapathConfig) {
  const w = [worker(0, config), worker(1, config)];
  const r01 = new HandoffRing({ slots: 256 });
  const r10 = new HandoffRing({ slots: 256 });
  w[0]!.dp.workers!.set(1, new HandoffPort({ name: 'to-1', tx: r01, rx: r10 }));
  w[1]!.dp.workers!.set(0, new HandoffPort({ name: 'to-0', tx: r10, rx: r01 }));
  return { w, rings: [r01, r10] };
}

describe.skipIf(!hasScapy())('a set of two datapath workers', () => {
  it('splits SNAT ports by worker and un-NATs every reply through the handoff ring', () => {
    expect(HOST_MAC).toBe('02:00:00:00:00:64');
    const w = [worker(0), worker(1)];
    const r01 = new HandoffRing({ slots: 256 });
    const r10 = new HandoffRing({ slots: 256 });
    w[0]!.dp.workers!.set(1, new HandoffPort({ name: 'to-1', tx: r01, rx: r10 }));
    w[1]!.dp.workers!.set(0, new HandoffPort({ name: 'to-0', tx: r10, rx: r01 }));
    const reqs = scapyBytes(
      [...Array(FLOWS).keys()].map(
        (k) => `IP(src='${POD}', dst='${HOST}', id=${k + 1})/UDP(sport=${30000 + k}, dport=53)/b'q${k}'`,
      ),
    );
    // The pod TUN's queue selection: flow k to worker (k * 7 + k >> 3) % 2 (any split will do).
    const via = (k: number) => ((k * 7 + (k >> 3)) & 1) as 0 | 1;
    for (let k = 0; k < FLOWS; k++) w[via(k)]!.pod.queue.push(reqs[k]!);
    for (const x of w) while (x.dp.pollPod(0, 1000) > 0);
    const natPort = new Map<number, number>(); // flow → SNAT port
    for (const [i, x] of w.entries()) {
      expect(x.uplink.sent.length).toBe([...Array(FLOWS).keys()].filter((k) => via(k) === i).length);
      for (const f of x.uplink.sent) {
        const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
        expect(v.getUint32(14 + 12)).toBe(ip(EIP) >>> 0);
        const k = v.getUint16(14 + 4) - 1; // the IP id we gave flow k
        const p = v.getUint16(14 + 20);
        expect(p % 2, `flow ${k} SNATed by worker ${i} to port ${p}`).toBe(i);
        natPort.set(k, p);
      }
    }
    expect(natPort.size).toBe(FLOWS);
    const replies = scapyBytes(
      [...Array(FLOWS).keys()].map(
        (k) =>
          `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')/IP(src='${HOST}', dst='${EIP}', id=${5000 + k})/UDP(sport=53, dport=${natPort.get(k)})/b'a${k}'`,
      ),
    );
    const want = scapyBytes(
      [...Array(FLOWS).keys()].map(
        (k) => `IP(src='${HOST}', dst='${POD}', id=${5000 + k}, ttl=63)/UDP(sport=53, dport=${30000 + k})/b'a${k}'`,
      ),
    );
    // Every reply first reaches the worker that did NOT send its request.
    for (let k = 0; k < FLOWS; k++) w[1 - via(k)]!.uplink.queue.push(replies[k]!);
    for (const x of w) while (x.dp.pollUplink(1001) > 0);
    expect(r01.queued + r10.queued).toBe(FLOWS);
    w[0]!.dp.pollWorker(1, 1002);
    w[1]!.dp.pollWorker(0, 1002);
    const got = new Set([...w[0]!.pod.sent, ...w[1]!.pod.sent].map(hex));
    expect(got.size).toBe(FLOWS);
    for (let k = 0; k < FLOWS; k++) expect(got.has(hex(want[k]!)), `reply of flow ${k}`).toBe(true);
    for (const [i, x] of w.entries()) {
      const s = x.dp.pipeline.snapshot();
      const mine = [...Array(FLOWS).keys()].filter((k) => via(k) === i).length;
      expect(s['steer']!.counters['handed-off']).toBe(FLOWS - mine); // the other worker's, all of them
      expect(s['steer']!.counters['own']).toBe(mine); // its own, after the handoff
      expect(s['unsnat']!.counters['reply']).toBe(mine);
      expect(x.pod.sent.length).toBe(mine);
      expect(x.slab.available).toBe(x.slab.slots);
    }
  });

  it('IPv6: SNAT66 ports and echo identifiers split by worker, every reply and Packet Too Big handed to its owner', () => {
    const WEB1 = '2001:2:0:a1::5';
    const EXT6 = '2001:2::100';
    const E6 = '2001:2::253';
    const ECHOS = 20;
    const { w, rings } = pair({ ...baseConfig(), v6: base6() });
    const all = FLOWS + ECHOS;
    const reqs = scapyBytes(
      [...Array(all).keys()].map((k) =>
        k < FLOWS
          ? `IPv6(src='${WEB1}', dst='${EXT6}')/UDP(sport=${30000 + k}, dport=53)/b'q${k}'`
          : `IPv6(src='${WEB1}', dst='${EXT6}')/ICMPv6EchoRequest(id=${1000 + k}, seq=${k})`,
      ),
    );
    const via = (k: number) => ((k * 7 + (k >> 3)) & 1) as 0 | 1;
    for (let k = 0; k < all; k++) w[via(k)]!.pod.queue.push(reqs[k]!);
    for (const x of w) while (x.dp.pollPod(0, 1000) > 0);
    const natPort = new Map<number, number>(); // flow → SNAT66 port or echo identifier
    for (const [i, x] of w.entries()) {
      expect(x.uplink.sent.length).toBe([...Array(all).keys()].filter((k) => via(k) === i).length);
      for (const f of x.uplink.sent) {
        const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
        expect(v.getUint16(12)).toBe(0x86dd);
        expect(v.getUint32(14 + 8)).toBe(0x20010002); // from the IPv6 egress IP 2001:2::253
        expect(v.getUint32(14 + 20)).toBe(0x253);
        const udp = v.getUint8(14 + 6) === 17;
        const k = udp ? Number(Buffer.from(f.subarray(62)).toString('latin1').slice(1)) : v.getUint16(14 + 40 + 6);
        const p = v.getUint16(14 + 40 + (udp ? 0 : 4));
        expect(p % 2, `flow ${k} SNATed by worker ${i} to ${p}`).toBe(i);
        natPort.set(k, p);
      }
    }
    expect(natPort.size).toBe(all);
    const ether = `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')`;
    const replies = scapyBytes(
      [...Array(all).keys()].map((k) =>
        k < FLOWS
          ? `${ether}/IPv6(src='${EXT6}', dst='${E6}')/UDP(sport=53, dport=${natPort.get(k)})/b'a${k}'`
          : `${ether}/IPv6(src='${EXT6}', dst='${E6}')/ICMPv6EchoReply(id=${natPort.get(k)}, seq=${k})`,
      ),
    );
    const want = scapyBytes(
      [...Array(all).keys()].map((k) =>
        k < FLOWS
          ? `IPv6(src='${EXT6}', dst='${WEB1}', hlim=63)/UDP(sport=53, dport=${30000 + k})/b'a${k}'`
          : `IPv6(src='${EXT6}', dst='${WEB1}', hlim=63)/ICMPv6EchoReply(id=${1000 + k}, seq=${k})`,
      ),
    );
    // A Packet Too Big about flow 0's datagram as this node sent it, and what the pod must get (quote un-NATed).
    const [ptb, ptbWant] = scapyBytes([
      `${ether}/IPv6(src='2001:2::1', dst='${E6}')/ICMPv6PacketTooBig(mtu=1280)/IPv6(src='${E6}', dst='${EXT6}')/UDP(sport=${natPort.get(0)}, dport=53)/b'q0'`,
      `IPv6(src='2001:2::1', dst='${WEB1}', hlim=63)/ICMPv6PacketTooBig(mtu=1280)/IPv6(src='${WEB1}', dst='${EXT6}')/UDP(sport=30000, dport=53)/b'q0'`,
    ]);
    for (let k = 0; k < all; k++) w[1 - via(k)]!.uplink.queue.push(replies[k]!);
    w[1 - via(0)]!.uplink.queue.push(ptb!);
    for (const x of w) while (x.dp.pollUplink(1001) > 0);
    expect(rings[0]!.queued + rings[1]!.queued).toBe(all + 1);
    w[0]!.dp.pollWorker(1, 1002);
    w[1]!.dp.pollWorker(0, 1002);
    const got = new Set([...w[0]!.pod.sent, ...w[1]!.pod.sent].map(hex));
    expect(got.size).toBe(all + 1);
    for (let k = 0; k < all; k++) expect(got.has(hex(want[k]!)), `reply of flow ${k}`).toBe(true);
    expect(got.has(hex(ptbWant!)), 'Packet Too Big about flow 0').toBe(true);
    for (const [i, x] of w.entries()) {
      const s = x.dp.pipeline.snapshot();
      const mine = [...Array(all).keys()].filter((k) => via(k) === i).length + (via(0) === i ? 1 : 0);
      expect(s['steer']!.counters['handed-off6']).toBe(all + 1 - mine);
      expect(s['steer']!.counters['own6']).toBe(mine);
      expect(s['steer']!.counters['handed-off'] ?? 0).toBe(0);
      expect(x.pod.sent.length).toBe(mine);
      expect(x.slab.available).toBe(x.slab.slots);
    }
  });

  it('one worker keeps the one-worker graph (no steer stage, no workers group)', () => {
    const dp = new NodeDatapath(new Slab({ slots: 64 }), baseConfig(), {});
    expect(dp.workers).toBeNull();
    expect(dp.pipeline.stages.some((s) => s.name === 'steer')).toBe(false);
  });
});
