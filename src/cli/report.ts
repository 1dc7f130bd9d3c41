/**
 * `jobdist report`: prints the server's report (jobs by queue, slowest and most-failing jobs,
 * agent uptime, agents lost) as text, HTML or JSON, or with `--send-now` has the server deliver
 * it by its configured transports. Also how the server's `--report-*` flags (declared in
 * `report_flags.ts`) become a {@linkcode ReportConfig}.
 * @module
 */

import { parseDuration } from "../protocol/mod.ts";
import type { ReportConfig, SmtpConfig } from "../server/report_delivery.ts";
import { readCaFile } from "./ca_file.ts";
import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, intFlag, type ParsedArgs, UsageError } from "./flags.ts";

/** The environment variable holding the SMTP password (never a flag: argv is visible to all). */
export const SMTP_PASSWORD_ENV = "JOBDIST_REPORT_SMTP_PASSWORD";

const DEFAULT_PORTS = { tls: 465, starttls: 587, none: 25 } as const;

/** Builds the report configuration from the server's flags; usage errors name the flag. */
export async function reportConfig(
  args: ParsedArgs,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Promise<ReportConfig> {
  const periodText = args.str("report-period");
  const periodMs = periodText === undefined ? undefined : parseDuration(periodText);
  if (periodText !== undefined && !periodMs) {
    throw new UsageError(
      `Invalid --report-period "${periodText}": expected a duration such as 24h`,
    );
  }
  const config: ReportConfig = {
    cron: args.str("report-cron"),
    timezone: args.str("report-timezone"),
    periodMs,
    smtp: await smtpConfig(args, env),
  };
  const webhook = args.str("report-webhook");
  if (webhook !== undefined) {
    if (!/^https?:\/\/[^/]/.test(webhook) || !URL.canParse(webhook)) {
      throw new UsageError("Invalid --report-webhook: expected an http:// or https:// URL");
    }
    config.webhook = { url: webhook };
  }
  return config;
}

async function smtpConfig(
  args: ParsedArgs,
  env: (name: string) => string | undefined,
): Promise<SmtpConfig | undefined> {
  const host = args.str("report-smtp-host");
  const to = args.list("report-to");
  const from = args.str("report-from");
  if (!host) {
    const stray = to.length ? "--report-to" : from ? "--report-from" : undefined;
    if (stray) throw new UsageError(`${stray} needs --report-smtp-host`);
    return undefined;
  }
  const tls = args.str("report-smtp-tls") ?? "starttls";
  if (tls !== "tls" && tls !== "starttls" && tls !== "none") {
    throw new UsageError(`Invalid --report-smtp-tls "${tls}": expected tls, starttls or none`);
  }
  if (!from || !from.includes("@")) {
    throw new UsageError("--report-smtp-host needs --report-from with a mail address");
  }
  if (to.length === 0) throw new UsageError("--report-smtp-host needs at least one --report-to");
  const bad = to.find((a) => !a.includes("@"));
  if (bad !== undefined) {
    throw new UsageError(`Invalid --report-to "${bad}": expected a mail address`);
  }
  const user = args.str("report-smtp-user");
  const passwordFile = await readFlagFile(args, "report-smtp-password-file");
  // A password file usually ends with a newline that is not part of the password.
  const password = passwordFile?.replace(/\r?\n$/, "") ?? env(SMTP_PASSWORD_ENV);
  const caFile = args.str("report-smtp-ca");
  const ca = caFile ? readCaFile(caFile, "--report-smtp-ca").join("\n") : undefined;
  if (user && !password) {
    throw new UsageError(
      `--report-smtp-user needs a password: --report-smtp-password-file or ${SMTP_PASSWORD_ENV}`,
    );
  }
  return {
    host,
    port: intFlag(args.str("report-smtp-port"), "report-smtp-port", 1, 65_535) ??
      DEFAULT_PORTS[tls],
    tls,
    user,
    password: user ? password : undefined,
    ca,
    from,
    to,
  };
}

/** The text of the file flag `name` names, if set; an unreadable file is a usage error. */
async function readFlagFile(args: ParsedArgs, name: string): Promise<string | undefined> {
  const path = args.str(name);
  if (!path) return undefined;
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`Cannot read --${name} ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/** `jobdist report`. */
export const report: Command = {
  name: "report",
  synopsis: "jobdist report [--period 24h] [--format text|html|json] [--send-now]",
  summary: "Print the report of the last day (jobs, failures, agent uptime), or send it now.",
  flags: [
    ...CLIENT_FLAGS,
    {
      name: "period",
      type: "string",
      value: "DURATION",
      help: "period up to now the report covers (default: the server's --report-period)",
    },
    {
      name: "format",
      type: "string",
      default: "text",
      value: "text|html|json",
      help: "how to print the report",
    },
    {
      name: "send-now",
      type: "boolean",
      help: "have the server deliver the report by its transports now, and print the outcome",
    },
  ],
  async run(args) {
    if (args.positionals.length) throw new UsageError("report takes no arguments");
    const period = args.str("period");
    if (period !== undefined && !parseDuration(period)) {
      throw new UsageError(`Invalid --period "${period}": expected a duration such as 24h`);
    }
    const client = clientFromArgs(args);
    try {
      if (args.bool("send-now")) {
        const answer = await client.call("sendReport", { query: { period } });
        for (const d of answer.deliveries) {
          if (d.ok) console.log(`${d.transport}: ${d.message}`);
          else console.error(`jobdist report: ${d.transport}: ${d.message}`);
        }
        return answer.ok ? 0 : 1;
      }
      const format = args.str("format")!;
      if (format !== "text" && format !== "html" && format !== "json") {
        throw new UsageError(`Invalid --format "${format}": expected text, html or json`);
      }
      const res = await client.request("getReport", { query: { format, period } });
      console.log((await res.text()).trimEnd());
    } finally {
      client.close();
    }
    return 0;
  },
};
