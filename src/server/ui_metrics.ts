/**
 * The overview chart's numbers: jobs finished per minute and the queue depth over the last
 * hour. Finished counts come from the store once (so a restart keeps the hour) and then from
 * events; the queue depth is sampled on every job event, so it costs nothing when idle.
 * @module
 */

import { isTerminal } from "../protocol/mod.ts";
import type { UiMinute } from "../protocol/ui_wire.ts";
import type { ServerEvent } from "./events.ts";
import type { Scheduler } from "./scheduler.ts";

const MINUTE = 60_000;
const WINDOW = 60;
/** Finished jobs read from the store to seed the chart. */
const SEED_ROWS = 5_000;

/** Options of {@linkcode UiMetrics}. */
export interface UiMetricsOptions {
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
}

/** Per-minute counters for the overview. */
export class UiMetrics {
  readonly #scheduler: Scheduler;
  readonly #now: () => number;
  readonly #minutes = new Map<number, UiMinute>();
  #seeded = false;
  #lastDepth = 0;

  constructor(scheduler: Scheduler, options: UiMetricsOptions = {}) {
    this.#scheduler = scheduler;
    this.#now = options.now ?? Date.now;
    // The bus lives exactly as long as the scheduler and this object, so nothing unsubscribes.
    scheduler.events.subscribe((ev) => this.#onEvent(ev), new AbortController().signal);
  }

  /** The last 60 minutes, oldest first; minutes without events carry the queue depth on. */
  minutes(): UiMinute[] {
    if (!this.#seeded) this.#seed();
    const current = Math.floor(this.#now() / MINUTE) * MINUTE;
    const out: UiMinute[] = [];
    let depth = 0;
    for (let t = current - (WINDOW - 1) * MINUTE; t <= current; t += MINUTE) {
      const m = this.#minutes.get(t);
      if (m) depth = m.queued;
      out.push(
        m
          ? { ...m }
          : { t, succeeded: 0, failed: 0, queued: t === current ? this.#lastDepth : depth },
      );
    }
    return out;
  }

  #bucket(t: number, depth: number): UiMinute {
    const key = Math.floor(t / MINUTE) * MINUTE;
    let m = this.#minutes.get(key);
    if (!m) {
      m = { t: key, succeeded: 0, failed: 0, queued: depth };
      this.#minutes.set(key, m);
      for (const k of this.#minutes.keys()) {
        if (k < key - WINDOW * MINUTE) this.#minutes.delete(k);
      }
    }
    return m;
  }

  #onEvent(ev: ServerEvent): void {
    if (ev.type !== "job") return;
    const m = this.#bucket(this.#now(), this.#lastDepth);
    this.#lastDepth = this.#scheduler.queuedCount;
    m.queued = Math.max(m.queued, this.#lastDepth);
    if (this.#seeded && isTerminal(ev.state)) {
      if (ev.state === "succeeded") m.succeeded++;
      else m.failed++;
    }
  }

  /** Counts the last hour's finished jobs from the store; events count the rest. */
  #seed(): void {
    this.#seeded = true;
    const since = this.#now() - WINDOW * MINUTE;
    for (const m of this.#minutes.values()) m.succeeded = m.failed = 0;
    const rows = this.#scheduler.store.listJobs({
      state: ["succeeded", "failed", "timed_out", "cancelled"],
      limit: SEED_ROWS,
    });
    for (const row of rows) {
      if (row.finished_at === null || row.finished_at < since) continue;
      const m = this.#bucket(row.finished_at, 0);
      if (row.state === "succeeded") m.succeeded++;
      else m.failed++;
    }
  }
}
