/**
 * `jobdist tokens`: API and join tokens (admins only). `create [--user NAME] [--expires D]`
 * prints a new user token, `create --join` a join token an agent enrols with once; both are
 * shown once and stored only as SHA-256. `list [--user NAME]`, `revoke ID...` and
 * `revoke --agent NAME` (an enrolled agent's own token: it is disconnected at once).
 * @module
 */

import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, UsageError } from "./flags.ts";
import { ago, printJson, table } from "./format.ts";

const USAGE = "jobdist tokens [list] [--user NAME] | create [--user NAME | --join] " +
  "[--expires DURATION] [--name TEXT] | revoke ID... | revoke --agent NAME";

/** `jobdist tokens`. */
export const tokens: Command = {
  name: "tokens",
  synopsis: USAGE,
  summary: "Create, list and revoke API tokens and agent join tokens (admins only).",
  flags: [
    ...CLIENT_FLAGS,
    { name: "user", type: "string", value: "NAME", help: "whose token (default: yours)" },
    { name: "join", type: "boolean", help: "create: a join token that enrols one agent" },
    {
      name: "expires",
      type: "string",
      value: "DURATION",
      help: "create: the token stops working after this long (default never)",
    },
    { name: "name", type: "string", value: "TEXT", help: "create: what the token is for" },
    { name: "agent", type: "string", value: "NAME", help: "revoke: the tokens of this agent" },
    { name: "json", type: "boolean", help: "print JSON" },
  ],
  async run(args) {
    const client = clientFromArgs(args);
    const [action = "list", ...ids] = args.positionals;
    const json = args.bool("json");
    switch (action) {
      case "list": {
        const list = await client.tokens(args.str("user"));
        if (json) return printJson(list);
        console.log(table(
          ["ID", "KIND", "PREFIX", "OWNER", "NAME", "STATUS", "CREATED", "EXPIRES"],
          list.tokens.map((t) => [
            String(t.id),
            t.kind,
            t.prefix + "…",
            t.user ?? t.agent_id ?? "-",
            t.name ?? "-",
            t.status,
            ago(t.created_at),
            t.expires_at ?? "never",
          ]),
        ));
        return 0;
      }
      case "create": {
        if (args.bool("join") && args.str("user")) {
          throw new UsageError("Give --user or --join, not both");
        }
        const t = await client.createToken({
          kind: args.bool("join") ? "join" : "user",
          user: args.str("user"),
          name: args.str("name"),
          expires_in: args.str("expires"),
        });
        if (json) return printJson(t);
        console.error(
          `${t.kind} token ${t.id} created${t.user ? ` for ${t.user}` : ""}` +
            (t.expires_at ? `, expires ${t.expires_at}` : "") + " (shown once; keep it secret):",
        );
        console.log(t.token);
        return 0;
      }
      case "revoke": {
        const agent = args.str("agent");
        if (agent !== undefined) {
          if (ids.length) throw new UsageError("Give token ids or --agent, not both");
          const r = await client.revokeAgent(agent);
          if (json) return printJson(r);
          console.log(`agent ${r.agent_id}: ${r.revoked_tokens} token(s) revoked`);
          return 0;
        }
        if (!ids.length) {
          throw new UsageError("Expected: jobdist tokens revoke ID... (or --agent NAME)");
        }
        for (const id of ids) {
          if (!/^\d{1,15}$/.test(id)) throw new UsageError(`"${id}" is not a token id`);
        }
        for (const id of ids) {
          const t = await client.revokeToken(Number(id));
          if (json) printJson(t);
          else console.log(`token ${t.id} revoked`);
        }
        return 0;
      }
      default:
        throw new UsageError(`Unknown action "${action}". Usage: ${USAGE}`);
    }
  },
};
