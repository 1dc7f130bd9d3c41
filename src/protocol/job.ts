/**
 * The job model: what a user submits (the spec) and the states a job moves through.
 *
 * ```
 *             +----------- cancel -----------+
 *             v                              |
 *  waiting -> scheduled -> queued -> assigned -> running -> succeeded
 *  (after)     (run_at)
 *    (run_at)     ^          |           |  \-> failed      (attempts exhausted / non-retryable)
 *                 |          |           |  \-> timed_out
 *                 +-- retry (backoff) ---+  \-> cancelled
 *                 +-- lease lost / agent lost (counts against max_lost)
 * ```
 *
 * A retry waiting for its backoff is `scheduled` again with a `run_at`. A batch (`completions`)
 * is a parent job whose tasks are jobs of their own; the parent is `running` while they run.
 * @module
 */

import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { parseWith } from "./errors.ts";
import { DEFAULT_MAX_LINE, DEFAULT_MAX_OUTPUT, JOB_STATES } from "./constants.ts";
import { SecretName } from "./secret.ts";

/** Every state a job can be in (declared without zod, for the agent and the browser). */
export { JOB_STATES };

/** A job's state. See the diagram at the top of this module. */
export type JobState = typeof JOB_STATES[number];

/** States from which a job never moves again. */
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set([
  "succeeded",
  "failed",
  "timed_out",
  "cancelled",
]);

/** States in which an agent holds the job. */
export const ACTIVE_STATES: ReadonlySet<JobState> = new Set(["assigned", "running"]);

const NEXT: Record<JobState, readonly JobState[]> = {
  waiting: ["queued", "scheduled", "cancelled", "timed_out"],
  scheduled: ["queued", "cancelled", "timed_out"],
  // queued -> running: a batch whose tasks started.
  queued: ["assigned", "running", "scheduled", "cancelled", "timed_out", "failed"],
  assigned: ["running", "queued", "scheduled", "succeeded", "failed", "timed_out", "cancelled"],
  running: ["queued", "scheduled", "succeeded", "failed", "timed_out", "cancelled"],
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: [],
};

/** Whether a job may move from `from` to `to`. */
export function canTransition(from: JobState, to: JobState): boolean {
  return NEXT[from].includes(to);
}

/** Whether `state` is final. */
export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

/** The longest duration any field accepts (ten years). */
export const MAX_DURATION_MS = 3650 * 86_400_000;

/** A duration string such as `"90s"`; see `duration.ts`. */
export const Duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'expected a duration such as "500ms", "90s", "15m" or "2h"',
}).refine((s) => (parseDuration(s) ?? 0) <= MAX_DURATION_MS, {
  message: "expected a duration of at most 3650d",
});

/** A duration that must be longer than zero (a limit of zero would never let a job run). */
const PositiveDuration = Duration.refine((s) => (parseDuration(s) ?? 0) > 0, {
  message: "expected a duration longer than 0",
});

const Name = z.string().min(1).max(200);
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment name");

/**
 * An environment value: a literal, or `{secret: NAME}`, a secret of the job's namespace that the
 * server resolves only when it hands the job to an agent (the spec keeps the reference).
 */
export const EnvValue = z.union([z.string().max(100_000), z.strictObject({ secret: SecretName })]);
/** An environment value: a literal or a secret reference. */
export type EnvValue = z.infer<typeof EnvValue>;
const LabelKey = z.string().regex(/^[A-Za-z0-9_.\/-]{1,63}$/, "expected a label key");

/** Runtimes the agent knows out of the box; operators may declare more (`--runtime`). */
export const BUILTIN_RUNTIMES = ["bash", "sh", "python", "node", "deno", "java", "go"] as const;

/** What an agent must offer to be given a job. */
export const Requires = z.strictObject({
  runtimes: z.array(z.string().min(1).max(64)).max(16).optional(),
  labels: z.record(LabelKey, z.string().max(200)).optional(),
  agents: z.array(Name).max(64).optional(),
});
/** What an agent must offer to be given a job. */
export type Requires = z.infer<typeof Requires>;

/** Exponential backoff between attempts. */
export const Backoff = z.strictObject({
  initial: Duration.default("1s"),
  max: Duration.default("5m"),
  factor: z.number().min(1).max(10).default(2),
});

/** An inline script for one of the agent's runtimes. */
export const Script = z.strictObject({
  runtime: z.string().min(1).max(64),
  source: z.string().max(1_000_000),
});

/** When a batch succeeds before all of its tasks have. */
export const SuccessPolicy = z.strictObject({
  succeeded_count: z.number().int().min(1).optional(),
  succeeded_indexes: z.array(z.number().int().min(0)).min(1).max(100_000).optional(),
}).refine((p) => p.succeeded_count !== undefined || p.succeeded_indexes !== undefined, {
  message: "expected succeeded_count or succeeded_indexes",
});

/** What a webhook is called for: an attempt started, or the job reached its final state. */
export const WEBHOOK_EVENTS = ["started", "finished"] as const;

/** The longest a webhook call may take (`webhook.timeout`). */
const MAX_WEBHOOK_TIMEOUT_MS = 5 * 60_000;

const isHttpUrl = (s: string) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol);

/** A URL the server POSTs the job to as JSON, signed; see "Webhooks" in the README. */
export const Webhook = z.strictObject({
  url: z.string().max(2048).refine(isHttpUrl, { message: "expected an http:// or https:// URL" }),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(2)
    .refine((e) => new Set(e).size === e.length, { message: "expected each event once" })
    .default(["finished"]),
  /** Time limit of one call. */
  timeout: PositiveDuration.refine((s) => parseDuration(s)! <= MAX_WEBHOOK_TIMEOUT_MS, {
    message: "expected a duration of at most 5m",
  }).default("10s"),
  /** Calls before the delivery is given up (retries back off exponentially, with jitter). */
  max_attempts: z.number().int().min(1).max(20).default(5),
});
/** A job's webhook with defaults applied. */
export type Webhook = z.infer<typeof Webhook>;

export { DEFAULT_MAX_LINE, DEFAULT_MAX_OUTPUT };

/** The spec of a job as submitted. Exactly one of `command`, `shell`, `script`. */
export const JobSpec = z.strictObject({
  command: z.array(z.string().max(100_000)).min(1).max(10_000).optional(),
  shell: z.string().min(1).max(1_000_000).optional(),
  script: Script.optional(),
  name: Name.optional(),
  env: z.record(EnvName, EnvValue).optional(),
  cwd: z.string().min(1).max(4096).optional(),
  queue: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "expected a queue name").default("default"),
  priority: z.number().int().min(-1000).max(1000).default(0),
  requires: Requires.optional(),
  timeout: PositiveDuration.optional(),
  queue_timeout: PositiveDuration.optional(),
  deadline: PositiveDuration.optional(),
  kill_grace: Duration.optional(),
  max_attempts: z.number().int().min(1).max(100).default(1),
  max_lost: z.number().int().min(0).max(100).default(2),
  backoff: Backoff.optional(),
  retry_exit_codes: z.array(z.number().int().min(0).max(255)).max(256).optional(),
  fail_exit_codes: z.array(z.number().int().min(0).max(255)).max(256).optional(),
  run_at: z.iso.datetime({ offset: true }).optional(),
  delay: Duration.optional(),
  idempotency_key: z.string().min(1).max(200).optional(),
  webhook: Webhook.optional(),
  max_output_bytes: z.number().int().min(0).max(1024 * 1024 * 1024).optional(),
  max_line_bytes: z.number().int().min(80).max(64 * 1024 * 1024).optional(),
  /** Past `max_output_bytes`: keep running and drop output (default), or fail the job. */
  on_output_limit: z.enum(["truncate", "fail"]).optional(),
  tags: z.array(z.string().min(1).max(64)).max(32).optional(),
  /** Job ids that must succeed first; if one does not, this job is cancelled. */
  after: z.array(z.number().int().positive()).min(1).max(1000).optional(),
  /** Agent slots the job takes (a heavy job takes more than one). */
  slots: z.number().int().min(1).max(1024).default(1),
  /** At most `concurrency_limit` (default 1) jobs with the same key run at once. */
  concurrency_key: z.string().regex(/^[A-Za-z0-9_.:\/-]{1,128}$/, "expected a key").optional(),
  concurrency_limit: z.number().int().min(1).max(100_000).optional(),
  /** A batch: run `completions` tasks, each with `JOBDIST_INDEX` 0..completions-1. */
  completions: z.number().int().min(1).max(100_000).optional(),
  /** Tasks of the batch that may run at once (default 1, like a Kubernetes Job). */
  parallelism: z.number().int().min(1).max(10_000).optional(),
  /** Failed attempts of all tasks together past which the batch fails. */
  backoff_limit: z.number().int().min(0).max(1_000_000).optional(),
  /** When fewer than all tasks suffice: enough successes, or these indexes succeeding. */
  success_policy: SuccessPolicy.optional(),
}).superRefine((spec, ctx) => {
  const kinds = [spec.command, spec.shell, spec.script].filter((k) => k !== undefined).length;
  if (kinds !== 1) {
    ctx.addIssue({
      code: "custom",
      path: kinds === 0 ? ["command"] : [],
      message: kinds === 0
        ? "a job needs one of command, shell or script"
        : "a job takes only one of command, shell or script",
    });
  }
  if (spec.run_at !== undefined && spec.delay !== undefined) {
    ctx.addIssue({ code: "custom", path: ["delay"], message: "give run_at or delay, not both" });
  }
  if (spec.concurrency_limit !== undefined && spec.concurrency_key === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["concurrency_limit"],
      message: "concurrency_limit needs a concurrency_key",
    });
  }
  const n = spec.completions;
  const batchOnly = ["parallelism", "backoff_limit", "success_policy"] as const;
  for (const field of batchOnly) {
    if (n === undefined && spec[field] !== undefined) {
      ctx.addIssue({ code: "custom", path: [field], message: `${field} needs completions` });
    }
  }
  const policy = spec.success_policy;
  if (n !== undefined && policy?.succeeded_count !== undefined && policy.succeeded_count > n) {
    ctx.addIssue({
      code: "custom",
      path: ["success_policy", "succeeded_count"],
      message: `expected at most completions (${n})`,
    });
  }
  const badIndex = n === undefined ? undefined : policy?.succeeded_indexes?.find((i) => i >= n);
  if (badIndex !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["success_policy", "succeeded_indexes"],
      message: `index ${badIndex} is not below completions (${n})`,
    });
  }
});

/** The spec as submitted (before defaults). */
export type JobSpecInput = z.input<typeof JobSpec>;
/** The spec with defaults applied, as stored. */
export type JobSpec = z.infer<typeof JobSpec>;

/** Parses a submitted spec, throwing a `ProtocolError` that names the bad field. */
export function parseJobSpec(value: unknown): JobSpec {
  return parseWith(JobSpec, value);
}

/** The runtimes a spec needs from its agent: its script's runtime plus `requires.runtimes`. */
export function requiredRuntimes(spec: JobSpec): string[] {
  const set = new Set(spec.requires?.runtimes ?? []);
  if (spec.script) set.add(spec.script.runtime);
  return [...set];
}

/** Backoff before attempt `n + 1` after `n` failed attempts, with ±20% jitter. */
export function backoffMs(spec: JobSpec, failedAttempts: number, random = Math.random): number {
  const initial = parseDuration(spec.backoff?.initial ?? "1s")!;
  const max = parseDuration(spec.backoff?.max ?? "5m")!;
  const factor = spec.backoff?.factor ?? 2;
  const base = Math.min(max, initial * factor ** Math.max(0, failedAttempts - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Whether an attempt that exited with `code` should be retried (attempts permitting). */
export function isRetryableExit(spec: JobSpec, code: number | null): boolean {
  if (code === 0) return false;
  if (code !== null && spec.fail_exit_codes?.includes(code)) return false;
  if (spec.retry_exit_codes) return code !== null && spec.retry_exit_codes.includes(code);
  return true;
}
