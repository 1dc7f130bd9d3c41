import assert from "node:assert/strict";
import { DelayedJobs, type DueKey } from "../../src/server/delayed.ts";
import { AgentRegistry } from "../../src/server/agent_registry.ts";
import { EventBus } from "../../src/server/events.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { openStore, type Store } from "../../src/server/store.ts";
import { TimerQueue } from "../../src/server/timers.ts";
import { parseJobSpec } from "../../src/protocol/mod.ts";

/** Scheduled jobs "on disk": what the store's window query would read. */
class Disk {
  readonly jobs = new Map<
    number,
    { run_at: number; state: "scheduled" | "queued" | "cancelled" }
  >();
  loads = 0;

  schedule(id: number, runAt: number): void {
    this.jobs.set(id, { run_at: runAt, state: "scheduled" });
  }

  load = (after: DueKey, limit: number): DueKey[] => {
    this.loads++;
    return [...this.jobs].filter(([, j]) => j.state === "scheduled")
      .map(([id, j]) => ({ id, run_at: j.run_at }))
      .filter((k) => k.run_at > after.run_at || (k.run_at === after.run_at && k.id > after.id))
      .sort((a, b) => a.run_at - b.run_at || a.id - b.id)
      .slice(0, limit);
  };
}

/** A window over `disk` on a fake clock; firing queues the job on disk, as the scheduler does. */
function harness(window: number, disk = new Disk()) {
  const clock = { now: 0 };
  const timers = new TimerQueue({ now: () => clock.now });
  timers.stop(); // the tests call runDue() themselves
  const fired: Array<{ id: number; at: number }> = [];
  let maxHeld = 0;
  const delayed = new DelayedJobs({
    timers,
    load: (after, limit) => disk.load(after, limit),
    fire: (id) => {
      const job = disk.jobs.get(id)!;
      if (job.state !== "scheduled") return;
      job.state = "queued";
      fired.push({ id, at: clock.now });
    },
    window,
  });
  /** Advances the clock in `step` ms steps to `until`, firing what is due at each. */
  const runUntil = (until: number, step = 7) => {
    while (clock.now < until) {
      clock.now = Math.min(until, clock.now + step);
      timers.runDue();
      maxHeld = Math.max(maxHeld, delayed.size);
    }
  };
  return { clock, timers, disk, delayed, fired, runUntil, maxHeld: () => maxHeld };
}

/** Ids of `disk`'s jobs in due order. */
function dueOrder(disk: Disk, ids?: number[]): number[] {
  return (ids ?? [...disk.jobs.keys()])
    .sort((a, b) => disk.jobs.get(a)!.run_at - disk.jobs.get(b)!.run_at || a - b);
}

Deno.test("DelayedJobs.reload() holds one window; later jobs fire in due order after refills", () => {
  const h = harness(8);
  let s = 11;
  for (let id = 1; id <= 200; id++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    h.disk.schedule(id, 100 + (s % 5_000)); // with ties
  }
  h.delayed.reload();
  assert.equal(h.delayed.size, 8);
  assert.equal(h.timers.size, 8);
  assert.equal(h.delayed.complete, false);
  h.runUntil(6_000);
  assert.deepEqual(h.fired.map((f) => f.id), dueOrder(h.disk));
  for (const f of h.fired) assert.ok(f.at >= h.disk.jobs.get(f.id)!.run_at, `job ${f.id} early`);
  assert.ok(h.maxHeld() <= 8, `held ${h.maxHeld()} at most, window 8`);
  assert.equal(h.delayed.size, 0);
  assert.equal(h.delayed.complete, true);
  // One load per half window fired, not one per job.
  assert.ok(h.disk.loads <= 200 / 4 + 2, `${h.disk.loads} loads`);
});

Deno.test("DelayedJobs.add() holds a job inside the window and leaves a later one on disk", () => {
  const h = harness(4);
  for (let id = 1; id <= 10; id++) h.disk.schedule(id, 1_000 + id * 10);
  h.delayed.reload(); // holds 1..4; horizon is job 4 at 1040
  assert.deepEqual([1, 2, 3, 4].map((id) => h.delayed.has(id)), [true, true, true, true]);
  h.disk.schedule(11, 1_025);
  h.delayed.add(11, 1_025);
  assert.ok(h.delayed.has(11));
  assert.ok(h.timers.has("run:11"));
  h.disk.schedule(12, 9_000);
  h.delayed.add(12, 9_000);
  assert.equal(h.delayed.has(12), false);
  assert.equal(h.timers.has("run:12"), false);
  h.runUntil(10_000);
  assert.deepEqual(h.fired.map((f) => f.id), [1, 2, 11, 3, 4, 5, 6, 7, 8, 9, 10, 12]);
});

Deno.test("DelayedJobs.add() before any reload() loads the first window", () => {
  const h = harness(4);
  for (let id = 1; id <= 6; id++) h.disk.schedule(id, 1_000 - id);
  h.delayed.add(6, 994);
  assert.equal(h.delayed.size, 4);
  assert.ok(h.delayed.has(6));
  h.runUntil(2_000);
  assert.deepEqual(h.fired.map((f) => f.id), [6, 5, 4, 3, 2, 1]);
});

Deno.test("DelayedJobs.delete() cancels a held job; a cancelled job on disk never fires", () => {
  const h = harness(4);
  for (let id = 1; id <= 12; id++) h.disk.schedule(id, 1_000 + id * 10);
  h.delayed.reload();
  // Cancel a held job the way the scheduler does: the row changes, then the timer goes.
  h.disk.jobs.get(2)!.state = "cancelled";
  h.delayed.delete(2);
  assert.equal(h.timers.has("run:2"), false);
  // A job beyond the window is cancelled on disk only; its window load skips it.
  assert.equal(h.delayed.has(9), false);
  h.disk.jobs.get(9)!.state = "cancelled";
  h.delayed.delete(9);
  h.runUntil(2_000);
  assert.deepEqual(h.fired.map((f) => f.id), [1, 3, 4, 5, 6, 7, 8, 10, 11, 12]);
});

Deno.test("DelayedJobs.add() reschedules a job later, past the window, or earlier", () => {
  const h = harness(4);
  for (let id = 1; id <= 10; id++) h.disk.schedule(id, 1_000 + id * 10);
  h.delayed.reload(); // holds 1..4
  // Job 1 moves past the horizon: it leaves memory and comes back with a later window.
  h.disk.schedule(1, 1_095);
  h.delayed.add(1, 1_095);
  assert.equal(h.delayed.has(1), false);
  // Job 8 (on disk only) moves inside the window: it is held at once.
  h.disk.schedule(8, 1_005);
  h.delayed.add(8, 1_005);
  assert.ok(h.delayed.has(8));
  // Job 3 moves later but stays inside the window.
  h.disk.schedule(3, 1_035);
  h.delayed.add(3, 1_035);
  h.runUntil(2_000);
  assert.deepEqual(h.fired.map((f) => f.id), [8, 2, 3, 4, 5, 6, 7, 9, 1, 10]);
  const at = new Map(h.fired.map((f) => [f.id, f.at]));
  assert.ok(at.get(1)! >= 1_095 && at.get(8)! >= 1_005 && at.get(3)! >= 1_035);
});

Deno.test("DelayedJobs drops the latest jobs back to disk when additions grow it past 2x", () => {
  const h = harness(4);
  h.delayed.reload(); // nothing scheduled: every addition is held
  assert.equal(h.delayed.complete, true);
  const ids = [];
  for (let id = 1; id <= 40; id++) {
    const runAt = 5_000 - id * 37 % 1_000; // arrival order is not due order
    h.disk.schedule(id, runAt);
    h.delayed.add(id, runAt);
    ids.push(id);
    assert.ok(h.delayed.size <= 8, `held ${h.delayed.size} after ${id} additions`);
  }
  assert.equal(h.delayed.complete, false);
  h.runUntil(6_000);
  assert.deepEqual(h.fired.map((f) => f.id), dueOrder(h.disk, ids));
});

Deno.test("DelayedJobs fires 1M jobs on disk in due order with a window of 1,000", () => {
  const n = 1_000_000;
  // A sorted array stands in for the index: the window query is a binary search and a slice.
  const keys: DueKey[] = [];
  for (let id = 1; id <= n; id++) keys.push({ id, run_at: 1_000 + Math.floor(id / 3) });
  const state = new Uint8Array(n + 1); // 0 scheduled, 1 fired
  const load = (after: DueKey, limit: number) => {
    let lo = 0, hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const k = keys[mid];
      if (k.run_at < after.run_at || (k.run_at === after.run_at && k.id <= after.id)) lo = mid + 1;
      else hi = mid;
    }
    const out: DueKey[] = [];
    for (let i = lo; i < keys.length && out.length < limit; i++) {
      if (state[keys[i].id] === 0) out.push(keys[i]);
    }
    return out;
  };
  const clock = { now: 0 };
  const timers = new TimerQueue({ now: () => clock.now });
  timers.stop();
  let fired = 0, outOfOrder = 0, last = 0, maxHeld = 0;
  const delayed = new DelayedJobs({
    timers,
    load,
    fire: (id) => {
      if (id < last) outOfOrder++;
      last = id;
      state[id] = 1;
      fired++;
    },
    window: 1_000,
  });
  delayed.reload();
  assert.equal(timers.size, 1_000);
  for (clock.now = 1_000; fired < n && clock.now < 1_000 + n; clock.now += 50) {
    timers.runDue();
    maxHeld = Math.max(maxHeld, delayed.size);
  }
  assert.equal(fired, n);
  assert.equal(outOfOrder, 0);
  assert.ok(maxHeld <= 1_000);
});

// --- against the real store and scheduler ------------------------------------------------

function insertScheduled(store: Store, n: number, runAt: (i: number) => number): number[] {
  const spec = parseJobSpec({ command: ["true"] });
  return store.write(() =>
    Array.from(
      { length: n },
      (_, i) =>
        store.insertJob({ spec, state: "scheduled", run_at: runAt(i), created_at: 0, owner: null }),
    )
  );
}

Deno.test("store.scheduledAfter() reads scheduled jobs in due order after a key", () => {
  const store = openStore(":memory:");
  try {
    const ids = insertScheduled(store, 6, (i) => [500, 300, 300, 900, 100, 300][i]);
    store.write(() => store.setJobState(ids[3], "cancelled"));
    const start = store.scheduledAfter(Number.MIN_SAFE_INTEGER, 0, 3);
    assert.deepEqual(start.map((r) => r.id), [ids[4], ids[1], ids[2]]);
    assert.deepEqual(start.map((r) => r.run_at), [100, 300, 300]);
    const next = store.scheduledAfter(300, ids[1], 10);
    assert.deepEqual(next.map((r) => r.id), [ids[2], ids[5], ids[0]]); // not the cancelled one
    const plan = store.db.prepare(
      `EXPLAIN QUERY PLAN SELECT id, run_at FROM jobs INDEXED BY jobs_scheduled_by_run_at
        WHERE state = 'scheduled' AND (run_at, id) > (?, ?) ORDER BY run_at, id LIMIT ?`,
    ).all(0, 0, 1).map((r) => String(r.detail)).join("; ");
    assert.match(plan, /COVERING INDEX jobs_scheduled_by_run_at/);
    assert.doesNotMatch(plan, /TEMP B-TREE/);
  } finally {
    store.close();
  }
});

/** A scheduler over `store` on a fake clock, as `startServer` builds it. */
function scheduler(store: Store, clock: { now: number }): Scheduler {
  const events = new EventBus();
  const agents = new AgentRegistry({ store, events, now: () => clock.now });
  const s = new Scheduler({ store, events, agents, now: () => clock.now });
  s.timers.stop(); // the tests call runDue() themselves
  return s;
}

Deno.test("Scheduler.recover() rebuilds one window of delayed jobs, not all of them", async () => {
  const dir = await Deno.makeTempDir();
  const clock = { now: 1_000 };
  try {
    let store = openStore(`${dir}/jobdist.db`);
    const n = 25_000;
    const ids = insertScheduled(store, n, (i) => 2_000 + (n - i)); // the last inserted is first due
    store.close();

    store = openStore(`${dir}/jobdist.db`);
    const s = scheduler(store, clock);
    s.recover();
    const held = s.timers.size;
    assert.ok(held > 0 && held <= 10_000, `${held} timers after recover`);
    assert.ok(s.timers.has(`run:${ids[n - 1]}`), "the first job due is held");
    assert.equal(s.timers.has(`run:${ids[0]}`), false, "the last job due is not");

    // Everything comes due: every job is queued, each once, through refills.
    clock.now = 2_000 + n;
    s.timers.runDue();
    assert.deepEqual(store.countByState(), { queued: n });
    assert.equal(s.queuedCount, n);
    s.stop();
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Scheduler: a delayed job cancelled before its window loads never runs", async () => {
  const store = openStore(":memory:");
  const clock = { now: 1_000 };
  const s = scheduler(store, clock);
  try {
    const far = insertScheduled(store, 12_000, (i) => 10_000 + i);
    s.recover(); // as after a restart: only the first window is held
    const late = far[11_500];
    assert.equal(s.timers.has(`run:${late}`), false);
    const cancelled = await s.cancel(late);
    assert.equal(cancelled.state, "cancelled");
    // A new job due before all of them goes straight into the timers.
    const [soon] = await s.submitMany([parseJobSpec({ command: ["true"], delay: "1s" })]);
    assert.equal(soon.state, "scheduled");
    assert.ok(s.timers.has(`run:${soon.id}`));
    clock.now = 100_000;
    s.timers.runDue();
    assert.equal(store.getJob(late)!.state, "cancelled");
    assert.equal(store.getJob(soon.id)!.state, "queued");
    assert.deepEqual(store.countByState(), { queued: 12_000, cancelled: 1 });
  } finally {
    s.stop();
    store.close();
  }
});

Deno.test("Scheduler: after a restart, a delayed job past its deadline times out when it comes due", () => {
  const store = openStore(":memory:");
  const clock = { now: 10_000 };
  const spec = parseJobSpec({ command: ["true"], deadline: "2s" });
  const id = store.write(() =>
    store.insertJob({ spec, state: "scheduled", run_at: 20_000, created_at: 9_000, owner: null })
  );
  const s = scheduler(store, clock); // a restart: the job was submitted by an earlier process
  try {
    s.recover();
    clock.now = 20_000;
    s.timers.runDue();
    const row = store.getJob(id)!;
    assert.equal(row.state, "timed_out");
    assert.equal(row.reason, "deadline of 2s passed");
    assert.equal(s.queuedCount, 0);
  } finally {
    s.stop();
    store.close();
  }
});
