/**
 * The role x endpoint matrix: every API endpoint called as anonymous, viewer, user (owner and
 * not owner), admin and agent token, with the exact status each must get; and the lists, logs
 * and schedules a user reads never hold someone else's objects.
 * @module
 */

import assert from "node:assert/strict";
import { JobSpec, parseScheduleSpec, parseWith } from "../../src/protocol/mod.ts";
import { Access } from "../../src/server/access.ts";
import { AgentRegistry } from "../../src/server/agent_registry.ts";
import { createApp } from "../../src/server/app.ts";
import { AuditLog } from "../../src/server/audit.ts";
import { createAuthenticator } from "../../src/server/auth.ts";
import { EventBus } from "../../src/server/events.ts";
import { AgentHealth } from "../../src/server/health.ts";
import { Ops } from "../../src/server/ops.ts";
import { PrincipalStore } from "../../src/server/principals.ts";
import { Reporter } from "../../src/server/report_delivery.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { ScheduleManager } from "../../src/server/schedules.ts";
import { ScheduleStore } from "../../src/server/schedule_store.ts";
import { Secrets } from "../../src/server/secrets.ts";
import { openStore } from "../../src/server/store.ts";

type Who = "anonymous" | "viewer" | "owner" | "other" | "admin" | "agent";
const WHO: Who[] = ["anonymous", "viewer", "owner", "other", "admin", "agent"];

/** A server's app with users alice (owner of everything below), bob, vera (viewer), root. */
function rig() {
  const store = openStore(":memory:");
  const events = new EventBus();
  const health = new AgentHealth(store);
  const agents = new AgentRegistry({ store, events, hooks: health });
  const scheduler = new Scheduler({ store, events, agents });
  agents.load();
  scheduler.recover();
  const ops = new Ops({ store, scheduler, health, dbPath: ":memory:" });
  const schedules = new ScheduleManager({ scheduler, store: new ScheduleStore(store.db, store) });
  const principals = new PrincipalStore({ db: store.db, jobs: store });
  const audit = new AuditLog({ db: store.db, jobs: store });
  const auth = createAuthenticator({ tokens: [], agentTokens: ["shared-agent-token"], principals });
  const access = new Access({ auth, audit });
  const reports = new Reporter({ store, health });
  const secrets = new Secrets({ db: store.db, store, key: null });
  const app = createApp({ scheduler, auth, access, schedules, ops, reports, secrets });
  const tokenOf = (name: string, role: "admin" | "user" | "viewer") => {
    const user = principals.createUser(name, role, null);
    return principals.issue({ kind: "user", userId: user.id, createdBy: null }).token;
  };
  const tokens: Record<Who, string | null> = {
    anonymous: null,
    viewer: tokenOf("vera", "viewer"),
    owner: tokenOf("alice", "user"),
    other: tokenOf("bob", "user"),
    admin: tokenOf("root", "admin"),
    agent: principals.issue({ kind: "agent", agentId: "build-1", createdBy: null }).token,
  };
  store.flush();
  const call = async (who: Who, method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (tokens[who]) headers.authorization = `Bearer ${tokens[who]}`;
    const res = await app.request(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text };
  };
  return {
    app,
    scheduler,
    principals,
    schedules,
    call,
    tokens,
    close() {
      scheduler.stop();
      ops.stop();
      store.close();
    },
  };
}

type Rig = ReturnType<typeof rig>;

/** One endpoint: how to call it (with fresh objects of alice's) and the status per caller. */
interface Row {
  name: string;
  call(r: Rig, who: Who): Promise<{ status: number; text: string }>;
  expect: Record<Exclude<Who, "anonymous">, number>;
}

let n = 0;
const spec = (shell: string) => parseWith(JobSpec, { shell });
const aliceJob = async (r: Rig) => (await r.scheduler.submit(spec("true"), "alice")).id;
const aliceSchedule = async (r: Rig) =>
  (await r.schedules.create(
    parseScheduleSpec({ name: `s${++n}`, cron: "0 3 * * *", job: { shell: "true" } }),
    "alice",
  )).name;
const scheduleBody = () => ({ name: `new${++n}`, cron: "0 3 * * *", job: { shell: "true" } });

const READ_ALL = { viewer: 200, owner: 200, other: 200, admin: 200, agent: 403 };
const READ_OWN = { viewer: 200, owner: 200, other: 404, admin: 200, agent: 403 };
const CHANGE_OWN = { viewer: 403, owner: 200, other: 404, admin: 200, agent: 403 };
const CREATE = { viewer: 403, owner: 201, other: 201, admin: 201, agent: 403 };
const ADMIN_ONLY = (ok: number) => ({ viewer: 403, owner: 403, other: 403, admin: ok, agent: 403 });

const ROWS: Row[] = [
  {
    name: "POST /jobs",
    call: (r, w) => r.call(w, "POST", "/api/v1/jobs", { shell: "true" }),
    expect: CREATE,
  },
  {
    name: "POST /jobs:batch",
    call: (r, w) => r.call(w, "POST", "/api/v1/jobs:batch", { jobs: [{ shell: "true" }] }),
    expect: CREATE,
  },
  { name: "GET /jobs", call: (r, w) => r.call(w, "GET", "/api/v1/jobs"), expect: READ_ALL },
  {
    name: "GET /jobs/:id",
    call: async (r, w) => r.call(w, "GET", `/api/v1/jobs/${await aliceJob(r)}`),
    expect: READ_OWN,
  },
  {
    name: "GET /jobs/:id/logs",
    call: async (r, w) => r.call(w, "GET", `/api/v1/jobs/${await aliceJob(r)}/logs`),
    expect: READ_OWN,
  },
  {
    name: "POST /jobs/:id/cancel",
    call: async (r, w) => r.call(w, "POST", `/api/v1/jobs/${await aliceJob(r)}/cancel`),
    expect: CHANGE_OWN,
  },
  { name: "GET /agents", call: (r, w) => r.call(w, "GET", "/api/v1/agents"), expect: READ_ALL },
  {
    name: "GET /agents/:id/uptime",
    call: (r, w) => r.call(w, "GET", "/api/v1/agents/nobody/uptime"),
    expect: { viewer: 404, owner: 404, other: 404, admin: 404, agent: 403 },
  },
  {
    name: "POST /agents/:id/drain",
    call: (r, w) => r.call(w, "POST", "/api/v1/agents/nobody/drain", { enabled: true }),
    expect: ADMIN_ONLY(404),
  },
  {
    name: "PATCH /agents/:id",
    call: (r, w) => r.call(w, "PATCH", "/api/v1/agents/nobody", { name: "x" }),
    expect: ADMIN_ONLY(404),
  },
  {
    name: "POST /agents/:id/disable",
    call: (r, w) => r.call(w, "POST", "/api/v1/agents/nobody/disable"),
    expect: ADMIN_ONLY(404),
  },
  {
    name: "DELETE /agents/:id",
    call: (r, w) => r.call(w, "DELETE", "/api/v1/agents/nobody"),
    expect: ADMIN_ONLY(404),
  },
  {
    name: "POST /agents/:id/revoke",
    call: (r, w) => {
      const agentId = `agent-${++n}`;
      r.principals.issue({ kind: "agent", agentId, createdBy: null });
      return r.call(w, "POST", `/api/v1/agents/${agentId}/revoke`);
    },
    expect: ADMIN_ONLY(200),
  },
  {
    name: "POST /schedules",
    call: (r, w) => r.call(w, "POST", "/api/v1/schedules", scheduleBody()),
    expect: CREATE,
  },
  {
    name: "GET /schedules",
    call: (r, w) => r.call(w, "GET", "/api/v1/schedules"),
    expect: READ_ALL,
  },
  {
    name: "GET /schedules/:ref",
    call: async (r, w) => r.call(w, "GET", `/api/v1/schedules/${await aliceSchedule(r)}`),
    expect: READ_OWN,
  },
  {
    name: "GET /schedules/:ref/next",
    call: async (r, w) => r.call(w, "GET", `/api/v1/schedules/${await aliceSchedule(r)}/next`),
    expect: READ_OWN,
  },
  {
    name: "PUT /schedules/:ref",
    call: async (r, w) => {
      const name = await aliceSchedule(r);
      return r.call(w, "PUT", `/api/v1/schedules/${name}`, {
        name,
        cron: "0 4 * * *",
        job: { shell: "true" },
      });
    },
    expect: CHANGE_OWN,
  },
  {
    name: "POST /schedules/:ref/pause",
    call: async (r, w) => r.call(w, "POST", `/api/v1/schedules/${await aliceSchedule(r)}/pause`),
    expect: CHANGE_OWN,
  },
  {
    name: "DELETE /schedules/:ref",
    call: async (r, w) => r.call(w, "DELETE", `/api/v1/schedules/${await aliceSchedule(r)}`),
    expect: CHANGE_OWN,
  },
  {
    name: "GET /users",
    call: (r, w) => r.call(w, "GET", "/api/v1/users"),
    expect: ADMIN_ONLY(200),
  },
  {
    name: "POST /users",
    call: (r, w) => r.call(w, "POST", "/api/v1/users", { name: `u${++n}`, role: "viewer" }),
    expect: ADMIN_ONLY(201),
  },
  {
    name: "POST /users/:name/disable",
    call: (r, w) => {
      const name = `d${++n}`;
      r.principals.createUser(name, "user", null);
      return r.call(w, "POST", `/api/v1/users/${name}/disable`);
    },
    expect: ADMIN_ONLY(200),
  },
  {
    name: "GET /tokens",
    call: (r, w) => r.call(w, "GET", "/api/v1/tokens"),
    expect: ADMIN_ONLY(200),
  },
  {
    name: "POST /tokens",
    call: (r, w) => r.call(w, "POST", "/api/v1/tokens", { kind: "join" }),
    expect: ADMIN_ONLY(201),
  },
  {
    name: "DELETE /tokens/:id",
    call: (r, w) => {
      const { row } = r.principals.issue({ kind: "join", createdBy: null });
      return r.call(w, "DELETE", `/api/v1/tokens/${row.id}`);
    },
    expect: ADMIN_ONLY(200),
  },
  {
    name: "GET /audit",
    call: (r, w) => r.call(w, "GET", "/api/v1/audit"),
    expect: ADMIN_ONLY(200),
  },
  {
    name: "POST /admin/housekeeping",
    call: (r, w) => r.call(w, "POST", "/api/v1/admin/housekeeping"),
    expect: ADMIN_ONLY(200),
  },
  { name: "GET /queues", call: (r, w) => r.call(w, "GET", "/api/v1/queues"), expect: READ_ALL },
  {
    name: "PUT /queues/:name",
    call: (r, w) => r.call(w, "PUT", "/api/v1/queues/default", { concurrency: 2 }),
    expect: ADMIN_ONLY(200),
  },
  {
    name: "GET /report",
    call: (r, w) => r.call(w, "GET", "/api/v1/report"),
    expect: ADMIN_ONLY(200),
  },
  {
    name: "POST /report:send",
    call: (r, w) => r.call(w, "POST", "/api/v1/report:send"),
    expect: ADMIN_ONLY(409),
  },
  { name: "GET /secrets", call: (r, w) => r.call(w, "GET", "/api/v1/secrets"), expect: READ_ALL },
  {
    name: "POST /secrets",
    call: (r, w) => r.call(w, "POST", "/api/v1/secrets", { name: "db", value: "s3cret-value" }),
    expect: ADMIN_ONLY(409),
  },
  {
    name: "DELETE /secrets/:name",
    call: (r, w) => r.call(w, "DELETE", "/api/v1/secrets/db"),
    expect: ADMIN_ONLY(404),
  },
  {
    name: "GET /metrics",
    call: (r, w) => r.call(w, "GET", "/metrics"),
    expect: { viewer: 200, owner: 403, other: 403, admin: 200, agent: 403 },
  },
  {
    name: "POST /agents/enrol (needs a join token)",
    call: (r, w) => r.call(w, "POST", "/api/v1/agents/enrol", { agent_id: `a${++n}` }),
    expect: { viewer: 403, owner: 403, other: 403, admin: 403, agent: 403 },
  },
];

Deno.test("every endpoint answers each role with the exact status", async () => {
  const r = rig();
  try {
    const wrong: string[] = [];
    for (const row of ROWS) {
      for (const who of WHO) {
        const want = who === "anonymous" ? 401 : row.expect[who];
        const got = await row.call(r, who);
        if (got.status !== want) {
          wrong.push(
            `${row.name} as ${who}: ${got.status}, want ${want} (${got.text.slice(0, 160)})`,
          );
        }
      }
    }
    assert.deepEqual(wrong, []);
  } finally {
    r.close();
  }
});

Deno.test("a user's lists, logs and schedules never hold another user's objects", async () => {
  const r = rig();
  try {
    const a = await r.scheduler.submit(spec("echo alice-secret"), "alice");
    const b = await r.scheduler.submit(spec("echo bob-secret"), "bob");
    await aliceSchedule(r);
    const ids = async (who: Who, q = "") =>
      JSON.parse((await r.call(who, "GET", `/api/v1/jobs${q}`)).text).jobs.map((
        j: { id: number },
      ) => j.id);
    assert.deepEqual(await ids("owner"), [a.id]);
    assert.deepEqual(await ids("other"), [b.id]);
    assert.deepEqual(await ids("other", "?state=queued"), [b.id]);
    assert.deepEqual(await ids("viewer"), [b.id, a.id]);
    assert.deepEqual(await ids("admin"), [b.id, a.id]);
    // Through every filter and page, bob never meets alice's job.
    const page = JSON.parse((await r.call("other", "GET", `/api/v1/jobs?limit=1`)).text);
    assert.equal(page.next_cursor, null);
    const logs = await r.call("other", "GET", `/api/v1/jobs/${a.id}/logs?follow=1`);
    assert.equal(logs.status, 404);
    assert.ok(!logs.text.includes("alice-secret"));
    const names = async (who: Who) =>
      JSON.parse((await r.call(who, "GET", "/api/v1/schedules")).text).schedules.map((
        s: { owner?: string; name: string },
      ) => s.name);
    assert.equal((await names("other")).length, 0);
    assert.equal((await names("owner")).length, 1);
    assert.equal((await names("viewer")).length, 1);
  } finally {
    r.close();
  }
});

Deno.test("jobs a user submits are theirs: they cancel them, others cannot see them", async () => {
  const r = rig();
  try {
    const created = await r.call("owner", "POST", "/api/v1/jobs", { shell: "sleep 100" });
    const id = JSON.parse(created.text).id;
    assert.equal((await r.call("other", "GET", `/api/v1/jobs/${id}`)).status, 404);
    assert.equal((await r.call("other", "POST", `/api/v1/jobs/${id}/cancel`)).status, 404);
    assert.equal(r.scheduler.store.getJob(id)!.state, "queued");
    const cancelled = await r.call("owner", "POST", `/api/v1/jobs/${id}/cancel`);
    assert.equal(JSON.parse(cancelled.text).state, "cancelled");
  } finally {
    r.close();
  }
});

Deno.test("a user cannot reach another's job through dependencies or idempotency keys", async () => {
  const r = rig();
  try {
    const a = await r.call("owner", "POST", "/api/v1/jobs", {
      shell: "echo alice-secret",
      idempotency_key: "nightly-2026-11-23",
    });
    const aliceId = JSON.parse(a.text).id;
    const dep = await r.call("other", "POST", "/api/v1/jobs", {
      shell: "true",
      after: [aliceId],
    });
    assert.equal(dep.status, 400);
    assert.equal(JSON.parse(dep.text).error.message, `after.0: no job ${aliceId}`);
    const reused = await r.call("other", "POST", "/api/v1/jobs", {
      shell: "echo bob",
      idempotency_key: "nightly-2026-11-23",
    });
    assert.equal(reused.status, 409);
    assert.ok(!reused.text.includes("alice-secret") && !reused.text.includes(`"id":${aliceId}`));
    // The owner gets her own job back for the same key, as before.
    const again = await r.call("owner", "POST", "/api/v1/jobs", {
      shell: "echo alice-secret",
      idempotency_key: "nightly-2026-11-23",
    });
    assert.equal(JSON.parse(again.text).id, aliceId);
  } finally {
    r.close();
  }
});
