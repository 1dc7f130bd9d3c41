/**
 * Plain values both roles (and the dashboard's browser code) share, in a module that imports nothing: the agent reads them from here
 * so that it loads no schema library (zod and the schemas built at import cost an idle agent
 * about 15 MB). `mod.ts` and `job.ts` re-export them for everyone else.
 * @module
 */

/** The program's version, reported by agents and `jobdist --version`. */
export const VERSION = "0.1.0";

/** Default cap on the output stored for one job (16 MiB). */
export const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

/** Default cap on one line of output (1 MiB); the rest of a longer line is dropped. */
export const DEFAULT_MAX_LINE = 1024 * 1024;

/** Every state a job can be in; the same strings are stored in SQLite. */
export const JOB_STATES = [
  /** Waiting for the jobs it runs `after` to succeed. */
  "waiting",
  /** Waiting for its `run_at` (a delayed job, or a retry in its backoff). */
  "scheduled",
  /** Ready to run, waiting for an agent with a free slot that matches `requires`. */
  "queued",
  /** Leased to an agent, which has not yet reported the process started. */
  "assigned",
  /** The agent reported the process started. */
  "running",
  /** The last attempt exited 0. */
  "succeeded",
  /** Attempts exhausted, a non-retryable exit, or the job could not be started. */
  "failed",
  /** `timeout`, `queue_timeout` or `deadline` passed. */
  "timed_out",
  /** Cancelled by a user before it finished. */
  "cancelled",
] as const;
