/**
 * Jobs that flood their output: 2 GB on stdout, and one 100 MB line. The memory of the server
 * and agent processes stays bounded (RSS read from `/proc`), and the stored log respects the
 * caps with visible markers. Real server and agent child processes.
 */

import assert from "node:assert/strict";
import { logText } from "../helpers.ts";
import { checkJobs, Fixture, rssBytes, uniqueSeconds } from "./fault_helpers.ts";

const MiB = 1024 * 1024;
/** RSS either process may reach (a Deno process idles near 100 MB). */
const RSS_LIMIT = 400 * MiB;

/** Samples the RSS of `pids` every 100 ms until `stop()`; returns the peaks. */
function sampleRss(pids: number[]) {
  const peaks = pids.map(() => 0);
  const timer = setInterval(() => {
    pids.forEach((pid, i) => peaks[i] = Math.max(peaks[i], rssBytes(pid)));
  }, 100);
  return {
    stop(): number[] {
      clearInterval(timer);
      return peaks;
    },
  };
}

Deno.test("faults: 2 GB of stdout and a 100 MB line: server and agent memory stay bounded", async () => {
  const f = await Fixture.create();
  try {
    const srv = await f.server();
    const agent = await f.agent(srv.url, "flooded", 2);
    const rss = sampleRss([srv.pid, agent.pid]);
    let peaks: number[] = [];
    let jobs;
    try {
      const flood = await srv.client.submit({
        // 2 GiB of 1000-byte lines.
        shell: "yes \"$(head -c 999 /dev/zero | tr '\\0' a)\" | head -c 2G; echo tail",
      });
      const line = await srv.client.submit({
        shell: "echo before; head -c 100M /dev/zero | tr '\\0' b; echo; echo after",
      });
      jobs = await checkJobs(srv.client, [flood.id, line.id], 150_000);
    } finally {
      peaks = rss.stop();
    }
    const [flood, line] = jobs;
    const [serverPeak, agentPeak] = peaks;
    assert.ok(serverPeak > 0 && agentPeak > 0, "RSS was sampled");
    assert.ok(serverPeak < RSS_LIMIT, `server RSS peaked at ${Math.round(serverPeak / MiB)} MiB`);
    assert.ok(agentPeak < RSS_LIMIT, `agent RSS peaked at ${Math.round(agentPeak / MiB)} MiB`);

    assert.equal(flood.state, "succeeded");
    assert.equal(flood.attempt_count, 1, "the flood did not cost its agent");
    assert.equal(line.attempt_count, 1, "the long line did not cost its agent");
    // At most the cap plus what the server's guard lets through (see the test below).
    assert.ok(flood.output_bytes <= 17 * MiB + 256 * 1024, `${flood.output_bytes} bytes`);
    const stdout = await logText(srv.client, flood.id, "stdout");
    assert.ok(/^(a{999}\n)+a*$/.test(stdout.slice(0, 4 * MiB)), "stdout is the job's lines");

    assert.equal(line.state, "succeeded");
    const out = await logText(srv.client, line.id, "stdout");
    assert.ok(out.length < 2 * MiB, `the long line stored ${out.length} bytes`);
    assert.match(out, /^before\nb+\[jobdist: line truncated \d+ bytes\]\nafter\n$/);
    assert.deepEqual(await f.settledLeftovers(), []);
  } finally {
    await f.cleanup();
  }
});

// A flood used to cost its agent: one frame per line part and one log_ack per frame starved
// the agent's event loop until it missed heartbeats.
Deno.test("faults: a flood past the output cap is cut once with the marker and costs no agent", async () => {
  const f = await Fixture.create();
  try {
    const srv = await f.server();
    await f.agent(srv.url, "flooded", 2);
    const quiet = uniqueSeconds(3);
    f.markers.add(quiet);
    // A neighbour on the same agent: the flood must not cost it its agent.
    const neighbour = await srv.client.submit({ shell: `sleep ${quiet}; echo quiet` });
    const flood = await srv.client.submit({
      // 256 MiB of 1000-byte lines.
      shell: "yes \"$(head -c 999 /dev/zero | tr '\\0' a)\" | head -c 256M; echo tail",
    });
    const jobs = await checkJobs(srv.client, [flood.id, neighbour.id], 120_000);
    for (const job of jobs) {
      assert.equal(job.state, "succeeded", `job ${job.id}`);
      assert.equal(job.attempt_count, 1, `job ${job.id} was requeued: the agent was lost`);
    }
    assert.equal(await logText(srv.client, neighbour.id), "quiet\n");
    const cap = 16 * MiB;
    const marker = `\n[jobdist: truncated ${256 * MiB + "tail\n".length - cap} bytes]\n`;
    assert.equal(jobs[0].output_bytes, cap + marker.length, "stored bytes of the flood");
    const stdout = await logText(srv.client, flood.id, "stdout");
    assert.equal(stdout.length, cap, "stdout is cut at the default cap");
    const line = "a".repeat(999) + "\n";
    const whole = Math.floor(cap / line.length);
    assert.ok(
      stdout === line.repeat(whole) + "a".repeat(cap - whole * line.length),
      "stdout is the job's lines, in order",
    );
    assert.equal(await logText(srv.client, flood.id, "stderr"), marker);
  } finally {
    await f.cleanup();
  }
});

// The worst case of the same: `yes` made one frame, one row and one log_ack per 2 bytes.
Deno.test(
  "faults: a job printing 4 MB of 2-byte lines finishes in one attempt with its output whole",
  {},
  async () => {
    const f = await Fixture.create();
    try {
      const srv = await f.server();
      await f.agent(srv.url, "chatty", 2);
      const job = await srv.client.submit({ shell: "yes | head -c 4M" });
      const [done] = await checkJobs(srv.client, [job.id], 30_000);
      assert.equal(done.state, "succeeded");
      assert.equal(done.attempt_count, 1, "the agent was lost on the way");
      assert.equal(done.output_bytes, 4 * MiB);
      assert.equal(await logText(srv.client, job.id), "y\n".repeat(2 * MiB));
    } finally {
      await f.cleanup();
    }
  },
);
