/**
 * Bodies of the public HTTP API (`/api/v1`), shared by the server, the CLI and the dashboard.
 * @module
 */

import { z } from "zod";
import type { JobSpec, JobState } from "./job.ts";
import type { HostFacts, RuntimeInfo } from "./agent_wire.ts";

/** The error body every non-2xx response carries. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/** One attempt of a job as the API shows it. */
export interface AttemptView {
  id: string;
  n: number;
  agent_id: string | null;
  agent_name: string | null;
  state: "assigned" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled" | "lost";
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  assigned_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** A job as the API shows it. Instants are RFC 3339. */
export interface JobView {
  id: number;
  name: string | null;
  state: JobState;
  queue: string;
  priority: number;
  spec: JobSpec;
  created_at: string;
  run_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  signal: string | null;
  /** Why the job waits (while waiting) or why it ended (when not succeeded). */
  reason: string | null;
  attempt_count: number;
  agent_id: string | null;
  output_bytes: number;
  attempts?: AttemptView[];
}

/** `GET /api/v1/jobs`. */
export interface JobList {
  jobs: JobView[];
  next_cursor: string | null;
}

/** Status of an agent as the API shows it. */
export type AgentStatus = "idle" | "busy" | "draining" | "disconnected" | "lost";

/** An agent as the API shows it. */
export interface AgentView {
  id: string;
  name: string;
  status: AgentStatus;
  hostname: string | null;
  version: string | null;
  labels: Record<string, string>;
  runtimes: RuntimeInfo[];
  slots: number;
  slots_used: number;
  running: number[];
  connected_since: string | null;
  last_seen: string | null;
  facts: HostFacts | null;
  /** An operator disabled it: it takes no new work. */
  disabled?: boolean;
}

/** `GET /api/v1/agents`. */
export interface AgentList {
  agents: AgentView[];
}

/** Query of `GET /api/v1/jobs`. */
export const JobListQuery = z.strictObject({
  state: z.string().optional(),
  queue: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().regex(/^\d+$/, "expected a cursor from next_cursor").optional(),
});

/** Uptime of an agent over one window, as `GET /api/v1/agents/:id/uptime` shows it. */
export interface UptimeWindowView {
  /** Connected share of the window since the agent was first seen, 0 to 100; `null`: unknown. */
  percent: number | null;
  up_ms: number;
  known_ms: number;
  window_ms: number;
  /** Connected intervals, oldest first. */
  intervals: Array<{ start: string; end: string }>;
}

/** `GET /api/v1/agents/:id/uptime`. */
export interface AgentUptimeView {
  agent_id: string;
  name: string;
  first_seen: string | null;
  windows: Record<"24h" | "7d" | "30d", UptimeWindowView>;
}
