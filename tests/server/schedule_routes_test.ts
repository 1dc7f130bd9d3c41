import assert from "node:assert/strict";
import type { ErrorBody, ScheduleList, ScheduleView } from "../../src/protocol/mod.ts";
import { AgentRegistry } from "../../src/server/agent_registry.ts";
import { createApp } from "../../src/server/app.ts";
import { createAuthenticator } from "../../src/server/auth.ts";
import { EventBus } from "../../src/server/events.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { ScheduleStore } from "../../src/server/schedule_store.ts";
import { ScheduleManager } from "../../src/server/schedules.ts";
import { openStore } from "../../src/server/store.ts";

/** The app with schedules over an in-memory store, on a fixed clock. */
function harness(now = Date.parse("2025-03-29T12:00:00Z")) {
  const store = openStore(":memory:");
  const events = new EventBus();
  const clock = () => now;
  const agents = new AgentRegistry({ store, events, now: clock });
  const scheduler = new Scheduler({ store, events, agents, now: clock });
  const schedules = new ScheduleManager({
    scheduler,
    store: new ScheduleStore(store.db, store),
    now: clock,
  });
  const app = createApp({
    scheduler,
    schedules,
    auth: createAuthenticator({ tokens: [], agentTokens: [] }),
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(`/api/v1${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  return {
    call,
    close() {
      scheduler.stop();
      store.close();
    },
  };
}

const daily = {
  name: "backup",
  cron: "0 3 * * *",
  timezone: "Europe/Berlin",
  job: { shell: "backup.sh" },
};

Deno.test("POST /schedules creates a schedule with defaults and its next fire time", async () => {
  const h = harness();
  try {
    const { status, body } = await h.call("POST", "/schedules", daily);
    assert.equal(status, 201);
    const s = body as ScheduleView;
    assert.equal(s.name, "backup");
    assert.equal(s.overlap, "allow");
    assert.equal(s.misfire, "run_once");
    assert.equal(s.misfire_limit, 10);
    assert.equal(s.paused, false);
    assert.equal(s.next_fire_time, "2025-03-30T01:00:00.000Z"); // 03:00 CEST
    const dup = await h.call("POST", "/schedules", daily);
    assert.equal(dup.status, 409);
    assert.match((dup.body as ErrorBody).error.message, /backup: a schedule with that name exists/);
  } finally {
    h.close();
  }
});

Deno.test("POST /schedules names the bad field", async () => {
  const h = harness();
  try {
    const cases: Array<[unknown, string]> = [
      [{ ...daily, cron: "* * *" }, "cron"],
      [{ ...daily, timezone: "Europe/Nowhere" }, "timezone"],
      [{ ...daily, overlap: "sometimes" }, "overlap"],
      [{ ...daily, misfire: "run_twice" }, "misfire"],
      [{ ...daily, job: { shell: "x", idempotency_key: "k" } }, "job.idempotency_key"],
      [{ ...daily, job: {} }, "job.command"],
      [{ ...daily, extra: 1 }, ""],
    ];
    for (const [body, field] of cases) {
      const res = await h.call("POST", "/schedules", body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((res.body as ErrorBody).error.field ?? "", field, JSON.stringify(res.body));
    }
  } finally {
    h.close();
  }
});

Deno.test("schedules can be listed, shown, previewed, paused, resumed, replaced and deleted", async () => {
  const h = harness();
  try {
    const { body: created } = await h.call("POST", "/schedules", daily);
    const id = (created as ScheduleView).id;
    const list = (await h.call("GET", "/schedules")).body as ScheduleList;
    assert.deepEqual(list.schedules.map((s) => s.name), ["backup"]);
    const shown = (await h.call("GET", `/schedules/${id}`)).body as ScheduleView;
    assert.deepEqual(shown.fires, []);

    const next = await h.call("GET", "/schedules/backup/next?n=3");
    assert.deepEqual(next.body.times, [
      "2025-03-30T01:00:00.000Z",
      "2025-03-31T01:00:00.000Z",
      "2025-04-01T01:00:00.000Z",
    ]);
    assert.equal((await h.call("GET", "/schedules/backup/next?n=0")).status, 400);

    const paused = (await h.call("POST", "/schedules/backup/pause")).body as ScheduleView;
    assert.equal(paused.paused, true);
    assert.equal(paused.next_fire_time, null);
    const resumed = (await h.call("POST", "/schedules/backup/resume")).body as ScheduleView;
    assert.equal(resumed.next_fire_time, "2025-03-30T01:00:00.000Z");

    const put = await h.call("PUT", "/schedules/backup", { ...daily, cron: "@hourly" });
    assert.equal(put.status, 200);
    assert.equal((put.body as ScheduleView).next_fire_time, "2025-03-29T13:00:00.000Z");

    assert.equal((await h.call("DELETE", "/schedules/backup")).status, 200);
    assert.equal((await h.call("GET", "/schedules/backup")).status, 404);
    assert.equal((await h.call("POST", `/schedules/${id}/pause`)).status, 404);
  } finally {
    h.close();
  }
});
