/**
 * Benchmark cases (protobuf-es `corpus.ts` style: named cases, primitive cases batched so that one call lasts
 * microseconds and the timer's resolution does not swamp nanosecond results), run by bench/run.ts on tinybench.
 *
 * A suite module under bench/suites/ default-exports a `Suite`. `npm run bench -- [regex] [--quick] [--json FILE]`
 * runs every case whose `suite/name` matches and prints, per case: operations per second (`ops` operations per
 * call of `fn`, over the median call), ns per operation, bytes allocated per operation (measured separately with
 * GC observed), and the ratio to the case's baseline when it names one measured in the same run.
 */

export interface BenchCase {
  /** Case name inside its suite (`ipv4-udp/64`). */
  name: string;
  /** Operations (packets, lookups) performed by one call of `fn`. */
  ops: number;
  /** The timed body. Must not allocate when the thing measured is a hot path. */
  fn: () => void;
  /** Prepare state before timing (not timed). */
  setup?: () => void;
  /** Name (`suite/case`) of a case in the same run this one is compared with. */
  baseline?: string;
  /** False for cold-path cases whose calls allocate by design (seconds of work): skip the bytes/op pass. */
  measureAllocation?: boolean;
  /** Extra facts printed with the result (memory per connection, ...), computed after the run. */
  facts?: () => Record<string, number | string>;
}

export interface Suite {
  name: string;
  cases: BenchCase[];
}

export interface BenchResult {
  id: string;
  opsPerSec: number;
  nsPerOp: number;
  rme: number;
  samples: number;
  bytesPerOp: number;
  baseline?: string;
  ratio?: number;
  facts?: Record<string, number | string>;
}
