/**
 * An agent's uptime: its connected share of the last 24 h, 7 d and 30 d, and a bar of the last
 * 24 h in which connected stretches are green and disconnected ones red.
 * @module
 */

import { formatSpan } from "./lib/format.ts";
import {
  formatPercent,
  type UiUptime,
  UPTIME_WINDOWS,
  type UptimeSegment,
  uptimeSegments,
} from "./lib/uptime.ts";

const KIND_TEXT: Record<UptimeSegment["kind"], string> = {
  up: "connected",
  down: "disconnected",
  unknown: "not seen yet",
};

/** Percentages per window and the 24 h timeline; `—` while unknown. */
export function Uptime({ uptime }: { uptime: UiUptime | undefined }) {
  const segments = uptime ? uptimeSegments(uptime) : [];
  const span = uptime ? uptime.to - uptime.from : 1;
  const up = segments.filter((s) => s.kind === "up").reduce((n, s) => n + s.end - s.start, 0);
  return (
    <div class="uptime">
      <span class="uptime-pcts">
        {UPTIME_WINDOWS.map((w) => (
          <span key={w} data-uptime={w}>
            <span class="muted">{w}</span> {formatPercent(uptime?.percent[w] ?? null)}
          </span>
        ))}
      </span>
      {uptime && (
        <div
          class="timeline"
          role="img"
          aria-label={`Connected ${formatSpan(up)} of the last 24 h`}
          data-timeline
        >
          {segments.map((s) => (
            <span
              key={s.start}
              class={`seg-${s.kind}`}
              data-segment={s.kind}
              style={`width:${pct(s.end - s.start, span)}%`}
              title={`${KIND_TEXT[s.kind]} ${clock(s.start)}–${clock(s.end)} (${
                formatSpan(s.end - s.start)
              })`}
            />
          ))}
        </div>
      )}
    </div>
  );
}

function pct(part: number, whole: number): string {
  return ((part / whole) * 100).toFixed(3);
}

/** `14:05Z` for an instant (ms). */
function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 16) + "Z";
}
