/**
 * In-process fan-out of what changes: job states, agents, and output. Subscribers (log
 * followers, the dashboard stream) must never block the emitter: each keeps its own bounded
 * buffer and drops itself when it falls behind.
 * @module
 */

import { errStack, getLogger } from "../log.ts";
import type { JobState } from "../protocol/job.ts";

/** Something that changed. */
export type ServerEvent =
  | {
    type: "job";
    id: number;
    state: JobState;
    queue: string;
    agent_id: string | null;
    /** Whether the job's spec has a webhook, where the emitter had the spec at hand. */
    webhook?: boolean;
  }
  | { type: "agent"; id: string }
  | {
    type: "log";
    job_id: number;
    attempt_id: string;
    stream: "stdout" | "stderr";
    offset: number;
    /** The output as stored: UTF-8 (listeners that show text decode it themselves). */
    bytes: Uint8Array;
  };

/** A subscriber callback. */
export type Listener = (event: ServerEvent) => void;

/** A synchronous event bus. */
export class EventBus {
  readonly #listeners = new Set<Listener>();
  readonly #byJob = new Map<number, Set<Listener>>();

  /** Subscribes to every event until `signal` aborts. */
  subscribe(listener: Listener, signal: AbortSignal): void {
    this.#listeners.add(listener);
    signal.addEventListener("abort", () => this.#listeners.delete(listener), { once: true });
  }

  /** Subscribes to the events of one job (its state and output) until `signal` aborts. */
  subscribeJob(jobId: number, listener: Listener, signal: AbortSignal): void {
    let set = this.#byJob.get(jobId);
    if (!set) this.#byJob.set(jobId, set = new Set());
    set.add(listener);
    signal.addEventListener("abort", () => {
      set.delete(listener);
      if (set.size === 0 && this.#byJob.get(jobId) === set) this.#byJob.delete(jobId);
    }, { once: true });
  }

  /** Number of subscribers (for metrics and tests). */
  get listenerCount(): number {
    let n = this.#listeners.size;
    for (const s of this.#byJob.values()) n += s.size;
    return n;
  }

  /** Delivers `event` to its subscribers. */
  emit(event: ServerEvent): void {
    for (const l of this.#listeners) safeCall(l, event);
    const jobId = event.type === "job" ? event.id : event.type === "log" ? event.job_id : null;
    if (jobId !== null) {
      const set = this.#byJob.get(jobId);
      if (set) { for (const l of set) safeCall(l, event); }
    }
  }
}

function safeCall(l: Listener, event: ServerEvent): void {
  try {
    l(event);
  } catch (e) {
    getLogger().error("event listener failed", { event: event.type, error: e, stack: errStack(e) });
  }
}
