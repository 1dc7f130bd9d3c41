/**
 * The long-running roles: `jobdist server`, `jobdist agent` and `jobdist dev` (both in one
 * process, with a local database: the one-command demo).
 * @module
 */

import { type AgentConfig, runAgent } from "../agent/mod.ts";
import { parseRuntimeFlag } from "../agent/runtimes.ts";
import { parseDuration } from "../protocol/mod.ts";
import { isLoopback } from "../protocol/net.ts";
import type { ServerConfig } from "../server/mod.ts";
import {
  type Command,
  type Flag,
  intFlag,
  type ParsedArgs,
  parsePairs,
  UsageError,
} from "./flags.ts";
import { REPORT_FLAGS, reportConfig } from "./report.ts";
import { readCaFile } from "./connect.ts";
import { LOG_FORMATS, LOG_LEVELS, Logger, setLogger } from "../log.ts";

const SERVER_FLAGS: Flag[] = [
  {
    name: "listen",
    type: "string",
    env: "JOBDIST_LISTEN",
    default: "127.0.0.1:7420",
    value: "HOST:PORT",
    help: "address to serve HTTP and agents on (port 0: any free port)",
  },
  {
    name: "db",
    type: "string",
    env: "JOBDIST_DB",
    default: "./jobdist.db",
    value: "PATH",
    help: "SQLite database file",
  },
  {
    name: "token",
    type: "string",
    multiple: true,
    env: "JOBDIST_TOKEN",
    value: "TOKEN",
    help: "token that grants API and agent access; required to listen beyond loopback",
  },
  {
    name: "token-file",
    type: "string",
    env: "JOBDIST_TOKEN_FILE",
    value: "PATH",
    help: "file with one token per line",
  },
  {
    name: "agent-token",
    type: "string",
    multiple: true,
    env: "JOBDIST_AGENT_TOKEN",
    value: "TOKEN",
    help: "token that only lets agents connect",
  },
  {
    name: "heartbeat",
    type: "string",
    env: "JOBDIST_HEARTBEAT",
    default: "5s",
    value: "DURATION",
    help: "heartbeat interval agents are told to use",
  },
  {
    name: "heartbeat-timeout",
    type: "string",
    env: "JOBDIST_HEARTBEAT_TIMEOUT",
    value: "DURATION",
    help: "silence after which an agent is disconnected (default 3 heartbeats)",
  },
  {
    name: "lost-after",
    type: "string",
    env: "JOBDIST_LOST_AFTER",
    default: "30s",
    value: "DURATION",
    help: "grace for a disconnected agent before its jobs are requeued",
  },
  {
    name: "kill-grace",
    type: "string",
    env: "JOBDIST_KILL_GRACE",
    default: "10s",
    value: "DURATION",
    help: "TERM-to-KILL grace when a job sets none",
  },
  {
    name: "retention",
    type: "string",
    env: "JOBDIST_RETENTION",
    default: "7d",
    value: "DURATION",
    help: "delete finished jobs, their output and attempts after this age",
  },
  {
    name: "admin-token-file",
    type: "string",
    env: "JOBDIST_ADMIN_TOKEN_FILE",
    value: "PATH",
    help:
      "file with the token of user admin (else, on the first start beyond loopback without tokens, one is made and printed once)",
  },
  {
    name: "max-queued-per-user",
    type: "string",
    env: "JOBDIST_MAX_QUEUED_PER_USER",
    value: "N",
    help: "unfinished jobs a user (role user) may have at once (default 10000)",
  },
  {
    name: "tls-cert",
    type: "string",
    env: "JOBDIST_TLS_CERT",
    value: "FILE",
    help: "PEM certificate (chain) to serve HTTPS and WSS with; needs --tls-key",
  },
  {
    name: "tls-key",
    type: "string",
    env: "JOBDIST_TLS_KEY",
    value: "FILE",
    help: "PEM private key of --tls-cert",
  },
  {
    name: "secrets-key-file",
    type: "string",
    env: "JOBDIST_SECRETS_KEY_FILE",
    value: "PATH",
    help:
      "file with the key that encrypts secrets at rest: 32 bytes in base64 or hex (or the key itself in JOBDIST_SECRETS_KEY)",
  },
  {
    name: "webhook-secret-file",
    type: "string",
    env: "JOBDIST_WEBHOOK_SECRET_FILE",
    value: "PATH",
    help:
      "file with the key that signs webhook calls, at least 16 characters (or the key itself in JOBDIST_WEBHOOK_SECRET; default: one generated once and kept in the database)",
  },
  ...REPORT_FLAGS,
];

const AGENT_FLAGS: Flag[] = [
  {
    name: "server",
    type: "string",
    env: "JOBDIST_SERVER",
    default: "ws://127.0.0.1:7420",
    value: "URL",
    help: "server to dial (ws://, wss://, http://, https://)",
  },
  { name: "token", type: "string", env: "JOBDIST_TOKEN", value: "TOKEN", help: "token to present" },
  {
    name: "name",
    type: "string",
    env: "JOBDIST_NAME",
    value: "NAME",
    help: "agent name (default: host name)",
  },
  {
    name: "slots",
    type: "string",
    env: "JOBDIST_SLOTS",
    value: "N",
    help: "jobs run at once (default: CPU count)",
  },
  {
    name: "label",
    short: "l",
    type: "string",
    multiple: true,
    env: "JOBDIST_LABELS",
    value: "K=V",
    help: "label jobs can require",
  },
  {
    name: "runtime",
    type: "string",
    multiple: true,
    env: "JOBDIST_RUNTIMES",
    value: "NAME=TEMPLATE",
    help: "extra runtime, e.g. 'ruby=ruby {file}'",
  },
  {
    name: "state-dir",
    type: "string",
    env: "JOBDIST_STATE_DIR",
    value: "DIR",
    help: "where the agent keeps its id (default ~/.local/state/jobdist/NAME)",
  },
  {
    name: "work-dir",
    type: "string",
    env: "JOBDIST_WORK_DIR",
    value: "DIR",
    help: "parent of per-attempt directories (default: system temp)",
  },
  {
    name: "output-memory",
    type: "string",
    env: "JOBDIST_OUTPUT_MEMORY",
    value: "BYTES",
    help:
      "memory for output not yet stored by the server (e.g. during a disconnect); past it, output spills to files in the work dir (default 67108864)",
  },
  {
    name: "drain-timeout",
    type: "string",
    env: "JOBDIST_DRAIN_TIMEOUT",
    default: "30s",
    value: "DURATION",
    help: "on SIGTERM, how long running jobs may finish",
  },
  {
    name: "once",
    type: "boolean",
    env: "JOBDIST_ONCE",
    help: "run one job, then exit (same as --max-jobs 1)",
  },
  {
    name: "max-jobs",
    type: "string",
    env: "JOBDIST_MAX_JOBS",
    value: "N",
    help: "run at most N jobs, then exit",
  },
  {
    name: "idle-exit",
    type: "string",
    env: "JOBDIST_IDLE_EXIT",
    value: "DURATION",
    help: "exit after running nothing for this long",
  },
  {
    name: "join-token",
    type: "string",
    env: "JOBDIST_JOIN_TOKEN",
    value: "TOKEN",
    help:
      "enrol once with this join token; the agent's own token is kept in --state-dir and used from then on",
  },
  {
    name: "ca",
    type: "string",
    env: "JOBDIST_CA",
    value: "FILE",
    help: "PEM certificate(s) of the CA that signed the server's (default: system roots)",
  },
  {
    name: "insecure",
    type: "boolean",
    env: "JOBDIST_INSECURE",
    help: "allow plain ws:// or http:// to a server beyond loopback (token and jobs unencrypted)",
  },
  {
    name: "run-as",
    type: "string",
    env: "JOBDIST_RUN_AS",
    value: "USER",
    help: "run jobs as this unprivileged user (the agent must run as root)",
  },
  {
    name: "allow-runtime",
    type: "string",
    multiple: true,
    env: "JOBDIST_ALLOW_RUNTIMES",
    value: "NAME",
    help: "script runtime jobs may use (default: all the agent has)",
  },
  {
    name: "deny-shell",
    type: "boolean",
    env: "JOBDIST_DENY_SHELL",
    help: "refuse shell jobs, the bash and sh runtimes and commands that start a shell",
  },
];

/** Flags of every role: the configuration file and jobdist's own logs. */
const ROLE_FLAGS: Flag[] = [
  {
    name: "config",
    type: "string",
    env: "JOBDIST_CONFIG",
    value: "FILE",
    help: "TOML file with a [server] and an [agent] table of flag values (flag > env > file)",
  },
  {
    name: "log-format",
    type: "string",
    env: "JOBDIST_LOG_FORMAT",
    default: "text",
    value: LOG_FORMATS.join("|"),
    help: "format of jobdist's own log lines on stderr (json: one object per line)",
  },
  {
    name: "log-level",
    type: "string",
    env: "JOBDIST_LOG_LEVEL",
    default: "info",
    value: LOG_LEVELS.join("|"),
    help: "least severe log lines written (debug adds every job's assignment and end)",
  },
];

/** The tables of the configuration file: the flags of each role. */
export const CONFIG_TABLES: Record<"server" | "agent", Flag[]> = {
  server: [...SERVER_FLAGS, ...ROLE_FLAGS],
  agent: [...AGENT_FLAGS, ...ROLE_FLAGS],
};

/** Sets up the process-wide logger from `--log-format` and `--log-level` (already checked). */
function startLogging(args: ParsedArgs): Logger {
  const logger = new Logger({
    format: LOG_FORMATS.find((f) => f === args.str("log-format")),
    level: LOG_LEVELS.find((l) => l === args.str("log-level")),
  });
  setLogger(logger);
  return logger;
}

function durationFlag(args: ParsedArgs, name: string): number | undefined {
  const text = args.str(name);
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new UsageError(`Invalid --${name} "${text}": expected a duration such as 5s`);
  }
  return ms;
}

/**
 * The server is loaded only by the commands that run one, so an agent process does not carry
 * the HTTP stack, SQLite and the dashboard (about 10 MB of its RSS). The specifier is a literal,
 * so `deno compile` still embeds the module.
 */
function loadServer(): Promise<typeof import("../server/mod.ts")> {
  return import("../server/mod.ts");
}

/** The server's event log, loaded with the server for the same reason. */
function loadEventLog(): Promise<typeof import("../server/event_log.ts")> {
  return import("../server/event_log.ts");
}

/** The server's configuration from its flags; throws a {@linkcode UsageError} on bad values. */
export async function serverConfig(args: ParsedArgs): Promise<ServerConfig> {
  const tokens = [...args.list("token")];
  const file = args.str("token-file");
  if (file) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      throw new UsageError(
        `Cannot read --token-file ${file}: ${e instanceof Error ? e.message : e}`,
      );
    }
    tokens.push(...text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
  }
  for (const t of tokens) {
    if (t.length < 16) throw new UsageError("Tokens must be at least 16 characters long");
  }
  return {
    listen: args.str("listen")!,
    db: args.str("db")!,
    tokens,
    agentTokens: args.list("agent-token"),
    heartbeatMs: durationFlag(args, "heartbeat"),
    heartbeatTimeoutMs: durationFlag(args, "heartbeat-timeout"),
    lostAfterMs: durationFlag(args, "lost-after"),
    killGraceMs: durationFlag(args, "kill-grace"),
    retentionMs: durationFlag(args, "retention"),
    adminToken: await adminToken(args),
    limits: {
      maxQueuedPerUser: intFlag(
        args.str("max-queued-per-user"),
        "max-queued-per-user",
        1,
        100_000_000,
      ),
    },
    webhooks: { secret: await webhookSecret(args) },
    report: await reportConfig(args),
    tls: await tlsFiles(args),
    secretsKey: await secretsKey(args),
  };
}

/** The token of `--admin-token-file`, if given. */
async function adminToken(args: ParsedArgs): Promise<string | undefined> {
  const file = args.str("admin-token-file");
  if (file === undefined) return undefined;
  let token: string;
  try {
    token = (await Deno.readTextFile(file)).trim();
  } catch (e) {
    throw new UsageError(
      `Cannot read --admin-token-file ${file}: ${e instanceof Error ? e.message : e}`,
    );
  }
  if (token.length < 32 || /\s/.test(token)) {
    throw new UsageError(
      `--admin-token-file ${file} must hold one token of at least 32 characters (e.g. openssl rand -hex 32)`,
    );
  }
  return token;
}

/** The webhook signing key: the file of `--webhook-secret-file`, else `JOBDIST_WEBHOOK_SECRET`. */
async function webhookSecret(args: ParsedArgs): Promise<string | undefined> {
  const file = args.str("webhook-secret-file");
  const secret = file
    ? (await readFlagFile(file, "webhook-secret-file")).trim()
    : Deno.env.get("JOBDIST_WEBHOOK_SECRET");
  if (secret !== undefined && secret.length < 16) {
    throw new UsageError("The webhook secret must be at least 16 characters long");
  }
  return secret;
}

/** The certificate and key of `--tls-cert` and `--tls-key` (both or neither). */
async function tlsFiles(args: ParsedArgs): Promise<ServerConfig["tls"]> {
  const certFile = args.str("tls-cert");
  const keyFile = args.str("tls-key");
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new UsageError("Give both --tls-cert and --tls-key to serve TLS");
  }
  return {
    cert: await readFlagFile(certFile, "tls-cert"),
    key: await readFlagFile(keyFile, "tls-key"),
  };
}

/** The secrets key: the file of `--secrets-key-file`, else `JOBDIST_SECRETS_KEY`. */
async function secretsKey(args: ParsedArgs): Promise<string | undefined> {
  const file = args.str("secrets-key-file");
  return file ? await readFlagFile(file, "secrets-key-file") : Deno.env.get("JOBDIST_SECRETS_KEY");
}

async function readFlagFile(path: string, flag: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`Cannot read --${flag} ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/** The agent's configuration from its flags; throws a {@linkcode UsageError} on bad values. */
export function agentConfig(args: ParsedArgs, server: string): AgentConfig {
  const name = args.str("name") ?? Deno.hostname();
  const home = Deno.env.get("HOME");
  return {
    server,
    token: args.str("token"),
    joinToken: args.str("join-token"),
    name,
    slots: intFlag(args.str("slots"), "slots", 1, 10_000) ?? navigator.hardwareConcurrency,
    labels: parsePairs(args.list("label"), "--label"),
    runtimes: args.list("runtime").map((r) => {
      try {
        return parseRuntimeFlag(r);
      } catch (e) {
        throw new UsageError(e instanceof Error ? e.message : String(e));
      }
    }),
    stateDir: args.str("state-dir") ??
      (home ? `${home}/.local/state/jobdist/${name.replace(/[^A-Za-z0-9_.-]/g, "-")}` : undefined),
    workRoot: args.str("work-dir"),
    drainTimeoutMs: durationFlag(args, "drain-timeout"),
    outputMemoryBytes: intFlag(args.str("output-memory"), "output-memory", 0, 2 ** 40),
    maxJobs: args.bool("once") ? 1 : intFlag(args.str("max-jobs"), "max-jobs", 1, 1_000_000_000),
    idleExitMs: durationFlag(args, "idle-exit"),
    caCerts: args.str("ca") ? readCaFile(args.str("ca")!) : undefined,
    insecure: args.bool("insecure"),
    runAs: args.str("run-as"),
    allowRuntimes: args.list("allow-runtime"),
    denyShell: args.bool("deny-shell"),
  };
}

/** `jobdist server`. */
export const server: Command = {
  name: "server",
  synopsis: "jobdist server [--listen HOST:PORT] [--db PATH] [--token TOKEN | --token-file PATH]",
  summary: "Run the server: REST API, dashboard and agent endpoint over one SQLite database.",
  flags: CONFIG_TABLES.server,
  config: { tables: CONFIG_TABLES, reads: ["server"] },
  async run(args, signal) {
    const log = startLogging(args);
    const config = await serverConfig(args);
    const [{ startServer }, { logServerEvents }] = await Promise.all([
      loadServer(),
      loadEventLog(),
    ]);
    const running = await startServer({
      ...config,
      onAdminToken: (token) => {
        // Printed once, to stdout so it can be captured; it is stored only as a digest.
        log.warn("first start with no credentials: created user admin; its token (shown once):");
        console.log(token);
      },
      onListen: ({ url, hostname }) => {
        log.info(`jobdist server listening on ${url}`);
        if (!config.tls && !isLoopback(hostname)) {
          log.warn(
            "serving plain HTTP beyond loopback: tokens, secrets and job output cross the " +
              "network unencrypted; serve TLS with --tls-cert and --tls-key",
          );
        }
      },
    }, signal);
    logServerEvents(running.scheduler, log, signal);
    await running.finished;
    return 0;
  },
};

/** `jobdist agent`. */
export const agent: Command = {
  name: "agent",
  synopsis: "jobdist agent --server URL [--token TOKEN] [--slots N] [--label K=V] [--name NAME]",
  summary: "Run an agent: dial the server and run the jobs it hands out as local processes.",
  flags: CONFIG_TABLES.agent,
  config: { tables: CONFIG_TABLES, reads: ["agent"] },
  async run(args, signal) {
    startLogging(args);
    await runAgent(agentConfig(args, args.str("server")!), signal);
    return 0;
  },
};

/** `jobdist dev`. */
export const dev: Command = {
  name: "dev",
  synopsis: "jobdist dev [--listen HOST:PORT] [--db PATH] [--slots N]",
  summary: "Run a server and one local agent in one process: the quickest way to try jobdist.",
  flags: [
    ...SERVER_FLAGS.filter((f) => ["listen", "db", "kill-grace", "retention"].includes(f.name)),
    ...AGENT_FLAGS.filter((f) => ["slots", "label", "runtime", "name"].includes(f.name)),
    ...ROLE_FLAGS,
  ],
  // Both tables; on a key both set (log-level), the server's wins.
  config: { tables: CONFIG_TABLES, reads: ["agent", "server"] },
  async run(args, signal) {
    const log = startLogging(args);
    const config = await serverConfig(args);
    const [{ startServer }, { logServerEvents }] = await Promise.all([
      loadServer(),
      loadEventLog(),
    ]);
    const running = await startServer({ ...config, tokens: [] }, signal);
    logServerEvents(running.scheduler, log, signal);
    log.info(`jobdist dev: server on ${running.url}, database ${config.db}`);
    log.info(`jobdist dev: try  jobdist submit --server ${running.url} --shell 'echo hello'`);
    const agentDone = runAgent({
      ...agentConfig(args, running.url),
      name: args.str("name") ?? "local",
      stateDir: undefined,
      drainTimeoutMs: 5_000,
    }, signal);
    await Promise.all([running.finished, agentDone]);
    return 0;
  },
};
