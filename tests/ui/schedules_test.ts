/**
 * The schedules page in a real browser (Debian's Chromium driven by playwright-core) against a
 * real server: schedules created through the API appear with their policies, newest fire and next
 * fire times, and pause and resume from the page reach the API without a reload.
 * @module
 */

import assert from "node:assert/strict";
import { startTestServer, waitUntil } from "../helpers.ts";
import { browserMissing, launchBrowser } from "./browser.ts";

const missing = await browserMissing();
if (missing) console.warn(`Skipping the schedules browser test: ${missing}`);

Deno.test({
  name: "ui: the schedules page shows next fire times, and pauses and resumes a schedule",
  ignore: missing !== null,
  // playwright keeps its own timers and pipes.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startTestServer();
    const browser = await launchBrowser();
    try {
      const { client } = server;
      await client.createSchedule({
        name: "nightly-backup",
        cron: "30 2 * * *",
        timezone: "Europe/Berlin",
        overlap: "forbid",
        misfire: "run_once",
        job: { shell: "./backup.sh" },
      });
      // One that has fired (every second, no agent: its job stays queued), then paused.
      await client.createSchedule({ name: "ticker", cron: "* * * * * *", job: { shell: "true" } });
      await waitUntil(async () => (await client.schedule("ticker")).fires?.length, 5_000, "a fire");
      await client.pauseSchedule("ticker");
      const [lastFire] = (await client.schedule("ticker")).fires ?? [];
      assert.ok(lastFire?.job_id, "the ticker fired");

      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.url}/schedules`);
      await page.locator(".live[data-status=live]").waitFor();
      assert.equal(
        await page.locator('nav a[aria-current="page"]').textContent(),
        "Schedules",
      );

      const row = page.locator('tr[data-schedule="nightly-backup"]');
      await row.locator('[data-state="active"]').waitFor();
      const cells = await row.locator("td").allInnerTexts();
      assert.deepEqual(cells.slice(1, 5), ["30 2 * * *", "Europe/Berlin", "forbid", "run_once"]);
      assert.match(cells[5], /not yet/);
      const { times } = await client.nextFireTimes("nightly-backup", 3);
      const next = row.locator("[data-next-fires] time");
      assert.deepEqual(
        await next.evaluateAll((els) => els.map((e) => e.getAttribute("datetime"))),
        times,
      );
      // Shown on Berlin's wall clock (03:00 when 02:30 falls in the spring-forward gap).
      for (const text of await next.allInnerTexts()) {
        assert.match(text, /^\d{4}-\d\d-\d\d (02:30|03:00)$/);
      }

      const ticker = page.locator('tr[data-schedule="ticker"]');
      await ticker.locator('[data-state="paused"]').waitFor();
      assert.equal(
        await ticker.locator("[data-last-fire] a").getAttribute("href"),
        `/jobs/${lastFire.job_id}`,
      );
      await ticker.locator('[data-last-fire] [data-state="queued"]').waitFor();

      await page.evaluate(() => Object.assign(window, { __sameDocument: true }));
      await row.getByRole("button", { name: "Pause" }).click();
      await row.locator('[data-state="paused"]').waitFor();
      await row.locator("[data-next-fires]", { hasText: "paused" }).waitFor();
      assert.equal((await client.schedule("nightly-backup")).paused, true);

      await row.getByRole("button", { name: "Resume" }).click();
      await row.locator('[data-state="active"]').waitFor();
      await row.locator("[data-next-fires] time").nth(2).waitFor();
      assert.equal((await client.schedule("nightly-backup")).paused, false);
      assert.deepEqual(
        await next.evaluateAll((els) => els.map((e) => e.getAttribute("datetime"))),
        (await client.nextFireTimes("nightly-backup", 3)).times,
      );
      assert.equal(await page.evaluate(() => "__sameDocument" in window), true, "no reload");
      assert.deepEqual(errors, []);
    } finally {
      await browser.dispose();
      await server.stop();
    }
  },
});
