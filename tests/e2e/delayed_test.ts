import assert from "node:assert/strict";
import { logText, startTestAgent, startTestServer, waitForJob } from "../helpers.ts";

Deno.test("delayed jobs survive a restart and start on a real agent in due order, never early", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/jobdist.db`;
  try {
    // Submitted out of due order; each job prints the wall clock (ns) as its first act.
    const base = Date.now() + 3_000;
    const offsets = [750, 0, 1_500, 250, 1_250, 1_750, 500, 1_000];
    const first = await startTestServer({ db });
    const { jobs } = await first.client.submitBatch(
      offsets.map((ms) => ({
        command: ["date", "+%s%N"],
        run_at: new Date(base + ms).toISOString(),
      })),
    );
    assert.ok(jobs.every((j) => j.state === "scheduled"));
    await first.stop();

    // The restarted server rebuilds its timers from the database; one job is cancelled first.
    const server = await startTestServer({ db });
    const agent = startTestAgent(server.url, { slots: 4 });
    try {
      const cancelled = jobs[offsets.indexOf(1_000)];
      assert.equal((await server.client.cancel(cancelled.id)).state, "cancelled");
      const started: Array<{ id: number; runAt: number; startedAt: number }> = [];
      for (const job of jobs) {
        const done = await waitForJob(server.client, job.id);
        if (job.id === cancelled.id) {
          assert.equal(done.state, "cancelled");
          assert.equal(await logText(server.client, job.id), "");
          continue;
        }
        assert.equal(done.state, "succeeded", `job ${job.id}: ${done.reason}`);
        const ns = (await logText(server.client, job.id)).trim();
        assert.match(ns, /^\d+$/);
        started.push({
          id: job.id,
          runAt: Date.parse(job.run_at!),
          startedAt: Number(BigInt(ns) / 1_000_000n),
        });
      }
      for (const s of started) {
        assert.ok(s.startedAt >= s.runAt, `job ${s.id} started ${s.runAt - s.startedAt} ms early`);
        // A sanity bound only (speed is the benchmark's business): it fired, not minutes later.
        assert.ok(s.startedAt - s.runAt < 10_000, `job ${s.id} started 10 s late`);
      }
      const byStart = [...started].sort((a, b) => a.startedAt - b.startedAt).map((s) => s.id);
      const byDue = [...started].sort((a, b) => a.runAt - b.runAt).map((s) => s.id);
      assert.deepEqual(byStart, byDue);
    } finally {
      await agent.stop();
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
