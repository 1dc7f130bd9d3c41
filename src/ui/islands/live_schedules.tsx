/**
 * The schedules page: every cron schedule with its policies, its newest fire (and that job's
 * state) and its next fire times, with pause and resume buttons. `/ws/ui` has no schedule
 * topic, so the island polls `/ui/data/schedules` every few seconds while the tab is visible.
 * @module
 */

import { useEffect, useRef, useState } from "preact/hooks";
import type { FireView, ScheduleView } from "../../protocol/mod.ts";
import { LiveDot, StateBadge } from "../components.tsx";
import { API, ApiError, call } from "../lib/api.ts";
import { formatAgo, formatInstant } from "../lib/format.ts";
import { type LiveStatus, useNow } from "../lib/live.ts";
import { formatWallClock, toUiSchedule, type UiSchedule } from "../lib/schedules.ts";

/** Props of {@linkcode LiveSchedules}. */
export interface LiveSchedulesProps {
  schedules: UiSchedule[];
  /** When the server rendered the page (ms). */
  now: number;
}

/** How often the list is read again. */
const POLL_MS = 3_000;

/** The schedules island. */
export function LiveSchedules(props: LiveSchedulesProps) {
  const [schedules, setSchedules] = useState(props.schedules);
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<number | null>(null);
  const now = useNow(props.now);
  // Bumped by every change made here, so a poll that started before it cannot undo it.
  const version = useRef(0);

  const refresh = async () => {
    const seen = version.current;
    try {
      const page = await call<{ schedules: UiSchedule[] }>("GET", "/ui/data/schedules");
      if (version.current === seen) setSchedules(page.schedules);
      setStatus("live");
    } catch {
      setStatus("offline");
    }
  };

  useEffect(() => {
    refresh();
    const timer = setInterval(() => {
      if (!document.hidden) refresh();
    }, POLL_MS);
    const onVisible = () => {
      if (!document.hidden) refresh();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, []);

  const setPaused = async (s: UiSchedule, paused: boolean) => {
    setError(null);
    setBusy(s.id);
    version.current++;
    try {
      const view = await call<ScheduleView>(
        "POST",
        `${API}/schedules/${s.id}/${paused ? "pause" : "resume"}`,
      );
      // The answer has no fires or fire times: keep the row's, then read them again.
      setSchedules((list) =>
        list.map((r) =>
          r.id === view.id ? { ...toUiSchedule(view, r.next), last_fire: r.last_fire } : r
        )
      );
      version.current++;
      await refresh();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      <h1>
        Schedules <LiveDot status={status} />
      </h1>
      {error && <p class="error" role="alert">{error}</p>}
      {schedules.length === 0
        ? (
          <p class="muted">
            No schedule yet. Create one with{" "}
            <code>jobdist schedules create NAME --cron '…' --shell '…'</code>.
          </p>
        )
        : (
          <div class="table-wrap">
            <table class="schedules">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Cron</th>
                  <th>Time zone</th>
                  <th>Overlap</th>
                  <th>Misfire</th>
                  <th>Last fire</th>
                  <th>Next fires</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {schedules.map((s) => (
                  <ScheduleRow
                    key={s.id}
                    schedule={s}
                    now={now}
                    busy={busy === s.id}
                    onPause={(paused) => setPaused(s, paused)}
                  />
                ))}
              </tbody>
            </table>
          </div>
        )}
    </>
  );
}

function ScheduleRow(
  { schedule: s, now, busy, onPause }: {
    schedule: UiSchedule;
    now: number;
    busy: boolean;
    onPause: (paused: boolean) => void;
  },
) {
  return (
    <tr data-schedule={s.name} aria-label={`Schedule ${s.name}`}>
      <td>
        <strong>{s.name}</strong> <StateBadge state={s.paused ? "paused" : "active"} />
      </td>
      <td class="mono nowrap" data-label="Cron">{s.cron}</td>
      <td data-label="Time zone">{s.timezone}</td>
      <td data-label="Overlap">{s.overlap}</td>
      <td data-label="Misfire">
        {s.misfire === "run_all" ? `run_all (at most ${s.misfire_limit})` : s.misfire}
      </td>
      <td data-label="Last fire" data-last-fire>
        <LastFire fire={s.last_fire} timeZone={s.timezone} now={now} />
      </td>
      <td data-label="Next fires" data-next-fires>
        {s.paused
          ? <span class="muted">paused</span>
          : s.next.length === 0
          ? <span class="muted">never again</span>
          : (
            <ol class="fires">
              {s.next.map((t, i) => (
                <li key={t}>
                  <time dateTime={t} title={formatInstant(t)}>
                    {formatWallClock(t, s.timezone)}
                  </time>
                  {i === 0 && <span class="muted">{` · ${formatAgo(t, now)}`}</span>}
                </li>
              ))}
            </ol>
          )}
      </td>
      <td>
        {s.paused
          ? (
            <button type="button" disabled={busy} onClick={() => onPause(false)}>
              Resume
            </button>
          )
          : (
            <button type="button" disabled={busy} onClick={() => onPause(true)}>
              Pause
            </button>
          )}
      </td>
    </tr>
  );
}

function LastFire(
  { fire, timeZone, now }: { fire: FireView | null; timeZone: string; now: number },
) {
  if (!fire) return <span class="muted">not yet</span>;
  return (
    <div>
      <time dateTime={fire.fire_time} title={formatInstant(fire.fire_time)}>
        {formatWallClock(fire.fire_time, timeZone)}
      </time>
      <span class="muted">{` · ${formatAgo(fire.fire_time, now)}`}</span>
      <div class="labels">
        {fire.job_id !== null && <a href={`/jobs/${fire.job_id}`}>#{fire.job_id}</a>}
        {fire.outcome === "skipped"
          ? <StateBadge state="skipped" />
          : fire.job_state && <StateBadge state={fire.job_state} />}
      </div>
      {fire.reason && <div class="reason">{fire.reason}</div>}
    </div>
  );
}
