import assert from "node:assert/strict";
import {
  spawnJobdist,
  startTestAgent,
  startTestServer,
  waitForJob,
  waitUntil,
} from "../helpers.ts";

Deno.test("agent --once runs one job, exits 0, and leaves the next job queued", async () => {
  const server = await startTestServer();
  const stateDir = await Deno.makeTempDir();
  try {
    const first = await server.client.submit({ shell: "echo one" });
    const second = await server.client.submit({ shell: "echo two" });
    const agent = spawnJobdist([
      "agent",
      "--server",
      server.url,
      "--name",
      "eph-once",
      "--slots",
      "4",
      "--state-dir",
      stateDir,
      "--once",
    ]);
    const status = await agent.process.status;
    assert.equal(status.code, 0, agent.stderr.join("\n"));
    assert.ok(agent.stderr.some((l) => /exiting: ran 1 job\(s\) \(--max-jobs\)/.test(l)));
    const jobs = [await server.client.job(first.id), await server.client.job(second.id)];
    assert.deepEqual(jobs.map((j) => j.state).sort(), ["queued", "succeeded"]);
  } finally {
    await server.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("agent --max-jobs 2 runs two jobs then exits; --idle-exit ends an idle agent", async () => {
  const server = await startTestServer();
  const stateDir = await Deno.makeTempDir();
  try {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await server.client.submit({ shell: `echo ${i}` })).id);
    const agent = spawnJobdist([
      "agent",
      "--server",
      server.url,
      "--name",
      "eph-max",
      "--slots",
      "1",
      "--state-dir",
      stateDir,
      "--max-jobs",
      "2",
    ]);
    assert.equal((await agent.process.status).code, 0, agent.stderr.join("\n"));
    const states = await Promise.all(ids.map(async (id) => (await server.client.job(id)).state));
    assert.equal(states.filter((s) => s === "succeeded").length, 2);
    assert.equal(states.filter((s) => s === "queued").length, 1);

    // An idle agent with --idle-exit takes the remaining job, then leaves once idle.
    const started = Date.now();
    const idle = spawnJobdist([
      "agent",
      "--server",
      server.url,
      "--name",
      "eph-idle",
      "--state-dir",
      `${stateDir}/idle`,
      "--idle-exit",
      "300ms",
    ], { JOBDIST_SLOTS: "2" });
    assert.equal((await idle.process.status).code, 0, idle.stderr.join("\n"));
    assert.ok(idle.stderr.some((l) => /exiting: idle for 300 ms/.test(l)), idle.stderr.join("\n"));
    assert.ok(Date.now() - started < 15_000);
    assert.equal((await waitForJob(server.client, ids[2])).state, "succeeded");
    await waitUntil(async () =>
      (await server.client.agents()).agents.find((a) => a.name === "eph-idle")?.status ===
        "disconnected"
    );
  } finally {
    await server.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("an agent stopped while it is still starting up exits instead of hanging", async () => {
  const server = await startTestServer();
  try {
    // Stopped before it has detected its runtimes or connected: stop() must still resolve.
    const agent = startTestAgent(server.url);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = new Promise<string>((r) => timer = setTimeout(() => r("stuck"), 20_000));
    const outcome = await Promise.race([agent.stop().then(() => "stopped"), stuck]);
    clearTimeout(timer);
    assert.equal(outcome, "stopped");
  } finally {
    await server.stop();
  }
});
