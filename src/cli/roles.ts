/**
 * The long-running roles: `jobdist server`, `jobdist agent` and `jobdist dev` (both in one
 * process, with a local database: the one-command demo). Their flags are in `role_flags.ts`, and
 * `jobdist agent` in `agent_role.ts` (re-exported here), which loads none of the server.
 * @module
 */

import { runAgent } from "../agent/mod.ts";
import { isLoopback } from "../protocol/net.ts";
import type { ServerConfig } from "../server/mod.ts";
import { type Command, intFlag, type ParsedArgs, UsageError } from "./flags.ts";
import { reportConfig } from "./report.ts";
import { agentConfig } from "./agent_role.ts";
import {
  AGENT_FLAGS,
  CONFIG_TABLES,
  durationFlag,
  ROLE_FLAGS,
  SERVER_FLAGS,
  startLogging,
} from "./role_flags.ts";

export { agent, agentConfig } from "./agent_role.ts";
export { CONFIG_TABLES } from "./role_flags.ts";

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
