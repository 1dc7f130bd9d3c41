/**
 * Bodies of the public HTTP API (`/api/v1`), shared by the server, the CLI and the dashboard.
 * @module
 */

import { z } from "zod";
import { Duration, JOB_STATES, JobSpec } from "./job.ts";
import { HostFacts, RuntimeInfo } from "./agent_wire.ts";
import { UserRole } from "./access.ts";
import { ScheduleSpec } from "./schedule.ts";

/** An instant as the server writes it: RFC 3339 in UTC (`2026-11-23T14:25:00.000Z`). */
const Instant = z.iso.datetime();
const Int = z.number().int();

/** The error body every non-2xx response carries. */
export const ErrorBody = z.strictObject({
  error: z.strictObject({
    code: z.string().describe("Machine-readable: invalid, unauthorized, not_found, conflict, …"),
    message: z.string().describe("What failed and why, for people"),
    field: z.string().optional().describe("Dotted path of the input field that was wrong"),
  }),
}).describe("The body of every error response");
/** The error body every non-2xx response carries. */
export type ErrorBody = z.infer<typeof ErrorBody>;

/** One attempt of a job as the API shows it. */
export const AttemptView = z.strictObject({
  id: z.string().describe("<job id>.<n>: the attempt's fencing token"),
  n: Int,
  agent_id: z.string().nullable(),
  agent_name: z.string().nullable(),
  state: z.enum(["assigned", "running", "succeeded", "failed", "timed_out", "cancelled", "lost"]),
  exit_code: Int.nullable(),
  signal: z.string().nullable(),
  error: z.string().nullable(),
  assigned_at: Instant,
  started_at: Instant.nullable(),
  finished_at: Instant.nullable(),
}).describe("One attempt of a job");
/** One attempt of a job as the API shows it. */
export type AttemptView = z.infer<typeof AttemptView>;

/** One call of a job's webhook for one event, with its tries and their outcome. */
export const WebhookDeliveryView = z.strictObject({
  /** Sent as `X-Jobdist-Delivery`; the same on every try. */
  id: z.string().describe("Sent as X-Jobdist-Delivery; the same on every try"),
  event: z.enum(["started", "finished"]),
  url: z.string(),
  /** `pending`: waiting for its (next) try; `succeeded`: a 2xx answer; `failed`: tries used up. */
  state: z.enum(["pending", "succeeded", "failed"]).describe(
    "pending: waiting for its (next) try; succeeded: a 2xx answer; failed: tries used up",
  ),
  attempts: Int,
  max_attempts: Int,
  /** HTTP status of the last try, if it got an answer. */
  status_code: Int.nullable().describe("HTTP status of the last try, if it got an answer"),
  /** Why the last try failed. */
  error: z.string().nullable().describe("Why the last try failed"),
  created_at: Instant,
  last_attempt_at: Instant.nullable(),
  next_attempt_at: Instant.nullable(),
}).describe("One call of a job's webhook for one event");
/** One call of a job's webhook for one event, with its tries and their outcome. */
export type WebhookDeliveryView = z.infer<typeof WebhookDeliveryView>;

/** Where a batch stands: its tasks by state. */
export const BatchProgressView = z.strictObject({
  completions: Int,
  parallelism: Int,
  tasks: z.partialRecord(z.enum(JOB_STATES), Int).describe("Its tasks by state"),
  failed_attempts: Int.describe("Failed attempts of all tasks (against backoff_limit)"),
}).describe("A batch's progress");
/** Where a batch stands. */
export type BatchProgressView = z.infer<typeof BatchProgressView>;

/** A job as the API shows it. Instants are RFC 3339. */
export const JobView = z.strictObject({
  id: Int,
  name: z.string().nullable(),
  state: z.enum(JOB_STATES),
  queue: z.string(),
  priority: Int,
  spec: JobSpec,
  created_at: Instant,
  run_at: Instant.nullable(),
  started_at: Instant.nullable(),
  finished_at: Instant.nullable(),
  exit_code: Int.nullable(),
  signal: z.string().nullable(),
  /** Why the job waits (while waiting) or why it ended (when not succeeded). */
  reason: z.string().nullable().describe(
    "Why the job waits (while waiting) or why it ended (when not succeeded)",
  ),
  attempt_count: Int,
  agent_id: z.string().nullable(),
  output_bytes: Int,
  /** The batch this job is a task of, and its index there (`JOBDIST_INDEX`). */
  parent_id: Int.nullable().optional().describe("The batch this job is a task of"),
  batch_index: Int.nullable().optional().describe("Its JOBDIST_INDEX within the batch"),
  /** A batch's progress (jobs with `completions`). */
  batch: BatchProgressView.optional(),
  /** Only on `GET /jobs/:id`. */
  attempts: z.array(AttemptView).optional().describe("Only on GET /jobs/{id}"),
  /** Webhook deliveries, oldest first; only on `GET /jobs/:id`, for a job with a `webhook`. */
  webhooks: z.array(WebhookDeliveryView).optional().describe(
    "Webhook deliveries, oldest first; only on GET /jobs/{id}, for a job with a webhook",
  ),
}).describe("A job: its spec and where it stands");
/** A job as the API shows it. Instants are RFC 3339. */
export type JobView = z.infer<typeof JobView>;

/** `GET /api/v1/jobs`. */
export const JobList = z.strictObject({
  jobs: z.array(JobView),
  next_cursor: z.string().nullable().describe("Pass as cursor for the next page"),
});
/** `GET /api/v1/jobs`. */
export type JobList = z.infer<typeof JobList>;

/** `POST /api/v1/jobs:batch`: jobs submitted in one transaction. */
export const JobBatch = z.strictObject({ jobs: z.array(JobSpec).min(1).max(10_000) });

/** The answer to `POST /api/v1/jobs:batch`, in the order submitted. */
export const JobBatchView = z.strictObject({ jobs: z.array(JobView) });

/** A queue: its depth, the jobs of it holding an agent, its concurrency limit. */
export const QueueView = z.strictObject({
  name: z.string(),
  queued: Int,
  active: Int.describe("Jobs of the queue holding an agent"),
  limit: Int.nullable().describe("Most jobs of the queue that may hold an agent at once"),
}).describe("A queue and its concurrency limit");
/** A queue as the API shows it. */
export type QueueView = z.infer<typeof QueueView>;

/** `GET /api/v1/queues`. */
export const QueueList = z.strictObject({ queues: z.array(QueueView) });

/** `PUT /api/v1/queues/:name`. */
export const QueuePatch = z.strictObject({
  concurrency: z.number().int().min(1).max(1_000_000).nullable()
    .describe("Most jobs that may hold an agent at once; null removes the limit"),
});

/** A queue name in a path. */
export const QueueName = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "expected a queue name"),
});

/** Status of an agent as the API shows it. */
export const AgentStatus = z.enum(["idle", "busy", "draining", "disconnected", "lost"]);
/** Status of an agent as the API shows it. */
export type AgentStatus = z.infer<typeof AgentStatus>;

/** An agent as the API shows it. */
export const AgentView = z.strictObject({
  id: z.string(),
  name: z.string(),
  status: AgentStatus,
  hostname: z.string().nullable(),
  version: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  runtimes: z.array(RuntimeInfo),
  slots: Int,
  slots_used: Int,
  running: z.array(Int).describe("Ids of the jobs it runs"),
  connected_since: Instant.nullable(),
  last_seen: Instant.nullable(),
  facts: HostFacts.nullable(),
  /** An operator disabled it: it takes no new work. */
  disabled: z.boolean().optional().describe("An operator disabled it: it takes no new work"),
}).describe("An agent and what it offers");
/** An agent as the API shows it. */
export type AgentView = z.infer<typeof AgentView>;

/** `GET /api/v1/agents`. */
export const AgentList = z.strictObject({ agents: z.array(AgentView) });
/** `GET /api/v1/agents`. */
export type AgentList = z.infer<typeof AgentList>;

/** `POST /api/v1/agents/:id/drain` (an empty body drains). */
export const DrainRequest = z.strictObject({
  enabled: z.boolean().default(true).describe("false resumes the agent"),
});

/** `PATCH /api/v1/agents/:id`: what an operator changes about an agent. */
export const AgentPatch = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  labels: z.record(z.string().min(1).max(63), z.string().max(200)).nullable().optional()
    .describe("Labels replacing the agent's own; null goes back to what the agent says"),
  disabled: z.boolean().optional(),
});
/** `PATCH /api/v1/agents/:id` as sent. */
export type AgentPatch = z.infer<typeof AgentPatch>;

/** Query of `GET /api/v1/jobs`. */
export const JobListQuery = z.strictObject({
  state: z.string().optional().describe("States, comma separated"),
  queue: z.string().optional(),
  parent: z.string().regex(/^\d{1,15}$/, "expected a job id").optional()
    .describe("Only the tasks of this batch"),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().regex(/^\d+$/, "expected a cursor from next_cursor").optional()
    .describe("next_cursor of the previous page"),
});

/** Uptime of an agent over one window, as `GET /api/v1/agents/:id/uptime` shows it. */
export const UptimeWindowView = z.strictObject({
  /** Connected share of the window since the agent was first seen, 0 to 100; `null`: unknown. */
  percent: z.number().min(0).max(100).nullable().describe(
    "Connected share of the window since the agent was first seen, 0 to 100; null: unknown",
  ),
  up_ms: Int,
  known_ms: Int,
  window_ms: Int,
  /** Connected intervals, oldest first. */
  intervals: z.array(z.strictObject({ start: Instant, end: Instant }))
    .describe("Connected intervals, oldest first"),
});
/** Uptime of an agent over one window. */
export type UptimeWindowView = z.infer<typeof UptimeWindowView>;

/** `GET /api/v1/agents/:id/uptime`. */
export const AgentUptimeView = z.strictObject({
  agent_id: z.string(),
  name: z.string(),
  first_seen: Instant.nullable(),
  windows: z.strictObject({
    "24h": UptimeWindowView,
    "7d": UptimeWindowView,
    "30d": UptimeWindowView,
  }),
});
/** `GET /api/v1/agents/:id/uptime`. */
export type AgentUptimeView = z.infer<typeof AgentUptimeView>;

/** Query of `GET /api/v1/agents/:id/health`. */
export const AgentHealthQuery = z.strictObject({
  since: Duration.default("1h").describe("How far back the samples go"),
});

/** One minute of an agent's host facts (averages of its heartbeats in that minute). */
export const HealthSampleView = z.strictObject({
  t: Instant.describe("Start of the minute"),
  n: Int.describe("Heartbeats averaged into it"),
  load1: z.number().nullable(),
  cpus: z.number().nullable(),
  mem_total: z.number().nullable(),
  mem_available: z.number().nullable(),
  disk_free: z.number().nullable(),
  rss: z.number().nullable(),
});

/** `GET /api/v1/agents/:id/health`. */
export const AgentHealthView = z.strictObject({
  agent_id: z.string(),
  name: z.string(),
  version: z.string().nullable(),
  facts: HostFacts.nullable().describe("From the latest heartbeat"),
  samples: z.array(HealthSampleView).describe("Oldest first"),
});
/** `GET /api/v1/agents/:id/health`. */
export type AgentHealthView = z.infer<typeof AgentHealthView>;

/** `POST /api/v1/admin/housekeeping`. */
export const HousekeepingView = z.strictObject({
  pruned_jobs: Int,
  pruned_health_rows: Int,
  wal: z.strictObject({ busy: Int, log: Int, checkpointed: Int })
    .describe("What PRAGMA wal_checkpoint(TRUNCATE) answered"),
});
/** `POST /api/v1/admin/housekeeping`. */
export type HousekeepingView = z.infer<typeof HousekeepingView>;

/** What became of one fire time of a schedule (its type is `FireView` in `schedule.ts`). */
export const FireViewSchema = z.strictObject({
  fire_time: Instant,
  outcome: z.enum(["started", "skipped"]),
  job_id: Int.nullable(),
  job_state: z.string().nullable(),
  reason: z.string().nullable(),
  created_at: Instant,
});

/** A schedule as the API shows it (its type is `ScheduleView` in `schedule.ts`). */
export const ScheduleViewSchema = ScheduleSpec.extend({
  id: Int,
  created_at: Instant,
  updated_at: Instant,
  last_fire_time: Instant.nullable().describe("The newest fire time handled"),
  next_fire_time: Instant.nullable().describe(
    "When it fires next (null while paused or when it never fires again)",
  ),
  fires: z.array(FireViewSchema).optional().describe("Newest first; only on GET /schedules/{ref}"),
}).describe("A cron schedule");

/** `GET /api/v1/schedules` (its type is `ScheduleList` in `schedule.ts`). */
export const ScheduleListSchema = z.strictObject({ schedules: z.array(ScheduleViewSchema) });

/** Query of `GET /api/v1/schedules/:ref/next`. */
export const NextFireQuery = z.strictObject({
  n: z.coerce.number().int().min(1).max(1000).default(5),
});

/** `GET /api/v1/schedules/:ref/next`. */
export const NextFireTimes = z.strictObject({
  schedule: z.string(),
  timezone: z.string(),
  times: z.array(Instant),
});
/** `GET /api/v1/schedules/:ref/next`. */
export type NextFireTimes = z.infer<typeof NextFireTimes>;

/** Query of `GET /api/v1/jobs/:id/logs`. */
export const LogQuery = z.strictObject({
  stream: z.enum(["stdout", "stderr"]).optional().describe("Only this stream"),
  offset: z.coerce.number().int().min(0).default(0).describe("Byte offset to start from"),
  follow: z.enum(["1", "true"]).optional().describe("Stream until the job ends"),
});

/** A user (its type is `UserView` in `access.ts`). */
export const UserViewSchema = z.strictObject({
  id: Int,
  name: z.string(),
  role: UserRole,
  disabled: z.boolean(),
  created_at: Instant,
  created_by: z.string().nullable(),
}).describe("A user");

/** `GET /api/v1/users`. */
export const UserListSchema = z.strictObject({ users: z.array(UserViewSchema) });

/** A token, never its secret (its type is `TokenView` in `access.ts`). */
export const TokenViewSchema = z.strictObject({
  id: Int,
  kind: z.enum(["user", "agent", "join"]),
  prefix: z.string().describe("The first characters of the token"),
  user: z.string().nullable(),
  agent_id: z.string().nullable(),
  name: z.string().nullable(),
  created_at: Instant,
  created_by: z.string().nullable(),
  expires_at: Instant.nullable(),
  revoked_at: Instant.nullable(),
  used_at: Instant.nullable(),
  status: z.enum(["active", "expired", "revoked", "used"]),
}).describe("A token, never its secret");

/** A new token with its secret (its type is `NewTokenView` in `access.ts`). */
export const NewTokenViewSchema = TokenViewSchema.extend({
  token: z.string().describe("The secret: shown this once"),
}).describe("A new token with its secret");

/** `GET /api/v1/tokens`. */
export const TokenListSchema = z.strictObject({ tokens: z.array(TokenViewSchema) });

/** Query of `GET /api/v1/tokens`. */
export const TokenListQuery = z.strictObject({
  user: z.string().optional().describe("Only this user's tokens"),
});

/** `POST /api/v1/users` (its type is `CreatedUser` in `access.ts`). */
export const CreatedUserSchema = z.strictObject({
  user: UserViewSchema,
  token: NewTokenViewSchema.nullable(),
});

/** `POST /api/v1/agents/enrol` (its type is `EnrolAnswer` in `access.ts`). */
export const EnrolAnswerSchema = z.strictObject({
  agent_id: z.string(),
  token: z.string().describe("The agent's own token: keep it, it is not shown again"),
});

/** `POST /api/v1/agents/:id/revoke`. */
export const AgentRevokedView = z.strictObject({ agent_id: z.string(), revoked_tokens: Int });

/** One audit record (its type is `AuditEntry` in `access.ts`). */
export const AuditEntrySchema = z.strictObject({
  id: Int,
  at: Instant,
  action: z.string(),
  outcome: z.enum(["ok", "denied"]),
  principal: z.string().nullable(),
  role: z.string().nullable(),
  source: z.string().nullable().describe("The caller's address as the server saw it"),
  target: z.string().nullable().describe("What it was done to: job 42, user alice, token 7, …"),
  detail: z.record(z.string(), z.unknown()).nullable(),
}).describe("One audit record");

/** `GET /api/v1/audit` (its type is `AuditList` in `access.ts`). */
export const AuditListSchema = z.strictObject({
  entries: z.array(AuditEntrySchema).describe("Newest first"),
  next_cursor: z.string().nullable().describe("Pass as cursor for the next page"),
});

/** Query of `GET /api/v1/audit`. */
export const AuditQuery = z.strictObject({
  action: z.string().optional(),
  principal: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().regex(/^\d{1,15}$/, "expected an entry id").optional()
    .describe("next_cursor of the previous page"),
});

const Outcomes = { finished: Int, succeeded: Int, failed: Int, timed_out: Int, cancelled: Int };

/** The daily report as JSON (its type is `Report` in `src/server/report.ts`). */
export const ReportView = z.strictObject({
  from: Instant,
  to: Instant,
  period_ms: Int,
  totals: z.strictObject(Outcomes),
  queues: z.array(z.strictObject({ queue: z.string(), ...Outcomes })),
  slowest: z.array(z.strictObject({
    id: Int,
    name: z.string().nullable(),
    queue: z.string(),
    state: z.string(),
    duration_ms: z.number(),
  })),
  most_failing: z.array(z.strictObject({
    name: z.string().nullable(),
    failed: Int,
    timed_out: Int,
    finished: Int,
  })),
  agents: z.array(z.strictObject({
    id: z.string(),
    name: z.string(),
    status: z.string(),
    uptime_percent: z.number().nullable(),
    up_ms: z.number(),
    known_ms: z.number(),
  })),
  agents_lost: z.array(z.strictObject({ id: z.string(), name: z.string(), last_seen: Instant })),
  lost_attempts: Int.describe("Attempts requeued because their agent vanished"),
}).describe("Jobs, failures and agent uptime over a period");

/** Query of `GET /api/v1/report` and `POST /api/v1/report:send`. */
export const ReportQuery = z.strictObject({
  period: Duration.optional().describe("The period the report covers (default 24h)"),
});

/** `POST /api/v1/report:send`: how each transport fared. */
export const ReportSent = z.strictObject({
  ok: z.boolean().describe("Every transport delivered"),
  from: Instant,
  to: Instant,
  deliveries: z.array(z.strictObject({
    transport: z.enum(["smtp", "webhook"]),
    ok: z.boolean(),
    message: z.string(),
  })),
});
