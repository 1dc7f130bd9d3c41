import assert from "node:assert/strict";
import { renderToString } from "preact-render-to-string";
import type { AgentUptimeView } from "../../src/protocol/mod.ts";
import {
  formatPercent,
  loadUptimes,
  toUiUptime,
  type UiUptime,
  uptimeSegments,
} from "../../src/ui/lib/uptime.ts";
import { Uptime } from "../../src/ui/uptime.tsx";

const H = 3_600_000;
const NOW = Date.parse("2026-11-23T12:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

function view(firstSeen: number, intervals: Array<[number, number]>): AgentUptimeView {
  const win = (hours: number, percent: number | null) => ({
    percent,
    up_ms: 0,
    known_ms: 0,
    window_ms: hours * H,
    intervals: intervals.map(([s, e]) => ({ start: iso(s), end: iso(e) })),
  });
  return {
    agent_id: "a-1",
    name: "a",
    first_seen: iso(firstSeen),
    windows: { "24h": win(24, 75), "7d": win(168, 99.5), "30d": win(720, 99.875) },
  };
}

Deno.test("toUiUptime() keeps the percentages and the last day's intervals", () => {
  const u = toUiUptime(view(NOW - 30 * H, [[NOW - 10 * H, NOW - 4 * H]]), NOW);
  assert.deepEqual(u, {
    percent: { "24h": 75, "7d": 99.5, "30d": 99.875 },
    from: NOW - 24 * H,
    to: NOW,
    firstSeen: NOW - 30 * H,
    up: [[NOW - 10 * H, NOW - 4 * H]],
  });
});

Deno.test("uptimeSegments() splits the day into unknown, connected and disconnected stretches", () => {
  const day = { percent: { "24h": null, "7d": null, "30d": null }, from: NOW - 24 * H, to: NOW };
  // First seen 12 h ago, up 12-8 h ago and 2 h ago until now.
  const u: UiUptime = {
    ...day,
    firstSeen: NOW - 12 * H,
    up: [[NOW - 12 * H, NOW - 8 * H], [NOW - 2 * H, NOW]],
  };
  assert.deepEqual(uptimeSegments(u).map((s) => [s.kind, (NOW - s.start) / H, (NOW - s.end) / H]), [
    ["unknown", 24, 12],
    ["up", 12, 8],
    ["down", 8, 2],
    ["up", 2, 0],
  ]);
  // Known for longer than the day, down at both ends.
  const v: UiUptime = { ...day, firstSeen: NOW - 100 * H, up: [[NOW - 20 * H, NOW - 10 * H]] };
  assert.deepEqual(uptimeSegments(v).map((s) => s.kind), ["down", "up", "down"]);
  // Never seen: all unknown.
  assert.deepEqual(uptimeSegments({ ...day, firstSeen: null, up: [] }).map((s) => s.kind), [
    "unknown",
  ]);
});

Deno.test("formatPercent() rounds down, so any downtime shows below 100%", () => {
  assert.equal(formatPercent(100), "100%");
  assert.equal(formatPercent(99.999), "99.99%");
  assert.equal(formatPercent(99.95), "99.95%");
  assert.equal(formatPercent(0), "0%");
  assert.equal(formatPercent(null), "—");
});

Deno.test("loadUptimes() reads each agent's uptime and leaves out the ones the API refuses", async () => {
  const asked: string[] = [];
  const get = <T,>(path: string): Promise<T | null> => {
    asked.push(path);
    if (path.includes("gone")) return Promise.resolve(null);
    if (path.includes("broken")) return Promise.reject(new Error("500"));
    return Promise.resolve(view(NOW - H, [[NOW - H, NOW]]) as T);
  };
  const got = await loadUptimes(get, ["a-1", "gone", "broken", "b/2"], NOW);
  assert.deepEqual(Object.keys(got), ["a-1", "b/2"]);
  assert.ok(asked.includes("/agents/b%2F2/uptime"));
});

Deno.test("<Uptime> shows the three percentages and a labelled timeline", () => {
  const html = renderToString(
    <Uptime uptime={toUiUptime(view(NOW - 12 * H, [[NOW - 12 * H, NOW - 6 * H]]), NOW)} />,
  );
  assert.match(html, /data-uptime="24h"><span class="muted">24h<\/span> 75%/);
  assert.match(html, /data-uptime="30d"><span class="muted">30d<\/span> 99\.87%/);
  assert.match(html, /aria-label="Connected 6h 00m of the last 24 h"/);
  assert.equal(html.match(/data-segment="up"/g)?.length, 1);
  assert.equal(html.match(/data-segment="down"/g)?.length, 1);
  assert.match(html, /data-segment="unknown" style="width:50\.000%"/);
  assert.match(renderToString(<Uptime uptime={undefined} />), /24h<\/span> —/);
});
