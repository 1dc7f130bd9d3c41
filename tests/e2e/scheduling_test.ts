import assert from "node:assert/strict";
import { main } from "../../src/cli/mod.ts";
import { logText, startTestAgent, startTestServer, waitForJob, waitUntil } from "../helpers.ts";

Deno.test("a cron schedule runs its job on a real agent each second, with its fire time", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { slots: 2 });
  try {
    const created = await server.client.createSchedule({
      name: "tick",
      cron: "* * * * * *",
      overlap: "forbid",
      job: { shell: 'echo "$JOBDIST_SCHEDULE $JOBDIST_FIRE_TIME"' },
    });
    assert.ok(created.next_fire_time);
    const fires = await waitUntil(
      async () => {
        const s = await server.client.schedule("tick");
        const started = s.fires!.filter((f) => f.job_state === "succeeded");
        return started.length >= 2 ? started : null;
      },
      10_000,
      "two succeeded fires",
    );
    for (const f of fires) {
      const job = await waitForJob(server.client, f.job_id!);
      assert.equal(job.name, "tick");
      assert.equal(await logText(server.client, job.id), `tick ${f.fire_time}\n`);
      assert.equal(Date.parse(f.fire_time) % 1000, 0);
    }
    await server.client.pauseSchedule("tick");
    const settled = (await server.client.schedule("tick")).fires!.length;
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal((await server.client.schedule("tick")).fires!.length, settled);
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("jobdist schedules create|next|pause|resume|delete drive the API", async () => {
  const server = await startTestServer();
  const log = console.log;
  const out: string[] = [];
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  const cli = (...args: string[]) =>
    main(["schedules", "--server", server.url, ...args], new AbortController().signal);
  try {
    assert.equal(
      await cli(
        "create",
        "nightly",
        "--cron",
        "30 2 * * *",
        "--timezone",
        "America/New_York",
        "--overlap",
        "forbid",
        "--misfire",
        "skip",
        "--",
        "echo",
        "hi",
      ),
      0,
    );
    const s = await server.client.schedule("nightly");
    assert.deepEqual(s.job.command, ["echo", "hi"]);
    assert.equal(s.overlap, "forbid");
    assert.equal(s.misfire, "skip");
    out.length = 0;
    assert.equal(await cli("next", "nightly", "-n", "2"), 0);
    assert.equal(out.length, 2);
    assert.match(out[0], /^\d{4}-\d\d-\d\dT(06|07):30:00\.000Z {2}.* 02:30:00 /);
    assert.equal(await cli("pause", "nightly"), 0);
    assert.equal((await server.client.schedule("nightly")).paused, true);
    assert.equal(await cli("resume", "nightly"), 0);
    assert.equal((await server.client.schedule("nightly")).paused, false);
    out.length = 0;
    assert.equal(await cli("list"), 0);
    assert.match(out.join("\n"), /nightly\s+30 2 \* \* \*\s+America\/New_York/);
    assert.equal(await cli("delete", "nightly"), 0);
    assert.equal((await server.client.schedules()).schedules.length, 0);
    const err = console.error;
    console.error = () => {};
    try {
      assert.equal(await cli("create", "bad", "--cron", "* *", "--shell", "true"), 1);
    } finally {
      console.error = err;
    }
  } finally {
    console.log = log;
    await server.stop();
  }
});
