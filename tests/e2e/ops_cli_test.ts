import assert from "node:assert/strict";
import {
  runCli,
  spawnJobdist,
  startTestAgent,
  startTestServer,
  waitForJob,
  waitUntil,
} from "../helpers.ts";

Deno.test("jobdist agents rename, label, disable, enable, uptime and forget", async () => {
  const server = await startTestServer({ heartbeatMs: 100 });
  const s = ["--server", server.url];
  const agent = startTestAgent(server.url, { name: "cli-1", labels: { zone: "eu" } });
  try {
    await waitUntil(async () => (await server.client.agents()).agents.length === 1);
    let r = await runCli(["agents", "rename", "cli-1", "builder", ...s]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "cli-1 is now builder");
    r = await runCli(["agents", "label", "builder", "zone=us", "gpu=1", ...s]);
    assert.equal(r.out, "builder zone=us,gpu=1");
    r = await runCli(["agents", "disable", "builder", ...s]);
    assert.match(r.out, /^builder idle \(disabled\)$/);
    r = await runCli(["agents", ...s]);
    assert.match(r.out, /builder\s+idle,disabled/);

    // A disabled agent gets no work; enabling it lets the job run.
    const job = await server.client.submit({ shell: "echo ran" });
    await new Promise((res) => setTimeout(res, 200));
    assert.equal((await server.client.job(job.id)).state, "queued");
    r = await runCli(["agents", "enable", "builder", ...s]);
    assert.equal(r.out, "builder idle");
    assert.equal((await waitForJob(server.client, job.id)).state, "succeeded");

    r = await runCli(["agents", "label", "builder", "--reset", ...s]);
    assert.equal(r.out, "builder zone=eu");
    r = await runCli(["agents", "uptime", "builder", ...s]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /24h\s+100\.00%/);
    assert.match(r.out, /last 24h \|[ ]*[█▄]+\| now/);
    r = await runCli(["agents", "forget", "builder", ...s]);
    assert.equal(r.code, 1);
    assert.match(r.err, /Cannot forget agent builder: it is connected/);
    r = await runCli(["agents", "frobnicate", "builder", ...s]);
    assert.equal(r.code, 2);
  } finally {
    await agent.stop();
  }
  try {
    await waitUntil(async () =>
      (await server.client.agents()).agents[0]?.status === "disconnected"
    );
    const r = await runCli(["agents", "forget", "builder", ...s]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((await server.client.agents()).agents, []);
  } finally {
    await server.stop();
  }
});

Deno.test("jobdist backup, then the README's restore procedure: stop, copy, start, jobs are there", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A real server process, as an operator runs it.
    let server = spawnJobdist(["server", "--listen", "127.0.0.1:0", "--db", `${dir}/jobdist.db`]);
    let url = (await server.waitFor(/listening on (http:\/\/\S+)/))[1];
    const agent = startTestAgent(url, { name: "bk" });
    let id: number;
    try {
      const { Client } = await import("../../src/cli/client.ts");
      const client = new Client({ server: url });
      id = (await client.submit({ shell: "echo before the backup" })).id;
      await waitForJob(client, id);
      const r = await runCli(["backup", "--out", `${dir}/backup.db`, "--server", url]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /wrote .*backup\.db \(\d+ bytes\)/);
      // Work after the backup is not in it.
      await client.submit({ shell: "echo after the backup" });
    } finally {
      await agent.stop();
    }
    // Restore: stop the server, put the backup in place (dropping the old WAL and output
    // files: the backup carries the output), start again.
    assert.equal((await server.kill("SIGTERM")).code, 0);
    await Deno.copyFile(`${dir}/backup.db`, `${dir}/jobdist.db`);
    for (const f of ["-wal", "-shm", ".logs"]) {
      await Deno.remove(`${dir}/jobdist.db${f}`, { recursive: true }).catch(() => {});
    }
    server = spawnJobdist(["server", "--listen", "127.0.0.1:0", "--db", `${dir}/jobdist.db`]);
    url = (await server.waitFor(/listening on (http:\/\/\S+)/))[1];
    try {
      const { Client } = await import("../../src/cli/client.ts");
      const client = new Client({ server: url });
      const jobs = (await client.listJobs()).jobs;
      assert.deepEqual(jobs.map((j) => [j.id, j.state]), [[id, "succeeded"]]);
      assert.equal(
        await new Response(await client.logs(id)).text(),
        "before the backup\n",
      );
    } finally {
      await server.kill("SIGTERM");
    }
    const r = await runCli(["backup"]);
    assert.equal(r.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
