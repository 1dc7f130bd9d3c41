import assert from "node:assert/strict";
import { logText, startTestAgent, startTestServer, waitForJob, waitUntil } from "../helpers.ts";

Deno.test("priorities reorder a backlog on a busy agent: highest first, FIFO within a priority", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { name: "one-slot", slots: 1 });
  const dir = await Deno.makeTempDir({ prefix: "jobdist-prio-" });
  try {
    // The agent's only slot is held until the gate file appears; meanwhile a backlog builds.
    const blocker = await server.client.submit({
      shell: `while [ ! -f "${dir}/gate" ]; do sleep 0.02; done`,
    });
    // The backlog builds only once the blocker holds the slot (the agent may still be connecting).
    await waitUntil(async () => (await server.client.job(blocker.id)).state === "running");
    const backlog = [["p0", 0], ["p5a", 5], ["m3", -3], ["p10", 10], ["p5b", 5]] as const;
    const jobs = [];
    for (const [name, priority] of backlog) {
      jobs.push(
        await server.client.submit({ name, priority, shell: `echo ${name} >> "${dir}/order"` }),
      );
    }
    await Deno.writeTextFile(`${dir}/gate`, "");
    assert.equal((await waitForJob(server.client, blocker.id)).state, "succeeded");
    for (const j of jobs) assert.equal((await waitForJob(server.client, j.id)).state, "succeeded");
    const order = (await Deno.readTextFile(`${dir}/order`)).trim().split("\n");
    assert.deepEqual(order, ["p10", "p5a", "p5b", "p0", "m3"]);
  } finally {
    await agent.stop();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs go only to agents with their labels, runtimes and names", async () => {
  const server = await startTestServer();
  const eu = startTestAgent(server.url, {
    name: "eu-1",
    labels: { zone: "eu" },
    runtimes: ["shout=sh {file}"],
  });
  const us = startTestAgent(server.url, { name: "us-1", labels: { zone: "us" } });
  try {
    const agents = async () => {
      const list = (await server.client.agents()).agents;
      return new Map(list.map((a) => [a.id, a.name]));
    };
    const specs = [
      { want: "eu-1", spec: { shell: "echo eu", requires: { labels: { zone: "eu" } } } },
      { want: "us-1", spec: { shell: "echo us", requires: { labels: { zone: "us" } } } },
      { want: "eu-1", spec: { script: { runtime: "shout", source: "echo custom runtime" } } },
      { want: "us-1", spec: { shell: "echo named", requires: { agents: ["us-1"] } } },
    ];
    for (let round = 0; round < 3; round++) {
      const jobs = await Promise.all(specs.map((s) => server.client.submit(s.spec)));
      for (const [i, job] of jobs.entries()) {
        const done = await waitForJob(server.client, job.id);
        assert.equal(done.state, "succeeded", done.reason ?? "");
        assert.equal((await agents()).get(done.agent_id!), specs[i].want, JSON.stringify(specs[i]));
      }
      assert.equal(await logText(server.client, jobs[2].id), "custom runtime\n");
    }
  } finally {
    await Promise.all([eu.stop(), us.stop()]);
    await server.stop();
  }
});
