/**
 * Turns store rows into the API's JSON views.
 * @module
 */

import type { AgentView, AttemptView, JobView } from "../protocol/mod.ts";
import type { Scheduler } from "./scheduler.ts";
import type { AttemptRow, JobRow } from "./store.ts";
import { webhookDeliveries } from "./webhooks.ts";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The view of a job; with `attempts` (and webhook deliveries) when `detail` is set. */
export function jobView(row: JobRow, scheduler: Scheduler, detail = false): JobView {
  const view: JobView = {
    id: row.id,
    name: row.name,
    state: row.state,
    queue: row.queue,
    priority: row.priority,
    spec: JSON.parse(row.spec),
    created_at: iso(row.created_at)!,
    run_at: iso(row.run_at),
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
    exit_code: row.exit_code,
    signal: row.signal,
    reason: scheduler.waitReason(row) ?? row.reason,
    attempt_count: row.attempt_count,
    agent_id: row.agent_id,
    output_bytes: row.output_bytes,
  };
  if (row.parent_id !== null) {
    view.parent_id = row.parent_id;
    view.batch_index = row.batch_index;
  }
  const batch = scheduler.batchProgress(row, view.spec);
  if (batch) view.batch = batch;
  if (detail) {
    view.attempts = scheduler.store.attemptsOf(row.id).map((a) => attemptView(a, scheduler));
    if (view.spec.webhook) view.webhooks = webhookDeliveries(scheduler.store, row.id);
  }
  return view;
}

function attemptView(a: AttemptRow, scheduler: Scheduler): AttemptView {
  return {
    id: a.id,
    n: a.n,
    agent_id: a.agent_id,
    agent_name: a.agent_id ? scheduler.agents.get(a.agent_id)?.name ?? null : null,
    state: a.state,
    exit_code: a.exit_code,
    signal: a.signal,
    error: a.error,
    assigned_at: iso(a.assigned_at)!,
    started_at: iso(a.started_at),
    finished_at: iso(a.finished_at),
  };
}

/** The views of every known agent. */
export function agentViews(scheduler: Scheduler): AgentView[] {
  const jobIdOf = (attemptId: string) => scheduler.activeAttempt(attemptId)?.jobId;
  return scheduler.agents.all().map((a) => scheduler.agents.view(a, jobIdOf));
}
