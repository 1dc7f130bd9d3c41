/**
 * The flags of the long-running roles (`server`, `agent`, `dev`) and the configuration file's
 * tables built from them, with the helpers every role's `run` starts with. Declarations only: the
 * agent reads the server's flags too (the whole file is checked whichever role reads it), so this
 * module loads neither the server nor the API client.
 * @module
 */

import { type Flag, type ParsedArgs, UsageError } from "./flags.ts";
import { REPORT_FLAGS } from "./report_flags.ts";
import { LOG_FORMATS, LOG_LEVELS, Logger, setLogger } from "../log.ts";
import { parseDuration } from "../protocol/duration.ts";

/** The server's flags. */
export const SERVER_FLAGS: Flag[] = [
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

/** The agent's flags. */
export const AGENT_FLAGS: Flag[] = [
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
      "memory for output not yet stored by the server; past it, output waits up to 250 ms for the server, then spills to files in the work dir (default 67108864)",
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
  {
    name: "spawn",
    type: "string",
    env: "JOBDIST_SPAWN",
    value: "auto|command",
    default: "auto",
    help: "how jobs start: auto (glibc's posix_spawn through FFI where available, one exec a " +
      "job) or command (Deno.Command through setsid(1))",
  },
];

/** Flags of every role: the configuration file and jobdist's own logs. */
export const ROLE_FLAGS: Flag[] = [
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
export function startLogging(args: ParsedArgs): Logger {
  const logger = new Logger({
    format: LOG_FORMATS.find((f) => f === args.str("log-format")),
    level: LOG_LEVELS.find((l) => l === args.str("log-level")),
  });
  setLogger(logger);
  return logger;
}

/** The milliseconds of duration flag `name`, if set; throws a {@linkcode UsageError} naming it. */
export function durationFlag(args: ParsedArgs, name: string): number | undefined {
  const text = args.str(name);
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new UsageError(`Invalid --${name} "${text}": expected a duration such as 5s`);
  }
  return ms;
}
