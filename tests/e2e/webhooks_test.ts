import assert from "node:assert/strict";
import { main } from "../../src/cli/mod.ts";
import type { JobView } from "../../src/protocol/mod.ts";
import { Client } from "../../src/cli/client.ts";
import {
  spawnJobdist,
  startTestAgent,
  startTestServer,
  waitForJob,
  waitUntil,
} from "../helpers.ts";
import { hang, signatureValid, startReceiver } from "../webhook_receiver.ts";

const SECRET = "e2e-webhook-secret-0123456789";

Deno.test("a job run by a real agent calls its webhook, signed, when it starts and when it ends", async () => {
  const receiver = startReceiver();
  const server = await startTestServer({ webhooks: { secret: SECRET } });
  const agent = startTestAgent(server.url);
  try {
    const submitted = await server.client.submit({
      // Long enough that its start and its end are not reported in the same instant.
      shell: "echo hello; sleep 0.5; exit 3",
      webhook: { url: `${receiver.url}/jobs`, events: ["started", "finished"] },
    });
    const job = await waitForJob(server.client, submitted.id);
    assert.equal(job.state, "failed");
    // Two calls on their own connections: they may arrive in either order.
    const calls = (await receiver.waitFor(2)).toSorted((a, b) =>
      a.headers.get("x-jobdist-event")!.localeCompare(b.headers.get("x-jobdist-event")!)
    ).reverse();
    assert.deepEqual(calls.map((c) => c.headers.get("x-jobdist-event")), ["started", "finished"]);
    for (const call of calls) {
      assert.equal(call.path, "/jobs");
      assert.equal(call.headers.get("content-type"), "application/json");
      assert.equal(await signatureValid(SECRET, call), true);
      assert.equal(await signatureValid("some-other-secret-0123", call), false);
      const stamp = Number(call.headers.get("x-jobdist-timestamp"));
      assert.ok(Math.abs(stamp - Date.now() / 1000) < 600, `timestamp ${stamp}`);
    }
    const [started, finished] = calls.map((c) => JSON.parse(c.body) as JobView);
    assert.equal(started.id, job.id);
    assert.equal(started.state, "running");
    // The finished call carries the job as GET /api/v1/jobs/:id shows it.
    assert.equal(finished.state, "failed");
    assert.equal(finished.exit_code, 3);
    assert.equal(finished.reason, "exit code 3");
    assert.equal(finished.attempts?.length, 1);
    assert.equal(finished.attempts?.[0].state, "failed");
    assert.deepEqual(finished.spec.webhook?.events, ["started", "finished"]);
    const view = await waitUntil(
      async () => {
        const j = await server.client.job(job.id);
        return j.webhooks?.every((d) => d.state === "succeeded") ? j : null;
      },
      10_000,
      "both deliveries recorded",
    );
    assert.deepEqual(view.webhooks!.map((d) => [d.event, d.attempts, d.status_code]), [
      ["started", 1, 200],
      ["finished", 1, 200],
    ]);
    assert.deepEqual(
      view.webhooks!.map((d) => d.id),
      calls.map((c) => c.headers.get("x-jobdist-delivery")),
    );
    // The dashboard's job page lists them.
    const html = await (await fetch(`${server.url}/jobs/${job.id}`)).text();
    assert.match(html, /aria-label="Webhooks"/);
    for (const d of view.webhooks!) assert.ok(html.includes(`data-delivery="${d.id}"`));
    // A job without a webhook shows no deliveries.
    const plain = await waitForJob(
      server.client,
      (await server.client.submit({ shell: "true" })).id,
    );
    assert.equal(plain.webhooks, undefined);
  } finally {
    await agent.stop();
    await server.stop();
    await receiver.close();
  }
});

Deno.test("a batch calls its webhook for the batch, not for each of its tasks", async () => {
  const receiver = startReceiver();
  const server = await startTestServer({ webhooks: { secret: SECRET } });
  const agent = startTestAgent(server.url);
  try {
    const submitted = await server.client.submit({
      shell: "echo $JOBDIST_INDEX",
      completions: 3,
      parallelism: 2,
      webhook: { url: receiver.url, events: ["started", "finished"] },
    });
    const batch = await waitForJob(server.client, submitted.id);
    assert.equal(batch.state, "succeeded");
    await waitUntil(
      async () => {
        const d = (await server.client.job(batch.id)).webhooks!;
        return d.length === 2 && d.every((x) => x.state === "succeeded");
      },
      10_000,
      "the batch's two deliveries",
    );
    // Deliveries are recorded with the state change, so the tasks' would exist by now.
    const tasks = (await server.client.listJobs()).jobs.filter((j) => j.parent_id === batch.id);
    assert.equal(tasks.length, 3);
    for (const t of tasks) {
      const view = await server.client.job(t.id);
      assert.equal(view.spec.webhook, undefined, "a task does not carry the batch's webhook");
      assert.equal(view.webhooks, undefined, "and has no deliveries");
    }
    const bodies = receiver.received.map((c) => JSON.parse(c.body) as JobView);
    assert.deepEqual(bodies.map((b) => [b.id, b.state]).toSorted(), [
      [batch.id, "running"],
      [batch.id, "succeeded"],
    ]);
  } finally {
    await agent.stop();
    await server.stop();
    await receiver.close();
  }
});

Deno.test("jobdist submit --webhook sets the job's webhook; a bad URL is a clear error", async () => {
  const receiver = startReceiver();
  const server = await startTestServer({ webhooks: { secret: SECRET } });
  const agent = startTestAgent(server.url);
  const errors: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = () => {};
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  const submit = (...args: string[]) =>
    main(["submit", "--server", server.url, ...args], new AbortController().signal);
  try {
    assert.equal(await submit("--webhook", receiver.url, "--shell", "true"), 0);
    const [call] = await receiver.waitFor(1);
    assert.equal(await signatureValid(SECRET, call), true);
    assert.equal((JSON.parse(call.body) as JobView).state, "succeeded");
    assert.notEqual(await submit("--webhook", "ftp://example.com/", "--shell", "true"), 0);
    assert.match(errors.join("\n"), /webhook\.url: expected an http:\/\/ or https:\/\/ URL/);
    assert.equal((await server.client.listJobs()).jobs.length, 1);
  } finally {
    console.log = log;
    console.error = error;
    await agent.stop();
    await server.stop();
    await receiver.close();
  }
});

Deno.test("a webhook that hangs times out without delaying other jobs or their webhooks", async () => {
  const receiver = startReceiver((call, signal) =>
    call.path.startsWith("/hang") ? hang(call, signal) : new Response("ok")
  );
  const server = await startTestServer({ webhooks: { secret: SECRET } });
  const agent = startTestAgent(server.url, { slots: 2 });
  const deliveryOf = async (id: number) => (await server.client.job(id)).webhooks![0];
  try {
    // A call that hangs far longer than this test: everything below happens while it does.
    const stuck = await server.client.submit({
      shell: "true",
      webhook: { url: `${receiver.url}/hang/long`, timeout: "5m" },
    });
    await receiver.waitFor(1);
    const others = await Promise.all(
      [1, 2, 3].map((i) =>
        server.client.submit({ shell: `echo ${i}`, webhook: { url: `${receiver.url}/ok` } })
      ),
    );
    for (const o of others) {
      assert.equal((await waitForJob(server.client, o.id)).state, "succeeded");
    }
    await waitUntil(
      async () =>
        (await Promise.all(others.map((o) => deliveryOf(o.id)))).every((d) =>
          d.state === "succeeded"
        ),
      10_000,
      "the other jobs' webhooks",
    );
    assert.equal(receiver.received.filter((c) => c.path === "/ok").length, 3);
    // ...all while the hanging call was still unanswered.
    const still = await deliveryOf(stuck.id);
    assert.equal(still.state, "pending");
    assert.equal(still.attempts, 0);
    assert.equal(still.error, null);
    // A call that hangs past its own timeout fails; with max_attempts 1 it is not made again.
    const short = await server.client.submit({
      shell: "true",
      webhook: { url: `${receiver.url}/hang/short`, timeout: "1s", max_attempts: 1 },
    });
    const timedOut = await waitUntil(
      async () => {
        const d = await deliveryOf(short.id);
        return d?.state === "failed" ? d : null;
      },
      20_000,
      "the short hanging delivery to time out",
    );
    assert.equal(timedOut.attempts, 1);
    assert.equal(timedOut.status_code, null);
    assert.equal(timedOut.error, "no answer within 1.0s");
    assert.equal(receiver.received.filter((c) => c.path === "/hang/short").length, 1);
    assert.equal((await deliveryOf(stuck.id)).state, "pending");
  } finally {
    await agent.stop();
    await server.stop();
    await receiver.close();
  }
});

Deno.test("jobdist server signs with the key of --webhook-secret-file and refuses a short one", async () => {
  const dir = await Deno.makeTempDir();
  const receiver = startReceiver();
  const key = "file-webhook-secret-0123456789abcdef";
  await Deno.writeTextFile(`${dir}/key`, `${key}\n`);
  await Deno.writeTextFile(`${dir}/short`, "too-short\n");
  const server = spawnJobdist([
    "server",
    "--listen",
    "127.0.0.1:0",
    "--db",
    `${dir}/jobdist.db`,
    "--webhook-secret-file",
    `${dir}/key`,
  ]);
  try {
    const url = (await server.waitFor(/listening on (http:\/\/[^\s"]+)/))[1];
    const client = new Client({ server: url });
    const job = await client.submit({ shell: "true", webhook: { url: receiver.url } });
    await client.cancel(job.id);
    const [call] = await receiver.waitFor(1);
    assert.equal(await signatureValid(key, call), true);
    assert.equal(await signatureValid(`${key}\n`, call), false);
    const short = spawnJobdist([
      "server",
      "--listen",
      "127.0.0.1:0",
      "--db",
      `${dir}/other.db`,
      "--webhook-secret-file",
      `${dir}/short`,
    ]);
    await short.waitFor(/webhook secret must be at least 16 characters/);
    assert.equal((await short.process.status).code, 2);
  } finally {
    await server.kill("SIGTERM");
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});
