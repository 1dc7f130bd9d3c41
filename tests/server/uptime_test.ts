import assert from "node:assert/strict";
import { uptime } from "../../src/server/uptime.ts";

const H = 3_600_000;
const DAY = 24 * H;
/** A fake "now": 30 days after the epoch, so every window fits. */
const NOW = 30 * DAY;

Deno.test("uptime() counts connected time inside the window, with gaps", () => {
  // Up 0-6h, down 6-8h, up 8-20h, down 20-24h of the last day; known for the whole day.
  const start = NOW - DAY;
  const u = uptime(
    [
      { start: start - H, end: start + 6 * H }, // began before the window: clipped
      { start: start + 8 * H, end: start + 20 * H },
    ],
    NOW,
    DAY,
  );
  assert.equal(u.up_ms, 18 * H);
  assert.equal(u.known_ms, DAY);
  assert.equal(u.percent, 75);
  assert.deepEqual(u.intervals, [
    { start, end: start + 6 * H },
    { start: start + 8 * H, end: start + 20 * H },
  ]);
});

Deno.test("uptime() counts an open session up to now", () => {
  const u = uptime([{ start: NOW - 12 * H, end: null }], NOW, DAY, NOW - 2 * DAY);
  assert.equal(u.up_ms, 12 * H);
  assert.equal(u.percent, 50);
  assert.deepEqual(u.intervals, [{ start: NOW - 12 * H, end: NOW }]);
});

Deno.test("uptime() does not charge an agent for the time before it was first seen", () => {
  // First seen 10 h ago, connected 5 h of those.
  const u = uptime(
    [
      { start: NOW - 10 * H, end: NOW - 8 * H },
      { start: NOW - 3 * H, end: null },
    ],
    NOW,
    7 * DAY,
  );
  assert.equal(u.known_ms, 10 * H);
  assert.equal(u.up_ms, 5 * H);
  assert.equal(u.percent, 50);
});

Deno.test("uptime() counts overlapping sessions once and ignores ones outside the window", () => {
  const u = uptime(
    [
      { start: NOW - 40 * DAY, end: NOW - 35 * DAY }, // long gone
      { start: NOW - 4 * H, end: NOW - H },
      { start: NOW - 2 * H, end: null }, // reconnect raced the old socket's close
    ],
    NOW,
    DAY,
    NOW - 40 * DAY,
  );
  assert.equal(u.up_ms, 4 * H);
  assert.deepEqual(u.intervals, [{ start: NOW - 4 * H, end: NOW }]);
  assert.equal(u.percent, Math.round((4 / 24) * 100_000) / 1000);
});

Deno.test("uptime() of an agent never seen is null, not zero", () => {
  const u = uptime([], NOW, DAY);
  assert.equal(u.percent, null);
  assert.equal(u.up_ms, 0);
  assert.equal(u.known_ms, 0);
});

Deno.test("uptime() of the same sessions differs by window", () => {
  const sessions = [
    { start: NOW - 20 * DAY, end: NOW - 10 * DAY },
    { start: NOW - 12 * H, end: null },
  ];
  const first = NOW - 20 * DAY;
  assert.equal(uptime(sessions, NOW, DAY, first).percent, 50);
  assert.equal(
    uptime(sessions, NOW, 7 * DAY, first).percent,
    Math.round((0.5 / 7) * 100_000) / 1000,
  );
  // 30 d window, known for 20 d: 10 d + 12 h up.
  assert.equal(uptime(sessions, NOW, 30 * DAY, first).percent, 52.5);
});
