/**
 * IPv4 fragments through one node's datapath (docs/semantics.md §4.i, docs/fragments.md), with in-memory ports:
 * a 4000-byte UDP datagram a pod sent in three fragments leaves SNATed to the Egress IP fragment by fragment
 * (the first with its UDP checksum updated for the whole datagram), in order or not; the fragmented reply is
 * un-NATed and cut to the pod MTU; fragments a pod sends to another node's Egress share one Geneve source port;
 * a teardrop from outside is dropped; and a flood of fragments that never complete neither holds more slots than
 * the waiting queue nor stops whole packets. Every expected packet is built by scapy from the whole datagram
 * (`fragment()` or slices of its bytes), independently of engine/wire.
 */
import { describe, expect, it } from 'vitest';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { Slab, wire } from '../../engine/index.js';
import type { NodeStateOptions } from '../../engine/stages/index.js';
import { ListPort } from '../support/list-port.js';
import { baseConfig } from '../support/node-config.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const NODE_MAC = '02:00:00:00:00:0b';
const HOST_MAC = '02:00:00:00:00:64';
const HOST = '198.18.0.100';
const EGRESS = '198.18.0.253';
const S = (...exprs: string[]) => scapyBytes(exprs);
const ETH_IN = `Ether(dst='${NODE_MAC}', src='${HOST_MAC}')`;
const ETH_OUT = `Ether(dst='${HOST_MAC}', src='${NODE_MAC}')`;

function build(opts: NodeStateOptions = {}) {
  const slab = new Slab({ slots: 1024 });
  // node-a: web-1 (10.244.1.5, port 0) leaves with the Egress IP here; web-2 (.7, port 2) tunnels to 198.18.0.254.
  const dp = new NodeDatapath(slab, baseConfig(), { conntrack: { seed: 7 }, ...opts });
  const uplink = new ListPort('uplink');
  dp.attachUplink(uplink);
  dp.attachControl(new ListPort('control'));
  const pods = [new ListPort('web-1'), new ListPort('other'), new ListPort('web-2')];
  for (const p of pods) dp.pods.add(p);
  uplink.queue.push(
    ...S(
      `Ether(dst='ff:ff:ff:ff:ff:ff', src='${HOST_MAC}')/ARP(op=1, hwsrc='${HOST_MAC}', psrc='${HOST}', pdst='198.18.0.11')`,
    ),
  );
  dp.pollUplink(0);
  uplink.sent.length = 0;
  // The remote egress IP's owner is node-b, pinned as its heartbeats would.
  dp.pinPeer(wire.ipv4.parseAddr('198.18.0.12')!, 0x0200, 0x0000000c);
  dp.state.neigh.learn(wire.ipv4.parseAddr('198.18.0.254')!, 0x0200, 0x0000000c, 0, true);
  let now = 1;
  return {
    slab,
    dp,
    fromPod: (p: number, ...pkts: Uint8Array[]) => {
      pods[p]!.queue.push(...pkts);
      dp.pollPod(p, now++);
    },
    fromUplink: (...frames: Uint8Array[]) => {
      uplink.queue.push(...frames);
      dp.pollUplink(now++);
    },
    tick: (ms: number) => dp.tick((now += ms)),
    up: () => uplink.sent.splice(0).map(hex),
    pod: (p: number) => pods[p]!.sent.splice(0).map(hex),
    counters: (stage: string) => dp.pipeline.snapshot()[stage]!.counters,
  };
}

/** web-1's 4000-byte UDP datagram (IP ID 77) as the pod's kernel fragments it at the pod MTU (1450). */
const REQUEST = (src: string, ttl = 64) =>
  `IP(src='${src}', dst='${HOST}', id=77, ttl=${ttl})/UDP(sport=40000, dport=53)/(b'd'*3972)`;
const fragsOf = (dgram: string, size: number, n: number) =>
  Array.from({ length: n }, (_, k) => `fragment(${dgram}, fragsize=${size})[${k}]`);

/** Bytes [a, b) of the reply datagram's UDP part (its checksum over the datagram to web-1) as one fragment. */
const REPLY_UDP = `raw(IP(src='${HOST}', dst='10.244.1.5')/UDP(sport=53, dport=40000)/(b'r'*3992))`;
const piece = (a: number, b: number, more: boolean) =>
  `IP(src='${HOST}', dst='10.244.1.5', id=88, ttl=63, proto=17, flags=${more ? 1 : 0}, frag=${a / 8})/Raw(${REPLY_UDP}[${20 + a}:${20 + b}])`;

describe.skipIf(!hasScapy())('IPv4 fragments through the node datapath (scapy-built packets)', () => {
  it('SNATs a pod’s 4000-byte datagram fragment by fragment, un-NATs the fragmented reply cut to the pod MTU', () => {
    const { slab, fromPod, fromUplink, up, pod, counters } = build();
    const frags = S(...fragsOf(REQUEST('10.244.1.5'), 1424, 3));
    const want = S(...fragsOf(REQUEST(EGRESS, 63), 1424, 3).map((f) => `${ETH_OUT}/${f}`));
    fromPod(0, ...frags);
    expect(up()).toEqual(want.map(hex));
    expect(counters('defrag')).toMatchObject({ fragments: 3, datagrams: 1, completed: 1 });
    expect(counters('snat')).toMatchObject({ new: 1, fragment: 2 });

    // The server's 4000-byte reply, fragmented at 1500 bytes: 1480 + 1480 + 1040 bytes of UDP.
    const reply = S(
      ...fragsOf(`IP(src='${HOST}', dst='${EGRESS}', id=88)/UDP(sport=53, dport=40000)/(b'r'*3992)`, 1480, 3).map(
        (f) => `${ETH_IN}/${f}`,
      ),
    );
    fromUplink(...reply);
    // Each 1500-byte fragment is cut at the pod MTU (1424 bytes of data), the last one fits.
    const pieces = S(
      piece(0, 1424, true),
      piece(1424, 1480, true),
      piece(1480, 2904, true),
      piece(2904, 2960, true),
      piece(2960, 4000, false),
    );
    expect(pod(0).sort()).toEqual(pieces.map(hex).sort());
    expect(counters('unsnat')).toMatchObject({ reply: 1, fragment: 2, refragmented: 2 });
    expect(slab.available).toBe(slab.slots);
  });

  it('sends the first fragment first when the pod’s fragments come in reverse, the rest right after it', () => {
    const { slab, fromPod, up, counters } = build();
    const frags = S(...fragsOf(REQUEST('10.244.1.5'), 1424, 3));
    const want = S(...fragsOf(REQUEST(EGRESS, 63), 1424, 3).map((f) => `${ETH_OUT}/${f}`));
    fromPod(0, frags[2]!);
    fromPod(0, frags[1]!);
    expect(up()).toEqual([]);
    fromPod(0, frags[0]!);
    expect(up()).toEqual([want[0]!, want[2]!, want[1]!].map(hex));
    expect(counters('defrag')).toMatchObject({ held: 2, released: 2, completed: 1 });
    expect(slab.available).toBe(slab.slots);
  });

  it('tunnels the fragments of a pod whose Egress is elsewhere with one Geneve source port', () => {
    const { fromPod, up, counters } = build();
    fromPod(2, ...S(...fragsOf(REQUEST('10.244.1.7'), 1424, 3)));
    const out = up().map((h) => Buffer.from(h, 'hex'));
    expect(out.length).toBe(3);
    // Outer UDP source port at 14 + 20: the same for every fragment of the datagram.
    expect(new Set(out.map((f) => f.readUInt16BE(34))).size).toBe(1);
    expect(counters('classify')).toMatchObject({ 'egress-remote': 3 });
  });

  it('drops a teardrop from outside: the overlapping fragment and the rest of its datagram', () => {
    const { fromPod, fromUplink, up, pod, counters } = build();
    fromPod(0, ...S(`IP(src='10.244.1.5', dst='${HOST}')/UDP(sport=40000, dport=53)/b'q'`));
    up();
    const [first, overlap, rest] = S(
      `${ETH_IN}/fragment(IP(src='${HOST}', dst='${EGRESS}', id=99)/UDP(sport=53, dport=40000)/(b't'*56), fragsize=32)[0]`,
      `${ETH_IN}/IP(src='${HOST}', dst='${EGRESS}', id=99, proto=17, flags='MF', frag=3)/(b'x'*16)`,
      `${ETH_IN}/fragment(IP(src='${HOST}', dst='${EGRESS}', id=99)/UDP(sport=53, dport=40000)/(b't'*56), fragsize=32)[1]`,
    );
    fromUplink(first!, overlap!, rest!);
    expect(pod(0).length).toBe(1);
    expect(counters('defrag')).toMatchObject({ 'drop-overlap': 2 });
  });

  it('a flood of fragments that never complete holds at most the waiting queue and no whole packet is lost', () => {
    const { slab, fromPod, up, tick, counters } = build({ fragments: { datagrams: 16, waiting: 32 } });
    const flood = S(
      ...Array.from(
        { length: 200 },
        (_, k) => `IP(src='10.244.1.5', dst='${HOST}', id=${1000 + k}, proto=17, frag=100)/(b'f'*64)`,
      ),
    );
    const whole = S(
      ...Array.from(
        { length: 50 },
        (_, k) => `IP(src='10.244.1.5', dst='${HOST}', id=${k})/UDP(sport=${20000 + k}, dport=53)/b'q'`,
      ),
    );
    for (let k = 0; k < 50; k++)
      fromPod(0, flood[4 * k]!, flood[4 * k + 1]!, whole[k]!, flood[4 * k + 2]!, flood[4 * k + 3]!);
    expect(up().length).toBe(50);
    const d = counters('defrag');
    expect(d['held']).toBe(200);
    expect(d['evicted']! + d['drop-queue-full']!).toBeGreaterThan(0);
    expect(slab.slots - slab.available).toBeLessThanOrEqual(16);
    // After the timeout nothing is held any more.
    tick(30_001);
    expect(slab.available).toBe(slab.slots);
  });
});
