/**
 * Faults of the server process: killed with SIGKILL again and again during a stream of
 * submissions, and restarted under 100 connected agents. Every acknowledged job survives, the
 * database stays sound, and running jobs are neither killed nor run twice.
 */

import assert from "node:assert/strict";
import { Client } from "../../src/cli/client.ts";
import { logText } from "../helpers.ts";
import {
  alive,
  checkDatabase,
  checkJobs,
  Fixture,
  freePort,
  type ServerChild,
  SimAgent,
  sleep,
  uniqueSeconds,
  waitUntil,
} from "./fault_helpers.ts";

/** Submits small jobs one after another until stopped; keeps the ids answered with 201. */
function submitStream(url: string, shell: string) {
  const client = new Client({ server: url });
  const acked: number[] = [];
  let failures = 0;
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      try {
        const res = await fetch(`${url}/api/v1/jobs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ shell }),
        });
        const body = await res.json();
        if (res.status === 201) acked.push(body.id);
        else failures++;
      } catch {
        failures++; // the server is down: not acknowledged, so not promised
        await sleep(20);
      }
    }
  })();
  return {
    client,
    acked,
    get failures() {
      return failures;
    },
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

Deno.test("faults: the server killed -9 five times during submissions: no acknowledged job lost, none run twice", async () => {
  const f = await Fixture.create();
  const port = freePort();
  const opts = { port, heartbeat: "300ms", lostAfter: "5s" };
  let srv: ServerChild = await f.server(opts);
  const streams: Array<ReturnType<typeof submitStream>> = [];
  try {
    const agents = [await f.agent(srv.url, "steady-1", 6), await f.agent(srv.url, "steady-2", 6)];
    // Long jobs that run across every restart; they end when the test creates `release`.
    const release = `${f.dir}/release`;
    const tick = uniqueSeconds(0.1);
    f.markers.add(tick);
    const { jobs: longJobs } = await srv.client.submitBatch(
      Array.from({ length: 4 }, () => ({
        shell:
          `echo "start $JOBDIST_ATTEMPT"; while [ ! -e ${release} ]; do sleep ${tick}; done; ` +
          `echo "end $JOBDIST_ATTEMPT"`,
      })),
    );
    const longIds = longJobs.map((j) => j.id);
    await waitUntil(
      async () => {
        const views = await Promise.all(longIds.map((id) => srv.client.job(id)));
        return views.every((j) => j.state === "running");
      },
      30_000,
      "the long jobs to run",
    );
    const longPids = await waitUntil(
      () => {
        const shells = f.leftovers().filter((p) => p.cmdline.includes(release));
        return shells.length === longIds.length ? shells.map((p) => p.pid) : null;
      },
      10_000,
      "the long jobs' processes",
    );

    streams.push(submitStream(srv.url, "echo short"), submitStream(srv.url, "echo short"));
    const ackedCount = () => streams.reduce((n, s) => n + s.acked.length, 0);
    for (let round = 1; round <= 5; round++) {
      const target = ackedCount() + 20;
      await waitUntil(() => ackedCount() >= target, 30_000, `submissions before kill ${round}`);
      await sleep(Math.random() * 200); // land the kill anywhere in a commit cycle
      await srv.child.kill("SIGKILL");
      srv = await f.server(opts);
      assert.equal(srv.port, port);
    }
    const afterLast = ackedCount() + 20;
    await waitUntil(() => ackedCount() >= afterLast, 30_000, "submissions after the last kill");
    await Promise.all(streams.map((s) => s.stop()));

    // Every agent is back, and the long jobs still run their first attempt.
    await waitUntil(
      async () => {
        const views = (await srv.client.agents()).agents;
        return agents.every((a) => views.find((v) => v.id === a.id)?.status !== "disconnected");
      },
      20_000,
      "the agents to reconnect",
    );
    for (const id of longIds) {
      const job = await srv.client.job(id);
      assert.equal(job.state, "running", `long job ${id} is ${job.state}`);
      assert.equal(job.attempt_count, 1, `long job ${id} was requeued`);
    }
    assert.ok(longPids.every(alive), "the long jobs' processes survived every kill");
    await Deno.writeTextFile(release, "");

    const acked = streams.flatMap((s) => s.acked);
    assert.equal(new Set(acked).size, acked.length, "every acknowledgement names a new job");
    const done = await checkJobs(srv.client, [...longIds, ...acked], 90_000);
    for (const job of done) assert.equal(job.state, "succeeded", `job ${job.id}`);
    for (const id of longIds) {
      const job = done.find((j) => j.id === id)!;
      assert.equal(job.attempt_count, 1, `long job ${id} ran ${job.attempt_count} times`);
      assert.equal(await logText(srv.client, id), "start 1\nend 1\n", `log of long job ${id}`);
    }
    assert.deepEqual(await f.settledLeftovers(), []);

    await srv.child.kill("SIGTERM");
    for (const a of agents) await a.child.kill("SIGTERM");
    const stored = checkDatabase(f.db);
    const missing = acked.filter((id) => !stored.has(id));
    assert.deepEqual(missing, [], "acknowledged jobs missing from the database");
  } finally {
    await Promise.all(streams.map((s) => s.stop()));
    await f.cleanup();
  }
});

Deno.test("faults: the server restarted under 100 connected agents: all reconnect, no job requeued", async () => {
  const f = await Fixture.create();
  const port = freePort();
  const opts = { port, heartbeat: "500ms", lostAfter: "4s" };
  let srv: ServerChild = await f.server(opts);
  const sims = Array.from({ length: 100 }, (_, i) => new SimAgent(srv.url, `sim-${i}`));
  try {
    for (const s of sims) s.start();
    await waitUntil(() => sims.every((s) => s.connected), 30_000, "100 agents to connect");
    const { jobs } = await srv.client.submitBatch(
      Array.from(
        { length: 100 },
        (_, i) => ({ shell: `echo ${i}`, requires: { labels: { sim: "1" } } }),
      ),
    );
    const ids = jobs.map((j) => j.id);
    await waitUntil(
      async () => (await srv.client.listJobs({ state: "running", limit: 200 })).jobs.length === 100,
      30_000,
      "100 running jobs",
    );
    assert.ok(sims.every((s) => s.attempts.size === 1), "one attempt per agent");

    for (const how of ["SIGTERM", "SIGKILL"] as const) {
      const welcomes = sims.map((s) => s.welcomes);
      await srv.child.kill(how);
      const downAt = performance.now();
      srv = await f.server(opts);
      await waitUntil(
        () => sims.every((s, i) => s.welcomes > welcomes[i] && s.connected),
        30_000,
        `100 agents to reconnect after ${how}`,
      );
      for (const s of sims) {
        const last = s.reconciles[s.reconciles.length - 1];
        assert.deepEqual(last.map((r) => r.action), ["keep"], `${s.id} after ${how}`);
        assert.equal(s.attempts.size, 1, `${s.id} still holds its attempt`);
      }
      // Jittered: the reconnects spread out rather than arriving as one burst.
      const times = sims.map((s) => s.reconnectedAt[s.reconnectedAt.length - 1] - downAt);
      assert.ok(new Set(times.map((t) => Math.round(t / 10))).size > 10, "reconnects spread");
      const running = await srv.client.listJobs({ state: "running", limit: 200 });
      assert.equal(running.jobs.length, 100, `running jobs after ${how}`);
      assert.ok(running.jobs.every((j) => j.attempt_count === 1), `no requeue after ${how}`);
      // Stay past the grace period: nobody is declared lost later either.
      await sleep(4_500);
      const agents = (await srv.client.agents()).agents;
      const notBusy = agents.filter((a) => a.status !== "busy").map((a) => `${a.name}:${a.status}`);
      assert.deepEqual(notBusy, [], `agents after ${how} and the grace`);
    }

    for (const s of sims) s.finishAll();
    const done = await checkJobs(srv.client, ids, 30_000);
    for (const job of done) {
      assert.equal(job.state, "succeeded");
      assert.equal(job.attempt_count, 1);
    }
    assert.ok(sims.every((s) => s.killed.length === 0), "no attempt was killed");
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
    await f.cleanup();
  }
});
