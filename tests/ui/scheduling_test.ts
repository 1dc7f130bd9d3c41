/**
 * The dashboard's view of batches, dependencies and queue limits, in a real browser against a
 * real server and agent: a batch's progress and tasks follow its run live, a task links back to
 * its batch, a dependent job shows what it waits on, and the overview shows queues with their
 * concurrency limits.
 * @module
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { startTestAgent, startTestServer } from "../helpers.ts";
import { browserMissing, launchBrowser } from "./browser.ts";

const missing = await browserMissing();
if (missing) console.warn(`Skipping the dashboard scheduling tests: ${missing}`);

/** Options of every browser test: playwright keeps its own timers and pipes. */
const browserTest = { ignore: missing !== null, sanitizeOps: false, sanitizeResources: false };

/** The state badge of the job page. */
const jobState = (page: Page) => page.locator("h1 [data-state]").getAttribute("data-state");

/** Marks the document, so a later check can tell the page was never reloaded. */
const markDocument = (page: Page) => page.evaluate(() => Object.assign(window, { __same: true }));
const sameDocument = (page: Page) => page.evaluate(() => "__same" in window);

Deno.test({
  name: "ui: a batch's page follows its 6 tasks live to 6 of 6 succeeded and links each task",
  ...browserTest,
  async fn() {
    const server = await startTestServer();
    const browser = await launchBrowser();
    const dir = await Deno.makeTempDir({ prefix: "jobdist-batch-ui-" });
    let agent: { stop(): Promise<void> } | null = null;
    try {
      // Each task waits for the gate file, so the page can be seen with tasks mid-run.
      const batch = await server.client.submit({
        name: "<b>batch</b>",
        shell: `while [ ! -e '${dir}/go' ]; do sleep 0.05; done; echo task $JOBDIST_INDEX`,
        completions: 6,
        parallelism: 2,
      });
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.url}/jobs/${batch.id}`);
      await page.locator(".live[data-status=live]").waitFor();
      await markDocument(page);
      const summary = page.locator("[data-batch-summary]");
      // No agent yet: every task waits.
      assert.equal(await summary.innerText(), "0 of 6 succeeded, parallelism 2");
      assert.equal(await page.locator('[data-progress="queued"]').innerText(), "6 waiting");
      const rows = page.locator("table[aria-label=Tasks] tbody tr");
      assert.equal(await rows.count(), 6);
      assert.equal(await rows.locator('[data-state="queued"]').count(), 6);

      // 4 free slots, but the batch's parallelism lets only 2 tasks run.
      agent = startTestAgent(server.url, { slots: 4 });
      await rows.locator('[data-state="running"]').nth(1).waitFor({ timeout: 20_000 });
      await page.locator('[data-progress="running"]', { hasText: "2 running" }).waitFor();
      assert.equal(await page.locator('[data-progress="queued"]').innerText(), "4 waiting");
      assert.equal(await summary.innerText(), "0 of 6 succeeded, parallelism 2");
      await Deno.writeTextFile(`${dir}/go`, "");
      await summary.filter({ hasText: "6 of 6 succeeded, parallelism 2" })
        .waitFor({ timeout: 20_000 });
      await page.locator('h1 [data-state="succeeded"]').waitFor();
      assert.equal(await rows.count(), 6);
      assert.equal(await rows.locator('[data-state="succeeded"]').count(), 6);
      assert.deepEqual(
        await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-task"))),
        ["0", "1", "2", "3", "4", "5"],
      );
      assert.equal(await page.locator('[data-progress="succeeded"]').innerText(), "6 succeeded");
      assert.equal(await page.locator("[data-failed-attempts]").innerText(), "0 failed attempts");
      assert.equal(await sameDocument(page), true, "updated without a reload");
      assert.match(await page.locator("h1").innerText(), /<b>batch<\/b>/, "names show as text");
      assert.equal(await page.locator("h1 b").count(), 0);

      const tasks = (await server.client.listJobs({ parent: String(batch.id) })).jobs;
      assert.equal(tasks.length, 6);
      const task3 = tasks.find((t) => t.batch_index === 3)!;
      await rows.nth(3).getByRole("link").click();
      await page.waitForURL(`${server.url}/jobs/${task3.id}`);
      const parent = page.locator("[data-parent]");
      assert.equal(await parent.innerText(), `#${batch.id} task index 3`);
      await page.locator("[data-log]", { hasText: "task 3" }).waitFor();
      await parent.getByRole("link").click();
      await page.waitForURL(`${server.url}/jobs/${batch.id}`);
      assert.equal(await summary.innerText(), "6 of 6 succeeded, parallelism 2");
      assert.deepEqual(errors, []);
    } finally {
      await browser.dispose();
      await agent?.stop();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ui: a dependent job shows the jobs it waits on and why, live until one is cancelled",
  ...browserTest,
  async fn() {
    const server = await startTestServer();
    const browser = await launchBrowser();
    let agent: { stop(): Promise<void> } | null = null;
    try {
      const first = await server.client.submit({ shell: "echo first", name: "first" });
      // No agent has this label, so it stays queued.
      const blocker = await server.client.submit({
        shell: "true",
        requires: { labels: { gpu: "a100" } },
      });
      const second = await server.client.submit({
        shell: "echo second",
        name: "second",
        after: [first.id, blocker.id],
      });
      assert.equal(second.state, "waiting");
      const page = await browser.newPage();
      await page.goto(`${server.url}/jobs/${second.id}`);
      await page.locator(".live[data-status=live]").waitFor();
      await markDocument(page);
      assert.equal(await jobState(page), "waiting");
      const reason = page.locator("[data-reason]");
      assert.equal(
        await reason.innerText(),
        `waiting for jobs ${first.id}, ${blocker.id} to succeed`,
      );
      const dep = page.locator(`[data-dep="${first.id}"]`);
      assert.equal(await dep.locator("[data-state]").getAttribute("data-state"), "queued");
      assert.equal(await dep.getByRole("link").getAttribute("href"), `/jobs/${first.id}`);
      const blockerDep = page.locator(`[data-dep="${blocker.id}"]`);
      assert.equal(await blockerDep.locator("[data-state]").getAttribute("data-state"), "queued");

      // A waiting job is styled like the other waits, and "not finished" on the jobs page has it.
      const list = await browser.newPage();
      await list.goto(`${server.url}/jobs`);
      await list.getByLabel("State").selectOption({ label: "not finished" });
      await list.getByRole("button", { name: "Filter" }).click();
      await list.locator(`tr[data-job="${second.id}"] [data-state="waiting"]`).waitFor();
      const colour = (state: string) =>
        list.locator(`[data-state="${state}"]`).first().evaluate((el) =>
          getComputedStyle(el).color
        );
      assert.equal(await colour("waiting"), await colour("queued"));
      assert.equal(
        await list.locator("select[name=state] option:checked").innerText(),
        "not finished",
      );

      // The first dependency succeeds: the page says what is left to wait for.
      agent = startTestAgent(server.url);
      await dep.locator('[data-state="succeeded"]').waitFor({ timeout: 20_000 });
      await reason.filter({ hasText: `waiting for job ${blocker.id} to succeed` }).waitFor();
      assert.equal(await jobState(page), "waiting");

      // The other is cancelled: so is the job that waits on it.
      await server.client.cancel(blocker.id);
      await blockerDep.locator('[data-state="cancelled"]').waitFor();
      await page.locator('h1 [data-state="cancelled"]').waitFor();
      assert.equal(await reason.innerText(), `dependency job ${blocker.id} cancelled`);
      assert.equal(await sameDocument(page), true, "updated without a reload");
    } finally {
      await browser.dispose();
      await agent?.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: "ui: the overview shows each queue's depth, active jobs and concurrency limit, live",
  ...browserTest,
  async fn() {
    const server = await startTestServer();
    const browser = await launchBrowser();
    let agent: { stop(): Promise<void> } | null = null;
    try {
      await server.client.call("setQueue", {
        params: { name: "exports" },
        body: { concurrency: 2 },
      });
      const jobs = [];
      for (let i = 0; i < 3; i++) {
        jobs.push(await server.client.submit({ shell: "sleep 30", queue: "exports" }));
      }
      const waiting = await server.client.submit({ shell: "true", after: [jobs[0].id] });
      const page = await browser.newPage();
      await page.goto(`${server.url}/`);
      await page.locator(".live[data-status=live]").waitFor();
      await markDocument(page);
      const row = page.locator('tr[data-queue="exports"]');
      assert.equal(await row.locator("[data-queued]").innerText(), "3");
      assert.equal(await row.locator("[data-active]").innerText(), "0");
      assert.equal(await row.locator("[data-limit]").innerText(), "2");
      assert.equal(await page.locator('[data-count="waiting"] .n').innerText(), "1");

      // An agent with 4 free slots takes only 2: the queue's limit.
      agent = startTestAgent(server.url, { slots: 4 });
      await row.locator("[data-active]", { hasText: "2" }).waitFor({ timeout: 20_000 });
      await row.locator("[data-queued]", { hasText: "1" }).waitFor();
      await row.locator("[data-at-limit]").waitFor();
      assert.equal(await sameDocument(page), true, "updated without a reload");
      for (const j of [waiting, ...jobs]) await server.client.cancel(j.id).catch(() => {});
    } finally {
      await browser.dispose();
      await agent?.stop();
      await server.stop();
    }
  },
});
