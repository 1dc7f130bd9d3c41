import assert from "node:assert/strict";
import { Rig } from "./sim_rig.ts";

Deno.test("after: a chain runs one link at a time, in order", async () => {
  const rig = new Rig();
  try {
    const a = rig.connect("a", 4);
    const [first] = await rig.submit({ shell: "1" });
    const [second] = await rig.submit({ shell: "2", after: [first.id] });
    const [third] = await rig.submit({ shell: "3", after: [second.id] });
    assert.equal(second.state, "waiting");
    assert.equal(
      rig.scheduler.waitReason(rig.store.getJob(third.id)!),
      `waiting for job ${second.id} to succeed`,
    );
    const order: number[] = [];
    for (let i = 0; i < 10; i++) {
      await rig.settle();
      if (a.held.length === 0) break;
      assert.equal(a.held.length, 1, "only the next link runs");
      order.push(Number(a.held[0].split(".")[0]));
      rig.finish(a, a.held[0], 0);
    }
    assert.deepEqual(order, [first.id, second.id, third.id]);
    assert.equal(rig.state(third.id), "succeeded");
  } finally {
    rig.close();
  }
});

Deno.test("after: fan-in waits for every dependency", async () => {
  const rig = new Rig();
  try {
    const a = rig.connect("a", 4);
    const [x, y] = await rig.submit({ shell: "x" }, { shell: "y" });
    const [join] = await rig.submit({ shell: "join", after: [x.id, y.id] });
    await rig.settle();
    rig.finish(a, `${x.id}.1`, 0);
    await rig.settle();
    assert.equal(rig.state(join.id), "waiting");
    assert.equal(
      rig.scheduler.waitReason(rig.store.getJob(join.id)!),
      `waiting for job ${y.id} to succeed`,
    );
    rig.finish(a, `${y.id}.1`, 0);
    await rig.drain();
    assert.equal(rig.state(join.id), "succeeded");
  } finally {
    rig.close();
  }
});

Deno.test("after: a failed dependency cancels its dependents, down the chain, with a reason", async () => {
  const rig = new Rig();
  try {
    rig.connect("a", 4);
    const [bad] = await rig.submit({ shell: "bad" });
    const [next] = await rig.submit({ shell: "next", after: [bad.id] });
    const [last] = await rig.submit({ shell: "last", after: [next.id] });
    await rig.drain(() => 3);
    assert.equal(rig.state(bad.id), "failed");
    const n = rig.store.getJob(next.id)!;
    assert.equal(n.state, "cancelled");
    assert.equal(n.reason, `dependency job ${bad.id} failed`);
    assert.equal(n.attempt_count, 0, "it never ran");
    assert.equal(rig.store.getJob(last.id)!.reason, `dependency job ${next.id} cancelled`);
    // A job submitted after its dependency already failed is cancelled at once.
    const [late] = await rig.submit({ shell: "late", after: [bad.id] });
    assert.equal(late.state, "cancelled");
    assert.equal(late.reason, `dependency job ${bad.id} failed`);
  } finally {
    rig.close();
  }
});

Deno.test("after: dependencies must exist, so a cycle cannot be built", async () => {
  const rig = new Rig();
  try {
    await assert.rejects(rig.submit({ shell: "x", after: [999] }), /after\.0: no job 999/);
    // In a batch submission the field names the spec; nothing of the batch is stored.
    await assert.rejects(
      rig.submit({ shell: "ok" }, { shell: "x", after: [1, 998] }),
      /jobs\.1\.after\.1: no job 998/,
    );
    assert.equal(rig.store.listJobs({ limit: 10 }).length, 0);
  } finally {
    rig.close();
  }
});

Deno.test("after: a waiting job can be cancelled, and its dependents follow", async () => {
  const rig = new Rig();
  try {
    rig.connect("a", 1);
    const [first] = await rig.submit({ shell: "1" });
    const [second] = await rig.submit({ shell: "2", after: [first.id] });
    const [third] = await rig.submit({ shell: "3", after: [second.id] });
    await rig.scheduler.cancel(second.id);
    assert.equal(rig.state(third.id), "cancelled");
    await rig.drain();
    assert.equal(rig.state(first.id), "succeeded");
    assert.equal(rig.state(second.id), "cancelled");
  } finally {
    rig.close();
  }
});

Deno.test("after: a dependent of a batch waits for the whole batch", async () => {
  const rig = new Rig();
  try {
    rig.connect("a", 2);
    const [batch] = await rig.submit({ shell: "b", completions: 3, parallelism: 2 });
    const [report] = await rig.submit({ shell: "report", after: [batch.id] });
    await rig.drain();
    assert.equal(rig.state(batch.id), "succeeded");
    assert.equal(rig.state(report.id), "succeeded");
    const tasksDone = Math.max(...rig.store.tasksOf(batch.id).map((t) => t.finished_at!));
    assert.ok(rig.store.getJob(report.id)!.finished_at! >= tasksDone);
  } finally {
    rig.close();
  }
});

Deno.test("after: the wait survives a restart and resumes when the dependency finishes", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/jobs.db`;
  try {
    let ids: number[];
    {
      const rig = new Rig(path);
      const [first] = await rig.submit({ shell: "1" });
      const [second] = await rig.submit({ shell: "2", after: [first.id] });
      ids = [first.id, second.id];
      rig.close();
    }
    const rig = new Rig(path);
    try {
      rig.scheduler.recover();
      rig.connect("a", 2);
      await rig.drain();
      assert.equal(rig.state(ids[0]), "succeeded");
      assert.equal(rig.state(ids[1]), "succeeded");
    } finally {
      rig.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
