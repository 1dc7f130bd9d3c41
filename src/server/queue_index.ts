/**
 * The in-memory index of queued jobs that the dispatcher matches against free agent slots.
 * Jobs with the same queue and requirements form a group; each group is a heap ordered by
 * priority (high first), then age (FIFO). SQLite stays the source of truth: the index is
 * rebuilt from it on start.
 * @module
 */

import type { Requires } from "../protocol/job.ts";
import type { Gate } from "./gates.ts";
import { IndexedHeap } from "./heap.ts";

/** What the dispatcher knows of a queued job. */
export interface QueuedJob {
  id: number;
  priority: number;
  queue: string;
  /** Its concurrency key's and batch's gates (a queue's own limit is looked up when taken). */
  gates?: Gate[];
}

/** What a job needs from an agent, normalised. */
export interface Needs {
  runtimes: string[];
  labels: Record<string, string>;
  agents: string[];
  /** Slots the job takes. */
  slots: number;
}

/** The parts of an agent the matcher looks at. */
export interface Offer {
  id: string;
  name: string;
  runtimes: ReadonlySet<string>;
  labels: Readonly<Record<string, string>>;
  slots: number;
  /** Slots taken by the jobs it runs. */
  used: number;
}

/** A set of queued jobs that need the same thing. */
export interface Group {
  key: string;
  needs: Needs;
  heap: IndexedHeap<number, QueuedJob>;
}

/** Normalises a job's requirements (plus its script's runtime). */
export function needsOf(requires: Requires | undefined, runtimes: string[], slots = 1): Needs {
  return {
    runtimes: [...new Set(runtimes)].sort(),
    labels: Object.fromEntries(Object.entries(requires?.labels ?? {}).sort()),
    agents: [...(requires?.agents ?? [])].sort(),
    slots,
  };
}

/** Whether an agent offers what a job needs (busy or not: see {@linkcode hasRoom}). */
export function matches(needs: Needs, offer: Offer): boolean {
  if (offer.slots < needs.slots) return false;
  for (const r of needs.runtimes) if (!offer.runtimes.has(r)) return false;
  for (const [k, v] of Object.entries(needs.labels)) if (offer.labels[k] !== v) return false;
  if (
    needs.agents.length && !needs.agents.includes(offer.name) && !needs.agents.includes(offer.id)
  ) {
    return false;
  }
  return true;
}

/** Whether `offer` has free slots enough for a job that needs `needs`. */
export function hasRoom(needs: Needs, offer: Offer): boolean {
  return offer.slots - offer.used >= needs.slots;
}

/** Says which requirement no agent in `offers` meets, or `null` when some agent meets them all. */
export function unmetNeed(needs: Needs, offers: Iterable<Offer>): string | null {
  const list = [...offers];
  if (list.length === 0) return "no agent is connected";
  if (list.some((o) => matches(needs, o))) return null;
  for (const r of needs.runtimes) {
    if (!list.some((o) => o.runtimes.has(r))) return `no connected agent has runtime ${r}`;
  }
  for (const [k, v] of Object.entries(needs.labels)) {
    if (!list.some((o) => o.labels[k] === v)) return `no connected agent has label ${k}=${v}`;
  }
  if (needs.agents.length && !list.some((o) => matches({ ...needs, slots: 1 }, o))) {
    return `no connected agent is named ${needs.agents.join(" or ")}`;
  }
  if (!list.some((o) => o.slots >= needs.slots)) {
    return `no connected agent has ${needs.slots} slots`;
  }
  return "no connected agent meets all of the job's requirements together";
}

const before = (a: QueuedJob, b: QueuedJob) =>
  a.priority > b.priority || (a.priority === b.priority && a.id < b.id);

/** Queued jobs grouped by what they need. */
export class QueueIndex {
  readonly #groups = new Map<string, Group>();
  readonly #groupOf = new Map<number, Group>();

  /** Number of queued jobs. */
  get size(): number {
    return this.#groupOf.size;
  }

  /** The groups (non-empty). */
  groups(): IterableIterator<Group> {
    return this.#groups.values();
  }

  /** Adds a queued job. */
  add(job: QueuedJob, needs: Needs): void {
    const key = `${job.queue}\u0000${JSON.stringify(needs)}`;
    let g = this.#groups.get(key);
    if (!g) {
      g = { key, needs, heap: new IndexedHeap(before) };
      this.#groups.set(key, g);
    }
    g.heap.push(job.id, job);
    this.#groupOf.set(job.id, g);
  }

  /** Whether job `id` is queued here. */
  has(id: number): boolean {
    return this.#groupOf.has(id);
  }

  /** What job `id` needs, if it is queued. */
  needsOf(id: number): Needs | undefined {
    return this.#groupOf.get(id)?.needs;
  }

  /** Removes job `id`; returns whether it was queued. */
  delete(id: number): boolean {
    const g = this.#groupOf.get(id);
    if (!g) return false;
    g.heap.delete(id);
    this.#groupOf.delete(id);
    if (g.heap.size === 0) this.#groups.delete(g.key);
    return true;
  }

  /** Takes the best job `offer` can run (highest priority, then oldest), if any. */
  take(offer: Offer, allowed: (queue: string) => boolean = () => true): QueuedJob | undefined {
    return this.takeEntry(offer, allowed)?.job;
  }

  /** Like {@linkcode QueueIndex.take}, with what the job needs (to add it back later). */
  takeEntry(
    offer: Offer,
    allowed: (queue: string) => boolean = () => true,
  ): { job: QueuedJob; needs: Needs } | undefined {
    let best: Group | undefined;
    for (const g of this.#groups.values()) {
      const head = g.heap.peek()!;
      if (best && !before(head, best.heap.peek()!)) continue;
      if (!allowed(head.queue) || !matches(g.needs, offer) || !hasRoom(g.needs, offer)) continue;
      best = g;
    }
    if (!best) return undefined;
    const job = best.heap.pop()!;
    this.#groupOf.delete(job.id);
    if (best.heap.size === 0) this.#groups.delete(best.key);
    return { job, needs: best.needs };
  }
}
