/**
 * `/api/v1/schedules`: cron schedules (create, list, show, replace, delete, pause, resume and a
 * preview of the next fire times). `:ref` is a schedule's id or its name.
 * @module
 */

import type { Hono } from "hono";
import { parseScheduleSpec } from "../protocol/mod.ts";
import type { Principal } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import type { ScheduleManager } from "./schedules.ts";

type Env = { Variables: { principal: Principal } };

/** Mounts the schedule routes on the (authenticated) API app. */
export function mountSchedules(api: Hono<Env>, schedules: ScheduleManager): void {
  api.post("/schedules", async (c) => {
    const spec = parseScheduleSpec(await readJson(c.req.raw));
    const row = await schedules.create(spec, c.get("principal").name);
    return c.json(schedules.view(row), 201);
  });

  api.get(
    "/schedules",
    (c) => c.json({ schedules: schedules.store.list().map((r) => schedules.view(r)) }),
  );

  api.get(
    "/schedules/:ref",
    (c) => c.json(schedules.view(schedules.resolve(c.req.param("ref")), true)),
  );

  api.put("/schedules/:ref", async (c) => {
    const spec = parseScheduleSpec(await readJson(c.req.raw));
    return c.json(schedules.view(await schedules.update(c.req.param("ref"), spec)));
  });

  api.delete("/schedules/:ref", async (c) => c.json(await schedules.delete(c.req.param("ref"))));

  api.post(
    "/schedules/:ref/pause",
    async (c) => c.json(schedules.view(await schedules.setPaused(c.req.param("ref"), true))),
  );

  api.post(
    "/schedules/:ref/resume",
    async (c) => c.json(schedules.view(await schedules.setPaused(c.req.param("ref"), false))),
  );

  api.get("/schedules/:ref/next", (c) => {
    const text = c.req.query("n") ?? "5";
    const n = Number(text);
    if (!/^\d{1,4}$/.test(text) || n < 1 || n > 1000) {
      throw new HttpError(400, "invalid", "n: expected a whole number from 1 to 1000", "n");
    }
    const row = schedules.resolve(c.req.param("ref"));
    const times = schedules.nextTimes(row, n).map((t) => new Date(t).toISOString());
    return c.json({ schedule: row.name, timezone: schedules.view(row).timezone, times });
  });
}

async function readJson(req: Request): Promise<unknown> {
  try {
    return JSON.parse(await req.text());
  } catch {
    throw new HttpError(400, "invalid", "Request body is not valid JSON");
  }
}
