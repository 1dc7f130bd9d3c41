/**
 * Faults of an agent process: killed with SIGKILL (and restarted, or never), and paused with
 * SIGSTOP past its heartbeat deadline and grace. Real server and agent child processes.
 */

import assert from "node:assert/strict";
import { alive, checkJobs, Fixture, sleep, uniqueSeconds, waitUntil } from "./fault_helpers.ts";
import { logText } from "../helpers.ts";

Deno.test("faults: an agent killed -9 under 20 sleep jobs and restarted: all complete, none twice", async () => {
  const f = await Fixture.create();
  try {
    const srv = await f.server({ heartbeat: "300ms", lostAfter: "2s" });
    const first = await f.agent(srv.url, "crashy", 20);
    const secs = uniqueSeconds(3);
    f.markers.add(secs);
    const { jobs } = await srv.client.submitBatch(
      Array.from({ length: 20 }, (_, i) => ({ shell: `sleep ${secs}; echo done ${i}` })),
    );
    const ids = jobs.map((j) => j.id);
    await waitUntil(
      async () => (await srv.client.listJobs({ state: "running", limit: 100 })).jobs.length === 20,
      30_000,
      "20 running jobs",
    );
    const sleepers = () => f.leftovers().filter((p) => p.cmdline.startsWith(`sleep ${secs}`));
    await waitUntil(() => sleepers().length === 20, 10_000, "20 sleep processes");
    const orphans = sleepers().map((p) => p.pid);

    await first.child.kill("SIGKILL");
    const second = await f.agent(srv.url, "crashy", 20);
    assert.equal(second.id, first.id, "the restarted agent keeps its id");
    // The restarted agent reaps what its previous life left running.
    await waitUntil(() => orphans.every((pid) => !alive(pid)), 10_000, "orphans reaped");

    const done = await checkJobs(srv.client, ids, 60_000);
    for (const job of done) {
      assert.equal(job.state, "succeeded", `job ${job.id}`);
      assert.ok(job.attempt_count <= 2, `job ${job.id} ran ${job.attempt_count} times`);
    }
    for (const id of ids) {
      const out = await logText(srv.client, id);
      const i = ids.indexOf(id);
      assert.equal(out.split("\n").filter((l) => l === `done ${i}`).length, 1, `log of ${id}`);
    }
    assert.deepEqual(await f.settledLeftovers(), []);
  } finally {
    await f.cleanup();
  }
});

Deno.test("faults: an agent killed -9 for good: its jobs finish on another agent within lease + grace", async () => {
  const f = await Fixture.create();
  try {
    const heartbeatMs = 300;
    const lostAfterMs = 2_000;
    const srv = await f.server({ heartbeat: `${heartbeatMs}ms`, lostAfter: `${lostAfterMs}ms` });
    const doomed = await f.agent(srv.url, "doomed", 4);
    const secs = uniqueSeconds(3);
    f.markers.add(secs);
    const { jobs } = await srv.client.submitBatch(
      Array.from({ length: 4 }, () => ({ shell: `sleep ${secs}` })),
    );
    const ids = jobs.map((j) => j.id);
    await waitUntil(
      async () => (await srv.client.listJobs({ state: "running", limit: 100 })).jobs.length === 4,
      30_000,
      "4 running jobs",
    );
    const survivor = await f.agent(srv.url, "survivor", 4);
    const killedAt = Date.now();
    await doomed.child.kill("SIGKILL");

    const done = await checkJobs(srv.client, ids, 60_000);
    // Lease (3 heartbeats) + grace + one sweep, plus slack for a loaded machine.
    const bound = 3 * heartbeatMs + lostAfterMs + heartbeatMs + 5_000;
    for (const job of done) {
      assert.equal(job.state, "succeeded");
      const [lost, rerun] = job.attempts!;
      assert.equal(job.attempt_count, 2, `job ${job.id}`);
      assert.equal(lost.state, "lost");
      assert.equal(lost.agent_id, doomed.id);
      assert.equal(rerun.state, "succeeded");
      assert.equal(rerun.agent_id, survivor.id);
      const requeuedAfter = Date.parse(rerun.assigned_at) - killedAt;
      assert.ok(requeuedAfter <= bound, `job ${job.id} requeued after ${requeuedAfter} ms`);
    }
    const agents = await srv.client.agents();
    assert.equal(agents.agents.find((a) => a.id === doomed.id)?.status, "lost");
    // Nothing reaps the processes of an agent that never comes back; they end on their own.
    assert.deepEqual(await f.settledLeftovers(10_000), []);
  } finally {
    await f.cleanup();
  }
});

Deno.test("faults: an agent paused past its lease: the job reruns elsewhere, the stale process dies, its late result is rejected", async () => {
  const f = await Fixture.create();
  try {
    const srv = await f.server({ heartbeat: "300ms", lostAfter: "2s" });
    const paused = await f.agent(srv.url, "sleepy", 2);
    const long = uniqueSeconds(60);
    const short = uniqueSeconds(1);
    f.markers.add(long).add(short);
    // Attempt 1 of `stuck` outlives the pause; attempt 1 of `late` ends during it.
    const stuck = await srv.client.submit({
      shell: `if [ "$JOBDIST_ATTEMPT" = 1 ]; then sleep ${long}; fi; echo "ran $JOBDIST_ATTEMPT"`,
    });
    const late = await srv.client.submit({ shell: `sleep ${short}; echo "ran $JOBDIST_ATTEMPT"` });
    await waitUntil(
      async () => (await srv.client.listJobs({ state: "running", limit: 10 })).jobs.length === 2,
      30_000,
      "both jobs running",
    );
    const stale = await waitUntil(
      () => f.leftovers().find((p) => p.cmdline.includes(`sleep ${long}`)),
      10_000,
      "the long sleep",
    );
    const other = await f.agent(srv.url, "awake", 2);

    const stoppedAt = Date.now();
    paused.child.process.kill("SIGSTOP");
    try {
      await waitUntil(
        async () => {
          const [a, b] = await Promise.all([srv.client.job(stuck.id), srv.client.job(late.id)]);
          return a.attempt_count === 2 && b.state === "succeeded";
        },
        30_000,
        "both jobs to move to the other agent",
      );
      // The short sleep of attempt 1 has ended by now: its result waits in the paused agent.
      await waitUntil(
        () => !f.leftovers().some((p) => p.cmdline.includes(`sleep ${short}`)),
        10_000,
        "the short sleep to end",
      );
    } finally {
      paused.child.process.kill("SIGCONT");
    }
    // The resumed agent learns its attempt is stale and kills it.
    await waitUntil(() => !alive(stale.pid), 15_000, "the stale process to be killed");
    // It reconnects, and its late result changes nothing.
    await waitUntil(
      async () =>
        (await srv.client.agents()).agents.find((a) => a.id === paused.id)?.status === "idle",
      15_000,
      "the paused agent to come back idle",
    );
    await sleep(500);

    const [a, b] = await checkJobs(srv.client, [stuck.id, late.id]);
    for (const job of [a, b]) {
      assert.equal(job.state, "succeeded", `job ${job.id}`);
      assert.deepEqual(
        job.attempts!.map((t) => [t.n, t.state, t.agent_id]),
        [[1, "lost", paused.id], [2, "succeeded", other.id]],
        `attempts of job ${job.id}`,
      );
      const reassigned = Date.parse(job.attempts![1].assigned_at) - stoppedAt;
      assert.ok(reassigned >= 1_500, `job ${job.id} moved ${reassigned} ms after the pause`);
      const out = await logText(srv.client, job.id);
      assert.equal(out, "ran 2\n", `log of job ${job.id}`);
    }
    assert.deepEqual(await f.settledLeftovers(), []);
  } finally {
    await f.cleanup();
  }
});
