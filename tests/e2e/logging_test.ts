import assert from "node:assert/strict";
import { Client } from "../../src/cli/client.ts";
import { spawnJobdist, waitForJob, waitUntil } from "../helpers.ts";

type Line = Record<string, unknown>;

/** Every stderr line of a child, parsed as JSON (fails on a line that is not JSON). */
function parsed(stderr: string[]): Line[] {
  return stderr.map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      throw new Error(`Not a JSON line: ${l}`);
    }
  });
}

Deno.test("e2e: --log-format json writes one JSON object per line, with the ids of a real job run", async () => {
  const dir = await Deno.makeTempDir();
  const server = spawnJobdist([
    "server",
    "--listen",
    "127.0.0.1:0",
    "--db",
    `${dir}/jobdist.db`,
    "--log-format",
    "json",
    "--log-level",
    "debug",
  ]);
  let agent: ReturnType<typeof spawnJobdist> | undefined;
  try {
    const url = (await server.waitFor(/listening on (http:\/\/[^\s"]+)/))[1];
    // The agent takes its settings from a configuration file: json at the default level (info).
    await Deno.writeTextFile(
      `${dir}/agent.toml`,
      `[agent]\nserver = "${url}"\nname = "logger-1"\nslots = 2\nlog-format = "json"\n`,
    );
    agent = spawnJobdist(["agent", "--config", `${dir}/agent.toml`], {
      JOBDIST_STATE_DIR: `${dir}/state`,
    });
    await agent.waitFor(/connected as logger-1/);
    const client = new Client({ server: url });
    const ok = await client.submit({ shell: "echo fine" });
    const bad = await client.submit({
      shell: "exit 3",
      max_attempts: 2,
      backoff: { initial: "10ms", max: "10ms" },
    });
    assert.equal((await waitForJob(client, ok.id)).state, "succeeded");
    const failed = await waitForJob(client, bad.id);
    assert.equal(failed.state, "failed");
    const agentId = failed.agent_id;
    assert.ok(agentId);
    await waitUntil(() => server.stderr.some((l) => l.includes('"msg":"job failed"')));

    const lines = parsed(server.stderr);
    for (const l of lines) {
      assert.equal(typeof l.time, "string");
      assert.ok(!Number.isNaN(Date.parse(l.time as string)), String(l.time));
      assert.ok(["debug", "info", "warn", "error"].includes(l.level as string), String(l.level));
      assert.equal(typeof l.msg, "string");
    }
    const find = (msg: string, jobId?: number) =>
      lines.find((l) => l.msg === msg && (jobId === undefined || l.job_id === jobId));
    assert.match(String(find(`jobdist server listening on ${url}`)?.level), /^info$/);
    assert.deepEqual(
      pick(find("agent connected"), ["level", "agent_id", "agent", "slots"]),
      { level: "info", agent_id: agentId, agent: "logger-1", slots: 2 },
    );
    assert.deepEqual(
      pick(find("job assigned", ok.id), ["level", "job_id", "attempt_id", "agent_id", "queue"]),
      {
        level: "debug",
        job_id: ok.id,
        attempt_id: `${ok.id}.1`,
        agent_id: agentId,
        queue: "default",
      },
    );
    assert.deepEqual(
      pick(find("job succeeded", ok.id), ["level", "attempt_id", "agent_id", "exit_code"]),
      { level: "debug", attempt_id: `${ok.id}.1`, agent_id: agentId, exit_code: 0 },
    );
    assert.deepEqual(
      pick(find("job will retry", bad.id), ["level", "attempt_id", "agent_id"]),
      { level: "info", attempt_id: `${bad.id}.1`, agent_id: agentId },
    );
    assert.match(String(find("job will retry", bad.id)?.reason), /exit code 3/);
    assert.deepEqual(
      pick(find("job failed", bad.id), ["level", "attempt_id", "agent_id", "exit_code"]),
      { level: "info", attempt_id: `${bad.id}.2`, agent_id: agentId, exit_code: 3 },
    );

    // The agent logs as JSON too, and at info it leaves out debug lines.
    const agentLines = parsed(agent.stderr);
    const hello = agentLines.find((l) => String(l.msg).startsWith("connected as logger-1"));
    assert.equal(hello?.level, "info");
    assert.equal(hello?.agent, "logger-1");
    assert.ok(agentLines.every((l) => l.level !== "debug"), agent.stderr.join("\n"));
  } finally {
    await agent?.kill("SIGTERM");
    await server.kill("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("e2e: --log-level warn leaves out info lines; a bad --log-level is a usage error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A free port to listen on: nothing at info means no listening line to read it from.
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = probe.addr.port;
    probe.close();
    const quiet = spawnJobdist(
      ["server", "--listen", `127.0.0.1:${port}`, "--db", `${dir}/a.db`],
      { JOBDIST_LOG_LEVEL: "warn" },
    );
    await waitUntil(async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        await res.body?.cancel();
        return res.ok;
      } catch {
        return false;
      }
    });
    assert.equal((await quiet.kill("SIGTERM")).code, 0);
    assert.deepEqual(quiet.stderr, []);

    const bad = spawnJobdist(["server", "--log-level", "loud", "--db", `${dir}/b.db`]);
    assert.equal((await bad.process.status).code, 2);
    await bad.waitFor(/Invalid --log-level "loud": expected debug, info, warn or error/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function pick(line: Line | undefined, keys: string[]): Line | undefined {
  return line && Object.fromEntries(keys.map((k) => [k, line[k]]));
}
