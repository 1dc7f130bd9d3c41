import assert from "node:assert/strict";
import { JobSpec, parseWith } from "../../src/protocol/mod.ts";
import { AgentRegistry } from "../../src/server/agent_registry.ts";
import { createApp } from "../../src/server/app.ts";
import { type Authenticator, createAuthenticator } from "../../src/server/auth.ts";
import { EventBus } from "../../src/server/events.ts";
import { AgentHealth } from "../../src/server/health.ts";
import { Reporter } from "../../src/server/report_delivery.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { openStore } from "../../src/server/store.ts";

const NOW = Date.UTC(2026, 10, 23, 7);

/** The app with a reporter over a store holding one failed job named `<nightly>`. */
function app(auth: Authenticator = createAuthenticator({ tokens: [] })) {
  const store = openStore(":memory:");
  const events = new EventBus();
  const health = new AgentHealth(store);
  const agents = new AgentRegistry({ store, events, hooks: health });
  const scheduler = new Scheduler({ store, events, agents });
  store.write(() => {
    const id = store.insertJob({
      spec: parseWith(JobSpec, { shell: "false", name: "<nightly>" }),
      state: "queued",
      run_at: null,
      created_at: NOW - 3_600_000,
      owner: null,
    });
    store.setJobState(id, "failed", { started_at: NOW - 3_000_000, finished_at: NOW - 60_000 });
  });
  store.flush();
  const reports = new Reporter({ store, health, now: () => NOW });
  return {
    app: createApp({ scheduler, auth, reports }),
    close() {
      scheduler.stop();
      store.close();
    },
  };
}

Deno.test("GET /api/v1/report renders json, text and html; bad input is a 400", async () => {
  const { app: a, close } = app();
  try {
    let res = await a.request("/api/v1/report");
    assert.equal(res.status, 200);
    const report = await res.json();
    assert.equal(report.totals.failed, 1);
    assert.equal(report.to, new Date(NOW).toISOString());
    res = await a.request("/api/v1/report?format=text&period=12h");
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    assert.match(await res.text(), /\(12h\)\n[\s\S]*<nightly>\s+1\s+0\s+1/);
    res = await a.request("/api/v1/report?format=html");
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await res.text(), /&lt;nightly&gt;/);

    res = await a.request("/api/v1/report?format=pdf");
    assert.equal(res.status, 400);
    assert.match((await res.json()).error.message, /^format: expected "json", "text" or "html"/);
    res = await a.request("/api/v1/report?period=yesterday");
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.field, "period");
  } finally {
    close();
  }
});

Deno.test("POST /api/v1/report:send without a transport is a 409 that says what to set", async () => {
  const { app: a, close } = app();
  try {
    const res = await a.request("/api/v1/report:send", { method: "POST" });
    assert.equal(res.status, 409);
    assert.match(
      (await res.json()).error.message,
      /^No report transport is configured: start the server with --report-smtp-host or --report-webhook$/,
    );
  } finally {
    close();
  }
});

Deno.test("only admins may read or send the report", async () => {
  // A server whose one token belongs to a viewer (read-only everywhere else).
  const viewer: Authenticator = {
    required: true,
    authenticate: (token) =>
      Promise.resolve(
        token === "viewer-token-0123456789"
          ? { role: "viewer", name: "v", source: "config" }
          : null,
      ),
    watch() {},
    recheck() {},
  };
  const { app: a, close } = app(viewer);
  const headers = { authorization: "Bearer viewer-token-0123456789" };
  try {
    let res = await a.request("/api/v1/report", { headers });
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error.message, "Only admins may read or send the report");
    res = await a.request("/api/v1/report:send", { method: "POST", headers });
    assert.equal(res.status, 403);
    await res.body?.cancel();
    res = await a.request("/api/v1/report");
    assert.equal(res.status, 401);
    await res.body?.cancel();
  } finally {
    close();
  }
});
