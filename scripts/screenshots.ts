/**
 * Refreshes the dashboard screenshots in `docs/` (`deno task screenshots`): starts a server and
 * an agent on port 0, runs a few jobs, and photographs the overview, a job page and a batch's page
 * in Chromium.
 * @module
 */

import { startTestAgent, startTestServer, waitUntil } from "../tests/helpers.ts";
import { browserMissing, launchBrowser } from "../tests/ui/browser.ts";

const docs = new URL("../docs/", import.meta.url);
const missing = await browserMissing();
if (missing) {
  console.error(`Cannot take screenshots: ${missing}`);
  Deno.exit(1);
}

const server = await startTestServer();
const agents = [
  startTestAgent(server.url, { name: "build-01", slots: 4, labels: { zone: "eu", arch: "x64" } }),
  startTestAgent(server.url, { name: "build-02", slots: 2, labels: { zone: "us" } }),
];
const browser = await launchBrowser({ viewport: { width: 1280, height: 960 } });
try {
  const c = server.client;
  for (let i = 1; i <= 14; i++) {
    await c.submit({ shell: `echo report ${i}; sleep 0.${i % 5}`, name: `nightly-report-${i}` });
  }
  await c.submit({
    shell: "echo 'connecting to db' && echo 'error: db unreachable' >&2 && exit 3",
    name: "sync-orders",
  });
  await c.submit({ command: ["false"], name: "check-disk", queue: "ops" });
  await c.submit({ shell: "sleep 30", name: "needs-gpu", requires: { labels: { gpu: "a100" } } });
  await c.call("setQueue", { params: { name: "exports" }, body: { concurrency: 2 } });
  for (const region of ["eu", "us", "apac", "latam"]) {
    await c.submit({ shell: "sleep 60", name: `export-${region}`, queue: "exports" });
  }
  // Tasks 0-6 end (task 2 fails, which the success policy allows); 7-9 keep running, 10-11 wait.
  const batch = await c.submit({
    name: "render-frames",
    queue: "render",
    completions: 12,
    parallelism: 3,
    success_policy: { succeeded_count: 10 },
    shell: 'echo "frame $JOBDIST_INDEX"; if [ "$JOBDIST_INDEX" = 2 ]; then exit 1; fi; ' +
      'if [ "$JOBDIST_INDEX" -ge 7 ]; then sleep 60; fi',
  });
  await c.submit({ shell: "echo publishing", name: "publish-frames", after: [batch.id] });
  const build = await c.submit({
    name: "build-and-test",
    queue: "ci",
    tags: ["web", "main"],
    shell: [
      "printf '\\033[1m==> Installing dependencies\\033[0m\\n'",
      "echo 'added 312 packages in 2.1s'",
      "printf '\\033[1m==> Compiling\\033[0m\\n'",
      "echo 'warning: unused variable `tmp` in src/cache.ts:42' >&2",
      "printf 'compiled 148 modules \\033[32m✓\\033[0m\\n'",
      "printf '\\033[1m==> Running tests\\033[0m\\n'",
      "for t in store scheduler agent_hub http logs; do " +
      "printf '  \\033[32mok\\033[0m   %s_test.ts\\n' $t; sleep 0.2; done",
      "printf '  \\033[31mFAIL\\033[0m timers_test.ts (retrying)\\n'",
      "echo 'AssertionError: expected 3 timers, got 2' >&2",
      "printf '  \\033[32mok\\033[0m   timers_test.ts (attempt 2)\\n'",
      "printf '\\033[1;33m==> Uploading artifacts\\033[0m\\n'",
      "sleep 60",
    ].join("; "),
  });
  await waitUntil(async () => (await c.job(build.id)).output_bytes > 500, 20_000, "build output");
  await waitUntil(
    async () => (await c.listJobs({ state: "succeeded" })).jobs.length >= 14,
    20_000,
    "reports",
  );
  await waitUntil(
    async () => (await c.job(batch.id)).batch?.tasks.succeeded === 6,
    20_000,
    "the batch's first tasks",
  );

  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.locator(".live[data-status=live]").waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: new URL("overview.png", docs).pathname, fullPage: true });
  await page.goto(`${server.url}/jobs/${build.id}`);
  await page.locator(".live[data-status=live]").waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: new URL("job.png", docs).pathname, fullPage: true });
  await page.goto(`${server.url}/jobs/${batch.id}`);
  await page.locator(".live[data-status=live]").waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: new URL("batch.png", docs).pathname, fullPage: true });
  console.error("Wrote docs/overview.png, docs/job.png and docs/batch.png");
} finally {
  await browser.dispose();
  for (const a of agents) await a.stop();
  await server.stop();
}
