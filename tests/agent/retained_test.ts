import assert from "node:assert/strict";
import { MemoryBudget, RetainedOutput } from "../../src/agent/retained.ts";
import type { LogFrame } from "../../src/protocol/mod.ts";

const frame = (seq: number, data = new Uint8Array(10).fill(seq)): LogFrame => ({
  type: "log",
  attempt_id: "1.1",
  seq,
  stream: "stdout",
  data,
});

Deno.test("RetainedOutput spills past the memory budget and resends in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const budget = new MemoryBudget(35);
    const r = new RetainedOutput(budget, `${dir}/spool`);
    for (let i = 0; i < 10; i++) r.add(frame(i));
    assert.equal(r.inMemory, 3, "three frames of 10 bytes fit in 35");
    assert.ok(r.spilled);
    assert.equal(budget.used, 30);
    assert.deepEqual(r.from(2).map((f) => f.seq), [2, 3, 4, 5, 6, 7, 8, 9]);
    // Spilled frames come back whole from the spool file.
    assert.deepEqual(r.from(7)[0], frame(7));
    r.ack(5);
    assert.equal(r.inMemory, 0);
    assert.equal(budget.used, 0, "acknowledged memory is given back");
    assert.deepEqual(r.from(5).map((f) => f.seq), [5, 6, 7, 8, 9]);
    r.ack(10);
    assert.equal(r.spilled, false, "the spool file goes once everything in it is acknowledged");
    assert.equal([...Deno.readDirSync(dir)].length, 0);
    assert.deepEqual(r.from(0), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RetainedOutput.discard() frees memory and the spool file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const budget = new MemoryBudget(15);
    const r = new RetainedOutput(budget, `${dir}/spool`);
    for (let i = 0; i < 4; i++) r.add(frame(i));
    r.discard();
    assert.equal(budget.used, 0);
    assert.equal([...Deno.readDirSync(dir)].length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
