/**
 * Cancel and timeout kill everything a job started: a `setsid` escapee dies with its job, and a
 * job that survives TERM is KILLed after its grace. Real server and agent child processes.
 */

import assert from "node:assert/strict";
import { logText } from "../helpers.ts";
import { alive, checkJobs, Fixture, uniqueSeconds, waitUntil } from "./fault_helpers.ts";

/** Session id (field 6 of `/proc/PID/stat`). */
function sessionOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
}

Deno.test("faults: a cancelled job that forked `setsid nohup sleep &` leaves no descendant", async () => {
  const f = await Fixture.create();
  try {
    const srv = await f.server();
    await f.agent(srv.url, "canceller", 2);
    const escapee = uniqueSeconds(1000);
    const own = uniqueSeconds(1000);
    f.markers.add(escapee).add(own);
    const job = await srv.client.submit({
      shell: `setsid nohup sleep ${escapee} & sh -c 'sleep ${own}' & echo started; wait`,
    });
    await waitUntil(async () => (await logText(srv.client, job.id)).includes("started"));
    const sleepers = () => f.leftovers().filter((p) => p.cmdline.startsWith("sleep "));
    await waitUntil(() => sleepers().length === 2, 10_000, "both sleeps");
    const pids = sleepers().map((p) => p.pid);
    const outside = sleepers().find((p) => p.cmdline.includes(escapee))!;
    const inside = sleepers().find((p) => p.cmdline.includes(own))!;
    assert.notEqual(sessionOf(outside.pid), sessionOf(inside.pid), "the escapee left the session");

    await srv.client.cancel(job.id);
    const [done] = await checkJobs(srv.client, [job.id], 30_000);
    assert.equal(done.state, "cancelled");
    assert.equal(done.attempts![0].state, "cancelled");
    await waitUntil(() => pids.every((p) => !alive(p)), 10_000, "every descendant to die");
    assert.deepEqual(await f.settledLeftovers(), []);
  } finally {
    await f.cleanup();
  }
});

Deno.test("faults: a job that traps TERM is KILLed after kill_grace and ends timed_out", async () => {
  const f = await Fixture.create();
  try {
    const srv = await f.server();
    await f.agent(srv.url, "stubborn", 2);
    const tick = uniqueSeconds(0.1);
    f.markers.add(tick);
    const job = await srv.client.submit({
      shell: `trap 'echo got TERM' TERM; echo ready; while :; do sleep ${tick}; done`,
      timeout: "1s",
      kill_grace: "1500ms",
    });
    const [done] = await checkJobs(srv.client, [job.id], 30_000);
    assert.equal(done.state, "timed_out");
    assert.equal(done.attempt_count, 1);
    const [attempt] = done.attempts!;
    assert.equal(attempt.state, "timed_out");
    assert.equal(attempt.signal, "SIGKILL");
    assert.equal(attempt.exit_code, null);
    const ran = Date.parse(attempt.finished_at!) - Date.parse(attempt.started_at!);
    // KILL cannot come before timeout + grace; the TERM came first and was survived.
    assert.ok(ran >= 2_400, `the attempt ended after ${ran} ms`);
    const out = await logText(srv.client, job.id);
    assert.match(out, /^ready\n/);
    assert.match(out, /got TERM/);
    assert.deepEqual(await f.settledLeftovers(), []);
  } finally {
    await f.cleanup();
  }
});
