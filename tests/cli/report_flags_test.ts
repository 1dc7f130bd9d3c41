import assert from "node:assert/strict";
import { parseFlags, UsageError } from "../../src/cli/flags.ts";
import { reportConfig } from "../../src/cli/report.ts";
import { server } from "../../src/cli/roles.ts";

/** The report configuration `jobdist server ARGV` builds with environment `env`. */
function config(argv: string[], env: Record<string, string> = {}) {
  const get = (n: string) => env[n];
  return reportConfig(parseFlags(server, argv, get), get);
}

const SMTP = ["--report-smtp-host", "mail.example.org", "--report-from", "jobdist@example.org"];

Deno.test("--report-* flags: defaults, ports by TLS mode, recipients from flags or env", async () => {
  let c = await config([]);
  assert.deepEqual(c, {
    cron: "0 7 * * *",
    timezone: "UTC",
    periodMs: 86_400_000,
    smtp: undefined,
  });
  c = await config([...SMTP, "--report-to", "a@example.org", "--report-to", "b@example.org"]);
  assert.equal(c.smtp?.port, 587);
  assert.equal(c.smtp?.tls, "starttls");
  assert.deepEqual(c.smtp?.to, ["a@example.org", "b@example.org"]);
  c = await config([...SMTP, "--report-smtp-tls", "tls"], {
    JOBDIST_REPORT_TO: "a@example.org, b@example.org",
    JOBDIST_REPORT_WEBHOOK: "https://hooks.example.org/x",
    JOBDIST_REPORT_CRON: "30 6 * * 1-5",
  });
  assert.equal(c.smtp?.port, 465);
  assert.deepEqual(c.smtp?.to, ["a@example.org", "b@example.org"]);
  assert.deepEqual(c.webhook, { url: "https://hooks.example.org/x" });
  assert.equal(c.cron, "30 6 * * 1-5");
  c = await config([...SMTP, "--report-to", "a@example.org", "--report-smtp-tls", "none"]);
  assert.equal(c.smtp?.port, 25);
  c = await config([...SMTP, "--report-to", "a@example.org", "--report-smtp-port", "2525"]);
  assert.equal(c.smtp?.port, 2525);
});

Deno.test("--report-* flags: the SMTP password comes from a file or the environment, the CA from a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/password`, "from-the-file\n");
    await Deno.writeTextFile(`${dir}/ca.pem`, "-----BEGIN CERTIFICATE-----\n");
    const login = [...SMTP, "--report-to", "a@example.org", "--report-smtp-user", "jobdist"];
    let c = await config(login, { JOBDIST_REPORT_SMTP_PASSWORD: "from-the-env" });
    assert.equal(c.smtp?.password, "from-the-env");
    c = await config(
      [
        ...login,
        "--report-smtp-password-file",
        `${dir}/password`,
        "--report-smtp-ca",
        `${dir}/ca.pem`,
      ],
      { JOBDIST_REPORT_SMTP_PASSWORD: "from-the-env" },
    );
    assert.equal(c.smtp?.password, "from-the-file");
    assert.equal(c.smtp?.ca, "-----BEGIN CERTIFICATE-----\n");
    // No login, no password (even if the environment has one).
    c = await config([...SMTP, "--report-to", "a@example.org"], {
      JOBDIST_REPORT_SMTP_PASSWORD: "unused",
    });
    assert.equal(c.smtp?.password, undefined);

    await assert.rejects(
      async () =>
        await config([...login, "--report-smtp-ca", `${dir}/missing.pem`], {
          JOBDIST_REPORT_SMTP_PASSWORD: "x",
        }),
      (e) =>
        e instanceof UsageError && /^Cannot read --report-smtp-ca .*missing\.pem/.test(e.message),
    );
    await assert.rejects(
      async () =>
        await config([...SMTP, "--report-to", "a@example.org", "--report-smtp-tls", "ssl"]),
      /Invalid --report-smtp-tls "ssl": expected tls, starttls or none|report-smtp-tls/,
    );
    await assert.rejects(
      async () => await config([...SMTP, "--report-to", "not-an-address"]),
      /Invalid --report-to "not-an-address": expected a mail address/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
