/**
 * Delivery of the daily report: by SMTP (nodemailer; TLS, STARTTLS or plain, optional login)
 * and/or by a webhook (one JSON POST, a timeout and a few retries), on a cron schedule in a
 * time zone while the server runs, or at once when asked. A delivery that fails is reported
 * as a {@linkcode Delivery} with the reason; it never throws into the server.
 * @module
 */

import { Cron } from "croner";
import { setTimeout as delay } from "node:timers/promises";
import { getLogger } from "../log.ts";
import { formatDuration, VERSION } from "../protocol/mod.ts";
import type { AgentHealth } from "./health.ts";
import {
  buildReport,
  DEFAULT_REPORT_PERIOD_MS,
  renderHtml,
  renderText,
  type Report,
  reportSubject,
} from "./report.ts";
import { cronOf } from "./schedules.ts";
import type { Store } from "./store.ts";

/** How to reach the mail server. */
export interface SmtpConfig {
  host: string;
  port: number;
  /** `tls`: TLS from the first byte (port 465); `starttls`: upgrade, required; `none`: plain. */
  tls: "tls" | "starttls" | "none";
  user?: string;
  password?: string;
  /** PEM certificates of the CAs that may sign the mail server's certificate (default: the system's). */
  ca?: string;
  from: string;
  to: string[];
  /** Connection, greeting and socket timeout in ms (default 30 s). */
  timeoutMs?: number;
}

/** Where to POST the report as JSON. */
export interface WebhookConfig {
  url: string;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Requests in all before giving up (default 3). */
  attempts?: number;
  /** Wait before the first retry, doubled for each next one (default 2 s). */
  retryDelayMs?: number;
}

/** The report's schedule and transports. */
export interface ReportConfig {
  /** Cron expression (default `0 7 * * *`). */
  cron?: string;
  /** IANA zone of the cron expression and of the times in the report (default `UTC`). */
  timezone?: string;
  /** Period each report covers (default 24 h). */
  periodMs?: number;
  smtp?: SmtpConfig;
  webhook?: WebhookConfig;
}

/** The outcome of one transport. */
export interface Delivery {
  transport: "smtp" | "webhook";
  ok: boolean;
  /** What happened, for people: recipients or the reason it failed. Never a secret. */
  message: string;
}

/** Default schedule of the report: every day at 07:00. */
export const DEFAULT_REPORT_CRON = "0 7 * * *";

/** Options of {@linkcode Reporter}. */
export interface ReporterOptions {
  store: Store;
  health: AgentHealth;
  config?: ReportConfig;
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
}

/** Throws a clear error when the report's time zone or schedule is not valid. */
export function checkReportConfig(config: ReportConfig): void {
  const timezone = config.timezone ?? "UTC";
  try {
    new Intl.DateTimeFormat("en", { timeZone: timezone });
  } catch {
    throw new Error(
      `Invalid report time zone "${timezone}": expected an IANA name such as Europe/Berlin`,
    );
  }
  const cron = config.cron ?? DEFAULT_REPORT_CRON;
  try {
    cronOf({ cron, timezone }).stop();
  } catch (e) {
    throw new Error(`Invalid report schedule "${cron}": ${errText(e)}`);
  }
}

/**
 * Builds reports and delivers them, on schedule or on demand. Check its config with
 * {@linkcode checkReportConfig} first.
 */
export class Reporter {
  readonly config: ReportConfig;
  readonly timezone: string;
  readonly #o: ReporterOptions;
  readonly #now: () => number;
  readonly #life = new AbortController();
  #cron: Cron | undefined;

  constructor(options: ReporterOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.config = options.config ?? {};
    this.timezone = this.config.timezone ?? "UTC";
  }

  /** Whether a transport is configured (without one, nothing is scheduled or sent). */
  get configured(): boolean {
    return Boolean(this.config.smtp || this.config.webhook);
  }

  /** The report for the period ending now (default period: the configured one). */
  report(periodMs = this.config.periodMs ?? DEFAULT_REPORT_PERIOD_MS): Report {
    return buildReport(this.#o.store, this.#o.health, { now: this.#now(), periodMs });
  }

  /** Builds the report and delivers it by every configured transport. */
  async send(periodMs?: number): Promise<{ report: Report; deliveries: Delivery[] }> {
    const report = this.report(periodMs);
    const render = { timezone: this.timezone };
    const text = renderText(report, render);
    const { smtp, webhook } = this.config;
    const deliveries = await Promise.all([
      smtp &&
      sendMail(smtp, {
        subject: reportSubject(report, render),
        text,
        html: renderHtml(report, render),
      }),
      webhook && postWebhook(webhook, { report, text }, this.#life.signal),
    ]);
    return { report, deliveries: deliveries.filter((d): d is Delivery => d !== undefined) };
  }

  /** Starts the schedule, when a transport is configured. */
  start(): void {
    if (!this.configured || this.#cron) return;
    this.#cron = new Cron(
      this.config.cron ?? DEFAULT_REPORT_CRON,
      { timezone: this.timezone, mode: "5-or-6-parts", protect: true },
      async () => {
        try {
          for (const d of (await this.send()).deliveries) {
            const fields = { transport: d.transport, detail: d.message };
            if (d.ok) getLogger().info("report sent", fields);
            else getLogger().warn("report not sent", fields);
          }
        } catch (e) {
          // A report that cannot be built (the database failing) must not take the server down.
          getLogger().error("report not sent", { error: e });
        }
      },
    );
  }

  /** Stops the schedule and abandons webhook deliveries under way. */
  stop(): void {
    this.#cron?.stop();
    this.#life.abort();
  }
}

/** Sends one mail; resolves to the outcome. */
export async function sendMail(
  smtp: SmtpConfig,
  mail: { subject: string; text: string; html: string },
): Promise<Delivery> {
  const timeout = smtp.timeoutMs ?? 30_000;
  const where = `${smtp.host}:${smtp.port}`;
  // Loaded on first use, so a server that sends no mail does not pay for nodemailer at start.
  const { default: nodemailer } = await import("nodemailer");
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.tls === "tls",
    requireTLS: smtp.tls === "starttls",
    ignoreTLS: smtp.tls === "none",
    auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? "" } : undefined,
    tls: smtp.ca ? { ca: smtp.ca } : undefined,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
  });
  try {
    const info = await transport.sendMail({ from: smtp.from, to: smtp.to, ...mail });
    const rejected = info.rejected.map(String);
    const accepted = info.accepted.map(String);
    return {
      transport: "smtp",
      ok: rejected.length === 0,
      message: `sent to ${accepted.join(", ") || "nobody"} via ${where}` +
        (rejected.length ? `; rejected: ${rejected.join(", ")}` : ""),
    };
  } catch (e) {
    return {
      transport: "smtp",
      ok: false,
      message: `Cannot send mail via ${where}: ${errText(e)}`,
    };
  } finally {
    transport.close();
  }
}

/**
 * POSTs `payload` as JSON; retries network errors, timeouts, 408, 429 and 5xx answers with a
 * doubling delay. Messages name only the URL's origin: its path may hold a secret.
 */
export async function postWebhook(
  webhook: WebhookConfig,
  payload: unknown,
  signal: AbortSignal,
): Promise<Delivery> {
  const origin = new URL(webhook.url).origin;
  const timeout = webhook.timeoutMs ?? 10_000;
  const attempts = webhook.attempts ?? 3;
  const body = JSON.stringify(payload);
  let why = "";
  let n = 0;
  while (n < attempts && !signal.aborted) {
    if (n > 0) {
      // Aborting (server shutting down) ends the wait early; the loop then stops.
      await delay((webhook.retryDelayMs ?? 2_000) * 2 ** (n - 1), undefined, { signal })
        .catch(() => {});
    }
    n++;
    try {
      const res = await fetch(webhook.url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": `jobdist/${VERSION}` },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]),
      });
      await res.body?.cancel();
      if (res.ok) {
        return { transport: "webhook", ok: true, message: `${origin} answered ${res.status}` };
      }
      why = `${origin} answered ${res.status}`;
      if (res.status < 500 && res.status !== 408 && res.status !== 429) break;
    } catch (e) {
      why = e instanceof DOMException && e.name === "TimeoutError"
        ? `${origin} did not answer within ${formatDuration(timeout)}`
        : errText(e).replaceAll(webhook.url, origin);
    }
  }
  return {
    transport: "webhook",
    ok: false,
    message: `Cannot deliver to ${origin} (${n} attempt${n === 1 ? "" : "s"}): ${why || "stopped"}`,
  };
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
