/**
 * What the dashboard's pages and its JSON endpoints read: the overview snapshot, filtered job
 * pages, pages of a job's output and the jobs a job's page links to, straight from the scheduler
 * and the store.
 * @module
 */

import type { JobView } from "../protocol/mod.ts";
import { isStoreFilter, type JobFilter, matchesJobFilter } from "../ui/lib/job_filter.ts";
import type { UiLogChunk, UiLogPage, UiOverview } from "../protocol/ui_wire.ts";
import { TASKS_SHOWN, toUiTask, type UiRelated } from "../ui/lib/related.ts";
import type { Scheduler } from "./scheduler.ts";
import type { UiMetrics } from "./ui_metrics.ts";
import { agentViews, jobView } from "./views.ts";

/** Rows scanned per query when the filter needs more than the store's indexes. */
const SCAN_BATCH = 500;
/** Most rows one page may scan before it returns what it found and a cursor to go on. */
const SCAN_LIMIT = 20_000;
/** Bytes of output the job page shows at first (and loads per "earlier" click). */
export const LOG_PAGE_BYTES = 256 * 1024;

/** The overview's numbers now. */
export function overviewSnapshot(scheduler: Scheduler, metrics: UiMetrics): UiOverview {
  const agents = agentViews(scheduler);
  const online = agents.filter((a) => a.status !== "disconnected" && a.status !== "lost");
  const failures = scheduler.store.listJobs({ state: ["failed", "timed_out"], limit: 8 });
  return {
    counts: scheduler.store.countByState(),
    agents: {
      online: online.length,
      busy: online.filter((a) => a.slots_used > 0).length,
      total: agents.length,
      slots: online.reduce((n, a) => n + a.slots, 0),
      slots_used: online.reduce((n, a) => n + a.slots_used, 0),
    },
    recent_failures: failures.map((r) => jobView(r, scheduler)),
    minutes: metrics.minutes(),
  };
}

/** A page of jobs, newest first. */
export interface JobPage {
  jobs: JobView[];
  /** Pass as `cursor` for the next (older) page; `null` on the last page. */
  next_cursor: string | null;
}

/**
 * Jobs matching `filter` older than `cursor` (only `owner`'s, if given). State, queue and owner
 * filters run in SQL; agent, tag and text filters scan in batches, up to a bound, and return a
 * cursor where they stopped.
 */
export function listJobPage(
  scheduler: Scheduler,
  filter: JobFilter,
  cursor: string | null,
  limit: number,
  owner?: string,
): JobPage {
  const store = scheduler.store;
  const base = {
    state: filter.states.length ? filter.states : undefined,
    queue: filter.queue || undefined,
    owner,
  };
  let beforeId = cursor && /^\d{1,15}$/.test(cursor) ? Number(cursor) : undefined;
  if (isStoreFilter(filter)) {
    const rows = store.listJobs({ ...base, beforeId, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return {
      jobs: page.map((r) => jobView(r, scheduler)),
      next_cursor: rows.length > limit ? String(page[page.length - 1].id) : null,
    };
  }
  const jobs: JobView[] = [];
  for (let scanned = 0; scanned < SCAN_LIMIT;) {
    const rows = store.listJobs({ ...base, beforeId, limit: SCAN_BATCH });
    for (const row of rows) {
      scanned++;
      beforeId = row.id;
      const view = jobView(row, scheduler);
      if (!matchesJobFilter(view, filter)) continue;
      jobs.push(view);
      if (jobs.length === limit) return { jobs, next_cursor: String(row.id) };
    }
    if (rows.length < SCAN_BATCH) return { jobs, next_cursor: null };
  }
  return { jobs, next_cursor: beforeId === undefined ? null : String(beforeId) };
}

/** The agent id a filter's `agent` names (an id or a unique name), or the text as given. */
export function resolveAgentFilter(scheduler: Scheduler, filter: JobFilter): JobFilter {
  if (!filter.agent) return filter;
  const agent = scheduler.agents.find(filter.agent);
  return agent ? { ...filter, agent: agent.id } : filter;
}

/**
 * Output of job `jobId`: with `before`, the page that ends there; with `from`, everything from
 * there on; with neither, the last {@linkcode LOG_PAGE_BYTES}.
 */
export function logPage(
  scheduler: Scheduler,
  jobId: number,
  at: { before?: number; from?: number },
): UiLogPage {
  const size = scheduler.store.getJob(jobId)?.output_bytes ?? 0;
  const end = at.before ?? Infinity;
  const start = at.from ?? Math.max(0, Math.min(end, size) - LOG_PAGE_BYTES);
  const chunks: UiLogChunk[] = [];
  for (const c of scheduler.store.readLog(jobId, start)) {
    if (c.offset >= end) break;
    chunks.push({ offset: c.offset, stream: c.stream, data: c.data });
  }
  const from = chunks.length ? chunks[0].offset : Math.min(start, size);
  const lastChunk = chunks[chunks.length - 1];
  const to = lastChunk ? lastChunk.offset + utf8Length(lastChunk.data) : from;
  return { chunks, from, to };
}

/**
 * The jobs the page of job `view` links to: the jobs it waits on and, for a batch, its tasks by
 * index (the last {@linkcode TASKS_SHOWN} of a bigger batch).
 */
export function relatedJobs(scheduler: Scheduler, view: JobView): UiRelated {
  const store = scheduler.store;
  const deps = view.spec.after ? store.depsOf(view.id) : [];
  if (!view.batch) return { deps, tasks: [], more_tasks: false };
  const rows = store.listJobs({ parentId: view.id, limit: TASKS_SHOWN + 1 });
  const tasks = rows.slice(0, TASKS_SHOWN).map((r) => toUiTask(jobView(r, scheduler)));
  return {
    deps,
    tasks: tasks.sort((a, b) => a.index - b.index),
    more_tasks: rows.length > TASKS_SHOWN,
  };
}

/** Byte length of `text` in UTF-8. */
export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
