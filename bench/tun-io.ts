/**
 * TUN → TUN forwarding capacity of TunPort (N-API addon, burst read + burst write) against a small C forwarder
 * doing the same read/write loop on the same devices. Root only; run after `npm run build`:
 *
 *     node --expose-gc dist/bench/tun-io.js [--packets N] [--reps R] [--bursts 1,8,32,64] [--io rw,uring]
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
 * Each I/O backend of TunPort (`--io`: `rw`, read(2)/write(2) per packet; `uring`, one io_uring per port) has
 * its own pair of devices (A, B) in the same two namespaces, and its node rows run in the same round as C's, so
 * `uring/rw` ratios compare runs taken back to back.
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
import { netdev, TunPort, uringBuilt, type TunIo } from '../tun/index.js';

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
  io: TunIo[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { packets: 100_000, reps: 3, bursts: [1, 8, 32, 64], io: ['rw', 'uring'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[++i];
    if (a === '--packets' && v) o.packets = Number(v);
    else if (a === '--reps' && v) o.reps = Number(v);
    else if (a === '--bursts' && v) o.bursts = v.split(',').map(Number);
    else if (a === '--io' && v) o.io = v.split(',') as TunIo[];
    else {
      console.error('usage: node dist/bench/tun-io.js [--packets N] [--reps R] [--bursts 1,8,32,64] [--io rw,uring]');
      process.exit(2);
    }
  }
  if (!(o.packets > 0) || !(o.reps > 0) || o.bursts.some((b) => !Number.isInteger(b) || b < 1 || b > 64)) {
    console.error('tun-io: --packets and --reps must be positive, bursts 1..64');
    process.exit(2);
  }
  if (o.io.length === 0 || o.io.some((x) => x !== 'rw' && x !== 'uring')) {
    console.error('tun-io: --io takes rw, uring or both (rw,uring)');
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
/** Device names and B's subnet per backend: rw 198.18.11.0/24, uring 198.18.12.0/24. */
const PAIRS: Record<TunIo, { a: string; b: string; net: number }> = {
  rw: { a: `egrba${pid}`, b: `egrbb${pid}`, net: 11 },
  uring: { a: `egrua${pid}`, b: `egrub${pid}`, net: 12 },
};

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
  if (opts.io.includes('uring') && !uringBuilt()) {
    console.error(
      'tun-io: --io uring: the TUN/TAP addon was built without liburing (install liburing-dev, then npm run build:tun)',
    );
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
    /** One pair of devices per backend: A in SRC (where the sender queues), B in DST. */
    interface Pair {
      io: TunIo;
      a: TunPort;
      b: TunPort;
      ifA: string;
      ifB: string;
      dst: string;
    }
    const pairs: Pair[] = [];
    for (const io of opts.io) {
      const names = PAIRS[io];
      const a = new TunPort(names.a, { batchSize: 64, io });
      ports.push(a);
      const b = new TunPort(names.b, { batchSize: 64, io });
      ports.push(b);
      netdev.moveToNetns(names.a, SRC);
      netdev.moveToNetns(names.b, DST);
      netdev.setTxQueueLen(names.a, opts.packets + 10_000, { netns: SRC });
      netdev.addAddress(names.a, `198.18.${names.net - 2}.1/30`, { netns: SRC });
      netdev.setUp(names.a, { netns: SRC });
      netdev.addRoute(`198.18.${names.net}.0/24`, { dev: names.a, netns: SRC });
      netdev.addAddress(names.b, `198.18.${names.net}.1/30`, { netns: DST });
      netdev.setUp(names.b, { netns: DST });
      netdev.sysctl(`net.ipv4.conf.${names.b}.rp_filter`, 1, { netns: DST });
      pairs.push({ io, a, b, ifA: names.a, ifB: names.b, dst: `198.18.${names.net}.2` });
    }
    netdev.sysctl('net.ipv4.conf.all.rp_filter', 1, { netns: DST });

    const slab = new Slab({ slots: 256 });

    /** Empties A's queue (leftovers) without timing. */
    const flush = (p: Pair) => {
      const burst = new Burst(slab, 64);
      while (p.a.recv(burst) > 0) burst.freeAll();
    };

    /** Queues N datagrams into A; returns how many the ring kept. */
    const fill = (p: Pair, n: number): number => {
      flush(p);
      const before = linkStats(p.ifA, SRC).txDropped;
      const sent = Number(netdev.netnsExec(SRC, exe, ['send', String(n), p.dst, '9'], { timeoutMs: 120_000 }).trim());
      const dropped = linkStats(p.ifA, SRC).txDropped - before;
      return sent - dropped;
    };

    const nodeSync = (p: Pair, burstSize: number): Run => {
      const { a, b } = p;
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

    const nodePoll = (p: Pair, burstSize: number, expected: number): Promise<Run> =>
      new Promise((resolve, reject) => {
        const { a, b } = p;
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

    const cFwd = (p: Pair, burstSize: number): Run => {
      const r = spawnSync(exe, ['fwd', String(burstSize)], {
        stdio: ['ignore', 'pipe', 'inherit', p.a.fileDescriptor, p.b.fileDescriptor],
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`C forwarder failed: status ${r.status}`);
      const [count, ns, cpuUs] = r.stdout.trim().split(' ').map(Number);
      return { count: count!, ns: ns!, cpuUs: cpuUs! };
    };

    type Kind = 'C' | `${TunIo} ${'sync' | 'poll'}`;
    const measure = async (kind: Kind, burstSize: number): Promise<Run & { expected: number; delivered: number }> => {
      // C reads the rw pair's fds (on a uring pair its ring would hold the device file, but not its reads).
      const p = kind === 'C' ? pairs.find((x) => x.io === 'rw')! : pairs.find((x) => kind.startsWith(x.io))!;
      const expected = fill(p, opts.packets);
      const rx0 = linkStats(p.ifB, DST).rxPackets;
      const run =
        kind === 'C'
          ? cFwd(p, burstSize)
          : kind.endsWith('sync')
            ? nodeSync(p, burstSize)
            : await nodePoll(p, burstSize, expected);
      const delivered = linkStats(p.ifB, DST).rxPackets - rx0;
      return { ...run, expected, delivered };
    };

    // Warm the JIT (and the kernel's caches) on a short untimed drain per pair.
    for (const p of pairs) {
      fill(p, 20_000);
      nodeSync(p, 64);
    }

    const kinds: Kind[] = [];
    if (opts.io.includes('rw')) kinds.push('C');
    for (const io of opts.io) kinds.push(`${io} sync`, `${io} poll`);
    console.log(`node ${process.version}, ${opts.packets} packets of 46 bytes per drain, median of ${opts.reps} runs`);
    console.log('rate = packets / wall time of the drain; cpu = forwarder CPU time (user+sys) per packet');
    console.log(
      'C ratios: node rate / C rate (wall) and C cpu / node cpu, for sync/poll (each run measures all back to back)',
    );
    if (opts.io.length === 2)
      console.log('uring/rw: rw cpu / uring cpu per packet, sync/poll (> 1: uring uses less CPU)');
    const head = ['burst'];
    for (const k of kinds) head.push(`${k} rate`, `${k} cpu`);
    if (kinds[0] === 'C') head.push('rw wall/C', 'rw cpu/C');
    if (opts.io.length === 2) head.push('uring/rw cpu', 'uring/rw rate');
    const widths = head.map((h) => Math.max(h.length, 9));
    const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
    console.log(line(head));
    for (const bs of opts.bursts) {
      const rate = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<Kind, number[]>;
      const cpu = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<Kind, number[]>;
      for (let r = 0; r < opts.reps; r++) {
        for (const k of kinds) {
          const m = await measure(k, bs);
          if (m.count !== m.expected || m.delivered !== m.count)
            console.warn(
              `  ${k} burst ${bs}: forwarded ${m.count} of ${m.expected} queued, ${m.delivered} delivered to B`,
            );
          rate[k].push(m.count / (m.ns / 1e9));
          cpu[k].push(m.cpuUs / m.count);
        }
      }
      const kpps = (x: number[]) => `${(median(x) / 1000).toFixed(1)}k pps`;
      const us = (x: number[]) => `${median(x).toFixed(2)} µs`;
      const cells = [String(bs)];
      for (const k of kinds) cells.push(kpps(rate[k]), us(cpu[k]));
      const ratio = (x: number, y: number) => (x / y).toFixed(2);
      if (kinds[0] === 'C')
        cells.push(
          `${ratio(median(rate['rw sync']), median(rate.C))}/${ratio(median(rate['rw poll']), median(rate.C))}`,
          `${ratio(median(cpu.C), median(cpu['rw sync']))}/${ratio(median(cpu.C), median(cpu['rw poll']))}`,
        );
      if (opts.io.length === 2)
        cells.push(
          `${ratio(median(cpu['rw sync']), median(cpu['uring sync']))}/${ratio(median(cpu['rw poll']), median(cpu['uring poll']))}`,
          `${ratio(median(rate['uring sync']), median(rate['rw sync']))}/${ratio(median(rate['uring poll']), median(rate['rw poll']))}`,
        );
      console.log(line(cells));
    }

    // Allocation on the hot path: heap growth over one drain (node sync, burst 64), no GC expected in between.
    const gc = (globalThis as { gc?: () => void }).gc;
    for (const p of gc ? pairs : []) {
      let gcs = 0;
      const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
      obs.observe({ entryTypes: ['gc'] });
      fill(p, opts.packets);
      gc!();
      await new Promise((r) => setTimeout(r, 20));
      const g0 = gcs;
      const h0 = process.memoryUsage().heapUsed;
      const m = nodeSync(p, 64);
      const h1 = process.memoryUsage().heapUsed;
      await new Promise((r) => setTimeout(r, 20));
      obs.disconnect();
      const during = gcs - g0;
      console.log(
        `heap growth over a ${m.count}-packet drain (${p.io} sync, burst 64): ${h1 - h0} bytes ` +
          `(${((h1 - h0) / m.count).toFixed(3)} B/packet), GCs during the drain: ${during}`,
      );
    }
    if (!gc) console.log('(run with node --expose-gc to measure allocation per packet)');
  } finally {
    cleanup();
  }
}

await main();
