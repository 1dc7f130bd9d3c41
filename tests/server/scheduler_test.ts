import assert from "node:assert/strict";
import { AgentRegistry } from "../../src/server/agent_registry.ts";
import { EventBus } from "../../src/server/events.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { openStore } from "../../src/server/store.ts";
import {
  type JobSpecInput,
  parseJobSpec,
  parseServerMessage,
  PROTOCOL_VERSION,
} from "../../src/protocol/mod.ts";

/** Submits `spec` with one fake agent connected and returns the raw frames it was sent. */
async function assignFramesFor(spec: JobSpecInput): Promise<string[]> {
  const store = openStore(":memory:");
  const events = new EventBus();
  const agents = new AgentRegistry({ store, events });
  const scheduler = new Scheduler({ store, events, agents });
  const frames: string[] = [];
  try {
    agents.connect({
      type: "hello",
      protocol: PROTOCOL_VERSION,
      agent_id: "a1",
      name: "agent-1",
      labels: {},
      runtimes: [],
      slots: 1,
      version: "test",
      inventory: [],
    }, { send: (text) => frames.push(text), close() {} });
    await scheduler.submit(parseJobSpec(spec));
    await new Promise((r) => setTimeout(r, 0));
    return frames.filter((f) => JSON.parse(f).type === "assign");
  } finally {
    scheduler.stop();
    store.close();
  }
}

Deno.test("scheduler.submit() sends an assign frame the agent can parse", async () => {
  const [frame] = await assignFramesFor({ shell: "echo hi", timeout: "90s", kill_grace: "2s" });
  assert.ok(frame, "an assign frame was sent");
  const msg = parseServerMessage(frame);
  assert.equal(msg.type, "assign");
  if (msg.type !== "assign") return;
  assert.equal(msg.timeout_ms, 90_000);
  assert.equal(msg.kill_grace_ms, 2_000);
  assert.equal(msg.attempt, 1);
  assert.equal(msg.spec.shell, "echo hi");
});

Deno.test("scheduler.submit() sends a parseable assign frame for every timeout JobSpec accepts", async () => {
  for (const timeout of ["0s", "99999999999999999d", "3651d"]) {
    assert.throws(() => parseJobSpec({ shell: "echo hi", timeout }), /timeout/);
  }
  for (const timeout of ["1ms", "3650d"]) {
    const [frame] = await assignFramesFor({ shell: "echo hi", timeout, kill_grace: "3650d" });
    assert.ok(frame, `an assign frame was sent for timeout ${timeout}`);
    assert.doesNotThrow(() => parseServerMessage(frame), `timeout ${timeout}`);
  }
});

Deno.test("a job cancelled between assign and the agent's started frame stays cancelled", async () => {
  const { Rig } = await import("./sim_rig.ts");
  const rig = new Rig();
  try {
    const a = rig.connect("a", 1);
    const [job] = await rig.submit({ shell: "sleep 60" });
    await rig.settle();
    const attempt = a.held[0];
    assert.equal(attempt, `${job.id}.1`);
    await rig.scheduler.cancel(job.id);
    // The agent had already started the process when the cancel reached it.
    rig.scheduler.onAgentMessage(a.state, { type: "started", attempt_id: attempt, pid: 7 });
    await rig.settle();
    assert.equal(rig.state(job.id), "cancelled");
    assert.ok(a.frames.some((f) => f.type === "cancel" && f.attempt_id === attempt));
    rig.scheduler.onAgentMessage(a.state, {
      type: "finished",
      attempt_id: attempt,
      log_seq: 0,
      result: {
        exit_code: null,
        signal: "SIGTERM",
        duration_ms: 5,
        killed_by: "cancelled",
        error: null,
        truncated_bytes: 0,
      },
    });
    await rig.settle();
    const row = rig.store.getJob(job.id)!;
    assert.equal(row.state, "cancelled");
    assert.equal(row.reason, "cancelled by user");
    assert.equal(rig.store.attemptsOf(job.id)[0].state, "cancelled");
  } finally {
    rig.close();
  }
});

Deno.test("a finished frame that carries the pid records the start and the end together", async () => {
  const { Rig } = await import("./sim_rig.ts");
  const rig = new Rig();
  try {
    const states: string[] = [];
    rig.events.subscribe((e) => {
      if (e.type === "job") states.push(e.state);
    }, new AbortController().signal);
    const a = rig.connect("a", 1);
    const [job] = await rig.submit({ command: ["true"] });
    await rig.settle();
    const attempt = a.held[0];
    rig.scheduler.onAgentMessage(a.state, {
      type: "finished",
      attempt_id: attempt,
      log_seq: 0,
      pid: 4242,
      result: {
        exit_code: 0,
        signal: null,
        duration_ms: 1,
        killed_by: null,
        error: null,
        truncated_bytes: 0,
      },
    });
    await rig.settle();
    const row = rig.store.getJob(job.id)!;
    assert.equal(row.state, "succeeded");
    assert.ok(row.started_at !== null, "the start is recorded");
    const [att] = rig.store.attemptsOf(job.id);
    assert.equal(att.pid, 4242);
    assert.equal(att.state, "succeeded");
    assert.deepEqual(states, ["queued", "assigned", "running", "succeeded"]);
    assert.ok(!a.frames.some((f) => f.type === "started_ack"), "nothing to answer early");
    assert.ok(a.frames.some((f) => f.type === "ack" && f.attempt_id === attempt));
  } finally {
    rig.close();
  }
});

Deno.test("a job dispatched before its submission is answered still reads as submitted", async () => {
  const { Rig } = await import("./sim_rig.ts");
  const rig = new Rig();
  try {
    const a = rig.connect("a", 2);
    // Dispatch runs before the submission's commit and answer: the answer keeps the row as
    // accepted, the assignment carries the spec as submitted.
    const [job, other] = await rig.submit(
      { command: ["echo", "one"], env: { A: "1" }, priority: 3 },
      { shell: "exit 2", queue: "q2" },
    );
    assert.equal(job.state, "queued");
    assert.equal(job.attempt_count, 0);
    assert.equal(other.state, "queued");
    await rig.settle();
    const assigns = a.frames.filter((f) => f.type === "assign");
    assert.equal(assigns.length, 2);
    const first = assigns.find((f) => f.type === "assign" && f.job_id === job.id);
    assert.ok(first?.type === "assign");
    assert.deepEqual(first.spec.command, ["echo", "one"]);
    assert.deepEqual(first.spec.env, { A: "1" });
    assert.equal(rig.store.getJob(job.id)!.state, "assigned");
    await rig.drain((id) => id === other.id ? 2 : 0);
    assert.equal(rig.state(job.id), "succeeded");
    assert.equal(rig.state(other.id), "failed");
  } finally {
    rig.close();
  }
});
