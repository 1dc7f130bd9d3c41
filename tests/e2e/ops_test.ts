import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { startTestAgent, startTestServer, waitForJob, waitUntil } from "../helpers.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses Prometheus text exposition strictly enough to catch format mistakes: every sample
 * belongs to a family declared by HELP and TYPE before it, label syntax is valid, histogram
 * buckets are cumulative and end in +Inf equal to _count.
 */
function parseExposition(text: string): Map<string, Sample[]> {
  assert.ok(text.endsWith("\n"), "exposition ends with a newline");
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples = new Map<string, Sample[]>();
  const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/;
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# HELP ")) {
      helps.add(line.split(" ")[2]);
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      assert.ok(["gauge", "counter", "histogram"].includes(type), line);
      assert.ok(helps.has(name), `HELP before TYPE for ${name}`);
      types.set(name, type);
      continue;
    }
    const m = line.match(sampleRe);
    assert.ok(m, `not a sample line: ${line}`);
    const [, name, labelText = "", value] = m;
    const family = name.replace(/_(bucket|sum|count)$/, "");
    assert.ok(types.has(name) || types.get(family) === "histogram", `undeclared ${name}`);
    const labels: Record<string, string> = {};
    labelRe.lastIndex = 0;
    while (labelRe.lastIndex < labelText.length) {
      const lm = labelRe.exec(labelText);
      assert.ok(lm, `bad labels in ${line}`);
      labels[lm[1]] = lm[2];
    }
    const list = samples.get(name) ?? [];
    list.push({ name, labels, value: Number(value) });
    samples.set(name, list);
  }
  for (const [name, type] of types) {
    if (type !== "histogram") continue;
    const buckets = samples.get(`${name}_bucket`) ?? [];
    const bySeries = Map.groupBy(
      buckets,
      (b) => JSON.stringify({ ...b.labels, le: undefined }),
    );
    for (const [key, series] of bySeries) {
      for (let i = 1; i < series.length; i++) {
        assert.ok(series[i].value >= series[i - 1].value, `${name} buckets are cumulative`);
      }
      const inf = series[series.length - 1];
      assert.equal(inf.labels.le, "+Inf");
      const count = samples.get(`${name}_count`)!.find((c) =>
        JSON.stringify({ ...c.labels, le: undefined }) === key
      );
      assert.equal(count?.value, inf.value);
    }
  }
  return samples;
}

function value(
  samples: Map<string, Sample[]>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.get(name)?.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

Deno.test("/metrics parses as Prometheus text and moves when jobs run", async () => {
  const dir = await Deno.makeTempDir();
  const server = await startTestServer({ db: `${dir}/jobdist.db` });
  try {
    const scrape = async () => {
      const res = await fetch(`${server.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
      return parseExposition(await res.text());
    };
    let m = await scrape();
    assert.equal(value(m, "jobdist_agents", { status: "idle" }), 0);
    assert.ok(value(m, "jobdist_sqlite_bytes", { file: "db" })! > 0);

    // Two queued jobs with no agent: queue depth and age of the oldest.
    const a = await server.client.submit({ shell: "sleep 0.5; exit 0", queue: "q1" });
    const b = await server.client.submit({ shell: "sleep 0.5; exit 3", queue: "q1" });
    await new Promise((r) => setTimeout(r, 50));
    m = await scrape();
    assert.equal(value(m, "jobdist_queue_depth", { queue: "q1" }), 2);
    assert.ok(value(m, "jobdist_queue_oldest_age_seconds", { queue: "q1" })! >= 0.04);
    assert.equal(value(m, "jobdist_jobs", { state: "queued", queue: "q1" }), 2);

    const agent = startTestAgent(server.url, { name: "m1", slots: 2 });
    try {
      await waitUntil(async () => value(await scrape(), "jobdist_slots_used") === 2);
      m = await scrape();
      assert.equal(value(m, "jobdist_agents", { status: "busy" }), 1);
      assert.equal(value(m, "jobdist_websocket_connections", { kind: "agent" }), 1);
      assert.equal(value(m, "jobdist_slots_total"), 2);
      await waitForJob(server.client, a.id);
      await waitForJob(server.client, b.id);
      m = await scrape();
      assert.equal(value(m, "jobdist_queue_depth", { queue: "q1" }), undefined);
      assert.equal(value(m, "jobdist_jobs", { state: "succeeded", queue: "q1" }), 1);
      assert.equal(value(m, "jobdist_jobs", { state: "failed", queue: "q1" }), 1);
      assert.equal(value(m, "jobdist_dispatch_latency_seconds_count", { queue: "q1" }), 2);
      assert.ok(value(m, "jobdist_dispatch_latency_seconds_sum", { queue: "q1" })! > 0);
      assert.equal(
        value(m, "jobdist_run_duration_seconds_count", { queue: "q1", state: "failed" }),
        1,
      );
      const ran = value(m, "jobdist_run_duration_seconds_sum", { queue: "q1", state: "failed" });
      assert.ok(ran! >= 0.4 && ran! < 5, `run duration ${ran}`);
      assert.equal(
        value(m, "jobdist_jobs_finished_total", { queue: "q1", state: "succeeded" }),
        1,
      );
      assert.ok(value(m, "jobdist_sqlite_bytes", { file: "wal" })! > 0);

      // A checkpoint truncates the WAL.
      const hk = await fetch(`${server.url}/api/v1/admin/housekeeping`, { method: "POST" });
      assert.equal(hk.status, 200);
      assert.equal((await hk.json()).wal.busy, 0);
      m = await scrape();
      assert.equal(value(m, "jobdist_sqlite_bytes", { file: "wal" }), 0);
      assert.equal(value(m, "jobdist_wal_checkpoints_total"), 1);
    } finally {
      await agent.stop();
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/metrics needs the API token when the server has tokens; /readyz does not", async () => {
  const token = "0123456789abcdef0123";
  const server = await startTestServer({ tokens: [token] });
  try {
    const denied = await fetch(`${server.url}/metrics`);
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const ok = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ok: true });
  } finally {
    await server.stop();
  }
});

Deno.test("heartbeat host facts and connection sessions appear in the API", async () => {
  const server = await startTestServer({ heartbeatMs: 100 });
  const agent = startTestAgent(server.url, { name: "facts-1" });
  try {
    const view = await waitUntil(async () => {
      const list = await server.client.agents();
      const a = list.agents.find((x) => x.name === "facts-1");
      return a?.facts?.disk_free !== undefined ? a : null;
    });
    assert.ok(view.facts!.mem_total! > 0);
    assert.ok(view.facts!.cpus! >= 1);
    assert.ok(view.facts!.rss! > 0);
    assert.ok(view.facts!.disk_free! > 0);

    const health = await (await fetch(`${server.url}/api/v1/agents/facts-1/health`)).json();
    assert.equal(health.version, "0.1.0");
    assert.ok(health.facts.disk_free > 0);

    const up = await (await fetch(`${server.url}/api/v1/agents/facts-1/uptime`)).json();
    assert.equal(up.windows["24h"].percent, 100);
    assert.equal(up.windows["24h"].intervals.length, 1);
  } finally {
    await agent.stop();
  }
  try {
    // The agent left: its session is closed, uptime stops growing.
    await waitUntil(async () => {
      const list = await server.client.agents();
      return list.agents.find((x) => x.name === "facts-1")?.status === "disconnected";
    });
    const up = await (await fetch(`${server.url}/api/v1/agents/facts-1/uptime`)).json();
    await new Promise((r) => setTimeout(r, 100));
    const later = await (await fetch(`${server.url}/api/v1/agents/facts-1/uptime`)).json();
    assert.equal(later.windows["24h"].up_ms, up.windows["24h"].up_ms);
    assert.ok(later.windows["24h"].percent < 100);
  } finally {
    await server.stop();
  }
});

Deno.test("retention prunes finished jobs with their output and attempts", async () => {
  const server = await startTestServer({ retentionMs: 1 });
  const agent = startTestAgent(server.url, { name: "r1" });
  try {
    const job = await server.client.submit({ shell: "echo keep me not" });
    await waitForJob(server.client, job.id);
    const waiting = await server.client.submit({
      shell: "exit 0",
      requires: { labels: { zone: "nowhere" } },
    });
    await new Promise((r) => setTimeout(r, 10));
    const res = await fetch(`${server.url}/api/v1/admin/housekeeping`, { method: "POST" });
    const body = await res.json();
    assert.equal(body.pruned_jobs, 1);
    const gone = await fetch(`${server.url}/api/v1/jobs/${job.id}`);
    assert.equal(gone.status, 404);
    await gone.body?.cancel();
    assert.equal((await server.client.job(waiting.id)).state, "queued", "unfinished jobs stay");
    assert.equal(server.scheduler.store.attemptsOf(job.id).length, 0);
    assert.equal(server.scheduler.store.readLog(job.id).length, 0);
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("backup while the server runs, then restore into a fresh server: jobs are there", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const server = await startTestServer({ db: `${dir}/live.db` });
    const agent = startTestAgent(server.url, { name: "b1" });
    let done;
    try {
      done = await server.client.submit({ shell: "echo backed up" });
      await waitForJob(server.client, done.id);
      const res = await fetch(`${server.url}/api/v1/admin/backup`, { method: "POST" });
      assert.equal(res.status, 200);
      await Deno.writeFile(`${dir}/backup.db`, new Uint8Array(await res.arrayBuffer()));
    } finally {
      await agent.stop();
      await server.stop();
    }
    const check = new DatabaseSync(`${dir}/backup.db`);
    assert.equal(
      (check.prepare("PRAGMA integrity_check").get() as Record<string, string>).integrity_check,
      "ok",
    );
    check.close();
    // Restore: the backup file becomes the database of a new server.
    await Deno.copyFile(`${dir}/backup.db`, `${dir}/restored.db`);
    const restored = await startTestServer({ db: `${dir}/restored.db` });
    try {
      const job = await restored.client.job(done.id);
      assert.equal(job.state, "succeeded");
      const log = await new Response(await restored.client.logs(done.id)).text();
      assert.equal(log, "backed up\n");
    } finally {
      await restored.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
