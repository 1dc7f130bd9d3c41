/**
 * Prometheus metrics at `/metrics` (text exposition format 0.0.4). Gauges are read from the
 * store and the registry at scrape time; the two histograms (dispatch latency and run
 * duration) are fed from the event bus, so the scheduler needs no metrics code of its own.
 * Histograms count since the server started, as Prometheus expects.
 * @module
 */

import { isTerminal } from "../protocol/mod.ts";
import type { ServerEvent } from "./events.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Store } from "./store.ts";
import { agentViews } from "./views.ts";

/** Upper bounds (seconds) of the dispatch latency histogram. */
const DISPATCH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Upper bounds (seconds) of the run duration histogram. */
const RUN_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400];

/** A Prometheus histogram with one label set per key. */
export class Histogram {
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();

  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}

  /** Records `value` (seconds) under the labels `labels` (already rendered, e.g. `queue="a"`). */
  observe(labels: string, value: number): void {
    let s = this.#series.get(labels);
    if (!s) this.#series.set(labels, s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 });
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  /** The exposition lines. */
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [labels, s] of this.#series) {
      const sep = labels ? "," : "";
      this.buckets.forEach((b, i) =>
        out.push(`${this.name}_bucket{${labels}${sep}le="${b}"} ${s.counts[i]}`)
      );
      out.push(`${this.name}_bucket{${labels}${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${labels ? `{${labels}}` : ""} ${round(s.sum)}`);
      out.push(`${this.name}_count${labels ? `{${labels}}` : ""} ${s.count}`);
    }
    return out;
  }
}

/** Options of {@linkcode Metrics}. */
export interface MetricsOptions {
  scheduler: Scheduler;
  store: Store;
  /** The database file, for its size and its WAL's (`:memory:`: none). */
  dbPath: string;
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
  /** Monotonic clock in ms for latencies (default `performance.now`). */
  mono?: () => number;
}

/** Collects and renders jobdist's metrics. */
export class Metrics {
  readonly dispatchLatency = new Histogram(
    "jobdist_dispatch_latency_seconds",
    "Time from a job being queued to its assignment to an agent.",
    DISPATCH_BUCKETS,
  );
  readonly runDuration = new Histogram(
    "jobdist_run_duration_seconds",
    "Time from the server learning an attempt started to its job ending, by queue and final state.",
    RUN_BUCKETS,
  );
  /** Finished jobs pruned by retention since start. */
  prunedJobs = 0;
  /** WAL checkpoints since start. */
  checkpoints = 0;
  readonly #o: MetricsOptions;
  readonly #now: () => number;
  readonly #mono: () => number;
  readonly #queuedAt = new Map<number, number>();
  readonly #startedAt = new Map<number, number>();
  readonly #finished = new Map<string, number>();
  /** Rendered `queue="..."` labels by queue name (escaped once, not per event). */
  readonly #queueLabels = new Map<string, string>();

  constructor(options: MetricsOptions, signal: AbortSignal) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#mono = options.mono ?? (() => performance.now());
    options.scheduler.events.subscribe((ev) => this.#onEvent(ev), signal);
  }

  #onEvent(ev: ServerEvent): void {
    if (ev.type !== "job") return;
    const t = this.#mono();
    let queue = this.#queueLabels.get(ev.queue);
    if (queue === undefined) {
      this.#queueLabels.set(ev.queue, queue = `queue="${escapeLabel(ev.queue)}"`);
    }
    if (ev.state === "queued") {
      this.#queuedAt.set(ev.id, t);
    } else if (ev.state === "assigned") {
      const q = this.#queuedAt.get(ev.id);
      this.#queuedAt.delete(ev.id);
      if (q !== undefined) this.dispatchLatency.observe(queue, (t - q) / 1000);
    } else if (ev.state === "running") {
      this.#startedAt.set(ev.id, t);
    } else if (ev.state === "scheduled") {
      this.#queuedAt.delete(ev.id);
    } else if (isTerminal(ev.state)) {
      this.#queuedAt.delete(ev.id);
      const s = this.#startedAt.get(ev.id);
      this.#startedAt.delete(ev.id);
      if (s !== undefined) {
        this.runDuration.observe(`${queue},state="${ev.state}"`, (t - s) / 1000);
      }
      const key = `${queue},state="${ev.state}"`;
      this.#finished.set(key, (this.#finished.get(key) ?? 0) + 1);
    }
  }

  /** The whole exposition. */
  render(): string {
    const { scheduler, store } = this.#o;
    const db = store.db;
    const now = this.#now();
    const out: string[] = [];
    const gauge = (name: string, help: string, rows: Array<[string, number]>, type = "gauge") => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of rows) out.push(`${name}${labels ? `{${labels}}` : ""} ${round(v)}`);
    };

    const byState = db.prepare(
      "SELECT state, queue, COUNT(*) AS n FROM jobs GROUP BY state, queue ORDER BY state, queue",
    ).all() as Array<{ state: string; queue: string; n: number }>;
    gauge(
      "jobdist_jobs",
      "Jobs stored, by state and queue (finished jobs until retention prunes them).",
      byState.map((r) => [`state="${r.state}",queue="${escapeLabel(r.queue)}"`, r.n]),
    );
    const queued = db.prepare(
      `SELECT queue, COUNT(*) AS n, MIN(COALESCE(run_at, created_at)) AS oldest FROM jobs
        WHERE state = 'queued' GROUP BY queue ORDER BY queue`,
    ).all() as Array<{ queue: string; n: number; oldest: number }>;
    gauge(
      "jobdist_queue_depth",
      "Jobs waiting for an agent, by queue (what an autoscaler watches).",
      queued.map((r) => [`queue="${escapeLabel(r.queue)}"`, r.n]),
    );
    gauge(
      "jobdist_queue_oldest_age_seconds",
      "Age of the oldest job waiting in each queue.",
      queued.map((r) => [`queue="${escapeLabel(r.queue)}"`, Math.max(0, (now - r.oldest) / 1000)]),
    );
    gauge(
      "jobdist_jobs_finished_total",
      "Jobs that reached a final state since the server started, by queue and state.",
      [...this.#finished],
      "counter",
    );
    out.push(...this.dispatchLatency.render(), ...this.runDuration.render());

    const views = agentViews(scheduler);
    const statuses = ["idle", "busy", "draining", "disconnected", "lost"];
    gauge(
      "jobdist_agents",
      "Known agents by status.",
      statuses.map((s) => [`status="${s}"`, views.filter((a) => a.status === s).length]),
    );
    gauge("jobdist_agents_disabled", "Agents an operator disabled.", [[
      "",
      views.filter((a) => a.disabled).length,
    ]]);
    const online = views.filter((a) => a.status !== "disconnected" && a.status !== "lost");
    gauge("jobdist_slots_used", "Job slots in use on connected agents.", [[
      "",
      online.reduce((n, a) => n + a.slots_used, 0),
    ]]);
    gauge("jobdist_slots_total", "Job slots of connected agents.", [[
      "",
      online.reduce((n, a) => n + a.slots, 0),
    ]]);
    gauge("jobdist_websocket_connections", "Open WebSocket connections, by kind.", [[
      'kind="agent"',
      scheduler.agents.connected().length,
    ]]);
    gauge("jobdist_event_subscribers", "Live event subscribers (log followers, dashboards).", [[
      "",
      scheduler.events.listenerCount,
    ]]);
    gauge("jobdist_sqlite_bytes", "Size of the SQLite database file and of its WAL.", [
      ['file="db"', fileSize(this.#o.dbPath)],
      ['file="wal"', fileSize(`${this.#o.dbPath}-wal`)],
    ]);
    gauge("jobdist_retention_pruned_jobs_total", "Finished jobs deleted by retention.", [[
      "",
      this.prunedJobs,
    ]], "counter");
    gauge("jobdist_wal_checkpoints_total", "WAL checkpoints run.", [[
      "",
      this.checkpoints,
    ]], "counter");
    return out.join("\n") + "\n";
  }
}

function fileSize(path: string): number {
  if (path === ":memory:" || path === "") return 0;
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
