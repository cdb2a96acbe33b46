/**
 * One datapath worker of `egress agent --workers N` (docs/agent.md "Workers"), a worker_thread: a NodeDatapath
 * of its own (slab, connection tables with SNAT port partition `index` of `count`, neighbour table) over queue
 * `index` of the uplink TAP and of every pod TUN, which the main thread opened and hands over as fds. Replies of
 * another worker's partition go to it through the handoff rings (steer stage); what the others hand over arrives
 * from them. The main thread keeps the control plane: it sends configurations, pins, neighbours and the ARP hold;
 * control datagrams (heartbeats) that reach this worker's queue are passed to it. ARP and NDP state is shared
 * through the main thread (worker-neighbors.ts). Counters go to the main thread
 * every report interval, which adds them to its own.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { NodeDatapath } from '../../engine/agent/datapath.js';
import { HandoffPort, HandoffRing, MemoryPort } from '../../engine/io/index.js';
import { Slab } from '../../engine/packet/index.js';
import { TapPort, TunPort } from '../../tun/index.js';
import type { FromWorker, ToWorker, WorkerCounters, WorkerInit } from './worker-protocol.js';
import { NeighborShare } from './worker-neighbors.js';

const d = workerData as WorkerInit;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);
const clock = () => performance.now();

function fault(where: string, e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  post({ type: 'fault', index: d.index, where, message: err.message, stack: err.stack ?? '' });
}

function guard(where: string, f: () => void): () => void {
  return () => {
    try {
      f();
    } catch (e) {
      fault(where, e);
    }
  };
}

const slab = new Slab({ slots: d.slabSlots });
const dp = new NodeDatapath(slab, d.config, d.options);
const uplink = new TapPort(d.uplink.ifname, {
  adoptFd: d.uplink.fd,
  batchSize: d.batch,
  name: `uplink:${d.node}#${d.index}`,
});
dp.attachUplink(uplink);
dp.attachControl(new MemoryPort({ name: `control:${d.node}#${d.index}`, slab }));
dp.state.holdEgress = d.holdEgress;
dp.state.onControl = (src, sport, u8, off, len, macHi, macLo) =>
  post({ type: 'control', src, sport, payload: u8.slice(off, off + len), macHi, macLo });
const now0 = clock();
for (const [ip, hi, lo] of d.pins) dp.pinPeer(ip, hi, lo);
const neighbors = { 4: new NeighborShare(dp.state.neigh, 4), 6: new NeighborShare(dp.state.neigh6, 6) };
for (const f of [4, 6] as const) {
  for (const row of d.neighbors[f]) neighbors[f].apply(row, now0);
  neighbors[f].onLearned = (row) => post({ type: 'neighbor', index: d.index, family: f, row });
  neighbors[f].onSolicit = (addr, vlan) => post({ type: 'solicit', index: d.index, family: f, addr, vlan });
}

const stats = { wakeups: 0, polls: 0, packets: 0, ticks: 0 };
function drain(poll: (now: number) => number): void {
  const now = clock();
  stats.wakeups++;
  for (let k = 0; k < d.budget; k++) {
    stats.polls++;
    const n = poll(now);
    stats.packets += n;
    if (n === 0) break;
  }
}

uplink.onReadable(guard('uplink', () => drain((now) => dp.pollUplink(now))));

const handoff: HandoffPort[] = [];
for (let j = 0; j < d.count; j++) {
  if (j === d.index) continue;
  const tx = d.rings[d.index]![j]!;
  const rx = d.rings[j]![d.index]!;
  const hp = new HandoffPort({
    name: `handoff:${d.index}<->${j}`,
    tx: new HandoffRing(tx),
    rx: new HandoffRing(rx),
    batchSize: d.batch,
  });
  dp.workers!.set(j, hp);
  handoff.push(hp);
  hp.onReadable(guard('handoff', () => drain((now) => dp.pollWorker(j, now))));
}

const pods = new Map<number, TunPort>();
function addPod(key: string, member: number, fd: number, ifname: string): void {
  const p = new TunPort(ifname, { adoptFd: fd, batchSize: d.batch, name: `pod:${key}#${d.index}`, portIndex: member });
  dp.pods.set(member, p);
  pods.set(member, p);
  p.onReadable(guard('pod', () => drain((now) => dp.pollPod(member, now))));
}
for (const p of d.pods) addPod(p.key, p.member, p.fd, p.ifname);

const tick = setInterval(
  guard('housekeeping', () => {
    const now = clock();
    stats.ticks++;
    dp.tick(now, d.expireBudget);
    neighbors[4].scan(now);
    neighbors[6].scan(now);
  }),
  d.tickMs,
);

function counters(): WorkerCounters {
  const hs: Record<string, number> = {};
  for (const h of handoff) for (const [k, v] of Object.entries(h.counters.snapshot())) hs[k] = (hs[k] ?? 0) + v;
  return {
    index: d.index,
    stages: dp.pipeline.snapshot(),
    conntrack: { size: dp.state.ct.size, counters: dp.state.ct.counterSnapshot() },
    ports: { uplink: uplink.counters.snapshot(), handoff: hs },
    runtime: { ...stats },
  };
}
const report = setInterval(
  guard('report', () => post({ type: 'counters', counters: counters() })),
  500,
);

port.on('message', (m: ToWorker) => {
  try {
    const now = clock();
    switch (m.type) {
      case 'config':
        dp.state.configure(m.config);
        break;
      case 'pod-add':
        addPod(m.key, m.member, m.fd, m.ifname);
        break;
      case 'pod-remove': {
        const p = pods.get(m.member);
        if (p) {
          p.onReadable(null);
          p.close(); // adopted: the fd stays open until the main thread closes it
          pods.delete(m.member);
          dp.pods.remove(m.member);
        }
        post({ type: 'pod-closed', index: d.index, key: m.key });
        break;
      }
      case 'pin':
        dp.pinPeer(m.ip, m.macHi, m.macLo);
        break;
      case 'neighbor':
        neighbors[m.family].apply(m.row, now);
        break;
      case 'solicit':
        neighbors[m.family].want(m.addr, m.vlan, now);
        break;
      case 'hold':
        dp.state.holdEgress = m.hold;
        break;
      case 'stop':
        clearInterval(tick);
        clearInterval(report);
        post({ type: 'counters', counters: counters() });
        uplink.onReadable(null);
        uplink.close();
        for (const p of pods.values()) {
          p.onReadable(null);
          p.close();
        }
        for (const h of handoff) h.close();
        post({ type: 'stopped', index: d.index });
        port.close();
        break;
    }
  } catch (e) {
    fault('message', e);
  }
});
post({ type: 'ready', index: d.index });
