/**
 * TUN → TUN forwarding capacity of TunPort (N-API addon, burst read + burst write) against a small C forwarder
 * doing the same read/write loop on the same devices. Root only; run after `npm run build`:
 *
 *     node --expose-gc dist/bench/tun-io.js [--packets N] [--reps R] [--bursts 1,8,32,64]
 *
 * Method (docs/platform.md's drain): namespace SRC holds TUN A (txqueuelen > N), namespace DST holds TUN B. With
 * nobody reading A, a C sender in SRC queues N small UDP datagrams (46-byte IPv4 packets) into A's queue; then
 * the forwarder under test starts and the time from its start until A reads EAGAIN is measured: packets / time
 * is its capacity, with no traffic source competing for the two cores. Forwarders:
 *
 * - `node sync`: a loop `recv(burst)` from A, `send(burst)` to B until recv returns 0 (one crossing each way
 *   per burst);
 * - `node poll`: the same, one burst per libuv readiness callback (what an agent's event loop does: an epoll
 *   round trip per burst);
 * - `C`: read up to B packets until EAGAIN, write each (the fds of the same two devices, inherited).
 *
 * DST drops what B delivers (strict rp_filter, no route back), after counting it in B's rx counter, which is
 * checked against the number forwarded. Figures are the median of `reps` runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { Burst, Slab } from '../engine/index.js';
import { netdev, TunPort } from '../tun/index.js';

const C_SOURCE = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "send") == 0) { /* send N DST PORT: N datagrams, 64 per sendmmsg */
    long n = atol(argv[2]), sent = 0;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in d = {0};
    d.sin_family = AF_INET;
    d.sin_port = htons(atoi(argv[4]));
    inet_pton(AF_INET, argv[3], &d.sin_addr);
    if (s < 0 || connect(s, (struct sockaddr *)&d, sizeof d) < 0) { perror("send: socket/connect"); return 1; }
    static char payload[18] = "egress-bench-data";
    struct mmsghdr m[64];
    struct iovec iov[64];
    memset(m, 0, sizeof m);
    for (int i = 0; i < 64; i++) {
      iov[i].iov_base = payload;
      iov[i].iov_len = sizeof payload;
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
    }
    while (sent < n) {
      int k = n - sent < 64 ? (int)(n - sent) : 64;
      int r = sendmmsg(s, m, k, 0);
      if (r < 0) { if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue; perror("sendmmsg"); return 1; }
      sent += r;
    }
    printf("%ld\n", sent);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "fwd") == 0) { /* fwd B: read fd 3 in bursts of B until EAGAIN, write each to fd 4 */
    int b = atoi(argv[2]);
    static char buf[64][2048];
    int len[64];
    long total = 0, failed = 0;
    if (b < 1 || b > 64) return 2;
    double c0 = cpu_us(), t0 = now_ns();
    for (;;) {
      int n = 0;
      while (n < b) {
        ssize_t r = read(3, buf[n], sizeof buf[n]);
        if (r < 0) { if (errno == EINTR) continue; break; }
        len[n++] = (int)r;
      }
      if (n == 0) break;
      for (int i = 0; i < n; i++)
        if (write(4, buf[i], len[i]) < 0) failed++;
      total += n;
    }
    double t1 = now_ns(), c1 = cpu_us();
    printf("%ld %.0f %.0f %ld\n", total, t1 - t0, c1 - c0, failed);
    return 0;
  }
  fprintf(stderr, "usage: tunbench send N DST PORT | tunbench fwd BURST (fds 3 -> 4)\n");
  return 2;
}
`;

interface Options {
  packets: number;
  reps: number;
  bursts: number[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { packets: 100_000, reps: 3, bursts: [1, 8, 32, 64] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    if (a === '--packets' && v) o.packets = Number(v);
    else if (a === '--reps' && v) o.reps = Number(v);
    else if (a === '--bursts' && v) o.bursts = v.split(',').map(Number);
    else {
      console.error('usage: node dist/bench/tun-io.js [--packets N] [--reps R] [--bursts 1,8,32,64]');
      process.exit(2);
    }
  }
  if (!(o.packets > 0) || !(o.reps > 0) || o.bursts.some((b) => !Number.isInteger(b) || b < 1 || b > 64)) {
    console.error('tun-io: --packets and --reps must be positive, bursts 1..64');
    process.exit(2);
  }
  return o;
}

interface Run {
  count: number;
  /** Wall time of the drain. */
  ns: number;
  /** CPU time (user + system) the forwarder used, in µs: kernel work done on its behalf included. */
  cpuUs: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

const pid = process.pid;
const SRC = `egr-bsrc-${pid}`;
const DST = `egr-bdst-${pid}`;
const A = `egrba${pid}`;
const B = `egrbb${pid}`;

function linkStats(dev: string, ns: string): { rxPackets: number; txPackets: number; txDropped: number } {
  const [l] = JSON.parse(netdev.ip(['-s', '-j', 'link', 'show', 'dev', dev], { netns: ns })) as {
    stats64: { rx: { packets: number }; tx: { packets: number; dropped: number } };
  }[];
  return { rxPackets: l!.stats64.rx.packets, txPackets: l!.stats64.tx.packets, txDropped: l!.stats64.tx.dropped };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    console.error('tun-io: needs root (TUN devices and network namespaces)');
    process.exit(2);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'egr-tunbench-'));
  const ports: TunPort[] = [];
  const cleanup = () => {
    for (const p of ports) p.close();
    netdev.deleteNetns(SRC, { ifExists: true });
    netdev.deleteNetns(DST, { ifExists: true });
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    writeFileSync(join(tmp, 'tunbench.c'), C_SOURCE);
    const exe = join(tmp, 'tunbench');
    execFileSync('gcc', ['-O2', '-o', exe, join(tmp, 'tunbench.c')]);

    for (const ns of [SRC, DST]) {
      netdev.addNetns(ns);
      netdev.sysctl('net.ipv6.conf.default.disable_ipv6', 1, { netns: ns });
      netdev.sysctl('net.ipv6.conf.all.disable_ipv6', 1, { netns: ns });
    }
    const a = new TunPort(A, { batchSize: 64 });
    ports.push(a);
    const b = new TunPort(B, { batchSize: 64 });
    ports.push(b);
    netdev.moveToNetns(A, SRC);
    netdev.moveToNetns(B, DST);
    netdev.setTxQueueLen(A, opts.packets + 10_000, { netns: SRC });
    netdev.addAddress(A, '198.18.10.1/30', { netns: SRC });
    netdev.setUp(A, { netns: SRC });
    netdev.addRoute('198.18.11.0/24', { dev: A, netns: SRC });
    netdev.addAddress(B, '198.18.11.1/30', { netns: DST });
    netdev.setUp(B, { netns: DST });
    netdev.sysctl('net.ipv4.conf.all.rp_filter', 1, { netns: DST });
    netdev.sysctl(`net.ipv4.conf.${B}.rp_filter`, 1, { netns: DST });

    const slab = new Slab({ slots: 256 });

    /** Empties A's queue (leftovers) without timing. */
    const flush = () => {
      const burst = new Burst(slab, 64);
      while (a.recv(burst) > 0) burst.freeAll();
    };

    /** Queues N datagrams into A; returns how many the ring kept. */
    const fill = (n: number): number => {
      flush();
      const before = linkStats(A, SRC).txDropped;
      const sent = Number(
        netdev.netnsExec(SRC, exe, ['send', String(n), '198.18.11.2', '9'], { timeoutMs: 120_000 }).trim(),
      );
      const dropped = linkStats(A, SRC).txDropped - before;
      return sent - dropped;
    };

    const nodeSync = (burstSize: number): Run => {
      const burst = new Burst(slab, burstSize);
      let total = 0;
      const c0 = cpuNow();
      const t0 = process.hrtime.bigint();
      for (;;) {
        const n = a.recv(burst);
        if (n === 0) break;
        b.send(burst);
        burst.freeAll();
        total += n;
      }
      return { count: total, ns: Number(process.hrtime.bigint() - t0), cpuUs: cpuNow() - c0 };
    };

    const nodePoll = (burstSize: number, expected: number): Promise<Run> =>
      new Promise((resolve, reject) => {
        const burst = new Burst(slab, burstSize);
        let total = 0;
        const timer = setTimeout(() => (a.onReadable(null), reject(new Error('poll drain timed out'))), 60_000);
        const c0 = cpuNow();
        const t0 = process.hrtime.bigint();
        a.onReadable(() => {
          const n = a.recv(burst);
          if (n > 0) {
            b.send(burst);
            burst.freeAll();
            total += n;
          }
          // n < burstSize means the read hit EAGAIN: with the sender done, the queue is empty.
          if (n < burstSize || total >= expected) {
            const ns = Number(process.hrtime.bigint() - t0);
            a.onReadable(null);
            clearTimeout(timer);
            resolve({ count: total, ns, cpuUs: cpuNow() - c0 });
          }
        });
      });

    const cFwd = (burstSize: number): Run => {
      const r = spawnSync(exe, ['fwd', String(burstSize)], {
        stdio: ['ignore', 'pipe', 'inherit', a.fileDescriptor, b.fileDescriptor],
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`C forwarder failed: status ${r.status}`);
      const [count, ns, cpuUs] = r.stdout.trim().split(' ').map(Number);
      return { count: count!, ns: ns!, cpuUs: cpuUs! };
    };

    type Kind = 'node sync' | 'node poll' | 'C';
    const measure = async (kind: Kind, burstSize: number): Promise<Run & { expected: number; delivered: number }> => {
      const expected = fill(opts.packets);
      const rx0 = linkStats(B, DST).rxPackets;
      const run =
        kind === 'node sync'
          ? nodeSync(burstSize)
          : kind === 'node poll'
            ? await nodePoll(burstSize, expected)
            : cFwd(burstSize);
      const delivered = linkStats(B, DST).rxPackets - rx0;
      return { ...run, expected, delivered };
    };

    // Warm the JIT (and the kernel's caches) on a short untimed drain.
    fill(20_000);
    nodeSync(64);

    console.log(`node ${process.version}, ${opts.packets} packets of 46 bytes per drain, median of ${opts.reps} runs`);
    console.log('rate = packets / wall time of the drain; cpu = forwarder CPU time (user+sys) per packet;');
    console.log('ratios are sync/poll against C');
    console.log('wall ratio = node rate / C rate, median over runs (each run measures C and node back to back);');
    console.log('cpu ratio = C cpu / node cpu per packet (steadier when other work shares the cores)');
    const head = [
      'burst',
      'C rate',
      'C cpu',
      'sync rate',
      'sync cpu',
      'poll rate',
      'poll cpu',
      'wall ratio',
      'cpu ratio',
    ];
    const widths = [5, 11, 9, 11, 9, 11, 9, 11, 11];
    const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
    console.log(line(head));
    const kinds: Kind[] = ['C', 'node sync', 'node poll'];
    for (const bs of opts.bursts) {
      const rate: Record<Kind, number[]> = { C: [], 'node sync': [], 'node poll': [] };
      const cpu: Record<Kind, number[]> = { C: [], 'node sync': [], 'node poll': [] };
      const syncRatio: number[] = [];
      const pollRatio: number[] = [];
      for (let r = 0; r < opts.reps; r++) {
        const got: Partial<Record<Kind, number>> = {};
        for (const k of kinds) {
          const m = await measure(k, bs);
          if (m.count !== m.expected || m.delivered !== m.count)
            console.warn(
              `  ${k} burst ${bs}: forwarded ${m.count} of ${m.expected} queued, ${m.delivered} delivered to B`,
            );
          got[k] = m.count / (m.ns / 1e9);
          rate[k].push(got[k]);
          cpu[k].push(m.cpuUs / m.count);
        }
        syncRatio.push(got['node sync']! / got.C!);
        pollRatio.push(got['node poll']! / got.C!);
      }
      const kpps = (x: number[]) => `${(median(x) / 1000).toFixed(1)}k pps`;
      const us = (x: number[]) => `${median(x).toFixed(2)} µs`;
      console.log(
        line([
          String(bs),
          kpps(rate.C),
          us(cpu.C),
          kpps(rate['node sync']),
          us(cpu['node sync']),
          kpps(rate['node poll']),
          us(cpu['node poll']),
          `${median(syncRatio).toFixed(2)}/${median(pollRatio).toFixed(2)}`,
          `${(median(cpu.C) / median(cpu['node sync'])).toFixed(2)}/${(median(cpu.C) / median(cpu['node poll'])).toFixed(2)}`,
        ]),
      );
    }

    // Allocation on the hot path: heap growth over one drain (node sync, burst 64), no GC expected in between.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) {
      let gcs = 0;
      const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
      obs.observe({ entryTypes: ['gc'] });
      fill(opts.packets);
      gc();
      await new Promise((r) => setTimeout(r, 20));
      const g0 = gcs;
      const h0 = process.memoryUsage().heapUsed;
      const m = nodeSync(64);
      const h1 = process.memoryUsage().heapUsed;
      await new Promise((r) => setTimeout(r, 20));
      obs.disconnect();
      const during = gcs - g0;
      console.log(
        `heap growth over a ${m.count}-packet drain (node sync, burst 64): ${h1 - h0} bytes ` +
          `(${((h1 - h0) / m.count).toFixed(3)} B/packet), GCs during the drain: ${during}`,
      );
    } else console.log('(run with node --expose-gc to measure allocation per packet)');
  } finally {
    cleanup();
  }
}

await main();
