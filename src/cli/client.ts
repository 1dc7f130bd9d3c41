/**
 * A typed client of jobdist's HTTP API. The CLI uses it, and so can any Deno or browser code:
 *
 * ```ts
 * import { Client } from "jsr:@jobdist/jobdist/client";
 * const client = new Client({ server: "http://127.0.0.1:7420", token: Deno.env.get("TOKEN") });
 * const job = await client.submit({ shell: "echo hi", timeout: "30s" });
 * const again = await client.call("getJob", { params: { id: job.id } });
 * ```
 *
 * Paths and types come from the route table (`API` in `src/protocol/api.ts`), the same one the
 * server's OpenAPI document is generated from: {@linkcode Client.call} reaches every operation,
 * and the named methods are shorthands. Errors come back as {@linkcode ApiError} with the
 * server's code and message.
 * @module
 */

import {
  API,
  type ErrorBody,
  fillPath,
  type JobSpecInput,
  type OperationId,
  type RouteBody,
  type RouteParams,
  type RouteQuery,
  type RouteResponse,
  type ScheduleSpecInput,
} from "../protocol/mod.ts";

/** A non-2xx answer from the server, or no answer at all (`status` 0, code `unreachable`). */
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
  /** PEM certificates of the CAs that may sign an `https://` server's certificate (Deno only). */
  caCerts?: string[];
}

/** What {@linkcode Client.call} sends for operation `K`: its path parameters, query and body. */
export type CallInput<K extends OperationId> =
  & ([RouteParams<K>] extends [never] ? { params?: never } : { params: RouteParams<K> })
  & ([RouteQuery<K>] extends [never] ? { query?: never } : { query?: RouteQuery<K> })
  & ([RouteBody<K>] extends [never] ? { body?: never }
    : (typeof API)[K] extends { optionalBody: true } ? { body?: RouteBody<K> }
    : { body: RouteBody<K> });

/** Query of {@linkcode Client.listJobs}. */
export type ListJobsQuery = RouteQuery<"listJobs">;

/** The jobdist HTTP API. */
export class Client {
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #http: Deno.HttpClient | undefined;

  constructor(options: ClientOptions) {
    this.#base = options.server.replace(/\/+$/, "").replace(/^ws(s?):/, "http$1:");
    this.#token = options.token;
    if (options.caCerts?.length) this.#http = Deno.createHttpClient({ caCerts: options.caCerts });
  }

  /** Releases the TLS client made for `caCerts`, if any. */
  close(): void {
    this.#http?.close();
  }

  /**
   * Calls an operation by its id and returns its JSON answer (nothing for one that has none,
   * such as a 204).
   */
  async call<K extends OperationId>(op: K, input: CallInput<K>): Promise<RouteResponse<K>> {
    const res = await this.request(op, input);
    if (res.status === 204 || "media" in API[op]) {
      await res.body?.cancel();
      return undefined as RouteResponse<K>;
    }
    return await res.json() as RouteResponse<K>;
  }

  /** Sends an operation and returns the successful `Response` (for text, streams and files). */
  async request<K extends OperationId>(
    op: K,
    input: CallInput<K>,
    signal?: AbortSignal,
  ): Promise<Response> {
    const route = API[op];
    const params: Record<string, string | number> = input.params ?? {};
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(input.query ?? {})) {
      if (v !== undefined) query.set(k, String(v));
    }
    const qs = query.toString();
    const path = fillPath(route.path, params) + (qs ? `?${qs}` : "");
    return await this.#fetch(route.method, path, input.body, signal);
  }

  /** Submits a job. */
  submit(spec: JobSpecInput): Promise<RouteResponse<"submitJob">> {
    return this.call("submitJob", { body: spec });
  }

  /** Submits many jobs in one transaction. */
  submitBatch(specs: JobSpecInput[]): Promise<RouteResponse<"submitJobs">> {
    return this.call("submitJobs", { body: { jobs: specs } });
  }

  /** Lists jobs, newest first. */
  listJobs(query: ListJobsQuery = {}): Promise<RouteResponse<"listJobs">> {
    return this.call("listJobs", { query });
  }

  /** One job with its attempts. */
  job(id: number | string): Promise<RouteResponse<"getJob">> {
    return this.call("getJob", { params: { id } });
  }

  /** Cancels a job. */
  cancel(id: number | string): Promise<RouteResponse<"cancelJob">> {
    return this.call("cancelJob", { params: { id } });
  }

  /** Every known agent. */
  agents(): Promise<RouteResponse<"listAgents">> {
    return this.call("listAgents", {});
  }

  /** Drains (or, with `enabled: false`, resumes) an agent. */
  drain(agent: string, enabled = true): Promise<RouteResponse<"drainAgent">> {
    return this.call("drainAgent", { params: { id: agent }, body: { enabled } });
  }

  /** An agent's uptime over 24 h, 7 d and 30 d, from its connection sessions. */
  agentUptime(agent: string): Promise<RouteResponse<"getAgentUptime">> {
    return this.call("getAgentUptime", { params: { id: agent } });
  }

  /** Renames or relabels an agent (`labels: null` restores its own), or disables/enables it. */
  updateAgent(
    agent: string,
    change: RouteBody<"updateAgent">,
  ): Promise<RouteResponse<"updateAgent">> {
    return this.call("updateAgent", { params: { id: agent }, body: change });
  }

  /** Forgets an agent that is not connected and holds no work. */
  forgetAgent(agent: string): Promise<void> {
    return this.call("forgetAgent", { params: { id: agent } });
  }

  /** A consistent copy of the server's database (SQLite file) as a stream. */
  async backup(): Promise<ReadableStream<Uint8Array>> {
    const res = await this.request("backup", {});
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
  }

  /** Creates a cron schedule. */
  createSchedule(spec: ScheduleSpecInput): Promise<RouteResponse<"createSchedule">> {
    return this.call("createSchedule", { body: spec });
  }

  /** Every schedule, by name. */
  schedules(): Promise<RouteResponse<"listSchedules">> {
    return this.call("listSchedules", {});
  }

  /** One schedule (by id or name) with its newest fires. */
  schedule(ref: string): Promise<RouteResponse<"getSchedule">> {
    return this.call("getSchedule", { params: { ref } });
  }

  /** Pauses (or, with `paused: false`, resumes) a schedule. */
  pauseSchedule(ref: string, paused = true): Promise<RouteResponse<"pauseSchedule">> {
    return this.call(paused ? "pauseSchedule" : "resumeSchedule", { params: { ref } });
  }

  /** Deletes a schedule; jobs it started are left alone. */
  deleteSchedule(ref: string): Promise<RouteResponse<"deleteSchedule">> {
    return this.call("deleteSchedule", { params: { ref } });
  }

  /** The next `n` fire times of a schedule. */
  nextFireTimes(ref: string, n = 5): Promise<RouteResponse<"nextFireTimes">> {
    return this.call("nextFireTimes", { params: { ref }, query: { n } });
  }

  /** Stores (or replaces) a secret of the caller's namespace; the answer never holds the value. */
  setSecret(name: string, value: string): Promise<RouteResponse<"setSecret">> {
    return this.call("setSecret", { body: { name, value } });
  }

  /** The caller's namespace's secrets: names and timestamps only. */
  secrets(): Promise<RouteResponse<"listSecrets">> {
    return this.call("listSecrets", {});
  }

  /** Deletes a secret; jobs that refer to it fail from then on. */
  deleteSecret(name: string): Promise<RouteResponse<"deleteSecret">> {
    return this.call("deleteSecret", { params: { name } });
  }

  /** Every user (admins only). */
  users(): Promise<RouteResponse<"listUsers">> {
    return this.call("listUsers", {});
  }

  /** Creates a user and (unless `token: false`) a first token, shown only in this answer. */
  createUser(body: RouteBody<"createUser">): Promise<RouteResponse<"createUser">> {
    return this.call("createUser", { body });
  }

  /** Disables (or enables) a user: their tokens stop working at once. */
  setUserDisabled(name: string, disabled: boolean): Promise<RouteResponse<"disableUser">> {
    return this.call(disabled ? "disableUser" : "enableUser", { params: { name } });
  }

  /** Tokens (never their secrets), newest first; optionally of one user. */
  tokens(user?: string): Promise<RouteResponse<"listTokens">> {
    return this.call("listTokens", { query: { user } });
  }

  /** Makes a user token or a join token; the answer is the only copy of its secret. */
  createToken(body: RouteBody<"createToken">): Promise<RouteResponse<"createToken">> {
    return this.call("createToken", { body });
  }

  /** Revokes a token at once (open connections made with it close). */
  revokeToken(id: number): Promise<RouteResponse<"revokeToken">> {
    return this.call("revokeToken", { params: { id } });
  }

  /** Revokes an enrolled agent's own tokens and disconnects it. */
  revokeAgent(agent: string): Promise<RouteResponse<"revokeAgent">> {
    return this.call("revokeAgent", { params: { id: agent } });
  }

  /** Audit entries, newest first (admins only). */
  audit(query: RouteQuery<"listAudit"> = {}): Promise<RouteResponse<"listAudit">> {
    return this.call("listAudit", { query });
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
    const query: RouteQuery<"getJobLogs"> = { stream: options.stream };
    if (options.follow) query.follow = "1";
    if (options.offset) query.offset = options.offset;
    const res = await this.request("getJobLogs", { params: { id }, query }, options.signal);
    return res.body ?? new ReadableStream({ start: (c) => c.close() });
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
        client: this.#http,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new ApiError(
        0,
        "unreachable",
        `Cannot reach the server at ${this.#base}: ${fetchFailure(e)}`,
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

/** What went wrong in a `fetch` that threw: the cause says why (refused, TLS), not "fetch failed". */
function fetchFailure(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.cause instanceof Error ? e.cause.message : e.message;
}
