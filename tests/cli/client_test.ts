import assert from "node:assert/strict";
import { ApiError, Client } from "../../src/cli/client.ts";
import { fillPath } from "../../src/protocol/mod.ts";
import { logText, startTestAgent, startTestServer, waitForJob } from "../helpers.ts";

Deno.test("fillPath() fills :name segments, encoded, and refuses a missing one", () => {
  assert.equal(fillPath("/api/v1/jobs/:id/logs", { id: 42 }), "/api/v1/jobs/42/logs");
  assert.equal(fillPath("/api/v1/agents/:id", { id: "a b/c" }), "/api/v1/agents/a%20b%2Fc");
  assert.equal(fillPath("/api/v1/jobs:batch", {}), "/api/v1/jobs:batch");
  assert.throws(() => fillPath("/api/v1/schedules/:ref", {}), /Missing path parameter ref/);
});

Deno.test("the package exports the client as ./client", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  );
  const mod = await import(new URL(`../../${config.exports["./client"]}`, import.meta.url).href);
  assert.equal(mod.Client, Client);
  assert.equal(config.exports["."], "./main.ts");
});

Deno.test("Client runs a job end to end: submit, call, list, logs", async () => {
  const server = await startTestServer({ tokens: ["t0ken"] });
  const agent = startTestAgent(server.url, { token: "t0ken" });
  const { client } = server;
  try {
    const job = await client.submit({ shell: "echo out; echo err >&2", name: "typed" });
    assert.equal(job.state === "queued" || job.state === "assigned", true, job.state);
    const done = await waitForJob(client, job.id);
    assert.equal(done.state, "succeeded");
    const same = await client.call("getJob", { params: { id: job.id } });
    assert.equal(same.name, "typed");
    assert.equal(same.attempts?.length, 1);
    const page = await client.listJobs({ state: "succeeded", limit: 1 });
    assert.deepEqual(page.jobs.map((j) => j.id), [job.id]);
    assert.equal(await logText(client, job.id, "stdout"), "out\n");
    assert.equal(await logText(client, job.id, "stderr"), "err\n");
    const batch = await client.submitBatch([{ shell: "true" }, { command: ["true"] }]);
    assert.equal(batch.jobs.length, 2);
    const { agents } = await client.agents();
    assert.equal(agents.length, 1);
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("Client turns error answers into ApiError with the server's code", async () => {
  const server = await startTestServer({ tokens: ["t0ken"] });
  try {
    const missing = await server.client.job(999).catch((e) => e);
    assert.ok(missing instanceof ApiError);
    assert.equal(missing.status, 404);
    assert.equal(missing.code, "not_found");
    assert.match(missing.message, /No job 999/);

    const invalid = await server.client.submit({ shell: "true", timeout: "soon" }).catch((e) => e);
    assert.ok(invalid instanceof ApiError);
    assert.equal(invalid.status, 400);
    assert.equal(invalid.code, "invalid");
    assert.match(invalid.message, /^timeout: /);

    const anonymous = new Client({ server: server.url });
    const denied = await anonymous.agents().catch((e) => e);
    assert.ok(denied instanceof ApiError);
    assert.equal(denied.status, 401);
    assert.equal(denied.code, "unauthorized");
  } finally {
    await server.stop();
  }
  // The server is gone now.
  const gone = await server.client.agents().catch((e) => e);
  assert.ok(gone instanceof ApiError);
  assert.equal(gone.status, 0);
  assert.equal(gone.code, "unreachable");
  assert.match(gone.message, /^Cannot reach the server at http:\/\/127\.0\.0\.1:\d+/);
});
