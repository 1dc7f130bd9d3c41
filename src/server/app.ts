/**
 * The HTTP API (`/api/v1`), health checks and the WebSocket upgrade for agents, as one Hono app
 * built by {@linkcode createApp} so tests can call `app.request()` with their own store.
 * @module
 */

import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import {
  type ErrorBody,
  JOB_STATES,
  JobListQuery,
  type JobSpec,
  JobSpec as JobSpecSchema,
  type JobState,
  parseWith,
  ProtocolError,
} from "../protocol/mod.ts";
import { errStack, getLogger } from "../log.ts";
import {
  Access,
  canChange,
  canRead,
  ownerScope,
  requireAdmin,
  requireWrite,
  scopeAgents,
  sourceAddress,
} from "./access.ts";
import { mountAccess } from "./access_routes.ts";
import { acceptAgentSocket } from "./agent_hub.ts";
import { type Authenticator, bearerToken, type Principal } from "./auth.ts";
import { securityHeaders } from "./headers.ts";
import { HttpError } from "./http_error.ts";
import { followLog, readLog } from "./logs.ts";
import { PrincipalError } from "./principals.ts";
import type { JobRow } from "./store.ts";
import { TooManyRequests } from "./rate_limit.ts";
import type { Ops } from "./ops.ts";
import { mountOpenApi } from "./openapi.ts";
import { mountOps } from "./ops_routes.ts";
import type { Reporter } from "./report_delivery.ts";
import { mountReports } from "./report_routes.ts";
import { mountUi } from "./ui_routes.ts";
import { mountQueues } from "./queue_routes.ts";
import { mountSchedules } from "./schedule_routes.ts";
import type { ScheduleManager } from "./schedules.ts";
import { mountSecrets } from "./secret_routes.ts";
import type { Secrets } from "./secrets.ts";
import { type Scheduler, SchedulerError } from "./scheduler.ts";
import { agentViews, jobView } from "./views.ts";

/** What the app needs. */
export interface AppDeps {
  scheduler: Scheduler;
  auth: Authenticator;
  /** Abuse limits and the audit log (default: limits with defaults, no audit log). */
  access?: Access;
  /** Cron schedules; without it `/api/v1/schedules` is not served. */
  schedules?: ScheduleManager;
  /** Largest request body accepted (default 16 MiB). */
  maxBodyBytes?: number;
  /** Operations (metrics, readiness, agent health and management, backups); optional. */
  ops?: Ops;
  /** The daily report (`/api/v1/report`); optional. */
  reports?: Reporter;
  /** Secrets of each namespace; without it `/api/v1/secrets` is not served. */
  secrets?: Secrets;
}

type Env = { Variables: { principal: Principal } };

/** Builds the Hono app. */
export function createApp(deps: AppDeps): Hono<Env> {
  const { scheduler, auth } = deps;
  const access = deps.access ?? new Access({ auth });
  const store = scheduler.store;
  const app = new Hono<Env>();
  app.use(securityHeaders());

  app.onError((err, c) => {
    if (err instanceof TooManyRequests) c.header("retry-after", String(err.retryAfterS));
    if (err instanceof HttpError) {
      if (err.status === 401) c.header("www-authenticate", 'Bearer realm="jobdist"');
      return c.json(errorBody(err.code, err.message, err.field), err.status);
    }
    if (err instanceof PrincipalError) {
      const status = err.code === "not_found" ? 404 : err.code === "conflict" ? 409 : 400;
      return c.json(errorBody(err.code, err.message), status);
    }
    if (err instanceof ProtocolError) {
      return c.json(errorBody("invalid", err.message, err.field), 400);
    }
    if (err instanceof SchedulerError) {
      return c.json(errorBody(err.code, err.message), err.code === "not_found" ? 404 : 409);
    }
    getLogger().error("unhandled error in a request", {
      method: c.req.method,
      path: c.req.path,
      error: err,
      stack: errStack(err),
    });
    return c.json(errorBody("internal", "Internal server error"), 500);
  });
  app.notFound((c) =>
    c.json(errorBody("not_found", `No route for ${c.req.method} ${c.req.path}`), 404)
  );

  app.get("/healthz", (c) => c.json({ ok: true }));
  mountOpenApi(app);

  app.get("/ws/agent", async (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpError(426, "upgrade_required", "Expected a WebSocket upgrade");
    }
    const headerToken = bearerToken(c.req.header("authorization"));
    const source = sourceAddress(c);
    // No idle timeout: agents heartbeat and the registry closes a silent one. Deno's would only
    // ping an agent that stopped talking, yet it keeps each upgrade request alive and arms a
    // timer per frame: about 2 KB of heap per agent (bench B5).
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { idleTimeout: 0 });
    acceptAgentSocket(socket, { scheduler, access, headerToken, source });
    return await Promise.resolve(response);
  });

  const api = new Hono<Env>();
  api.use(bodyLimit({
    maxSize: deps.maxBodyBytes ?? 16 * 1024 * 1024,
    onError: () => {
      throw new HttpError(413, "too_large", "Request body is too large");
    },
  }));
  api.use(async (c, next) => {
    const token = bearerToken(c.req.header("authorization"));
    const principal = await access.require(token, sourceAddress(c));
    if (principal.role === "agent") {
      throw new HttpError(403, "forbidden", "Agent tokens may only connect agents");
    }
    if (principal.role === "join") {
      throw new HttpError(403, "forbidden", "Join tokens may only enrol an agent");
    }
    // Viewers read only, on every route (including ones mounted later).
    if (c.req.method !== "GET" && c.req.method !== "HEAD") requireWrite(principal);
    c.set("principal", principal);
    await next();
  });

  api.post("/jobs", async (c) => {
    const spec = parseSpecBody(await readJson(c.req.raw), c.req.header("idempotency-key"));
    const p = c.get("principal");
    access.chargeSubmissions(p, 1, () => unfinished(p));
    checkDeps(p, [spec]);
    const row = await scheduler.submit(spec, p.name);
    ownSubmissions(p, [row]);
    auditSubmit(c, [row.id]);
    return c.json(jobView(row, scheduler), 201);
  });

  api.post("/jobs:batch", async (c) => {
    const body = await readJson(c.req.raw);
    const list = body && typeof body === "object" && "jobs" in body ? body.jobs : undefined;
    if (!Array.isArray(list) || list.length === 0 || list.length > 10_000) {
      throw new HttpError(
        400,
        "invalid",
        "jobs: expected an array of 1 to 10000 job specs",
        "jobs",
      );
    }
    const specs = list.map((s, i) => parseWith(JobSpecSchema, s, `jobs.${i}`));
    const p = c.get("principal");
    access.chargeSubmissions(p, specs.length, () => unfinished(p));
    checkDeps(p, specs);
    const rows = await scheduler.submitMany(specs, p.name);
    ownSubmissions(p, rows);
    auditSubmit(c, rows.map((r) => r.id));
    return c.json({ jobs: rows.map((r) => jobView(r, scheduler)) }, 201);
  });

  api.get("/jobs", (c) => {
    const q = parseWith(JobListQuery, c.req.query());
    const states = q.state?.split(",").filter(Boolean);
    for (const s of states ?? []) {
      if (!(JOB_STATES as readonly string[]).includes(s)) {
        throw new HttpError(400, "invalid", `state: unknown state "${s}"`, "state");
      }
    }
    const rows = store.listJobs({
      state: states as JobState[] | undefined,
      queue: q.queue,
      parentId: q.parent ? Number(q.parent) : undefined,
      owner: ownerScope(c.get("principal")),
      beforeId: q.cursor ? Number(q.cursor) : undefined,
      limit: q.limit + 1,
    });
    const more = rows.length > q.limit;
    const page = rows.slice(0, q.limit);
    return c.json({
      jobs: page.map((r) => jobView(r, scheduler)),
      next_cursor: more ? String(page[page.length - 1].id) : null,
    });
  });

  api.get(
    "/jobs/:id",
    (c) => c.json(jobView(getJob(c.get("principal"), c.req.param("id")), scheduler, true)),
  );

  api.get("/jobs/:id/logs", (c) => {
    const row = getJob(c.get("principal"), c.req.param("id"));
    const stream = c.req.query("stream");
    if (stream !== undefined && stream !== "stdout" && stream !== "stderr") {
      throw new HttpError(400, "invalid", 'stream: expected "stdout" or "stderr"', "stream");
    }
    const streamFilter: "stdout" | "stderr" | undefined = stream;
    const offsetText = c.req.query("offset") ?? "0";
    if (!/^\d+$/.test(offsetText)) {
      throw new HttpError(400, "invalid", "offset: expected a byte offset", "offset");
    }
    const opts = { stream: streamFilter, offset: Number(offsetText) };
    const headers = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };
    const follow = c.req.query("follow");
    if (follow === "1" || follow === "true") {
      return new Response(followLog(scheduler, row.id, opts), { headers });
    }
    return new Response(readLog(store, row.id, opts), { headers });
  });

  api.post("/jobs/:id/cancel", async (c) => {
    const p = c.get("principal");
    const id = getJob(p, c.req.param("id"), true).id;
    const row = await scheduler.cancel(id);
    access.audit?.record({
      action: "job.cancel",
      principal: p,
      source: sourceAddress(c),
      target: `job ${id}`,
    });
    return c.json(jobView(row, scheduler));
  });

  api.get("/agents", (c) => {
    const owner = ownerScope(c.get("principal"));
    return c.json({ agents: scopeAgents(agentViews(scheduler), owner, ownerOf) });
  });

  api.post("/agents/:id/drain", async (c) => {
    requireAdmin(c.get("principal"));
    const body = await readJson(c.req.raw, true);
    const enabled = body && typeof body === "object" && "enabled" in body ? body.enabled : true;
    if (typeof enabled !== "boolean") {
      throw new HttpError(400, "invalid", "enabled: expected true or false", "enabled");
    }
    const agent = scheduler.agents.setDraining(c.req.param("id"), enabled);
    if (!agent) throw new HttpError(404, "not_found", `No agent ${c.req.param("id")}`);
    if (!enabled) scheduler.kick();
    await store.durable();
    return c.json(agentViews(scheduler).find((a) => a.id === agent.id));
  });

  mountQueues(api, scheduler);
  if (deps.schedules) mountSchedules(api, deps.schedules);
  if (deps.secrets) mountSecrets(api, deps.secrets);
  mountAccess(app, api, { access, scheduler });
  mountOps(app, api, { ...deps, access });
  mountReports(api, deps.reports);
  app.route("/api/v1", api);
  mountUi(app, { scheduler, access });
  return app;

  /** Job `idText` if `p` may read it (and, with `change`, change it); else `404`/`403`. */
  function getJob(p: Principal, idText: string, change = false) {
    const id = parseId(idText);
    const row = store.getJob(id);
    // Someone else's job is as good as missing.
    if (!row || !canRead(p, row.owner)) throw new HttpError(404, "not_found", `No job ${id}`);
    if (change && !canChange(p, row.owner)) {
      throw new HttpError(403, "forbidden", `Cannot change job ${id}: it belongs to ${row.owner}`);
    }
    return row;
  }

  /** A user's job may run only after jobs they can see (else it would probe other people's). */
  function checkDeps(p: Principal, specs: JobSpec[]): void {
    specs.forEach((spec, i) =>
      spec.after?.forEach((dep, j) => {
        if (!canRead(p, ownerOf(dep) ?? null)) {
          const field = `${specs.length > 1 ? `jobs.${i}.` : ""}after.${j}`;
          throw new HttpError(400, "invalid", `${field}: no job ${dep}`, field);
        }
      })
    );
  }

  /**
   * An idempotency key someone else used answers with their job: refuse it instead of showing
   * it (the submission created nothing).
   */
  function ownSubmissions(p: Principal, rows: JobRow[]): void {
    const foreign = rows.find((r) => !canRead(p, r.owner));
    if (foreign) {
      throw new HttpError(
        409,
        "conflict",
        `Idempotency key ${foreign.idempotency_key} is already used by another user's job`,
      );
    }
  }

  function ownerOf(jobId: number): string | null | undefined {
    return store.getJob(jobId)?.owner;
  }

  function unfinished(p: Principal): number {
    return auth.principals?.unfinishedJobs(p.name) ?? 0;
  }

  function auditSubmit(c: Context<Env>, ids: number[]): void {
    access.audit?.record({
      action: "job.submit",
      principal: c.get("principal"),
      source: sourceAddress(c),
      target: ids.length === 1 ? `job ${ids[0]}` : `jobs ${ids[0]}-${ids[ids.length - 1]}`,
      detail: ids.length === 1 ? undefined : { count: ids.length },
    });
  }
}

function parseId(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new HttpError(400, "invalid", `"${text}" is not a job id`);
  return Number(text);
}

async function readJson(req: Request, optional = false): Promise<unknown> {
  const text = await req.text();
  if (optional && text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid", "Request body is not valid JSON");
  }
}

function parseSpecBody(body: unknown, idempotencyKey: string | undefined): JobSpec {
  const spec = parseWith(JobSpecSchema, body);
  if (idempotencyKey && !spec.idempotency_key) spec.idempotency_key = idempotencyKey;
  return spec;
}

function errorBody(code: string, message: string, field?: string): ErrorBody {
  return { error: field ? { code, message, field } : { code, message } };
}
