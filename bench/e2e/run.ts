/**
 * `npm run bench:e2e [-- OPTIONS]` (root): end-to-end throughput of the real datapath against the Linux kernel
 * doing the same job and against the I/O ceiling, on the same machine in the same run (issue 8). See
 * topology.ts for the network, measure.ts for the method, report.ts for the outputs.
 *
 * OPTIONS
 *   --quick                 short trials, frames 64 and 1518, one flow count (≈ 2 min)
 *   --out DIR               where e2e.json, e2e.md and e2e.svg go (default bench/results)
 *   --paths LIST            engine-local,engine-remote,kernel-local,kernel-remote,ceiling (default: all)
 *   --sizes LIST            frame sizes (default 64,512,1518)
 *   --flows LIST            flow counts (default 1,1000)
 *   --no-tcp / --tcp-only   skip / only the iperf3 TCP bulk runs
 *   --no-search             MRR only (no NDR/PDR search)
 *   --agent-args "FLAGS"    extra flags for both agents (e.g. "--budget 64 --batch 32")
 *   --variants "LIST"       engine variants measured on the UDP rows (engine-local, engine-remote, drain included)
 *                           beside the default engine, each an agent configuration: `;`-separated items of
 *                           comma-separated name=value or name, e.g. "io=uring;workers=2;batch=32,budget=4"
 *                           (default "io=uring;workers=2": `--io uring` against the default `--io rw`, and
 *                           `--workers 2` against one worker); `none` for none. A variant whose flags
 *                           `egress agent --help` does not list, or that the agent refuses at start (e.g.
 *                           `--io uring` without liburing, or with --offload), is skipped with one logged line.
 *                           Each runs right after the default engine's UDP rows; the report gives its ratio to them.
 *   --variant-sizes LIST    frame sizes of the variant rows (default: the smallest and largest of --sizes)
 *   --ceiling-queues N      queue pairs (threads) of the ceiling forwarder (default 1)
 *   --ceiling-burst N       packets per read burst of the ceiling forwarder (default 64)
 *   --tcp-ms MS             length of each iperf3 run (default 8000; quick 3000)
 *   --label TEXT            a name for this run in the outputs
 *   --json-only             write e2e.json only (for experiments; no table, chart)
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { podNetnsName, type TunPort } from '../../tun/index.js';
import { drain, rates, trial, type RateResult, type SearchOptions, type Source, type TrialOptions } from './measure.js';
import { renderMarkdown, renderSvg, type Results, type TcpResult, type UdpResult } from './report.js';
import {
  BASELINE_TUN,
  BASELINE_VETH,
  C_POD,
  Ceiling,
  E_POD_LOCAL,
  E_POD_REMOTE,
  Engine,
  IPERF_PORT,
  K_POD_LOCAL,
  K_POD_REMOTE,
  SINK,
  SINK_IP,
  SinkProbe,
  teardown,
  upBaseline,
  upCeilingPod,
  upKernel,
  upSegment,
} from './topology.js';
import { DEFAULT_VARIANTS, parseVariants, unsupported, type Variant } from './variants.js';
import { alive, BenchError, compile, cpuDelta, machine, packageRoot, processCpuUs, sleep, systemCpu } from './sys.js';

export const PATHS = ['engine-local', 'engine-remote', 'kernel-local', 'kernel-remote', 'ceiling'] as const;
export type PathId = (typeof PATHS)[number];

interface Options {
  quick: boolean;
  out: string;
  paths: PathId[];
  sizes: number[];
  flows: number[];
  tcp: boolean;
  udp: boolean;
  search: boolean;
  agentArgs: string[];
  variants: Variant[];
  variantSizes: number[];
  ceilingQueues: number;
  ceilingBurst: number;
  tcpMs: number;
  label: string;
  jsonOnly: boolean;
}

function usage(msg: string): never {
  console.error(`bench:e2e: ${msg}\n(see the options at the top of bench/e2e/run.ts)`);
  process.exit(2);
}

function list(v: string | undefined, flag: string): string[] {
  if (!v) usage(`${flag} needs a value`);
  return v.split(',').filter(Boolean);
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    out: join(packageRoot(), 'bench', 'results'),
    paths: [...PATHS],
    sizes: [64, 512, 1518],
    flows: [1, 1000],
    tcp: true,
    udp: true,
    search: true,
    agentArgs: [],
    variants: [],
    variantSizes: [],
    ceilingQueues: 1,
    ceilingBurst: 64,
    tcpMs: 8000,
    label: '',
    jsonOnly: false,
  };
  let sizes = false;
  let flows = false;
  let tcpMs = false;
  let variants = DEFAULT_VARIANTS;
  let variantSizes: number[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const int = (v: string | undefined, lo: number, hi: number) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < lo || n > hi) usage(`${a} must be a whole number ${lo}..${hi}`);
      return n;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--out') o.out = resolve(argv[++i] ?? usage('--out needs a directory'));
    else if (a === '--paths') {
      const ps = list(argv[++i], a);
      for (const p of ps)
        if (!(PATHS as readonly string[]).includes(p)) usage(`unknown path ${p} (${PATHS.join(', ')})`);
      o.paths = ps as PathId[];
    } else if (a === '--sizes') {
      o.sizes = list(argv[++i], a).map((s) => int(s, 64, 1518));
      sizes = true;
    } else if (a === '--flows') {
      o.flows = list(argv[++i], a).map((s) => int(s, 1, 2000));
      flows = true;
    } else if (a === '--no-tcp') o.tcp = false;
    else if (a === '--tcp-only') o.udp = false;
    else if (a === '--no-search') o.search = false;
    else if (a === '--agent-args') o.agentArgs = (argv[++i] ?? '').split(/\s+/).filter(Boolean);
    else if (a === '--variants') variants = argv[++i] ?? usage('--variants needs a value (or none)');
    else if (a === '--variant-sizes') variantSizes = list(argv[++i], a).map((s) => int(s, 64, 1518));
    else if (a === '--ceiling-queues') o.ceilingQueues = int(argv[++i], 1, 8);
    else if (a === '--ceiling-burst') o.ceilingBurst = int(argv[++i], 1, 256);
    else if (a === '--tcp-ms') {
      o.tcpMs = int(argv[++i], 1000, 120_000);
      tcpMs = true;
    } else if (a === '--label') o.label = argv[++i] ?? '';
    else if (a === '--json-only') o.jsonOnly = true;
    else if (a === '--help' || a === '-h') {
      console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
      process.exit(0);
    } else usage(`unknown option ${a}`);
  }
  if (o.quick) {
    if (!sizes) o.sizes = [64, 1518];
    if (!flows) o.flows = [1000];
    if (!tcpMs) o.tcpMs = 3000;
  }
  const vs = parseVariants(variants, o.agentArgs);
  if (typeof vs === 'string') usage(`--variants: ${vs}`);
  o.variants = vs;
  o.variantSizes = variantSizes ?? [...new Set([Math.min(...o.sizes), Math.max(...o.sizes)])];
  return o;
}

const LOCK = '/run/lock/egress-bench-e2e.lock';

function lock(): void {
  mkdirSync('/run/lock', { recursive: true });
  try {
    const fd = openSync(LOCK, 'wx');
    writeFileSync(fd, String(process.pid));
    closeSync(fd);
  } catch {
    const pid = Number(readFileSync(LOCK, 'utf8'));
    if (pid > 0 && alive(pid)) throw new BenchError(`another bench:e2e runs (pid ${pid}; lock ${LOCK})`);
    unlinkSync(LOCK);
    lock();
  }
}

function unlock(): void {
  try {
    if (Number(readFileSync(LOCK, 'utf8')) === process.pid) unlinkSync(LOCK);
  } catch {
    /* gone */
  }
}

const log = (s: string) => process.stderr.write(`${s}\n`);

/** iperf3 from `ns` to the sink for `ms`; forwarders' CPU and the machine's over the run. */
async function tcpBulk(path: PathId, ns: string, forwarders: number[], ms: number): Promise<TcpResult> {
  const server = spawn('ip', ['netns', 'exec', SINK, 'iperf3', '-s', '-1', '-p', String(IPERF_PORT)], {
    stdio: 'ignore',
  });
  await sleep(300);
  const f0 = forwarders.reduce((s, p) => s + processCpuUs(p), 0);
  const s0 = systemCpu();
  const r = spawnSync(
    'ip',
    ['netns', 'exec', ns, 'iperf3', '-c', SINK_IP, '-p', String(IPERF_PORT), '-t', String(ms / 1000), '-O', '1', '-J'],
    { encoding: 'utf8', timeout: ms + 30_000 },
  );
  const s1 = systemCpu();
  const f1 = forwarders.reduce((s, p) => s + processCpuUs(p), 0);
  if (server.exitCode === null) server.kill('SIGTERM');
  let j: {
    end?: {
      sum_received?: { bits_per_second: number; seconds: number };
      sum_sent?: { retransmits?: number };
    };
    error?: string;
  } = {};
  try {
    j = JSON.parse(r.stdout) as typeof j;
  } catch {
    /* below */
  }
  if (!j.end?.sum_received)
    throw new BenchError(`iperf3 from ${ns} failed: ${j.error ?? (r.stderr || r.stdout).trim().slice(0, 200)}`);
  const secs = ms / 1000;
  const sys = cpuDelta(s0, s1);
  return {
    path,
    bps: j.end.sum_received.bits_per_second,
    retransmits: j.end.sum_sent?.retransmits ?? 0,
    seconds: secs,
    forwarderCpu: (f1 - f0) / 1e6 / (secs + 1),
    systemCpu: sys.busyUs / 1e6 / (secs + 1),
    variant: '',
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) usage('needs root (network namespaces, TUN/TAP devices)');
  if (
    spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .stdout.split('\n')
      .some((l) => l.startsWith('egr-fab '))
  )
    log('warning: a test bed (egr-fab) is up: its agents share the CPUs and disturb the figures');
  lock();
  const tmp = mkdtempSync(join(tmpdir(), 'egr-bench-e2e-'));
  let engine: Engine | null = null;
  let ceiling: Ceiling | null = null;
  let baselineTun: TunPort | null = null;
  let probe: SinkProbe | null = null;
  const cleanup = async () => {
    await ceiling?.stop().catch(() => undefined);
    await engine?.stop().catch(() => undefined);
    baselineTun?.close();
    probe?.stop();
    await teardown().catch((e: Error) => log(`cleanup: ${e.message}`));
    rmSync(tmp, { recursive: true, force: true });
    unlock();
  };
  let interrupted = false;
  const onSignal = (sig: string) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const started = Date.now();
  const results: Results = {
    label: o.label,
    machine: machine(),
    params: {
      quick: o.quick,
      sizes: o.sizes,
      flows: o.flows,
      agentArgs: o.agentArgs,
      variantSizes: o.variantSizes,
      ceilingQueues: o.ceilingQueues,
      ceilingBurst: o.ceilingBurst,
      trialMs: o.quick ? 500 : 1000,
      mrrMs: o.quick ? 1000 : 2000,
      mrrTrials: o.quick ? 1 : 3,
      precision: o.quick ? 0.1 : 0.04,
      maxTrials: o.quick ? 4 : 7,
      pdrLoss: 0.005,
      settleMs: 200,
      sourceCpu: 0,
      tcpMs: o.tcpMs,
    },
    baseline: {},
    // Variants run on the engine's UDP rows only.
    variants:
      o.udp && (o.paths.includes('engine-local') || o.paths.includes('engine-remote'))
        ? o.variants.map((v) => ({ ...v }))
        : [],
    udp: [],
    tcp: [],
    durationS: 0,
  };
  const p = results.params;
  const search: SearchOptions = {
    trialMs: p.trialMs,
    mrrTrials: p.mrrTrials,
    mrrMs: p.mrrMs,
    precision: p.precision,
    maxTrials: o.search ? p.maxTrials : 0,
    pdrLoss: p.pdrLoss,
  };
  try {
    await teardown(); // leftovers of a crashed run
    const gen = compile('udpgen', tmp);
    const ceilingExe = compile('ceiling', tmp);
    upSegment();
    probe = await SinkProbe.start();
    const topt = (size: number, flows: number): TrialOptions => ({
      gen,
      size,
      flows,
      sourceCpu: p.sourceCpu,
      settleMs: p.settleMs,
    });

    // The source alone (datagrams into a veth that drops them): what it costs per packet, subtracted from the machine's
    // CPU to give the forwarding CPU of every path.
    baselineTun = upBaseline();
    if (o.udp) {
      for (const [kind, ns] of [
        ['veth', BASELINE_VETH],
        ['tun', BASELINE_TUN],
      ] as const) {
        results.baseline[kind] = {};
        for (const size of o.sizes) {
          const t = await trial({ ns, forwarders: () => [] }, topt(size, 1), 0, 1000);
          results.baseline[kind][size] = { sourceUsPerPacket: t.sourceCpuUs / t.sent, sourcePps: t.offeredPps };
          log(
            `source alone into a ${kind}, ${size} B: ${(t.offeredPps / 1e3).toFixed(0)} kpps, ${(t.sourceCpuUs / t.sent).toFixed(2)} µs/packet`,
          );
        }
      }
    }

    const runUdp = async (path: PathId, src: Source, stop: number[] = [], variant = '') => {
      if (!o.udp) return;
      const sizes = variant ? o.variantSizes : o.sizes;
      // Warm-up: ARP, conntrack entries of every flow, the JIT.
      await trial(src, topt(sizes[0]!, Math.max(...o.flows)), 0, 500);
      for (const flows of o.flows)
        for (const size of sizes) {
          const r: RateResult = await rates(src, topt(size, flows), search);
          const row: UdpResult = { path, size, flows, ...r, ...(variant ? { variant } : {}) };
          if (stop.length > 0 && probe) row.drain = await drain(src, topt(size, flows), stop, () => probe!.rx(), 300);
          results.udp.push(row);
          log(
            `${(variant ? `${path} (${variant})` : path).padEnd(13)} ${String(size).padStart(4)} B ${String(flows).padStart(4)} flows: MRR ${(r.mrr.receivedPps / 1e3).toFixed(0)} kpps ` +
              `(offered ${(r.mrr.offeredPps / 1e3).toFixed(0)}), PDR ${(r.pdr.rate / 1e3).toFixed(0)}, NDR ${(r.ndr.rate / 1e3).toFixed(0)} kpps` +
              (row.drain
                ? `; drain ${(row.drain.pps / 1e3).toFixed(0)} kpps, ${row.drain.cpuUsPerPacket.toFixed(2)} µs/packet`
                : ''),
          );
        }
    };

    const want = (x: PathId) => o.paths.includes(x);
    if (want('kernel-local') || want('kernel-remote')) {
      upKernel();
      const kernel = { forwarders: () => [] as number[] };
      if (want('kernel-local')) await runUdp('kernel-local', { ns: K_POD_LOCAL, ...kernel });
      if (want('kernel-remote')) await runUdp('kernel-remote', { ns: K_POD_REMOTE, ...kernel });
      if (o.tcp) {
        if (want('kernel-local')) results.tcp.push(await tcpBulk('kernel-local', K_POD_LOCAL, [], o.tcpMs));
        if (want('kernel-remote')) results.tcp.push(await tcpBulk('kernel-remote', K_POD_REMOTE, [], o.tcpMs));
      }
    }
    if (want('ceiling') && o.udp) {
      upCeilingPod();
      ceiling = await Ceiling.start(ceilingExe, o.ceilingQueues, o.ceilingBurst);
      const c = ceiling;
      await runUdp('ceiling', { ns: C_POD, forwarders: () => [c.pid] }, [c.pid]);
      await ceiling.stop();
      ceiling = null;
    }
    if (want('engine-local') || want('engine-remote')) {
      // The engine as configured (UDP, TCP); then each variant on the UDP rows (right after the default's, so the
      // ratio compares neighbours in time); then for TCP bulk with --offload, tunnel GSO off and on (so the Geneve
      // path's super-packets are segmented here in one run and by the kernel in the next), unless already given.
      const offloadRun = o.tcp && !o.agentArgs.includes('--offload');
      const runs: Array<{ variant: string; args: string[]; udp: boolean; tcp: boolean; v?: Variant }> = [
        { variant: '', args: o.agentArgs, udp: true, tcp: o.tcp },
      ];
      if (o.udp) {
        const help = spawnSync(process.execPath, [join(packageRoot(), 'bin', 'egress.js'), 'agent', '--help'], {
          encoding: 'utf8',
        }).stdout;
        for (const v of results.variants ?? []) {
          const missing = unsupported(help, v.args);
          if (missing.length) {
            v.skipped = `egress agent has no ${missing.join(', ')}`;
            log(`variant ${v.label}: skipped, ${v.skipped}`);
          } else runs.push({ variant: v.label, args: [...o.agentArgs, ...v.args], udp: true, tcp: false, v });
        }
      }
      if (offloadRun)
        for (const variant of ['--offload --tunnel-gso off', '--offload'])
          runs.push({ variant, args: [...o.agentArgs, ...variant.split(' ')], udp: false, tcp: true });
      for (const run of runs) {
        try {
          engine = await Engine.start({
            stateDir: join(tmp, `engine${run.variant.replaceAll(' ', '')}`),
            agentArgs: run.args,
            log,
          });
        } catch (e) {
          // A variant the agent refuses (e.g. --io uring without liburing) is skipped; the default engine is not.
          if (!run.v || !(e instanceof BenchError)) throw e;
          run.v.skipped = `the agent refused it: ${e.message.split('\n').filter(Boolean).pop()?.slice(0, 200) ?? ''}`;
          log(`variant ${run.variant}: skipped, ${run.v.skipped}`);
          engine = null;
          continue;
        }
        const e = engine;
        const fw = () => e.pids;
        // Drains stop node-a, where the pods are; on the remote path node-b keeps running.
        const nodeA = [e.pids[0]!];
        if (run.udp) {
          const uv = run.v ? run.variant : '';
          if (want('engine-local'))
            await runUdp('engine-local', { ns: podNetnsName(E_POD_LOCAL), forwarders: fw }, nodeA, uv);
          if (want('engine-remote'))
            await runUdp('engine-remote', { ns: podNetnsName(E_POD_REMOTE), forwarders: fw }, nodeA, uv);
        }
        if (run.tcp) {
          const label = run.args.join(' ');
          if (want('engine-local'))
            results.tcp.push({
              ...(await tcpBulk('engine-local', podNetnsName(E_POD_LOCAL), e.pids, o.tcpMs)),
              variant: label,
            });
          if (want('engine-remote'))
            results.tcp.push({
              ...(await tcpBulk('engine-remote', podNetnsName(E_POD_REMOTE), e.pids, o.tcpMs)),
              variant: label,
            });
        }
        const brief = (node: string) => {
          const rep = e.report(node) as {
            runtime?: unknown;
            ports?: unknown;
            stages?: Record<string, { counters: Record<string, number> }>;
          };
          // Every non-zero drop counter of every stage: a benchmark that loses packets inside the engine says where.
          const drops: Record<string, number> = {};
          for (const [st, v] of Object.entries(rep.stages ?? {}))
            for (const [c, n] of Object.entries(v.counters))
              if (n > 0 && (c.startsWith('drop') || st === 'pipeline')) drops[`${st}.${c}`] = n;
          return { runtime: rep.runtime, ports: rep.ports, counters: drops };
        };
        results.engineReports ??= {};
        results.engineReports[run.variant || 'default'] = { 'node-a': brief('node-a'), 'node-b': brief('node-b') };
        await engine.stop();
        engine = null;
      }
    }
    for (const t of results.tcp)
      log(
        `TCP ${t.path.padEnd(13)} ${t.variant ? `(${t.variant}) ` : ''}${(t.bps / 1e9).toFixed(2)} Gbit/s, ${t.retransmits} retransmits`,
      );
    results.durationS = (Date.now() - started) / 1000;
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, 'e2e.json'), JSON.stringify(results, null, 1) + '\n');
    if (!o.jsonOnly) {
      const md = renderMarkdown(results);
      writeFileSync(join(o.out, 'e2e.md'), md);
      writeFileSync(join(o.out, 'e2e.svg'), renderSvg(results));
      console.log(md);
    }
    // The repository's formatter, so committed results pass `npm run lint` (skipped when it is not installed).
    const prettier = join(packageRoot(), 'node_modules', '.bin', 'prettier');
    if (existsSync(prettier))
      spawnSync(prettier, ['--write', ...['e2e.json', 'e2e.md'].map((f) => join(o.out, f)).filter(existsSync)], {
        stdio: 'ignore',
      });
    log(`bench:e2e done in ${results.durationS.toFixed(0)} s; results in ${o.out}`);
  } finally {
    if (!interrupted) await cleanup();
  }
}

main().catch((e: Error) => {
  console.error(`bench:e2e: ${e instanceof BenchError ? e.message : (e.stack ?? e.message)}`);
  process.exit(1);
});
