/**
 * `jobdist agent`: detects runtimes, dials the server and runs jobs until `signal` aborts;
 * then drains (running jobs get `drainTimeoutMs` to finish) and exits.
 * @module
 */

import { getLogger } from "../log.ts";
import { isLoopback } from "../protocol/net.ts";
import { detectRuntimes, type Runtime } from "./runtimes.ts";
import { runConnection } from "./connection.ts";
import { agentToken } from "./enrol.ts";
import { JobPolicy, lookupUser } from "./isolation.ts";
import { Worker } from "./worker.ts";

/** Configuration of an agent. */
export interface AgentConfig {
  /** Server URL: `ws(s)://host:port` or `http(s)://host:port`. */
  server: string;
  token?: string;
  /** Enrol once with this join token; the agent's own token is then kept in `stateDir`. */
  joinToken?: string;
  name: string;
  /** Stable id; default: kept in `stateDir`, else made up from the name. */
  id?: string;
  /** Where the agent keeps its id across restarts. */
  stateDir?: string;
  slots: number;
  labels: Record<string, string>;
  /** Runtimes declared with `--runtime NAME=TEMPLATE`. */
  runtimes: Runtime[];
  workRoot?: string;
  /** How long running jobs may finish after a stop is asked (default 30 s). */
  drainTimeoutMs?: number;
  /** Memory for unacknowledged output before it spills to disk (default 64 MiB). */
  outputMemoryBytes?: number;
  /** Where agent log lines go (default stderr). */
  log?: (line: string) => void;
  /** Run at most this many jobs, then exit (`--once` is 1). */
  maxJobs?: number;
  /** Exit after running nothing for this long (ms). */
  idleExitMs?: number;
  /** PEM certificates of the CAs that may sign the server's certificate (default: system roots). */
  caCerts?: string[];
  /** Allow plain `ws://` to a server beyond loopback (the token and jobs travel unencrypted). */
  insecure?: boolean;
  /** Run jobs as this unprivileged user (name or id); the agent must run as root. */
  runAs?: string;
  /** Script runtimes jobs may use (default: every runtime the agent has). */
  allowRuntimes?: string[];
  /** Refuse shell jobs, the bash and sh runtimes and commands that start a shell. */
  denyShell?: boolean;
  /** How jobs start (`--spawn`; see `WorkerOptions.spawn`). */
  spawn?: "auto" | "command";
}

/** Turns `--server` into the agent endpoint URL. */
export function agentUrl(server: string): string {
  let url: URL;
  try {
    url = new URL(server.includes("://") ? server : `ws://${server}`);
  } catch {
    throw new Error(`Invalid --server "${server}": expected a URL such as ws://host:7420`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new Error(`Invalid --server "${server}": use ws://, wss://, http:// or https://`);
  }
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/ws/agent";
  return url.toString();
}

/** Throws unless `url` is encrypted (`wss:`), on loopback, or `insecure` allows plain text. */
export function checkTransport(url: string, insecure = false): void {
  const { protocol, hostname } = new URL(url);
  if (protocol === "wss:" || insecure || isLoopback(hostname)) return;
  throw new Error(
    `Refusing plain ${protocol}// to ${hostname}: the agent's token and every job would cross ` +
      "the network unencrypted. Serve TLS (server --tls-cert/--tls-key) and use wss:// or " +
      "https://, or pass --insecure",
  );
}

/** The agent's id: given, else remembered in `stateDir`, else new. */
export async function agentId(config: AgentConfig): Promise<string> {
  if (config.id) return config.id;
  const base = config.name.replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 60) || "agent";
  const fresh = `${base}-${crypto.randomUUID().slice(0, 8)}`;
  if (!config.stateDir) return fresh;
  const file = `${config.stateDir}/agent_id`;
  try {
    return (await Deno.readTextFile(file)).trim();
  } catch {
    await Deno.mkdir(config.stateDir, { recursive: true });
    await Deno.writeTextFile(file, fresh + "\n");
    return fresh;
  }
}

/** Runs an agent until `signal` aborts. Rejects with a FatalError on a fatal server answer. */
export async function runAgent(config: AgentConfig, signal: AbortSignal): Promise<void> {
  const log = config.log ??
    ((line: string) => getLogger().info(line, { agent: config.name }));
  const url = agentUrl(config.server);
  checkTransport(url, config.insecure);
  const runAs = config.runAs ? await lookupUser(config.runAs) : undefined;
  const detected = await detectRuntimes({
    declared: config.runtimes,
    denoFallback: Deno.execPath().endsWith("deno") ? Deno.execPath() : null,
  });
  const policy = new JobPolicy(detected, {
    allowRuntimes: config.allowRuntimes,
    denyShell: config.denyShell,
  });
  for (const name of config.allowRuntimes ?? []) {
    if (!detected.has(name)) log(`--allow-runtime ${name}: this host has no such runtime`);
  }
  const id = await agentId(config);
  const token = await agentToken(config, id, log);
  const worker = new Worker({
    id,
    name: config.name,
    token,
    slots: config.slots,
    labels: config.labels,
    runtimes: policy.runtimes,
    workRoot: config.workRoot,
    log,
    maxJobs: config.maxJobs,
    outputMemoryBytes: config.outputMemoryBytes,
    runAs,
    policy,
    spawn: config.spawn,
  });
  const tls = config.caCerts?.length ? Deno.createHttpClient({ caCerts: config.caCerts }) : null;
  const init: Record<string, unknown> = {};
  if (token) init.headers = { authorization: `Bearer ${token}` };
  if (tls) init.client = tls;
  worker.reapOrphans();
  const reaper = setInterval(() => worker.reapOrphans(), 10_000);
  // The connection outlives `signal` while running jobs drain and report.
  const connection = new AbortController();
  const stop = async () => {
    await worker.drain(config.drainTimeoutMs ?? 30_000);
    connection.abort();
  };
  // `signal` may have aborted while the runtimes were being detected.
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });
  const ephemeral = watchEphemeral(worker, config, log, () => connection.abort());
  try {
    await runConnection(
      url,
      {
        onOpen: (s) => worker.opened(s),
        onMessage: (text, s) => worker.receive(text, s),
        onClose: () => worker.closed(),
      },
      connection.signal,
      {
        init: Object.keys(init).length ? init : undefined,
        onRetry: (error, delay) => log(`${error}; retrying in ${Math.round(delay)} ms`),
        wasAccepted: () => worker.welcomed,
      },
    );
  } finally {
    clearInterval(ephemeral);
    clearInterval(reaper);
    worker.stopAll("drain");
    tls?.close();
  }
}

/**
 * Ephemeral agents (the work-queue pattern): exit once `maxJobs` jobs are done and
 * acknowledged, or after `idleExitMs` with nothing to run. Returns the watch timer.
 */
function watchEphemeral(
  worker: Worker,
  config: AgentConfig,
  log: (line: string) => void,
  exit: () => void,
): ReturnType<typeof setInterval> | undefined {
  if (config.maxJobs === undefined && config.idleExitMs === undefined) return undefined;
  let leaving = false;
  const leave = (why: string) => {
    leaving = true;
    log(`exiting: ${why}`);
    exit();
  };
  return setInterval(() => {
    if (leaving) return;
    if (worker.limitReached && worker.busy === 0) {
      leave(`ran ${worker.accepted} job(s) (--max-jobs)`);
    } else if (
      config.idleExitMs !== undefined && !worker.limitReached && worker.busy === 0 &&
      Date.now() - worker.idleSince >= config.idleExitMs
    ) {
      leave(`idle for ${config.idleExitMs} ms (--idle-exit)`);
    }
  }, Math.max(20, Math.min(500, (config.idleExitMs ?? 2_000) / 4)));
}
