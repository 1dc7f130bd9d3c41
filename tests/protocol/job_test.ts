import assert from "node:assert/strict";
import {
  ACTIVE_STATES,
  backoffMs,
  canTransition,
  isRetryableExit,
  isTerminal,
  JOB_STATES,
  type JobState,
  parseJobSpec,
  requiredRuntimes,
  TERMINAL_STATES,
} from "../../src/protocol/job.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";

/** Parses `value` expecting a ProtocolError, and returns it. */
function reject(value: unknown): ProtocolError {
  try {
    parseJobSpec(value);
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${e}`);
    return e;
  }
  assert.fail(`parseJobSpec(${JSON.stringify(value)}) accepted a bad spec`);
}

Deno.test("parseJobSpec() accepts each kind of job and applies defaults", () => {
  const argv = parseJobSpec({ command: ["ls", "-la"] });
  assert.deepEqual(argv.command, ["ls", "-la"]);
  assert.equal(argv.queue, "default");
  assert.equal(argv.priority, 0);
  assert.equal(argv.max_attempts, 1);
  assert.equal(argv.max_lost, 2);

  assert.equal(parseJobSpec({ shell: "echo hi" }).shell, "echo hi");
  const script = parseJobSpec({ script: { runtime: "python", source: "print(1)" } });
  assert.deepEqual(script.script, { runtime: "python", source: "print(1)" });
});

Deno.test("parseJobSpec() accepts every documented option", () => {
  const spec = parseJobSpec({
    shell: "true",
    name: "nightly",
    env: { FOO: "1", _BAR2: "x" },
    cwd: "/tmp",
    queue: "build.eu:fast-1",
    priority: -1000,
    requires: { runtimes: ["python"], labels: { zone: "eu", "k8s.io/arch": "amd64" } },
    timeout: "90s",
    queue_timeout: "15m",
    deadline: "2h",
    kill_grace: "5s",
    max_attempts: 3,
    max_lost: 0,
    backoff: { initial: "2s" },
    retry_exit_codes: [1, 2],
    fail_exit_codes: [3],
    run_at: "2030-01-02T03:04:05+02:00",
    idempotency_key: "k-1",
    max_output_bytes: 1024,
    tags: ["a", "b"],
  });
  assert.equal(spec.queue, "build.eu:fast-1");
  assert.deepEqual(spec.backoff, { initial: "2s", max: "5m", factor: 2 });
  assert.equal(spec.run_at, "2030-01-02T03:04:05+02:00");
});

Deno.test("parseJobSpec() names command when no kind of job is given", () => {
  const e = reject({ name: "x" });
  assert.equal(e.field, "command");
  assert.match(e.message, /one of command, shell or script/);
});

Deno.test("parseJobSpec() rejects two kinds of job at once", () => {
  for (
    const spec of [
      { command: ["ls"], shell: "ls" },
      { shell: "ls", script: { runtime: "bash", source: "ls" } },
      { command: ["ls"], script: { runtime: "bash", source: "ls" } },
    ]
  ) {
    assert.match(reject(spec).message, /only one of command, shell or script/);
  }
});

Deno.test("parseJobSpec() names the bad field", () => {
  const cases: Array<[unknown, string]> = [
    [{ command: "ls" }, "command"],
    [{ command: [] }, "command"],
    [{ command: ["ls", 1] }, "command.1"],
    [{ shell: "" }, "shell"],
    [{ shell: 1 }, "shell"],
    [{ script: { runtime: "go" } }, "script.source"],
    [{ script: { source: "x" } }, "script.runtime"],
    [{ script: { runtime: "go", source: "x", extra: 1 } }, "script"],
    [{ shell: "a", timeout: "5" }, "timeout"],
    [{ shell: "a", timeout: 5 }, "timeout"],
    [{ shell: "a", queue_timeout: "soon" }, "queue_timeout"],
    [{ shell: "a", deadline: "1 h" }, "deadline"],
    [{ shell: "a", queue: "bad queue" }, "queue"],
    [{ shell: "a", queue: "" }, "queue"],
    [{ shell: "a", priority: 1.5 }, "priority"],
    [{ shell: "a", priority: 1001 }, "priority"],
    [{ shell: "a", priority: "1" }, "priority"],
    [{ shell: "a", max_attempts: 0 }, "max_attempts"],
    [{ shell: "a", env: { "1X": "y" } }, "env.1X"],
    [{ shell: "a", env: { X: 1 } }, "env.X"],
    [{ shell: "a", requires: { labels: { "bad key!": "x" } } }, "requires.labels.bad key!"],
    [{ shell: "a", requires: { runtimes: "python" } }, "requires.runtimes"],
    [{ shell: "a", requires: { cpu: 2 } }, "requires"],
    [{ shell: "a", run_at: "tomorrow" }, "run_at"],
    [{ shell: "a", run_at: "2030-01-01T00:00:00Z", delay: "1s" }, "delay"],
    [{ shell: "a", retry_exit_codes: [256] }, "retry_exit_codes.0"],
    [{ shell: "a", backoff: { factor: 0.5 } }, "backoff.factor"],
    [{ shell: "a", tags: [""] }, "tags.0"],
  ];
  for (const [spec, field] of cases) {
    const e = reject(spec);
    assert.equal(e.field, field, `field of ${JSON.stringify(spec)}: ${e.message}`);
    if (field) assert.ok(e.message.startsWith(`${field}: `), e.message);
  }
});

Deno.test("parseJobSpec() rejects an unknown field by name", () => {
  const e = reject({ shell: "a", comand: ["ls"] });
  assert.match(e.message, /comand/);
});

Deno.test("parseJobSpec() rejects values that are not objects", () => {
  for (const v of [null, [], "ls", 42, undefined]) reject(v);
});

Deno.test("requiredRuntimes() joins the script runtime and requires.runtimes", () => {
  const spec = parseJobSpec({
    script: { runtime: "go", source: "package main" },
    requires: { runtimes: ["python", "go"] },
  });
  assert.deepEqual(requiredRuntimes(spec).sort(), ["go", "python"]);
  assert.deepEqual(requiredRuntimes(parseJobSpec({ shell: "x" })), []);
});

Deno.test("JOB_STATES is a closed set split into terminal and active states", () => {
  assert.deepEqual([...JOB_STATES].sort(), [
    "assigned",
    "cancelled",
    "failed",
    "queued",
    "running",
    "scheduled",
    "succeeded",
    "timed_out",
    "waiting",
  ]);
  for (const s of JOB_STATES) {
    assert.equal(isTerminal(s), TERMINAL_STATES.has(s));
    assert.ok(!(TERMINAL_STATES.has(s) && ACTIVE_STATES.has(s)), s);
  }
  assert.deepEqual([...ACTIVE_STATES].sort(), ["assigned", "running"]);
});

Deno.test("canTransition() follows the state diagram", () => {
  const allowed: Array<[JobState, JobState]> = [
    ["scheduled", "queued"],
    ["scheduled", "cancelled"],
    ["queued", "assigned"],
    ["queued", "cancelled"],
    ["assigned", "running"],
    ["assigned", "queued"],
    ["running", "succeeded"],
    ["running", "failed"],
    ["running", "timed_out"],
    ["running", "cancelled"],
    ["running", "scheduled"], // retry in backoff
    ["running", "queued"], // agent lost
    ["queued", "running"], // a batch's tasks started
    ["waiting", "queued"], // dependencies succeeded
    ["waiting", "cancelled"], // a dependency failed
  ];
  for (const [from, to] of allowed) assert.ok(canTransition(from, to), `${from} -> ${to}`);
  const refused: Array<[JobState, JobState]> = [
    ["scheduled", "running"],
    ["scheduled", "succeeded"],
    ["waiting", "running"],
    ["queued", "succeeded"],
    ["running", "assigned"],
    ["running", "running"],
  ];
  for (const [from, to] of refused) assert.ok(!canTransition(from, to), `${from} -> ${to}`);
});

Deno.test("canTransition() never leaves a terminal state", () => {
  for (const from of TERMINAL_STATES) {
    for (const to of JOB_STATES) assert.ok(!canTransition(from, to), `${from} -> ${to}`);
  }
});

Deno.test("backoffMs() grows by the factor and stops at max", () => {
  const spec = parseJobSpec({
    shell: "x",
    backoff: { initial: "1s", max: "10s", factor: 3 },
  });
  const mid = () => 0.5; // no jitter
  assert.equal(backoffMs(spec, 1, mid), 1_000);
  assert.equal(backoffMs(spec, 2, mid), 3_000);
  assert.equal(backoffMs(spec, 3, mid), 9_000);
  assert.equal(backoffMs(spec, 4, mid), 10_000);
  assert.equal(backoffMs(spec, 50, mid), 10_000);
  assert.equal(backoffMs(spec, 0, mid), 1_000);
});

Deno.test("backoffMs() uses 1s doubling up to 5m without a backoff", () => {
  const spec = parseJobSpec({ shell: "x" });
  const mid = () => 0.5;
  assert.equal(backoffMs(spec, 1, mid), 1_000);
  assert.equal(backoffMs(spec, 2, mid), 2_000);
  assert.equal(backoffMs(spec, 20, mid), 300_000);
});

Deno.test("backoffMs() jitters within plus or minus 20%", () => {
  const spec = parseJobSpec({ shell: "x", backoff: { initial: "10s" } });
  assert.equal(backoffMs(spec, 1, () => 0), 8_000);
  assert.equal(backoffMs(spec, 1, () => 0.999999), 12_000);
  for (let i = 0; i < 200; i++) {
    const ms = backoffMs(spec, 1);
    assert.ok(ms >= 8_000 && ms <= 12_000, String(ms));
  }
});

Deno.test("isRetryableExit() retries any failure by default", () => {
  const spec = parseJobSpec({ shell: "x" });
  assert.equal(isRetryableExit(spec, 0), false);
  assert.equal(isRetryableExit(spec, 1), true);
  assert.equal(isRetryableExit(spec, 137), true);
  assert.equal(isRetryableExit(spec, null), true);
});

Deno.test("isRetryableExit() honours retry_exit_codes and fail_exit_codes", () => {
  const only = parseJobSpec({ shell: "x", retry_exit_codes: [75] });
  assert.equal(isRetryableExit(only, 75), true);
  assert.equal(isRetryableExit(only, 1), false);
  assert.equal(isRetryableExit(only, null), false);
  assert.equal(isRetryableExit(only, 0), false);

  const never = parseJobSpec({ shell: "x", fail_exit_codes: [2] });
  assert.equal(isRetryableExit(never, 2), false);
  assert.equal(isRetryableExit(never, 1), true);

  const both = parseJobSpec({ shell: "x", retry_exit_codes: [2], fail_exit_codes: [2] });
  assert.equal(isRetryableExit(both, 2), false, "fail_exit_codes wins");
});
