/**
 * The scheduler owns every job's life after it is accepted: it queues, dispatches to free
 * agent slots, fences results by attempt id, retries with backoff, enforces timeouts, cancels,
 * and requeues the work of lost agents. SQLite is the truth; the maps here are an index of it,
 * rebuilt by {@linkcode Scheduler.recover} on start.
 * @module
 */

import { Buffer } from "node:buffer";
import {
  type AgentMessage,
  type AttemptResult,
  backoffMs,
  DEFAULT_MAX_OUTPUT,
  formatDuration,
  isRetryableExit,
  isTerminal,
  type JobSpec,
  type JobState,
  LOG_CHUNK_BYTES,
  parseDuration,
  type Reconcile,
  requiredRuntimes,
  type ServerMessage,
} from "../protocol/mod.ts";
import { getLogger } from "../log.ts";
import type { AgentRegistry, AgentState } from "./agent_registry.ts";
import type { EventBus } from "./events.ts";
import { type Needs, needsOf, QueueIndex, unmetNeed } from "./queue_index.ts";
import type { AttemptState, JobRow, JobStore } from "./store.ts";
import { TimerQueue } from "./timers.ts";

/** An attempt an agent holds right now. */
export interface ActiveAttempt {
  id: string;
  jobId: number;
  n: number;
  agentId: string;
  state: "assigned" | "running";
  /** Next log sequence number expected. */
  nextSeq: number;
  /** Set when the job ended (cancel, deadline) while the agent still runs the process. */
  ending: boolean;
  /** Why the process must be killed once `ending` (sent again after a reconnect). */
  killReason: "cancelled" | "timeout";
  maxOutput: number;
  /** The job's spec and queue, kept so hot paths need not re-read and re-parse the row. */
  spec: JobSpec;
  queue: string;
}

/** A request the caller got wrong (unknown job, wrong state). */
export class SchedulerError extends Error {
  constructor(readonly code: "not_found" | "conflict", message: string) {
    super(message);
    this.name = "SchedulerError";
  }
}

/** Options of {@linkcode Scheduler}. */
export interface SchedulerOptions {
  store: JobStore;
  events: EventBus;
  agents: AgentRegistry;
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
  /** Kill grace when a job sets none (default 10 s). */
  killGraceMs?: number;
  random?: () => number;
  /**
   * Resolves a spec's secret references (`env: {X: {secret: "name"}}`) when the job is assigned:
   * the values by environment name, sent only in the assign frame. Throws if one is missing,
   * and the attempt fails with that message instead of running without it.
   */
  resolveSecrets?: (spec: JobSpec) => Record<string, string>;
}

/** Options of {@linkcode Scheduler.submitMany}. */
export interface SubmitOptions {
  /**
   * Called with the rows right after they are written, before the commit: writes it makes
   * commit in the same transaction as the jobs (a schedule's fire record, for one).
   */
  inTransaction?: (rows: JobRow[]) => void;
}

const DEFAULT_KILL_GRACE_MS = 10_000;
/** How long past timeout + grace the server waits for the agent's own report. */
const TIMEOUT_BACKSTOP_MS = 15_000;

/** The job scheduler and dispatcher. */
export class Scheduler {
  readonly store: JobStore;
  readonly events: EventBus;
  readonly agents: AgentRegistry;
  readonly timers: TimerQueue;
  readonly #index = new QueueIndex();
  readonly #active = new Map<string, ActiveAttempt>();
  readonly #output = new Map<number, number>();
  readonly #now: () => number;
  readonly #killGraceMs: number;
  readonly #random: () => number;
  readonly #resolveSecrets: ((spec: JobSpec) => Record<string, string>) | undefined;
  #kickQueued = false;
  #reasons: Map<Needs, string> | null = null;
  #acks: Array<{ tx: number; agentId: string; msg: ServerMessage }> = [];
  /** Pending `log_ack` per attempt: only the newest is sent per commit. */
  readonly #logAcks = new Map<string, { tx: number; agentId: string; msg: ServerMessage }>();
  #acksArmed = false;

  constructor(options: SchedulerOptions) {
    this.store = options.store;
    this.events = options.events;
    this.agents = options.agents;
    this.#now = options.now ?? Date.now;
    this.#killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.#random = options.random ?? Math.random;
    this.#resolveSecrets = options.resolveSecrets;
    this.timers = new TimerQueue({ now: this.#now });
  }

  /** Number of jobs waiting in the dispatch index. */
  get queuedCount(): number {
    return this.#index.size;
  }

  /** The attempt with `id` if an agent holds it. */
  activeAttempt(id: string): ActiveAttempt | undefined {
    return this.#active.get(id);
  }

  /** Rebuilds the in-memory index from the store after a (re)start. */
  recover(): void {
    const now = this.#now();
    for (const row of this.store.jobsInState("queued")) this.#enqueue(row, parseSpec(row));
    for (const row of this.store.jobsInState("scheduled")) this.#scheduleRun(row.id, row.run_at!);
    for (const a of this.store.activeAttempts()) {
      const job = this.store.getJob(a.job_id);
      if (!job || job.current_attempt !== a.id) continue;
      const spec = parseSpec(job);
      this.#active.set(a.id, {
        id: a.id,
        jobId: a.job_id,
        n: a.n,
        agentId: a.agent_id!,
        state: a.state === "running" ? "running" : "assigned",
        nextSeq: this.store.nextLogSeq(a.job_id, a.id),
        ending: isTerminal(job.state),
        killReason: job.state === "cancelled" ? "cancelled" : "timeout",
        maxOutput: spec.max_output_bytes ?? DEFAULT_MAX_OUTPUT,
        spec,
        queue: job.queue,
      });
      this.#output.set(a.job_id, job.output_bytes);
      this.agents.adopt(a.agent_id!, a.id, now);
      if (a.started_at !== null) this.#armAttemptTimeout(a.id, spec, a.started_at);
    }
    for (const state of ["queued", "scheduled", "assigned", "running"] as const) {
      for (const row of this.store.jobsInState(state)) this.#armJobTimers(row, parseSpec(row));
    }
    this.kick();
  }

  /** Stops the timers. */
  stop(): void {
    this.timers.stop();
  }

  // --- submissions ------------------------------------------------------------------------

  /**
   * Accepts a job. Resolves once it is durable; returns the existing job when the spec's
   * idempotency key was used before.
   */
  async submit(spec: JobSpec, owner: string | null = null): Promise<JobRow> {
    const [row] = await this.submitMany([spec], owner);
    return row;
  }

  /** Accepts many jobs in one transaction; resolves once all are durable. */
  async submitMany(
    specs: JobSpec[],
    owner: string | null = null,
    options: SubmitOptions = {},
  ): Promise<JobRow[]> {
    const now = this.#now();
    const accepted: Array<{ row: JobRow; spec: JobSpec; fresh: boolean }> = this.store.write(() =>
      specs.map((spec) => {
        if (spec.idempotency_key) {
          const old = this.store.jobByIdempotencyKey(spec.idempotency_key);
          if (old) return { row: old, spec: parseSpec(old), fresh: false };
        }
        const runAt = spec.run_at
          ? Date.parse(spec.run_at)
          : spec.delay
          ? now + parseDuration(spec.delay)!
          : null;
        const state = runAt !== null && runAt > now ? "scheduled" : "queued";
        const id = this.store.insertJob({ spec, state, run_at: runAt, created_at: now, owner });
        return { row: this.store.getJob(id)!, spec, fresh: true };
      })
    );
    options.inTransaction?.(accepted.map((a) => a.row));
    // Dispatch does not wait for the fsync: the lease joins the same commit, and a job that
    // runs but whose commit never happens was never acknowledged, so no promise is broken.
    // The caller's answer (the acknowledgement) waits for durability below.
    for (const { row, spec, fresh } of accepted) {
      if (!fresh) continue;
      if (row.state === "scheduled") this.#scheduleRun(row.id, row.run_at!);
      else this.#enqueue(row, spec);
      this.#armJobTimers(row, spec);
      this.#emitJob(row.id, row.state, row.queue, null);
    }
    this.kick();
    await this.store.durable();
    return accepted.map((a) => a.row);
  }

  /** Cancels job `id`: dequeues it, or tells its agent to kill the process group. */
  async cancel(id: number, reason = "cancelled by user"): Promise<JobRow> {
    const row = this.store.getJob(id);
    if (!row) throw new SchedulerError("not_found", `Cannot cancel job ${id}: no such job`);
    if (isTerminal(row.state)) {
      throw new SchedulerError(
        "conflict",
        `Cannot cancel job ${id}: job already ${row.state.replace("_", " ")}`,
      );
    }
    this.#end(row, "cancelled", reason, "cancelled");
    await this.store.durable();
    return this.store.getJob(id)!;
  }

  /** Ends a non-terminal job now; an attempt still running is killed with `killReason`. */
  #end(
    row: JobRow,
    state: "cancelled" | "timed_out" | "failed",
    reason: string,
    killReason: "cancelled" | "timeout",
  ): void {
    const now = this.#now();
    this.#index.delete(row.id);
    this.timers.delete(`run:${row.id}`);
    this.#clearJobTimers(row.id);
    this.store.write(() => this.store.setJobState(row.id, state, { reason, finished_at: now }));
    const att = row.current_attempt ? this.#active.get(row.current_attempt) : undefined;
    if (att) {
      att.ending = true;
      att.killReason = killReason;
      this.agents.send(att.agentId, { type: "cancel", attempt_id: att.id, reason: killReason });
    }
    this.#emitJob(row.id, state, row.queue, row.agent_id);
  }

  // --- dispatch ---------------------------------------------------------------------------

  /** Asks for a dispatch pass soon (coalesced into one per microtask turn). */
  kick(): void {
    if (this.#kickQueued) return;
    this.#kickQueued = true;
    queueMicrotask(() => {
      this.#kickQueued = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    if (this.#index.size === 0) return;
    let ready = this.agents.ready();
    while (ready.length && this.#index.size) {
      const next: AgentState[] = [];
      for (const agent of ready) {
        const q = this.#index.take(agent);
        if (!q) continue;
        this.#assign(q.id, agent);
        if (agent.attempts.size < agent.slots) next.push(agent);
      }
      ready = next;
    }
  }

  #enqueue(row: JobRow, spec: JobSpec): void {
    this.#index.add(
      { id: row.id, priority: row.priority, queue: row.queue },
      needsOf(spec.requires, requiredRuntimes(spec)),
    );
  }

  #assign(jobId: number, agent: AgentState): void {
    const row = this.store.getJob(jobId)!;
    const spec = parseSpec(row);
    const n = row.attempt_count + 1;
    const attemptId = `${jobId}.${n}`;
    const now = this.#now();
    this.store.write(() => this.store.assign(jobId, attemptId, n, agent.id, now));
    const maxOutput = spec.max_output_bytes ?? DEFAULT_MAX_OUTPUT;
    this.#active.set(attemptId, {
      id: attemptId,
      jobId,
      n,
      agentId: agent.id,
      state: "assigned",
      nextSeq: 0,
      ending: false,
      killReason: "cancelled",
      maxOutput,
      spec,
      queue: row.queue,
    });
    this.#output.set(jobId, row.output_bytes);
    this.agents.takeSlot(agent, attemptId);
    this.timers.delete(`qt:${jobId}`);
    let secrets: Record<string, string> | undefined;
    try {
      secrets = this.#resolveSecrets?.(spec);
    } catch (e) {
      // Never run a job without its secrets: the attempt fails before it reaches the agent.
      return this.#finish(this.#active.get(attemptId)!, {
        exit_code: null,
        signal: null,
        duration_ms: 0,
        killed_by: null,
        error: `cannot start: ${e instanceof Error ? e.message : e}`,
        truncated_bytes: 0,
      });
    }
    // Sent before the lease commits: if the server dies first, the job is still queued on
    // disk and the agent's unknown attempt is killed when it reconnects.
    this.agents.send(agent.id, {
      type: "assign",
      job_id: jobId,
      attempt_id: attemptId,
      attempt: n,
      spec,
      timeout_ms: spec.timeout ? parseDuration(spec.timeout)! : null,
      kill_grace_ms: spec.kill_grace ? parseDuration(spec.kill_grace)! : this.#killGraceMs,
      // The cap is per job: a retry gets what earlier attempts left of it.
      max_output_bytes: Math.max(0, maxOutput - row.output_bytes),
      ...(secrets && Object.keys(secrets).length ? { secrets } : {}),
    });
    this.#emitJob(jobId, "assigned", row.queue, agent.id);
  }

  // --- frames from agents -----------------------------------------------------------------

  /** Handles a frame (other than hello) from a connected agent. */
  onAgentMessage(agent: AgentState, msg: Exclude<AgentMessage, { type: "hello" }>): void {
    switch (msg.type) {
      case "heartbeat":
        this.agents.heartbeat(agent, msg.facts);
        return;
      case "started":
        return this.#onStarted(agent, msg.attempt_id, msg.pid);
      case "log":
        return this.#onLog(agent, msg);
      case "finished":
        return this.#onFinished(agent, msg.attempt_id, msg.result);
      case "refuse":
        return this.#onRefuse(agent, msg.attempt_id, msg.reason);
      case "draining":
        this.agents.markDraining(agent, msg.enabled);
        if (!msg.enabled) this.kick();
        return;
    }
  }

  /** The active attempt `id` if it is leased to `agent`; otherwise tells the agent to kill it. */
  #fenced(agent: AgentState, id: string): ActiveAttempt | undefined {
    const att = this.#active.get(id);
    if (att && att.agentId === agent.id) return att;
    this.agents.send(agent.id, {
      type: "reject",
      attempt_id: id,
      reason: `attempt ${id} is not leased to this agent`,
    });
    return undefined;
  }

  #onStarted(agent: AgentState, attemptId: string, pid: number): void {
    const att = this.#fenced(agent, attemptId);
    if (!att || att.state === "running") return;
    att.state = "running";
    // Answered at once: the agent's next frame (often `finished`) would otherwise wait for
    // this one's TCP ACK (Nagle plus delayed ACK: 40 ms; Deno's WebSocket has no NODELAY).
    this.agents.send(agent.id, { type: "started_ack", attempt_id: att.id });
    const now = this.#now();
    this.store.write(() => this.store.markStarted(att.jobId, att.id, pid, now));
    if (!att.ending) {
      this.#armAttemptTimeout(att.id, att.spec, now);
      this.#emitJob(att.jobId, "running", att.queue, agent.id);
    }
  }

  #onLog(agent: AgentState, msg: Extract<AgentMessage, { type: "log" }>): void {
    const att = this.#fenced(agent, msg.attempt_id);
    if (!att || msg.seq < att.nextSeq) return; // a resend of output already stored
    att.nextSeq = msg.seq + 1;
    const offset = this.#output.get(att.jobId) ?? 0;
    // The agent enforces the cap; this guards the server against an agent that does not.
    if (offset > att.maxOutput + 4 * LOG_CHUNK_BYTES) return;
    const bytes = Buffer.byteLength(msg.data, "utf8");
    const chunk = { offset, attempt_id: att.id, seq: msg.seq, stream: msg.stream, data: msg.data };
    this.store.write(() => this.store.appendLog(att.jobId, chunk, bytes));
    this.#output.set(att.jobId, offset + bytes);
    this.events.emit({ type: "log", job_id: att.jobId, ...chunk });
    this.#ackWhenDurable(agent.id, { type: "log_ack", attempt_id: att.id, log_seq: msg.seq + 1 });
  }

  #onRefuse(agent: AgentState, attemptId: string, reason: string): void {
    const att = this.#fenced(agent, attemptId);
    if (!att) return;
    this.#release(att, "lost", { exit_code: null, signal: null, error: `refused: ${reason}` });
    const row = this.store.getJob(att.jobId)!;
    if (!att.ending) this.#requeue(row, att.spec, null);
    this.kick();
  }

  #onFinished(agent: AgentState, attemptId: string, result: AttemptResult): void {
    const att = this.#fenced(agent, attemptId);
    if (!att) return;
    this.#finish(att, result);
    this.#ackWhenDurable(agent.id, { type: "ack", attempt_id: attemptId });
  }

  /** Records how the attempt ended and decides the job's next state. */
  #finish(att: ActiveAttempt, result: AttemptResult): void {
    const row = this.store.getJob(att.jobId)!;
    const spec = att.spec;
    const outcome = { exit_code: result.exit_code, signal: result.signal, error: result.error };
    const cutShort = result.killed_by === "drain" || result.killed_by === "stale";
    const attemptState: AttemptState = result.killed_by === "timeout"
      ? "timed_out"
      : result.killed_by === "cancelled" || att.ending
      ? "cancelled"
      : cutShort
      ? "lost"
      : result.exit_code === 0 && !result.error
      ? "succeeded"
      : "failed";
    if (cutShort) outcome.error ??= `stopped by the agent (${result.killed_by}) before it ended`;
    this.#release(att, attemptState, outcome);
    if (att.ending || isTerminal(row.state)) return this.kick();

    const now = this.#now();
    const fields = { exit_code: result.exit_code, signal: result.signal, finished_at: now };
    if (attemptState === "succeeded") {
      this.store.write(() => this.store.setJobState(row.id, "succeeded", fields));
      this.#clearJobTimers(row.id);
      this.#emitJob(row.id, "succeeded", row.queue, att.agentId);
    } else if (cutShort) {
      this.#requeue(row, spec, null);
    } else {
      const why = result.error ?? describeExit(result);
      const failed = row.attempt_count - row.lost_count;
      // Too much output is the job's own doing and would recur: no retry.
      const retryable = result.killed_by !== "output_limit" &&
        (attemptState === "timed_out" || result.error !== null ||
          isRetryableExit(spec, result.exit_code));
      if (retryable && failed < spec.max_attempts) {
        const wait = backoffMs(spec, failed, this.#random);
        const reason = `retrying in ${
          formatDuration(wait)
        } after ${why} (attempt ${failed} of ${spec.max_attempts})`;
        this.store.write(() =>
          this.store.setJobState(row.id, "scheduled", { reason, run_at: now + wait })
        );
        this.#scheduleRun(row.id, now + wait);
        this.#emitJob(row.id, "scheduled", row.queue, att.agentId);
      } else {
        const state: JobState = attemptState === "timed_out" ? "timed_out" : "failed";
        const reason = retryable && spec.max_attempts > 1
          ? `${why} (attempt ${failed} of ${spec.max_attempts})`
          : why;
        this.store.write(() => this.store.setJobState(row.id, state, { ...fields, reason }));
        this.#clearJobTimers(row.id);
        this.#emitJob(row.id, state, row.queue, att.agentId);
      }
    }
    this.kick();
  }

  /** Closes an attempt and frees its slot. */
  #release(
    att: ActiveAttempt,
    state: AttemptState,
    outcome: { exit_code: number | null; signal: string | null; error: string | null },
  ): void {
    this.#active.delete(att.id);
    this.#output.delete(att.jobId);
    this.timers.delete(`to:${att.id}`);
    this.agents.releaseSlot(att.agentId, att.id);
    const now = this.#now();
    this.store.write(() => this.store.finishAttempt(att.id, state, outcome, now));
  }

  /** Puts a job whose attempt was lost (or refused) back in the queue, or fails it. */
  #requeue(row: JobRow, spec: JobSpec, lostWith: string | null): void {
    // An attempt that never got to finish does not use up max_attempts (attempts minus lost
    // ones are the failures); only an agent's loss counts against max_lost.
    this.store.write(() => this.store.addLost(row.id));
    if (lostWith !== null) {
      if (row.lost_count + 1 > spec.max_lost) {
        const reason = `lost with its agent ${lostWith} (${
          row.lost_count + 1
        } times; max_lost is ${spec.max_lost})`;
        const now = this.#now();
        this.store.write(() =>
          this.store.setJobState(row.id, "failed", { reason, finished_at: now })
        );
        this.#clearJobTimers(row.id);
        this.#emitJob(row.id, "failed", row.queue, null);
        return;
      }
    }
    this.store.write(() => this.store.setJobState(row.id, "queued"));
    this.#enqueue(row, spec);
    this.#emitJob(row.id, "queued", row.queue, null);
  }

  // --- agents coming and going ------------------------------------------------------------

  /**
   * Reconciles what a (re)connecting agent holds with what the server leased to it: the
   * current attempts are kept, stale ones killed, finished ones recorded and acknowledged;
   * leases the agent no longer holds are requeued.
   */
  reconcile(agent: AgentState, inventory: Extract<AgentMessage, { type: "hello" }>["inventory"]) {
    const out: Reconcile[] = [];
    const held = new Set<string>();
    for (const item of inventory) {
      held.add(item.attempt_id);
      const att = this.#active.get(item.attempt_id);
      if (!att || att.agentId !== agent.id) {
        out.push({ attempt_id: item.attempt_id, action: item.result ? "ack" : "kill", log_seq: 0 });
        continue;
      }
      this.agents.takeSlot(agent, att.id);
      // Even a finished attempt is kept: the agent resends the output the server lacks, then
      // its result, which is recorded as if it had never been cut off.
      out.push({ attempt_id: att.id, action: "keep", log_seq: att.nextSeq });
    }
    for (const att of [...this.#active.values()]) {
      if (att.agentId === agent.id && !held.has(att.id)) this.#lose(att, agent.name);
    }
    return out;
  }

  /** Repeats the kill of attempts whose job ended while their agent was away. */
  resendKills(agent: AgentState): void {
    for (const att of this.#active.values()) {
      if (att.agentId === agent.id && att.ending) {
        this.agents.send(agent.id, { type: "cancel", attempt_id: att.id, reason: att.killReason });
      }
    }
  }

  /** Requeues every attempt held by an agent that is now lost. */
  agentLost(agent: AgentState): void {
    for (const att of [...this.#active.values()]) {
      if (att.agentId === agent.id) this.#lose(att, agent.name);
    }
    this.kick();
  }

  #lose(att: ActiveAttempt, agentName: string): void {
    this.#release(att, "lost", { exit_code: null, signal: null, error: "agent lost" });
    const row = this.store.getJob(att.jobId)!;
    if (!att.ending && !isTerminal(row.state)) this.#requeue(row, att.spec, agentName);
  }

  // --- timers -----------------------------------------------------------------------------

  #scheduleRun(id: number, at: number): void {
    this.timers.set(`run:${id}`, at, () => {
      const row = this.store.getJob(id);
      if (!row || row.state !== "scheduled") return;
      this.store.write(() => this.store.setJobState(id, "queued"));
      this.#enqueue(row, parseSpec(row));
      this.#emitJob(id, "queued", row.queue, null);
      this.kick();
    });
  }

  #armJobTimers(row: JobRow, spec: JobSpec): void {
    if (spec.queue_timeout && row.attempt_count === 0) {
      const ms = parseDuration(spec.queue_timeout)!;
      this.timers.set(`qt:${row.id}`, row.created_at + ms, () => {
        const now = this.store.getJob(row.id);
        if (now && (now.state === "queued" || now.state === "scheduled")) {
          this.#end(
            now,
            "timed_out",
            `not started within ${spec.queue_timeout} (queue_timeout)`,
            "timeout",
          );
        }
      });
    }
    if (spec.deadline) {
      const ms = parseDuration(spec.deadline)!;
      this.timers.set(`dl:${row.id}`, row.created_at + ms, () => {
        const now = this.store.getJob(row.id);
        if (now && !isTerminal(now.state)) {
          this.#end(now, "timed_out", `deadline of ${spec.deadline} passed`, "timeout");
        }
      });
    }
  }

  #clearJobTimers(id: number): void {
    this.timers.delete(`qt:${id}`);
    this.timers.delete(`dl:${id}`);
  }

  /** The server's own enforcement of `timeout`, for an agent that never reports back. */
  #armAttemptTimeout(attemptId: string, spec: JobSpec, startedAt: number): void {
    if (!spec.timeout) return;
    const grace = spec.kill_grace ? parseDuration(spec.kill_grace)! : this.#killGraceMs;
    const at = startedAt + parseDuration(spec.timeout)! + grace + TIMEOUT_BACKSTOP_MS;
    this.timers.set(`to:${attemptId}`, at, () => {
      const att = this.#active.get(attemptId);
      if (!att) return;
      this.agents.send(att.agentId, { type: "cancel", attempt_id: att.id, reason: "timeout" });
      this.#finish(att, {
        exit_code: null,
        signal: null,
        duration_ms: this.#now() - startedAt,
        killed_by: "timeout",
        error: `the agent did not report the end of the attempt within ${spec.timeout} + grace`,
        truncated_bytes: 0,
      });
    });
  }

  // --- views and events -------------------------------------------------------------------

  /** Why job `row` is waiting, or `null` when it is not waiting. */
  waitReason(row: JobRow): string | null {
    if (row.state === "scheduled") {
      return row.reason ?? `scheduled to run at ${new Date(row.run_at!).toISOString()}`;
    }
    if (row.state !== "queued") return null;
    const needs = this.#index.needsOf(row.id);
    if (!needs) return null;
    // Listing many jobs asks this for each: within one turn, answer each group once.
    if (!this.#reasons) {
      this.#reasons = new Map();
      queueMicrotask(() => this.#reasons = null);
    }
    let reason = this.#reasons.get(needs);
    if (reason === undefined) {
      const offers = this.agents.connected();
      reason = unmetNeed(needs, offers) ??
        (offers.every((a) => a.draining || a.selfDraining)
          ? "every matching agent is draining"
          : "waiting for a free slot");
      this.#reasons.set(needs, reason);
    }
    return reason;
  }

  #emitJob(id: number, state: JobState, queue: string, agentId: string | null): void {
    this.events.emit({ type: "job", id, state, queue, agent_id: agentId });
  }

  /** Sends `msg` once everything written so far is durable. */
  #ackWhenDurable(agentId: string, msg: ServerMessage): void {
    const entry = { tx: this.store.commits + 1, agentId, msg };
    if (msg.type === "log_ack") {
      const pending = this.#logAcks.get(msg.attempt_id);
      if (pending) Object.assign(pending, entry);
      else this.#logAcks.set(msg.attempt_id, entry);
    } else {
      this.#acks.push(entry);
    }
    this.#armAcks();
  }

  #armAcks(): void {
    if (this.#acksArmed || (this.#acks.length === 0 && this.#logAcks.size === 0)) return;
    this.#acksArmed = true;
    this.store.durable().then(() => {
      this.#acksArmed = false;
      const committed = this.store.commits;
      for (const [id, a] of this.#logAcks) {
        if (a.tx > committed) continue;
        this.#logAcks.delete(id);
        this.agents.send(a.agentId, a.msg);
      }
      const due = this.#acks.filter((a) => a.tx <= committed);
      this.#acks = this.#acks.filter((a) => a.tx > committed);
      for (const a of due) this.agents.send(a.agentId, a.msg);
      this.#armAcks();
    }, (e) => getLogger().error("commit failed, acknowledgements withheld", { error: e }));
  }
}

/** The stored spec; it was validated when the job was accepted. */
function parseSpec(row: JobRow): JobSpec {
  return JSON.parse(row.spec);
}

function describeExit(r: AttemptResult): string {
  if (r.killed_by === "output_limit") {
    return `output passed its limit (on_output_limit is fail); killed by ${r.signal ?? "exit"}`;
  }
  if (r.signal) return `killed by ${r.signal}`;
  return `exit code ${r.exit_code}`;
}
