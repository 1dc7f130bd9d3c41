/**
 * Routes of the report, under `/api/v1` (admins only): `GET /report` renders it as JSON, text
 * or HTML, and `POST /report:send` delivers it now by the configured transports.
 * @module
 */

import type { Context, Hono } from "hono";
import { formatDuration, parseDuration } from "../protocol/mod.ts";
import type { Principal } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import { renderHtml, renderText } from "./report.ts";
import type { Reporter } from "./report_delivery.ts";

type Env = { Variables: { principal: Principal } };

const MAX_PERIOD_MS = 366 * 86_400_000;

/** Mounts the report routes on `api` (already authenticated). */
export function mountReports(api: Hono<Env>, reporter: Reporter | undefined): void {
  if (!reporter) return;
  const render = { timezone: reporter.timezone };

  api.get("/report", (c) => {
    adminOnly(c);
    const report = reporter.report(period(c.req.query("period")));
    const format = c.req.query("format") ?? "json";
    switch (format) {
      case "json":
        return c.json(report);
      case "text":
        return c.text(renderText(report, render));
      case "html":
        return c.html(renderHtml(report, render));
      default:
        throw new HttpError(400, "invalid", 'format: expected "json", "text" or "html"', "format");
    }
  });

  api.post("/report:send", async (c) => {
    adminOnly(c);
    const periodMs = period(c.req.query("period"));
    if (!reporter.configured) {
      throw new HttpError(
        409,
        "conflict",
        "No report transport is configured: start the server with --report-smtp-host or " +
          "--report-webhook",
      );
    }
    const { report, deliveries } = await reporter.send(periodMs);
    return c.json({
      ok: deliveries.every((d) => d.ok),
      from: report.from,
      to: report.to,
      deliveries,
    });
  });
}

function adminOnly(c: Context<Env>): void {
  if (c.get("principal").role !== "admin") {
    throw new HttpError(403, "forbidden", "Only admins may read or send the report");
  }
}

function period(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0 || ms > MAX_PERIOD_MS) {
    throw new HttpError(
      400,
      "invalid",
      `period: expected a duration from 1ms to ${formatDuration(MAX_PERIOD_MS)}, such as 24h`,
      "period",
    );
  }
  return ms;
}
