/**
 * Retries under a job that always fails: `max_attempts` with growing backoff, and
 * `fail_exit_codes` that stop at the first attempt. Real server and agent child processes.
 */

import assert from "node:assert/strict";
import { checkJobs, Fixture } from "./fault_helpers.ts";

Deno.test("faults: a job that always exits 42 runs three times with growing gaps, then fails", async () => {
  const f = await Fixture.create();
  try {
    const srv = await f.server();
    await f.agent(srv.url, "retrier", 2);
    const job = await srv.client.submit({
      shell: "exit 42",
      max_attempts: 3,
      backoff: { initial: "300ms", factor: 3, max: "10s" },
    });
    const [done] = await checkJobs(srv.client, [job.id], 30_000);
    assert.equal(done.state, "failed");
    assert.equal(done.exit_code, 42);
    assert.equal(done.attempt_count, 3);
    const at = done.attempts!;
    assert.deepEqual(at.map((a) => [a.state, a.exit_code]), [
      ["failed", 42],
      ["failed", 42],
      ["failed", 42],
    ]);
    const gap = (i: number) => Date.parse(at[i].assigned_at) - Date.parse(at[i - 1].finished_at!);
    const [g1, g2] = [gap(1), gap(2)];
    // Backoff is 300 ms then 900 ms, each ±20%: the timers never fire early.
    assert.ok(g1 >= 0.8 * 300 - 20, `first gap ${g1} ms`);
    assert.ok(g2 >= 0.8 * 900 - 20, `second gap ${g2} ms`);
    assert.ok(g2 > g1, `gaps grow: ${g1} ms then ${g2} ms`);
    assert.match(done.reason ?? "", /exit code 42/);
  } finally {
    await f.cleanup();
  }
});

Deno.test("faults: with fail_exit_codes [42] an exit 42 fails at the first attempt", async () => {
  const f = await Fixture.create();
  try {
    const srv = await f.server();
    await f.agent(srv.url, "retrier", 2);
    const job = await srv.client.submit({
      shell: "exit 42",
      max_attempts: 3,
      fail_exit_codes: [42],
      backoff: { initial: "100ms" },
    });
    const [done] = await checkJobs(srv.client, [job.id], 30_000);
    assert.equal(done.state, "failed");
    assert.equal(done.attempt_count, 1);
    assert.equal(done.exit_code, 42);
    // A retry would have been scheduled within the backoff: make sure none comes.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await srv.client.job(job.id)).attempt_count, 1);
  } finally {
    await f.cleanup();
  }
});
