/**
 * The agent <-> server protocol over a WebSocket at `/ws/agent`: JSON text frames, a
 * discriminated union on `type` split by direction and validated on receipt on both ends (by the
 * server with the zod schemas below, by the agent with the zod-free reader of `agent_frames.ts`,
 * which returns the types these schemas define), and binary frames for job output (a small header, then the output's raw bytes), so output is never
 * JSON-escaped, re-parsed or validated byte by byte.
 *
 * ```
 * agent                                   server
 *   | hello {agent_id, slots, inventory}  ->  |
 *   | <-  welcome {heartbeat_ms, reconcile}   |   (or incompatible {reason}, then close)
 *   | <-  assign {attempt_id, spec, ...}      |
 *   | started {attempt_id, pid}           ->  |   (held back a moment: see `finished.pid`)
 *   | log [binary: header + bytes]        ->  |   (ordered by seq per attempt)
 *   | <-  log_ack {attempt_id, seq}           |   (output up to seq is durable)
 *   | finished {attempt_id, exit_code, ...} ->|
 *   | <-  ack {attempt_id} / reject           |   (result stored / attempt is stale: kill it)
 *   | heartbeat {running}                 ->  |   (every heartbeat_ms)
 *   | <-  cancel {attempt_id, reason}         |
 * ```
 *
 * Every frame about a job carries its attempt id, the fencing token: the server accepts it only
 * while that attempt is the job's current one.
 * @module
 */

import { z } from "zod";
import { parseWith } from "./errors.ts";
import { JobSpec } from "./job.ts";
import { ATTEMPT_ID_MAX, type LogFrame, parseJsonFrame, parseLogFrame } from "./agent_frames.ts";

export * from "./agent_frames.ts";

const AttemptId = z.string().min(1).max(ATTEMPT_ID_MAX);

/** A runtime an agent can run, with the version it found. */
export const RuntimeInfo = z.strictObject({
  name: z.string().min(1).max(64),
  version: z.string().max(200),
});
/** A runtime an agent can run, with the version it found. */
export type RuntimeInfo = z.infer<typeof RuntimeInfo>;

/** How an attempt ended, as the agent saw it. */
export const AttemptResult = z.strictObject({
  exit_code: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
  duration_ms: z.number().nonnegative(),
  /**
   * Why the agent ended it: `timeout`, `cancelled`, `stale` (server said kill), `drain`,
   * `output_limit` (the job passed its output cap with `on_output_limit: "fail"`).
   */
  killed_by: z.enum(["timeout", "cancelled", "stale", "drain", "output_limit"]).nullable()
    .default(null),
  /** The process could not be started (runtime missing, cwd missing, ...). */
  error: z.string().max(4096).nullable().default(null),
  /** Bytes of output dropped past the job's cap. */
  truncated_bytes: z.number().int().nonnegative().default(0),
});
/** How an attempt ended, as the agent saw it. */
export type AttemptResult = z.infer<typeof AttemptResult>;

/** One attempt an agent holds, sent on (re)connect so the server can reconcile. */
export const InventoryItem = z.strictObject({
  attempt_id: AttemptId,
  job_id: z.number().int().positive(),
  pid: z.number().int().nullable(),
  /** Number of log chunks produced so far. */
  log_seq: z.number().int().nonnegative(),
  /** Present when the attempt ended but the server has not yet acknowledged its result. */
  result: AttemptResult.nullable(),
});
/** One attempt an agent holds. */
export type InventoryItem = z.infer<typeof InventoryItem>;

/** Host facts an agent reports with its heartbeats. */
export const HostFacts = z.strictObject({
  load1: z.number().optional(),
  cpus: z.number().int().optional(),
  mem_total: z.number().optional(),
  mem_available: z.number().optional(),
  rss: z.number().optional(),
  /** Bytes free (for unprivileged users) on the file system of the agent's work directory. */
  disk_free: z.number().optional(),
});
/** Host facts an agent reports with its heartbeats. */
export type HostFacts = z.infer<typeof HostFacts>;

/** Text frames an agent sends (output goes in binary frames, see {@linkcode LogFrame}). */
export const AgentTextMessage = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("hello"),
    protocol: z.number().int(),
    agent_id: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, "expected an agent id"),
    name: z.string().min(1).max(200),
    token: z.string().max(1000).optional(),
    labels: z.record(z.string().max(63), z.string().max(200)).default({}),
    runtimes: z.array(RuntimeInfo).max(100).default([]),
    slots: z.number().int().min(1).max(10_000),
    version: z.string().max(100),
    hostname: z.string().max(255).optional(),
    inventory: z.array(InventoryItem).max(10_000).default([]),
  }),
  z.strictObject({
    type: z.literal("heartbeat"),
    running: z.array(AttemptId).max(10_000),
    facts: HostFacts.optional(),
  }),
  z.strictObject({ type: z.literal("started"), attempt_id: AttemptId, pid: z.number().int() }),
  z.strictObject({
    type: z.literal("finished"),
    attempt_id: AttemptId,
    log_seq: z.number().int().nonnegative(),
    result: AttemptResult,
    /**
     * The process's pid when the agent sent no `started` for it: a job that ends within
     * moments of its start reports both in this one frame.
     */
    pid: z.number().int().optional(),
  }),
  /** The agent stops (or resumes) taking new work, e.g. on SIGTERM. */
  z.strictObject({ type: z.literal("draining"), enabled: z.boolean() }),
  /** The agent will not run an assignment (no free slot, draining). */
  z.strictObject({
    type: z.literal("refuse"),
    attempt_id: AttemptId,
    reason: z.string().max(1000),
  }),
]);
/** Frames an agent sends. */
export type AgentMessage = z.infer<typeof AgentTextMessage> | LogFrame;

/** What the agent must do with an attempt from its inventory after reconnecting. */
export const Reconcile = z.strictObject({
  attempt_id: AttemptId,
  /** keep: carry on, resend output from `log_seq`; kill: stale, stop it; ack: result stored. */
  action: z.enum(["keep", "kill", "ack"]),
  log_seq: z.number().int().nonnegative(),
});
/** What the agent must do with an attempt from its inventory. */
export type Reconcile = z.infer<typeof Reconcile>;

/** Everything an agent needs to run one attempt. */
export const Assignment = z.strictObject({
  type: z.literal("assign"),
  job_id: z.number().int().positive(),
  attempt_id: AttemptId,
  attempt: z.number().int().positive(),
  spec: JobSpec,
  timeout_ms: z.number().int().positive().nullable(),
  kill_grace_ms: z.number().int().nonnegative(),
  max_output_bytes: z.number().int().nonnegative(),
  /**
   * Values of the spec's secret references (`env: {DB_PASS: {secret: "db"}}`) by environment
   * name, resolved by the server at assignment; the agent masks them in the job's output.
   */
  secrets: z.record(z.string().max(200), z.string().max(64 * 1024)).optional(),
});
/** Everything an agent needs to run one attempt. */
export type Assignment = z.infer<typeof Assignment>;

/** Frames the server sends. */
export const ServerMessage = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("welcome"),
    session: z.string(),
    agent_id: z.string(),
    heartbeat_ms: z.number().int().positive(),
    server_version: z.string(),
    reconcile: z.array(Reconcile),
  }),
  z.strictObject({ type: z.literal("incompatible"), reason: z.string() }),
  Assignment,
  z.strictObject({
    type: z.literal("cancel"),
    attempt_id: AttemptId,
    reason: z.enum(["cancelled", "timeout", "stale", "drain"]),
  }),
  z.strictObject({
    type: z.literal("log_ack"),
    attempt_id: AttemptId,
    log_seq: z.number().int().nonnegative(),
  }),
  z.strictObject({ type: z.literal("ack"), attempt_id: AttemptId }),
  /** The server saw `started` (sent at once, so the agent's next frame is not held by Nagle). */
  z.strictObject({ type: z.literal("started_ack"), attempt_id: AttemptId }),
  /** The server refuses a frame about an attempt that is not current: the agent must kill it. */
  z.strictObject({ type: z.literal("reject"), attempt_id: AttemptId, reason: z.string() }),
  z.strictObject({ type: z.literal("drain"), enabled: z.boolean() }),
  z.strictObject({ type: z.literal("error"), code: z.string(), message: z.string() }),
]);
/** Frames the server sends. */
export type ServerMessage = z.infer<typeof ServerMessage>;

/** Parses a frame (already size-checked) from an agent: JSON text, or binary output. */
export function parseAgentMessage(frame: string | Uint8Array): AgentMessage {
  if (typeof frame !== "string") return parseLogFrame(frame);
  const value = parseJsonFrame(frame);
  return finishedFrame(value) ?? parseWith(AgentTextMessage, value);
}

const KILLED_BY = new Set(AttemptResult.shape.killed_by.unwrap().unwrap().options);

/**
 * The frame every job ends with, checked by hand: `value` if it is a `finished` frame exactly as
 * agents send it (every field present), else `null` and the schema decides (and explains). It
 * accepts nothing the schema would refuse; zod's generic walk cost more than the rest of the
 * frame's handling.
 */
function finishedFrame(value: unknown): AgentMessage | null {
  const m = value as Record<string, unknown>;
  if (typeof m !== "object" || m === null || m.type !== "finished") return null;
  let keys = 0;
  for (const _ in m) keys++;
  const id = m.attempt_id, r = m.result as Record<string, unknown>, pid = m.pid;
  if (
    keys !== (pid === undefined ? 4 : 5) || !isAttemptId(id) || !isCount(m.log_seq) ||
    (pid !== undefined && !Number.isSafeInteger(pid)) || typeof r !== "object" || r === null
  ) {
    return null;
  }
  let resultKeys = 0;
  for (const _ in r) resultKeys++;
  const { exit_code, signal, duration_ms, killed_by, error, truncated_bytes } = r;
  const ok = resultKeys === 6 &&
    (exit_code === null || Number.isSafeInteger(exit_code)) &&
    (signal === null || (typeof signal === "string" && signal.length <= 32)) &&
    typeof duration_ms === "number" && Number.isFinite(duration_ms) && duration_ms >= 0 &&
    (killed_by === null || KILLED_BY.has(killed_by as never)) &&
    (error === null || (typeof error === "string" && error.length <= 4096)) &&
    isCount(truncated_bytes);
  return ok ? m as AgentMessage : null;
}

function isAttemptId(v: unknown): v is string {
  return typeof v === "string" && v.length >= 1 && v.length <= ATTEMPT_ID_MAX;
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
