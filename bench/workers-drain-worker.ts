/**
 * One drain worker of bench/workers-drain.ts: a node datapath (SNAT partition `index` of `count`) over queue
 * `index` of the pod TUN and of the uplink TAP (fds the main thread opened), draining the pod queue as fast as it
 * can once told to go: recv, the whole pipeline (pod-ingress, classify, snat, uplink-out), write, until the queue is
 * empty. Posts {count, t0, t1, cpuUs} (absolute ms; cpuUs is the process's, all threads).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { NodeDatapath } from '../engine/agent/datapath.js';
import { Slab } from '../engine/index.js';
import type { NodeDatapathConfig } from '../engine/stages/index.js';
import { TapPort, TunPort } from '../tun/index.js';

interface Init {
  index: number;
  count: number;
  config: NodeDatapathConfig;
  pod: { fd: number; ifname: string };
  uplink: { fd: number; ifname: string };
  hosts: Array<[number, number, number]>;
  batch: number;
}

const d = workerData as Init;
const slab = new Slab({ slots: 8192 });
const dp = new NodeDatapath(slab, d.config, {
  conntrack: { maxConnections: 65536, ...(d.count > 1 ? { portShards: [d.count, d.index] as const } : {}) },
});
const pod = new TunPort(d.pod.ifname, { adoptFd: d.pod.fd, batchSize: d.batch });
const up = new TapPort(d.uplink.ifname, { adoptFd: d.uplink.fd, batchSize: d.batch });
dp.attachUplink(up);
dp.pods.set(0, pod);
const abs = () => performance.timeOrigin + performance.now();
for (const h of d.hosts) dp.state.neigh.learn(h[0], h[1], h[2], performance.now(), true);
parentPort!.on('message', (m: string) => {
  if (m !== 'go') return;
  const c0 = process.cpuUsage();
  const t0 = abs();
  let count = 0;
  let idle = 0;
  for (;;) {
    const n = dp.pollPod(0, performance.now());
    count += n;
    if (n === 0 && ++idle >= 2) break;
    if (n > 0) idle = 0;
  }
  const t1 = abs();
  const c = process.cpuUsage(c0);
  // Connections expire as in the agent's housekeeping, so a repetition starts from the same table.
  dp.tick(performance.now() + 600_000, 1 << 20);
  parentPort!.postMessage({ count, t0, t1, cpuUs: c.user + c.system });
});
parentPort!.postMessage('ready');
