/**
 * The jobs a job page links to: the jobs it waits on (`after`) and, for a batch, its tasks and
 * where the batch stands. The server reads them for the first render and for
 * `/ui/data/jobs/:id/related`; the page keeps them current with the changed jobs of the `jobs`
 * topic.
 * @module
 */

import type { BatchProgressView, JobState, JobView } from "../../protocol/mod.ts";
import { STATES } from "./states.ts";

/** Most tasks a batch's page lists (the batch's progress bar counts all of them). */
export const TASKS_SHOWN = 100;

/** A batch's task as its batch's page lists it. */
export interface UiTask {
  id: number;
  /** Its `JOBDIST_INDEX`. */
  index: number;
  state: JobState;
  attempt_count: number;
  reason: string | null;
  started_at: string | null;
  finished_at: string | null;
}

/** A job another job waits on. */
export interface UiDep {
  id: number;
  state: JobState;
}

/** What a job's page shows of other jobs. */
export interface UiRelated {
  /** The jobs of its `after`, by id. */
  deps: UiDep[];
  /** A batch's tasks, by index: all of them, or the {@linkcode TASKS_SHOWN} last ones. */
  tasks: UiTask[];
  /** Whether the batch has more tasks than `tasks` holds. */
  more_tasks: boolean;
}

/** The row of task `view`. */
export function toUiTask(view: JobView): UiTask {
  return {
    id: view.id,
    index: view.batch_index ?? 0,
    state: view.state,
    attempt_count: view.attempt_count,
    reason: view.reason,
    started_at: view.started_at,
    finished_at: view.finished_at,
  };
}

/**
 * The related jobs of job `jobId` after `changed` jobs changed: its dependencies take their new
 * states, its tasks replace their rows, and new tasks join a list that holds them all.
 */
export function applyChanges(related: UiRelated, changed: JobView[], jobId: number): UiRelated {
  const byId = new Map(changed.map((j) => [j.id, j]));
  const deps = related.deps.map((d) => {
    const j = byId.get(d.id);
    return j ? { id: d.id, state: j.state } : d;
  });
  const shown = new Set(related.tasks.map((t) => t.id));
  const tasks = related.tasks.map((t) => {
    const j = byId.get(t.id);
    return j ? toUiTask(j) : t;
  });
  let more = related.more_tasks;
  if (!more) {
    const fresh = changed.filter((j) => j.parent_id === jobId && !shown.has(j.id));
    tasks.push(...fresh.map(toUiTask));
    tasks.sort((a, b) => a.index - b.index);
    if (tasks.length > TASKS_SHOWN) {
      tasks.splice(0, tasks.length - TASKS_SHOWN);
      more = true;
    }
  }
  return { deps, tasks, more_tasks: more };
}

/** The groups of a batch's progress bar, in the order drawn. */
export const PROGRESS_GROUPS = ["succeeded", "failed", "cancelled", "running", "queued"] as const;

/** A group of {@linkcode PROGRESS_GROUPS}. */
export type ProgressGroup = typeof PROGRESS_GROUPS[number];

const GROUP_OF: Record<JobState, ProgressGroup> = {
  succeeded: "succeeded",
  failed: "failed",
  timed_out: "failed",
  cancelled: "cancelled",
  assigned: "running",
  running: "running",
  waiting: "queued",
  scheduled: "queued",
  queued: "queued",
};

/** A batch's tasks counted by group (`failed` includes timed out; `queued`, every wait). */
export function progressCounts(batch: BatchProgressView): Record<ProgressGroup, number> {
  const counts = { succeeded: 0, failed: 0, cancelled: 0, running: 0, queued: 0 };
  for (const state of STATES) counts[GROUP_OF[state]] += batch.tasks[state] ?? 0;
  return counts;
}
