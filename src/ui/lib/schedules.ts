/**
 * The schedules page's data: each schedule with its newest fire and its next fire times, read
 * from the REST API (`/schedules`, `/schedules/:id`, `/schedules/:id/next`). The server calls
 * {@linkcode loadSchedules} in process for the first render and for the island's polls; the
 * wall-clock formatting is shared so the browser's first render agrees with the server's.
 * @module
 */

import type { FireView, ScheduleList, ScheduleView } from "../../protocol/mod.ts";

/** Next fire times shown per schedule. */
export const NEXT_FIRES = 3;

/** What a row of the schedules page shows (no job template: it may carry secrets in `env`). */
export interface UiSchedule extends
  Pick<
    ScheduleView,
    "id" | "name" | "cron" | "timezone" | "overlap" | "misfire" | "misfire_limit" | "paused"
  > {
  /** The newest fire (started or skipped), with its job's state now. */
  last_fire: FireView | null;
  /** The next fire times (RFC 3339), empty while paused. */
  next: string[];
}

/** `GET /api/v1<path>`: the JSON body, or `null` when the API answers 404. */
export type ApiGet = <T>(path: string) => Promise<T | null>;

/**
 * Every schedule, by name; `null` when the server does not serve schedules. A schedule deleted
 * while this reads is left out.
 */
export async function loadSchedules(get: ApiGet): Promise<UiSchedule[] | null> {
  const list = await get<ScheduleList>("/schedules");
  if (!list) return null;
  const rows = await Promise.all(list.schedules.map(async (s): Promise<UiSchedule | null> => {
    const [detail, next] = await Promise.all([
      get<ScheduleView>(`/schedules/${s.id}`),
      s.paused ? null : get<{ times: string[] }>(`/schedules/${s.id}/next?n=${NEXT_FIRES}`),
    ]);
    return detail && toUiSchedule(detail, next?.times ?? []);
  }));
  return rows.filter((r) => r !== null);
}

/** The row of schedule `view` (as the API answers it) with fire times `next`. */
export function toUiSchedule(view: ScheduleView, next: string[]): UiSchedule {
  const { id, name, cron, timezone, overlap, misfire, misfire_limit, paused } = view;
  return {
    id,
    name,
    cron,
    timezone,
    overlap,
    misfire,
    misfire_limit,
    paused,
    last_fire: view.fires?.[0] ?? null,
    next: paused ? [] : next,
  };
}

/**
 * `2025-03-30 03:00` (with `:ss` when the seconds are not zero): the instant `iso` on the wall
 * clock of `timeZone`. Built from numeric parts so the server's and the browser's ICU agree.
 */
export function formatWallClock(iso: string, timeZone: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }).formatToParts(date);
  } catch {
    // A zone this browser does not know: UTC is still correct, only less friendly.
    return iso.replace("T", " ").replace(/(:\d\d)(\.\d+)?Z$/, "$1Z");
  }
  const p = (type: string) => parts.find((x) => x.type === type)?.value ?? "";
  const seconds = p("second") === "00" ? "" : `:${p("second")}`;
  return `${p("year")}-${p("month")}-${p("day")} ${p("hour")}:${p("minute")}${seconds}`;
}
