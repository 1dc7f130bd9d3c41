/**
 * `/api/v1/queues`: each queue's depth and active jobs, and its concurrency limit (set by an
 * admin; kept in the database).
 * @module
 */

import type { Hono } from "hono";
import { parseWith, QueueName, QueuePatch } from "../protocol/mod.ts";
import { requireAdmin } from "./access.ts";
import type { Principal } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import type { Scheduler } from "./scheduler.ts";

type Env = { Variables: { principal: Principal } };

/** Mounts the queue routes on the (authenticated) API app. */
export function mountQueues(api: Hono<Env>, scheduler: Scheduler): void {
  api.get("/queues", (c) => c.json({ queues: scheduler.queues() }));

  api.put("/queues/:name", async (c) => {
    requireAdmin(c.get("principal"));
    const { name } = parseWith(QueueName, { name: c.req.param("name") });
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      throw new HttpError(400, "invalid", "Request body is not valid JSON");
    }
    const { concurrency } = parseWith(QueuePatch, body);
    await scheduler.setQueueLimit(name, concurrency);
    const view = scheduler.queues().find((q) => q.name === name) ??
      { name, queued: 0, active: 0, limit: null };
    return c.json(view);
  });
}
