/**
 * The agent's connection is cut (by a TCP proxy between agent and server) for less than the
 * grace period: nothing is requeued or run twice, and the job's output arrives complete and in
 * order. Real server and agent child processes.
 */

import assert from "node:assert/strict";
import type { Client } from "../../src/cli/client.ts";
import { logText } from "../helpers.ts";
import {
  alive,
  checkJobs,
  Fixture,
  sleep,
  TcpProxy,
  uniqueSeconds,
  waitUntil,
} from "./fault_helpers.ts";

/** Cuts the agent's connection and waits until the server sees the agent disconnected. */
async function cutOff(proxy: TcpProxy, client: Client, agentId: string): Promise<void> {
  proxy.cut();
  await waitUntil(
    async () =>
      (await client.agents()).agents.find((a) => a.id === agentId)?.status === "disconnected",
    5_000,
    "the server to see the agent disconnected",
  );
}

/** Restores the connection and waits until the agent has redialled (`before`: bytes so far). */
async function reconnect(proxy: TcpProxy, before: number): Promise<void> {
  proxy.restore();
  await waitUntil(() => proxy.forwarded > before, 10_000, "the agent to redial");
}

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
    await cutOff(proxy, srv.client, agent.id);
    await sleep(1_000);
    const duringCut = await logText(srv.client, job.id);
    await reconnect(proxy, before);

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

// The cancel cannot reach a cut-off agent; the server repeats it when the agent is back.
Deno.test(
  "faults: a job cancelled while its agent is cut off is killed when the agent comes back",
  async () => {
    const f = await Fixture.create();
    const srv = await f.server({ heartbeat: "300ms", lostAfter: "5s" });
    const proxy = new TcpProxy({ hostname: "127.0.0.1", port: srv.port });
    try {
      const agent = await f.agent(proxy.url, "cut-off", 2);
      const secs = uniqueSeconds(1000);
      f.markers.add(secs);
      const job = await srv.client.submit({ shell: `echo up; sleep ${secs}` });
      await waitUntil(
        async () => (await logText(srv.client, job.id)).includes("up\n"),
        30_000,
        "the job to start",
      );
      const sleeper = await waitUntil(
        () => f.leftovers().find((p) => p.cmdline.startsWith(`sleep ${secs}`)),
        10_000,
        "the sleep process",
      );
      await cutOff(proxy, srv.client, agent.id);
      // The cancel cannot reach the agent now; it must still take effect once it is back.
      assert.equal((await srv.client.cancel(job.id)).state, "cancelled");
      const before = proxy.forwarded;
      await reconnect(proxy, before);
      await waitUntil(() => !alive(sleeper.pid), 10_000, "the cancelled job's process to die");
      const [done] = await checkJobs(srv.client, [job.id], 10_000);
      assert.equal(done.state, "cancelled");
      assert.equal(done.attempts![0].state, "cancelled");
      assert.deepEqual(await f.settledLeftovers(), []);
    } finally {
      await proxy.close();
      await f.cleanup();
    }
  },
);

// Output printed during the cut is resent before the result, which arrives in the inventory.
Deno.test("faults: a job that ends while its agent is cut off keeps its whole output", async () => {
  const f = await Fixture.create();
  const srv = await f.server({ heartbeat: "300ms", lostAfter: "5s" });
  const proxy = new TcpProxy({ hostname: "127.0.0.1", port: srv.port });
  try {
    const agent = await f.agent(proxy.url, "cut-off", 2);
    const release = `${f.dir}/release`;
    const tick = uniqueSeconds(0.1);
    f.markers.add(tick);
    const job = await srv.client.submit({
      shell: `echo first; while [ ! -e ${release} ]; do sleep ${tick}; done; echo last`,
    });
    await waitUntil(
      async () => (await logText(srv.client, job.id)).includes("first\n"),
      30_000,
      "the job to start",
    );
    await cutOff(proxy, srv.client, agent.id);
    // The job prints its last line and exits while nobody can hear it.
    await Deno.writeTextFile(release, "");
    await waitUntil(
      () => !f.leftovers().some((p) => p.cmdline.includes(release)),
      10_000,
      "the job to exit",
    );
    const before = proxy.forwarded;
    await reconnect(proxy, before);
    const [done] = await checkJobs(srv.client, [job.id], 10_000);
    assert.equal(done.state, "succeeded");
    assert.equal(done.attempt_count, 1);
    assert.equal(await logText(srv.client, job.id), "first\nlast\n");
  } finally {
    await proxy.close();
    await f.cleanup();
  }
});

// Output printed during a cut is kept on disk past the agent's memory budget, then resent whole.
Deno.test("faults: output past the agent's memory budget during a cut spills to disk and arrives whole", async () => {
  const f = await Fixture.create();
  const srv = await f.server({ heartbeat: "300ms", lostAfter: "10s" });
  const proxy = new TcpProxy({ hostname: "127.0.0.1", port: srv.port });
  try {
    const agent = await f.agent(proxy.url, "spiller", 1, ["--output-memory", "65536"]);
    const job = await srv.client.submit({
      shell: "echo start; sleep 1.5; seq 1 100000 | sed 's/^/line /'; sleep 1; echo end",
    });
    await waitUntil(
      async () => (await logText(srv.client, job.id)).startsWith("start\n"),
      30_000,
      "the job to start",
    );
    proxy.cut();
    const spoolPrefix = `jobdist-spool-${agent.id}-`;
    const spoolFiles = () =>
      [...Deno.readDirSync(f.dir)].filter((e) => e.name.startsWith(spoolPrefix));
    await waitUntil(() => spoolFiles().length > 0, 15_000, "output to spill to disk");
    proxy.restore();
    const [done] = await checkJobs(srv.client, [job.id], 60_000);
    assert.equal(done.state, "succeeded");
    assert.equal(done.attempt_count, 1, "no requeue");
    const lines = Array.from({ length: 100_000 }, (_, i) => `line ${i + 1}\n`).join("");
    assert.ok(
      (await logText(srv.client, job.id)) === `start\n${lines}end\n`,
      "output whole, in order",
    );
    await waitUntil(() => spoolFiles().length === 0, 10_000, "the spool file to be removed");
  } finally {
    await proxy.close();
    await f.cleanup();
  }
});
