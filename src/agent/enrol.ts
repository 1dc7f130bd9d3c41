/**
 * Agent enrolment: an agent started with `--join-token` trades it once, at
 * `POST /api/v1/agents/enrol`, for its own `jd_a_` token, which it keeps in its state
 * directory (mode 0600) and presents from then on. An admin can revoke that one token without
 * touching any other agent.
 * @module
 */

import { FatalError } from "./connection.ts";

/** What {@linkcode agentToken} needs of the agent's configuration. */
export interface EnrolConfig {
  /** Server URL (`ws(s)://` or `http(s)://`). */
  server: string;
  /** A token given with `--token`. */
  token?: string;
  /** A join token given with `--join-token`. */
  joinToken?: string;
  /** Where the agent keeps its id and, once enrolled, its token. */
  stateDir?: string;
  name: string;
  /** PEM certificates of the CAs that may sign the server's certificate. */
  caCerts?: string[];
}

/** File in the state directory that holds the enrolled agent's token. */
export const TOKEN_FILE = "agent_token";

/**
 * The token the agent presents: the one it enrolled for earlier (kept in `stateDir`), else a new
 * one for `joinToken` (enrolling agent `agentId` now), else `--token`. Throws a
 * {@linkcode FatalError} when the server refuses the join token.
 */
export async function agentToken(
  config: EnrolConfig,
  agentId: string,
  log: (line: string) => void,
): Promise<string | undefined> {
  const file = config.stateDir ? `${config.stateDir}/${TOKEN_FILE}` : undefined;
  if (file) {
    try {
      const kept = (await Deno.readTextFile(file)).trim();
      if (kept) return kept;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  if (!config.joinToken) return config.token;
  const token = await enrol(config, agentId);
  if (file) {
    await Deno.mkdir(config.stateDir!, { recursive: true });
    await Deno.writeTextFile(file, token + "\n", { mode: 0o600 });
    log(`enrolled as ${agentId}; its token is kept in ${file}`);
  } else {
    log(`enrolled as ${agentId}; without --state-dir its token is lost when the agent stops`);
  }
  return token;
}

async function enrol(config: EnrolConfig, agentId: string): Promise<string> {
  const url = new URL("/api/v1/agents/enrol", config.server.replace(/^ws(s?):/, "http$1:"));
  const client = config.caCerts?.length
    ? Deno.createHttpClient({ caCerts: config.caCerts })
    : undefined;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${config.joinToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ agent_id: agentId, name: config.name }),
      client,
    });
  } catch (e) {
    throw new FatalError(`Cannot enrol at ${url.origin}: ${e instanceof Error ? e.message : e}`);
  } finally {
    client?.close();
  }
  const body = await res.json().catch(() => null);
  if (!res.ok || typeof body?.token !== "string") {
    const why = body?.error?.message ?? `the server answered ${res.status}`;
    throw new FatalError(`Cannot enrol with --join-token: ${why}`);
  }
  return body.token;
}
