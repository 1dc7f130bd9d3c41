import assert from "node:assert/strict";
import { Rig } from "./sim_rig.ts";

Deno.test("batch: completions=10, parallelism=3 never runs more than 3 tasks and ends with 10 successes", async () => {
  const rig = new Rig();
  try {
    const a = rig.connect("a", 2);
    const b = rig.connect("b", 2);
    const [batch] = await rig.submit({
      shell: "true",
      completions: 10,
      parallelism: 3,
      queue_timeout: "1h",
      deadline: "2h",
      webhook: { url: "http://127.0.0.1:9/hook" },
    });
    assert.equal(rig.state(batch.id), "running");
    let peak = 0;
    for (let i = 0; i < 100; i++) {
      await rig.settle();
      peak = Math.max(peak, a.held.length + b.held.length);
      const sim = a.held.length ? a : b.held.length ? b : undefined;
      if (!sim) break;
      rig.finish(sim, sim.held[0], 0); // one at a time, so the gate is exercised each time
    }
    assert.equal(peak, 3);
    const tasks = rig.store.tasksOf(batch.id);
    assert.deepEqual(tasks.map((t) => t.batch_index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.ok(tasks.every((t) => t.state === "succeeded"));
    const envIndexes = tasks.map((t) => JSON.parse(t.spec).env.JOBDIST_INDEX);
    // Limits of the batch as a whole are not each task's: a task waiting its turn is not late.
    const taskSpec = JSON.parse(tasks[0].spec);
    assert.equal(taskSpec.queue_timeout, undefined);
    assert.equal(taskSpec.deadline, undefined);
    assert.equal(taskSpec.completions, undefined);
    assert.equal(taskSpec.webhook, undefined);
    assert.deepEqual(envIndexes, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    const parent = rig.store.getJob(batch.id)!;
    assert.equal(parent.state, "succeeded");
    assert.match(parent.reason!, /all 10 tasks succeeded/);
    const progress = rig.scheduler.batchProgress(parent, JSON.parse(parent.spec));
    assert.deepEqual(progress?.tasks, { succeeded: 10 });
  } finally {
    rig.close();
  }
});

Deno.test("batch: a failing index is retried up to its max_attempts, then the batch fails and the rest is cancelled", async () => {
  const rig = new Rig();
  try {
    rig.connect("a", 1);
    const [batch] = await rig.submit({
      shell: "x",
      completions: 4,
      parallelism: 1,
      max_attempts: 3,
      backoff: { initial: "1ms", max: "1ms" },
    });
    const failing = rig.store.tasksOf(batch.id)[1].id;
    for (let i = 0; i < 20 && rig.state(batch.id) === "running"; i++) {
      await rig.step((job) => (job === failing ? 1 : 0));
      rig.clock += 10; // backoff passes
      await new Promise((r) => setTimeout(r, 5));
    }
    const tasks = rig.store.tasksOf(batch.id);
    assert.equal(tasks[0].state, "succeeded");
    assert.equal(tasks[1].state, "failed");
    assert.equal(tasks[1].attempt_count, 3, "the failing task used its 3 attempts");
    // While index 1 waited out its backoffs the others ran; whatever was left is cancelled.
    const rest = tasks.slice(2).map((t) => t.state);
    assert.ok(rest.every((s) => s === "succeeded" || s === "cancelled"), rest.join());
    const parent = rig.store.getJob(batch.id)!;
    assert.equal(parent.state, "failed");
    assert.match(parent.reason!, /task 1/);
  } finally {
    rig.close();
  }
});

Deno.test("batch: backoff_limit counts failed attempts of all tasks together", async () => {
  const rig = new Rig();
  try {
    rig.connect("a", 4);
    const [batch] = await rig.submit({
      shell: "x",
      completions: 4,
      parallelism: 4,
      max_attempts: 5,
      backoff_limit: 2,
      backoff: { initial: "1ms", max: "1ms" },
    });
    for (let i = 0; i < 20 && rig.state(batch.id) === "running"; i++) {
      await rig.step(() => 1);
      rig.clock += 10;
      await new Promise((r) => setTimeout(r, 5));
    }
    const parent = rig.store.getJob(batch.id)!;
    assert.equal(parent.state, "failed");
    assert.match(parent.reason!, /3 failed attempts passed the backoff_limit of 2/);
    assert.ok(rig.store.tasksOf(batch.id).every((t) => t.state !== "queued"));
  } finally {
    rig.close();
  }
});

Deno.test("batch: success_policy succeeded_count ends the batch early and cancels what is left", async () => {
  const rig = new Rig();
  try {
    rig.connect("a", 2);
    const [batch] = await rig.submit({
      shell: "x",
      completions: 6,
      parallelism: 2,
      success_policy: { succeeded_count: 2 },
    });
    await rig.step(() => 0);
    await rig.settle();
    const parent = rig.store.getJob(batch.id)!;
    assert.equal(parent.state, "succeeded");
    assert.match(parent.reason!, /2 of 6 tasks succeeded/);
    const states = rig.store.tasksOf(batch.id).map((t) => t.state);
    assert.deepEqual(states.filter((s) => s === "succeeded").length, 2);
    assert.deepEqual(states.filter((s) => s === "cancelled").length, 4);
  } finally {
    rig.close();
  }
});

Deno.test("batch: success_policy succeeded_indexes tolerates other failures but not its own", async () => {
  const rig = new Rig();
  try {
    rig.connect("a", 3);
    const [ok, bad] = await rig.submit(
      { shell: "x", completions: 3, parallelism: 3, success_policy: { succeeded_indexes: [0] } },
      { shell: "y", completions: 3, parallelism: 3, success_policy: { succeeded_indexes: [2] } },
    );
    const index = new Map<number, number>();
    for (const b of [ok, bad]) {
      for (const t of rig.store.tasksOf(b.id)) index.set(t.id, t.batch_index!);
    }
    // Index 2 of each batch fails; the rest succeeds.
    await rig.drain((job) => (index.get(job) === 2 ? 1 : 0));
    assert.equal(rig.state(ok.id), "succeeded");
    assert.equal(rig.state(bad.id), "failed");
    assert.match(rig.store.getJob(bad.id)!.reason!, /task 2 did not succeed/);
  } finally {
    rig.close();
  }
});

Deno.test("batch: cancelling the batch cancels every task and kills the running ones", async () => {
  const rig = new Rig();
  try {
    const a = rig.connect("a", 2);
    const [batch] = await rig.submit({ shell: "sleep 60", completions: 5, parallelism: 2 });
    await rig.settle();
    assert.equal(a.held.length, 2);
    await rig.scheduler.cancel(batch.id);
    assert.equal(rig.state(batch.id), "cancelled");
    const tasks = rig.store.tasksOf(batch.id);
    assert.ok(tasks.every((t) => t.state === "cancelled"), tasks.map((t) => t.state).join());
    const kills = a.frames.filter((f) => f.type === "cancel").map((f) => f.attempt_id).sort();
    assert.deepEqual(kills, [...a.held].sort());
  } finally {
    rig.close();
  }
});

Deno.test("batch: after a restart the parallelism and the tally carry on from the database", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/jobs.db`;
  let batchId: number;
  {
    const rig = new Rig(path);
    const a = rig.connect("a", 3);
    const [batch] = await rig.submit({ shell: "x", completions: 5, parallelism: 2 });
    batchId = batch.id;
    await rig.settle();
    rig.finish(a, a.held[0], 0);
    await rig.settle();
    rig.close(); // two tasks are leased; one succeeded
  }
  const rig = new Rig(path);
  try {
    rig.scheduler.recover();
    // The agent comes back without its processes (it restarted too).
    const a = rig.connect("a", 3);
    await rig.settle();
    assert.equal(a.held.length, 0, "the two leased tasks still count against parallelism 2");
    rig.scheduler.reconcile(a.state, []);
    await rig.drain();
    assert.equal(a.peak, 2);
    assert.equal(rig.state(batchId), "succeeded");
    assert.equal(rig.store.tasksOf(batchId).filter((t) => t.state === "succeeded").length, 5);
  } finally {
    rig.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("batch fields are refused without completions, and a policy beyond completions", async () => {
  const rig = new Rig();
  try {
    await assert.rejects(
      rig.submit({ shell: "x", parallelism: 2 }),
      /parallelism needs completions/,
    );
    await assert.rejects(
      rig.submit({ shell: "x", completions: 2, success_policy: { succeeded_count: 3 } }),
      /at most completions/,
    );
    await assert.rejects(
      rig.submit({ shell: "x", completions: 2, success_policy: { succeeded_indexes: [2] } }),
      /index 2 is not below completions/,
    );
  } finally {
    rig.close();
  }
});
