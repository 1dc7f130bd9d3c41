/**
 * One host timer for many deadlines: run_at of delayed jobs and retries, per-attempt timeouts,
 * queue timeouts and job deadlines. Keys make every deadline cancellable in O(log n).
 * @module
 */

import { errStack, getLogger } from "../log.ts";
import { IndexedHeap } from "./heap.ts";

interface Entry {
  at: number;
  seq: number;
  fire: () => void;
}

/** Options of {@linkcode TimerQueue}. */
export interface TimerQueueOptions {
  /** The clock, in milliseconds (default `Date.now`). */
  now?: () => number;
}

/** Deadlines keyed by string, fired in order of time (then of insertion). */
export class TimerQueue {
  readonly #heap = new IndexedHeap<string, Entry>((a, b) =>
    a.at < b.at || (a.at === b.at && a.seq < b.seq)
  );
  readonly #now: () => number;
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedAt = Infinity;
  #stopped = false;

  constructor(options: TimerQueueOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Number of pending deadlines. */
  get size(): number {
    return this.#heap.size;
  }

  /** Whether `key` is pending. */
  has(key: string): boolean {
    return this.#heap.has(key);
  }

  /** Calls `fire` at `at` (ms), replacing any deadline under `key`. */
  set(key: string, at: number, fire: () => void): void {
    this.#heap.push(key, { at, seq: this.#seq++, fire });
    this.#arm();
  }

  /** Cancels the deadline under `key`. */
  delete(key: string): void {
    this.#heap.delete(key);
  }

  /** Fires every deadline that is due now; returns how many fired. */
  runDue(): number {
    const now = this.#now();
    let fired = 0;
    for (let top = this.#heap.peek(); top && top.at <= now; top = this.#heap.peek()) {
      this.#heap.pop();
      fired++;
      try {
        top.fire();
      } catch (e) {
        getLogger().error("timer callback failed", { error: e, stack: errStack(e) });
      }
    }
    return fired;
  }

  /** Stops the host timer; pending deadlines no longer fire. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    if (this.#stopped) return;
    const top = this.#heap.peek();
    if (!top || top.at >= this.#armedAt) return;
    clearTimeout(this.#timer);
    this.#armedAt = top.at;
    // setTimeout's limit is 2^31-1 ms; a far deadline re-arms when the timer fires.
    const wait = Math.min(Math.max(0, top.at - this.#now()), 2 ** 31 - 1);
    this.#timer = setTimeout(() => {
      this.#armedAt = Infinity;
      this.runDue();
      this.#arm();
    }, wait);
  }
}
