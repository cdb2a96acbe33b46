/**
 * Small system helpers of the end-to-end benchmark: running commands (in a namespace), CPU accounting from
 * /proc, the machine's description, the C programs compiled at run time.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export class BenchError extends Error {
  override readonly name = 'BenchError';
}

/** Runs FILE ARGS (optionally inside `ns`); returns stdout; throws a one-line BenchError on failure. */
export function run(
  file: string,
  args: readonly string[],
  o: { ns?: string; input?: string; timeoutMs?: number } = {},
) {
  const [f, a] = o.ns !== undefined ? ['ip', ['netns', 'exec', o.ns, file, ...args]] : [file, [...args]];
  const r = spawnSync(f, a, {
    encoding: 'utf8',
    input: o.input,
    timeout: o.timeoutMs ?? 30_000,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (r.error) throw new BenchError(`${[f, ...a].join(' ')}: ${r.error.message}`);
  if (r.status !== 0)
    throw new BenchError(
      `${[f, ...a].join(' ')}: ${(r.stderr || '').trim().split('\n')[0] || `exit status ${r.status ?? r.signal}`}`,
    );
  return r.stdout;
}

/** `ip [-n NS] ARGS`. */
export function ip(args: readonly string[], ns?: string): string {
  return run('ip', ns !== undefined ? ['-n', ns, ...args] : args);
}

/** Loads an nftables ruleset inside `ns`. */
export function nft(ns: string, ruleset: string): void {
  run('nft', ['-f', '-'], { ns, input: ruleset });
}

export function listNetns(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter((n) => n.length > 0);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The repository root (package.json + bench/e2e/c), from dist/bench/e2e or bench/e2e. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'bench', 'e2e', 'c'))) return d;
    d = dirname(d);
  }
  throw new BenchError('cannot find the package root (bench/e2e/c)');
}

/** Compiles bench/e2e/c/NAME.c into DIR/NAME with gcc -O2; returns the executable's path. */
export function compile(name: string, dir: string): string {
  const src = join(packageRoot(), 'bench', 'e2e', 'c', `${name}.c`);
  const exe = join(dir, name);
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', exe, src], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new BenchError(
      `gcc ${name}.c failed: ${
        String(err.stderr ?? err.message)
          .trim()
          .split('\n')[0]
      }`,
    );
  }
  return exe;
}

// --- CPU accounting -----------------------------------------------------------------------------------------

/** USER_HZ: /proc reports CPU time in clock ticks of 10 ms on Linux. */
const TICK_US = 10_000;

/** Aggregate /proc/stat counters (µs): busy = everything but idle and iowait; softirq separately. */
export interface SystemCpu {
  busyUs: number;
  softirqUs: number;
  systemUs: number;
  userUs: number;
}

export function systemCpu(): SystemCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return {
    busyUs: (user + nice + system + irq + softirq + steal) * TICK_US,
    softirqUs: softirq * TICK_US,
    systemUs: system * TICK_US,
    userUs: (user + nice) * TICK_US,
  };
}

export function cpuDelta(a: SystemCpu, b: SystemCpu): SystemCpu {
  return {
    busyUs: b.busyUs - a.busyUs,
    softirqUs: b.softirqUs - a.softirqUs,
    systemUs: b.systemUs - a.systemUs,
    userUs: b.userUs - a.userUs,
  };
}

/** utime + stime of a process (all its threads), µs; 0 when it is gone. */
export function processCpuUs(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after the command: state(3) ppid ... utime is field 14, stime 15 (1-based) → index 11, 12 here
    return (Number(f[11]) + Number(f[12])) * TICK_US;
  } catch {
    return 0;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// --- the machine ------------------------------------------------------------------------------------------------

export interface Machine {
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  virtualization: string;
  date: string;
}

export function machine(): Machine {
  let virt = 'unknown';
  try {
    const flags = readFileSync('/proc/cpuinfo', 'utf8');
    virt = /\bhypervisor\b/.test(flags) ? 'virtual machine' : 'bare metal';
    const product = existsSync('/sys/class/dmi/id/product_name')
      ? readFileSync('/sys/class/dmi/id/product_name', 'utf8').trim()
      : '';
    if (product) virt += ` (${product})`;
  } catch {
    /* unknown */
  }
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: run('uname', ['-r']).trim(),
    node: process.version,
    virtualization: virt,
    date: new Date().toISOString(),
  };
}
