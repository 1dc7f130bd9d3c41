import assert from "node:assert/strict";
import { type AgentMessage, PROTOCOL_VERSION } from "../../src/protocol/mod.ts";
import { type AgentLink, AgentRegistry } from "../../src/server/agent_registry.ts";
import { createApp } from "../../src/server/app.ts";
import { createAuthenticator } from "../../src/server/auth.ts";
import { EventBus } from "../../src/server/events.ts";
import { AgentHealth } from "../../src/server/health.ts";
import { Ops } from "../../src/server/ops.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { openStore, type Store } from "../../src/server/store.ts";

const MIN = 60_000;
const H = 60 * MIN;
const T0 = Date.UTC(2026, 0, 1);

/** Registry, health and ops over one store, on a fake wall clock. */
function rig(store: Store = openStore(":memory:"), clock = { t: T0 }) {
  const now = () => clock.t;
  const events = new EventBus();
  const health = new AgentHealth(store, { now });
  const agents = new AgentRegistry({ store, events, now, hooks: health });
  const scheduler = new Scheduler({ store, events, agents, now });
  agents.load();
  health.applyOverrides(agents.all());
  health.recover();
  const ops = new Ops({ store, scheduler, health, dbPath: ":memory:", now });
  scheduler.recover();
  store.flush();
  const app = createApp({
    scheduler,
    auth: createAuthenticator({ tokens: [], agentTokens: [] }),
    ops,
  });
  return { store, clock, events, health, agents, scheduler, ops, app };
}

function hello(id: string, labels: Record<string, string> = {}) {
  return {
    type: "hello",
    protocol: PROTOCOL_VERSION,
    agent_id: id,
    name: id,
    labels,
    runtimes: [],
    slots: 2,
    version: "0.1.0",
    inventory: [],
  } satisfies Extract<AgentMessage, { type: "hello" }>;
}

const link = (): AgentLink => ({ send() {}, close() {} });

Deno.test("AgentHealth records a session per connection and uptime from them", () => {
  const r = rig();
  const a = r.agents.connect(hello("a1"), link());
  r.clock.t += 2 * H;
  const l2 = link();
  r.agents.disconnect(a, a.link!);
  r.clock.t += H; // down for an hour
  const b = r.agents.connect(hello("a1"), l2);
  r.clock.t += H;
  r.store.flush();
  const sessions = r.health.sessions("a1", r.clock.t, 24 * H);
  assert.deepEqual(sessions, [
    { start: T0, end: T0 + 2 * H },
    { start: T0 + 3 * H, end: null },
  ]);
  const u = r.health.uptime("a1");
  assert.equal(u["24h"].known_ms, 4 * H);
  assert.equal(u["24h"].up_ms, 3 * H);
  assert.equal(u["24h"].percent, 75);
  assert.equal(b.liveness, "connected");
});

Deno.test("AgentHealth ignores the late close of a connection that a newer one replaced", () => {
  const r = rig();
  const first = r.agents.connect(hello("a1"), link());
  const oldLink = first.link!;
  r.clock.t += MIN;
  r.agents.connect(hello("a1"), link()); // replaces; the old socket closes afterwards
  r.clock.t += MIN;
  r.agents.disconnect(first, oldLink);
  r.store.flush();
  const sessions = r.health.sessions("a1", r.clock.t, H);
  assert.equal(sessions.length, 2);
  assert.equal(sessions[1].end, null, "the live session stays open");
});

Deno.test("AgentHealth averages heartbeat facts into one sample per minute", () => {
  const r = rig();
  const a = r.agents.connect(hello("a1"), link());
  const beat = (dt: number, load1: number, disk: number) => {
    r.clock.t += dt;
    r.agents.heartbeat(a, { load1, cpus: 4, mem_available: 1000, disk_free: disk, rss: 10 });
  };
  beat(5_000, 1, 500);
  beat(5_000, 3, 300);
  beat(MIN, 7, 100); // next minute: the first one is written
  r.store.flush();
  let samples = r.health.samples("a1", 0);
  assert.equal(samples.length, 1);
  assert.equal(samples[0].t, T0);
  assert.equal(samples[0].n, 2);
  assert.equal(samples[0].load1, 2);
  assert.equal(samples[0].disk_free, 400);
  assert.equal(samples[0].cpus, 4);
  // Disconnecting writes the partial minute.
  r.agents.disconnect(a, a.link!);
  r.store.flush();
  samples = r.health.samples("a1", 0);
  assert.equal(samples.length, 2);
  assert.equal(samples[1].load1, 7);
  // Samples older than 7 days are pruned; ended sessions are kept for 31 days.
  r.clock.t += 8 * 24 * H;
  r.health.prune(r.clock.t);
  r.store.flush();
  assert.equal(r.health.samples("a1", 0).length, 0);
  assert.equal(r.health.sessions("a1", r.clock.t, 30 * 24 * H).length, 1);
});

Deno.test("AgentHealth closes sessions a crashed server left open at their last sighting", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/db.sqlite`;
  try {
    const first = rig(openStore(path));
    const a = first.agents.connect(hello("a1"), link());
    first.clock.t += 90_000;
    first.agents.heartbeat(a, { load1: 1 });
    first.clock.t += MIN; // a new minute: last_seen_at moves to here
    first.agents.heartbeat(a, { load1: 1 });
    const lastSeen = first.clock.t;
    first.clock.t += 10 * MIN;
    first.store.close(); // crash: no orderly stop, the session is still open on disk

    const second = rig(openStore(path), { t: first.clock.t });
    assert.deepEqual(second.health.sessions("a1", second.clock.t, H), [
      { start: T0, end: lastSeen },
    ]);
    second.store.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("GET /api/v1/agents/:id/uptime answers 24h, 7d and 30d windows with a timeline", async () => {
  const r = rig();
  const a = r.agents.connect(hello("a1"), link());
  r.clock.t += 6 * H;
  r.agents.disconnect(a, a.link!);
  r.clock.t += 6 * H;
  r.store.flush();
  const res = await r.app.request("/api/v1/agents/a1/uptime");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.agent_id, "a1");
  assert.deepEqual(Object.keys(body.windows), ["24h", "7d", "30d"]);
  assert.equal(body.windows["24h"].percent, 50);
  assert.deepEqual(body.windows["7d"].intervals, [{
    start: new Date(T0).toISOString(),
    end: new Date(T0 + 6 * H).toISOString(),
  }]);
  assert.equal((await r.app.request("/api/v1/agents/nobody/uptime")).status, 404);
  r.store.close();
});

Deno.test("agents: rename, labels and disable outlive a reconnect; disabled agents get no work", async () => {
  const r = rig();
  r.agents.connect(hello("a1", { zone: "eu" }), link());
  const patch = (body: unknown) =>
    r.app.request("/api/v1/agents/a1", {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  let res = await patch({ name: "build-1", labels: { zone: "us", gpu: "yes" } });
  assert.equal(res.status, 200);
  let view = await res.json();
  assert.equal(view.name, "build-1");
  assert.deepEqual(view.labels, { zone: "us", gpu: "yes" });
  assert.equal((await patch({ nope: 1 })).status, 400);

  res = await r.app.request("/api/v1/agents/build-1/disable", { method: "POST" });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).disabled, true);
  assert.equal(r.agents.ready().length, 0, "a disabled agent is not offered work");

  // The agent reconnects saying its own name and labels: the operator's override wins.
  const again = r.agents.connect(hello("a1", { zone: "eu" }), link());
  assert.equal(again.name, "build-1");
  assert.deepEqual(again.labels, { zone: "us", gpu: "yes" });
  assert.equal(again.disabled, true);

  res = await r.app.request("/api/v1/agents/a1/enable", { method: "POST" });
  assert.equal((await res.json()).disabled, false);
  assert.equal(r.agents.ready().length, 1);
  res = await patch({ labels: null });
  view = await res.json();
  assert.deepEqual(view.labels, { zone: "eu" }, "null labels go back to the agent's own");
  r.store.close();
});

Deno.test("agents: overrides survive a server restart", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/db.sqlite`;
  try {
    const first = rig(openStore(path));
    first.agents.connect(hello("a1"), link());
    await first.ops.change("a1", { name: "renamed", disabled: true });
    first.ops.stop();
    first.store.close();
    const second = rig(openStore(path));
    const a = second.agents.get("a1")!;
    assert.equal(a.name, "renamed");
    assert.equal(a.disabled, true);
    second.store.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("DELETE /api/v1/agents/:id forgets a disconnected agent, not a connected one", async () => {
  const r = rig();
  const a = r.agents.connect(hello("a1"), link());
  r.clock.t += H;
  let res = await r.app.request("/api/v1/agents/a1", { method: "DELETE" });
  assert.equal(res.status, 409);
  assert.match((await res.json()).error.message, /connected/);
  r.agents.disconnect(a, a.link!);
  res = await r.app.request("/api/v1/agents/a1", { method: "DELETE" });
  assert.equal(res.status, 204);
  assert.equal(r.agents.get("a1"), undefined);
  assert.deepEqual(r.store.listAgents(), []);
  assert.deepEqual(r.health.sessions("a1", r.clock.t, 24 * H), []);
  assert.equal((await r.app.request("/api/v1/agents/a1", { method: "DELETE" })).status, 404);
  r.store.close();
});
