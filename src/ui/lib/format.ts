/**
 * Formatting shared by server rendering and the browser. Relative times take `now` so the
 * server and the hydrating browser can agree on it (the page passes its render time).
 * @module
 */

/** `3s`, `4m 05s`, `2h 10m`, `3d 4h` for a span of `ms`. */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** `5s ago` for an RFC 3339 instant, or `—` for none. */
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return "—";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "—";
  return t > now + 1000 ? `in ${formatSpan(t - now)}` : `${formatSpan(now - t)} ago`;
}

/** Time between two instants (or until `now` when `to` is missing). */
export function formatBetween(
  from: string | null | undefined,
  to: string | null | undefined,
  now: number,
): string {
  if (!from) return "—";
  return formatSpan((to ? Date.parse(to) : now) - Date.parse(from));
}

/** `2024-05-01 12:30:05Z` for an RFC 3339 instant. */
export function formatInstant(iso: string | null | undefined): string {
  if (!iso) return "—";
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** `1.5 KiB` for a byte count. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** The label of a job state (`timed_out` -> `timed out`). */
export function stateLabel(state: string): string {
  return state.replace("_", " ");
}
