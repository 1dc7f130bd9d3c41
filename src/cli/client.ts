/**
 * A typed client of jobdist's HTTP API, used by the CLI (and usable from any Deno or browser
 * code). Errors come back as {@linkcode ApiError} with the server's code and message.
 * @module
 */

import type {
  AgentList,
  AgentUptimeView,
  AgentView,
  ErrorBody,
  JobList,
  JobSpecInput,
  JobView,
  ScheduleList,
  ScheduleSpecInput,
  ScheduleView,
} from "../protocol/mod.ts";

/** A non-2xx answer from the server, or no answer at all. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = "ApiError";
  }
}

/** Options of {@linkcode Client}. */
export interface ClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:7420`. */
  server: string;
  token?: string;
}

/** Query of {@linkcode Client.listJobs}. */
export interface ListJobsQuery {
  state?: string;
  queue?: string;
  limit?: number;
  cursor?: string;
}

/** The jobdist HTTP API. */
export class Client {
  readonly #base: string;
  readonly #token: string | undefined;

  constructor(options: ClientOptions) {
    this.#base = options.server.replace(/\/+$/, "").replace(/^ws(s?):/, "http$1:");
    this.#token = options.token;
  }

  /** Submits a job. */
  submit(spec: JobSpecInput): Promise<JobView> {
    return this.#json("POST", "/api/v1/jobs", spec);
  }

  /** Submits many jobs in one transaction. */
  submitBatch(specs: JobSpecInput[]): Promise<{ jobs: JobView[] }> {
    return this.#json("POST", "/api/v1/jobs:batch", { jobs: specs });
  }

  /** Lists jobs, newest first. */
  listJobs(q: ListJobsQuery = {}): Promise<JobList> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    return this.#json("GET", `/api/v1/jobs?${params}`);
  }

  /** One job with its attempts. */
  job(id: number | string): Promise<JobView> {
    return this.#json("GET", `/api/v1/jobs/${encodeURIComponent(String(id))}`);
  }

  /** Cancels a job. */
  cancel(id: number | string): Promise<JobView> {
    return this.#json("POST", `/api/v1/jobs/${encodeURIComponent(String(id))}/cancel`);
  }

  /** Every known agent. */
  agents(): Promise<AgentList> {
    return this.#json("GET", "/api/v1/agents");
  }

  /** Drains (or, with `enabled: false`, resumes) an agent. */
  drain(agent: string, enabled = true): Promise<AgentView> {
    return this.#json("POST", `/api/v1/agents/${encodeURIComponent(agent)}/drain`, { enabled });
  }

  /** An agent's uptime over 24 h, 7 d and 30 d, from its connection sessions. */
  agentUptime(agent: string): Promise<AgentUptimeView> {
    return this.#json("GET", `/api/v1/agents/${encodeURIComponent(agent)}/uptime`);
  }

  /** Renames or relabels an agent (`labels: null` restores its own), or disables/enables it. */
  updateAgent(
    agent: string,
    change: { name?: string; labels?: Record<string, string> | null; disabled?: boolean },
  ): Promise<AgentView> {
    return this.#json("PATCH", `/api/v1/agents/${encodeURIComponent(agent)}`, change);
  }

  /** Forgets an agent that is not connected and holds no work. */
  async forgetAgent(agent: string): Promise<void> {
    const res = await this.#fetch("DELETE", `/api/v1/agents/${encodeURIComponent(agent)}`);
    await res.body?.cancel();
  }

  /** A consistent copy of the server's database (SQLite file) as a stream. */
  async backup(): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#fetch("POST", "/api/v1/admin/backup");
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  /** Creates a cron schedule. */
  createSchedule(spec: ScheduleSpecInput): Promise<ScheduleView> {
    return this.#json("POST", "/api/v1/schedules", spec);
  }

  /** Every schedule, by name. */
  schedules(): Promise<ScheduleList> {
    return this.#json("GET", "/api/v1/schedules");
  }

  /** One schedule (by id or name) with its newest fires. */
  schedule(ref: string): Promise<ScheduleView> {
    return this.#json("GET", `/api/v1/schedules/${encodeURIComponent(ref)}`);
  }

  /** Pauses (or, with `paused: false`, resumes) a schedule. */
  pauseSchedule(ref: string, paused = true): Promise<ScheduleView> {
    const action = paused ? "pause" : "resume";
    return this.#json("POST", `/api/v1/schedules/${encodeURIComponent(ref)}/${action}`);
  }

  /** Deletes a schedule; jobs it started are left alone. */
  deleteSchedule(ref: string): Promise<ScheduleView> {
    return this.#json("DELETE", `/api/v1/schedules/${encodeURIComponent(ref)}`);
  }

  /** The next `n` fire times of a schedule. */
  nextFireTimes(
    ref: string,
    n = 5,
  ): Promise<{ schedule: string; timezone: string; times: string[] }> {
    return this.#json("GET", `/api/v1/schedules/${encodeURIComponent(ref)}/next?n=${n}`);
  }

  /** A job's output; with `follow`, a stream that ends when the job does. */
  async logs(
    id: number | string,
    options: {
      follow?: boolean;
      stream?: "stdout" | "stderr";
      offset?: number;
      signal?: AbortSignal;
    } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const params = new URLSearchParams();
    if (options.follow) params.set("follow", "1");
    if (options.stream) params.set("stream", options.stream);
    if (options.offset) params.set("offset", String(options.offset));
    const res = await this.#fetch(
      "GET",
      `/api/v1/jobs/${id}/logs?${params}`,
      undefined,
      options.signal,
    );
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#fetch(method, path, body);
    return await res.json() as T;
  }

  async #fetch(method: string, path: string, body?: unknown, signal?: AbortSignal) {
    const headers: Record<string, string> = {};
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(this.#base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new ApiError(
        0,
        "unreachable",
        `Cannot reach the server at ${this.#base}: ${e instanceof Error ? e.message : e}`,
      );
    }
    if (res.ok) return res;
    let err: ErrorBody | undefined;
    try {
      err = await res.json();
    } catch {
      // not JSON
    }
    throw new ApiError(
      res.status,
      err?.error?.code ?? "http_error",
      err?.error?.message ?? `${method} ${path} answered ${res.status}`,
    );
  }
}
