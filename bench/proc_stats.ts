/**
 * CPU time and memory of a process, read from Linux's `/proc`. The benchmark measures the
 * server's own CPU apart from the load generators' by sampling its pid.
 * @module
 */

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on every Linux we run). */
const TICKS_PER_S = 100;

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / TICKS_PER_S;
}

/** Resident memory of the process: now (`rss`) and its peak (`hwm`), in bytes. */
export function memory(pid: number): { rss: number; hwm: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (key: string) => {
    const m = status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) * 1024 : NaN;
  };
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/** Measures the CPU a process uses over a span: `start()` then `stop()` gives % of one core. */
export class CpuMeter {
  readonly #pid: number;
  #cpu0 = 0;
  #t0 = 0;

  constructor(pid: number) {
    this.#pid = pid;
  }

  /** Starts (or restarts) the span. */
  start(): void {
    this.#cpu0 = cpuSeconds(this.#pid);
    this.#t0 = performance.now();
  }

  /** CPU used since `start()`: seconds, and percent of one core. */
  stop(): { seconds: number; percent: number } {
    const seconds = cpuSeconds(this.#pid) - this.#cpu0;
    const wall = (performance.now() - this.#t0) / 1000;
    return { seconds, percent: wall > 0 ? (100 * seconds) / wall : 0 };
  }
}

/** Wall-clock time in milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}
