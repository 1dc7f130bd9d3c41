import assert from "node:assert/strict";
import { Logger } from "../../src/log.ts";
import { logServerEvents } from "../../src/server/event_log.ts";
import { startTestAgent, startTestServer, waitForJob, waitUntil } from "../helpers.ts";

type Line = Record<string, unknown>;

function capture(level: "debug" | "info") {
  const lines: Line[] = [];
  const log = new Logger({ format: "json", level, write: (l) => lines.push(JSON.parse(l)) });
  const find = (msg: string) => lines.find((l) => l.msg === msg);
  return { log, lines, find };
}

Deno.test("logServerEvents() logs agents connecting, disconnecting and being lost", async () => {
  const server = await startTestServer({ heartbeatMs: 100, lostAfterMs: 300 });
  const ac = new AbortController();
  const { log, lines, find } = capture("info");
  logServerEvents(server.scheduler, log, ac.signal);
  try {
    const agent = startTestAgent(server.url, { name: "coming-and-going", slots: 3 });
    await waitUntil(() => find("agent connected"));
    const connected = find("agent connected")!;
    const id = connected.agent_id;
    assert.equal(typeof id, "string");
    assert.deepEqual([connected.level, connected.agent, connected.slots], [
      "info",
      "coming-and-going",
      3,
    ]);
    await agent.stop();
    await waitUntil(() => find("agent lost"), 10_000, "agent lost");
    assert.deepEqual(
      lines.map((l) => [l.msg, l.level, l.agent_id]),
      [
        ["agent connected", "info", id],
        ["agent disconnected", "info", id],
        ["agent lost", "warn", id],
      ],
    );
  } finally {
    ac.abort();
    await server.stop();
  }
});

Deno.test("logServerEvents() logs a cancellation at info and every step of a job at debug", async () => {
  const server = await startTestServer();
  const ac = new AbortController();
  const info = capture("info");
  const debug = capture("debug");
  logServerEvents(server.scheduler, info.log, ac.signal);
  logServerEvents(server.scheduler, debug.log, ac.signal);
  const agent = startTestAgent(server.url, { name: "worker" });
  try {
    const ok = await server.client.submit({ shell: "true" });
    await waitForJob(server.client, ok.id);
    // No agent has the label: it waits, queued, until cancelled.
    const held = await server.client.submit({
      shell: "true",
      queue: "mars",
      requires: { labels: { zone: "mars" } },
    });
    await server.client.cancel(held.id);
    await waitForJob(server.client, held.id);
    await waitUntil(() => info.find("job cancelled"));

    const jobLines = (c: ReturnType<typeof capture>, id: number) =>
      c.lines.filter((l) => l.job_id === id).map((l) => l.msg);
    assert.deepEqual(jobLines(info, ok.id), []);
    assert.deepEqual(jobLines(debug, ok.id), [
      "job queued",
      "job assigned",
      "job started",
      "job succeeded",
    ]);
    assert.deepEqual(jobLines(info, held.id), ["job cancelled"]);
    assert.equal(info.find("job cancelled")!.queue, "mars");
    assert.match(String(info.find("job cancelled")!.reason), /cancel/);
    assert.equal(info.find("job cancelled")!.attempt_id, undefined, "it never had an attempt");
  } finally {
    ac.abort();
    await agent.stop();
    await server.stop();
  }
});
