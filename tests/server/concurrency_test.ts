import assert from "node:assert/strict";
import { IDEMPOTENCY_WINDOW_MS } from "../../src/server/scheduler.ts";
import { Rig } from "./sim_rig.ts";

Deno.test("concurrency_key: at most one job with the key runs at a time; others are not held up", async () => {
  const rig = new Rig();
  try {
    const a = rig.connect("a", 4);
    const [d1, d2, d3, other] = await rig.submit(
      { shell: "deploy", concurrency_key: "deploy-prod" },
      { shell: "deploy", concurrency_key: "deploy-prod" },
      { shell: "deploy", concurrency_key: "deploy-prod" },
      { shell: "unrelated" },
    );
    await rig.settle();
    assert.deepEqual(a.held, [`${d1.id}.1`, `${other.id}.1`]);
    assert.match(
      rig.scheduler.waitReason(rig.store.getJob(d2.id)!)!,
      /concurrency key deploy-prod allows 1 at once/,
    );
    const order: number[] = [];
    for (let i = 0; i < 10 && a.held.length; i++) {
      const keyed = a.held.filter((id) => id !== `${other.id}.1`);
      assert.ok(keyed.length <= 1, `held ${a.held}`);
      order.push(...keyed.map((id) => Number(id.split(".")[0])));
      for (const id of [...a.held]) rig.finish(a, id, 0);
      await rig.settle();
    }
    assert.deepEqual(order, [d1.id, d2.id, d3.id]);
  } finally {
    rig.close();
  }
});

Deno.test("concurrency_limit lets N jobs with the key run at once", async () => {
  const rig = new Rig();
  try {
    const a = rig.connect("a", 8);
    const spec = { shell: "x", concurrency_key: "db", concurrency_limit: 3 };
    await rig.submit(spec, spec, spec, spec, spec);
    await rig.drain();
    assert.equal(a.peak, 3);
  } finally {
    rig.close();
  }
});

Deno.test("queue concurrency limit: set, enforced, raised at run time, and kept across a restart", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/jobs.db`;
  try {
    {
      const rig = new Rig(path);
      await rig.scheduler.setQueueLimit("reports", 2);
      const a = rig.connect("a", 8);
      const specs = Array.from({ length: 6 }, () => ({ shell: "r", queue: "reports" }));
      const jobs = await rig.submit(...specs, { shell: "other" });
      await rig.settle();
      assert.equal(a.held.length, 3, "2 reports + the other queue's job");
      assert.match(
        rig.scheduler.waitReason(rig.store.getJob(jobs[4].id)!)!,
        /queue reports is at its concurrency limit \(2\)/,
      );
      assert.deepEqual(rig.scheduler.queues().find((q) => q.name === "reports"), {
        name: "reports",
        queued: 4,
        active: 2,
        limit: 2,
      });
      await rig.scheduler.setQueueLimit("reports", 4);
      await rig.settle();
      assert.equal(a.held.length, 5, "the raised limit lets two more start at once");
      rig.close();
    }
    const rig = new Rig(path);
    try {
      rig.scheduler.recover();
      assert.equal(rig.scheduler.queues().find((q) => q.name === "reports")?.limit, 4);
      await rig.scheduler.setQueueLimit("reports", null);
      assert.equal(rig.scheduler.queues().find((q) => q.name === "reports")?.limit, null);
    } finally {
      rig.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("slots: a job taking 2 slots only goes to an agent with 2 free", async () => {
  const rig = new Rig();
  try {
    const small = rig.connect("small", 1);
    const [heavy] = await rig.submit({ shell: "heavy", slots: 2 });
    await rig.settle();
    assert.equal(small.held.length, 0);
    assert.equal(
      rig.scheduler.waitReason(rig.store.getJob(heavy.id)!),
      "no connected agent has 2 slots",
    );
    const big = rig.connect("big", 3);
    const [light1, light2] = await rig.submit({ shell: "l" }, { shell: "l" });
    await rig.settle();
    assert.ok(big.held.includes(`${heavy.id}.1`));
    // heavy takes 2 of big's 3 slots: one light job fits beside it, the other goes to small.
    assert.equal(big.held.length, 2);
    assert.equal(small.held.length, 1);
    const view = rig.agents.view(big.state, () => undefined);
    assert.equal(view.slots_used, 3);
    rig.finish(big, `${heavy.id}.1`, 0);
    await rig.drain();
    assert.equal(rig.state(light1.id), "succeeded");
    assert.equal(rig.state(light2.id), "succeeded");
  } finally {
    rig.close();
  }
});

Deno.test("idempotency_key returns the same job within 24 h and a new one after", async () => {
  const rig = new Rig();
  try {
    const [a] = await rig.submit({ shell: "x", idempotency_key: "nightly-2026-11-23" });
    rig.clock += 60_000;
    const [b] = await rig.submit({ shell: "x", idempotency_key: "nightly-2026-11-23" });
    assert.equal(b.id, a.id);
    rig.clock += IDEMPOTENCY_WINDOW_MS;
    const [c] = await rig.submit({ shell: "x", idempotency_key: "nightly-2026-11-23" });
    assert.notEqual(c.id, a.id);
    assert.equal(rig.store.jobByIdempotencyKey("nightly-2026-11-23")?.id, c.id);
  } finally {
    rig.close();
  }
});
