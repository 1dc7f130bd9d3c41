/**
 * Delayed jobs (a `run_at` in the future, or a retry waiting out its backoff) are kept in
 * SQLite; only a window of the earliest is held in the timer queue, so millions of future jobs
 * cost little memory and a restart loads one window instead of every scheduled row.
 *
 * The window is the earliest scheduled jobs in due order, `(run_at, id)`, up to its `horizon`:
 * every scheduled job at or before the horizon is in memory, every later one only on disk, so
 * the next job due is always in memory. A job added inside the window goes straight into the
 * timers; a later one stays on disk. Fires and cancels shrink the window; below half its size
 * the next jobs after the horizon are loaded (through the `jobs_scheduled_by_run_at` index).
 * Additions inside the window grow it; past twice its size the latest jobs are dropped back to
 * disk and the horizon moves down. A job that left `scheduled` without being deleted here (its
 * row changed by some other path) fires harmlessly: the fire callback checks the row.
 *
 * ```
 *   fired      held in the timer queue (<= 2 x window)     on disk only
 * ---------|==================================|-----------------------------> (run_at, id)
 *         now                              horizon
 * ```
 * @module
 */

import type { TimerQueue } from "./timers.ts";

/** A scheduled job's place in due order: by `run_at`, then by `id`. */
export interface DueKey {
  id: number;
  run_at: number;
}

/** Options of {@linkcode DelayedJobs}. */
export interface DelayedJobsOptions {
  /** The timer queue the window lives in (keys `run:<id>`). */
  timers: TimerQueue;
  /** At most `limit` scheduled jobs after `after` in due order (the store's window query). */
  load(after: DueKey, limit: number): DueKey[];
  /** Called when scheduled job `id` is due. */
  fire(id: number): void;
  /** Jobs a load brings the window up to (default 10,000). */
  window?: number;
}

/** Default size of the window. */
export const DEFAULT_WINDOW = 10_000;

/** Before every job: nothing is loaded yet. */
const START: DueKey = { run_at: Number.MIN_SAFE_INTEGER, id: 0 };
/** After every job: everything scheduled is in memory. */
const END: DueKey = { run_at: Infinity, id: Infinity };

/** Whether `a` is due no later than `b` in due order. */
function notAfter(a: DueKey, b: DueKey): boolean {
  return a.run_at < b.run_at || (a.run_at === b.run_at && a.id <= b.id);
}

/** The window of delayed jobs held in the timer queue. */
export class DelayedJobs {
  readonly #timers: TimerQueue;
  readonly #load: (after: DueKey, limit: number) => DueKey[];
  readonly #fire: (id: number) => void;
  readonly #window: number;
  /** Jobs held in the timer queue: id -> run_at. */
  readonly #held = new Map<number, number>();
  #horizon = START;

  constructor(options: DelayedJobsOptions) {
    this.#timers = options.timers;
    this.#load = options.load;
    this.#fire = options.fire;
    this.#window = Math.max(2, options.window ?? DEFAULT_WINDOW);
  }

  /** Number of jobs held in memory. */
  get size(): number {
    return this.#held.size;
  }

  /** Whether job `id` is held in memory (it is scheduled and inside the window). */
  has(id: number): boolean {
    return this.#held.has(id);
  }

  /** Whether every scheduled job is held in memory (none waits only on disk). */
  get complete(): boolean {
    return this.#horizon === END;
  }

  /**
   * Job `id` is (now) scheduled at `runAt`, as its row already says: it is held if it falls
   * inside the window, and otherwise left to a later load (dropped from memory if it was held,
   * which is how a job moved later is rescheduled).
   */
  add(id: number, runAt: number): void {
    if (notAfter({ id, run_at: runAt }, this.#horizon)) {
      this.#hold(id, runAt);
      if (this.#held.size > 2 * this.#window) this.#shrink();
    } else if (this.#held.delete(id)) {
      this.#timers.delete(`run:${id}`);
    }
    // Before the first load (no reload() yet) this loads the window, this job included.
    this.refill();
  }

  /** Job `id` is no longer scheduled (cancelled, ended): forgets its timer. */
  delete(id: number): void {
    if (!this.#held.delete(id)) return;
    this.#timers.delete(`run:${id}`);
    this.refill();
  }

  /** Loads the jobs after the horizon when the window has run below half its size. */
  refill(): void {
    if (this.#held.size >= this.#window / 2 || this.#horizon === END) return;
    const limit = this.#window - this.#held.size;
    const rows = this.#load(this.#horizon, limit);
    for (const row of rows) this.#hold(row.id, row.run_at);
    this.#horizon = rows.length < limit ? END : rows[rows.length - 1];
  }

  /** Forgets the window and loads the first one again from the store (after a restart). */
  reload(): void {
    for (const id of this.#held.keys()) this.#timers.delete(`run:${id}`);
    this.#held.clear();
    this.#horizon = START;
    this.refill();
  }

  #hold(id: number, runAt: number): void {
    this.#held.set(id, runAt);
    this.#timers.set(`run:${id}`, runAt, () => {
      this.#held.delete(id);
      try {
        this.#fire(id);
      } finally {
        this.refill();
      }
    });
  }

  /** Drops the latest held jobs back to disk, keeping the earliest `window`. */
  #shrink(): void {
    const keys = [...this.#held].map(([id, run_at]) => ({ id, run_at }));
    keys.sort((a, b) => a.run_at - b.run_at || a.id - b.id);
    for (const { id } of keys.slice(this.#window)) {
      this.#held.delete(id);
      this.#timers.delete(`run:${id}`);
    }
    this.#horizon = keys[this.#window - 1];
  }
}
