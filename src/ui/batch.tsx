/**
 * A batch on its job page: a bar of its tasks by state, how many succeeded, and its tasks with
 * their states, attempts and links.
 * @module
 */

import type { BatchProgressView, JobSpec } from "../protocol/mod.ts";
import { StateBadge } from "./components.tsx";
import { formatBetween } from "./lib/format.ts";
import { PROGRESS_GROUPS, progressCounts, type ProgressGroup, type UiTask } from "./lib/related.ts";

const GROUP_TEXT: Record<ProgressGroup, string> = {
  succeeded: "succeeded",
  failed: "failed or timed out",
  cancelled: "cancelled",
  running: "running",
  queued: "waiting",
};

/** Props of {@linkcode BatchPanel}. */
export interface BatchPanelProps {
  /** The batch's job id. */
  id: number;
  batch: BatchProgressView;
  spec: JobSpec;
  tasks: UiTask[];
  /** Whether the batch has more tasks than `tasks`. */
  moreTasks: boolean;
  now: number;
}

/** The batch's progress and its tasks. */
export function BatchPanel({ id, batch, spec, tasks, moreTasks, now }: BatchPanelProps) {
  const counts = progressCounts(batch);
  const pct = (n: number) => ((n / Math.max(1, batch.completions)) * 100).toFixed(2);
  return (
    <section class="panel" aria-label="Batch">
      <h2 style="margin-top:0">Batch</h2>
      <p data-batch-summary style="margin:0">
        <b>{counts.succeeded} of {batch.completions} succeeded</b>, parallelism {batch.parallelism}
      </p>
      <div
        class="progress"
        role="img"
        aria-label={PROGRESS_GROUPS.map((g) => `${counts[g]} ${GROUP_TEXT[g]}`).join(", ")}
      >
        {PROGRESS_GROUPS.map((g) =>
          counts[g] > 0 && <span key={g} class={`p-${g}`} style={`width:${pct(counts[g])}%`} />
        )}
      </div>
      <p class="legend" style="margin:0">
        {PROGRESS_GROUPS.map((g) => (
          <span key={g} data-progress={g}>
            <i class={`p-${g}`} />
            {`${counts[g]} ${GROUP_TEXT[g]}`}
          </span>
        ))}
        <span data-failed-attempts>
          {`${batch.failed_attempts} failed attempt${batch.failed_attempts === 1 ? "" : "s"}`}
          {spec.backoff_limit !== undefined && ` (backoff limit ${spec.backoff_limit})`}
        </span>
      </p>
      <h3 style="margin:14px 0 6px;font-size:15px">Tasks</h3>
      {tasks.length === 0
        ? <p class="muted" style="margin:0">No tasks yet.</p>
        : (
          <div class="table-wrap">
            <table aria-label="Tasks">
              <thead>
                <tr>
                  <th class="num">Index</th>
                  <th>Job</th>
                  <th>State</th>
                  <th class="num">Attempts</th>
                  <th>Took</th>
                </tr>
              </thead>
              <tbody>
                {tasks.map((t) => (
                  <tr key={t.id} data-task={t.index}>
                    <td class="num">{t.index}</td>
                    <td>
                      <a href={`/jobs/${t.id}`}>#{t.id}</a>
                    </td>
                    <td>
                      <StateBadge state={t.state} />
                      {t.reason && <div class="reason">{t.reason}</div>}
                    </td>
                    <td class="num">{t.attempt_count}/{spec.max_attempts}</td>
                    <td>{formatBetween(t.started_at, t.finished_at, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      {moreTasks && (
        <p class="muted" style="margin-bottom:0">
          Showing the last {tasks.length} of {batch.completions} tasks;{" "}
          <code>{`GET /api/v1/jobs?parent=${id}`}</code> lists them all.
        </p>
      )}
    </section>
  );
}
