/**
 * Cron schedules: a cron expression read in an IANA time zone, a job template, and what to do
 * when runs overlap or were missed while the server was down. The cron parser is `croner`
 * (used by the server); this module only checks the shape, so it stays free of it.
 * @module
 */

import { z } from "zod";
import { JobSpec } from "./job.ts";
import { parseWith } from "./errors.ts";

/** What a fire does when jobs of earlier fires have not finished. */
export const OVERLAP_POLICIES = [
  /** Start the new job anyway. */
  "allow",
  /** Skip this fire (recorded as `skipped`). */
  "forbid",
  /** Cancel the unfinished jobs, then start the new one. */
  "replace",
] as const;

/** What happens to fire times that passed while the server was down (or too late to count). */
export const MISFIRE_POLICIES = [
  /** Drop them; the schedule carries on from the next fire time. */
  "skip",
  /** Run one job for all of them together (for the latest missed time). */
  "run_once",
  /** Run one job for each, oldest first, up to `misfire_limit` (the latest ones). */
  "run_all",
] as const;

const TimeZone = z.string().min(1).max(64).refine((tz) => {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, { message: 'expected an IANA time zone such as "Europe/Berlin" or "UTC"' });

/** The job a schedule submits; `run_at` and `idempotency_key` belong to each fire, not to it. */
const JobTemplate = JobSpec.superRefine((spec, ctx) => {
  if (spec.run_at !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["run_at"],
      message: "a schedule's job cannot have run_at (each fire sets its own time)",
    });
  }
  if (spec.idempotency_key !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["idempotency_key"],
      message: "a schedule's job cannot have an idempotency_key (each fire is unique already)",
    });
  }
});

/** A schedule as submitted. */
export const ScheduleSpec = z.strictObject({
  /** Unique; starts with a letter so it never reads as an id. */
  name: z.string().regex(
    /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/,
    "expected a name of letters, digits, _ . - starting with a letter (at most 64)",
  ),
  /** 5 fields (minute first), 6 (seconds first), or `@hourly`, `@daily`, `@weekly`, …. */
  cron: z.string().min(1).max(200),
  timezone: TimeZone.default("UTC"),
  job: JobTemplate,
  overlap: z.enum(OVERLAP_POLICIES).default("allow"),
  misfire: z.enum(MISFIRE_POLICIES).default("run_once"),
  /** With `misfire: "run_all"`, the most missed runs started after an outage. */
  misfire_limit: z.number().int().min(1).max(1000).default(10),
  paused: z.boolean().default(false),
});

/** A schedule as submitted (before defaults). */
export type ScheduleSpecInput = z.input<typeof ScheduleSpec>;
/** A schedule with defaults applied, as stored. */
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;

/** Parses a submitted schedule, throwing a `ProtocolError` that names the bad field. */
export function parseScheduleSpec(value: unknown): ScheduleSpec {
  return parseWith(ScheduleSpec, value);
}

/** What became of one fire time. */
export interface FireView {
  /** The fire time (RFC 3339, UTC). */
  fire_time: string;
  /** `started` (a job was submitted) or `skipped`. */
  outcome: "started" | "skipped";
  job_id: number | null;
  /** The job's state now, when there is one. */
  job_state: string | null;
  /** Why it was skipped, or why it ran late (`missed while the server was down`). */
  reason: string | null;
  created_at: string;
}

/** A schedule as the API shows it. Instants are RFC 3339. */
export interface ScheduleView extends ScheduleSpec {
  id: number;
  created_at: string;
  updated_at: string;
  /** The newest fire time handled (started or skipped). */
  last_fire_time: string | null;
  /** When it fires next (`null` while paused or when the expression never fires again). */
  next_fire_time: string | null;
  /** Newest first; only on `GET /schedules/:id`. */
  fires?: FireView[];
}

/** `GET /api/v1/schedules`. */
export interface ScheduleList {
  schedules: ScheduleView[];
}
