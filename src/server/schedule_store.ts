/**
 * The SQL of cron schedules (tables `schedules` and `schedule_fires`). It shares the job
 * store's connection and group commit: every write here runs inside {@linkcode JobStore.write}
 * so that a fire, its job and the schedule's cursor commit together or not at all.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { Statements } from "./sql.ts";
import type { ScheduleSpec } from "../protocol/schedule.ts";
import type { JobStore } from "./store.ts";

/** A row of `schedules`. Instants are milliseconds since the epoch. */
export interface ScheduleRow {
  id: number;
  name: string;
  spec: string;
  paused: number;
  owner: string | null;
  created_at: number;
  updated_at: number;
  /** The newest fire time handled (started or skipped); fire times up to it never run again. */
  last_fire_time: number | null;
}

/** A row of `schedule_fires`, with its job's state. */
export interface FireRow {
  schedule_id: number;
  fire_time: number;
  outcome: "started" | "skipped";
  job_id: number | null;
  reason: string | null;
  created_at: number;
  job_state: string | null;
}

/** Thrown inside a write when a fire time was recorded before: the write is undone. */
export class DuplicateFireError extends Error {
  constructor(scheduleId: number, fireTime: number) {
    super(`Schedule ${scheduleId} already fired for ${new Date(fireTime).toISOString()}`);
    this.name = "DuplicateFireError";
  }
}

/** Schedules and fires in SQLite. */
export class ScheduleStore {
  readonly #db: DatabaseSync;
  readonly #sql: Statements;
  /** The job store whose group transaction every write here joins. */
  readonly jobs: JobStore;

  constructor(db: DatabaseSync, jobs: JobStore) {
    this.#db = db;
    this.#sql = new Statements(db);
    this.jobs = jobs;
  }

  /** Inserts a schedule and returns its id; throws on a duplicate name. */
  insert(spec: ScheduleSpec, owner: string | null, now: number): number {
    const r = this.#sql.prepare(
      `INSERT INTO schedules (name, spec, paused, owner, created_at, updated_at, last_fire_time)
        VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(spec.name, JSON.stringify(spec), spec.paused ? 1 : 0, owner, now, now, now);
    return Number(r.lastInsertRowid);
  }

  /** Replaces a schedule's spec; fire times up to `cursor` are treated as handled. */
  update(id: number, spec: ScheduleSpec, now: number, cursor: number): void {
    this.#sql.prepare(
      `UPDATE schedules SET name = ?, spec = ?, paused = ?, updated_at = ?,
        last_fire_time = MAX(COALESCE(last_fire_time, 0), ?) WHERE id = ?`,
    ).run(spec.name, JSON.stringify(spec), spec.paused ? 1 : 0, now, cursor, id);
  }

  /** Deletes a schedule and its fire records (its jobs stay). */
  delete(id: number): void {
    this.#sql.prepare("DELETE FROM schedules WHERE id = ?").run(id);
  }

  /** The schedule with `id`. */
  get(id: number): ScheduleRow | undefined {
    return this.#sql.prepare("SELECT * FROM schedules WHERE id = ?").get(id) as
      | ScheduleRow
      | undefined;
  }

  /** The schedule named `name`. */
  byName(name: string): ScheduleRow | undefined {
    return this.#sql.prepare("SELECT * FROM schedules WHERE name = ?").get(name) as
      | ScheduleRow
      | undefined;
  }

  /** Every schedule, by name. */
  list(): ScheduleRow[] {
    return this.#sql.all<ScheduleRow>("SELECT * FROM schedules ORDER BY name");
  }

  /** Advances the cursor: fire times up to `fireTime` are handled. */
  advance(id: number, fireTime: number): void {
    this.#sql.prepare(
      "UPDATE schedules SET last_fire_time = MAX(COALESCE(last_fire_time, 0), ?) WHERE id = ?",
    ).run(fireTime, id);
  }

  /**
   * Records a fire; throws {@linkcode DuplicateFireError} when `(schedule, fire_time)` was
   * recorded before, so the caller's whole write (the job included) is rolled back.
   */
  recordFire(fire: Omit<FireRow, "job_state">): void {
    const r = this.#sql.prepare(
      `INSERT INTO schedule_fires (schedule_id, fire_time, outcome, job_id, reason, created_at)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (schedule_id, fire_time) DO NOTHING`,
    ).run(
      fire.schedule_id,
      fire.fire_time,
      fire.outcome,
      fire.job_id,
      fire.reason,
      fire.created_at,
    );
    if (Number(r.changes) === 0) throw new DuplicateFireError(fire.schedule_id, fire.fire_time);
  }

  /** Whether `(schedule, fire_time)` has been recorded. */
  hasFire(id: number, fireTime: number): boolean {
    return this.#sql.prepare("SELECT 1 FROM schedule_fires WHERE schedule_id = ? AND fire_time = ?")
      .get(id, fireTime) !== undefined;
  }

  /** The newest fires of a schedule with their jobs' states. */
  fires(id: number, limit: number): FireRow[] {
    return this.#sql.all<FireRow>(
      `SELECT f.*, j.state AS job_state FROM schedule_fires f LEFT JOIN jobs j ON j.id = f.job_id
        WHERE f.schedule_id = ? ORDER BY f.fire_time DESC LIMIT ?`,
      id,
      limit,
    );
  }

  /** Ids of the schedule's jobs that have not finished, oldest first. */
  unfinishedJobs(id: number): number[] {
    return this.#sql.all<{ job_id: number }>(
      `SELECT f.job_id FROM schedule_fires f JOIN jobs j ON j.id = f.job_id
        WHERE f.schedule_id = ? AND j.state NOT IN ('succeeded', 'failed', 'timed_out', 'cancelled')
        ORDER BY f.fire_time`,
      id,
    ).map((r) => r.job_id);
  }
}
