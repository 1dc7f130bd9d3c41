/**
 * The dashboard's routes (`/`, its assets and the `/ws/ui` event stream).
 * @module
 */

import type { Hono } from "hono";
import type { Authenticator, Principal } from "./auth.ts";
import type { Scheduler } from "./scheduler.ts";

/** What the dashboard routes need. */
export interface UiDeps {
  scheduler: Scheduler;
  auth: Authenticator;
}

/** Mounts the dashboard on `app`. */
export function mountUi(
  app: Hono<{ Variables: { principal: Principal } }>,
  _deps: UiDeps,
): void {
  app.get("/", (c) =>
    c.html(
      "<!doctype html><title>jobdist</title><p>jobdist is running. See <a href=/api/v1/jobs>/api/v1/jobs</a>.</p>",
    ));
}
