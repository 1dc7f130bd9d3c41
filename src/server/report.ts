/**
 * The daily report: what happened over a period (default the last 24 h), read from the store
 * with SQL: jobs finished per queue and how they ended, the slowest jobs, the jobs (by name)
 * that failed most, each agent's uptime over the period from its connection sessions, and the
 * agents lost. {@linkcode renderText} and {@linkcode renderHtml} turn it into a mail body;
 * the JSON form is the {@linkcode Report} itself.
 * @module
 */

import { formatDuration } from "../protocol/mod.ts";
import type { AgentHealth } from "./health.ts";
import { Statements } from "./sql.ts";
import type { Store } from "./store.ts";
import { uptime } from "./uptime.ts";

/** How the jobs of one queue (or of all queues) ended during the period. */
export interface QueueSummary {
  queue: string;
  /** Jobs that reached a final state during the period. */
  finished: number;
  succeeded: number;
  failed: number;
  timed_out: number;
  cancelled: number;
}

/** One of the slowest jobs that finished during the period. */
export interface SlowJob {
  id: number;
  name: string | null;
  queue: string;
  state: string;
  /** From its (last) start to its end. */
  duration_ms: number;
}

/** Jobs of one name that ended badly during the period. */
export interface FailingJob {
  /** The jobs' name (`null`: jobs without one). */
  name: string | null;
  failed: number;
  timed_out: number;
  /** Jobs of this name that finished during the period, whatever the outcome. */
  finished: number;
}

/** An agent's uptime over the period. */
export interface AgentLine {
  id: string;
  name: string;
  /** Status when the report was made (`connected`, `disconnected`, `lost`). */
  status: string;
  /** Share of the period it was connected, of the part it was known; `null` if unknown. */
  uptime_percent: number | null;
  up_ms: number;
  known_ms: number;
}

/** An agent that is lost and was last connected during the period. */
export interface LostAgent {
  id: string;
  name: string;
  /** RFC 3339: when its last connection ended. */
  last_seen: string;
}

/** The report, as JSON. Instants are RFC 3339. */
export interface Report {
  from: string;
  to: string;
  period_ms: number;
  totals: Omit<QueueSummary, "queue">;
  queues: QueueSummary[];
  slowest: SlowJob[];
  most_failing: FailingJob[];
  agents: AgentLine[];
  agents_lost: LostAgent[];
  /** Attempts requeued during the period because their agent vanished. */
  lost_attempts: number;
}

/** Options of {@linkcode buildReport}. */
export interface ReportOptions {
  /** End of the period (ms since the epoch). */
  now: number;
  /** Length of the period in ms (default 24 h). */
  periodMs?: number;
  /** Rows in the slowest and most-failing lists (default 5). */
  top?: number;
}

/** Default report period: 24 hours. */
export const DEFAULT_REPORT_PERIOD_MS = 86_400_000;

const iso = (ms: number) => new Date(ms).toISOString();

/** Gathers the report for the period that ends at `options.now`. */
export function buildReport(store: Store, health: AgentHealth, options: ReportOptions): Report {
  const sql = new Statements(store.db);
  const to = options.now;
  const periodMs = options.periodMs ?? DEFAULT_REPORT_PERIOD_MS;
  const from = to - periodMs;
  const top = options.top ?? 5;
  const ended = "finished_at >= ? AND finished_at < ?";
  const jobEnded = `${ended} AND state IN ('succeeded', 'failed', 'timed_out', 'cancelled')`;

  const queues = sql.all<QueueSummary>(
    `SELECT queue, COUNT(*) AS finished,
        SUM(state = 'succeeded') AS succeeded, SUM(state = 'failed') AS failed,
        SUM(state = 'timed_out') AS timed_out, SUM(state = 'cancelled') AS cancelled
      FROM jobs WHERE ${jobEnded} GROUP BY queue ORDER BY queue`,
    from,
    to,
  );
  const totals = { finished: 0, succeeded: 0, failed: 0, timed_out: 0, cancelled: 0 };
  for (const q of queues) {
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += q[k];
  }
  const slowest = sql.all<SlowJob>(
    `SELECT id, name, queue, state, finished_at - started_at AS duration_ms FROM jobs
      WHERE ${jobEnded} AND started_at IS NOT NULL
      ORDER BY duration_ms DESC, id LIMIT ?`,
    from,
    to,
    top,
  );
  const mostFailing = sql.all<FailingJob>(
    `SELECT name, SUM(state = 'failed') AS failed, SUM(state = 'timed_out') AS timed_out,
        COUNT(*) AS finished
      FROM jobs WHERE ${jobEnded} GROUP BY name HAVING failed + timed_out > 0
      ORDER BY failed + timed_out DESC, finished DESC, name LIMIT ?`,
    from,
    to,
    top,
  );

  const agents = sql.all<{ id: string; name: string; status: string }>(
    "SELECT id, name, status FROM agents ORDER BY name, id",
  ).map((a): AgentLine => {
    const sessions = health.sessions(a.id, to, periodMs);
    const u = uptime(sessions, to, periodMs, health.firstSeen(a.id) ?? undefined);
    return { ...a, uptime_percent: u.percent, up_ms: u.up_ms, known_ms: u.known_ms };
  }).filter((a) => a.known_ms > 0);

  const lost = sql.all<{ id: string; name: string; last_seen: number }>(
    `SELECT a.id, a.name, MAX(s.disconnected_at) AS last_seen
      FROM agents a JOIN agent_sessions s ON s.agent_id = a.id
      WHERE a.status = 'lost' GROUP BY a.id HAVING last_seen >= ? AND last_seen < ?
      ORDER BY last_seen`,
    from,
    to,
  );
  const lostAttempts = sql.get<{ n: number }>(
    `SELECT COUNT(*) AS n FROM attempts WHERE state = 'lost' AND ${ended}`,
    from,
    to,
  )?.n ?? 0;

  return {
    from: iso(from),
    to: iso(to),
    period_ms: periodMs,
    totals,
    // Rows come with a null prototype; plain copies compare and print like any object.
    queues: queues.map((q) => ({ ...q })),
    slowest: slowest.map((j) => ({ ...j })),
    most_failing: mostFailing.map((j) => ({ ...j })),
    agents,
    agents_lost: lost.map((a) => ({ ...a, last_seen: iso(a.last_seen) })),
    lost_attempts: lostAttempts,
  };
}

/** Options of the renderers. */
export interface RenderOptions {
  /** IANA zone the instants are shown in (default `UTC`). */
  timezone?: string;
}

/** A one-line summary, used as the mail subject. */
export function reportSubject(report: Report, options: RenderOptions = {}): string {
  const t = report.totals;
  const day = localTime(report.to, options.timezone).slice(0, 10);
  return `jobdist report ${day}: ${t.finished} jobs, ${t.failed} failed, ` +
    `${t.timed_out} timed out, ${report.agents_lost.length} agents lost`;
}

/** The report as plain text. */
export function renderText(report: Report, options: RenderOptions = {}): string {
  const out: string[] = [];
  for (const section of sections(report, options)) {
    out.push(section.title, "");
    if (section.rows.length === 0) out.push(`  ${section.empty}`);
    else out.push(...columns([section.header, ...section.rows]).map((l) => `  ${l}`));
    out.push("");
  }
  return [heading(report, options), "", ...out].join("\n").trimEnd() + "\n";
}

/** The report as an HTML document (every value escaped). */
export function renderHtml(report: Report, options: RenderOptions = {}): string {
  const cell = "padding:2px 12px 2px 0;text-align:left";
  const body = sections(report, options).map((s) => {
    const table = s.rows.length === 0 ? `<p><em>${escapeHtml(s.empty)}</em></p>` : [
      "<table>",
      `<tr>${s.header.map((h) => `<th style="${cell}">${escapeHtml(h)}</th>`).join("")}</tr>`,
      ...s.rows.map((r) =>
        `<tr>${r.map((c) => `<td style="${cell}">${escapeHtml(c)}</td>`).join("")}</tr>`
      ),
      "</table>",
    ].join("\n");
    return `<h2 style="font-size:16px">${escapeHtml(s.title)}</h2>\n${table}`;
  });
  return [
    "<!DOCTYPE html>",
    '<html><head><meta charset="utf-8"><title>jobdist report</title></head>',
    '<body style="font-family:sans-serif;font-size:14px">',
    `<h1 style="font-size:18px">${escapeHtml(heading(report, options))}</h1>`,
    ...body,
    "</body></html>",
    "",
  ].join("\n");
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

interface Section {
  title: string;
  header: string[];
  rows: string[][];
  empty: string;
}

function heading(report: Report, options: RenderOptions): string {
  const zone = options.timezone ?? "UTC";
  return `jobdist report: ${localTime(report.from, zone)} to ${localTime(report.to, zone)} ` +
    `${zone} (${formatDuration(report.period_ms)})`;
}

function sections(report: Report, options: RenderOptions): Section[] {
  const t = report.totals;
  const counts = (q: Omit<QueueSummary, "queue">) =>
    [q.finished, q.succeeded, q.failed, q.timed_out, q.cancelled].map(String);
  const name = (n: string | null) => n ?? "(unnamed)";
  return [
    {
      title: "Jobs by queue",
      header: ["QUEUE", "FINISHED", "SUCCEEDED", "FAILED", "TIMED OUT", "CANCELLED"],
      rows: report.queues.length
        ? [...report.queues.map((q) => [q.queue, ...counts(q)]), ["all", ...counts(t)]]
        : [],
      empty: "No job finished.",
    },
    {
      title: "Slowest jobs",
      header: ["ID", "NAME", "QUEUE", "STATE", "DURATION"],
      rows: report.slowest.map((j) => [
        String(j.id),
        name(j.name),
        j.queue,
        j.state,
        formatDuration(j.duration_ms),
      ]),
      empty: "No job ran.",
    },
    {
      title: "Most failing jobs",
      header: ["NAME", "FAILED", "TIMED OUT", "FINISHED"],
      rows: report.most_failing.map((j) => [
        name(j.name),
        String(j.failed),
        String(j.timed_out),
        String(j.finished),
      ]),
      empty: "No job failed.",
    },
    {
      title: "Agent uptime",
      header: ["AGENT", "STATUS", "UPTIME", "CONNECTED", "KNOWN"],
      rows: report.agents.map((a) => [
        a.name,
        a.status,
        a.uptime_percent === null ? "-" : `${a.uptime_percent.toFixed(2)}%`,
        formatDuration(a.up_ms),
        formatDuration(a.known_ms),
      ]),
      empty: "No agent was known.",
    },
    {
      title: `Agents lost (attempts requeued: ${report.lost_attempts})`,
      header: ["AGENT", "ID", "LAST SEEN"],
      rows: report.agents_lost.map((a) => [
        a.name,
        a.id,
        localTime(a.last_seen, options.timezone),
      ]),
      empty: "No agent was lost.",
    },
  ];
}

/** `2026-11-23 07:00` in `timezone`. */
function localTime(instant: string, timezone = "UTC"): string {
  // The Swedish locale writes ISO-like dates (`2026-11-23 07:00`).
  return new Intl.DateTimeFormat("sv-SE", {
    timeZone: timezone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(new Date(instant));
}

/**
 * Aligned columns. The CLI has `table()` for this, but the server cannot import the CLI (the
 * layers only point down), and mail bodies need the same shape.
 */
function columns(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
}
