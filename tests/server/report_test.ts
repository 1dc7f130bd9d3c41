import assert from "node:assert/strict";
import { JobSpec, type JobSpecInput, type JobState, parseWith } from "../../src/protocol/mod.ts";
import { type AgentLink, AgentRegistry } from "../../src/server/agent_registry.ts";
import { EventBus } from "../../src/server/events.ts";
import { AgentHealth } from "../../src/server/health.ts";
import { buildReport, renderHtml, renderText, reportSubject } from "../../src/server/report.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { openStore } from "../../src/server/store.ts";

const MIN = 60_000;
const H = 60 * MIN;
/** The report is made at 07:00 UTC; its period starts 24 h earlier. */
const NOW = Date.UTC(2026, 10, 23, 7);
const FROM = NOW - 24 * H;

/** Store, health and registry on one fake clock (wall and monotonic). */
function rig() {
  const clock = { t: FROM - 2 * H };
  const now = () => clock.t;
  const store = openStore(":memory:");
  const events = new EventBus();
  const health = new AgentHealth(store, { now });
  const agents = new AgentRegistry({
    store,
    events,
    now,
    mono: now,
    hooks: health,
    lostAfterMs: 30_000,
  });
  const scheduler = new Scheduler({ store, events, agents, now });
  agents.load();
  scheduler.recover();
  store.flush();
  /** A finished job: started at `start`, ended `ms` later in `state`. */
  const job = (spec: JobSpecInput, state: JobState, start: number, ms: number) => {
    const id = store.write(() => {
      const id = store.insertJob({
        spec: parseWith(JobSpec, spec),
        state: "queued",
        run_at: null,
        created_at: start - MIN,
        owner: null,
      });
      store.setJobState(id, state, { started_at: start, finished_at: start + ms });
      return id;
    });
    return id;
  };
  return { clock, store, health, agents, scheduler, job };
}

function hello(id: string) {
  return {
    type: "hello" as const,
    protocol: 1,
    agent_id: id,
    name: id,
    labels: {},
    runtimes: [],
    slots: 2,
    version: "0.1.0",
    inventory: [],
  };
}

const link = (): AgentLink => ({ send() {}, close() {} });

/**
 * Jobs in two queues (one named `<nightly>` to prove escaping), a job outside the period, an
 * agent up all along, one that was down 6 hours, and one that vanished and was lost.
 */
function fixture() {
  const r = rig();
  // Agents: steady is connected from before the period; flaky is down from +1h to +7h; gone
  // connects at +2h and is lost at +10h.
  r.agents.connect(hello("steady"), link());
  const flaky = r.agents.connect(hello("flaky"), link());
  r.clock.t = FROM + H;
  r.agents.disconnect(flaky, flaky.link!);
  r.clock.t = FROM + 2 * H;
  const gone = r.agents.connect(hello("gone"), link());
  r.clock.t = FROM + 7 * H;
  r.agents.connect(hello("flaky"), link());
  r.clock.t = FROM + 10 * H;
  r.agents.disconnect(gone, gone.link!);
  // What the registry's sweep does once the grace period passes (the sweep itself would also
  // disconnect the others, whose heartbeats this fake clock does not send).
  r.store.write(() => r.store.setAgentStatus("gone", "lost", null));

  const t = (h: number) => FROM + h * H;
  r.job({ shell: "true", name: "old" }, "failed", t(-3), MIN); // before the period
  r.job({ shell: "true", name: "etl" }, "succeeded", t(1), 5 * MIN);
  r.job({ shell: "true", name: "etl" }, "failed", t(2), 2 * MIN);
  r.job({ shell: "true", name: "etl" }, "timed_out", t(3), 30 * MIN);
  r.job({ shell: "true", name: "<nightly>", queue: "batch" }, "failed", t(4), 3 * H);
  r.job({ shell: "true", name: "<nightly>", queue: "batch" }, "succeeded", t(5), 2 * H);
  r.job({ shell: "true", queue: "batch" }, "cancelled", t(6), 10 * MIN);
  r.job({ shell: "true", name: "quick" }, "succeeded", t(7), 1_000);
  // An attempt lost with its agent.
  const lostJob = r.job({ shell: "sleep 1" }, "succeeded", t(9), MIN);
  r.store.write(() => {
    r.store.assign(lostJob, `${lostJob}.1`, 1, "gone", t(9));
    r.store.finishAttempt(
      `${lostJob}.1`,
      "lost",
      { exit_code: null, signal: null, error: "agent lost" },
      t(10),
    );
    r.store.setJobState(lostJob, "succeeded", { started_at: t(9), finished_at: t(9) + MIN });
  });
  r.clock.t = NOW;
  r.store.flush();
  return r;
}

Deno.test("buildReport() counts jobs per queue, slowest and most-failing jobs, uptime and lost agents", () => {
  const r = fixture();
  const report = buildReport(r.store, r.health, { now: NOW });
  assert.equal(report.from, new Date(FROM).toISOString());
  assert.equal(report.to, new Date(NOW).toISOString());
  assert.deepEqual(report.queues, [
    { queue: "batch", finished: 3, succeeded: 1, failed: 1, timed_out: 0, cancelled: 1 },
    { queue: "default", finished: 5, succeeded: 3, failed: 1, timed_out: 1, cancelled: 0 },
  ]);
  assert.deepEqual(report.totals, {
    finished: 8,
    succeeded: 4,
    failed: 2,
    timed_out: 1,
    cancelled: 1,
  });
  assert.deepEqual(
    report.slowest.map((j) => [j.name, j.duration_ms]),
    [["<nightly>", 3 * H], ["<nightly>", 2 * H], ["etl", 30 * MIN], [null, 10 * MIN], [
      "etl",
      5 * MIN,
    ]],
  );
  assert.deepEqual(report.most_failing, [
    { name: "etl", failed: 1, timed_out: 1, finished: 3 },
    { name: "<nightly>", failed: 1, timed_out: 0, finished: 2 },
  ]);
  const uptime = Object.fromEntries(report.agents.map((a) => [a.id, a]));
  assert.equal(uptime.steady.uptime_percent, 100);
  assert.equal(uptime.flaky.up_ms, 18 * H);
  assert.equal(uptime.flaky.uptime_percent, 75);
  // gone was known from +2h (22 h of the period) and up for 8 of them.
  assert.equal(uptime.gone.known_ms, 22 * H);
  assert.equal(uptime.gone.up_ms, 8 * H);
  assert.equal(uptime.gone.status, "lost");
  assert.deepEqual(report.agents_lost, [
    { id: "gone", name: "gone", last_seen: new Date(FROM + 10 * H).toISOString() },
  ]);
  assert.equal(report.lost_attempts, 1);

  // The last 12 hours hold no finished job and no loss, and flaky was up all along.
  const half = buildReport(r.store, r.health, { now: NOW, periodMs: 12 * H });
  assert.equal(half.totals.finished, 0);
  assert.deepEqual(half.agents_lost, []);
  assert.equal(half.agents.find((a) => a.id === "flaky")?.uptime_percent, 100);
});

Deno.test("renderText() and renderHtml() show every section; HTML escapes names", () => {
  const r = fixture();
  const report = buildReport(r.store, r.health, { now: NOW });
  const text = renderText(report, { timezone: "Europe/Berlin" });
  assert.match(
    text,
    /^jobdist report: 2026-11-22 08:00 to 2026-11-23 08:00 Europe\/Berlin \(1d0h\)/,
  );
  assert.match(text, /QUEUE\s+FINISHED\s+SUCCEEDED\s+FAILED\s+TIMED OUT\s+CANCELLED/);
  assert.match(text, /^ {2}default\s+5\s+3\s+1\s+1\s+0$/m);
  assert.match(text, /^ {2}all\s+8\s+4\s+2\s+1\s+1$/m);
  assert.match(text, /^ {2}etl\s+1\s+1\s+3$/m);
  assert.match(text, /^ {2}flaky\s+connected\s+75\.00%\s+18h\s+1d0h$/m);
  assert.match(
    text,
    /Agents lost \(attempts requeued: 1\)\n\n {2}AGENT.*\n {2}gone\s+gone\s+2026-11-22 18:00/,
  );
  assert.match(text, /<nightly>/); // text stays text

  const html = renderHtml(report);
  assert.match(html, /^<!DOCTYPE html>/);
  assert.ok(!html.includes("<nightly>"), "names are escaped");
  assert.match(html, /<td[^>]*>&lt;nightly&gt;<\/td>/);
  assert.match(html, /<h2[^>]*>Most failing jobs<\/h2>/);

  assert.equal(
    reportSubject(report),
    "jobdist report 2026-11-23: 8 jobs, 2 failed, 1 timed out, 1 agents lost",
  );
});

Deno.test("renderText() says so when nothing happened", () => {
  const r = rig();
  const text = renderText(buildReport(r.store, r.health, { now: NOW }));
  assert.match(text, /No job finished\./);
  assert.match(text, /No job failed\./);
  assert.match(text, /No agent was known\./);
  assert.match(text, /No agent was lost\./);
});
