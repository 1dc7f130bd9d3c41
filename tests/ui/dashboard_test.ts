/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
 * server and agent: submitting through the form, live states and output, cancel, agents going
 * away, and login with a token.
 * @module
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { spawnJobdist, startTestAgent, startTestServer, waitForJob } from "../helpers.ts";
import { browserMissing, launchBrowser } from "./browser.ts";

const missing = await browserMissing();
if (missing) console.warn(`Skipping the dashboard browser tests: ${missing}`);

/** Options of every browser test: playwright keeps its own timers and pipes. */
const browserTest = { ignore: missing !== null, sanitizeOps: false, sanitizeResources: false };

/** The state badge of the job page. */
const jobState = (page: Page) => page.locator("h1 [data-state]").getAttribute("data-state");

Deno.test({
  name: "ui: a job submitted through the form goes queued, running, succeeded live with output",
  ...browserTest,
  async fn() {
    const server = await startTestServer();
    const browser = await launchBrowser();
    let agent: { stop(): Promise<void> } | null = null;
    try {
      const list = await browser.newPage();
      await list.goto(`${server.url}/jobs`);
      await list.locator(".live[data-status=live]").waitFor();

      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.url}/submit`);
      await page.locator(".live[data-status=live]").waitFor();
      await page.getByLabel("Shell (run by /bin/sh -c)").fill(
        "echo line-one; echo '<script>window.__xss=1</script><b>not bold</b>'; " +
          "printf '\\033[31mred\\033[0m\\n'; sleep 1.5; echo line-two >&2; sleep 1.5; echo line-three",
      );
      await page.getByLabel("Name").fill("from-the-form");
      await page.getByRole("button", { name: "Submit job" }).click();
      await page.waitForURL(/\/jobs\/\d+$/);
      const id = Number(new URL(page.url()).pathname.split("/").pop());
      await page.locator(".live[data-status=live]").waitFor();
      // No agent yet: the job waits, and says why.
      assert.equal(await jobState(page), "queued");
      assert.ok((await page.locator("[data-reason]").textContent())?.length);
      await page.evaluate(() => Object.assign(window, { __sameDocument: true }));

      agent = startTestAgent(server.url, { name: "form-agent" });
      await page.locator('h1 [data-state="running"]').waitFor({ timeout: 10_000 });
      await page.locator("[data-log]", { hasText: "line-one" }).waitFor();
      // Output arrived while the job was still running.
      assert.equal(await jobState(page), "running");
      await page.locator('[data-log] [data-stream="stderr"]', { hasText: "line-two" }).waitFor();
      await page.locator('h1 [data-state="succeeded"]').waitFor({ timeout: 10_000 });
      await page.locator("[data-log]", { hasText: "line-three" }).waitFor();

      assert.equal(await page.evaluate(() => "__sameDocument" in window), true, "no reload");
      const log = await page.locator("[data-log]").innerText();
      assert.match(
        log,
        /<script>window\.__xss=1<\/script><b>not bold<\/b>/,
        "markup shows as text",
      );
      assert.equal(await page.evaluate(() => "__xss" in window), false);
      assert.equal(await page.locator("[data-log] b").count(), 0);
      assert.equal(await page.locator("[data-log] .f1", { hasText: "red" }).count(), 1, "ANSI red");
      assert.ok(!log.includes("\x1b") && !log.includes("[31m"), "no raw escapes");
      assert.equal((await server.client.job(id)).state, "succeeded");

      // The jobs list, opened before the job existed, shows it finished without a reload.
      await list.locator(`tr[data-job="${id}"] [data-state="succeeded"]`).waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await browser.dispose();
      await agent?.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: "ui: cancelling a running job from its page kills it",
  ...browserTest,
  async fn() {
    const server = await startTestServer();
    const agent = startTestAgent(server.url);
    const browser = await launchBrowser();
    try {
      const job = await server.client.submit({ shell: "echo started; sleep 60", name: "long" });
      const page = await browser.newPage();
      await page.goto(`${server.url}/jobs/${job.id}`);
      await page.locator('h1 [data-state="running"]').waitFor({ timeout: 10_000 });
      await page.locator("[data-log]", { hasText: "started" }).waitFor();
      await page.getByRole("button", { name: "Cancel job" }).click();
      await page.getByRole("button", { name: "Yes, cancel it" }).click();
      await page.locator('h1 [data-state="cancelled"]').waitFor();
      const done = await waitForJob(server.client, job.id, 15_000);
      assert.equal(done.state, "cancelled");
      assert.equal(await page.getByRole("button", { name: "Cancel job" }).count(), 0);
    } finally {
      await browser.dispose();
      await agent.stop();
      await server.stop();
    }
  },
});

Deno.test({
  name: "ui: an agent whose process is killed turns disconnected on the agents page",
  ...browserTest,
  async fn() {
    const server = await startTestServer({ lostAfterMs: 30_000 });
    const child = spawnJobdist(["agent", "--server", server.url, "--name", "doomed"]);
    const browser = await launchBrowser();
    try {
      await child.waitFor(/connected as/);
      const page = await browser.newPage();
      await page.goto(`${server.url}/agents`);
      const card = page.locator('[data-agent="doomed"]');
      await card.locator('[data-state="idle"]').waitFor();
      // Connected all the time it has been known: 100 % in every window, one green stretch.
      for (const w of ["24h", "7d", "30d"]) {
        assert.equal(await card.locator(`[data-uptime="${w}"]`).innerText(), `${w} 100%`);
      }
      const timeline = card.locator("[data-timeline]");
      assert.match(
        String(await timeline.getAttribute("aria-label")),
        /^Connected \d+s of the last 24 h$/,
      );
      assert.equal(await timeline.locator('[data-segment="up"]').count(), 1);
      assert.equal(await timeline.locator('[data-segment="down"]').count(), 0);
      await child.kill("SIGKILL");
      await card.locator('[data-state="disconnected"]').waitFor({ timeout: 10_000 });
      assert.equal(await card.getByRole("button", { name: "Drain" }).isDisabled(), true);
      // The session ended: the island fetches uptime again, live; the timeline ends in red.
      await timeline.locator('[data-segment="down"]').waitFor({ state: "attached" });
      const day = await card.locator('[data-uptime="24h"]').innerText();
      const percent = Number(day.match(/^24h ([\d.]+)%$/)?.[1]);
      assert.ok(percent > 0 && percent < 100, day);
      const api = await server.client.agentUptime("doomed");
      assert.ok(api.windows["24h"].percent! < 100);
    } finally {
      await browser.dispose();
      await child.kill("SIGKILL");
      await server.stop();
    }
  },
});

Deno.test({
  name: "ui: with tokens the dashboard asks for one and keeps it in an HttpOnly cookie",
  ...browserTest,
  async fn() {
    const server = await startTestServer({ tokens: ["s3cret-token"] });
    const browser = await launchBrowser();
    try {
      const denied = await fetch(`${server.url}/ws/ui?topics=agents`, {
        headers: { upgrade: "websocket", origin: "http://evil.example" },
      });
      await denied.body?.cancel();
      assert.equal(denied.status, 403, "a cross-origin event stream is refused");

      const page = await browser.newPage();
      await page.goto(`${server.url}/agents`);
      await page.waitForURL(/\/login\?next=%2Fagents$/);
      await page.getByLabel("API token").fill("wrong");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.locator(".error", { hasText: "That token is not valid" }).waitFor();
      await page.getByLabel("API token").fill("s3cret-token");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.waitForURL(/\/agents$/);
      await page.locator(".live[data-status=live]").waitFor();
      assert.equal(await page.evaluate(() => document.cookie), "", "the cookie is HttpOnly");
      const [cookie] = await browser.cookies();
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, "Strict");

      // The gateway turns the cookie into the API's bearer token.
      await page.goto(`${server.url}/submit`);
      await page.getByLabel("Shell (run by /bin/sh -c)").fill("true");
      await page.getByRole("button", { name: "Submit job" }).click();
      await page.waitForURL(/\/jobs\/\d+$/);

      await page.getByRole("button", { name: "Log out" }).click();
      await page.waitForURL(/\/login$/);
      assert.equal((await browser.cookies()).length, 0);
    } finally {
      await browser.dispose();
      await server.stop();
    }
  },
});
