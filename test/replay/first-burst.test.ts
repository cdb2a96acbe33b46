/**
 * The first burst of a capture to neighbours nobody has resolved yet (docs/replay.md, Time: "New address
 * pairs"). Pods send more packets to an unresolved next hop within one input burst than a neighbour queue
 * holds (uplink-out parks at most 32 per entry): on a real segment the ARP exchange takes microseconds and the
 * packets after it find the entry resolved; the simulated segment answers at once, but only between bursts, so
 * a burst that carried them all used to overflow the queue (`uplink-out.queue-full`, 128 of a 1 M-packet
 * replay). The burst now ends a queue's worth of packets after the first packet of an address pair it has not
 * seen: nothing is lost, every packet comes back to its pod, and the accounting adds up.
 * Input built by scapy: raw IPv4 (link type 101), UDP to showip's discard port, 1 µs apart, with `--reflect`.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Replay } from '../../engine/agent/replay.js';
import { accounting } from '../../engine/agent/replay-summary.js';
import * as policy from '../../engine/policy/index.js';
import { ipv4 } from '../../engine/wire/index.js';
import { hasScapy, scapyBytes } from '../support/scapy.js';

const ROOT = resolve(import.meta.dirname, '../..');
const T0 = 1767225600;
// prod/web-a on node-a (Geneve to 198.18.0.253 on node-c, SNAT there) and staging/web-d on node-a (local SNAT
// to 198.18.0.254): node-a resolves 198.18.0.253 and showip, node-c showip; 80 packets of each pod.
const PODS = ['198.19.1.10', '198.19.1.11'];
const PER_POD = 80;

function cluster(): policy.ClusterState {
  const text = readFileSync(join(ROOT, 'examples/reference/cluster.yaml'), 'utf8');
  const applied = policy.applyDocs(policy.emptyState(), policy.parseManifests(text, 'cluster.yaml').docs, new Date(0));
  if (!applied.ok) throw new Error('reference manifests refused');
  return applied.state;
}

function uplinkOut(r: Replay, node: string): Record<string, number> {
  const rt = r.cluster.nodes.find((n) => n.name === node)!;
  return rt.runner.agent.datapath.pipeline.snapshot()['uplink-out']!.counters;
}

describe.skipIf(!hasScapy())('replay: a first burst larger than the neighbour queue', () => {
  const pkts = scapyBytes(
    [...Array(2 * PER_POD).keys()].map((i) => {
      const pod = PODS[i % 2]!;
      const k = i >> 1;
      return `IP(src='${pod}', dst='198.18.0.100', id=${i}, flags='DF')/UDP(sport=${41000 + k}, dport=9)/Raw(b'p${i % 2}-${k}')`;
    }),
  );

  it('loses nothing: every packet is echoed back to its pod, no queue-full, the counters add up', () => {
    const r = new Replay({ state: cluster(), reflect: true });
    pkts.forEach((p, i) => r.feed(p, 0, p.length, p.length, 101, T0, i * 1000));
    r.finish();
    const acc = accounting(r);
    expect(acc.packets).toBe(2 * PER_POD);
    expect(acc.fromPods + acc.fromOutside + acc.rawFrames + acc.skipped + acc.undeliverable).toBe(acc.packets);
    expect(acc.fromPods).toBe(2 * PER_POD);
    expect(acc.datapath).toEqual([]);
    expect(acc.delivery).toEqual([]);
    expect(acc.packetsToPods + acc.datapathTotal + acc.deliveryTotal).toBe(acc.fromPods);
    expect(acc.packetsToPods).toBe(2 * PER_POD);
    for (const node of ['node-a', 'node-b', 'node-c']) {
      const u = uplinkOut(r, node);
      expect(u['drop-queue-full'] ?? 0, `${node} uplink-out queue-full`).toBe(0);
      expect(u['parked'] ?? 0).toBe(u['released'] ?? 0); // every parked packet went out
    }
    // The burst did meet unresolved neighbours: node-a parked packets for 198.18.0.253 and showip, node-c for
    // showip, each at most a queue's worth (32 per entry).
    const a = uplinkOut(r, 'node-a');
    const c = uplinkOut(r, 'node-c');
    expect(a['arp-request']).toBe(2);
    expect(c['arp-request']).toBe(1);
    expect(a['parked']).toBeGreaterThan(1);
    expect(a['parked']).toBeLessThanOrEqual(2 * 32);
    expect(c['parked']).toBeGreaterThan(0);
    expect(c['parked']).toBeLessThanOrEqual(32);
    // showip received each request once; each pod got every echo.
    const showip = [...r.cluster.hosts.values()].find((h) => h.name === 'showip')!;
    expect(showip.stats()['received']).toBe(2 * PER_POD);
    for (const pod of PODS) {
      const p = r.cluster.pods.find((x) => x.ip === ipv4.parseAddr(pod))!;
      expect(p.counters.get('received'), pod).toBe(PER_POD);
    }
  });
});
