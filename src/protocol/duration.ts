/**
 * Durations cross every boundary as strings with a unit: `"500ms"`, `"90s"`, `"15m"`, `"2h"`,
 * `"1d"`, or a compound such as `"1h30m"`. This module turns them into milliseconds and back.
 * @module
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Parses `"1h30m"` into milliseconds, or returns `undefined` when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 40) return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (!m || m.index !== at) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Formats milliseconds for people: `1.2s`, `3m4s`, `2h5m`. */
export function formatDuration(ms: number): string {
  // Each unit's limit is checked on the rounded value, so 59,999 ms reads "1m", not "60s".
  if (Math.round(ms) < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 9_950) return `${(ms / 1_000).toFixed(1)}s`;
  if (Math.round(ms / 1_000) < 60) return `${Math.round(ms / 1_000)}s`;
  const s = Math.round(ms / 1_000);
  if (s < 3_600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}`;
  const m = Math.round(s / 60);
  if (m < 1_440) return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ""}`;
  return `${Math.floor(m / 1_440)}d${Math.floor((m % 1_440) / 60)}h`;
}
