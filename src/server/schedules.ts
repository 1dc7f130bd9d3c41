/**
 * Cron schedules: each active schedule has one deadline in the scheduler's
 * {@linkcode TimerQueue} (`cron:<id>`) at its next fire time. When it fires, every fire time
 * since the schedule's cursor is due: the latest one is on time if it is at most
 * `misfireGraceMs` late, the others were missed (the server was down, or stalled) and the
 * misfire policy says which of them run. Each fire is recorded in `schedule_fires`, whose
 * UNIQUE (schedule_id, fire_time) together with the cursor, written in the same transaction as
 * the fire's job, means a fire time never runs twice, even across restarts.
 *
 * Fire times come from croner in the schedule's time zone and are instants (UTC ms), so
 * daylight saving needs no special case here; croner's rules (Vixie cron's) are:
 * - spring forward: a fixed-time job (single second, minute and hour, e.g. `30 2 * * *`)
 *   whose time falls in the gap runs once at the first valid time after it (03:00); an
 *   interval job (`*`, step, list or range in those fields) skips the missing times;
 * - fall back: a fixed-time job runs once, at the first occurrence; an interval job runs at
 *   both occurrences of the repeated hour (they are different instants).
 * @module
 */

import { Cron } from "croner";
import { getLogger } from "../log.ts";
import {
  type JobSpec,
  ProtocolError,
  type ScheduleSpec,
  type ScheduleView,
} from "../protocol/mod.ts";
import type { ScheduleRow, ScheduleStore } from "./schedule_store.ts";
import { type Scheduler, SchedulerError } from "./scheduler.ts";

/** Options of {@linkcode ScheduleManager}. */
export interface ScheduleManagerOptions {
  scheduler: Scheduler;
  store: ScheduleStore;
  /** Wall clock in ms (default `Date.now`); must be the scheduler's clock too. */
  now?: () => number;
  /** How late a fire may be handled and still count as on time (default 60 s). */
  misfireGraceMs?: number;
}

const DEFAULT_MISFIRE_GRACE_MS = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** Parses a schedule's cron expression in its time zone; throws a `ProtocolError` if bad. */
export function cronOf(spec: Pick<ScheduleSpec, "cron" | "timezone">): Cron {
  let cron: Cron;
  try {
    cron = new Cron(spec.cron, { timezone: spec.timezone, mode: "5-or-6-parts" });
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/^CronPattern: /, "");
    throw new ProtocolError("cron", why);
  }
  if (cron.nextRun() === null) {
    throw new ProtocolError("cron", `"${spec.cron}" never fires`);
  }
  return cron;
}

/** Creates, changes and fires cron schedules. */
export class ScheduleManager {
  readonly scheduler: Scheduler;
  readonly store: ScheduleStore;
  readonly #now: () => number;
  readonly #graceMs: number;
  readonly #crons = new Map<number, { spec: string; cron: Cron }>();

  constructor(options: ScheduleManagerOptions) {
    this.scheduler = options.scheduler;
    this.store = options.store;
    this.#now = options.now ?? Date.now;
    this.#graceMs = options.misfireGraceMs ?? DEFAULT_MISFIRE_GRACE_MS;
  }

  /** After a (re)start: handles fire times missed while down and arms every active schedule. */
  recover(): void {
    for (const row of this.store.list()) if (!row.paused) this.#tick(row.id);
  }

  /** The schedule with numeric id or name `ref`. */
  resolve(ref: string): ScheduleRow {
    const row = /^\d{1,15}$/.test(ref) ? this.store.get(Number(ref)) : this.store.byName(ref);
    if (!row) throw new SchedulerError("not_found", `No schedule ${ref}`);
    return row;
  }

  /** Creates a schedule; its first fire is the first fire time after now. */
  async create(spec: ScheduleSpec, owner: string | null): Promise<ScheduleRow> {
    cronOf(spec);
    if (this.store.byName(spec.name)) {
      throw new SchedulerError(
        "conflict",
        `Cannot create schedule ${spec.name}: a schedule with that name exists`,
      );
    }
    const id = this.store.jobs.write(() => this.store.insert(spec, owner, this.#now()));
    await this.store.jobs.durable();
    this.#arm(id);
    return this.store.get(id)!;
  }

  /**
   * Replaces a schedule's spec. Fire times up to now count as handled, so a new expression
   * never triggers a catch-up.
   */
  async update(ref: string, spec: ScheduleSpec): Promise<ScheduleRow> {
    const row = this.resolve(ref);
    cronOf(spec);
    const other = this.store.byName(spec.name);
    if (other && other.id !== row.id) {
      throw new SchedulerError(
        "conflict",
        `Cannot rename schedule ${row.name} to ${spec.name}: a schedule with that name exists`,
      );
    }
    const now = this.#now();
    this.store.jobs.write(() => this.store.update(row.id, spec, now, now));
    await this.store.jobs.durable();
    this.#arm(row.id);
    return this.store.get(row.id)!;
  }

  /** Pauses or resumes a schedule. Fire times while paused are skipped, not misfires. */
  setPaused(ref: string, paused: boolean): Promise<ScheduleRow> {
    const row = this.resolve(ref);
    return this.update(String(row.id), { ...parse(row), paused });
  }

  /** Deletes a schedule and its fire records; jobs it started are left alone. */
  async delete(ref: string): Promise<ScheduleView> {
    const row = this.resolve(ref);
    const view = this.view(row);
    this.scheduler.timers.delete(`cron:${row.id}`);
    this.#crons.delete(row.id);
    this.store.jobs.write(() => this.store.delete(row.id));
    await this.store.jobs.durable();
    return { ...view, next_fire_time: null };
  }

  /** The next `n` fire times after `from` (default now), as instants in ms. */
  nextTimes(row: ScheduleRow, n: number, from = this.#now()): number[] {
    return this.#cron(row).nextRuns(n, new Date(from)).map((d) => d.getTime());
  }

  /** The API view of a schedule; with its newest fires when `detail` is set. */
  view(row: ScheduleRow, detail = false): ScheduleView {
    const spec = parse(row);
    const next = row.paused ? undefined : this.nextTimes(row, 1)[0];
    const view: ScheduleView = {
      id: row.id,
      ...spec,
      paused: row.paused === 1,
      created_at: iso(row.created_at),
      updated_at: iso(row.updated_at),
      last_fire_time: row.last_fire_time === null ? null : iso(row.last_fire_time),
      next_fire_time: next === undefined ? null : iso(next),
    };
    if (detail) {
      view.fires = this.store.fires(row.id, 50).map((f) => ({
        fire_time: iso(f.fire_time),
        outcome: f.outcome,
        job_id: f.job_id,
        job_state: f.job_state,
        reason: f.reason,
        created_at: iso(f.created_at),
      }));
    }
    return view;
  }

  #cron(row: ScheduleRow): Cron {
    const cached = this.#crons.get(row.id);
    if (cached && cached.spec === row.spec) return cached.cron;
    const cron = cronOf(parse(row));
    this.#crons.set(row.id, { spec: row.spec, cron });
    return cron;
  }

  /** Sets the schedule's deadline at its next fire time (or clears it while paused). */
  #arm(id: number): void {
    const key = `cron:${id}`;
    const row = this.store.get(id);
    if (!row || row.paused) return this.scheduler.timers.delete(key);
    const from = Math.max(this.#now(), row.last_fire_time ?? row.created_at);
    const [next] = this.nextTimes(row, 1, from);
    if (next === undefined) return this.scheduler.timers.delete(key);
    this.scheduler.timers.set(key, next, () => this.#tick(id));
  }

  /** Handles every fire time due since the cursor, then re-arms. */
  #tick(id: number): void {
    const row = this.store.get(id);
    if (!row || row.paused) return;
    const spec = parse(row);
    const now = this.#now();
    const cursor = row.last_fire_time ?? row.created_at;
    // Only the newest few due times matter: older missed ones are dropped by every policy.
    const want = (spec.misfire === "run_all" ? spec.misfire_limit : 1) + 1;
    const due = this.#cron(row).previousRuns(want, new Date(now + 1))
      .map((d) => d.getTime())
      .filter((t) => t > cursor && t <= now)
      .sort((a, b) => a - b);
    if (due.length > 0) {
      const latest = due[due.length - 1];
      const onTime = now - latest <= this.#graceMs ? latest : undefined;
      const missed = onTime === undefined ? due : due.slice(0, -1);
      const run = new Set<number>(
        spec.misfire === "run_all"
          ? missed.slice(-spec.misfire_limit)
          : spec.misfire === "run_once" && onTime === undefined
          ? missed.slice(-1)
          : [],
      );
      if (onTime !== undefined) run.add(onTime);
      for (const t of due) {
        if (run.has(t)) {
          this.#fire(row, spec, t, t === onTime ? null : "missed while the server was down");
        } else {
          this.#skip(row.id, t, `missed while the server was down (misfire: ${spec.misfire})`);
        }
      }
      this.store.jobs.write(() => this.store.advance(id, latest));
    }
    this.#arm(id);
  }

  #skip(id: number, t: number, reason: string): void {
    if (this.store.hasFire(id, t)) return;
    const now = this.#now();
    this.store.jobs.write(() =>
      this.store.recordFire({
        schedule_id: id,
        fire_time: t,
        outcome: "skipped",
        job_id: null,
        reason,
        created_at: now,
      })
    );
  }

  /** Starts the job of fire time `t`, applying the overlap policy. */
  #fire(row: ScheduleRow, spec: ScheduleSpec, t: number, late: string | null): void {
    if (this.store.hasFire(row.id, t)) return;
    const unfinished = this.store.unfinishedJobs(row.id);
    if (unfinished.length > 0 && spec.overlap === "forbid") {
      return this.#skip(
        row.id,
        t,
        `job ${unfinished.join(", ")} of an earlier fire has not finished (overlap: forbid)`,
      );
    }
    if (spec.overlap === "replace") {
      for (const jobId of unfinished) {
        // The state change is synchronous; only the durability wait is not.
        this.scheduler.cancel(jobId, `replaced by the run of schedule ${spec.name} for ${iso(t)}`)
          .catch(() => {}); // it finished meanwhile
      }
    }
    const job: JobSpec = {
      ...spec.job,
      name: spec.job.name ?? spec.name,
      env: { ...spec.job.env, JOBDIST_SCHEDULE: spec.name, JOBDIST_FIRE_TIME: iso(t) },
    };
    const now = this.#now();
    // The fire record joins the job's transaction: both commit, or neither does.
    this.scheduler.submitMany([job], row.owner, {
      inTransaction: ([jobRow]) =>
        this.store.jobs.write(() =>
          this.store.recordFire({
            schedule_id: row.id,
            fire_time: t,
            outcome: "started",
            job_id: jobRow.id,
            reason: late,
            created_at: now,
          })
        ),
    }).catch((e) =>
      getLogger().error("schedule could not start its job", {
        schedule: spec.name,
        fire_time: iso(t),
        error: e,
      })
    );
  }
}

/** The stored spec; it was validated when the schedule was written. */
function parse(row: ScheduleRow): ScheduleSpec {
  return JSON.parse(row.spec);
}
