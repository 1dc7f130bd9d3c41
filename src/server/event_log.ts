/**
 * The server's log of what happens to agents and jobs, read off the event bus so the
 * scheduler's hot path carries no logging: agents connecting, disconnecting and being lost,
 * retries, failures and cancellations at `info`; every assignment, start and success at
 * `debug`. Each line carries the ids (`job_id`, `attempt_id`, `agent_id`) a log search needs.
 * @module
 */

import type { Logger } from "../log.ts";
import type { Liveness } from "./agent_registry.ts";
import type { ServerEvent } from "./events.ts";
import type { Scheduler } from "./scheduler.ts";

/** Logs agent and job events of `scheduler` to `log` until `signal` aborts. */
export function logServerEvents(scheduler: Scheduler, log: Logger, signal: AbortSignal): void {
  const liveness = new Map<string, Liveness>();
  for (const a of scheduler.agents.all()) liveness.set(a.id, a.liveness);

  const onAgent = (id: string) => {
    const agent = scheduler.agents.get(id);
    const before = liveness.get(id);
    if (!agent) {
      liveness.delete(id);
      return;
    }
    if (agent.liveness === before) return;
    liveness.set(id, agent.liveness);
    const fields = { agent_id: id, agent: agent.name };
    if (agent.liveness === "connected") {
      log.info("agent connected", { ...fields, slots: agent.slots, version: agent.version });
    } else if (agent.liveness === "disconnected") {
      log.info("agent disconnected", fields);
    } else {
      log.warn("agent lost", { ...fields, attempts: agent.attempts.size });
    }
  };

  const onJob = (e: Extract<ServerEvent, { type: "job" }>) => {
    const level = e.state === "succeeded" || e.state === "assigned" || e.state === "running" ||
        e.state === "queued" || (e.state === "scheduled" && e.agent_id === null)
      ? "debug"
      : "info";
    if (!log.enabled(level)) return;
    const row = scheduler.store.getJob(e.id);
    const fields = {
      job_id: e.id,
      attempt_id: row && row.attempt_count > 0 ? `${e.id}.${row.attempt_count}` : undefined,
      agent_id: e.agent_id ?? undefined,
      queue: e.queue,
    };
    switch (e.state) {
      case "queued":
        return log.debug("job queued", fields);
      case "scheduled":
        // A scheduled job with an agent is the retry of an attempt that failed there.
        return e.agent_id === null
          ? log.debug("job scheduled", { ...fields, run_at: isoOrNull(row?.run_at) })
          : log.info("job will retry", { ...fields, reason: row?.reason });
      case "assigned":
        return log.debug("job assigned", fields);
      case "running":
        return log.debug("job started", fields);
      case "succeeded":
        return log.debug("job succeeded", { ...fields, exit_code: row?.exit_code });
      case "failed":
      case "timed_out":
      case "cancelled":
        return log.info(`job ${e.state.replace("_", " ")}`, {
          ...fields,
          exit_code: row?.exit_code,
          reason: row?.reason,
        });
    }
  };

  scheduler.events.subscribe((e) => {
    if (e.type === "agent") onAgent(e.id);
    else if (e.type === "job") onJob(e);
  }, signal);
}

function isoOrNull(ms: number | null | undefined): string | undefined {
  return ms == null ? undefined : new Date(ms).toISOString();
}
