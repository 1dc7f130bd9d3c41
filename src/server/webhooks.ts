/**
 * Webhooks: a job with a `webhook` gets a signed POST of its API view (as `GET /api/v1/jobs/:id`
 * shows it) when an attempt starts (`started`, if asked for) and when it reaches its final state
 * (`finished`). Each call is a row of `webhook_deliveries`, written in the group transaction of
 * the state change it reports (the scheduler's `job` event is emitted before that commits), so
 * a delivery is exactly as durable as the change. A background deliverer sends due rows with a
 * per-call timeout and at most `concurrency` calls in flight, retries failures with exponential
 * backoff and ±20 % jitter up to the webhook's `max_attempts`, and resumes whatever is pending
 * after a restart. Dispatch never waits for it: the event handler only writes a row.
 *
 * Signing (as Stripe does): every try carries
 *
 * ```
 * X-Jobdist-Event: started | finished
 * X-Jobdist-Delivery: <uuid, the same on every try: deduplicate on it>
 * X-Jobdist-Timestamp: <unix seconds of this try>
 * X-Jobdist-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 * ```
 *
 * A receiver recomputes the HMAC over the raw body, compares in constant time, and rejects
 * timestamps far from its clock (replays). Sending is at least once: an outcome lost in a crash
 * means the call is made again.
 * @module
 */

import {
  formatDuration,
  isTerminal,
  type JobView,
  parseDuration,
  VERSION,
  type Webhook,
  type WebhookDeliveryView,
} from "../protocol/mod.ts";
import { getLogger } from "../log.ts";
import type { EventBus, ServerEvent } from "./events.ts";
import { Statements } from "./sql.ts";
import { type JobRow, type JobStore, Store } from "./store.ts";

/** Settings of the deliverer an operator (or a test) may change. */
export interface WebhookTuning {
  /** Signing secret; without one, the secret kept in the database (generated once). */
  secret?: string;
  /** Calls in flight at once (default 8). */
  concurrency?: number;
  /** Wait before the second try (default 10 s); it doubles per try up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  /** Longest wait between tries (default 1 h). */
  maxBackoffMs?: number;
}

/** Options of {@linkcode Webhooks}. */
export interface WebhookOptions extends WebhookTuning {
  store: Store;
  events: EventBus;
  /** The job's API view, the body of every call. */
  render: (row: JobRow) => JobView;
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
  random?: () => number;
  fetch?: typeof fetch;
}

/** A row of `webhook_deliveries`. */
interface DeliveryRow {
  id: string;
  job_id: number;
  event: "started" | "finished";
  url: string;
  body: string;
  timeout_ms: number;
  max_attempts: number;
  state: "pending" | "succeeded" | "failed";
  attempts: number;
  status_code: number | null;
  error: string | null;
  created_at: number;
  last_attempt_at: number | null;
  next_attempt_at: number | null;
}

const BY_JOB = "SELECT * FROM webhook_deliveries WHERE job_id = ? ORDER BY created_at, rowid";
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Creates deliveries on job events and sends them. Build one per server. */
export class Webhooks {
  readonly #store: Store;
  readonly #events: EventBus;
  readonly #sql: Statements;
  readonly #render: (row: JobRow) => JobView;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #fetch: typeof fetch;
  readonly #concurrency: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #life = new AbortController();
  readonly #inFlight = new Set<string>();
  /** Deliveries written in a transaction that is not on disk yet: not to be sent before. */
  readonly #notDurable = new Set<string>();
  readonly #key: Promise<CryptoKey>;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: WebhookOptions) {
    this.#store = options.store;
    this.#events = options.events;
    this.#sql = new Statements(options.store.db);
    this.#render = options.render;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#fetch = options.fetch ?? fetch;
    this.#concurrency = options.concurrency ?? 8;
    this.#initialBackoffMs = options.initialBackoffMs ?? 10_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 3_600_000;
    const secret = options.secret ?? this.#storedSecret();
    this.#key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
  }

  /** Follows job events and sends what is due, pending deliveries of an earlier run included. */
  start(): void {
    this.#events.subscribe((e) => this.#onEvent(e), this.#life.signal);
    this.#pump();
  }

  /** Stops sending; calls in flight are abandoned and made again after the next start. */
  stop(): void {
    this.#life.abort();
    clearTimeout(this.#timer);
  }

  /** The signing secret generated on first start, kept in the database. */
  #storedSecret(): string {
    const row = this.#sql.get<{ secret: string }>("SELECT secret FROM webhook_secret WHERE id = 1");
    if (row) return row.secret;
    const secret = `whsec_${hex(crypto.getRandomValues(new Uint8Array(32)))}`;
    this.#store.write(() =>
      this.#sql.run(
        "INSERT INTO webhook_secret (id, secret, created_at) VALUES (1, ?, ?)",
        secret,
        this.#now(),
      )
    );
    return secret;
  }

  /** Records a delivery when a job with a webhook for this event starts or ends. */
  #onEvent(event: ServerEvent): void {
    if (event.type !== "job") return;
    const kind = event.state === "running"
      ? "started"
      : isTerminal(event.state)
      ? "finished"
      : null;
    // The scheduler says so when it had the spec at hand (an attempt's start and end).
    if (!kind || event.webhook === false) return;
    // SQLite reads the one field, so jobs without a webhook cost no JSON parse here. A batch's
    // tasks do not carry its webhook (the scheduler leaves it out of their specs).
    const found = this.#sql.get<{ webhook: string | null }>(
      "SELECT json_extract(spec, '$.webhook') AS webhook FROM jobs WHERE id = ?",
      event.id,
    );
    if (!found?.webhook) return;
    const hook: Webhook = JSON.parse(found.webhook);
    if (!hook.events.includes(kind)) return;
    const id = crypto.randomUUID();
    this.#notDurable.add(id);
    // Written right before the commit of the change it reports, which the scheduler may partly
    // defer to then (an attempt's start): the body shows the job as that commit leaves it.
    this.#store.beforeCommit(() => this.#record(id, event.id, kind, hook));
    // Sent once that commit is on disk, never before.
    this.#store.durable().then(
      () => {
        this.#notDurable.delete(id);
        this.#pump();
      },
      (e) => getLogger().error("commit failed, webhook deliveries withheld", { error: e }),
    );
  }

  /** Writes delivery `id`, whose body is the job's API view as it is now. */
  #record(id: string, jobId: number, kind: "started" | "finished", hook: Webhook): void {
    const row = this.#store.getJob(jobId);
    if (!row) return;
    const { webhooks: _, ...view } = this.#render(row);
    const now = this.#now();
    // A job ends once; the guard keeps a repeated event from calling twice.
    this.#sql.run(
      `INSERT INTO webhook_deliveries (id, job_id, event, url, body, timeout_ms, max_attempts,
         state, created_at, next_attempt_at)
       SELECT ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?
       WHERE ? = 'started' OR NOT EXISTS (SELECT 1 FROM webhook_deliveries
         WHERE job_id = ? AND event = 'finished')`,
      id,
      jobId,
      kind,
      hook.url,
      JSON.stringify(view),
      parseDuration(hook.timeout)!,
      hook.max_attempts,
      now,
      now,
      kind,
      jobId,
    );
  }

  /** Starts the due deliveries that fit, and arms a timer for the next one. */
  #pump(): void {
    if (this.#life.signal.aborted) return;
    clearTimeout(this.#timer);
    const now = this.#now();
    if (this.#inFlight.size < this.#concurrency) {
      // Calls in flight and rows not yet on disk are due rows too: leave room for them.
      const due = this.#sql.all<DeliveryRow>(
        `SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ?
          ORDER BY next_attempt_at LIMIT ?`,
        now,
        this.#concurrency + this.#notDurable.size,
      );
      for (const d of due) {
        if (this.#inFlight.size >= this.#concurrency) break;
        if (this.#inFlight.has(d.id) || this.#notDurable.has(d.id)) continue;
        // Only recording the outcome can throw (the call's own errors are its outcome).
        this.#send(d).catch((e) =>
          getLogger().error("webhook delivery outcome not recorded", { delivery: d.id, error: e })
        );
      }
    }
    const next = this.#sql.get<{ at: number | null }>(
      `SELECT MIN(next_attempt_at) AS at FROM webhook_deliveries
        WHERE state = 'pending' AND next_attempt_at > ?`,
      now,
    );
    if (next?.at != null) {
      this.#timer = setTimeout(() => this.#pump(), Math.min(next.at - now, MAX_TIMER_MS));
    }
  }

  /** Makes one try of delivery `d` and records its outcome. */
  async #send(d: DeliveryRow): Promise<void> {
    this.#inFlight.add(d.id);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const timestamp = String(Math.floor(this.#now() / 1000));
      const mac = await crypto.subtle.sign(
        "HMAC",
        await this.#key,
        new TextEncoder().encode(`${timestamp}.${d.body}`),
      );
      const res = await this.#fetch(d.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": `jobdist/${VERSION}`,
          "x-jobdist-event": d.event,
          "x-jobdist-delivery": d.id,
          "x-jobdist-timestamp": timestamp,
          "x-jobdist-signature": `v1=${hex(mac)}`,
        },
        body: d.body,
        // A redirect could point anywhere; the receiver should give its final URL.
        redirect: "manual",
        signal: AbortSignal.any([this.#life.signal, AbortSignal.timeout(d.timeout_ms)]),
      });
      status = res.status;
      res.body?.cancel().catch(() => {});
      if (status >= 300 && status < 400) {
        error = `HTTP ${status}: redirects are not followed (to ${res.headers.get("location")})`;
      } else if (status < 200 || status >= 300) {
        error = `HTTP ${status}`;
      }
    } catch (e) {
      error = e instanceof DOMException && e.name === "TimeoutError"
        ? `no answer within ${formatDuration(d.timeout_ms)}`
        : e instanceof Error
        ? e.message
        : String(e);
    } finally {
      this.#inFlight.delete(d.id);
    }
    // Shutting down: the try is abandoned, not counted, and made again after the next start.
    if (this.#life.signal.aborted) return;
    const now = this.#now();
    const attempts = d.attempts + 1;
    const state = error === null ? "succeeded" : attempts >= d.max_attempts ? "failed" : "pending";
    const next = state === "pending" ? now + this.#backoff(attempts) : null;
    this.#store.write(() =>
      this.#sql.run(
        `UPDATE webhook_deliveries SET state = ?, attempts = ?, status_code = ?, error = ?,
          last_attempt_at = ?, next_attempt_at = ? WHERE id = ?`,
        state,
        attempts,
        status,
        error,
        now,
        next,
        d.id,
      )
    );
    this.#pump();
  }

  /** Wait after `failed` tries: exponential from `initialBackoffMs`, capped, ±20 % jitter. */
  #backoff(failed: number): number {
    const base = Math.min(this.#maxBackoffMs, this.#initialBackoffMs * 2 ** (failed - 1));
    return Math.round(base * (0.8 + 0.4 * this.#random()));
  }
}

/** The webhook deliveries of job `jobId`, oldest first. */
export function webhookDeliveries(store: JobStore, jobId: number): WebhookDeliveryView[] {
  // Deliveries live beside the jobs in SQLite, like the other operations tables.
  if (!(store instanceof Store)) return [];
  return new Statements(store.db).all<DeliveryRow>(BY_JOB, jobId).map((d) => ({
    id: d.id,
    event: d.event,
    url: d.url,
    state: d.state,
    attempts: d.attempts,
    max_attempts: d.max_attempts,
    status_code: d.status_code,
    error: d.error,
    created_at: iso(d.created_at)!,
    last_attempt_at: iso(d.last_attempt_at),
    next_attempt_at: d.state === "pending" ? iso(d.next_attempt_at) : null,
  }));
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}
