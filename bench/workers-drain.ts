/**
 * Drain capacity of `egress agent --workers N` (docs/agent.md "Workers"): how many packets per second a set of
 * datapath workers takes out of pre-filled device queues, the fair measure on a 2-core machine (a live traffic
 * source would need a core of its own). Root only; run after `npm run build`:
 *
 *     node dist/bench/workers-drain.js [--packets N] [--reps R] [--flows F] [--workers 1,2]
 *
 * Method: namespace SRC holds the pod TUN (N queues for N workers, IFF_MULTI_QUEUE when N > 1), namespace DST the
 * uplink TAP (N queues, up, no address: the kernel drops what the workers write after counting it). With nobody
 * reading, a C sender in SRC queues `packets` 46-byte UDP datagrams of `flows` flows (one socket each, so the
 * tun driver spreads them over the queues by flow hash); then the N worker threads (bench/workers-drain-worker.ts:
 * a NodeDatapath each, SNAT partition k of N) are told to go and each drains its queue through the whole pipeline
 * (pod-ingress, classify, snat, uplink-out) in a loop. Capacity = packets drained / (last worker's end − first
 * worker's start). Worker counts alternate within each repetition (1, 2, 1, 2, ...); figures are medians.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EGRESS_NONE, type NodeDatapathConfig } from '../engine/stages/index.js';
import { wire } from '../engine/index.js';
import { netdev, TapPort, TunPort } from '../tun/index.js';

const SENDER = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) { /* send N FLOWS DST PORT */
  long n = atol(argv[1]), sent = 0; int f = atoi(argv[2]);
  int *s = calloc(f, sizeof *s);
  struct sockaddr_in d = {0};
  d.sin_family = AF_INET; d.sin_port = htons(atoi(argv[4])); inet_pton(AF_INET, argv[3], &d.sin_addr);
  for (int i = 0; i < f; i++) {
    s[i] = socket(AF_INET, SOCK_DGRAM, 0);
    if (s[i] < 0 || connect(s[i], (struct sockaddr *)&d, sizeof d) < 0) { perror("socket/connect"); return 1; }
  }
  static char payload[18] = "egress-bench-data";
  struct mmsghdr m[16]; struct iovec iov[16];
  memset(m, 0, sizeof m);
  for (int i = 0; i < 16; i++) { iov[i].iov_base = payload; iov[i].iov_len = sizeof payload; m[i].msg_hdr.msg_iov = &iov[i]; m[i].msg_hdr.msg_iovlen = 1; }
  for (long r = 0; sent < n; r++) {
    int k = n - sent < 16 ? (int)(n - sent) : 16;
    int x = sendmmsg(s[r % f], m, k, 0);
    if (x < 0) { if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue; perror("sendmmsg"); return 1; }
    sent += x;
  }
  printf("%ld\n", sent);
  return 0;
}
`;

interface Options {
  packets: number;
  reps: number;
  flows: number;
  workers: number[];
  /** Also 2 workers on two separate single-queue device pairs (no IFF_MULTI_QUEUE): what the driver costs. */
  separate: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { packets: 200_000, reps: 5, flows: 256, workers: [1, 2], separate: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    if (a === '--packets' && v) o.packets = Number(v);
    else if (a === '--reps' && v) o.reps = Number(v);
    else if (a === '--flows' && v) o.flows = Number(v);
    else if (a === '--workers' && v) o.workers = v.split(',').map(Number);
    else if (a === '--separate') {
      o.separate = true;
      i--;
    } else {
      console.error('usage: node dist/bench/workers-drain.js [--packets N] [--reps R] [--flows F] [--workers 1,2]');
      process.exit(2);
    }
  }
  return o;
}

const ip = (s: string) => wire.ipv4.parseAddr(s)!;
const pid = process.pid;
const SRC = `egr-wdsrc-${pid % 100000}`;
const DST = `egr-wddst-${pid % 100000}`;
const POD_IP = '198.18.10.1';
const HOST = '198.18.0.100';

function config(): NodeDatapathConfig {
  return {
    nodeName: 'node-a',
    nodeIp: ip('198.18.0.11'),
    mac: wire.ethernet.parseMac('02:0e:c6:12:00:0b')!,
    uplinkMtu: 1500,
    transport: { addr: ip('198.18.0.0'), len: 24 },
    gateway: 0,
    tunnelPort: 6081,
    podCidr: { addr: ip('198.18.10.0'), len: 24 },
    pods: [{ key: 'bench/pod', ip: ip(POD_IP), port: 0, egress: EGRESS_NONE, egressIp: 0 }],
    nodes: [{ name: 'node-a', ip: ip('198.18.0.11'), podCidr: { addr: ip('198.18.10.0'), len: 24 } }],
    bypass: [],
    egressIps: [],
  };
}

function linkStats(dev: string, ns: string): { tx: number; txDropped: number; rx: number } {
  const [l] = JSON.parse(netdev.ip(['-s', '-j', 'link', 'show', 'dev', dev], { netns: ns })) as Array<{
    stats64: { tx: { packets: number; dropped: number }; rx: { packets: number } };
  }>;
  return { tx: l!.stats64.tx.packets, txDropped: l!.stats64.tx.dropped, rx: l!.stats64.rx.packets };
}

interface Devices {
  n: number;
  label: string;
  pod: TunPort[];
  up: TapPort[];
  /** Interface names of each worker's queue (the same device for every queue, unless separate). */
  ifPod: string[];
  ifUp: string[];
  /** Destination of each fill (separate devices: one route, hence one host address, per device). */
  hosts: string[];
}

function devices(n: number, packets: number, separate = false): Devices {
  if (separate) {
    const pod: TunPort[] = [];
    const up: TapPort[] = [];
    const ifPod: string[] = [];
    const ifUp: string[] = [];
    for (let k = 0; k < n; k++) {
      ifPod.push(`egrwdsp${k}`);
      ifUp.push(`egrwdsu${k}`);
      pod.push(new TunPort(ifPod[k]!, { batchSize: 64 }));
      up.push(new TapPort(ifUp[k]!, { batchSize: 64 }));
      netdev.moveToNetns(ifPod[k]!, SRC);
      netdev.moveToNetns(ifUp[k]!, DST);
      netdev.setTxQueueLen(ifPod[k]!, packets + 10_000, { netns: SRC });
      netdev.setUp(ifUp[k]!, { netns: DST });
    }
    return { n, label: `${n} separate`, pod, up, ifPod, ifUp, hosts: ifPod.map((_, k) => `198.18.0.${100 + k}`) };
  }
  const ifPod = `egrwdp${n}`;
  const ifUp = `egrwdu${n}`;
  const pod = n === 1 ? [new TunPort(ifPod, { batchSize: 64 })] : TunPort.openQueues(ifPod, n, { batchSize: 64 });
  const up = n === 1 ? [new TapPort(ifUp, { batchSize: 64 })] : TapPort.openQueues(ifUp, n, { batchSize: 64 });
  netdev.moveToNetns(ifPod, SRC);
  netdev.moveToNetns(ifUp, DST);
  netdev.setTxQueueLen(ifPod, packets + 10_000, { netns: SRC });
  netdev.setUp(ifUp, { netns: DST });
  return { n, label: String(n), pod, up, ifPod: pod.map(() => ifPod), ifUp: up.map(() => ifUp), hosts: [HOST] };
}

interface Trial {
  workers: string;
  queued: number;
  drained: number;
  pps: number;
  cpuUs: number;
  perWorker: number[];
  /** Each worker's drain time, and how much later than the first the last one started. */
  spanMs: number[];
  skewMs: number;
  /**
   * Sum of each worker's own rate (its packets / its drain time): the capacity if every worker had a core to
   * itself; on a shared machine the wall-clock figure (`pps`) is bounded by the cores other processes leave.
   */
  ownPps: number;
}

/** The worker threads of a device set, started once and kept across repetitions (their code stays optimised). */
const pools = new Map<Devices, Worker[]>();

async function workersOf(d: Devices): Promise<Worker[]> {
  const have = pools.get(d);
  if (have) return have;
  const cfg = config();
  const mac = wire.ethernet.parseMac('02:00:00:00:00:64')!;
  const hosts = d.hosts.map((h) => [ip(h), wire.ethernet.macHi16(mac), wire.ethernet.macLo32(mac)]);
  const url = new URL('./workers-drain-worker.js', import.meta.url);
  const ws: Worker[] = [];
  const ready: Array<Promise<void>> = [];
  for (let k = 0; k < d.n; k++) {
    const w = new Worker(url, {
      workerData: {
        index: k,
        count: d.n,
        config: cfg,
        pod: { fd: d.pod[k]!.fileDescriptor, ifname: d.ifPod[k]! },
        uplink: { fd: d.up[k]!.fileDescriptor, ifname: d.ifUp[k]! },
        hosts,
        batch: 64,
      },
    });
    ws.push(w);
    ready.push(new Promise((r) => w.once('message', () => r())));
  }
  await Promise.all(ready);
  pools.set(d, ws);
  return ws;
}

async function trial(d: Devices, o: Options, exe: string): Promise<Trial> {
  const ws = await workersOf(d);
  // Between two trials the route is the same: the pod's default route through its TUN.
  const podDevs = [...new Set(d.ifPod)];
  const upDevs = [...new Set(d.ifUp)];
  const dropped = () => podDevs.reduce((a, x) => a + linkStats(x, SRC).txDropped, 0);
  const written = () => upDevs.reduce((a, x) => a + linkStats(x, DST).rx, 0);
  const before = dropped();
  const upBefore = written();
  let sent = 0;
  for (const h of d.hosts) {
    const n = Math.round(o.packets / d.hosts.length);
    sent += Number(netdev.netnsExec(SRC, exe, [String(n), String(o.flows), h, '9'], { timeoutMs: 120_000 }).trim());
  }
  const queued = sent - (dropped() - before);
  const c0 = process.cpuUsage();
  const results = await Promise.all(
    ws.map(
      (w) =>
        new Promise<{ count: number; sent: number; t0: number; t1: number; cpuUs: number }>((r) => {
          w.once('message', r);
          w.postMessage('go');
        }),
    ),
  );
  const c = process.cpuUsage(c0);
  const drained = results.reduce((a, r) => a + r.count, 0);
  const t0 = Math.min(...results.map((r) => r.t0));
  const t1 = Math.max(...results.map((r) => r.t1));
  const out = written() - upBefore;
  if (out < drained * 0.99) console.warn(`warning: ${drained} drained but ${out} reached the uplink (${d.label})`);
  return {
    workers: d.label,
    queued,
    drained,
    pps: drained / ((t1 - t0) / 1000),
    cpuUs: c.user + c.system,
    perWorker: results.map((r) => r.count),
    spanMs: results.map((r) => r.t1 - r.t0),
    skewMs: Math.max(...results.map((r) => r.t0)) - t0,
    ownPps: results.reduce((a, r) => a + r.count / ((r.t1 - r.t0) / 1000), 0),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    console.error('workers-drain: needs root (TUN/TAP devices, namespaces)');
    process.exit(1);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'egr-wd-'));
  const all: Devices[] = [];
  const cleanup = () => {
    for (const d of all) for (const p of [...d.pod, ...d.up]) p.close();
    netdev.deleteNetns(SRC, { ifExists: true });
    netdev.deleteNetns(DST, { ifExists: true });
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    writeFileSync(join(tmp, 'send.c'), SENDER);
    const exe = join(tmp, 'send');
    execFileSync('gcc', ['-O2', '-o', exe, join(tmp, 'send.c')]);
    for (const ns of [SRC, DST]) {
      netdev.addNetns(ns);
      netdev.sysctl('net.ipv6.conf.default.disable_ipv6', 1, { netns: ns });
      netdev.sysctl('net.ipv6.conf.all.disable_ipv6', 1, { netns: ns });
    }
    const byN = new Map<string, Devices>();
    for (const n of o.workers) {
      const d = devices(n, o.packets);
      all.push(d);
      byN.set(d.label, d);
    }
    if (o.separate) {
      const d = devices(2, o.packets, true);
      all.push(d);
      byN.set(d.label, d);
    }
    const trials: Trial[] = [];
    for (let r = 0; r < o.reps; r++)
      for (const [n, d] of byN) {
        // Only the devices under test carry the pod's address and routes.
        for (const x of byN.values())
          for (const dev of new Set(x.ifPod)) {
            netdev.ip(['addr', 'flush', 'dev', dev], { netns: SRC });
            netdev.setDown(dev, { netns: SRC });
          }
        for (const [k, dev] of [...new Set(d.ifPod)].entries()) {
          netdev.setUp(dev, { netns: SRC });
          netdev.addAddress(dev, `${POD_IP}/32`, { netns: SRC });
          netdev.ip(['route', 'replace', `${d.hosts[k]}/32`, 'dev', dev], { netns: SRC });
        }
        const t = await trial(d, o, exe);
        trials.push(t);
        console.log(
          `workers ${n}: queued ${t.queued}, drained ${t.drained} (${t.perWorker.join(' + ')} in ${t.spanMs.map((x) => x.toFixed(0)).join(' / ')} ms, start skew ${t.skewMs.toFixed(1)} ms), ${(t.pps / 1000).toFixed(0)} kpps (workers' own rates summed: ${(t.ownPps / 1000).toFixed(0)} kpps), ${(t.cpuUs / t.drained).toFixed(2)} µs process CPU/packet`,
        );
      }
    const med = new Map(
      [...byN.keys()].map((n) => [n, median(trials.filter((t) => t.workers === n).map((t) => t.pps))]),
    );
    const own = new Map(
      [...byN.keys()].map((n) => [n, median(trials.filter((t) => t.workers === n).map((t) => t.ownPps))]),
    );
    for (const [n, pps] of med)
      console.log(
        `median workers ${n}: ${(pps / 1000).toFixed(0)} kpps (own rates summed ${(own.get(n)! / 1000).toFixed(0)} kpps)`,
      );
    const one = med.get('1');
    if (one !== undefined)
      for (const [n, pps] of med)
        if (n !== '1')
          console.log(
            `ratio workers ${n} / 1: ${(pps / one).toFixed(2)}x wall clock, ${(own.get(n)! / own.get('1')!).toFixed(2)}x own rates summed`,
          );
  } finally {
    for (const ws of pools.values()) for (const w of ws) await w.terminate();
    cleanup();
  }
}

await main();
