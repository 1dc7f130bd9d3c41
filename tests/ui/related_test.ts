/**
 * The jobs a job page links to: counting a batch's tasks for its progress bar, applying live
 * changes to its tasks and dependencies, and `/ui/data/jobs/:id/related` on a real server.
 * @module
 */

import assert from "node:assert/strict";
import { type JobState, type JobView, parseJobSpec } from "../../src/protocol/mod.ts";
import {
  applyChanges,
  progressCounts,
  TASKS_SHOWN,
  type UiRelated,
} from "../../src/ui/lib/related.ts";
import { startTestServer, waitUntil } from "../helpers.ts";

/** A job view with only what the page reads. */
function view(id: number, state: JobState, extra: Partial<JobView> = {}): JobView {
  return {
    id,
    name: null,
    state,
    queue: "default",
    priority: 0,
    spec: parseJobSpec({ shell: "true" }),
    created_at: "2026-01-01T00:00:00.000Z",
    run_at: null,
    started_at: null,
    finished_at: null,
    exit_code: null,
    signal: null,
    reason: null,
    attempt_count: 0,
    agent_id: null,
    output_bytes: 0,
    ...extra,
  };
}

Deno.test("progressCounts() groups a batch's tasks as its bar draws them", () => {
  const counts = progressCounts({
    completions: 10,
    parallelism: 2,
    tasks: {
      succeeded: 3,
      failed: 1,
      timed_out: 1,
      running: 1,
      assigned: 1,
      queued: 2,
      cancelled: 1,
    },
    failed_attempts: 2,
  });
  assert.deepEqual(counts, { succeeded: 3, failed: 2, cancelled: 1, running: 2, queued: 2 });
});

Deno.test("applyChanges() updates dependencies and tasks, and adds new tasks by index", () => {
  const related: UiRelated = {
    deps: [{ id: 1, state: "running" }, { id: 2, state: "queued" }],
    tasks: [],
    more_tasks: false,
  };
  const changed = [
    view(1, "succeeded"),
    view(12, "queued", { parent_id: 10, batch_index: 1 }),
    view(11, "running", { parent_id: 10, batch_index: 0, attempt_count: 1 }),
    view(21, "queued", { parent_id: 20, batch_index: 0 }),
  ];
  const next = applyChanges(related, changed, 10);
  assert.deepEqual(next.deps, [{ id: 1, state: "succeeded" }, { id: 2, state: "queued" }]);
  assert.deepEqual(next.tasks.map((t) => [t.id, t.index, t.state]), [
    [11, 0, "running"],
    [12, 1, "queued"],
  ]);
  const later = applyChanges(next, [view(12, "succeeded", { parent_id: 10, batch_index: 1 })], 10);
  assert.deepEqual(later.tasks.map((t) => t.state), ["running", "succeeded"]);
  assert.equal(later.more_tasks, false);
});

Deno.test("applyChanges() keeps at most TASKS_SHOWN tasks, the last ones", () => {
  const empty: UiRelated = { deps: [], tasks: [], more_tasks: false };
  const many = Array.from(
    { length: TASKS_SHOWN + 5 },
    (_, i) => view(100 + i, "queued", { parent_id: 1, batch_index: i }),
  );
  const next = applyChanges(empty, many, 1);
  assert.equal(next.tasks.length, TASKS_SHOWN);
  assert.equal(next.tasks[0].index, 5);
  assert.equal(next.more_tasks, true);
  // Once the list is partial, tasks not on it stay off it.
  const after = applyChanges(next, [view(100, "running", { parent_id: 1, batch_index: 0 })], 1);
  assert.equal(after.tasks[0].index, 5);
});

Deno.test("/ui/data/jobs/:id/related lists a batch's tasks and a job's dependencies", async () => {
  const server = await startTestServer();
  try {
    const get = async (path: string) => {
      const res = await fetch(`${server.url}${path}`);
      return { status: res.status, body: await res.json() };
    };
    const batch = await server.client.submit({ shell: "true", completions: 3 });
    const dependent = await server.client.submit({ shell: "true", after: [batch.id] });
    await waitUntil(async () => (await server.client.job(batch.id)).batch?.tasks.queued === 3);

    const tasks = await get(`/ui/data/jobs/${batch.id}/related`);
    assert.equal(tasks.status, 200);
    assert.deepEqual(
      tasks.body.tasks.map((t: { index: number; state: string }) => [t.index, t.state]),
      [[0, "queued"], [1, "queued"], [2, "queued"]],
    );
    assert.equal(tasks.body.more_tasks, false);
    assert.deepEqual(tasks.body.deps, []);

    const deps = await get(`/ui/data/jobs/${dependent.id}/related`);
    assert.deepEqual(deps.body, {
      deps: [{ id: batch.id, state: "running" }],
      tasks: [],
      more_tasks: false,
    });

    const bad = await get("/ui/data/jobs/nope/related");
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /"nope" is not a job id/);
    const missing = await get("/ui/data/jobs/999/related");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.message, "No job 999");
  } finally {
    await server.stop();
  }
});
