import assert from "node:assert/strict";
import {
  matches,
  needsOf,
  type Offer,
  QueueIndex,
  unmetNeed,
} from "../../src/server/queue_index.ts";

function offer(
  name: string,
  runtimes: string[] = [],
  labels: Record<string, string> = {},
  id = `id-${name}`,
): Offer {
  return { id, name, runtimes: new Set(runtimes), labels, slots: 4, used: 0 };
}

const anything = needsOf(undefined, []);

Deno.test("needsOf() normalises requirements so equal needs compare equal", () => {
  const a = needsOf({ labels: { zone: "eu", arch: "arm" }, agents: ["b", "a"] }, [
    "python",
    "go",
    "python",
  ]);
  const b = needsOf({ labels: { arch: "arm", zone: "eu" }, agents: ["a", "b"] }, ["go", "python"]);
  assert.deepEqual(a, {
    runtimes: ["go", "python"],
    labels: { arch: "arm", zone: "eu" },
    agents: ["a", "b"],
    slots: 1,
  });
  assert.equal(JSON.stringify(a), JSON.stringify(b));
});

Deno.test("matches() checks runtimes, labels and agent names", () => {
  const agent = offer("build-1", ["python", "bash"], { zone: "eu", gpu: "yes" }, "a1");
  assert.ok(matches(anything, agent));
  assert.ok(matches(needsOf(undefined, ["python"]), agent));
  assert.ok(!matches(needsOf(undefined, ["python", "go"]), agent));
  assert.ok(matches(needsOf({ labels: { zone: "eu" } }, []), agent));
  assert.ok(!matches(needsOf({ labels: { zone: "us" } }, []), agent));
  assert.ok(!matches(needsOf({ labels: { rack: "1" } }, []), agent));
  assert.ok(matches(needsOf({ agents: ["build-1"] }, []), agent));
  assert.ok(matches(needsOf({ agents: ["a1"] }, []), agent), "by id");
  assert.ok(matches(needsOf({ agents: ["other", "build-1"] }, []), agent));
  assert.ok(!matches(needsOf({ agents: ["build-2"] }, []), agent));
});

Deno.test("QueueIndex.take() hands out higher priority first, then oldest first", () => {
  const index = new QueueIndex();
  index.add({ id: 1, priority: 0, queue: "default" }, anything);
  index.add({ id: 2, priority: 5, queue: "default" }, anything);
  index.add({ id: 3, priority: 0, queue: "default" }, anything);
  index.add({ id: 4, priority: 5, queue: "other" }, anything);
  index.add({ id: 5, priority: -3, queue: "default" }, needsOf(undefined, ["bash"]));
  index.add({ id: 6, priority: 0, queue: "default" }, needsOf(undefined, ["bash"]));
  assert.equal(index.size, 6);
  const agent = offer("a", ["bash"]);
  const order: number[] = [];
  for (let j = index.take(agent); j; j = index.take(agent)) order.push(j.id);
  assert.deepEqual(order, [2, 4, 1, 3, 6, 5]);
  assert.equal(index.size, 0);
  assert.deepEqual([...index.groups()], []);
});

Deno.test("QueueIndex.take() skips jobs the agent cannot run", () => {
  const index = new QueueIndex();
  index.add({ id: 1, priority: 9, queue: "default" }, needsOf(undefined, ["go"]));
  index.add({ id: 2, priority: 0, queue: "default" }, needsOf({ labels: { zone: "eu" } }, []));
  index.add({ id: 3, priority: 0, queue: "default" }, needsOf({ agents: ["build-2"] }, []));
  index.add({ id: 4, priority: -1, queue: "default" }, anything);

  const plain = offer("build-1", ["python"], { zone: "us" });
  assert.equal(index.take(plain)?.id, 4);
  assert.equal(index.take(plain), undefined);
  assert.equal(index.size, 3);

  assert.equal(index.take(offer("x", ["go"]))?.id, 1);
  assert.equal(index.take(offer("y", [], { zone: "eu" }))?.id, 2);
  assert.equal(index.take(offer("build-1")), undefined);
  assert.equal(index.take(offer("build-2"))?.id, 3);
});

Deno.test("QueueIndex.take() only takes from allowed queues", () => {
  const index = new QueueIndex();
  index.add({ id: 1, priority: 10, queue: "gpu" }, anything);
  index.add({ id: 2, priority: 0, queue: "default" }, anything);
  const agent = offer("a");
  assert.equal(index.take(agent, (q) => q !== "gpu")?.id, 2);
  assert.equal(index.take(agent, (q) => q !== "gpu"), undefined);
  assert.equal(index.take(agent)?.id, 1);
});

Deno.test("QueueIndex.delete() removes a queued job", () => {
  const index = new QueueIndex();
  const needs = needsOf(undefined, ["python"]);
  index.add({ id: 1, priority: 0, queue: "default" }, needs);
  index.add({ id: 2, priority: 0, queue: "default" }, needs);
  assert.ok(index.has(1));
  assert.deepEqual(index.needsOf(1), needs);
  assert.equal(index.delete(1), true);
  assert.equal(index.delete(1), false);
  assert.equal(index.has(1), false);
  assert.equal(index.needsOf(1), undefined);
  assert.equal(index.take(offer("a", ["python"]))?.id, 2);
  assert.equal(index.delete(2), false, "taken jobs are gone");
  assert.deepEqual([...index.groups()], []);
});

Deno.test("QueueIndex.add() groups jobs by queue and needs", () => {
  const index = new QueueIndex();
  index.add({ id: 1, priority: 0, queue: "a" }, needsOf(undefined, ["go", "python"]));
  index.add({ id: 2, priority: 0, queue: "a" }, needsOf(undefined, ["python", "go"]));
  index.add({ id: 3, priority: 0, queue: "b" }, needsOf(undefined, ["python", "go"]));
  index.add({ id: 4, priority: 0, queue: "a" }, anything);
  assert.equal([...index.groups()].length, 3);
});

Deno.test("unmetNeed() says no agent is connected when there are none", () => {
  assert.equal(unmetNeed(anything, []), "no agent is connected");
  assert.equal(unmetNeed(needsOf(undefined, ["go"]), []), "no agent is connected");
});

Deno.test("unmetNeed() is null when some agent meets every need", () => {
  const needs = needsOf({ labels: { zone: "eu" } }, ["go"]);
  assert.equal(
    unmetNeed(needs, [offer("a", ["python"]), offer("b", ["go"], { zone: "eu" })]),
    null,
  );
  assert.equal(unmetNeed(anything, [offer("a")]), null);
});

Deno.test("unmetNeed() names the missing runtime, label or agent", () => {
  const agents = [offer("build-1", ["python"], { zone: "eu" }), offer("build-2", ["bash"])];
  assert.equal(
    unmetNeed(needsOf(undefined, ["go"]), agents),
    "no connected agent has runtime go",
  );
  assert.equal(
    unmetNeed(needsOf({ labels: { zone: "us" } }, []), agents),
    "no connected agent has label zone=us",
  );
  assert.equal(
    unmetNeed(needsOf({ agents: ["build-9", "build-7"] }, []), agents),
    "no connected agent is named build-7 or build-9",
  );
});

Deno.test("unmetNeed() explains needs that no single agent meets together", () => {
  const agents = [offer("a", ["python"]), offer("b", [], { zone: "eu" })];
  assert.equal(
    unmetNeed(needsOf({ labels: { zone: "eu" } }, ["python"]), agents),
    "no connected agent meets all of the job's requirements together",
  );
});
