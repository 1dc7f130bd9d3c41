/**
 * All of jobdist's SQL. One `node:sqlite` connection in WAL mode is the only writer; writes
 * join an open `BEGIN IMMEDIATE` transaction that commits once per event-loop turn (group
 * commit), so a burst of submissions and results costs one fsync, not one each. Callers that
 * acknowledge something to the outside world `await store.durable()` first. A job or agent
 * mutator joins the open group by itself; {@linkcode Store.write} is for several writes that
 * must stand or fall together (it costs a savepoint).
 * @module
 */

import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { Statements } from "./sql.ts";
import type { JobSpec, JobState } from "../protocol/job.ts";
import { clearImmediate, setImmediate } from "node:timers";
import { MIGRATIONS } from "./migrations.ts";
import { getLogger } from "../log.ts";
import { logDirOf, LogFiles } from "./log_files.ts";

/** A row of `jobs`. Instants are milliseconds since the epoch. */
export interface JobRow {
  id: number;
  state: JobState;
  name: string | null;
  queue: string;
  priority: number;
  spec: string;
  owner: string | null;
  created_at: number;
  run_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  exit_code: number | null;
  signal: string | null;
  reason: string | null;
  attempt_count: number;
  lost_count: number;
  current_attempt: string | null;
  agent_id: string | null;
  output_bytes: number;
  idempotency_key: string | null;
  /** The batch this job is a task of. */
  parent_id: number | null;
  /** The task's `JOBDIST_INDEX` within its batch. */
  batch_index: number | null;
}

/** States an attempt ends in (`lost`: its agent vanished). */
export type AttemptState =
  | "assigned"
  | "running"
  | "succeeded"
  | "failed"
  | "timed_out"
  | "cancelled"
  | "lost";

/** A row of `attempts`. */
export interface AttemptRow {
  id: string;
  job_id: number;
  n: number;
  agent_id: string | null;
  state: AttemptState;
  assigned_at: number;
  started_at: number | null;
  finished_at: number | null;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  pid: number | null;
}

/** A row of `agents`. */
export interface AgentRow {
  id: string;
  name: string;
  hostname: string | null;
  version: string | null;
  labels: string;
  runtimes: string;
  slots: number;
  status: string;
  connected_at: number | null;
  last_seen: number | null;
  facts: string | null;
  draining: number;
}

/** Where a stored piece of a job's output starts and where it came from. */
export interface LogPiece {
  /** Byte offset in the job's whole output (both streams, every attempt). */
  offset: number;
  attempt_id: string;
  seq: number;
  stream: "stdout" | "stderr";
}

/** A stored piece of a job's output, as text. */
export interface LogChunk extends LogPiece {
  data: string;
}

/** A stored piece of a job's output, as its bytes (UTF-8). */
export interface LogBytes extends LogPiece {
  bytes: Uint8Array;
}

/** What a new job row needs. */
export interface NewJob {
  spec: JobSpec;
  state: "waiting" | "scheduled" | "queued" | "cancelled";
  run_at: number | null;
  created_at: number;
  owner: string | null;
  reason?: string;
  parent_id?: number;
  batch_index?: number;
}

/** Filter of {@linkcode Store.listJobs}. */
export interface JobFilter {
  state?: JobState[];
  queue?: string;
  /** Only jobs of this owner (a user sees only their own). */
  owner?: string;
  /** Only the tasks of this batch. */
  parentId?: number;
  beforeId?: number;
  limit: number;
}

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /** `FULL` (default) fsyncs every commit; `NORMAL` is for benchmarks that compare. */
  synchronous?: "FULL" | "NORMAL";
}

/**
 * What the scheduler needs from storage. {@linkcode Store} fills it with SQLite; a PostgreSQL
 * store can fill it later (claims with `FOR UPDATE SKIP LOCKED`, the same group-commit contract:
 * writes are visible at once and become durable together).
 */
export interface JobStore {
  /**
   * Runs `fn`'s writes in the open group transaction; on throw, only its own are undone. A
   * single mutator needs no `write`: it joins the group itself, and one statement is atomic.
   */
  write<T>(fn: () => T): T;
  /**
   * Runs `fn` once in the open group (opening one) right before it commits: for writes kept
   * in memory in case a later one in the same group makes them unnecessary. If `fn` throws,
   * its own writes are undone (and the error logged); the rest of the group commits.
   */
  beforeCommit(fn: () => void): void;
  /** Resolves once every write made so far is durable. */
  durable(): Promise<void>;
  /** Commits the open group now. */
  flush(): void;
  /** Group commits so far; an open group will be number `commits + 1`. */
  readonly commits: number;
  /** Commits known to be durable (the first `durableCommits`); later ones may not be yet. */
  readonly durableCommits: number;
  close(): void;
  integrityCheck(): string;
  insertJob(job: NewJob): number;
  /** Inserts a job and returns its row as stored. */
  insertJobRow(job: NewJob): JobRow;
  getJob(id: number): JobRow | undefined;
  jobByIdempotencyKey(key: string): JobRow | undefined;
  listJobs(filter: JobFilter): JobRow[];
  countByState(): Record<string, number>;
  jobsInState(state: JobState): JobRow[];
  scheduledAfter(runAt: number, id: number, limit: number): Array<{ id: number; run_at: number }>;
  setJobState(id: number, state: JobState, fields?: JobStateFields): void;
  addLost(id: number): void;
  clearIdempotencyKey(id: number): void;
  addDeps(jobId: number, depIds: number[]): void;
  depsOf(jobId: number): Array<{ id: number; state: JobState }>;
  dependentsOf(depId: number): number[];
  tasksOf(parentId: number): JobRow[];
  taskStates(parentId: number): Array<{ batch_index: number; state: JobState; failures: number }>;
  queueLimits(): Array<{ name: string; concurrency: number | null }>;
  setQueueLimit(name: string, concurrency: number | null): void;
  queueDepths(): Array<{ queue: string; queued: number; active: number }>;
  assign(jobId: number, attemptId: string, n: number, agentId: string, now: number): void;
  markStarted(jobId: number, attemptId: string, pid: number, now: number): void;
  finishAttempt(
    attemptId: string,
    state: AttemptState,
    outcome: AttemptOutcome,
    now: number,
    started?: AttemptStart,
  ): void;
  attemptsOf(jobId: number): AttemptRow[];
  getAttempt(id: string): AttemptRow | undefined;
  activeAttempts(): AttemptRow[];
  /** Appends `bytes` (UTF-8 text) at `piece.offset` of the job's output; durable with the group. */
  appendLog(jobId: number, piece: LogPiece, bytes: Uint8Array): void;
  readLog(jobId: number, fromOffset?: number): LogChunk[];
  readLogBytes(jobId: number, fromOffset?: number): LogBytes[];
  nextLogSeq(jobId: number, attemptId: string): number;
  upsertAgent(a: Omit<AgentRow, "facts" | "draining">): void;
  setAgentStatus(id: string, status: string, lastSeen: number | null): void;
  setAgentFacts(id: string, facts: string, lastSeen: number): void;
  setAgentDraining(id: string, draining: boolean): void;
  listAgents(): AgentRow[];
}

/** Fields {@linkcode JobStore.setJobState} may set with the state. */
export interface JobStateFields {
  reason?: string | null;
  run_at?: number | null;
  finished_at?: number | null;
  exit_code?: number | null;
  signal?: string | null;
  started_at?: number | null;
}

/** When and as which process an attempt started, when recorded with its end. */
export interface AttemptStart {
  at: number;
  pid: number;
}

/** How an attempt ended, as stored. */
export interface AttemptOutcome {
  exit_code: number | null;
  signal: string | null;
  error: string | null;
}

/**
 * Opens (creating and migrating as needed) the database at `path` (`":memory:"` for tests).
 * Job output lives in `<path>.logs/`; for `:memory:` in a temporary directory removed on close.
 */
export function openStore(path: string, options: StoreOptions = {}): Store {
  const file = path === ":memory:" || path === "" ? null : path;
  return new Store(new DatabaseSync(path), {
    ...options,
    walPath: file && `${file}-wal`,
    logDir: logDirOf(file),
  });
}

/** Options the store is built with ({@linkcode openStore} derives them from the path). */
export interface StoreFiles {
  /** The WAL to fsync (`null`: an in-memory database, nothing to sync). */
  walPath?: string | null;
  /** Where job output files live (`null`: a temporary directory). */
  logDir?: string | null;
}

const utf8 = new TextEncoder();
// ignoreBOM: a byte order mark in the output is output, kept as `outputText` (logs.ts) keeps it.
const fromUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Least time from one group commit to the next: a group opened sooner waits for it. (An idle
 * server commits at once.)
 */
const COMMIT_SPACING_MS = 2;

/** The SQLite store. Build it with {@linkcode openStore}. */
export class Store implements JobStore {
  readonly #db: DatabaseSync;
  readonly #sql: Statements;
  #inTx = false;
  #beforeCommit: Array<() => void> = [];
  #waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  /** Cancels the commit scheduled for the open group. */
  #cancelFlush: (() => void) | undefined;
  /** When the last group commit was made (`performance.now()`). */
  #lastCommitAt = -Infinity;
  #closed = false;
  /**
   * With `synchronous: "FULL"` SQLite runs at NORMAL and the store fsyncs the WAL itself, but
   * only for commits someone waits on (`durable()`): an acknowledgement costs an fsync, a
   * bookkeeping write (a lease, a start) does not. A later fsync covers every earlier commit,
   * since the WAL is written in order. The fsync runs off the event loop: commits, dispatch
   * and frames already sent go on while the disk works.
   */
  readonly #syncOnDemand: boolean;
  readonly #walPath: string | null;
  #wal: Deno.FsFile | null = null;
  /** Job output; synced with the WAL, so output is durable with the rows that index it. */
  readonly #logs: LogFiles;
  /** Callers waiting for an fsync that covers commit `upTo`. */
  #syncWaiters: Array<{ upTo: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  #syncing = false;
  /** Commits so far; the open transaction, if any, will be number `commits + 1`. */
  commits = 0;
  /** Commits known to be durable (with FULL: covered by an fsync). */
  durableCommits = 0;
  /** fsyncs of the WAL so far. */
  syncs = 0;

  constructor(db: DatabaseSync, options: StoreOptions & StoreFiles) {
    this.#db = db;
    this.#sql = new Statements(db);
    db.exec("PRAGMA journal_mode = WAL");
    this.#walPath = options.walPath ?? null;
    this.#syncOnDemand = (options.synchronous ?? "FULL") === "FULL" && this.#walPath !== null;
    db.exec(
      `PRAGMA synchronous = ${this.#syncOnDemand ? "NORMAL" : options.synchronous ?? "FULL"}`,
    );
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA busy_timeout = 5000");
    this.#logs = new LogFiles(options.logDir ?? null, { durable: this.#syncOnDemand });
    this.#migrate();
    this.#moveChunksToFiles();
    this.#trimToFiles();
  }

  #migrate(): void {
    const { user_version: version } = this.#db.prepare("PRAGMA user_version").get() as {
      user_version: number;
    };
    if (version > MIGRATIONS.length) {
      throw new Error(
        `Cannot open database: its schema version ${version} is newer than this jobdist (${MIGRATIONS.length})`,
      );
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        this.#db.exec(MIGRATIONS[v]);
        this.#db.exec(`PRAGMA user_version = ${v + 1}`);
        this.#db.exec("COMMIT");
      } catch (e) {
        this.#db.exec("ROLLBACK");
        throw e;
      }
    }
  }

  // --- transactions -----------------------------------------------------------------------

  /** Opens the group transaction if none is open; it commits after this turn's I/O. */
  #join(): void {
    if (this.#inTx) return;
    if (this.#closed) throw new Error("Cannot write: the store is closed");
    this.#sql.run("BEGIN IMMEDIATE");
    this.#inTx = true;
    // setImmediate runs after this turn's I/O callbacks: everything that arrived together
    // commits together. (setTimeout(0) would add a millisecond or two of latency.) Under load
    // commits are spaced: each writes whole pages of the tables and indexes it touched to the
    // WAL, so a few jobs a commit cost more CPU than many.
    const wait = this.#lastCommitAt + COMMIT_SPACING_MS - performance.now();
    if (wait > 0) {
      // Timers take whole milliseconds (a fraction is cut off, which would commit early).
      const timer = setTimeout(() => this.flush(), Math.ceil(wait));
      this.#cancelFlush = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.flush());
      this.#cancelFlush = () => clearImmediate(immediate);
    }
  }

  /** Runs one write statement in the group (a statement is atomic: no savepoint needed). */
  #run(sql: string, ...params: SQLInputValue[]) {
    this.#join();
    return this.#sql.run(sql, ...params);
  }

  /**
   * Runs `fn` inside the open group transaction (opening one if needed). If `fn` throws, its
   * own writes are rolled back and the rest of the group is kept.
   */
  write<T>(fn: () => T): T {
    this.#join();
    this.#sql.run("SAVEPOINT w");
    try {
      const out = fn();
      this.#sql.run("RELEASE w");
      return out;
    } catch (e) {
      this.#sql.run("ROLLBACK TO w");
      this.#sql.run("RELEASE w");
      throw e;
    }
  }

  /** Runs `fn` in the open group (opening one) just before it commits. */
  beforeCommit(fn: () => void): void {
    this.#join();
    this.#beforeCommit.push(fn);
  }

  /** Resolves once every write made so far is committed (and, with FULL, fsynced). */
  durable(): Promise<void> {
    if (this.#inTx) {
      return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
    }
    return this.#synced(this.commits);
  }

  /** Resolves once commit number `upTo` is durable. */
  #synced(upTo: number): Promise<void> {
    if (this.durableCommits >= upTo) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#syncWaiters.push({ upTo, resolve, reject });
      if (!this.#syncing) this.#syncLoop();
    });
  }

  /** fsyncs the WAL (on a worker thread) until every waiter is covered. */
  async #syncLoop(): Promise<void> {
    this.#syncing = true;
    while (this.#syncWaiters.length && !this.#closed) {
      // Every commit made so far is in the WAL file: one fsync that starts now covers them.
      const upTo = this.commits;
      let error: unknown = null;
      try {
        this.#wal ??= Deno.openSync(this.#walPath!, { read: true });
        // The output files written so far go with it: an acknowledged piece of output is on
        // disk, and so is the row that says where it is.
        await Promise.all([this.#wal.syncData(), this.#logs.sync()]);
        this.syncs++;
        this.durableCommits = Math.max(this.durableCommits, upTo);
      } catch (e) {
        error = e;
      }
      const waiting = this.#syncWaiters;
      this.#syncWaiters = [];
      for (const w of waiting) {
        if (w.upTo > upTo) this.#syncWaiters.push(w);
        else if (error) w.reject(error);
        else w.resolve();
      }
    }
    this.#syncing = false;
  }

  /** Commits the open group transaction now. */
  flush(): void {
    this.#cancelFlush?.();
    this.#cancelFlush = undefined;
    if (!this.#inTx) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (let i = 0; i < this.#beforeCommit.length; i++) {
      try {
        this.write(this.#beforeCommit[i]);
      } catch (e) {
        // Its own writes are undone; the rest of the group still commits.
        getLogger().error("a write deferred to the commit failed", { error: e });
      }
    }
    this.#beforeCommit = [];
    this.#inTx = false;
    try {
      this.#lastCommitAt = performance.now();
      this.#sql.run("COMMIT");
      this.commits++;
      if (!this.#syncOnDemand) this.durableCommits = this.commits;
    } catch (e) {
      // A failed commit leaves memory ahead of disk; nothing acknowledged may be trusted.
      for (const w of waiters) w.reject(e);
      throw e;
    }
    if (!waiters.length) return;
    this.#synced(this.commits).then(
      () => waiters.forEach((w) => w.resolve()),
      (e) => waiters.forEach((w) => w.reject(e)),
    );
  }

  /** Commits and closes the database. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#logs.close();
    if (this.durableCommits < this.commits) {
      this.#wal ??= Deno.openSync(this.#walPath!, { read: true });
      this.#wal.syncDataSync();
      this.syncs++;
      this.durableCommits = this.commits;
    }
    for (const w of this.#syncWaiters.splice(0)) w.resolve();
    this.#wal?.close();
    this.#closed = true;
    this.#db.close();
  }

  /**
   * The connection itself, for modules that keep their own tables and SQL on it (operations:
   * agent health, retention, backups). Their writes still go through {@linkcode Store.write}.
   */
  get db(): DatabaseSync {
    return this.#db;
  }

  /** Output files fsynced so far (each with the WAL fsync of the commit that indexed it). */
  get logSyncs(): number {
    return this.#logs.syncs;
  }

  /** Where job output files live (`null`: an in-memory store that has written none yet). */
  get logDir(): string | null {
    return this.#logs.dir;
  }

  /** Runs `PRAGMA integrity_check`; `"ok"` when the file is sound. */
  integrityCheck(): string {
    const row = this.#db.prepare("PRAGMA integrity_check").get() as Record<string, string>;
    return Object.values(row)[0];
  }

  // --- jobs -------------------------------------------------------------------------------

  /** Inserts a job and returns its id. */
  insertJob(job: NewJob): number {
    return this.insertJobRow(job).id;
  }

  /** Inserts a job and returns its row as stored, without reading it back. */
  insertJobRow(job: NewJob): JobRow {
    const { spec } = job;
    const text = JSON.stringify(spec);
    const finishedAt = job.state === "cancelled" ? job.created_at : null;
    const r = this.#run(
      `INSERT INTO jobs (state, name, queue, priority, spec, owner, created_at, run_at,
         idempotency_key, reason, parent_id, batch_index, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      job.state,
      spec.name ?? null,
      spec.queue,
      spec.priority,
      text,
      job.owner,
      job.created_at,
      job.run_at,
      spec.idempotency_key ?? null,
      job.reason ?? null,
      job.parent_id ?? null,
      job.batch_index ?? null,
      finishedAt,
    );
    // The row as SELECT returns it (columns in table order; the rest are the defaults).
    // `INSERT ... RETURNING *` would cost more than the insert itself.
    return {
      __proto__: null,
      id: Number(r.lastInsertRowid),
      state: job.state,
      name: spec.name ?? null,
      queue: spec.queue,
      priority: spec.priority,
      spec: text,
      owner: job.owner,
      created_at: job.created_at,
      run_at: job.run_at,
      started_at: null,
      finished_at: finishedAt,
      exit_code: null,
      signal: null,
      reason: job.reason ?? null,
      attempt_count: 0,
      lost_count: 0,
      current_attempt: null,
      agent_id: null,
      output_bytes: 0,
      idempotency_key: spec.idempotency_key ?? null,
      parent_id: job.parent_id ?? null,
      batch_index: job.batch_index ?? null,
    } as JobRow;
  }

  /** The job with `id`, if any. */
  getJob(id: number): JobRow | undefined {
    return this.#sql.get<JobRow>("SELECT * FROM jobs WHERE id = ?", id);
  }

  /** The job submitted with `key`, if any. */
  jobByIdempotencyKey(key: string): JobRow | undefined {
    return this.#sql.get<JobRow>("SELECT * FROM jobs WHERE idempotency_key = ?", key);
  }

  /** Jobs newest first, filtered. */
  listJobs(filter: JobFilter): JobRow[] {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.state?.length) {
      where.push(`state IN (${filter.state.map(() => "?").join(",")})`);
      params.push(...filter.state);
    }
    if (filter.queue) {
      where.push("queue = ?");
      params.push(filter.queue);
    }
    if (filter.parentId !== undefined) {
      where.push("parent_id = ?");
      params.push(filter.parentId);
    }
    if (filter.owner !== undefined) {
      where.push("owner = ?");
      params.push(filter.owner);
    }
    if (filter.beforeId !== undefined) {
      where.push("id < ?");
      params.push(filter.beforeId);
    }
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY id DESC LIMIT ?`;
    return this.#sql.all<JobRow>(sql, ...params, filter.limit);
  }

  /** Number of jobs in each state. */
  countByState(): Record<string, number> {
    const rows = this.#sql.all<{ state: string; n: number }>(
      "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state",
    );
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** Ids, queue, priority and spec of every job in `state`, oldest first. */
  jobsInState(state: JobState): JobRow[] {
    return this.#sql.all<JobRow>("SELECT * FROM jobs WHERE state = ? ORDER BY id", state);
  }

  /**
   * At most `limit` scheduled jobs due after (`runAt`, `id`), in due order: the next window of
   * delayed jobs, read from the `jobs_scheduled_by_run_at` index alone.
   */
  scheduledAfter(runAt: number, id: number, limit: number): Array<{ id: number; run_at: number }> {
    return this.#sql.all(
      // Without INDEXED BY the planner takes jobs_by_state and sorts every scheduled row.
      `SELECT id, run_at FROM jobs INDEXED BY jobs_scheduled_by_run_at
        WHERE state = 'scheduled' AND (run_at, id) > (?, ?) ORDER BY run_at, id LIMIT ?`,
      runAt,
      id,
      limit,
    );
  }

  /** Moves a job to `state`, recording why. */
  setJobState(
    id: number,
    state: JobState,
    fields: JobStateFields = {},
  ): void {
    this.#run(
      `UPDATE jobs SET state = ?,
        reason = ?,
        run_at = COALESCE(?, run_at),
        finished_at = ?,
        exit_code = COALESCE(?, exit_code),
        signal = COALESCE(?, signal),
        started_at = COALESCE(?, started_at),
        current_attempt = CASE WHEN ? IN ('queued', 'scheduled') THEN NULL ELSE current_attempt END
      WHERE id = ?`,
      state,
      fields.reason ?? null,
      fields.run_at ?? null,
      fields.finished_at ?? null,
      fields.exit_code ?? null,
      fields.signal ?? null,
      fields.started_at ?? null,
      state,
      id,
    );
  }

  /** Counts one more attempt lost with its agent. */
  addLost(id: number): void {
    this.#run("UPDATE jobs SET lost_count = lost_count + 1 WHERE id = ?", id);
  }

  /** Frees job `id`'s idempotency key (its window passed) for a new submission. */
  clearIdempotencyKey(id: number): void {
    this.#run("UPDATE jobs SET idempotency_key = NULL WHERE id = ?", id);
  }

  // --- dependencies, batches, queues ------------------------------------------------------

  /** Records that job `jobId` runs after each of `depIds`. */
  addDeps(jobId: number, depIds: number[]): void {
    this.write(() => {
      for (const dep of depIds) {
        this.#sql.run("INSERT OR IGNORE INTO job_deps (dep_id, job_id) VALUES (?, ?)", dep, jobId);
      }
    });
  }

  /** The jobs `jobId` runs after, with their states. */
  depsOf(jobId: number): Array<{ id: number; state: JobState }> {
    return this.#sql.all(
      `SELECT j.id, j.state FROM job_deps d JOIN jobs j ON j.id = d.dep_id
        WHERE d.job_id = ? ORDER BY j.id`,
      jobId,
    );
  }

  /** The jobs that run after `depId`. */
  dependentsOf(depId: number): number[] {
    return this.#sql.all<{ job_id: number }>(
      "SELECT job_id FROM job_deps WHERE dep_id = ? ORDER BY job_id",
      depId,
    ).map((r) => r.job_id);
  }

  /** The tasks of batch `parentId`, by index. */
  tasksOf(parentId: number): JobRow[] {
    return this.#sql.all<JobRow>(
      "SELECT * FROM jobs WHERE parent_id = ? ORDER BY batch_index",
      parentId,
    );
  }

  /** Each task's state and failed attempts (attempts not lost), for batch bookkeeping. */
  taskStates(parentId: number): Array<{ batch_index: number; state: JobState; failures: number }> {
    return this.#sql.all(
      `SELECT batch_index, state,
         attempt_count - lost_count - (CASE WHEN state IN ('assigned', 'running', 'succeeded')
           THEN 1 ELSE 0 END) AS failures
       FROM jobs WHERE parent_id = ? ORDER BY batch_index`,
      parentId,
    );
  }

  /** Queues with a concurrency limit. */
  queueLimits(): Array<{ name: string; concurrency: number | null }> {
    return this.#sql.all("SELECT name, concurrency FROM queues ORDER BY name");
  }

  /** Per queue with unfinished work: jobs queued and jobs holding an agent. */
  queueDepths(): Array<{ queue: string; queued: number; active: number }> {
    return this.#sql.all(
      `SELECT queue, SUM(state = 'queued') AS queued,
         SUM(state IN ('assigned', 'running') AND current_attempt IS NOT NULL) AS active
       FROM jobs WHERE state IN ('queued', 'assigned', 'running') GROUP BY queue`,
    );
  }

  /** Sets (or with `null` clears) a queue's concurrency limit. */
  setQueueLimit(name: string, concurrency: number | null): void {
    if (concurrency === null) this.#run("DELETE FROM queues WHERE name = ?", name);
    else {
      this.#run(
        `INSERT INTO queues (name, concurrency) VALUES (?, ?)
          ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency`,
        name,
        concurrency,
      );
    }
  }

  /** Leases job `jobId` to `agentId` as attempt `attemptId` (number `n`). */
  assign(jobId: number, attemptId: string, n: number, agentId: string, now: number): void {
    this.write(() => {
      this.#sql.run(
        `UPDATE jobs SET state = 'assigned', current_attempt = ?, agent_id = ?, attempt_count = ?,
          reason = NULL WHERE id = ?`,
        attemptId,
        agentId,
        n,
        jobId,
      );
      this.#sql.run(
        `INSERT INTO attempts (id, job_id, n, agent_id, state, assigned_at) VALUES (?, ?, ?, ?,
          'assigned', ?)`,
        attemptId,
        jobId,
        n,
        agentId,
        now,
      );
    });
  }

  /** Records that the agent started the process of the current attempt. */
  markStarted(jobId: number, attemptId: string, pid: number, now: number): void {
    this.write(() => {
      this.#sql.run(
        // Only an assigned job starts running: one cancelled (or timed out) while its agent
        // was starting the process stays ended.
        `UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, ?)
          WHERE id = ? AND current_attempt = ? AND state = 'assigned'`,
        now,
        jobId,
        attemptId,
      );
      this.#sql.run(
        "UPDATE attempts SET state = 'running', started_at = ?, pid = ? WHERE id = ?",
        now,
        pid,
        attemptId,
      );
    });
  }

  /**
   * Closes an attempt with its outcome; `started`, when given, records its start in the same
   * statement (a start not yet written when the end came).
   */
  finishAttempt(
    attemptId: string,
    state: AttemptState,
    outcome: AttemptOutcome,
    now: number,
    started?: AttemptStart,
  ): void {
    this.#run(
      `UPDATE attempts SET state = ?, exit_code = ?, signal = ?, error = ?, finished_at = ?,
        started_at = COALESCE(?, started_at), pid = COALESCE(?, pid) WHERE id = ?`,
      state,
      outcome.exit_code,
      outcome.signal,
      outcome.error,
      now,
      started?.at ?? null,
      started?.pid ?? null,
      attemptId,
    );
  }

  /** Attempts of a job in order. */
  attemptsOf(jobId: number): AttemptRow[] {
    return this.#sql.all<AttemptRow>("SELECT * FROM attempts WHERE job_id = ? ORDER BY n", jobId);
  }

  /** The attempt with `id`. */
  getAttempt(id: string): AttemptRow | undefined {
    return this.#sql.get<AttemptRow>("SELECT * FROM attempts WHERE id = ?", id);
  }

  /** Attempts still held by agents (`assigned` or `running`). */
  activeAttempts(): AttemptRow[] {
    return this.#sql.all<AttemptRow>(
      "SELECT * FROM attempts WHERE state IN ('assigned', 'running') ORDER BY job_id",
    );
  }

  // --- output -----------------------------------------------------------------------------
  // Bytes go to the job's file, `log_index` says which attempt and stream wrote each range.
  // The index is the truth: bytes in a file past its last indexed piece are not output.

  /**
   * Appends `bytes` (the piece's text as UTF-8) at byte `piece.offset` of the job's output and
   * sets its size to the end of them. The index row comes first: if it cannot be written,
   * the file is not touched.
   */
  appendLog(jobId: number, piece: LogPiece, bytes: Uint8Array): void {
    this.#run(
      `INSERT INTO log_index (job_id, offset, length, attempt_id, seq, stream)
        VALUES (?, ?, ?, ?, ?, ?)`,
      jobId,
      piece.offset,
      bytes.length,
      piece.attempt_id,
      piece.seq,
      piece.stream,
    );
    this.#run("UPDATE jobs SET output_bytes = ? WHERE id = ?", piece.offset + bytes.length, jobId);
    this.#logs.append(jobId, piece.offset, bytes);
  }

  /** Output of a job from byte `fromOffset` on (whole pieces that end after it), as text. */
  readLog(jobId: number, fromOffset = 0): LogChunk[] {
    return this.readLogBytes(jobId, fromOffset).map(({ bytes, ...piece }) => ({
      ...piece,
      data: fromUtf8.decode(bytes),
    }));
  }

  /** Output of a job from byte `fromOffset` on (whole pieces that end after it), as bytes. */
  readLogBytes(jobId: number, fromOffset = 0): LogBytes[] {
    const first = this.#sql.get<{ offset: number }>(
      "SELECT offset FROM log_index WHERE job_id = ? AND offset <= ? ORDER BY offset DESC LIMIT 1",
      jobId,
      fromOffset,
    );
    const rows = this.#sql.all<LogPiece & { length: number }>(
      `SELECT offset, length, attempt_id, seq, stream FROM log_index
        WHERE job_id = ? AND offset >= ? ORDER BY offset`,
      jobId,
      first?.offset ?? 0,
    );
    if (!rows.length) return [];
    const start = rows[0].offset;
    const last = rows[rows.length - 1];
    const data = this.#logs.read(jobId, start, last.offset + last.length);
    const out: LogBytes[] = [];
    for (const { length, ...piece } of rows) {
      const bytes = data.subarray(piece.offset - start, piece.offset - start + length);
      if (bytes.length < length) break; // a file cut short (see #trimToFiles)
      out.push({ ...piece, bytes });
    }
    return out;
  }

  /** Next log sequence number expected from an attempt (pieces stored so far). */
  nextLogSeq(jobId: number, attemptId: string): number {
    const row = this.#sql.get<{ n: number | null }>(
      "SELECT MAX(seq) + 1 AS n FROM log_index WHERE job_id = ? AND attempt_id = ?",
      jobId,
      attemptId,
    );
    return row?.n ?? 0;
  }

  /** Deletes a job's output: its index rows in the group, its file at once. */
  deleteLog(jobId: number): void {
    this.#run("DELETE FROM log_index WHERE job_id = ?", jobId);
    // Removed before the commit, in the same turn: a job that reuses the id (the newest id
    // can be reused once deleted) cannot have written to it yet. Should the commit not make
    // it to disk, the job comes back with its output cut to nothing.
    this.#logs.remove(jobId);
  }

  /**
   * Writes a consistent copy of the database to `path` (`VACUUM INTO`, after committing the
   * open group) with the output inside: each indexed piece as a `log_chunks` row, which the
   * store opening the copy moves back into files. Blocks the event loop while it writes.
   */
  backup(path: string): void {
    this.flush();
    this.#db.prepare("VACUUM INTO ?").run(path);
    const copy = new DatabaseSync(path);
    try {
      copy.exec("BEGIN");
      const insert = copy.prepare(
        `INSERT INTO log_chunks (job_id, offset, attempt_id, seq, stream, data)
          VALUES (?, ?, ?, ?, ?, ?)`,
      );
      const pieces = copy.prepare(
        "SELECT job_id, offset, length, attempt_id, seq, stream FROM log_index ORDER BY job_id, offset",
      ).iterate() as Iterable<LogPiece & { job_id: number; length: number }>;
      for (const p of pieces) {
        const bytes = this.#logs.read(p.job_id, p.offset, p.offset + p.length);
        insert.run(p.job_id, p.offset, p.attempt_id, p.seq, p.stream, bytes);
      }
      copy.exec("COMMIT");
    } finally {
      copy.close();
    }
  }

  /**
   * Moves output still in `log_chunks` (a database from before output files, or a restored
   * backup) into the files, then deletes those rows. Writing starts at each job's offset 0,
   * which cuts whatever an older file held there.
   */
  #moveChunksToFiles(): void {
    const jobs = this.#sql.all<{ job_id: number }>("SELECT DISTINCT job_id FROM log_chunks");
    if (!jobs.length) return;
    const rows = this.#db.prepare(
      "SELECT offset, data FROM log_chunks WHERE job_id = ? ORDER BY offset",
    );
    for (const { job_id } of jobs) {
      const chunks = rows.iterate(job_id) as Iterable<
        { offset: number; data: string | Uint8Array }
      >;
      for (const c of chunks) {
        this.#logs.append(
          job_id,
          c.offset,
          typeof c.data === "string" ? utf8.encode(c.data) : c.data,
        );
      }
    }
    this.#logs.syncSync(); // before the rows go: a crash in between moves them again
    this.#sql.run("DELETE FROM log_chunks");
  }

  /**
   * For each job an agent still runs, drops the index rows past the end of its file: a
   * piece whose commit reached the disk while its bytes did not (power lost before the
   * fsync). It was never acknowledged, so the agent sends it again.
   */
  #trimToFiles(): void {
    const jobs = this.#sql.all<{ job_id: number; end: number }>(
      `SELECT job_id, MAX(offset + length) AS end FROM log_index WHERE job_id IN
        (SELECT job_id FROM attempts WHERE state IN ('assigned', 'running')) GROUP BY job_id`,
    );
    for (const { job_id, end } of jobs) {
      const size = this.#logs.size(job_id);
      if (size >= end) continue;
      this.#sql.run("DELETE FROM log_index WHERE job_id = ? AND offset + length > ?", job_id, size);
      this.#sql.run(
        `UPDATE jobs SET output_bytes =
          (SELECT COALESCE(MAX(offset + length), 0) FROM log_index WHERE job_id = ?) WHERE id = ?`,
        job_id,
        job_id,
      );
    }
  }

  // --- agents -----------------------------------------------------------------------------

  /** Inserts or refreshes an agent on hello. */
  upsertAgent(a: Omit<AgentRow, "facts" | "draining">): void {
    this.#run(
      `INSERT INTO agents (id, name, hostname, version, labels, runtimes, slots, status,
         connected_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, hostname = excluded.hostname,
         version = excluded.version, labels = excluded.labels, runtimes = excluded.runtimes,
         slots = excluded.slots, status = excluded.status, connected_at = excluded.connected_at,
         last_seen = excluded.last_seen`,
      a.id,
      a.name,
      a.hostname,
      a.version,
      a.labels,
      a.runtimes,
      a.slots,
      a.status,
      a.connected_at,
      a.last_seen,
    );
  }

  /** Sets an agent's status (and when it was last seen). */
  setAgentStatus(id: string, status: string, lastSeen: number | null): void {
    this.#run(
      "UPDATE agents SET status = ?, last_seen = COALESCE(?, last_seen) WHERE id = ?",
      status,
      lastSeen,
      id,
    );
  }

  /** Records an agent's latest host facts. */
  setAgentFacts(id: string, facts: string, lastSeen: number): void {
    this.#run("UPDATE agents SET facts = ?, last_seen = ? WHERE id = ?", facts, lastSeen, id);
  }

  /** Sets whether an agent is draining (takes no new work). */
  setAgentDraining(id: string, draining: boolean): void {
    this.#run("UPDATE agents SET draining = ? WHERE id = ?", draining ? 1 : 0, id);
  }

  /** Every known agent. */
  listAgents(): AgentRow[] {
    return this.#sql.all<AgentRow>("SELECT * FROM agents ORDER BY name, id");
  }
}
