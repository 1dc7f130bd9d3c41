import assert from "node:assert/strict";
import { runCli, startTestAgent, startTestServer, waitForJob, waitUntil } from "../helpers.ts";

/** A webhook receiver on 127.0.0.1, port 0, that keeps every JSON body. */
function webhookReceiver() {
  const bodies: Array<{ report: { totals: { finished: number } }; text: string }> = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, signal: ac.signal },
    async (req) => {
      bodies.push(await req.json());
      return new Response("ok");
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/report`,
    bodies,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

Deno.test("jobdist report prints the running server's report as text, html and json", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { name: "reporter-1" });
  const s = ["--server", server.url];
  try {
    const ok = await server.client.submit({ shell: "true", name: "fine" });
    const bad = await server.client.submit({ shell: "exit 3", name: "<broken>", queue: "q2" });
    await waitForJob(server.client, ok.id);
    await waitForJob(server.client, bad.id);

    let r = await runCli(["report", ...s]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^jobdist report: .* UTC \(1d0h\)/);
    assert.match(r.out, /^ {2}q2\s+1\s+0\s+1\s+0\s+0$/m);
    assert.match(r.out, /^ {2}<broken>\s+1\s+0\s+1$/m);
    assert.match(r.out, /^ {2}reporter-1\s+connected\s+100\.00%/m);

    r = await runCli(["report", "--format", "html", "--period", "1h", ...s]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /&lt;broken&gt;/);
    r = await runCli(["report", "--format", "json", ...s]);
    assert.equal(JSON.parse(r.out).totals.failed, 1);

    r = await runCli(["report", "--format", "pdf", ...s]);
    assert.equal(r.code, 2);
    assert.match(r.err, /Invalid --format "pdf": expected text, html or json/);
    r = await runCli(["report", "--period", "soon", ...s]);
    assert.equal(r.code, 2);
    assert.match(r.err, /Invalid --period "soon"/);
    r = await runCli(["report", "--send-now", ...s]);
    assert.equal(r.code, 1);
    assert.match(r.err, /No report transport is configured/);
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("the server sends the report on its cron schedule to a webhook", async () => {
  const hook = webhookReceiver();
  // Every second (6 fields, seconds first), so the test need not wait for 07:00.
  const server = await startTestServer({
    report: { cron: "* * * * * *", webhook: { url: hook.url } },
  });
  try {
    await waitUntil(() => hook.bodies.length > 0, 15_000, "a scheduled report");
    assert.equal(hook.bodies[0].report.totals.finished, 0);
    assert.match(hook.bodies[0].text, /^jobdist report: /);
  } finally {
    await server.stop();
    await hook.close();
  }
});

Deno.test("jobdist report --send-now delivers by webhook, and a refused SMTP server is reported without harm", async () => {
  const hook = webhookReceiver();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const smtpPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const server = await startTestServer({
    report: {
      webhook: { url: hook.url, retryDelayMs: 10 },
      smtp: {
        host: "127.0.0.1",
        port: smtpPort,
        tls: "none",
        from: "jobdist@example.org",
        to: ["ops@example.org"],
      },
    },
  });
  const s = ["--server", server.url];
  try {
    const r = await runCli(["report", "--send-now", ...s]);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`^webhook: http://127\\.0\\.0\\.1:\\d+ answered 200$`));
    assert.match(
      r.err,
      new RegExp(
        `^jobdist report: smtp: Cannot send mail via 127\\.0\\.0\\.1:${smtpPort}: .*ECONNREFUSED`,
      ),
    );
    assert.equal(hook.bodies.length, 1);
    // The server carries on.
    assert.equal((await server.client.submit({ shell: "true" })).state, "queued");
  } finally {
    await server.stop();
    await hook.close();
  }
});

Deno.test("jobdist server rejects incomplete or bad --report-* flags with usage errors", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--report-to", "ops@example.org"], /--report-to needs --report-smtp-host/],
    [["--report-smtp-host", "mail"], /--report-smtp-host needs --report-from/],
    [
      ["--report-smtp-host", "mail", "--report-from", "j@example.org"],
      /needs at least one --report-to/,
    ],
    [
      [
        "--report-smtp-host",
        "mail",
        "--report-from",
        "j@example.org",
        "--report-to",
        "o@example.org",
        "--report-smtp-user",
        "j",
      ],
      /--report-smtp-user needs a password: --report-smtp-password-file or JOBDIST_REPORT_SMTP_PASSWORD/,
    ],
    [["--report-webhook", "ftp://x"], /Invalid --report-webhook: expected an http/],
    [["--report-period", "daily"], /Invalid --report-period "daily"/],
  ];
  for (const [flags, message] of cases) {
    const r = await runCli(["server", "--listen", "127.0.0.1:0", "--db", ":memory:", ...flags]);
    assert.equal(r.code, 2, `${flags.join(" ")}: ${r.err}`);
    assert.match(r.err, message);
  }
  const r = await runCli([
    "server",
    "--listen",
    "127.0.0.1:0",
    "--db",
    ":memory:",
    "--report-webhook",
    "http://127.0.0.1:9/x",
    "--report-cron",
    "0 25 * * *",
  ]);
  assert.equal(r.code, 1);
  assert.match(r.err, /Invalid report schedule "0 25 \* \* \*"/);
});
