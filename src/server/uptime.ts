/**
 * Uptime from connection sessions: the share of a window an agent spent connected, computed
 * from its session intervals (not by counting heartbeats, which would depend on the heartbeat
 * interval and on lost frames). Pure functions; the caller passes the clock.
 * @module
 */

/** One connection of an agent; `end` is `null` while it is still connected. */
export interface Session {
  start: number;
  end: number | null;
}

/** Uptime of one agent over one window. */
export interface Uptime {
  /** Window length asked for, in ms. */
  window_ms: number;
  /**
   * Part of the window since the agent was first seen (ms): a new agent is not charged for the
   * time before it existed.
   */
  known_ms: number;
  /** Connected time inside the window, in ms (overlapping sessions count once). */
  up_ms: number;
  /** `up_ms / known_ms` as a percentage (0 to 100), `null` when the agent is unknown to it. */
  percent: number | null;
  /** Connected intervals clipped to the window, merged and oldest first (a timeline). */
  intervals: Array<{ start: number; end: number }>;
}

/**
 * Uptime over the `windowMs` before `now`. Sessions still open count up to `now`. `firstSeen`
 * (default: the start of the earliest session) is when the agent became known.
 */
export function uptime(
  sessions: readonly Session[],
  now: number,
  windowMs: number,
  firstSeen?: number,
): Uptime {
  const from = now - windowMs;
  const clipped = sessions
    .map((s) => ({ start: Math.max(s.start, from), end: Math.min(s.end ?? now, now) }))
    .filter((s) => s.end > s.start)
    .sort((a, b) => a.start - b.start);
  const intervals: Array<{ start: number; end: number }> = [];
  for (const s of clipped) {
    const last = intervals[intervals.length - 1];
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else intervals.push({ ...s });
  }
  const up = intervals.reduce((sum, s) => sum + (s.end - s.start), 0);
  const seen = firstSeen ?? Math.min(...sessions.map((s) => s.start));
  const known = Number.isFinite(seen) ? Math.max(0, now - Math.max(seen, from)) : 0;
  return {
    window_ms: windowMs,
    known_ms: known,
    up_ms: up,
    percent: known > 0 ? Math.round((up / known) * 100_000) / 1000 : null,
    intervals,
  };
}
