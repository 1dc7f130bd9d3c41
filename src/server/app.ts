/**
 * The HTTP API (`/api/v1`), health checks and the WebSocket upgrade for agents, as one Hono app
 * built by {@linkcode createApp} so tests can call `app.request()` with their own store.
 * @module
 */

import { Hono } from "hono";
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
import { acceptAgentSocket } from "./agent_hub.ts";
import { type Authenticator, bearerToken, type Principal } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import { followLog, readLog } from "./logs.ts";
import type { Ops } from "./ops.ts";
import { mountOpenApi } from "./openapi.ts";
import { mountOps } from "./ops_routes.ts";
import { mountUi } from "./ui_routes.ts";
import { mountSchedules } from "./schedule_routes.ts";
import type { ScheduleManager } from "./schedules.ts";
import { type Scheduler, SchedulerError } from "./scheduler.ts";
import { agentViews, jobView } from "./views.ts";

/** What the app needs. */
export interface AppDeps {
  scheduler: Scheduler;
  auth: Authenticator;
  /** Cron schedules; without it `/api/v1/schedules` is not served. */
  schedules?: ScheduleManager;
  /** Largest request body accepted (default 16 MiB). */
  maxBodyBytes?: number;
  /** Operations (metrics, readiness, agent health and management, backups); optional. */
  ops?: Ops;
}

type Env = { Variables: { principal: Principal } };

/** Builds the Hono app. */
export function createApp(deps: AppDeps): Hono<Env> {
  const { scheduler, auth } = deps;
  const store = scheduler.store;
  const app = new Hono<Env>();

  app.onError((err, c) => {
    if (err instanceof HttpError) {
      return c.json(errorBody(err.code, err.message, err.field), err.status);
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
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw);
    acceptAgentSocket(socket, { scheduler, auth, headerToken });
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
    const principal = await auth.authenticate(bearerToken(c.req.header("authorization")));
    if (!principal) throw new HttpError(401, "unauthorized", "Missing or invalid bearer token");
    if (principal.role === "agent") {
      throw new HttpError(403, "forbidden", "Agent tokens may only connect agents");
    }
    c.set("principal", principal);
    await next();
  });

  api.post("/jobs", async (c) => {
    const spec = parseSpecBody(await readJson(c.req.raw), c.req.header("idempotency-key"));
    const row = await scheduler.submit(spec, c.get("principal").name);
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
    const rows = await scheduler.submitMany(specs, c.get("principal").name);
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

  api.get("/jobs/:id", (c) => c.json(jobView(getJob(c.req.param("id")), scheduler, true)));

  api.get("/jobs/:id/logs", (c) => {
    const row = getJob(c.req.param("id"));
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
    const id = parseId(c.req.param("id"));
    const row = await scheduler.cancel(id);
    return c.json(jobView(row, scheduler));
  });

  api.get("/agents", (c) => c.json({ agents: agentViews(scheduler) }));

  api.post("/agents/:id/drain", async (c) => {
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

  if (deps.schedules) mountSchedules(api, deps.schedules);
  mountOps(app, api, deps);
  app.route("/api/v1", api);
  mountUi(app, { scheduler, auth });
  return app;

  function getJob(idText: string) {
    const id = parseId(idText);
    const row = store.getJob(id);
    if (!row) throw new HttpError(404, "not_found", `No job ${id}`);
    return row;
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
