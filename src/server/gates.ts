/**
 * Concurrency gates: named groups of jobs of which at most `limit` may hold an agent at once
 * (a queue's concurrency limit, a `concurrency_key`, a batch's parallelism). A job the
 * dispatcher takes while one of its gates is full is parked behind that gate, out of the
 * dispatch index, and goes back to the index when the gate frees a place, best first. So a
 * full gate costs the dispatcher nothing, however many jobs wait behind it.
 * @module
 */

import { IndexedHeap } from "./heap.ts";
import type { Needs, QueuedJob } from "./queue_index.ts";

/** A concurrency group and the most of its jobs that may run at once. */
export interface Gate {
  key: string;
  limit: number;
}

/** A job waiting behind a full gate, with what it needs to go back to the dispatch index. */
export interface Parked {
  job: QueuedJob;
  needs: Needs;
}

const before = (a: Parked, b: Parked) =>
  a.job.priority > b.job.priority || (a.job.priority === b.job.priority && a.job.id < b.job.id);

/** Active counts and parked jobs per gate. */
export class Gates {
  readonly #active = new Map<string, number>();
  readonly #parked = new Map<string, IndexedHeap<number, Parked>>();
  readonly #parkedAt = new Map<number, Gate>();

  /** The first of `gates` that has no free place, if any. */
  full(gates: readonly Gate[]): Gate | undefined {
    return gates.find((g) => (this.#active.get(g.key) ?? 0) >= g.limit);
  }

  /** Jobs of gate `key` holding an agent now. */
  active(key: string): number {
    return this.#active.get(key) ?? 0;
  }

  /** Jobs parked behind gate `key`. */
  parked(key: string): number {
    return this.#parked.get(key)?.size ?? 0;
  }

  /** Counts a job that now holds an agent against each of `keys`. */
  acquire(keys: readonly string[]): void {
    for (const k of keys) this.#active.set(k, (this.#active.get(k) ?? 0) + 1);
  }

  /** Frees a place in each of `keys`; returns the parked jobs that may try again. */
  release(keys: readonly string[]): Parked[] {
    const out: Parked[] = [];
    for (const k of keys) {
      const n = (this.#active.get(k) ?? 1) - 1;
      if (n > 0) this.#active.set(k, n);
      else this.#active.delete(k);
      const next = this.#pop(k);
      if (next) out.push(next);
    }
    return out;
  }

  /** Parks `p` behind the full gate `gate`. */
  park(gate: Gate, p: Parked): void {
    let heap = this.#parked.get(gate.key);
    if (!heap) this.#parked.set(gate.key, heap = new IndexedHeap(before));
    heap.push(p.job.id, p);
    this.#parkedAt.set(p.job.id, gate);
  }

  /** The gate job `id` is parked behind, if it is. */
  parkedBehind(id: number): Gate | undefined {
    return this.#parkedAt.get(id);
  }

  /** Forgets parked job `id` (cancelled); returns whether it was parked. */
  delete(id: number): boolean {
    const gate = this.#parkedAt.get(id);
    if (!gate) return false;
    this.#parkedAt.delete(id);
    const heap = this.#parked.get(gate.key)!;
    heap.delete(id);
    if (heap.size === 0) this.#parked.delete(gate.key);
    return true;
  }

  /** Takes every job parked behind `key` (its limit rose or went away). */
  unparkAll(key: string): Parked[] {
    const out: Parked[] = [];
    for (let p = this.#pop(key); p; p = this.#pop(key)) out.push(p);
    return out;
  }

  #pop(key: string): Parked | undefined {
    const heap = this.#parked.get(key);
    const p = heap?.pop();
    if (!p) return undefined;
    this.#parkedAt.delete(p.job.id);
    if (heap!.size === 0) this.#parked.delete(key);
    return p;
  }
}
