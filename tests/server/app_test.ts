import assert from "node:assert/strict";
import { AgentRegistry, type AgentState } from "../../src/server/agent_registry.ts";
import { createApp } from "../../src/server/app.ts";
import { createAuthenticator } from "../../src/server/auth.ts";
import { EventBus } from "../../src/server/events.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { openStore } from "../../src/server/store.ts";
import {
  type ErrorBody,
  type JobList,
  type JobView,
  parseServerMessage,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../../src/protocol/mod.ts";

const utf8 = new TextEncoder();

interface Harness {
  request(path: string, init?: RequestInit): Promise<Response>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  scheduler: Scheduler;
  agents: AgentRegistry;
  close(): void;
}

/** The app over an in-memory store, wired as `startServer` wires it. */
function harness(
  options: { tokens?: string[]; agentTokens?: string[]; maxBodyBytes?: number } = {},
): Harness {
  const store = openStore(":memory:");
  const events = new EventBus();
  const agents = new AgentRegistry({ store, events });
  const scheduler = new Scheduler({ store, events, agents });
  agents.load();
  scheduler.recover();
  store.flush();
  const auth = createAuthenticator({
    tokens: options.tokens ?? [],
    agentTokens: options.agentTokens ?? [],
  });
  const app = createApp({ scheduler, auth, maxBodyBytes: options.maxBodyBytes });
  const request = async (path: string, init?: RequestInit) => await app.request(path, init);
  return {
    request,
    post: (path, body, headers = {}) =>
      request(path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    scheduler,
    agents,
    close() {
      scheduler.stop();
      store.close();
    },
  };
}

/** Runs `fn` with a fresh harness. */
async function withApp(
  fn: (h: Harness) => Promise<void>,
  options?: Parameters<typeof harness>[0],
): Promise<void> {
  const h = harness(options);
  try {
    await fn(h);
  } finally {
    h.close();
  }
}

/** Connects a fake agent whose frames are collected in `sent`. */
function connectAgent(
  agents: AgentRegistry,
  name: string,
  runtimes: string[],
  slots = 1,
): { agent: AgentState; sent: ServerMessage[] } {
  const sent: ServerMessage[] = [];
  const agent = agents.connect({
    type: "hello",
    protocol: PROTOCOL_VERSION,
    agent_id: `id-${name}`,
    name,
    labels: {},
    runtimes: runtimes.map((r) => ({ name: r, version: "1" })),
    slots,
    version: "test",
    inventory: [],
  }, { send: (text) => sent.push(parseServerMessage(text)), close() {} });
  return { agent, sent };
}

async function errorOf(res: Response, status: number): Promise<ErrorBody["error"]> {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(typeof body.error?.code, "string", JSON.stringify(body));
  assert.equal(typeof body.error?.message, "string", JSON.stringify(body));
  return body.error;
}

Deno.test("POST /api/v1/jobs creates a queued job and answers 201", () =>
  withApp(async (h) => {
    const res = await h.post("/api/v1/jobs", { shell: "echo hi", name: "greet" });
    assert.equal(res.status, 201);
    const job: JobView = await res.json();
    assert.equal(typeof job.id, "number");
    assert.equal(job.state, "queued");
    assert.equal(job.name, "greet");
    assert.equal(job.queue, "default");
    assert.equal(job.spec.shell, "echo hi");
    assert.ok(!Number.isNaN(Date.parse(job.created_at)));
    assert.equal(h.scheduler.store.getJob(job.id)?.state, "queued", "stored");
  }));

Deno.test("POST /api/v1/jobs with a delay creates a scheduled job", () =>
  withApp(async (h) => {
    const res = await h.post("/api/v1/jobs", { shell: "x", delay: "1h" });
    const job: JobView = await res.json();
    assert.equal(res.status, 201);
    assert.equal(job.state, "scheduled");
    assert.ok(job.run_at && Date.parse(job.run_at) > Date.now() + 3_000_000);
    assert.match(job.reason ?? "", /scheduled to run at/);
  }));

Deno.test("POST /api/v1/jobs answers 400 naming the bad field", () =>
  withApp(async (h) => {
    const cases: Array<[unknown, RegExp]> = [
      [{ name: "nothing to run" }, /command/],
      [{ command: ["ls"], shell: "ls" }, /only one of command, shell or script/],
      [{ shell: "ls", script: { runtime: "bash", source: "ls" } }, /only one of/],
      [{ shell: "x", timeout: "ten seconds" }, /^timeout: /],
      [{ shell: "x", delay: "5" }, /^delay: /],
      [{ shell: "x", surprise: true }, /surprise/],
      [{ command: "ls -la" }, /^command: /],
      [{ shell: 42 }, /^shell: /],
      [{ shell: "x", priority: "high" }, /^priority: /],
      [{ shell: "x", env: { A: 1 } }, /^env\.A: /],
      [{ shell: "x", queue: "no spaces allowed" }, /^queue: /],
      [{ shell: "x", queue: "a/b" }, /^queue: /],
      [{ shell: "x", run_at: "2030-01-01T00:00:00Z", delay: "1s" }, /^delay: .*run_at or delay/],
      [{ script: { runtime: "go" } }, /^script\.source: /],
      [[{ shell: "x" }], /object/],
    ];
    for (const [spec, message] of cases) {
      const err = await errorOf(await h.post("/api/v1/jobs", spec), 400);
      assert.equal(err.code, "invalid");
      assert.match(err.message, message, JSON.stringify(spec));
    }
    assert.equal(h.scheduler.store.listJobs({ limit: 10 }).length, 0, "nothing stored");
  }));

Deno.test("POST /api/v1/jobs returns the field of the error separately", () =>
  withApp(async (h) => {
    const err = await errorOf(await h.post("/api/v1/jobs", { shell: "x", timeout: "5" }), 400);
    assert.equal(err.field, "timeout");
  }));

Deno.test("POST /api/v1/jobs answers 400 to a body that is not JSON", () =>
  withApp(async (h) => {
    for (const body of ["{shell: 'x'}", "", "not json"]) {
      const err = await errorOf(await h.post("/api/v1/jobs", body), 400);
      assert.match(err.message, /not valid JSON/);
    }
  }));

Deno.test("POST /api/v1/jobs answers 413 to a body over maxBodyBytes", () =>
  withApp(async (h) => {
    const big = { shell: "echo " + "x".repeat(2_000) };
    const err = await errorOf(await h.post("/api/v1/jobs", big), 413);
    assert.equal(err.code, "too_large");
    assert.equal((await h.post("/api/v1/jobs", { shell: "echo small" })).status, 201);
  }, { maxBodyBytes: 1_024 }));

Deno.test("POST /api/v1/jobs with an Idempotency-Key header returns the same job", () =>
  withApp(async (h) => {
    const headers = { "idempotency-key": "deploy-42" };
    const first: JobView = await (await h.post("/api/v1/jobs", { shell: "a" }, headers)).json();
    const res = await h.post("/api/v1/jobs", { shell: "a" }, headers);
    assert.ok(res.status === 200 || res.status === 201, String(res.status));
    const second: JobView = await res.json();
    assert.equal(second.id, first.id);
    assert.equal(first.spec.idempotency_key, "deploy-42");
    const other: JobView = await (await h.post("/api/v1/jobs", { shell: "a" })).json();
    assert.notEqual(other.id, first.id);
    assert.equal(h.scheduler.store.listJobs({ limit: 10 }).length, 2);
  }));

Deno.test("POST /api/v1/jobs with idempotency_key in the body returns the same job", () =>
  withApp(async (h) => {
    const spec = { shell: "a", idempotency_key: "k" };
    const a: JobView = await (await h.post("/api/v1/jobs", spec)).json();
    const b: JobView = await (await h.post("/api/v1/jobs", spec)).json();
    assert.equal(a.id, b.id);
  }));

Deno.test("POST /api/v1/jobs:batch creates every job in order", () =>
  withApp(async (h) => {
    const specs = Array.from({ length: 25 }, (_, i) => ({ shell: `echo ${i}` }));
    const res = await h.post("/api/v1/jobs:batch", { jobs: specs });
    const body = await res.json();
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.equal(body.jobs.length, 25);
    const ids = body.jobs.map((j: JobView) => j.id);
    assert.equal(new Set(ids).size, 25);
    assert.deepEqual(body.jobs.map((j: JobView) => j.spec.shell), specs.map((s) => s.shell));
    assert.ok(body.jobs.every((j: JobView) => j.state === "queued"));
    assert.equal(h.scheduler.store.listJobs({ limit: 100 }).length, 25);
  }));

Deno.test("POST /api/v1/jobs:batch rejects the whole batch naming the bad job", () =>
  withApp(async (h) => {
    const res = await h.post("/api/v1/jobs:batch", {
      jobs: [{ shell: "ok" }, { shell: "x", timeout: "never" }],
    });
    const err = await errorOf(res, 400);
    assert.match(err.message, /^jobs\.1\.timeout: /);
    assert.equal(h.scheduler.store.listJobs({ limit: 10 }).length, 0);
    for (const body of [{}, { jobs: [] }, { jobs: "x" }, []]) {
      const e = await errorOf(await h.post("/api/v1/jobs:batch", body), 400);
      assert.match(e.message, /^jobs: /);
    }
  }));

Deno.test("GET /api/v1/jobs lists newest first and pages with next_cursor", () =>
  withApp(async (h) => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await (await h.post("/api/v1/jobs", { shell: `echo ${i}` })).json()).id);
    }
    const all: JobList = await (await h.request("/api/v1/jobs")).json();
    assert.deepEqual(all.jobs.map((j) => j.id), [...ids].reverse());
    assert.equal(all.next_cursor, null);

    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : "";
      const res: Response = await h.request(`/api/v1/jobs?limit=2${q}`);
      assert.equal(res.status, 200);
      const page: JobList = await res.json();
      assert.ok(page.jobs.length <= 2);
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== null && pages < 10);
    assert.deepEqual(seen, [...ids].reverse());
    assert.equal(pages, 3);
  }));

Deno.test("GET /api/v1/jobs does not offer a cursor after an exactly full last page", () =>
  withApp(async (h) => {
    for (let i = 0; i < 4; i++) await h.post("/api/v1/jobs", { shell: "x" });
    const first: JobList = await (await h.request("/api/v1/jobs?limit=2")).json();
    assert.notEqual(first.next_cursor, null);
    const second: JobList = await (
      await h.request(`/api/v1/jobs?limit=2&cursor=${first.next_cursor}`)
    ).json();
    assert.equal(second.jobs.length, 2);
    assert.equal(second.next_cursor, null);
  }));

Deno.test("GET /api/v1/jobs filters by state and queue", () =>
  withApp(async (h) => {
    const a: JobView = await (await h.post("/api/v1/jobs", { shell: "a", queue: "q1" })).json();
    const b: JobView = await (await h.post("/api/v1/jobs", { shell: "b", queue: "q2" })).json();
    await h.post(`/api/v1/jobs/${b.id}/cancel`, "");
    const byQueue: JobList = await (await h.request("/api/v1/jobs?queue=q1")).json();
    assert.deepEqual(byQueue.jobs.map((j) => j.id), [a.id]);
    const byState: JobList = await (await h.request("/api/v1/jobs?state=cancelled")).json();
    assert.deepEqual(byState.jobs.map((j) => j.id), [b.id]);
    const both: JobList = await (await h.request("/api/v1/jobs?state=queued,cancelled")).json();
    assert.deepEqual(both.jobs.map((j) => j.id), [b.id, a.id]);
  }));

Deno.test("GET /api/v1/jobs answers 400 to a bad query", () =>
  withApp(async (h) => {
    for (
      const [q, re] of [
        ["state=bogus", /^state: /],
        ["limit=0", /^limit: /],
        ["limit=abc", /^limit: /],
        ["limit=5000", /^limit: /],
        ["cursor=abc", /^cursor: /],
      ] as const
    ) {
      const err = await errorOf(await h.request(`/api/v1/jobs?${q}`), 400);
      assert.match(err.message, re, q);
    }
  }));

Deno.test("GET /api/v1/jobs/:id returns the job with its attempts", () =>
  withApp(async (h) => {
    const created: JobView = await (await h.post("/api/v1/jobs", { command: ["ls"] })).json();
    const res = await h.request(`/api/v1/jobs/${created.id}`);
    assert.equal(res.status, 200);
    const job: JobView = await res.json();
    assert.equal(job.id, created.id);
    assert.equal(job.state, "queued");
    assert.deepEqual(job.spec.command, ["ls"]);
    assert.deepEqual(job.attempts, []);
    for (const k of ["created_at", "started_at", "finished_at", "exit_code", "reason"]) {
      assert.ok(k in job, k);
    }
  }));

Deno.test("GET /api/v1/jobs/:id answers 404 for an unknown job and 400 for a bad id", () =>
  withApp(async (h) => {
    const missing = await errorOf(await h.request("/api/v1/jobs/999"), 404);
    assert.equal(missing.code, "not_found");
    assert.match(missing.message, /999/);
    for (const bad of ["abc", "-1", "1.5", "12345678901234567890"]) {
      const err = await errorOf(await h.request(`/api/v1/jobs/${bad}`), 400);
      assert.equal(err.code, "invalid", bad);
    }
  }));

Deno.test("POST /api/v1/jobs/:id/cancel cancels a queued job once", () =>
  withApp(async (h) => {
    const job: JobView = await (await h.post("/api/v1/jobs", { shell: "sleep 1" })).json();
    const res = await h.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" });
    assert.equal(res.status, 200);
    const cancelled: JobView = await res.json();
    assert.equal(cancelled.state, "cancelled");
    assert.ok(cancelled.finished_at);
    assert.equal(h.scheduler.queuedCount, 0, "out of the dispatch index");

    const again = await h.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" });
    const err = await errorOf(again, 409);
    assert.equal(err.message, `Cannot cancel job ${job.id}: job already cancelled`);

    const gone = await errorOf(await h.request("/api/v1/jobs/777/cancel", { method: "POST" }), 404);
    assert.match(gone.message, /777/);
  }));

Deno.test("GET /api/v1/jobs/:id says why a job waits when no agent is connected", () =>
  withApp(async (h) => {
    const job: JobView = await (await h.post("/api/v1/jobs", {
      script: { runtime: "go", source: "package main\nfunc main() {}\n" },
    })).json();
    assert.equal(job.state, "queued");
    assert.equal(job.reason, "no agent is connected");
    const fetched: JobView = await (await h.request(`/api/v1/jobs/${job.id}`)).json();
    assert.equal(fetched.reason, "no agent is connected");
  }));

Deno.test("GET /api/v1/jobs/:id names the runtime no connected agent has", () =>
  withApp(async (h) => {
    const { sent } = connectAgent(h.agents, "py-1", ["python"]);
    const job: JobView = await (await h.post("/api/v1/jobs", {
      script: { runtime: "go", source: "package main" },
    })).json();
    await Promise.resolve();
    const fetched: JobView = await (await h.request(`/api/v1/jobs/${job.id}`)).json();
    assert.equal(fetched.state, "queued");
    assert.equal(fetched.reason, "no connected agent has runtime go");
    assert.deepEqual(sent.filter((m) => m.type === "assign"), []);
  }));

Deno.test("POST /api/v1/jobs hands a job to a matching agent at once", () =>
  withApp(async (h) => {
    const { agent, sent } = connectAgent(h.agents, "py-1", ["python"]);
    const job: JobView = await (await h.post("/api/v1/jobs", {
      script: { runtime: "python", source: "print(1)" },
    })).json();
    await new Promise((r) => setTimeout(r, 0));
    const assigns = sent.filter((m) => m.type === "assign");
    assert.equal(assigns.length, 1);
    assert.ok(assigns[0].type === "assign" && assigns[0].job_id === job.id);
    const fetched: JobView = await (await h.request(`/api/v1/jobs/${job.id}`)).json();
    assert.equal(fetched.state, "assigned");
    assert.equal(fetched.agent_id, agent.id);
    assert.equal(fetched.attempts?.length, 1);
    assert.equal(fetched.attempts?.[0].agent_name, "py-1");
  }));

Deno.test("GET /api/v1/agents lists connected agents", () =>
  withApp(async (h) => {
    connectAgent(h.agents, "build-1", ["bash"], 3);
    const res = await h.request("/api/v1/agents");
    assert.equal(res.status, 200);
    const { agents } = await res.json();
    assert.equal(agents.length, 1);
    assert.equal(agents[0].name, "build-1");
    assert.equal(agents[0].status, "idle");
    assert.equal(agents[0].slots, 3);
  }));

Deno.test("/api/v1 without tokens lets anonymous callers in", () =>
  withApp(async (h) => {
    assert.equal((await h.request("/api/v1/jobs")).status, 200);
  }));

Deno.test("/api/v1 with tokens requires a valid admin bearer token", () =>
  withApp(async (h) => {
    const as = (token?: string) =>
      h.request("/api/v1/jobs", token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const none = await errorOf(await as(), 401);
    assert.equal(none.code, "unauthorized");
    await errorOf(await as("wrong"), 401);
    await errorOf(await as("s3cret-x"), 401);
    await errorOf(
      await h.request("/api/v1/jobs", { headers: { authorization: "Basic s3cret" } }),
      401,
    );
    const forbidden = await errorOf(await as("agent-only"), 403);
    assert.equal(forbidden.code, "forbidden");
    assert.equal((await as("s3cret")).status, 200);
    assert.equal((await as("second")).status, 200);
    const created = await h.post("/api/v1/jobs", { shell: "x" }, {
      authorization: "Bearer s3cret",
    });
    assert.equal(created.status, 201);
    await errorOf(await h.post("/api/v1/jobs", { shell: "x" }), 401);
    assert.equal(h.scheduler.store.listJobs({ limit: 10 }).length, 1);
  }, { tokens: ["s3cret", "second"], agentTokens: ["agent-only"] }));

Deno.test("GET /healthz answers without a token", () =>
  withApp(async (h) => {
    const res = await h.request("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
  }, { tokens: ["s3cret"] }));

Deno.test("unknown routes answer 404 with an error body", () =>
  withApp(async (h) => {
    const err = await errorOf(await h.request("/api/v2/nothing"), 404);
    assert.equal(err.code, "not_found");
  }));

Deno.test("POST /api/v1/jobs answers 413 to a streamed body over maxBodyBytes", () =>
  withApp(async (h) => {
    const text = JSON.stringify({ shell: "echo " + "x".repeat(4_000) });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        const bytes = new TextEncoder().encode(text);
        for (let i = 0; i < bytes.length; i += 500) c.enqueue(bytes.subarray(i, i + 500));
        c.close();
      },
    });
    const res = await h.request("/api/v1/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    await errorOf(res, 413);
    assert.equal(h.scheduler.store.listJobs({ limit: 10 }).length, 0);
  }, { maxBodyBytes: 1_024 }));

Deno.test("POST /api/v1/jobs:batch gives jobs sharing an idempotency key one id", () =>
  withApp(async (h) => {
    const res = await h.post("/api/v1/jobs:batch", {
      jobs: [{ shell: "a", idempotency_key: "k" }, { shell: "a", idempotency_key: "k" }, {
        shell: "b",
      }],
    });
    const { jobs } = await res.json();
    assert.equal(res.status, 201);
    assert.equal(jobs[0].id, jobs[1].id);
    assert.notEqual(jobs[2].id, jobs[0].id);
    assert.equal(h.scheduler.store.listJobs({ limit: 10 }).length, 2);
  }));

Deno.test("POST /api/v1/jobs/:id/cancel cancels a scheduled job and its timer", () =>
  withApp(async (h) => {
    const job: JobView = await (await h.post("/api/v1/jobs", { shell: "x", delay: "1h" })).json();
    assert.ok(h.scheduler.timers.has(`run:${job.id}`));
    const res = await h.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).state, "cancelled");
    assert.equal(h.scheduler.timers.has(`run:${job.id}`), false);
  }));

Deno.test("GET /api/v1/jobs/:id/logs returns the stored output, by stream and offset", () =>
  withApp(async (h) => {
    const job: JobView = await (await h.post("/api/v1/jobs", { shell: "x" })).json();
    const store = h.scheduler.store;
    store.write(() => {
      store.appendLog(job.id, {
        offset: 0,
        attempt_id: "a",
        seq: 0,
        stream: "stdout",
      }, utf8.encode("out1\n"));
      store.appendLog(job.id, {
        offset: 5,
        attempt_id: "a",
        seq: 1,
        stream: "stderr",
      }, utf8.encode("err\n"));
      store.appendLog(job.id, {
        offset: 9,
        attempt_id: "a",
        seq: 2,
        stream: "stdout",
      }, utf8.encode("out2\n"));
    });
    await store.durable();
    const text = async (q: string) => {
      const res = await h.request(`/api/v1/jobs/${job.id}/logs${q}`);
      assert.equal(res.status, 200, q);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
      return await res.text();
    };
    assert.equal(await text(""), "out1\nerr\nout2\n");
    assert.equal(await text("?stream=stdout"), "out1\nout2\n");
    assert.equal(await text("?stream=stderr"), "err\n");
    assert.equal(await text("?offset=7"), "r\nout2\n");
    assert.equal(await text("?offset=14"), "");
    assert.equal(await text("?offset=100"), "");
    await errorOf(await h.request(`/api/v1/jobs/${job.id}/logs?stream=both`), 400);
    await errorOf(await h.request(`/api/v1/jobs/${job.id}/logs?offset=-1`), 400);
    await errorOf(await h.request(`/api/v1/jobs/999/logs`), 404);
  }));

Deno.test("GET /api/v1/jobs/:id/logs?follow=1 streams until the job ends", () =>
  withApp(async (h) => {
    const job: JobView = await (await h.post("/api/v1/jobs", { shell: "x" })).json();
    const store = h.scheduler.store;
    store.write(() =>
      store.appendLog(job.id, {
        offset: 0,
        attempt_id: "a",
        seq: 0,
        stream: "stdout",
      }, utf8.encode("so far\n"))
    );
    await store.durable();
    const listeners = h.scheduler.events.listenerCount;
    const res = await h.request(`/api/v1/jobs/${job.id}/logs?follow=1`);
    assert.equal(res.status, 200);
    assert.equal(h.scheduler.events.listenerCount, listeners + 1);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value, "so far\n");
    await h.request(`/api/v1/jobs/${job.id}/cancel`, { method: "POST" });
    assert.equal((await reader.read()).done, true);
    assert.equal(h.scheduler.events.listenerCount, listeners, "the follower unsubscribed");
  }));
