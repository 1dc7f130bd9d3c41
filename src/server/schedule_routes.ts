/**
 * `/api/v1/schedules`: cron schedules (create, list, show, replace, delete, pause, resume and a
 * preview of the next fire times). `:ref` is a schedule's id or its name.
 * @module
 */

import type { Hono } from "hono";
import { parseScheduleSpec } from "../protocol/mod.ts";
import { canChange, canRead } from "./access.ts";
import type { Principal } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import type { ScheduleRow } from "./schedule_store.ts";
import type { ScheduleManager } from "./schedules.ts";

type Env = { Variables: { principal: Principal } };

/** Mounts the schedule routes on the (authenticated) API app. */
export function mountSchedules(api: Hono<Env>, schedules: ScheduleManager): void {
  /** Schedule `ref` if `p` may read it (and, with `change`, change it); a user's view of
   * someone else's schedule is `404`. Returns its id, so the change goes to this very row. */
  const allowed = (p: Principal, ref: string, change = false): ScheduleRow => {
    const row = schedules.resolve(ref);
    if (!canRead(p, row.owner)) throw new HttpError(404, "not_found", `No schedule ${ref}`);
    if (change && !canChange(p, row.owner)) {
      throw new HttpError(
        403,
        "forbidden",
        `Cannot change schedule ${ref}: it belongs to ${row.owner}`,
      );
    }
    return row;
  };

  api.post("/schedules", async (c) => {
    const spec = parseScheduleSpec(await readJson(c.req.raw));
    const row = await schedules.create(spec, c.get("principal").name);
    return c.json(schedules.view(row), 201);
  });

  api.get(
    "/schedules",
    (c) =>
      c.json({
        schedules: schedules.store.list().filter((r) => canRead(c.get("principal"), r.owner))
          .map((r) => schedules.view(r)),
      }),
  );

  api.get(
    "/schedules/:ref",
    (c) => c.json(schedules.view(allowed(c.get("principal"), c.req.param("ref")), true)),
  );

  api.put("/schedules/:ref", async (c) => {
    const spec = parseScheduleSpec(await readJson(c.req.raw));
    const row = allowed(c.get("principal"), c.req.param("ref"), true);
    return c.json(schedules.view(await schedules.update(String(row.id), spec)));
  });

  api.delete("/schedules/:ref", async (c) => {
    const row = allowed(c.get("principal"), c.req.param("ref"), true);
    return c.json(await schedules.delete(String(row.id)));
  });

  api.post(
    "/schedules/:ref/pause",
    async (c) => {
      const row = allowed(c.get("principal"), c.req.param("ref"), true);
      return c.json(schedules.view(await schedules.setPaused(String(row.id), true)));
    },
  );

  api.post(
    "/schedules/:ref/resume",
    async (c) => {
      const row = allowed(c.get("principal"), c.req.param("ref"), true);
      return c.json(schedules.view(await schedules.setPaused(String(row.id), false)));
    },
  );

  api.get("/schedules/:ref/next", (c) => {
    const text = c.req.query("n") ?? "5";
    const n = Number(text);
    if (!/^\d{1,4}$/.test(text) || n < 1 || n > 1000) {
      throw new HttpError(400, "invalid", "n: expected a whole number from 1 to 1000", "n");
    }
    const row = allowed(c.get("principal"), c.req.param("ref"));
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
