/**
 * End to end: the job lifecycle rules that need a real agent: queue timeout, deadline, output
 * limit policy, agent drain (remote and on SIGTERM), and a slow log follower that must not
 * stall anyone.
 */

import assert from "node:assert/strict";
import {
  logText,
  spawnJobdist,
  startTestAgent,
  startTestServer,
  waitForJob,
  waitUntil,
} from "../helpers.ts";

Deno.test("scheduler: queue_timeout ends a job no agent starts in time", async () => {
  const server = await startTestServer();
  try {
    const job = await server.client.submit({ shell: "true", queue_timeout: "300ms" });
    const done = await waitForJob(server.client, job.id, 10_000);
    assert.equal(done.state, "timed_out");
    assert.equal(done.reason, "not started within 300ms (queue_timeout)");
    assert.equal(done.attempt_count, 0);
  } finally {
    await server.stop();
  }
});

Deno.test("scheduler: a deadline kills a running job across retries", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url);
  try {
    const job = await server.client.submit({
      shell: "sleep 30",
      deadline: "1s",
      max_attempts: 5,
      kill_grace: "200ms",
    });
    const done = await waitForJob(server.client, job.id, 15_000);
    assert.equal(done.state, "timed_out");
    assert.equal(done.reason, "deadline of 1s passed");
    await waitUntil(
      async () => {
        const j = await server.client.job(job.id);
        return j.attempts?.[0].state === "timed_out" && j.attempts[0].signal === "SIGTERM";
      },
      10_000,
      "the attempt to be killed",
    );
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("scheduler: on_output_limit fail ends the job failed, without retry", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url);
  try {
    const job = await server.client.submit({
      command: ["yes"],
      max_output_bytes: 4096,
      on_output_limit: "fail",
      max_attempts: 3,
    });
    const done = await waitForJob(server.client, job.id, 15_000);
    assert.equal(done.state, "failed");
    assert.equal(done.attempt_count, 1);
    assert.match(done.reason ?? "", /output passed its limit/);
    assert.equal((await logText(server.client, job.id, "stdout")).length, 4096);
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("agents drain: a drained agent finishes its job and takes no new work", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { name: "d1", slots: 2 });
  try {
    await waitUntil(async () => (await server.client.agents()).agents.length === 1);
    const running = await server.client.submit({ shell: "sleep 0.5; echo done" });
    await waitUntil(async () => (await server.client.job(running.id)).state === "running");
    const drained = await server.client.drain("d1");
    assert.equal(drained.status, "draining");
    const waiting = await server.client.submit({ shell: "echo later" });
    assert.equal((await waitForJob(server.client, running.id)).state, "succeeded");
    await new Promise((r) => setTimeout(r, 300));
    const w = await server.client.job(waiting.id);
    assert.equal(w.state, "queued");
    assert.equal(w.reason, "every matching agent is draining");
    assert.notEqual((await server.client.drain("d1", false)).status, "draining");
    assert.equal((await waitForJob(server.client, waiting.id)).state, "succeeded");
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("agent SIGTERM: running jobs finish, then the agent exits; past the drain timeout they are requeued", async () => {
  const server = await startTestServer();
  const dir = await Deno.makeTempDir();
  const child = spawnJobdist([
    "agent",
    "--server",
    server.url,
    "--name",
    "leaving",
    "--state-dir",
    dir,
    "--drain-timeout",
    "1s",
  ]);
  try {
    await child.waitFor(/connected as leaving/);
    const quick = await server.client.submit({ shell: "sleep 0.3; echo ok" });
    const slow = await server.client.submit({ shell: "sleep 60", max_attempts: 1 });
    await waitUntil(async () => (await server.client.job(slow.id)).state === "running");
    const status = await child.kill("SIGTERM");
    assert.equal(status.code, 0);
    assert.equal((await server.client.job(quick.id)).state, "succeeded");
    const s = await server.client.job(slow.id);
    assert.equal(s.state, "queued", "the job cut off by the drain timeout went back to the queue");
    assert.equal(s.attempts?.[0].state, "lost");
  } finally {
    await child.kill("SIGKILL");
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logs follow: a reader that never reads is dropped and stalls nobody", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url);
  try {
    const noisy = await server.client.submit({
      shell: "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | head -c 40000000",
      max_output_bytes: 64 * 1024 * 1024,
    });
    // A raw connection that asks to follow and then never reads: fetch() would read eagerly.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await conn.write(new TextEncoder().encode(
      `GET /api/v1/jobs/${noisy.id}/logs?follow=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    ));
    const other = await server.client.submit({ shell: "echo fine" });
    assert.equal((await waitForJob(server.client, other.id)).state, "succeeded");
    assert.equal((await waitForJob(server.client, noisy.id, 60_000)).state, "succeeded");
    // Now read what the follower got: a prefix of the output, then the drop notice.
    const text = await new Response(conn.readable).text();
    assert.ok(text.includes("[jobdist: follower too slow, dropped]"), "the follower was dropped");
    assert.ok(text.length < 40_000_000, "it did not get the whole output");
  } finally {
    await agent.stop();
    await server.stop();
  }
});
