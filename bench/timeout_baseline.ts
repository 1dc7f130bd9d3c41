/**
 * B8's baseline: bare `setTimeout` timers, one per instant, in a process of their own so they run
 * at the same time as (and suffer the same machine noise as) the delayed jobs they are compared
 * with. Prints one JSON line: every timer's lateness in ms, sorted.
 *
 * Usage: deno run -A bench/timeout_baseline.ts '{"start": WALL_MS, "n": N, "span_ms": MS}'
 * (instants `start + floor(i * span_ms / n)` for i in 0..n-1, as B8 schedules its jobs).
 * @module
 */

import { wallMs } from "./proc_stats.ts";

/** The instants of the baseline's timers (wall-clock ms). */
export interface BaselineConfig {
  start: number;
  n: number;
  span_ms: number;
}

/** The instants of `config`, in order. */
export function instants(config: BaselineConfig): number[] {
  return Array.from(
    { length: config.n },
    (_, i) => config.start + Math.floor(i * config.span_ms / config.n),
  );
}

/** Sets a timer for each instant and resolves with their lateness in ms, sorted. */
export async function timeoutLateness(config: BaselineConfig): Promise<number[]> {
  const late = await Promise.all(
    instants(config).map((at) =>
      new Promise<number>((resolve) =>
        setTimeout(() => resolve(wallMs() - at), Math.max(0, at - Date.now()))
      )
    ),
  );
  return late.sort((a, b) => a - b);
}

if (import.meta.main) {
  console.log(JSON.stringify(await timeoutLateness(JSON.parse(Deno.args[0]))));
}
