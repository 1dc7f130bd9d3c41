import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { AgentHealth } from "../../src/server/health.ts";
import {
  checkReportConfig,
  postWebhook,
  type ReportConfig,
  Reporter,
  sendMail,
} from "../../src/server/report_delivery.ts";
import { openStore } from "../../src/server/store.ts";
import { openssl } from "../helpers.ts";

/** A message the in-test SMTP server received. */
interface Received {
  from: string;
  to: string[];
  user: string | undefined;
  /** Whether the session was encrypted (TLS or STARTTLS). */
  secure: boolean;
  data: string;
}

/** Options of the in-test SMTP server. */
interface SmtpServerOptions {
  /** Takes only this login. */
  auth?: { user: string; password: string };
  /** `starttls` offers the upgrade, `tls` speaks TLS from the first byte; both with `cert`. */
  tls?: "starttls" | "tls";
  cert?: { key: string; cert: string };
}

/** A real SMTP server on 127.0.0.1, port 0. */
async function smtpServer(options: SmtpServerOptions = {}) {
  const { auth, tls, cert } = options;
  const received: Received[] = [];
  const server = new SMTPServer({
    ...(tls ? { ...cert, secure: tls === "tls" } : { disabledCommands: ["STARTTLS"] }),
    authOptional: !auth,
    allowInsecureAuth: true,
    logger: false,
    onAuth(a, _session, cb) {
      if (auth && a.username === auth.user && a.password === auth.password) {
        cb(null, { user: a.username });
      } else cb(new Error("Invalid username or password"));
    },
    onData(stream, session, cb) {
      const chunks: Uint8Array[] = [];
      stream.on("data", (c: Uint8Array) => chunks.push(c));
      stream.on("end", () => {
        const from = session.envelope.mailFrom;
        received.push({
          from: from ? from.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === "string" ? session.user : undefined,
          secure: session.secure,
          data: new TextDecoder().decode(Buffer.concat(chunks)),
        });
        cb();
      });
    },
  });
  // A client that rejects the certificate ends the handshake: the test asserts the client side.
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port nothing listens on (bound, then released). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function reporter(config: ReportConfig) {
  const store = openStore(":memory:");
  const now = () => Date.UTC(2026, 10, 23, 7);
  return { store, reporter: new Reporter({ store, health: new AgentHealth(store), config, now }) };
}

/** A header of a raw message, unfolded. */
function header(data: string, name: string): string | undefined {
  const head = data.slice(0, data.indexOf("\r\n\r\n")).replace(/\r\n[ \t]+/g, " ");
  return head.split("\r\n").find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
}

/** Decodes a quoted-printable mail body enough to search it. */
function unQuote(data: string): string {
  return data.replace(/=\r?\n/g, "").replace(
    /=([0-9A-F]{2})/g,
    (_, h) => String.fromCharCode(parseInt(h, 16)),
  );
}

Deno.test("Reporter.send() mails the report to every recipient through a real SMTP server", async () => {
  const smtp = await smtpServer({ auth: { user: "jobdist", password: "s3cret-pass" } });
  const { store, reporter: r } = reporter({
    smtp: {
      host: "127.0.0.1",
      port: smtp.port,
      tls: "none",
      user: "jobdist",
      password: "s3cret-pass",
      from: "jobdist@example.org",
      to: ["ops@example.org", "oncall@example.org"],
    },
  });
  try {
    const { deliveries } = await r.send();
    assert.deepEqual(deliveries.map((d) => [d.transport, d.ok]), [["smtp", true]]);
    assert.match(
      deliveries[0].message,
      /^sent to ops@example\.org, oncall@example\.org via 127\.0\.0\.1:\d+$/,
    );
    assert.equal(smtp.received.length, 1);
    const mail = smtp.received[0];
    assert.equal(mail.user, "jobdist");
    assert.equal(mail.from, "jobdist@example.org");
    assert.deepEqual(mail.to, ["ops@example.org", "oncall@example.org"]);
    assert.equal(
      header(mail.data, "Subject"),
      "jobdist report 2026-11-23: 0 jobs, 0 failed, 0 timed out, 0 agents lost",
    );
    assert.equal(header(mail.data, "To"), "ops@example.org, oncall@example.org");
    assert.match(mail.data, /Content-Type: multipart\/alternative/);
    const body = unQuote(mail.data);
    assert.match(body, /Content-Type: text\/plain[\s\S]*jobdist report: [\s\S]*No job finished\./);
    assert.match(body, /Content-Type: text\/html[\s\S]*<h2[^>]*>Jobs by queue<\/h2>/);
    assert.ok(!mail.data.includes("s3cret-pass"), "the password is not in the mail");
    assert.ok(!deliveries[0].message.includes("s3cret-pass"));
  } finally {
    await smtp.close();
    store.close();
  }
});

Deno.test("sendMail() reports a refused connection and a refused login clearly", async () => {
  const mail = { subject: "s", text: "t", html: "<p>t</p>" };
  const port = closedPort();
  const refused = await sendMail({
    host: "127.0.0.1",
    port,
    tls: "none",
    from: "a@example.org",
    to: ["b@example.org"],
  }, mail);
  assert.equal(refused.ok, false);
  assert.match(
    refused.message,
    new RegExp(`^Cannot send mail via 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
  );

  const smtp = await smtpServer({ auth: { user: "jobdist", password: "right-password" } });
  try {
    const denied = await sendMail({
      host: "127.0.0.1",
      port: smtp.port,
      tls: "none",
      user: "jobdist",
      password: "wrong-password",
      from: "a@example.org",
      to: ["b@example.org"],
    }, mail);
    assert.equal(denied.ok, false);
    assert.match(denied.message, /^Cannot send mail via 127\.0\.0\.1:\d+: Invalid login/);
    assert.ok(!denied.message.includes("wrong-password"));
    assert.equal(smtp.received.length, 0);
  } finally {
    await smtp.close();
  }
});

/** A self-signed certificate for 127.0.0.1, made with openssl. */
async function selfSigned(): Promise<{ key: string; cert: string }> {
  const dir = await Deno.makeTempDir({ prefix: "jobdist-smtp-tls-" });
  try {
    await openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
    ]);
    return {
      key: await Deno.readTextFile(`${dir}/key.pem`),
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("sendMail() upgrades with STARTTLS or speaks TLS at once, and checks the certificate", async () => {
  const cert = await selfSigned();
  const mail = { subject: "over TLS", text: "t", html: "<p>t</p>" };
  for (const tls of ["starttls", "tls"] as const) {
    const smtp = await smtpServer({ tls, cert, auth: { user: "u", password: "tls-password" } });
    const config = {
      host: "127.0.0.1",
      port: smtp.port,
      tls,
      user: "u",
      password: "tls-password",
      from: "a@example.org",
      to: ["b@example.org"],
    };
    try {
      // Signed by nobody the system trusts: refused before any login is sent.
      const untrusted = await sendMail(config, mail);
      assert.equal(untrusted.ok, false, tls);
      assert.match(untrusted.message, /certificate/i);
      assert.equal(smtp.received.length, 0);

      const trusted = await sendMail({ ...config, ca: cert.cert }, mail);
      assert.equal(trusted.ok, true, `${tls}: ${trusted.message}`);
      assert.equal(smtp.received.length, 1);
      assert.equal(smtp.received[0].secure, true);
      assert.equal(smtp.received[0].user, "u");
      assert.equal(header(smtp.received[0].data, "Subject"), "over TLS");
    } finally {
      await smtp.close();
    }
  }
});

Deno.test("postWebhook() POSTs the report as JSON and retries a 503", async () => {
  const bodies: unknown[] = [];
  let calls = 0;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, signal: ac.signal },
    async (req) => {
      calls++;
      bodies.push({ type: req.headers.get("content-type"), body: await req.json() });
      return new Response(null, { status: calls === 1 ? 503 : 204 });
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/hooks/secret-path`;
  const { store, reporter: r } = reporter({ webhook: { url, retryDelayMs: 10 } });
  try {
    const { report, deliveries } = await r.send();
    assert.deepEqual(deliveries, [{
      transport: "webhook",
      ok: true,
      message: `http://127.0.0.1:${server.addr.port} answered 204`,
    }]);
    assert.equal(calls, 2);
    const last = bodies[1] as { type: string; body: { report: unknown; text: string } };
    assert.equal(last.type, "application/json");
    assert.deepEqual(last.body.report, JSON.parse(JSON.stringify(report)));
    assert.match(last.body.text, /^jobdist report: /);
  } finally {
    ac.abort();
    await server.finished;
    store.close();
  }
});

Deno.test("postWebhook() gives up on a 4xx at once and after the last retry otherwise; never shows the path", async () => {
  let calls = 0;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, signal: ac.signal },
    (req) => {
      calls++;
      return new Response(null, { status: new URL(req.url).pathname === "/gone" ? 410 : 500 });
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const signal = new AbortController().signal;
  try {
    const gone = await postWebhook({ url: `${base}/gone`, retryDelayMs: 1 }, {}, signal);
    assert.deepEqual(gone, {
      transport: "webhook",
      ok: false,
      message: `Cannot deliver to ${base} (1 attempt): ${base} answered 410`,
    });
    assert.equal(calls, 1);
    const broken = await postWebhook(
      { url: `${base}/x`, retryDelayMs: 1, attempts: 3 },
      {},
      signal,
    );
    assert.equal(broken.message, `Cannot deliver to ${base} (3 attempts): ${base} answered 500`);
    assert.equal(calls, 4);
  } finally {
    ac.abort();
    await server.finished;
  }
  const port = closedPort();
  const refused = await postWebhook(
    { url: `http://127.0.0.1:${port}/token-abc`, retryDelayMs: 1, attempts: 2 },
    {},
    signal,
  );
  assert.equal(refused.ok, false);
  assert.match(
    refused.message,
    new RegExp(`^Cannot deliver to http://127\\.0\\.0\\.1:${port} \\(2 attempts\\): `),
  );
  assert.ok(!refused.message.includes("token-abc"), refused.message);
});

Deno.test("checkReportConfig() rejects a bad cron expression or time zone", () => {
  assert.throws(
    () => checkReportConfig({ cron: "61 * * * *" }),
    /^Error: Invalid report schedule "61 \* \* \* \*": /,
  );
  assert.throws(
    () => checkReportConfig({ timezone: "Mars/Olympus" }),
    /Invalid report time zone "Mars\/Olympus": expected an IANA name/,
  );
  checkReportConfig({ cron: "30 6 * * 1-5", timezone: "Europe/Berlin" });
});
