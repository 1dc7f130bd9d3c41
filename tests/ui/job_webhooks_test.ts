/**
 * The job page's webhook panel in a real browser against a real server: a delivery failing with
 * HTTP 500 shows as pending with its error, and its later success appears without a reload.
 * @module
 */

import assert from "node:assert/strict";
import { startTestServer, waitUntil } from "../helpers.ts";
import { startReceiver } from "../webhook_receiver.ts";
import { browserMissing, launchBrowser } from "./browser.ts";

const missing = await browserMissing();
if (missing) console.warn(`Skipping the job webhooks browser test: ${missing}`);

Deno.test({
  name: "ui: the job page shows a webhook delivery's failed tries, then its success, live",
  ignore: missing !== null,
  // playwright keeps its own timers and pipes.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let answer = 500;
    const receiver = startReceiver(() => new Response(null, { status: answer }));
    const server = await startTestServer({
      webhooks: {
        secret: "ui-webhook-secret-0123456789",
        initialBackoffMs: 300,
        maxBackoffMs: 1_000,
      },
    });
    const browser = await launchBrowser();
    try {
      const { client } = server;
      // No agent: the job is cancelled while queued, which is its final state.
      const job = await client.submit({
        shell: "true",
        webhook: { url: `${receiver.url}/hook`, max_attempts: 20 },
      });
      await client.cancel(job.id);
      const delivery = await waitUntil(
        async () => {
          const d = (await client.job(job.id)).webhooks?.[0];
          return d && d.attempts >= 1 ? d : null;
        },
        10_000,
        "a failed try",
      );

      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${server.url}/jobs/${job.id}`);
      await page.locator(".live[data-status=live]").waitFor();
      const row = page.locator(`tr[data-delivery="${delivery.id}"]`);
      await row.locator('[data-state="pending"]').waitFor();
      const cells = await row.locator("td").allInnerTexts();
      assert.equal(cells[0], "finished");
      assert.equal(cells[1], `${receiver.url}/hook`);
      assert.match(cells[2], /HTTP 500/);
      assert.match(cells[4], /HTTP 500/);

      await page.evaluate(() => Object.assign(window, { __sameDocument: true }));
      answer = 200;
      await row.locator('[data-state="succeeded"]').waitFor({ timeout: 15_000 });
      assert.match(await row.locator("td").nth(4).innerText(), /HTTP 200/);
      assert.equal(await page.evaluate(() => "__sameDocument" in window), true, "no reload");
      assert.deepEqual(errors, []);
    } finally {
      await browser.dispose();
      await server.stop();
      await receiver.close();
    }
  },
});
