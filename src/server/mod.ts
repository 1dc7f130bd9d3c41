/**
 * `jobdist server`: opens the store, recovers the scheduler's state, and serves the HTTP API,
 * the dashboard and the agent endpoint until `signal` aborts.
 * @module
 */

import { AgentRegistry } from "./agent_registry.ts";
import { createApp } from "./app.ts";
import { createAuthenticator, isLoopback } from "./auth.ts";
import { EventBus } from "./events.ts";
import { AgentHealth } from "./health.ts";
import { Ops } from "./ops.ts";
import { checkReportConfig, type ReportConfig, Reporter } from "./report_delivery.ts";
import { Scheduler } from "./scheduler.ts";
import { ScheduleManager } from "./schedules.ts";
import { ScheduleStore } from "./schedule_store.ts";
import { openStore } from "./store.ts";

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
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  lostAfterMs?: number;
  killGraceMs?: number;
  synchronous?: "FULL" | "NORMAL";
  /** Age after which finished jobs and their output are deleted (default 7 days). */
  retentionMs?: number;
  /** The daily report's schedule and transports (none: nothing is sent). */
  report?: ReportConfig;
  /** Called once the server listens. */
  onListen?: (info: { url: string; port: number; hostname: string }) => void;
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
export function startServer(config: ServerConfig, signal: AbortSignal): Promise<RunningServer> {
  const { hostname, port } = parseListen(config.listen);
  const tokens = config.tokens.filter(Boolean);
  if (tokens.length === 0 && !isLoopback(hostname)) {
    throw new Error(
      `Refusing to listen on ${hostname} without a token: anyone who can reach it could run ` +
        "commands on your agents. Set --token/--token-file (or JOBDIST_TOKEN), or listen on 127.0.0.1",
    );
  }
  checkReportConfig(config.report ?? {});
  const store = openStore(config.db, { synchronous: config.synchronous });
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
  const scheduler = new Scheduler({ store, events, agents, killGraceMs: config.killGraceMs });
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
  const auth = createAuthenticator({ tokens, agentTokens: config.agentTokens ?? [] });
  const reports = new Reporter({ store, health, config: config.report });
  const app = createApp({ scheduler, auth, schedules, ops });

  const sweeper = setInterval(() => {
    for (const agent of agents.sweep()) scheduler.agentLost(agent);
  }, Math.min(1_000, agents.heartbeatMs));

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port, onListen: () => {} }, app.fetch);
  } catch (e) {
    clearInterval(sweeper);
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
    reports.stop();
    ops.stop();
    store.close();
  });
  ops.start();
  reports.start();
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `http://${host}:${addr.port}`;
  config.onListen?.({ url, port: addr.port, hostname: addr.hostname });
  return Promise.resolve({ url, port: addr.port, scheduler, schedules, finished });
}
