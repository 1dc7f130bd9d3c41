import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { parseScheduleSpec, type ScheduleSpecInput } from "../../src/protocol/mod.ts";
import { AgentRegistry } from "../../src/server/agent_registry.ts";
import { EventBus } from "../../src/server/events.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { ScheduleStore } from "../../src/server/schedule_store.ts";
import { cronOf, ScheduleManager } from "../../src/server/schedules.ts";
import { openStore, type Store } from "../../src/server/store.ts";

const MIN = 60_000;

/** A server's scheduling core on a fake clock; `restart()` reopens it on the same file. */
class Harness {
  t: number;
  store!: Store;
  scheduler!: Scheduler;
  schedules!: ScheduleManager;

  constructor(start: string, readonly path = ":memory:") {
    this.t = Date.parse(start);
    this.#open();
  }

  #open(): void {
    const now = () => this.t;
    this.store = openStore(this.path);
    const events = new EventBus();
    const agents = new AgentRegistry({ store: this.store, events, now });
    this.scheduler = new Scheduler({ store: this.store, events, agents, now });
    this.schedules = new ScheduleManager({
      scheduler: this.scheduler,
      store: new ScheduleStore(this.store.db, this.store),
      now,
    });
    this.scheduler.recover();
    this.schedules.recover();
  }

  create(spec: Omit<ScheduleSpecInput, "job"> & { job?: ScheduleSpecInput["job"] }) {
    return this.schedules.create(parseScheduleSpec({ job: { shell: "true" }, ...spec }), "test");
  }

  /** Moves the clock to `until` in `stepMs` steps, firing what is due at each. */
  async advance(until: string | number, stepMs = MIN): Promise<void> {
    const end = typeof until === "number" ? until : Date.parse(until);
    while (this.t < end) {
      this.t = Math.min(end, this.t + stepMs);
      this.scheduler.timers.runDue();
      await this.store.durable();
    }
  }

  /** Fire times of started fires, oldest first, as ISO strings. */
  started(name: string): string[] {
    const row = this.schedules.resolve(name);
    return this.schedules.view(row, true).fires!.filter((f) => f.outcome === "started")
      .map((f) => f.fire_time).reverse();
  }

  fires(name: string) {
    return this.schedules.view(this.schedules.resolve(name), true).fires!.reverse();
  }

  jobCount(): number {
    return this.store.listJobs({ limit: 10_000 }).length;
  }

  /** Stops without handling anything more: a crash or shutdown. */
  async close(): Promise<void> {
    this.scheduler.stop();
    await this.store.durable();
    this.store.close();
  }

  /** Stops, lets the clock run to `at` while down, and starts again. */
  async restart(at: string): Promise<void> {
    await this.close();
    this.t = Date.parse(at);
    this.#open();
    await this.store.durable();
  }
}

async function tempDb(): Promise<string> {
  return `${await Deno.makeTempDir({ prefix: "jobdist-sched-" })}/jobdist.db`;
}

/** Fire times of `cron` in `timezone` between `from` and `to`, through the real timer path. */
async function fireTimes(cron: string, timezone: string, from: string, to: string) {
  const h = new Harness(from);
  try {
    await h.create({ name: "s", cron, timezone });
    await h.advance(to, 5 * MIN);
    return h.started("s");
  } finally {
    await h.close();
  }
}

Deno.test("cronOf() takes 5 and 6 fields and nicknames, and names what is wrong", () => {
  for (const cron of ["*/5 * * * *", "30 */5 * * * *", "@hourly", "@daily", "@weekly"]) {
    assert.doesNotThrow(() => cronOf({ cron, timezone: "UTC" }), cron);
  }
  assert.throws(() => cronOf({ cron: "* * *", timezone: "UTC" }), /cron: .*five, six/);
  assert.throws(() => cronOf({ cron: "* * * * * * *", timezone: "UTC" }), /cron: .*5 or 6/);
  assert.throws(() => cronOf({ cron: "61 * * * *", timezone: "UTC" }), /cron/);
  assert.throws(() => cronOf({ cron: "0 0 30 2 *", timezone: "UTC" }), /never fires/);
  assert.throws(
    () =>
      parseScheduleSpec({
        name: "x",
        cron: "@daily",
        timezone: "Mars/Base",
        job: { shell: "true" },
      }),
    /timezone: expected an IANA/,
  );
  assert.throws(
    () =>
      parseScheduleSpec({
        name: "x",
        cron: "@daily",
        job: { shell: "true", run_at: "2030-01-01T00:00:00Z" },
      }),
    /job.run_at/,
  );
  assert.throws(
    () => parseScheduleSpec({ name: "1x", cron: "@daily", job: { shell: "true" } }),
    /name/,
  );
});

Deno.test("schedules fire at local wall-clock times of their time zone", async () => {
  assert.deepEqual(
    await fireTimes("0 9 * * *", "Europe/Berlin", "2025-01-10T00:00:00Z", "2025-01-12T12:00:00Z"),
    ["2025-01-10T08:00:00.000Z", "2025-01-11T08:00:00.000Z", "2025-01-12T08:00:00.000Z"],
  );
  assert.deepEqual(
    await fireTimes(
      "0 9 * * *",
      "America/New_York",
      "2025-07-10T00:00:00Z",
      "2025-07-11T23:00:00Z",
    ),
    ["2025-07-10T13:00:00.000Z", "2025-07-11T13:00:00.000Z"],
  );
});

Deno.test("DST spring forward: a fixed time in the gap runs once after it; interval times in the gap are skipped", async () => {
  // Europe/Berlin, 2025-03-30: 02:00 CET jumps to 03:00 CEST (01:00Z).
  assert.deepEqual(
    await fireTimes("30 2 * * *", "Europe/Berlin", "2025-03-29T00:00:00Z", "2025-03-31T12:00:00Z"),
    ["2025-03-29T01:30:00.000Z", "2025-03-30T01:00:00.000Z", "2025-03-31T00:30:00.000Z"],
  );
  assert.deepEqual(
    await fireTimes(
      "*/30 * * * *",
      "Europe/Berlin",
      "2025-03-29T23:50:00Z",
      "2025-03-30T02:00:00Z",
    ),
    // 01:00, 01:30 CET, then 03:00, 03:30, 04:00 CEST: nothing at 02:xx, nothing twice.
    [
      "2025-03-30T00:00:00.000Z",
      "2025-03-30T00:30:00.000Z",
      "2025-03-30T01:00:00.000Z",
      "2025-03-30T01:30:00.000Z",
      "2025-03-30T02:00:00.000Z",
    ],
  );
  // America/New_York, 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00Z).
  assert.deepEqual(
    await fireTimes(
      "30 2 * * *",
      "America/New_York",
      "2025-03-08T00:00:00Z",
      "2025-03-10T12:00:00Z",
    ),
    ["2025-03-08T07:30:00.000Z", "2025-03-09T07:00:00.000Z", "2025-03-10T06:30:00.000Z"],
  );
});

Deno.test("DST fall back: a fixed time in the repeated hour runs once; interval times run at both", async () => {
  // Europe/Berlin, 2025-10-26: 03:00 CEST falls back to 02:00 CET (01:00Z).
  assert.deepEqual(
    await fireTimes("30 2 * * *", "Europe/Berlin", "2025-10-25T00:00:00Z", "2025-10-27T12:00:00Z"),
    ["2025-10-25T00:30:00.000Z", "2025-10-26T00:30:00.000Z", "2025-10-27T01:30:00.000Z"],
  );
  assert.deepEqual(
    await fireTimes(
      "*/30 2 * * *",
      "Europe/Berlin",
      "2025-10-25T23:00:00Z",
      "2025-10-26T03:00:00Z",
    ),
    // 02:00 and 02:30 CEST, then 02:00 and 02:30 CET: four distinct instants.
    [
      "2025-10-26T00:00:00.000Z",
      "2025-10-26T00:30:00.000Z",
      "2025-10-26T01:00:00.000Z",
      "2025-10-26T01:30:00.000Z",
    ],
  );
  // America/New_York, 2025-11-02: 02:00 EDT falls back to 01:00 EST (06:00Z).
  assert.deepEqual(
    await fireTimes(
      "30 1 * * *",
      "America/New_York",
      "2025-11-01T00:00:00Z",
      "2025-11-03T12:00:00Z",
    ),
    ["2025-11-01T05:30:00.000Z", "2025-11-02T05:30:00.000Z", "2025-11-03T06:30:00.000Z"],
  );
  assert.deepEqual(
    await fireTimes(
      "0 * * * *",
      "America/New_York",
      "2025-11-02T04:30:00Z",
      "2025-11-02T07:30:00Z",
    ),
    // 01:00 EDT, 01:00 EST, 02:00 EST.
    ["2025-11-02T05:00:00.000Z", "2025-11-02T06:00:00.000Z", "2025-11-02T07:00:00.000Z"],
  );
});

Deno.test("each fire starts a job named after the schedule with its fire time in the environment", async () => {
  const h = new Harness("2025-01-01T00:00:30Z");
  try {
    await h.create({
      name: "nightly",
      cron: "* * * * *",
      job: { shell: "echo hi", env: { A: "1" } },
    });
    await h.advance("2025-01-01T00:01:10Z", 10_000);
    const [fire] = h.fires("nightly");
    assert.equal(fire.job_id !== null, true);
    const job = h.store.getJob(fire.job_id!)!;
    assert.equal(job.name, "nightly");
    assert.equal(job.owner, "test");
    assert.deepEqual(JSON.parse(job.spec).env, {
      A: "1",
      JOBDIST_SCHEDULE: "nightly",
      JOBDIST_FIRE_TIME: "2025-01-01T00:01:00.000Z",
    });
  } finally {
    await h.close();
  }
});

/** A 10-minute schedule created at 00:00, down from 00:05 until `back`. */
async function outage(misfire: "skip" | "run_once" | "run_all", back: string) {
  const h = new Harness("2025-01-01T00:00:00Z", await tempDb());
  await h.create({ name: "s", cron: "*/10 * * * *", misfire, misfire_limit: 3 });
  await h.advance("2025-01-01T00:05:00Z");
  await h.restart(back);
  return h;
}

Deno.test("misfire skip: fire times missed while down are dropped, the next one runs", async () => {
  const h = await outage("skip", "2025-01-01T01:05:00Z");
  try {
    assert.deepEqual(h.started("s"), []);
    assert.equal(h.jobCount(), 0);
    assert.equal(h.fires("s").filter((f) => f.outcome === "skipped").length, 2); // the newest seen
    await h.advance("2025-01-01T01:10:00Z");
    assert.deepEqual(h.started("s"), ["2025-01-01T01:10:00.000Z"]);
  } finally {
    await h.close();
  }
});

Deno.test("misfire run_once: one job for all the missed fire times, for the latest", async () => {
  const h = await outage("run_once", "2025-01-01T01:05:00Z");
  try {
    assert.deepEqual(h.started("s"), ["2025-01-01T01:00:00.000Z"]);
    assert.equal(h.fires("s").at(-1)!.reason, "missed while the server was down");
    assert.equal(h.jobCount(), 1);
  } finally {
    await h.close();
  }
});

Deno.test("misfire run_all: one job per missed fire time, up to misfire_limit (the latest)", async () => {
  const h = await outage("run_all", "2025-01-01T01:05:00Z");
  try {
    assert.deepEqual(h.started("s"), [
      "2025-01-01T00:40:00.000Z",
      "2025-01-01T00:50:00.000Z",
      "2025-01-01T01:00:00.000Z",
    ]);
    assert.equal(h.jobCount(), 3);
  } finally {
    await h.close();
  }
});

Deno.test("a fire time at most a minute late after a restart is on time, whatever the policy", async () => {
  const h = await outage("skip", "2025-01-01T01:00:30Z");
  try {
    assert.deepEqual(h.started("s"), ["2025-01-01T01:00:00.000Z"]);
    assert.equal(h.fires("s").at(-1)!.reason, null);
  } finally {
    await h.close();
  }
});

Deno.test("a fire time never runs twice: not after a restart, not even with the cursor rewound", async () => {
  const path = await tempDb();
  const h = new Harness("2025-01-01T00:00:00Z", path);
  try {
    await h.create({ name: "s", cron: "*/10 * * * *", misfire: "run_all" });
    await h.advance("2025-01-01T00:10:30Z");
    assert.equal(h.jobCount(), 1);
    await h.restart("2025-01-01T00:10:40Z");
    assert.equal(h.jobCount(), 1);
    await h.close();
    // As if the cursor had not been saved: the fire record alone must stop a second run.
    const db = new DatabaseSync(path);
    db.exec("UPDATE schedules SET last_fire_time = created_at");
    assert.throws(
      () =>
        db.exec(
          `INSERT INTO schedule_fires (schedule_id, fire_time, outcome, created_at)
           SELECT schedule_id, fire_time, 'started', 0 FROM schedule_fires`,
        ),
      /UNIQUE constraint failed/,
    );
    db.close();
    await h.restart("2025-01-01T00:10:50Z");
    assert.equal(h.jobCount(), 1);
    assert.deepEqual(h.started("s"), ["2025-01-01T00:10:00.000Z"]);
  } finally {
    await h.close();
  }
});

Deno.test("overlap allow starts a job each time; forbid skips while one is unfinished", async () => {
  const h = new Harness("2025-01-01T00:00:00Z");
  try {
    await h.create({ name: "a", cron: "* * * * *", overlap: "allow" });
    await h.create({ name: "f", cron: "* * * * *", overlap: "forbid" });
    await h.advance("2025-01-01T00:03:00Z"); // no agent: every job stays queued
    assert.equal(h.started("a").length, 3);
    const f = h.fires("f");
    assert.deepEqual(f.map((x) => x.outcome), ["started", "skipped", "skipped"]);
    assert.match(f[1].reason!, /job \d+ of an earlier fire has not finished \(overlap: forbid\)/);
    await h.scheduler.cancel(f[0].job_id!);
    await h.advance("2025-01-01T00:04:00Z");
    assert.equal(h.fires("f").at(-1)!.outcome, "started");
  } finally {
    await h.close();
  }
});

Deno.test("overlap replace cancels the unfinished job of the previous fire", async () => {
  const h = new Harness("2025-01-01T00:00:00Z");
  try {
    await h.create({ name: "r", cron: "* * * * *", overlap: "replace" });
    await h.advance("2025-01-01T00:02:00Z");
    const [first, second] = h.fires("r");
    const old = h.store.getJob(first.job_id!)!;
    assert.equal(old.state, "cancelled");
    assert.equal(old.reason, "replaced by the run of schedule r for 2025-01-01T00:02:00.000Z");
    assert.equal(h.store.getJob(second.job_id!)!.state, "queued");
  } finally {
    await h.close();
  }
});

Deno.test("a paused schedule does not fire, and resuming does not catch up", async () => {
  const h = new Harness("2025-01-01T00:00:00Z");
  try {
    await h.create({ name: "p", cron: "* * * * *" });
    await h.schedules.setPaused("p", true);
    assert.equal(h.schedules.view(h.schedules.resolve("p")).next_fire_time, null);
    await h.advance("2025-01-01T00:05:30Z");
    assert.equal(h.jobCount(), 0);
    await h.schedules.setPaused("p", false);
    await h.advance("2025-01-01T00:06:00Z");
    assert.deepEqual(h.started("p"), ["2025-01-01T00:06:00.000Z"]);
  } finally {
    await h.close();
  }
});

Deno.test("nextTimes() previews fire times across a DST change", async () => {
  const h = new Harness("2025-03-29T00:00:00Z");
  try {
    const row = await h.create({ name: "n", cron: "0 3 * * *", timezone: "Europe/Berlin" });
    assert.deepEqual(h.schedules.nextTimes(row, 3).map((t) => new Date(t).toISOString()), [
      "2025-03-29T02:00:00.000Z", // 03:00 CET
      "2025-03-30T01:00:00.000Z", // 03:00 CEST
      "2025-03-31T01:00:00.000Z",
    ]);
  } finally {
    await h.close();
  }
});
