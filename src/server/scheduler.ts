/**
 * The scheduler owns every job's life after it is accepted: it queues, dispatches to free
 * agent slots, fences results by attempt id, retries with backoff, enforces timeouts, cancels,
 * and requeues the work of lost agents. SQLite is the truth; the maps here are an index of it,
 * rebuilt by {@linkcode Scheduler.recover} on start.
 * @module
 */

import {
  type AgentMessage,
  type AttemptResult,
  backoffMs,
  type BatchProgressView,
  DEFAULT_MAX_OUTPUT,
  formatDuration,
  isRetryableExit,
  isTerminal,
  type JobSpec,
  type JobState,
  LOG_CHUNK_BYTES,
  parseDuration,
  ProtocolError,
  type QueueView,
  type Reconcile,
  requiredRuntimes,
  type ServerMessage,
} from "../protocol/mod.ts";
import { getLogger } from "../log.ts";
import type { AgentRegistry, AgentState } from "./agent_registry.ts";
import type { EventBus } from "./events.ts";
import { type Gate, Gates, type Parked } from "./gates.ts";
import { type Needs, needsOf, type QueuedJob, QueueIndex, unmetNeed } from "./queue_index.ts";
import type { AttemptStart, AttemptState, JobRow, JobStore } from "./store.ts";
import { TimerQueue } from "./timers.ts";
import { DelayedJobs } from "./delayed.ts";
import { storedBytes } from "./logs.ts";

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
  /**
   * The job's row as the lease left it. While an attempt holds the job, only the scheduler
   * changes the row, and a job that ends meanwhile marks the attempt `ending` (see `#end`).
   */
  row: JobRow;
  /**
   * The start the agent reported and the store has not yet written: it is written before the
   * group commits, or, when the end arrives in the same group, with the end (one UPDATE less).
   */
  pendingStart: AttemptStart | null;
  /** Keys of the concurrency gates it holds a place in. */
  gates: string[];
}

/** A running batch: its tasks' outcomes so far. */
interface Batch {
  id: number;
  spec: JobSpec;
  queue: string;
  completions: number;
  parallelism: number;
  succeeded: Set<number>;
  /** Indexes of tasks that ended other than succeeded. */
  failed: Set<number>;
  /** Failed attempts of all tasks (against `backoff_limit`). */
  failures: number;
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
/** How long an idempotency key returns the job it first created. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3_600_000;

/** Most just-submitted jobs whose rows the scheduler keeps for their first assignment. */
const FRESH_JOBS = 10_000;
/** Spec fields that describe a batch as a whole, not one of its tasks. */
const BATCH_ONLY = [
  "completions",
  "parallelism",
  "backoff_limit",
  "success_policy",
  "after",
  "run_at",
  "delay",
  "deadline",
  // A task waiting for its turn (parallelism) is not late.
  "queue_timeout",
  "idempotency_key",
  // The batch reports its start and end; its tasks do not each call.
  "webhook",
] as const;
/** How long past timeout + grace the server waits for the agent's own report. */
const TIMEOUT_BACKSTOP_MS = 15_000;

/** The job scheduler and dispatcher. */
export class Scheduler {
  readonly store: JobStore;
  readonly events: EventBus;
  readonly agents: AgentRegistry;
  readonly timers: TimerQueue;
  readonly #index = new QueueIndex();
  readonly #gates = new Gates();
  readonly #queueLimits = new Map<string, number>();
  readonly #batches = new Map<number, Batch>();
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
  /** Attempts whose start is not written yet (see `ActiveAttempt.pendingStart`). */
  readonly #pendingStarts = new Set<ActiveAttempt>();
  /** `#writeStarts` is registered to run before the open group commits. */
  #startsDeferred = false;
  /**
   * Rows and specs of jobs just submitted and queued, taken by their first assignment (most jobs
   * are dispatched moments after they are accepted) so it need not read and parse them again;
   * at most {@linkcode FRESH_JOBS}, each gone when its job is assigned or ends.
   */
  readonly #fresh = new Map<number, { row: JobRow; spec: JobSpec }>();
  /** Jobs that a waiting job runs after: only their ends look for dependents to wake. */
  readonly #awaited = new Set<number>();

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
    for (const q of this.store.queueLimits()) {
      if (q.concurrency !== null) this.#queueLimits.set(q.name, q.concurrency);
    }
    for (const row of this.store.jobsInState("running")) {
      if (row.current_attempt === null && row.parent_id === null) this.#loadBatch(row);
    }
    for (const row of this.store.jobsInState("queued")) this.#enqueue(row, parseSpec(row));
    this.#delayed.reload();
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
        row: job,
        pendingStart: null,
        gates: this.#holdGates(job, spec),
      });
      this.#output.set(a.job_id, job.output_bytes);
      this.agents.adopt(a.agent_id!, a.id, spec.slots ?? 1);
      if (a.started_at !== null) this.#armAttemptTimeout(a.id, spec, a.started_at);
    }
    // Scheduled jobs arm theirs when they come due: a restart reads one window of them, not all.
    for (const state of ["waiting", "queued", "assigned", "running"] as const) {
      for (const row of this.store.jobsInState(state)) this.#armJobTimers(row, parseSpec(row));
    }
    // Waiting jobs are woken by their dependencies' ends, which commit with the wake; this
    // only catches up should that ever not have happened.
    for (const row of this.store.jobsInState("waiting")) {
      for (const d of this.store.depsOf(row.id)) if (!isTerminal(d.state)) this.#awaited.add(d.id);
      this.#checkDeps(row);
    }
    for (const batch of [...this.#batches.values()]) this.#judgeBatch(batch);
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
      specs.map((spec, i) => {
        if (spec.idempotency_key) {
          const old = this.store.jobByIdempotencyKey(spec.idempotency_key);
          if (old && now - old.created_at < IDEMPOTENCY_WINDOW_MS) {
            return { row: old, spec: parseSpec(old), fresh: false };
          }
          if (old) this.store.clearIdempotencyKey(old.id);
        }
        const runAt = spec.run_at
          ? Date.parse(spec.run_at)
          : spec.delay
          ? now + parseDuration(spec.delay)!
          : null;
        const deps = spec.after ? this.#depStates(spec.after, specs.length > 1 ? i : null) : [];
        const failedDep = deps.find((d) => isTerminal(d.state) && d.state !== "succeeded");
        const state = failedDep
          ? "cancelled"
          : deps.some((d) => d.state !== "succeeded")
          ? "waiting"
          : runAt !== null && runAt > now
          ? "scheduled"
          : "queued";
        const reason = failedDep ? dependencyFailed(failedDep) : undefined;
        const row = this.store.insertJobRow({
          spec,
          state,
          run_at: runAt,
          created_at: now,
          owner,
          reason,
        });
        if (state === "waiting") {
          this.store.addDeps(row.id, deps.map((d) => d.id));
          for (const d of deps) if (!isTerminal(d.state)) this.#awaited.add(d.id);
        }
        return { row, spec, fresh: true };
      })
    );
    options.inTransaction?.(accepted.map((a) => a.row));
    // Dispatch does not wait for the fsync: the lease joins the same commit, and a job that
    // runs but whose commit never happens was never acknowledged, so no promise is broken.
    // The caller's answer (the acknowledgement) waits for durability below.
    for (const { row, spec, fresh } of accepted) {
      if (!fresh) continue;
      if (row.state === "scheduled") this.#scheduleRun(row.id, row.run_at!);
      else if (row.state === "queued") {
        this.#remember(row, spec);
        this.#makeReady(row, spec);
      }
      if (!isTerminal(row.state)) this.#armJobTimers(row, spec);
      this.#emitJob(row.id, row.state, row.queue, null);
    }
    this.kick();
    await this.store.durable();
    // A batch started its tasks after its row was read.
    return accepted.map((a) =>
      a.fresh && a.spec.completions !== undefined ? this.store.getJob(a.row.id)! : a.row
    );
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
    this.#fresh.delete(row.id);
    this.#gates.delete(row.id);
    this.#delayed.delete(row.id);
    this.#clearJobTimers(row.id);
    this.store.write(() => this.store.setJobState(row.id, state, { reason, finished_at: now }));
    const att = row.current_attempt ? this.#active.get(row.current_attempt) : undefined;
    if (att) {
      att.ending = true;
      att.killReason = killReason;
      this.agents.send(att.agentId, { type: "cancel", attempt_id: att.id, reason: killReason });
    }
    this.#emitJob(row.id, state, row.queue, row.agent_id);
    this.#settled(row, state);
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
        const q = this.#takeFor(agent);
        if (!q) continue;
        this.#assign(q.id, agent);
        if (agent.used < agent.slots) next.push(agent);
      }
      ready = next;
    }
  }

  /** The best queued job `agent` can run whose gates have room; parks those whose do not. */
  #takeFor(agent: AgentState): QueuedJob | undefined {
    for (let e = this.#index.takeEntry(agent); e; e = this.#index.takeEntry(agent)) {
      const full = this.#gates.full(this.#gatesOf(e.job));
      if (!full) return e.job;
      this.#gates.park(full, e);
    }
    return undefined;
  }

  /** The gates a queued job must pass: its own, and its queue's limit if one is set. */
  #gatesOf(q: QueuedJob): Gate[] {
    const limit = this.#queueLimits.get(q.queue);
    const own = q.gates ?? [];
    return limit === undefined ? own : [...own, { key: `queue:${q.queue}`, limit }];
  }

  /** A job's own gates: its concurrency key's and its batch's. */
  #ownGates(row: JobRow, spec: JobSpec): Gate[] | undefined {
    const gates: Gate[] = [];
    if (spec.concurrency_key) {
      gates.push({ key: `key:${spec.concurrency_key}`, limit: spec.concurrency_limit ?? 1 });
    }
    const batch = row.parent_id === null ? undefined : this.#batches.get(row.parent_id);
    if (batch) gates.push({ key: `batch:${batch.id}`, limit: batch.parallelism });
    return gates.length ? gates : undefined;
  }

  /** Takes places in the gates of a job that holds an agent; returns their keys. */
  #holdGates(row: JobRow, spec: JobSpec): string[] {
    const keys = (this.#ownGates(row, spec) ?? []).map((g) => g.key);
    if (this.#queueLimits.has(row.queue)) keys.push(`queue:${row.queue}`);
    this.#gates.acquire(keys);
    return keys;
  }

  #enqueue(row: JobRow, spec: JobSpec): void {
    this.#index.add(
      { id: row.id, priority: row.priority, queue: row.queue, gates: this.#ownGates(row, spec) },
      needsOf(spec.requires, requiredRuntimes(spec), spec.slots ?? 1),
    );
  }

  /** Puts parked jobs back in the dispatch index. */
  #unpark(list: Parked[]): void {
    for (const p of list) this.#index.add(p.job, p.needs);
    if (list.length) this.kick();
  }

  /** A job whose time has come: a batch starts its tasks, any other job is queued. */
  #makeReady(row: JobRow, spec: JobSpec): void {
    if (spec.completions !== undefined && row.parent_id === null) this.#startBatch(row, spec);
    else this.#enqueue(row, spec);
  }

  /** Keeps a just-queued job's row and spec for its first assignment (see `#fresh`). */
  #remember(row: JobRow, spec: JobSpec): void {
    if (spec.completions !== undefined) return; // a batch's row changes as it starts
    // Full: the jobs kept are the older ones, which are dispatched first. (Evicting the oldest
    // instead would walk the deleted entries at the front of the Map on every insert.)
    if (this.#fresh.size >= FRESH_JOBS) return;
    // A copy: the caller answers with `row` as submitted, and the assignment changes its own.
    this.#fresh.set(row.id, { row: { ...row }, spec });
  }

  #assign(jobId: number, agent: AgentState): void {
    const fresh = this.#fresh.get(jobId);
    this.#fresh.delete(jobId);
    const row = fresh?.row ?? this.store.getJob(jobId)!;
    const spec = fresh?.spec ?? parseSpec(row);
    const n = row.attempt_count + 1;
    const attemptId = `${jobId}.${n}`;
    const now = this.#now();
    this.store.assign(jobId, attemptId, n, agent.id, now);
    // The attempt keeps the row as the lease left it (see ActiveAttempt.row).
    row.state = "assigned";
    row.current_attempt = attemptId;
    row.agent_id = agent.id;
    row.attempt_count = n;
    row.reason = null;
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
      row,
      pendingStart: null,
      gates: this.#holdGates(row, spec),
    });
    this.#output.set(jobId, row.output_bytes);
    this.agents.takeSlot(agent, attemptId, spec.slots ?? 1);
    if (spec.queue_timeout) this.timers.delete(`qt:${jobId}`); // armed only then
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
        return this.#onFinished(agent, msg.attempt_id, msg.result, msg.pid);
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
    // Answered at once: the agent's next frame (often `finished`) would otherwise wait for
    // this one's TCP ACK (Nagle plus delayed ACK: 40 ms; Deno's WebSocket has no NODELAY).
    this.agents.send(agent.id, { type: "started_ack", attempt_id: att.id });
    this.#started(att, pid);
  }

  /**
   * Records that the attempt's process runs (from `started`, or from `finished.pid`, in which
   * case `ended` is set and no timeout is armed).
   */
  #started(att: ActiveAttempt, pid: number, ended = false): void {
    att.state = "running";
    const now = this.#now();
    // Written at the commit, unless the end arrives first (often in the same read); an attempt
    // that `ended` is recorded with its end right away.
    att.pendingStart = { at: now, pid };
    if (!ended) {
      if (!this.#startsDeferred) this.store.beforeCommit(() => this.#writeStarts());
      this.#startsDeferred = true;
      this.#pendingStarts.add(att);
    }
    if (!att.ending) {
      if (!ended) this.#armAttemptTimeout(att.id, att.spec, now);
      this.#emitJob(att.jobId, "running", att.queue, att.agentId, att.spec);
    }
  }

  /** Writes the starts not yet written (called right before the group commits). */
  #writeStarts(): void {
    this.#startsDeferred = false;
    for (const att of this.#pendingStarts) this.#writeStart(att);
  }

  #writeStart(att: ActiveAttempt): void {
    this.#pendingStarts.delete(att);
    const start = att.pendingStart;
    if (!start) return;
    att.pendingStart = null;
    this.store.markStarted(att.jobId, att.id, start.pid, start.at);
  }

  #onLog(agent: AgentState, msg: Extract<AgentMessage, { type: "log" }>): void {
    const att = this.#fenced(agent, msg.attempt_id);
    if (!att || msg.seq < att.nextSeq) return; // a resend of output already stored
    att.nextSeq = msg.seq + 1;
    const offset = this.#output.get(att.jobId) ?? 0;
    // The agent enforces the cap; this guards the server against an agent that does not.
    if (offset > att.maxOutput + 4 * LOG_CHUNK_BYTES) return;
    const bytes = storedBytes(msg.data);
    const piece = { offset, attempt_id: att.id, seq: msg.seq, stream: msg.stream };
    this.store.write(() => this.store.appendLog(att.jobId, piece, bytes));
    this.#output.set(att.jobId, offset + bytes.length);
    this.events.emit({ type: "log", job_id: att.jobId, ...piece, bytes });
    this.#ackWhenDurable(agent.id, { type: "log_ack", attempt_id: att.id, log_seq: msg.seq + 1 });
  }

  #onRefuse(agent: AgentState, attemptId: string, reason: string): void {
    const att = this.#fenced(agent, attemptId);
    if (!att) return;
    this.#writeStart(att);
    this.#release(att, "lost", { exit_code: null, signal: null, error: `refused: ${reason}` });
    const row = this.store.getJob(att.jobId)!;
    if (!att.ending) this.#requeue(row, att.spec, null);
    this.kick();
  }

  #onFinished(agent: AgentState, attemptId: string, result: AttemptResult, pid?: number): void {
    const att = this.#fenced(agent, attemptId);
    if (!att) return;
    // A job that ended before its agent reported the start: both are recorded, in order.
    if (pid !== undefined && att.state === "assigned") this.#started(att, pid, true);
    this.#finish(att, result);
    this.#ackWhenDurable(agent.id, { type: "ack", attempt_id: attemptId });
  }

  /** Records how the attempt ended and decides the job's next state. */
  #finish(att: ActiveAttempt, result: AttemptResult): void {
    const row = att.row;
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
    if (cutShort) {
      outcome.error ??= `stopped by the agent (${result.killed_by}) before it ended`;
      this.#writeStart(att); // the job goes back to the queue, not to an end that records it
    }
    const started = this.#release(att, attemptState, outcome);
    // A job that ended while the attempt ran (cancel, deadline, its batch) marked it `ending`.
    if (att.ending) return this.kick();

    const now = this.#now();
    const fields = {
      exit_code: result.exit_code,
      signal: result.signal,
      finished_at: now,
      // The job's first start, if the start of this attempt was not written on its own.
      started_at: row.started_at ?? started?.at,
    };
    const batch = row.parent_id === null ? undefined : this.#batches.get(row.parent_id);
    if (batch && (attemptState === "failed" || attemptState === "timed_out")) {
      batch.failures++;
      if (batch.spec.backoff_limit !== undefined && batch.failures > batch.spec.backoff_limit) {
        // The task ends with the batch; its own retries would exceed the batch's budget.
        this.store.write(() =>
          this.store.setJobState(row.id, attemptState, {
            ...fields,
            reason: `${
              result.error ?? describeExit(result)
            }; the batch's backoff_limit (${batch.spec.backoff_limit}) is used up`,
          })
        );
        this.#clearJobTimers(row.id);
        this.#emitJob(row.id, attemptState, row.queue, att.agentId, spec);
        this.#settled(row, attemptState);
        return this.kick();
      }
    }
    if (attemptState === "succeeded") {
      this.store.setJobState(row.id, "succeeded", fields);
      this.#clearJobTimers(row.id);
      this.#emitJob(row.id, "succeeded", row.queue, att.agentId, spec);
      this.#settled(row, "succeeded");
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
        this.store.setJobState(row.id, "scheduled", {
          reason,
          run_at: now + wait,
          started_at: fields.started_at,
        });
        this.#scheduleRun(row.id, now + wait);
        this.#emitJob(row.id, "scheduled", row.queue, att.agentId);
      } else {
        const state: JobState = attemptState === "timed_out" ? "timed_out" : "failed";
        const reason = retryable && spec.max_attempts > 1
          ? `${why} (attempt ${failed} of ${spec.max_attempts})`
          : why;
        this.store.write(() => this.store.setJobState(row.id, state, { ...fields, reason }));
        this.#clearJobTimers(row.id);
        this.#emitJob(row.id, state, row.queue, att.agentId, spec);
        this.#settled(row, state);
      }
    }
    this.kick();
  }

  /**
   * Closes an attempt and frees its slot. Returns the attempt's start if it was still pending:
   * written here with the end, and for the caller to write on the job's row.
   */
  #release(
    att: ActiveAttempt,
    state: AttemptState,
    outcome: { exit_code: number | null; signal: string | null; error: string | null },
  ): AttemptStart | undefined {
    this.#active.delete(att.id);
    this.#output.delete(att.jobId);
    if (att.spec.timeout) this.timers.delete(`to:${att.id}`); // armed only then
    this.agents.releaseSlot(att.agentId, att.id);
    this.#unpark(this.#gates.release(att.gates));
    const now = this.#now();
    const started = att.pendingStart ?? undefined;
    att.pendingStart = null;
    this.#pendingStarts.delete(att);
    this.store.finishAttempt(att.id, state, outcome, now, started);
    return started;
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
        this.#settled(row, "failed");
        return;
      }
    }
    this.store.write(() => this.store.setJobState(row.id, "queued"));
    this.#enqueue(row, spec);
    this.#emitJob(row.id, "queued", row.queue, null);
  }

  // --- dependencies and batches ----------------------------------------------------------

  /** The states of the jobs a new job runs after; each must exist. */
  #depStates(ids: number[], specIndex: number | null): Array<{ id: number; state: JobState }> {
    const field = specIndex === null ? "after" : `jobs.${specIndex}.after`;
    return [...new Set(ids)].map((id, i) => {
      const dep = this.store.getJob(id);
      if (!dep) throw new ProtocolError(`${field}.${i}`, `no job ${id} to run after`);
      return { id, state: dep.state };
    });
  }

  /** Called once job `row` reached the final `state`: wakes or cancels what waits on it. */
  #settled(row: JobRow, state: JobState): void {
    if (this.#awaited.delete(row.id)) {
      for (const id of this.store.dependentsOf(row.id)) {
        const dependent = this.store.getJob(id);
        if (dependent?.state === "waiting") this.#checkDeps(dependent);
      }
    }
    if (row.parent_id !== null) this.#taskEnded(row, state);
    else if (this.#batches.has(row.id)) this.#endBatch(row.id, state);
  }

  /** Releases a waiting job whose dependencies all succeeded; cancels it if one did not. */
  #checkDeps(row: JobRow): void {
    const deps = this.store.depsOf(row.id);
    const failed = deps.find((d) => isTerminal(d.state) && d.state !== "succeeded");
    if (failed) return this.#end(row, "cancelled", dependencyFailed(failed), "cancelled");
    if (deps.some((d) => d.state !== "succeeded")) return;
    const spec = parseSpec(row);
    if (row.run_at !== null && row.run_at > this.#now()) {
      this.store.write(() => this.store.setJobState(row.id, "scheduled"));
      this.#scheduleRun(row.id, row.run_at);
      this.#emitJob(row.id, "scheduled", row.queue, null);
      return;
    }
    this.store.write(() => this.store.setJobState(row.id, "queued"));
    this.#emitJob(row.id, "queued", row.queue, null);
    this.#makeReady(row, spec);
    this.kick();
  }

  /** Creates a due batch's tasks, each a job of its own with `JOBDIST_INDEX`. */
  #startBatch(row: JobRow, spec: JobSpec): void {
    const now = this.#now();
    const n = spec.completions!;
    const task = taskSpec(spec, row.id);
    const tasks = this.store.write(() => {
      this.store.setJobState(row.id, "running", { started_at: now });
      return Array.from({ length: n }, (_, i) => {
        const spec = { ...task, env: { ...task.env, JOBDIST_INDEX: String(i) } };
        const job = this.store.insertJobRow({
          spec,
          state: "queued",
          run_at: null,
          created_at: now,
          owner: row.owner,
          parent_id: row.id,
          batch_index: i,
        });
        return { job, spec };
      });
    });
    this.#batches.set(row.id, this.#newBatch(row, spec));
    this.#emitJob(row.id, "running", row.queue, null);
    for (const t of tasks) {
      this.#enqueue(t.job, t.spec);
      this.#armJobTimers(t.job, t.spec);
      this.#emitJob(t.job.id, "queued", t.job.queue, null);
    }
    this.kick();
  }

  #newBatch(row: JobRow, spec: JobSpec): Batch {
    return {
      id: row.id,
      spec,
      queue: row.queue,
      completions: spec.completions!,
      parallelism: spec.parallelism ?? 1,
      succeeded: new Set(),
      failed: new Set(),
      failures: 0,
    };
  }

  /** Rebuilds a running batch's bookkeeping after a restart. */
  #loadBatch(row: JobRow): void {
    const spec = parseSpec(row);
    if (spec.completions === undefined) return;
    const batch = this.#newBatch(row, spec);
    for (const t of this.store.taskStates(row.id)) {
      batch.failures += t.failures;
      if (t.state === "succeeded") batch.succeeded.add(t.batch_index);
      else if (isTerminal(t.state)) batch.failed.add(t.batch_index);
    }
    this.#batches.set(row.id, batch);
  }

  #taskEnded(row: JobRow, state: JobState): void {
    const batch = this.#batches.get(row.parent_id!);
    if (!batch) return;
    if (state === "succeeded") batch.succeeded.add(row.batch_index!);
    else batch.failed.add(row.batch_index!);
    this.#judgeBatch(batch);
  }

  /** Ends the batch once its success policy is met or can no longer be. */
  #judgeBatch(batch: Batch): void {
    const verdict = batchVerdict(batch);
    if (!verdict) return;
    const row = this.store.getJob(batch.id);
    if (!row || isTerminal(row.state)) return;
    const now = this.#now();
    this.store.write(() =>
      this.store.setJobState(batch.id, verdict.state, {
        reason: verdict.reason,
        finished_at: now,
      })
    );
    this.#clearJobTimers(batch.id);
    this.#emitJob(batch.id, verdict.state, batch.queue, null);
    this.#settled(row, verdict.state);
  }

  /** A batch ended (judged, cancelled or timed out): its unfinished tasks are cancelled. */
  #endBatch(id: number, state: JobState): void {
    this.#batches.delete(id);
    const why = `the batch ${state.replace("_", " ")}`;
    for (const task of this.store.tasksOf(id)) {
      if (!isTerminal(task.state)) this.#end(task, "cancelled", why, "cancelled");
    }
  }

  /** Progress of batch `id` (its tasks' states), or `undefined` if it is not a batch. */
  batchProgress(row: JobRow, spec: JobSpec): BatchProgressView | undefined {
    if (spec.completions === undefined || row.parent_id !== null) return undefined;
    const tasks: Partial<Record<JobState, number>> = {};
    let failures = 0;
    for (const t of this.store.taskStates(row.id)) {
      tasks[t.state] = (tasks[t.state] ?? 0) + 1;
      failures += t.failures;
    }
    return {
      completions: spec.completions,
      parallelism: spec.parallelism ?? 1,
      tasks,
      failed_attempts: this.#batches.get(row.id)?.failures ?? failures,
    };
  }

  // --- queues -----------------------------------------------------------------------------

  /** Sets (or with `null` removes) the most jobs of `queue` that may hold an agent at once. */
  async setQueueLimit(queue: string, limit: number | null): Promise<void> {
    this.store.write(() => this.store.setQueueLimit(queue, limit));
    if (limit === null) this.#queueLimits.delete(queue);
    else this.#queueLimits.set(queue, limit);
    this.#unpark(this.#gates.unparkAll(`queue:${queue}`));
    await this.store.durable();
  }

  /** Queues with jobs or a limit: depth, jobs holding an agent, limit. */
  queues(): QueueView[] {
    const byName = new Map<string, QueueView>();
    for (const r of this.store.queueDepths()) {
      byName.set(r.queue, { name: r.queue, queued: r.queued, active: r.active, limit: null });
    }
    for (const [name, limit] of this.#queueLimits) {
      const q = byName.get(name) ?? { name, queued: 0, active: 0, limit: null };
      q.limit = limit;
      byName.set(name, q);
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
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
      this.agents.takeSlot(agent, att.id, att.spec.slots ?? 1);
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
    this.#writeStart(att);
    this.#release(att, "lost", { exit_code: null, signal: null, error: "agent lost" });
    const row = this.store.getJob(att.jobId)!;
    if (!att.ending && !isTerminal(row.state)) this.#requeue(row, att.spec, agentName);
  }

  // --- timers -----------------------------------------------------------------------------

  /** Delayed jobs: only a window of the earliest is held in `timers` (see delayed.ts). */
  #delayedJobs: DelayedJobs | undefined;

  get #delayed(): DelayedJobs {
    return this.#delayedJobs ??= new DelayedJobs({
      timers: this.timers,
      load: (after, limit) => this.store.scheduledAfter(after.run_at, after.id, limit),
      fire: (id) => this.#runScheduled(id),
    });
  }

  /** Job `id`, whose row is `scheduled` at `at`, runs then. */
  #scheduleRun(id: number, at: number): void {
    this.#delayed.add(id, at);
  }

  /**
   * A scheduled job came due. Its queue timeout and deadline are armed again: after a restart
   * that is the first time (recover() does not read every scheduled row).
   */
  #runScheduled(id: number): void {
    const row = this.store.getJob(id);
    if (!row || row.state !== "scheduled") return;
    const spec = parseSpec(row);
    this.store.write(() => this.store.setJobState(id, "queued"));
    this.#emitJob(id, "queued", row.queue, null);
    this.#makeReady(row, spec);
    this.#armJobTimers(row, spec);
    this.kick();
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
    if (row.state === "waiting") {
      const pending = this.store.depsOf(row.id).filter((d) => d.state !== "succeeded");
      return `waiting for job${pending.length > 1 ? "s" : ""} ${
        pending.map((d) => d.id).join(", ")
      } to succeed`;
    }
    if (row.state !== "queued") return null;
    const gate = this.#gates.parkedBehind(row.id);
    if (gate) return gateReason(gate);
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

  /** Announces a job's new state; `spec`, where at hand, spares listeners a lookup. */
  #emitJob(
    id: number,
    state: JobState,
    queue: string,
    agentId: string | null,
    spec?: JobSpec,
  ): void {
    const webhook = spec && spec.webhook !== undefined;
    this.events.emit({ type: "job", id, state, queue, agent_id: agentId, webhook });
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
      const committed = this.store.durableCommits;
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

/** The spec each task of a batch runs: the batch's, without what belongs to the batch. */
function taskSpec(spec: JobSpec, batchId: number): JobSpec {
  const task: JobSpec = { ...spec, env: { ...spec.env, JOBDIST_BATCH_ID: String(batchId) } };
  for (const field of BATCH_ONLY) delete task[field];
  return task;
}

/** Whether a batch is done: its success policy met, or no longer reachable. */
function batchVerdict(b: Batch): { state: "succeeded" | "failed"; reason: string } | null {
  const limit = b.spec.backoff_limit;
  if (limit !== undefined && b.failures > limit) {
    return {
      state: "failed",
      reason: `${b.failures} failed attempts passed the backoff_limit of ${limit}`,
    };
  }
  const policy = b.spec.success_policy;
  const needCount = policy?.succeeded_count ?? (policy?.succeeded_indexes ? 0 : b.completions);
  const needIndexes = policy?.succeeded_indexes ?? [];
  const lostIndex = needIndexes.find((i) => b.failed.has(i));
  if (lostIndex !== undefined) {
    return { state: "failed", reason: `task ${lostIndex} did not succeed` };
  }
  if (b.completions - b.failed.size < needCount) {
    return {
      state: "failed",
      reason: `${b.failed.size} of ${b.completions} tasks did not succeed (task ${
        Math.min(...b.failed)
      } first)`,
    };
  }
  if (b.succeeded.size >= needCount && needIndexes.every((i) => b.succeeded.has(i))) {
    return {
      state: "succeeded",
      reason: b.succeeded.size === b.completions
        ? `all ${b.completions} tasks succeeded`
        : `${b.succeeded.size} of ${b.completions} tasks succeeded (success_policy met)`,
    };
  }
  return null;
}

function dependencyFailed(dep: { id: number; state: JobState }): string {
  return `dependency job ${dep.id} ${dep.state.replace("_", " ")}`;
}

function gateReason(gate: Gate): string {
  const [kind, ...rest] = gate.key.split(":");
  const name = rest.join(":");
  if (kind === "queue") return `queue ${name} is at its concurrency limit (${gate.limit})`;
  if (kind === "batch") return `the batch runs at most ${gate.limit} tasks at once (parallelism)`;
  return `concurrency key ${name} allows ${gate.limit} at once`;
}
