/**
 * The server's `--report-*` flags, declared apart from `jobdist report` (`report.ts`, which turns
 * them into a report configuration): every role reads the server's flags to check a whole
 * configuration file, and an agent must not load the API client to do so.
 * @module
 */

import type { Flag } from "./flags.ts";

/** The server's report flags. The SMTP password comes from a file or `JOBDIST_REPORT_SMTP_PASSWORD`. */
export const REPORT_FLAGS: Flag[] = [
  {
    name: "report-cron",
    type: "string",
    env: "JOBDIST_REPORT_CRON",
    default: "0 7 * * *",
    value: "CRON",
    help: "when to send the report (needs --report-smtp-host or --report-webhook)",
  },
  {
    name: "report-timezone",
    type: "string",
    env: "JOBDIST_REPORT_TIMEZONE",
    default: "UTC",
    value: "ZONE",
    help: "IANA time zone of --report-cron and of the times in the report",
  },
  {
    name: "report-period",
    type: "string",
    env: "JOBDIST_REPORT_PERIOD",
    default: "24h",
    value: "DURATION",
    help: "period each report covers, up to its sending",
  },
  {
    name: "report-smtp-host",
    type: "string",
    env: "JOBDIST_REPORT_SMTP_HOST",
    value: "HOST",
    help: "mail server to send the report through",
  },
  {
    name: "report-smtp-port",
    type: "string",
    env: "JOBDIST_REPORT_SMTP_PORT",
    value: "PORT",
    help: "mail server port (default 465 with tls, 587 with starttls, 25 with none)",
  },
  {
    name: "report-smtp-tls",
    type: "string",
    env: "JOBDIST_REPORT_SMTP_TLS",
    default: "starttls",
    value: "tls|starttls|none",
    help: "TLS from the start, a required STARTTLS upgrade, or plain text",
  },
  {
    name: "report-smtp-ca",
    type: "string",
    env: "JOBDIST_REPORT_SMTP_CA",
    value: "PATH",
    help: "PEM file of the CAs that may sign the mail server's certificate (default: the system's)",
  },
  {
    name: "report-smtp-user",
    type: "string",
    env: "JOBDIST_REPORT_SMTP_USER",
    value: "USER",
    help:
      "SMTP login (the password from --report-smtp-password-file or JOBDIST_REPORT_SMTP_PASSWORD)",
  },
  {
    name: "report-smtp-password-file",
    type: "string",
    env: "JOBDIST_REPORT_SMTP_PASSWORD_FILE",
    value: "PATH",
    help: "file holding the SMTP password",
  },
  {
    name: "report-from",
    type: "string",
    env: "JOBDIST_REPORT_FROM",
    value: "ADDRESS",
    help: "sender of the report mail",
  },
  {
    name: "report-to",
    type: "string",
    multiple: true,
    env: "JOBDIST_REPORT_TO",
    value: "ADDRESS",
    help: "recipient of the report mail",
  },
  {
    name: "report-webhook",
    type: "string",
    env: "JOBDIST_REPORT_WEBHOOK",
    value: "URL",
    help: "URL to POST the report to as JSON",
  },
];
