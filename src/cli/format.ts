/**
 * Plain-text tables and small formatting helpers for the CLI.
 * @module
 */

import { formatDuration } from "../protocol/mod.ts";

/** Renders rows as aligned columns under a header. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** "3m ago" for an RFC 3339 instant. */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return "-";
  const ms = now - Date.parse(iso);
  return ms < 0 ? `in ${formatDuration(-ms)}` : `${formatDuration(ms)} ago`;
}

/** Shortens `text` to `max` characters. */
export function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, " ");
  return one.length <= max ? one : one.slice(0, max - 1) + "…";
}

/** Prints `value` as indented JSON (the `--json` output); returns exit code 0. */
export function printJson(value: unknown): number {
  console.log(JSON.stringify(value, null, 2));
  return 0;
}
