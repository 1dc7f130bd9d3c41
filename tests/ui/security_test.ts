/**
 * The dashboard as a user in a real browser: under the strict Content-Security-Policy nothing is
 * blocked and the pages stay live, the user sees only their own jobs (list, detail, live
 * updates), and a job printing markup shows it as text.
 * @module
 */

import assert from "node:assert/strict";
import { Client } from "../../src/cli/client.ts";
import { startTestAgent, startTestServer, waitForJob } from "../helpers.ts";
import { browserMissing, launchBrowser } from "./browser.ts";

const missing = await browserMissing();
if (missing) console.warn(`Skipping the dashboard security browser test: ${missing}`);

const ADMIN = "configured-admin-token-0123456789";

Deno.test({
  name: "ui: a user logs in, sees only their own jobs, live, with no CSP violation",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startTestServer({ tokens: [ADMIN] });
    const admin = new Client({ server: server.url, token: ADMIN });
    const agent = startTestAgent(server.url, { token: ADMIN });
    const browser = await launchBrowser();
    try {
      const alice = (await admin.createUser({ name: "alice" })).token!.token;
      const bob = new Client({
        server: server.url,
        token: (await admin.createUser({ name: "bob" })).token!.token,
      });
      const bobJob = await bob.submit({ shell: "echo bob-only", name: "bobs-job" });
      await waitForJob(admin, bobJob.id);

      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(m.text());
      });
      page.on("pageerror", (e) => problems.push(e.message));
      await page.goto(`${server.url}/jobs`);
      await page.getByLabel("API token").fill(alice);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.waitForURL(/\/jobs$/);
      await page.locator(".live[data-status=live]").waitFor();

      // A job alice submits through the form appears live; bob's never does.
      await page.goto(`${server.url}/submit`);
      await page.getByLabel("Shell (run by /bin/sh -c)").fill(
        "echo '<script>window.__xss=1</script><b>not bold</b>'",
      );
      await page.getByLabel("Name").fill("alices-job");
      await page.getByRole("button", { name: "Submit job" }).click();
      await page.waitForURL(/\/jobs\/\d+$/);
      await page.locator('h1 [data-state="succeeded"]').waitFor({ timeout: 15_000 });
      await page.locator("[data-log]", { hasText: "<script>window.__xss=1</script>" }).waitFor();
      assert.equal(await page.evaluate(() => "__xss" in window), false);
      assert.equal(await page.locator("[data-log] b").count(), 0);

      await page.goto(`${server.url}/jobs`);
      await page.locator("tr[data-job]", { hasText: "alices-job" }).waitFor();
      assert.equal(await page.locator(`tr[data-job="${bobJob.id}"]`).count(), 0);
      assert.ok(!(await page.content()).includes("bobs-job"));
      const detail = await page.goto(`${server.url}/jobs/${bobJob.id}`);
      assert.equal(detail?.status(), 404);

      assert.deepEqual(problems.filter((p) => !p.includes("404")), []);
    } finally {
      await browser.dispose();
      await agent.stop();
      await server.stop();
    }
  },
});
