/**
 * Small pieces the pages and islands share.
 * @module
 */

import type { LiveStatus } from "./lib/live.ts";
import { stateLabel } from "./lib/format.ts";

/** A coloured badge for a job state or an agent status. */
export function StateBadge({ state }: { state: string }) {
  return <span class={`badge s-${state}`} data-state={state}>{stateLabel(state)}</span>;
}

const LIVE_TEXT: Record<LiveStatus, string> = {
  connecting: "connecting…",
  live: "live",
  offline: "reconnecting…",
};

/** Whether the island's data is live. */
export function LiveDot({ status }: { status: LiveStatus }) {
  return (
    <span class="live" data-status={status} role="status" aria-live="polite">
      {LIVE_TEXT[status]}
    </span>
  );
}

/** Labels as `key=value` tags. */
export function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <span class="labels">
      {entries.map(([k, v]) => <span key={k} class="tag">{`${k}=${v}`}</span>)}
    </span>
  );
}
