import assert from "node:assert/strict";
import { getLogger, Logger, type LoggerOptions, setLogger } from "../src/log.ts";

const T0 = Date.parse("2026-11-23T14:00:00.000Z");

function capture(options: LoggerOptions = {}) {
  const lines: string[] = [];
  const log = new Logger({ now: () => T0, write: (l) => lines.push(l), ...options });
  return { log, lines };
}

Deno.test("Logger writes JSON lines with time, level, msg and the fields", () => {
  const { log, lines } = capture({ format: "json", level: "debug" });
  const job = log.with({ agent_id: "build-1" });
  job.info("job failed", { job_id: 42, attempt_id: "42.1", reason: 'exit "3"\nand more' });
  log.error("oops", { error: new Error("disk full"), skipped: undefined });
  log.debug("detail");
  assert.equal(lines.length, 3);
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2026-11-23T14:00:00.000Z",
    level: "info",
    msg: "job failed",
    agent_id: "build-1",
    job_id: 42,
    attempt_id: "42.1",
    reason: 'exit "3"\nand more',
  });
  assert.deepEqual(JSON.parse(lines[1]), {
    time: "2026-11-23T14:00:00.000Z",
    level: "error",
    msg: "oops",
    error: "disk full",
  });
  assert.equal(JSON.parse(lines[2]).level, "debug");
  // A field cannot overwrite the line's own keys.
  log.info("real", { msg: "fake", level: "error" });
  assert.deepEqual(JSON.parse(lines[3]), {
    time: "2026-11-23T14:00:00.000Z",
    level: "info",
    msg: "real",
  });
});

Deno.test("Logger writes text lines people can read, one per event", () => {
  const { log, lines } = capture();
  log.info("agent connected", {
    agent_id: "build-1",
    slots: 4,
    note: "two words",
    none: undefined,
  });
  log.warn("agent lost", { reason: "line one\nline two" });
  assert.deepEqual(lines, [
    '2026-11-23T14:00:00.000Z INFO  agent connected agent_id=build-1 slots=4 note="two words"',
    '2026-11-23T14:00:00.000Z WARN  agent lost reason="line one\\nline two"',
  ]);
});

Deno.test("Logger drops lines below its level", () => {
  for (
    const [level, expected] of [
      ["debug", ["debug", "info", "warn", "error"]],
      ["info", ["info", "warn", "error"]],
      ["warn", ["warn", "error"]],
      ["error", ["error"]],
    ] as const
  ) {
    const { log, lines } = capture({ format: "json", level });
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    assert.deepEqual(lines.map((l) => JSON.parse(l).level), expected, level);
    assert.equal(log.enabled("debug"), level === "debug");
    assert.equal(log.enabled("error"), true);
    assert.equal(log.with({ a: 1 }).enabled("info"), level === "debug" || level === "info");
  }
});

Deno.test("setLogger() replaces the process-wide logger", () => {
  const { log, lines } = capture();
  const before = setLogger(log);
  try {
    getLogger().info("hello");
    assert.equal(lines.length, 1);
  } finally {
    setLogger(before);
  }
  assert.equal(getLogger(), before);
});
