/**
 * What the harness runs and what it records: a benchmark produces one sample per run (a value
 * per metric); the harness keeps the samples of every run and summarises them.
 * @module
 */

/** What every benchmark gets. */
export interface BenchContext {
  /** Tiny sizes, for the test suite. */
  quick: boolean;
  /** Aborts on Ctrl-C; every child process stops with it. */
  signal: AbortSignal;
  /** Progress lines (stderr). */
  log(line: string): void;
  /** Whether `main.ts server` takes `--synchronous`. */
  cliHasSynchronous: boolean;
  /** Extra `deno run` flags for server and real agent processes (e.g. `--cpu-prof`). */
  denoFlags: string[];
}

/** A metric a benchmark reports. */
export interface MetricDef {
  /** Stable key, e.g. `b1.jobs_per_s`. */
  key: string;
  /** What the row says. */
  label: string;
  unit: string;
  /** Decimals to print. */
  digits?: number;
}

/** One run's values, by metric key. */
export type Sample = Record<string, number>;

/** A benchmark of the issue (B1..B7), or a peer measurement. */
export interface Benchmark {
  /** Name used on the command line (`b1`, `peers.bullmq_spawn`, ...). */
  name: string;
  title: string;
  metrics: MetricDef[];
  /** Sizes and method, for RESULTS.md. */
  describe(quick: boolean): string;
  run(ctx: BenchContext): Promise<Sample>;
}

/** min / median / max of some values. */
export interface Summary {
  min: number;
  median: number;
  max: number;
  n: number;
}

/** Summarises `values` (NaN when there are none). */
export function summarize(values: number[]): Summary {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { min: NaN, median: NaN, max: NaN, n: 0 };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { min: v[0], median, max: v[v.length - 1], n: v.length };
}

/** The percentile `p` (0..1) of sorted `values`, as the BullMQ peer computes it. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Sleeps `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
