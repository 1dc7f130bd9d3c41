/**
 * `jobdist server`: opens the store, recovers the scheduler's state, and serves the HTTP API,
 * the dashboard and the agent endpoint until `signal` aborts.
 * @module
 */

import { AgentRegistry } from "./agent_registry.ts";
import { createApp } from "./app.ts";
import { Access } from "./access.ts";
import { AuditLog } from "./audit.ts";
import { createAuthenticator, isLoopback } from "./auth.ts";
import { EventBus } from "./events.ts";
import { AgentHealth } from "./health.ts";
import { Ops } from "./ops.ts";
import { bootstrapAdmin, PrincipalStore } from "./principals.ts";
import type { Limits } from "./rate_limit.ts";
import { checkReportConfig, type ReportConfig, Reporter } from "./report_delivery.ts";
import { Scheduler } from "./scheduler.ts";
import { ScheduleManager } from "./schedules.ts";
import { ScheduleStore } from "./schedule_store.ts";
import { importSecretsKey, Secrets } from "./secrets.ts";
import { openStore } from "./store.ts";
import { jobView } from "./views.ts";
import { Webhooks, type WebhookTuning } from "./webhooks.ts";

/** Configuration of a server. */
export interface ServerConfig {
  /** `host:port` to listen on; port 0 picks a free one (default `127.0.0.1:7420`). */
  listen: string;
  /** SQLite file (`:memory:` for throwaway servers). */
  db: string;
  /** Tokens that grant full access (API and agents). */
  tokens: string[];
  /** Tokens that only let agents connect. */
  agentTokens?: string[];
  /** The admin token the operator chose (`--admin-token-file`): user `admin` gets it. */
  adminToken?: string;
  /**
   * Called with a new admin token on the first start of a server that listens beyond loopback
   * with no credentials at all (printed once by `jobdist server`). Without it such a server
   * refuses to start.
   */
  onAdminToken?: (token: string) => void;
  /** Abuse limits (rates, caps); defaults in `DEFAULT_LIMITS`. */
  limits?: Partial<Limits>;
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  lostAfterMs?: number;
  killGraceMs?: number;
  synchronous?: "FULL" | "NORMAL";
  /** Age after which finished jobs and their output are deleted (default 7 days). */
  retentionMs?: number;
  /** Webhook signing secret and delivery tuning (default: a secret kept in the database). */
  webhooks?: WebhookTuning;
  /** The daily report's schedule and transports (none: nothing is sent). */
  report?: ReportConfig;
  /** Called once the server listens. */
  onListen?: (info: { url: string; port: number; hostname: string }) => void;
  /** PEM certificate chain and private key: serve HTTPS and WSS instead of plain text. */
  tls?: { cert: string; key: string };
  /** Key that encrypts secrets at rest (32 bytes, base64 or hex); without it none are stored. */
  secretsKey?: string;
}

/** A running server. */
export interface RunningServer {
  url: string;
  port: number;
  scheduler: Scheduler;
  schedules: ScheduleManager;
  /** Resolves once the server has shut down. */
  finished: Promise<void>;
}

/** Splits `host:port` (IPv6 in brackets). */
export function parseListen(listen: string): { hostname: string; port: number } {
  const m = listen.match(/^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/);
  if (!m) {
    throw new Error(`Cannot listen on "${listen}": expected host:port such as 127.0.0.1:7420`);
  }
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`Cannot listen on "${listen}": port out of range`);
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** Starts a server; it stops when `signal` aborts. */
export async function startServer(
  config: ServerConfig,
  signal: AbortSignal,
): Promise<RunningServer> {
  const { hostname, port } = parseListen(config.listen);
  const tokens = config.tokens.filter(Boolean);
  const open = tokens.length === 0 && config.adminToken === undefined;
  if (open && !config.onAdminToken && !isLoopback(hostname)) {
    throw new Error(
      `Refusing to listen on ${hostname} without a token: anyone who can reach it could run ` +
        "commands on your agents. Set --token/--token-file (or JOBDIST_TOKEN), or listen on 127.0.0.1",
    );
  }
  checkReportConfig(config.report ?? {});
  const secretsKey = config.secretsKey ? await importSecretsKey(config.secretsKey) : null;
  const store = openStore(config.db, { synchronous: config.synchronous });
  const secrets = new Secrets({ db: store.db, store, key: secretsKey });
  try {
    await secrets.load();
  } catch (e) {
    store.close();
    throw e;
  }
  const events = new EventBus();
  const health = new AgentHealth(store);
  const agents = new AgentRegistry({
    hooks: health,
    store,
    events,
    heartbeatMs: config.heartbeatMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    lostAfterMs: config.lostAfterMs,
  });
  const scheduler = new Scheduler({
    store,
    events,
    agents,
    killGraceMs: config.killGraceMs,
    resolveSecrets: (spec) => secrets.resolve(spec),
  });
  const webhooks = new Webhooks({
    ...config.webhooks,
    store,
    events,
    render: (row) => jobView(row, scheduler, true),
  });
  // Before recovery, which may already end jobs (a schedule's overlap: replace).
  webhooks.start();
  agents.load();
  health.applyOverrides(agents.all());
  health.recover();
  const ops = new Ops({
    store,
    scheduler,
    health,
    dbPath: config.db,
    retentionMs: config.retentionMs,
  });
  scheduler.recover();
  const schedules = new ScheduleManager({ scheduler, store: new ScheduleStore(store.db, store) });
  schedules.recover();
  store.flush();
  const principals = new PrincipalStore({ db: store.db, jobs: store });
  const audit = new AuditLog({ db: store.db, jobs: store });
  if (config.adminToken !== undefined) bootstrapAdmin(principals, config.adminToken);
  else if (open && !isLoopback(hostname) && !principals.hasCredentials) {
    config.onAdminToken!(bootstrapAdmin(principals)!);
    audit.record({ action: "user.create", target: "user admin", detail: { bootstrap: true } });
  }
  store.flush();
  const auth = createAuthenticator({
    tokens,
    agentTokens: config.agentTokens ?? [],
    principals,
  });
  const access = new Access({ auth, audit, limits: config.limits });
  const reports = new Reporter({ store, health, config: config.report });
  const app = createApp({ scheduler, auth, access, schedules, ops, reports, secrets });

  const sweeper = setInterval(() => {
    for (const agent of agents.sweep()) scheduler.agentLost(agent);
  }, Math.min(1_000, agents.heartbeatMs));

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port, onListen: () => {}, ...config.tls }, app.fetch);
  } catch (e) {
    clearInterval(sweeper);
    webhooks.stop();
    ops.stop();
    store.close();
    return Promise.reject(e);
  }
  // Shut down by hand: handing `signal` to Deno.serve races its own request listeners.
  signal.addEventListener("abort", () => {
    agents.closeAll();
    server.shutdown().catch(() => {});
  }, { once: true });
  const finished = server.finished.then(() => {
    clearInterval(sweeper);
    scheduler.stop();
    webhooks.stop();
    reports.stop();
    ops.stop();
    store.close();
  });
  ops.start();
  reports.start();
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `${config.tls ? "https" : "http"}://${host}:${addr.port}`;
  config.onListen?.({ url, port: addr.port, hostname: addr.hostname });
  return Promise.resolve({ url, port: addr.port, scheduler, schedules, finished });
}
