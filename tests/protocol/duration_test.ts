import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../src/protocol/duration.ts";

Deno.test("parseDuration() reads each unit", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("15m"), 900_000);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration("1d"), 86_400_000);
  assert.equal(parseDuration("0s"), 0);
});

Deno.test("parseDuration() adds up compound durations and fractions", () => {
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1m30s500ms"), 90_500);
  assert.equal(parseDuration("1.5s"), 1_500);
  assert.equal(parseDuration("0.25h"), 900_000);
});

Deno.test("parseDuration() rejects text that is not a duration", () => {
  for (
    const bad of [
      "",
      "90",
      "s",
      "5 s",
      " 5s",
      "5s ",
      "-5s",
      "+5s",
      "5S",
      "5sec",
      "1h 30m",
      "5x",
      ".5s",
      "5.s",
      "1e3ms",
      "1".repeat(40) + "s", // over the 40-character limit
    ]
  ) {
    assert.equal(parseDuration(bad), undefined, `parseDuration(${JSON.stringify(bad)})`);
  }
});

Deno.test("parseDuration() gives the same answer when called repeatedly", () => {
  // The parser keeps a sticky regex between calls; a failed parse must not poison the next one.
  assert.equal(parseDuration("5x"), undefined);
  assert.equal(parseDuration("5s"), 5_000);
  assert.equal(parseDuration("1m"), 60_000);
  assert.equal(parseDuration("1m"), 60_000);
});

Deno.test("formatDuration() picks a readable unit", () => {
  assert.equal(formatDuration(0), "0ms");
  assert.equal(formatDuration(250), "250ms");
  assert.equal(formatDuration(1_200), "1.2s");
  assert.equal(formatDuration(12_000), "12s");
  assert.equal(formatDuration(60_000), "1m");
  assert.equal(formatDuration(184_000), "3m4s");
  assert.equal(formatDuration(3_600_000), "1h");
  assert.equal(formatDuration(7_500_000), "2h5m");
  assert.equal(formatDuration(90_000_000), "1d1h");
});

Deno.test("formatDuration() output parses back to the same duration for whole units", () => {
  for (const ms of [250, 12_000, 60_000, 184_000, 3_600_000, 7_500_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, `formatDuration(${ms})`);
  }
});
