/**
 * Abuse limits: token buckets per key (authentication failures per source address, job
 * submissions per principal) and counters of open WebSockets per principal. A refusal is a
 * {@linkcode TooManyRequests} error that the API renders as `429` with `Retry-After`.
 * @module
 */

import { HttpError } from "./http_error.ts";

/** The server's abuse limits; every field has a default in {@linkcode DEFAULT_LIMITS}. */
export interface Limits {
  /** Failed authentications a source address may make in a burst. */
  authFailureBurst: number;
  /** Failed authentications per minute a source address earns back. */
  authFailuresPerMinute: number;
  /** Jobs a `user` may submit in a burst (a batch counts each job). */
  submitBurst: number;
  /** Jobs per second a `user` earns back. */
  submitsPerSecond: number;
  /** Unfinished jobs (scheduled, queued, running, ...) a `user` may have. */
  maxQueuedPerUser: number;
  /** Open dashboard event streams per principal. */
  maxUiSocketsPerPrincipal: number;
  /** Open agent connections per enrolled agent token. */
  maxAgentSocketsPerToken: number;
}

/** Defaults: generous for people and scripts, tight for guessing tokens. */
export const DEFAULT_LIMITS: Limits = {
  authFailureBurst: 10,
  authFailuresPerMinute: 10,
  submitBurst: 1_000,
  submitsPerSecond: 100,
  maxQueuedPerUser: 10_000,
  maxUiSocketsPerPrincipal: 32,
  maxAgentSocketsPerToken: 2,
};

/** A refusal for going over a limit; `retryAfterS` goes into the `Retry-After` header. */
export class TooManyRequests extends HttpError {
  constructor(message: string, readonly retryAfterS: number) {
    super(429, "rate_limited", message);
    this.name = "TooManyRequests";
  }
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets by key: `burst` tokens, refilled at `perSecond`. */
export class RateLimiter {
  readonly #burst: number;
  readonly #perSecond: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(burst: number, perSecond: number, now: () => number = Date.now) {
    this.#burst = burst;
    this.#perSecond = perSecond;
    this.#now = now;
  }

  /**
   * Takes `cost` tokens of `key`'s bucket. Returns 0 if they were there, else the seconds until
   * they will be (and takes nothing).
   */
  take(key: string, cost = 1): number {
    const b = this.#refill(key);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return this.#wait(b, cost);
  }

  /** Seconds until `key` has a token, 0 if it has one now; takes nothing. */
  wait(key: string): number {
    const b = this.#refill(key);
    return b.tokens >= 1 ? 0 : this.#wait(b, 1);
  }

  #wait(b: Bucket, cost: number): number {
    if (cost > this.#burst || this.#perSecond <= 0) return 3600;
    return Math.max(1, Math.ceil((cost - b.tokens) / this.#perSecond));
  }

  #refill(key: string): Bucket {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (!b) {
      // Full buckets are forgotten, so the map holds only keys that were recently busy.
      if (this.#buckets.size > 10_000) this.#sweep(now);
      this.#buckets.set(key, b = { tokens: this.#burst, at: now });
    }
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond);
    b.at = now;
    return b;
  }

  #sweep(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#perSecond >= this.#burst) {
        this.#buckets.delete(k);
      }
    }
  }
}

/** Counts open connections per key, up to a cap. */
export class ConnectionLimiter {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Counts one more connection of `key`; returns its release, or null when at the cap. */
  open(key: string): (() => void) | null {
    const n = this.#open.get(key) ?? 0;
    if (n >= this.#max) return null;
    this.#open.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    };
  }
}
