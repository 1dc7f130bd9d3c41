import assert from "node:assert/strict";
import { Worker } from "../../src/agent/worker.ts";

function worker(id: string): Worker {
  return new Worker({ id, name: id, slots: 1, labels: {}, runtimes: new Map() });
}

async function markedSleep(marker: string): Promise<Deno.ChildProcess> {
  const p = new Deno.Command("sleep", {
    args: ["30"],
    env: { JOBDIST_TRACE: marker },
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 100));
  return p;
}

Deno.test("Worker.reapOrphans() kills processes of a dead agent and its own unheld attempts", async () => {
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  const orphan = await markedSleep(`gone-agent/${dead.pid}/7.1`);
  const mineStale = await markedSleep(`me/${Deno.pid}/8.1`);
  const mineOldRun = await markedSleep(`me/${dead.pid}/9.1`);
  const othersLive = await markedSleep(`other-agent/${Deno.pid}/10.1`);
  try {
    // At least these three: orphans of agents other tests killed (run in parallel) count too.
    const killed = worker("me").reapOrphans();
    assert.ok(killed >= 3, `killed ${killed}`);
    for (const p of [orphan, mineStale, mineOldRun]) {
      assert.equal((await p.status).signal, "SIGKILL");
    }
    const race = await Promise.race([
      othersLive.status.then(() => "died"),
      new Promise((r) => setTimeout(() => r("alive"), 200)),
    ]);
    assert.equal(race, "alive", "a live agent's job is left alone");
  } finally {
    othersLive.kill("SIGKILL");
    await othersLive.status;
  }
});
