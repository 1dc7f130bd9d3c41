import assert from "node:assert/strict";
import { TimerQueue } from "../../src/server/timers.ts";

/** A queue on a fake clock whose host timer is stopped; tests call runDue() themselves. */
function manual(start = 1_000) {
  const clock = { now: start };
  const timers = new TimerQueue({ now: () => clock.now });
  timers.stop();
  return { clock, timers };
}

Deno.test("TimerQueue.runDue() fires due deadlines in time order", () => {
  const { clock, timers } = manual();
  const fired: string[] = [];
  timers.set("c", 1_300, () => fired.push("c"));
  timers.set("a", 1_100, () => fired.push("a"));
  timers.set("b", 1_200, () => fired.push("b"));
  timers.set("later", 5_000, () => fired.push("later"));
  assert.equal(timers.runDue(), 0);
  clock.now = 1_250;
  assert.equal(timers.runDue(), 2);
  assert.deepEqual(fired, ["a", "b"]);
  clock.now = 1_300; // due exactly now
  assert.equal(timers.runDue(), 1);
  assert.deepEqual(fired, ["a", "b", "c"]);
  assert.equal(timers.size, 1);
  assert.ok(timers.has("later"));
});

Deno.test("TimerQueue.runDue() fires equal deadlines in insertion order", () => {
  const { clock, timers } = manual();
  const fired: number[] = [];
  for (let i = 0; i < 50; i++) timers.set(`k${i}`, 1_500, () => fired.push(i));
  clock.now = 2_000;
  timers.runDue();
  assert.deepEqual(fired, [...Array(50).keys()]);
});

Deno.test("TimerQueue.delete() cancels a deadline", () => {
  const { clock, timers } = manual();
  const fired: string[] = [];
  timers.set("a", 1_100, () => fired.push("a"));
  timers.set("b", 1_100, () => fired.push("b"));
  timers.delete("a");
  timers.delete("missing");
  assert.equal(timers.has("a"), false);
  clock.now = 2_000;
  timers.runDue();
  assert.deepEqual(fired, ["b"]);
  assert.equal(timers.size, 0);
});

Deno.test("TimerQueue.set() on an existing key reschedules it", () => {
  const { clock, timers } = manual();
  const fired: string[] = [];
  timers.set("x", 1_100, () => fired.push("x-old"));
  timers.set("y", 1_200, () => fired.push("y"));
  timers.set("x", 1_300, () => fired.push("x-new"));
  assert.equal(timers.size, 2);
  clock.now = 1_250;
  timers.runDue();
  assert.deepEqual(fired, ["y"]);
  clock.now = 1_300;
  timers.runDue();
  assert.deepEqual(fired, ["y", "x-new"]);
  // Moving a deadline earlier works too.
  timers.set("z", 9_000, () => fired.push("z"));
  timers.set("z", 1_000, () => fired.push("z-early"));
  timers.runDue();
  assert.deepEqual(fired, ["y", "x-new", "z-early"]);
});

Deno.test("TimerQueue.runDue() fires deadlines set by a callback when they are already due", () => {
  const { clock, timers } = manual();
  const fired: string[] = [];
  timers.set("first", 1_000, () => {
    fired.push("first");
    timers.set("second", 900, () => fired.push("second"));
    timers.set("future", 99_000, () => fired.push("future"));
  });
  clock.now = 1_000;
  assert.equal(timers.runDue(), 2);
  assert.deepEqual(fired, ["first", "second"]);
});

Deno.test("TimerQueue.runDue() keeps firing after a callback throws", () => {
  const { clock, timers } = manual();
  const fired: string[] = [];
  const error = console.error;
  console.error = () => {};
  try {
    timers.set("bad", 1_000, () => {
      throw new Error("boom");
    });
    timers.set("good", 1_001, () => fired.push("good"));
    clock.now = 1_001;
    assert.equal(timers.runDue(), 2);
  } finally {
    console.error = error;
  }
  assert.deepEqual(fired, ["good"]);
});

Deno.test("TimerQueue fires on its own host timer", async () => {
  const timers = new TimerQueue();
  try {
    const order: string[] = [];
    const done = new Promise<void>((resolve) => {
      timers.set("b", Date.now() + 20, () => {
        order.push("b");
        resolve();
      });
      timers.set("a", Date.now() + 5, () => order.push("a"));
      timers.set("cancelled", Date.now() + 1, () => order.push("cancelled"));
      timers.delete("cancelled");
    });
    await done;
    assert.deepEqual(order, ["a", "b"]);
    assert.equal(timers.size, 0);
  } finally {
    timers.stop();
  }
});

Deno.test("TimerQueue.stop() keeps pending deadlines from firing", async () => {
  const timers = new TimerQueue();
  let fired = false;
  timers.set("x", Date.now() + 5, () => (fired = true));
  timers.stop();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fired, false);
  assert.equal(timers.size, 1);
});

Deno.test("TimerQueue.runDue() fires 1M deadlines in time order", () => {
  const { clock, timers } = manual(0);
  const n = 1_000_000;
  let s = 7;
  const at = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    at[i] = s % 100_000; // plenty of ties
  }
  let last = -1;
  let lastIndex = -1;
  let fired = 0;
  let outOfOrder = 0;
  for (let i = 0; i < n; i++) {
    const t = at[i];
    timers.set(`t${i}`, t, () => {
      // Time order, and insertion order among equal times.
      if (t < last || (t === last && i < lastIndex)) outOfOrder++;
      last = t;
      lastIndex = i;
      fired++;
    });
  }
  assert.equal(timers.size, n);
  clock.now = 50_000;
  const half = timers.runDue();
  assert.ok(half > 0 && half < n);
  assert.ok(last <= 50_000);
  clock.now = Infinity;
  assert.equal(timers.runDue() + half, n);
  assert.equal(fired, n);
  assert.equal(outOfOrder, 0);
  assert.equal(timers.size, 0);
});

Deno.test("TimerQueue keeps time order with 1M deadlines after cancelling and rescheduling many", () => {
  const { clock, timers } = manual(0);
  const n = 1_000_000;
  const at = new Float64Array(n);
  let s = 3;
  const next = () => (s = (s * 1664525 + 1013904223) >>> 0);
  let fired = 0;
  let last = -1;
  let outOfOrder = 0;
  const fire = (i: number) => () => {
    if (at[i] < last) outOfOrder++;
    if (at[i] === -1) throw new Error(`cancelled deadline ${i} fired`);
    last = at[i];
    fired++;
  };
  for (let i = 0; i < n; i++) {
    at[i] = next() % 1_000_000;
    timers.set(`t${i}`, at[i], fire(i));
  }
  let cancelled = 0;
  for (let i = 0; i < n; i += 3) {
    timers.delete(`t${i}`);
    at[i] = -1;
    cancelled++;
  }
  for (let i = 1; i < n; i += 3) {
    at[i] = next() % 2_000_000; // earlier or later than before
    timers.set(`t${i}`, at[i], fire(i));
  }
  assert.equal(timers.size, n - cancelled);
  clock.now = 999_999;
  timers.runDue();
  assert.ok(last <= 999_999);
  clock.now = Infinity;
  timers.runDue();
  assert.equal(fired, n - cancelled);
  assert.equal(outOfOrder, 0);
  assert.equal(timers.size, 0);
});
