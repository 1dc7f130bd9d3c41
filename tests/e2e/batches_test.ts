import assert from "node:assert/strict";
import { main } from "../../src/cli/mod.ts";
import { logText, startTestAgent, startTestServer, waitForJob } from "../helpers.ts";

Deno.test("a batch of 10 tasks with parallelism 3 runs real processes, never more than 3 at once", async () => {
  const server = await startTestServer();
  const agents = [
    startTestAgent(server.url, { name: "w1", slots: 4 }),
    startTestAgent(server.url, { name: "w2", slots: 4 }),
  ];
  const dir = await Deno.makeTempDir({ prefix: "jobdist-batch-" });
  try {
    // Each task marks itself running in a shared directory and records how many were.
    const script = `
      touch "${dir}/run.$JOBDIST_INDEX"
      ls "${dir}" | grep -c '^run\\.' > "${dir}/seen.$JOBDIST_INDEX"
      sleep 0.3
      rm "${dir}/run.$JOBDIST_INDEX"
      echo "task $JOBDIST_INDEX of batch $JOBDIST_BATCH_ID"`;
    const batch = await server.client.submit({
      name: "render",
      shell: script,
      completions: 10,
      parallelism: 3,
    });
    assert.equal(batch.state, "running");
    const done = await waitForJob(server.client, batch.id, 60_000);
    assert.equal(done.state, "succeeded", done.reason ?? "");
    assert.deepEqual(done.batch?.tasks, { succeeded: 10 });
    const { jobs: tasks } = await server.client.listJobs({ parent: String(batch.id), limit: 100 });
    assert.equal(tasks.length, 10);
    const indexes = tasks.map((t) => t.batch_index).sort((a, b) => a! - b!);
    assert.deepEqual(indexes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const t of tasks) {
      assert.equal(t.parent_id, batch.id);
      assert.equal(
        await logText(server.client, t.id),
        `task ${t.batch_index} of batch ${batch.id}\n`,
      );
    }
    const seen = await Promise.all(
      indexes.map(async (i) => Number(await Deno.readTextFile(`${dir}/seen.${i}`))),
    );
    assert.ok(Math.max(...seen) <= 3, `at most 3 at once, saw ${seen}`);
    assert.ok(Math.max(...seen) >= 2, `tasks ran side by side, saw ${seen}`);
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a batch's failing index is retried up to its max_attempts on real agents, then the batch fails", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { slots: 2 });
  try {
    const batch = await server.client.submit({
      shell: 'echo "try $JOBDIST_ATTEMPT"; [ "$JOBDIST_INDEX" != 1 ]',
      completions: 3,
      parallelism: 3,
      max_attempts: 3,
      backoff: { initial: "10ms", max: "10ms" },
    });
    const done = await waitForJob(server.client, batch.id, 60_000);
    assert.equal(done.state, "failed");
    assert.match(done.reason ?? "", /task 1/);
    const { jobs: tasks } = await server.client.listJobs({ parent: String(batch.id) });
    const failing = tasks.find((t) => t.batch_index === 1)!;
    assert.equal(failing.state, "failed");
    assert.equal(failing.attempt_count, 3);
    assert.equal(await logText(server.client, failing.id), "try 1\ntry 2\ntry 3\n");
    for (const t of tasks.filter((t) => t.batch_index !== 1)) {
      assert.ok(["succeeded", "cancelled"].includes(t.state), `${t.batch_index}: ${t.state}`);
    }
    assert.equal(done.batch?.failed_attempts, 3);
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("dependencies with real agents: a chain runs in order, a failed link cancels the rest", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { slots: 4 });
  const dir = await Deno.makeTempDir({ prefix: "jobdist-after-" });
  try {
    const step = (n: number) => ({ shell: `echo ${n} >> "${dir}/order"` });
    const a = await server.client.submit(step(1));
    const b = await server.client.submit({ ...step(2), after: [a.id] });
    const c = await server.client.submit({ ...step(3), after: [b.id] });
    assert.equal(b.state, "waiting");
    assert.equal((await waitForJob(server.client, c.id)).state, "succeeded");
    assert.equal(await Deno.readTextFile(`${dir}/order`), "1\n2\n3\n");

    const bad = await server.client.submit({ shell: "exit 4" });
    const next = await server.client.submit({ ...step(9), after: [bad.id, a.id] });
    const done = await waitForJob(server.client, next.id);
    assert.equal(done.state, "cancelled");
    assert.equal(done.reason, `dependency job ${bad.id} failed`);
    assert.equal(await Deno.readTextFile(`${dir}/order`), "1\n2\n3\n", "the step never ran");

    const missing = await fetch(`${server.url}/api/v1/jobs`, {
      method: "POST",
      body: JSON.stringify({ shell: "true", after: [999999] }),
    });
    assert.equal(missing.status, 400);
    assert.deepEqual((await missing.json()).error.field, "after.0");
  } finally {
    await agent.stop();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobdist queues set limits a queue on real agents; jobdist queues lists it", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { slots: 4 });
  const dir = await Deno.makeTempDir({ prefix: "jobdist-queue-" });
  const log = console.log;
  const out: string[] = [];
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  const cli = (...args: string[]) =>
    main(["queues", "--server", server.url, ...args], new AbortController().signal);
  try {
    assert.equal(await cli("set", "exports", "--concurrency", "1"), 0);
    assert.equal(await cli("set", "exports"), 2, "neither --concurrency nor --unlimited");
    const spec = {
      queue: "exports",
      shell: `mkdir "${dir}/lock" || echo overlap; sleep 0.2; rmdir "${dir}/lock"`,
    };
    const { jobs } = await server.client.submitBatch([spec, spec, spec, spec]);
    for (const j of jobs) {
      const done = await waitForJob(server.client, j.id);
      assert.equal(done.state, "succeeded");
      assert.equal(await logText(server.client, j.id), "", "no two ran at once");
    }
    out.length = 0;
    assert.equal(await cli("list"), 0);
    assert.match(out.join("\n"), /exports\s+0\s+0\s+1/);
  } finally {
    console.log = log;
    await agent.stop();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
