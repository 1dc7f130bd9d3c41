/**
 * The agent's connection is cut (by a TCP proxy between agent and server) for less than the
 * grace period: nothing is requeued or run twice, and the job's output arrives complete and in
 * order. Real server and agent child processes.
 */

import assert from "node:assert/strict";
import { logText } from "../helpers.ts";
import { checkJobs, Fixture, sleep, TcpProxy, uniqueSeconds, waitUntil } from "./fault_helpers.ts";

Deno.test("faults: a connection cut shorter than the grace: no requeue, no duplicate, logs whole and in order", async () => {
  const f = await Fixture.create();
  const srv = await f.server({ heartbeat: "300ms", lostAfter: "5s" });
  const proxy = new TcpProxy({ hostname: "127.0.0.1", port: srv.port });
  try {
    const agent = await f.agent(proxy.url, "behind-proxy", 2);
    const tick = uniqueSeconds(0.1);
    f.markers.add(tick);
    const lines = 40;
    const job = await srv.client.submit({
      shell: `i=1; while [ $i -le ${lines} ]; do echo "line $i"; i=$((i+1)); sleep ${tick}; done`,
    });
    await waitUntil(
      async () => (await logText(srv.client, job.id)).includes("line 5\n"),
      30_000,
      "the first lines",
    );
    const before = proxy.forwarded;
    proxy.cut();
    await waitUntil(
      async () =>
        (await srv.client.agents()).agents.find((a) => a.id === agent.id)?.status ===
          "disconnected",
      5_000,
      "the server to see the agent disconnected",
    );
    await sleep(1_000);
    const duringCut = await logText(srv.client, job.id);
    proxy.restore();
    await waitUntil(() => proxy.forwarded > before, 10_000, "the agent to redial");

    const [done] = await checkJobs(srv.client, [job.id], 30_000);
    assert.equal(done.state, "succeeded");
    assert.equal(done.attempt_count, 1, "no requeue");
    assert.equal(done.attempts![0].agent_id, agent.id);
    const expected = Array.from({ length: lines }, (_, i) => `line ${i + 1}\n`).join("");
    assert.ok(!duringCut.includes(`line ${lines}\n`), "the job was still running during the cut");
    assert.equal(await logText(srv.client, job.id), expected);
    const view = (await srv.client.agents()).agents.find((a) => a.id === agent.id);
    assert.ok(view?.status === "idle" || view?.status === "busy", `agent is ${view?.status}`);
    assert.deepEqual(await f.settledLeftovers(), []);
  } finally {
    await proxy.close();
    await f.cleanup();
  }
});
