/**
 * `jobdist secrets`: `set NAME` (the value from `--from-file` or stdin, never from argv, where
 * other users of the host could see it), `list` and `delete NAME`. A job refers to a secret
 * from its spec (`--spec`): `"env": {"DB_PASS": {"secret": "db"}}`.
 * @module
 */

import { CLIENT_FLAGS, type Command, UsageError } from "./flags.ts";
import { clientFromArgs } from "./connect.ts";
import { ago, printJson, table } from "./format.ts";

const USAGE = "jobdist secrets [list] | set NAME [--from-file PATH] | delete NAME";

/** `jobdist secrets`. */
export const secrets: Command = {
  name: "secrets",
  synopsis: USAGE,
  summary: "Store, list and delete secrets that jobs get as environment variables by reference.",
  flags: [
    ...CLIENT_FLAGS,
    {
      name: "from-file",
      type: "string",
      value: "PATH",
      help: "set: read the value from this file (default: stdin; one trailing newline is dropped)",
    },
    { name: "json", type: "boolean", help: "print JSON" },
  ],
  async run(args) {
    const [action = "list", name, ...extra] = args.positionals;
    if (extra.length) throw new UsageError(`Unexpected arguments: ${extra.join(" ")}`);
    const json = args.bool("json");
    const needName = () => {
      if (!name) throw new UsageError(`Expected: jobdist secrets ${action} NAME`);
      return name;
    };
    const client = clientFromArgs(args);
    switch (action) {
      case "list": {
        const list = await client.secrets();
        if (json) return printJson(list);
        console.log(table(
          ["NAME", "NAMESPACE", "CREATED", "UPDATED"],
          list.secrets.map((s) => [s.name, s.namespace, ago(s.created_at), ago(s.updated_at)]),
        ));
        return 0;
      }
      case "set": {
        const key = needName();
        const value = await readValue(args.str("from-file"));
        const view = await client.setSecret(key, value);
        if (json) return printJson(view);
        console.log(`${view.name} stored in namespace ${view.namespace}`);
        return 0;
      }
      case "delete": {
        const view = await client.deleteSecret(needName());
        if (json) return printJson(view);
        console.log(`${view.name} deleted`);
        return 0;
      }
      default:
        throw new UsageError(`Unknown action "${action}". Usage: ${USAGE}`);
    }
  },
};

/** The value from `file` or stdin, without one trailing newline (`echo` adds one). */
async function readValue(file: string | undefined): Promise<string> {
  let text: string;
  if (file !== undefined) {
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      throw new UsageError(
        `Cannot read --from-file ${file}: ${e instanceof Error ? e.message : e}`,
      );
    }
  } else {
    if (Deno.stdin.isTerminal()) {
      throw new UsageError("Give the value on stdin (e.g. < file) or with --from-file PATH");
    }
    text = await new Response(Deno.stdin.readable).text();
  }
  return text.replace(/\r?\n$/, "");
}
