/**
 * Writes the store defers to the group commit: an attempt's start (written then, or with the
 * attempt's end when both arrive in one group), `beforeCommit` callbacks, and `durableCommits`,
 * which acknowledgements wait for now that the fsync runs off the event loop.
 * @module
 */

import assert from "node:assert/strict";
import { parseJobSpec } from "../../src/protocol/mod.ts";
import { openStore } from "../../src/server/store.ts";
import { Rig } from "./sim_rig.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jobdist-deferred-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const spec = { command: ["true"] };

Deno.test("a start and an end in one group are both recorded: the attempt's start, pid and end, the job's start", async () => {
  const rig = new Rig();
  try {
    const sim = rig.connect("a");
    const [job] = await rig.submit(spec);
    await rig.settle();
    const attemptId = sim.held[0];
    const startedAt = rig.clock;
    rig.finish(sim, attemptId, 0); // `started` (pid 1) and `finished` in the same turn
    await rig.store.durable();
    const attempt = rig.store.getAttempt(attemptId)!;
    assert.equal(attempt.state, "succeeded");
    assert.equal(attempt.started_at, startedAt);
    assert.equal(attempt.pid, 1);
    assert.equal(attempt.finished_at, startedAt);
    const row = rig.store.getJob(job.id)!;
    assert.equal(row.state, "succeeded");
    assert.equal(row.started_at, startedAt);
  } finally {
    rig.close();
  }
});

Deno.test("a start alone is written with the group commit and survives a restart", () =>
  withDir(async (dir) => {
    const path = `${dir}/jobdist.db`;
    const rig = new Rig(path);
    let jobId: number, attemptId: string;
    try {
      const sim = rig.connect("a");
      [{ id: jobId }] = await rig.submit(spec);
      await rig.settle();
      attemptId = sim.held[0];
      rig.scheduler.onAgentMessage(sim.state, {
        type: "started",
        attempt_id: attemptId,
        pid: 4242,
      });
      await rig.store.durable();
      assert.equal(rig.state(jobId), "running");
      assert.equal(rig.store.getAttempt(attemptId)!.pid, 4242);
    } finally {
      rig.close();
    }
    const again = new Rig(path);
    try {
      again.agents.load();
      again.scheduler.recover();
      assert.equal(again.scheduler.activeAttempt(attemptId)?.state, "running");
      assert.equal(again.state(jobId), "running");
    } finally {
      again.close();
    }
  }));

Deno.test("a job cancelled after its start arrived, before the start is written, stays cancelled", async () => {
  const rig = new Rig();
  try {
    const sim = rig.connect("a");
    const [job] = await rig.submit(spec);
    await rig.settle();
    const attemptId = sim.held[0];
    rig.scheduler.onAgentMessage(sim.state, { type: "started", attempt_id: attemptId, pid: 7 });
    const cancelled = await rig.scheduler.cancel(job.id);
    assert.equal(cancelled.state, "cancelled");
    await rig.store.durable();
    assert.equal(rig.state(job.id), "cancelled");
    assert.ok(sim.frames.some((f) => f.type === "cancel" && f.attempt_id === attemptId));
    const attempt = rig.store.getAttempt(attemptId)!;
    assert.equal(attempt.pid, 7, "the attempt still records its process");
  } finally {
    rig.close();
  }
});

Deno.test("store.beforeCommit() writes in the group before durable() resolves; one that throws loses only its writes", () =>
  withDir(async (dir) => {
    const store = openStore(`${dir}/jobdist.db`);
    try {
      const insert = (name: string) =>
        store.insertJob({
          spec: parseJobSpec({ command: ["true"], name }),
          state: "queued",
          run_at: null,
          created_at: 0,
          owner: null,
        });
      const before = store.commits;
      store.beforeCommit(() => {
        insert("deferred");
      });
      store.beforeCommit(() => {
        insert("undone");
        throw new Error("deferred write failed");
      });
      insert("direct");
      await store.durable();
      assert.equal(store.commits, before + 1, "one group");
      assert.equal(store.durableCommits, store.commits);
      const names = store.listJobs({ limit: 10 }).map((j) => j.name).sort();
      assert.deepEqual(names, ["deferred", "direct"]);
    } finally {
      store.close();
    }
  }));

Deno.test("store.durableCommits trails commits until their fsync is done", () =>
  withDir(async (dir) => {
    const store = openStore(`${dir}/jobdist.db`);
    try {
      store.setQueueLimit("q", 1);
      store.flush();
      assert.equal(store.commits - store.durableCommits, 1, "committed, not yet fsynced");
      await store.durable();
      assert.equal(store.durableCommits, store.commits);
    } finally {
      store.close();
    }
  }));
