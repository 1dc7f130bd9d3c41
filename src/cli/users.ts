/**
 * `jobdist users`: people who may call the server (admins only). `create NAME [--role ROLE]`
 * prints the user's first token (shown once), `list`, `disable NAME` (their tokens stop working
 * at once, open connections close) and `enable NAME`.
 * @module
 */

import { UserRole } from "../protocol/access.ts";
import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, UsageError } from "./flags.ts";
import { ago, printJson, table } from "./format.ts";

const USAGE = "jobdist users [list] | create NAME [--role admin|user|viewer] | disable|enable NAME";

/** `jobdist users`. */
export const users: Command = {
  name: "users",
  synopsis: USAGE,
  summary: "Create, list, disable and enable users (admins only); create prints a first token.",
  flags: [
    ...CLIENT_FLAGS,
    {
      name: "role",
      type: "string",
      value: "ROLE",
      help: "create: admin (everything), user (own jobs), viewer (read only); default user",
    },
    { name: "no-token", type: "boolean", help: "create: make no token (use jobdist tokens)" },
    {
      name: "expires",
      type: "string",
      value: "DURATION",
      help: "create: the first token expires after this long (default never)",
    },
    { name: "json", type: "boolean", help: "print JSON" },
  ],
  async run(args) {
    const client = clientFromArgs(args);
    const [action = "list", name] = args.positionals;
    const json = args.bool("json");
    const needName = () => {
      if (!name) throw new UsageError(`Expected: jobdist users ${action} NAME`);
      return name;
    };
    switch (action) {
      case "list": {
        const list = await client.users();
        if (json) return printJson(list);
        console.log(table(
          ["NAME", "ROLE", "STATUS", "CREATED", "BY"],
          list.users.map((u) => [
            u.name,
            u.role,
            u.disabled ? "disabled" : "active",
            ago(u.created_at),
            u.created_by ?? "-",
          ]),
        ));
        return 0;
      }
      case "create": {
        const role = UserRole.safeParse(args.str("role") ?? "user");
        if (!role.success) {
          throw new UsageError(
            `Invalid --role "${args.str("role")}": expected admin, user or viewer`,
          );
        }
        const created = await client.createUser({
          name: needName(),
          role: role.data,
          token: !args.bool("no-token"),
          expires_in: args.str("expires"),
        });
        if (json) return printJson(created);
        console.error(`user ${created.user.name} created (${created.user.role})`);
        if (created.token) {
          console.error("token (shown once; keep it secret):");
          console.log(created.token.token);
        }
        return 0;
      }
      case "disable":
      case "enable": {
        const u = await client.setUserDisabled(needName(), action === "disable");
        if (json) return printJson(u);
        console.log(`${u.name} ${u.disabled ? "disabled" : "enabled"}`);
        return 0;
      }
      default:
        throw new UsageError(`Unknown action "${action}". Usage: ${USAGE}`);
    }
  },
};
