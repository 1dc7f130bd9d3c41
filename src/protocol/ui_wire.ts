/**
 * What the dashboard's event stream (`/ws/ui`) carries, and the data its pages render. Plain
 * JSON types shared by the server side (`src/server/ui_*.ts`) and the browser bundle.
 *
 * The browser opens `/ws/ui?topics=jobs,agents,overview,job:42` and only receives; the server
 * coalesces changes and sends at most one message per topic every {@linkcode UI_FLUSH_MS}.
 * @module
 */

import type { AgentView, JobView } from "./http.ts";

/** Least time between two messages of one topic. */
export const UI_FLUSH_MS = 100;

/** Least time between two overview snapshots (they cost a few queries). */
export const UI_OVERVIEW_MS = 1_000;

/** A topic a dashboard socket subscribes to. */
export type UiTopic = "jobs" | "agents" | "overview" | `job:${number}`;

/** A piece of a job's output, as the log tail shows it. */
export interface UiLogChunk {
  /** Byte offset of `data` in the job's whole output. */
  offset: number;
  stream: "stdout" | "stderr";
  data: string;
}

/** A page of a job's output. */
export interface UiLogPage {
  chunks: UiLogChunk[];
  /** Offset of the first byte returned (0 when the log starts here). */
  from: number;
  /** Offset just past the last byte returned. */
  to: number;
}

/** One minute of the overview chart. */
export interface UiMinute {
  /** Start of the minute, ms since the epoch. */
  t: number;
  succeeded: number;
  failed: number;
  /** Most jobs waiting in the queue during the minute. */
  queued: number;
}

/** The numbers the overview shows. */
export interface UiOverview {
  counts: Record<string, number>;
  agents: { online: number; busy: number; total: number; slots: number; slots_used: number };
  recent_failures: JobView[];
  /** The last 60 minutes, oldest first. */
  minutes: UiMinute[];
}

/** A message from the server on `/ws/ui`. */
export type UiMessage =
  /** Jobs that changed since the last message, newest first. `overflow`: more changed than fit. */
  | { type: "jobs"; jobs: JobView[]; overflow: boolean }
  /** Every known agent. */
  | { type: "agents"; agents: AgentView[] }
  | { type: "overview"; overview: UiOverview }
  /** The subscribed job changed (with its attempts). */
  | { type: "job"; job: JobView }
  /** New output of the subscribed job. `gap`: some was dropped; refetch from `from`. */
  | { type: "log"; job_id: number; chunks: UiLogChunk[]; gap: boolean };

/** Parses the `topics` query parameter; unknown topics are ignored. */
export function parseTopics(text: string | null | undefined): UiTopic[] {
  const out: UiTopic[] = [];
  for (const t of (text ?? "").split(",")) {
    if (t === "jobs" || t === "agents" || t === "overview") out.push(t);
    const m = t.match(/^job:(\d{1,15})$/);
    if (m) out.push(`job:${Number(m[1])}`);
  }
  return out;
}
