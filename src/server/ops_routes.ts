/**
 * Routes of the operations side: `/metrics` and `/readyz` at the root, and under `/api/v1`
 * agent uptime, host-fact history and management (rename, labels, disable, forget), backups
 * and housekeeping.
 * @module
 */

import type { Hono } from "hono";
import { parseDuration } from "../protocol/mod.ts";
import { type Access, requireAdmin, sourceAddress } from "./access.ts";
import { bearerToken, type Principal } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import type { AgentChange, Ops } from "./ops.ts";

type Env = { Variables: { principal: Principal } };

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Mounts the routes. `app` gets `/metrics` (bearer token when the server has tokens) and
 * `/readyz`; `api` (already authenticated) gets the rest. Call before `app.route("/api/v1")`.
 */
export function mountOps(
  app: Hono<Env>,
  api: Hono<Env>,
  deps: { ops?: Ops; access: Access },
): void {
  const { ops, access } = deps;
  if (!ops) return;
  // Backups and housekeeping (and anything else under /admin) are for admins.
  api.use("/admin/*", async (c, next) => {
    requireAdmin(c.get("principal"));
    await next();
  });

  app.get("/metrics", async (c) => {
    const token = bearerToken(c.req.header("authorization"));
    const p = await access.require(token, sourceAddress(c));
    if (p.role !== "admin" && p.role !== "viewer") {
      throw new HttpError(403, "forbidden", "Metrics are for admins and viewers");
    }
    return c.body(ops.metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
      "cache-control": "no-store",
    });
  });

  app.get("/readyz", async (c) => {
    try {
      await ops.ready();
      return c.json({ ok: true });
    } catch (e) {
      return c.json({
        ok: false,
        error: { code: "unavailable", message: `Database is not writable: ${errText(e)}` },
      }, 503);
    }
  });

  api.get("/agents/:id/uptime", (c) => {
    const agent = ops.agent(c.req.param("id"));
    const windows = ops.health.uptime(agent.id);
    return c.json({
      agent_id: agent.id,
      name: agent.name,
      first_seen: nullableIso(ops.health.firstSeen(agent.id)),
      windows: Object.fromEntries(
        Object.entries(windows).map(([k, u]) => [k, {
          percent: u.percent,
          up_ms: u.up_ms,
          known_ms: u.known_ms,
          window_ms: u.window_ms,
          intervals: u.intervals.map((i) => ({ start: iso(i.start), end: iso(i.end) })),
        }]),
      ),
    });
  });

  api.get("/agents/:id/health", (c) => {
    const agent = ops.agent(c.req.param("id"));
    const sinceText = c.req.query("since") ?? "1h";
    const since = parseDuration(sinceText);
    if (since === undefined) {
      throw new HttpError(400, "invalid", "since: expected a duration such as 1h", "since");
    }
    return c.json({
      agent_id: agent.id,
      name: agent.name,
      version: agent.version,
      facts: agent.facts,
      samples: ops.health.samples(agent.id, Date.now() - since).map((s) => ({
        ...s,
        t: iso(s.t),
      })),
    });
  });

  api.patch("/agents/:id", async (c) => {
    requireAdmin(c.get("principal"));
    const change = parseChange(await readJson(c.req.raw));
    return c.json(await ops.change(c.req.param("id"), change));
  });
  api.post("/agents/:id/disable", async (c) => {
    requireAdmin(c.get("principal"));
    return c.json(await ops.change(c.req.param("id"), { disabled: true }));
  });
  api.post("/agents/:id/enable", async (c) => {
    requireAdmin(c.get("principal"));
    return c.json(await ops.change(c.req.param("id"), { disabled: false }));
  });
  api.delete("/agents/:id", async (c) => {
    requireAdmin(c.get("principal"));
    await ops.forget(c.req.param("id"));
    return c.body(null, 204);
  });

  api.post("/admin/backup", async (c) => {
    const dir = await Deno.makeTempDir({ prefix: "jobdist-backup-" });
    const path = `${dir}/jobdist.db`;
    let file: Deno.FsFile;
    try {
      ops.backup(path);
      file = await Deno.open(path);
    } finally {
      // The open file outlives its name (POSIX), so nothing is left behind whatever happens.
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    const { size } = await file.stat();
    return c.body(file.readable, 200, {
      "content-type": "application/vnd.sqlite3",
      "content-length": String(size),
      "content-disposition": 'attachment; filename="jobdist.db"',
    });
  });

  api.post("/admin/housekeeping", async (c) => {
    const pruned = await ops.prune();
    const wal = ops.checkpoint();
    return c.json({ pruned_jobs: pruned.jobs, pruned_health_rows: pruned.healthRows, wal });
  });
}

function parseChange(body: unknown): AgentChange {
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, "invalid", "Expected a JSON object with name, labels or disabled");
  }
  const b = body as Record<string, unknown>;
  const change: AgentChange = {};
  for (const key of Object.keys(b)) {
    if (!["name", "labels", "disabled"].includes(key)) {
      throw new HttpError(400, "invalid", `${key}: unknown field`, key);
    }
  }
  if (b.name !== undefined) {
    if (typeof b.name !== "string" || !b.name.trim() || b.name.length > 200) {
      throw new HttpError(400, "invalid", "name: expected 1 to 200 characters", "name");
    }
    change.name = b.name.trim();
  }
  if (b.labels !== undefined) {
    if (b.labels === null) change.labels = null;
    else if (
      typeof b.labels === "object" && !Array.isArray(b.labels) &&
      Object.entries(b.labels).every(([k, v]) =>
        typeof v === "string" && k.length > 0 && k.length <= 63 && v.length <= 200
      )
    ) {
      change.labels = b.labels as Record<string, string>;
    } else {
      throw new HttpError(
        400,
        "invalid",
        "labels: expected an object of strings or null",
        "labels",
      );
    }
  }
  if (b.disabled !== undefined) {
    if (typeof b.disabled !== "boolean") {
      throw new HttpError(400, "invalid", "disabled: expected true or false", "disabled");
    }
    change.disabled = b.disabled;
  }
  return change;
}

async function readJson(req: Request): Promise<unknown> {
  try {
    return JSON.parse(await req.text());
  } catch {
    throw new HttpError(400, "invalid", "Request body is not valid JSON");
  }
}

function nullableIso(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
