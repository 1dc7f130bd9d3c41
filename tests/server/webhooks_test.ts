import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { ErrorBody, JobSpecInput, JobView } from "../../src/protocol/mod.ts";
import { startTestServer, type TestServer, waitUntil } from "../helpers.ts";
import { hang, type Received, signatureValid, startReceiver } from "../webhook_receiver.ts";

const SECRET = "test-webhook-secret-0123456789";

/** Submits `spec` and cancels it at once: a real `finished` event without an agent. */
async function cancelled(server: TestServer, spec: JobSpecInput): Promise<JobView> {
  const job = await server.client.submit(spec);
  return await server.client.cancel(job.id);
}

/** The job's deliveries once `done` holds for them. */
function deliveriesOf(server: TestServer, id: number, done: (j: JobView) => boolean) {
  return waitUntil(
    async () => {
      const job = await server.client.job(id);
      return done(job) ? job.webhooks! : null;
    },
    15_000,
    `the deliveries of job ${id}`,
  );
}

async function post(server: TestServer, path: string, body: unknown) {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("webhooks: a bad webhook is refused with a 400 that names the field", async () => {
  const server = await startTestServer();
  try {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ url: "ftp://example.com/x" }, "webhook.url", /http:\/\/ or https:\/\//],
      [{ url: "file:///etc/passwd" }, "webhook.url", /http:\/\/ or https:\/\//],
      [{ url: "javascript:alert(1)" }, "webhook.url", /http:\/\/ or https:\/\//],
      [{ url: "not a url" }, "webhook.url", /http:\/\/ or https:\/\//],
      [{}, "webhook.url", /./],
      [{ url: "http://x", events: ["done"] }, "webhook.events.0", /started|finished/],
      [{ url: "http://x", events: ["finished", "finished"] }, "webhook.events", /once/],
      [{ url: "http://x", timeout: "10m" }, "webhook.timeout", /at most 5m/],
      [{ url: "http://x", max_attempts: 0 }, "webhook.max_attempts", /./],
      [{ url: "http://x", secret: "s" }, "webhook", /secret/],
    ];
    for (const [webhook, field, message] of cases) {
      const { status, body } = await post(server, "/jobs", { shell: "true", webhook });
      assert.equal(status, 400, JSON.stringify(webhook));
      const { error } = body as ErrorBody;
      assert.equal(error.field, field, JSON.stringify(webhook));
      assert.match(error.message, message);
    }
    const schedule = await post(server, "/schedules", {
      name: "bad",
      cron: "@daily",
      job: { shell: "true", webhook: { url: "gopher://x" } },
    });
    assert.equal(schedule.status, 400);
    assert.equal((schedule.body as ErrorBody).error.field, "job.webhook.url");
    assert.equal((await server.client.listJobs()).jobs.length, 0);
  } finally {
    await server.stop();
  }
});

Deno.test("webhooks: failed calls are retried with growing backoff until one succeeds", async () => {
  const receiver = startReceiver();
  const server = await startTestServer({ webhooks: { secret: SECRET, initialBackoffMs: 50 } });
  try {
    const seen: JobView[] = [];
    let jobId = 0;
    receiver.answer = async () => {
      const calls = receiver.received.length;
      if (calls > 1) seen.push(await server.client.job(jobId));
      return new Response(calls < 3 ? "no" : "ok", { status: calls < 3 ? 500 : 200 });
    };
    const job = await cancelled(server, {
      shell: "true",
      webhook: { url: `${receiver.url}/hook`, max_attempts: 4 },
    });
    jobId = job.id;
    const calls = await receiver.waitFor(3);
    const [delivery] = await deliveriesOf(server, job.id, (j) => j.webhooks?.[0]?.attempts === 3);
    assert.equal(delivery.state, "succeeded");
    assert.equal(delivery.status_code, 200);
    assert.equal(delivery.error, null);
    assert.equal(delivery.next_attempt_at, null);
    assert.equal(delivery.event, "finished");
    assert.equal(delivery.max_attempts, 4);
    // Every try is the same delivery, signed anew.
    for (const call of calls) {
      assert.equal(call.path, "/hook");
      assert.equal(call.headers.get("x-jobdist-delivery"), delivery.id);
      assert.equal(call.headers.get("x-jobdist-event"), "finished");
      assert.equal(await signatureValid(SECRET, call), true);
      assert.equal(JSON.parse(call.body).state, "cancelled");
    }
    // While waiting for its next try, the failure and the backoff (50 ms doubling, ±20 %)
    // show on the job.
    assert.equal(seen.length, 2);
    for (const [i, view] of seen.entries()) {
      const d = view.webhooks![0];
      assert.equal(d.state, "pending");
      assert.equal(d.attempts, i + 1);
      assert.equal(d.status_code, 500);
      assert.equal(d.error, "HTTP 500");
      const wait = Date.parse(d.next_attempt_at!) - Date.parse(d.last_attempt_at!);
      assert.ok(wait >= 40 * 2 ** i && wait <= 60 * 2 ** i, `backoff ${wait} ms after try ${i}`);
    }
  } finally {
    await server.stop();
    await receiver.close();
  }
});

Deno.test("webhooks: a delivery gives up after max_attempts; redirects are failures", async () => {
  const receiver = startReceiver(() =>
    new Response(null, { status: 302, headers: { location: "http://elsewhere.invalid/" } })
  );
  const server = await startTestServer({ webhooks: { secret: SECRET, initialBackoffMs: 20 } });
  try {
    const job = await cancelled(server, {
      shell: "true",
      webhook: { url: receiver.url, max_attempts: 2 },
    });
    const [d] = await deliveriesOf(server, job.id, (j) => j.webhooks?.[0]?.state === "failed");
    assert.equal(d.attempts, 2);
    assert.equal(d.status_code, 302);
    assert.match(d.error!, /redirects are not followed \(to http:\/\/elsewhere\.invalid\/\)/);
    assert.equal(d.next_attempt_at, null);
    assert.equal(receiver.received.length, 2);
  } finally {
    await server.stop();
    await receiver.close();
  }
});

Deno.test("webhooks: a schedule's job template carries the webhook to every fire", async () => {
  const receiver = startReceiver();
  const server = await startTestServer({ webhooks: { secret: SECRET } });
  try {
    await server.client.createSchedule({
      name: "hooked",
      cron: "* * * * * *",
      overlap: "forbid",
      job: { shell: "true", webhook: { url: receiver.url } },
    });
    // No agent: the fired job waits in the queue until cancelled.
    const fire = await waitUntil(
      async () => {
        const s = await server.client.schedule("hooked");
        return s.fires!.find((f) => f.job_id !== null);
      },
      10_000,
      "a fire",
    );
    await server.client.pauseSchedule("hooked");
    await server.client.cancel(fire.job_id!);
    const [call] = await receiver.waitFor(1);
    const body = JSON.parse(call.body) as JobView;
    assert.equal(body.id, fire.job_id);
    assert.equal(body.name, "hooked");
    assert.equal(body.state, "cancelled");
    assert.equal(body.spec.env?.JOBDIST_SCHEDULE, "hooked");
    assert.equal(await signatureValid(SECRET, call), true);
  } finally {
    await server.stop();
    await receiver.close();
  }
});

Deno.test("webhooks: a delivery pending at shutdown is sent after a restart, signed with the stored secret", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/jobdist.db`;
  const receiver = startReceiver(hang);
  let server = await startTestServer({ db });
  try {
    const job = await cancelled(server, { shell: "true", webhook: { url: receiver.url } });
    // The first try hangs; the server stops while it is in flight.
    const [first] = await receiver.waitFor(1);
    await server.stop();
    receiver.answer = () => new Response("ok");
    server = await startTestServer({ db });
    const calls: Received[] = await receiver.waitFor(2);
    const [d] = await deliveriesOf(server, job.id, (j) => j.webhooks?.[0]?.state === "succeeded");
    assert.equal(
      calls[1].headers.get("x-jobdist-delivery"),
      first.headers.get("x-jobdist-delivery"),
    );
    assert.equal(calls[1].body, first.body);
    // The abandoned try does not count against max_attempts.
    assert.equal(d.attempts, 1);
    // No secret was configured: the one generated on the first start signed both tries.
    const read = new DatabaseSync(db, { readOnly: true });
    const rows = read.prepare("SELECT secret FROM webhook_secret").all() as Array<
      { secret: string }
    >;
    read.close();
    assert.equal(rows.length, 1);
    assert.match(rows[0].secret, /^whsec_[0-9a-f]{64}$/);
    assert.equal(await signatureValid(rows[0].secret, first), true);
    assert.equal(await signatureValid(rows[0].secret, calls[1]), true);
  } finally {
    await server.stop();
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("webhooks: retention deletes a pruned job's deliveries", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/jobdist.db`;
  const receiver = startReceiver();
  const server = await startTestServer({ db, retentionMs: 1 });
  try {
    const job = await cancelled(server, { shell: "true", webhook: { url: receiver.url } });
    await deliveriesOf(server, job.id, (j) => j.webhooks?.[0]?.state === "succeeded");
    const count = () => {
      const read = new DatabaseSync(db, { readOnly: true });
      const { n } = read.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries").get() as {
        n: number;
      };
      read.close();
      return n;
    };
    assert.equal(count(), 1);
    await new Promise((r) => setTimeout(r, 5));
    const res = await fetch(`${server.url}/api/v1/admin/housekeeping`, { method: "POST" });
    assert.equal((await res.json()).pruned_jobs, 1);
    assert.equal(count(), 0);
  } finally {
    await server.stop();
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("webhooks: at most `concurrency` calls are in flight at once", async () => {
  let open = 0;
  const openAtArrival: number[] = [];
  const unanswered: Array<() => void> = [];
  const receiver = startReceiver(() => {
    openAtArrival.push(++open);
    return new Promise((resolve) =>
      unanswered.push(() => {
        open--;
        resolve(new Response("ok"));
      })
    );
  });
  const server = await startTestServer({ webhooks: { secret: SECRET, concurrency: 2 } });
  try {
    const jobs: JobView[] = [];
    for (let i = 0; i < 5; i++) {
      jobs.push(await cancelled(server, { shell: "true", webhook: { url: receiver.url } }));
    }
    await receiver.waitFor(2);
    // Room for a sender that ignored its bound to make a third call before any is answered.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.received.length, 2);
    while (receiver.received.length < 5 || unanswered.length > 0) {
      unanswered.shift()?.();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(openAtArrival.every((n) => n <= 2), `open calls at each arrival: ${openAtArrival}`);
    for (const job of jobs) {
      await deliveriesOf(server, job.id, (j) => j.webhooks?.[0]?.state === "succeeded");
    }
  } finally {
    await server.stop();
    for (const answer of unanswered.splice(0)) answer();
    await receiver.close();
  }
});
