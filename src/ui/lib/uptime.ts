/**
 * Agent uptime on the agents page: each agent's connected share of the last 24 h, 7 d and 30 d,
 * and a timeline of the last 24 h, read from `GET /api/v1/agents/:id/uptime`. The server calls
 * {@linkcode loadUptimes} in process for the first render; the island calls it again through
 * the API gateway when an agent comes or goes and once a minute.
 * @module
 */

import type { AgentUptimeView } from "../../protocol/mod.ts";
import type { ApiGet } from "./schedules.ts";

/** The windows shown, shortest first. */
export const UPTIME_WINDOWS = ["24h", "7d", "30d"] as const;

/** A window of {@linkcode UPTIME_WINDOWS}. */
export type UptimeWindow = typeof UPTIME_WINDOWS[number];

/** What the page shows of one agent's uptime (only the last day's intervals: props stay small). */
export interface UiUptime {
  /** Connected share of each window since the agent was first seen, 0 to 100; `null`: unknown. */
  percent: Record<UptimeWindow, number | null>;
  /** Start and end (ms) of the timeline's day. */
  from: number;
  to: number;
  /** When the agent was first seen (ms), or `null`. */
  firstSeen: number | null;
  /** Connected intervals within the day, oldest first, as `[start, end]` in ms. */
  up: Array<[number, number]>;
}

/** One stretch of the timeline. */
export interface UptimeSegment {
  /** `up`: connected; `down`: known but not connected; `unknown`: before it was first seen. */
  kind: "up" | "down" | "unknown";
  start: number;
  end: number;
}

/** The page's view of an API answer fetched at `now`. */
export function toUiUptime(view: AgentUptimeView, now: number): UiUptime {
  const day = view.windows["24h"];
  return {
    percent: {
      "24h": view.windows["24h"].percent,
      "7d": view.windows["7d"].percent,
      "30d": view.windows["30d"].percent,
    },
    from: now - day.window_ms,
    to: now,
    firstSeen: view.first_seen ? Date.parse(view.first_seen) : null,
    up: day.intervals.map((i) => [Date.parse(i.start), Date.parse(i.end)]),
  };
}

/**
 * The uptime of each agent of `ids` fetched at `now`; agents the API does not answer for
 * (forgotten meanwhile, or not visible to the viewer) are left out.
 */
export async function loadUptimes(
  get: ApiGet,
  ids: string[],
  now: number,
): Promise<Record<string, UiUptime>> {
  const views = await Promise.all(
    ids.map((id) =>
      get<AgentUptimeView>(`/agents/${encodeURIComponent(id)}/uptime`).catch(() => null)
    ),
  );
  const out: Record<string, UiUptime> = {};
  views.forEach((v, i) => {
    if (v) out[ids[i]] = toUiUptime(v, now);
  });
  return out;
}

/** The timeline of `u` from its `from` to its `to`: unknown, then connected and not. */
export function uptimeSegments(u: UiUptime): UptimeSegment[] {
  const known = Math.min(u.to, Math.max(u.from, u.firstSeen ?? u.to));
  const out: UptimeSegment[] = [];
  const push = (kind: UptimeSegment["kind"], start: number, end: number) => {
    if (end > start) out.push({ kind, start, end });
  };
  push("unknown", u.from, known);
  let at = known;
  for (const [start, end] of u.up) {
    const s = Math.max(start, at);
    const e = Math.min(end, u.to);
    if (e <= s) continue;
    push("down", at, s);
    push("up", s, e);
    at = e;
  }
  push("down", at, u.to);
  return out;
}

/**
 * `99.95%`: rounded down to two decimals, so a window with any downtime never shows 100 %;
 * `—` when unknown.
 */
export function formatPercent(p: number | null): string {
  return p === null ? "—" : `${Math.floor(p * 100 + 1e-6) / 100}%`;
}
